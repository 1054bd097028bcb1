//! Everything the dispatches of a run depend on ([`Launch`]): N, the
//! batch, M's shape on the GPU ([`OperatorShape`]), the method's stages,
//! the inputs on at once, the metric sums and the adapter's limits. A pure
//! function of the experiment, the batch and the limits.

use super::shape::OperatorShape;
use crate::analysis::metrics::SumLayout;
use crate::model::{Experiment, Shape, Stage};

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
    /// [`BatchShape::split`]: super::kernels::BatchShape::split
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
    /// The launch of `batch` trials of `exp` on an adapter with `limits`,
    /// the dense matrix split into row blocks of at most `max_binding` bytes
    /// and `dense_step` run with `row_shape` (for every batch size when
    /// `row_kernel_only`).
    pub fn of(
        exp: &Experiment,
        batch: usize,
        limits: &wgpu::Limits,
        max_binding: u64,
        row_shape: super::kernels::DenseShape,
        row_kernel_only: bool,
    ) -> Self {
        let sums = crate::analysis::metrics::Metrics::shape(&exp.network).sum_layout();
        let launch = Launch::new(
            &exp.network.weights.shape(),
            batch,
            exp.simulation.method.stages().to_vec(),
            // Uniform inputs are one number a step: no vector is read.
            if exp.inputs_uniform() {
                0
            } else {
                crate::sim::inputs::InputSchedule::new(exp).most_on()
            },
            sums,
            turned_pairs(exp),
            limits,
            max_binding,
            row_shape,
            row_kernel_only,
        );
        Launch {
            segments: super::segments::table(exp).len() as u32,
            ..launch
        }
    }

    /// The launch of `batch` trials of a network of M's shape `shape`,
    /// stepped by `stages`, with at most `epochs_on` input epochs on at
    /// once, a record's `sums` and `turned_pairs` rows pairs a velocity may
    /// turn, built from those sizes alone
    /// (no weights, no experiment: `attractor bench --plan`); the rest as
    /// [`Launch::of`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shape: &Shape,
        batch: usize,
        stages: Vec<Stage>,
        epochs_on: usize,
        sums: SumLayout,
        turned_pairs: usize,
        limits: &wgpu::Limits,
        max_binding: u64,
        row_shape: super::kernels::DenseShape,
        row_kernel_only: bool,
    ) -> Self {
        Launch {
            n: shape.n() as u32,
            batch: batch as u32,
            op: OperatorShape::of(shape, max_binding, row_shape, row_kernel_only),
            stages,
            epochs_on: epochs_on as u32,
            metric_sums: sums.len() as u32,
            max_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_binding,
            turned_pairs: turned_pairs as u32,
            sums,
            counting: false,
            batch_split: 1,
            staged: false,
            by_pattern: true,
            segments: 0,
        }
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

    /// Trial tiles of `DENSE_TILE` per `sparse_step` workgroup
    /// ([`super::shape::sparse_groups`] of this batch).
    pub fn sparse_groups(&self, lanes: u32) -> u32 {
        super::shape::sparse_groups(self.batch, lanes)
    }

    /// Workgroups of the metric pass.
    pub fn metric_groups(&self) -> u32 {
        self.n.div_ceil(super::kernels::METRIC_CHUNK)
    }

    /// The dense batch kernel's shape for this batch, when it is used
    /// (more than `DENSE_TILE` trials).
    pub fn batch_shape(&self) -> Option<super::kernels::BatchShape> {
        let rows_only = self.op.row_kernel_only();
        (!rows_only && self.batch > super::kernels::DENSE_TILE)
            .then(|| super::kernels::BatchShape::for_batch(self.batch).with_split(self.batch_split))
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
