//! The structured product y = M x for M = diag(d) + sum_r coef_r U_r
//! V_r^T: the R projections coef_r (V_r . x) of a table's rows, then the
//! expansion y_i = d_i x_i + sum_r proj_r U_r,i (the CPU twin of
//! `structured.wgsl`'s projection and update passes).

use super::lanes::{chunk_sum, forks, small, Lanes, CHUNK};
use super::table::{Table, REGISTERS};
use crate::model::Rotation;
use crate::real::Real;
use rayon::prelude::*;

/// The products of the R rows of `rows` with x, in one pass over x: chunk
/// by chunk (in parallel for large N R), each chunk's R dot products (fed
/// tile by tile), then the chunks' sums added in order; equal bit for bit
/// to [`long_dot`](super::lanes::long_dot) of each row, or to
/// [`long_sum`](super::lanes::long_sum) for rows flagged
/// `uniform` (all ones), which are not read.
pub fn projections<T: Real>(rows: &Table<T>, uniform: &[bool], x: &[T], out: &mut Vec<T>) {
    let n = x.len();
    let rank = uniform.len();
    // Chunk `xc` at neuron `off`: its R sums into `sums`.
    let chunk = |off: usize, xc: &[T], lanes: &mut Vec<Lanes<T>>, sums: &mut [T]| {
        lanes.clear();
        lanes.resize(rank, Lanes::default());
        for (at, len) in rows.pieces(off, xc.len()) {
            let xp = &xc[at - off..at - off + len];
            for r in 0..rank {
                if !uniform[r] {
                    Lanes::dot_rows(&mut lanes[r..r + 1], [rows.row(r, at, len)], xp);
                }
            }
        }
        for (r, s) in sums.iter_mut().enumerate() {
            *s = if uniform[r] {
                chunk_sum(xc)
            } else {
                lanes[r].dot_total()
            };
        }
    };
    out.clear();
    out.resize(rank, T::zero());
    if forks(n * rank) {
        let parts: Vec<Vec<T>> = x
            .par_chunks(CHUNK)
            .enumerate()
            .map_init(Vec::new, |lanes, (k, xc)| {
                let mut sums = vec![T::zero(); rank];
                chunk(k * CHUNK, xc, lanes, &mut sums);
                sums
            })
            .collect();
        for p in parts {
            for (t, v) in out.iter_mut().zip(p) {
                *t = *t + v;
            }
        }
        return;
    }
    // One thread: each chunk's sums added as they come (the same order as
    // above).
    let mut lanes = Vec::with_capacity(rank);
    let mut sums = vec![T::zero(); rank];
    for (k, xc) in x.chunks(CHUNK).enumerate() {
        chunk(k * CHUNK, xc, &mut lanes, &mut sums);
        for (t, v) in out.iter_mut().zip(&sums) {
            *t = *t + *v;
        }
    }
}

/// The parts of [`Operator::Structured`], borrowed, U = V where the form
/// has one table.
#[derive(Clone, Copy)]
pub(crate) struct Parts<'a, T> {
    pub(crate) n: usize,
    pub(crate) diag: Option<&'a [T]>,
    pub(crate) coef: &'a [T],
    pub(crate) v: &'a Table<T>,
    pub(crate) u: &'a Table<T>,
    /// U is stored apart from V (`u` is not `v`).
    pub(crate) separate_u: bool,
    pub(crate) uniform: &'a [bool],
    pub(crate) rotations: &'a [Rotation],
}

impl<T: Real> Parts<'_, T> {
    /// y = M x: the projections, scaled, then the expansion.
    #[inline(always)]
    pub(crate) fn apply(&self, x: &[T], y: &mut [T], proj: &mut Vec<T>, kappa: &[T]) {
        projections(self.v, self.uniform, x, proj);
        for (p, c) in proj.iter_mut().zip(self.coef) {
            *p = *c * *p;
        }
        self.turn(proj, kappa);
        expand(x, y, proj, self.u, self.uniform, self.n, self.diag);
    }

    /// Turns the scaled projections `p` by `kappa`, rotation by rotation.
    #[inline]
    pub(crate) fn turn(&self, p: &mut [T], kappa: &[T]) {
        for (r, &k) in self.rotations.iter().zip(kappa) {
            if k != T::zero() {
                r.apply(p, k);
            }
        }
    }

    /// [`Parts::apply`] compiled for AVX2 and FMA (8 f32 lanes, and
    /// each fused multiply-add one instruction instead of a library call;
    /// the same numbers).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn apply_avx2(&self, x: &[T], y: &mut [T], proj: &mut Vec<T>, kappa: &[T]) {
        self.apply(x, y, proj, kappa)
    }
}

/// The expansion y_i = d_i x_i + sum_r proj_r U_r[i] of scaled
/// projections `proj` (d = 0 when absent; U_r = 1 for rows flagged
/// `uniform`), applied to any block of neurons: every y_i is the same
/// expression, evaluated in the same order, whatever the blocks, each term
/// added by a fused multiply-add.
pub(crate) struct Expansion<'a, T> {
    proj: &'a [T],
    u: &'a Table<T>,
    diag: Option<&'a [T]>,
    /// The sum of the uniform rows' projections (a constant term).
    base: T,
    /// The ring's two read rows (cos, sin) when they are all there is: then
    /// one fused pass, a0 + a1 cos_i + a2 sin_i.
    two: Option<(usize, usize)>,
    /// The rows read (not uniform), in order.
    read_rows: Vec<usize>,
}

impl<'a, T: Real> Expansion<'a, T> {
    /// The expansion of `proj` over the rows `u`.
    pub(crate) fn new(
        proj: &'a [T],
        u: &'a Table<T>,
        uniform: &'a [bool],
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
            diag,
            base,
            two: None,
            read_rows: (0..proj.len()).filter(|&r| !uniform[r]).collect(),
        };
        if let (&[a, b], None) = (&e.read_rows[..], diag) {
            e.two = Some((a, b));
        }
        e
    }

    /// The rows read (not uniform), in order.
    pub(crate) fn read_rows(&self) -> &[usize] {
        &self.read_rows
    }

    /// y = the expansion at neurons off.., x the operand at the same neurons
    /// (read only for the diagonal), tile by tile.
    #[inline(always)]
    pub(crate) fn block(&self, off: usize, x: &[T], y: &mut [T]) {
        for (at, len) in self.u.pieces(off, y.len()) {
            let k = at - off;
            self.tile_block(at, &x[k..k + len], &mut y[k..k + len]);
        }
    }

    /// [`Expansion::block`] of neurons within one tile.
    #[inline(always)]
    pub(crate) fn tile_block(&self, off: usize, x: &[T], y: &mut [T]) {
        let (len, u, proj) = (y.len(), self.u, self.proj);
        let row = |r: usize| u.row(r, off, len);
        let base = self.base;
        if let Some((a, b)) = self.two {
            let (pa, pb) = (proj[a], proj[b]);
            for ((yi, ua), ub) in y.iter_mut().zip(row(a)).zip(row(b)) {
                *yi = pb.mul_add(*ub, pa.mul_add(*ua, base));
            }
            return;
        }
        match self.diag {
            Some(d) => {
                for ((yi, di), xi) in y.iter_mut().zip(&d[off..off + len]).zip(x) {
                    *yi = di.mul_add(*xi, base);
                }
            }
            None => y.iter_mut().for_each(|yi| *yi = base),
        }
        let read: &[usize] = &self.read_rows;
        let (rows, stride) = u.rows_at(off, len);
        if stride > REGISTERS {
            // Wide tiles (few rows): four rows per pass over y (one load
            // and store of y for four terms), each y_i's terms still added
            // in row order.
            let mut groups = read.chunks_exact(4);
            for g in groups.by_ref() {
                let [p0, p1, p2, p3] = [0, 1, 2, 3].map(|q| proj[g[q]]);
                let [u0, u1, u2, u3] = [0, 1, 2, 3].map(|q| row(g[q]));
                for j in 0..len {
                    let t = p1.mul_add(u1[j], p0.mul_add(u0[j], y[j]));
                    y[j] = p3.mul_add(u3[j], p2.mul_add(u2[j], t));
                }
            }
            for &r in groups.remainder() {
                let p = proj[r];
                for (yi, ur) in y.iter_mut().zip(row(r)) {
                    *yi = p.mul_add(*ur, *yi);
                }
            }
            return;
        }
        // Tiles of at most [`REGISTERS`] neurons (many rows, read as one
        // stream): blocks whose sums stay in registers while every row's
        // term is added to them (one load of each table entry, independent
        // chains of fused multiply-adds, y stored once), each y_i's terms
        // still added in row order.
        let j0 = match u.small_rows_at(off, len) {
            Some(bytes) => register_blocks(y, read, proj, bytes, small::<T>),
            None => register_blocks(y, read, proj, (rows, stride), |v| v),
        };
        for &r in read {
            let p = proj[r];
            let ur = &rows[r * stride + j0..][..len - j0];
            for (yi, u) in y[j0..].iter_mut().zip(ur) {
                *yi = p.mul_add(*u, *yi);
            }
        }
    }
}

/// The expansion's register blocks of a tile: for each whole block of
/// [`REGISTERS`] neurons of `y`, every row of `read` added in order (row r
/// is `&rows[r * stride..]`, its entries read by `value`) to the block's
/// sums held in registers; returns where the whole blocks end.
#[inline(always)]
fn register_blocks<T: Real, E: Copy>(
    y: &mut [T],
    read: &[usize],
    proj: &[T],
    (rows, stride): (&[E], usize),
    value: impl Fn(E) -> T,
) -> usize {
    let mut j0 = 0;
    while j0 + REGISTERS <= y.len() {
        let mut acc: [T; REGISTERS] = y[j0..j0 + REGISTERS].try_into().unwrap();
        for &r in read {
            let p = proj[r];
            let ur: &[E; REGISTERS] = rows[r * stride + j0..][..REGISTERS].try_into().unwrap();
            for k in 0..REGISTERS {
                acc[k] = p.mul_add(value(ur[k]), acc[k]);
            }
        }
        y[j0..j0 + REGISTERS].copy_from_slice(&acc);
        j0 += REGISTERS;
    }
    j0
}

/// y = the [`Expansion`] of `proj` for operand x, in chunks of neurons (in
/// parallel for large N R).
fn expand<T: Real>(
    x: &[T],
    y: &mut [T],
    proj: &[T],
    u: &Table<T>,
    uniform: &[bool],
    n: usize,
    d: Option<&[T]>,
) {
    let e = Expansion::new(proj, u, uniform, d);
    let body = |(k, yc): (usize, &mut [T])| {
        let off = k * CHUNK;
        e.block(off, &x[off..off + yc.len()], yc)
    };
    if forks(n * proj.len().max(1)) {
        y.par_chunks_mut(CHUNK).enumerate().for_each(body);
    } else {
        y.chunks_mut(CHUNK).enumerate().for_each(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::theta;
    use crate::sim::cpu::lanes::{long_dot, long_sum};

    /// The expansion of many rows (register blocks of 64 neurons and the
    /// rest of a tile, with the entries kept as bytes where they are small
    /// integers) and of a few (four rows per pass over y) is, at every
    /// neuron, d_i x_i + base and then each read row's term added by a
    /// fused multiply-add in row order, bit for bit.
    #[test]
    fn the_expansion_adds_each_row_in_order() {
        for (rows, n, tile, integers) in [
            (300, 1000, 64, false),
            (300, 1000, 64, true),
            (300, 150, 64, true),
            (7, 1000, 1024, false),
            (7, 70, 8, false),
        ] {
            let src: Vec<f64> = (0..rows * n)
                .map(|k| match integers {
                    true => (k * 7919 % 7) as f64 - 3.0,
                    false => ((k * 7919 % 1013) as f64 - 506.0) / 300.0,
                })
                .collect();
            let table = Table::<f32>::new(&src, rows, n, tile);
            assert_eq!(table.small_rows_at(0, 8).is_some(), integers);
            let uniform: Vec<bool> = (0..rows).map(|r| r % 5 == 1).collect();
            let proj: Vec<f32> = (0..rows).map(|r| (r as f32 - 3.5) / 9.0).collect();
            let d: Vec<f32> = (0..n).map(|i| (i % 13) as f32 / 7.0).collect();
            let x: Vec<f32> = (0..n).map(|i| ((i * 31 % 17) as f32 - 8.0) / 5.0).collect();
            let e = Expansion::new(&proj, &table, &uniform, Some(&d));
            let mut y = vec![0.0f32; n];
            for t0 in (0..n).step_by(tile) {
                let t1 = (t0 + tile).min(n);
                e.tile_block(t0, &x[t0..t1], &mut y[t0..t1]);
            }
            let base = (0..rows)
                .filter(|&r| uniform[r])
                .fold(0.0f32, |a, r| a + proj[r]);
            for i in 0..n {
                let mut want = d[i].mul_add(x[i], base);
                for r in (0..rows).filter(|&r| !uniform[r]) {
                    want = proj[r].mul_add(src[r * n + i] as f32, want);
                }
                assert_eq!(
                    y[i].to_bits(),
                    want.to_bits(),
                    "{rows} rows, tile {tile}, neuron {i}"
                );
            }
        }
    }

    /// The fused ring projections are the three separate long reductions,
    /// bit for bit, below and above the parallel threshold, at lengths that
    /// are not multiples of the chunk, and whatever the tiles.
    #[test]
    fn ring_projections_equal_the_separate_reductions() {
        for n in [7usize, 4096, 70_001, 300_000] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let cos: Vec<f64> = (0..n).map(|i| theta(i, n).cos()).collect();
            let sin: Vec<f64> = (0..n).map(|i| theta(i, n).sin()).collect();
            let src: Vec<f64> = [&vec![1.0; n][..], &cos, &sin].concat();
            let cos: Vec<f32> = cos.iter().map(|&v| v as f32).collect();
            let sin: Vec<f32> = sin.iter().map(|&v| v as f32).collect();
            for tile in [8, 64, CHUNK, n.max(CHUNK)] {
                let rows = Table::<f32>::new(&src, 3, n, tile);
                let mut p = Vec::new();
                projections(&rows, &[true, false, false], &x, &mut p);
                let [s, dc, ds] = [p[0], p[1], p[2]];
                let at = format!("n = {n}, tile = {tile}");
                assert_eq!(s.to_bits(), long_sum(&x).to_bits(), "sum, {at}");
                assert_eq!(dc.to_bits(), long_dot(&cos, &x).to_bits(), "cos, {at}");
                assert_eq!(ds.to_bits(), long_dot(&sin, &x).to_bits(), "sin, {at}");
            }
        }
    }
}
