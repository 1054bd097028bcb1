//! The activation functions F of SPEC §1: their parameters, validation, the
//! CPU evaluation and the WGSL twin the GPU's shaders are generated with
//! ([`Activation::WGSL`]), so that adding one touches this file only (plus
//! its test and the README).

use crate::error::{Error, Result};
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

    /// Evaluates F(x) in any float type: tanh and exp as [`crate::Real`]
    /// computes them (libm in f64, vectorisable approximations in f32).
    #[inline(always)]
    pub fn apply<T: crate::Real>(&self, x: T) -> T {
        use crate::real::c;
        match *self {
            Activation::Linear {} => x,
            Activation::Relu {} => x.max(T::zero()),
            Activation::Tanh { beta } => (c::<T>(beta) * x).act_tanh(),
            Activation::Sigmoid { beta, threshold } => {
                T::one() / (T::one() + (-c::<T>(beta) * (x - c(threshold))).act_exp())
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

    /// Sets `out[j] = F(pre(j, out[j]))` for every j, with the kind matched
    /// once outside the loop: each arm's loop knows its activation, so it
    /// carries no branch on the kind and vectorises where F allows (the
    /// same numbers as [`Self::apply`] element by element).
    #[inline(always)]
    pub fn map_slice<T: crate::Real>(&self, out: &mut [T], pre: impl Fn(usize, T) -> T) {
        // A function inlined into each arm (a closure would be one function
        // called from six places, compiled once with the kind unknown).
        #[inline(always)]
        fn run<T: crate::Real>(a: Activation, out: &mut [T], pre: &impl Fn(usize, T) -> T) {
            for (j, o) in out.iter_mut().enumerate() {
                *o = a.apply(pre(j, *o));
            }
        }
        let a = *self;
        match a {
            Activation::Linear {} => run(Activation::Linear {}, out, &pre),
            Activation::Relu {} => run(Activation::Relu {}, out, &pre),
            Activation::Tanh { .. } => run(a, out, &pre),
            Activation::Sigmoid { .. } => run(a, out, &pre),
            Activation::Clip { .. } => run(a, out, &pre),
            Activation::Step { .. } => run(a, out, &pre),
        }
    }

    /// Checks the parameters; errors name `key.param`, the value and what is allowed.
    pub fn validate(&self, key: &str) -> Result<()> {
        let finite = |name: &str, x: f64| {
            if x.is_finite() {
                Ok(())
            } else {
                Err(Error::invalid(
                    format!("{key}.{name}"),
                    x,
                    "must be a finite number",
                ))
            }
        };
        match *self {
            Activation::Tanh { beta } | Activation::Sigmoid { beta, .. }
                if !(beta.is_finite() && beta > 0.0) =>
            {
                return Err(Error::invalid(
                    format!("{key}.beta"),
                    beta,
                    "must be a finite number > 0",
                ));
            }
            Activation::Clip { min, max } => {
                finite("min", min)?;
                finite("max", max)?;
                if min > max {
                    return Err(Error::invalid(
                        format!("{key}.min"),
                        min,
                        format!("must not exceed {key}.max = {max}"),
                    ));
                }
            }
            _ => {}
        }
        if let Activation::Sigmoid { threshold, .. } | Activation::Step { threshold } = *self {
            finite("threshold", threshold)?;
        }
        Ok(())
    }

    /// The GPU's form: (code, p0, p1) for `StepParams.act_kind`,
    /// `act_p0` and `act_p1`; the code is this kind's row of [`Activation::WGSL`].
    pub fn gpu_params(&self) -> (u32, f32, f32) {
        let code = Self::WGSL
            .iter()
            .position(|(kind, _)| *kind == self.kind())
            .expect("every activation has a WGSL row") as u32;
        let (p0, p1) = match *self {
            Activation::Linear {} | Activation::Relu {} => (0.0, 0.0),
            Activation::Tanh { beta } => (beta, 0.0),
            Activation::Sigmoid { beta, threshold } => (beta, threshold),
            Activation::Clip { min, max } => (min, max),
            Activation::Step { threshold } => (threshold, 0.0),
        };
        (code, p0 as f32, p1 as f32)
    }

    /// F in WGSL, one row per kind (its code is the row's index): the body
    /// of `activation(v)`, with `p0` and `p1` the parameters of
    /// [`Activation::gpu_params`]. The shaders' `activation` is generated
    /// from this table.
    pub const WGSL: [(&'static str, &'static str); 6] = [
        ("linear", "v"),
        ("relu", "max(v, 0.0)"),
        ("tanh", "tanh_f32(p0 * v)"),
        ("sigmoid", "1.0 / (1.0 + exp_f32(-p0 * (v - p1)))"),
        ("clip", "min(max(v, p0), p1)"),
        ("step", "select(0.0, 1.0, v > p0)"),
    ];
}
