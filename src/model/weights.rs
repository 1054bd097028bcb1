//! The recurrent weights M, kept in the form they were given: dense only for
//! `matrix` and `file`, low rank for `ring`, `hebbian` and `low_rank`.

use super::theta;
use super::{GaussianKernel, PatternBits};
use rayon::prelude::*;
use std::borrow::Cow;
use std::sync::Arc;

/// The recurrent weights M (row = postsynaptic, column = presynaptic).
#[derive(Clone, Debug)]
pub enum Weights {
    /// A dense N×N matrix, row-major (`matrix` or `file`).
    Dense {
        /// N.
        n: usize,
        /// The N×N entries, row-major.
        m: Vec<f64>,
    },
    /// diag(values): one autapse per neuron.
    Diagonal {
        /// The N diagonal entries.
        values: Vec<f64>,
    },
    /// M_ij = (2/N)(-lambda0 + lambda1 cos(theta_i - theta_j)).
    Ring {
        /// N.
        n: usize,
        /// Uniform inhibition; the uniform mode has eigenvalue -2 lambda0.
        lambda0: f64,
        /// Cosine strength; the cos and sin modes have eigenvalue lambda1.
        lambda1: f64,
    },
    /// A sheet of side × side neurons with periodic boundaries (a torus):
    /// neuron i = row side + col at (x, y) = (theta(col, side),
    /// theta(row, side)), M_ij = (2/N)(-lambda0 + lambda1 (cos(x_i - x_j) +
    /// cos(y_i - y_j))).
    Torus {
        /// N = side².
        n: usize,
        /// Neurons per side.
        side: usize,
        /// Uniform inhibition; the uniform mode has eigenvalue -2 lambda0.
        lambda0: f64,
        /// Cosine strength; the cos and sin modes of x and of y have
        /// eigenvalue lambda1.
        lambda1: f64,
    },
    /// A Gaussian or Mexican-hat kernel on a torus of side × side neurons
    /// ([`GaussianKernel`]): M_ij depends on the distance between the two
    /// places, and a product is a convolution (by FFT on the CPU).
    Gaussian(GaussianKernel),
    /// M = (1/N) sum_mu xi^mu (xi^mu)^T with zero diagonal.
    Hebbian {
        /// N.
        n: usize,
        /// Number of patterns P.
        p: usize,
        /// The P×N patterns xi, row-major (row mu is pattern mu).
        xi: Vec<f64>,
    },
    /// Hebbian weights of ±1 patterns stored as bits (`packed = true`):
    /// the same M as [`Weights::Hebbian`] with those patterns, its
    /// diagonal correction P/N, and 32 times less memory than f32.
    PackedHebbian {
        /// N.
        n: usize,
        /// The patterns (shared: cloning the weights does not copy them).
        bits: Arc<PatternBits>,
    },
    /// M = U V^T with U, V of shape N×R.
    LowRank {
        /// N.
        n: usize,
        /// Rank R.
        rank: usize,
        /// U, N×R row-major.
        u: Vec<f64>,
        /// V, N×R row-major.
        v: Vec<f64>,
    },
    /// M_ij = g J_ij / sqrt(p N) where connection (i, j) exists (each with
    /// probability p, drawn in f32), else 0; J_ij standard normal from the counter-based
    /// generator keyed by (seed, i, j) ([`crate::rng::weight_normals`]), so
    /// M is a pure function of its parameters and need not be stored.
    Random {
        /// N.
        n: usize,
        /// The gain g: the eigenvalues fill the disk of radius g as N grows.
        g: f64,
        /// The connection probability p in (0, 1]; 1 is dense.
        sparsity: f64,
        /// Seed of J and of the connections (fixed across trials).
        seed: u64,
        /// Store M as a dense matrix (faster on the CPU, N² floats of
        /// memory) instead of generating its rows at every product.
        materialise: bool,
    },
}

/// Entries of row `i` of `random` weights of `n` neurons (see
/// [`Weights::Random`]), each passed to `put(j, M_ij)` in column order:
/// the one definition the CPU operator, the materialised matrix and the
/// tests share (the GPU kernel `dense_step` computes the same in f32).
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
/// eigen-analysis: each reads the tables as they are here, so a new kind
/// with a low-rank form needs only its arm of [`Weights::structured`].
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
    pub rotations: Vec<super::Rotation>,
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
        (0..self.rank())
            .map(|r| self.u.is_none() && self.v_row(r).iter().all(|&x| x == 1.0))
            .collect()
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
}

/// cos theta_i and sin theta_i of a ring of `n` (theta_i = -pi + 2 pi i / N).
pub fn ring_angles(n: usize) -> (Vec<f64>, Vec<f64>) {
    (0..n)
        .map(|i| (theta(i, n).cos(), theta(i, n).sin()))
        .unzip()
}

/// The entry of largest magnitude (with its sign), or 1 when all are zero:
/// the scale a sweep divides out of weights and inputs.
pub fn largest(v: impl IntoIterator<Item = f64>) -> f64 {
    let m = v
        .into_iter()
        .fold(0.0f64, |a, x| if x.abs() > a.abs() { x } else { a });
    if m == 0.0 {
        1.0
    } else {
        m
    }
}

/// Transposes an N×R row-major array into R rows of N.
fn rows_of(n: usize, rank: usize, m: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; rank * n];
    for i in 0..n {
        for r in 0..rank {
            out[r * n + i] = m[i * rank + r];
        }
    }
    out
}

impl Weights {
    /// N.
    pub fn n(&self) -> usize {
        match self {
            Weights::Dense { n, .. }
            | Weights::Ring { n, .. }
            | Weights::Torus { n, .. }
            | Weights::Hebbian { n, .. }
            | Weights::LowRank { n, .. }
            | Weights::PackedHebbian { n, .. }
            | Weights::Random { n, .. } => *n,
            Weights::Diagonal { values } => values.len(),
            Weights::Gaussian(k) => k.n(),
        }
    }

    /// A short name of the kind: dense, diagonal, ring, hebbian, low_rank, random.
    pub fn kind(&self) -> &'static str {
        match self {
            Weights::Dense { .. } => "dense",
            Weights::Diagonal { .. } => "diagonal",
            Weights::Ring { .. } => "ring",
            Weights::Torus { .. } => "torus",
            Weights::Gaussian(_) => "gaussian",
            Weights::Hebbian { .. } | Weights::PackedHebbian { .. } => "hebbian",
            Weights::LowRank { .. } => "low_rank",
            Weights::Random { .. } => "random",
        }
    }

    /// Whether M is generated at every product rather than stored
    /// (`random` weights with `materialise = false`).
    pub fn generated(&self) -> bool {
        matches!(
            self,
            Weights::Random {
                materialise: false,
                ..
            }
        )
    }

    /// The number of patterns of a Hebbian network, else 0.
    pub fn patterns(&self) -> usize {
        match self {
            Weights::Hebbian { p, .. } => *p,
            Weights::PackedHebbian { bits, .. } => bits.p(),
            _ => 0,
        }
    }

    /// Pattern `mu` of a Hebbian network, f64 or packed, as values.
    pub fn pattern_values(&self, mu: usize) -> Option<Cow<'_, [f64]>> {
        match self {
            Weights::PackedHebbian { bits, .. } if mu < bits.p() => {
                Some(Cow::Owned(bits.pattern(mu)))
            }
            _ => self.pattern(mu).map(Cow::Borrowed),
        }
    }

    /// Pattern `mu` of a Hebbian network of f64 patterns (packed ones:
    /// [`Weights::pattern_values`]).
    pub fn pattern(&self, mu: usize) -> Option<&[f64]> {
        match self {
            Weights::Hebbian { n, p, xi } if mu < *p => Some(&xi[mu * n..(mu + 1) * n]),
            _ => None,
        }
    }

    /// The Hebbian diagonal correction d_i = (1/N) sum_mu (xi_i^mu)^2 that is
    /// subtracted to make the diagonal zero.
    pub fn hebbian_self_coupling(n: usize, p: usize, xi: &[f64]) -> Vec<f64> {
        let mut d = vec![0.0; n];
        for mu in 0..p {
            for (di, x) in d.iter_mut().zip(&xi[mu * n..(mu + 1) * n]) {
                *di += x * x;
            }
        }
        d.iter_mut().for_each(|x| *x /= n as f64);
        d
    }

    /// Whether M equals its transpose (to 1e-12 relative for dense matrices).
    pub fn is_symmetric(&self) -> bool {
        match self {
            Weights::Dense { n, m } => {
                let scale = m.iter().fold(0.0f64, |a, x| a.max(x.abs())).max(1e-300);
                (0..*n)
                    .all(|i| (0..i).all(|j| (m[i * n + j] - m[j * n + i]).abs() <= 1e-12 * scale))
            }
            Weights::Diagonal { .. }
            | Weights::Ring { .. }
            | Weights::Torus { .. }
            | Weights::Gaussian(_)
            | Weights::Hebbian { .. }
            | Weights::PackedHebbian { .. } => true,
            // Independent entries: symmetric only when there is one.
            Weights::Random { n, .. } => *n <= 1,
            Weights::LowRank { n, rank, u, v } => {
                let scale = u.iter().chain(v).fold(0.0f64, |a, x| a.max(x.abs()));
                let tol = 1e-12 * scale * scale * *rank as f64;
                (0..*n).all(|i| {
                    (0..i).all(|j| {
                        let mij: f64 = (0..*rank).map(|r| u[i * rank + r] * v[j * rank + r]).sum();
                        let mji: f64 = (0..*rank).map(|r| u[j * rank + r] * v[i * rank + r]).sum();
                        (mij - mji).abs() <= tol
                    })
                })
            }
        }
    }

    /// M as a dense row-major N×N matrix. Only for small N: tests compare the
    /// structured operators with it, and the eigen-solver falls back to it.
    pub fn to_dense(&self) -> Vec<f64> {
        let Some(s) = self.structured() else {
            return match self {
                Weights::Dense { m, .. } => m.clone(),
                Weights::Random {
                    n,
                    g,
                    sparsity,
                    seed,
                    ..
                } => {
                    let mut m = vec![0.0; n * n];
                    m.par_chunks_mut((*n).max(1))
                        .enumerate()
                        .for_each(|(i, row)| {
                            random_row(*n, *g, *sparsity, *seed, i, |j, x| row[j] = x)
                        });
                    m
                }
                Weights::Gaussian(k) => {
                    let n = k.n();
                    let mut m = vec![0.0; n * n];
                    m.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
                        row.iter_mut()
                            .enumerate()
                            .for_each(|(j, x)| *x = k.entry(i, j))
                    });
                    m
                }
                _ => unreachable!("only dense, random and gaussian weights lack a structured form"),
            };
        };
        let (n, u) = (s.n, s.u_rows());
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let mut x = 0.0;
                for r in 0..s.rank() {
                    x += s.coef[r] * u[r * n + i] * s.v[r * n + j];
                }
                m[i * n + j] = x;
            }
            if let Some(d) = &s.diag {
                m[i * n + i] += d[i];
            }
        }
        m
    }

    /// The normalised structured form of every kind but dense and random
    /// (None for those).
    pub fn structured(&self) -> Option<StructuredForm> {
        let n = self.n();
        let none = StructuredForm {
            n,
            diag: None,
            coef: Vec::new(),
            v: Vec::new(),
            u: None,
            rotations: Vec::new(),
        };
        Some(match self {
            Weights::Dense { .. } | Weights::Random { .. } | Weights::Gaussian(_) => return None,
            Weights::Diagonal { values } => StructuredForm {
                diag: Some(values.clone()),
                ..none
            },
            Weights::Ring {
                lambda0, lambda1, ..
            } => {
                let s = 2.0 / n as f64;
                let (cos, sin) = ring_angles(n);
                let mut v = vec![1.0; n];
                v.extend(cos);
                v.extend(sin);
                StructuredForm {
                    coef: vec![-s * lambda0, s * lambda1, s * lambda1],
                    v,
                    rotations: self.rotations(),
                    ..none
                }
            }
            Weights::Torus {
                lambda0, lambda1, ..
            } => {
                let s = 2.0 / n as f64;
                let mut v = vec![1.0; n];
                v.extend(self.metric_table());
                StructuredForm {
                    coef: vec![
                        -s * lambda0,
                        s * lambda1,
                        s * lambda1,
                        s * lambda1,
                        s * lambda1,
                    ],
                    v,
                    rotations: self.rotations(),
                    ..none
                }
            }
            Weights::Hebbian { p, xi, .. } => StructuredForm {
                diag: Some(
                    Self::hebbian_self_coupling(n, *p, xi)
                        .into_iter()
                        .map(|x| -x)
                        .collect(),
                ),
                coef: vec![1.0 / n as f64; *p],
                v: xi.clone(),
                ..none
            },
            // The patterns as float tables, for small networks only (the
            // operators, the GPU and `modes` read the bits): (xi_i^mu)^2 = 1.
            Weights::PackedHebbian { bits, .. } => StructuredForm {
                diag: Some(vec![-(bits.p() as f64) / n as f64; n]),
                coef: vec![1.0 / n as f64; bits.p()],
                v: bits.values(),
                ..none
            },
            Weights::LowRank { rank, u, v, .. } => StructuredForm {
                coef: vec![1.0; *rank],
                v: rows_of(n, *rank, v),
                u: Some(rows_of(n, *rank, u)),
                ..none
            },
        })
    }

    /// The shape of [`Weights::structured`] without building it: (R, whether
    /// U differs from V, whether there is a diagonal); `None` for dense and
    /// random.
    pub fn structured_shape(&self) -> Option<(usize, bool, bool)> {
        match self {
            Weights::Dense { .. } | Weights::Random { .. } | Weights::Gaussian(_) => None,
            Weights::Diagonal { .. } => Some((0, false, true)),
            Weights::Ring { .. } => Some((3, false, false)),
            Weights::Torus { .. } => Some((5, false, false)),
            Weights::Hebbian { p, .. } => Some((*p, false, true)),
            Weights::PackedHebbian { bits, .. } => Some((bits.p(), false, true)),
            Weights::LowRank { rank, .. } => Some((*rank, true, false)),
        }
    }

    /// The pairs of rows of [`Weights::structured`] that a velocity turns:
    /// the ring's cos and sin (rows 1 and 2), the torus's of each axis; one
    /// per axis for a Gaussian kernel; none for other weights.
    pub fn rotations(&self) -> Vec<super::Rotation> {
        let pair = |cos: usize, axis: usize| super::Rotation {
            cos,
            sin: cos + 1,
            axis,
            wavenumber: 1.0,
        };
        match self {
            Weights::Ring { .. } => vec![pair(1, 0)],
            Weights::Torus { .. } => vec![pair(1, 0), pair(3, 1)],
            // One turn per axis. A Gaussian kernel has no rows: the turn is
            // its odd taps times kappa (`GaussianKernel::entry_turned`), and
            // the rows named here are the pairs the GPU's checks expect.
            Weights::Gaussian(_) => vec![pair(0, 0), pair(2, 1)],
            _ => Vec::new(),
        }
    }

    /// The number of angles a neuron's place has: 1 on a ring, 2 on a
    /// torus, 0 for weights without a geometry.
    pub fn dims(&self) -> usize {
        match self {
            Weights::Ring { .. } => 1,
            Weights::Torus { .. } | Weights::Gaussian(_) => 2,
            _ => 0,
        }
    }

    /// Neurons per side of a torus (0 for other weights).
    pub fn side(&self) -> usize {
        match self {
            Weights::Torus { side, .. } => *side,
            Weights::Gaussian(k) => k.side,
            _ => 0,
        }
    }

    /// Whether row 0 of [`Weights::structured`] is all ones with U = V
    /// (`StructuredForm::unit_rows()[0]`: the ring's uniform mode, or a
    /// first Hebbian pattern of all +1), found without building the form
    /// (O(N) at most): the GPU never reads such a row.
    pub fn unit_row0(&self) -> bool {
        match self {
            Weights::Ring { .. } | Weights::Torus { .. } => true,
            Weights::Hebbian { n, p, xi } => *p > 0 && xi[..*n].iter().all(|&x| x == 1.0),
            Weights::PackedHebbian { bits, .. } => bits.first_all_ones(),
            Weights::Dense { .. }
            | Weights::Diagonal { .. }
            | Weights::LowRank { .. }
            | Weights::Gaussian(_)
            | Weights::Random { .. } => false,
        }
    }

    /// Those rows of V (the rows [`Weights::metric_rows`] of
    /// [`Weights::structured`]) without building the rest of the form.
    pub fn metric_table(&self) -> Vec<f64> {
        match self {
            Weights::Ring { .. } => {
                let (cos, sin) = ring_angles(self.n());
                [cos, sin].concat()
            }
            Weights::Torus { side, .. } | Weights::Gaussian(GaussianKernel { side, .. }) => {
                let (cos, sin) = ring_angles(*side);
                let n = side * side;
                let mut t = Vec::with_capacity(4 * n);
                // cos x, sin x (x from the column), cos y, sin y (y from the row).
                for table in [&cos, &sin] {
                    t.extend((0..n).map(|i| table[i % side]));
                }
                for table in [&cos, &sin] {
                    t.extend((0..n).map(|i| table[i / side]));
                }
                t
            }
            Weights::Hebbian { xi, .. } => xi.clone(),
            Weights::PackedHebbian { bits, .. } => bits.values(),
            _ => Vec::new(),
        }
    }

    /// Rows of V whose products with the rates are metrics: the ring's cos
    /// and sin rows, the Hebbian patterns.
    pub fn metric_rows(&self) -> std::ops::Range<usize> {
        match self {
            Weights::Ring { .. } => 1..3,
            Weights::Torus { .. } => 1..5,
            // The torus's table, without a form of its own.
            Weights::Gaussian(_) => 0..4,
            Weights::Hebbian { p, .. } => 0..*p,
            Weights::PackedHebbian { bits, .. } => 0..bits.p(),
            _ => 0..0,
        }
    }

    /// Divides M by its largest parameter (the ring's by lambda1) and
    /// returns that factor, so that weights differing only by a scale of M
    /// become equal; Hebbian weights (whose patterns are also the metrics'
    /// tables) stay as they are, factor 1.
    pub fn split_scale(&mut self) -> f64 {
        fn divide(v: &mut [f64]) -> f64 {
            let s = largest(v.iter().copied());
            v.iter_mut().for_each(|x| *x /= s);
            s
        }
        match self {
            Weights::Dense { m, .. } => divide(m),
            Weights::Diagonal { values } => divide(values),
            Weights::Ring {
                lambda0, lambda1, ..
            }
            | Weights::Torus {
                lambda0, lambda1, ..
            } => {
                let s = if *lambda1 != 0.0 {
                    *lambda1
                } else {
                    largest([*lambda0])
                };
                *lambda0 /= s;
                *lambda1 /= s;
                s
            }
            Weights::LowRank { v, .. } => divide(v),
            Weights::Hebbian { .. } | Weights::PackedHebbian { .. } => 1.0,
            Weights::Gaussian(k) => {
                let s = largest(k.terms.iter().map(|t| t.amplitude));
                k.terms.iter_mut().for_each(|t| t.amplitude /= s);
                s
            }
            Weights::Random { g, .. } => {
                let s = largest([*g]);
                *g /= s;
                s
            }
        }
    }

    /// Feeds the kind and every number that defines M to `put` (for keys
    /// that say whether two networks have the same M), without forming any
    /// table: the given parameters determine the form.
    pub fn fingerprint(&self, put: &mut dyn FnMut(&[u8])) {
        put(self.kind().as_bytes());
        let mut floats = |v: &[f64]| {
            for x in v {
                put(&x.to_bits().to_le_bytes());
            }
        };
        match self {
            Weights::Dense { m, .. } => floats(m),
            Weights::Diagonal { values } => floats(values),
            Weights::Ring {
                lambda0, lambda1, ..
            } => floats(&[*lambda0, *lambda1]),
            Weights::Torus {
                side,
                lambda0,
                lambda1,
                ..
            } => floats(&[*side as f64, *lambda0, *lambda1]),
            Weights::Gaussian(k) => {
                floats(&[k.side as f64]);
                for t in &k.terms {
                    floats(&[t.amplitude, t.sigma]);
                }
            }
            Weights::Hebbian { xi, .. } => floats(xi),
            Weights::PackedHebbian { bits, .. } => {
                put(&(bits.p() as u64).to_le_bytes());
                put(bytemuck::cast_slice(bits.data()));
            }
            Weights::LowRank { u, v, .. } => {
                floats(u);
                floats(v)
            }
            Weights::Random {
                n,
                g,
                sparsity,
                seed,
                ..
            } => {
                floats(&[*n as f64, *g, *sparsity]);
                put(&seed.to_le_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// `unit_row0` tells, without the form, what the form's `unit_rows` says.
    #[test]
    fn unit_row0_agrees_with_the_structured_form() {
        let n = 6;
        let mut ones = vec![1.0; 2 * n];
        ones[n + 2] = -1.0;
        let mut mixed = ones.clone();
        mixed[3] = -1.0;
        for w in [
            Weights::Ring {
                n,
                lambda0: 0.5,
                lambda1: 1.5,
            },
            Weights::Hebbian { n, p: 2, xi: ones },
            Weights::Hebbian { n, p: 2, xi: mixed },
            Weights::LowRank {
                n,
                rank: 1,
                u: vec![1.0; n],
                v: vec![1.0; n],
            },
            Weights::Diagonal {
                values: vec![1.0; n],
            },
        ] {
            let form = w.structured().unwrap();
            assert_eq!(
                w.unit_row0(),
                form.unit_rows().first() == Some(&true),
                "{}",
                w.kind()
            );
        }
    }

    use super::*;

    /// The metric table is the form's metric rows, built without the form.
    #[test]
    fn metric_table_is_the_forms_metric_rows() {
        let xi: Vec<f64> = (0..3 * 7)
            .map(|k| if k % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        for w in [
            Weights::Ring {
                n: 7,
                lambda0: 0.3,
                lambda1: 1.2,
            },
            Weights::Hebbian { n: 7, p: 3, xi },
        ] {
            let form = w.structured().unwrap();
            let rows = w.metric_rows();
            assert_eq!(
                w.metric_table(),
                form.v[rows.start * 7..rows.end * 7].to_vec()
            );
        }
        assert_eq!(largest([0.0, -3.0, 2.0]), -3.0);
        assert_eq!(largest([0.0; 3]), 1.0);
    }
}
