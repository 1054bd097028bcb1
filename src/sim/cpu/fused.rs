//! The CPU's structured step in one pass over the state: for M = diag(d) +
//! sum_r coef_r U_r V_r^T and a one-stage method, each block of neurons is
//! expanded from the projections of the state at step t, pushed through the
//! activation, updated and given its noise, checked for finiteness, and
//! then, while it is still in cache, multiplied with the rows of V for the
//! projections step t + 1 needs. Each step reads and writes the state once
//! and reads each table row once (the second read of a block's rows, by the
//! projections, hits the cache).
//!
//! The numbers are those of the separate passes of [`super::step::Drive`]
//! and [`super::operator::Operator::apply`] bit for bit: every neuron's
//! expression is the same, and each chunk's projection sums go through the
//! same [`Lanes`] in the same order, block after block.

use super::lanes::{small, Lanes, CHUNK};
use super::operator::Operator;
use super::pages::Aligned;
use super::structured::{Expansion, Parts};
use super::table::{rows_read, REGISTERS};
use crate::model::{Activation, Dynamics, Stage, StepConstants};
use crate::real::{c, Real};
use crate::rng::{self, Stream};
use rayon::prelude::*;

/// From this much work per step, N (R' + 2) with R' the weight rows a
/// block reads, a fused step spreads its chunks of 1024 neurons over
/// rayon's threads, one task per thread; below, one thread steps without a
/// fork-join. A run steps on one of rayon's threads (`cpu::run_batch`), so
/// a fork-join is a push to its own queue and a steal. Measured on the
/// 2-core AMD EPYC VM of BENCHMARKS.md (2026-12-04, f32, `attractor bench
/// --backend cpu`, three or four rounds alternated, one thread against
/// two): rings of N = 8192 3.9–4.1 µs against 3.3–7.5, N = 16384 7.8–8.1
/// against 5.3–5.6, N = 32768 16.6–17.1 against 9.8–10.4; the Hopfield
/// network at N = 2000, P = 100 (tanh, current) 27.6–32.3 against
/// 15.1–21.2. Two pay from N (R' + 2) ≈ 2^16.
pub const PARALLEL_WORK: usize = 1 << 16;

/// The input h of a step.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a, T> {
    /// The same value at every neuron (read as one number).
    Uniform(T),
    /// One value per neuron.
    Vector(&'a [T]),
}

/// The noise a step adds: sigma sqrt(dt / tau) times the counter-based
/// normal draw of (seed, neuron, step, trial).
#[derive(Clone, Copy, Debug)]
pub struct Noise {
    /// sigma sqrt(dt / tau).
    pub scale: f64,
    /// The run's seed.
    pub seed: u64,
    /// The trial.
    pub trial: u32,
    /// The step being taken.
    pub step: u64,
}

/// Everything a step needs besides the state.
#[derive(Clone, Copy, Debug)]
pub struct Step<'a, T> {
    /// The method's one stage (Euler or exponential).
    pub stage: Stage,
    /// Its constants.
    pub k: StepConstants<T>,
    /// The trial's scale of M.
    pub m_scale: T,
    /// h.
    pub h: Input<'a, T>,
    /// tau k v of each of the operator's rotations (the velocity's turn of
    /// the kernel); empty or 0 for none.
    pub kappa: &'a [T],
    /// The noise, if any.
    pub noise: Option<Noise>,
}

/// The fused step's state between steps: the projections of the current
/// state, kept from the pass that wrote it.
#[derive(Clone, Debug)]
pub struct FusedStep<T> {
    activation: Activation,
    dynamics: Dynamics,
    /// R raw projections V_r . o of the operand o (x for rate dynamics,
    /// F(x) for current dynamics) at the current state, then sum_i o_i.
    proj: Vec<T>,
    /// coef_r proj_r.
    scaled: Vec<T>,
    /// Each chunk's R + 1 partial sums.
    partials: Vec<T>,
    /// Whether `proj` is that of the state (false before the first step and
    /// after a state that was not finite).
    ready: bool,
    /// Whether the last pass summed the operand.
    summed: bool,
    /// Neurons per block.
    block: usize,
    /// Rows of the weights a block touches.
    block_rows: usize,
    scratch: Scratch<T>,
    /// One scratch per task of a parallel pass.
    pool: Vec<Scratch<T>>,
}

/// A thread's buffers for one chunk: the drive and the operand of a block,
/// and the chunk's accumulators.
#[derive(Clone, Debug)]
struct Scratch<T> {
    d: Aligned<T>,
    o: Aligned<T>,
    lanes: Vec<Lanes<T>>,
}

impl<T: Real> Scratch<T> {
    fn new(block: usize, sums: usize) -> Self {
        Scratch {
            d: Aligned::zeroed(block),
            o: Aligned::zeroed(block),
            lanes: vec![Lanes::default(); sums],
        }
    }
}

impl<T: Real> FusedStep<T> {
    /// The fused step for `op`, if it has one: a structured operator stepped
    /// by a one-stage method.
    pub fn new(
        op: &Operator<T>,
        stages: &[Stage],
        activation: Activation,
        dynamics: Dynamics,
    ) -> Option<Self> {
        if stages.len() != 1 {
            return None;
        }
        let p = op.parts()?;
        let rank = p.coef.len();
        let rows = rows_read(p.uniform, p.separate_u, p.diag.is_some());
        // A block is a tile of the tables: its rows one stream.
        let block = p.v.tile().min(CHUNK);
        Some(FusedStep {
            activation,
            dynamics,
            proj: vec![T::zero(); rank + 1],
            scaled: vec![T::zero(); rank],
            partials: Vec::new(),
            ready: false,
            summed: false,
            block,
            block_rows: rows,
            scratch: Scratch::new(block, rank + 1),
            pool: Vec::new(),
        })
    }

    /// The tasks a step of `n` neurons spreads its chunks over, one per
    /// group of consecutive chunks: as many as rayon has threads (at most
    /// one per chunk) from [`PARALLEL_WORK`], else 1 (no fork).
    pub fn groups(&self, n: usize) -> usize {
        if n * (self.block_rows + 2) < PARALLEL_WORK {
            return 1;
        }
        let chunks = n.div_ceil(CHUNK);
        let per = chunks.div_ceil(rayon::current_num_threads().min(chunks));
        chunks.div_ceil(per)
    }

    /// Neurons per block.
    pub fn block(&self) -> usize {
        self.block
    }

    /// Forgets the projections: the next step computes them from its state
    /// (for a state set from outside).
    pub fn reset(&mut self) {
        self.ready = false;
    }

    /// The raw projections V_r . o of the operand (the rates) at the state
    /// of the last step; `None` before the first.
    pub fn projections(&self) -> Option<&[T]> {
        self.ready.then(|| &self.proj[..self.scaled.len()])
    }

    /// sum_i o_i, the sum of the rates, at the state of the last step, if
    /// it was asked for.
    pub fn rates_sum(&self) -> Option<T> {
        (self.ready && self.summed).then(|| self.proj[self.scaled.len()])
    }

    /// The projections (and, if `sum`, the sum of the rates) of state `x`,
    /// without stepping (`x` is only read).
    pub fn project(&mut self, op: &Operator<T>, x: &mut [T], sum: bool) {
        self.pass(op, x, None, sum);
    }

    /// Advances `x` by one step; returns whether some entry of the new
    /// state is not finite. The projections (and, if `sum`, the sum of the
    /// rates) of the new state are kept for the next step.
    pub fn step(&mut self, op: &Operator<T>, x: &mut [T], s: &Step<'_, T>, sum: bool) -> bool {
        if !self.ready {
            self.project(op, x, false);
        }
        let p = op
            .parts()
            .expect("the fused step is for structured operators");
        for ((q, r), c) in self.scaled.iter_mut().zip(&self.proj).zip(p.coef) {
            *q = *c * *r;
        }
        p.turn(&mut self.scaled, s.kappa);
        let bad = self.pass(op, x, Some(s), sum);
        self.ready = !bad;
        bad
    }

    /// One pass over the chunks of the state: each chunk stepped (with
    /// `step`) or only read, its partial sums kept, then added in order.
    fn pass(
        &mut self,
        op: &Operator<T>,
        x: &mut [T],
        step: Option<&Step<'_, T>>,
        sum: bool,
    ) -> bool {
        let n = x.len();
        let p = op
            .parts()
            .expect("the fused step is for structured operators");
        let sums = self.proj.len();
        let chunks = n.div_ceil(CHUNK);
        self.partials.resize(chunks * sums, T::zero());
        let expansion = Expansion::new(&self.scaled, p.u, p.uniform, p.diag);
        let job = Job {
            p,
            e: &expansion,
            activation: self.activation,
            dynamics: self.dynamics,
            block: self.block,
            step,
            sum,
        };
        let groups = self.groups(n);
        let bad = if groups > 1 {
            let per = chunks.div_ceil(groups);
            let block = self.block;
            self.pool.resize_with(groups, || Scratch::new(block, sums));
            // One task per group of `per` consecutive chunks (a fork-join
            // per step, not per chunk), each with its own scratch.
            x.par_chunks_mut(CHUNK * per)
                .zip(self.partials.par_chunks_mut(sums * per))
                .zip(self.pool[..groups].par_iter_mut())
                .enumerate()
                .map(|(g, ((xg, pg), s))| {
                    let mut bad = false;
                    for (j, (xc, pc)) in xg.chunks_mut(CHUNK).zip(pg.chunks_mut(sums)).enumerate() {
                        bad |= chunk(&job, (g * per + j) * CHUNK, xc, pc, s);
                    }
                    bad
                })
                .reduce(|| false, |a, b| a | b)
        } else {
            let mut bad = false;
            for (k, (xc, pc)) in x
                .chunks_mut(CHUNK)
                .zip(self.partials.chunks_mut(sums))
                .enumerate()
            {
                bad |= chunk(&job, k * CHUNK, xc, pc, &mut self.scratch);
            }
            bad
        };
        self.proj.iter_mut().for_each(|q| *q = T::zero());
        for pc in self.partials.chunks(sums) {
            for (q, v) in self.proj.iter_mut().zip(pc) {
                *q = *q + *v;
            }
        }
        self.summed = sum;
        self.ready = true;
        bad
    }
}

/// One pass's shared arguments.
struct Job<'a, T> {
    p: Parts<'a, T>,
    e: &'a Expansion<'a, T>,
    activation: Activation,
    dynamics: Dynamics,
    block: usize,
    step: Option<&'a Step<'a, T>>,
    sum: bool,
}

/// [`chunk_body`], compiled for AVX2 where the CPU has it (8 f32 lanes
/// per instruction instead of SSE2's 4, and a fused multiply-add one
/// instruction instead of a library call; the same numbers either way).
fn chunk<T: Real>(
    job: &Job<'_, T>,
    off: usize,
    x: &mut [T],
    out: &mut [T],
    s: &mut Scratch<T>,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<T: Real>(
            job: &Job<'_, T>,
            off: usize,
            x: &mut [T],
            out: &mut [T],
            s: &mut Scratch<T>,
        ) -> bool {
            chunk_body(job, off, x, out, s)
        }
        if super::matvec::simd_available() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { avx2(job, off, x, out, s) };
        }
    }
    chunk_body(job, off, x, out, s)
}

/// One chunk of neurons from `off` (written by a step, only read
/// without one), block by block: (a step) the block's
/// drive from the expansion, the update and noise, the finiteness check;
/// then the block's operand into the chunk's accumulators. `out` gets the
/// chunk's R projection sums and the sum of the operand.
#[inline(always)]
fn chunk_body<T: Real>(
    job: &Job<'_, T>,
    off: usize,
    x: &mut [T],
    out: &mut [T],
    s: &mut Scratch<T>,
) -> bool {
    let (p, act) = (job.p, job.activation);
    let current = job.dynamics == Dynamics::Current;
    let len = x.len();
    s.lanes.iter_mut().for_each(|l| *l = Lanes::default());
    let mut bad = false;
    let mut b0 = 0;
    while b0 < len {
        let bl = job.block.min(len - b0);
        let i0 = off + b0;
        let (d, o) = (&mut s.d[..bl], &mut s.o[..bl]);
        let xb: &[T] = match job.step {
            Some(st) => {
                let xb = &mut x[b0..b0 + bl];
                // The expansion's diagonal term multiplies the operand.
                let operand: &[T] = if current && p.diag.is_some() {
                    o.copy_from_slice(xb);
                    act.map_slice(o, |_, v| v);
                    o
                } else {
                    xb
                };
                job.e.tile_block(i0, operand, d);
                drive(act, current, st.m_scale, st.h, i0, d);
                update(st.stage, st.k, xb, d);
                if let Some(nz) = st.noise {
                    for (j, xi) in xb.iter_mut().enumerate() {
                        let z = rng::normal(
                            nz.seed,
                            Stream::Noise,
                            (i0 + j) as u32,
                            nz.step as u32,
                            nz.trial,
                        );
                        *xi = *xi + c::<T>(nz.scale * z);
                    }
                }
                bad |= xb.iter().fold(false, |a, v| a | !v.is_finite());
                xb
            }
            None => &x[b0..b0 + bl],
        };
        // The operand of the next step's projections: x, or F(x).
        let ob: &[T] = if current {
            o.copy_from_slice(xb);
            act.map_slice(o, |_, v| v);
            o
        } else {
            xb
        };
        let rank = p.coef.len();
        if let Ok(ob) = <&[T; REGISTERS]>::try_from(ob) {
            // A register block (the tables of many rows): the operand in
            // registers, each row's products added in turn.
            let read = job.e.read_rows();
            match p.v.small_rows_at(i0, bl) {
                Some(rows) => Lanes::dot_block(&mut s.lanes, read, rows, ob, small::<T>),
                None => Lanes::dot_block(&mut s.lanes, read, p.v.rows_at(i0, bl), ob, |v| v),
            }
            for (r, l) in s.lanes[..rank].iter_mut().enumerate() {
                if p.uniform[r] {
                    l.sum(ob);
                }
            }
            if job.sum {
                s.lanes[rank].sum(ob);
            }
            b0 += bl;
            continue;
        }
        let row = |r: usize| p.v.row(r, i0, bl);
        let mut r = 0;
        while r < rank {
            // Read up to four rows at a time (independent chains of fused
            // multiply-adds, one load of the operand; the ring's cos and
            // sin together; eight measured slower, 2.0e-5 against 1.7e-5
            // s/step at N = 2000, P = 100, medians of six alternated runs).
            let g = (r..rank.min(r + 4)).take_while(|&q| !p.uniform[q]).count();
            let l = &mut s.lanes[r..r + g.max(1)];
            match g {
                0 => l[0].sum(ob),
                1 => Lanes::dot_rows(l, [row(r)], ob),
                2 => Lanes::dot_rows(l, [row(r), row(r + 1)], ob),
                3 => Lanes::dot_rows(l, [row(r), row(r + 1), row(r + 2)], ob),
                _ => Lanes::dot_rows(l, [row(r), row(r + 1), row(r + 2), row(r + 3)], ob),
            }
            r += g.max(1);
        }
        if job.sum {
            s.lanes[rank].sum(ob);
        }
        b0 += bl;
    }
    let rank = p.coef.len();
    for (r, (o, l)) in out.iter_mut().zip(&s.lanes).enumerate() {
        *o = if r < rank && !p.uniform[r] {
            l.dot_total()
        } else {
            l.sum_total()
        };
    }
    bad
}

/// d = F(h + g d) (rate dynamics) or h + g d (current dynamics), h read as
/// one number where it is uniform.
#[inline(always)]
fn drive<T: Real>(act: Activation, current: bool, g: T, h: Input<'_, T>, i0: usize, d: &mut [T]) {
    match (current, h) {
        (false, Input::Uniform(h)) => act.map_slice(d, |_, e| h + g * e),
        (false, Input::Vector(h)) => {
            let h = &h[i0..i0 + d.len()];
            act.map_slice(d, |j, e| h[j] + g * e)
        }
        (true, Input::Uniform(h)) => d.iter_mut().for_each(|e| *e = h + g * *e),
        (true, Input::Vector(h)) => {
            for (e, hi) in d.iter_mut().zip(&h[i0..]) {
                *e = *hi + g * *e;
            }
        }
    }
}

/// [`Stage::update`] of a one-stage method for each neuron of a block, the
/// stage a constant in each arm so that the loop vectorises.
#[inline(always)]
fn update<T: Real>(stage: Stage, k: StepConstants<T>, x: &mut [T], d: &[T]) {
    #[inline(always)]
    fn each<T: Real>(stage: Stage, k: StepConstants<T>, x: &mut [T], d: &[T]) {
        for (xi, di) in x.iter_mut().zip(d) {
            let (mut y, mut a) = (T::zero(), T::zero());
            stage.update(k, xi, &mut y, &mut a, *di);
        }
    }
    match stage {
        Stage::Euler => each(Stage::Euler, k, x, d),
        Stage::Exponential => each(Stage::Exponential, k, x, d),
        s => each(s, k, x, d),
    }
}
