//! The recurrent product y = M x, in the form the weights were given: dense
//! rows, a diagonal, the ring's three projections, the Hebbian P overlaps, or
//! U (V^T x). This is the CPU twin of the GPU's operator kernels.

use super::matvec::Matvec;
use crate::model::{Form, Generator, Rotation, StructuredForm, Weights};
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

/// Bytes of weight rows one tile of neurons may hold: a step's expansion
/// of a tile reads them and its projections read them again, from the
/// cache (half a core's L2 on the VM of BENCHMARKS.md). Sets the tile for
/// many rows (Hebbian P in the hundreds or thousands); up to 256 rows of
/// f32 a tile is a whole chunk. Chosen among 256 KiB, 512 KiB, 1 MiB, 4 MiB
/// and whole chunks by the Hebbian cases N = 2000 / P = 100 and N = 10^4 /
/// P = 500: 1 MiB was the best or within the VM's drift (up to 2x between
/// identical runs) of it.
const TILE_BYTES: usize = 1 << 20;

/// The neurons of a tile for tables of `rows` rows a step reads, in a float
/// of `size` bytes: the largest power of two from 8 to [`CHUNK`] whose rows
/// fit in [`TILE_BYTES`] (a power of two, so that tiles split chunks).
pub(crate) fn tile_for(rows: usize, size: usize) -> usize {
    let fit = TILE_BYTES / (size * rows.max(1));
    let mut tile = 8;
    while tile * 2 <= fit.min(CHUNK) {
        tile *= 2;
    }
    tile
}

/// The table rows a structured step reads per neuron: U's rows that are
/// not all ones (`uniform`), all of V's too where U differs (`separate_u`),
/// and the diagonal.
pub(crate) fn rows_read(uniform: &[bool], separate_u: bool, diag: bool) -> usize {
    let read = if separate_u {
        2 * uniform.len()
    } else {
        uniform.iter().filter(|&&u| !u).count()
    };
    read + usize::from(diag)
}

/// R rows of N entries stored tile by tile: the neurons are cut into
/// tiles of `tile` (the last one shorter), and a tile's R row segments lie
/// one after the other, so that the rows a block of neurons reads are one
/// contiguous stream whatever R (R separate rows of N would be R streams,
/// more than a core's prefetchers follow once R is in the hundreds).
#[derive(Clone, Debug)]
pub struct Table<T> {
    data: Vec<T>,
    rows: usize,
    n: usize,
    tile: usize,
}

impl<T: Real> Table<T> {
    /// The table of `rows` rows of `n` (row-major in `src`), in tiles of
    /// `tile` neurons (a power of two from 8 dividing the 1024-neuron
    /// chunk, or at least n), converted to `T` and backed by huge pages
    /// (tables are streamed every step).
    pub fn new(src: &[f64], rows: usize, n: usize, tile: usize) -> Self {
        assert_eq!(src.len(), rows * n, "a table of {rows} rows of {n}");
        assert!(
            tile >= n || (tile.is_power_of_two() && tile >= 8 && CHUNK.is_multiple_of(tile)),
            "tile {tile}"
        );
        let mut data = Vec::with_capacity(src.len());
        super::matvec::advise_huge_pages(&data);
        data.par_extend((0..src.len()).into_par_iter().map(|k| {
            let t0 = k / (tile * rows) * tile;
            let tl = tile.min(n - t0);
            let rem = k - t0 * rows;
            c::<T>(src[rem / tl * n + t0 + rem % tl])
        }));
        Table {
            data,
            rows,
            n,
            tile,
        }
    }

    /// Neurons per tile.
    pub fn tile(&self) -> usize {
        self.tile
    }

    /// Row r at neurons off..off + len, which lie in one tile.
    #[inline(always)]
    pub fn row(&self, r: usize, off: usize, len: usize) -> &[T] {
        let t0 = off / self.tile * self.tile;
        let tl = self.tile.min(self.n - t0);
        debug_assert!(off + len <= t0 + tl && r < self.rows);
        let at = t0 * self.rows + r * tl + (off - t0);
        &self.data[at..at + len]
    }

    /// The tiles' pieces of neurons off..off + len: (start, length).
    #[inline(always)]
    fn pieces(&self, off: usize, len: usize) -> impl Iterator<Item = (usize, usize)> {
        let (tile, end) = (self.tile, off + len);
        let mut at = off;
        std::iter::from_fn(move || {
            (at < end).then(|| {
                let stop = ((at / tile + 1) * tile).min(end);
                let piece = (at, stop - at);
                at = stop;
                piece
            })
        })
    }
}

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
        v: Table<T>,
        /// U, R rows of N, in the same tiles; `None` when U = V.
        u: Option<Table<T>>,
        /// Rows of V (and of U when U = V) whose entries are all 1 (the
        /// ring's uniform mode): their projection is the sum of x and their
        /// expansion adds it, without reading the row.
        uniform: Vec<bool>,
        /// The row pairs a velocity turns ([`Operator::apply_turned`]).
        rotations: Vec<Rotation>,
    },
    /// `random` weights generated row by row at every product (O(N)
    /// memory): each block of [`GENERATED_ROWS`] rows is generated into a
    /// thread's scratch and multiplied by the dense kernel, so every row's
    /// sum is the one the stored matrix gives.
    Generated(Generator),
    /// Hebbian weights of bit-packed patterns.
    Packed(PackedOperator<T>),
    /// A kernel on a periodic sheet, applied by FFT.
    Convolution(std::sync::Arc<crate::model::Convolution>),
}

/// Hebbian weights from bit-packed ±1 patterns, without their values
/// ever stored as floats ([`crate::model::patterns`]).
#[derive(Clone, Debug)]
pub struct PackedOperator<T> {
    /// The patterns.
    pub bits: std::sync::Arc<crate::model::PatternBits>,
    /// 1/N.
    pub coef: T,
    /// The diagonal correction -P/N (the same for every unit).
    pub diag: T,
}

/// Rows of generated weights a task generates and multiplies at once (the
/// dense kernel's four rows per load of x).
pub const GENERATED_ROWS: usize = 4;

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

/// The products of the R rows of `rows` with x, in one pass over x: chunk
/// by chunk (in parallel for large N R), each chunk's R dot products (fed
/// tile by tile), then the chunks' sums added in order; equal bit for bit
/// to [`long_dot`] of each row, or to [`long_sum`] for rows flagged
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
    if n * rank >= PARALLEL_WORK {
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
        match weights.form() {
            Form::Dense { n, m } => {
                // M is streamed every step: back it with huge pages.
                let mut entries = Vec::with_capacity(m.len());
                super::matvec::advise_huge_pages(&entries);
                entries.par_extend(m.par_iter().map(|&x| c::<T>(x)));
                Operator::Dense { n, m: entries }
            }
            Form::Generated(g) => Operator::Generated(g),
            Form::Packed { n, bits } => Operator::Packed(PackedOperator {
                bits: bits.clone(),
                coef: c(1.0 / n as f64),
                diag: c(-(bits.p() as f64) / n as f64),
            }),
            Form::Convolution(k) => {
                Operator::Convolution(std::sync::Arc::new(crate::model::Convolution::new(k)))
            }
            Form::Structured(form) => Self::from_form(&form),
        }
    }

    /// The operator of a structured form, converted to `T`, its tables in
    /// tiles sized to the rows a step reads (U's rows that are not
    /// all ones, V's too where U differs, the diagonal).
    pub fn from_form(form: &StructuredForm) -> Self {
        let uniform = form.unit_rows();
        let rows = rows_read(&uniform, form.u.is_some(), form.diag.is_some());
        Self::tiled(form, uniform, tile_for(rows, std::mem::size_of::<T>()))
    }

    /// [`Operator::from_form`] with tiles of `tile` neurons, `uniform` the
    /// form's all-ones rows.
    fn tiled(form: &StructuredForm, uniform: Vec<bool>, tile: usize) -> Self {
        let cv = |v: &[f64]| {
            // Streamed every step: on huge pages.
            let mut out = Vec::with_capacity(v.len());
            super::matvec::advise_huge_pages(&out);
            out.par_extend(v.par_iter().map(|&x| c::<T>(x)));
            out
        };
        let (n, rank) = (form.n, form.coef.len());
        Operator::Structured {
            n,
            diag: form.diag.as_deref().map(cv),
            coef: cv(&form.coef),
            v: Table::new(&form.v, rank, n, tile),
            u: form.u.as_deref().map(|u| Table::new(u, rank, n, tile)),
            uniform,
            rotations: form.rotations.clone(),
        }
    }

    /// The row pairs a velocity turns (none but the ring's).
    pub fn rotations(&self) -> &[Rotation] {
        match self {
            Operator::Structured { rotations, .. } => rotations,
            Operator::Dense { .. }
            | Operator::Generated(_)
            | Operator::Packed(_)
            | Operator::Convolution(_) => &[],
        }
    }

    /// Number of low-rank projections this operator computes per product
    /// (3 for a ring, P for Hebbian, R for low rank, 0 otherwise).
    pub fn projections(&self) -> usize {
        match self {
            Operator::Structured { coef, .. } => coef.len(),
            Operator::Dense { .. } | Operator::Generated(_) | Operator::Convolution(_) => 0,
            Operator::Packed(p) => p.bits.p(),
        }
    }

    /// The first row of V (= U) that is all ones, if any: its projection is
    /// the sum of the operand.
    pub fn uniform_row(&self) -> Option<usize> {
        match self {
            Operator::Structured { uniform, .. } => uniform.iter().position(|&u| u),
            Operator::Dense { .. }
            | Operator::Generated(_)
            | Operator::Packed(_)
            | Operator::Convolution(_) => None,
        }
    }

    /// The diagonal d of the structured form, if any.
    pub fn diagonal(&self) -> Option<&[T]> {
        match self {
            Operator::Structured { diag, .. } => diag.as_deref(),
            Operator::Dense { .. }
            | Operator::Generated(_)
            | Operator::Packed(_)
            | Operator::Convolution(_) => None,
        }
    }

    /// y = M x. `proj` is scratch space for the projections.
    pub fn apply(&self, x: &[T], y: &mut [T], proj: &mut Vec<T>) {
        self.apply_turned(x, y, proj, &[])
    }

    /// y = M(kappa) x: M with each of its [`Operator::rotations`] turned by
    /// the matching `kappa` (tau k v: the velocity's sine kernel added);
    /// missing values are 0.
    pub fn apply_turned(&self, x: &[T], y: &mut [T], proj: &mut Vec<T>, kappa: &[T]) {
        match self {
            Operator::Dense { n, m } => T::matvec(m, *n, x, y),
            Operator::Convolution(conv) => conv.apply_turned(x, y, kappa),
            Operator::Packed(p) => {
                crate::model::patterns::overlaps(&p.bits, x, p.coef, proj);
                crate::model::patterns::field(&p.bits, proj, p.diag, x, y);
            }
            Operator::Generated(g) => {
                let n = g.n;
                let block = |rows: &mut Vec<T>, (k, yb): (usize, &mut [T])| {
                    rows.resize(yb.len() * n, T::zero());
                    for (r, row) in rows.chunks_exact_mut(n).enumerate() {
                        g.row(k * GENERATED_ROWS + r, |j, v| row[j] = c(v));
                    }
                    T::rows(rows, n, x, yb);
                };
                if n >= 64 {
                    y.par_chunks_mut(GENERATED_ROWS)
                        .enumerate()
                        .for_each_init(Vec::new, block);
                } else {
                    let mut rows = Vec::new();
                    y.chunks_mut(GENERATED_ROWS)
                        .enumerate()
                        .for_each(|b| block(&mut rows, b));
                }
            }
            Operator::Structured { .. } => {
                let s = self.parts().expect("a structured operator has parts");
                #[cfg(target_arch = "x86_64")]
                if super::matvec::simd_available() {
                    // SAFETY: the CPU has AVX2 and FMA (checked just above).
                    return unsafe { s.apply_avx2(x, y, proj, kappa) };
                }
                s.apply(x, y, proj, kappa)
            }
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
    pub(crate) uniform: &'a [bool],
    pub(crate) rotations: &'a [Rotation],
}

impl<T> Operator<T> {
    /// The structured form's parts; `None` for dense and generated M.
    pub(crate) fn parts(&self) -> Option<Parts<'_, T>> {
        match self {
            Operator::Structured {
                n,
                diag,
                coef,
                v,
                u,
                uniform,
                rotations,
            } => Some(Parts {
                n: *n,
                diag: diag.as_deref(),
                coef,
                v,
                u: u.as_ref().unwrap_or(v),
                uniform,
                rotations,
            }),
            Operator::Dense { .. }
            | Operator::Generated(_)
            | Operator::Packed(_)
            | Operator::Convolution(_) => None,
        }
    }
}

impl<T: Real> Parts<'_, T> {
    /// y = M x: the projections, scaled, then the expansion.
    #[inline(always)]
    fn apply(&self, x: &[T], y: &mut [T], proj: &mut Vec<T>, kappa: &[T]) {
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
    unsafe fn apply_avx2(&self, x: &[T], y: &mut [T], proj: &mut Vec<T>, kappa: &[T]) {
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
    uniform: &'a [bool],
    diag: Option<&'a [T]>,
    /// The sum of the uniform rows' projections (a constant term).
    base: T,
    /// The ring's two read rows (cos, sin) when they are all there is: then
    /// one fused pass, a0 + a1 cos_i + a2 sin_i.
    two: Option<(usize, usize)>,
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
            uniform,
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
                    let t = p1.mul_add(u1[j], p0.mul_add(u0[j], y[j]));
                    y[j] = p3.mul_add(u3[j], p2.mul_add(u2[j], t));
                }
                continue;
            }
            for &r in &g[..m] {
                let p = proj[r];
                for (yi, ur) in y.iter_mut().zip(row(r)) {
                    *yi = p.mul_add(*ur, *yi);
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

    /// Tiles change where the entries lie, not the product: M x of a
    /// low-rank form with a diagonal and U != V (R = 40, N = 3001, not a
    /// multiple of any tile) is the same bit for bit in tiles of 8 to 1024
    /// and in rows of N (one tile), on one thread and above the parallel
    /// threshold (N = 70001), and in f64 it equals the sum over r written
    /// out to 1e-12 (terms of size ~1, R N of them: rounding ~1e-12 at
    /// most).
    #[test]
    fn tiles_leave_the_product_unchanged() {
        let w = |k: usize| ((k * 7919 + 13) % 101) as f64 / 101.0 - 0.5;
        for (n, rank) in [(3001usize, 40usize), (70_001, 4)] {
            let form = StructuredForm {
                n,
                diag: Some((0..n).map(|i| w(i + 5)).collect()),
                coef: (0..rank).map(|r| 1.0 + r as f64 / 7.0).collect(),
                u: Some((0..rank * n).map(|k| w(k + 1)).collect()),
                v: (0..rank * n).map(|k| w(k + 2) / n as f64).collect(),
                rotations: Vec::new(),
            };
            let x: Vec<f64> = (0..n).map(|i| w(3 * i)).collect();
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let mut proj = Vec::new();
            let apply = |op: &Operator<f32>, proj: &mut Vec<f32>| {
                let mut y = vec![0.0f32; n];
                op.apply(&xf, &mut y, proj);
                y
            };
            let whole = apply(
                &Operator::<f32>::tiled(&form, form.unit_rows(), n.max(CHUNK)),
                &mut proj,
            );
            for tile in [8, 16, 256, CHUNK] {
                let y = apply(
                    &Operator::<f32>::tiled(&form, form.unit_rows(), tile),
                    &mut proj,
                );
                for i in 0..n {
                    assert!(y[i] == whole[i], "n = {n}, tile {tile}, i = {i}");
                }
                let op = Operator::<f64>::tiled(&form, form.unit_rows(), tile);
                let mut y = vec![0.0; n];
                op.apply(&x, &mut y, &mut Vec::new());
                let (u, v, d) = (
                    form.u.as_ref().unwrap(),
                    &form.v,
                    form.diag.as_ref().unwrap(),
                );
                let p: Vec<f64> = (0..rank)
                    .map(|r| form.coef[r] * (0..n).map(|j| v[r * n + j] * x[j]).sum::<f64>())
                    .collect();
                for i in (0..n).step_by(97) {
                    let want = d[i] * x[i] + (0..rank).map(|r| p[r] * u[r * n + i]).sum::<f64>();
                    assert!(
                        (y[i] - want).abs() < 1e-12,
                        "n = {n}, tile {tile}, i = {i}: {} vs {want}",
                        y[i]
                    );
                }
            }
        }
    }

    /// The tile is the largest power of two from 8 to a chunk whose rows
    /// fit in 1 MiB.
    #[test]
    fn tiles_fit_their_rows_in_a_mebibyte() {
        assert_eq!(tile_for(2, 4), CHUNK);
        assert_eq!(tile_for(500, 4), 512);
        assert_eq!(tile_for(4000, 4), 64);
        assert_eq!(tile_for(10_000, 4), 16);
        assert_eq!(tile_for(1 << 20, 4), 8);
    }
}
