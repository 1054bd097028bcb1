//! One batch of trials on the GPU: the weights uploaded, the buffers and
//! bind groups made, the steps between records submitted and each record
//! read back into the trials' recordings.

use super::buffers::{Buffers, MAX_PARAM_BYTES};
use super::context::GpuContext;
use super::kernels::{self, Family, StepParams, PROJECT_CHUNK};
use super::pipelines::{PipelineKey, Pipelines};
use super::upload::{self, GpuOperator};
use crate::analysis::metrics::Metrics;
use crate::error::{Error, Result};
use crate::model::{Dynamics, Experiment};
use crate::real::f;
use crate::sim::{Divergence, Recording, Trial};
use std::time::Instant;

/// Most steps recorded in one submit.
const MAX_STEPS_PER_SUBMIT: u64 = 1024;

/// A batch of trials being run.
pub struct Run<'a> {
    pub(super) ctx: &'a GpuContext,
    pub(super) exp: &'a Experiment,
    pub(super) trials: &'a [Trial],
    /// N.
    pub(super) n: u32,
    pub(super) op: GpuOperator,
    /// The step family's pipelines: `dense_step`, or `project_partial`,
    /// `project_finish`, `structured_step`.
    pub(super) step_pipelines: Vec<wgpu::ComputePipeline>,
    /// `metric_partial`, `metric_finish`.
    pub(super) metric_pipelines: Vec<wgpu::ComputePipeline>,
    pub(super) buf: Buffers,
    /// Bind groups by [family slot][ping-pong]: dense: one slot per row block;
    /// structured: slot 0 projections (table V), slot 1 update (table U).
    pub(super) groups: Vec<[wgpu::BindGroup; 2]>,
    pub(super) metric_group: wgpu::BindGroup,
    /// Bytes between two dispatches' parameters.
    pub(super) align: u64,
    /// The parameters every dispatch shares.
    pub(super) base: StepParams,
    /// Which operand buffer holds the operand now; carried from one submit to the next.
    pub(super) cur: std::cell::Cell<usize>,
    /// Rows per workgroup of the dense kernel.
    pub(super) dense_rows: u32,
}

impl<'a> Run<'a> {
    /// Uploads and binds everything `trials` of `exp` need, with pipelines
    /// from `cache`; `binding_limit` caps a storage binding below the
    /// adapter's limit and `dense_shape` overrides the dense kernel's shape.
    pub fn new(
        ctx: &'a GpuContext,
        cache: &mut Pipelines,
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
        let max_binding = upload::binding_limit(ctx, binding_limit);
        let need = |what: &str, bytes: u64| upload::need(ctx, what, bytes, max_binding);
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
        let op = ctx.scoped(&scoped_bytes("uploading the weights"), || {
            upload::weights(ctx, &net.weights, n, max_binding)
        })??;

        let sum_layout = Metrics::shape(net).sum_layout();
        let n_sums = sum_layout.len() as u32;
        let n_groups = (n as u32).div_ceil(PROJECT_CHUNK);
        let rank = match &op {
            GpuOperator::Structured { rank, .. } => *rank,
            GpuOperator::Dense(_) => 0,
        };
        let buf = Buffers::new(
            &scoped_bytes("allocating the state"),
            ctx,
            exp,
            trials,
            rank,
            n_sums,
            n_groups,
        )?;
        let align = u64::from(limits.min_uniform_buffer_offset_alignment)
            .max(std::mem::size_of::<StepParams>() as u64);

        let (dense_workgroup, dense_rows) = dense_shape.unwrap_or_else(|| {
            kernels::dense_shape(&limits, n, ctx.adapter.get_info().device_type)
        });
        let (family, key) = match op {
            GpuOperator::Dense(_) => (
                Family::Dense,
                PipelineKey::Dense {
                    workgroup: dense_workgroup,
                    rows: dense_rows,
                },
            ),
            GpuOperator::Structured { .. } => (Family::Structured, PipelineKey::Structured),
        };
        let step_pipelines = cache.get(ctx, key)?;
        let metric_pipelines = cache.get(ctx, PipelineKey::Metrics)?;
        let layout = cache.layout(ctx, family);
        let metrics_layout = cache.layout(ctx, Family::Metrics);

        // The metric table: rows of V (the ring's cos and sin, the Hebbian patterns).
        let metric_table = match &op {
            GpuOperator::Structured { v, .. } if sum_layout.table_rows > 0 => v,
            _ => &buf.dummy,
        };
        let (groups, metric_group) = ctx.scoped("binding the buffers", || {
            let pair = |table: &wgpu::Buffer| {
                [0, 1].map(|cur| buf.bind(ctx, &layout, family, &op, table, cur))
            };
            let groups = match &op {
                GpuOperator::Dense(blocks) => blocks.iter().map(|(_, _, b)| pair(b)).collect(),
                GpuOperator::Structured { v, u, .. } => {
                    vec![pair(v), pair(u.as_ref().unwrap_or(v))]
                }
            };
            let metric_group =
                buf.bind(ctx, &metrics_layout, Family::Metrics, &op, metric_table, 0);
            (groups, metric_group)
        })?;

        let sim = &exp.simulation;
        let a = sim.dt / net.tau;
        let (act_kind, act_p0, act_p1) = net.activation.gpu_params();
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
            has_diag: u32::from(matches!(&op, GpuOperator::Structured { diag: Some(_), .. })),
            n_groups,
            metric_rows: sum_layout.table_rows as u32,
            metric_row0: sum_layout.table_row0 as u32,
            metric_sums: n_sums,
            ..Default::default()
        };
        Ok(Run {
            ctx,
            exp,
            trials,
            n: n as u32,
            op,
            step_pipelines,
            metric_pipelines,
            buf,
            groups,
            metric_group,
            align,
            base,
            cur: std::cell::Cell::new(0),
            dense_rows,
        })
    }

    /// Steps the batch to the end, reading back every record.
    pub fn execute(self, progress: &mut dyn FnMut(u64)) -> Result<Vec<Recording>> {
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
        let dispatches = (self.stages().len() * self.blocks().len()) as u64;
        let per_submit =
            (MAX_PARAM_BYTES / (self.align * (dispatches + 1))).clamp(1, MAX_STEPS_PER_SUBMIT);
        let mut step = 0u64;
        let last_record = *record_steps.last().expect("records");
        // A failure after the first record (a lost device, a timeout) ends
        // the run but keeps the records read so far.
        let mut fault: Option<Error> = None;
        'records: for &target in record_steps.iter().skip(1) {
            if recs.iter().all(|r| r.divergence.is_some()) {
                break;
            }
            while step < target {
                let steps = (target - step).min(per_submit);
                let at_record = step + steps == target;
                let read_x = kept > 0 || target == last_record;
                let index = self.submit(step, steps, &epochs, at_record.then_some(read_x));
                step += steps;
                if !at_record {
                    if let Err(e) = self.ctx.check() {
                        fault = Some(e);
                        break 'records;
                    }
                    progress(step);
                    continue;
                }
                let back = match self.read(index, read_x) {
                    Ok(back) => back,
                    Err(e) => {
                        fault = Some(e);
                        break 'records;
                    }
                };
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
                    rec.metrics
                        .push(metrics.from_sums(&back.sums[b * k_sums..(b + 1) * k_sums], m_scale));
                    if let Some(x) = &back.x {
                        let xb = &x[b * n..(b + 1) * n];
                        if kept > 0 {
                            keep_rates(xb, rec);
                        }
                        last_x[b].copy_from_slice(xb);
                    }
                    rec.steps_done = step;
                }
                progress(step);
            }
        }
        if let Some(e) = fault {
            for rec in recs.iter_mut().filter(|r| r.divergence.is_none()) {
                rec.fault = Some(format!(
                    "{e} (after step {} of {}, t = {} s)",
                    rec.steps_done,
                    sim.steps,
                    rec.steps_done as f64 * sim.dt
                ));
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
    let weights = match exp.network.weights.structured_shape() {
        None => n * n_pad,
        Some((rank, separate_u, diag)) => {
            (rank as u64 * (1 + u64::from(separate_u)) + u64::from(diag)) * n
        }
    };
    let state = b * (3 * n + 2 * n_pad);
    let inputs = exp.inputs.len() as u64 * n;
    (weights + state + inputs) * 4
}
