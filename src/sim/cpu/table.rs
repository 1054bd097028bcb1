//! Weight rows stored tile by tile: the rows a block of neurons reads
//! are one contiguous stream, whatever their number.

use super::lanes::CHUNK;
use super::pages::Aligned;
use crate::real::{c, Real};
use rayon::prelude::*;

/// Bytes of weight rows one tile of neurons may hold: a step's expansion
/// of a tile reads them and its projections read them again, from the
/// cache (half a core's L2 on the VM of BENCHMARKS.md). Sets the tile for
/// many rows (Hebbian P in the hundreds or thousands); up to 256 rows of
/// f32 a tile is a whole chunk. Chosen among 256 KiB, 512 KiB, 1 MiB, 4 MiB
/// and whole chunks by the Hebbian cases N = 2000 / P = 100 and N = 10^4 /
/// P = 500: 1 MiB was the best or within the VM's drift (up to 2x between
/// identical runs) of it.
const TILE_BYTES: usize = 1 << 20;

/// Neurons of a register block: the expansion keeps their sums, and the
/// projections their operand, in registers (eight 8-lane f32 vectors) while
/// every row's term is added.
pub(crate) const REGISTERS: usize = 64;

/// From this many rows (where [`TILE_BYTES`] gives tiles narrower than a
/// chunk) a tile is at most [`REGISTERS`]
/// neurons: the expansion and the projections then go register block by
/// register block, every row's term added to a block held in registers
/// before the next, and the rows a block reads are one stream. A Hopfield
/// run at N = 10^4, P = 500 (f32, tanh, current dynamics) went from
/// 6.9e-4–9.4e-4 to 5.2e-4–5.7e-4 s/step (alternated three times); at
/// N = 2000, P = 100 the register blocks over tiles of 1024 were slower
/// (4.1e-5–4.9e-5 against 3.6e-5–3.9e-5), so fewer rows keep wide tiles
/// and the four-row passes.
const MANY_ROWS: usize = 256;

/// The neurons of a tile for tables of `rows` rows a step reads, in a float
/// of `size` bytes: the largest power of two from 8 to [`CHUNK`] whose rows
/// fit in [`TILE_BYTES`] (a power of two, so that tiles split chunks).
pub(crate) fn tile_for(rows: usize, size: usize) -> usize {
    let fit = TILE_BYTES / (size * rows.max(1));
    let fit = if rows >= MANY_ROWS {
        fit.min(REGISTERS)
    } else {
        fit
    };
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
    data: Aligned<T>,
    /// The same entries as bytes, where every one is an integer from -128
    /// to 127 (Hebbian ±1 patterns) and the tiles are register blocks: a
    /// quarter of the f32 bytes to stream, converted exactly on the way. A
    /// Hopfield run at N = 10^4, P = 500 (f32, tanh, current dynamics): 4.0e-4
    /// –4.1e-4 s/step against 5.8e-4–6.2e-4 with the f32 entries (three
    /// alternated runs; numpy's two products 4.3e-4–5.6e-4 beside them).
    small: Option<Aligned<i8>>,
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
        let data = Aligned::build(src.len(), true, |data| {
            data.par_extend((0..src.len()).into_par_iter().map(|k| {
                let t0 = k / (tile * rows) * tile;
                let tl = tile.min(n - t0);
                let rem = k - t0 * rows;
                c::<T>(src[rem / tl * n + t0 + rem % tl])
            }))
        });
        let fits = |v: f64| v.to_bits() == f64::from(v as i8).to_bits();
        let small = (tile <= REGISTERS && rows >= MANY_ROWS && src.par_iter().all(|&v| fits(v)))
            .then(|| {
                Aligned::build(data.len(), true, |small| {
                    small.par_extend(data.par_iter().map(|v| v.to_f64().unwrap_or(0.0) as i8))
                })
            });
        Table {
            data,
            small,
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

    /// Rows 0.. at neurons off..off + len, which lie in one tile: the tile's
    /// storage from row 0 at `off`, and the stride from one row to the next
    /// (row r is `&base[r * stride..][..len]`).
    #[inline(always)]
    pub(crate) fn rows_at(&self, off: usize, len: usize) -> (&[T], usize) {
        let t0 = off / self.tile * self.tile;
        let tl = self.tile.min(self.n - t0);
        debug_assert!(off + len <= t0 + tl);
        if self.rows == 0 {
            return (&[], tl);
        }
        let at = t0 * self.rows + (off - t0);
        (&self.data[at..at + (self.rows - 1) * tl + len], tl)
    }

    /// [`Table::rows_at`] of the entries as bytes, where the table keeps
    /// them (every entry a small integer, in register-block tiles).
    #[inline(always)]
    pub(crate) fn small_rows_at(&self, off: usize, len: usize) -> Option<(&[i8], usize)> {
        let small = self.small.as_deref()?;
        let t0 = off / self.tile * self.tile;
        let tl = self.tile.min(self.n - t0);
        let at = t0 * self.rows + (off - t0);
        Some((&small[at..at + (self.rows - 1) * tl + len], tl))
    }

    /// The tiles' pieces of neurons off..off + len: (start, length).
    #[inline(always)]
    pub(crate) fn pieces(&self, off: usize, len: usize) -> impl Iterator<Item = (usize, usize)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The tile is the largest power of two from 8 to a chunk whose rows
    /// fit in 1 MiB.
    #[test]
    fn tiles_fit_their_rows_in_a_mebibyte() {
        assert_eq!(tile_for(2, 4), CHUNK);
        assert_eq!(tile_for(200, 4), 1024);
        assert_eq!(tile_for(500, 4), 64);
        assert_eq!(tile_for(4000, 4), 64);
        assert_eq!(tile_for(10_000, 4), 16);
        assert_eq!(tile_for(1 << 20, 4), 8);
    }
}
