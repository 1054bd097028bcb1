//! `attractor bench`: time per step of each backend, operator, size and
//! batch, the bytes moved per step, the achieved GB/s, and that as a
//! fraction of the machine's bandwidth, measured too (by each backend's
//! probe: the best of several large parallel reads on the CPU, taken before
//! and after each case; the best of a large read kernel and a large buffer
//! copy on the GPU). The bytes and flops of a step are the backend's own
//! cost ([`Backend::cost`]); on the GPU the bytes and dispatches per step
//! are what the encoder recorded ([`crate::sim::gpu::schedule`]), and the
//! GPU's own time per step comes from timestamp queries where the adapter
//! has them.
//!
//! Here: the cases, the measuring loop and the plan of a run; the probes
//! are the backends', the plot is the output module's.

use crate::error::Result;
use crate::model::{Experiment, Weights};
use crate::sim::cpu::probe::{cpu_peak_gflops, CpuBandwidth, CPU_PROBE};
use crate::sim::gpu::ledger::Ledger;
use crate::sim::gpu::probe::{gpu_probes, GPU_PROBE};
use crate::sim::gpu::{context, kernels, GpuBackend};
use crate::sim::{Backend, Trial};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// The kind of operator (M) a case steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OperatorKind {
    /// A dense N×N matrix.
    Dense,
    /// The ring's rank-3 form.
    Ring,
    /// Hebbian, 16 patterns unless `--patterns` says otherwise.
    Hebbian,
    /// Hebbian with bit-packed ±1 patterns (`packed = true`), 16 patterns
    /// unless `--patterns` says otherwise: the bits are the weight bytes;
    /// not in the default list.
    Packed,
    /// Dense random weights generated at every product, not stored
    /// (`random` with `materialise = false`): bound by arithmetic, not by
    /// memory (see GFLOP/s and generated entries per second); not in the
    /// default list.
    Random,
    /// A Mexican hat (two Gaussians) on a torus of side × side neurons (N
    /// a square): by FFT on the CPU, two separable passes per stage on
    /// the GPU; not in the default list.
    Gaussian,
    /// The cosine torus of side × side neurons (N a square): rank 5, the
    /// uniform mode and the cos/sin pair of each axis; not in the default
    /// list.
    Torus,
}

/// Patterns of the Hebbian cases unless `--patterns` says otherwise.
pub const HEBBIAN_PATTERNS: usize = 16;

/// The network of one case: the operator, N and (Hebbian) the patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    /// The operator.
    pub operator: OperatorKind,
    /// N.
    pub n: usize,
    /// P, the patterns of a Hebbian case (unused otherwise).
    pub patterns: usize,
}

impl Case {
    /// `operator` at N = `n`, Hebbian with [`HEBBIAN_PATTERNS`] patterns.
    pub fn new(operator: OperatorKind, n: usize) -> Self {
        Case {
            operator,
            n,
            patterns: HEBBIAN_PATTERNS,
        }
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
    /// The machine's measured bandwidth, GB/s (see [`CpuBandwidth`],
    /// [`gpu_probes`]).
    pub bandwidth_gbytes_per_second: f64,
    /// gbytes_per_second / bandwidth.
    pub fraction_of_bandwidth: f64,
    /// How the bandwidth was measured.
    pub bandwidth_probe: String,
    /// The machine's measured f32 arithmetic peak, GFLOP/s (see
    /// [`cpu_peak_gflops`], [`gpu_probes`]).
    pub peak_gflops_per_second: f64,
    /// gflops_per_second / peak: the measure of compute-bound cases
    /// (generated random weights, whose generation it does not count).
    pub fraction_of_peak: f64,
    /// The dense kernel's threads per workgroup (GPU dense cases).
    pub workgroup: Option<u32>,
    /// The dense kernel's rows per workgroup (GPU dense cases).
    pub rows_per_workgroup: Option<u32>,
}

/// The experiment of a case: a rate network with relu, Euler steps, f32.
pub fn experiment(case: Case, steps: u64) -> Result<Experiment> {
    let Case {
        operator: op,
        n,
        patterns,
    } = case;
    let weights = match op {
        OperatorKind::Dense => "{ kind = \"diagonal\", values = [0.0] }".to_string(),
        OperatorKind::Ring => "{ kind = \"ring\", lambda0 = 0.5, lambda1 = 1.5 }".to_string(),
        OperatorKind::Torus => "{ kind = \"torus\", lambda0 = 0.5, lambda1 = 1.5 }".to_string(),
        OperatorKind::Hebbian => format!("{{ kind = \"hebbian\", patterns = {patterns} }}"),
        OperatorKind::Packed => {
            format!("{{ kind = \"hebbian\", patterns = {patterns}, packed = true }}")
        }
        // Spectral radius 0.9: a stable network.
        OperatorKind::Random => {
            "{ kind = \"random\", g = 0.9, seed = 1, materialise = false }".to_string()
        }
        // Every mode's gain below 0.4: a stable network.
        OperatorKind::Gaussian => "{ kind = \"gaussian\", excitation = 0.6, sigma = 0.6, \
                                   inhibition = 0.9, sigma_inhibition = 1.6 }"
            .to_string(),
    };
    let n_file = if op == OperatorKind::Dense { 1 } else { n };
    let toml = format!(
        r#"
        [network]
        n = {n_file}
        tau = 0.01
        activation = {{ kind = "relu" }}
        weights = {weights}
        [[input]]
        kind = "uniform"
        value = 0.1
        [simulation]
        duration = {}
        dt = 0.0001
        record_every = {steps}
        precision = "f32"
        [record]
        rates = false
        "#,
        steps as f64 * 0.0001
    );
    let mut e = Experiment::from_toml(&toml, std::path::Path::new("."), "bench", &[])?;
    if op == OperatorKind::Dense {
        // A random M scaled to spectral radius ~0.9: a stable network.
        let s = 0.9 * (3.0 / n as f64).sqrt();
        let m: Vec<f64> = (0..n * n)
            .into_par_iter()
            .map(|k| {
                s * (2.0
                    * crate::rng::uniform_at(
                        1,
                        crate::rng::Stream::InitialRandom,
                        k as u32,
                        (k >> 32) as u32,
                    )
                    - 1.0)
            })
            .collect();
        e.network.n = n;
        e.network.weights = Weights::Dense { n, m };
        e.inputs[0].h = vec![0.1; n];
        e.initial = vec![0.0; n];
    }
    Ok(e)
}

/// The experiment of a case with the dense matrix left empty: its shape
/// for the backends' costs and [`GpuBackend::launch`], without filling N²
/// entries.
pub fn shape_of(case: Case) -> Result<Experiment> {
    let n = case.n;
    if case.operator != OperatorKind::Dense {
        return experiment(case, 1);
    }
    let mut e = experiment(Case { n: 1, ..case }, 1)?;
    e.network.n = n;
    e.network.weights = Weights::Dense { n, m: Vec::new() };
    Ok(e)
}

/// Times one case. A warm-up run sets the steps per submit K so that a run
/// takes about `target_seconds` (5 to 1000 steps). Each repetition then
/// times, around the whole call, a run of K steps and one of 2K steps: their
/// difference over K is the time per step, free of the per-run setup
/// (uploading M, building pipelines) and, for a batch, of how the backend
/// spreads its trials; the GPU is waited for inside (each run ends with a
/// readback). The median over `reps` repetitions is reported.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    backend: &mut dyn Backend,
    adapter: &str,
    case: Case,
    batch: usize,
    reps: usize,
    target_seconds: f64,
    bandwidth: f64,
) -> Result<BenchResult> {
    let time = |backend: &mut dyn Backend, steps: u64| -> Result<(f64, Option<Ledger>)> {
        let e = experiment(case, steps)?;
        let trials: Vec<Trial> = (0..batch)
            .map(|k| Trial {
                seed: k as u64,
                ..Trial::of(&e)
            })
            .collect();
        let start = Instant::now();
        let recs = backend.run_batch(&e, &trials, &mut |_| {})?;
        Ok((start.elapsed().as_secs_f64(), recs[0].ledger))
    };
    let warm = (time(backend, 10)?.0 - time(backend, 5)?.0).max(1e-9) / 5.0;
    let mut steps = ((target_seconds / warm) as u64).clamp(5, 1000);
    let mut t = Vec::with_capacity(reps);
    let mut gpu_t = Vec::with_capacity(reps);
    let mut ledger = None;
    let mut estimated = false;
    while t.len() < reps {
        let (long, l2) = time(backend, 2 * steps)?;
        let (short, l1) = time(backend, steps)?;
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
    let per_step = median(&mut t);
    let gpu_seconds_per_step = (!gpu_t.is_empty()).then(|| median(&mut gpu_t));
    let name = backend.name().to_string();
    let cost = backend.cost(&shape_of(case)?, batch);
    // What the encoder counted where there is one, else the backend's model.
    let (bytes, weight_bytes, dispatches) = match ledger {
        Some(l) => (
            l.bytes_per_step(),
            l.weight_bytes_per_step(),
            Some(l.dispatches_per_step()),
        ),
        None => (
            cost.bytes_per_step,
            cost.weight_bytes_per_step,
            cost.dispatches_per_step,
        ),
    };
    let gbs = bytes / per_step / 1e9;
    let flops = cost.flops_per_step;
    Ok(BenchResult {
        backend: name,
        adapter: adapter.to_string(),
        operator: case.operator,
        n: case.n,
        patterns: matches!(case.operator, OperatorKind::Hebbian | OperatorKind::Packed)
            .then_some(case.patterns),
        batch,
        steps_per_submit: steps,
        seconds_per_step: per_step,
        gpu_seconds_per_step,
        bytes_per_step: bytes,
        weight_bytes_per_step: weight_bytes,
        minimum_bytes_per_step: cost.minimum_bytes_per_step,
        dispatches_per_step: dispatches,
        gbytes_per_second: gbs,
        flops_per_step: flops,
        gflops_per_second: flops / per_step / 1e9,
        bandwidth_gbytes_per_second: bandwidth,
        fraction_of_bandwidth: gbs / bandwidth,
        bandwidth_probe: String::new(),
        peak_gflops_per_second: f64::NAN,
        fraction_of_peak: f64::NAN,
        workgroup: None,
        rows_per_workgroup: None,
    })
}

/// A backend to benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchBackend {
    /// The CPU backend (f32).
    Cpu,
    /// The GPU backend.
    Gpu,
}

/// What `attractor bench` measures.
#[derive(Clone, Debug)]
pub struct BenchPlan {
    /// Backends (empty: the CPU, and the GPU when an adapter exists).
    pub backends: Vec<BenchBackend>,
    /// Operators (empty: dense, ring, hebbian).
    pub operators: Vec<OperatorKind>,
    /// Sizes N (empty: each operator's defaults, see [`default_sizes`]).
    pub sizes: Vec<usize>,
    /// P, the patterns of the Hebbian cases.
    pub patterns: usize,
    /// Trials stepped together.
    pub batch: usize,
    /// Timed repetitions per case.
    pub reps: usize,
    /// Seconds one timed run should take.
    pub seconds: f64,
    /// GPU dense cases: also time every other shape of the dense kernel.
    pub tune: bool,
}

impl BenchPlan {
    /// Checks the counts: the batch, the patterns and the repetitions are
    /// at least 1, and sheets' sizes are squares (an error names the option
    /// and its value).
    pub fn check(&self) -> Result<()> {
        if self.batch < 1 {
            return Err(crate::Error::invalid(
                "--batch",
                self.batch,
                "must be at least 1",
            ));
        }
        if self.patterns < 1 {
            return Err(crate::Error::invalid(
                "--patterns",
                self.patterns,
                "must be at least 1",
            ));
        }
        if self.reps < 1 {
            return Err(crate::Error::invalid(
                "--reps",
                self.reps,
                "must be at least 1",
            ));
        }
        let sheet = self.operators.iter().find_map(|o| match o {
            OperatorKind::Torus => Some("torus"),
            OperatorKind::Gaussian => Some("gaussian kernel"),
            _ => None,
        });
        if let Some(what) = sheet {
            for &n in &self.sizes {
                crate::experiment::schema::sheet_side(n, "--n", what)?;
            }
        }
        Ok(())
    }
}

/// The sizes an operator is measured at when none are given.
pub fn default_sizes(op: OperatorKind) -> Vec<usize> {
    match op {
        OperatorKind::Dense => vec![1024, 4096],
        OperatorKind::Ring => vec![65536, 1 << 20],
        OperatorKind::Hebbian | OperatorKind::Packed => vec![16384],
        OperatorKind::Random => vec![1024, 4096],
        OperatorKind::Gaussian | OperatorKind::Torus => vec![65536, 1 << 20],
    }
}

/// What [`run`] reports as it goes.
#[derive(Debug)]
pub enum BenchEvent<'a> {
    /// A backend is about to be measured: its name and a line describing it.
    Backend {
        /// "cpu" or "gpu".
        backend: &'static str,
        /// E.g. "2 threads (AVX2+FMA dense kernel); bandwidth measured before each case".
        description: String,
    },
    /// A measured case.
    Case(&'a BenchResult),
    /// `tune`: the fastest dense kernel shape at one N.
    Fastest {
        /// N.
        n: usize,
        /// The fastest case.
        best: &'a BenchResult,
        /// The shape the backend picks by default for this N.
        default: (u32, u32),
    },
}

/// The dense kernel shapes `tune` tries on an adapter whose largest
/// workgroup is `cap`: workgroups of 64 to 1024 threads, 16 to 256 lanes
/// per row.
pub fn tune_shapes(cap: u32) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for wg in [64u32, 128, 256, 512, 1024]
        .into_iter()
        .filter(|&w| w <= cap)
    {
        for lanes in [16u32, 32, 64, 128, 256].into_iter().filter(|&l| l <= wg) {
            v.push((wg, wg / lanes));
        }
    }
    v
}

/// Measures every case of `plan`, telling `report` about each as it is
/// done; returns the cases measured with the default kernel shapes (what
/// [`bench_plot`] draws).
pub fn run(
    plan: &BenchPlan,
    report: &mut dyn FnMut(BenchEvent) -> Result<()>,
) -> Result<Vec<BenchResult>> {
    plan.check()?;
    let backends = if plan.backends.is_empty() {
        let mut b = vec![BenchBackend::Cpu];
        if !context::adapters().is_empty() {
            b.push(BenchBackend::Gpu);
        }
        b
    } else {
        plan.backends.clone()
    };
    let operators = if plan.operators.is_empty() {
        vec![
            OperatorKind::Dense,
            OperatorKind::Ring,
            OperatorKind::Hebbian,
        ]
    } else {
        plan.operators.clone()
    };
    let sizes = |op| {
        if plan.sizes.is_empty() {
            default_sizes(op)
        } else {
            plan.sizes.clone()
        }
    };
    let (batch, reps, seconds) = (plan.batch, plan.reps, plan.seconds);
    let mut all = Vec::new();
    for b in backends {
        match b {
            BenchBackend::Cpu => {
                let adapter = format!("{} threads", rayon::current_num_threads());
                let reader = CpuBandwidth::new();
                let peak = cpu_peak_gflops();
                report(BenchEvent::Backend {
                    backend: "cpu",
                    description: format!(
                        "{adapter} ({}); bandwidth measured before each case; f32 peak \
                         {peak:.1} GFLOP/s",
                        if crate::sim::cpu::matvec::simd_available() {
                            "AVX2+FMA dense kernel"
                        } else {
                            "portable dense kernel"
                        }
                    ),
                })?;
                for &op in &operators {
                    for n in sizes(op) {
                        let case = Case {
                            operator: op,
                            n,
                            patterns: plan.patterns,
                        };
                        let before = reader.measure();
                        let mut cpu = crate::sim::cpu::CpuBackend;
                        let mut r =
                            measure(&mut cpu, &adapter, case, batch, reps, seconds, before)?;
                        let bandwidth = before.max(reader.measure());
                        r.bandwidth_gbytes_per_second = bandwidth;
                        r.fraction_of_bandwidth = r.gbytes_per_second / bandwidth;
                        r.bandwidth_probe = CPU_PROBE.into();
                        r.peak_gflops_per_second = peak;
                        r.fraction_of_peak = r.gflops_per_second / peak;
                        report(BenchEvent::Case(&r))?;
                        all.push(r);
                    }
                }
            }
            BenchBackend::Gpu => {
                let mut g = GpuBackend::new()?;
                let (bandwidth, peak) = gpu_probes(g.context())?;
                let adapter = g.context().summary.name.clone();
                report(BenchEvent::Backend {
                    backend: "gpu",
                    description: format!(
                        "{adapter}, measured bandwidth {bandwidth:.1} GB/s, f32 peak {peak:.1} GFLOP/s"
                    ),
                })?;
                let cap = kernels::dense_workgroup_cap(&g.context().device.limits());
                for &op in &operators {
                    for n in sizes(op) {
                        let case = Case {
                            operator: op,
                            n,
                            patterns: plan.patterns,
                        };
                        // The default shape first, then (tune) every other one.
                        let dense = op == OperatorKind::Dense;
                        let mut shapes = vec![None];
                        if plan.tune && dense {
                            // The row kernel at every shape (its default one
                            // is timed first already when the batch runs it).
                            let default = g.dense_shape(n);
                            let row_default =
                                g.launch(&shape_of(case)?, batch).batch_shape().is_none();
                            shapes.extend(
                                tune_shapes(cap)
                                    .into_iter()
                                    .filter(|&s| !row_default || s != default)
                                    .map(Some),
                            );
                        }
                        let mut best: Option<BenchResult> = None;
                        for shape in shapes {
                            g.set_dense_shape(shape)?;
                            let mut r =
                                measure(&mut g, &adapter, case, batch, reps, seconds, bandwidth)?;
                            let launch = g.launch(&shape_of(case)?, batch);
                            r.bandwidth_probe = GPU_PROBE.into();
                            r.peak_gflops_per_second = peak;
                            r.fraction_of_peak = r.gflops_per_second / peak;
                            if dense && launch.batch_shape().is_none() {
                                let (w, k) = g.dense_shape(n);
                                (r.workgroup, r.rows_per_workgroup) = (Some(w), Some(k));
                            }
                            report(BenchEvent::Case(&r))?;
                            if best
                                .as_ref()
                                .is_none_or(|b| r.seconds_per_step < b.seconds_per_step)
                            {
                                best = Some(r.clone());
                            }
                            if shape.is_none() {
                                all.push(r);
                            }
                        }
                        g.set_dense_shape(None)?;
                        if let (true, Some(best)) = (plan.tune && dense, &best) {
                            report(BenchEvent::Fastest {
                                n,
                                best,
                                default: g.dense_shape(n),
                            })?;
                        }
                    }
                }
            }
        }
    }
    Ok(all)
}

/// The bench plot: time per step against N, log-log, one line per backend
/// and operator.
pub fn bench_plot(path: &Path, results: &[BenchResult]) -> Result<()> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in results {
        let name = format!("{} {:?} (batch {})", r.backend, r.operator, r.batch).to_lowercase();
        let p = (r.n as f64, r.seconds_per_step);
        match series.iter_mut().find(|s| s.0 == name) {
            Some(s) => s.1.push(p),
            None => series.push((name, vec![p])),
        }
    }
    crate::output::bench_plot::time_per_step(path, series)
}
