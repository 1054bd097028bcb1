//! What a GPU run costs: the bytes and dispatches of a step as the
//! schedule lists them (the encoder counts the same into the run's
//! ledger), the fewest bytes the equations need, the flops of the
//! products, and the GPU memory a batch allocates.

use super::buffers::MAX_PARAM_BYTES;
use super::launch::Launch;
use super::schedule::{state_traffic, Dispatch, Schedule};
use crate::model::Experiment;
use crate::sim::{Cost, Footprint};

/// The cost of the batch of `launch` of `exp`.
pub fn cost(exp: &Experiment, launch: &Launch) -> Cost {
    let schedule = Schedule::new(launch);
    let weights: u64 = schedule
        .stages
        .iter()
        .flatten()
        .map(Dispatch::weight_bytes)
        .sum();
    let batch = launch.batch as usize;
    let (weight_memory, state_memory) = device_bytes(exp, launch);
    Cost {
        bytes_per_step: schedule.bytes_per_step() as f64,
        weight_bytes_per_step: weights as f64,
        minimum_bytes_per_step: Some(minimum_bytes_per_step(launch) as f64),
        flops_per_step: flops_per_step(launch),
        dispatches_per_step: Some(schedule.dispatches_per_step() as f64),
        memory: Footprint {
            weights: weight_memory,
            state: state_memory,
            records: Footprint::records_of(exp, batch),
        },
    }
}

/// Floating-point operations of the products by M of a step of the
/// batch: each trial's product ([`super::launch::KernelFamily::flops`])
/// at every stage.
pub fn flops_per_step(launch: &Launch) -> f64 {
    let (b, n) = (f64::from(launch.batch), f64::from(launch.n));
    let per = launch.op.flops(n);
    b * launch.stages.len() as f64 * per
}

/// The fewest bytes a step of `g` can move: the weights' stored form read
/// once per stage ([`super::launch::KernelFamily::minimum_weight_bytes`]), each trial's state vectors read and written as the stage's
/// equations need ([`state_traffic`]), and the input epochs on read once.
pub fn minimum_bytes_per_step(g: &Launch) -> u64 {
    let (b, n, f) = (u64::from(g.batch), u64::from(g.n), 4u64);
    let weights = g.op.minimum_weight_bytes(n, b);
    g.stages
        .iter()
        .map(|&s| {
            let (reads, writes) = state_traffic(s);
            weights
                + (reads.len() + writes.len()) as u64 * b * n * f
                + u64::from(g.epochs_on) * n * f
        })
        .sum()
}

/// The bytes of GPU memory a run of `launch` of `exp` allocates: (the
/// weights' buffers, the others'), the buffers of its plan.
pub fn device_bytes(exp: &Experiment, launch: &Launch) -> (u64, u64) {
    let buffers = super::plan::buffers(launch, exp.input_values(), MAX_PARAM_BYTES);
    buffers.iter().fold((0, 0), |(w, s), b| {
        if b.weights {
            (w + b.bytes, s)
        } else {
            (w, s + b.bytes)
        }
    })
}
