//! Weight rows stored tile by tile: the rows a block of neurons reads
//! are one contiguous stream, whatever their number.

use super::lanes::CHUNK;
use super::pages::advise_huge_pages;
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
        advise_huge_pages(&data);
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
        assert_eq!(tile_for(500, 4), 512);
        assert_eq!(tile_for(4000, 4), 64);
        assert_eq!(tile_for(10_000, 4), 16);
        assert_eq!(tile_for(1 << 20, 4), 8);
    }
}
