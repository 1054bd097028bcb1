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
    /// The GPU adapter `simulation.device` names (an index, PCI bus id,
    /// UUID or part of a name), if any.
    pub device: Option<String>,
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

impl Experiment {
    /// Whether every input is still and the same at every neuron (then h
    /// is one number at every step, whichever epochs are on).
    pub fn inputs_uniform(&self) -> bool {
        self.inputs
            .iter()
            .all(|e| matches!(e.motion, super::Motion::Still) && e.h.iter().all(|&x| x == e.h[0]))
    }

    /// The numbers the inputs hold: N per epoch, and the rows of played files.
    pub fn input_values(&self) -> u64 {
        self.inputs
            .iter()
            .map(|e| {
                let rows = match &e.motion {
                    super::Motion::Frames { rows, .. } => rows.len(),
                    super::Motion::Still | super::Motion::Moving { .. } => 0,
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
