//! How long a memory lasts: retention time and drift, from recorded metrics.

use std::f64::consts::PI;

/// Seconds after `t_end` until `values` first falls below `threshold` times
/// its value at `t_end`, linearly interpolated between records; infinity
/// if it never does within the run; 0 when the value at `t_end` is not
/// positive (nothing to retain); NaN when no record reaches `t_end`.
pub fn retention_time(t: &[f64], values: &[f64], t_end: f64, threshold: f64) -> f64 {
    let Some(k0) = t.iter().position(|&s| s >= t_end - 1e-12) else {
        return f64::NAN;
    };
    let v0 = values[k0];
    if v0.is_nan() || v0 <= 0.0 {
        return 0.0;
    }
    let level = threshold * v0;
    for k in k0 + 1..t.len() {
        if values[k] < level {
            let (ta, tb, va, vb) = (t[k - 1], t[k], values[k - 1], values[k]);
            let crossing = if va == vb {
                tb
            } else {
                ta + (va - level) / (va - vb) * (tb - ta)
            };
            return crossing - t_end;
        }
    }
    f64::INFINITY
}

/// An angle difference wrapped to (-pi, pi].
pub fn wrap(d: f64) -> f64 {
    let w = d.sin().atan2(d.cos());
    if w <= -PI {
        PI
    } else {
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_crossing() {
        let t = [0.0, 1.0, 2.0, 3.0];
        let v = [1.0, 1.0, 0.6, 0.2];
        // From 1.0 at t_end = 1: 0.5 is crossed a quarter of the way from 2 to 3.
        assert!((retention_time(&t, &v, 1.0, 0.5) - 1.25).abs() < 1e-12);
        assert!(retention_time(&t, &v, 1.0, 0.1).is_infinite());
        assert_eq!(retention_time(&t, &[0.0; 4], 1.0, 0.5), 0.0);
        assert!((wrap(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert_eq!(wrap(PI), PI);
    }
}
