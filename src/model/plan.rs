//! The validated plan of a run: the network, its inputs and initial state,
//! how it is integrated and what is recorded. The experiment file (and
//! `--set`) produce it; backends only read it. Nothing here reads files or
//! steps anything.

use super::{InputEpoch, Network};
use serde::{Deserialize, Serialize};

/// Which backend runs the experiment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// A GPU if one exists, else the CPU.
    #[default]
    Auto,
    /// The CPU reference backend.
    Cpu,
    /// The GPU backend.
    Gpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;

    /// `auto`, `cpu` or `gpu`, as in `simulation.backend`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "cpu" => Ok(BackendChoice::Cpu),
            "gpu" => Ok(BackendChoice::Gpu),
            other => Err(format!(
                "`{other}` is not a backend; allowed: auto, cpu, gpu"
            )),
        }
    }
}

/// Float precision of the CPU backend (`simulation.precision`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Single precision, as the GPU computes.
    F32,
    /// Double precision, the reference.
    #[default]
    F64,
}

/// Settings of the integration.
#[derive(Clone, Debug)]
pub struct Simulation {
    /// Seconds.
    pub duration: f64,
    /// Seconds per step.
    pub dt: f64,
    /// round(duration / dt).
    pub steps: u64,
    /// Integration method.
    pub method: super::Method,
    /// Noise sigma (0 = deterministic).
    pub noise: f64,
    /// Seed of the noise (and of random initial states unless they give one).
    pub seed: u64,
    /// Steps between records.
    pub record_every: u64,
    /// Requested backend.
    pub backend: BackendChoice,
    /// CPU precision.
    pub precision: Precision,
}

impl Simulation {
    /// The number of records: steps 0, k, 2k, ... and the last step.
    pub fn records(&self) -> u64 {
        self.steps / self.record_every
            + 1
            + u64::from(!self.steps.is_multiple_of(self.record_every))
    }

    /// The steps at which the state is recorded: 0, k, 2k, ... and the last step.
    pub fn record_steps(&self) -> Vec<u64> {
        let mut s: Vec<u64> = (0..=self.steps)
            .step_by(self.record_every as usize)
            .collect();
        if *s.last().expect("step 0 is always recorded") != self.steps {
            s.push(self.steps);
        }
        s
    }
}

/// What `rates.npy` keeps.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// Whether rates are kept at all.
    pub rates: bool,
    /// Keep every `stride`-th neuron.
    pub stride: usize,
}

impl RecordOptions {
    /// Neurons per rates row for a network of `n` (0 when rates are not kept).
    pub fn kept(&self, n: usize) -> usize {
        if self.rates {
            n.div_ceil(self.stride)
        } else {
            0
        }
    }
}

/// A validated experiment: the model, its inputs and initial state, and how
/// to simulate it. The experiment module builds it from a TOML file.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// Run name.
    pub name: String,
    /// The network.
    pub network: Network,
    /// Input epochs, each resolved to an N-vector.
    pub inputs: Vec<InputEpoch>,
    /// Angular velocity epochs (path integration on the ring), summed.
    pub velocity: Vec<super::VelocityEpoch>,
    /// Initial state (v for rate dynamics, I for current dynamics).
    pub initial: Vec<f64>,
    /// Integration settings.
    pub simulation: Simulation,
    /// What rates.npy keeps.
    pub record: RecordOptions,
    /// The experiment as TOML, overrides applied (written next to the outputs).
    pub toml: String,
}

/// The memory a CPU run of an experiment needs, by what needs it (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostBytes {
    /// The weights as given, their structured form or dense copy in the
    /// run's precision, and the metrics' tables.
    pub weights: u64,
    /// The state vectors of the run (state, stage points, inputs, drive).
    pub state: u64,
    /// The records: times, metric rows and kept rates.
    pub records: u64,
}

impl HostBytes {
    /// All of it.
    pub fn total(&self) -> u64 {
        self.weights
            .saturating_add(self.state)
            .saturating_add(self.records)
    }
}

impl Experiment {
    /// An upper estimate of the memory a CPU run of one trial needs.
    pub fn host_bytes(&self) -> HostBytes {
        let n = self.network.n as u64;
        let real: u64 = match self.simulation.precision {
            Precision::F32 => 4,
            Precision::F64 => 8,
        };
        let given = match self.network.weights.shape() {
            super::Shape::Dense { .. } => n.saturating_mul(n),
            // Generated: rows of scratch per thread.
            super::Shape::Generated { .. } => {
                n.saturating_mul(4 * rayon::current_num_threads() as u64)
            }
            super::Shape::Packed { .. } => 0,
            // The half spectrum and a product's two half-spectrum buffers
            // (complex f64), about 3 N f64 in all.
            super::Shape::Convolution { .. } => 3 * n,
            super::Shape::Structured(s) => (s.rows_stored() as u64).saturating_mul(n),
        };
        // As given (f64), the form or dense copy in the run's precision, and
        // a metric table or a form being built (f64).
        let weights = match self.network.weights.shape() {
            // The bits (shared by the run) and the overlaps' partial sums.
            super::Shape::Packed { n, patterns, .. } => super::PatternBits::bytes(n, patterns)
                .saturating_add((patterns as u64).saturating_mul(8 * 64)),
            super::Shape::Dense { .. }
            | super::Shape::Generated { .. }
            | super::Shape::Convolution { .. }
            | super::Shape::Structured(_) => given.saturating_mul(8 + real + 8 + 8),
        };
        let state = n
            .saturating_mul(8 * 12)
            .saturating_add(8 * self.input_values());
        let records = self.simulation.records();
        let columns = 2 + self.network.weights.geometry().patterns as u64 + 3;
        let kept = self.record.kept(self.network.n) as u64;
        let per_record = 8 + 8 + 24 + 8 * columns + 4 * kept;
        HostBytes {
            weights,
            state,
            records: records.saturating_mul(per_record),
        }
    }

    /// The numbers the inputs hold: N per epoch, and the rows of played files.
    pub fn input_values(&self) -> u64 {
        self.inputs
            .iter()
            .map(|e| {
                let rows = match &e.motion {
                    super::Motion::Frames { rows, .. } => rows.len(),
                    _ => 0,
                };
                (e.h.len() + rows) as u64
            })
            .sum()
    }

    /// When the last input ends (the largest finite `end` of the inputs), if any does.
    pub fn input_end(&self) -> Option<f64> {
        self.inputs
            .iter()
            .map(|e| e.end)
            .filter(|e| e.is_finite())
            .fold(None, |a: Option<f64>, e| Some(a.map_or(e, |a| a.max(e))))
    }
}
