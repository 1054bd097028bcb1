//! The recurrent product y = M x, in the form the weights were given: dense
//! rows, a diagonal, the ring's three projections, the Hebbian P overlaps, or
//! U (V^T x). This is the CPU twin of the GPU's operator kernels.

use crate::model::{theta, Weights};
use crate::real::{c, Real};
use rayon::prelude::*;

/// Work below this many multiply-adds stays on one thread.
pub(crate) const PARALLEL_WORK: usize = 1 << 16;
/// Chunk length of parallel and compensated reductions.
const CHUNK: usize = 1 << 12;

/// y = M x for one weights kind, in float type `T`.
#[derive(Clone, Debug)]
pub enum Operator<T> {
    /// Dense N×N, row-major.
    Dense {
        /// N.
        n: usize,
        /// Entries, row-major.
        m: Vec<T>,
    },
    /// diag(d).
    Diagonal {
        /// The diagonal.
        d: Vec<T>,
    },
    /// (2/N)(-lambda0 sum x + lambda1 (cos_i C + sin_i S)).
    Ring {
        /// N.
        n: usize,
        /// lambda0.
        lambda0: T,
        /// lambda1.
        lambda1: T,
        /// cos theta_i.
        cos: Vec<T>,
        /// sin theta_i.
        sin: Vec<T>,
    },
    /// (1/N) sum_mu xi^mu (xi^mu . x) - d_i x_i.
    Hebbian {
        /// N.
        n: usize,
        /// P.
        p: usize,
        /// P×N patterns, row-major.
        xi: Vec<T>,
        /// Diagonal correction d_i = (1/N) sum_mu (xi_i^mu)^2.
        self_coupling: Vec<T>,
    },
    /// U (V^T x).
    LowRank {
        /// N.
        n: usize,
        /// R.
        rank: usize,
        /// U, N×R row-major.
        u: Vec<T>,
        /// V^T, R×N row-major (rows are contiguous for the projections).
        vt: Vec<T>,
    },
}

/// Dot product with eight independent accumulators: vectorises, and in f32
/// keeps the rounding error near that of a pairwise sum.
#[inline]
pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] = acc[k] + x[k] * y[k];
        }
    }
    let mut tail = T::zero();
    for (x, y) in ra.iter().zip(rb) {
        tail = tail + *x * *y;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

/// y = M x for a row-major M with `n` columns, a [`dot`] per row (rows in
/// parallel for large M): the reference loop, used in f64.
pub fn dense_matvec<T: Real>(m: &[T], n: usize, x: &[T], y: &mut [T]) {
    let row = |(i, yi): (usize, &mut T)| *yi = dot(&m[i * n..(i + 1) * n], x);
    if m.len() >= PARALLEL_WORK {
        y.par_iter_mut().enumerate().for_each(row);
    } else {
        y.iter_mut().enumerate().for_each(row);
    }
}

/// A long dot product, split into chunks (in parallel for large N).
pub fn long_dot<T: Real>(a: &[T], b: &[T]) -> T {
    if a.len() >= PARALLEL_WORK {
        a.par_chunks(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .map(|(x, y)| dot(x, y))
            .collect::<Vec<T>>()
            .into_iter()
            .sum()
    } else {
        a.chunks(CHUNK)
            .zip(b.chunks(CHUNK))
            .map(|(x, y)| dot(x, y))
            .sum()
    }
}

/// The ring's three projections [sum x, cos · x, sin · x] in one pass over
/// x, chunked as [`long_sum`] and [`long_dot`] (and equal to them bit for
/// bit: the same chunks, each chunk's sums added in order).
pub fn ring_projections<T: Real>(x: &[T], cos: &[T], sin: &[T]) -> [T; 3] {
    let chunk = |((xc, cc), sc): ((&[T], &[T]), &[T])| [chunk_sum(xc), dot(cc, xc), dot(sc, xc)];
    let parts: Vec<[T; 3]> = if x.len() >= PARALLEL_WORK {
        x.par_chunks(CHUNK)
            .zip(cos.par_chunks(CHUNK))
            .zip(sin.par_chunks(CHUNK))
            .map(chunk)
            .collect()
    } else {
        x.chunks(CHUNK)
            .zip(cos.chunks(CHUNK))
            .zip(sin.chunks(CHUNK))
            .map(chunk)
            .collect()
    };
    let mut total = [T::zero(); 3];
    for p in parts {
        for (t, v) in total.iter_mut().zip(p) {
            *t = *t + v;
        }
    }
    total
}

/// The sum of one chunk, eight accumulators.
fn chunk_sum<T: Real>(x: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let ch = x.chunks_exact(8);
    let r: T = ch.remainder().iter().copied().sum();
    for w in ch {
        for k in 0..8 {
            acc[k] = acc[k] + w[k];
        }
    }
    acc.iter().copied().sum::<T>() + r
}

/// A long sum, chunked as [`long_dot`].
pub fn long_sum<T: Real>(a: &[T]) -> T {
    if a.len() >= PARALLEL_WORK {
        a.par_chunks(CHUNK)
            .map(chunk_sum)
            .collect::<Vec<T>>()
            .into_iter()
            .sum()
    } else {
        a.chunks(CHUNK).map(chunk_sum).sum()
    }
}

impl<T: Real> Operator<T> {
    /// Builds the operator for `weights`, converting to `T`.
    pub fn new(weights: &Weights) -> Self {
        let cv = |v: &[f64]| v.iter().map(|&x| c::<T>(x)).collect::<Vec<T>>();
        match weights {
            Weights::Dense { n, m } => {
                // M is streamed every step: back it with huge pages.
                let mut entries = Vec::with_capacity(m.len());
                super::matvec::advise_huge_pages(&entries);
                entries.par_extend(m.par_iter().map(|&x| c::<T>(x)));
                Operator::Dense { n: *n, m: entries }
            }
            Weights::Diagonal { values } => Operator::Diagonal { d: cv(values) },
            Weights::Ring {
                n,
                lambda0,
                lambda1,
            } => Operator::Ring {
                n: *n,
                lambda0: c(*lambda0),
                lambda1: c(*lambda1),
                cos: (0..*n).map(|i| c(theta(i, *n).cos())).collect(),
                sin: (0..*n).map(|i| c(theta(i, *n).sin())).collect(),
            },
            Weights::Hebbian { n, p, xi } => Operator::Hebbian {
                n: *n,
                p: *p,
                xi: cv(xi),
                self_coupling: cv(&Weights::hebbian_self_coupling(*n, *p, xi)),
            },
            Weights::LowRank { n, rank, u, v } => {
                let mut vt = vec![T::zero(); n * rank];
                for i in 0..*n {
                    for r in 0..*rank {
                        vt[r * n + i] = c(v[i * rank + r]);
                    }
                }
                Operator::LowRank {
                    n: *n,
                    rank: *rank,
                    u: cv(u),
                    vt,
                }
            }
        }
    }

    /// Number of low-rank projections this operator computes per product
    /// (3 for a ring, P for Hebbian, R for low rank, 0 otherwise).
    pub fn projections(&self) -> usize {
        match self {
            Operator::Ring { .. } => 3,
            Operator::Hebbian { p, .. } => *p,
            Operator::LowRank { rank, .. } => *rank,
            _ => 0,
        }
    }

    /// y = M x. `proj` is scratch space for the projections.
    pub fn apply(&self, x: &[T], y: &mut [T], proj: &mut Vec<T>) {
        match self {
            Operator::Dense { n, m } => T::matvec(m, *n, x, y),
            Operator::Diagonal { d } => {
                for ((yi, di), xi) in y.iter_mut().zip(d).zip(x) {
                    *yi = *di * *xi;
                }
            }
            Operator::Ring {
                n,
                lambda0,
                lambda1,
                cos,
                sin,
            } => {
                let s = c::<T>(2.0 / *n as f64);
                let [sum, dc, ds] = ring_projections(x, cos, sin);
                let a0 = -s * *lambda0 * sum;
                let a1 = s * *lambda1 * dc;
                let a2 = s * *lambda1 * ds;
                let body = |((yi, ci), si): ((&mut T, &T), &T)| *yi = a0 + a1 * *ci + a2 * *si;
                if *n >= PARALLEL_WORK {
                    y.par_iter_mut()
                        .zip(cos.par_iter())
                        .zip(sin.par_iter())
                        .for_each(body);
                } else {
                    y.iter_mut().zip(cos).zip(sin).for_each(body);
                }
            }
            Operator::Hebbian {
                n,
                p,
                xi,
                self_coupling,
            } => {
                proj.clear();
                let inv_n = c::<T>(1.0 / *n as f64);
                proj.extend((0..*p).map(|mu| long_dot(&xi[mu * n..(mu + 1) * n], x) * inv_n));
                self.expand(x, y, proj, xi, *n, self_coupling);
            }
            Operator::LowRank { n, rank, u, vt } => {
                proj.clear();
                proj.extend((0..*rank).map(|r| long_dot(&vt[r * n..(r + 1) * n], x)));
                let body = |(i, yi): (usize, &mut T)| *yi = dot(&u[i * rank..(i + 1) * rank], proj);
                if n * rank >= PARALLEL_WORK {
                    y.par_iter_mut().enumerate().for_each(body);
                } else {
                    y.iter_mut().enumerate().for_each(body);
                }
            }
        }
    }

    /// y_i = sum_mu m_mu xi_i^mu - d_i x_i, in chunks of neurons.
    fn expand(&self, x: &[T], y: &mut [T], m: &[T], xi: &[T], n: usize, d: &[T]) {
        let body = |(k, yc): (usize, &mut [T])| {
            let off = k * CHUNK;
            for (j, yi) in yc.iter_mut().enumerate() {
                *yi = -d[off + j] * x[off + j];
            }
            for (mu, &mm) in m.iter().enumerate() {
                let row = &xi[mu * n + off..mu * n + off + yc.len()];
                for (yi, r) in yc.iter_mut().zip(row) {
                    *yi = *yi + mm * *r;
                }
            }
        };
        if n * m.len() >= PARALLEL_WORK {
            y.par_chunks_mut(CHUNK).enumerate().for_each(body);
        } else {
            y.chunks_mut(CHUNK).enumerate().for_each(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused ring projections are the three separate long reductions,
    /// bit for bit, below and above the parallel threshold and at lengths
    /// that are not multiples of the chunk.
    #[test]
    fn ring_projections_equal_the_separate_reductions() {
        for n in [7usize, 4096, 70_001, 300_000] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let cos: Vec<f32> = (0..n).map(|i| theta(i, n).cos() as f32).collect();
            let sin: Vec<f32> = (0..n).map(|i| theta(i, n).sin() as f32).collect();
            let [s, dc, ds] = ring_projections(&x, &cos, &sin);
            assert_eq!(s.to_bits(), long_sum(&x).to_bits(), "sum, n = {n}");
            assert_eq!(dc.to_bits(), long_dot(&cos, &x).to_bits(), "cos, n = {n}");
            assert_eq!(ds.to_bits(), long_dot(&sin, &x).to_bits(), "sin, n = {n}");
        }
    }
}
