//! Sparse connectivity drawn at random: each neuron i has K_i distinct
//! presynaptic partners, K_i fixed or spread log-normally, drawn from the
//! counter-based generator so that a matrix is the same on every machine
//! and thread count. The `ring` and `random` weights with a `degree` and
//! the sparse cases of `attractor bench` are drawn here.

use super::Csr;
use crate::rng::{normal, uniform_at, Stream};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The spread of the in-degrees of drawn connectivity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegreeSpread {
    /// Every neuron has K partners.
    #[default]
    Fixed,
    /// K exp(s z - s²/2) with z standard normal and s = 1 (mean K, a
    /// heavy tail: about 1 neuron in 34 has over 4 K), rounded, within 0..N.
    Lognormal,
}

impl DegreeSpread {
    /// Every spread, in order.
    pub const ALL: [DegreeSpread; 2] = [DegreeSpread::Fixed, DegreeSpread::Lognormal];

    /// Its name in experiment files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DegreeSpread::Fixed => "fixed",
            DegreeSpread::Lognormal => "lognormal",
        }
    }
}

impl std::str::FromStr for DegreeSpread {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown degree spread `{s}`, expected `fixed` or `lognormal`"))
    }
}

/// The in-degree of each of `n` neurons of mean `k`, drawn from `seed`.
pub fn degrees(n: usize, k: usize, spread: DegreeSpread, seed: u64) -> Vec<usize> {
    (0..n)
        .into_par_iter()
        .map(|i| match spread {
            DegreeSpread::Fixed => k.min(n),
            DegreeSpread::Lognormal => {
                let z = normal(seed, Stream::Connections, i as u32, 0, 1);
                ((k as f64 * (z - 0.5).exp()).round() as usize).min(n)
            }
        })
        .collect()
}

/// The matrix whose row i has `degrees[i]` distinct random columns j
/// (Floyd's sampling, from `seed`), each entry `value(i, j, degrees[i])`;
/// an error saying which entry, where an entry is not finite (the
/// parameters behind `value` too large for f64).
pub fn draw(
    n: usize,
    degrees: &[usize],
    seed: u64,
    value: impl Fn(usize, usize, usize) -> f64 + Sync,
) -> std::result::Result<Csr, String> {
    let rows: Vec<(Vec<u32>, Vec<f64>)> = degrees
        .par_iter()
        .enumerate()
        .map(|(i, &di)| {
            let di = di.min(n);
            let mut chosen = std::collections::BTreeSet::new();
            for (draw, j) in (n - di..n).enumerate() {
                let u = uniform_at(seed, Stream::Connections, i as u32, 1 + draw as u32);
                let t = ((u * (j + 1) as f64) as usize).min(j) as u32;
                if !chosen.insert(t) {
                    chosen.insert(j as u32);
                }
            }
            let cols: Vec<u32> = chosen.into_iter().collect();
            let values = cols.iter().map(|&j| value(i, j as usize, di)).collect();
            (cols, values)
        })
        .collect();
    let mut row_ptr = Vec::with_capacity(n + 1);
    row_ptr.push(0);
    for (c, _) in &rows {
        row_ptr.push(row_ptr.last().copied().unwrap_or(0) + c.len());
    }
    let (cols, values): (Vec<Vec<u32>>, Vec<Vec<f64>>) = rows.into_iter().unzip();
    // The sampled rows are sorted and distinct: only a value can be refused.
    Csr::from_rows(n, row_ptr, cols.concat(), values.concat()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_their_degrees_of_distinct_partners() {
        for spread in [DegreeSpread::Fixed, DegreeSpread::Lognormal] {
            let (n, k) = (300, 20);
            let d = degrees(n, k, spread, 3);
            let m = draw(n, &d, 3, |i, j, _| (i * n + j) as f64).unwrap();
            assert_eq!(m.nnz(), d.iter().sum::<usize>());
            for (i, &di) in d.iter().enumerate() {
                let (cols, values) = m.row(i);
                assert_eq!(cols.len(), di, "row {i}: distinct partners");
                for (&j, &v) in cols.iter().zip(values) {
                    assert_eq!(v, (i * n + j as usize) as f64, "the value of ({i}, {j})");
                }
            }
            // The same matrix every time; another seed, another matrix.
            assert_eq!(draw(n, &d, 3, |i, j, _| (i * n + j) as f64).unwrap(), m);
            assert_ne!(draw(n, &d, 4, |i, j, _| (i * n + j) as f64).unwrap(), m);
        }
        // Log-normal: mean about K, a long tail.
        let d = degrees(100_000, 50, DegreeSpread::Lognormal, 7);
        let mean = d.iter().sum::<usize>() as f64 / d.len() as f64;
        assert!((mean - 50.0).abs() < 1.0, "mean {mean}");
        assert!(*d.iter().max().unwrap() > 1000);
    }

    #[test]
    fn partners_are_uniform_over_the_columns() {
        // 2000 rows of 1000 partners among 2000 columns: each column is
        // chosen with probability 1/2 per row, 1000 times in expectation
        // with a standard deviation of sqrt(2000 / 4) = 22.4; 5 of them
        // bound every column's count (all 2000 within: a false alarm about
        // once in 1000 seeds, and the seed is fixed).
        let n = 2000;
        let m = draw(n, &vec![n / 2; n], 11, |_, _, _| 1.0).unwrap();
        let mut count = vec![0usize; n];
        for i in 0..n {
            for &j in m.row(i).0 {
                count[j as usize] += 1;
            }
        }
        for (j, &c) in count.iter().enumerate() {
            assert!(
                (c as f64 - 1000.0).abs() < 5.0 * 22.4,
                "column {j} chosen {c} times"
            );
        }
    }
}
