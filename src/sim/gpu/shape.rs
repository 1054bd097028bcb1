//! M's shape on the GPU ([`OperatorShape`]): which kernel family steps it
//! and how, and every fact of that family a run, a plan, a cost or bench
//! reads without its buffers: its products' flops, the fewest bytes of
//! its weights, its weight buffers, its factored terms, its pipeline.
//! Every match over the GPU's shapes is in this file but the dispatches'
//! (`schedule.rs`); the model's shape becomes one in `operator.rs`
//! (`OperatorShape::of`, beside the upload), where every match over the
//! model's forms on the GPU is.

use super::kernels::{BatchShape, DenseShape, Family};
use super::pipelines::{Generated, PipelineKey};

/// The operator's shape on the GPU.
#[derive(Clone, Debug, PartialEq)]
pub enum OperatorShape {
    /// Dense M in row blocks (first row, rows).
    Dense {
        /// The row blocks, each within one storage binding.
        blocks: Vec<(u32, u32)>,
        /// `dense_step`'s shape.
        row_shape: DenseShape,
        /// `dense_step` for every batch size (a shape was set for it, as
        /// `attractor bench --tune` does), not `dense_batch` above
        /// `DENSE_TILE` trials.
        row_kernel_only: bool,
        /// M is generated in the kernel (`random` weights), not read:
        /// one block, `dense_step` for every batch size, no weight bytes.
        generated: bool,
    },
    /// diag(d) + sum_r coef_r U_r V_r^T.
    Structured {
        /// R.
        rank: u32,
        /// U is stored apart from V.
        separate_u: bool,
        /// There is a diagonal.
        diag: bool,
        /// Row 0 of the table is all ones (the ring's uniform mode): never read.
        unit_row0: bool,
        /// The table is bit-packed ±1 patterns: a row is ceil(N / 32) words.
        packed: bool,
    },
    /// A Gaussian kernel on a torus: two separable passes per stage.
    Convolution {
        /// Neurons per side.
        side: u32,
        /// The Gaussians.
        terms: u32,
    },
    /// Sparse M in compressed rows: `sparse_step`.
    Sparse {
        /// The entries.
        nnz: u64,
        /// Heavy rows, a workgroup each (taken first).
        heavy: u32,
        /// Lanes per light row ([`sparse_lanes`]).
        lanes: u32,
        /// Factored terms, T (`factor_project` runs before each step when
        /// there are any).
        terms: u32,
        /// Their rows in all (each u's length).
        factor_rows: u64,
        /// Their columns in all (each v's length).
        factor_columns: u64,
    },
}

/// Lanes `sparse_step` gives each light row of a matrix with `mean`
/// entries a row: a thread per row below 4 entries, then a power of two
/// near half the mean, up to a subgroup of 32 for rows of 64 entries and
/// more (each lane then sums about 2 entries or more).
pub fn sparse_lanes(mean: f64) -> u32 {
    let half = (mean / 2.0).max(1.0) as u32;
    (1u32 << (31 - half.leading_zeros())).clamp(1, 32)
}

/// The subgroup width `sparse_step` sums its lanes with on an adapter
/// whose subgroups are `min` to `max` invocations wide: that width where
/// every subgroup has it (a power of two, so that a row's lanes and a
/// subgroup tile each other), else 0 (the workgroup-memory tree).
pub fn sparse_subgroup(min: u32, max: u32) -> u32 {
    if min == max && min.is_power_of_two() && min <= 256 {
        min
    } else {
        0
    }
}

/// Row blocks (first row, rows) of a dense N×N matrix, rows padded to whole
/// vec4s, each block within `max_binding` bytes.
pub fn row_blocks(n: usize, max_binding: u64) -> Vec<(u32, u32)> {
    let row_bytes = n.div_ceil(4) as u64 * 16;
    let per_block = ((max_binding / row_bytes.max(1)) as usize).clamp(1, n.max(1));
    (0..n)
        .step_by(per_block)
        .map(|r0| (r0 as u32, per_block.min(n - r0) as u32))
        .collect()
}

/// How packed patterns of N = `n` units and P = `p` patterns are split over
/// bindings of `max_binding` bytes: (blocks of 32 units in all, blocks per
/// binding).
pub fn packed_split(n: usize, p: usize, max_binding: u64) -> (usize, usize) {
    let words = crate::model::PatternBits::words(n);
    let per = ((max_binding / (p as u64 * 4).max(1)) as usize).clamp(1, words);
    (words, per)
}

/// M's buffers on the GPU, as a plan lists them, and what the rest of a
/// run's buffers depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightBuffers {
    /// Each buffer holding M (its tables, bits or taps): its name (the
    /// label without `attractor `) and bytes, in the order
    /// `operator::upload` makes them.
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

impl OperatorShape {
    /// The shape on an adapter of type `device`, with sparse light rows
    /// given `lanes` lanes each where set: by default one on a software
    /// adapter, whose invocations share a few cores and pay more for a
    /// tree's barriers than extra lanes save (N = 2000, K = 100 on
    /// llvmpipe, release build: 2.0e-2 s a step with 32 lanes, 4.2e-3 with
    /// one); the other forms unchanged.
    pub fn on(self, device: wgpu::DeviceType, lanes: Option<u32>) -> Self {
        match self {
            OperatorShape::Sparse {
                nnz,
                heavy,
                lanes: from_rows,
                terms,
                factor_rows,
                factor_columns,
            } => OperatorShape::Sparse {
                nnz,
                heavy,
                terms,
                factor_rows,
                factor_columns,
                lanes: lanes.unwrap_or(if device == wgpu::DeviceType::Cpu {
                    1
                } else {
                    from_rows
                }),
            },
            OperatorShape::Dense { .. }
            | OperatorShape::Structured { .. }
            | OperatorShape::Convolution { .. } => self,
        }
    }

    /// Bytes of one row of the structured table of N = `n` (f32, or bits
    /// when packed).
    pub fn row_bytes(&self, n: u64) -> u64 {
        match self {
            OperatorShape::Structured { packed: true, .. } => n.div_ceil(32) * 4,
            OperatorShape::Structured { packed: false, .. }
            | OperatorShape::Dense { .. }
            | OperatorShape::Convolution { .. }
            | OperatorShape::Sparse { .. } => n * 4,
        }
    }

    /// Rows of the structured table that are read (not all ones); 0 for dense.
    pub fn stored_rows(&self) -> u64 {
        match self {
            OperatorShape::Dense { .. }
            | OperatorShape::Convolution { .. }
            | OperatorShape::Sparse { .. } => 0,
            OperatorShape::Structured {
                rank, unit_row0, ..
            } => u64::from(*rank) - u64::from(*unit_row0),
        }
    }

    /// Floating-point operations of one product by M of one trial of N =
    /// `n`, a multiply-add counted as 2: 2N² for dense and generated M
    /// (the generation itself is not counted), 4NR for a structured form
    /// of rank R (R projections and their expansion; P for packed
    /// patterns), 2 side N multiply-adds per Gaussian and pass (two
    /// passes) for a convolution, and for sparse M each entry and each
    /// factored term's v . operand and u times it.
    pub fn flops(&self, n: f64) -> f64 {
        match *self {
            OperatorShape::Dense { .. } => 2.0 * n * n,
            OperatorShape::Structured { rank, .. } => 4.0 * f64::from(rank) * n,
            OperatorShape::Convolution { side, terms } => {
                2.0 * 2.0 * f64::from(terms) * f64::from(side) * n
            }
            OperatorShape::Sparse {
                nnz,
                factor_rows,
                factor_columns,
                ..
            } => 2.0 * (nnz + factor_rows + factor_columns) as f64,
        }
    }

    /// The fewest bytes of M one stage of a batch of `batch` trials of N =
    /// `n` reads: M, none for generated M, the table rows that are not all
    /// ones and the diagonal, a convolution's even taps and its even row
    /// passes written and read, sparse M's values and columns, row places
    /// and row list and every factored term's u and v.
    pub fn minimum_weight_bytes(&self, n: u64, batch: u64) -> u64 {
        let f = 4u64;
        match self {
            OperatorShape::Dense {
                generated: true, ..
            } => 0,
            OperatorShape::Dense { .. } => n * n * f,
            OperatorShape::Convolution { side, terms } => {
                u64::from(*terms) * (u64::from(*side) + 2 * batch * n) * f
            }
            OperatorShape::Structured {
                separate_u, diag, ..
            } => {
                self.stored_rows() * (1 + u64::from(*separate_u)) * self.row_bytes(n)
                    + u64::from(*diag) * n * f
            }
            OperatorShape::Sparse {
                nnz,
                factor_rows,
                factor_columns,
                ..
            } => (2 * nnz + 2 * n + 1 + factor_rows + factor_columns) * f,
        }
    }

    /// M's buffers for N = `n` (rows padded to `n_pad`), each within
    /// `max_binding` bytes. An empty buffer holds one float (WebGPU has no
    /// empty bindings).
    pub fn weight_buffers(&self, n: u64, n_pad: u64, max_binding: u64) -> WeightBuffers {
        let floats = |count: u64| 4 * count.max(1);
        let mut v = Vec::new();
        let (operand, projections, rank) = match *self {
            OperatorShape::Dense {
                ref blocks,
                generated,
                ..
            } => {
                if generated {
                    v.push(("M (generated)", 16));
                } else {
                    for &(_, rows) in blocks {
                        v.push(("M block", 4 * u64::from(rows) * n_pad));
                    }
                }
                (true, 0, 0)
            }
            OperatorShape::Structured {
                rank,
                separate_u,
                diag,
                packed,
                ..
            } => {
                let r = u64::from(rank);
                if packed {
                    v.push(("V (packed)", 16));
                    v.push(("coef", floats(r)));
                    v.push(("diag", floats(n)));
                    let (words, per) = packed_split(n as usize, rank as usize, max_binding);
                    let mut left = words as u64;
                    while left > 0 {
                        let w = left.min(per as u64);
                        v.push(("pattern bits", 4 * w * r));
                        left -= w;
                    }
                } else {
                    v.push(("V", floats(r * n)));
                    if separate_u {
                        v.push(("U", floats(r * n)));
                    }
                    v.push(("coef", floats(r)));
                    if diag {
                        v.push(("diag", floats(n)));
                    }
                }
                (false, r, r)
            }
            OperatorShape::Sparse {
                nnz,
                terms,
                factor_rows,
                factor_columns,
                ..
            } => {
                v.push(("row places", floats(n + 1)));
                v.push(("columns", floats(nnz)));
                v.push(("values", floats(nnz)));
                v.push(("row list", floats(n)));
                // One zero term and one number when there are none.
                let t = u64::from(terms);
                v.push(("factor terms", 32 * t.max(1)));
                v.push(("factor numbers", floats(factor_rows + factor_columns)));
                (true, 0, 0)
            }
            OperatorShape::Convolution { side, terms } => {
                let t = u64::from(terms);
                v.push(("taps", floats(2 * t * u64::from(side))));
                v.push(("coef", floats(t)));
                v.push(("metric table", floats(4 * n)));
                (false, 2 * t * n, t)
            }
        };
        WeightBuffers {
            buffers: v,
            operand,
            projections,
            rank,
        }
    }

    /// Sparse M's factored terms, T (0 for the other forms).
    pub fn factor_terms(&self) -> u64 {
        match *self {
            OperatorShape::Sparse { terms, .. } => u64::from(terms),
            OperatorShape::Dense { .. }
            | OperatorShape::Structured { .. }
            | OperatorShape::Convolution { .. } => 0,
        }
    }

    /// Whether a batch of any size steps with the row kernels (every form
    /// but dense M whose row shape was not set, which takes `dense_batch`
    /// above `DENSE_TILE` trials).
    pub fn row_kernel_only(&self) -> bool {
        match *self {
            OperatorShape::Dense {
                row_kernel_only, ..
            } => row_kernel_only,
            OperatorShape::Structured { .. }
            | OperatorShape::Convolution { .. }
            | OperatorShape::Sparse { .. } => true,
        }
    }

    /// Whether M is a convolution (whose passes may run staged).
    pub fn convolution(&self) -> bool {
        match self {
            OperatorShape::Convolution { .. } => true,
            OperatorShape::Dense { .. }
            | OperatorShape::Structured { .. }
            | OperatorShape::Sparse { .. } => false,
        }
    }

    /// Rows of dense M's largest row block (0 for the other forms).
    pub fn largest_block(&self) -> u64 {
        match self {
            OperatorShape::Dense { blocks, .. } => {
                blocks.iter().map(|&(_, r)| u64::from(r)).max().unwrap_or(0)
            }
            OperatorShape::Structured { .. }
            | OperatorShape::Convolution { .. }
            | OperatorShape::Sparse { .. } => 0,
        }
    }

    /// Floats of projections each trial keeps for `rank` projections: a
    /// convolution's 2 `rank` row passes of `n` (even and odd taps), else
    /// `rank`.
    pub fn projections_per_trial(&self, rank: usize, n: usize) -> usize {
        match self {
            OperatorShape::Convolution { .. } => 2 * rank * n,
            OperatorShape::Dense { .. }
            | OperatorShape::Structured { .. }
            | OperatorShape::Sparse { .. } => rank,
        }
    }

    /// Lanes a light row of sparse M gets (1 for the other forms).
    pub fn light_row_lanes(&self) -> u32 {
        match *self {
            OperatorShape::Sparse { lanes, .. } => lanes,
            OperatorShape::Dense { .. }
            | OperatorShape::Structured { .. }
            | OperatorShape::Convolution { .. } => 1,
        }
    }

    /// The step's pipeline and its bind group layout's family for a batch
    /// of `batch` trials: the dense batch kernel in `batch_shape` where it
    /// is used, else the row kernels (with `generated` M's constants); the
    /// structured kernels (packed patterns' bits in buffers of
    /// `packed_words`, a convolution's passes `staged` or not); sparse M's
    /// kernel. `subgroups`: the adapter's subgroup sizes where subgroups
    /// are used, `None` for the workgroup-memory trees.
    pub fn pipeline(
        &self,
        batch: u32,
        batch_shape: Option<BatchShape>,
        staged: bool,
        packed_words: Option<u32>,
        generated: Option<Generated>,
        subgroups: Option<(u32, u32)>,
    ) -> (Family, PipelineKey) {
        match *self {
            OperatorShape::Sparse { heavy, lanes, .. } => (
                Family::Dense,
                PipelineKey::Sparse {
                    lanes,
                    groups: sparse_groups(batch, lanes),
                    heavy,
                    subgroup: subgroups.map_or(0, |(min, max)| sparse_subgroup(min, max)),
                },
            ),
            OperatorShape::Structured { .. } | OperatorShape::Convolution { .. } => (
                Family::Structured,
                PipelineKey::Structured {
                    subgroups: subgroups.is_some(),
                    packed: packed_words,
                    staged,
                },
            ),
            OperatorShape::Dense { row_shape, .. } => match batch_shape {
                Some(shape) => (Family::Dense, PipelineKey::DenseBatch(shape)),
                None => (
                    Family::Dense,
                    PipelineKey::Dense {
                        shape: row_shape,
                        generated,
                        subgroups: subgroups.is_some_and(|(min, max)| {
                            super::kernels::dense_subgroups(row_shape, min, max)
                        }),
                    },
                ),
            },
        }
    }
}

/// Trial tiles of `DENSE_TILE` per `sparse_step` workgroup
/// (`SPARSE_GROUPS`) for a batch of `batch` trials: enough for the batch,
/// at most 16, and at most 256 threads with the light rows' `lanes`.
pub fn sparse_groups(batch: u32, lanes: u32) -> u32 {
    let tiles = batch.div_ceil(super::kernels::DENSE_TILE).max(1);
    tiles
        .next_power_of_two()
        .min(16)
        .min(super::kernels::SPARSE_THREADS / lanes.max(1))
}
