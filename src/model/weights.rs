//! The recurrent weights M as the file gives them (one variant per kind),
//! and the one map from a kind to its computational form
//! ([`Weights::form`]), its shape and its geometry.

use super::form::{Form, Generator, Geometry, Shape, StructuredForm, StructuredShape};
use super::theta;
use super::{Csr, Factors, GaussianKernel, PatternBits, Rotation, SparseOrigin};
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
    /// Sparse M from data (`sparse`) or drawn (`ring` or `random` with a
    /// `degree`): the stored entries in compressed rows, row i the
    /// postsynaptic neuron.
    Sparse {
        /// N.
        n: usize,
        /// The entries (shared: cloning the weights does not copy them).
        csr: Arc<Csr>,
        /// Where they come from (a drawn ring has the ring's metrics).
        origin: SparseOrigin,
        /// Terms kept as their factors beside the entries (a network's
        /// structured projections); none for weights of one population.
        factors: Arc<Factors>,
    },
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
            | Weights::Random { n, .. }
            | Weights::Sparse { n, .. } => *n,
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
            Weights::Sparse { .. } => "sparse",
        }
    }

    /// The computational form of M, built once per run by a backend (and
    /// by `modes`): stored entries are borrowed, the structured kinds'
    /// tables built, `random` weights materialised where they are stored.
    pub fn form(&self) -> Form<'_> {
        match self {
            Weights::Dense { n, m } => Form::Dense {
                n: *n,
                m: Cow::Borrowed(m),
            },
            Weights::Random {
                n,
                materialise: true,
                ..
            } => Form::Dense {
                n: *n,
                m: Cow::Owned(self.generator().matrix()),
            },
            Weights::Random {
                materialise: false, ..
            } => Form::Generated(self.generator()),
            Weights::PackedHebbian { n, bits } => Form::Packed { n: *n, bits },
            Weights::Sparse { csr, factors, .. } => Form::Sparse(csr, factors),
            Weights::Gaussian(k) => Form::Convolution(k),
            Weights::Diagonal { .. }
            | Weights::Ring { .. }
            | Weights::Torus { .. }
            | Weights::Hebbian { .. }
            | Weights::LowRank { .. } => Form::Structured(
                self.structured()
                    .expect("these kinds have a structured form"),
            ),
        }
    }

    /// The shape of [`Weights::form`], without building it (an O(N) look
    /// at the first Hebbian pattern at most).
    pub fn shape(&self) -> Shape {
        let n = self.n();
        let structured = |rank, separate_u, diag, unit_row0| {
            Shape::Structured(StructuredShape {
                n,
                rank,
                separate_u,
                diag,
                unit_row0,
            })
        };
        match self {
            Weights::Dense { .. }
            | Weights::Random {
                materialise: true, ..
            } => Shape::Dense { n },
            Weights::Random {
                materialise: false, ..
            } => Shape::Generated { n },
            Weights::PackedHebbian { bits, .. } => Shape::Packed {
                n,
                patterns: bits.p(),
                unit_row0: bits.first_all_ones(),
            },
            Weights::Gaussian(k) => Shape::Convolution {
                side: k.side,
                terms: k.terms.len(),
            },
            Weights::Sparse { csr, factors, .. } => Shape::Sparse {
                n,
                nnz: csr.nnz(),
                longest_row: csr.longest_row(),
                heavy_rows: csr.heavy_rows(),
                factors: factors.terms.len(),
                factor_rows: factors.rows(),
                factor_columns: factors.columns(),
            },
            Weights::Diagonal { .. } => structured(0, false, true, false),
            Weights::Ring { .. } => structured(3, false, false, true),
            Weights::Torus { .. } => structured(5, false, false, true),
            Weights::Hebbian { p, xi, .. } => {
                structured(*p, false, true, *p > 0 && xi[..n].iter().all(|&x| x == 1.0))
            }
            Weights::LowRank { rank, .. } => structured(*rank, true, false, false),
        }
    }

    /// Where the neurons sit and which rows of the form are metrics.
    pub fn geometry(&self) -> Geometry {
        let pair = |cos: usize, axis: usize| Rotation {
            cos,
            sin: cos + 1,
            axis,
            wavenumber: 1.0,
        };
        match self {
            Weights::Ring { .. } => Geometry {
                dims: 1,
                rotations: vec![pair(1, 0)],
                metric_rows: 1..3,
                ..Geometry::none()
            },
            Weights::Torus { side, .. } => Geometry {
                dims: 2,
                side: *side,
                rotations: vec![pair(1, 0), pair(3, 1)],
                metric_rows: 1..5,
                ..Geometry::none()
            },
            // One turn per axis. A Gaussian kernel has no rows: the turn is
            // its odd taps times kappa (`GaussianKernel::entry_turned`), and
            // the rows named here are the pairs the GPU's checks expect; its
            // metric rows are those of its metric table (the torus's).
            Weights::Gaussian(k) => Geometry {
                dims: 2,
                side: k.side,
                rotations: vec![pair(0, 0), pair(2, 1)],
                metric_rows: 0..4,
                ..Geometry::none()
            },
            Weights::Hebbian { p, .. } => Geometry {
                metric_rows: 0..*p,
                patterns: *p,
                ..Geometry::none()
            },
            Weights::PackedHebbian { bits, .. } => Geometry {
                metric_rows: 0..bits.p(),
                patterns: bits.p(),
                ..Geometry::none()
            },
            // A drawn ring: the ring's places and metrics (its metric table
            // holds cos and sin), no turn (a sparse M cannot rotate).
            Weights::Sparse {
                origin: SparseOrigin::Ring,
                ..
            } => Geometry {
                dims: 1,
                metric_rows: 0..2,
                ..Geometry::none()
            },
            Weights::Dense { .. }
            | Weights::Diagonal { .. }
            | Weights::LowRank { .. }
            | Weights::Random { .. }
            | Weights::Sparse { .. } => Geometry::none(),
        }
    }

    /// The generator of `random` weights (N = 0 for other kinds, which
    /// have none).
    fn generator(&self) -> Generator {
        match *self {
            Weights::Random {
                n,
                g,
                sparsity,
                seed,
                ..
            } => Generator {
                n,
                g,
                sparsity,
                seed,
            },
            Weights::Dense { .. }
            | Weights::Diagonal { .. }
            | Weights::Ring { .. }
            | Weights::Torus { .. }
            | Weights::Gaussian(_)
            | Weights::Hebbian { .. }
            | Weights::PackedHebbian { .. }
            | Weights::LowRank { .. }
            | Weights::Sparse { .. } => unreachable!("only random weights have a generator"),
        }
    }

    /// The radius of the disk the eigenvalues fill as N grows (the
    /// circular law of `random` weights: |g|); `None` for other kinds.
    pub fn circular_law(&self) -> Option<f64> {
        match self {
            Weights::Random { g, .. }
            | Weights::Sparse {
                origin: SparseOrigin::Random { g },
                ..
            } => Some(g.abs()),
            Weights::Dense { .. }
            | Weights::Diagonal { .. }
            | Weights::Ring { .. }
            | Weights::Torus { .. }
            | Weights::Gaussian(_)
            | Weights::Hebbian { .. }
            | Weights::PackedHebbian { .. }
            | Weights::LowRank { .. }
            | Weights::Sparse { .. } => None,
        }
    }

    /// The bits of packed Hebbian patterns; `None` for other kinds.
    pub fn bits(&self) -> Option<&Arc<PatternBits>> {
        match self {
            Weights::PackedHebbian { bits, .. } => Some(bits),
            Weights::Dense { .. }
            | Weights::Diagonal { .. }
            | Weights::Ring { .. }
            | Weights::Torus { .. }
            | Weights::Gaussian(_)
            | Weights::Hebbian { .. }
            | Weights::LowRank { .. }
            | Weights::Random { .. }
            | Weights::Sparse { .. } => None,
        }
    }

    /// lambda1 of a ring, the eigenvalue of its cos and sin modes (what a
    /// moving input or a velocity does to them has a closed form); `None`
    /// for other kinds.
    pub fn ring_lambda1(&self) -> Option<f64> {
        match self {
            Weights::Ring { lambda1, .. } => Some(*lambda1),
            Weights::Dense { .. }
            | Weights::Diagonal { .. }
            | Weights::Torus { .. }
            | Weights::Gaussian(_)
            | Weights::Hebbian { .. }
            | Weights::PackedHebbian { .. }
            | Weights::LowRank { .. }
            | Weights::Random { .. }
            | Weights::Sparse { .. } => None,
        }
    }

    /// Pattern `mu` of a Hebbian network, f64 or packed, as values.
    pub fn pattern_values(&self, mu: usize) -> Option<Cow<'_, [f64]>> {
        match self {
            Weights::PackedHebbian { bits, .. } => {
                (mu < bits.p()).then(|| Cow::Owned(bits.pattern(mu)))
            }
            Weights::Hebbian { .. } => self.pattern(mu).map(Cow::Borrowed),
            Weights::Dense { .. }
            | Weights::Diagonal { .. }
            | Weights::Ring { .. }
            | Weights::Torus { .. }
            | Weights::Gaussian(_)
            | Weights::LowRank { .. }
            | Weights::Random { .. }
            | Weights::Sparse { .. } => None,
        }
    }

    /// Pattern `mu` of a Hebbian network of f64 patterns (packed ones:
    /// [`Weights::pattern_values`]).
    pub fn pattern(&self, mu: usize) -> Option<&[f64]> {
        match self {
            Weights::Hebbian { n, p, xi } => (mu < *p).then(|| &xi[mu * n..(mu + 1) * n]),
            Weights::Dense { .. }
            | Weights::Diagonal { .. }
            | Weights::Ring { .. }
            | Weights::Torus { .. }
            | Weights::Gaussian(_)
            | Weights::PackedHebbian { .. }
            | Weights::LowRank { .. }
            | Weights::Random { .. }
            | Weights::Sparse { .. } => None,
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
            // Factored terms are not checked: general unless there are none.
            Weights::Sparse { csr, factors, .. } => factors.terms.is_empty() && csr.is_symmetric(),
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
        match self.form() {
            Form::Dense { m, .. } => m.into_owned(),
            Form::Structured(s) => s.to_dense(),
            Form::Packed { .. } => self
                .structured()
                .expect("packed patterns expand to a structured form")
                .to_dense(),
            Form::Generated(g) => g.matrix(),
            Form::Convolution(k) => k.to_dense(),
            Form::Sparse(csr, factors) => {
                let mut m = csr.to_dense();
                factors.add_to_dense(&mut m);
                m
            }
        }
    }

    /// The normalised structured form of every kind that has one: all but
    /// dense, random and gaussian (`None` for those). Packed patterns
    /// are expanded to floats here (for small networks only: the
    /// operators, the GPU and `modes` read the bits).
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
        let s = 2.0 / n as f64;
        Some(match self {
            Weights::Dense { .. }
            | Weights::Random { .. }
            | Weights::Gaussian(_)
            | Weights::Sparse { .. } => return None,
            Weights::Diagonal { values } => StructuredForm {
                diag: Some(values.clone()),
                ..none
            },
            Weights::Ring {
                lambda0, lambda1, ..
            } => {
                let (cos, sin) = ring_angles(n);
                let mut v = vec![1.0; n];
                v.extend(cos);
                v.extend(sin);
                StructuredForm {
                    coef: vec![-s * lambda0, s * lambda1, s * lambda1],
                    v,
                    rotations: self.geometry().rotations,
                    ..none
                }
            }
            Weights::Torus {
                lambda0, lambda1, ..
            } => {
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
                    rotations: self.geometry().rotations,
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
            // (xi_i^mu)^2 = 1.
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

    /// The rows of [`Geometry::metric_rows`]: rows of the structured form's
    /// V (the ring's cos and sin, the torus's cos x, sin x, cos y, sin y,
    /// the Hebbian patterns; a Gaussian kernel's are the torus's), built
    /// without the rest of the form; empty where there are none.
    pub fn metric_table(&self) -> Vec<f64> {
        match self {
            Weights::Ring { .. }
            | Weights::Sparse {
                origin: SparseOrigin::Ring,
                ..
            } => {
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
            Weights::Dense { .. }
            | Weights::Diagonal { .. }
            | Weights::LowRank { .. }
            | Weights::Random { .. }
            | Weights::Sparse { .. } => Vec::new(),
        }
    }
}
