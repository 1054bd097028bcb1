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

    /// y = M x for a row-major M with `n` columns and `y.len()` rows: the
    /// CPU backend's dense product (a SIMD kernel in f32, see
    /// [`crate::sim::matvec`]; the plain reference loop in f64).
    fn matvec(m: &[Self], n: usize, x: &[Self], y: &mut [Self]);
}

impl Real for f32 {
    const NAME: &'static str = "f32";

    fn matvec(m: &[f32], n: usize, x: &[f32], y: &mut [f32]) {
        crate::sim::matvec::matvec_f32(m, n, x, y);
    }
}

impl Real for f64 {
    const NAME: &'static str = "f64";

    fn matvec(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
        crate::sim::operator::dense_matvec(m, n, x, y);
    }
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
