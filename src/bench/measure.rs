//! Timing one case: the warm-up, the pairs of runs of K and 2K steps, the
//! medians, and the case's figures from the backend's cost.

use super::cases::{experiment, Case, OperatorKind};
use crate::error::Result;
use crate::model::Experiment;
use crate::sim::gpu::ledger::Ledger;
use crate::sim::gpu::GpuBackend;
use crate::sim::{Backend, Trial};
use serde::Serialize;

/// The trials of a case: `batch` trials of `e`, seeds 0, 1, ...
fn trials_of(e: &Experiment, batch: usize) -> Vec<Trial> {
    (0..batch)
        .map(|k| Trial {
            seed: k as u64,
            ..Trial::of(e)
        })
        .collect()
}

/// Times one case on the CPU: the experiment built once, each timed run
/// the whole `run_batch` of K or 2K steps (see `time_steps`).
pub fn measure_cpu(
    cpu: &mut dyn Backend,
    adapter: &str,
    case: Case,
    batch: usize,
    reps: usize,
    target_seconds: f64,
    bandwidth: f64,
) -> Result<BenchResult> {
    let mut e = experiment(case, 10)?;
    let trials = trials_of(&e, batch);
    // Each run builds M from the experiment's f64 weights (at N = 8192 a
    // conversion of 268 MB whose time varies by more than the steps'), so
    // a run is timed by its own clock, from its first step to its last
    // (the slowest trial's, for a batch).
    let timed = time_steps(case, reps, target_seconds, &mut |steps| {
        set_steps(&mut e, steps);
        let recs = cpu.run_batch(&e, &trials, &mut |_| {})?;
        Ok((
            recs.iter().map(|r| r.wall_seconds).fold(0.0, f64::max),
            None,
        ))
    })?;
    let cost = cpu.cost(&e, batch);
    Ok(result(
        cpu.name(),
        adapter,
        case,
        batch,
        &timed,
        &cost,
        bandwidth,
    ))
}

/// Times one case on the GPU: M built and uploaded once, each timed run a
/// stretch of K or 2K more steps of the same batch ([`GpuBackend::prepare`]).
pub fn measure_gpu(
    gpu: &mut GpuBackend,
    case: Case,
    batch: usize,
    reps: usize,
    target_seconds: f64,
    bandwidth: f64,
    count: bool,
) -> Result<BenchResult> {
    let e = experiment(case, 1)?;
    let trials = trials_of(&e, batch);
    let cost = gpu.cost(&e, batch);
    let adapter = gpu.context().summary.name.clone();
    let prepared = gpu.prepare(&e, &trials)?;
    let timed = time_steps(case, reps, target_seconds, &mut |steps| {
        let t = prepared.time(steps)?;
        Ok((t.seconds, Some(t.ledger)))
    })?;
    drop(prepared);
    let mut r = result(gpu.name(), &adapter, case, batch, &timed, &cost, bandwidth);
    if count {
        let counted = count_steps(gpu, &e, &trials)?;
        r.measured_bytes_per_step = Some(counted.measured_bytes_per_step());
        r.measured_weight_bytes_per_step = Some(counted.measured_weight_bytes_per_step());
    }
    Ok(r)
}

/// Steps counted by [`count_steps`] (after one step that also runs the
/// prologue, not counted).
pub const COUNTED_STEPS: u64 = 2;

/// What the counting build of the kernels counts over [`COUNTED_STEPS`]
/// steps of `trials` of `e` (uploaded again: the counting build is its own
/// set of pipelines).
pub fn count_steps(
    gpu: &mut GpuBackend,
    e: &Experiment,
    trials: &[crate::sim::Trial],
) -> Result<crate::sim::gpu::Counted> {
    gpu.set_counting(true);
    let counted = gpu.prepare(e, trials).and_then(|p| {
        p.count(1)?;
        p.count(COUNTED_STEPS)
    });
    gpu.set_counting(false);
    counted
}

/// Sets the steps of a bench experiment (one record at the end).
fn set_steps(e: &mut Experiment, steps: u64) {
    e.simulation.steps = steps;
    e.simulation.duration = steps as f64 * e.simulation.dt;
    e.simulation.record_every = steps;
}

/// The time of one case: (median seconds per step, median GPU seconds per
/// step where there are timestamps, the steps K of a timed run, the ledger
/// of the last timed run of 2K steps).
struct Timing {
    per_step: f64,
    gpu_per_step: Option<f64>,
    steps: u64,
    ledger: Option<Ledger>,
}

/// Times one case with `run(K)`, which runs K steps and returns its
/// seconds (and the GPU's ledger). A warm-up sets K so that a run takes
/// about `target_seconds` (5 to 1000 steps). Each repetition then times a
/// run of K steps and one of 2K steps: their difference over K is the time
/// per step, free of each run's setup and of how a backend spreads a
/// batch's trials; the GPU is waited for inside (each run ends with a
/// readback). The median over `reps` repetitions is reported.
fn time_steps(
    case: Case,
    reps: usize,
    target_seconds: f64,
    run: &mut dyn FnMut(u64) -> Result<(f64, Option<Ledger>)>,
) -> Result<Timing> {
    let warm = (run(10)?.0 - run(5)?.0).max(1e-9) / 5.0;
    let mut steps = ((target_seconds / warm) as u64).clamp(5, 1000);
    let mut t = Vec::with_capacity(reps);
    let mut gpu_t = Vec::with_capacity(reps);
    let mut ledger = None;
    let mut estimated = false;
    while t.len() < reps {
        let (long, l2) = run(2 * steps)?;
        let (short, l1) = run(steps)?;
        let d = long - short;
        if d > 0.0 && !estimated {
            estimated = true;
            // The warm-up's 5 steps can be swamped by the runs' setup (at
            // N = 10^6 it guessed 55 steps for 0.3 s of 4e-4 s steps):
            // measure again with as many steps as this pair says fill the
            // target.
            let better = ((target_seconds * steps as f64 / d) as u64).clamp(5, 1000);
            if better > 2 * steps {
                steps = better;
                continue;
            }
        }
        if d > 0.0 {
            t.push(d / steps as f64);
            if let (Some(a), Some(b)) = (
                l2.and_then(|l| l.gpu_seconds),
                l1.and_then(|l| l.gpu_seconds),
            ) {
                gpu_t.push((a - b) / steps as f64);
            }
            ledger = l2;
        } else if steps < 1 << 16 {
            // Timing noise swamped K steps: measure longer runs.
            steps *= 4;
            t.clear();
            gpu_t.clear();
        } else {
            return Err(crate::Error::Unavailable(format!(
                "bench {:?} N = {}: {steps} more steps took no measurable time",
                case.operator, case.n
            )));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(Timing {
        per_step: median(&mut t),
        gpu_per_step: (!gpu_t.is_empty()).then(|| median(&mut gpu_t)),
        steps,
        ledger,
    })
}

/// The distinct bytes a step of a bench case touches (one stage, Euler): M
/// once (its trials share it) and every trial's vectors.
pub(crate) fn working_set(cost: &crate::sim::Cost, batch: usize) -> f64 {
    cost.weight_bytes_per_step / batch as f64 + cost.bytes_per_step - cost.weight_bytes_per_step
}

/// The result of a timed case: the bytes the encoder counted where there
/// is a ledger, else the backend's cost; the flops of the cost.
fn result(
    backend: &str,
    adapter: &str,
    case: Case,
    batch: usize,
    timed: &Timing,
    cost: &crate::sim::Cost,
    bandwidth: f64,
) -> BenchResult {
    let per_step = timed.per_step;
    let (bytes, weight_bytes, dispatches, requested) = match timed.ledger {
        Some(l) => (
            l.bytes_per_step(),
            l.weight_bytes_per_step(),
            Some(l.dispatches_per_step()),
            Some(l.requested_per_step()),
        ),
        None => (
            cost.bytes_per_step,
            cost.weight_bytes_per_step,
            cost.dispatches_per_step,
            None,
        ),
    };
    let gbs = bytes / per_step / 1e9;
    let flops = cost.flops_per_step;
    BenchResult {
        backend: backend.to_string(),
        adapter: adapter.to_string(),
        operator: case.operator,
        n: case.n,
        patterns: case.operator.has_patterns().then_some(case.patterns),
        degree: case.operator.has_degree().then_some(case.degree),
        degree_spread: case.operator.has_degree().then_some(case.spread),
        activation: case.activation,
        dynamics: case.dynamics,
        batch,
        steps_per_submit: timed.steps,
        seconds_per_step: per_step,
        gpu_seconds_per_step: timed.gpu_per_step,
        bytes_per_step: bytes,
        weight_bytes_per_step: weight_bytes,
        minimum_bytes_per_step: cost.minimum_bytes_per_step,
        requested_bytes_per_step: requested,
        measured_bytes_per_step: None,
        measured_weight_bytes_per_step: None,
        dispatches_per_step: dispatches,
        gbytes_per_second: gbs,
        flops_per_step: flops,
        gflops_per_second: flops / per_step / 1e9,
        bandwidth_gbytes_per_second: bandwidth,
        fraction_of_bandwidth: gbs / bandwidth,
        working_set_bytes: working_set(cost, batch),
        last_level_cache_bytes: None,
        cache_resident: false,
        bandwidth_probe: String::new(),
        peak_gflops_per_second: f64::NAN,
        fraction_of_peak: f64::NAN,
        workgroup: None,
        rows_per_workgroup: None,
        rows_per_thread: None,
        batch_split: None,
        staged: None,
        by_pattern: None,
        sparse_lanes: None,
    }
}

/// One measured case (a line of `--json`).
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// "cpu" or "gpu".
    pub backend: String,
    /// The GPU adapter, or the CPU's thread count.
    pub adapter: String,
    /// dense, ring or hebbian.
    pub operator: OperatorKind,
    /// N.
    pub n: usize,
    /// P, the patterns of a Hebbian case.
    pub patterns: Option<usize>,
    /// K, the partners per neuron of a sparse case (their mean when spread).
    pub degree: Option<usize>,
    /// How a sparse case's in-degrees spread.
    pub degree_spread: Option<super::DegreeSpread>,
    /// The activation F.
    pub activation: crate::model::Activation,
    /// The dynamics.
    pub dynamics: crate::model::Dynamics,
    /// Trials stepped together.
    pub batch: usize,
    /// Steps recorded per submit (GPU) or between records (CPU).
    pub steps_per_submit: u64,
    /// Median time per step over the repetitions, seconds (wall clock).
    pub seconds_per_step: f64,
    /// GPU: the median GPU time per step from timestamp queries, seconds
    /// (`None` where the adapter has none, and on the CPU).
    pub gpu_seconds_per_step: Option<f64>,
    /// Bytes moved per step: GPU, every buffer each dispatch reads and
    /// writes, as the encoder counted it ([`crate::sim::gpu::schedule`]);
    /// CPU, every vector and table the step reads or writes, once each
    /// (the CPU's cost, [`crate::sim::cpu::cost`]).
    pub bytes_per_step: f64,
    /// Of those, the weights' (M, or the structured tables).
    pub weight_bytes_per_step: f64,
    /// GPU: the bytes the loads and stores of a step request, from cache
    /// or not (the schedule's [`Traffic::requested`](crate::sim::gpu::schedule::Traffic::requested):
    /// the re-reads `bytes_per_step` counts once).
    pub requested_bytes_per_step: Option<f64>,
    /// GPU with `--count`: the bytes the counting build of the kernels
    /// counted in a step.
    pub measured_bytes_per_step: Option<f64>,
    /// GPU with `--count`: of those, the bytes read of the weights' bindings
    /// (M, the tables or bits, the taps, the diagonal).
    pub measured_weight_bytes_per_step: Option<f64>,
    /// GPU: the fewest bytes a step can move
    /// ([`crate::sim::gpu::cost::minimum_bytes_per_step`]).
    pub minimum_bytes_per_step: Option<f64>,
    /// GPU: dispatches per step, as the encoder counted them.
    pub dispatches_per_step: Option<f64>,
    /// Floating-point operations of the products by M of a step, for the
    /// whole batch (the backend's [`crate::sim::Cost::flops_per_step`]).
    pub flops_per_step: f64,
    /// flops_per_step / seconds_per_step / 1e9.
    pub gflops_per_second: f64,
    /// bytes_per_step / seconds_per_step / 1e9.
    pub gbytes_per_second: f64,
    /// The machine's measured bandwidth, GB/s (see
    /// [`CpuBandwidth`](crate::sim::cpu::probe::CpuBandwidth),
    /// [`gpu_probes`](crate::sim::gpu::probe::gpu_probes)).
    pub bandwidth_gbytes_per_second: f64,
    /// gbytes_per_second / bandwidth (for a CPU case whose working set
    /// fits in the last-level cache, `cache_resident`, a fraction of the
    /// cache's read bandwidth, not the memory's).
    pub fraction_of_bandwidth: f64,
    /// The distinct bytes a step touches: M (or its form's tables) once
    /// and the trials' vectors, as the backend's cost counts them.
    pub working_set_bytes: f64,
    /// The CPU's last-level cache, bytes, where the OS reports it (CPU
    /// cases).
    pub last_level_cache_bytes: Option<u64>,
    /// Whether the working set fits in the last-level cache (CPU cases):
    /// the case runs from the cache, and its bandwidth is the cache's.
    pub cache_resident: bool,
    /// How the bandwidth was measured.
    pub bandwidth_probe: String,
    /// The machine's measured f32 arithmetic peak, GFLOP/s (see
    /// [`cpu_peak_gflops`](crate::sim::cpu::probe::cpu_peak_gflops),
    /// [`gpu_probes`](crate::sim::gpu::probe::gpu_probes)).
    pub peak_gflops_per_second: f64,
    /// gflops_per_second / peak: the measure of compute-bound cases
    /// (generated random weights, whose generation it does not count).
    pub fraction_of_peak: f64,
    /// The dense kernel's threads per workgroup (GPU dense cases).
    pub workgroup: Option<u32>,
    /// The dense kernel's rows per workgroup (GPU dense cases).
    pub rows_per_workgroup: Option<u32>,
    /// The dense kernel's rows per thread (GPU dense cases).
    pub rows_per_thread: Option<u32>,
    /// The column spans of the dense batch kernel (GPU dense cases that
    /// run `dense_batch`).
    pub batch_split: Option<u32>,
    /// Whether the convolution passes ran staged in workgroup memory
    /// (GPU Gaussian cases).
    pub staged: Option<bool>,
    /// Whether the packed projections ran by pattern (GPU packed cases).
    pub by_pattern: Option<bool>,
    /// The lanes of each light row of `sparse_step` (GPU sparse cases).
    pub sparse_lanes: Option<u32>,
}

impl BenchResult {
    /// The case as the table prints it: the operator, its P or K, and the
    /// activation and dynamics where they are not relu and rate
    /// (`hebbian P=500 tanh(4) current`).
    pub fn case_label(&self) -> String {
        use crate::model::{Activation, Dynamics};
        let mut label = format!("{:?}", self.operator).to_lowercase();
        match (self.patterns, self.degree) {
            (Some(p), _) => label += &format!(" P={p}"),
            (None, Some(k)) => label += &format!(" K={k}"),
            (None, None) => {}
        }
        let f = match self.activation {
            Activation::Relu {} => String::new(),
            Activation::Linear {} => "linear".into(),
            Activation::Tanh { beta } => format!("tanh({beta})"),
            Activation::Sigmoid { beta, threshold } => format!("sigmoid({beta}, {threshold})"),
            Activation::Clip { min, max } => format!("clip({min}, {max})"),
            Activation::Step { threshold } => format!("step({threshold})"),
        };
        if !f.is_empty() {
            label += &format!(" {f}");
        }
        if self.dynamics == Dynamics::Current {
            label += " current";
        }
        label
    }

    /// The kernel's shape as the table prints it: `256x8s8` for the dense
    /// row kernels (threads x rows, rows per thread), `split 8` for the
    /// dense batch kernel, `staged` or `memory` for the convolution
    /// passes, `by pattern` or `by block` for the packed projections, `-`
    /// otherwise.
    pub fn shape_label(&self) -> String {
        match (
            self.workgroup,
            self.rows_per_workgroup,
            self.rows_per_thread,
            self.batch_split,
        ) {
            (Some(workgroup), Some(rows), Some(stack), _) => crate::sim::gpu::kernels::DenseShape {
                workgroup,
                rows,
                stack,
            }
            .to_string(),
            (_, _, _, Some(k)) => format!("split {k}"),
            _ => match (self.staged, self.by_pattern, self.sparse_lanes) {
                (Some(true), _, _) => "staged".into(),
                (Some(false), _, _) => "memory".into(),
                (None, Some(true), _) => "by pattern".into(),
                (None, Some(false), _) => "by block".into(),
                (None, None, Some(k)) => lanes_label(k),
                (None, None, None) => "-".into(),
            },
        }
    }
}

/// How a tuned sparse case is labelled: its lanes a light row.
pub fn lanes_label(k: u32) -> String {
    format!("{k} lane{}", if k == 1 { "" } else { "s" })
}
