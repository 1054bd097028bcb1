//! The CPU's fused structured step (`sim::cpu::fused`: one pass per step, the
//! next step's projections taken as the state is written) against the
//! separate passes it replaces (`Stepper::step_unfused`), at sizes that are
//! not multiples of the lane width, the chunk or the block, on one thread
//! and above the parallel threshold; and the metrics it takes from its
//! projections against the metrics pass over the rates.

mod common;

use attractor::analysis::metrics::Metrics;
use attractor::model::Weights;
use attractor::real::Real;
use attractor::sim::cpu::matvec::Matvec;
use attractor::sim::cpu::operator::Operator;
use attractor::sim::cpu::{self, inputs::Inputs, step::Stepper};
use attractor::sim::Trial;
use attractor::Experiment;
use common::exp;
use std::sync::Arc;

fn ring(n: usize, dynamics: &str, activation: &str, method: &str) -> Experiment {
    exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        dynamics = "{dynamics}"
        activation = {activation}
        weights = {{ kind = "ring", lambda0 = 0.4, lambda1 = 1.7 }}
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.3
        theta = 1.0
        end = 0.001
        [[input]]
        kind = "uniform"
        value = 0.2
        start = 0.0005
        [initial]
        kind = "random"
        low = 0.0
        high = 0.5
        seed = 3
        [simulation]
        duration = 0.003
        dt = 0.0001
        method = "{method}"
        noise = 0.3
        seed = 11
        "#
    ))
}

fn hebbian(n: usize, p: usize, dynamics: &str) -> Experiment {
    exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        dynamics = "{dynamics}"
        activation = {{ kind = "tanh", beta = 2.0 }}
        weights = {{ kind = "hebbian", patterns = {p}, seed = 5 }}
        [[input]]
        kind = "pattern"
        index = 1
        scale = 0.3
        end = 0.001
        [initial]
        kind = "pattern"
        index = 0
        flip = 0.2
        seed = 2
        [simulation]
        duration = 0.003
        dt = 0.0001
        method = "exponential"
        noise = 0.1
        "#
    ))
}

fn low_rank(n: usize, rank: usize) -> Experiment {
    // A placeholder network of one neuron, its weights, inputs and initial
    // state then replaced by N-sized ones.
    let mut e = exp(r#"
        [network]
        n = 1
        tau = 0.01
        activation = { kind = "sigmoid", beta = 3.0, threshold = 0.2 }
        weights = { kind = "diagonal", values = [0.0] }
        [[input]]
        kind = "uniform"
        value = 0.1
        [simulation]
        duration = 0.003
        dt = 0.0001
        "#);
    let w = |k: usize, s: f64| ((k * 7919 + 13) % 101) as f64 / 101.0 * s - s / 2.0;
    e.network.n = n;
    e.network.weights = Weights::LowRank {
        n,
        rank,
        u: (0..n * rank).map(|k| w(k, 4.0)).collect(),
        v: (0..n * rank).map(|k| w(k + 1, 2.0) / n as f64).collect(),
    };
    e.inputs[0].h = (0..n).map(|i| 0.1 + w(i, 0.2)).collect();
    e.initial = (0..n).map(|i| w(i + 3, 1.0)).collect();
    e
}

fn diagonal(n: usize) -> Experiment {
    let values: Vec<String> = (0..n)
        .map(|i| format!("{}", 0.5 - i as f64 / n as f64))
        .collect();
    exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        activation = {{ kind = "relu" }}
        weights = {{ kind = "diagonal", values = [{}] }}
        [[input]]
        kind = "uniform"
        value = 0.3
        [initial]
        kind = "uniform"
        value = 1.0
        [simulation]
        duration = 0.003
        dt = 0.0001
        noise = 0.2
        "#,
        values.join(", ")
    ))
}

/// Steps `e` 30 times with the fused step and with the separate passes,
/// from the same state with the same trial, and asserts that the states
/// are equal after every step (`==` on every entry: the same expressions in
/// the same order), and that the projections the fused step kept are those
/// of its state.
fn fused_equals_unfused<T: Matvec>(e: &Experiment, what: &str) {
    let op = Arc::new(Operator::<T>::new(&e.network.weights));
    let trial = Trial {
        m_scale: 0.9,
        h_scale: 1.3,
        trial: 2,
        ..Trial::of(e)
    };
    let mut fused = Stepper::<T>::new(e, &trial, op.clone());
    let mut plain = Stepper::<T>::new(e, &trial, op.clone());
    assert!(fused.is_fused(), "{what}: fused");
    let x0: Vec<T> = trial
        .initial(e)
        .iter()
        .map(|&v| T::from(v).unwrap())
        .collect();
    let (mut a, mut b) = (x0.clone(), x0);
    let mut inputs = Inputs::<T>::new(e, trial.h_scale);
    for step in 0..30u64 {
        inputs.at(step);
        assert_eq!(fused.step(&mut a, &inputs, step, true), None, "{what}");
        plain.step_unfused(&mut b, &inputs.h, step);
        for (i, (p, q)) in a.iter().zip(&b).enumerate() {
            assert!(
                p == q,
                "{what}: step {step}, neuron {i}: fused {p}, separate {q}"
            );
        }
    }
}

#[test]
fn the_fused_step_is_the_separate_passes_bit_for_bit() {
    let relu = r#"{ kind = "relu" }"#;
    let tanh = r#"{ kind = "tanh", beta = 1.5 }"#;
    // Four chunks and a tail of 3 on one thread; 68 chunks and a tail, on
    // two threads (above the parallel threshold).
    for n in [4099, 70_001] {
        let e = ring(n, "rate", relu, "euler");
        fused_equals_unfused::<f32>(&e, &format!("ring rate euler f32 N = {n}"));
        fused_equals_unfused::<f64>(&e, &format!("ring rate euler f64 N = {n}"));
        let e = ring(n, "current", tanh, "exponential");
        fused_equals_unfused::<f32>(&e, &format!("ring current exp f32 N = {n}"));
    }
    // Hebbian: a diagonal, current dynamics; P = 300 makes tiles (blocks)
    // of 64 neurons, the register blocks (the fused step's projections by
    // Lanes::dot_block, the separate pass's by Lanes::dot_rows), 16 in each
    // chunk of 1024 and the last one short, and is above the parallel
    // threshold at N = 2001, as is N = 50000 with P = 3.
    for (n, p) in [(4099, 7), (2001, 300), (50_000, 3)] {
        let e = hebbian(n, p, "current");
        fused_equals_unfused::<f32>(&e, &format!("hebbian current f32 N = {n} P = {p}"));
        fused_equals_unfused::<f64>(&e, &format!("hebbian current f64 N = {n} P = {p}"));
        let e = hebbian(n, p, "rate");
        fused_equals_unfused::<f32>(&e, &format!("hebbian rate f32 N = {n} P = {p}"));
    }
    // U != V, a vector input, above the parallel threshold.
    for n in [37, 70_001] {
        fused_equals_unfused::<f32>(&low_rank(n, 3), &format!("low rank f32 N = {n}"));
        fused_equals_unfused::<f64>(&low_rank(n, 5), &format!("low rank f64 N = {n}"));
    }
    fused_equals_unfused::<f32>(&diagonal(37), "diagonal f32 N = 37");
    fused_equals_unfused::<f64>(&diagonal(9), "diagonal f64 N = 9");
}

/// The metrics a fused run takes from its projections equal those of the
/// metrics pass over the final rates (Metrics::compute), to rounding: the
/// sums are the same, added in another order (f64 runs: 1e-12 relative).
#[test]
fn metrics_from_the_projections_equal_the_metrics_pass() {
    let cases = [
        ("ring", ring(4099, "rate", r#"{ kind = "relu" }"#, "euler")),
        (
            "ring current",
            ring(
                40_961,
                "current",
                r#"{ kind = "tanh", beta = 1.5 }"#,
                "euler",
            ),
        ),
        ("hebbian current (energy)", hebbian(2001, 9, "current")),
        ("hebbian rate", hebbian(4099, 4, "rate")),
        ("low rank", low_rank(70_001, 3)),
    ];
    for (what, e) in cases {
        let rec = cpu::run::<f64>(&e, &mut |_| {});
        assert!(rec.divergence.is_none(), "{what}");
        let x = &rec.final_state;
        let mut v = vec![0.0; x.len()];
        cpu::step::rates_of(&e, x, &mut v);
        let h: Vec<f64> = {
            let mut s = Inputs::<f64>::new(&e, 1.0);
            s.at(e.simulation.steps);
            s.h
        };
        let metrics = Metrics::new(&e.network);
        let mv = metrics.needs_mv().then(|| {
            let op = Operator::<f64>::new(&e.network.weights);
            let mut mv = vec![0.0; x.len()];
            op.apply(&v, &mut mv, &mut Vec::new());
            mv
        });
        let want = metrics.compute(&v, x, &h, mv.as_deref());
        let got = rec.metrics.last().unwrap();
        assert_eq!(got.len(), want.len(), "{what}");
        for ((g, w), name) in got.iter().zip(&want).zip(&rec.metric_names) {
            let tol = 1e-12 * w.abs().max(1.0);
            assert!((g - w).abs() <= tol, "{what} {name}: fused {g}, pass {w}");
        }
        // The rates kept are the rates.
        let last = &rec.rates[rec.rates.len() - rec.kept..];
        for (r, vi) in last.iter().zip(&v) {
            assert_eq!(*r, *vi as f32, "{what}: rates");
        }
    }
}

/// Methods with several stages and dense M keep the separate passes.
#[test]
fn rk4_and_dense_steps_are_not_fused() {
    fn fused<T: Real + Matvec>(e: &Experiment) -> bool {
        let op = Arc::new(Operator::<T>::new(&e.network.weights));
        Stepper::<T>::new(e, &Trial::of(e), op).is_fused()
    }
    let mut e = ring(64, "rate", r#"{ kind = "relu" }"#, "rk4");
    assert!(!fused::<f64>(&e));
    e.simulation.method = attractor::sim::Method::Euler;
    assert!(fused::<f64>(&e));
    e.network.weights = Weights::Dense {
        n: 64,
        m: vec![0.01; 64 * 64],
    };
    assert!(!fused::<f32>(&e));
}

/// A trial run alone through the backend steps on rayon's pool, with the
/// pool's other threads kept looking for work through its steps
/// (`sim::cpu::awake`): which thread runs a half of a step changes, the
/// numbers do not. The same bits on pools of one and of three threads as
/// `cpu::run` gives on this thread, noise and records included, for a
/// Hopfield step of register-free wide tiles (P = 100), one of many
/// chunks, both above the parallel threshold, and a dense step whose
/// product forks (N = 300: 90000 entries, over `PARALLEL_WORK`) though its
/// elementwise passes do not.
#[test]
fn a_trial_run_alone_has_the_bits_of_one_thread() {
    use attractor::model::Precision;
    use attractor::sim::cpu::CpuBackend;
    use attractor::sim::Backend;
    let dense = |n: usize| {
        let mut e = ring(n, "rate", r#"{ kind = "relu" }"#, "euler");
        // A non-symmetric M of entries that differ (so that the order of
        // every row's sum shows in the bits).
        let m = (0..n * n)
            .map(|k| ((k * 7919 % 1009) as f64 / 1009.0 - 0.45) * 2.0 / n as f64)
            .collect();
        e.network.weights = Weights::Dense { n, m };
        e
    };
    let cases = [
        (hebbian(2001, 100, "current"), "Hopfield N = 2001, P = 100"),
        (hebbian(50_000, 3, "current"), "Hopfield N = 50000, P = 3"),
        (dense(300), "dense N = 300"),
    ];
    for (mut e, name) in cases {
        e.simulation.precision = Precision::F32;
        let want = cpu::run::<f32>(&e, &mut |_| {});
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut recs = pool
                .install(|| CpuBackend.run_batch(&e, &[Trial::of(&e)], &mut |_| {}))
                .unwrap();
            let got = recs.pop().unwrap();
            let what = format!("{name}, {threads} threads");
            assert_eq!(got.steps_done, want.steps_done, "{what}");
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.final_state), bits(&want.final_state), "{what}");
            assert_eq!(got.metrics, want.metrics, "{what}: metrics");
            assert_eq!(got.rates, want.rates, "{what}: rates");
        }
    }
}

/// A ring's weights (TOML).
const RING: &str = r#"{ kind = "ring", lambda0 = 0.4, lambda1 = 1.7 }"#;

/// A network of `n` neurons with the weights `weights` (TOML), a uniform
/// input and random initial rates, stepped by `method`.
fn network(n: usize, weights: &str, method: &str) -> Experiment {
    exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        activation = {{ kind = "relu" }}
        weights = {weights}
        [[input]]
        kind = "uniform"
        value = 0.2
        [initial]
        kind = "random"
        low = 0.0
        high = 0.5
        seed = 3
        [simulation]
        duration = 0.001
        dt = 0.0001
        method = "{method}"
        "#
    ))
}

/// A step keeps as many other threads awake as it gives work to: where
/// only M's product forks (N under `PARALLEL_N`), as many as its tasks
/// but one, up to the pool's; none where it runs on one thread. Each form
/// on either side of its own threshold, on a pool of 8.
#[test]
fn a_step_keeps_as_many_threads_as_its_product_has_tasks() {
    use attractor::model::{Csr, Factor, Factors, SparseOrigin};
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(8)
        .build()
        .unwrap();
    let dense = |n: usize| {
        let mut e = network(n, RING, "euler");
        e.network.weights = Weights::Dense {
            n,
            m: vec![0.01; n * n],
        };
        e
    };
    // A sparse M of the diagonal's first `nnz` entries and, if `factor`,
    // one factored term over every neuron.
    let sparse = |n: usize, nnz: usize, factor: bool| {
        let mut e = network(n, RING, "euler");
        let idx: Vec<u64> = (0..nnz as u64).collect();
        let csr = Csr::from_triplets(n, &idx, &idx, &vec![0.5; nnz]).unwrap();
        let mut factors = Factors::none(n);
        if factor {
            factors.terms.push(Factor {
                to: 0,
                from: 0,
                coef: 0.1,
                u: vec![1.0; n],
                v: vec![1.0; n],
            });
        }
        e.network.weights = Weights::Sparse {
            n,
            csr: Arc::new(csr),
            origin: SparseOrigin::Data,
            factors: Arc::new(factors),
        };
        e
    };
    let generated = r#"{ kind = "random", g = 0.9, seed = 1, materialise = false }"#;
    let gaussian = r#"{ kind = "gaussian", excitation = 0.6, sigma = 0.6, inhibition = 0.9, sigma_inhibition = 1.6 }"#;
    let cases = [
        // 2^16 entries: 4 blocks of 64 rows, 3 helpers of 7.
        ("dense N = 256", dense(256), 3),
        ("dense N = 255", dense(255), 0),
        ("generated N = 64", network(64, generated, "euler"), 7),
        ("generated N = 63", network(63, generated, "euler"), 0),
        // N P = 2^16: 64 words of units.
        (
            "packed N = 2048, P = 32",
            network(
                2048,
                r#"{ kind = "hebbian", patterns = 32, packed = true }"#,
                "euler",
            ),
            7,
        ),
        (
            "packed N = 2048, P = 31",
            network(
                2048,
                r#"{ kind = "hebbian", patterns = 31, packed = true }"#,
                "euler",
            ),
            0,
        ),
        (
            "convolution side 64",
            network(64 * 64, gaussian, "euler"),
            7,
        ),
        (
            "convolution side 63",
            network(63 * 63, gaussian, "euler"),
            0,
        ),
        // Unfused (rk4): N R from 2^16, 30 chunks of 1024.
        ("ring N = 30000, rk4", network(30_000, RING, "rk4"), 7),
        ("ring N = 1000, rk4", network(1000, RING, "rk4"), 0),
        // 4 blocks a thread from 4096 entries.
        ("sparse nnz = 4096", sparse(5000, 4096, false), 7),
        ("sparse nnz = 4095", sparse(5000, 4095, false), 0),
        // No entries, one term of 9000 neurons: two chunks of 8192.
        ("sparse, a factored term", sparse(9000, 0, true), 1),
    ];
    for (name, e, helpers) in cases {
        let got = pool.install(|| {
            let op = Arc::new(Operator::<f32>::new(&e.network.weights));
            let stepper = Stepper::<f32>::new(&e, &Trial::of(&e), op);
            assert!(!stepper.is_fused(), "{name}: the separate passes");
            stepper.helpers(e.network.n)
        });
        assert_eq!(got, helpers, "{name}");
    }
}

/// Two trials run alone at the same time on one pool (as from two Python
/// threads): one of them keeps the pool's other threads looking for work,
/// neither holds the other's stepping thread, and both end, with the bits
/// of one thread. Repeated, since which thread takes what varies.
#[test]
fn two_lone_trials_at_once_both_end_with_the_same_bits() {
    use attractor::model::Precision;
    use attractor::sim::cpu::CpuBackend;
    use attractor::sim::Backend;
    let mut e = hebbian(2001, 100, "current");
    e.simulation.precision = Precision::F32;
    let want = cpu::run::<f32>(&e, &mut |_| {});
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    for round in 0..5 {
        let run = || CpuBackend.run_batch(&e, &[Trial::of(&e)], &mut |_| {});
        let (a, b) = pool.install(|| rayon::join(run, run));
        for rec in [a.unwrap().pop().unwrap(), b.unwrap().pop().unwrap()] {
            assert_eq!(
                bits(&rec.final_state),
                bits(&want.final_state),
                "round {round}"
            );
            assert_eq!(rec.metrics, want.metrics, "round {round}: metrics");
        }
    }
}
