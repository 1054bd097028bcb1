//! The wgpu backend: the experiment's state stays on the GPU for the whole
//! run; the steps between two records are recorded as dispatches of one
//! compute pass and sent in one submit; only the recorded state comes back.
//!
//! Each step runs the method's stages (1, or 4 for rk4). A stage is one
//! fused dispatch per dense row block (`dense_step` for up to 4 trials,
//! the tiled `dense_batch` for more), or two for structured weights (the
//! per-neuron update fused with the next projections' partial sums, then
//! their totals): [`schedule`] lists them with the bytes each moves, and
//! the encoder counts what it records. The dense operand (what M
//! multiplies) ping-pongs between two buffers with two bind groups made in
//! advance. Every kernel has a CPU twin: the operator in
//! `sim::cpu::operator`, the stages in `model::Stage::update`. GPU time
//! comes from timestamp queries where the adapter has them (`timing`).
//!
//! One file per job: [`context`] (device and queue), [`kernels`] (WGSL
//! sources and their generated header), [`layout`] (parameter structs and
//! bind group layouts), [`pipelines`] (compiled once per backend, cached by
//! key), [`operator`] (M's kernel family and buffers on the GPU, from its
//! form: its `mod.rs` is the one file that matches on the model's forms,
//! and each family is a child), [`launch`] (everything a schedule depends
//! on, and the trait of a kernel family), `buffers` (every buffer of a run,
//! named, and the bind groups), `inputs` (the inputs' part of each step's
//! parameters), [`schedule`] (the dispatches and their bytes), [`cost`]
//! (bytes, flops and memory of a batch), `encode` (a submit's compute
//! pass), [`ledger`] (what the encoder counted), `timing`, `readback`,
//! `run` (one batch from upload to recordings) and [`probe`] (the GPU's
//! bandwidth and peak). [`GpuBackend`] owns the context and the pipeline
//! cache.

mod batch;
mod buffers;
pub mod context;
pub mod cost;
mod dense_shape;
pub mod devices;
mod encode;
mod inputs;
pub mod kernels;
pub mod launch;
pub mod layout;
pub mod ledger;
pub mod operator;
pub mod pick;
pub mod pipelines;
pub mod plan;
pub mod probe;
mod readback;
mod run;
pub mod schedule;
mod segments;
pub mod timing;
pub mod traffic;

use super::{Backend, Cost, Recording, Trial};
use crate::error::{Error, Result};
use crate::model::Experiment;
use context::GpuContext;
pub use ledger::{Counted, Difference};
use pipelines::Pipelines;
pub use run::Timed;

/// The GPU backend (f32).
pub struct GpuBackend {
    ctx: GpuContext,
    pipelines: Pipelines,
    caps: Caps,
    dense_shape: Option<kernels::DenseShape>,
    batch_split: Option<u32>,
    convolution_staged: Option<bool>,
    by_pattern: bool,
    subgroups: bool,
    counting: bool,
    sparse_lanes: Option<u32>,
}

impl GpuBackend {
    /// Opens the first adapter listed, or the one the scheduler bound to
    /// this process (see [`pick::binding`]).
    pub fn new() -> Result<Self> {
        Self::on(GpuContext::new()?)
    }

    /// Opens the adapter `device` (a key, for errors, and its value: an
    /// index, PCI bus id, UUID or part of a name) names, else as
    /// [`GpuBackend::new`].
    pub fn open(device: Option<(&str, &str)>) -> Result<Self> {
        Self::on(GpuContext::open(device)?)
    }

    /// Runs on `ctx`.
    pub fn on(ctx: GpuContext) -> Result<Self> {
        Ok(GpuBackend {
            ctx,
            pipelines: Pipelines::default(),
            caps: Caps::default(),
            dense_shape: None,
            batch_split: None,
            convolution_staged: None,
            by_pattern: true,
            subgroups: true,
            sparse_lanes: None,
            counting: false,
        })
    }

    /// Caps the bytes of one storage binding below the adapter's limit, so
    /// that dense matrices are split into more row blocks (for tests of the
    /// splitting on small matrices).
    pub fn with_binding_limit(mut self, bytes: u64) -> Self {
        self.caps.binding = Some(bytes);
        self
    }

    /// Runs the dense row kernel (`dense_step`) with `shape` instead of
    /// [`kernels::dense_shape`]'s choice, for every batch size (what
    /// `attractor bench --tune` measures; batches of more than
    /// `DENSE_TILE` trials otherwise run `dense_batch`); `None` restores
    /// the choice. All three must be powers of two, the workgroup within
    /// the adapter's limits, the rows per thread at most
    /// [`kernels::DENSE_MAX_STACK`] and no more than the rows, with at
    /// least [`kernels::DENSE_TILE`] lanes per row slot.
    pub fn set_dense_shape(&mut self, shape: Option<kernels::DenseShape>) -> Result<()> {
        if let Some(s) = shape {
            let cap = kernels::dense_workgroup_cap(&self.ctx.device.limits());
            if !s.workgroup.is_power_of_two() || s.workgroup > cap {
                return Err(Error::invalid(
                    "dense workgroup",
                    s.workgroup,
                    format!("a power of two up to {cap} on {}", self.ctx.summary.name),
                ));
            }
            if !s.stack.is_power_of_two() || s.stack > kernels::DENSE_MAX_STACK {
                return Err(Error::invalid(
                    "dense rows per thread",
                    s.stack,
                    format!("a power of two up to {}", kernels::DENSE_MAX_STACK),
                ));
            }
            // Each row slot needs a lane per trial of a tile to write the
            // tile's results.
            let most = (s.workgroup / kernels::DENSE_TILE).max(1) * s.stack;
            // The stacked kernel's sums: 32 bytes a thread; its first lanes
            // store a row each.
            let memory = self.ctx.device.limits().max_compute_workgroup_storage_size;
            if s.stack > 1 && (32 * s.workgroup > memory || s.lanes() < s.stack) {
                return Err(Error::invalid(
                    "dense shape",
                    s,
                    format!(
                        "with {} rows per thread, a workgroup of at most {} threads \
                         (32 bytes of workgroup memory each) and at least as many lanes per \
                         row slot as rows per thread",
                        s.stack,
                        memory / 32
                    ),
                ));
            }
            if !s.rows.is_power_of_two() || s.rows > most || s.rows < s.stack {
                return Err(Error::invalid(
                    "dense rows per workgroup",
                    s.rows,
                    format!(
                        "a power of two from {} to {most} (the workgroup of {} over \
                         {} trials per tile, {} rows per thread)",
                        s.stack,
                        s.workgroup,
                        kernels::DENSE_TILE,
                        s.stack
                    ),
                ));
            }
        }
        self.dense_shape = shape;
        Ok(())
    }

    /// The dense row kernel's shape for N neurons and `batch` trials: the
    /// shape set by [`Self::set_dense_shape`], else
    /// [`kernels::dense_shape`]'s choice.
    pub fn dense_shape(&self, n: usize, batch: usize) -> kernels::DenseShape {
        self.dense_shape.unwrap_or_else(|| {
            kernels::dense_shape(
                &self.ctx.device.limits(),
                n,
                batch,
                self.ctx.adapter.get_info().device_type,
            )
        })
    }

    /// Gives each light row of sparse M `lanes` lanes (a power of two up
    /// to 32) instead of [`launch::KernelFamily::on`]'s choice (for
    /// tests of every lane count on a software adapter); `None` restores
    /// the choice.
    pub fn set_sparse_lanes(&mut self, lanes: Option<u32>) -> Result<()> {
        if let Some(k) = lanes {
            if !k.is_power_of_two() || k > 32 {
                return Err(Error::invalid("sparse lanes", k, "a power of two up to 32"));
            }
        }
        self.sparse_lanes = lanes;
        Ok(())
    }

    /// Splits the columns of `dense_batch` into `split` spans instead of
    /// [`kernels::batch_split`]'s choice (for tests of the split on a
    /// software adapter, and `attractor bench --tune`); `None` restores
    /// the choice. A power of two up to
    /// [`kernels::DENSE_BATCH_MAX_SPLIT`].
    pub fn set_batch_split(&mut self, split: Option<u32>) -> Result<()> {
        if let Some(k) = split {
            if !k.is_power_of_two() || k > kernels::DENSE_BATCH_MAX_SPLIT {
                return Err(Error::invalid(
                    "dense batch split",
                    k,
                    format!("a power of two up to {}", kernels::DENSE_BATCH_MAX_SPLIT),
                ));
            }
        }
        self.batch_split = split;
        Ok(())
    }

    /// The column spans of `dense_batch` for N neurons and `batch` trials:
    /// the split set by [`Self::set_batch_split`], else
    /// [`kernels::batch_split`]'s choice.
    pub fn batch_split(&self, n: usize, batch: usize) -> u32 {
        self.batch_split.unwrap_or_else(|| {
            kernels::batch_split(
                n,
                batch,
                operator::binding_limit(&self.limits()),
                self.ctx.adapter.get_info().device_type,
            )
        })
    }

    /// Stages the convolution passes in workgroup memory (`true`) or
    /// reads memory (`false`) instead of [`kernels::convolution_staged`]'s
    /// choice (for tests of both on one adapter, and `attractor bench
    /// --tune`); `None` restores the choice.
    pub fn set_convolution_staged(&mut self, staged: Option<bool>) {
        self.convolution_staged = staged;
    }

    /// Runs the packed patterns by pattern (the default): the projections
    /// 4 and up by `packed_project` (a thread per pattern) and the update's
    /// product from staged words ([`kernels::FLAG_PACKED_STAGED`]), each
    /// word read once a step; or, `false`, the earlier kernels, by blocks of
    /// 4 patterns (`project_rest`) and each neuron reading its word of every
    /// pattern (for tests of both and `attractor bench --tune`).
    pub fn set_by_pattern(&mut self, on: bool) {
        self.by_pattern = on;
    }

    /// Whether packed projections run by pattern on this backend.
    pub fn by_pattern(&self) -> bool {
        self.by_pattern
    }

    /// Whether the convolution passes run staged on this backend.
    pub fn convolution_staged(&self) -> bool {
        self.convolution_staged
            .unwrap_or_else(|| kernels::convolution_staged(self.ctx.adapter.get_info().device_type))
    }

    /// Whether the structured kernels and `dense_stacked` may use subgroup
    /// operations (the default, where the adapter has `Features::SUBGROUP`);
    /// `false` runs the portable workgroup sums everywhere (for tests of
    /// both).
    pub fn set_subgroups(&mut self, on: bool) {
        self.subgroups = on;
    }

    /// Runs the counting build of every kernel from now on: each load and
    /// store adds its bytes to its binding's counter, read back by
    /// [`Prepared::count`] (slow: for measuring what kernels move, on
    /// small cases).
    pub fn with_counting(mut self) -> Self {
        self.counting = true;
        self
    }

    /// Runs the counting build (`on`) or the plain one from now on.
    pub fn set_counting(&mut self, on: bool) {
        self.counting = on;
    }

    /// How its runs build their kernels.
    fn build(&self) -> run::Build {
        run::Build {
            dense_shape: self.dense_shape,
            batch_split: self.batch_split,
            convolution_staged: self.convolution_staged,
            by_pattern: self.by_pattern,
            subgroups: self.subgroups,
            counting: self.counting,
            sparse_lanes: self.sparse_lanes,
        }
    }

    /// Whether the structured kernels run with subgroup operations here.
    pub fn uses_subgroups(&self) -> bool {
        self.subgroups
            && self
                .ctx
                .device
                .features()
                .contains(wgpu::Features::SUBGROUP)
    }

    /// The subgroup width `sparse_step` sums a row's lanes with here (see
    /// [`operator::sparse::sparse_subgroup`]); 0: the workgroup-memory tree.
    pub fn sparse_subgroup(&self) -> u32 {
        match (self.subgroups, self.ctx.subgroup_sizes()) {
            (true, Some((min, max))) => operator::sparse::sparse_subgroup(min, max),
            (true, None) | (false, _) => 0,
        }
    }

    /// Whether `dense_stacked` of `shape` sums its slots with subgroup
    /// operations here (see [`kernels::dense_subgroups`]).
    pub fn uses_dense_subgroups(&self, shape: kernels::DenseShape) -> bool {
        self.subgroups
            && self
                .ctx
                .subgroup_sizes()
                .is_some_and(|(min, max)| kernels::dense_subgroups(shape, min, max))
    }

    /// The launch of `batch` trials of `experiment` on this backend: what
    /// a run would encode depends on it (see [`schedule::Schedule`]).
    pub fn launch(&self, experiment: &Experiment, batch: usize) -> launch::Launch {
        let device = self.ctx.adapter.get_info().device_type;
        let mut l = launch::Launch {
            counting: self.counting,
            batch_split: self.batch_split(experiment.network.n, batch),
            staged: self.convolution_staged(),
            by_pattern: self.by_pattern,
            ..launch::Launch::of(
                experiment,
                batch,
                &self.limits(),
                operator::binding_limit(&self.limits()),
                self.dense_shape(experiment.network.n, batch),
                self.dense_shape.is_some(),
            )
        };
        l.op = l.op.on(device, self.sparse_lanes);
        l
    }

    /// Caps the workgroups of one grid dimension below the adapter's limit,
    /// so that grids fold over two dimensions on small cases (for tests of
    /// the folding).
    pub fn with_grid_limit(mut self, groups: u32) -> Self {
        self.caps.grid = Some(groups);
        self
    }

    /// The limits runs on this backend keep within: the device's, lowered
    /// by the caps set for tests.
    pub fn limits(&self) -> wgpu::Limits {
        let mut l = self.ctx.device.limits();
        if let Some(b) = self.caps.binding {
            l.max_storage_buffer_binding_size = l.max_storage_buffer_binding_size.min(b);
        }
        if let Some(g) = self.caps.grid {
            l.max_compute_workgroups_per_dimension = l.max_compute_workgroups_per_dimension.min(g);
        }
        l
    }

    /// The plan of `batch` trials of `experiment` on this backend: every
    /// buffer and dispatch grid, and the limits it would exceed.
    pub fn plan(&self, experiment: &Experiment, batch: usize) -> plan::Plan {
        plan::Plan::of(
            &self.launch(experiment, batch),
            experiment.input_values(),
            &self.limits(),
        )
    }

    /// The context (device, queue, adapter).
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// How many sets of compute pipelines this backend has compiled: one per
    /// kernel family and shape it ran, however many batches ran.
    pub fn pipeline_builds(&self) -> usize {
        self.pipelines.builds()
    }
}

/// Limits set below the adapter's (tests of splitting and folding).
#[derive(Clone, Copy, Debug, Default)]
struct Caps {
    /// Bytes of one storage binding.
    binding: Option<u64>,
    /// Workgroups of one grid dimension.
    grid: Option<u32>,
}

/// A batch uploaded once and stepped in timed stretches
/// ([`GpuBackend::prepare`]): what `attractor bench` times, so that M is
/// built and uploaded once per case however many stretches it times.
pub struct Prepared<'a>(run::Run<'a>);

impl Prepared<'_> {
    /// Steps `steps` more steps and waits for them: the wall-clock and GPU
    /// time and what was encoded.
    pub fn time(&self, steps: u64) -> Result<Timed> {
        self.0.time(steps)
    }

    /// Bytes of the buffers it made.
    pub fn allocated(&self) -> u64 {
        self.0.allocated()
    }

    /// Steps `steps` more steps (the first call also runs the prologue)
    /// with the counters cleared first, and returns what every kernel read
    /// and wrote of each binding (the backend must be counting:
    /// [`GpuBackend::with_counting`]).
    pub fn count(&self, steps: u64) -> Result<Counted> {
        self.0.count(steps)
    }
}

impl GpuBackend {
    /// Uploads `trials` of `experiment` (checked, and their memory checked
    /// as a run's) to be stepped in timed stretches.
    pub fn prepare<'a>(
        &'a mut self,
        experiment: &'a Experiment,
        trials: &'a [Trial],
    ) -> Result<Prepared<'a>> {
        for t in trials {
            t.check(experiment)?;
        }
        self.check_memory(experiment, trials.len())?;
        let limits = self.limits();
        let build = self.build();
        Ok(Prepared(run::Run::new(
            &self.ctx,
            &mut self.pipelines,
            experiment,
            trials,
            &limits,
            build,
        )?))
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn adapter(&self) -> Option<String> {
        Some(self.ctx.summary.name.clone())
    }

    fn cost(&self, experiment: &Experiment, batch: usize) -> Cost {
        cost::cost(experiment, &self.launch(experiment, batch))
    }

    fn device_memory(&self) -> Option<(String, Option<u64>)> {
        Some((
            self.ctx.summary.name.clone(),
            devices::memory_of(&self.ctx.summary, crate::memory::device_override()),
        ))
    }

    fn run_checked(
        &mut self,
        experiment: &Experiment,
        trials: &[Trial],
        progress: &mut dyn FnMut(u64),
        stop: &super::Stop,
    ) -> Result<Vec<Recording>> {
        let limits = self.limits();
        let build = self.build();
        run::Run::new(
            &self.ctx,
            &mut self.pipelines,
            experiment,
            trials,
            &limits,
            build,
        )?
        .execute(progress, stop)
    }
}
