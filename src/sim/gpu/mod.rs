//! The wgpu backend: the experiment's state stays on the GPU for the whole
//! run; the steps between two records are recorded as dispatches of one
//! compute pass and sent in one submit; only the recorded state comes back.
//!
//! Each step runs the method's stages (1, or 4 for rk4). A stage is one
//! fused dispatch per dense row block, or three for structured weights
//! (projection partial sums, their totals, the per-neuron update). The
//! operand u (what M multiplies) ping-pongs between two buffers with two
//! bind groups made in advance. Every kernel has a CPU twin in `sim::cpu`.

pub mod context;
pub mod kernels;

use super::{Backend, Divergence, Method, Recording, Trial};
use crate::analysis::metrics::Metrics;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::model::{theta, Activation, Dynamics, Weights};
use crate::real::f;
use context::GpuContext;
use kernels::{
    stage, Family, StepParams, TrialParams, DENSE_TILE, PROJECT_CHUNK, STRUCTURED_WORKGROUP,
};
use std::time::{Duration, Instant};
use wgpu::util::DeviceExt;

/// Most steps recorded in one submit.
const MAX_STEPS_PER_SUBMIT: u64 = 1024;
/// Most bytes of per-dispatch parameters in one submit.
const MAX_PARAM_BYTES: u64 = 8 << 20;
/// Longest wait for one submit before the run fails with a timeout.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(600);

/// The GPU backend (f32).
pub struct GpuBackend {
    ctx: GpuContext,
    binding_limit: Option<u64>,
    dense_shape: Option<(u32, u32)>,
}

impl GpuBackend {
    /// Opens the best adapter.
    pub fn new() -> Result<Self> {
        Ok(GpuBackend {
            ctx: GpuContext::new()?,
            binding_limit: None,
            dense_shape: None,
        })
    }

    /// Opens `adapter`.
    pub fn with_adapter(adapter: wgpu::Adapter) -> Result<Self> {
        Ok(GpuBackend {
            ctx: GpuContext::with_adapter(adapter)?,
            binding_limit: None,
            dense_shape: None,
        })
    }

    /// Caps the bytes of one storage binding below the adapter's limit, so
    /// that dense matrices are split into more row blocks (for tests of the
    /// splitting on small matrices).
    pub fn with_binding_limit(mut self, bytes: u64) -> Self {
        self.binding_limit = Some(bytes);
        self
    }

    /// Runs the dense kernel with `shape` = (threads per workgroup, rows per
    /// workgroup) instead of [`kernels::dense_shape`]'s choice (what
    /// `attractor bench --tune` measures); `None` restores the choice. Both
    /// must be powers of two, with rows <= threads / [`kernels::DENSE_TILE`]
    /// and the workgroup within the adapter's limits.
    pub fn set_dense_shape(&mut self, shape: Option<(u32, u32)>) -> Result<()> {
        if let Some((workgroup, rows)) = shape {
            let cap = kernels::dense_workgroup_cap(&self.ctx.device.limits());
            if !workgroup.is_power_of_two() || workgroup > cap {
                return Err(Error::invalid(
                    "dense workgroup",
                    workgroup,
                    format!("a power of two up to {cap} on {}", self.ctx.summary.name),
                ));
            }
            // Each row needs a lane per trial of a tile to write the tile's results.
            let most = (workgroup / kernels::DENSE_TILE).max(1);
            if !rows.is_power_of_two() || rows > most {
                return Err(Error::invalid(
                    "dense rows per workgroup",
                    rows,
                    format!(
                        "a power of two up to {most} (the workgroup of {workgroup} over \
                         {} trials per tile)",
                        kernels::DENSE_TILE
                    ),
                ));
            }
        }
        self.dense_shape = shape;
        Ok(())
    }

    /// The dense kernel's (threads per workgroup, rows per workgroup) for N
    /// neurons: the shape set by [`Self::set_dense_shape`], else
    /// [`kernels::dense_shape`]'s choice.
    pub fn dense_shape(&self, n: usize) -> (u32, u32) {
        self.dense_shape.unwrap_or_else(|| {
            kernels::dense_shape(
                &self.ctx.device.limits(),
                n,
                self.ctx.adapter.get_info().device_type,
            )
        })
    }

    /// The context (device, queue, adapter).
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn adapter(&self) -> Option<String> {
        Some(self.ctx.summary.name.clone())
    }

    fn run_batch(
        &mut self,
        experiment: &Experiment,
        trials: &[Trial],
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<Recording>> {
        for t in trials {
            crate::sim::cpu::check_trial(experiment, t)?;
        }
        if trials.is_empty() {
            return Ok(Vec::new());
        }
        Run::new(
            &self.ctx,
            experiment,
            trials,
            self.binding_limit,
            self.dense_shape,
        )?
        .execute(progress)
    }
}

fn activation_params(a: Activation) -> (u32, f32, f32) {
    match a {
        Activation::Linear {} => (0, 0.0, 0.0),
        Activation::Relu {} => (1, 0.0, 0.0),
        Activation::Tanh { beta } => (2, beta as f32, 0.0),
        Activation::Sigmoid { beta, threshold } => (3, beta as f32, threshold as f32),
        Activation::Clip { min, max } => (4, min as f32, max as f32),
        Activation::Step { threshold } => (5, threshold as f32, 0.0),
    }
}

/// The operator's GPU form.
enum GpuOperator {
    /// Row blocks of the dense matrix: (first row, rows, buffer).
    Dense(Vec<(u32, u32, wgpu::Buffer)>),
    /// diag(d) + sum_r coef_r W_r V_r^T.
    Structured {
        rank: u32,
        v: wgpu::Buffer,
        w: Option<wgpu::Buffer>,
        coef: wgpu::Buffer,
        diag: Option<wgpu::Buffer>,
    },
}

struct Run<'a> {
    ctx: &'a GpuContext,
    exp: &'a Experiment,
    trials: &'a [Trial],
    n: u32,
    op: GpuOperator,
    pipelines: Vec<wgpu::ComputePipeline>,
    /// metric_partial, metric_finish.
    metric_pipelines: Vec<wgpu::ComputePipeline>,
    metric_group: wgpu::BindGroup,
    sums: wgpu::Buffer,
    /// Bind groups by [family slot][ping-pong]: dense: one slot per row block;
    /// structured: slot 0 projections (table V), slot 1 update (table W).
    groups: Vec<[wgpu::BindGroup; 2]>,
    params: wgpu::Buffer,
    align: u64,
    x: wgpu::Buffer,
    first_bad: wgpu::Buffer,
    staging: wgpu::Buffer,
    base: StepParams,
    /// Which operand buffer holds u now; carried from one submit to the next.
    cur: std::cell::Cell<usize>,
    /// Rows per workgroup of the dense kernel.
    dense_rows: u32,
}

fn storage_buffer(ctx: &GpuContext, label: &str, data: &[f32]) -> wgpu::Buffer {
    let data: &[f32] = if data.is_empty() { &[0.0] } else { data };
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        })
}

impl<'a> Run<'a> {
    fn new(
        ctx: &'a GpuContext,
        exp: &'a Experiment,
        trials: &'a [Trial],
        binding_limit: Option<u64>,
        dense_shape: Option<(u32, u32)>,
    ) -> Result<Self> {
        let net = &exp.network;
        let n = net.n;
        let n_pad = n.div_ceil(4) * 4;
        let batch = trials.len();
        if exp.inputs.len() > 32 {
            return Err(Error::invalid(
                "input",
                format!("{} epochs", exp.inputs.len()),
                "the GPU backend supports at most 32 [[input]] epochs; merge some or use --backend cpu",
            ));
        }
        let limits = ctx.device.limits();
        let max_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            .min(binding_limit.unwrap_or(u64::MAX));
        let need = |what: &str, bytes: u64| -> Result<()> {
            if bytes > max_binding {
                Err(Error::Gpu(format!(
                    "{what} needs {bytes} bytes in one binding; {} allows {max_binding} bytes \
                     (max_storage_buffer_binding_size); use --backend cpu",
                    ctx.summary.name
                )))
            } else {
                Ok(())
            }
        };
        need("the state of the batch", (batch * n_pad) as u64 * 4)?;
        need("the input epochs", (exp.inputs.len() * n) as u64 * 4)?;
        let total = gpu_bytes(exp, batch);
        let scoped_bytes = |what: &str| {
            format!(
                "{what} (the run needs {:.1} MiB of GPU memory in all on {})",
                total as f64 / (1u64 << 20) as f64,
                ctx.summary.name
            )
        };

        let op = ctx.scoped(
            &scoped_bytes("uploading the weights"),
            || -> Result<GpuOperator> {
                Ok(match &net.weights {
                    Weights::Dense { m, .. } => {
                        let row_bytes = n_pad as u64 * 4;
                        need("one row of the dense matrix", row_bytes)?;

                        let rows_per_block = ((max_binding / row_bytes) as usize).clamp(1, n);
                        let mut blocks = Vec::new();
                        let mut row0 = 0;
                        while row0 < n {
                            let rows = rows_per_block.min(n - row0);
                            let mut data = vec![0.0f32; rows * n_pad];
                            for r in 0..rows {
                                for j in 0..n {
                                    data[r * n_pad + j] = m[(row0 + r) * n + j] as f32;
                                }
                            }
                            blocks.push((
                                row0 as u32,
                                rows as u32,
                                storage_buffer(ctx, "attractor M block", &data),
                            ));
                            row0 += rows;
                        }
                        GpuOperator::Dense(blocks)
                    }
                    w => {
                        let (rank, v, wt, coef, diag) = structured_tables(w);
                        need("the structured weights", v.len() as u64 * 4)?;
                        GpuOperator::Structured {
                            rank: rank as u32,
                            v: storage_buffer(ctx, "attractor V", &v),
                            w: wt.map(|t| storage_buffer(ctx, "attractor W", &t)),
                            coef: storage_buffer(ctx, "attractor coef", &coef),
                            diag: diag.map(|d| storage_buffer(ctx, "attractor diag", &d)),
                        }
                    }
                })
            },
        )??;

        // State per trial: x, the stage point y, the rk4 sum, the operand u (two, padded).
        let x0: Vec<f32> = trials
            .iter()
            .flat_map(|t| t.initial(exp).iter().map(|&v| v as f32))
            .collect();
        let act = net.activation;
        let mut u0 = vec![0.0f32; batch * n_pad];
        for b in 0..batch {
            for i in 0..n {
                let v = x0[b * n + i];
                u0[b * n_pad + i] = if net.dynamics == Dynamics::Current {
                    act.apply(v)
                } else {
                    v
                };
            }
        }
        let rk4 = exp.simulation.method == Method::Rk4;
        let trial_params: Vec<TrialParams> = trials
            .iter()
            .map(|t| TrialParams {
                seed_lo: t.seed as u32,
                seed_hi: (t.seed >> 32) as u32,
                trial: t.trial,
                m_scale: t.m_scale as f32,
                h_scale: t.h_scale as f32,
                noise: t.noise as f32,
                pad: [0; 2],
            })
            .collect();
        let init = |label: &str, contents: &[u8], usage: wgpu::BufferUsages| {
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage,
                })
        };
        let (x, y, acc, u, h, first_bad, trials_buf) =
            ctx.scoped(&scoped_bytes("allocating the state"), || {
                let h: Vec<f32> = exp
                    .inputs
                    .iter()
                    .flat_map(|e| e.h.iter().map(|&v| v as f32))
                    .collect();
                (
                    storage_buffer(ctx, "attractor x", &x0),
                    storage_buffer(ctx, "attractor y", &x0),
                    storage_buffer(ctx, "attractor acc", if rk4 { &x0 } else { &[] }),
                    [
                        storage_buffer(ctx, "attractor u0", &u0),
                        storage_buffer(ctx, "attractor u1", &u0),
                    ],
                    storage_buffer(ctx, "attractor h", &h),
                    init(
                        "attractor first_bad",
                        bytemuck::cast_slice(&vec![u32::MAX; batch]),
                        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                    ),
                    init(
                        "attractor trials",
                        bytemuck::cast_slice(&trial_params),
                        wgpu::BufferUsages::STORAGE,
                    ),
                )
            })?;
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("attractor readback"),
            size: (batch * (n + 1 + Metrics::new(net).sum_layout().len())) as u64 * 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let align = u64::from(limits.min_uniform_buffer_offset_alignment)
            .max(std::mem::size_of::<StepParams>() as u64);
        let params = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("attractor params"),
            size: MAX_PARAM_BYTES,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let dummy = storage_buffer(ctx, "attractor unused", &[]);

        let structured = matches!(op, GpuOperator::Structured { .. });
        let family = if structured {
            Family::Structured
        } else {
            Family::Dense
        };
        let layout = kernels::layout(&ctx.device, family);
        let metrics_layout = kernels::layout(&ctx.device, Family::Metrics);
        let (dense_workgroup, dense_rows) = dense_shape.unwrap_or_else(|| {
            kernels::dense_shape(&limits, n, ctx.adapter.get_info().device_type)
        });
        let build = |layout: &wgpu::BindGroupLayout,
                     source: &str,
                     label: &str,
                     entries: &[&str],
                     constants: &[(&str, f64)]| {
            let module = ctx
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
            let pl = ctx
                .device
                .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(label),
                    bind_group_layouts: &[Some(layout)],
                    immediate_size: 0,
                });
            entries
                .iter()
                .map(|e| {
                    ctx.device
                        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                            label: Some(e),
                            layout: Some(&pl),
                            module: &module,
                            entry_point: Some(e),
                            compilation_options: wgpu::PipelineCompilationOptions {
                                constants,
                                ..Default::default()
                            },
                            cache: None,
                        })
                })
                .collect::<Vec<_>>()
        };
        let pipelines = ctx.scoped("building the compute pipelines", || {
            if structured {
                build(
                    &layout,
                    kernels::STRUCTURED_SOURCE,
                    "structured.wgsl",
                    &["project_partial", "project_finish", "structured_step"],
                    &[],
                )
            } else {
                build(
                    &layout,
                    kernels::DENSE_SOURCE,
                    "dense.wgsl",
                    &["dense_step"],
                    &[
                        ("DENSE_WORKGROUP", f64::from(dense_workgroup)),
                        ("DENSE_ROWS", f64::from(dense_rows)),
                    ],
                )
            }
        })?;
        let metric_pipelines = ctx.scoped("building the metric pipelines", || {
            build(
                &metrics_layout,
                kernels::METRICS_SOURCE,
                "metrics.wgsl",
                &["metric_partial", "metric_finish"],
                &[],
            )
        })?;

        // Scratch of the projections and of the metric sums.
        let sum_layout = Metrics::new(net).sum_layout();
        let n_sums = sum_layout.len() as u32;
        let n_groups = (n as u32).div_ceil(PROJECT_CHUNK);
        let (rank, has_diag, diag, coef) = match &op {
            GpuOperator::Structured {
                rank, diag, coef, ..
            } => (
                *rank,
                u32::from(diag.is_some()),
                diag.as_ref().unwrap_or(&dummy),
                coef,
            ),
            GpuOperator::Dense(_) => (0, 0, &dummy, &dummy),
        };
        let (proj, partials, sums) = ctx.scoped("allocating the scratch buffers", || {
            let width = rank.max(n_sums) as usize;
            (
                storage_buffer(
                    ctx,
                    "attractor projections",
                    &vec![0.0; (rank as usize * batch).max(1)],
                ),
                storage_buffer(
                    ctx,
                    "attractor partial sums",
                    &vec![0.0; width * batch * n_groups as usize],
                ),
                storage_buffer(
                    ctx,
                    "attractor metric sums",
                    &vec![0.0; n_sums as usize * batch],
                ),
            )
        })?;
        let bind = |family: Family, table: &wgpu::Buffer, cur: usize| {
            fn buf(binding: u32, b: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
                wgpu::BindGroupEntry {
                    binding,
                    resource: b.as_entire_binding(),
                }
            }
            let mut entries = vec![
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &params,
                        offset: 0,
                        size: wgpu::BufferSize::new(std::mem::size_of::<StepParams>() as u64),
                    }),
                },
                buf(1, &u[cur]),
                buf(2, &u[1 - cur]),
                buf(3, &x),
                buf(4, &y),
                buf(5, &acc),
                buf(6, &h),
                buf(7, table),
                buf(12, &first_bad),
                buf(13, &trials_buf),
            ];
            if family != Family::Dense {
                entries.extend([
                    buf(8, &proj),
                    buf(9, diag),
                    buf(10, &partials),
                    buf(11, coef),
                ]);
            }
            if family == Family::Metrics {
                entries.push(buf(14, &sums));
            }
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("attractor bind group"),
                layout: if family == Family::Metrics {
                    &metrics_layout
                } else {
                    &layout
                },
                entries: &entries,
            })
        };
        // The metric table: the ring's cos and sin rows of V, the Hebbian patterns.
        let (metric_table, metric_row0) = match (&op, &net.weights) {
            (GpuOperator::Structured { v, .. }, Weights::Ring { .. }) => (v, 1),
            (GpuOperator::Structured { v, .. }, Weights::Hebbian { .. }) => (v, 0),
            _ => (&dummy, 0),
        };
        let (groups, metric_group) = ctx.scoped("binding the buffers", || {
            let groups = match &op {
                GpuOperator::Dense(blocks) => blocks
                    .iter()
                    .map(|(_, _, b)| [bind(Family::Dense, b, 0), bind(Family::Dense, b, 1)])
                    .collect::<Vec<_>>(),
                GpuOperator::Structured { v, w, .. } => {
                    let w = w.as_ref().unwrap_or(v);
                    vec![
                        [
                            bind(Family::Structured, v, 0),
                            bind(Family::Structured, v, 1),
                        ],
                        [
                            bind(Family::Structured, w, 0),
                            bind(Family::Structured, w, 1),
                        ],
                    ]
                }
            };
            (groups, bind(Family::Metrics, metric_table, 0))
        })?;

        let sim = &exp.simulation;
        let a = sim.dt / net.tau;
        let (act_kind, act_p0, act_p1) = activation_params(act);
        let base = StepParams {
            n: n as u32,
            n_pad: n_pad as u32,
            dynamics: u32::from(net.dynamics == Dynamics::Current),
            act_kind,
            act_p0,
            act_p1,
            a: a as f32,
            decay: (-a).exp() as f32,
            sqrt_a: a.sqrt() as f32,
            batch: batch as u32,
            n_epochs: exp.inputs.len() as u32,
            rank,
            has_diag,
            n_groups,
            metric_rows: sum_layout.table_rows as u32,
            metric_row0,
            metric_sums: n_sums,
            ..Default::default()
        };
        Ok(Run {
            ctx,
            exp,
            trials,
            n: n as u32,
            op,
            pipelines,
            metric_pipelines,
            metric_group,
            sums,
            groups,
            params,
            align,
            x,
            first_bad,
            staging,
            base,
            cur: std::cell::Cell::new(0),
            dense_rows,
        })
    }

    fn stages(&self) -> Vec<u32> {
        match self.exp.simulation.method {
            Method::Euler => vec![stage::EULER],
            Method::Exponential => vec![stage::EXPONENTIAL],
            Method::Rk4 => (0..4).map(|s| stage::RK4 + s).collect(),
        }
    }

    /// Splits `groups` workgroups over x and y within the per-dimension limit.
    fn grid(&self, groups: u32) -> (u32, u32) {
        let max = self
            .ctx
            .device
            .limits()
            .max_compute_workgroups_per_dimension
            .max(1);
        if groups <= max {
            (groups.max(1), 1)
        } else {
            let gy = groups.div_ceil(max);
            (groups.div_ceil(gy), gy)
        }
    }

    /// Records and submits `steps` steps starting at `first`; returns the submission.
    /// Records and submits `steps` steps starting at `first`. With
    /// `record = Some(read_x)`, the record's metric sums are reduced after
    /// the steps and copied, with the trials' first bad steps and, when
    /// `read_x`, the states, into the staging buffer.
    fn submit(
        &self,
        first: u64,
        steps: u64,
        epochs: &[(u64, u64)],
        record: Option<bool>,
    ) -> wgpu::SubmissionIndex {
        let stages = self.stages();
        let blocks: Vec<(u32, u32)> = match &self.op {
            GpuOperator::Dense(b) => b.iter().map(|(r0, r, _)| (*r0, *r)).collect(),
            GpuOperator::Structured { .. } => vec![(0, self.n)],
        };
        let on = |k: u64| {
            epochs
                .iter()
                .enumerate()
                .filter(|(_, (a, b))| *a <= k && k < *b)
                .fold(0u32, |m, (e, _)| m | (1 << e))
        };
        let mut params = Vec::with_capacity((steps as usize) * stages.len() * blocks.len() + 1);
        for k in first..first + steps {
            for &s in &stages {
                for &(row0, rows) in &blocks {
                    params.push(StepParams {
                        row0,
                        rows,
                        stage: s,
                        step: k as u32,
                        epochs_on: on(k),
                        ..self.base
                    });
                }
            }
        }
        // The record's parameters: its step selects the input epochs of the energy.
        let end = first + steps;
        params.push(StepParams {
            step: end as u32,
            epochs_on: on(end),
            ..self.base
        });
        let mut bytes = vec![0u8; params.len() * self.align as usize];
        for (i, p) in params.iter().enumerate() {
            let o = i * self.align as usize;
            bytes[o..o + std::mem::size_of::<StepParams>()].copy_from_slice(bytemuck::bytes_of(p));
        }
        self.ctx.queue.write_buffer(&self.params, 0, &bytes);

        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("attractor steps"),
            });
        let batch = self.base.batch;
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("attractor steps"),
                timestamp_writes: None,
            });
            let mut cur = self.cur.get();
            let mut block = 0usize;
            for _ in 0..steps {
                for _ in &stages {
                    match &self.op {
                        GpuOperator::Dense(b) => {
                            pass.set_pipeline(&self.pipelines[0]);
                            let tiles = batch.div_ceil(DENSE_TILE);
                            for (slot, (_, rows, _)) in b.iter().enumerate() {
                                let offset = (block as u64 * self.align) as u32;
                                pass.set_bind_group(0, &self.groups[slot][cur], &[offset]);
                                let (gx, gz) = self.grid(rows.div_ceil(self.dense_rows));
                                pass.dispatch_workgroups(gx, tiles, gz);
                                block += 1;
                            }
                        }
                        GpuOperator::Structured { rank, .. } => {
                            let offset = (block as u64 * self.align) as u32;
                            if *rank > 0 {
                                pass.set_pipeline(&self.pipelines[0]);
                                pass.set_bind_group(0, &self.groups[0][cur], &[offset]);
                                pass.dispatch_workgroups(self.base.n_groups, *rank, batch);
                                pass.set_pipeline(&self.pipelines[1]);
                                pass.dispatch_workgroups(*rank, batch, 1);
                            }
                            pass.set_pipeline(&self.pipelines[2]);
                            pass.set_bind_group(0, &self.groups[1][cur], &[offset]);
                            let (gx, gy) = self.grid(self.n.div_ceil(STRUCTURED_WORKGROUP));
                            pass.dispatch_workgroups(gx, gy, batch);
                            block += 1;
                        }
                    }
                    cur = 1 - cur;
                }
            }
            self.cur.set(cur);
            if record.is_some() {
                let offset = (block as u64 * self.align) as u32;
                pass.set_pipeline(&self.metric_pipelines[0]);
                pass.set_bind_group(0, &self.metric_group, &[offset]);
                pass.dispatch_workgroups(self.base.n_groups, self.base.metric_sums, batch);
                pass.set_pipeline(&self.metric_pipelines[1]);
                pass.dispatch_workgroups(self.base.metric_sums, batch, 1);
            }
        }
        if let Some(read_x) = record {
            let b = u64::from(batch);
            let sums = b * u64::from(self.base.metric_sums) * 4;
            encoder.copy_buffer_to_buffer(&self.first_bad, 0, &self.staging, 0, b * 4);
            encoder.copy_buffer_to_buffer(&self.sums, 0, &self.staging, b * 4, sums);
            if read_x {
                let states = b * u64::from(self.n) * 4;
                encoder.copy_buffer_to_buffer(&self.x, 0, &self.staging, b * 4 + sums, states);
            }
        }
        self.ctx.queue.submit([encoder.finish()])
    }

    /// Waits for `index` and reads back each trial's first bad step, its
    /// metric sums ([B][K]) and, when `read_x`, the states ([B][N]).
    fn read(&self, index: wgpu::SubmissionIndex, read_x: bool) -> Result<Readback> {
        let b = self.base.batch as usize;
        let k = self.base.metric_sums as usize;
        let len = (b + b * k + if read_x { b * self.n as usize } else { 0 }) as u64 * 4;
        let slice = self.staging.slice(..len);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.ctx
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(SUBMIT_TIMEOUT),
            })
            .map_err(|e| match e {
                wgpu::PollError::Timeout => Error::Gpu(format!(
                    "the GPU did not finish a submit within {} s",
                    SUBMIT_TIMEOUT.as_secs()
                )),
                other => Error::Gpu(other.to_string()),
            })?;
        self.ctx.check()?;
        rx.recv()
            .map_err(|_| Error::Gpu("the readback was dropped".into()))?
            .map_err(|e| Error::Gpu(format!("reading back the state: {e}")))?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("reading back the state: {e}")))?;
            let all: &[f32] = bytemuck::cast_slice(&view);
            Readback {
                bad: all[..b].iter().map(|v| v.to_bits()).collect(),
                sums: all[b..b + b * k].iter().map(|&v| f64::from(v)).collect(),
                x: read_x.then(|| all[b + b * k..].to_vec()),
            }
        };
        self.staging.unmap();
        Ok(out)
    }

    fn execute(self, progress: &mut dyn FnMut(u64)) -> Result<Vec<Recording>> {
        let exp = self.exp;
        let sim = &exp.simulation;
        let n = exp.network.n;
        let metrics = Metrics::new(&exp.network);
        let k_sums = self.base.metric_sums as usize;
        let stride = exp.record.stride;
        let kept = exp.record.kept(n);
        let record_steps = sim.record_steps();
        let adapter = Some(self.ctx.summary.name.clone());
        let new_recording = || Recording::empty(exp, "gpu", adapter.clone(), "f32");
        let mut recs: Vec<Recording> = self.trials.iter().map(|_| new_recording()).collect();
        let epochs: Vec<(u64, u64)> = exp
            .inputs
            .iter()
            .map(|e| (e.first_step(sim.dt), e.end_step(sim.dt)))
            .collect();
        let act = exp.network.activation;
        let current = exp.network.dynamics == Dynamics::Current;
        let keep_rates = |x: &[f32], rec: &mut Recording| {
            rec.rates.extend(x.iter().step_by(stride).map(|&xi| {
                if current {
                    act.apply(xi)
                } else {
                    xi
                }
            }));
        };

        let start = Instant::now();
        // Record 0 (the initial state) is reduced on the GPU like the others.
        let index = self.submit(0, 0, &epochs, Some(true));
        let first = self.read(index, true)?;
        let mut last_x: Vec<Vec<f32>> = Vec::with_capacity(self.trials.len());
        let x0 = first.x.expect("states were read");
        for (b, rec) in recs.iter_mut().enumerate() {
            let xb = &x0[b * n..(b + 1) * n];
            if xb.iter().any(|a| !a.is_finite()) {
                let nan = xb.iter().any(|a| a.is_nan());
                rec.divergence = Some(Divergence {
                    step: 0,
                    t: 0.0,
                    nan,
                });
            } else {
                rec.t.push(0.0);
                let m_scale = self.trials[b].m_scale;
                rec.metrics
                    .push(metrics.from_sums(&first.sums[b * k_sums..(b + 1) * k_sums], m_scale));
                if kept > 0 {
                    keep_rates(xb, rec);
                }
            }
            last_x.push(xb.to_vec());
        }
        let stages = self.stages().len() as u64;
        let blocks = match &self.op {
            GpuOperator::Dense(b) => b.len() as u64,
            GpuOperator::Structured { .. } => 1,
        };
        let per_submit =
            (MAX_PARAM_BYTES / (self.align * (stages * blocks + 1))).clamp(1, MAX_STEPS_PER_SUBMIT);
        let mut step = 0u64;
        let last_record = *record_steps.last().expect("records");
        for &target in record_steps.iter().skip(1) {
            if recs.iter().all(|r| r.divergence.is_some()) {
                break;
            }
            while step < target {
                let steps = (target - step).min(per_submit);
                let at_record = step + steps == target;
                let read_x = kept > 0 || target == last_record;
                let index = self.submit(step, steps, &epochs, at_record.then_some(read_x));
                step += steps;
                if at_record {
                    let back = self.read(index, read_x)?;
                    for (b, rec) in recs.iter_mut().enumerate() {
                        if rec.divergence.is_some() {
                            continue;
                        }
                        if back.bad[b] != u32::MAX {
                            let s = u64::from(back.bad[b]);
                            let nan = back.sums[b * k_sums..(b + 1) * k_sums]
                                .iter()
                                .any(|a| a.is_nan());
                            rec.divergence = Some(Divergence {
                                step: s,
                                t: s as f64 * sim.dt,
                                nan,
                            });
                            rec.steps_done = s;
                            continue;
                        }
                        rec.t.push(step as f64 * sim.dt);
                        let m_scale = self.trials[b].m_scale;
                        rec.metrics.push(
                            metrics.from_sums(&back.sums[b * k_sums..(b + 1) * k_sums], m_scale),
                        );
                        if let Some(x) = &back.x {
                            let xb = &x[b * n..(b + 1) * n];
                            if kept > 0 {
                                keep_rates(xb, rec);
                            }
                            last_x[b].copy_from_slice(xb);
                        }
                        rec.steps_done = step;
                    }
                } else {
                    self.ctx.check()?;
                }
                progress(step);
            }
        }
        let wall = start.elapsed().as_secs_f64();
        for (rec, x) in recs.iter_mut().zip(last_x) {
            rec.wall_seconds = wall;
            rec.final_state = x.iter().map(|&a| f(a)).collect();
        }
        Ok(recs)
    }
}

/// The bytes of GPU memory a run of `batch` trials of `exp` allocates.
pub fn gpu_bytes(exp: &Experiment, batch: usize) -> u64 {
    let n = exp.network.n as u64;
    let n_pad = n.div_ceil(4) * 4;
    let b = batch as u64;
    let weights = match &exp.network.weights {
        Weights::Dense { .. } => n * n_pad,
        Weights::Diagonal { .. } => n,
        Weights::Ring { .. } => 3 * n,
        Weights::Hebbian { p, .. } => (*p as u64 + 1) * n,
        Weights::LowRank { rank, .. } => 2 * *rank as u64 * n,
    };
    let state = b * (3 * n + 2 * n_pad);
    let inputs = exp.inputs.len() as u64 * n;
    (weights + state + inputs) * 4
}

/// What one record reads back.
struct Readback {
    /// Per trial: 1 + the first step that was not finite, or u32::MAX.
    bad: Vec<u32>,
    /// Per trial, the metric sums.
    sums: Vec<f64>,
    /// The states, when asked for.
    x: Option<Vec<f32>>,
}

/// The tables of diag(d) + sum_r coef_r W_r V_r^T: (R, V as R×N, W as R×N
/// when it differs from V, coef, d).
#[allow(clippy::type_complexity)]
fn structured_tables(
    w: &Weights,
) -> (
    usize,
    Vec<f32>,
    Option<Vec<f32>>,
    Vec<f32>,
    Option<Vec<f32>>,
) {
    let n = w.n();
    match w {
        Weights::Diagonal { values } => (
            0,
            vec![],
            None,
            vec![],
            Some(values.iter().map(|&x| x as f32).collect()),
        ),
        Weights::Ring {
            lambda0, lambda1, ..
        } => {
            let mut v = vec![1.0f32; 3 * n];
            for i in 0..n {
                v[n + i] = theta(i, n).cos() as f32;
                v[2 * n + i] = theta(i, n).sin() as f32;
            }
            let s = 2.0 / n as f64;
            let coef = vec![
                (-s * lambda0) as f32,
                (s * lambda1) as f32,
                (s * lambda1) as f32,
            ];
            (3, v, None, coef, None)
        }
        Weights::Hebbian { p, xi, .. } => {
            let d = Weights::hebbian_self_coupling(n, *p, xi);
            (
                *p,
                xi.iter().map(|&x| x as f32).collect(),
                None,
                vec![(1.0 / n as f64) as f32; *p],
                Some(d.iter().map(|&x| -x as f32).collect()),
            )
        }
        Weights::LowRank { rank, u, v, .. } => {
            let t = |m: &[f64]| {
                let mut out = vec![0.0f32; rank * n];
                for i in 0..n {
                    for r in 0..*rank {
                        out[r * n + i] = m[i * rank + r] as f32;
                    }
                }
                out
            };
            (*rank, t(v), Some(t(u)), vec![1.0; *rank], None)
        }
        Weights::Dense { .. } => unreachable!("dense weights have no structured tables"),
    }
}
