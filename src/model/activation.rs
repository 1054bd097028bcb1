//! The activation functions F of SPEC §1.

use serde::{Deserialize, Serialize};

/// The activation F applied to the synaptic drive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Activation {
    /// F(x) = x.
    Linear {},
    /// F(x) = max(x, 0).
    Relu {},
    /// F(x) = tanh(beta x).
    Tanh {
        /// Gain beta (default 1).
        #[serde(default = "one")]
        beta: f64,
    },
    /// F(x) = 1 / (1 + exp(-beta (x - threshold))).
    Sigmoid {
        /// Gain beta (default 1).
        #[serde(default = "one")]
        beta: f64,
        /// Threshold (default 0).
        #[serde(default)]
        threshold: f64,
    },
    /// F(x) = min(max(x, min), max): saturating linear.
    Clip {
        /// Lower bound (default -1).
        #[serde(default = "minus_one")]
        min: f64,
        /// Upper bound (default 1).
        #[serde(default = "one")]
        max: f64,
    },
    /// F(x) = 1 if x > threshold else 0: binary threshold unit.
    Step {
        /// Threshold (default 0).
        #[serde(default)]
        threshold: f64,
    },
}

fn one() -> f64 {
    1.0
}
fn minus_one() -> f64 {
    -1.0
}

impl Default for Activation {
    fn default() -> Self {
        Activation::Linear {}
    }
}

impl Activation {
    /// The name used in experiment files (`kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Activation::Linear {} => "linear",
            Activation::Relu {} => "relu",
            Activation::Tanh { .. } => "tanh",
            Activation::Sigmoid { .. } => "sigmoid",
            Activation::Clip { .. } => "clip",
            Activation::Step { .. } => "step",
        }
    }

    /// Evaluates F(x) in any float type.
    #[inline]
    pub fn apply<T: crate::Real>(&self, x: T) -> T {
        use crate::real::c;
        match *self {
            Activation::Linear {} => x,
            Activation::Relu {} => x.max(T::zero()),
            Activation::Tanh { beta } => (c::<T>(beta) * x).tanh(),
            Activation::Sigmoid { beta, threshold } => {
                T::one() / (T::one() + (-c::<T>(beta) * (x - c(threshold))).exp())
            }
            Activation::Clip { min, max } => x.max(c(min)).min(c(max)),
            Activation::Step { threshold } => {
                if x > c(threshold) {
                    T::one()
                } else {
                    T::zero()
                }
            }
        }
    }
}
