//! M on the GPU, from its form ([`crate::model::Form`]): the kernel
//! family that steps it ([`operator_shape`], and the [`Launch`] of a run),
//! and its buffers as that family holds them ([`upload`]): the dense
//! matrix as row blocks (each within the adapter's storage binding
//! limit), the tables of the structured form exactly as the CPU operator
//! reads them, the bits of packed Hebbian patterns, a Gaussian kernel's
//! taps, or sparse M's compressed rows. Every match over the model's forms
//! on the GPU is in this file.
//!
//! The kernel families are its children, a file each: [`dense`],
//! [`structured`], [`convolution`] and [`sparse`]. Each states every fact
//! of its kernels that a run, a plan, a cost or bench reads
//! ([`KernelFamily`](super::launch::KernelFamily)), makes its pipelines,
//! lists the dispatches of its steps and uploads M's buffers
//! ([`GpuOperator`], in [`buffers`]). A new form with kernels of its own
//! is a new child here, chosen for its shape in [`operator_shape`] and
//! for its form in [`upload`], its shader modules listed in [`SOURCES`].

pub mod buffers;
pub mod convolution;
pub mod dense;
pub mod sparse;
pub mod structured;

use super::context::GpuContext;
pub use super::context::{storage_buffer, storage_words};
use super::kernels::{self, DenseShape};
use super::launch::{turned_pairs, Launch, OperatorShape};
use super::pipelines::Generated;
use crate::analysis::metrics::SumLayout;
use crate::error::Result;
use crate::model::{Experiment, Form, Shape, Stage, Weights};
pub use buffers::GpuOperator;
use convolution::ConvolutionFamily;
use dense::{row_blocks, DenseFamily};
use sparse::{sparse_lanes, SparseFamily};
use structured::StructuredFamily;

/// The GPU's shape of M of shape `shape`: its kernel family, dense row
/// blocks of at most `max_binding` bytes (`dense_step` with `row_shape`,
/// for every batch size when `row_kernel_only`), the structured tables
/// (packed patterns as bits), the convolution passes or sparse rows.
pub fn operator_shape(
    shape: &Shape,
    max_binding: u64,
    row_shape: DenseShape,
    row_kernel_only: bool,
) -> OperatorShape {
    let n = shape.n();
    match *shape {
        Shape::Convolution { side, terms } => OperatorShape::new(ConvolutionFamily {
            side: side as u32,
            terms: terms as u32,
        }),
        Shape::Generated { .. } => OperatorShape::new(DenseFamily {
            blocks: vec![(0, n as u32)],
            row_shape,
            row_kernel_only: true,
            generated: true,
        }),
        Shape::Sparse {
            nnz,
            heavy_rows,
            factors,
            factor_rows,
            factor_columns,
            ..
        } => OperatorShape::new(SparseFamily {
            nnz: nnz as u64,
            heavy: heavy_rows as u32,
            lanes: sparse_lanes(nnz as f64 / n.max(1) as f64),
            terms: factors as u32,
            factor_rows: factor_rows as u64,
            factor_columns: factor_columns as u64,
        }),
        Shape::Dense { .. } => OperatorShape::new(DenseFamily {
            blocks: row_blocks(n, max_binding),
            row_shape,
            row_kernel_only,
            generated: false,
        }),
        Shape::Structured(s) => OperatorShape::new(StructuredFamily {
            rank: s.rank as u32,
            separate_u: s.separate_u,
            diag: s.diag,
            unit_row0: s.unit_row0,
            packed: false,
        }),
        // The patterns as the rows of V = U, read as bits, and the
        // diagonal correction.
        Shape::Packed {
            patterns,
            unit_row0,
            ..
        } => OperatorShape::new(StructuredFamily {
            rank: patterns as u32,
            separate_u: false,
            diag: true,
            unit_row0,
            packed: true,
        }),
    }
}

/// A launch's constructors, here where M's shape is chosen.
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
        row_shape: DenseShape,
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
        row_shape: DenseShape,
        row_kernel_only: bool,
    ) -> Self {
        Launch {
            n: shape.n() as u32,
            batch: batch as u32,
            op: operator_shape(shape, max_binding, row_shape, row_kernel_only),
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
}

/// The largest storage binding a run may use under `limits`.
pub fn binding_limit(limits: &wgpu::Limits) -> u64 {
    limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
}

/// The parameters of generated `random` weights, `dense_step`'s override
/// constants; `None` for the other forms.
pub fn generated(form: &Form) -> Option<Generated> {
    match form {
        Form::Generated(g) => Some(Generated {
            seed: g.seed,
            scale: (g.scale() as f32).to_bits(),
            sparsity: (g.sparsity as f32).to_bits(),
        }),
        Form::Dense { .. }
        | Form::Structured(_)
        | Form::Packed { .. }
        | Form::Convolution(_)
        | Form::Sparse(_, _) => None,
    }
}

/// Uploads `weights` in their form `form`, as its kernel family holds
/// them.
pub fn upload(
    ctx: &GpuContext,
    weights: &Weights,
    form: &Form,
    max_binding: u64,
) -> Result<GpuOperator> {
    let metric_table = || Some(weights.metric_table()).filter(|t| !t.is_empty());
    Ok(match form {
        Form::Generated(_) => dense::upload_generated(ctx),
        Form::Packed { bits, .. } => structured::upload_packed(ctx, bits, max_binding),
        Form::Sparse(csr, factors) => sparse::upload(ctx, csr, factors, metric_table())?,
        Form::Dense { m, n } => dense::upload(ctx, m, *n, max_binding),
        Form::Convolution(k) => convolution::upload(ctx, k, &weights.metric_table()),
        Form::Structured(form) => structured::upload(ctx, form),
    })
}

/// Every shader module the backend builds, by name (for validation): the
/// kernel families' and the record's and probes' modules;
/// iterate it, or call [`Sources::iter`].
pub const SOURCES: Sources = Sources;

/// The list of shader modules behind [`SOURCES`].
#[derive(Clone, Copy, Debug)]
pub struct Sources;

impl Sources {
    /// (name, source) of every module.
    pub fn iter(&self) -> std::vec::IntoIter<(&'static str, &'static str)> {
        let mut v = vec![
            ("dense", kernels::DENSE_SOURCE.as_str()),
            ("dense subgroups", kernels::DENSE_SUBGROUP_SOURCE.as_str()),
            ("structured", kernels::STRUCTURED_SOURCE.as_str()),
            (
                "structured subgroups",
                kernels::STRUCTURED_SUBGROUP_SOURCE.as_str(),
            ),
            ("metrics", kernels::METRICS_SOURCE.as_str()),
            ("probe", kernels::PROBE_SOURCE.as_str()),
        ];
        v.extend(
            kernels::DENSE_BATCH_SOURCES
                .iter()
                .map(|(n, s)| (n.as_str(), s.as_str())),
        );
        v.into_iter()
    }
}

impl IntoIterator for Sources {
    type Item = (&'static str, &'static str);
    type IntoIter = std::vec::IntoIter<(&'static str, &'static str)>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
