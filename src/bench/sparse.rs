//! The sparse cases of `attractor bench`: N neurons, each with K random
//! presynaptic partners (`--degree`), the in-degrees fixed or spread
//! log-normally (`--degree-spread lognormal`: heavy-tailed, mean K), drawn
//! from the counter-based generator so that a case is the same matrix on
//! every machine (the peers' scripts draw one of the same sizes and
//! distribution with numpy).

pub use crate::model::DegreeSpread;
use crate::model::{draw, Csr};
use crate::rng::{normal, Stream};

/// Partners per neuron of the sparse cases unless `--degree` says otherwise.
pub const SPARSE_DEGREE: usize = 100;

/// Seed of the sparse cases' draws (degrees, partners, values).
const SEED: u64 = 7;

/// The in-degree of each of `n` neurons.
pub fn degrees(n: usize, k: usize, spread: DegreeSpread) -> Vec<usize> {
    draw::degrees(n, k, spread, SEED)
}

/// The matrix of a sparse case: row i has `degrees(n, k, spread)[i]`
/// distinct random columns (Floyd's sampling), each value g / sqrt(K) times
/// a standard normal with g = 0.9 (a spectral radius about 0.9: a stable
/// network).
pub fn matrix(n: usize, k: usize, spread: DegreeSpread) -> Csr {
    let scale = 0.9 / (k.max(1) as f64).sqrt();
    draw::draw(n, &degrees(n, k, spread), SEED, |i, j, _| {
        scale * normal(SEED, Stream::Weights, j as u32, i as u32, 2)
    })
    .expect("entries of a standard normal times 0.9 are finite")
}
