//! The recurrent product y = M x, in the form the weights were given: dense
//! rows, a diagonal, the ring's three projections, the Hebbian P overlaps, or
//! U (V^T x). This is the CPU twin of the GPU's operator kernels.

use super::matvec::Matvec;
use crate::model::{StructuredForm, Weights};
use crate::real::{c, Real};
use rayon::prelude::*;

/// Work below this many multiply-adds stays on one thread.
pub(crate) const PARALLEL_WORK: usize = 1 << 16;
/// Chunk length of parallel and compensated reductions: the projections'
/// partial sums are per chunk of this many neurons, summed in order. Also
/// the grain of the fused step's parallel split: 1024 rather than 4096
/// halved a Hebbian step of N = 10^4, P = 500 on two cores (2.8–3.0 ms
/// against 1.1–1.6 ms, alternated three times; 3 chunks of 4096 do not
/// split evenly over two threads) and left the rings as they were.
pub(crate) const CHUNK: usize = 1 << 10;

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

/// The accumulators of [`dot`] and of a chunk's sum: eight lanes and a
/// tail, fed block by block in order, so that a chunk summed in several
/// blocks (each but the last a multiple of 8 long) gives the same bits as
/// in one.
#[derive(Clone, Copy, Debug)]
pub struct Lanes<T> {
    acc: [T; 8],
    tail: T,
}

impl<T: Real> Default for Lanes<T> {
    fn default() -> Self {
        Lanes {
            acc: [T::zero(); 8],
            tail: T::zero(),
        }
    }
}

impl<T: Real> Lanes<T> {
    /// Adds the products a_i b_i of the next block.
    #[inline(always)]
    pub fn dot(&mut self, a: &[T], b: &[T]) {
        let ca = a.chunks_exact(8);
        let cb = b.chunks_exact(8);
        let (ra, rb) = (ca.remainder(), cb.remainder());
        let mut l = *self;
        for (x, y) in ca.zip(cb) {
            for k in 0..8 {
                l.acc[k] = l.acc[k] + x[k] * y[k];
            }
        }
        for (x, y) in ra.iter().zip(rb) {
            l.tail = l.tail + *x * *y;
        }
        *self = l;
    }

    /// [`Lanes::dot`] of four rows with the same b, in one loop: four
    /// independent chains of additions (a row's lanes alone are one chain,
    /// bound by the latency of an addition) and one load of b for four rows;
    /// each row's sums are those of [`Lanes::dot`].
    #[inline(always)]
    pub fn dot4(lanes: &mut [Lanes<T>], rows: [&[T]; 4], b: &[T]) {
        let len = b.len();
        let [r0, r1, r2, r3] = rows.map(|r| &r[..len]);
        // Local copies, kept in registers (not stored every iteration).
        let mut l: [Lanes<T>; 4] = [lanes[0], lanes[1], lanes[2], lanes[3]];
        let whole = len / 8 * 8;
        for j in (0..whole).step_by(8) {
            let (x, a0, a1, a2, a3) = (
                &b[j..j + 8],
                &r0[j..j + 8],
                &r1[j..j + 8],
                &r2[j..j + 8],
                &r3[j..j + 8],
            );
            for k in 0..8 {
                l[0].acc[k] = l[0].acc[k] + a0[k] * x[k];
                l[1].acc[k] = l[1].acc[k] + a1[k] * x[k];
                l[2].acc[k] = l[2].acc[k] + a2[k] * x[k];
                l[3].acc[k] = l[3].acc[k] + a3[k] * x[k];
            }
        }
        for j in whole..len {
            l[0].tail = l[0].tail + r0[j] * b[j];
            l[1].tail = l[1].tail + r1[j] * b[j];
            l[2].tail = l[2].tail + r2[j] * b[j];
            l[3].tail = l[3].tail + r3[j] * b[j];
        }
        lanes[..4].copy_from_slice(&l);
    }

    /// The dot product of the blocks added by [`Lanes::dot`].
    #[inline(always)]
    pub fn dot_total(&self) -> T {
        let a = &self.acc;
        ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + self.tail
    }

    /// Adds the entries of the next block.
    #[inline(always)]
    pub fn sum(&mut self, x: &[T]) {
        let ch = x.chunks_exact(8);
        // Only the last block has a remainder; an empty one sums as the
        // one-block form's does.
        let mut l = *self;
        l.tail = ch.remainder().iter().copied().sum();
        for w in ch {
            for (a, &v) in l.acc.iter_mut().zip(w) {
                *a = *a + v;
            }
        }
        *self = l;
    }

    /// The sum of the blocks added by [`Lanes::sum`].
    #[inline(always)]
    pub fn sum_total(&self) -> T {
        self.acc.iter().copied().sum::<T>() + self.tail
    }
}

/// Dot product with eight independent accumulators: vectorises, and in f32
/// keeps the rounding error near that of a pairwise sum.
#[inline]
pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let mut l = Lanes::default();
    l.dot(a, b);
    l.dot_total()
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
    let mut l = Lanes::default();
    l.sum(x);
    l.sum_total()
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
        // The tables are streamed every step: back them with huge pages (a
        // block of many rows touches one page per row otherwise).
        let cv = |v: &[f64]| {
            let mut out = Vec::with_capacity(v.len());
            super::matvec::advise_huge_pages(&out);
            out.par_extend(v.par_iter().map(|&x| c::<T>(x)));
            out
        };
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

    /// The first row of V (= U) that is all ones, if any: its projection is
    /// the sum of the operand.
    pub fn uniform_row(&self) -> Option<usize> {
        match self {
            Operator::Structured { uniform, .. } => uniform.iter().position(|&u| u),
            Operator::Dense { .. } => None,
        }
    }

    /// The diagonal d of the structured form, if any.
    pub fn diagonal(&self) -> Option<&[T]> {
        match self {
            Operator::Structured { diag, .. } => diag.as_deref(),
            Operator::Dense { .. } => None,
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

/// The expansion y_i = d_i x_i + sum_r proj_r U_r[i] of scaled
/// projections `proj` (d = 0 when absent; U_r = 1 for rows flagged
/// `uniform`), applied to any block of neurons: every y_i is the same
/// expression, evaluated in the same order, whatever the blocks.
pub(crate) struct Expansion<'a, T> {
    proj: &'a [T],
    u: &'a [T],
    uniform: &'a [bool],
    n: usize,
    diag: Option<&'a [T]>,
    /// The sum of the uniform rows' projections (a constant term).
    base: T,
    /// The ring's two read rows (cos, sin) when they are all there is: then
    /// one fused pass, a0 + a1 cos_i + a2 sin_i.
    two: Option<(usize, usize)>,
}

impl<'a, T: Real> Expansion<'a, T> {
    /// The expansion of `proj` over the rows `u` (R rows of `n`).
    pub(crate) fn new(
        proj: &'a [T],
        u: &'a [T],
        uniform: &'a [bool],
        n: usize,
        diag: Option<&'a [T]>,
    ) -> Self {
        let base = proj
            .iter()
            .zip(uniform)
            .filter(|(_, &u)| u)
            .fold(T::zero(), |a, (&p, _)| a + p);
        let mut e = Expansion {
            proj,
            u,
            uniform,
            n,
            diag,
            base,
            two: None,
        };
        if e.read().count() == 2 && diag.is_none() {
            let two = {
                let mut it = e.read();
                it.next().zip(it.next())
            };
            e.two = two;
        }
        e
    }

    /// The rows read (not uniform), in order.
    fn read(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.proj.len()).filter(|&r| !self.uniform[r])
    }

    /// y = the expansion at neurons off.., x the operand at the same neurons
    /// (read only for the diagonal).
    #[inline(always)]
    pub(crate) fn block(&self, off: usize, x: &[T], y: &mut [T]) {
        let (n, len, u, proj) = (self.n, y.len(), self.u, self.proj);
        let row = |r: usize| &u[r * n + off..r * n + off + len];
        let base = self.base;
        if let Some((a, b)) = self.two {
            let (pa, pb) = (proj[a], proj[b]);
            for ((yi, ua), ub) in y.iter_mut().zip(row(a)).zip(row(b)) {
                *yi = base + pa * *ua + pb * *ub;
            }
            return;
        }
        match self.diag {
            Some(d) => {
                for ((yi, di), xi) in y.iter_mut().zip(&d[off..off + len]).zip(x) {
                    *yi = *di * *xi + base;
                }
            }
            None => y.iter_mut().for_each(|yi| *yi = base),
        }
        // Four rows per pass over y (one load and store of y for four
        // terms), each y_i's terms still added in row order.
        let mut rows = self.read();
        loop {
            let mut g = [0; 4];
            let mut m = 0;
            while m < 4 {
                match rows.next() {
                    Some(r) => g[m] = r,
                    None => break,
                }
                m += 1;
            }
            if m == 4 {
                let [p0, p1, p2, p3] = g.map(|r| proj[r]);
                let [u0, u1, u2, u3] = g.map(row);
                for j in 0..len {
                    y[j] = y[j] + p0 * u0[j] + p1 * u1[j] + p2 * u2[j] + p3 * u3[j];
                }
                continue;
            }
            for &r in &g[..m] {
                let p = proj[r];
                for (yi, ur) in y.iter_mut().zip(row(r)) {
                    *yi = *yi + p * *ur;
                }
            }
            break;
        }
    }
}

/// y = the [`Expansion`] of `proj` for operand x, in chunks of neurons (in
/// parallel for large N R).
fn expand<T: Real>(
    x: &[T],
    y: &mut [T],
    proj: &[T],
    u: &[T],
    uniform: &[bool],
    n: usize,
    d: Option<&[T]>,
) {
    let e = Expansion::new(proj, u, uniform, n, d);
    let body = |(k, yc): (usize, &mut [T])| {
        let off = k * CHUNK;
        e.block(off, &x[off..off + yc.len()], yc)
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
