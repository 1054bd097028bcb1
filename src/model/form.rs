//! What M is to a product: its computational form ([`Form`]), the same
//! without its tables ([`Shape`]), and the geometry of the neurons it
//! connects ([`Geometry`]).
//!
//! The weight kinds of a file ([`super::Weights`]) are many; the ways a
//! backend can multiply by M are few. Every kind maps to one form, once
//! ([`super::Weights::form`]); backends, `modes`, the metrics, the cost
//! models and bench match on the form or its shape, exhaustively, so that
//! the compiler lists every place a new form must be handled.

use super::{Csr, Factors, GaussianKernel, PatternBits, Rotation};
use std::borrow::Cow;
use std::sync::Arc;

/// The computational form of M, with its tables (borrowed from the
/// weights where they are stored as they are used).
#[derive(Clone, Debug)]
pub enum Form<'a> {
    /// Stored entries, N×N row-major (`matrix`, `file`, and `random`
    /// weights materialised).
    Dense {
        /// N.
        n: usize,
        /// The entries, row-major.
        m: Cow<'a, [f64]>,
    },
    /// diag(d) + sum_r coef_r U_r V_r^T (`diagonal`, `ring`, `torus`,
    /// float `hebbian`, `low_rank`).
    Structured(StructuredForm),
    /// Hebbian weights of ±1 patterns kept as bits: (1/N) sum_mu xi^mu
    /// (xi^mu)^T - (P/N) I, computed from the bits.
    Packed {
        /// N.
        n: usize,
        /// The patterns.
        bits: &'a Arc<PatternBits>,
    },
    /// `random` weights generated at every product, never stored.
    Generated(Generator),
    /// A kernel of the distance on a torus: a 2D circulant (`gaussian`).
    Convolution(&'a GaussianKernel),
    /// Stored entries in compressed rows (`sparse`, a network's
    /// projections), plus terms kept as their factors (a network's
    /// structured projections: none for other weights).
    Sparse(&'a Arc<Csr>, &'a Factors),
}

impl Form<'_> {
    /// Every nonzero entry as `put(i, j, M_ij)`, where the form gives
    /// them without its N×N matrix: sparse M's rows (its factored terms
    /// expanded first, N² numbers when it has any) and generated M's rows.
    /// `false` for the other forms, whose entries are those of the dense
    /// matrix ([`super::Weights::to_dense`]), and nothing is put.
    pub fn each_entry(&self, put: &mut impl FnMut(usize, usize, f64)) -> bool {
        match self {
            Form::Sparse(csr, factors) => {
                let n = csr.n();
                let mut dense_terms = vec![0.0; if factors.terms.is_empty() { 0 } else { n * n }];
                factors.add_to_dense(&mut dense_terms);
                for (k, &x) in dense_terms.iter().enumerate() {
                    put(k / n, k % n, x);
                }
                for i in 0..n {
                    let (c, v) = csr.row(i);
                    for (&j, &x) in c.iter().zip(v) {
                        put(i, j as usize, x);
                    }
                }
                true
            }
            Form::Generated(g) => {
                for i in 0..g.n {
                    g.row(i, |j, x| put(i, j, x));
                }
                true
            }
            Form::Dense { .. }
            | Form::Structured(_)
            | Form::Packed { .. }
            | Form::Convolution(_) => false,
        }
    }

    /// N.
    pub fn n(&self) -> usize {
        match self {
            Form::Dense { n, .. } | Form::Packed { n, .. } => *n,
            Form::Structured(s) => s.n,
            Form::Generated(g) => g.n,
            Form::Convolution(k) => k.n(),
            Form::Sparse(csr, _) => csr.n(),
        }
    }

    /// Its shape, read from the tables themselves (what
    /// [`super::Weights::shape`] states without them).
    pub fn shape(&self) -> Shape {
        match self {
            Form::Dense { n, .. } => Shape::Dense { n: *n },
            Form::Structured(s) => Shape::Structured(StructuredShape {
                n: s.n,
                rank: s.rank(),
                separate_u: s.u.is_some(),
                diag: s.diag.is_some(),
                unit_row0: s.unit_row(0),
            }),
            Form::Packed { n, bits } => Shape::Packed {
                n: *n,
                patterns: bits.p(),
                unit_row0: bits.first_all_ones(),
            },
            Form::Generated(g) => Shape::Generated { n: g.n },
            Form::Convolution(k) => Shape::Convolution {
                side: k.side,
                terms: k.terms.len(),
            },
            Form::Sparse(csr, factors) => Shape::Sparse {
                n: csr.n(),
                nnz: csr.nnz(),
                longest_row: csr.longest_row(),
                heavy_rows: csr.heavy_rows(),
                factors: factors.terms.len(),
                factor_rows: factors.rows(),
                factor_columns: factors.columns(),
            },
        }
    }
}

/// A [`Form`] without its tables: what sizes and costs depend on, known
/// at no cost in N (but an O(N) look at a first Hebbian pattern).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// N×N stored entries.
    Dense {
        /// N.
        n: usize,
    },
    /// diag(d) + sum_r coef_r U_r V_r^T.
    Structured(StructuredShape),
    /// P ±1 patterns of N units as bits.
    Packed {
        /// N.
        n: usize,
        /// P.
        patterns: usize,
        /// Pattern 0 is all +1 (its overlap is the sum of the operand).
        unit_row0: bool,
    },
    /// Generated rows of N entries.
    Generated {
        /// N.
        n: usize,
    },
    /// A circulant on a side × side torus of one or two Gaussians.
    Convolution {
        /// Neurons per side.
        side: usize,
        /// The Gaussians.
        terms: usize,
    },
    /// Stored entries in compressed rows.
    Sparse {
        /// N.
        n: usize,
        /// The entries.
        nnz: usize,
        /// The most entries in one row.
        longest_row: usize,
        /// Rows far longer than the mean ([`super::heavy_row_threshold`]).
        heavy_rows: usize,
        /// Terms kept as factors ([`super::Factors`]).
        factors: usize,
        /// Their rows in all (each u's length).
        factor_rows: usize,
        /// Their columns in all (each v's length).
        factor_columns: usize,
    },
}

impl Shape {
    /// N.
    pub fn n(&self) -> usize {
        match *self {
            Shape::Dense { n }
            | Shape::Packed { n, .. }
            | Shape::Generated { n }
            | Shape::Sparse { n, .. } => n,
            Shape::Structured(s) => s.n,
            Shape::Convolution { side, .. } => side * side,
        }
    }
}

/// The shape of a [`StructuredForm`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StructuredShape {
    /// N.
    pub n: usize,
    /// R.
    pub rank: usize,
    /// U is stored apart from V.
    pub separate_u: bool,
    /// There is a diagonal.
    pub diag: bool,
    /// Row 0 of V is all ones and U = V (the ring's uniform mode): a
    /// product never needs to read it.
    pub unit_row0: bool,
}

impl StructuredShape {
    /// Rows of the tables a product reads: U's rows but an all-ones row
    /// 0, all of V's too where U differs, and the diagonal.
    pub fn rows_read(&self) -> usize {
        let rows = if self.separate_u {
            2 * self.rank
        } else {
            self.rank - usize::from(self.unit_row0)
        };
        rows + usize::from(self.diag)
    }

    /// Rows the tables store: R of V, R of U where it differs, the diagonal.
    pub fn rows_stored(&self) -> usize {
        self.rank * (1 + usize::from(self.separate_u)) + usize::from(self.diag)
    }
}

/// Where the neurons sit and which of the form's rows mean something
/// beyond the product: the angles of a place, the turned pairs of a
/// velocity, the rows whose products with the rates are metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    /// Angles of a neuron's place: 1 on a ring, 2 on a torus, 0 without.
    pub dims: usize,
    /// Neurons per side of a torus (0 for other weights).
    pub side: usize,
    /// The pairs of rows a velocity turns (the ring's cos and sin, the
    /// torus's of each axis; one per axis for a Gaussian kernel, whose
    /// turn is its odd taps).
    pub rotations: Vec<Rotation>,
    /// Rows of the form's V (or, for a Gaussian kernel, of its metric
    /// table) whose products with the rates are metrics: the ring's cos
    /// and sin, the torus's four, the Hebbian patterns.
    pub metric_rows: std::ops::Range<usize>,
    /// P of Hebbian weights, else 0.
    pub patterns: usize,
}

impl Geometry {
    /// A network without places, turns or metric rows.
    pub fn none() -> Self {
        Geometry {
            dims: 0,
            side: 0,
            rotations: Vec::new(),
            metric_rows: 0..0,
            patterns: 0,
        }
    }
}

/// `random` weights as a generator: M_ij = g J_ij / sqrt(p N) where
/// connection (i, j) exists ([`super::Weights::Random`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Generator {
    /// N.
    pub n: usize,
    /// The gain g.
    pub g: f64,
    /// The connection probability p.
    pub sparsity: f64,
    /// The seed of J and of the connections.
    pub seed: u64,
}

impl Generator {
    /// Row `i`'s entries, each passed to `put(j, M_ij)` in column order
    /// ([`random_row`]).
    pub fn row(&self, i: usize, put: impl FnMut(usize, f64)) {
        random_row(self.n, self.g, self.sparsity, self.seed, i, put)
    }

    /// g / sqrt(p N), the scale of a connection's normal draw.
    pub fn scale(&self) -> f64 {
        self.g / (self.sparsity * self.n as f64).sqrt()
    }

    /// The whole matrix, N×N row-major (rows in parallel).
    pub fn matrix(&self) -> Vec<f64> {
        use rayon::prelude::*;
        let n = self.n;
        let mut m = vec![0.0; n * n];
        m.par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(i, row)| self.row(i, |j, x| row[j] = x));
        m
    }
}

/// Entries of row `i` of `random` weights of `n` neurons (see
/// [`super::Weights::Random`]), each passed to `put(j, M_ij)` in column
/// order: the one definition the CPU operator, the materialised matrix and
/// the tests share (the GPU kernel `dense_step` computes the same in f32).
pub fn random_row(
    n: usize,
    g: f64,
    sparsity: f64,
    seed: u64,
    i: usize,
    mut put: impl FnMut(usize, f64),
) {
    let scale = g / (sparsity * n as f64).sqrt();
    // Compared in f32, as the GPU does (the uniforms are exact in f32).
    let p = f64::from(sparsity as f32);
    for col4 in 0..n.div_ceil(4) {
        let z = crate::rng::weight_normals(seed, i as u32, col4 as u32);
        let keep = if p < 1.0 {
            crate::rng::connection_uniforms(seed, i as u32, col4 as u32).map(|u| u < p)
        } else {
            [true; 4]
        };
        for k in 0..4.min(n - 4 * col4) {
            put(4 * col4 + k, if keep[k] { scale * z[k] } else { 0.0 });
        }
    }
}

/// The normalised form of every structured kind:
/// M = diag(d) + sum_r coef_r U_r V_r^T, with U_r and V_r vectors of N and
/// explicit coefficients (ring: V = [1, cos theta, sin theta], U = V, coef =
/// (2/N) [-lambda0, lambda1, lambda1]; Hebbian: V = U = the patterns,
/// coef = 1/N, d = minus the self-coupling that the zero diagonal removes;
/// low rank: V and U the columns of the files, coef = 1; diagonal: R = 0).
///
/// It is the one input of the CPU operator, the GPU upload and the
/// eigen-analysis for [`Form::Structured`]: each reads the tables as they
/// are here, so a new kind with a low-rank form needs only its arm of
/// [`super::Weights::structured`].
#[derive(Clone, Debug, PartialEq)]
pub struct StructuredForm {
    /// N.
    pub n: usize,
    /// The diagonal d; `None` when it is zero.
    pub diag: Option<Vec<f64>>,
    /// The R coefficients.
    pub coef: Vec<f64>,
    /// V as R rows of N (row r is V_r, contiguous).
    pub v: Vec<f64>,
    /// U as R rows of N; `None` when U = V.
    pub u: Option<Vec<f64>>,
    /// The pairs of rows a velocity turns (the ring's cos and sin).
    pub rotations: Vec<Rotation>,
}

impl StructuredForm {
    /// The rank R.
    pub fn rank(&self) -> usize {
        self.coef.len()
    }

    /// For each row r: whether V_r is all ones and U = V (the ring's
    /// uniform mode), so that its projection is a plain sum and its
    /// expansion a constant: no product needs to read it.
    pub fn unit_rows(&self) -> Vec<bool> {
        (0..self.rank()).map(|r| self.unit_row(r)).collect()
    }

    /// Whether row r exists, is all ones, and U = V (see
    /// [`StructuredForm::unit_rows`]).
    pub fn unit_row(&self, r: usize) -> bool {
        r < self.rank() && self.u.is_none() && self.v_row(r).iter().all(|&x| x == 1.0)
    }

    /// Row r of V.
    pub fn v_row(&self, r: usize) -> &[f64] {
        &self.v[r * self.n..(r + 1) * self.n]
    }

    /// U as R rows of N (V itself when U = V).
    pub fn u_rows(&self) -> &[f64] {
        self.u.as_deref().unwrap_or(&self.v)
    }

    /// The diagonal, zeros when there is none.
    pub fn d(&self) -> Vec<f64> {
        self.diag.clone().unwrap_or_else(|| vec![0.0; self.n])
    }

    /// U with the coefficients folded in, N×R (column r = coef_r U_r).
    pub fn u_matrix(&self) -> nalgebra::DMatrix<f64> {
        let (n, u) = (self.n, self.u_rows());
        nalgebra::DMatrix::from_fn(n, self.rank(), |i, r| self.coef[r] * u[r * n + i])
    }

    /// V, N×R (column r = V_r).
    pub fn v_matrix(&self) -> nalgebra::DMatrix<f64> {
        let n = self.n;
        nalgebra::DMatrix::from_fn(n, self.rank(), |i, r| self.v[r * n + i])
    }

    /// M as a dense row-major N×N matrix (small N only).
    pub fn to_dense(&self) -> Vec<f64> {
        let (n, u) = (self.n, self.u_rows());
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let mut x = 0.0;
                for r in 0..self.rank() {
                    x += self.coef[r] * u[r * n + i] * self.v[r * n + j];
                }
                m[i * n + j] = x;
            }
            if let Some(d) = &self.diag {
                m[i * n + i] += d[i];
            }
        }
        m
    }
}
