//! Inputs that change in time: ring profiles whose centre moves (at a
//! steady angular velocity or along a trajectory of samples), and the
//! angular velocity that drives path integration through the ring's
//! asymmetric kernel term.
//!
//! Every value is a function of the time t = k dt of step k, evaluated in
//! f64 on the host; both backends take the same numbers from here (the GPU
//! as a few coefficients per step, never N values).

use super::step_at;

/// A piecewise-linear function of time through samples (t_k, y_k), times
/// strictly increasing; held at the first value before the first time and
/// at the last after the last.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    t: Vec<f64>,
    y: Vec<f64>,
}

impl Series {
    /// The series through `(t, y)`; an error says why the samples do not
    /// make one (no samples, lengths that differ, a time not after the one
    /// before, a value that is not finite).
    pub fn new(t: Vec<f64>, y: Vec<f64>) -> Result<Self, String> {
        if t.is_empty() {
            return Err("has no samples; at least one (t, value) row is needed".into());
        }
        if t.len() != y.len() {
            return Err(format!("has {} times but {} values", t.len(), y.len()));
        }
        if let Some(k) = t.iter().chain(&y).position(|v| !v.is_finite()) {
            return Err(format!("sample {} is not finite", k % t.len()));
        }
        if let Some(k) = t.windows(2).position(|w| w[1] <= w[0]) {
            return Err(format!(
                "time {} of row {} is not after {} of row {}; times must increase",
                t[k + 1],
                k + 1,
                t[k],
                k
            ));
        }
        Ok(Series { t, y })
    }

    /// The value at time `t`.
    pub fn at(&self, t: f64) -> f64 {
        let k = self.t.partition_point(|&s| s <= t);
        if k == 0 {
            return self.y[0];
        }
        if k == self.t.len() {
            return self.y[k - 1];
        }
        let (t0, t1) = (self.t[k - 1], self.t[k]);
        let w = (t - t0) / (t1 - t0);
        self.y[k - 1] + w * (self.y[k] - self.y[k - 1])
    }

    /// The sample times.
    pub fn times(&self) -> &[f64] {
        &self.t
    }

    /// The sample values.
    pub fn values(&self) -> &[f64] {
        &self.y
    }

    /// The same series with every value unwrapped as an angle: each differs
    /// from the one before by at most pi, so interpolation goes the short
    /// way round the circle.
    pub fn unwrapped(mut self) -> Self {
        use std::f64::consts::{PI, TAU};
        for k in 1..self.y.len() {
            let d = self.y[k] - self.y[k - 1];
            let wrapped = d - TAU * ((d + PI) / TAU).floor();
            self.y[k] = self.y[k - 1] + wrapped;
        }
        self
    }

    /// Multiplies every value by `s`.
    pub fn scale(&mut self, s: f64) {
        self.y.iter_mut().for_each(|y| *y *= s);
    }
}

/// Where a moving profile's centre is at time t: one angle on a ring, two
/// (x, y) on a torus (the second 0 on a ring).
#[derive(Clone, Debug, PartialEq)]
pub enum AnglePath {
    /// theta0 + omega (t - start): a steady angular velocity omega (rad/s)
    /// from the epoch's start.
    Steady {
        /// The centre at the epoch's start (radians).
        theta: [f64; 2],
        /// Angular velocity in rad/s.
        omega: [f64; 2],
    },
    /// The centre interpolated between samples (t in seconds of the run,
    /// angles in radians, unwrapped), one series per angle.
    Trajectory(Vec<Series>),
}

impl AnglePath {
    /// The centre at time `t` of an epoch starting at `start`.
    pub fn at(&self, start: f64, t: f64) -> [f64; 2] {
        match self {
            AnglePath::Steady { theta, omega } => [0, 1].map(|a| theta[a] + omega[a] * (t - start)),
            AnglePath::Trajectory(s) => [0, 1].map(|a| s.get(a).map_or(0.0, |s| s.at(t))),
        }
    }
}

/// A ring profile as a function of g = cos(theta_i - theta0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RingProfile {
    /// c (1 - epsilon + epsilon g): the cosine bump.
    Bump {
        /// Amplitude c.
        c: f64,
        /// Tuning epsilon.
        epsilon: f64,
    },
    /// c exp(kappa (g - 1)): the von Mises bump.
    VonMises {
        /// Peak c.
        c: f64,
        /// Concentration kappa.
        kappa: f64,
    },
}

impl RingProfile {
    /// The mode of [`RingProfile::coefficients`] of the cosine bump.
    pub const BUMP: u32 = 0;
    /// The mode of [`RingProfile::coefficients`] of von Mises.
    pub const VON_MISES: u32 = 1;

    /// (mode, a, b): the profile is a + b g (mode [`RingProfile::BUMP`],
    /// the cosine bump) or a exp(b (g - 1)) (mode
    /// [`RingProfile::VON_MISES`]), for a place of `dims` angles (g the
    /// mean of their cosines: von Mises multiplies per angle, so b = dims
    /// kappa). The GPU's form.
    pub fn coefficients(&self, dims: usize) -> (u32, f64, f64) {
        match *self {
            RingProfile::Bump { c, epsilon } => (Self::BUMP, c * (1.0 - epsilon), c * epsilon),
            RingProfile::VonMises { c, kappa } => (Self::VON_MISES, c, dims.max(1) as f64 * kappa),
        }
    }

    /// The profile at g, the mean over the `dims` angles of
    /// cos(theta_i - theta0): on a ring c (1 - epsilon + epsilon g) or
    /// c exp(kappa (g - 1)); on a torus the bump's cosine is the mean of the
    /// two axes' and the von Mises bump the product of theirs.
    #[inline]
    pub fn at(&self, g: f64, dims: usize) -> f64 {
        match *self {
            RingProfile::Bump { c, epsilon } => c * (1.0 - epsilon + epsilon * g),
            RingProfile::VonMises { c, kappa } => {
                c * (dims.max(1) as f64 * kappa * (g - 1.0)).exp()
            }
        }
    }

    /// Multiplies the profile by `s`.
    pub fn scale(&mut self, s: f64) {
        match self {
            RingProfile::Bump { c, .. } | RingProfile::VonMises { c, .. } => *c *= s,
        }
    }
}

/// How an input epoch's profile changes in time.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Motion {
    /// The epoch's `h` at every step.
    #[default]
    Still,
    /// A ring profile whose centre follows `path`; the epoch's `h` is the
    /// profile at its start.
    Moving {
        /// The profile.
        profile: RingProfile,
        /// Where its centre is.
        path: AnglePath,
    },
    /// Rows of a T×N array played in turn, each for `frame` seconds from
    /// the epoch's start (the epoch ends after the last); `h` is row 0.
    Frames {
        /// Seconds per row.
        frame: f64,
        /// T rows of N, row-major.
        rows: std::sync::Arc<Vec<f64>>,
    },
}

impl Motion {
    /// Multiplies a moving profile by `s` (as the epoch's `h`).
    pub fn scale(&mut self, s: f64) {
        match self {
            Motion::Still => {}
            Motion::Moving { profile, .. } => profile.scale(s),
            Motion::Frames { rows, .. } => std::sync::Arc::make_mut(rows)
                .iter_mut()
                .for_each(|x| *x *= s),
        }
    }

    /// The row of a [`Motion::Frames`] of `count` rows on at time `t` of an
    /// epoch starting at `start`.
    pub fn frame_at(frame: f64, count: usize, start: f64, t: f64) -> usize {
        // The same slack as the epochs' steps: a row starts at its time.
        let k = ((t - start) / frame + 1e-9).floor();
        if k <= 0.0 {
            0
        } else {
            (k as usize).min(count - 1)
        }
    }

    /// Bytes that tell motions apart (for the sweep's batch key).
    pub fn fingerprint(&self, out: &mut dyn FnMut(&[u8])) {
        let mut f = |x: f64| out(&x.to_bits().to_le_bytes());
        match self {
            Motion::Still => {}
            Motion::Moving { profile, path } => {
                let (mode, a, b) = profile.coefficients(1);
                f(f64::from(mode));
                f(a);
                f(b);
                match path {
                    AnglePath::Steady { theta, omega } => {
                        theta.iter().chain(omega).for_each(|&x| f(x));
                    }
                    AnglePath::Trajectory(series) => {
                        for s in series {
                            s.times().iter().chain(s.values()).for_each(|&x| f(x));
                        }
                    }
                }
            }
            Motion::Frames { frame, rows } => {
                f(*frame);
                rows.iter().for_each(|&x| f(x));
            }
        }
    }
}

/// An angular velocity (rad/s) that drives the ring's bump: while on, the
/// kernel gains the term tau v(t) lambda1 (2/N) sin(theta_i - theta_j),
/// minus tau v times the derivative of the cosine kernel, which moves a
/// bump at angular velocity v (exactly for current dynamics, to first order
/// in tau v lambda1 for rate dynamics).
#[derive(Clone, Debug, PartialEq)]
pub struct VelocityEpoch {
    /// Start time in seconds.
    pub start: f64,
    /// End time in seconds (`f64::INFINITY` for the rest of the run).
    pub end: f64,
    /// v(t).
    pub v: Velocity,
}

/// The value of a velocity epoch: one component on a ring, (v_x, v_y) on
/// a torus (the second 0 on a ring).
#[derive(Clone, Debug, PartialEq)]
pub enum Velocity {
    /// The same v at every step.
    Constant([f64; 2]),
    /// v interpolated between samples (t in seconds of the run), one
    /// series per component.
    Samples(Vec<Series>),
}

impl VelocityEpoch {
    /// First step at which the epoch is on (as [`super::InputEpoch::first_step`]).
    pub fn first_step(&self, dt: f64) -> u64 {
        step_at(self.start, dt)
    }

    /// First step at which the epoch is off again.
    pub fn end_step(&self, dt: f64) -> u64 {
        step_at(self.end, dt)
    }

    /// v at step `k` (0 while the epoch is off).
    pub fn at_step(&self, k: u64, dt: f64) -> [f64; 2] {
        if k < self.first_step(dt) || k >= self.end_step(dt) {
            return [0.0; 2];
        }
        match &self.v {
            Velocity::Constant(v) => *v,
            Velocity::Samples(s) => [0, 1].map(|a| s.get(a).map_or(0.0, |s| s.at(k as f64 * dt))),
        }
    }
}

/// The summed velocity of `epochs` at step `k`.
pub fn velocity_at(epochs: &[VelocityEpoch], k: u64, dt: f64) -> [f64; 2] {
    epochs.iter().fold([0.0; 2], |a, e| {
        let v = e.at_step(k, dt);
        [a[0] + v[0], a[1] + v[1]]
    })
}

/// cos and sin of each neuron's angles, as the moving profiles use them:
/// on a ring (or any network without a sheet) theta_i, on a torus x_i (the
/// column) and y_i (the row); `[cos x, sin x, cos y, sin y]`, the y rows
/// empty on a ring.
pub fn place_angles(n: usize, side: usize) -> [Vec<f64>; 4] {
    if side == 0 {
        let (c, s) = super::ring_angles(n);
        return [c, s, Vec::new(), Vec::new()];
    }
    let (c, s) = super::ring_angles(side);
    let col = |t: &[f64]| (0..n).map(|i| t[i % side]).collect::<Vec<_>>();
    let row = |t: &[f64]| (0..n).map(|i| t[i / side]).collect::<Vec<_>>();
    [col(&c), col(&s), row(&c), row(&s)]
}

/// g of neuron i for a centre with cosines and sines `cs` = [cos x0, sin x0,
/// cos y0, sin y0]: cos(theta_i - theta0) on a ring, the mean of the two
/// axes' cosines on a torus.
#[inline]
pub fn place_cosine(angles: &[Vec<f64>; 4], i: usize, cs: &[f64; 4]) -> f64 {
    let gx = angles[0][i] * cs[0] + angles[1][i] * cs[1];
    if angles[2].is_empty() {
        gx
    } else {
        0.5 * (gx + angles[2][i] * cs[2] + angles[3][i] * cs[3])
    }
}

/// A rotation of two projections of a structured form: the rows `cos`
/// and `sin` hold cos(k theta) and sin(k theta) with equal coefficients,
/// and a velocity v along `axis` adds tau k v times the sine kernel,
/// (p_cos, p_sin) -> (p_cos - kappa p_sin, p_sin + kappa p_cos) with
/// kappa = tau k v.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rotation {
    /// The row of cos(k theta).
    pub cos: usize,
    /// The row of sin(k theta).
    pub sin: usize,
    /// Which component of the velocity turns it (0 for the ring).
    pub axis: usize,
    /// The wavenumber k.
    pub wavenumber: f64,
}

impl Rotation {
    /// Rotates the scaled projections `p` by `kappa`.
    #[inline]
    pub fn apply<T: crate::real::Real>(&self, p: &mut [T], kappa: T) {
        let (c, s) = (p[self.cos], p[self.sin]);
        p[self.cos] = (-kappa).mul_add(s, c);
        p[self.sin] = kappa.mul_add(c, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_interpolates_and_holds() {
        let s = Series::new(vec![0.0, 1.0, 3.0], vec![0.0, 2.0, 0.0]).unwrap();
        assert_eq!(s.at(-1.0), 0.0);
        assert_eq!(s.at(0.5), 1.0);
        assert_eq!(s.at(2.0), 1.0);
        assert_eq!(s.at(5.0), 0.0);
        assert!(Series::new(vec![0.0, 0.0], vec![1.0, 1.0]).is_err());
        assert!(Series::new(vec![], vec![]).is_err());
    }

    #[test]
    fn trajectories_go_the_short_way_round() {
        use std::f64::consts::PI;
        let s = Series::new(vec![0.0, 1.0], vec![3.0, -3.0])
            .unwrap()
            .unwrapped();
        // From 3 to -3 + 2 pi = 3.283: through pi, not through 0.
        assert!((s.at(0.5) - (3.0 + (2.0 * PI - 6.0) / 2.0)).abs() < 1e-12);
    }

    #[test]
    fn velocity_is_off_outside_its_epoch() {
        let e = VelocityEpoch {
            start: 0.1,
            end: 0.2,
            v: Velocity::Constant([2.0, -1.0]),
        };
        assert_eq!(e.at_step(9, 0.01), [0.0; 2]);
        assert_eq!(e.at_step(10, 0.01), [2.0, -1.0]);
        assert_eq!(e.at_step(19, 0.01), [2.0, -1.0]);
        assert_eq!(e.at_step(20, 0.01), [0.0; 2]);
    }
}
