//! HOW an experiment is stepped: the [`Backend`] trait, the integration
//! methods, and the [`Recording`] a run produces. Backends do not read or
//! write files; the output module does.

pub mod cpu;
pub mod fused;
pub mod gpu;
pub mod matvec;
pub mod operator;

use crate::error::{Error, Result};
use crate::model::Experiment;
pub use crate::model::{BackendChoice, Method, Precision};

/// Where a run stopped because its state stopped being finite.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Divergence {
    /// First step whose state holds NaN or infinity.
    pub step: u64,
    /// Its time in seconds.
    pub t: f64,
    /// Whether a NaN (rather than only infinities) appeared.
    pub nan: bool,
}

impl Divergence {
    /// The error a diverged run reports.
    pub fn error(&self) -> Error {
        Error::Diverged {
            step: self.step,
            t: self.t,
            what: if self.nan { "NaN" } else { "infinite" }.into(),
        }
    }
}

/// What a run recorded.
#[derive(Clone, Debug)]
pub struct Recording {
    /// Metric column names (after `t`).
    pub metric_names: Vec<String>,
    /// Time of each record.
    pub t: Vec<f64>,
    /// Metric rows, one per record.
    pub metrics: Vec<Vec<f64>>,
    /// Rates of kept neurons, row-major [records, kept].
    pub rates: Vec<f32>,
    /// Neurons per rates row (0 when rates are not kept).
    pub kept: usize,
    /// Steps simulated.
    pub steps_done: u64,
    /// Set when the state became NaN or infinite; the records stop before it.
    pub divergence: Option<Divergence>,
    /// Set when the backend failed during the run (a lost GPU device, a
    /// submit that timed out): what happened; the records stop before it.
    pub fault: Option<String>,
    /// The last finite state (v or I).
    pub final_state: Vec<f64>,
    /// "cpu" or "gpu".
    pub backend: String,
    /// GPU adapter name, if any.
    pub adapter: Option<String>,
    /// Float type used.
    pub precision: String,
    /// Wall-clock seconds of the stepping.
    pub wall_seconds: f64,
    /// What the GPU backend encoded, with the GPU's own time where it has
    /// timestamp queries; `None` on the CPU.
    pub ledger: Option<Ledger>,
}

impl Recording {
    /// An empty recording of `experiment` made by `backend` (with `adapter`)
    /// in `precision`, with room for every record.
    pub fn empty(
        experiment: &Experiment,
        backend: &str,
        adapter: Option<String>,
        precision: &str,
    ) -> Self {
        let metric_names = crate::analysis::metrics::Metrics::shape(&experiment.network).names();
        let records = experiment.simulation.records() as usize;
        let kept = experiment.record.kept(experiment.network.n);
        Recording {
            metric_names,
            t: Vec::with_capacity(records),
            metrics: Vec::with_capacity(records),
            rates: Vec::with_capacity(records * kept),
            kept,
            steps_done: 0,
            divergence: None,
            fault: None,
            ledger: None,
            final_state: Vec::new(),
            backend: backend.into(),
            adapter,
            precision: precision.into(),
            wall_seconds: 0.0,
        }
    }

    /// The last metrics row as (name, value) pairs.
    pub fn final_metrics(&self) -> Vec<(String, f64)> {
        let mut v = Vec::new();
        if let (Some(t), Some(row)) = (self.t.last(), self.metrics.last()) {
            v.push(("t".to_string(), *t));
            v.extend(self.metric_names.iter().cloned().zip(row.iter().copied()));
        }
        v
    }

    /// The first record at or after `t`.
    pub fn record_at(&self, t: f64) -> Option<usize> {
        self.t.iter().position(|&s| s >= t - 1e-12)
    }

    /// Appends the columns of [`crate::analysis::metrics::motion_names`]
    /// (the bump's speed and lag), computed from the recorded bump angles.
    pub fn add_motion_metrics(&mut self, experiment: &Experiment) {
        use crate::analysis::metrics::{bump_names, motion_columns, motion_names};
        let names = motion_names(experiment);
        if names.is_empty() || self.metric_names.iter().any(|m| names.contains(m)) {
            return;
        }
        let Some(angles) = bump_names(experiment.network.weights.geometry().dims)
            .iter()
            .map(|name| self.metric(name))
            .collect::<Option<Vec<_>>>()
        else {
            return;
        };
        let extra = motion_columns(experiment, &self.t, &angles);
        for (row, e) in self.metrics.iter_mut().zip(extra) {
            row.extend(e);
        }
        self.metric_names.extend(names);
    }

    /// Column `name` of the metrics over time.
    pub fn metric(&self, name: &str) -> Option<Vec<f64>> {
        let k = self.metric_names.iter().position(|m| m == name)?;
        Some(self.metrics.iter().map(|r| r[k]).collect())
    }
}

/// One trial of a batch: the experiment with its own noise seed, initial
/// state, and scales of M and of the input. Trials of a batch share M.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    /// Noise seed (the key of the Philox stream).
    pub seed: u64,
    /// Trial word of the noise counter.
    pub trial: u32,
    /// M is multiplied by this (e.g. a sweep over lambda).
    pub m_scale: f64,
    /// The input h is multiplied by this.
    pub h_scale: f64,
    /// Noise sigma of this trial.
    pub noise: f64,
    /// Initial state; the experiment's when `None`.
    pub initial: Option<Vec<f64>>,
}

impl Trial {
    /// The experiment's own trial: its seed, trial 0, unit scales, its initial state.
    pub fn of(experiment: &Experiment) -> Self {
        Trial {
            seed: experiment.simulation.seed,
            trial: 0,
            m_scale: 1.0,
            h_scale: 1.0,
            noise: experiment.simulation.noise,
            initial: None,
        }
    }

    /// Checks the trial's initial state (N values), scales (finite) and
    /// noise (finite, ≥ 0) for `experiment`.
    pub fn check(&self, experiment: &Experiment) -> Result<()> {
        let n = experiment.network.n;
        if let Some(x) = &self.initial {
            if x.len() != n {
                return Err(Error::invalid(
                    "trial.initial",
                    format!("a vector of {} values", x.len()),
                    format!("must have N = {n} values"),
                ));
            }
        }
        for (k, v) in [
            ("trial.m_scale", self.m_scale),
            ("trial.h_scale", self.h_scale),
        ] {
            if !v.is_finite() {
                return Err(Error::invalid(k, v, "must be finite"));
            }
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(Error::invalid(
                "trial.noise",
                self.noise,
                "must be a finite number ≥ 0",
            ));
        }
        Ok(())
    }

    /// The initial state of this trial.
    pub fn initial<'a>(&'a self, experiment: &'a Experiment) -> &'a [f64] {
        self.initial.as_deref().unwrap_or(&experiment.initial)
    }
}

/// A request to end runs early (Ctrl-C in an interactive session), shared
/// by clones across threads: the backends look at it where they report
/// progress and then return [`Error::Interrupted`].
#[derive(Clone, Debug, Default)]
pub struct Stop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Stop {
    /// Asks the runs watching this stop to end.
    pub fn request(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether an end was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The flag itself, for a signal handler to set (e.g. signal-hook's
    /// `flag::register` on SIGINT).
    pub fn flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.0.clone()
    }
}

/// A simulation backend.
pub trait Backend {
    /// "cpu" or "gpu".
    fn name(&self) -> &'static str;
    /// The adapter's name, for GPU backends.
    fn adapter(&self) -> Option<String>;
    /// Runs a batch of trials of `experiment` together (on the GPU sharing
    /// one copy of M), calling `progress(steps_done)` now and then. One
    /// recording per trial, in order. Each trial is checked first.
    fn run_batch(
        &mut self,
        experiment: &Experiment,
        trials: &[Trial],
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<Recording>> {
        self.run_batch_until(experiment, trials, progress, &Stop::default())
    }
    /// [`Backend::run_batch`] that ends early with [`Error::Interrupted`]
    /// once `stop` is requested (looked at where progress is reported).
    fn run_batch_until(
        &mut self,
        experiment: &Experiment,
        trials: &[Trial],
        progress: &mut dyn FnMut(u64),
        stop: &Stop,
    ) -> Result<Vec<Recording>> {
        for t in trials {
            t.check(experiment)?;
        }
        if trials.is_empty() {
            return Ok(Vec::new());
        }
        self.run_checked(experiment, trials, progress, stop)
    }
    /// [`Backend::run_batch_until`] for trials already checked (at least
    /// one).
    fn run_checked(
        &mut self,
        experiment: &Experiment,
        trials: &[Trial],
        progress: &mut dyn FnMut(u64),
        stop: &Stop,
    ) -> Result<Vec<Recording>>;
    /// Runs `experiment` as it is written.
    fn run(&mut self, experiment: &Experiment, progress: &mut dyn FnMut(u64)) -> Result<Recording> {
        let mut r = self.run_batch(experiment, &[Trial::of(experiment)], progress)?;
        Ok(r.remove(0))
    }
}

/// The backend for `choice`, with a note for stderr saying what was picked:
/// `auto` takes the best hardware GPU adapter (discrete, then integrated,
/// then virtual) and otherwise the CPU backend, which outruns a software
/// adapter such as lavapipe; `--backend gpu` takes the best adapter of any kind.
pub fn select(choice: BackendChoice) -> Result<(Box<dyn Backend>, Option<String>)> {
    let describe =
        |s: &gpu::context::AdapterSummary| format!("{} ({}, {})", s.name, s.device_type, s.backend);
    match choice {
        BackendChoice::Cpu => Ok((Box::new(cpu::CpuBackend), None)),
        BackendChoice::Gpu => {
            let b = gpu::GpuBackend::new()?;
            let note = format!("backend gpu: {}", describe(&b.context().summary));
            Ok((Box::new(b), Some(note)))
        }
        BackendChoice::Auto => {
            let best = gpu::context::adapters().into_iter().next();
            let cpu = |why: String| -> Result<(Box<dyn Backend>, Option<String>)> {
                Ok((
                    Box::new(cpu::CpuBackend),
                    Some(format!("backend auto: {why}; running on the CPU")),
                ))
            };
            match best {
                None => cpu("no GPU adapter found".into()),
                Some(a) if a.get_info().device_type == wgpu::DeviceType::Cpu => cpu(format!(
                    "the only adapter is the software one {} (--backend gpu uses it; the CPU backend is faster)",
                    a.get_info().name
                )),
                Some(a) => match gpu::GpuBackend::with_adapter(a) {
                    Ok(b) => {
                        let note = format!("backend auto: GPU {}", describe(&b.context().summary));
                        Ok((Box::new(b), Some(note)))
                    }
                    Err(e) => cpu(format!("the GPU could not be opened ({e})")),
                },
            }
        }
    }
}

/// What the GPU backend's encoder recorded for a batch: dispatches and
/// bytes (the [`gpu::schedule`] model), counted as each dispatch is
/// recorded, and the GPU time of its submits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ledger {
    /// Steps encoded.
    pub steps: u64,
    /// Dispatches of those steps.
    pub step_dispatches: u64,
    /// Bytes those dispatches moved.
    pub step_bytes: u64,
    /// Of those, the weights' (M, or the structured tables and diagonal).
    pub step_weight_bytes: u64,
    /// Prologue and record dispatches.
    pub other_dispatches: u64,
    /// Bytes those moved.
    pub other_bytes: u64,
    /// GPU time of the submits, seconds, where the adapter has timestamp queries.
    pub gpu_seconds: Option<f64>,
}

impl Ledger {
    /// Dispatches per step.
    pub fn dispatches_per_step(&self) -> f64 {
        self.step_dispatches as f64 / self.steps.max(1) as f64
    }

    /// Bytes per step.
    pub fn bytes_per_step(&self) -> f64 {
        self.step_bytes as f64 / self.steps.max(1) as f64
    }

    /// Bytes of the weights per step.
    pub fn weight_bytes_per_step(&self) -> f64 {
        self.step_weight_bytes as f64 / self.steps.max(1) as f64
    }
}
