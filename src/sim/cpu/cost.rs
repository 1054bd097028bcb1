//! What a CPU step moves and computes, and the memory a CPU run needs,
//! from M's shape ([`crate::model::Shape`]): the model `attractor bench`
//! divides by the time per step, and the memory check of every CPU run.
//!
//! The CPU steps each trial on its own, so a batch of B costs B trials'
//! bytes and flops (M is shared: its memory counts once). Every read or
//! write of a vector or table counts once per stage.

use super::operator::{step_cost, weight_memory};
use crate::model::{Experiment, Precision};
use crate::sim::{Cost, Footprint};

/// The cost of `batch` trials of `exp` on the CPU, in the experiment's
/// precision, on `threads` threads (the generated rows' scratch).
pub fn cost(exp: &Experiment, batch: usize, threads: usize) -> Cost {
    let b = batch as f64;
    let size = real_size(exp) as f64;
    let stages = exp.simulation.method.stages().len() as f64;
    let (bytes, weights, flops) =
        step_cost(&exp.network.weights.shape(), size, exp.inputs_uniform());
    Cost {
        bytes_per_step: b * stages * bytes,
        weight_bytes_per_step: b * stages * weights,
        minimum_bytes_per_step: None,
        flops_per_step: b * stages * flops,
        dispatches_per_step: None,
        memory: footprint(exp, batch, threads),
    }
}

/// Bytes of a float of the experiment's precision.
fn real_size(exp: &Experiment) -> u64 {
    match exp.simulation.precision {
        Precision::F32 => 4,
        Precision::F64 => 8,
    }
}

/// An upper estimate of the memory `batch` trials of `exp` need on the
/// CPU, on `threads` threads: the weights once (the trials share them),
/// the working vectors of the trials that run at once (one per thread),
/// and every trial's final state and records.
pub fn footprint(exp: &Experiment, batch: usize, threads: usize) -> Footprint {
    let n = exp.network.n as u64;
    let weights = weight_memory(&exp.network.weights.shape(), real_size(exp), threads);
    let at_once = batch.min(threads.max(1)) as u64;
    let state = n
        .saturating_mul(8 * 12)
        .saturating_add(8 * exp.input_values())
        .saturating_mul(at_once)
        .saturating_add(n.saturating_mul(8 * batch as u64));
    Footprint {
        weights,
        state,
        records: Footprint::records_of(exp, batch),
    }
}
