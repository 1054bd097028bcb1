//! The recurrent weights M, kept in the form they were given: dense only for
//! `matrix` and `file`, low rank for `ring`, `hebbian` and `low_rank`.

use super::theta;

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
    /// M = (1/N) sum_mu xi^mu (xi^mu)^T with zero diagonal.
    Hebbian {
        /// N.
        n: usize,
        /// Number of patterns P.
        p: usize,
        /// The P×N patterns xi, row-major (row mu is pattern mu).
        xi: Vec<f64>,
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
}

/// M written as diag(d) + U V^T (U, V N×R, column-major in `nalgebra`), the
/// shape shared by every structured kind: eigenvalues and steady states use it
/// without forming M.
#[derive(Clone, Debug)]
pub struct StructuredForm {
    /// The diagonal part d.
    pub d: Vec<f64>,
    /// U (N×R).
    pub u: nalgebra::DMatrix<f64>,
    /// V (N×R).
    pub v: nalgebra::DMatrix<f64>,
}

impl Weights {
    /// N.
    pub fn n(&self) -> usize {
        match self {
            Weights::Dense { n, .. }
            | Weights::Ring { n, .. }
            | Weights::Hebbian { n, .. }
            | Weights::LowRank { n, .. } => *n,
            Weights::Diagonal { values } => values.len(),
        }
    }

    /// A short name of the kind: dense, diagonal, ring, hebbian, low_rank.
    pub fn kind(&self) -> &'static str {
        match self {
            Weights::Dense { .. } => "dense",
            Weights::Diagonal { .. } => "diagonal",
            Weights::Ring { .. } => "ring",
            Weights::Hebbian { .. } => "hebbian",
            Weights::LowRank { .. } => "low_rank",
        }
    }

    /// The number of patterns of a Hebbian network, else 0.
    pub fn patterns(&self) -> usize {
        match self {
            Weights::Hebbian { p, .. } => *p,
            _ => 0,
        }
    }

    /// Pattern `mu` of a Hebbian network.
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
            Weights::Diagonal { .. } | Weights::Ring { .. } | Weights::Hebbian { .. } => true,
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
        let n = self.n();
        match self {
            Weights::Dense { m, .. } => m.clone(),
            _ => {
                let s = self
                    .structured()
                    .expect("non-dense weights have a structured form");
                let mut m = vec![0.0; n * n];
                for i in 0..n {
                    m[i * n + i] += s.d[i];
                    for j in 0..n {
                        let mut x = 0.0;
                        for r in 0..s.u.ncols() {
                            x += s.u[(i, r)] * s.v[(j, r)];
                        }
                        m[i * n + j] += x;
                    }
                }
                m
            }
        }
    }

    /// diag(d) + U V^T for every kind but dense (None for dense).
    pub fn structured(&self) -> Option<StructuredForm> {
        use nalgebra::DMatrix;
        let n = self.n();
        Some(match self {
            Weights::Dense { .. } => return None,
            Weights::Diagonal { values } => StructuredForm {
                d: values.clone(),
                u: DMatrix::zeros(n, 0),
                v: DMatrix::zeros(n, 0),
            },
            Weights::Ring {
                lambda0, lambda1, ..
            } => {
                let s = 2.0 / n as f64;
                let u = DMatrix::from_fn(n, 3, |i, r| match r {
                    0 => -s * lambda0,
                    1 => s * lambda1 * theta(i, n).cos(),
                    _ => s * lambda1 * theta(i, n).sin(),
                });
                let v = DMatrix::from_fn(n, 3, |i, r| match r {
                    0 => 1.0,
                    1 => theta(i, n).cos(),
                    _ => theta(i, n).sin(),
                });
                StructuredForm {
                    d: vec![0.0; n],
                    u,
                    v,
                }
            }
            Weights::Hebbian { p, xi, .. } => {
                let d = Self::hebbian_self_coupling(n, *p, xi);
                let v = DMatrix::from_fn(n, *p, |i, mu| xi[mu * n + i]);
                let u = &v / n as f64;
                StructuredForm {
                    d: d.into_iter().map(|x| -x).collect(),
                    u,
                    v,
                }
            }
            Weights::LowRank { rank, u, v, .. } => StructuredForm {
                d: vec![0.0; n],
                u: DMatrix::from_row_slice(n, *rank, u),
                v: DMatrix::from_row_slice(n, *rank, v),
            },
        })
    }
}
