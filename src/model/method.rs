//! The integration methods (`simulation.method`) as sequences of stages, and
//! the per-neuron update each stage applies once the drive D at the stage
//! point is known. This is the one definition of every integrator: the CPU
//! backend calls [`Stage::update`], and the GPU's `finish` in
//! `shaders/common.wgsl` is its twin, selected by the same stage codes
//! (generated into the shaders' header from [`Stage::ALL`]).
//!
//! The equation is tau dx/dt = -x + D(x); with a = dt / tau a step from x is:
//! - euler: x + a (D(x) - x);
//! - exponential: x e^{-a} + (1 - e^{-a}) D(x), exact for the leak;
//! - rk4: k_s = D(y_s) - y_s at y_1 = x, y_2 = x + a k_1 / 2,
//!   y_3 = x + a k_2 / 2, y_4 = x + a k_3, summed into one accumulator
//!   acc = k_1 + 2 k_2 + 2 k_3 and x + a / 6 (acc + k_4); the input is held
//!   over the step.

use crate::real::{c, Real};
use serde::{Deserialize, Serialize};

/// Integration method (`simulation.method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Forward Euler (Euler–Maruyama with noise).
    #[default]
    Euler,
    /// Classical fourth-order Runge–Kutta, input held over the step.
    Rk4,
    /// Exponential Euler: exact for the leak.
    Exponential,
}

/// One stage of a step: the drive is evaluated at the stage point y, then
/// [`Stage::update`] runs for every neuron.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The whole Euler step.
    Euler,
    /// The whole exponential-Euler step.
    Exponential,
    /// Runge–Kutta stage 1..=4.
    Rk4(u8),
}

impl Method {
    /// The stages of one step, in order.
    pub fn stages(self) -> &'static [Stage] {
        match self {
            Method::Euler => &[Stage::Euler],
            Method::Exponential => &[Stage::Exponential],
            Method::Rk4 => &[Stage::Rk4(1), Stage::Rk4(2), Stage::Rk4(3), Stage::Rk4(4)],
        }
    }

    /// Whether the method needs the stage point y and the accumulator apart from x.
    pub fn needs_stage_buffers(self) -> bool {
        self.stages().len() > 1
    }
}

/// The per-step constants of the update: a = dt / tau and e^{-a}.
#[derive(Clone, Copy, Debug)]
pub struct StepConstants<T> {
    /// dt / tau.
    pub a: T,
    /// exp(-dt / tau).
    pub decay: T,
}

impl<T: Real> StepConstants<T> {
    /// The constants for time step `dt` and time constant `tau`.
    pub fn new(dt: f64, tau: f64) -> Self {
        let a = dt / tau;
        StepConstants {
            a: c(a),
            decay: c((-a).exp()),
        }
    }
}

impl Stage {
    /// Every stage, with the name of its WGSL constant.
    pub const ALL: [(Stage, &'static str); 6] = [
        (Stage::Euler, "STAGE_EULER"),
        (Stage::Exponential, "STAGE_EXPONENTIAL"),
        (Stage::Rk4(1), "STAGE_RK4_1"),
        (Stage::Rk4(2), "STAGE_RK4_2"),
        (Stage::Rk4(3), "STAGE_RK4_3"),
        (Stage::Rk4(4), "STAGE_RK4_4"),
    ];

    /// The code the GPU's `StepParams.stage` carries.
    pub fn code(self) -> u32 {
        match self {
            Stage::Euler => 0,
            Stage::Exponential => 1,
            Stage::Rk4(s) => 1 + u32::from(s),
        }
    }

    /// Whether this stage ends the step (the new state is in x).
    pub fn is_last(self) -> bool {
        !matches!(self, Stage::Rk4(1..=3))
    }

    /// The update of one neuron once the drive `d` = D(y) at the stage point
    /// is known: the last stage writes the new state into `x` (noise is added
    /// after it); earlier rk4 stages update the accumulator and move the
    /// stage point `y` (what the drive is evaluated at next).
    #[inline(always)]
    pub fn update<T: Real>(self, k: StepConstants<T>, x: &mut T, y: &mut T, acc: &mut T, d: T) {
        match self {
            Stage::Euler => *x = *x + k.a * (d - *x),
            Stage::Exponential => *x = *x * k.decay + (T::one() - k.decay) * d,
            Stage::Rk4(s) => {
                let ks = d - *y;
                match s {
                    1 => *acc = ks,
                    4 => {
                        *x = *x + k.a / c(6.0) * (*acc + ks);
                        return;
                    }
                    _ => *acc = *acc + c::<T>(2.0) * ks,
                }
                let frac = if s == 3 { T::one() } else { c(0.5) };
                *y = *x + frac * k.a * ks;
            }
        }
    }
}
