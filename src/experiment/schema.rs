//! The experiment file's schema (SPEC §2) as serde types. Unknown keys are
//! errors (`deny_unknown_fields`); ranges are checked in `resolve`.

use super::npy::{self, Files};
use super::values::{finite, positive, vector};
use crate::error::{Error, Result};
use crate::model::{
    Activation, BackendChoice, Dynamics, Gaussian, GaussianKernel, Method, PatternBits, Precision,
    Weights,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// The whole experiment file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    /// Run name; defaults to the file's stem.
    #[serde(default)]
    pub name: Option<String>,
    /// `[network]`.
    pub network: NetworkSpec,
    /// `[[input]]` epochs; entries are read one by one to name their index in errors.
    #[serde(default)]
    pub input: Vec<toml::Table>,
    /// `[initial]`; zeros when absent.
    #[serde(default)]
    pub initial: InitialSpec,
    /// `[simulation]`.
    pub simulation: SimulationSpec,
    /// `[record]`.
    #[serde(default)]
    pub record: RecordSpec,
}

/// `[network]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// N.
    pub n: usize,
    /// tau in seconds.
    pub tau: f64,
    /// `rate` (default) or `current`.
    #[serde(default)]
    pub dynamics: Dynamics,
    /// The activation; linear by default.
    #[serde(default)]
    pub activation: Activation,
    /// The weights.
    pub weights: WeightsSpec,
}

/// `[network.weights]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WeightsSpec {
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
    /// Cosine ring kernel.
    Ring {
        /// Uniform term (default 0).
        #[serde(default)]
        lambda0: f64,
        /// Cosine term.
        lambda1: f64,
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
            WeightsSpec::Ring { lambda0, lambda1 } => {
                if n < 3 {
                    return Err(Error::invalid(
                        "network.n",
                        n,
                        "must be at least 3 for a ring (its cos and sin modes need 3 angles)",
                    ));
                }
                Weights::Ring {
                    n,
                    lambda0: finite("network.weights.lambda0", *lambda0)?,
                    lambda1: finite("network.weights.lambda1", *lambda1)?,
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
                Weights::Sparse { n, csr }
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
            } => {
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

/// One number per angle of a neuron's place: a number on a ring, a list
/// `[x, y]` on a torus (angles, angular velocities).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Angles {
    /// One number.
    One(f64),
    /// A list.
    List(Vec<f64>),
}

impl Default for Angles {
    fn default() -> Self {
        Angles::One(0.0)
    }
}

/// The profile of one `[[input]]` entry (its `start` and `end` are read apart).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputProfile {
    /// h_i = value.
    Uniform {
        /// The value.
        value: f64,
    },
    /// h(theta) = c (1 - epsilon + epsilon cos(theta - theta0)).
    Bump {
        /// Amplitude c.
        c: f64,
        /// Tuning epsilon in [0, 1].
        epsilon: f64,
        /// Centre theta0 in radians (default 0; `[x, y]` on a torus), at
        /// the epoch's start.
        #[serde(default)]
        theta: Angles,
        /// Angular velocity of the centre in rad/s (default 0: still;
        /// `[v_x, v_y]` on a torus).
        #[serde(default)]
        velocity: Angles,
        /// A trajectory of the centre instead: (t, theta) rows (.csv or a
        /// T×2 .npy), interpolated.
        #[serde(default)]
        trajectory: Option<PathBuf>,
    },
    /// h(theta) = c exp(kappa (cos(theta - theta0) - 1)): a von Mises bump,
    /// narrower than the cosine bump for large kappa.
    VonMises {
        /// Peak c.
        c: f64,
        /// Concentration kappa ≥ 0.
        kappa: f64,
        /// Centre theta0 in radians (default 0; `[x, y]` on a torus), at
        /// the epoch's start.
        #[serde(default)]
        theta: Angles,
        /// Angular velocity of the centre in rad/s (default 0: still;
        /// `[v_x, v_y]` on a torus).
        #[serde(default)]
        velocity: Angles,
        /// A trajectory of the centre instead, as for `bump`.
        #[serde(default)]
        trajectory: Option<PathBuf>,
    },
    /// An angular velocity v (rad/s) that turns the ring's kernel by tau v
    /// times its derivative, moving the bump at v (path integration); not
    /// part of h.
    Velocity {
        /// v, the same at every step (`[v_x, v_y]` on a torus).
        #[serde(default)]
        value: Option<Angles>,
        /// v(t) instead: (t, v) rows (.csv or a T×2 .npy), interpolated.
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// h = values.
    Vector {
        /// N numbers.
        values: Vec<f64>,
    },
    /// h from a length-N .npy, or the rows of a T×N .npy played in turn.
    File {
        /// Path, relative to the experiment file.
        path: PathBuf,
        /// Seconds each row of a T×N file is on (required for one).
        #[serde(default)]
        frame: Option<f64>,
    },
    /// h = scale xi^index.
    Pattern {
        /// Pattern index (< P).
        index: usize,
        /// Scale (default 1).
        #[serde(default = "one")]
        scale: f64,
    },
}

/// `[initial]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InitialSpec {
    /// All zero.
    Zeros {},
    /// All `value`.
    Uniform {
        /// The value.
        value: f64,
    },
    /// `values`.
    Vector {
        /// N numbers.
        values: Vec<f64>,
    },
    /// A length-N .npy.
    File {
        /// Path, relative to the experiment file.
        path: PathBuf,
    },
    /// Uniform in [low, high).
    Random {
        /// Lower bound (default 0).
        #[serde(default)]
        low: f64,
        /// Upper bound (default 1).
        #[serde(default = "one")]
        high: f64,
        /// Seed (default: `simulation.seed`, so trials differ).
        #[serde(default)]
        seed: Option<u64>,
    },
    /// A corrupted stored pattern: scale xi^index with a fraction flipped and a fraction masked.
    Pattern {
        /// Pattern index (< P).
        index: usize,
        /// Scale (default 1).
        #[serde(default = "one")]
        scale: f64,
        /// Fraction of signs flipped, in [0, 1].
        #[serde(default)]
        flip: f64,
        /// Fraction of units set to 0, in [0, 1].
        #[serde(default)]
        mask: f64,
        /// Seed of the choice of units (default: `simulation.seed`).
        #[serde(default)]
        seed: Option<u64>,
    },
    /// The bump profile, as the input.
    Bump {
        /// Amplitude c.
        c: f64,
        /// Tuning epsilon.
        epsilon: f64,
        /// Centre (default 0; `[x, y]` on a torus).
        #[serde(default)]
        theta: Angles,
    },
}

/// `[simulation]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSpec {
    /// Seconds.
    pub duration: f64,
    /// Seconds.
    pub dt: f64,
    /// Integration method.
    #[serde(default)]
    pub method: Method,
    /// Noise sigma.
    #[serde(default)]
    pub noise: f64,
    /// Seed.
    #[serde(default)]
    pub seed: u64,
    /// Steps between records.
    #[serde(default = "one_u64")]
    pub record_every: u64,
    /// Backend.
    #[serde(default)]
    pub backend: BackendChoice,
    /// CPU precision.
    #[serde(default)]
    pub precision: Precision,
}

/// `[record]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    /// Write rates.npy (default true).
    #[serde(default = "yes")]
    pub rates: bool,
    /// Keep every k-th neuron in rates.npy (default 1).
    #[serde(default = "one_usize")]
    pub stride: usize,
    /// Which Hebbian overlaps are metrics: "all", "cued" or a list of
    /// pattern indices (default: all up to [`ALL_OVERLAPS_UP_TO`] patterns,
    /// else cued).
    #[serde(default)]
    pub overlaps: Option<OverlapsSpec>,
}

/// The largest P whose overlaps are all metrics by default; above it
/// the metrics are the cued patterns' overlaps and the largest of the rest.
pub const ALL_OVERLAPS_UP_TO: usize = 1000;

/// `record.overlaps`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OverlapsSpec {
    /// "all" or "cued".
    Named(String),
    /// Pattern indices.
    Indices(Vec<usize>),
}

impl Default for RecordSpec {
    fn default() -> Self {
        RecordSpec {
            rates: true,
            stride: 1,
            overlaps: None,
        }
    }
}

fn one() -> f64 {
    1.0
}
fn one_u64() -> u64 {
    1
}
fn one_usize() -> usize {
    1
}
fn yes() -> bool {
    true
}

impl Default for InitialSpec {
    fn default() -> Self {
        InitialSpec::Zeros {}
    }
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
