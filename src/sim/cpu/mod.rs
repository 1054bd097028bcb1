//! The CPU reference backend: plain loops over neurons, generic over f32 and
//! f64, parallel (rayon) only where N is large. Every GPU kernel has its twin
//! here: the product by M in [`operator`], each integration stage in
//! `model::Stage::update`, stepped in the same order as the GPU's dispatches
//! ([`step`]). A structured M stepped by a one-stage method goes through the
//! fused step of [`fused`] instead (the same numbers in one pass over the
//! state), and its metrics come from that step's projections.
//!
//! One file per idea: [`lanes`] (ordered sums and dot products),
//! [`table`] (weight rows in tiles), [`structured`] (projections and
//! expansion), [`matvec`] (the dense product), [`operator`] (y = M x in
//! M's form), [`elementwise`], [`inputs`] (h at each step), [`step`],
//! [`fused`], [`pages`] (huge pages, buffers that start on a cache line),
//! [`subnormal`] (flushed to zero), `awake` (the pool's other threads kept
//! looking for work through the steps of a trial run alone), [`cost`]
//! (what a step moves and a run needs), [`probe`] (the machine's bandwidth
//! and peak).

mod awake;
pub mod cost;
pub mod elementwise;
pub mod fused;
pub mod inputs;
pub mod lanes;
pub mod matvec;
pub mod operator;
pub mod pages;
pub mod probe;
pub mod step;
pub mod structured;
pub mod subnormal;
pub mod table;

use crate::analysis::metrics::{Metrics, SumLayout};
use crate::error::{Error, Result};
use crate::model::{Dynamics, Experiment};
use crate::real::{c, f, Real};
use crate::sim::{Backend, Cost, Divergence, Precision, Recording, Stop, Trial};
use elementwise::each;
use inputs::Inputs;
use matvec::Matvec;
use operator::Operator;
use rayon::prelude::*;
use std::sync::Arc;
use std::time::Instant;
use step::{check_finite, rates_of, Stepper};

/// The CPU backend. Precision comes from `simulation.precision`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn adapter(&self) -> Option<String> {
        None
    }

    fn cost(&self, experiment: &Experiment, batch: usize) -> Cost {
        cost::cost(experiment, batch, rayon::current_num_threads())
    }

    fn run_checked(
        &mut self,
        experiment: &Experiment,
        trials: &[Trial],
        progress: &mut dyn FnMut(u64),
        stop: &Stop,
    ) -> Result<Vec<Recording>> {
        let recs = match experiment.simulation.precision {
            Precision::F64 => run_batch::<f64>(experiment, trials, progress, stop),
            Precision::F32 => run_batch::<f32>(experiment, trials, progress, stop),
        };
        if stop.requested() {
            return Err(Error::Interrupted {
                step: recs.iter().map(|r| r.steps_done).min().unwrap_or(0),
                steps: experiment.simulation.steps,
            });
        }
        Ok(recs)
    }
}

/// Runs `trials` in precision `T`, all sharing one copy of M: one trial
/// with progress, or independent trials one per core.
///
/// The trials run on rayon's threads, so that a step's parallel loops find
/// every core free: were the stepping thread outside the pool, the pool's
/// threads would wait for its serial work (inputs, records) by spinning,
/// on the cores it needs. This thread only reports the progress they
/// publish.
fn run_batch<T: Matvec>(
    experiment: &Experiment,
    trials: &[Trial],
    progress: &mut dyn FnMut(u64),
    stop: &Stop,
) -> Vec<Recording> {
    let op = flushed_operator::<T>(experiment);
    let recs = on_the_pool(progress, |report| {
        if let [trial] = trials {
            return vec![run_trial_with(experiment, trial, op, report, stop, true)];
        }
        // The first trial reports progress (the trials advance together);
        // each looks at `stop` where it would report progress.
        let (first, rest) = rayon::join(
            || run_trial_with(experiment, &trials[0], op.clone(), report, stop, false),
            || {
                trials[1..]
                    .par_iter()
                    .map(|t| run_trial_with(experiment, t, op.clone(), &mut |_| {}, stop, false))
                    .collect::<Vec<_>>()
            },
        );
        std::iter::once(first).chain(rest).collect()
    });
    if trials.len() > 1 {
        progress(experiment.simulation.steps);
    }
    recs
}

/// M in precision `T`, converted with subnormals flushed on this thread
/// and on the pool the run's loops use (`subnormal`), from now on there.
fn flushed_operator<T: Matvec>(experiment: &Experiment) -> Arc<Operator<T>> {
    subnormal::flush_on_the_pool();
    let _flush = subnormal::Flush::here();
    Arc::new(Operator::<T>::new(&experiment.network.weights))
}

/// How often [`on_the_pool`]'s calling thread wakes to pass progress on:
/// a progress bar redraws and Python's callback runs at most ten times a
/// second. Each wake takes a core from the run for a moment: on a 2-core
/// VM a dense step at N = 4096 took 1.41 ms with a wake each millisecond
/// and 1.38 ms with one each 20 ms (medians of 12 alternated rounds).
const POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Runs `work` on one of rayon's threads and passes the steps it reports
/// on to `progress` from this thread, every [`POLL`] while it runs (a stop
/// a callback requests so takes effect within that or so) and once more
/// when it ends (called from rayon's threads, only then). A panic in
/// `work` resumes here.
fn on_the_pool<R: Send>(
    progress: &mut dyn FnMut(u64),
    work: impl FnOnce(&mut (dyn FnMut(u64) + Send)) -> R + Send,
) -> R {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    const UNSET: u64 = u64::MAX;
    let done = AtomicU64::new(UNSET);
    let ended = AtomicBool::new(false);
    if rayon::current_thread_index().is_some() {
        // Already on the pool: a thread parked here would be one fewer to
        // run the work, so it runs here and reports when it ends.
        let r = work(&mut |k| done.store(k, Relaxed));
        let k = done.load(Relaxed);
        if k != UNSET {
            progress(k);
        }
        return r;
    }
    let here = std::thread::current();
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let r = rayon::scope(|_| work(&mut |k| done.store(k, Relaxed)));
            ended.store(true, Relaxed);
            here.unpark();
            r
        });
        let mut told = UNSET;
        loop {
            let finished = ended.load(Relaxed);
            let k = done.load(Relaxed);
            if k != told && k != UNSET {
                progress(k);
                told = k;
            }
            if finished || worker.is_finished() {
                break;
            }
            std::thread::park_timeout(POLL);
        }
        match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Appends every `stride`-th of `x`, mapped by `rate`, to `rates`: on
/// every thread for large N, as the step is (a serial pass between steps
/// leaves the other threads idle long enough to sleep).
fn keep_rates<T: Real>(
    rates: &mut Vec<f32>,
    x: &[T],
    stride: usize,
    rate: impl Fn(T) -> f32 + Sync + Send,
) {
    if x.len() >= elementwise::PARALLEL_N {
        rates.par_extend(x.par_iter().step_by(stride).map(|&v| rate(v)));
    } else {
        rates.extend(x.iter().step_by(stride).map(|&v| rate(v)));
    }
}

/// Runs `experiment` as written on the CPU in precision `T`.
pub fn run<T: Matvec>(experiment: &Experiment, progress: &mut dyn FnMut(u64)) -> Recording {
    run_trial::<T>(experiment, &Trial::of(experiment), progress)
}

/// Runs one trial of `experiment` on the CPU in precision `T`.
pub fn run_trial<T: Matvec>(
    experiment: &Experiment,
    trial: &Trial,
    progress: &mut dyn FnMut(u64),
) -> Recording {
    let op = flushed_operator::<T>(experiment);
    run_trial_with(experiment, trial, op, progress, &Stop::default(), true)
}

/// [`run_trial`] with M already built as `op`; `alone`: no other trial
/// runs beside it (then, where its steps fork, the pool's other threads
/// are kept awake through them, [`awake`]).
fn run_trial_with<T: Matvec>(
    experiment: &Experiment,
    trial: &Trial,
    op: Arc<Operator<T>>,
    progress: &mut dyn FnMut(u64),
    stop: &Stop,
    alone: bool,
) -> Recording {
    // Subnormals flushed on the stepping thread as on the pool's
    // (`subnormal`); this thread's mode comes back at the end.
    let _flush = subnormal::Flush::here();
    let n = experiment.network.n;
    let net = &experiment.network;
    let sim = &experiment.simulation;
    let stride = experiment.record.stride;
    let kept = experiment.record.kept(n);
    let record_steps = sim.record_steps();
    let mut rec = Recording::empty(experiment, "cpu", None, T::NAME);
    // The rates are written once, in order: 4 KiB page faults on them cost
    // a ring of 65536 recorded every 10 steps 40% of its step time.
    pages::advise_huge_pages(&rec.rates);

    // On a cache line, as the tables and the step's scratch (`pages`).
    let mut x: pages::Aligned<T> = pages::Aligned::build(n, false, |x| {
        x.extend(trial.initial(experiment).iter().map(|&v| c::<T>(v)))
    });
    let mut inputs = Inputs::<T>::new(experiment, trial.h_scale);
    let mut stepper = Stepper::<T>::new(experiment, trial, op.clone());
    let fused = stepper.is_fused();
    let _stepping = awake::Stepping::here();
    let _awake = alone
        .then(|| awake::Awake::start(stepper.helpers(n)))
        .flatten();
    // The fused step's records take their metrics from its projections
    // (Metrics::from_sums), without the tables or another pass over the
    // rates (but for the Hopfield energy's elementwise sums).
    let metrics = if fused {
        Metrics::shape(net)
    } else {
        Metrics::new(net)
    };
    let layout = metrics.sum_layout();
    let rates_row = op.uniform_row();
    let need_sum = fused && rates_row.is_none();
    let mut v = vec![T::zero(); if fused { 0 } else { n }];
    let mut mv = if !fused && metrics.needs_mv() {
        vec![T::zero(); n]
    } else {
        Vec::new()
    };

    let start = Instant::now();
    let mut record =
        |step: u64, x: &[T], inputs: &Inputs<T>, stepper: &mut Stepper<T>, rec: &mut Recording| {
            rec.t.push(step as f64 * sim.dt);
            let h = &inputs.h[..];
            if let Some(fz) = stepper.fused.as_ref() {
                let proj = fz.projections().expect("the record's state is projected");
                let mut sums = vec![0.0; layout.len()];
                sums[SumLayout::RATES] = f(match rates_row {
                    Some(r) => proj[r],
                    None => fz.rates_sum().expect("the record's rates are summed"),
                });
                for k in 0..layout.table_rows {
                    sums[SumLayout::TABLE + k] = f(proj[layout.table_row0 + k]);
                }
                if layout.energy {
                    let e = metrics.energy_sums(net.activation, x, h, op.diagonal());
                    sums[layout.energy_start()..].copy_from_slice(&e);
                }
                rec.metrics.push(metrics.from_sums(&sums, trial.m_scale));
                if kept > 0 {
                    let act = net.activation;
                    if net.dynamics == Dynamics::Current {
                        keep_rates(&mut rec.rates, x, stride, |xi| f(act.apply(xi)) as f32);
                    } else {
                        keep_rates(&mut rec.rates, x, stride, |xi| f(xi) as f32);
                    }
                }
                return;
            }
            rates_of(experiment, x, &mut v);
            if metrics.needs_mv() {
                stepper.drive.product(&v, &mut mv);
            }
            rec.metrics
                .push(metrics.compute(&v, x, h, metrics.needs_mv().then_some(&mv[..])));
            if kept > 0 {
                keep_rates(&mut rec.rates, &v, stride, |r| f(r) as f32);
            }
        };

    let mut step = 0u64;
    inputs.at(0);
    if let Some(nan) = check_finite(&x) {
        rec.divergence = Some(Divergence {
            step: 0,
            t: 0.0,
            nan,
        });
    } else {
        if let Some(fz) = &mut stepper.fused {
            fz.project(&op, &mut x, need_sum);
        }
        record(0, &x, &inputs, &mut stepper, &mut rec);
    }
    let mut next_record = record_steps.iter().skip(1);
    let mut target = next_record.next().copied();
    let mut last_good = x.clone();
    while let (Some(t), None) = (target, rec.divergence) {
        inputs.at(step);
        let bad = stepper.step(&mut x, &inputs, step, need_sum && step + 1 == t);
        step += 1;
        if let Some(nan) = bad {
            rec.divergence = Some(Divergence {
                step,
                t: step as f64 * sim.dt,
                nan,
            });
            x.copy_from_slice(&last_good);
            stepper.reset();
            break;
        }
        if step == t {
            inputs.at(step);
            record(step, &x, &inputs, &mut stepper, &mut rec);
            target = next_record.next().copied();
            // On every thread for large N: a serial copy leaves the other
            // threads idle long enough to sleep, and waking them for the
            // next step cost a ring of 65536 a fifth of its step time.
            each(&mut last_good, |i, _| x[i]);
            progress(step);
            if stop.requested() {
                break;
            }
        } else if step.is_multiple_of(256) {
            progress(step);
            if stop.requested() {
                break;
            }
        }
    }
    rec.steps_done = step;
    rec.wall_seconds = start.elapsed().as_secs_f64();
    rec.final_state = x.iter().map(|&a| f(a)).collect();
    rec.add_motion_metrics(experiment);
    rec
}

#[cfg(test)]
mod tests {
    use super::{keep_rates, on_the_pool};

    #[test]
    fn rates_kept_on_every_thread_are_the_rates_in_order() {
        // Above the parallel threshold, with and without a stride, after
        // earlier records: the same values in the same order as one pass.
        let n = 3 * super::elementwise::PARALLEL_N + 7;
        let x: Vec<f32> = (0..n).map(|i| (i as f32).sin()).collect();
        for stride in [1, 3, 1000] {
            let mut rates = vec![-1.0f32; 5];
            keep_rates(&mut rates, &x, stride, |v| 2.0 * v);
            let want: Vec<f32> = [-1.0f32; 5]
                .into_iter()
                .chain(x.iter().step_by(stride).map(|&v| 2.0 * v))
                .collect();
            assert_eq!(rates, want, "stride {stride}");
        }
    }

    #[test]
    fn the_work_runs_on_the_pool_and_its_progress_reaches_this_thread() {
        let caller = std::thread::current().id();
        let mut told = Vec::new();
        let (on_pool, thread) = on_the_pool(&mut |k| told.push(k), |report| {
            for k in [256, 512, 1000] {
                report(k);
            }
            (
                rayon::current_thread_index().is_some(),
                std::thread::current().id(),
            )
        });
        assert!(on_pool, "the work ran outside rayon's pool");
        assert_ne!(thread, caller);
        // Progress is sampled, but the last step reported always arrives,
        // and steps never go backwards.
        assert_eq!(told.last(), Some(&1000));
        assert!(told.windows(2).all(|w| w[0] < w[1]), "{told:?}");
        // From inside the pool it runs in place (a parked worker could
        // leave the pool without threads) and still reports its end.
        let mut inner = Vec::new();
        let nested = rayon::scope(|_| {
            on_the_pool(&mut |k| inner.push(k), |report| {
                report(7);
                std::thread::current().id()
            })
        });
        assert_eq!(inner, [7]);
        assert_ne!(nested, caller);
    }

    #[test]
    #[should_panic(expected = "the work's own panic")]
    fn a_panic_in_the_work_resumes_on_this_thread() {
        on_the_pool(&mut |_| {}, |_| -> () { panic!("the work's own panic") });
    }
}
