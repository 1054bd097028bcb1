//! Sums and dot products in a fixed order: eight lanes per accumulator,
//! chunks of [`CHUNK`] neurons added in order, so that a result has the
//! same bits whatever the blocks, threads and vector width. The CPU
//! backend's reductions, and its reference dense product in f64.

use crate::real::Real;
use rayon::prelude::*;

/// Work below this many multiply-adds stays on one thread.
pub const PARALLEL_WORK: usize = 1 << 16;

/// Whether `work` multiply-adds are shared over rayon's threads (from
/// [`PARALLEL_WORK`]): the dense products' test, and the structured
/// projections' and expansion's.
pub fn forks(work: usize) -> bool {
    work >= PARALLEL_WORK
}

/// Chunk length of parallel and compensated reductions: the projections'
/// partial sums are per chunk of this many neurons, summed in order. Also
/// the grain of the fused step's parallel split: 1024 rather than 4096
/// halved a Hebbian step of N = 10^4, P = 500 on two cores (2.8–3.0 ms
/// against 1.1–1.6 ms, alternated three times; 3 chunks of 4096 do not
/// split evenly over two threads) and left the rings as they were.
pub const CHUNK: usize = 1 << 10;

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

    /// The products of `R` rows with the same b, in one loop, each product
    /// added to its lane by a fused multiply-add (one rounding, so the same
    /// bits on every machine; one instruction where the CPU has FMA): R
    /// independent chains (a row's lanes alone are one chain, bound by the
    /// latency of an FMA) and one load of b for R rows. A row's sums do not
    /// depend on R or on how its blocks are split (each but the last a
    /// multiple of 8 long). The structured operators' products.
    #[inline(always)]
    pub fn dot_rows<const R: usize>(lanes: &mut [Lanes<T>], rows: [&[T]; R], b: &[T]) {
        let len = b.len();
        let rows = rows.map(|r| &r[..len]);
        // Local copies, kept in registers (not stored every iteration).
        let mut l: [Lanes<T>; R] = std::array::from_fn(|q| lanes[q]);
        let whole = len / 8 * 8;
        for (j, x) in b[..whole].chunks_exact(8).enumerate() {
            for (lq, row) in l.iter_mut().zip(&rows) {
                let a: &[T; 8] = row[8 * j..8 * j + 8].try_into().unwrap();
                for k in 0..8 {
                    lq.acc[k] = a[k].mul_add(x[k], lq.acc[k]);
                }
            }
        }
        for j in whole..len {
            for (lq, row) in l.iter_mut().zip(&rows) {
                lq.tail = row[j].mul_add(b[j], lq.tail);
            }
        }
        lanes[..R].copy_from_slice(&l);
    }

    /// [`Lanes::dot_rows`] of each row `r` of `read` (row r is
    /// `&rows[r * stride..][..W]`, its entries read by `value`: floats as
    /// they are, or bytes converted exactly) with one block `b` of W
    /// neurons (a multiple of 8), into `lanes[r]`: b is loaded once and kept
    /// in registers while every row's products are added, and each row's
    /// sums are those [`Lanes::dot_rows`] gives it, bit for bit.
    #[inline(always)]
    pub fn dot_block<E: Copy, const W: usize>(
        lanes: &mut [Lanes<T>],
        read: &[usize],
        (rows, stride): (&[E], usize),
        b: &[T; W],
        value: impl Fn(E) -> T,
    ) {
        const { assert!(W.is_multiple_of(8)) };
        for &r in read {
            let row: &[E; W] = rows[r * stride..][..W].try_into().unwrap();
            let mut acc = lanes[r].acc;
            for j in 0..W / 8 {
                for k in 0..8 {
                    acc[k] = value(row[8 * j + k]).mul_add(b[8 * j + k], acc[k]);
                }
            }
            lanes[r].acc = acc;
        }
    }

    /// The dot product of the blocks added by [`Lanes::dot`] (or
    /// [`Lanes::dot_rows`]).
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

/// A small integer as a float (exact).
#[inline(always)]
pub(crate) fn small<T: Real>(v: i8) -> T {
    <T as num_traits::NumCast>::from(v).unwrap_or_else(T::zero)
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
    if forks(m.len()) {
        y.par_iter_mut().enumerate().for_each(row);
    } else {
        y.iter_mut().enumerate().for_each(row);
    }
}

/// A long dot product, split into chunks (in parallel for large N), each
/// chunk's products added by fused multiply-adds as in
/// [`Lanes::dot_rows`]: the structured operators' projection of one row.
pub fn long_dot<T: Real>(a: &[T], b: &[T]) -> T {
    let chunk_dot = |(x, y): (&[T], &[T])| {
        let mut l = [Lanes::default()];
        Lanes::dot_rows(&mut l, [x], y);
        l[0].dot_total()
    };
    if a.len() >= PARALLEL_WORK {
        a.par_chunks(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .map(chunk_dot)
            .collect::<Vec<T>>()
            .into_iter()
            .sum()
    } else {
        a.chunks(CHUNK).zip(b.chunks(CHUNK)).map(chunk_dot).sum()
    }
}

/// The sum of one chunk, eight accumulators.
pub(crate) fn chunk_sum<T: Real>(x: &[T]) -> T {
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
