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
use crate::sim::cpu::InputSchedule;
use crate::sim::operator::Operator;
use context::GpuContext;
use kernels::{stage, StepParams, TrialParams, DENSE_TILE, PROJECT_CHUNK, STRUCTURED_WORKGROUP};
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
}

impl GpuBackend {
    /// Opens the best adapter.
    pub fn new() -> Result<Self> {
        Ok(GpuBackend {
            ctx: GpuContext::new()?,
            binding_limit: None,
        })
    }

    /// Opens `adapter`.
    pub fn with_adapter(adapter: wgpu::Adapter) -> Result<Self> {
        Ok(GpuBackend {
            ctx: GpuContext::with_adapter(adapter)?,
            binding_limit: None,
        })
    }

    /// Caps the bytes of one storage binding below the adapter's limit, so
    /// that dense matrices are split into more row blocks (for tests of the
    /// splitting on small matrices).
    pub fn with_binding_limit(mut self, bytes: u64) -> Self {
        self.binding_limit = Some(bytes);
        self
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
        Run::new(&self.ctx, experiment, trials, self.binding_limit)?.execute(progress)
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

        let op = ctx.scoped("uploading the weights", || -> Result<GpuOperator> {
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
        })??;

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
                pad: [0; 3],
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
            ctx.scoped("allocating the state", || {
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
            size: (batch * (n + 1)) as u64 * 4,
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
        let layout = kernels::layout(&ctx.device, structured);
        let (source, entries): (&str, &[&str]) = if structured {
            (
                kernels::STRUCTURED_SOURCE,
                &["project_partial", "project_finish", "structured_step"],
            )
        } else {
            (kernels::DENSE_SOURCE, &["dense_step"])
        };
        let pipelines = ctx.scoped("building the compute pipelines", || {
            let module = ctx
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(if structured {
                        "structured.wgsl"
                    } else {
                        "dense.wgsl"
                    }),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
            let pl = ctx
                .device
                .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some("attractor pipeline layout"),
                    bind_group_layouts: &[Some(&layout)],
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
                            compilation_options: Default::default(),
                            cache: None,
                        })
                })
                .collect::<Vec<_>>()
        })?;

        let n_groups = (n as u32).div_ceil(PROJECT_CHUNK);
        let bind = |slot_table: &wgpu::Buffer,
                    extra: Option<(&wgpu::Buffer, &wgpu::Buffer, &wgpu::Buffer, &wgpu::Buffer)>,
                    cur: usize| {
            let mut entries = vec![
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &params,
                        offset: 0,
                        size: wgpu::BufferSize::new(std::mem::size_of::<StepParams>() as u64),
                    }),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: u[cur].as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: u[1 - cur].as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: x.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: y.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 5,
                    resource: acc.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 6,
                    resource: h.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 7,
                    resource: slot_table.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 12,
                    resource: first_bad.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 13,
                    resource: trials_buf.as_entire_binding(),
                },
            ];
            if let Some((proj, diag, partials, coef)) = extra {
                entries.extend([
                    wgpu::BindGroupEntry {
                        binding: 8,
                        resource: proj.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 9,
                        resource: diag.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 10,
                        resource: partials.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 11,
                        resource: coef.as_entire_binding(),
                    },
                ]);
            }
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("attractor bind group"),
                layout: &layout,
                entries: &entries,
            })
        };
        let mut rank = 0;
        let mut has_diag = 0;
        let groups = ctx.scoped("binding the buffers", || match &op {
            GpuOperator::Dense(blocks) => blocks
                .iter()
                .map(|(_, _, b)| [bind(b, None, 0), bind(b, None, 1)])
                .collect::<Vec<_>>(),
            GpuOperator::Structured {
                rank: r,
                v,
                w,
                coef,
                diag,
            } => {
                rank = *r;
                has_diag = u32::from(diag.is_some());
                let proj = storage_buffer(
                    ctx,
                    "attractor projections",
                    &vec![0.0; (*r as usize * batch).max(1)],
                );
                let partials = storage_buffer(
                    ctx,
                    "attractor partial sums",
                    &vec![0.0; (*r as usize * batch * n_groups as usize).max(1)],
                );
                let d = diag.as_ref().unwrap_or(&dummy);
                let extra = Some((&proj, d, &partials, coef));
                let w = w.as_ref().unwrap_or(v);
                vec![
                    [bind(v, extra, 0), bind(v, extra, 1)],
                    [bind(w, extra, 0), bind(w, extra, 1)],
                ]
            }
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
            noise: (sim.noise * a.sqrt()) as f32,
            batch: batch as u32,
            n_epochs: exp.inputs.len() as u32,
            rank,
            has_diag,
            n_groups,
            ..Default::default()
        };
        Ok(Run {
            ctx,
            exp,
            trials,
            n: n as u32,
            op,
            pipelines,
            groups,
            params,
            align,
            x,
            first_bad,
            staging,
            base,
            cur: std::cell::Cell::new(0),
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
    fn submit(
        &self,
        first: u64,
        steps: u64,
        epochs: &[(u64, u64)],
        readback: bool,
    ) -> wgpu::SubmissionIndex {
        let stages = self.stages();
        let blocks: Vec<(u32, u32)> = match &self.op {
            GpuOperator::Dense(b) => b.iter().map(|(r0, r, _)| (*r0, *r)).collect(),
            GpuOperator::Structured { .. } => vec![(0, self.n)],
        };
        let mut params = Vec::with_capacity((steps as usize) * stages.len() * blocks.len());
        for k in first..first + steps {
            let active = epochs
                .iter()
                .enumerate()
                .filter(|(_, (a, b))| *a <= k && k < *b)
                .fold(0u32, |m, (e, _)| m | (1 << e));
            for &s in &stages {
                for &(row0, rows) in &blocks {
                    params.push(StepParams {
                        row0,
                        rows,
                        stage: s,
                        step: k as u32,
                        epochs_on: active,
                        ..self.base
                    });
                }
            }
        }
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
                            let tiles = self.base.batch.div_ceil(DENSE_TILE);
                            for (slot, (_, rows, _)) in b.iter().enumerate() {
                                let offset = (block as u64 * self.align) as u32;
                                pass.set_bind_group(0, &self.groups[slot][cur], &[offset]);
                                let (gx, gz) = self.grid(*rows);
                                pass.dispatch_workgroups(gx, tiles, gz);
                                block += 1;
                            }
                        }
                        GpuOperator::Structured { rank, .. } => {
                            let offset = (block as u64 * self.align) as u32;
                            if *rank > 0 {
                                pass.set_pipeline(&self.pipelines[0]);
                                pass.set_bind_group(0, &self.groups[0][cur], &[offset]);
                                pass.dispatch_workgroups(
                                    self.base.n_groups,
                                    *rank,
                                    self.base.batch,
                                );
                                pass.set_pipeline(&self.pipelines[1]);
                                pass.dispatch_workgroups(*rank, self.base.batch, 1);
                            }
                            pass.set_pipeline(&self.pipelines[2]);
                            pass.set_bind_group(0, &self.groups[1][cur], &[offset]);
                            let (gx, gy) = self.grid(self.n.div_ceil(STRUCTURED_WORKGROUP));
                            pass.dispatch_workgroups(gx, gy, self.base.batch);
                            block += 1;
                        }
                    }
                    cur = 1 - cur;
                }
            }
            self.cur.set(cur);
        }
        if readback {
            let b = u64::from(self.base.batch);
            let states = b * u64::from(self.n) * 4;
            encoder.copy_buffer_to_buffer(&self.x, 0, &self.staging, 0, states);
            encoder.copy_buffer_to_buffer(&self.first_bad, 0, &self.staging, states, b * 4);
        }
        self.ctx.queue.submit([encoder.finish()])
    }

    /// Waits for `index` and reads back x of every trial ([B][N]) and each
    /// trial's first bad step.
    fn read(&self, index: wgpu::SubmissionIndex) -> Result<(Vec<f32>, Vec<u32>)> {
        let slice = self.staging.slice(..);
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
            let states = self.base.batch as usize * self.n as usize;
            (
                all[..states].to_vec(),
                all[states..].iter().map(|v| v.to_bits()).collect(),
            )
        };
        self.staging.unmap();
        Ok(out)
    }

    fn execute(self, progress: &mut dyn FnMut(u64)) -> Result<Vec<Recording>> {
        let exp = self.exp;
        let sim = &exp.simulation;
        let n = exp.network.n;
        let metrics = Metrics::new(&exp.network);
        let stride = exp.record.stride;
        let kept = if exp.record.rates {
            n.div_ceil(stride)
        } else {
            0
        };
        let record_steps = sim.record_steps();
        let new_recording = || Recording {
            metric_names: metrics.names(),
            t: Vec::with_capacity(record_steps.len()),
            metrics: Vec::with_capacity(record_steps.len()),
            rates: Vec::with_capacity(record_steps.len() * kept),
            kept,
            steps_done: 0,
            divergence: None,
            final_state: Vec::new(),
            backend: "gpu".into(),
            adapter: Some(self.ctx.summary.name.clone()),
            precision: "f32".into(),
            wall_seconds: 0.0,
        };
        let mut recs: Vec<Recording> = self.trials.iter().map(|_| new_recording()).collect();
        let epochs: Vec<(u64, u64)> = exp
            .inputs
            .iter()
            .map(|e| (e.first_step(sim.dt), e.end_step(sim.dt)))
            .collect();
        // The metrics of the records are computed here from the state read back.
        let mut inputs: Vec<InputSchedule<f32>> = self
            .trials
            .iter()
            .map(|t| InputSchedule::<f32>::new(exp, t.h_scale))
            .collect();
        let mut cpu_op = metrics
            .needs_mv()
            .then(|| Operator::<f32>::new(&exp.network.weights));
        let act = exp.network.activation;
        let current = exp.network.dynamics == Dynamics::Current;
        let mut v = vec![0.0f32; n];
        let mut mv = vec![0.0f32; n];
        let mut record = |b: usize, step: u64, x: &[f32], rec: &mut Recording| {
            for (vi, &xi) in v.iter_mut().zip(x) {
                *vi = if current { act.apply(xi) } else { xi };
            }
            inputs[b].at(step);
            if let Some(op) = cpu_op.as_mut() {
                op.apply(&v, &mut mv, &mut Vec::new());
                let g = self.trials[b].m_scale as f32;
                mv.iter_mut().for_each(|m| *m *= g);
            }
            rec.t.push(step as f64 * sim.dt);
            rec.metrics.push(metrics.compute(
                &v,
                x,
                &inputs[b].h,
                metrics.needs_mv().then_some(&mv[..]),
            ));
            if kept > 0 {
                rec.rates.extend(v.iter().step_by(stride).copied());
            }
        };

        let start = Instant::now();
        let mut last_x: Vec<Vec<f32>> = Vec::with_capacity(self.trials.len());
        for (b, t) in self.trials.iter().enumerate() {
            let x0: Vec<f32> = t.initial(exp).iter().map(|&a| a as f32).collect();
            if x0.iter().any(|a| !a.is_finite()) {
                let nan = x0.iter().any(|a| a.is_nan());
                recs[b].divergence = Some(Divergence {
                    step: 0,
                    t: 0.0,
                    nan,
                });
            } else {
                record(b, 0, &x0, &mut recs[b]);
            }
            last_x.push(x0);
        }
        let stages = self.stages().len() as u64;
        let blocks = match &self.op {
            GpuOperator::Dense(b) => b.len() as u64,
            GpuOperator::Structured { .. } => 1,
        };
        let per_submit =
            (MAX_PARAM_BYTES / (self.align * stages * blocks)).clamp(1, MAX_STEPS_PER_SUBMIT);
        let mut step = 0u64;
        for &target in record_steps.iter().skip(1) {
            if recs.iter().all(|r| r.divergence.is_some()) {
                break;
            }
            while step < target {
                let steps = (target - step).min(per_submit);
                let last = step + steps == target;
                let index = self.submit(step, steps, &epochs, last);
                step += steps;
                if last {
                    let (x, bad) = self.read(index)?;
                    for (b, rec) in recs.iter_mut().enumerate() {
                        if rec.divergence.is_some() {
                            continue;
                        }
                        let xb = &x[b * n..(b + 1) * n];
                        if bad[b] != u32::MAX {
                            let s = u64::from(bad[b]);
                            let nan = xb.iter().any(|a| a.is_nan());
                            rec.divergence = Some(Divergence {
                                step: s,
                                t: s as f64 * sim.dt,
                                nan,
                            });
                            rec.steps_done = s;
                            continue;
                        }
                        record(b, step, xb, rec);
                        rec.steps_done = step;
                        last_x[b].copy_from_slice(xb);
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
