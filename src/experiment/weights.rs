//! `[network.weights]`: the weight kinds as the file gives them
//! ([`WeightsSpec`]), and each resolved into [`Weights`]: the kinds'
//! ranges checked, files read, structured tables and drawn connectivity
//! built.

use super::npy::{self, Files};
use super::values::{finite, one, positive, vector};
use crate::error::{Error, Result};
use crate::model::{
    draw, ring_angles, DegreeSpread, Factors, Gaussian, GaussianKernel, PatternBits, SparseOrigin,
    Weights,
};
use crate::rng::weight_normals;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// `[network.weights]` (or a projection's `weights`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WeightsSpec {
    /// Every pair the same weight.
    Uniform {
        /// The weight of each pair.
        value: f64,
    },
    /// `value` on the diagonal: neuron i to neuron i only.
    Identity {
        /// The weight (default 1).
        #[serde(default = "one")]
        value: f64,
    },
    /// Inline rows.
    Matrix {
        /// N rows of N numbers.
        rows: Vec<Vec<f64>>,
    },
    /// diag(values).
    Diagonal {
        /// N numbers.
        values: Vec<f64>,
    },
    /// Dense N×N from a .npy file.
    File {
        /// Path, relative to the experiment file.
        path: PathBuf,
    },
    /// Cosine ring kernel; with a `degree`, diluted: each neuron keeps
    /// that many random partners, the kernel scaled by N/K (sparse).
    Ring {
        /// Uniform term (default 0).
        #[serde(default)]
        lambda0: f64,
        /// Cosine term.
        lambda1: f64,
        /// Partners per neuron K (default: all N, the structured ring).
        #[serde(default)]
        degree: Option<usize>,
        /// `fixed` (default: K each) or `lognormal` (mean K, heavy-tailed).
        #[serde(default)]
        degree_spread: DegreeSpread,
        /// Seed of the partners (default 0, fixed across trials).
        #[serde(default)]
        seed: u64,
    },
    /// Cosine kernel on a periodic sheet of side × side neurons (a torus).
    Torus {
        /// Uniform term (default 0).
        #[serde(default)]
        lambda0: f64,
        /// Cosine term of each axis.
        lambda1: f64,
    },
    /// Gaussian kernel on a periodic sheet of side × side neurons, or a
    /// Mexican hat (the Gaussian minus a wider inhibitory one), applied by
    /// convolution.
    Gaussian {
        /// Gain of the uniform mode of the centre Gaussian.
        excitation: f64,
        /// Its width in radians.
        sigma: f64,
        /// Gain of the uniform mode of the surround (default 0: a plain
        /// Gaussian), subtracted.
        #[serde(default)]
        inhibition: f64,
        /// The surround's width in radians (needed when `inhibition` is not 0).
        #[serde(default)]
        sigma_inhibition: Option<f64>,
    },
    /// Hebbian outer products.
    Hebbian {
        /// Number of random ±1 patterns.
        #[serde(default)]
        patterns: Option<usize>,
        /// Or a P×N .npy of patterns.
        #[serde(default)]
        path: Option<PathBuf>,
        /// Seed of the random patterns (default 0, fixed across trials).
        #[serde(default)]
        seed: u64,
        /// Store the ±1 patterns as bits, 32 per word (default false).
        #[serde(default)]
        packed: bool,
    },
    /// U V^T.
    LowRank {
        /// N×R .npy.
        u: PathBuf,
        /// N×R .npy.
        v: PathBuf,
    },
    /// Sparse weights from data: a scipy `.npz` (`path`) or COO triplets
    /// (`rows`, `cols`, `values`: three 1-D `.npy` files); row i is the
    /// postsynaptic neuron, entries at the same place are summed.
    Sparse {
        /// The `.npz` `scipy.sparse.save_npz` wrote (CSR, CSC or COO).
        #[serde(default)]
        path: Option<PathBuf>,
        /// Or the row index of each entry (.npy of integers).
        #[serde(default)]
        rows: Option<PathBuf>,
        /// The column index of each entry (.npy of integers).
        #[serde(default)]
        cols: Option<PathBuf>,
        /// The value of each entry (.npy of floats).
        #[serde(default)]
        values: Option<PathBuf>,
    },
    /// Gaussian random weights g J / sqrt(p N), generated from the seed.
    Random {
        /// The gain g.
        g: f64,
        /// Connection probability p in (0, 1] (default 1: dense).
        #[serde(default = "one")]
        sparsity: f64,
        /// Seed of J and of the connections (default 0, fixed across trials).
        #[serde(default)]
        seed: u64,
        /// Store M (N² floats) instead of generating it at every product;
        /// by default stored up to N = [`MATERIALISE_UP_TO`].
        #[serde(default)]
        materialise: Option<bool>,
        /// Partners per neuron K instead of a probability: M = g J / sqrt(K_i)
        /// at K_i random partners of neuron i, stored sparse.
        #[serde(default)]
        degree: Option<usize>,
        /// `fixed` (default: K each) or `lognormal` (mean K, heavy-tailed).
        #[serde(default)]
        degree_spread: DegreeSpread,
    },
}

/// The largest N whose `random` weights are stored by default (64 MiB of
/// f32): below it the stored matrix is read faster than its entries are
/// generated; above it generating keeps memory O(N).
pub const MATERIALISE_UP_TO: usize = 4096;

impl WeightsSpec {
    /// The weights of a network of `n` neurons, reading `.npy` files through
    /// `files`. Errors name the key, the value and what is allowed.
    pub fn resolve(&self, n: usize, files: &Files) -> Result<Weights> {
        Ok(match self {
            WeightsSpec::Uniform { value } => {
                let w = finite("network.weights.value", *value)?;
                crate::memory::check(
                    "network.n",
                    n,
                    "the N×N uniform matrix",
                    (n as u64).saturating_mul(n as u64).saturating_mul(16),
                )?;
                Weights::Dense {
                    n,
                    m: vec![w; n * n],
                }
            }
            WeightsSpec::Identity { value } => Weights::Diagonal {
                values: vec![finite("network.weights.value", *value)?; n],
            },
            WeightsSpec::Matrix { rows } => {
                if rows.len() != n || rows.iter().any(|r| r.len() != n) {
                    let shape = rows.iter().map(|r| r.len().to_string()).collect::<Vec<_>>();
                    return Err(Error::invalid(
                        "network.weights.rows",
                        format!("{} rows of lengths [{}]", rows.len(), shape.join(", ")),
                        format!("must be an N×N matrix with N = {n} (network.n)"),
                    ));
                }
                let m: Vec<f64> = rows.iter().flatten().copied().collect();
                for (k, x) in m.iter().enumerate() {
                    finite(&format!("network.weights.rows[{}][{}]", k / n, k % n), *x)?;
                }
                Weights::Dense { n, m }
            }
            WeightsSpec::Diagonal { values } => Weights::Diagonal {
                values: vector("network.weights.values", values.clone(), n)?,
            },
            WeightsSpec::File { path: p } => {
                let (_, _, m) = npy::read_matrix(files, "network.weights.path", p, |r, c| {
                    (r != n || c != n).then(|| format!("an N×N matrix with N = {n} (network.n)"))
                })?;
                Weights::Dense { n, m }
            }
            WeightsSpec::Ring {
                lambda0,
                lambda1,
                degree,
                degree_spread,
                seed,
            } => {
                if n < 3 {
                    return Err(Error::invalid(
                        "network.n",
                        n,
                        "must be at least 3 for a ring (its cos and sin modes need 3 angles)",
                    ));
                }
                let lambda0 = finite("network.weights.lambda0", *lambda0)?;
                let lambda1 = finite("network.weights.lambda1", *lambda1)?;
                match degree {
                    None => {
                        undrawn(*degree_spread, *seed != 0, "seed")?;
                        Weights::Ring {
                            n,
                            lambda0,
                            lambda1,
                        }
                    }
                    // The kernel (2/N)(-lambda0 + lambda1 cos) scaled by N/K_i.
                    Some(k) => {
                        let degrees = drawn_degrees(n, *k, *degree_spread, *seed)?;
                        let (cos, sin) = ring_angles(n);
                        let csr = draw::draw(n, &degrees, *seed, |i, j, ki| {
                            let c = cos[i] * cos[j] + sin[i] * sin[j];
                            2.0 / ki as f64 * (-lambda0 + lambda1 * c)
                        })
                        .map_err(|e| {
                            Error::invalid(
                                "network.weights.lambda1",
                                lambda1,
                                format!("too large with lambda0 = {lambda0}: {e}"),
                            )
                        })?;
                        Weights::Sparse {
                            n,
                            csr: Arc::new(csr),
                            origin: SparseOrigin::Ring,
                            factors: Arc::new(Factors::none(n)),
                        }
                    }
                }
            }
            WeightsSpec::Torus { lambda0, lambda1 } => {
                let side = sheet_side(n, "network.n", "torus")?;
                Weights::Torus {
                    n,
                    side,
                    lambda0: finite("network.weights.lambda0", *lambda0)?,
                    lambda1: finite("network.weights.lambda1", *lambda1)?,
                }
            }
            WeightsSpec::Gaussian {
                excitation,
                sigma,
                inhibition,
                sigma_inhibition,
            } => {
                let side = sheet_side(n, "network.n", "gaussian kernel")?;
                let mut terms = vec![Gaussian {
                    amplitude: finite("network.weights.excitation", *excitation)?,
                    sigma: positive("network.weights.sigma", *sigma)?,
                }];
                let inhibition = finite("network.weights.inhibition", *inhibition)?;
                match sigma_inhibition {
                    Some(s) => terms.push(Gaussian {
                        amplitude: -inhibition,
                        sigma: positive("network.weights.sigma_inhibition", *s)?,
                    }),
                    None if inhibition != 0.0 => {
                        return Err(Error::invalid(
                            "network.weights.inhibition",
                            inhibition,
                            "needs `sigma_inhibition`, the surround's width in radians (> 0)",
                        ))
                    }
                    None => {}
                }
                Weights::Gaussian(GaussianKernel { side, terms })
            }
            WeightsSpec::Hebbian {
                patterns,
                path: p,
                seed,
                packed,
            } => match (patterns, p) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(Error::invalid(
                        "network.weights",
                        "a hebbian table",
                        "must give exactly one of `patterns = P` (random ±1 patterns) or `path` (a P×N .npy)",
                    ))
                }
                (Some(0), None) => {
                    return Err(Error::invalid("network.weights.patterns", 0, "must be at least 1"))
                }
                (Some(p), None) if *packed => {
                    // The bits, and a copy a run may make of them.
                    crate::memory::check(
                        "network.weights.patterns",
                        p,
                        &format!("{p} packed patterns of N = {n}"),
                        PatternBits::bytes(n, *p).saturating_mul(2),
                    )?;
                    Weights::PackedHebbian {
                        n,
                        bits: Arc::new(PatternBits::random(n, *p, *seed)),
                    }
                }
                (Some(p), None) => {
                    // The patterns as given, their form and metric tables, and
                    // the run's copy, before generating them.
                    crate::memory::check(
                        "network.weights.patterns",
                        p,
                        &format!(
                            "{p} patterns of N = {n} as floats (packed = true stores ±1 \
                             patterns as bits, {} in all)",
                            crate::memory::human(PatternBits::bytes(n, *p))
                        ),
                        (*p as u64).saturating_mul(n as u64).saturating_mul(32),
                    )?;
                    Weights::Hebbian {
                        n,
                        p: *p,
                        xi: random_patterns(n, *p, *seed),
                    }
                }
                (None, Some(file)) => {
                    let (p, _, xi) = npy::read_matrix(files, "network.weights.path", file, |r, c| {
                        (c != n || r == 0).then(|| format!("a P×N array of patterns with N = {n}"))
                    })?;
                    if *packed {
                        let bits = PatternBits::from_values(n, p, &xi).map_err(|(mu, i, x)| {
                            Error::invalid(
                                "network.weights.packed",
                                true,
                                format!(
                                    "packs ±1 patterns only; entry [{mu}][{i}] of \
                                     network.weights.path is {x}"
                                ),
                            )
                        })?;
                        Weights::PackedHebbian {
                            n,
                            bits: Arc::new(bits),
                        }
                    } else {
                        Weights::Hebbian { n, p, xi }
                    }
                }
            },
            WeightsSpec::Sparse {
                path,
                rows,
                cols,
                values,
            } => {
                let csr = match (path, rows, cols, values) {
                    (Some(p), None, None, None) => files.sparse(&[p], n, || {
                        super::sparse::read_npz(files, "network.weights.path", p, n)
                    })?,
                    (None, Some(r), Some(c), Some(v)) => files.sparse(&[r, c, v], n, || {
                        super::sparse::read_triplets(files, r, c, v, n)
                    })?,
                    _ => {
                        return Err(Error::invalid(
                            "network.weights",
                            "a sparse matrix",
                            "must give either `path` (the .npz scipy.sparse.save_npz writes) or \
                             all three of `rows`, `cols` and `values` (.npy files of COO \
                             triplets)",
                        ))
                    }
                };
                Weights::Sparse {
                    n,
                    csr,
                    origin: SparseOrigin::Data,
                    factors: Arc::new(Factors::none(n)),
                }
            }
            WeightsSpec::LowRank { u, v } => {
                let check = |r: usize, c: usize| {
                    (r != n || c == 0).then(|| format!("an N×R array with N = {n} and R ≥ 1"))
                };
                let (_, ru, u) = npy::read_matrix(files, "network.weights.u", u, check)?;
                let (_, rv, v) = npy::read_matrix(files, "network.weights.v", v, check)?;
                if ru != rv {
                    return Err(Error::invalid(
                        "network.weights.v",
                        format!("an N×{rv} array"),
                        format!("must have the same rank R as network.weights.u (R = {ru})"),
                    ));
                }
                Weights::LowRank { n, rank: ru, u, v }
            }
            WeightsSpec::Random {
                g,
                sparsity,
                seed,
                materialise,
                degree: Some(k),
                degree_spread,
            } => {
                let g = finite("network.weights.g", *g)?;
                for (key, given) in [("sparsity", *sparsity != 1.0), ("materialise", materialise.is_some())] {
                    if given {
                        return Err(Error::invalid(
                            format!("network.weights.{key}"),
                            "given with `degree`",
                            "cannot be given with `degree` (drawn weights are stored sparse, \
                             K partners a neuron); give one of `degree` and `sparsity`",
                        ));
                    }
                }
                let degrees = drawn_degrees(n, *k, *degree_spread, *seed)?;
                let csr = draw::draw(n, &degrees, *seed, |i, j, ki| {
                    g * weight_normals(*seed, i as u32, (j / 4) as u32)[j % 4] / (ki as f64).sqrt()
                })
                .map_err(|e| Error::invalid("network.weights.g", g, format!("too large: {e}")))?;
                Weights::Sparse {
                    n,
                    csr: Arc::new(csr),
                    origin: SparseOrigin::Random { g },
                    factors: Arc::new(Factors::none(n)),
                }
            }
            WeightsSpec::Random {
                g,
                sparsity,
                seed,
                materialise,
                degree: None,
                degree_spread,
            } => {
                undrawn(*degree_spread, false, "")?;
                let g = finite("network.weights.g", *g)?;
                if !(*sparsity > 0.0 && *sparsity <= 1.0) {
                    return Err(Error::invalid(
                        "network.weights.sparsity",
                        sparsity,
                        "must be a connection probability in (0, 1] (1: every connection exists)",
                    ));
                }
                let materialise = materialise.unwrap_or(n <= MATERIALISE_UP_TO);
                if materialise {
                    // The matrix in f64 and the run's copy.
                    crate::memory::check(
                        "network.weights.materialise",
                        true,
                        &format!("the {n}×{n} random matrix (set materialise = false to generate it instead)"),
                        (n as u64).saturating_mul(n as u64).saturating_mul(16),
                    )?;
                }
                Weights::Random {
                    n,
                    g,
                    sparsity: *sparsity,
                    seed: *seed,
                    materialise,
                }
            }
        })
    }
}

/// Refuses the keys of drawn connectivity without a `degree`.
fn undrawn(spread: DegreeSpread, seed_given: bool, seed: &str) -> Result<()> {
    let (key, value) = match (spread, seed_given) {
        (DegreeSpread::Lognormal, _) => ("degree_spread", spread.name()),
        (DegreeSpread::Fixed, true) => (seed, "given"),
        (DegreeSpread::Fixed, false) => return Ok(()),
    };
    Err(Error::invalid(
        format!("network.weights.{key}"),
        value,
        "applies to drawn connectivity only: give `degree = K` (partners per neuron) too",
    ))
}

/// The in-degrees of drawn connectivity of mean `k`, after checking `k`
/// and the memory its entries need.
fn drawn_degrees(n: usize, k: usize, spread: DegreeSpread, seed: u64) -> Result<Vec<usize>> {
    if k == 0 || k > n {
        return Err(Error::invalid(
            "network.weights.degree",
            k,
            format!("must be a number of partners per neuron from 1 to N = {n} (network.n)"),
        ));
    }
    // Each entry as drawn (column and value), stored, and the run's copy.
    crate::memory::check(
        "network.weights.degree",
        k,
        &format!("the N K = {} drawn entries", n as u64 * k as u64),
        (n as u64).saturating_mul(k as u64).saturating_mul(36),
    )?;
    Ok(draw::degrees(n, k, spread, seed))
}

/// The side of a sheet of `n` = side² neurons (side ≥ 3), or an error naming
/// `key` (`network.n`, or bench's `--n`) for the weights `what`.
pub fn sheet_side(n: usize, key: &str, what: &str) -> Result<usize> {
    let side = (n as f64).sqrt().round() as usize;
    if side * side != n || side < 3 {
        return Err(Error::invalid(
            key,
            n,
            format!(
                "must be side² with side ≥ 3 for a {what} (side × side neurons), e.g. {} = {}²",
                side.max(3) * side.max(3),
                side.max(3)
            ),
        ));
    }
    Ok(side)
}

/// Random ±1 patterns, pattern mu's unit i from counter (i, mu) of the Patterns stream.
pub fn random_patterns(n: usize, p: usize, seed: u64) -> Vec<f64> {
    let mut xi = vec![0.0; n * p];
    for mu in 0..p {
        for i in 0..n {
            let bits =
                crate::rng::block(seed, crate::rng::Stream::Patterns, i as u32, mu as u32, 0)[0];
            xi[mu * n + i] = if bits >> 31 == 1 { 1.0 } else { -1.0 };
        }
    }
    xi
}
