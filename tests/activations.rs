//! The f32 activations' tanh and exp (`attractor::real::tanh_f32`,
//! `exp_f32`): branch-free approximations, so that the activation loops
//! vectorise, measured against the f64 libm functions over sweeps of f32
//! inputs; the f64 reference keeps libm.

use attractor::real::{exp_f32, tanh_f32};

/// Every `step`-th f32 from `lo` to `hi` (by bit pattern: every binade
/// alike), both signs of a range through 0 included.
fn floats(lo: f32, hi: f32, step: u32) -> impl Iterator<Item = f32> {
    let up = move |a: f32, b: f32| {
        (a.to_bits()..=b.to_bits())
            .step_by(step as usize)
            .map(f32::from_bits)
    };
    let (neg, pos) = if lo < 0.0 {
        (up(0.0, -lo).map(|x| -x).collect::<Vec<_>>(), up(0.0, hi))
    } else {
        (Vec::new(), up(lo, hi))
    };
    neg.into_iter().chain(pos)
}

/// The largest relative error of `f` against `reference` over `xs`, and
/// its largest distance in units in the last place of the f32 result.
fn worst(
    xs: impl Iterator<Item = f32>,
    f: impl Fn(f32) -> f32,
    reference: impl Fn(f64) -> f64,
) -> (f64, u32, f32) {
    let mut rel = 0.0f64;
    let mut ulps = 0u32;
    let mut at = 0.0f32;
    for x in xs {
        let want = reference(f64::from(x));
        let got = f(x);
        let r = if want == 0.0 {
            f64::from(got).abs()
        } else {
            ((f64::from(got) - want) / want).abs()
        };
        let u = (got.to_bits() as i64 - (want as f32).to_bits() as i64).unsigned_abs() as u32;
        if r > rel {
            rel = r;
            at = x;
        }
        ulps = ulps.max(u);
    }
    (rel, ulps, at)
}

#[test]
fn tanh_f32_is_within_1e_6_relative_over_the_f32_in_minus_10_to_10() {
    // Every 61st f32 of [-10, 10] (3.5 * 10^7 of them, every binade from
    // the subnormals up), and every f32 of [0.5, 0.6] around the switch
    // from the series to the exponential formula.
    let (rel, ulps, at) = worst(floats(-10.0, 10.0, 61), tanh_f32, f64::tanh);
    println!("tanh_f32: worst relative error {rel:.3e} at {at}, {ulps} ulp");
    assert!(rel <= 1e-6, "relative error {rel} at {at}");
    assert!(ulps <= 2, "{ulps} ulp");
    let (rel, ulps, at) = worst(floats(0.5, 0.6, 1), tanh_f32, f64::tanh);
    assert!(
        rel <= 1e-6 && ulps <= 2,
        "near the switch: {rel} ({ulps} ulp) at {at}"
    );
    // Beyond: ±1 exactly, and NaN stays NaN (a divergence is seen).
    for x in [9.1f32, 10.0, 100.0, f32::MAX, f32::INFINITY] {
        assert_eq!(tanh_f32(x), 1.0);
        assert_eq!(tanh_f32(-x), -1.0);
    }
    assert!(tanh_f32(f32::NAN).is_nan());
    assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
}

#[test]
fn exp_f32_is_within_1e_6_relative_over_its_range() {
    // Every 61st f32 of [-87, 88], the range where e^x is a normal f32.
    let (rel, ulps, at) = worst(floats(-87.0, 88.0, 61), exp_f32, f64::exp);
    println!("exp_f32: worst relative error {rel:.3e} at {at}, {ulps} ulp");
    assert!(rel <= 1e-6, "relative error {rel} at {at}");
    assert!(ulps <= 2, "{ulps} ulp");
    assert!(exp_f32(f32::NAN).is_nan());
    assert_eq!(exp_f32(0.0), 1.0);
}

#[test]
fn the_f32_sigmoid_and_tanh_activations_use_them_and_the_f64_ones_libm() {
    use attractor::model::Activation;
    let tanh = Activation::Tanh { beta: 2.5 };
    let sigmoid = Activation::Sigmoid {
        beta: 4.0,
        threshold: 0.3,
    };
    for k in -200..=200 {
        let x = k as f32 * 0.037;
        assert_eq!(tanh.apply(x).to_bits(), tanh_f32(2.5 * x).to_bits());
        let s = 1.0 / (1.0 + exp_f32(-4.0 * (x - 0.3)));
        assert_eq!(sigmoid.apply(x).to_bits(), s.to_bits());
        let y = f64::from(x);
        assert_eq!(tanh.apply(y), (2.5 * y).tanh());
        assert_eq!(sigmoid.apply(y), 1.0 / (1.0 + (-4.0 * (y - 0.3)).exp()));
    }
}
