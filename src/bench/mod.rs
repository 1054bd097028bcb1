//! `attractor bench`: time per step of each backend, operator, size and
//! batch, the bytes moved per step, the achieved GB/s, and that as a
//! fraction of the machine's bandwidth, measured too (by each backend's
//! probe: the best of several large parallel reads on the CPU, taken before
//! and after each case; the best of a large read kernel and a large buffer
//! copy on the GPU). The bytes and flops of a step are the backend's own
//! cost ([`Backend::cost`](crate::sim::Backend::cost)); on the GPU the bytes and dispatches per step
//! are what the encoder recorded ([`crate::sim::gpu::schedule`]), and the
//! GPU's own time per step comes from timestamp queries where the adapter
//! has them.
//!
//! Here: the cases, the measuring loop and the plan of a run; the probes
//! are the backends', the plot is the output module's.

mod cases;
mod measure;
pub mod plan;
pub mod sparse;

use crate::error::Result;
use crate::sim::cpu::probe::{cpu_peak_gflops, last_level_cache_bytes, CpuBandwidth, CPU_PROBE};
use crate::sim::gpu::probe::{gpu_probes, GPU_PROBE};
use crate::sim::gpu::{kernels, GpuBackend};
use cases::shape_of;
pub use cases::{
    default_sizes, experiment, parse_activation, Case, OperatorKind, HEBBIAN_PATTERNS,
};
pub use measure::{count_steps, measure_cpu, measure_gpu, BenchResult, COUNTED_STEPS};
pub use sparse::{DegreeSpread, SPARSE_DEGREE};
use std::path::Path;

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
    /// K, the partners per neuron of the sparse cases.
    pub degree: usize,
    /// How the sparse cases' in-degrees spread.
    pub spread: DegreeSpread,
    /// The activation of every case.
    pub activation: crate::model::Activation,
    /// The dynamics of every case.
    pub dynamics: crate::model::Dynamics,
    /// Trials stepped together.
    pub batch: usize,
    /// Timed repetitions per case.
    pub reps: usize,
    /// Seconds one timed run should take.
    pub seconds: f64,
    /// GPU dense cases: also time every other shape of the dense kernel.
    pub tune: bool,
    /// GPU cases: also count the bytes the kernels move (the counting
    /// build, [`measure::count_steps`]).
    pub count: bool,
    /// The GPU adapter (`--device`): an index, PCI bus id, UUID or part of
    /// a name; `None` opens the bound or first adapter.
    pub device: Option<String>,
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
        if self.degree < 1 {
            return Err(crate::Error::invalid(
                "--degree",
                self.degree,
                "must be at least 1",
            ));
        }
        self.activation.validate("--activation")?;
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
            OperatorKind::Dense
            | OperatorKind::Ring
            | OperatorKind::Hebbian
            | OperatorKind::Packed
            | OperatorKind::Random
            | OperatorKind::Sparse => None,
        });
        if let Some(what) = sheet {
            for &n in &self.sizes {
                crate::experiment::sheet_side(n, "--n", what)?;
            }
        }
        Ok(())
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
    /// `tune`: the fastest kernel shape of a dense, Gaussian or packed case
    /// at one N.
    Fastest {
        /// N.
        n: usize,
        /// The fastest case.
        best: &'a BenchResult,
        /// The shape the backend picks by default for this N and batch
        /// (as [`BenchResult::shape_label`] prints it).
        default: String,
    },
}

/// How a tuned convolution case is labelled: staged in workgroup memory,
/// or reading memory.
fn staged_label(staged: bool) -> &'static str {
    if staged {
        "staged"
    } else {
        "memory"
    }
}

/// How a tuned packed case is labelled: projections by pattern or by
/// blocks of 4 patterns.
fn by_pattern_label(by_pattern: bool) -> &'static str {
    if by_pattern {
        "by pattern"
    } else {
        "by block"
    }
}

/// What `--tune` varies for a case on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TuneAxis {
    /// Nothing: the kernel has one shape.
    Nothing,
    /// The dense row kernel's shapes and the batch kernel's column spans.
    DenseShapes,
    /// The convolution passes staged or not.
    Staged,
    /// Packed patterns by pattern or by blocks.
    ByPattern,
    /// The lanes of a light sparse row.
    Lanes,
}

/// What `--tune` varies for an operator's cases: every kind listed, so a
/// new kind must say.
fn tune_axis(op: OperatorKind) -> TuneAxis {
    match op {
        OperatorKind::Dense => TuneAxis::DenseShapes,
        OperatorKind::Gaussian => TuneAxis::Staged,
        OperatorKind::Packed => TuneAxis::ByPattern,
        OperatorKind::Sparse => TuneAxis::Lanes,
        OperatorKind::Ring | OperatorKind::Torus | OperatorKind::Hebbian | OperatorKind::Random => {
            TuneAxis::Nothing
        }
    }
}

/// A kernel shape `tune` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tuned {
    /// The backend's choice.
    Default,
    /// The row kernel at this shape, for every batch size.
    Row(kernels::DenseShape),
    /// The batch kernel with its columns in this many spans.
    Spans(u32),
    /// The convolution passes staged in workgroup memory or not.
    Staged(bool),
    /// Packed patterns by pattern (`packed_project` and the staged product)
    /// or by blocks of 4 (`project_rest` and the product by neuron).
    ByPattern(bool),
    /// `sparse_step` with this many lanes a light row.
    Lanes(u32),
}

/// The dense kernel shapes `tune` tries on an adapter whose largest
/// workgroup is `cap`: workgroups of 64 to 1024 threads, 16 to 256 lanes
/// per row, one row per thread, and 8 rows per thread where a row has at
/// least 128 lanes.
pub fn tune_shapes(cap: u32) -> Vec<kernels::DenseShape> {
    let mut v = Vec::new();
    for wg in [64u32, 128, 256, 512, 1024]
        .into_iter()
        .filter(|&w| w <= cap)
    {
        for lanes in [16u32, 32, 64, 128, 256].into_iter().filter(|&l| l <= wg) {
            for stack in [1, kernels::DENSE_MAX_STACK] {
                if stack == 1 || lanes >= 128 {
                    v.push(kernels::DenseShape {
                        workgroup: wg,
                        rows: wg / lanes * stack,
                        stack,
                    });
                }
            }
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
        if !crate::sim::gpu::devices::adapters().is_empty() {
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
                let llc = last_level_cache_bytes();
                report(BenchEvent::Backend {
                    backend: "cpu",
                    description: format!(
                        "{adapter} ({}); bandwidth measured before and after each case, \
                         over 1 GiB and over its working set; f32 peak {peak:.1} GFLOP/s; \
                         {}",
                        if crate::sim::cpu::matvec::simd_available() {
                            "AVX2+FMA dense kernel"
                        } else {
                            "portable dense kernel"
                        },
                        match llc {
                            Some(c) => format!(
                                "* the working set fits in the {} MiB last-level cache: a \
                                 fraction of the cache's bandwidth",
                                c >> 20
                            ),
                            None => "the last-level cache's size is not reported".into(),
                        }
                    ),
                })?;
                for &op in &operators {
                    for n in sizes(op) {
                        let case = Case {
                            operator: op,
                            n,
                            patterns: plan.patterns,
                            degree: plan.degree,
                            spread: plan.spread,
                            activation: plan.activation,
                            dynamics: plan.dynamics,
                        };
                        // The case is measured against the fastest read of
                        // 1 GiB and of as many bytes as it touches (read
                        // from the cache where they fit, and partly so for
                        // a set a few times the cache), before and after.
                        let shape = shape_of(case)?;
                        let cost = crate::sim::cpu::cost::cost(&shape, batch, 1);
                        let ws = measure::working_set(&cost, batch) as u64;
                        let resident = llc.is_some_and(|c| ws <= c);
                        let probe = || {
                            let whole = reader.measure_over(reader.bytes());
                            if ws as usize >= reader.bytes() {
                                whole
                            } else {
                                let set = reader.measure_over(ws as usize);
                                if set.0 > whole.0 {
                                    set
                                } else {
                                    whole
                                }
                            }
                        };
                        let (before, kernel) = probe();
                        let mut cpu = crate::sim::cpu::CpuBackend;
                        let mut r =
                            measure_cpu(&mut cpu, &adapter, case, batch, reps, seconds, before)?;
                        let after = probe();
                        let (bandwidth, kernel) = if after.0 > before {
                            after
                        } else {
                            (before, kernel)
                        };
                        r.bandwidth_gbytes_per_second = bandwidth;
                        r.last_level_cache_bytes = llc;
                        r.cache_resident = resident;
                        r.fraction_of_bandwidth = r.gbytes_per_second / bandwidth;
                        r.bandwidth_probe = format!("{CPU_PROBE}; fastest: {}", kernel.name());
                        r.peak_gflops_per_second = peak;
                        r.fraction_of_peak = r.gflops_per_second / peak;
                        report(BenchEvent::Case(&r))?;
                        all.push(r);
                    }
                }
            }
            BenchBackend::Gpu => {
                let mut g = GpuBackend::open(plan.device.as_deref().map(|d| ("--device", d)))?;
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
                            degree: plan.degree,
                            spread: plan.spread,
                            activation: plan.activation,
                            dynamics: plan.dynamics,
                        };
                        // The default shape first, then (tune) every other one.
                        // The kind's kernel choice is labelled in every
                        // row; `--tune` times its other values too.
                        let kind_axis = tune_axis(op);
                        let axis = if plan.tune {
                            kind_axis
                        } else {
                            TuneAxis::Nothing
                        };
                        let mut shapes = vec![Tuned::Default];
                        let mut default_label = String::new();
                        if axis == TuneAxis::Lanes {
                            // Every lane count from a thread a row to a
                            // subgroup of 32.
                            let lanes = g.launch(&shape_of(case)?, batch).op.light_row_lanes();
                            default_label = measure::lanes_label(lanes);
                            shapes.extend(
                                (0..=5)
                                    .map(|k| 1 << k)
                                    .filter(|&k| k != lanes)
                                    .map(Tuned::Lanes),
                            );
                        }
                        if axis == TuneAxis::Staged {
                            let staged = g.convolution_staged();
                            default_label = staged_label(staged).into();
                            shapes.push(Tuned::Staged(!staged));
                        }
                        if axis == TuneAxis::ByPattern {
                            let by_pattern = g.by_pattern();
                            default_label = by_pattern_label(by_pattern).into();
                            shapes.push(Tuned::ByPattern(!by_pattern));
                        }
                        if axis == TuneAxis::DenseShapes {
                            // The row kernel at every shape (its default one
                            // is timed first already when the batch runs it),
                            // and the batch kernel's other column spans.
                            let default = g.dense_shape(n, batch);
                            let launch = g.launch(&shape_of(case)?, batch);
                            let row_default = launch.batch_shape().is_none();
                            default_label = match launch.batch_shape() {
                                Some(s) => format!("split {}", s.split),
                                None => default.to_string(),
                            };
                            shapes.extend(
                                tune_shapes(cap)
                                    .into_iter()
                                    .filter(|&s| !row_default || s != default)
                                    .map(Tuned::Row),
                            );
                            if let Some(s) = launch.batch_shape() {
                                shapes.extend(
                                    (0..=kernels::DENSE_BATCH_MAX_SPLIT.ilog2())
                                        .map(|k| 1 << k)
                                        .filter(|&k| k != s.split)
                                        .map(Tuned::Spans),
                                );
                            }
                        }
                        let mut best: Option<BenchResult> = None;
                        for shape in shapes {
                            let (mut row, mut spans, mut staged, mut by_pattern) =
                                (None, None, None, true);
                            let mut lanes = None;
                            match shape {
                                Tuned::Default => {}
                                Tuned::Lanes(k) => lanes = Some(k),
                                Tuned::Row(s) => row = Some(s),
                                Tuned::Spans(k) => spans = Some(k),
                                Tuned::Staged(s) => staged = Some(s),
                                Tuned::ByPattern(p) => by_pattern = p,
                            }
                            g.set_dense_shape(row)?;
                            g.set_batch_split(spans)?;
                            g.set_convolution_staged(staged);
                            g.set_by_pattern(by_pattern);
                            g.set_sparse_lanes(lanes)?;
                            let mut r = measure_gpu(
                                &mut g, case, batch, reps, seconds, bandwidth, plan.count,
                            )?;
                            let launch = g.launch(&shape_of(case)?, batch);
                            r.bandwidth_probe = GPU_PROBE.into();
                            r.peak_gflops_per_second = peak;
                            r.fraction_of_peak = r.gflops_per_second / peak;
                            match (kind_axis, launch.batch_shape()) {
                                (TuneAxis::DenseShapes, None) => {
                                    let s = g.dense_shape(n, batch);
                                    r.workgroup = Some(s.workgroup);
                                    r.rows_per_workgroup = Some(s.rows);
                                    r.rows_per_thread = Some(s.stack);
                                }
                                (TuneAxis::DenseShapes, Some(s)) => r.batch_split = Some(s.split),
                                (TuneAxis::Staged, _) => {
                                    r.staged = Some(launch.convolution_staged());
                                }
                                (TuneAxis::ByPattern, _) => r.by_pattern = Some(launch.by_pattern),
                                (TuneAxis::Lanes, _) => {
                                    r.sparse_lanes = Some(launch.op.light_row_lanes());
                                }
                                (TuneAxis::Nothing, _) => {}
                            }
                            report(BenchEvent::Case(&r))?;
                            if best
                                .as_ref()
                                .is_none_or(|b| r.seconds_per_step < b.seconds_per_step)
                            {
                                best = Some(r.clone());
                            }
                            if shape == Tuned::Default {
                                all.push(r);
                            }
                        }
                        g.set_dense_shape(None)?;
                        g.set_batch_split(None)?;
                        g.set_convolution_staged(None);
                        g.set_by_pattern(true);
                        g.set_sparse_lanes(None)?;
                        if let (true, Some(best)) =
                            (plan.tune && kind_axis != TuneAxis::Nothing, &best)
                        {
                            report(BenchEvent::Fastest {
                                n,
                                best,
                                default: default_label,
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

/// The GPU plans of every case of `bench`'s operators, sizes, patterns and
/// batch within the limits named `limits` (`h200`, `webgpu`), or this
/// machine's adapter's when `None`: nothing is built or run.
pub fn plans(bench: &BenchPlan, limits: Option<&str>) -> Result<Vec<plan::CasePlan>> {
    bench.check()?;
    let (limits, name, device) = match limits {
        Some(name) => (
            plan::limits_named(name)?,
            name.to_string(),
            wgpu::DeviceType::DiscreteGpu,
        ),
        None => {
            let g = GpuBackend::open(bench.device.as_deref().map(|d| ("--device", d)))?;
            let info = g.context().adapter.get_info();
            (g.limits(), info.name, info.device_type)
        }
    };
    let operators = if bench.operators.is_empty() {
        vec![
            OperatorKind::Dense,
            OperatorKind::Ring,
            OperatorKind::Hebbian,
        ]
    } else {
        bench.operators.clone()
    };
    let mut all = Vec::new();
    for op in operators {
        let sizes = if bench.sizes.is_empty() {
            default_sizes(op)
        } else {
            bench.sizes.clone()
        };
        for n in sizes {
            let case = Case {
                operator: op,
                n,
                patterns: bench.patterns,
                degree: bench.degree,
                spread: bench.spread,
                activation: bench.activation,
                dynamics: bench.dynamics,
            };
            all.push(plan::plan_case(case, bench.batch, &limits, &name, device));
        }
    }
    Ok(all)
}
