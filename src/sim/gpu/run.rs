//! One batch of trials on the GPU: the weights uploaded, the buffers and
//! bind groups made, the steps between records submitted and each record
//! read back into the trials' recordings.

use super::buffers::{Buffers, MAX_PARAM_BYTES};
use super::context::GpuContext;
use super::kernels::{self, Family, StepParams};
use super::launch::{Launch, PipelineChoice};
use super::layout::{FLAG_DIAG, FLAG_PACKED_STAGED, FLAG_SEGMENTS, FLAG_U_IS_V};
use super::ledger::{Counted, Ledger, Requests};
use super::operator::generated;
use super::operator::{self, GpuOperator};
use super::pipelines::{PipelineKey, Pipelines};
use super::plan::Plan;
use super::schedule::{Kernel, Schedule};
use crate::analysis::metrics::Metrics;
use crate::error::{Error, Result};
use crate::model::Experiment;
use crate::real::f;
use crate::sim::{Divergence, Recording, Trial};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
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
    /// What each submit encodes.
    pub(super) schedule: Schedule,
    /// The compiled kernels the schedule dispatches.
    pub(super) pipelines: HashMap<Kernel, wgpu::ComputePipeline>,
    pub(super) buf: Buffers,
    /// Bind groups by [slot][ping-pong]: dense: one slot per row block
    /// (operand[cur] read); structured: slot 0 (no ping-pong: both the same).
    pub(super) groups: Vec<[wgpu::BindGroup; 2]>,
    pub(super) metric_group: wgpu::BindGroup,
    /// Bytes between two dispatches' parameters.
    pub(super) align: u64,
    /// The parameters every dispatch shares.
    pub(super) base: StepParams,
    /// Workgroups of the metric pass (`StepParams.n_groups` at a record).
    pub(super) metric_groups: u32,
    /// Which operand buffer holds the operand now; carried from one submit to the next.
    pub(super) cur: Cell<usize>,
    /// Whether the prologue has been submitted.
    pub(super) started: Cell<bool>,
    /// The next step of a timed stretch ([`Run::time`]).
    pub(super) at: Cell<u64>,
    /// What the submits recorded so far.
    pub(super) ledger: Cell<Ledger>,
    /// The bytes the recorded dispatches request, by kernel and binding,
    /// tallied while a count ([`Run::count`]) runs; `None` otherwise.
    pub(super) requested: RefCell<Option<Requests>>,
    /// GPU timestamps of the submits, where the adapter has them.
    pub(super) timer: Option<super::timing::Timer>,
    /// The inputs' part of each step's parameters.
    pub(super) inputs: super::inputs::StepInputs,
    /// The weights' buffers (bound in `groups`).
    pub(super) op: GpuOperator,
}

/// How a run builds its kernels (the backend's settings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Build {
    /// The dense row kernel's shape, overriding the adapter's default.
    pub dense_shape: Option<kernels::DenseShape>,
    /// The column spans of `dense_batch`, overriding the adapter's default.
    pub batch_split: Option<u32>,
    /// The convolution passes staged in workgroup memory, overriding the
    /// adapter's default.
    pub convolution_staged: Option<bool>,
    /// Packed patterns by pattern (`packed_project` and the staged product,
    /// the default) or by blocks of 4 (`project_rest` and the product by
    /// neuron).
    pub by_pattern: bool,
    /// The structured kernels use subgroup operations where the device
    /// has them.
    pub subgroups: bool,
    /// The counting build: every load and store counted.
    pub counting: bool,
    /// Lanes per light sparse row, overriding the adapter's default.
    pub sparse_lanes: Option<u32>,
}

impl<'a> Run<'a> {
    /// Uploads and binds everything `trials` of `exp` need, with pipelines
    /// from `cache`, within `limits` (the adapter's, or lower ones set for
    /// tests), built as `build` says.
    pub fn new(
        ctx: &'a GpuContext,
        cache: &mut Pipelines,
        exp: &'a Experiment,
        trials: &'a [Trial],
        limits: &wgpu::Limits,
        build: Build,
    ) -> Result<Self> {
        let Build {
            dense_shape,
            batch_split,
            convolution_staged,
            by_pattern,
            subgroups,
            counting,
            sparse_lanes,
        } = build;
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
        let inputs = super::inputs::StepInputs::new(exp)?;
        let max_binding = operator::binding_limit(limits);
        let row_shape = dense_shape.unwrap_or_else(|| {
            kernels::dense_shape(limits, n, batch, ctx.adapter.get_info().device_type)
        });
        let batch_split = batch_split.unwrap_or_else(|| {
            kernels::batch_split(n, batch, max_binding, ctx.adapter.get_info().device_type)
        });
        let device = ctx.adapter.get_info().device_type;
        let mut geometry = Launch {
            counting,
            batch_split,
            staged: convolution_staged.unwrap_or_else(|| kernels::convolution_staged(device)),
            by_pattern,
            ..Launch::of(
                exp,
                batch,
                limits,
                max_binding,
                row_shape,
                dense_shape.is_some(),
            )
        };
        geometry.op = geometry.op.on(device, sparse_lanes);
        // Every binding and grid within the limits, before anything is made.
        let plan = Plan::of(&geometry, exp.input_values(), limits);
        plan.check(&ctx.summary.name)?;
        let total = plan.bytes();
        let scoped_bytes = |what: &str| {
            format!(
                "{what} (the run needs {:.1} MiB of GPU memory in all on {})",
                total as f64 / (1u64 << 20) as f64,
                ctx.summary.name
            )
        };
        // M's form, built once: uploaded, and the pipelines' key.
        let form = net.weights.form();
        let op = ctx.scoped(&scoped_bytes("uploading the weights"), || {
            operator::upload(ctx, &net.weights, &form, max_binding)
        })??;

        let schedule = Schedule::new(&geometry);
        let sum_layout = Metrics::shape(net).sum_layout();
        let n_sums = sum_layout.len() as u32;
        let proj_groups = geometry.projection_groups();
        let metric_groups = geometry.metric_groups();
        let packed = op.packed_words();
        let (rank, dense) = (op.rank(), op.operand());
        let n_partials = geometry.partial_sums(u64::from(rank));
        // Per trial: the R projections, or a Gaussian kernel's 2R row
        // passes of N (even and odd taps), as the plan counts them.
        let proj_per_trial = geometry
            .op
            .weight_buffers(
                u64::from(geometry.n),
                u64::from(geometry.n_pad()),
                geometry.max_binding,
            )
            .projections as usize;
        let mut buf = Buffers::new(
            &scoped_bytes("allocating the state"),
            ctx,
            exp,
            trials,
            dense,
            proj_per_trial,
            n_sums,
            n_partials,
        )?;
        // Sparse M's factored terms: T, and their projections per trial.
        let terms = op.factor_terms();
        if terms > 0 {
            buf.factor_proj = operator::storage_buffer(
                ctx,
                "attractor factor projections",
                &vec![0.0; terms as usize * batch],
            );
        }
        if counting {
            buf.counted = operator::storage_buffer(
                ctx,
                "attractor counted",
                &vec![0.0; super::buffers::counted_bytes(true) as usize / 4],
            );
        }
        let align = u64::from(limits.min_uniform_buffer_offset_alignment)
            .max(std::mem::size_of::<StepParams>() as u64);

        let (family, key) = geometry.op.pipeline(PipelineChoice {
            batch: geometry.batch,
            batch_shape: geometry.batch_shape(),
            staged: geometry.convolution_staged(),
            packed_words: packed,
            generated: generated(&form),
            subgroups: if subgroups {
                ctx.subgroup_sizes()
            } else {
                None
            },
        });
        let mut pipelines = HashMap::new();
        for key in [key, PipelineKey::metrics(packed)] {
            let kernels = key.kernels();
            let compiled = cache.get(ctx, key, counting)?;
            for (kernel, p) in kernels.iter().zip(compiled) {
                pipelines.insert(*kernel, p);
            }
        }
        let layout = cache.layout(ctx, family);
        let metrics_layout = cache.layout(ctx, Family::Metrics);

        // The metric table: rows of V (the ring's cos and sin, the Hebbian
        // patterns), or the populations' rows (their weights have none).
        let own_table = op.metric_table(sum_layout.table_rows > 0, &buf.dummy);
        let metric_table = buf.population_table.as_ref().unwrap_or(own_table);
        let (groups, metric_group) = ctx.scoped("binding the buffers", || {
            // A pair of groups for each side of the operand ping-pong
            // where the step reads one; one group twice otherwise.
            let groups = op
                .tables(&buf.dummy)
                .into_iter()
                .map(|(t, u)| {
                    if dense {
                        [0, 1].map(|cur| buf.bind(ctx, &layout, family, &op, t, u, cur))
                    } else {
                        let g = buf.bind(ctx, &layout, family, &op, t, u, 0);
                        [g.clone(), g]
                    }
                })
                .collect();
            let metric_group = buf.bind(
                ctx,
                &metrics_layout,
                Family::Metrics,
                &op,
                metric_table,
                None,
                0,
            );
            (groups, metric_group)
        })?;

        let sim = &exp.simulation;
        let a = sim.dt / net.tau;
        let (act_kind, act_p0, act_p1) = net.activation.gpu_params();
        let (u_is_v, unit_row0, has_diag) = op.table_flags();
        let base = StepParams {
            n: n as u32,
            n_pad: n_pad as u32,
            rows: n as u32,
            dynamics: kernels::dynamics_code(net.dynamics),
            act_kind,
            act_p0,
            act_p1,
            a: a as f32,
            decay: (-a).exp() as f32,
            sqrt_a: a.sqrt() as f32,
            batch: batch as u32,
            n_epochs: exp.inputs.len() as u32,
            rank: rank.max(terms),
            flags: if has_diag { FLAG_DIAG } else { 0 }
                | if u_is_v { FLAG_U_IS_V } else { 0 }
                | if by_pattern { FLAG_PACKED_STAGED } else { 0 }
                | if net.has_populations() {
                    FLAG_SEGMENTS
                } else {
                    0
                },
            n_groups: proj_groups,
            metric_rows: sum_layout.table_rows as u32,
            metric_row0: sum_layout.table_row0 as u32,
            metric_sums: n_sums,
            unit_row0: u32::from(unit_row0),
            side: net.weights.geometry().side as u32,
            ..Default::default()
        };
        let timer = super::timing::Timer::new(ctx);
        Ok(Run {
            ctx,
            exp,
            trials,
            n: n as u32,
            schedule,
            pipelines,
            buf,
            groups,
            metric_group,
            align,
            base,
            metric_groups,
            cur: Cell::new(0),
            started: Cell::new(false),
            at: Cell::new(0),
            ledger: Cell::new(Ledger::default()),
            requested: RefCell::new(None),
            timer,
            inputs,
            op,
        })
    }

    /// [`Run::time`] of `steps` steps with the counters cleared first, and
    /// the counters read back after, beside what the schedule's dispatches
    /// of the same stretch request.
    pub fn count(&self, steps: u64) -> Result<Counted> {
        let bytes = super::buffers::counted_bytes(true);
        if self.buf.counted.size() < bytes {
            return Err(Error::Gpu(
                "counting needs the counting build (GpuBackend::with_counting)".into(),
            ));
        }
        self.ctx
            .queue
            .write_buffer(&self.buf.counted, 0, &vec![0u8; bytes as usize]);
        *self.requested.borrow_mut() = Some(Requests::default());
        let timed = self.time(steps);
        let requested = self.requested.borrow_mut().take().unwrap_or_default();
        timed?;
        let back = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("attractor counted readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.copy_buffer_to_buffer(&self.buf.counted, 0, &back, 0, bytes);
        let index = self.ctx.queue.submit([enc.finish()]);
        let slice = back.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait(index)?;
        rx.recv()
            .map_err(|_| Error::Gpu("the counters' readback was dropped".into()))?
            .map_err(|e| Error::Gpu(format!("reading back the counters: {e}")))?;
        let words: Vec<u32> = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("reading back the counters: {e}")))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        // Counter s: words 2 s (low) and 2 s + 1 (high).
        let measured = words
            .chunks(2)
            .map(|w| u64::from(w[0]) | u64::from(w[1]) << 32)
            .collect();
        let step_kernels = self
            .schedule
            .stages
            .iter()
            .flatten()
            .map(|d| d.kernel)
            .collect();
        Ok(Counted {
            steps,
            measured,
            scheduled: requested,
            step_kernels,
        })
    }

    /// Bytes of the buffers the run made (its plan's, by construction:
    /// tests/gpu.rs checks it).
    pub fn allocated(&self) -> u64 {
        self.buf.bytes() + self.op.bytes()
    }

    /// Steps the batch to the end, reading back every record.
    pub fn execute(
        self,
        progress: &mut dyn FnMut(u64),
        stop: &crate::sim::Stop,
    ) -> Result<Vec<Recording>> {
        let exp = self.exp;
        let sim = &exp.simulation;
        let n = exp.network.n;
        let metrics = Metrics::new(&exp.network);
        let k_sums = self.base.metric_sums as usize;
        let stride = exp.record.stride;
        let kept = exp.record.kept(n);
        let record_steps = sim.record_steps();
        let adapter = Some(self.ctx.summary.name.clone());
        let new_recording = || {
            let mut r = Recording::empty(exp, "gpu", adapter.clone(), "f32");
            let bus = &self.ctx.summary.pci_bus_id;
            r.adapter_pci_bus_id = (!bus.is_empty()).then(|| bus.clone());
            r.adapter_chosen_by = Some(self.ctx.chosen_by.clone());
            r
        };
        let mut recs: Vec<Recording> = self.trials.iter().map(|_| new_recording()).collect();
        let keep_rates = |x: &[f32], rec: &mut Recording| {
            let mut v = x.to_vec();
            exp.network.rates_in_place(&mut v);
            rec.rates.extend(v.iter().step_by(stride));
        };

        let start = Instant::now();
        // Record 0 (the initial state) is reduced on the GPU like the others.
        let (index, timed) = self.submit(0, 0, Some(true));
        let first = self.read(index, true)?;
        let mut gpu_seconds = 0.0;
        if timed {
            gpu_seconds += self.collect_time()?;
        }
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
        let per_submit = self.steps_per_submit();
        let mut step = 0u64;
        let last_record = *record_steps.last().expect("records");
        // A failure after the first record (a lost device, a timeout) ends
        // the run but keeps the records read so far.
        let mut fault: Option<Error> = None;
        let mut in_flight: Option<wgpu::SubmissionIndex> = None;
        'records: for &target in record_steps.iter().skip(1) {
            if recs.iter().all(|r| r.divergence.is_some()) {
                break;
            }
            while step < target {
                let steps = (target - step).min(per_submit);
                let at_record = step + steps == target;
                let read_x = kept > 0 || target == last_record;
                let (index, timed) = self.submit(step, steps, at_record.then_some(read_x));
                step += steps;
                if !at_record {
                    let checked = if timed {
                        self.collect_time().map(|s| gpu_seconds += s)
                    } else {
                        self.ctx.check()
                    };
                    if let Err(e) = checked {
                        fault = Some(e);
                        break 'records;
                    }
                    // At most two submits in flight: the one before this
                    // is waited for, so that progress (and a stop request)
                    // trail the GPU by a submit, not by the queue.
                    if let Some(p) = in_flight.replace(index) {
                        if let Err(e) = self.wait(p) {
                            fault = Some(e);
                            break 'records;
                        }
                    }
                    progress(step);
                    if stop.requested() {
                        break 'records;
                    }
                    continue;
                }
                in_flight = None;
                let back = match self.read(index, read_x) {
                    Ok(back) => back,
                    Err(e) => {
                        fault = Some(e);
                        break 'records;
                    }
                };
                if timed {
                    match self.collect_time() {
                        Ok(s) => gpu_seconds += s,
                        Err(e) => {
                            fault = Some(e);
                            break 'records;
                        }
                    }
                }
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
                if stop.requested() {
                    break 'records;
                }
            }
        }
        if stop.requested() {
            return Err(crate::Error::Interrupted {
                step,
                steps: sim.steps,
            });
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
        let ledger = Ledger {
            gpu_seconds: self.timer.as_ref().map(|_| gpu_seconds),
            ..self.ledger.get()
        };
        for (rec, x) in recs.iter_mut().zip(last_x) {
            rec.wall_seconds = wall;
            rec.ledger = Some(ledger);
            rec.final_state = x.iter().map(|&a| f(a)).collect();
            rec.add_motion_metrics(exp);
        }
        Ok(recs)
    }
}

impl Run<'_> {
    /// The GPU seconds of the submits whose timestamps were copied out.
    fn collect_time(&self) -> Result<f64> {
        self.timer.as_ref().map_or(Ok(0.0), |t| t.collect(self.ctx))
    }

    /// Most steps one submit records: as many as the parameter buffer
    /// holds, at most [`MAX_STEPS_PER_SUBMIT`].
    fn steps_per_submit(&self) -> u64 {
        let dispatches = self.schedule.dispatches_per_step() as u64;
        (MAX_PARAM_BYTES / (self.align * (dispatches + 2))).clamp(1, MAX_STEPS_PER_SUBMIT)
    }

    /// Steps the batch `steps` steps on from where the last stretch ended
    /// (the first one also runs the prologue), the last submit reducing a
    /// record, and waits for the GPU: the wall-clock seconds, the GPU
    /// seconds where the adapter has timestamps, and what was encoded.
    pub fn time(&self, steps: u64) -> Result<Timed> {
        let before = self.ledger.get();
        let start = Instant::now();
        let mut gpu = 0.0;
        let mut done = 0;
        let first = self.at.get();
        loop {
            let k = (steps - done).min(self.steps_per_submit());
            let last = done + k == steps;
            let (index, timed) = self.submit(first + done, k, last.then_some(false));
            done += k;
            if last {
                self.read(index, false)?;
            } else {
                self.wait(index)?;
            }
            if timed {
                gpu += self.collect_time()?;
            }
            if last {
                break;
            }
        }
        self.at.set(first + steps);
        let after = self.ledger.get();
        Ok(Timed {
            seconds: start.elapsed().as_secs_f64(),
            gpu_seconds: self.timer.as_ref().map(|_| gpu),
            ledger: Ledger {
                steps: after.steps - before.steps,
                step_dispatches: after.step_dispatches - before.step_dispatches,
                step_bytes: after.step_bytes - before.step_bytes,
                step_weight_bytes: after.step_weight_bytes - before.step_weight_bytes,
                step_requested: after.step_requested - before.step_requested,
                other_dispatches: after.other_dispatches - before.other_dispatches,
                other_bytes: after.other_bytes - before.other_bytes,
                gpu_seconds: self.timer.as_ref().map(|_| gpu),
            },
        })
    }
}

/// What one stretch of steps of a prepared batch took
/// ([`Prepared::time`](super::Prepared::time)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timed {
    /// Wall-clock seconds, the GPU waited for.
    pub seconds: f64,
    /// GPU seconds from timestamp queries, where the adapter has them.
    pub gpu_seconds: Option<f64>,
    /// What the stretch encoded (its steps, dispatches and bytes).
    pub ledger: Ledger,
}
