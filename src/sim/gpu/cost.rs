//! What a GPU run costs: the bytes and dispatches of a step as the
//! schedule lists them (the encoder counts the same into the run's
//! ledger), the fewest bytes the equations need, the flops of the
//! products, and the GPU memory a batch allocates.

use super::buffers::MAX_PARAM_BYTES;
use super::launch::Launch;
use super::operator::OperatorShape;
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
/// batch, a multiply-add counted as 2: 2N² for dense and generated M (the
/// generation itself is not counted), 4NR for a structured form of rank R
/// (R projections and their expansion; P for packed patterns), and for a
/// Gaussian kernel 2 side N multiply-adds per Gaussian and pass, two
/// passes. Per stage.
pub fn flops_per_step(launch: &Launch) -> f64 {
    let (b, n) = (f64::from(launch.batch), f64::from(launch.n));
    let per = match launch.op {
        OperatorShape::Dense { .. } => 2.0 * n * n,
        OperatorShape::Structured { rank, .. } => 4.0 * f64::from(rank) * n,
        OperatorShape::Convolution { side, terms } => {
            2.0 * 2.0 * f64::from(terms) * f64::from(side) * n
        }
        // Each entry, and each factored term's v . operand and u times it.
        OperatorShape::Sparse {
            nnz,
            factor_rows,
            factor_columns,
            ..
        } => 2.0 * (nnz + factor_rows + factor_columns) as f64,
    };
    b * launch.stages.len() as f64 * per
}

/// The fewest bytes a step of `g` can move: the weights' stored form read
/// once per stage (M, or the table rows that are not all ones and the
/// diagonal), each trial's state vectors read and written as the stage's
/// equations need ([`state_traffic`]), and the input epochs on read once.
pub fn minimum_bytes_per_step(g: &Launch) -> u64 {
    let (b, n, f) = (u64::from(g.batch), u64::from(g.n), 4u64);
    let weights = match &g.op {
        OperatorShape::Dense {
            generated: true, ..
        } => 0,
        OperatorShape::Dense { .. } => n * n * f,
        // The even taps, and the even row passes written and read.
        OperatorShape::Convolution { side, terms } => {
            u64::from(*terms) * (u64::from(*side) + 2 * u64::from(g.batch) * n) * f
        }
        OperatorShape::Structured {
            separate_u, diag, ..
        } => {
            g.op.stored_rows() * (1 + u64::from(*separate_u)) * g.op.row_bytes(n)
                + u64::from(*diag) * n * f
        }
        // Values and columns, the row places and the row list, every
        // factored term's u and v.
        OperatorShape::Sparse {
            nnz,
            factor_rows,
            factor_columns,
            ..
        } => (2 * nnz + 2 * n + 1 + factor_rows + factor_columns) * f,
    };
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
