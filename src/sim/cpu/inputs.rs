//! h at each step on the CPU, from the run's [`InputSchedule`]: the still
//! epochs' vectors summed when the set of epochs on changes, the moving
//! profiles evaluated at every neuron and the played rows added while
//! something moves, and the velocity's turn of the kernel.

use super::elementwise::each;
use super::fused::Input;
use crate::model::{place_angles, place_cosine, Experiment, Motion, RingProfile};
use crate::real::{c, Real};
use crate::sim::inputs::{InputSchedule, Placed};

/// The input of a trial, step by step.
pub struct Inputs<T> {
    schedule: InputSchedule,
    /// Each still epoch's vector, scaled (empty for the moving ones).
    vectors: Vec<Vec<T>>,
    active: Vec<bool>,
    /// The sum of the still epochs on.
    still: Vec<T>,
    /// h at the current step.
    pub h: Vec<T>,
    /// h's value when every neuron has the same.
    uniform: Option<T>,
    /// cos and sin of each neuron's angles ([`place_angles`]), when some
    /// profile moves.
    angles: Option<[Vec<f64>; 4]>,
    /// Angles of a neuron's place (1 on a ring, 2 on a torus).
    dims: usize,
    h_scale: f64,
    /// tau k v of each rotation of M at the current step (0 without a velocity).
    pub kappa: Vec<T>,
}

impl<T: Real> Inputs<T> {
    /// The inputs of `experiment`, scaled by `h_scale`.
    pub fn new(experiment: &Experiment, h_scale: f64) -> Self {
        let n = experiment.network.n;
        let geometry = experiment.network.weights.geometry();
        let vectors = experiment
            .inputs
            .iter()
            .map(|e| match e.motion {
                Motion::Still => e.h.iter().map(|&x| c::<T>(h_scale * x)).collect(),
                Motion::Moving { .. } | Motion::Frames { .. } => Vec::new(),
            })
            .collect::<Vec<_>>();
        let angles = experiment
            .inputs
            .iter()
            .any(|e| matches!(e.motion, Motion::Moving { .. }))
            .then(|| place_angles(n, geometry.side));
        let mut s = Inputs {
            schedule: InputSchedule::new(experiment),
            active: vec![false; vectors.len()],
            vectors,
            still: vec![T::zero(); n],
            h: vec![T::zero(); n],
            uniform: None,
            angles,
            dims: geometry.dims,
            h_scale,
            kappa: vec![T::zero(); geometry.rotations.len()],
        };
        s.rebuild();
        s.place(0);
        s
    }

    /// h at the current step, as one number where it is uniform.
    pub fn input(&self) -> Input<'_, T> {
        match self.uniform {
            Some(u) => Input::Uniform(u),
            None => Input::Vector(&self.h),
        }
    }

    fn rebuild(&mut self) {
        self.still.iter_mut().for_each(|x| *x = T::zero());
        for (h, on) in self.vectors.iter().zip(&self.active) {
            if *on && !h.is_empty() {
                for (a, b) in self.still.iter_mut().zip(h) {
                    *a = *a + *b;
                }
            }
        }
    }

    /// h at `step`: the still sum plus the moving profiles and played rows on.
    fn place(&mut self, step: u64) {
        if !self.schedule.moving_on(step) {
            self.h.copy_from_slice(&self.still);
        } else {
            let empty: [Vec<f64>; 4] = Default::default();
            let angles = self.angles.as_ref().unwrap_or(&empty);
            let dims = self.dims;
            let n = self.h.len();
            let mut profiles: Vec<(RingProfile, [f64; 4])> = Vec::new();
            let mut frames: Vec<&[f64]> = Vec::new();
            for placed in self.schedule.placed(step) {
                match placed {
                    Placed::Profile {
                        profile,
                        centre: [x, y],
                        ..
                    } => profiles.push((profile, [x.cos(), x.sin(), y.cos(), y.sin()])),
                    Placed::Frame { epoch, row } => frames.push(self.schedule.frame(epoch, row, n)),
                }
            }
            let hs = self.h_scale;
            let still = &self.still;
            each(&mut self.h, |i, _| {
                let v: f64 = profiles
                    .iter()
                    .map(|(p, cs)| p.at(place_cosine(angles, i, cs), dims))
                    .sum::<f64>()
                    + frames.iter().map(|f| f[i]).sum::<f64>();
                still[i] + c::<T>(hs * v)
            });
        }
        self.uniform = match self.h.first() {
            Some(&h0) if self.h.iter().all(|&v| v == h0) => Some(h0),
            _ => None,
        };
        for (k, v) in self.kappa.iter_mut().zip(self.schedule.kappa(step)) {
            *k = c(v);
        }
    }

    /// Moves to `step`; returns whether h changed.
    pub fn at(&mut self, step: u64) -> bool {
        let mut changed = false;
        for (e, on) in self.active.iter_mut().enumerate() {
            let now = self.schedule.is_on(e, step);
            changed |= now != *on;
            *on = now;
        }
        if changed {
            self.rebuild();
        }
        let moves = self.schedule.moving_on(step);
        if changed || moves || self.schedule.has_velocity() {
            self.place(step);
        }
        changed || moves
    }
}
