//! The inputs of a run, step by step, for both backends: which input
//! epochs are on, where each moving profile's centre is and which row of
//! a played file is current, and the velocity's turn of the kernel. The
//! CPU builds h from it (`cpu::inputs`); the GPU packs the same facts into
//! each step's parameters (`gpu::inputs`).

use crate::model::{velocity_at, Experiment, Motion, RingProfile, VelocityEpoch};

/// The input schedule of an experiment.
#[derive(Clone, Debug)]
pub struct InputSchedule {
    /// Each epoch's first step and the step from which it is off.
    spans: Vec<(u64, u64)>,
    /// The epochs that move or play a file, in order: (epoch, start time).
    moving: Vec<(usize, f64)>,
    motions: Vec<Motion>,
    /// Rows of N a played epoch holds (0 for the others).
    frames: Vec<usize>,
    velocity: Vec<VelocityEpoch>,
    /// (axis, tau k) of each rotation of M: kappa = tau k v_axis.
    turns: Vec<(usize, f64)>,
    dt: f64,
}

/// A moving epoch at one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Placed {
    /// A ring profile centred at `centre` (one angle per axis of a place).
    Profile {
        /// The epoch.
        epoch: usize,
        /// Its profile.
        profile: RingProfile,
        /// Its centre's angles [x, y] (y unused on a ring).
        centre: [f64; 2],
    },
    /// Row `row` of a played file.
    Frame {
        /// The epoch.
        epoch: usize,
        /// The current row.
        row: usize,
    },
}

impl InputSchedule {
    /// The schedule of `exp`'s inputs and velocity.
    pub fn new(exp: &Experiment) -> Self {
        let dt = exp.simulation.dt;
        let n = exp.network.n;
        let tau = exp.network.tau;
        InputSchedule {
            spans: exp
                .inputs
                .iter()
                .map(|e| (e.first_step(dt), e.end_step(dt)))
                .collect(),
            moving: exp
                .inputs
                .iter()
                .enumerate()
                .filter(|(_, e)| !matches!(e.motion, Motion::Still))
                .map(|(k, e)| (k, e.start))
                .collect(),
            motions: exp.inputs.iter().map(|e| e.motion.clone()).collect(),
            frames: exp
                .inputs
                .iter()
                .map(|e| match &e.motion {
                    Motion::Frames { rows, .. } => rows.len() / n.max(1),
                    Motion::Still | Motion::Moving { .. } => 0,
                })
                .collect(),
            velocity: exp.velocity.clone(),
            turns: exp
                .network
                .weights
                .geometry()
                .rotations
                .iter()
                .map(|r| (r.axis, tau * r.wavenumber))
                .collect(),
            dt,
        }
    }

    /// The number of epochs.
    pub fn epochs(&self) -> usize {
        self.spans.len()
    }

    /// Whether epoch `e` is on at step `k`.
    pub fn is_on(&self, e: usize, k: u64) -> bool {
        let (first, end) = self.spans[e];
        first <= k && k < end
    }

    /// The epochs on at step `k` as bits (epoch e is bit e; at most 32).
    pub fn mask(&self, k: u64) -> u32 {
        (0..self.epochs())
            .filter(|&e| self.is_on(e, k))
            .fold(0, |m, e| m | (1 << e))
    }

    /// The most epochs on at once (reached at some epoch's first step).
    pub fn most_on(&self) -> usize {
        self.spans
            .iter()
            .map(|&(a, _)| (0..self.epochs()).filter(|&e| self.is_on(e, a)).count())
            .max()
            .unwrap_or(0)
    }

    /// The most moving or played epochs on at once.
    pub fn most_moving(&self) -> usize {
        self.moving
            .iter()
            .map(|&(a, _)| {
                let first = self.spans[a].0;
                self.moving
                    .iter()
                    .filter(|&&(e, _)| self.is_on(e, first))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Whether some epoch moves or plays a file.
    pub fn has_moving(&self) -> bool {
        !self.moving.is_empty()
    }

    /// Whether some moving epoch is on at step `k`.
    pub fn moving_on(&self, k: u64) -> bool {
        self.moving.iter().any(|&(e, _)| self.is_on(e, k))
    }

    /// Whether a velocity turns the kernel at some step.
    pub fn has_velocity(&self) -> bool {
        !self.velocity.is_empty()
    }

    /// The moving epochs on at step `k`, in order: each profile's centre,
    /// each played file's row, at t = k dt.
    pub fn placed(&self, k: u64) -> impl Iterator<Item = Placed> + '_ {
        let t = k as f64 * self.dt;
        self.moving
            .iter()
            .filter(move |&&(e, _)| self.is_on(e, k))
            .map(move |&(epoch, start)| match &self.motions[epoch] {
                Motion::Moving { profile, path } => Placed::Profile {
                    epoch,
                    profile: *profile,
                    centre: path.at(start, t),
                },
                Motion::Frames { frame, .. } => Placed::Frame {
                    epoch,
                    row: Motion::frame_at(*frame, self.frames[epoch], start, t),
                },
                Motion::Still => unreachable!("only moving epochs are listed"),
            })
    }

    /// Row `row` of the file epoch `epoch` plays: N values.
    pub fn frame(&self, epoch: usize, row: usize, n: usize) -> &[f64] {
        match &self.motions[epoch] {
            Motion::Frames { rows, .. } => &rows[row * n..(row + 1) * n],
            Motion::Still | Motion::Moving { .. } => &[],
        }
    }

    /// tau k v of each rotation of M at step `k` (0 without a velocity).
    pub fn kappa(&self, k: u64) -> impl Iterator<Item = f64> + '_ {
        let v = velocity_at(&self.velocity, k, self.dt);
        self.turns.iter().map(move |&(axis, t)| t * v[axis])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A still input on until 0.2 s, a bump moving at 1 rad/s from 0.1 s,
    /// and a velocity of 2 rad/s from 0.3 s, on a ring (dt = 0.01).
    #[test]
    fn the_schedule_says_what_is_on_where_and_how_turned() {
        let e = Experiment::from_toml(
            r#"
            [network]
            n = 16
            tau = 0.01
            weights = { kind = "ring", lambda0 = 0.0, lambda1 = 1.5 }
            [[input]]
            end = 0.2
            kind = "uniform"
            value = 0.5
            [[input]]
            start = 0.1
            kind = "bump"
            c = 1.0
            epsilon = 0.1
            theta = 0.5
            velocity = 1.0
            [[input]]
            start = 0.3
            kind = "velocity"
            value = 2.0
            [simulation]
            duration = 0.5
            dt = 0.01
            "#,
            std::path::Path::new("."),
            "schedule",
            &[],
        )
        .unwrap();
        let s = InputSchedule::new(&e);
        assert_eq!(s.epochs(), 2);
        assert_eq!(
            (s.mask(0), s.mask(10), s.mask(19), s.mask(20)),
            (1, 3, 3, 2)
        );
        assert_eq!((s.most_on(), s.most_moving()), (2, 1));
        assert!(!s.moving_on(9) && s.moving_on(10) && s.has_moving());
        // The bump's centre at step 25 (t = 0.25 s): 0.5 + 1 rad/s × 0.15 s.
        let placed: Vec<Placed> = s.placed(25).collect();
        match placed[..] {
            [Placed::Profile {
                epoch: 1,
                centre: [x, _],
                ..
            }] => assert!((x - 0.65).abs() < 1e-12, "{x}"),
            _ => panic!("{placed:?}"),
        }
        // kappa = tau k v of the ring's one pair: 0 before 0.3 s, 0.02 after.
        assert!(s.has_velocity());
        assert_eq!(s.kappa(29).collect::<Vec<_>>(), [0.0]);
        assert_eq!(s.kappa(30).collect::<Vec<_>>(), [0.01 * 2.0]);
    }
}
