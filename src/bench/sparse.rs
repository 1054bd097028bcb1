//! The sparse cases of `attractor bench`: N neurons, each with K random
//! presynaptic partners (`--degree`), the in-degrees fixed or spread
//! log-normally (`--degree-spread lognormal`: heavy-tailed, mean K), drawn
//! from the counter-based generator so that a case is the same matrix on
//! every machine (the peers' scripts draw one of the same sizes and
//! distribution with numpy).

use crate::model::Csr;
use crate::rng::{normal, uniform_at, Stream};
use rayon::prelude::*;
use serde::Serialize;

/// Partners per neuron of the sparse cases unless `--degree` says otherwise.
pub const SPARSE_DEGREE: usize = 100;

/// The spread of the in-degrees of a sparse case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DegreeSpread {
    /// Every neuron has K partners.
    #[default]
    Fixed,
    /// K exp(s z - s²/2) with z standard normal and s = 1 (mean K, a
    /// heavy tail: about 1 neuron in 34 has over 4 K), rounded, within 0..N.
    Lognormal,
}

/// Seed of the sparse cases' draws (degrees, partners, values).
const SEED: u64 = 7;

/// The in-degree of each of `n` neurons.
pub fn degrees(n: usize, k: usize, spread: DegreeSpread) -> Vec<usize> {
    (0..n)
        .into_par_iter()
        .map(|i| match spread {
            DegreeSpread::Fixed => k.min(n),
            DegreeSpread::Lognormal => {
                let z = normal(SEED, Stream::Connections, i as u32, 0, 1);
                ((k as f64 * (z - 0.5).exp()).round() as usize).min(n)
            }
        })
        .collect()
}

/// The matrix of a sparse case: row i has `degrees(n, k, spread)[i]`
/// distinct random columns (Floyd's sampling), each value g / sqrt(K) times
/// a standard normal with g = 0.9 (a spectral radius about 0.9: a stable
/// network).
pub fn matrix(n: usize, k: usize, spread: DegreeSpread) -> Csr {
    let d = degrees(n, k, spread);
    let scale = 0.9 / (k.max(1) as f64).sqrt();
    let rows: Vec<(Vec<u32>, Vec<f64>)> = d
        .par_iter()
        .enumerate()
        .map(|(i, &di)| {
            let mut chosen = std::collections::BTreeSet::new();
            for (draw, j) in (n - di..n).enumerate() {
                let u = uniform_at(SEED, Stream::Connections, i as u32, 1 + draw as u32);
                let t = ((u * (j + 1) as f64) as usize).min(j) as u32;
                if !chosen.insert(t) {
                    chosen.insert(j as u32);
                }
            }
            let cols: Vec<u32> = chosen.into_iter().collect();
            let values = cols
                .iter()
                .map(|&c| scale * normal(SEED, Stream::Weights, c, i as u32, 2))
                .collect();
            (cols, values)
        })
        .collect();
    let mut row_ptr = Vec::with_capacity(n + 1);
    row_ptr.push(0);
    for (c, _) in &rows {
        row_ptr.push(row_ptr.last().copied().unwrap_or(0) + c.len());
    }
    let (cols, values): (Vec<Vec<u32>>, Vec<Vec<f64>>) = rows.into_iter().unzip();
    Csr::from_rows(n, row_ptr, cols.concat(), values.concat())
        .expect("the sampled rows are sorted, distinct and finite")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_their_degrees_of_distinct_partners() {
        for spread in [DegreeSpread::Fixed, DegreeSpread::Lognormal] {
            let (n, k) = (300, 20);
            let d = degrees(n, k, spread);
            let m = matrix(n, k, spread);
            assert_eq!(m.nnz(), d.iter().sum::<usize>());
            for (i, &di) in d.iter().enumerate() {
                assert_eq!(m.row(i).0.len(), di, "row {i}: distinct partners");
            }
            // The same matrix every time.
            assert_eq!(matrix(n, k, spread), m);
        }
        // Log-normal: mean about K, a long tail.
        let d = degrees(100_000, 50, DegreeSpread::Lognormal);
        let mean = d.iter().sum::<usize>() as f64 / d.len() as f64;
        assert!((mean - 50.0).abs() < 1.0, "mean {mean}");
        assert!(*d.iter().max().unwrap() > 1000);
    }
}
