//! The CPU reference backend: plain loops over neurons, generic over f32 and
//! f64, parallel (rayon) only where N is large. Every GPU kernel has its twin
//! here: the product by M in `sim::operator`, each integration stage in
//! `model::Stage::update`, stepped in the same order as the GPU's dispatches.
//! A structured M stepped by a one-stage method goes through the fused step
//! of `sim::fused` instead (the same numbers in one pass over the state),
//! and its metrics come from that step's projections.

use super::fused::{self, FusedStep, Input};
use super::matvec::Matvec;
use super::operator::Operator;
use super::{Backend, Divergence, Precision, Recording, Stop, Trial};
use crate::analysis::metrics::{Metrics, SumLayout};
use crate::error::{Error, Result};
use crate::model::{
    place_angles, place_cosine, Activation, Dynamics, Experiment, Motion, RingProfile, Rotation,
    Stage, StepConstants, VelocityEpoch,
};
use crate::real::{c, f, Real};
use crate::rng::{self, Stream};
use rayon::prelude::*;
use std::sync::Arc;
use std::time::Instant;

/// Element loops shorter than this stay on one thread.
const PARALLEL_N: usize = 1 << 15;
const CHUNK: usize = 1 << 12;

/// Sets `out[i] = g(i, out[i])` for every i, in parallel for large N.
fn each<T: Real>(out: &mut [T], g: impl Fn(usize, T) -> T + Sync + Send) {
    if out.len() >= PARALLEL_N {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(k, ch)| {
            for (j, o) in ch.iter_mut().enumerate() {
                *o = g(k * CHUNK + j, *o);
            }
        });
    } else {
        for (i, o) in out.iter_mut().enumerate() {
            *o = g(i, *o);
        }
    }
}

/// Sets `out[i] = F(pre(i, out[i]))` for every i with the activation
/// `act` ([`Activation::map_slice`]: no branch on its kind per element), in
/// parallel for large N.
fn each_activated<T: Real>(
    act: Activation,
    out: &mut [T],
    pre: impl Fn(usize, T) -> T + Sync + Send,
) {
    if out.len() >= PARALLEL_N {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(k, ch)| act.map_slice(ch, |j, v| pre(k * CHUNK + j, v)));
    } else {
        act.map_slice(out, pre);
    }
}

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
fn run_batch<T: Matvec>(
    experiment: &Experiment,
    trials: &[Trial],
    progress: &mut dyn FnMut(u64),
    stop: &Stop,
) -> Vec<Recording> {
    let op = Arc::new(Operator::<T>::new(&experiment.network.weights));
    if let [trial] = trials {
        return vec![run_trial_with(experiment, trial, op, progress, stop)];
    }
    // The first trial runs on this thread and reports progress (the trials
    // advance together); the others go to rayon's threads. Each looks at
    // `stop` where it would report progress.
    let mut rest = Vec::new();
    let first = rayon::in_place_scope(|s| {
        s.spawn(|_| {
            rest = trials[1..]
                .par_iter()
                .map(|t| run_trial_with(experiment, t, op.clone(), &mut |_| {}, stop))
                .collect();
        });
        run_trial_with(experiment, &trials[0], op.clone(), progress, stop)
    });
    progress(experiment.simulation.steps);
    std::iter::once(first).chain(rest).collect()
}

/// The drive D(x) of the equation tau dx/dt = -x + D(x):
/// D = F(h + M x) for rate dynamics, h + M F(x) for current dynamics.
pub struct Drive<T> {
    /// M, shared by the trials of a batch.
    pub op: Arc<Operator<T>>,
    m_scale: T,
    activation: Activation,
    dynamics: Dynamics,
    fx: Vec<T>,
    proj: Vec<T>,
    /// The turn of M's rotations in this step ([`InputSchedule::kappa`]).
    pub kappa: Vec<T>,
}

impl<T: Matvec> Drive<T> {
    /// The drive of `experiment`'s network, with M built as `op`.
    pub fn new(experiment: &Experiment, op: Arc<Operator<T>>) -> Self {
        let net = &experiment.network;
        Drive {
            op,
            m_scale: T::one(),
            activation: net.activation,
            dynamics: net.dynamics,
            fx: vec![T::zero(); net.n],
            proj: Vec::new(),
            kappa: Vec::new(),
        }
    }

    /// out = D(x) for input h.
    pub fn eval(&mut self, x: &[T], h: &[T], out: &mut [T]) {
        let act = self.activation;
        match self.dynamics {
            Dynamics::Rate => {
                self.op.apply_turned(x, out, &mut self.proj, &self.kappa);
                let g = self.m_scale;
                each_activated(act, out, |i, mx| h[i] + g * mx);
            }
            Dynamics::Current => {
                self.fx.copy_from_slice(x);
                each_activated(act, &mut self.fx, |_, xi| xi);
                self.op
                    .apply_turned(&self.fx, out, &mut self.proj, &self.kappa);
                let g = self.m_scale;
                each(out, |i, mfx| h[i] + g * mfx);
            }
        }
    }

    /// y = M v (scaled as the trial's M).
    pub fn product(&mut self, v: &[T], y: &mut [T]) {
        self.op.apply(v, y, &mut self.proj);
        let g = self.m_scale;
        each(y, |_, yi| g * yi);
    }
}

/// The summed input of the epochs on at each step, rebuilt only when the set
/// of active epochs changes or a moving profile is on; and the velocity's
/// turn of the kernel at each step.
pub struct InputSchedule<T> {
    epochs: Vec<(u64, u64, Vec<T>)>,
    /// The moving epochs: index into `epochs`, start time, the motion.
    moving: Vec<(usize, f64, Motion)>,
    active: Vec<bool>,
    /// The sum of the still epochs on.
    still: Vec<T>,
    /// h at the current step.
    pub h: Vec<T>,
    /// h's value when every neuron has the same.
    uniform: Option<T>,
    /// cos and sin of each neuron's angles ([`place_angles`]), when some
    /// profile moves.
    angles: Option<[Vec<f64>; 4]>,
    /// Angles of a neuron's place (1 on a ring, 2 on a torus).
    dims: usize,
    h_scale: f64,
    dt: f64,
    tau: f64,
    velocity: Vec<VelocityEpoch>,
    rotations: Vec<Rotation>,
    /// tau k v of each rotation of M at the current step (0 without a velocity).
    pub kappa: Vec<T>,
}

impl<T: Real> InputSchedule<T> {
    /// The schedule of `experiment`'s inputs, scaled by `h_scale`.
    pub fn new(experiment: &Experiment, h_scale: f64) -> Self {
        let dt = experiment.simulation.dt;
        let n = experiment.network.n;
        let mut moving = Vec::new();
        let epochs = experiment
            .inputs
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let h = match e.motion {
                    Motion::Still => e.h.iter().map(|&x| c::<T>(h_scale * x)).collect(),
                    Motion::Moving { .. } | Motion::Frames { .. } => {
                        moving.push((k, e.start, e.motion.clone()));
                        Vec::new()
                    }
                };
                (e.first_step(dt), e.end_step(dt), h)
            })
            .collect::<Vec<_>>();
        let angles = moving
            .iter()
            .any(|(_, _, m)| matches!(m, Motion::Moving { .. }))
            .then(|| place_angles(n, experiment.network.weights.geometry().side));
        let rotations = experiment.network.weights.geometry().rotations;
        let mut s = InputSchedule {
            active: vec![false; epochs.len()],
            epochs,
            moving,
            still: vec![T::zero(); n],
            h: vec![T::zero(); n],
            uniform: None,
            angles,
            dims: experiment.network.weights.geometry().dims,
            h_scale,
            dt,
            tau: experiment.network.tau,
            velocity: experiment.velocity.clone(),
            kappa: vec![T::zero(); rotations.len()],
            rotations,
        };
        s.rebuild();
        s.place(0);
        s
    }

    /// h at the current step, as one number where it is uniform.
    pub fn input(&self) -> Input<'_, T> {
        match self.uniform {
            Some(u) => Input::Uniform(u),
            None => Input::Vector(&self.h),
        }
    }

    fn rebuild(&mut self) {
        self.still.iter_mut().for_each(|x| *x = T::zero());
        for ((_, _, h), on) in self.epochs.iter().zip(&self.active) {
            if *on && !h.is_empty() {
                for (a, b) in self.still.iter_mut().zip(h) {
                    *a = *a + *b;
                }
            }
        }
    }

    /// h at `step`: the still sum plus the moving profiles on.
    fn place(&mut self, step: u64) {
        let t = step as f64 * self.dt;
        let mut on = self
            .moving
            .iter()
            .filter(|(k, _, _)| self.active[*k])
            .peekable();
        if on.peek().is_none() {
            self.h.copy_from_slice(&self.still);
        } else {
            let empty: [Vec<f64>; 4] = Default::default();
            let angles = self.angles.as_ref().unwrap_or(&empty);
            let dims = self.dims;
            let n = self.h.len();
            let mut profiles: Vec<(RingProfile, [f64; 4])> = Vec::new();
            let mut frames: Vec<&[f64]> = Vec::new();
            for (_, start, m) in on {
                match m {
                    Motion::Moving { profile, path } => {
                        let [x, y] = path.at(*start, t);
                        profiles.push((*profile, [x.cos(), x.sin(), y.cos(), y.sin()]));
                    }
                    Motion::Frames { frame, rows } => {
                        let r = Motion::frame_at(*frame, rows.len() / n, *start, t);
                        frames.push(&rows[r * n..(r + 1) * n]);
                    }
                    Motion::Still => unreachable!("only moving epochs are listed"),
                }
            }
            let hs = self.h_scale;
            let still = &self.still;
            each(&mut self.h, |i, _| {
                let v: f64 = profiles
                    .iter()
                    .map(|(p, cs)| p.at(place_cosine(angles, i, cs), dims))
                    .sum::<f64>()
                    + frames.iter().map(|f| f[i]).sum::<f64>();
                still[i] + c::<T>(hs * v)
            });
        }
        self.uniform = match self.h.first() {
            Some(&h0) if self.h.iter().all(|&v| v == h0) => Some(h0),
            _ => None,
        };
        let v = crate::model::velocity_at(&self.velocity, step, self.dt);
        for (k, r) in self.kappa.iter_mut().zip(&self.rotations) {
            *k = c(self.tau * r.wavenumber * v[r.axis]);
        }
    }

    /// Moves to `step`; returns whether h changed.
    pub fn at(&mut self, step: u64) -> bool {
        let mut changed = false;
        for ((first, end, _), on) in self.epochs.iter().zip(self.active.iter_mut()) {
            let now = *first <= step && step < *end;
            changed |= now != *on;
            *on = now;
        }
        if changed {
            self.rebuild();
        }
        let moves = self.moving.iter().any(|(k, _, _)| self.active[*k]);
        if changed || moves || !self.velocity.is_empty() {
            self.place(step);
        }
        changed || moves
    }
}

/// One integration step from `x` at `step` with input `h`, noise included:
/// the method's stages (the twin of the GPU's dispatches, one per stage),
/// each evaluating the drive at the stage point and applying
/// [`Stage::update`] to every neuron, then the noise.
pub struct Stepper<T> {
    /// The drive.
    pub drive: Drive<T>,
    /// The fused step, for a structured M and a one-stage method.
    fused: Option<FusedStep<T>>,
    stages: &'static [Stage],
    k: StepConstants<T>,
    /// sigma sqrt(dt / tau): the standard deviation of the noise a step adds.
    noise_scale: f64,
    seed: u64,
    trial: u32,
    /// The drive at the stage point.
    d: Vec<T>,
    /// The stage point y and the rk4 accumulator (empty for one-stage methods).
    y: Vec<T>,
    acc: Vec<T>,
}

impl<T: Matvec> Stepper<T> {
    /// A stepper for `experiment`, with `trial`'s noise stream and scale of
    /// M, stepping with the operator `op` (M of `experiment`'s network).
    pub fn new(experiment: &Experiment, trial: &Trial, op: Arc<Operator<T>>) -> Self {
        let n = experiment.network.n;
        let sim = &experiment.simulation;
        let a = sim.dt / experiment.network.tau;
        let staged = if sim.method.needs_stage_buffers() {
            n
        } else {
            0
        };
        let net = &experiment.network;
        let fused = FusedStep::new(&op, sim.method.stages(), net.activation, net.dynamics);
        let mut drive = Drive::new(experiment, op);
        drive.m_scale = c(trial.m_scale);
        Stepper {
            drive,
            fused,
            stages: sim.method.stages(),
            k: StepConstants::new(sim.dt, experiment.network.tau),
            noise_scale: trial.noise * a.sqrt(),
            seed: trial.seed,
            trial: trial.trial,
            d: vec![T::zero(); n],
            y: vec![T::zero(); staged],
            acc: vec![T::zero(); staged],
        }
    }

    /// Advances `x` by one step (the step from `step` to `step + 1`) with
    /// the input of `inputs`; returns `Some(nan)` if the new state is not
    /// finite (`nan`: a NaN is among its entries). `sum`: the fused step
    /// also sums the new rates (for the metrics of a record).
    ///
    /// The fused step keeps the projections of the state it wrote for the
    /// next step: `x` must be the state the last call returned, or
    /// [`Stepper::reset`] must be called first.
    pub fn step(
        &mut self,
        x: &mut [T],
        inputs: &InputSchedule<T>,
        step: u64,
        sum: bool,
    ) -> Option<bool> {
        if let Some(fz) = &mut self.fused {
            let noise = (self.noise_scale > 0.0).then_some(fused::Noise {
                scale: self.noise_scale,
                seed: self.seed,
                trial: self.trial,
                step,
            });
            let s = fused::Step {
                stage: self.stages[0],
                k: self.k,
                m_scale: self.drive.m_scale,
                h: inputs.input(),
                kappa: &inputs.kappa,
                noise,
            };
            let bad = fz.step(&self.drive.op, x, &s, sum);
            return bad.then(|| x.iter().any(|v| v.is_nan()));
        }
        self.drive.kappa.clone_from(&inputs.kappa);
        self.step_unfused(x, &inputs.h, step);
        check_finite(x)
    }

    /// The step as separate passes (the drive, each stage's update, the
    /// noise): what every operator and method can take, and the fused
    /// step's reference.
    pub fn step_unfused(&mut self, x: &mut [T], h: &[T], step: u64) {
        let Stepper {
            drive, d, y, acc, ..
        } = self;
        let staged = !y.is_empty();
        if staged {
            y.copy_from_slice(x);
        }
        for &stage in self.stages {
            drive.eval(if staged { &y[..] } else { &x[..] }, h, d);
            update(stage, self.k, x, y, acc, d);
        }
        if self.noise_scale > 0.0 {
            let (s, seed, trial) = (self.noise_scale, self.seed, self.trial);
            each(x, |i, xi| {
                xi + c::<T>(s * rng::normal(seed, Stream::Noise, i as u32, step as u32, trial))
            });
        }
    }

    /// Forgets what the fused step kept from the last state (for a state
    /// set from outside).
    pub fn reset(&mut self) {
        if let Some(fz) = &mut self.fused {
            fz.reset();
        }
    }

    /// Whether steps go through the fused step.
    pub fn is_fused(&self) -> bool {
        self.fused.is_some()
    }
}

/// [`Stage::update`] for every neuron (in parallel for large N); `y` and
/// `acc` are empty for one-stage methods. Each arm hands [`update_all`] a
/// constant stage, so that the loops carry no branch on it and vectorise.
fn update<T: Real>(
    stage: Stage,
    k: StepConstants<T>,
    x: &mut [T],
    y: &mut [T],
    acc: &mut [T],
    d: &[T],
) {
    match stage {
        Stage::Euler => update_all(Stage::Euler, k, x, y, acc, d),
        Stage::Exponential => update_all(Stage::Exponential, k, x, y, acc, d),
        Stage::Rk4(1) => update_all(Stage::Rk4(1), k, x, y, acc, d),
        Stage::Rk4(2) => update_all(Stage::Rk4(2), k, x, y, acc, d),
        Stage::Rk4(3) => update_all(Stage::Rk4(3), k, x, y, acc, d),
        Stage::Rk4(s) => update_all(Stage::Rk4(s), k, x, y, acc, d),
    }
}

#[inline(always)]
fn update_all<T: Real>(
    stage: Stage,
    k: StepConstants<T>,
    x: &mut [T],
    y: &mut [T],
    acc: &mut [T],
    d: &[T],
) {
    if y.is_empty() {
        each(x, |i, mut xi| {
            let (mut yi, mut ai) = (T::zero(), T::zero());
            stage.update(k, &mut xi, &mut yi, &mut ai, d[i]);
            xi
        });
        return;
    }
    let body = |xc: &mut [T], yc: &mut [T], ac: &mut [T], dc: &[T]| {
        for j in 0..xc.len() {
            stage.update(k, &mut xc[j], &mut yc[j], &mut ac[j], dc[j]);
        }
    };
    if x.len() >= PARALLEL_N {
        x.par_chunks_mut(CHUNK)
            .zip(y.par_chunks_mut(CHUNK))
            .zip(acc.par_chunks_mut(CHUNK))
            .zip(d.par_chunks(CHUNK))
            .for_each(|(((xc, yc), ac), dc)| body(xc, yc, ac, dc));
    } else {
        body(x, y, acc, d);
    }
}

/// Rates v from the state x: x itself for rate dynamics, F(x) for current dynamics.
pub fn rates_of<T: Real>(experiment: &Experiment, x: &[T], v: &mut [T]) {
    let act = experiment.network.activation;
    v.copy_from_slice(x);
    if experiment.network.dynamics == Dynamics::Current {
        each_activated(act, v, |_, xi| xi);
    }
}

/// Whether every entry is finite; if not, whether one is NaN.
fn check_finite<T: Real>(x: &[T]) -> Option<bool> {
    // Without a short cut at the first bad entry, so that the loop vectorises
    // (a run checks every step; a bad entry ends it).
    let bad = |a: bool, v: &T| a | !v.is_finite();
    let any_bad = if x.len() >= PARALLEL_N {
        x.par_chunks(CHUNK)
            .map(|ch| ch.iter().fold(false, bad))
            .reduce(|| false, |a, b| a | b)
    } else {
        x.iter().fold(false, bad)
    };
    any_bad.then(|| x.iter().any(|v| v.is_nan()))
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
    let op = Arc::new(Operator::<T>::new(&experiment.network.weights));
    run_trial_with(experiment, trial, op, progress, &Stop::default())
}

/// [`run_trial`] with M already built as `op`.
fn run_trial_with<T: Matvec>(
    experiment: &Experiment,
    trial: &Trial,
    op: Arc<Operator<T>>,
    progress: &mut dyn FnMut(u64),
    stop: &Stop,
) -> Recording {
    let n = experiment.network.n;
    let net = &experiment.network;
    let sim = &experiment.simulation;
    let stride = experiment.record.stride;
    let kept = experiment.record.kept(n);
    let record_steps = sim.record_steps();
    let mut rec = Recording::empty(experiment, "cpu", None, T::NAME);

    let mut x: Vec<T> = trial.initial(experiment).iter().map(|&v| c(v)).collect();
    let mut inputs = InputSchedule::<T>::new(experiment, trial.h_scale);
    let mut stepper = Stepper::<T>::new(experiment, trial, op.clone());
    let fused = stepper.is_fused();
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
    let mut record = |step: u64,
                      x: &[T],
                      inputs: &InputSchedule<T>,
                      stepper: &mut Stepper<T>,
                      rec: &mut Recording| {
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
                let current = net.dynamics == Dynamics::Current;
                rec.rates.extend(
                    x.iter()
                        .step_by(stride)
                        .map(|&xi| f(if current { act.apply(xi) } else { xi }) as f32),
                );
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
            rec.rates
                .extend(v.iter().step_by(stride).map(|&r| f(r) as f32));
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
            last_good.copy_from_slice(&x);
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
