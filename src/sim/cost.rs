//! What a batch costs a backend: the bytes and flops of a step, and the
//! memory a run needs. Each backend computes its own ([`super::Backend::cost`]:
//! the CPU from M's shape, the GPU from the dispatches it will encode);
//! `attractor bench`, the memory check at the start of every run and the
//! tests all read the same numbers.

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
