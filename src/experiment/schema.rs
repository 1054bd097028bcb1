//! The experiment file's schema (SPEC §2) as serde types. Unknown keys are
//! errors (`deny_unknown_fields`); ranges are checked in `resolve`.

use super::values::one;
pub use super::weights::{WeightsSpec, MATERIALISE_UP_TO};
use crate::model::{Activation, BackendChoice, Dynamics, Method, Precision};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The whole experiment file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    /// Run name; defaults to the file's stem.
    #[serde(default)]
    pub name: Option<String>,
    /// `[network]`: one population (or `[[population]]` tables instead).
    #[serde(default)]
    pub network: Option<NetworkSpec>,
    /// `[[population]]` tables: several populations instead of `[network]`.
    #[serde(default)]
    pub population: Vec<PopulationSpec>,
    /// `[[projection]]` tables: the weights between populations.
    #[serde(default)]
    pub projection: Vec<ProjectionSpec>,
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

/// One `[[population]]` table.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationSpec {
    /// Its name, unique: projections, inputs, metrics and outputs use it.
    pub name: String,
    /// Its number of neurons.
    pub n: usize,
    /// Its time constant in seconds: one for every neuron, n numbers, or
    /// the path of a length-n `.npy`.
    pub tau: PerNeuron,
    /// A constant input added to h throughout (default 0): one number, n
    /// numbers or the path of a length-n `.npy`.
    #[serde(default)]
    pub bias: Option<PerNeuron>,
    /// `rate` (default) or `current`.
    #[serde(default)]
    pub dynamics: Dynamics,
    /// Its activation; linear by default.
    #[serde(default)]
    pub activation: Activation,
    /// Its noise sigma (default: `simulation.noise`).
    #[serde(default)]
    pub noise: Option<f64>,
    /// Its initial state: one number for every neuron, or n numbers
    /// (default: what `[initial]` gives these neurons, zeros without it).
    #[serde(default)]
    pub initial: Option<NumberOrList>,
}

/// A value per neuron: one number for all, a list, or a `.npy` file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PerNeuron {
    /// The same number everywhere.
    Number(f64),
    /// One number each.
    List(Vec<f64>),
    /// A length-n `.npy`, relative to the experiment file.
    File(PathBuf),
}

/// One number, or a list of numbers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum NumberOrList {
    /// The same number everywhere.
    Number(f64),
    /// One number each.
    List(Vec<f64>),
}

/// One `[[projection]]` table: the block (to, from) of M.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionSpec {
    /// Its name for `--set projection.NAME.…` (default: `from` then `to`,
    /// `EI` for a projection from E to I).
    #[serde(default)]
    pub name: Option<String>,
    /// The presynaptic population.
    pub from: String,
    /// The postsynaptic population.
    pub to: String,
    /// Its weights: row i a neuron of `to`, column j one of `from`.
    pub weights: WeightsSpec,
    /// `excitatory` (every weight |w|) or `inhibitory` (every weight
    /// -|w|): Dale's law; by default the weights as they are.
    #[serde(default)]
    pub sign: Option<Sign>,
}

impl ProjectionSpec {
    /// Its name: `name`, or `from` then `to`.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}{}", self.from, self.to))
    }
}

/// The sign a projection's weights are given (Dale's law).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sign {
    /// Every weight |w|.
    Excitatory,
    /// Every weight -|w|.
    Inhibitory,
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
    /// The GPU adapter: an index as `attractor devices` lists it, a PCI
    /// bus id, a UUID or part of a name.
    #[serde(default)]
    pub device: Option<DeviceSpec>,
    /// CPU precision.
    #[serde(default)]
    pub precision: Precision,
}

/// `simulation.device`: an index, or a string (PCI bus id, UUID, name).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum DeviceSpec {
    /// An index as `attractor devices` lists it.
    Index(u64),
    /// A PCI bus id, a UUID or part of an adapter's name.
    Name(String),
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
