//! WHAT is simulated: the network (size, time constant, dynamics, activation,
//! weights), its inputs and its initial state, fully resolved into numbers,
//! and the validated plan of a run ([`Experiment`]): how it is integrated
//! and what is recorded.
//!
//! This module knows nothing of files, TOML, backends or outputs: it imports
//! nothing from `experiment`, `sim`, `output`, the GPU or the command line.
//! The experiment module builds these values from a file, the sim module
//! steps them.

mod activation;
mod convolution;
pub mod draw;
mod factors;
mod form;
mod identity;
mod kernel;
mod method;
mod motion;
pub mod patterns;
mod plan;
mod population;
mod sparse;
mod weights;

pub use activation::Activation;
pub use convolution::Convolution;
pub use draw::DegreeSpread;
pub use factors::{Factor, Factors};
pub use form::{random_row, Form, Generator, Geometry, Shape, StructuredForm, StructuredShape};
pub use kernel::{Gaussian, GaussianKernel};
pub use method::{Method, Stage, StepConstants};
pub use motion::{
    place_angles, place_cosine, velocity_at, AnglePath, Motion, RingProfile, Rotation, Series,
    Velocity, VelocityEpoch,
};
pub use patterns::PatternBits;
pub use plan::{BackendChoice, Experiment, Precision, RecordOptions, Simulation};
pub use population::{neuron_taus, population_of, NeuronKind, Population};
pub use sparse::{
    heavy_row_threshold, Csr, SparseError, SparseOrigin, HEAVY_ROW_FACTOR, HEAVY_ROW_MIN,
};
pub use weights::{largest, ring_angles, Weights};

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Which state variable the equation evolves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dynamics {
    /// `tau dv/dt = -v + F(h + M v)`; the state is the rate v.
    #[default]
    Rate,
    /// `tau dI/dt = -I + h + M F(I)`; the state is the current I, rates v = F(I).
    Current,
}

/// A recurrent network: N neurons, time constant `tau`, dynamics, activation F
/// and recurrent weights M.
#[derive(Clone, Debug)]
pub struct Network {
    /// Number of neurons N.
    pub n: usize,
    /// Time constant tau in seconds.
    pub tau: f64,
    /// Rate or current form.
    pub dynamics: Dynamics,
    /// The activation F.
    pub activation: Activation,
    /// The recurrent weights M.
    pub weights: Weights,
    /// The patterns whose overlaps are metrics, in order, with the largest
    /// |overlap| of the others after them (`overlap_max_rest`); `None`:
    /// every pattern's (and all networks without patterns).
    pub overlaps: Option<Vec<usize>>,
    /// The populations, in the order of their neurons, for a network of
    /// `[[population]]` tables; empty for one population (`[network]`).
    /// With populations, `tau`, `dynamics` and `activation` above are the
    /// first population's, and each population's own apply to its neurons.
    pub populations: Vec<Population>,
}

impl Network {
    /// Whether the network has several populations, each stepped with its
    /// own constants.
    pub fn has_populations(&self) -> bool {
        !self.populations.is_empty()
    }
}

/// One input epoch: `h` is added to the input while `start <= t < end`.
#[derive(Clone, Debug)]
pub struct InputEpoch {
    /// Start time in seconds.
    pub start: f64,
    /// End time in seconds (`f64::INFINITY` for the rest of the run).
    pub end: f64,
    /// The input vector, length N (a moving profile's at the epoch's start).
    pub h: Vec<f64>,
    /// How the profile moves ([`Motion::Still`]: `h` throughout).
    pub motion: Motion,
    /// Its index among the file's `[[input]]` entries (velocity entries
    /// included), for messages.
    pub entry: usize,
}

impl InputEpoch {
    /// First step at which the epoch is on, for a time step `dt`.
    ///
    /// Step k is at t = k dt; the epoch is on at steps with start <= t < end.
    /// A relative slack of 1e-9 dt absorbs the rounding of `k * dt`, so an
    /// epoch that ends at 0.3 s with dt = 0.5 ms is off from step 600 on.
    pub fn first_step(&self, dt: f64) -> u64 {
        step_at(self.start, dt)
    }

    /// First step at which the epoch is off again.
    pub fn end_step(&self, dt: f64) -> u64 {
        step_at(self.end, dt)
    }
}

fn step_at(t: f64, dt: f64) -> u64 {
    if t.is_infinite() {
        return u64::MAX;
    }
    let k = (t / dt - 1e-9).ceil();
    if k <= 0.0 {
        0
    } else {
        k as u64
    }
}

/// The preferred angle of neuron `i` of `n`: theta_i = -pi + 2 pi i / N.
#[inline]
pub fn theta(i: usize, n: usize) -> f64 {
    -PI + 2.0 * PI * i as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_steps_absorb_rounding() {
        let e = InputEpoch {
            start: 0.0,
            end: 0.3,
            h: vec![],
            motion: Motion::Still,
            entry: 0,
        };
        assert_eq!(e.first_step(0.0005), 0);
        assert_eq!(e.end_step(0.0005), 600);
        let e = InputEpoch {
            start: 0.1,
            end: f64::INFINITY,
            h: vec![],
            motion: Motion::Still,
            entry: 0,
        };
        assert_eq!(e.first_step(0.1 / 3.0), 3);
        assert_eq!(e.end_step(0.01), u64::MAX);
    }
}
