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

    /// tanh as the activations compute it: libm's in f64 (the reference),
    /// the vectorisable [`tanh_f32`] in f32.
    fn act_tanh(self) -> Self;

    /// e^x as the activations compute it: libm's in f64, [`exp_f32`] in f32.
    fn act_exp(self) -> Self;
}

impl Real for f32 {
    const NAME: &'static str = "f32";

    #[inline(always)]
    fn act_tanh(self) -> Self {
        tanh_f32(self)
    }

    #[inline(always)]
    fn act_exp(self) -> Self {
        exp_f32(self)
    }
}

impl Real for f64 {
    const NAME: &'static str = "f64";

    #[inline(always)]
    fn act_tanh(self) -> Self {
        self.tanh()
    }

    #[inline(always)]
    fn act_exp(self) -> Self {
        self.exp()
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

/// ln 2 split in two (Cody and Waite): `LN2_HI` = 355/512 has 9
/// significant bits, so n `LN2_HI` is exact for |n| < 2^15.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// e^y in f32 for y in [-87, 88] (clamped there; NaN stays NaN), without
/// branches or calls, so that a loop over a slice vectorises: y = n ln 2 +
/// r with |r| ≤ ln 2 / 2, e^r by its Taylor polynomial of degree 7
/// (truncation below 6e-9 relative), times 2^n from the exponent bits.
/// Products and sums are separate roundings (no fused multiply-add), so
/// every machine gives the same bits. Its error is measured in
/// tests/activations.rs.
#[inline(always)]
pub fn exp_f32(y: f32) -> f32 {
    let y = y.clamp(-87.0, 88.0);
    // n = round(y / ln 2) by the 1.5 * 2^23 shifter, exact for |n| < 2^22.
    const SHIFTER: f32 = 12_582_912.0;
    let n = (y * std::f32::consts::LOG2_E + SHIFTER) - SHIFTER;
    let r = (y - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // n in -126 ..= 127: a normal power of two.
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// tanh(x) in f32, without branches or calls, so that a loop over a slice
/// vectorises: an odd Taylor polynomial up to x^15 for |x| < 0.55
/// (truncation below 1e-8 relative), 1 - 2 / (e^{2|x|} + 1) by
/// [`exp_f32`] beyond, ±1 from |x| = 9.1 (where tanh rounds to 1 in f32);
/// NaN stays NaN. Its error over the f32 in [-10, 10] is measured in
/// tests/activations.rs.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let a = if a > 9.1 { 9.1 } else { a };
    // Small |x|: x + x^3 P(x^2), the series' coefficients.
    let s = a * a;
    let mut p = -929_569.0 / 638_512_875.0;
    for c in [
        21_844.0 / 6_081_075.0,
        -1_382.0 / 155_925.0,
        62.0 / 2_835.0,
        -17.0 / 315.0,
        2.0 / 15.0,
        -1.0 / 3.0,
    ] {
        p = p * s + c;
    }
    let small = a + (a * s) * p;
    let large = 1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0);
    let t = if a < 0.55 { small } else { large };
    t.copysign(x)
}
