//! `attractor bench`: time per step of each backend, operator, size and
//! batch, the bytes of weights streamed per step, the achieved GB/s, and
//! that as a fraction of the machine's bandwidth, measured here too (a
//! large parallel read on the CPU, a large buffer copy on the GPU).

use crate::error::Result;
use crate::model::{Experiment, Weights};
use crate::output::plots::{legend_at, render, FONT};
use crate::sim::gpu::{context, kernels, GpuBackend};
use crate::sim::{Backend, Trial};
use plotters::prelude::*;
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
    /// Hebbian, 16 patterns.
    Hebbian,
}

/// Patterns of the Hebbian cases.
pub const HEBBIAN_PATTERNS: usize = 16;

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
    /// Trials stepped together.
    pub batch: usize,
    /// Steps recorded per submit (GPU) or between records (CPU).
    pub steps_per_submit: u64,
    /// Median time per step over the repetitions, seconds.
    pub seconds_per_step: f64,
    /// Bytes of weights read per step (see [`bytes_per_step`]).
    pub bytes_per_step: f64,
    /// Floating-point operations of the product M x per step, for the whole
    /// batch (see [`flops_per_step`]).
    pub flops_per_step: f64,
    /// flops_per_step / seconds_per_step / 1e9.
    pub gflops_per_second: f64,
    /// bytes_per_step / seconds_per_step / 1e9.
    pub gbytes_per_second: f64,
    /// The machine's measured bandwidth, GB/s.
    pub bandwidth_gbytes_per_second: f64,
    /// gbytes_per_second / bandwidth.
    pub fraction_of_bandwidth: f64,
    /// The dense kernel's threads per workgroup (GPU dense cases).
    pub workgroup: Option<u32>,
    /// The dense kernel's rows per workgroup (GPU dense cases).
    pub rows_per_workgroup: Option<u32>,
}

/// The experiment of a case: a rate network with relu, Euler steps, f32.
pub fn experiment(op: OperatorKind, n: usize, steps: u64) -> Result<Experiment> {
    let weights = match op {
        OperatorKind::Dense => "{ kind = \"diagonal\", values = [0.0] }".to_string(),
        OperatorKind::Ring => "{ kind = \"ring\", lambda0 = 0.5, lambda1 = 1.5 }".to_string(),
        OperatorKind::Hebbian => format!("{{ kind = \"hebbian\", patterns = {HEBBIAN_PATTERNS} }}"),
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

/// Bytes of weights a step of `batch` trials reads on `backend` ("cpu" f32
/// or "gpu"), counting each read the kernels issue (caches may serve some).
/// The CPU steps each trial on its own, so it reads the weights once per
/// trial; the GPU's dense kernel reads M once per tile of
/// [`crate::sim::gpu::kernels::DENSE_TILE`] trials, its structured kernels
/// read the tables once per trial.
pub fn bytes_per_step(op: OperatorKind, n: usize, batch: usize, backend: &str) -> f64 {
    let b = batch as f64;
    let n = n as f64;
    let p = HEBBIAN_PATTERNS as f64;
    let tiles = batch.div_ceil(crate::sim::gpu::kernels::DENSE_TILE as usize) as f64;
    match (op, backend) {
        (OperatorKind::Dense, "cpu") => b * n * n * 4.0,
        // Rows padded to whole vec4s.
        (OperatorKind::Dense, _) => tiles * n * (n / 4.0).ceil() * 4.0 * 4.0,
        // CPU: the cos and sin rows of V (= U), each read by the projection
        // and the update (the uniform row is all ones and is not read).
        (OperatorKind::Ring, "cpu") => b * 4.0 * n * 4.0,
        // GPU: the 3×N table, read by the projection and the update passes.
        (OperatorKind::Ring, _) => b * 6.0 * n * 4.0,
        // Patterns read by the overlaps and the expansion, plus the diagonal.
        (OperatorKind::Hebbian, _) => b * (2.0 * p + 1.0) * n * 4.0,
    }
}

/// Floating-point operations of the product M x for `batch` trials, a
/// multiply-add counted as 2: 2N² for dense M; for the structured forms,
/// 2NR for the R projections plus 2NR to expand them (R = 3 for the ring,
/// P for Hebbian).
pub fn flops_per_step(op: OperatorKind, n: usize, batch: usize) -> f64 {
    let (b, n) = (batch as f64, n as f64);
    match op {
        OperatorKind::Dense => b * 2.0 * n * n,
        OperatorKind::Ring => b * 4.0 * 3.0 * n,
        OperatorKind::Hebbian => b * 4.0 * HEBBIAN_PATTERNS as f64 * n,
    }
}

/// The CPU's read bandwidth, measured on demand: parallel sums of a 1 GiB
/// f32 buffer (far larger than any cache, on huge pages where the OS
/// allows) with the dense product's loads and SIMD kernel
/// ([`crate::sim::matvec::sum_f32`]). The buffer is kept so that the
/// bandwidth can be measured again right beside each case: on a shared
/// machine (a cloud VM) it drifts as the host schedules other work.
pub struct CpuBandwidth {
    buffer: Vec<f32>,
}

impl Default for CpuBandwidth {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBandwidth {
    /// Allocates and fills the buffer.
    pub fn new() -> Self {
        let mut buffer = Vec::with_capacity(1 << 28);
        crate::sim::matvec::advise_huge_pages(&buffer);
        buffer.par_extend(rayon::iter::repeat_n(1.0f32, 1 << 28));
        CpuBandwidth { buffer }
    }

    /// The median of 5 timed sums of the buffer, GB/s.
    pub fn measure(&self) -> f64 {
        let v = &self.buffer;
        let mut t: Vec<f64> = (0..5)
            .map(|_| {
                let s = Instant::now();
                let total: f32 = v.par_chunks(1 << 16).map(crate::sim::matvec::sum_f32).sum();
                std::hint::black_box(total);
                s.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        (v.len() * 4) as f64 / t[2] / 1e9
    }
}

/// The GPU's copy bandwidth: median of 5 copies of a large buffer
/// (read + write counted), GB/s.
pub fn gpu_bandwidth(ctx: &crate::sim::gpu::context::GpuContext) -> f64 {
    let limits = ctx.device.limits();
    let size = (256u64 << 20).min(limits.max_buffer_size / 2) & !3;
    let buf = |label| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    };
    let (a, b) = (buf("bench copy source"), buf("bench copy target"));
    let mut t: Vec<f64> = (0..6)
        .map(|_| {
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            enc.copy_buffer_to_buffer(&a, 0, &b, 0, size);
            let s = Instant::now();
            let i = ctx.queue.submit([enc.finish()]);
            let _ = ctx.device.poll(wgpu::PollType::Wait {
                submission_index: Some(i),
                timeout: None,
            });
            s.elapsed().as_secs_f64()
        })
        .skip(1)
        .collect();
    t.sort_by(f64::total_cmp);
    2.0 * size as f64 / t[2] / 1e9
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
    op: OperatorKind,
    n: usize,
    batch: usize,
    reps: usize,
    target_seconds: f64,
    bandwidth: f64,
) -> Result<BenchResult> {
    let time = |backend: &mut dyn Backend, steps: u64| -> Result<f64> {
        let e = experiment(op, n, steps)?;
        let trials: Vec<Trial> = (0..batch)
            .map(|k| Trial {
                seed: k as u64,
                ..Trial::of(&e)
            })
            .collect();
        let start = Instant::now();
        backend.run_batch(&e, &trials, &mut |_| {})?;
        Ok(start.elapsed().as_secs_f64())
    };
    let warm = (time(backend, 10)? - time(backend, 5)?).max(1e-9) / 5.0;
    let mut steps = ((target_seconds / warm) as u64).clamp(5, 1000);
    let mut t = Vec::with_capacity(reps);
    while t.len() < reps {
        let d = time(backend, 2 * steps)? - time(backend, steps)?;
        if d > 0.0 {
            t.push(d / steps as f64);
        } else if steps < 1 << 16 {
            // Timing noise swamped K steps: measure longer runs.
            steps *= 4;
            t.clear();
        } else {
            return Err(crate::Error::Unavailable(format!(
                "bench {op:?} N = {n}: {steps} more steps took no measurable time"
            )));
        }
    }
    t.sort_by(f64::total_cmp);
    let per_step = t[t.len() / 2];
    let name = backend.name().to_string();
    let bytes = bytes_per_step(op, n, batch, &name);
    let gbs = bytes / per_step / 1e9;
    let flops = flops_per_step(op, n, batch);
    Ok(BenchResult {
        backend: name,
        adapter: adapter.to_string(),
        operator: op,
        n,
        batch,
        steps_per_submit: steps,
        seconds_per_step: per_step,
        bytes_per_step: bytes,
        gbytes_per_second: gbs,
        flops_per_step: flops,
        gflops_per_second: flops / per_step / 1e9,
        bandwidth_gbytes_per_second: bandwidth,
        fraction_of_bandwidth: gbs / bandwidth,
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
    /// Trials stepped together.
    pub batch: usize,
    /// Timed repetitions per case.
    pub reps: usize,
    /// Seconds one timed run should take.
    pub seconds: f64,
    /// GPU dense cases: also time every other shape of the dense kernel.
    pub tune: bool,
}

/// The sizes an operator is measured at when none are given.
pub fn default_sizes(op: OperatorKind) -> Vec<usize> {
    match op {
        OperatorKind::Dense => vec![1024, 4096],
        OperatorKind::Ring => vec![65536, 1 << 20],
        OperatorKind::Hebbian => vec![16384],
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
    if plan.batch < 1 {
        return Err(crate::Error::invalid(
            "--batch",
            plan.batch,
            "must be at least 1",
        ));
    }
    if plan.reps < 1 {
        return Err(crate::Error::invalid(
            "--reps",
            plan.reps,
            "must be at least 1",
        ));
    }
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
                report(BenchEvent::Backend {
                    backend: "cpu",
                    description: format!(
                        "{adapter} ({}); bandwidth measured before each case",
                        if crate::sim::matvec::simd_available() {
                            "AVX2+FMA dense kernel"
                        } else {
                            "portable dense kernel"
                        }
                    ),
                })?;
                for &op in &operators {
                    for n in sizes(op) {
                        let bandwidth = reader.measure();
                        let mut cpu = crate::sim::cpu::CpuBackend;
                        let r =
                            measure(&mut cpu, &adapter, op, n, batch, reps, seconds, bandwidth)?;
                        report(BenchEvent::Case(&r))?;
                        all.push(r);
                    }
                }
            }
            BenchBackend::Gpu => {
                let mut g = GpuBackend::new()?;
                let bandwidth = gpu_bandwidth(g.context());
                let adapter = g.context().summary.name.clone();
                report(BenchEvent::Backend {
                    backend: "gpu",
                    description: format!("{adapter}, measured bandwidth {bandwidth:.1} GB/s"),
                })?;
                let cap = kernels::dense_workgroup_cap(&g.context().device.limits());
                for &op in &operators {
                    for n in sizes(op) {
                        // The default shape first, then (tune) every other one.
                        let dense = op == OperatorKind::Dense;
                        let mut shapes = vec![None];
                        if plan.tune && dense {
                            let default = g.dense_shape(n);
                            shapes.extend(
                                tune_shapes(cap)
                                    .into_iter()
                                    .filter(|&s| s != default)
                                    .map(Some),
                            );
                        }
                        let mut best: Option<BenchResult> = None;
                        for shape in shapes {
                            g.set_dense_shape(shape)?;
                            let mut r =
                                measure(&mut g, &adapter, op, n, batch, reps, seconds, bandwidth)?;
                            if dense {
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
    let xs = results.iter().map(|r| r.n as f64);
    let ys = results.iter().map(|r| r.seconds_per_step);
    let (x0, x1) = xs.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let (y0, y1) = ys.fold((f64::INFINITY, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
    render(path, (900, 560), |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption("time per step against N", (FONT, 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(
                (x0 / 1.5..x1 * 1.5).log_scale(),
                // Room above the data for the legend.
                (y0 / 2.0..y1 * 30.0).log_scale(),
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("N (neurons)")
            .y_desc("seconds per step")
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, mut pts)) in series.into_iter().enumerate() {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        legend_at(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}
