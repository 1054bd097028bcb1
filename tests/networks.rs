//! Ring and Hopfield networks: structure, energy, convergence, eigenmodes.

mod common;
use attractor::analysis::modes::{analyse, Regime};
use attractor::model::{theta, Weights};
use attractor::sim::cpu::operator::Operator;
use common::*;
use proptest::prelude::*;

fn dense_apply(m: &[f64], x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| (0..n).map(|j| m[i * n + j] * x[j]).sum())
        .collect()
}

fn structured_apply(w: &Weights, x: &[f64]) -> Vec<f64> {
    let op = Operator::<f64>::new(w);
    let mut y = vec![0.0; x.len()];
    op.apply(x, &mut y, &mut Vec::new());
    y
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The ring operator equals the dense kernel of SPEC §1 built entry by entry.
    /// Both sum N products of size ~1 in f64: rounding ~ N * 1e-16 ≪ 1e-11.
    #[test]
    fn ring_operator_equals_dense_kernel(n in 3usize..512, l0 in -2.0f64..2.0, l1 in -3.0f64..3.0, seed in 0u64..1000) {
        let w = Weights::Ring { n, lambda0: l0, lambda1: l1 };
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                m[i * n + j] = 2.0 / n as f64 * (-l0 + l1 * (theta(i, n) - theta(j, n)).cos());
            }
        }
        let x: Vec<f64> = (0..n).map(|i| attractor::rng::uniform_at(seed, attractor::rng::Stream::InitialRandom, i as u32, 0) - 0.5).collect();
        let a = structured_apply(&w, &x);
        let b = dense_apply(&m, &x);
        for i in 0..n {
            prop_assert!((a[i] - b[i]).abs() < 1e-11, "n={} i={}: {} vs {}", n, i, a[i], b[i]);
        }
    }

    /// The Hebbian operator equals (1/N) sum xi xi^T with the diagonal zeroed.
    #[test]
    fn hebbian_operator_equals_dense_outer_products(n in 2usize..512, p in 1usize..12, seed in 0u64..1000) {
        let xi = attractor::experiment::random_patterns(n, p, seed);
        let w = Weights::Hebbian { n, p, xi: xi.clone() };
        let mut m = vec![0.0; n * n];
        for mu in 0..p {
            for i in 0..n {
                for j in 0..n {
                    if i != j {
                        m[i * n + j] += xi[mu * n + i] * xi[mu * n + j] / n as f64;
                    }
                }
            }
        }
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let a = structured_apply(&w, &x);
        let b = dense_apply(&m, &x);
        for i in 0..n {
            prop_assert!((a[i] - b[i]).abs() < 1e-11, "n={} p={} i={}: {} vs {}", n, p, i, a[i], b[i]);
        }
        // The dense form the library builds agrees too.
        let d = w.to_dense();
        for k in 0..n * n {
            prop_assert!((d[k] - m[k]).abs() < 1e-12);
        }
    }
}

const HOPFIELD: &str = r#"
    [network]
    n = 400
    tau = 0.01
    dynamics = "current"
    activation = { kind = "tanh", beta = 4.0 }
    weights = { kind = "hebbian", patterns = 8, seed = 3 }
    [[input]]
    kind = "pattern"
    index = 1
    scale = 0.05
    [initial]
    kind = "random"
    low = -0.5
    high = 0.5
    [simulation]
    duration = 0.3
    dt = 0.0001
    method = "rk4"
    seed = 9
    "#;

#[test]
fn hopfield_energy_never_increases_along_rk4() {
    let r = run(&exp(HOPFIELD));
    let e = r
        .metric("energy")
        .expect("hebbian current tanh networks record the energy");
    let scale = e.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    // dL/dt ≤ 0 exactly; rk4 at dt/tau = 0.01 follows the flow to ~1e-10
    // per step, and f64 sums of 400 terms round at ~1e-13 * scale.
    for k in 1..e.len() {
        assert!(
            e[k] <= e[k - 1] + 1e-10 * scale,
            "energy rose at record {k}: {} -> {}",
            e[k - 1],
            e[k]
        );
    }
    assert!(
        e[e.len() - 1] < e[0] - 0.1 * scale,
        "the energy falls substantially: {} -> {}",
        e[0],
        e[e.len() - 1]
    );
}

#[test]
fn hopfield_energy_matches_definition_at_start() {
    // At t = 0 recompute L = -1/2 v.Mv - h.v + sum (v I - ln cosh(beta I)/beta)
    // from the initial state with a dense M: same f64 sums, 1e-9 relative.
    let e = exp(HOPFIELD);
    let r = run(&e);
    let beta = 4.0;
    let x = &e.initial;
    let v: Vec<f64> = x.iter().map(|i| (beta * i).tanh()).collect();
    let mv = dense_apply(&e.network.weights.to_dense(), &v);
    let h = &e.inputs[0].h;
    let mut want = 0.0;
    for i in 0..v.len() {
        want += -0.5 * v[i] * mv[i] - h[i] * v[i] + v[i] * x[i] - (beta * x[i]).cosh().ln() / beta;
    }
    let got = r.metric("energy").unwrap()[0];
    close(got, want, 1e-9 * want.abs(), "energy at t = 0");
}

#[test]
fn pattern_cue_is_recalled() {
    // A cue of pattern 0 with 20% flipped recalls it: overlap_0 -> ~1.
    // N = 1000, P = 10 (load 0.01) is far below capacity; beta = 4 gives
    // tanh(4 * m) ≈ 0.999 for m ≈ 1, so the overlap ends above 0.95.
    let e = exp(r#"
        [network]
        n = 1000
        tau = 0.01
        dynamics = "current"
        activation = { kind = "tanh", beta = 4.0 }
        weights = { kind = "hebbian", patterns = 10 }
        [initial]
        kind = "pattern"
        index = 0
        flip = 0.2
        seed = 1
        [simulation]
        duration = 0.2
        dt = 0.0005
        "#);
    let r = run(&e);
    let m0 = r.metric("overlap_0").unwrap();
    // The cue's overlap: tanh(4) * (1 - 2 * 0.2) = 0.6 * 0.9993.
    close(m0[0], 0.6 * 4.0f64.tanh(), 1e-12, "cue overlap");
    assert!(
        *m0.last().unwrap() > 0.95,
        "recall overlap {}",
        m0.last().unwrap()
    );
    let others = r.metric("overlap_3").unwrap();
    assert!(others.last().unwrap().abs() < 0.2);
}

/// Steady bump of a rectified ring (lambda1 = 1.9, amplification) at N
/// neurons, driven by a fully tuned input centred on a grid point (theta =
/// 0 is neuron N/2 at every N) so that no grid pins or shifts it.
fn ring_profile(n: usize) -> Vec<f64> {
    let e = exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        activation = {{ kind = "relu" }}
        weights = {{ kind = "ring", lambda0 = 0.5, lambda1 = 1.9 }}
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 1.0
        theta = 0.0
        [simulation]
        duration = 0.5
        dt = 0.0002
        method = "rk4"
        record_every = 100000
        "#
    ));
    run(&e).final_state
}

#[test]
fn ring_bump_profile_converges_as_n_doubles() {
    // Error of the steady bump at N, 2N, 4N, 8N against N = 2048, on the
    // coarse grid (neuron i at N is neuron i * N' / N at N').
    let sizes = [64usize, 128, 256, 512];
    let reference = ring_profile(2048);
    let coarse = sizes[0];
    let errs: Vec<f64> = sizes
        .iter()
        .map(|&n| {
            let p = ring_profile(n);
            (0..coarse)
                .map(|i| (p[i * n / coarse] - reference[i * 2048 / coarse]).abs())
                .fold(0.0, f64::max)
        })
        .collect();
    for (n, e) in sizes.iter().zip(&errs) {
        println!("N = {n:>4}: max |v_N - v_2048| = {e:.3e}");
    }
    // The N-point sum approximates the continuum integral of a profile with
    // two kinks (the rectification edges): the error must fall with every
    // doubling and end below 1e-5 of the bump's height (~1) at N = 512.
    for k in 1..errs.len() {
        assert!(errs[k] < errs[k - 1], "no convergence: {errs:?}");
    }
    assert!(errs[errs.len() - 1] < 1e-5, "{errs:?}");
}

#[test]
fn ring_bump_metrics_locate_the_input() {
    let e = exp(r#"
        [network]
        n = 256
        tau = 0.01
        activation = { kind = "relu" }
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.9 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.2
        theta = -1.9634954084936207
        [simulation]
        duration = 0.3
        dt = 0.0005
        "#);
    let r = run(&e);
    let th = r.metric("bump_theta").unwrap();
    // theta0 = theta_48 lies on the grid, so the profile is symmetric about
    // it and the angle is exact up to rounding (1e-9). Off the grid the
    // rectified profile's harmonics alias and shift it by ~1e-5.
    close(*th.last().unwrap(), -1.9634954084936207, 1e-9, "bump angle");
    let amp = *r.metric("bump_amplitude").unwrap().last().unwrap();
    let v = &r.final_state;
    let (c, s) = (0..256).fold((0.0, 0.0), |(c, s), i| {
        (
            c + v[i] * theta(i, 256).cos(),
            s + v[i] * theta(i, 256).sin(),
        )
    });
    close(
        amp,
        2.0 / 256.0 * f64::hypot(c, s),
        1e-12,
        "bump amplitude definition",
    );
}

#[test]
fn structured_ring_run_equals_dense_matrix_run() {
    // The same ring given as kind = "matrix" (built from the SPEC formula) and
    // as kind = "ring": same trajectory to f64 rounding (1e-10 over 400 steps
    // of a contracting network).
    let n = 48;
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let r: Vec<String> = (0..n)
                .map(|j| {
                    format!(
                        "{:e}",
                        2.0 / n as f64 * (-0.5 + 1.9 * (theta(i, n) - theta(j, n)).cos())
                    )
                })
                .collect();
            format!("[{}]", r.join(", "))
        })
        .collect();
    let body = |w: String| {
        format!(
            r#"
            [network]
            n = {n}
            tau = 0.01
            activation = {{ kind = "relu" }}
            weights = {w}
            [[input]]
            kind = "bump"
            c = 1.0
            epsilon = 0.3
            theta = 0.7
            [simulation]
            duration = 0.2
            dt = 0.0005
            noise = 0.1
            method = "rk4"
            "#
        )
    };
    let ring = run(&exp(&body(
        r#"{ kind = "ring", lambda0 = 0.5, lambda1 = 1.9 }"#.into(),
    )));
    let dense = run(&exp(&body(format!(
        r#"{{ kind = "matrix", rows = [{}] }}"#,
        rows.join(", ")
    ))));
    all_close(
        &ring.final_state,
        &dense.final_state,
        1e-10,
        "ring vs dense",
    );
}

#[test]
fn modes_of_ring_come_from_structure() {
    let e = exp(r#"
        [network]
        n = 1000000
        tau = 0.01
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.9 }
        [simulation]
        duration = 0.01
        dt = 0.001
        "#);
    let r = analyse(&e).unwrap();
    // lambda1 twice (cos, sin), -2 lambda0 once, 0 for the other N - 3.
    let got: Vec<(f64, usize)> = r
        .modes
        .iter()
        .map(|m| (m.eigenvalue_re, m.multiplicity))
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    close(got[0].0, 1.9, 1e-9, "cos/sin eigenvalue");
    assert_eq!(got[0].1, 2);
    close(got[1].0, 0.0, 1e-9, "other modes");
    assert_eq!(got[1].1, 1_000_000 - 3);
    close(got[2].0, -1.0, 1e-9, "uniform mode");
    assert_eq!(r.modes[0].regime, Regime::Growing);
}

#[test]
fn modes_of_hebbian_match_a_dense_solve() {
    // Structure (P×P Gram) against nalgebra's dense symmetric solver on the
    // same M: both f64, eigenvalues of size ~P/N; 1e-10 absolute.
    let e = exp(r#"
        [network]
        n = 120
        tau = 0.01
        weights = { kind = "hebbian", patterns = 6, seed = 2 }
        [simulation]
        duration = 0.01
        dt = 0.001
        "#);
    let r = analyse(&e).unwrap();
    let mut structured: Vec<f64> = r
        .modes
        .iter()
        .flat_map(|m| std::iter::repeat_n(m.eigenvalue_re, m.multiplicity))
        .collect();
    let dense = nalgebra::DMatrix::from_row_slice(120, 120, &e.network.weights.to_dense());
    let mut want: Vec<f64> = dense.symmetric_eigenvalues().iter().copied().collect();
    structured.sort_by(|a, b| a.partial_cmp(b).unwrap());
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    all_close(&structured, &want, 1e-10, "hebbian spectrum");
}

#[test]
fn mutual_excitation_modes() {
    let e = exp(r#"
        [network]
        n = 2
        tau = 0.01
        weights = { kind = "matrix", rows = [[0.0, 0.8], [0.8, 0.0]] }
        [[input]]
        kind = "vector"
        values = [1.0, 1.0]
        [simulation]
        duration = 0.01
        dt = 0.001
        "#);
    let r = analyse(&e).unwrap();
    assert!(r.symmetric);
    // Dense symmetric solver in f64: 1e-12.
    close(r.modes[0].eigenvalue_re, 0.8, 1e-12, "lambda+");
    close(r.modes[0].gain.unwrap(), 5.0, 1e-11, "gain 5");
    close(r.modes[0].time_constant.unwrap(), 0.05, 1e-13, "5 tau");
    close(r.modes[1].eigenvalue_re, -0.8, 1e-12, "lambda-");
    close(r.modes[1].gain.unwrap(), 1.0 / 1.8, 1e-12, "gain 1/1.8");
    close(
        r.modes[1].time_constant.unwrap(),
        0.01 / 1.8,
        1e-14,
        "tau/1.8",
    );
    let ss = r.steady_states[0].values.as_ref().unwrap();
    all_close(ss, &[5.0, 5.0], 1e-12, "(I - M)^-1 h");
}

#[test]
fn nonsymmetric_matrix_reports_oscillating_modes() {
    // M = [[0, -w], [w, 0]] has eigenvalues ±i w: decaying with tau, oscillating with period 2 pi tau / w.
    let e = exp(r#"
        [network]
        n = 2
        tau = 0.01
        weights = { kind = "matrix", rows = [[0.0, -2.0], [2.0, 0.0]] }
        [simulation]
        duration = 0.01
        dt = 0.001
        "#);
    let r = analyse(&e).unwrap();
    assert!(!r.symmetric);
    assert_eq!(r.modes.len(), 2);
    for m in &r.modes {
        close(m.eigenvalue_re, 0.0, 1e-12, "Re");
        close(m.eigenvalue_im.abs(), 2.0, 1e-12, "Im");
        close(
            m.period.unwrap(),
            2.0 * std::f64::consts::PI * 0.01 / 2.0,
            1e-14,
            "period",
        );
        assert_eq!(m.regime, Regime::Decaying);
    }
}

#[test]
fn structured_steady_state_matches_dense_solve() {
    // Woodbury on diag + U V^T against an LU solve of the dense I - M, both f64.
    let e = exp(r#"
        [network]
        n = 90
        tau = 0.01
        weights = { kind = "ring", lambda0 = 0.7, lambda1 = 0.6 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.4
        theta = 1.1
        [simulation]
        duration = 0.01
        dt = 0.001
        "#);
    let r = analyse(&e).unwrap();
    let ss = r.steady_states[0].values.as_ref().unwrap();
    let n = 90;
    let m = nalgebra::DMatrix::from_row_slice(n, n, &e.network.weights.to_dense());
    let a = nalgebra::DMatrix::identity(n, n) - m;
    let want = a
        .lu()
        .solve(&nalgebra::DVector::from_column_slice(&e.inputs[0].h))
        .unwrap();
    all_close(ss, want.as_slice(), 1e-12, "steady state");
}

#[test]
fn a_million_neuron_ring_runs_in_structured_form() {
    // A dense M at N = 10^6 would need 8 TB; the ring's rank-3 form needs a
    // few vectors. Twenty steps; the bump's angle must be the input's.
    let e = exp(r#"
        [network]
        n = 1000000
        tau = 0.01
        activation = { kind = "relu" }
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.9 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.2
        theta = 0.5
        [simulation]
        duration = 0.01
        dt = 0.0005
        record_every = 10
        [record]
        stride = 1000
        "#);
    let r = run(&e);
    assert_eq!(r.steps_done, 20);
    assert_eq!(r.kept, 1000);
    close(
        *r.metric("bump_theta").unwrap().last().unwrap(),
        0.5,
        1e-9,
        "bump angle at N = 10^6",
    );
}

#[test]
fn metrics_from_sums_equal_metrics_from_the_state() {
    // The GPU reduces sums over neurons and builds the metrics from them
    // (Metrics::from_sums); here the sums are formed in f64 from a state
    // and must give what Metrics::compute gives: 1e-12 relative.
    use attractor::analysis::metrics::Metrics;
    for toml in [
        HOPFIELD.to_string(),
        HOPFIELD.replace("dynamics = \"current\"", "dynamics = \"rate\""),
        r#"
        [network]
        n = 90
        tau = 0.01
        weights = { kind = "ring", lambda1 = 1.0 }
        [initial]
        kind = "random"
        [simulation]
        duration = 0.01
        dt = 0.001
        "#
        .to_string(),
    ] {
        let e = exp(&toml);
        let m = Metrics::new(&e.network);
        let layout = m.sum_layout();
        let x = &e.initial;
        let act = e.network.activation;
        let current = e.network.dynamics == attractor::model::Dynamics::Current;
        let v: Vec<f64> = x
            .iter()
            .map(|&xi| if current { act.apply(xi) } else { xi })
            .collect();
        let h = e.inputs.first().map_or(vec![0.0; v.len()], |i| i.h.clone());
        let n = v.len();
        let mut sums = vec![v.iter().sum::<f64>()];
        match &e.network.weights {
            Weights::Ring { .. } => {
                sums.push((0..n).map(|i| theta(i, n).cos() * v[i]).sum());
                sums.push((0..n).map(|i| theta(i, n).sin() * v[i]).sum());
            }
            Weights::Hebbian { p, xi, .. } => {
                for mu in 0..*p {
                    sums.push((0..n).map(|i| xi[mu * n + i] * v[i]).sum());
                }
                if layout.energy {
                    let d = Weights::hebbian_self_coupling(n, *p, xi);
                    sums.push((0..n).map(|i| -d[i] * v[i] * v[i]).sum());
                    sums.push((0..n).map(|i| h[i] * v[i]).sum());
                    let beta = 4.0;
                    sums.push(
                        (0..n)
                            .map(|i| {
                                v[i] * x[i]
                                    - attractor::analysis::metrics::ln_cosh(beta * x[i]) / beta
                            })
                            .sum(),
                    );
                }
            }
            _ => unreachable!(),
        }
        assert_eq!(sums.len(), layout.len());
        let mv = dense_apply(&e.network.weights.to_dense(), &v);
        let want = m.compute(&v, x, &h, Some(&mv));
        let got = m.from_sums(&sums, 1.0);
        for (g, w) in got.iter().zip(&want) {
            close(*g, *w, 1e-12 * w.abs().max(1.0), "metric from sums");
        }
    }
}
