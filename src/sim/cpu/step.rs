//! One integration step on the CPU: the drive (the product by M and the
//! activation), each stage's update of every neuron, the noise; or the
//! fused step of [`super::fused`] where the form and method allow.

use super::elementwise::{each, each_activated, CHUNK, PARALLEL_N};
use super::fused::{self, FusedStep};
use super::inputs::Inputs;
use super::matvec::Matvec;
use super::operator::Operator;
use crate::model::{Activation, Dynamics, Experiment, Population, Stage, StepConstants};
use crate::real::{c, Real};
use crate::rng::{self, Stream};
use crate::sim::Trial;
use rayon::prelude::*;
use std::ops::Range;
use std::sync::Arc;

/// One population of a network of several: its neurons, activation,
/// dynamics, step constants and noise.
#[derive(Clone, Debug)]
pub struct Segment<T> {
    range: Range<usize>,
    activation: Activation,
    dynamics: Dynamics,
    k: StepConstants<T>,
    /// sigma sqrt(dt / tau) of this population.
    noise_scale: f64,
    /// Each neuron's constants and noise scale, when their taus differ.
    each: Option<(Vec<StepConstants<T>>, Vec<f64>)>,
}

/// The segments of `experiment`'s populations for a trial of noise
/// `noise` (a population's own noise in place of it where it has one);
/// empty for one population.
fn segments<T: Real>(experiment: &Experiment, noise: f64) -> Vec<Segment<T>> {
    let dt = experiment.simulation.dt;
    let seg = |p: &Population| Segment {
        range: p.range(),
        activation: p.activation,
        dynamics: p.dynamics,
        k: StepConstants::new(dt, p.tau),
        noise_scale: p.noise.unwrap_or(noise) * (dt / p.tau).sqrt(),
        each: p.taus.as_ref().map(|taus| {
            let sigma = p.noise.unwrap_or(noise);
            (
                taus.iter().map(|&t| StepConstants::new(dt, t)).collect(),
                taus.iter().map(|&t| sigma * (dt / t).sqrt()).collect(),
            )
        }),
    };
    experiment.network.populations.iter().map(seg).collect()
}

/// The drive D(x) of the equation tau dx/dt = -x + D(x):
/// D = F(h + M x) for rate dynamics, h + M F(x) for current dynamics.
pub struct Drive<T> {
    /// M, shared by the trials of a batch.
    pub op: Arc<Operator<T>>,
    m_scale: T,
    activation: Activation,
    dynamics: Dynamics,
    fx: Vec<T>,
    proj: Vec<T>,
    /// The turn of M's rotations in this step ([`Inputs::kappa`]).
    pub kappa: Vec<T>,
    /// The populations of a network of several (empty for one).
    segments: Vec<Segment<T>>,
}

impl<T: Matvec> Drive<T> {
    /// The drive of `experiment`'s network, with M built as `op`.
    pub fn new(experiment: &Experiment, op: Arc<Operator<T>>) -> Self {
        let net = &experiment.network;
        Drive {
            op,
            m_scale: T::one(),
            activation: net.activation,
            dynamics: net.dynamics,
            fx: vec![T::zero(); net.n],
            proj: Vec::new(),
            kappa: Vec::new(),
            segments: segments(experiment, experiment.simulation.noise),
        }
    }

    /// out = D(x) for input h.
    pub fn eval(&mut self, x: &[T], h: &[T], out: &mut [T]) {
        if !self.segments.is_empty() {
            return self.eval_populations(x, h, out);
        }
        let act = self.activation;
        match self.dynamics {
            Dynamics::Rate => {
                self.op.apply_turned(x, out, &mut self.proj, &self.kappa);
                let g = self.m_scale;
                each_activated(act, out, |i, mx| h[i] + g * mx);
            }
            Dynamics::Current => {
                self.fx.copy_from_slice(x);
                each_activated(act, &mut self.fx, |_, xi| xi);
                self.op
                    .apply_turned(&self.fx, out, &mut self.proj, &self.kappa);
                let g = self.m_scale;
                each(out, |i, mfx| h[i] + g * mfx);
            }
        }
    }

    /// [`Drive::eval`] for several populations: M multiplies x over rate
    /// populations and F(x) over current ones; each population's drive is
    /// F(h + M·) (rate) or h + M· (current) with its own F.
    fn eval_populations(&mut self, x: &[T], h: &[T], out: &mut [T]) {
        self.fx.copy_from_slice(x);
        for s in &self.segments {
            if s.dynamics == Dynamics::Current {
                each_activated(s.activation, &mut self.fx[s.range.clone()], |_, xi| xi);
            }
        }
        self.op
            .apply_turned(&self.fx, out, &mut self.proj, &self.kappa);
        let g = self.m_scale;
        for s in &self.segments {
            let h = &h[s.range.clone()];
            let out = &mut out[s.range.clone()];
            match s.dynamics {
                Dynamics::Rate => each_activated(s.activation, out, |i, mx| h[i] + g * mx),
                Dynamics::Current => each(out, |i, mx| h[i] + g * mx),
            }
        }
    }

    /// y = M v (scaled as the trial's M).
    pub fn product(&mut self, v: &[T], y: &mut [T]) {
        self.op.apply(v, y, &mut self.proj);
        let g = self.m_scale;
        each(y, |_, yi| g * yi);
    }
}

/// One integration step from `x` at `step` with input `h`, noise included:
/// the method's stages (the twin of the GPU's dispatches, one per stage),
/// each evaluating the drive at the stage point and applying
/// [`Stage::update`] to every neuron, then the noise.
pub struct Stepper<T> {
    /// The drive.
    pub drive: Drive<T>,
    /// The fused step, for a structured M and a one-stage method.
    pub(super) fused: Option<FusedStep<T>>,
    stages: &'static [Stage],
    k: StepConstants<T>,
    /// sigma sqrt(dt / tau): the standard deviation of the noise a step adds.
    noise_scale: f64,
    seed: u64,
    trial: u32,
    /// The drive at the stage point.
    d: Vec<T>,
    /// The stage point y and the rk4 accumulator (empty for one-stage methods).
    y: Vec<T>,
    acc: Vec<T>,
}

impl<T: Matvec> Stepper<T> {
    /// A stepper for `experiment`, with `trial`'s noise stream and scale of
    /// M, stepping with the operator `op` (M of `experiment`'s network).
    pub fn new(experiment: &Experiment, trial: &Trial, op: Arc<Operator<T>>) -> Self {
        let n = experiment.network.n;
        let sim = &experiment.simulation;
        let a = sim.dt / experiment.network.tau;
        let staged = if sim.method.needs_stage_buffers() {
            n
        } else {
            0
        };
        let net = &experiment.network;
        let fused = if net.has_populations() {
            None
        } else {
            FusedStep::new(&op, sim.method.stages(), net.activation, net.dynamics)
        };
        let mut drive = Drive::new(experiment, op);
        drive.m_scale = c(trial.m_scale);
        drive.segments = segments(experiment, trial.noise);
        Stepper {
            drive,
            fused,
            stages: sim.method.stages(),
            k: StepConstants::new(sim.dt, experiment.network.tau),
            noise_scale: trial.noise * a.sqrt(),
            seed: trial.seed,
            trial: trial.trial,
            d: vec![T::zero(); n],
            y: vec![T::zero(); staged],
            acc: vec![T::zero(); staged],
        }
    }

    /// Advances `x` by one step (the step from `step` to `step + 1`) with
    /// the input of `inputs`; returns `Some(nan)` if the new state is not
    /// finite (`nan`: a NaN is among its entries). `sum`: the fused step
    /// also sums the new rates (for the metrics of a record).
    ///
    /// The fused step keeps the projections of the state it wrote for the
    /// next step: `x` must be the state the last call returned, or
    /// [`Stepper::reset`] must be called first.
    pub fn step(&mut self, x: &mut [T], inputs: &Inputs<T>, step: u64, sum: bool) -> Option<bool> {
        if let Some(fz) = &mut self.fused {
            let noise = (self.noise_scale > 0.0).then_some(fused::Noise {
                scale: self.noise_scale,
                seed: self.seed,
                trial: self.trial,
                step,
            });
            let s = fused::Step {
                stage: self.stages[0],
                k: self.k,
                m_scale: self.drive.m_scale,
                h: inputs.input(),
                kappa: &inputs.kappa,
                noise,
            };
            let bad = fz.step(&self.drive.op, x, &s, sum);
            return bad.then(|| x.iter().any(|v| v.is_nan()));
        }
        self.drive.kappa.clone_from(&inputs.kappa);
        self.step_unfused(x, &inputs.h, step);
        check_finite(x)
    }

    /// The step as separate passes (the drive, each stage's update, the
    /// noise): what every operator and method can take, and the fused
    /// step's reference.
    pub fn step_unfused(&mut self, x: &mut [T], h: &[T], step: u64) {
        let Stepper {
            drive, d, y, acc, ..
        } = self;
        let staged = !y.is_empty();
        if staged {
            y.copy_from_slice(x);
        }
        if !drive.segments.is_empty() {
            for &stage in self.stages {
                drive.eval(if staged { &y[..] } else { &x[..] }, h, d);
                for s in &drive.segments {
                    let r = s.range.clone();
                    let (ys, accs) = if staged {
                        (&mut y[r.clone()], &mut acc[r.clone()])
                    } else {
                        (&mut [][..], &mut [][..])
                    };
                    match &s.each {
                        None => update(stage, s.k, &mut x[r.clone()], ys, accs, &d[r]),
                        Some((ks, _)) => {
                            let x = &mut x[r.clone()];
                            let d = &d[r];
                            let staged = !ys.is_empty();
                            for i in 0..x.len() {
                                let (mut yi, mut ai) = (T::zero(), T::zero());
                                let (y, a) = if staged {
                                    (&mut ys[i], &mut accs[i])
                                } else {
                                    (&mut yi, &mut ai)
                                };
                                stage.update(ks[i], &mut x[i], y, a, d[i]);
                            }
                        }
                    }
                }
            }
            let (seed, trial) = (self.seed, self.trial);
            for s in drive.segments.iter().filter(|s| s.noise_scale > 0.0) {
                let (scale, start) = (s.noise_scale, s.range.start);
                let scales = s.each.as_ref().map(|(_, n)| &n[..]);
                each(&mut x[s.range.clone()], |i, xi| {
                    let scale = scales.map_or(scale, |n| n[i]);
                    let i = (start + i) as u32;
                    xi + c::<T>(scale * rng::normal(seed, Stream::Noise, i, step as u32, trial))
                });
            }
            return;
        }
        for &stage in self.stages {
            drive.eval(if staged { &y[..] } else { &x[..] }, h, d);
            update(stage, self.k, x, y, acc, d);
        }
        if self.noise_scale > 0.0 {
            let (s, seed, trial) = (self.noise_scale, self.seed, self.trial);
            each(x, |i, xi| {
                xi + c::<T>(s * rng::normal(seed, Stream::Noise, i as u32, step as u32, trial))
            });
        }
    }

    /// Other threads than the stepping one that a step of `n` neurons
    /// gives work to in its forks: the fused step's groups of chunks but
    /// one ([`FusedStep::groups`]), or, for the separate passes, every
    /// other thread where the elementwise passes fork (from
    /// [`PARALLEL_N`]), else as many as M's product has tasks but one
    /// ([`Operator::tasks`]), up to the pool's.
    pub fn helpers(&self, n: usize) -> usize {
        let threads = rayon::current_num_threads();
        match &self.fused {
            Some(fz) => fz.groups(n) - 1,
            None if n >= PARALLEL_N => threads - 1,
            None => self.drive.op.tasks().clamp(1, threads) - 1,
        }
    }

    /// Forgets what the fused step kept from the last state (for a state
    /// set from outside).
    pub fn reset(&mut self) {
        if let Some(fz) = &mut self.fused {
            fz.reset();
        }
    }

    /// Whether steps go through the fused step.
    pub fn is_fused(&self) -> bool {
        self.fused.is_some()
    }
}

/// [`Stage::update`] for every neuron (in parallel for large N); `y` and
/// `acc` are empty for one-stage methods. Each arm hands [`update_all`] a
/// constant stage, so that the loops carry no branch on it and vectorise.
fn update<T: Real>(
    stage: Stage,
    k: StepConstants<T>,
    x: &mut [T],
    y: &mut [T],
    acc: &mut [T],
    d: &[T],
) {
    match stage {
        Stage::Euler => update_all(Stage::Euler, k, x, y, acc, d),
        Stage::Exponential => update_all(Stage::Exponential, k, x, y, acc, d),
        Stage::Rk4(1) => update_all(Stage::Rk4(1), k, x, y, acc, d),
        Stage::Rk4(2) => update_all(Stage::Rk4(2), k, x, y, acc, d),
        Stage::Rk4(3) => update_all(Stage::Rk4(3), k, x, y, acc, d),
        Stage::Rk4(s) => update_all(Stage::Rk4(s), k, x, y, acc, d),
    }
}

#[inline(always)]
fn update_all<T: Real>(
    stage: Stage,
    k: StepConstants<T>,
    x: &mut [T],
    y: &mut [T],
    acc: &mut [T],
    d: &[T],
) {
    if y.is_empty() {
        each(x, |i, mut xi| {
            let (mut yi, mut ai) = (T::zero(), T::zero());
            stage.update(k, &mut xi, &mut yi, &mut ai, d[i]);
            xi
        });
        return;
    }
    let body = |xc: &mut [T], yc: &mut [T], ac: &mut [T], dc: &[T]| {
        for j in 0..xc.len() {
            stage.update(k, &mut xc[j], &mut yc[j], &mut ac[j], dc[j]);
        }
    };
    if x.len() >= PARALLEL_N {
        x.par_chunks_mut(CHUNK)
            .zip(y.par_chunks_mut(CHUNK))
            .zip(acc.par_chunks_mut(CHUNK))
            .zip(d.par_chunks(CHUNK))
            .for_each(|(((xc, yc), ac), dc)| body(xc, yc, ac, dc));
    } else {
        body(x, y, acc, d);
    }
}

/// Rates v from the state x: x itself for rate dynamics, F(x) for current dynamics.
pub fn rates_of<T: Real>(experiment: &Experiment, x: &[T], v: &mut [T]) {
    let act = experiment.network.activation;
    v.copy_from_slice(x);
    if experiment.network.has_populations() {
        for p in &experiment.network.populations {
            if p.dynamics == Dynamics::Current {
                each_activated(p.activation, &mut v[p.range()], |_, xi| xi);
            }
        }
        return;
    }
    if experiment.network.dynamics == Dynamics::Current {
        each_activated(act, v, |_, xi| xi);
    }
}

/// Whether every entry is finite; if not, whether one is NaN.
pub(super) fn check_finite<T: Real>(x: &[T]) -> Option<bool> {
    // Without a short cut at the first bad entry, so that the loop vectorises
    // (a run checks every step; a bad entry ends it).
    let bad = |a: bool, v: &T| a | !v.is_finite();
    let any_bad = if x.len() >= PARALLEL_N {
        x.par_chunks(CHUNK)
            .map(|ch| ch.iter().fold(false, bad))
            .reduce(|| false, |a, b| a | b)
    } else {
        x.iter().fold(false, bad)
    };
    any_bad.then(|| x.iter().any(|v| v.is_nan()))
}
