//! The recurrent product y = M x, in the form the weights were given: dense
//! rows, a diagonal, the ring's three projections, the Hebbian P overlaps, or
//! U (V^T x). This is the CPU twin of the GPU's operator kernels.

use super::matvec::Matvec;
use crate::model::{StructuredForm, Weights};
use crate::real::{c, Real};
use rayon::prelude::*;

/// Work below this many multiply-adds stays on one thread.
pub(crate) const PARALLEL_WORK: usize = 1 << 16;
/// Chunk length of parallel and compensated reductions.
const CHUNK: usize = 1 << 12;

/// y = M x in float type `T`: dense rows, or the normalised structured form
/// diag(d) + sum_r coef_r U_r V_r^T ([`StructuredForm`]) of every other kind,
/// applied in O(N R) as the GPU's structured kernels do: the R projections
/// coef_r (V_r . x), then y_i = d_i x_i + sum_r proj_r U_r,i.
#[derive(Clone, Debug)]
pub enum Operator<T> {
    /// Dense N×N, row-major.
    Dense {
        /// N.
        n: usize,
        /// Entries, row-major.
        m: Vec<T>,
    },
    /// diag(d) + sum_r coef_r U_r V_r^T.
    Structured {
        /// N.
        n: usize,
        /// The diagonal d, if any.
        diag: Option<Vec<T>>,
        /// The R coefficients.
        coef: Vec<T>,
        /// V, R rows of N.
        v: Vec<T>,
        /// U, R rows of N; `None` when U = V.
        u: Option<Vec<T>>,
        /// Rows of V (and of U when U = V) whose entries are all 1 (the
        /// ring's uniform mode): their projection is the sum of x and their
        /// expansion adds it, without reading the row.
        uniform: Vec<bool>,
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

/// The products of the R rows of `rows` (R×N, row-major) with x, in one
/// pass over x: chunk by chunk (in parallel for large N R), each chunk's R
/// dot products, then the chunks' sums added in order; equal bit for bit to
/// [`long_dot`] of each row, or to [`long_sum`] for rows flagged `uniform`
/// (all ones), which are not read.
pub fn projections<T: Real>(rows: &[T], uniform: &[bool], x: &[T], out: &mut Vec<T>) {
    let n = x.len();
    let rank = uniform.len();
    let chunk = |(k, xc): (usize, &[T])| -> Vec<T> {
        let off = k * CHUNK;
        (0..rank)
            .map(|r| {
                if uniform[r] {
                    chunk_sum(xc)
                } else {
                    dot(&rows[r * n + off..r * n + off + xc.len()], xc)
                }
            })
            .collect()
    };
    out.clear();
    out.resize(rank, T::zero());
    if n * rank >= PARALLEL_WORK {
        let parts: Vec<Vec<T>> = x.par_chunks(CHUNK).enumerate().map(chunk).collect();
        for p in parts {
            for (t, v) in out.iter_mut().zip(p) {
                *t = *t + v;
            }
        }
        return;
    }
    // One thread: each chunk's sums added as they come (the same order as
    // above), without allocating per step.
    for (k, xc) in x.chunks(CHUNK).enumerate() {
        let off = k * CHUNK;
        for (r, t) in out.iter_mut().enumerate() {
            let v = if uniform[r] {
                chunk_sum(xc)
            } else {
                dot(&rows[r * n + off..r * n + off + xc.len()], xc)
            };
            *t = *t + v;
        }
    }
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

impl<T: Matvec> Operator<T> {
    /// Builds the operator for `weights`, converting to `T`.
    pub fn new(weights: &Weights) -> Self {
        match weights {
            Weights::Dense { n, m } => {
                // M is streamed every step: back it with huge pages.
                let mut entries = Vec::with_capacity(m.len());
                super::matvec::advise_huge_pages(&entries);
                entries.par_extend(m.par_iter().map(|&x| c::<T>(x)));
                Operator::Dense { n: *n, m: entries }
            }
            w => Self::from_form(&w.structured().expect("non-dense weights have a form")),
        }
    }

    /// The operator of a structured form, converted to `T`.
    pub fn from_form(form: &StructuredForm) -> Self {
        let cv = |v: &[f64]| v.iter().map(|&x| c::<T>(x)).collect::<Vec<T>>();
        let n = form.n;
        let uniform = form.unit_rows();
        Operator::Structured {
            n,
            diag: form.diag.as_deref().map(cv),
            coef: cv(&form.coef),
            v: cv(&form.v),
            u: form.u.as_deref().map(cv),
            uniform,
        }
    }

    /// Number of low-rank projections this operator computes per product
    /// (3 for a ring, P for Hebbian, R for low rank, 0 otherwise).
    pub fn projections(&self) -> usize {
        match self {
            Operator::Structured { coef, .. } => coef.len(),
            Operator::Dense { .. } => 0,
        }
    }

    /// y = M x. `proj` is scratch space for the projections.
    pub fn apply(&self, x: &[T], y: &mut [T], proj: &mut Vec<T>) {
        match self {
            Operator::Dense { n, m } => T::matvec(m, *n, x, y),
            Operator::Structured {
                n,
                diag,
                coef,
                v,
                u,
                uniform,
            } => {
                projections(v, uniform, x, proj);
                for (p, c) in proj.iter_mut().zip(coef) {
                    *p = *c * *p;
                }
                let u = u.as_deref().unwrap_or(v);
                expand(x, y, proj, u, uniform, *n, diag.as_deref());
            }
        }
    }
}

/// y_i = d_i x_i + sum_r proj_r U_r[i] (d = 0 when absent; U_r = 1 for
/// rows flagged `uniform`), in chunks of neurons (in parallel for large N R).
fn expand<T: Real>(
    x: &[T],
    y: &mut [T],
    proj: &[T],
    u: &[T],
    uniform: &[bool],
    n: usize,
    d: Option<&[T]>,
) {
    // The uniform rows add a constant; the ring's two other rows (cos, sin)
    // then go in one fused pass, a0 + a1 cos_i + a2 sin_i.
    let base = proj
        .iter()
        .zip(uniform)
        .filter(|(_, &u)| u)
        .fold(T::zero(), |a, (&p, _)| a + p);
    // The rows read: the ring's two (cos, sin) found without allocating.
    let read = || (0..proj.len()).filter(|&r| !uniform[r]);
    let two = match (read().count(), d) {
        (2, None) => {
            let mut it = read();
            it.next().zip(it.next())
        }
        _ => None,
    };
    let body = |(k, yc): (usize, &mut [T])| {
        let (off, len) = (k * CHUNK, yc.len());
        let row = |r: usize| &u[r * n + off..r * n + off + len];
        if let Some((a, b)) = two {
            let (pa, pb) = (proj[a], proj[b]);
            for ((yi, ua), ub) in yc.iter_mut().zip(row(a)).zip(row(b)) {
                *yi = base + pa * *ua + pb * *ub;
            }
            return;
        }
        match d {
            Some(d) => {
                for (j, yi) in yc.iter_mut().enumerate() {
                    *yi = d[off + j] * x[off + j] + base;
                }
            }
            None => yc.iter_mut().for_each(|yi| *yi = base),
        }
        for r in read() {
            let p = proj[r];
            for (yi, ur) in yc.iter_mut().zip(row(r)) {
                *yi = *yi + p * *ur;
            }
        }
    };
    if n * proj.len().max(1) >= PARALLEL_WORK {
        y.par_chunks_mut(CHUNK).enumerate().for_each(body);
    } else {
        y.chunks_mut(CHUNK).enumerate().for_each(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::theta;

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
            let rows: Vec<f32> = [&vec![1.0f32; n][..], &cos, &sin].concat();
            let mut p = Vec::new();
            projections(&rows, &[true, false, false], &x, &mut p);
            let [s, dc, ds] = [p[0], p[1], p[2]];
            assert_eq!(s.to_bits(), long_sum(&x).to_bits(), "sum, n = {n}");
            assert_eq!(dc.to_bits(), long_dot(&cos, &x).to_bits(), "cos, n = {n}");
            assert_eq!(ds.to_bits(), long_dot(&sin, &x).to_bits(), "sin, n = {n}");
        }
    }
}
