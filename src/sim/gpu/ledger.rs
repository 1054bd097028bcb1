//! What the GPU backend's encoder counted for a batch, as it recorded each
//! dispatch of the schedule ([`super::schedule`]).

/// What the GPU backend's encoder recorded for a batch: dispatches and
/// bytes (the [`super::schedule`] model), counted as each dispatch is
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
