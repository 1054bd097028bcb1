//! What a batch costs a backend: the bytes and flops of a step, and the
//! memory a run needs. Each backend computes its own ([`super::Backend::cost`]:
//! the CPU from M's shape, the GPU from the dispatches it will encode);
//! `attractor bench`, the memory check at the start of every run and the
//! tests all read the same numbers. Beside it, what an encoder counted as
//! it recorded a run ([`Ledger`]), which a recording carries.

pub use crate::memory::Footprint;

/// The cost of a step of a batch, and the memory of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cost {
    /// Bytes a step moves, for the whole batch: every vector and table it
    /// reads or writes, as the backend's model counts them.
    pub bytes_per_step: f64,
    /// Of those, the weights' (M, or the tables of its form).
    pub weight_bytes_per_step: f64,
    /// The fewest bytes a step can move (each region once), where the
    /// backend models it (the GPU).
    pub minimum_bytes_per_step: Option<f64>,
    /// Floating-point operations of the products by M of a step, for the
    /// whole batch, a multiply-add counted as 2.
    pub flops_per_step: f64,
    /// Dispatches per step (the GPU).
    pub dispatches_per_step: Option<f64>,
    /// The memory the run needs.
    pub memory: Footprint,
}

/// What a backend's encoder recorded for a batch: dispatches and bytes,
/// counted as each dispatch is recorded, and the device's time of its
/// submits. The GPU backend fills it (`sim/gpu/encode.rs`, the bytes of its
/// schedule's model); the CPU has no encoder and records none.
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
    /// Bytes the loads and stores of those dispatches request, from cache
    /// or not (the GPU schedule's `Dispatch::requested`).
    pub step_requested: u64,
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

    /// Bytes the loads and stores of a step request.
    pub fn requested_per_step(&self) -> f64 {
        self.step_requested as f64 / self.steps.max(1) as f64
    }

    /// Bytes of the weights per step.
    pub fn weight_bytes_per_step(&self) -> f64 {
        self.step_weight_bytes as f64 / self.steps.max(1) as f64
    }
}
