//! What a step's parameters say about the inputs, from the run's
//! [`InputSchedule`] (the one the CPU steps through): which still epochs
//! are on (their vectors are on the GPU), the few coefficients of each
//! moving ring profile (the GPU evaluates it at every neuron: no N values
//! are uploaded per step), the row of each played file, and the
//! velocity's turn of the kernel.

use super::kernels::{StepParams, FLAG_H_UNIFORM, MAX_MOVING, MAX_TURNED, MOVING_FRAME};
use crate::error::{Error, Result};
use crate::model::{Experiment, Motion};
use crate::sim::inputs::{InputSchedule, Placed};

/// The inputs of a run as the step parameters carry them.
pub(super) struct StepInputs {
    schedule: InputSchedule,
    /// Bit e set: epoch e is still (read from its vector).
    still: u32,
    /// Each epoch's value where it is still and the same at every neuron.
    uniform: Vec<Option<f32>>,
    /// Each epoch's first row in the h buffer (a played file's rows
    /// follow the epochs' vectors).
    row0: Vec<usize>,
    /// Angles of a neuron's place (1 on a ring, 2 on a torus).
    dims: usize,
    rot_first: u32,
    rot_pairs: u32,
}

impl StepInputs {
    /// The inputs of `exp`; an error when more moving profiles are on at
    /// once than the parameters hold, or the kernel's turned rows are not
    /// consecutive pairs.
    pub(super) fn new(exp: &Experiment) -> Result<Self> {
        let n = exp.network.n;
        let schedule = InputSchedule::new(exp);
        let mut still = 0u32;
        let mut row0 = Vec::with_capacity(exp.inputs.len());
        let mut next = exp.inputs.len();
        for (e, epoch) in exp.inputs.iter().enumerate() {
            row0.push(next);
            match &epoch.motion {
                Motion::Still => still |= 1 << e,
                Motion::Moving { .. } => {}
                Motion::Frames { rows, .. } => {
                    let count = rows.len() / n;
                    if next + count >= 1 << 24 {
                        return Err(Error::invalid(
                            format!("input[{}].path", epoch.entry),
                            format!("{count} rows"),
                            "the GPU backend plays at most 2^24 rows of input in all; use --backend cpu",
                        ));
                    }
                    next += count;
                }
            }
        }
        let most = schedule.most_moving();
        if most > MAX_MOVING {
            return Err(Error::invalid(
                "input",
                format!("{most} moving profiles on at once"),
                format!(
                    "the GPU backend moves or plays at most {MAX_MOVING} inputs at a time; stagger their epochs or use --backend cpu"
                ),
            ));
        }
        let geometry = exp.network.weights.geometry();
        let rotations = &geometry.rotations;
        let rot_first = rotations.first().map_or(0, |r| r.cos);
        let consecutive = rotations
            .iter()
            .enumerate()
            .all(|(m, r)| r.cos == rot_first + 2 * m && r.sin == r.cos + 1);
        if rotations.len() > MAX_TURNED || !consecutive {
            return Err(Error::invalid(
                "network.weights",
                exp.network.weights.kind(),
                format!(
                    "the GPU backend turns at most {MAX_TURNED} consecutive (cos, sin) row pairs; \
                     use --backend cpu"
                ),
            ));
        }
        let uniform = exp
            .inputs
            .iter()
            .map(|e| match e.motion {
                Motion::Still => e.h.iter().all(|&x| x == e.h[0]).then(|| e.h[0] as f32),
                Motion::Moving { .. } | Motion::Frames { .. } => None,
            })
            .collect();
        Ok(StepInputs {
            schedule,
            still,
            uniform,
            row0,
            dims: geometry.dims,
            rot_first: rot_first as u32,
            rot_pairs: super::launch::turned_pairs(exp) as u32,
        })
    }

    /// Sets `p`'s input fields for step `k`.
    pub(super) fn fill(&self, k: u64, p: &mut StepParams) {
        p.epochs_on = self.schedule.mask(k) & self.still;
        // The epochs on all uniform and nothing moving: h is one number,
        // summed in epoch order in f32 as `input_at` would.
        if !self.schedule.moving_on(k) {
            let on = (0..self.uniform.len()).filter(|&e| p.epochs_on >> e & 1 == 1);
            if let Some(h) = on
                .map(|e| self.uniform[e])
                .try_fold(0.0f32, |s, v| Some(s + v?))
            {
                p.flags |= FLAG_H_UNIFORM;
                p.h_uniform = h;
            }
        }
        p.rot_first = self.rot_first;
        p.rot_pairs = self.rot_pairs;
        for (m, kappa) in self.schedule.kappa(k).enumerate() {
            p.kappa[m] = kappa as f32;
        }
        let mut n = 0;
        for placed in self.schedule.placed(k) {
            match placed {
                Placed::Profile {
                    profile,
                    centre: [x, y],
                    ..
                } => {
                    let (mode, a, b) = profile.coefficients(self.dims);
                    p.moving[2 * n] = [mode as f32, a as f32, b as f32, 0.0];
                    p.moving[2 * n + 1] = [x.cos(), x.sin(), y.cos(), y.sin()].map(|v| v as f32);
                }
                Placed::Frame { epoch, row } => {
                    // Below 2^24: exact in f32.
                    p.moving[2 * n] = [MOVING_FRAME, (self.row0[epoch] + row) as f32, 0.0, 0.0];
                }
            }
            n += 1;
        }
        p.n_moving = n as u32;
    }
}
