//! What a run produced: its records over time, where it stopped and why,
//! and (on the GPU) what its encoder counted.

use super::cost::Ledger;
use crate::error::Error;
use crate::model::Experiment;

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
    /// The GPU adapter's PCI bus id, where its driver gives one.
    pub adapter_pci_bus_id: Option<String>,
    /// Why the run opened that adapter: `--device 1`,
    /// `CUDA_VISIBLE_DEVICES=2`, or `the first adapter listed`.
    pub adapter_chosen_by: Option<String>,
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
            adapter_pci_bus_id: None,
            adapter_chosen_by: None,
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
