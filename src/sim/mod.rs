//! HOW an experiment is stepped: the [`Backend`] trait, the trials of a
//! batch, the [`Recording`] a run produces and the [`Cost`] a backend
//! reports. Backends do not read or write files; the output module does.
//!
//! This file and the generic ones beside it know neither backend: the CPU
//! backend lives in [`cpu`], the GPU backend in [`gpu`], and [`choice`]
//! picks one. [`inputs`] is the input schedule both step through.

pub mod choice;
pub mod cost;
pub mod cpu;
pub mod gpu;
pub mod inputs;
pub mod recording;

use crate::error::{Error, Result};
use crate::model::Experiment;
pub use crate::model::{BackendChoice, Method, Precision};
pub use cost::{Cost, Footprint};
pub use recording::{Divergence, Recording};

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

/// A simulation backend (`Send`: a sweep over several devices runs each
/// backend from a thread of its own).
pub trait Backend: Send {
    /// "cpu" or "gpu".
    fn name(&self) -> &'static str;
    /// The adapter's name, for GPU backends.
    fn adapter(&self) -> Option<String>;
    /// What a step of `batch` trials of `experiment` costs here, and the
    /// memory the run needs.
    fn cost(&self, experiment: &Experiment, batch: usize) -> Cost;
    /// Where the weights and state of a run live when it is not the
    /// host's memory: the device's name and its bytes, where known.
    fn device_memory(&self) -> Option<(String, Option<u64>)> {
        None
    }
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
        self.check_memory(experiment, trials.len())?;
        self.run_checked(experiment, trials, progress, stop)
    }
    /// Refuses `batch` trials of `experiment` when they would not fit (the
    /// footprint of [`Backend::cost`] against [`Backend::device_memory`], or
    /// the host's), before anything is built.
    fn check_memory(&self, experiment: &Experiment, batch: usize) -> Result<()> {
        let device = self.device_memory();
        self.cost(experiment, batch)
            .memory
            .check(experiment, device.as_ref().map(|(n, m)| (n.as_str(), *m)))
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
