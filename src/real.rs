//! The float types the CPU backend is generic over (f32 and f64).

use num_traits::{Float, FloatConst, NumCast};
use std::fmt::{Debug, Display};
use std::iter::Sum;

/// A float the engine computes in: `f64` (the reference) or `f32` (the GPU's type).
pub trait Real:
    Float + FloatConst + Sum + Send + Sync + Debug + Display + Default + 'static
{
    /// The name used in experiment files (`simulation.precision`).
    const NAME: &'static str;
}

impl Real for f32 {
    const NAME: &'static str = "f32";
}

impl Real for f64 {
    const NAME: &'static str = "f64";
}

/// Converts an f64 constant into `T` (rounding to nearest for f32).
#[inline]
pub fn c<T: Real>(x: f64) -> T {
    <T as NumCast>::from(x).expect("f64 converts to every Real")
}

/// Converts `T` to f64 (exact).
#[inline]
pub fn f<T: Real>(x: T) -> f64 {
    x.to_f64().expect("every Real converts to f64")
}
