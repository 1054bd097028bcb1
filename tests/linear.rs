//! Linear networks against their exact solutions.

mod common;
use common::*;
use nalgebra::{DMatrix, DVector};

/// Exact v(t) = v* + exp((M - I) t / tau)(v0 - v*) for symmetric M, by eigen-decomposition.
fn exact(m: &DMatrix<f64>, h: &DVector<f64>, v0: &DVector<f64>, tau: f64, t: f64) -> DVector<f64> {
    let n = m.nrows();
    let vstar = (DMatrix::identity(n, n) - m).lu().solve(h).unwrap();
    let e = m.clone().symmetric_eigen();
    let decay = DMatrix::from_diagonal(&e.eigenvalues.map(|l| ((l - 1.0) * t / tau).exp()));
    let prop = &e.eigenvectors * decay * e.eigenvectors.transpose();
    &vstar + prop * (v0 - &vstar)
}

fn two_neuron(method: &str, dt: f64, duration: f64) -> Vec<f64> {
    let e = exp(&format!(
        r#"
        [network]
        n = 2
        tau = 0.02
        weights = {{ kind = "matrix", rows = [[-0.3, 0.5], [0.5, 0.2]] }}
        [[input]]
        kind = "vector"
        values = [1.0, -0.5]
        [initial]
        kind = "vector"
        values = [0.2, 0.1]
        [simulation]
        duration = {duration}
        dt = {dt}
        method = "{method}"
        record_every = 1000000
        "#
    ));
    run(&e).final_state
}

fn two_neuron_exact(t: f64) -> Vec<f64> {
    let m = DMatrix::from_row_slice(2, 2, &[-0.3, 0.5, 0.5, 0.2]);
    exact(
        &m,
        &DVector::from_vec(vec![1.0, -0.5]),
        &DVector::from_vec(vec![0.2, 0.1]),
        0.02,
        t,
    )
    .iter()
    .copied()
    .collect()
}

#[test]
fn rk4_matches_matrix_exponential() {
    // dt/tau = 0.01; RK4's global error is O((dt/tau)^4) ≈ 1e-8 times the
    // solution's scale (~1) before constants, and in practice far smaller:
    // 1e-9 leaves room for the constant while still failing any first- or
    // second-order scheme by orders of magnitude.
    let got = two_neuron("rk4", 0.0002, 0.05);
    all_close(
        &got,
        &two_neuron_exact(0.05),
        1e-9,
        "rk4 vs exp((M-I)t/tau)",
    );
}

#[test]
fn exponential_euler_converges_at_first_order_to_the_exact_solution() {
    // Exponential Euler is exact for the leak and first order in the
    // coupling: its error must be small and halve when dt halves.
    let t = 0.05;
    let ex = two_neuron_exact(t);
    let err = |dt: f64| {
        let got = two_neuron("exponential", dt, t);
        got.iter()
            .zip(&ex)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    let (e1, e2, e3) = (err(0.0004), err(0.0002), err(0.0001));
    // dt/tau = 0.02 and |M| < 1: the error is below dt/tau times the scale of v (~1).
    assert!(e1 < 0.02, "error {e1} at dt = 0.4 ms");
    for (a, b) in [(e1, e2), (e2, e3)] {
        let ratio = a / b;
        assert!(
            (1.8..2.2).contains(&ratio),
            "first-order convergence expected, error ratio {ratio}"
        );
    }
}

#[test]
fn mutual_excitation_gains_and_time_constants() {
    let base = r#"
        [network]
        n = 2
        tau = 0.01
        weights = { kind = "matrix", rows = [[0.0, 0.8], [0.8, 0.0]] }
        [[input]]
        kind = "vector"
        values = [1.0, 1.0]
        [simulation]
        duration = 1.0
        dt = 0.0001
        method = "rk4"
        record_every = 500
        "#;
    // Along (1, 1): eigenvalue 0.8, gain 5, time constant 5 tau = 0.05 s.
    // After 1 s = 20 time constants the residual is e^-20 ≈ 2e-9 of the
    // final value; rk4 at dt/tau = 0.01 adds ~1e-10.
    let r = run(&exp(base));
    all_close(
        &r.final_state,
        &[5.0, 5.0],
        1e-7,
        "steady state along (1,1)",
    );
    // At t = 5 tau = 0.05 s (record 1) the mode reached 1 - e^-1 of its final value.
    let v = r.metric("mean_rate").unwrap();
    close(r.t[1], 0.05, 1e-12, "record time");
    close(
        v[1],
        5.0 * (1.0 - (-1.0f64).exp()),
        1e-8,
        "(1,1) mode after one time constant",
    );
    // Along (1, -1): eigenvalue -0.8, gain 1/1.8, time constant tau/1.8.
    let r = run(&exp_with(
        base,
        &["input.0.values=[1.0, -1.0]", "simulation.duration=0.2"],
    ));
    all_close(
        &r.final_state,
        &[1.0 / 1.8, -1.0 / 1.8],
        1e-9,
        "steady state along (1,-1)",
    );
    let r = run(&exp_with(
        base,
        &[
            "input.0.values=[1.0, -1.0]",
            "simulation.duration=0.0055555555555555555",
            "simulation.dt=0.000005555555555555556",
        ],
    ));
    close(
        r.final_state[0],
        (1.0 - (-1.0f64).exp()) / 1.8,
        1e-9,
        "(1,-1) mode after tau/1.8",
    );
}

#[test]
fn autapse_at_lambda_one_integrates_and_holds() {
    // v grows by h T / tau while the input is on (h = 0.5, T = 0.1 s,
    // tau = 0.01 s: +5) and holds after it ends. Euler is exact here (the
    // derivative is constant), so only rounding remains: 1e-12 relative.
    let e = exp(r#"
        [network]
        n = 1
        tau = 0.01
        weights = { kind = "diagonal", values = [1.0] }
        [[input]]
        start = 0.0
        end = 0.1
        kind = "uniform"
        value = 0.5
        [simulation]
        duration = 0.5
        dt = 0.001
        record_every = 10
        "#);
    let r = run(&e);
    let v = r.metric("mean_rate").unwrap();
    for (t, v) in r.t.iter().zip(&v) {
        let want = 0.5 * t.min(0.1) / 0.01;
        close(*v, want, 1e-11, &format!("integrator at t = {t}"));
    }
}

#[test]
fn lambda_above_one_grows_exponentially() {
    // v(t) = e^{(lambda - 1) t / tau} with lambda = 1.5: rk4 at dt/tau = 0.01
    // has relative error ~ (dt/tau)^4 * growth ≈ 1e-9 over 10 time constants.
    let e = exp(r#"
        [network]
        n = 1
        tau = 0.01
        weights = { kind = "diagonal", values = [1.5] }
        [initial]
        kind = "uniform"
        value = 1.0
        [simulation]
        duration = 0.2
        dt = 0.0001
        method = "rk4"
        record_every = 100
        "#);
    let r = run(&e);
    for (t, v) in r.t.iter().zip(r.metric("mean_rate").unwrap()) {
        let want = (0.5 * t / 0.01).exp();
        close(v / want, 1.0, 1e-9, &format!("growth at t = {t}"));
    }
}

fn noisy_variance(lambda: f64) -> (f64, f64, usize) {
    let n = 20000;
    let e = exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        weights = {{ kind = "diagonal", values = [{}] }}
        [simulation]
        duration = 0.3
        dt = 0.0001
        noise = 0.5
        seed = 11
        record_every = 1000000
        [record]
        rates = false
        "#,
        vec![lambda.to_string(); n].join(", ")
    ));
    let x = run(&e).final_state;
    let mean = x.iter().sum::<f64>() / n as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let a: f64 = 0.0001 / 0.01;
    // Euler–Maruyama's exact stationary variance for this step:
    // sigma^2 / ((1 - lambda)(2 - a(1 - lambda))), within 0.5% of the
    // continuous sigma^2 / (2(1 - lambda)) at a = 0.01.
    let discrete = 0.25 / ((1.0 - lambda) * (2.0 - a * (1.0 - lambda)));
    (var, discrete, n)
}

#[test]
fn stationary_variance_of_an_isolated_noisy_neuron_is_sigma_squared_over_two() {
    // 20000 independent neurons, 30 time constants after the start (the
    // initial transient is e^-60): the sample variance has standard error
    // var * sqrt(2 / n) = 1%; 4 standard errors plus the 0.5% step bias.
    let (var, discrete, n) = noisy_variance(0.0);
    let sigma2_over_2 = 0.125;
    close(
        discrete,
        sigma2_over_2,
        0.006 * sigma2_over_2,
        "discrete vs continuous",
    );
    let se = discrete * (2.0 / n as f64).sqrt();
    close(
        var,
        sigma2_over_2,
        4.0 * se + 0.006 * sigma2_over_2,
        "variance",
    );
}

#[test]
fn stationary_variance_of_a_mode_is_sigma_squared_over_two_one_minus_lambda() {
    // Each neuron of diag(lambda) is a mode of eigenvalue lambda = 0.6: its
    // variance is sigma^2 / (2 (1 - 0.6)) = 0.3125; it relaxes with
    // tau / 0.4 so 0.3 s is 12 relaxation times. Tolerances as above.
    let (var, discrete, n) = noisy_variance(0.6);
    let theory = 0.25 / (2.0 * 0.4);
    let se = discrete * (2.0 / n as f64).sqrt();
    close(var, theory, 4.0 * se + 0.006 * theory, "mode variance");
}

#[test]
fn noise_is_reproducible_and_seeded() {
    let toml = r#"
        [network]
        n = 64
        tau = 0.01
        activation = { kind = "tanh" }
        weights = { kind = "ring", lambda1 = 1.5 }
        [simulation]
        duration = 0.05
        dt = 0.0005
        noise = 0.3
        seed = 5
        "#;
    let a = run(&exp(toml));
    let b = run(&exp(toml));
    assert_eq!(a.rates, b.rates, "same file, same seed: identical numbers");
    assert_eq!(a.metrics, b.metrics);
    let c = run(&exp_with(toml, &["simulation.seed=6"]));
    assert_ne!(a.rates, c.rates, "another seed gives other noise");
}

#[test]
fn f32_precision_tracks_f64() {
    // Same run in f32 and f64: a stable network forgets rounding, so the
    // difference stays at f32 rounding times the gain (~1e-6 * 5).
    let e = exp(r#"
        [network]
        n = 2
        tau = 0.01
        weights = { kind = "matrix", rows = [[0.0, 0.8], [0.8, 0.0]] }
        [[input]]
        kind = "vector"
        values = [1.0, 0.3]
        [simulation]
        duration = 0.3
        dt = 0.0005
        method = "rk4"
        "#);
    let a = run(&e);
    let b = run32(&e);
    assert_eq!(b.precision, "f32");
    all_close(&a.final_state, &b.final_state, 5e-5, "f32 vs f64");
}

/// A network decaying to rest holds no subnormal number. In floating
/// point, Euler's v - (dt/tau) v rounds back to v once v is a few ulps
/// above zero in the subnormal range (below 10 ulps at dt/tau = 0.05), so
/// without flushing the neurons stop there, and an x86 core pays ~100
/// cycles for each operation on such a number (a ring of 65536 stepped 11
/// to 12 times slower). The CPU backend flushes subnormals to zero on
/// x86-64, as GPUs do in f32 (`sim::cpu::subnormal`), on the pool and on a
/// calling thread that steps, whose own mode comes back after the run.
/// (Flushed, (dt/tau) v becomes zero first, so v stops at about 20 times
/// the smallest normal number: as fast to step as any other.)
#[test]
#[cfg(target_arch = "x86_64")]
fn a_decaying_network_holds_no_subnormal_number() {
    use attractor::sim::cpu::subnormal::flushing;
    use attractor::sim::{cpu::CpuBackend, Backend, Trial};
    // M = 0 (a ring with both lambdas 0, the fused step) and a dense 2 x 2
    // M with eigenvalues 0.1 and 0 (the separate passes): each neuron
    // decays by at least 0.955 a step from at most 1, so it would be below
    // f32's smallest normal (1.2e-38) after 1900 steps and below f64's
    // (2.2e-308) after 15400; 20000 steps leave room.
    let cases = [
        (
            "ring",
            r#"{ kind = "ring", lambda0 = 0.0, lambda1 = 0.0 }"#,
            64,
        ),
        (
            "matrix",
            r#"{ kind = "matrix", rows = [[0.1, 0.0], [0.0, 0.0]] }"#,
            2,
        ),
    ];
    for (what, weights, n) in cases {
        let text = format!(
            r#"
            [network]
            n = {n}
            tau = 0.01
            activation = {{ kind = "relu" }}
            weights = {weights}
            [initial]
            kind = "random"
            low = 0.5
            high = 1.0
            seed = 4
            [simulation]
            duration = 10.0
            dt = 0.0005
            record_every = 1000000
            "#
        );
        let e = exp(&text);
        assert!(!flushing(), "the test thread starts with IEEE subnormals");
        let r64 = run(&e);
        let r32 = run32(&e);
        assert!(!flushing(), "{what}: the calling thread's mode came back");
        assert_eq!(r64.steps_done, 20_000);
        // Zero or normal; and far below where the neurons started.
        let normal64 = |v: f64| v == 0.0 || (v.abs() >= f64::MIN_POSITIVE && v.abs() < 1e-300);
        let normal32 =
            |v: f64| v == 0.0 || (v.abs() >= f32::MIN_POSITIVE as f64 && v.abs() < 1e-35);
        let f64_state = &r64.final_state;
        assert!(
            f64_state.iter().all(|&v| normal64(v)),
            "{what} f64: {f64_state:?}"
        );
        let f32_state = &r32.final_state;
        assert!(
            f32_state.iter().all(|&v| normal32(v)),
            "{what} f32: {f32_state:?}"
        );
        // The same through the backend, whose trials step on rayon's pool.
        for precision in ["f32", "f64"] {
            let e = exp_with(&text, &[&format!("simulation.precision={precision}")]);
            let recs = CpuBackend
                .run_batch(&e, &[Trial::of(&e)], &mut |_| {})
                .unwrap();
            let normal = if precision == "f32" {
                normal32
            } else {
                normal64
            };
            let state = &recs[0].final_state;
            assert!(
                state.iter().all(|&v| normal(v)),
                "{what} {precision} on the pool: {state:?}"
            );
        }
    }
}
