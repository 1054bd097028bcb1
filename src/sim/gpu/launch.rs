//! Everything the dispatches of a run depend on ([`Launch`]): N, the
//! batch, M's shape on the GPU ([`OperatorShape`]), the method's stages,
//! the inputs on at once, the metric sums and the adapter's limits. A pure
//! function of the experiment, the batch and the limits (made in
//! `operator/mod.rs`, where M's shape is chosen).
//!
//! M's shape is a kernel family ([`KernelFamily`]): each family, in its
//! own file under `operator/`, states every fact of its kernels that a run,
//! a plan, a cost or bench reads, and the dispatches of its steps. A new
//! family implements the trait (the compiler lists every fact it must
//! state) and is chosen for its forms in `operator_shape`
//! (`operator/mod.rs`).

use super::kernels::{BatchShape, Family};
use super::pipelines::{Generated, PipelineKey};
use super::traffic::{state_traffic, Dispatch, Region, Traffic};
use crate::analysis::metrics::SumLayout;
use crate::model::{Experiment, Stage};
use std::sync::Arc;

/// Everything a schedule depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct Launch {
    /// N.
    pub n: u32,
    /// Trials stepped together, B.
    pub batch: u32,
    /// The operator.
    pub op: OperatorShape,
    /// The method's stages.
    pub stages: Vec<Stage>,
    /// The most input epochs on at once.
    pub epochs_on: u32,
    /// K, the metric sums per trial.
    pub metric_sums: u32,
    /// The adapter's `max_compute_workgroups_per_dimension`.
    pub max_workgroups_per_dimension: u32,
    /// The largest storage binding (the weights are split by it).
    pub max_binding: u64,
    /// The (cos, sin) row pairs of a structured form a velocity may turn.
    pub turned_pairs: u32,
    /// What a record sums ([`SumLayout`]; `metric_sums` of them).
    pub sums: SumLayout,
    /// The kernels are the counting build (their counters are allocated).
    pub counting: bool,
    /// The column spans of `dense_batch` ([`BatchShape::split`]): 1 unless
    /// the backend sets more ([`super::kernels::batch_split`]).
    ///
    /// [`BatchShape::split`]: BatchShape::split
    pub batch_split: u32,
    /// The convolution passes stage the operand and the row passes in
    /// workgroup memory (where the side allows it): the default on a
    /// hardware GPU ([`super::kernels::convolution_staged`]); false
    /// unless set.
    pub staged: bool,
    /// Packed patterns run by pattern (the default): the projections 4 and
    /// up by `packed_project` (a thread per pattern, its words read
    /// coalesced) and the update's product from staged words, rather than
    /// by blocks of 4 (`project_rest`) and by neuron.
    pub by_pattern: bool,
    /// Entries of the populations' segment table (0: one population, the
    /// table not read).
    pub segments: u32,
}

impl Launch {
    /// The traffic of the update of `rows` neurons of every trial at
    /// `stage` (`finish` in common.wgsl): each (neuron, trial) reads its
    /// trial's parameters (all of TrialParams), the input epochs on
    /// (`input_passes`: those of the grid over the input vectors), and the
    /// state the stage needs. Each neuron of a network of several
    /// populations also looks its segment up once.
    pub fn update_traffic(&self, stage: Stage, rows: u64, input_passes: u64) -> Vec<Traffic> {
        let (b, f) = (u64::from(self.batch), 4u64);
        let epochs = u64::from(self.epochs_on);
        let trial = u64::from(super::kernels::bytes_of::<super::kernels::TrialParams>());
        let segment = u64::from(super::kernels::bytes_of::<super::kernels::Segment>());
        let segments = u64::from(self.segments) * segment;
        let lookup = self.segment_reads() * segment;
        let cells = b * rows;
        let mut t = vec![
            Traffic::read(Region::Trials, b * trial, 1).requesting(cells * trial),
            Traffic::read(Region::Input, epochs * rows * f, input_passes)
                .requesting(cells * epochs * f),
        ];
        if segments > 0 {
            t.push(Traffic::read(Region::Segments, segments, 1).requesting(cells * lookup));
        }
        let (reads, writes) = state_traffic(stage);
        t.extend(reads.into_iter().map(|r| Traffic::read(r, cells * f, 1)));
        t.extend(writes.into_iter().map(|r| Traffic::write(r, cells * f)));
        t
    }

    /// Reads of the segment table that one look-up of a neuron's segment
    /// makes (`segment_of` in common.wgsl: a search of fixed length, then
    /// the segment): ceil(log2 S) + 1; none without populations.
    pub fn segment_reads(&self) -> u64 {
        match self.segments {
            0 => 0,
            s => u64::from(s.next_power_of_two().trailing_zeros()) + 1,
        }
    }

    /// N rounded up to a multiple of 4.
    pub fn n_pad(&self) -> u32 {
        self.n.div_ceil(4) * 4
    }

    /// Splits `groups` workgroups over two dimensions within the limit.
    pub fn grid(&self, groups: u32) -> (u32, u32) {
        let max = self.max_workgroups_per_dimension.max(1);
        if groups <= max {
            (groups.max(1), 1)
        } else {
            let gy = groups.div_ceil(max);
            (groups.div_ceil(gy), gy)
        }
    }

    /// Sparse M's factored terms, T (0 for the other forms).
    pub fn factor_terms(&self) -> u64 {
        self.op.factor_terms()
    }

    /// Workgroups of the structured step and projection pass.
    pub fn projection_groups(&self) -> u32 {
        self.n.div_ceil(super::kernels::PROJECT_CHUNK)
    }

    /// Workgroups of the metric pass.
    pub fn metric_groups(&self) -> u32 {
        self.n.div_ceil(super::kernels::METRIC_CHUNK)
    }

    /// The dense batch kernel's shape for this batch, when it is used
    /// (more than `DENSE_TILE` trials).
    pub fn batch_shape(&self) -> Option<BatchShape> {
        let rows_only = self.op.row_kernel_only();
        (!rows_only && self.batch > super::kernels::DENSE_TILE)
            .then(|| BatchShape::for_batch(self.batch).with_split(self.batch_split))
    }

    /// Whether the convolution passes run staged: [`Launch::staged`] for a
    /// convolution (false for the other forms, whose kernels do not care).
    pub fn convolution_staged(&self) -> bool {
        self.staged && self.op.convolution()
    }

    /// Floats of the partial sums: the projections' (`rank` a workgroup of
    /// the structured pass), a record's metric sums', and a split
    /// `dense_batch`'s sums (its spans × the largest row block), for every
    /// trial.
    pub fn partial_sums(&self, rank: u64) -> u64 {
        let rows = self.op.largest_block();
        let split = u64::from(self.batch_shape().map_or(1, |s| s.split));
        let spans = if split > 1 { split * rows } else { 0 };
        (rank * u64::from(self.projection_groups()))
            .max(u64::from(self.metric_sums) * u64::from(self.metric_groups()))
            .max(spans)
            * u64::from(self.batch)
    }
}

/// The (cos, sin) row pairs the steps of `exp` turn: those of its geometry
/// when it has a velocity, else none (nothing is turned, nothing read for
/// it).
pub fn turned_pairs(exp: &Experiment) -> usize {
    if exp.velocity.is_empty() {
        0
    } else {
        exp.network.weights.geometry().rotations.len()
    }
}

/// M's buffers on the GPU, as a plan lists them, and what the rest of a
/// run's buffers depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightBuffers {
    /// Each buffer holding M (its tables, bits or taps): its name (the
    /// label without `attractor `) and bytes, in the order its family's
    /// `upload` makes them.
    pub buffers: Vec<(&'static str, u64)>,
    /// Whether the step reads its operand through the ping-pong buffers
    /// (dense and sparse M).
    pub operand: bool,
    /// Floats of projections each trial keeps.
    pub projections: u64,
    /// The projections a structured pass's workgroup sums (the rows of
    /// the partial sums).
    pub rank: u64,
}

/// The options of an adapter and a run that choose a step's pipeline
/// ([`KernelFamily::pipeline`]).
#[derive(Clone, Copy, Debug)]
pub struct PipelineChoice {
    /// Trials stepped together.
    pub batch: u32,
    /// The dense batch kernel's shape where it is used
    /// ([`Launch::batch_shape`]).
    pub batch_shape: Option<BatchShape>,
    /// The convolution passes stage in workgroup memory.
    pub staged: bool,
    /// Blocks of 32 units per buffer of packed patterns' bits, where M
    /// has packed patterns.
    pub packed_words: Option<u32>,
    /// Generated M's constants, where M is generated.
    pub generated: Option<Generated>,
    /// The adapter's subgroup sizes (min, max) where subgroups are used,
    /// `None` for the workgroup-memory trees.
    pub subgroups: Option<(u32, u32)>,
}

/// A kernel family: the kernels that step M of one shape, and every fact
/// of them that a run, a plan, a cost or bench reads without M's
/// buffers. Each family is a file of `operator/`; `operator_shape`
/// (`operator/mod.rs`) chooses one for M's shape. Every method is required,
/// so a new family states each fact.
pub trait KernelFamily: Same + std::fmt::Debug + Send + Sync + 'static {
    /// The shape on an adapter of type `device`, with sparse light rows
    /// given `lanes` lanes each where set (the families that do not
    /// depend on them unchanged).
    fn on(&self, device: wgpu::DeviceType, lanes: Option<u32>) -> OperatorShape;

    /// Bytes of one row of the structured table of N = `n` (f32, or bits
    /// when packed).
    fn row_bytes(&self, n: u64) -> u64;

    /// Rows of the structured table that are read (not all ones); 0 where
    /// there is no table.
    fn stored_rows(&self) -> u64;

    /// The binding a record's metrics read the table's rows through: the
    /// bit planes of packed patterns, else the f32 table (7).
    fn table_binding(&self) -> u32;

    /// Floating-point operations of one product by M of one trial of N =
    /// `n`, a multiply-add counted as 2.
    fn flops(&self, n: f64) -> f64;

    /// The fewest bytes of M one stage of a batch of `batch` trials of N =
    /// `n` reads.
    fn minimum_weight_bytes(&self, n: u64, batch: u64) -> u64;

    /// M's buffers for N = `n` (rows padded to `n_pad`), each within
    /// `max_binding` bytes. An empty buffer holds one float (WebGPU has no
    /// empty bindings).
    fn weight_buffers(&self, n: u64, n_pad: u64, max_binding: u64) -> WeightBuffers;

    /// Sparse M's factored terms, T (0 where there are none).
    fn factor_terms(&self) -> u64;

    /// Whether a batch of any size steps with the row kernels (every
    /// family but dense M whose row shape was not set, which takes
    /// `dense_batch` above `DENSE_TILE` trials).
    fn row_kernel_only(&self) -> bool;

    /// Whether M is a convolution (whose passes may run staged).
    fn convolution(&self) -> bool;

    /// Rows of dense M's largest row block (0 where M is not in blocks).
    fn largest_block(&self) -> u64;

    /// Lanes a light row of sparse M gets (1 where M has no rows of its own).
    fn light_row_lanes(&self) -> u32;

    /// The step's pipeline and its bind group layout's family for `choice`.
    fn pipeline(&self, choice: PipelineChoice) -> (Family, PipelineKey);

    /// The dispatches of `stage` of a step of `g`, in order; the
    /// prologue's (once per run, before the first step) go into an empty
    /// `prologue`.
    fn stage(&self, g: &Launch, stage: Stage, prologue: &mut Vec<Dispatch>) -> Vec<Dispatch>;
}

/// A family's type behind `dyn`: what compares two shapes
/// ([`OperatorShape`]'s `==`) and finds a family's own type
/// ([`OperatorShape::family`]). Every `PartialEq` type has it.
pub trait Same {
    /// It, as `Any`.
    fn as_any(&self) -> &dyn std::any::Any;
    /// Whether `other` is of its type and equal to it.
    fn same(&self, other: &dyn std::any::Any) -> bool;
}

impl<T: PartialEq + 'static> Same for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn same(&self, other: &dyn std::any::Any) -> bool {
        other.downcast_ref::<T>() == Some(self)
    }
}

/// The operator's shape on the GPU: its kernel family, with every fact of
/// it ([`KernelFamily`], reached through `Deref`).
#[derive(Clone, Debug)]
pub struct OperatorShape(Arc<dyn KernelFamily>);

impl OperatorShape {
    /// The shape of `family`.
    pub fn new(family: impl KernelFamily) -> Self {
        OperatorShape(Arc::new(family))
    }

    /// The family, if it is of type `T`.
    pub fn family<T: KernelFamily>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }
}

impl std::ops::Deref for OperatorShape {
    type Target = dyn KernelFamily;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}

impl PartialEq for OperatorShape {
    fn eq(&self, other: &Self) -> bool {
        self.0.same(other.0.as_any())
    }
}
