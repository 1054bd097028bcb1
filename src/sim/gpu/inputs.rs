//! What a step's parameters say about the inputs: which still epochs are
//! on (their vectors are on the GPU), the few coefficients of each moving
//! ring profile (the GPU evaluates it at every neuron: no N values are
//! uploaded per step), and the velocity's turn of the ring's kernel.

use super::kernels::{StepParams, MAX_MOVING, MAX_TURNED};
use crate::error::{Error, Result};
use crate::model::{Experiment, Motion, VelocityEpoch};

/// The inputs of a run as the step parameters carry them.
pub(super) struct StepInputs {
    /// Bit e set: epoch e is still (read from its vector).
    still: u32,
    /// The moving and played epochs: (first step, end step, start time), what.
    moving: Vec<((u64, u64, f64), Source)>,
    velocity: Vec<VelocityEpoch>,
    /// (axis, tau k) of each turned pair (kappa = tau k v_axis).
    turn: Vec<(usize, f64)>,
    /// Angles of a neuron's place (1 on a ring, 2 on a torus).
    dims: usize,
    rot_first: u32,
    dt: f64,
}

/// What a moving epoch adds.
enum Source {
    /// A moving ring profile ([`Motion::Moving`]).
    Profile(Motion),
    /// A played file: `count` rows from row `row0` of the h buffer.
    Frames {
        frame: f64,
        count: usize,
        row0: usize,
    },
}

impl StepInputs {
    /// The inputs of `exp`; an error when more moving profiles are on at
    /// once than the parameters hold, or the kernel's turned rows are not
    /// consecutive pairs.
    pub(super) fn new(exp: &Experiment) -> Result<Self> {
        let dt = exp.simulation.dt;
        let n = exp.network.n;
        let mut still = 0u32;
        let mut moving = Vec::new();
        // A played file's rows follow the epochs' vectors in the h buffer.
        let mut row0 = exp.inputs.len();
        for (e, epoch) in exp.inputs.iter().enumerate() {
            let on = (epoch.first_step(dt), epoch.end_step(dt), epoch.start);
            match &epoch.motion {
                Motion::Still => still |= 1 << e,
                Motion::Moving { .. } => moving.push((on, Source::Profile(epoch.motion.clone()))),
                Motion::Frames { frame, rows } => {
                    let count = rows.len() / n;
                    if row0 + count >= 1 << 24 {
                        return Err(Error::invalid(
                            format!("input[{}].path", epoch.entry),
                            format!("{count} rows"),
                            "the GPU backend plays at most 2^24 rows of input in all; use --backend cpu",
                        ));
                    }
                    moving.push((
                        on,
                        Source::Frames {
                            frame: *frame,
                            count,
                            row0,
                        },
                    ));
                    row0 += count;
                }
            }
        }
        // The most moving epochs on at once is reached at some epoch's first step.
        let most = moving
            .iter()
            .map(|&((a, _, _), _)| {
                moving
                    .iter()
                    .filter(|((b, e, _), _)| *b <= a && a < *e)
                    .count()
            })
            .max()
            .unwrap_or(0);
        if most > MAX_MOVING {
            return Err(Error::invalid(
                "input",
                format!("{most} moving profiles on at once"),
                format!(
                    "the GPU backend moves or plays at most {MAX_MOVING} inputs at a time; stagger their epochs or use --backend cpu"
                ),
            ));
        }
        let rotations = exp.network.weights.geometry().rotations;
        let rot_first = rotations.first().map_or(0, |r| r.cos);
        let consecutive = rotations
            .iter()
            .enumerate()
            .all(|(m, r)| r.cos == rot_first + 2 * m && r.sin == r.cos + 1);
        if rotations.len() > MAX_TURNED || !consecutive {
            return Err(Error::invalid(
                "network.weights",
                exp.network.weights.kind(),
                "the GPU backend turns at most 4 consecutive (cos, sin) row pairs; use --backend cpu",
            ));
        }
        let tau = exp.network.tau;
        Ok(StepInputs {
            still,
            moving,
            velocity: exp.velocity.clone(),
            turn: rotations
                .iter()
                .map(|r| (r.axis, tau * r.wavenumber))
                .collect(),
            dims: exp.network.weights.geometry().dims,
            rot_first: rot_first as u32,
            dt,
        })
    }

    /// Sets `p`'s input fields for step `k`, `epochs_on` the epochs on.
    pub(super) fn fill(&self, k: u64, epochs_on: u32, p: &mut StepParams) {
        p.epochs_on = epochs_on & self.still;
        p.rot_first = self.rot_first;
        p.rot_pairs = self.turn.len() as u32;
        let v = crate::model::velocity_at(&self.velocity, k, self.dt);
        for (m, (axis, t)) in self.turn.iter().enumerate() {
            p.kappa[m] = (t * v[*axis]) as f32;
        }
        let t = k as f64 * self.dt;
        let mut n = 0;
        for ((first, end, start), source) in &self.moving {
            if *first <= k && k < *end {
                match source {
                    Source::Profile(Motion::Moving { profile, path }) => {
                        let (mode, a, b) = profile.coefficients(self.dims);
                        let [x, y] = path.at(*start, t);
                        p.moving[2 * n] = [mode as f32, a as f32, b as f32, 0.0];
                        p.moving[2 * n + 1] =
                            [x.cos(), x.sin(), y.cos(), y.sin()].map(|v| v as f32);
                    }
                    Source::Frames { frame, count, row0 } => {
                        let r = row0 + Motion::frame_at(*frame, *count, *start, t);
                        // Below 2^24: exact in f32.
                        p.moving[2 * n] = [2.0, r as f32, 0.0, 0.0];
                    }
                    Source::Profile(_) => unreachable!("only moving profiles are listed"),
                }
                n += 1;
            }
        }
        p.n_moving = n as u32;
    }
}
