//! The steady bump of the rectified cosine ring, solved self-consistently.
//!
//! For F = relu, M(theta, theta') = (1/pi)(-lambda0 + lambda1 cos(theta -
//! theta')) and input h(theta) = c (1 - epsilon + epsilon cos(theta -
//! theta0)), a steady state of the form v = alpha [cos(theta - theta0) -
//! cos(theta_c)]+ must satisfy, with g(t) = (t - sin t cos t)/pi and
//! h0(t) = 2 (sin t - t cos t)/pi (the integrals of the bump's cosine and
//! uniform parts over its support, per unit alpha):
//!
//! alpha (1 - lambda1 g(theta_c)) = c epsilon, and
//! alpha (lambda0 h0(theta_c) - cos theta_c) = c (1 - epsilon).

use std::f64::consts::PI;

/// The self-consistent bump v(theta) = alpha [cos(theta - theta0) - cos theta_c]+.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RingBump {
    /// Half-width theta_c: rates are zero beyond |theta - theta0| > theta_c.
    pub half_width: f64,
    /// alpha.
    pub alpha: f64,
    /// The peak rate alpha (1 - cos theta_c).
    pub peak: f64,
}

fn g(t: f64) -> f64 {
    (t - t.sin() * t.cos()) / PI
}

fn h0(t: f64) -> f64 {
    2.0 * (t.sin() - t * t.cos()) / PI
}

/// The steady bump of the rectified ring for input c (1 - epsilon + epsilon
/// cos(theta - theta0)), or `None` when no partially rectified bump
/// (0 < theta_c < pi with alpha > 0) solves the equations. Where several
/// do, the narrowest is returned.
pub fn rectified_bump(lambda0: f64, lambda1: f64, c: f64, epsilon: f64) -> Option<RingBump> {
    let f =
        |t: f64| epsilon * (lambda0 * h0(t) - t.cos()) - (1.0 - epsilon) * (1.0 - lambda1 * g(t));
    let steps = 20_000;
    let at = |k: usize| 1e-9 + (PI - 2e-9) * k as f64 / steps as f64;
    for k in 0..steps {
        let (mut a, mut b) = (at(k), at(k + 1));
        if f(a) * f(b) > 0.0 {
            continue;
        }
        for _ in 0..100 {
            let m = 0.5 * (a + b);
            if f(a) * f(m) <= 0.0 {
                b = m;
            } else {
                a = m;
            }
        }
        let t = 0.5 * (a + b);
        let alpha = c * epsilon / (1.0 - lambda1 * g(t));
        if alpha > 0.0 {
            return Some(RingBump {
                half_width: t,
                alpha,
                peak: alpha * (1.0 - t.cos()),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_solution_satisfies_both_equations() {
        let b = rectified_bump(2.0, 1.9, 1.0, 0.1).unwrap();
        let t = b.half_width;
        assert!((b.alpha * (1.0 - 1.9 * g(t)) - 0.1).abs() < 1e-12);
        assert!((b.alpha * (2.0 * h0(t) - t.cos()) - 0.9).abs() < 1e-9);
    }
}
