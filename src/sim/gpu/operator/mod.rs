//! M on the GPU, from its form ([`crate::model::Form`]): the kernel
//! family that steps it ([`operator_shape`], and the [`Launch`] of a run),
//! and its buffers ([`GpuOperator`]) for that family: the dense matrix as
//! row blocks (each within the adapter's storage binding limit), the
//! tables of the structured form exactly as the CPU operator reads them,
//! the bits of packed Hebbian patterns, a Gaussian kernel's taps, or
//! sparse M's compressed rows. Every match over the model's forms on the
//! GPU is in this file.
//!
//! The kernel families are its children, a file each: [`dense`],
//! [`structured`], [`convolution`] and [`sparse`]. Each states every fact
//! of its kernels that a run, a plan, a cost or bench reads
//! ([`KernelFamily`](super::launch::KernelFamily)), makes its pipelines
//! and lists the dispatches of its steps. A new form with kernels of its
//! own is a new child here, chosen for its shape in [`operator_shape`],
//! its buffers a variant of [`GpuOperator`] and its shader modules listed
//! in [`SOURCES`].

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
use convolution::ConvolutionFamily;
use dense::{row_blocks, DenseFamily};
use sparse::{sparse_lanes, SparseFamily};
use structured::{packed_split, StructuredFamily};
use wgpu::util::DeviceExt;

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

/// The operator's GPU form.
pub enum GpuOperator {
    /// Row blocks of the dense matrix: (first row, rows, buffer), rows
    /// padded to N rounded up to 4 (vec4 loads); for generated `random`
    /// weights one block of every row bound to a placeholder.
    Dense(Vec<(u32, u32, wgpu::Buffer)>),
    /// Sparse M: its row places (N + 1), columns and values, and the rows
    /// in the order `sparse_step` takes them (heavy first).
    Sparse {
        /// Row i's entries are `places[i] .. places[i + 1] - 1` (u32).
        places: wgpu::Buffer,
        /// Each entry's column (u32).
        columns: wgpu::Buffer,
        /// Each entry's value (f32).
        values: wgpu::Buffer,
        /// The rows, heavy first (u32).
        rows: wgpu::Buffer,
        /// The metrics' table of a drawn ring (cos, sin); `None` otherwise.
        metric: Option<wgpu::Buffer>,
        /// The factored terms ([`super::layout::FactorTerm`]).
        factor_terms: wgpu::Buffer,
        /// Every term's u then v (f32).
        factor_numbers: wgpu::Buffer,
        /// T, the terms.
        terms: u32,
    },
    /// diag(d) + sum_r coef_r U_r V_r^T.
    Structured {
        /// R.
        rank: u32,
        /// V, R rows of N.
        v: wgpu::Buffer,
        /// U, R rows of N, when it differs from V.
        u: Option<wgpu::Buffer>,
        /// The R coefficients.
        coef: wgpu::Buffer,
        /// The diagonal, if any.
        diag: Option<wgpu::Buffer>,
        /// Row 0 of V (= U) is all ones, so never read.
        unit_row0: bool,
        /// Packed Hebbian patterns: their bits, split by blocks of units
        /// over at most [`super::kernels::PACKED_BINDINGS`] buffers
        /// (V and U are placeholders); empty otherwise.
        bits: Vec<wgpu::Buffer>,
        /// Blocks of 32 units in each buffer of `bits` but the last.
        bits_words: u32,
        /// The metrics' table where it is not V's rows (a Gaussian
        /// kernel's V is its taps): the torus's cos x, sin x, cos y, sin y.
        metric: Option<wgpu::Buffer>,
    },
}

impl GpuOperator {
    /// Bytes of its buffers.
    pub fn bytes(&self) -> u64 {
        match self {
            GpuOperator::Dense(blocks) => blocks.iter().map(|b| b.2.size()).sum(),
            GpuOperator::Sparse {
                places,
                columns,
                values,
                rows,
                metric,
                factor_terms,
                factor_numbers,
                ..
            } => [
                Some(places),
                Some(columns),
                Some(values),
                Some(rows),
                metric.as_ref(),
                Some(factor_terms),
                Some(factor_numbers),
            ]
            .into_iter()
            .flatten()
            .map(wgpu::Buffer::size)
            .sum(),
            GpuOperator::Structured {
                v,
                u,
                coef,
                diag,
                bits,
                metric,
                ..
            } => [
                Some(v),
                u.as_ref(),
                Some(coef),
                diag.as_ref(),
                metric.as_ref(),
            ]
            .into_iter()
            .flatten()
            .chain(bits)
            .map(wgpu::Buffer::size)
            .sum(),
        }
    }

    /// R, the projections of a structured form (0 for dense and sparse M).
    pub fn rank(&self) -> u32 {
        match self {
            GpuOperator::Structured { rank, .. } => *rank,
            GpuOperator::Dense(_) | GpuOperator::Sparse { .. } => 0,
        }
    }

    /// Whether the step reads its operand through the ping-pong buffers:
    /// dense M, and sparse M as dense does.
    pub fn operand(&self) -> bool {
        match self {
            GpuOperator::Structured { .. } => false,
            GpuOperator::Dense(_) | GpuOperator::Sparse { .. } => true,
        }
    }

    /// Blocks of 32 units in each buffer of packed patterns' bits but the
    /// last; `None` where M has no packed patterns.
    pub fn packed_words(&self) -> Option<u32> {
        match self {
            GpuOperator::Structured {
                bits, bits_words, ..
            } => (!bits.is_empty()).then_some(*bits_words),
            GpuOperator::Dense(_) | GpuOperator::Sparse { .. } => None,
        }
    }

    /// Sparse M's factored terms, T (0 for the other forms).
    pub fn factor_terms(&self) -> u32 {
        match self {
            GpuOperator::Sparse { terms, .. } => *terms,
            GpuOperator::Dense(_) | GpuOperator::Structured { .. } => 0,
        }
    }

    /// The structured table's flags: (U is V, row 0 all ones, a
    /// diagonal); all false for dense and sparse M.
    pub fn table_flags(&self) -> (bool, bool, bool) {
        match self {
            GpuOperator::Structured {
                u, unit_row0, diag, ..
            } => (u.is_none(), *unit_row0, diag.is_some()),
            GpuOperator::Dense(_) | GpuOperator::Sparse { .. } => (false, false, false),
        }
    }

    /// The metric table M brings: its own (a torus's, a drawn ring's), or
    /// V's rows where the metrics read `rows` of them; else `none`.
    pub fn metric_table<'a>(&'a self, rows: bool, none: &'a wgpu::Buffer) -> &'a wgpu::Buffer {
        match self {
            GpuOperator::Structured {
                metric: Some(m), ..
            }
            | GpuOperator::Sparse {
                metric: Some(m), ..
            } => m,
            GpuOperator::Structured { v, .. } if rows => v,
            GpuOperator::Structured { .. } | GpuOperator::Dense(_) | GpuOperator::Sparse { .. } => {
                none
            }
        }
    }

    /// The tables the step's bind groups hold, a group (or a pair, one
    /// for each side of the operand ping-pong) per entry: (the table at
    /// binding 7, U at 15); dense M's row blocks, a structured form's V
    /// and U, `none` for sparse M (whose entries are bound by
    /// [`GpuOperator::bindings`]).
    pub fn tables<'a>(
        &'a self,
        none: &'a wgpu::Buffer,
    ) -> Vec<(&'a wgpu::Buffer, Option<&'a wgpu::Buffer>)> {
        match self {
            GpuOperator::Dense(blocks) => blocks.iter().map(|(_, _, b)| (b, None)).collect(),
            GpuOperator::Structured { v, u, .. } => vec![(v, u.as_ref())],
            GpuOperator::Sparse { .. } => vec![(none, None)],
        }
    }

    /// M's own buffers at their bindings, but the table (7) and U (15):
    /// the diagonal (9) and coefficients (11), the pattern bits (16 to 19,
    /// 22 to 25), sparse M's row places, columns, values and row list (27
    /// to 30) and its factored terms and their numbers (32, 33). A binding
    /// not listed holds a placeholder.
    pub fn bindings(&self) -> Vec<(u32, &wgpu::Buffer)> {
        match self {
            GpuOperator::Structured {
                diag, coef, bits, ..
            } => {
                let mut v = vec![(11, coef)];
                v.extend(diag.iter().map(|d| (9, d)));
                v.extend([16, 17, 18, 19, 22, 23, 24, 25].into_iter().zip(bits));
                v
            }
            GpuOperator::Sparse {
                places,
                columns,
                values,
                rows,
                factor_terms,
                factor_numbers,
                ..
            } => vec![
                (27, places),
                (28, columns),
                (29, values),
                (30, rows),
                (32, factor_terms),
                (33, factor_numbers),
            ],
            GpuOperator::Dense(_) => Vec::new(),
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

/// Uploads `weights` in their form `form`.
pub fn upload(
    ctx: &GpuContext,
    weights: &Weights,
    form: &Form,
    max_binding: u64,
) -> Result<GpuOperator> {
    let n = form.n();
    let n_pad = n.div_ceil(4) * 4;
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    Ok(match form {
        // Generated in the kernel (`dense_step` with RANDOM set): one
        // block of every row, bound to a placeholder.
        Form::Generated(_) => GpuOperator::Dense(vec![(
            0,
            n as u32,
            storage_buffer(ctx, "attractor M (generated)", &[0.0; 4]),
        )]),
        Form::Packed { bits, .. } => {
            let p = bits.p();
            let (_, per) = packed_split(n, p, max_binding);
            let placeholder = storage_buffer(ctx, "attractor V (packed)", &[0.0; 4]);
            GpuOperator::Structured {
                rank: p as u32,
                v: placeholder,
                u: None,
                coef: storage_buffer(ctx, "attractor coef", &vec![1.0 / n as f32; p]),
                diag: Some(storage_buffer(
                    ctx,
                    "attractor diag",
                    &vec![(-(p as f64) / n as f64) as f32; n],
                )),
                unit_row0: bits.first_all_ones(),
                bits: bits
                    .data()
                    .chunks(per * p)
                    .map(|chunk| {
                        ctx.device
                            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                                label: Some("attractor pattern bits"),
                                contents: bytemuck::cast_slice(chunk),
                                usage: wgpu::BufferUsages::STORAGE,
                            })
                    })
                    .collect(),
                bits_words: per as u32,
                metric: None,
            }
        }
        Form::Sparse(csr, factors) => {
            let places: Vec<u32> = csr
                .row_ptr()
                .iter()
                .map(|&p| u32::try_from(p))
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    crate::error::Error::invalid(
                        "network.weights",
                        format!("{} entries", csr.nnz()),
                        "the GPU holds at most 2^32 - 1 sparse entries; use --backend cpu",
                    )
                })?;
            let values: Vec<f32> = csr.values().iter().map(|&v| v as f32).collect();
            GpuOperator::Sparse {
                places: storage_words(ctx, "attractor sparse row places", &places),
                columns: storage_words(ctx, "attractor sparse columns", csr.cols()),
                values: storage_buffer(ctx, "attractor sparse values", &values),
                rows: storage_words(ctx, "attractor sparse rows", &csr.rows_heavy_first()),
                metric: Some(weights.metric_table())
                    .filter(|t| !t.is_empty())
                    .map(|t| storage_buffer(ctx, "attractor metric table", &f32s(&t))),
                factor_terms: {
                    // One zero term when there are none (no empty bindings).
                    let mut terms = sparse::factor_terms(factors);
                    if terms.is_empty() {
                        terms.push(super::layout::FactorTerm::default());
                    }
                    ctx.device
                        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                            label: Some("attractor factor terms"),
                            contents: bytemuck::cast_slice(&terms),
                            usage: wgpu::BufferUsages::STORAGE,
                        })
                },
                factor_numbers: storage_buffer(
                    ctx,
                    "attractor factor numbers",
                    &factors
                        .terms
                        .iter()
                        .flat_map(|t| t.u.iter().chain(&t.v).map(|&x| x as f32))
                        .collect::<Vec<f32>>(),
                ),
                terms: factors.terms.len() as u32,
            }
        }
        Form::Dense { .. } => {
            let mut blocks = Vec::new();
            for (row0, rows) in row_blocks(n, max_binding) {
                let (row0, rows) = (row0 as usize, rows as usize);
                let mut data = vec![0.0f32; rows * n_pad];
                for r in 0..rows {
                    let row = &mut data[r * n_pad..r * n_pad + n];
                    match form {
                        Form::Dense { m, .. } => {
                            for (j, x) in row.iter_mut().enumerate() {
                                *x = m[(row0 + r) * n + j] as f32;
                            }
                        }
                        Form::Structured(_)
                        | Form::Packed { .. }
                        | Form::Generated(_)
                        | Form::Convolution(_)
                        | Form::Sparse(_, _) => unreachable!("a dense matrix"),
                    }
                }
                blocks.push((
                    row0 as u32,
                    rows as u32,
                    storage_buffer(ctx, "attractor M block", &data),
                ));
            }
            GpuOperator::Dense(blocks)
        }
        Form::Convolution(k) => {
            // V: the even taps g_t and the odd taps h_t of each Gaussian,
            // rows of side each (g_0, h_0, g_1, h_1); coef: the scales c_t.
            let taps: Vec<f64> = (0..k.terms.len())
                .flat_map(|t| [k.taps(t), k.odd_taps(t)].concat())
                .collect();
            let scales: Vec<f64> = (0..k.terms.len()).map(|t| k.scale(t)).collect();
            let table = weights.metric_table();
            GpuOperator::Structured {
                rank: k.terms.len() as u32,
                v: storage_buffer(ctx, "attractor taps", &f32s(&taps)),
                u: None,
                coef: storage_buffer(ctx, "attractor coef", &f32s(&scales)),
                diag: None,
                unit_row0: false,
                bits: Vec::new(),
                bits_words: 0,
                metric: Some(storage_buffer(ctx, "attractor metric table", &f32s(&table))),
            }
        }
        Form::Structured(form) => GpuOperator::Structured {
            rank: form.rank() as u32,
            v: storage_buffer(ctx, "attractor V", &f32s(&form.v)),
            u: form
                .u
                .as_deref()
                .map(|u| storage_buffer(ctx, "attractor U", &f32s(u))),
            coef: storage_buffer(ctx, "attractor coef", &f32s(&form.coef)),
            diag: form
                .diag
                .as_deref()
                .map(|d| storage_buffer(ctx, "attractor diag", &f32s(d))),
            unit_row0: form.unit_row(0),
            bits: Vec::new(),
            bits_words: 0,
            metric: None,
        },
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
