//! The cases `attractor bench` measures: an operator (a form of M), N,
//! P for the Hebbian cases, and the experiment of each.

use super::sparse::{DegreeSpread, SPARSE_DEGREE};
use crate::error::Result;
use crate::model::{Activation, Dynamics, Experiment, Weights};
use rayon::prelude::*;
use serde::Serialize;

/// The kind of operator (M) a case steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OperatorKind {
    /// A dense N×N matrix.
    Dense,
    /// The ring's rank-3 form.
    Ring,
    /// Hebbian, 16 patterns unless `--patterns` says otherwise.
    Hebbian,
    /// Hebbian with bit-packed ±1 patterns (`packed = true`), 16 patterns
    /// unless `--patterns` says otherwise: the bits are the weight bytes;
    /// not in the default list.
    Packed,
    /// Dense random weights generated at every product, not stored
    /// (`random` with `materialise = false`): bound by arithmetic, not by
    /// memory (see GFLOP/s and generated entries per second); not in the
    /// default list.
    Random,
    /// A Mexican hat (two Gaussians) on a torus of side × side neurons (N
    /// a square): by FFT on the CPU, two separable passes per stage on
    /// the GPU; not in the default list.
    Gaussian,
    /// The cosine torus of side × side neurons (N a square): rank 5, the
    /// uniform mode and the cos/sin pair of each axis; not in the default
    /// list.
    Torus,
    /// Sparse weights: each neuron with `--degree` random partners (100
    /// unless it says otherwise; `--degree-spread lognormal` for
    /// heavy-tailed in-degrees): the values, columns and row places are the
    /// weight bytes; not in the default list.
    Sparse,
}

impl OperatorKind {
    /// Whether the case's weights are stored matrices built once (dense
    /// or sparse), not structure the file describes at every N.
    pub fn is_stored(self) -> bool {
        match self {
            OperatorKind::Dense | OperatorKind::Sparse => true,
            OperatorKind::Ring
            | OperatorKind::Hebbian
            | OperatorKind::Packed
            | OperatorKind::Random
            | OperatorKind::Gaussian
            | OperatorKind::Torus => false,
        }
    }

    /// Whether the case has patterns (`--patterns`).
    pub fn has_patterns(self) -> bool {
        match self {
            OperatorKind::Hebbian | OperatorKind::Packed => true,
            OperatorKind::Dense
            | OperatorKind::Ring
            | OperatorKind::Random
            | OperatorKind::Gaussian
            | OperatorKind::Torus
            | OperatorKind::Sparse => false,
        }
    }

    /// Whether the case has partners per neuron (`--degree`,
    /// `--degree-spread`).
    pub fn has_degree(self) -> bool {
        match self {
            OperatorKind::Sparse => true,
            OperatorKind::Dense
            | OperatorKind::Ring
            | OperatorKind::Hebbian
            | OperatorKind::Packed
            | OperatorKind::Random
            | OperatorKind::Gaussian
            | OperatorKind::Torus => false,
        }
    }
}

/// Patterns of the Hebbian cases unless `--patterns` says otherwise.
pub const HEBBIAN_PATTERNS: usize = 16;

/// The network of one case: the operator, N and (Hebbian) the patterns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    /// The operator.
    pub operator: OperatorKind,
    /// N.
    pub n: usize,
    /// P, the patterns of a Hebbian case (unused otherwise).
    pub patterns: usize,
    /// K, the partners per neuron of a sparse case (unused otherwise).
    pub degree: usize,
    /// How a sparse case's in-degrees spread.
    pub spread: DegreeSpread,
    /// The activation F (relu unless asked).
    pub activation: Activation,
    /// The dynamics (rate unless asked).
    pub dynamics: Dynamics,
}

impl Case {
    /// `operator` at N = `n`, Hebbian with [`HEBBIAN_PATTERNS`] patterns.
    pub fn new(operator: OperatorKind, n: usize) -> Self {
        Case {
            operator,
            n,
            patterns: HEBBIAN_PATTERNS,
            degree: SPARSE_DEGREE,
            spread: DegreeSpread::Fixed,
            activation: Activation::Relu {},
            dynamics: Dynamics::Rate,
        }
    }
}

/// `--activation`: a kind (`tanh`, with its default parameters) or an
/// inline table as in an experiment file (`{ kind = "tanh", beta = 4.0 }`),
/// checked as `network.activation` is; an error names the option.
pub fn parse_activation(text: &str) -> Result<Activation> {
    let table = if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        format!("{{ kind = \"{}\" }}", text.trim())
    };
    #[derive(serde::Deserialize)]
    struct Holder {
        a: Activation,
    }
    let a = toml::from_str::<Holder>(&format!("a = {table}"))
        .map_err(|e| {
            crate::Error::invalid(
                "--activation",
                text,
                format!(
                    "a kind (linear, relu, tanh, sigmoid, clip, step) or an inline table \
                     such as {{ kind = \"tanh\", beta = 4.0 }} ({})",
                    e.message()
                ),
            )
        })?
        .a;
    a.validate("--activation")?;
    Ok(a)
}

/// The experiment of a case: a network with the case's activation and
/// dynamics (relu and rate unless asked), Euler steps, f32.
pub fn experiment(case: Case, steps: u64) -> Result<Experiment> {
    let Case {
        operator: op,
        n,
        patterns,
        degree,
        spread,
        activation,
        dynamics,
    } = case;
    let weights = match op {
        OperatorKind::Dense => "{ kind = \"diagonal\", values = [0.0] }".to_string(),
        OperatorKind::Ring => "{ kind = \"ring\", lambda0 = 0.5, lambda1 = 1.5 }".to_string(),
        OperatorKind::Torus => "{ kind = \"torus\", lambda0 = 0.5, lambda1 = 1.5 }".to_string(),
        OperatorKind::Hebbian => format!("{{ kind = \"hebbian\", patterns = {patterns} }}"),
        // One pattern here; the case's are drawn a word at a time below.
        OperatorKind::Packed => "{ kind = \"hebbian\", patterns = 1, packed = true }".to_string(),
        // The matrix is drawn below.
        OperatorKind::Sparse => "{ kind = \"diagonal\", values = [0.0] }".to_string(),
        // Spectral radius 0.9: a stable network.
        OperatorKind::Random => {
            "{ kind = \"random\", g = 0.9, seed = 1, materialise = false }".to_string()
        }
        // Every mode's gain below 0.4: a stable network.
        OperatorKind::Gaussian => "{ kind = \"gaussian\", excitation = 0.6, sigma = 0.6, \
                                   inhibition = 0.9, sigma_inhibition = 1.6 }"
            .to_string(),
    };
    let stored = op.is_stored();
    let n_file = if stored { 1 } else { n };
    let toml = format!(
        r#"
        [network]
        n = {n_file}
        tau = 0.01
        activation = {{ kind = "relu" }}
        weights = {weights}
        [[input]]
        kind = "uniform"
        value = 0.1
        [simulation]
        duration = {}
        dt = 0.0001
        record_every = {steps}
        precision = "f32"
        [record]
        rates = false
        "#,
        steps as f64 * 0.0001
    );
    let mut e = Experiment::from_toml(&toml, std::path::Path::new("."), "bench", &[])?;
    e.network.activation = activation;
    e.network.dynamics = dynamics;
    // The numbers the file does not describe (packed bits, a sparse or a
    // dense matrix) are drawn here.
    match op {
        OperatorKind::Packed => {
            // P N bits of random words (32 units a draw: the goal's 12.5 GB in
            // seconds), and the overlaps a file of as many patterns records.
            let bits = crate::model::PatternBits::random_words(n, patterns, 1);
            e.network.weights = Weights::PackedHebbian {
                n,
                bits: std::sync::Arc::new(bits),
            };
            e.network.overlaps =
                (patterns > crate::experiment::schema::ALL_OVERLAPS_UP_TO).then(|| vec![0]);
        }
        OperatorKind::Sparse => {
            let csr = super::sparse::matrix(n, degree, spread);
            e.network.n = n;
            e.network.weights = Weights::Sparse {
                n,
                csr: std::sync::Arc::new(csr),
                origin: crate::model::SparseOrigin::Data,
                factors: std::sync::Arc::new(crate::model::Factors::none(n)),
            };
            e.inputs[0].h = vec![0.1; n];
            e.initial = vec![0.0; n];
        }
        OperatorKind::Dense => {
            // Its N² f64 entries, then the run's copy in f32, before drawing.
            let entries = (n as u64).saturating_mul(n as u64);
            crate::memory::check(
                "--n",
                n,
                "the dense case's matrix (N² entries in f64 and f32)",
                entries.saturating_mul(12),
            )?;
            // A random M scaled to spectral radius ~0.9: a stable network.
            let s = 0.9 * (3.0 / n as f64).sqrt();
            let m: Vec<f64> = (0..n * n)
                .into_par_iter()
                .map(|k| {
                    s * (2.0
                        * crate::rng::uniform_at(
                            1,
                            crate::rng::Stream::InitialRandom,
                            k as u32,
                            (k >> 32) as u32,
                        )
                        - 1.0)
                })
                .collect();
            e.network.n = n;
            e.network.weights = Weights::Dense { n, m };
            e.inputs[0].h = vec![0.1; n];
            e.initial = vec![0.0; n];
        }
        OperatorKind::Ring
        | OperatorKind::Torus
        | OperatorKind::Hebbian
        | OperatorKind::Random
        | OperatorKind::Gaussian => {}
    }
    Ok(e)
}

/// The experiment of a case with the dense matrix left empty: its shape
/// for the backends' costs and [`GpuBackend::launch`], without filling N²
/// entries.
pub(crate) fn shape_of(case: Case) -> Result<Experiment> {
    let n = case.n;
    match case.operator {
        OperatorKind::Dense => {
            let mut e = experiment(Case { n: 1, ..case }, 1)?;
            e.network.n = n;
            e.network.weights = Weights::Dense { n, m: Vec::new() };
            Ok(e)
        }
        OperatorKind::Ring
        | OperatorKind::Torus
        | OperatorKind::Hebbian
        | OperatorKind::Packed
        | OperatorKind::Random
        | OperatorKind::Gaussian
        | OperatorKind::Sparse => experiment(case, 1),
    }
}

/// The sizes an operator is measured at when none are given.
pub fn default_sizes(op: OperatorKind) -> Vec<usize> {
    match op {
        OperatorKind::Dense => vec![1024, 4096],
        OperatorKind::Ring => vec![65536, 1 << 20],
        OperatorKind::Hebbian | OperatorKind::Packed => vec![16384],
        OperatorKind::Random => vec![1024, 4096],
        OperatorKind::Gaussian | OperatorKind::Torus => vec![65536, 1 << 20],
        OperatorKind::Sparse => vec![100_000],
    }
}
