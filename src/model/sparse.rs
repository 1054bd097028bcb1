//! Sparse weights from data: M in compressed sparse rows ([`Csr`]), row i
//! the postsynaptic neuron (as for dense weights), built from triplets or
//! from scipy's CSR and CSC arrays and checked on the way in.

use std::ops::Range;

/// What is known of sparse weights beyond their entries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SparseOrigin {
    /// Read from data (`sparse`): the entries only.
    Data,
    /// Drawn from the ring's cosine kernel (`ring` with a `degree`): the
    /// neurons lie on a ring, so the bump's metrics apply.
    Ring,
    /// Drawn as random weights g J / sqrt(K_i) (`random` with a
    /// `degree`): each neuron's input variance is g² per unit of
    /// presynaptic variance, the eigenvalues fill the disk of radius |g|.
    Random {
        /// The gain g.
        g: f64,
    },
}

/// An N×N matrix in compressed sparse rows: row i's entries are
/// `values[row_ptr[i]..row_ptr[i + 1]]` at columns `cols[..]` of the same
/// range, the columns of a row strictly increasing (duplicates summed).
#[derive(Clone, Debug, PartialEq)]
pub struct Csr {
    n: usize,
    row_ptr: Vec<usize>,
    cols: Vec<u32>,
    values: Vec<f64>,
}

/// A row is heavy when it has more than this many times the mean entries
/// per row, and at least [`HEAVY_ROW_MIN`]: a backend gives it a team of
/// its own (heavy-tailed in-degrees would otherwise leave one row's
/// thread working long after the others).
pub const HEAVY_ROW_FACTOR: usize = 32;
/// The fewest entries of a heavy row.
pub const HEAVY_ROW_MIN: usize = 1024;

/// The length beyond which a row of a matrix of `nnz` entries in `n` rows
/// is heavy.
pub fn heavy_row_threshold(n: usize, nnz: usize) -> usize {
    (HEAVY_ROW_FACTOR * nnz / n.max(1)).max(HEAVY_ROW_MIN)
}

/// What is wrong with sparse data ([`Csr::from_triplets`] and friends):
/// a sentence naming the entry and the rule, for the caller to prefix with
/// the key.
pub type SparseError = String;

impl Csr {
    /// The matrix of N = `n` with the entries (`rows[k]`, `cols[k]`) =
    /// `values[k]`, in any order; entries at the same place are summed (as
    /// scipy does converting COO to CSR). Refused: arrays of different
    /// lengths, an index outside 0..N, a value that is not finite, N past
    /// the 32-bit column range.
    pub fn from_triplets(
        n: usize,
        rows: &[u64],
        cols: &[u64],
        values: &[f64],
    ) -> Result<Self, SparseError> {
        if rows.len() != cols.len() || rows.len() != values.len() {
            return Err(format!(
                "rows, cols and values have lengths {}, {} and {}; they must be equal",
                rows.len(),
                cols.len(),
                values.len()
            ));
        }
        if n > u32::MAX as usize {
            return Err(format!("N = {n} is more than 2^32 - 1 neurons"));
        }
        for (what, idx) in [("row", rows), ("column", cols)] {
            if let Some(k) = idx.iter().position(|&i| i >= n as u64) {
                return Err(format!(
                    "entry {k} has {what} index {}, outside 0..{n} (N = {n})",
                    idx[k]
                ));
            }
        }
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "entry {k} (row {}, column {}) is {}; values must be finite",
                rows[k], cols[k], values[k]
            ));
        }
        // Counting sort by row, then each row sorted by column.
        let mut row_ptr = vec![0usize; n + 1];
        for &r in rows {
            row_ptr[r as usize + 1] += 1;
        }
        for i in 0..n {
            row_ptr[i + 1] += row_ptr[i];
        }
        let mut next = row_ptr.clone();
        let mut order = vec![0usize; rows.len()];
        for (k, &r) in rows.iter().enumerate() {
            order[next[r as usize]] = k;
            next[r as usize] += 1;
        }
        let mut out_ptr = Vec::with_capacity(n + 1);
        let mut out_cols = Vec::with_capacity(rows.len());
        let mut out_values = Vec::with_capacity(rows.len());
        out_ptr.push(0);
        for i in 0..n {
            let row = &mut order[row_ptr[i]..row_ptr[i + 1]];
            // Stable: duplicates are summed in the order they were given.
            row.sort_by_key(|&k| cols[k]);
            let mut last = None;
            for &k in row.iter() {
                if last == Some(cols[k]) {
                    *out_values.last_mut().expect("a previous entry") += values[k];
                } else {
                    out_cols.push(cols[k] as u32);
                    out_values.push(values[k]);
                    last = Some(cols[k]);
                }
            }
            out_ptr.push(out_cols.len());
        }
        Ok(Csr {
            n,
            row_ptr: out_ptr,
            cols: out_cols,
            values: out_values,
        })
    }

    /// The matrix from compressed arrays as scipy stores them: `ptr` of
    /// length N + 1 (non-decreasing from 0 to the number of entries), and
    /// for each row (`by_rows`, CSR) or column (CSC) of it the other index
    /// of its entries in `indices` with their `values`. Unsorted or
    /// duplicate indices are accepted (sorted, duplicates summed).
    pub fn from_compressed(
        n: usize,
        ptr: &[u64],
        indices: &[u64],
        values: &[f64],
        by_rows: bool,
    ) -> Result<Self, SparseError> {
        let name = if by_rows {
            "indptr (CSR)"
        } else {
            "indptr (CSC)"
        };
        if ptr.len() != n + 1 {
            return Err(format!(
                "{name} has length {}; it must be N + 1 = {}",
                ptr.len(),
                n + 1
            ));
        }
        if ptr[0] != 0 || ptr.windows(2).any(|w| w[1] < w[0]) {
            return Err(format!(
                "{name} must start at 0 and never decrease; it does not"
            ));
        }
        if ptr[n] as usize != indices.len() || indices.len() != values.len() {
            return Err(format!(
                "{name} ends at {} but there are {} indices and {} values; all three must agree",
                ptr[n],
                indices.len(),
                values.len()
            ));
        }
        let mut outer = Vec::with_capacity(indices.len());
        for i in 0..n {
            outer.extend(std::iter::repeat_n(
                i as u64,
                (ptr[i + 1] - ptr[i]) as usize,
            ));
        }
        if by_rows {
            Self::from_triplets(n, &outer, indices, values)
        } else {
            Self::from_triplets(n, indices, &outer, values)
        }
    }

    /// The matrix from its compressed rows as they are: `row_ptr` of
    /// length N + 1 from 0, non-decreasing, ending at the number of
    /// entries; each row's columns strictly increasing and below N; every
    /// value finite.
    pub fn from_rows(
        n: usize,
        row_ptr: Vec<usize>,
        cols: Vec<u32>,
        values: Vec<f64>,
    ) -> Result<Self, SparseError> {
        if row_ptr.len() != n + 1 || row_ptr[0] != 0 || row_ptr[n] != cols.len() {
            return Err(format!(
                "the row places must be N + 1 = {} numbers from 0 to the {} entries",
                n + 1,
                cols.len()
            ));
        }
        if cols.len() != values.len() {
            return Err(format!(
                "{} columns but {} values; they must agree",
                cols.len(),
                values.len()
            ));
        }
        for (i, w) in row_ptr.windows(2).enumerate() {
            if w[1] < w[0] {
                return Err(format!("row {i} ends before it starts"));
            }
            let row = &cols[w[0]..w[1]];
            if row.windows(2).any(|c| c[1] <= c[0]) || row.last().is_some_and(|&c| c as usize >= n)
            {
                return Err(format!(
                    "row {i}'s columns are not strictly increasing within 0..{n}"
                ));
            }
        }
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!("value {k} is {}; values must be finite", values[k]));
        }
        Ok(Csr {
            n,
            row_ptr,
            cols,
            values,
        })
    }

    /// N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The stored entries (after duplicates were summed).
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Row i's columns and values.
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let r = self.row_ptr[i]..self.row_ptr[i + 1];
        (&self.cols[r.clone()], &self.values[r])
    }

    /// The row offsets (N + 1).
    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }

    /// Every entry's column, row by row.
    pub fn cols(&self) -> &[u32] {
        &self.cols
    }

    /// Every entry's value, row by row.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The values, to be scaled in place.
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// Rows longer than [`heavy_row_threshold`].
    pub fn heavy_rows(&self) -> usize {
        let t = heavy_row_threshold(self.n, self.nnz());
        self.row_ptr.windows(2).filter(|w| w[1] - w[0] > t).count()
    }

    /// The rows in the order a backend takes them: the heavy ones first,
    /// then the others, each in order.
    pub fn rows_heavy_first(&self) -> Vec<u32> {
        let t = heavy_row_threshold(self.n, self.nnz());
        let long = |i: &usize| self.row_ptr[i + 1] - self.row_ptr[*i] > t;
        let heavy = (0..self.n).filter(long);
        let light = (0..self.n).filter(|i| !long(i));
        heavy.chain(light).map(|i| i as u32).collect()
    }

    /// The most entries in one row.
    pub fn longest_row(&self) -> usize {
        self.row_ptr
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0)
    }

    /// Splits the rows into at most `parts` consecutive ranges of about
    /// equal numbers of entries (a row is never split, and a row without
    /// entries still counts one, so that empty rows are shared out too).
    pub fn row_blocks(&self, parts: usize) -> Vec<Range<usize>> {
        let n = self.n;
        let parts = parts.clamp(1, n.max(1));
        let work = |i: usize| self.row_ptr[i] + i;
        let total = work(n);
        let mut blocks = Vec::with_capacity(parts);
        let mut start = 0;
        for p in 1..=parts {
            let target = total * p / parts;
            // The first row whose cumulative work reaches the target.
            let end = if p == parts {
                n
            } else {
                let mut lo = start;
                let mut hi = n;
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if work(mid) < target {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            };
            if end > start {
                blocks.push(start..end);
                start = end;
            }
        }
        blocks
    }

    /// M as a dense row-major N×N matrix (small N: tests and `modes`).
    pub fn to_dense(&self) -> Vec<f64> {
        let n = self.n;
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            let (cols, values) = self.row(i);
            for (&j, &v) in cols.iter().zip(values) {
                m[i * n + j as usize] = v;
            }
        }
        m
    }

    /// Whether M equals its transpose exactly.
    pub fn is_symmetric(&self) -> bool {
        (0..self.n).all(|i| {
            let (cols, values) = self.row(i);
            cols.iter().zip(values).all(|(&j, &v)| {
                let (cj, vj) = self.row(j as usize);
                cj.binary_search(&(i as u32)).is_ok_and(|k| vj[k] == v)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triplets_are_sorted_and_duplicates_summed() {
        // Row 1 given out of order with a duplicate at (1, 0); row 2 empty.
        let m = Csr::from_triplets(3, &[1, 0, 1, 1], &[2, 1, 0, 0], &[5.0, 1.0, 2.0, 0.5]).unwrap();
        assert_eq!(m.row_ptr(), &[0, 1, 3, 3]);
        assert_eq!(m.cols(), &[1, 0, 2]);
        assert_eq!(m.values(), &[1.0, 2.5, 5.0]);
        assert_eq!(m.longest_row(), 2);
        assert_eq!(
            m.to_dense(),
            vec![0.0, 1.0, 0.0, 2.5, 0.0, 5.0, 0.0, 0.0, 0.0]
        );
        // CSC of the same entries gives the same matrix.
        let csc = Csr::from_compressed(
            3,
            &[0, 2, 3, 4],
            &[1, 1, 0, 1],
            &[2.0, 0.5, 1.0, 5.0],
            false,
        )
        .unwrap();
        assert_eq!(csc, m);
    }

    #[test]
    fn rows_as_they_are_are_checked() {
        let m = Csr::from_rows(3, vec![0, 1, 3, 3], vec![1, 0, 2], vec![1.0, 2.5, 5.0]).unwrap();
        assert_eq!(m.to_dense()[3], 2.5);
        assert!(Csr::from_rows(3, vec![0, 1, 3, 3], vec![1, 2, 0], vec![1.0; 3]).is_err());
        assert!(Csr::from_rows(3, vec![0, 1, 3, 3], vec![1, 0, 3], vec![1.0; 3]).is_err());
        assert!(Csr::from_rows(3, vec![0, 1, 3], vec![1, 0, 2], vec![1.0; 3]).is_err());
        assert!(
            Csr::from_rows(3, vec![0, 1, 3, 3], vec![1, 0, 2], vec![1.0, f64::NAN, 1.0]).is_err()
        );
    }

    #[test]
    fn bad_data_is_refused_with_the_entry() {
        let e = Csr::from_triplets(3, &[0, 3], &[0, 0], &[1.0, 1.0]).unwrap_err();
        assert!(e.contains("entry 1 has row index 3, outside 0..3"), "{e}");
        let e = Csr::from_triplets(3, &[0], &[7], &[1.0]).unwrap_err();
        assert!(e.contains("column index 7"), "{e}");
        let e = Csr::from_triplets(3, &[0, 1], &[0, 1], &[1.0, f64::NAN]).unwrap_err();
        assert!(e.contains("entry 1 (row 1, column 1) is NaN"), "{e}");
        let e = Csr::from_triplets(3, &[0, 1], &[0], &[1.0, 2.0]).unwrap_err();
        assert!(e.contains("lengths 2, 1 and 2"), "{e}");
        let e = Csr::from_compressed(3, &[0, 1, 1], &[0], &[1.0], true).unwrap_err();
        assert!(e.contains("length 3; it must be N + 1 = 4"), "{e}");
        let e = Csr::from_compressed(3, &[0, 2, 1, 2], &[0, 1], &[1.0, 1.0], true).unwrap_err();
        assert!(e.contains("never decrease"), "{e}");
    }

    #[test]
    fn row_blocks_cover_the_rows_balanced_by_entries() {
        // N = 200: one heavy row (5: 100 entries) among rows of one entry
        // (0 to 9) and empty rows (10 to 199).
        let mut rows = vec![5u64; 100];
        let mut cols: Vec<u64> = (0..100).collect();
        rows.extend(0..10u64);
        cols.extend(0..10u64);
        let m = Csr::from_triplets(200, &rows, &cols, &vec![1.0; 110]).unwrap();
        assert_eq!(m.nnz(), 109);
        let work = |r: &Range<usize>| m.row_ptr()[r.end] - m.row_ptr()[r.start] + r.len();
        let total = m.nnz() + 200;
        for parts in [1, 2, 3, 4, 16, 500] {
            let b = m.row_blocks(parts);
            assert_eq!(b.first().unwrap().start, 0);
            assert_eq!(b.last().unwrap().end, 200);
            assert!(b.windows(2).all(|w| w[0].end == w[1].start));
            assert!(b.len() <= parts.min(200));
            // No block holds more than its share and one row.
            for r in &b {
                assert!(
                    work(r) <= total / parts + m.longest_row() + 2,
                    "{parts}: {r:?}"
                );
            }
        }
    }
}
