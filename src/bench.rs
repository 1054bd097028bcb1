//! `attractor bench`: time per step of each backend, operator, size and
//! batch, the bytes moved per step, the achieved GB/s, and that as a
//! fraction of the machine's bandwidth, measured here too (the best of
//! several large parallel reads on the CPU, taken before and after each
//! case; the best of a large read kernel and a large buffer copy on the
//! GPU). On the GPU the bytes and dispatches per step are what the encoder
//! recorded ([`crate::sim::gpu::schedule`]), and the GPU's own time per
//! step comes from timestamp queries where the adapter has them.

use crate::error::Result;
use crate::model::{Experiment, Weights};
use crate::output::plots::{legend_at, render, FONT};
use crate::sim::gpu::schedule::minimum_bytes_per_step;
use crate::sim::gpu::{context, kernels, GpuBackend};
use crate::sim::{Backend, Ledger, Trial};
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
    /// (see [`cpu_traffic`]).
    pub bytes_per_step: f64,
    /// Of those, the weights' (M, or the structured tables).
    pub weight_bytes_per_step: f64,
    /// GPU: the fewest bytes a step can move
    /// ([`crate::sim::gpu::schedule::minimum_bytes_per_step`]).
    pub minimum_bytes_per_step: Option<f64>,
    /// GPU: dispatches per step, as the encoder counted them.
    pub dispatches_per_step: Option<f64>,
    /// Floating-point operations of the product M x per step, for the whole
    /// batch (see [`flops_per_step`]).
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
/// for [`GpuBackend::geometry`], without filling N² entries.
fn shape_of(case: Case) -> Result<Experiment> {
    let n = case.n;
    if case.operator != OperatorKind::Dense {
        return experiment(case, 1);
    }
    let mut e = experiment(Case { n: 1, ..case }, 1)?;
    e.network.n = n;
    e.network.weights = Weights::Dense { n, m: Vec::new() };
    Ok(e)
}

/// Bytes of weights a step of `batch` trials reads on `backend` ("cpu" f32
/// or "gpu"). The CPU steps each trial on its own, so it reads the weights
/// once per trial. The GPU's are the schedule's
/// ([`crate::sim::gpu::schedule`], with the limits every WebGPU adapter
/// has and no binding limit), the same model the encoder counts; `attractor
/// bench` reports the encoder's own count.
pub fn bytes_per_step(case: Case, batch: usize, backend: &str) -> f64 {
    let (op, n) = (case.operator, case.n);
    let b = batch as f64;
    let nf = n as f64;
    let p = case.patterns as f64;
    if backend != "cpu" {
        use crate::sim::gpu::schedule::{Dispatch, Geometry, Schedule};
        let e = shape_of(case).expect("the bench's cases are valid");
        let limits = wgpu::Limits::default();
        let shape = kernels::dense_shape(&limits, n, wgpu::DeviceType::DiscreteGpu);
        let s = Schedule::new(&Geometry::of(&e, batch, &limits, u64::MAX, shape, false));
        return s
            .stages
            .iter()
            .flatten()
            .map(Dispatch::weight_bytes)
            .sum::<u64>() as f64;
    }
    match op {
        OperatorKind::Dense => b * nf * nf * 4.0,
        // The cos and sin rows of V (= U), each read by the projection and
        // the update (the uniform row is all ones and is not read).
        OperatorKind::Ring => b * 4.0 * nf * 4.0,
        // The same for the torus's four rows.
        OperatorKind::Torus => b * 8.0 * nf * 4.0,
        // Patterns read by the overlaps and the expansion, plus the diagonal.
        OperatorKind::Hebbian => b * (2.0 * p + 1.0) * nf * 4.0,
        // The bits, read by the overlaps and by the field.
        OperatorKind::Packed => b * 2.0 * crate::model::PatternBits::bytes(n, case.patterns) as f64,
        // Generated, not read.
        OperatorKind::Random => 0.0,
        // The eigenvalues of the half spectrum (f64), read once.
        OperatorKind::Gaussian => b * 4.0 * nf,
    }
}

/// Bytes a CPU step of `batch` trials moves, each read or write counted
/// once: (in all, of which the weights'). The CPU steps each trial on its
/// own, so everything is per trial. Structured forms: the fused step's
/// traffic ([`crate::sim::fused::traffic`]: the state read and written, the
/// tables' rows read once, h uniform here); dense: M alone (the vectors
/// add 2/N to it).
pub fn cpu_traffic(case: Case, batch: usize) -> Result<(f64, f64)> {
    let b = batch as f64;
    let n = case.n as f64;
    if case.operator == OperatorKind::Dense {
        return Ok((b * 4.0 * n * n, b * 4.0 * n * n));
    }
    if case.operator == OperatorKind::Packed {
        // The bits read twice (overlaps, field); the state read and
        // written, the input and the product, about 6 vectors.
        let w = bytes_per_step(case, batch, "cpu");
        return Ok((w + b * 6.0 * 4.0 * n, w));
    }
    if case.operator == OperatorKind::Gaussian {
        // x read; the rows' half spectra (complex f64, 8 N bytes) written
        // and read, the columns' the same; the product written; the
        // update's state read and written: 52 N bytes, plus the weights.
        let w = bytes_per_step(case, batch, "cpu");
        return Ok((w + b * 52.0 * n, w));
    }
    if case.operator == OperatorKind::Random {
        // No weights: x read by every row block (from the cache) and y
        // written, then the update's state, input and product: about 6
        // vectors, counted once each.
        return Ok((b * 6.0 * 4.0 * n, 0.0));
    }
    let e = shape_of(case)?;
    let (all, w) = crate::sim::fused::traffic(&e.network.weights, 4, true)
        .expect("the structured cases have a fused step");
    Ok((b * all, b * w))
}

/// Floating-point operations of the product M x for `batch` trials, a
/// multiply-add counted as 2: 2N² for dense and generated random M (the
/// generation itself, a Philox block and a Box–Muller pair per two
/// entries, is not counted); for the structured forms,
/// 2NR for the R projections plus 2NR to expand them (R = 3 for the ring,
/// 5 for the torus, P for Hebbian).
///
/// Gaussian kernels (two Gaussians) depend on the `backend`: on the CPU
/// the conventional 5 N log2 N of a forward and an inverse real FFT plus
/// N for the product with the eigenvalues; on the GPU 2 side N
/// multiply-adds per Gaussian and pass, two passes.
pub fn flops_per_step(case: Case, batch: usize, backend: &str) -> f64 {
    let (b, n) = (batch as f64, case.n as f64);
    match case.operator {
        OperatorKind::Dense | OperatorKind::Random => b * 2.0 * n * n,
        OperatorKind::Ring => b * 4.0 * 3.0 * n,
        OperatorKind::Torus => b * 4.0 * 5.0 * n,
        OperatorKind::Hebbian | OperatorKind::Packed => b * 4.0 * case.patterns as f64 * n,
        OperatorKind::Gaussian if backend == "cpu" => b * (5.0 * n * n.log2() + n),
        OperatorKind::Gaussian => b * 2.0 * 2.0 * 2.0 * n.sqrt() * n,
    }
}

/// The CPU's read bandwidth, measured on demand over a 1 GiB f32 buffer
/// (far larger than any cache, on huge pages where the OS allows) two
/// ways: parallel sums, one contiguous slice per thread
/// ([`crate::sim::matvec::sum_f32`], 8 independent vector accumulators), and
/// the dense product's own kernel ([`crate::sim::matvec::matvec_f32`]: four
/// rows per load of x, rows prefetched ahead) reading the buffer as a
/// 16384 × 16384 matrix. The bandwidth is the machine's best, so each
/// measurement is the fastest of several runs of either, and `attractor
/// bench` measures before and after each case and takes the larger. The
/// sums alone, as a median taken only before the case, read slower than
/// the dense step itself (fractions of 1.2 to 1.48 were seen at N = 8192 on
/// a 2-core VM): the product's prefetching and four streams reach more of
/// the memory system than one stream per thread, and a shared machine's
/// bandwidth drifts as the host schedules other work.
pub struct CpuBandwidth {
    buffer: Vec<f32>,
}

/// How [`CpuBandwidth`] measures (the `bandwidth_probe` of CPU cases).
pub const CPU_PROBE: &str = "cpu: the faster of parallel sums and the dense product's kernel \
                             over 1 GiB, fastest of 4 runs each, before and after the case";

/// Columns of the matrix the CPU probe reads its buffer as.
const PROBE_COLUMNS: usize = 1 << 14;

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

    /// The fastest of 4 timed sums and 4 timed products of the buffer, GB/s.
    pub fn measure(&self) -> f64 {
        let v = &self.buffer;
        let slice = v.len().div_ceil(rayon::current_num_threads());
        let x = vec![1.0f32; PROBE_COLUMNS];
        let mut y = vec![0.0f32; v.len() / PROBE_COLUMNS];
        let best = (0..8)
            .map(|k| {
                let s = Instant::now();
                if k % 2 == 0 {
                    let total: f32 = v.par_chunks(slice).map(crate::sim::matvec::sum_f32).sum();
                    std::hint::black_box(total);
                } else {
                    crate::sim::matvec::matvec_f32(v, PROBE_COLUMNS, &x, &mut y);
                    std::hint::black_box(&y);
                }
                s.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        (v.len() * 4) as f64 / best / 1e9
    }
}

/// The CPU's f32 arithmetic peak, GFLOP/s: every thread runs
/// [`crate::sim::matvec::fma_chains`] (8 independent 8-lane fused
/// multiply-add chains where the CPU has AVX2 and FMA) for 2^22 rounds at
/// once; the fastest of 3.
pub fn cpu_peak_gflops() -> f64 {
    let rounds = 1u64 << 22;
    let threads = rayon::current_num_threads();
    (0..3)
        .map(|_| {
            let s = Instant::now();
            let done: f64 = rayon::broadcast(|ctx| {
                let (flops, v) = crate::sim::matvec::fma_chains(rounds, ctx.index() as f32);
                std::hint::black_box(v);
                flops
            })
            .into_iter()
            .sum();
            debug_assert_eq!(done, threads as f64 * rounds as f64 * 128.0);
            done / s.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

/// How [`gpu_probes`] measures (the `bandwidth_probe` of GPU cases).
pub const GPU_PROBE: &str = "gpu: the faster of a read kernel (vec4 loads, 256 MiB or the \
                             largest binding) and a buffer copy (read + write), fastest of 5, \
                             GPU timestamps where the adapter has them";

/// The GPU's memory bandwidth, GB/s: the faster of a read kernel
/// (shaders/probe.wgsl: every thread sums 32 vec4s, the grid's loads
/// contiguous, bytes read and written counted) over a buffer of 256 MiB
/// (or the largest storage binding) and a buffer-to-buffer copy of it
/// (read + write counted); each the fastest of 5 runs after a warm-up,
/// timed by timestamp queries where the adapter has them, else around the
/// submit and wait.
///
/// Also the GPU's f32 arithmetic peak, GFLOP/s: the arithmetic probe
/// (`flops_probe`: every thread runs [`kernels::PROBE_FLOP_ROUNDS`] rounds
/// of 8 independent vec4 fused multiply-adds) over the same grid (at most
/// 64 workgroups on a software adapter, whose cores are few), fastest of 5.
/// Returns (bandwidth GB/s, peak GFLOP/s).
pub fn gpu_probes(ctx: &crate::sim::gpu::context::GpuContext) -> Result<(f64, f64)> {
    let limits = ctx.device.limits();
    let vec4s_per_group = 256 * u64::from(kernels::PROBE_VEC4S);
    let most = (256u64 << 20)
        .min(limits.max_storage_buffer_binding_size)
        .min(limits.max_buffer_size / 2);
    let groups = (most / (16 * vec4s_per_group))
        .min(u64::from(limits.max_compute_workgroups_per_dimension))
        .max(1);
    let size = groups * vec4s_per_group * 16;
    let out_size = groups * 256 * 16;
    let timer = crate::sim::gpu::timing::Timer::new(ctx);
    let buf = |label, size, usage| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        })
    };
    use wgpu::BufferUsages as U;
    let src = buf("bench probe source", size, U::STORAGE | U::COPY_SRC);
    let dst = buf("bench probe target", size, U::STORAGE | U::COPY_DST);
    let entry = |binding, read_only| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    let pipeline = ctx.scoped("building the bandwidth probe", || {
        let layout = ctx
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("bench probe"),
                entries: &[entry(20, true), entry(21, false)],
            });
        let module = ctx
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("probe.wgsl"),
                source: wgpu::ShaderSource::Wgsl(kernels::PROBE_SOURCE.as_str().into()),
            });
        let pl = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("bench probe"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let make = |entry: &str| {
            ctx.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: Some(&pl),
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
        };
        let pipeline = (make("read_probe"), make("flops_probe"));
        let group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("bench probe"),
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 20,
                    resource: src.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 21,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &dst,
                        offset: 0,
                        size: wgpu::BufferSize::new(out_size),
                    }),
                },
            ],
        });
        (pipeline, group)
    })?;
    let software = ctx.adapter.get_info().device_type == wgpu::DeviceType::Cpu;
    let flop_groups = if software { groups.min(64) } else { groups };
    // Seconds of one run (0: read, 1: copy, 2: arithmetic; the GPU's own
    // time where it can).
    let time = |probe: u8| -> Result<f64> {
        let read = probe != 1;
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        if read {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bench probe"),
                timestamp_writes: timer.as_ref().map(|t| t.pass_writes()),
            });
            if probe == 0 {
                pass.set_pipeline(&pipeline.0 .0);
                pass.set_bind_group(0, &pipeline.1, &[]);
                pass.dispatch_workgroups(groups as u32, 1, 1);
            } else {
                pass.set_pipeline(&pipeline.0 .1);
                pass.set_bind_group(0, &pipeline.1, &[]);
                pass.dispatch_workgroups(flop_groups as u32, 1, 1);
            }
        } else {
            enc.copy_buffer_to_buffer(&src, 0, &dst, 0, size);
        }
        let timed = read && timer.as_ref().is_some_and(|t| t.after_pass(&mut enc, true));
        let s = Instant::now();
        let i = ctx.queue.submit([enc.finish()]);
        let _ = ctx.device.poll(wgpu::PollType::Wait {
            submission_index: Some(i),
            timeout: None,
        });
        let wall = s.elapsed().as_secs_f64();
        ctx.check()?;
        match (timed, &timer) {
            (true, Some(t)) => t.collect(ctx),
            _ => Ok(wall),
        }
    };
    let best = |probe: u8| -> Result<f64> {
        time(probe)?;
        (0..5).try_fold(f64::INFINITY, |b, _| Ok(b.min(time(probe)?)))
    };
    let read = (size + out_size) as f64 / best(0)? / 1e9;
    let copy = 2.0 * size as f64 / best(1)? / 1e9;
    let flops = (flop_groups * 256) as f64 * f64::from(kernels::PROBE_FLOP_ROUNDS) * 64.0;
    let peak = flops / best(2)? / 1e9;
    Ok((read.max(copy), peak))
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
    let (bytes, weight_bytes, dispatches) = match ledger {
        Some(l) => (
            l.bytes_per_step(),
            l.weight_bytes_per_step(),
            Some(l.dispatches_per_step()),
        ),
        None => {
            let (b, w) = cpu_traffic(case, batch)?;
            (b, w, None)
        }
    };
    let gbs = bytes / per_step / 1e9;
    let flops = flops_per_step(case, batch, backend.name());
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
        minimum_bytes_per_step: None,
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
                        if crate::sim::matvec::simd_available() {
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
                                g.geometry(&shape_of(case)?, batch).batch_shape().is_none();
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
                            let geometry = g.geometry(&shape_of(case)?, batch);
                            r.minimum_bytes_per_step =
                                Some(minimum_bytes_per_step(&geometry) as f64);
                            r.bandwidth_probe = GPU_PROBE.into();
                            r.peak_gflops_per_second = peak;
                            r.fraction_of_peak = r.gflops_per_second / peak;
                            if dense && geometry.batch_shape().is_none() {
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
