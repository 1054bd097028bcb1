//! Every model feature of SPEC §1: activations, weights from files, low-rank
//! weights, inputs and initial states from files, cues and bumps.

mod common;
use attractor::model::Activation;
use attractor::output::write_npy_f32;
use common::*;
use std::path::Path;

fn write_f64(path: &Path, shape: &[u64], data: &[f64], fortran: bool) {
    use npyz::WriterBuilder;
    let mut f = std::fs::File::create(path).unwrap();
    let opts = npyz::WriteOptions::new().default_dtype().shape(shape);
    let opts = if fortran {
        opts.order(npyz::Order::Fortran)
    } else {
        opts
    };
    let mut w = opts.writer(&mut f).begin_nd().unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

#[test]
fn activations_follow_their_definitions() {
    let cases: Vec<(Activation, f64, f64)> = vec![
        (Activation::Linear {}, -1.5, -1.5),
        (Activation::Relu {}, -1.5, 0.0),
        (Activation::Relu {}, 2.0, 2.0),
        (Activation::Tanh { beta: 2.0 }, 0.3, (0.6f64).tanh()),
        (
            Activation::Sigmoid {
                beta: 3.0,
                threshold: 0.5,
            },
            0.7,
            1.0 / (1.0 + (-0.6f64).exp()),
        ),
        (
            Activation::Clip {
                min: -0.5,
                max: 2.0,
            },
            -3.0,
            -0.5,
        ),
        (
            Activation::Clip {
                min: -0.5,
                max: 2.0,
            },
            1.2,
            1.2,
        ),
        (
            Activation::Clip {
                min: -0.5,
                max: 2.0,
            },
            9.0,
            2.0,
        ),
        (Activation::Step { threshold: 0.2 }, 0.2, 0.0),
        (Activation::Step { threshold: 0.2 }, 0.21, 1.0),
    ];
    for (a, x, want) in cases {
        // Same formula in f64; f32 rounds to 1e-7 relative.
        close(a.apply(x), want, 1e-15, &format!("{a:?} at {x}"));
        close(
            a.apply(x as f32) as f64,
            want,
            2e-7,
            &format!("{a:?} at {x} in f32"),
        );
    }
}

#[test]
fn nonlinear_steady_states_solve_their_fixed_point_equations() {
    // One neuron, no recurrence: v* = F(h) for rate dynamics, I* = h for
    // current dynamics with v* = F(h). 30 time constants: residual e^-30.
    for (act, h) in [
        ("{ kind = \"sigmoid\", beta = 2.0, threshold = 0.3 }", 0.9),
        ("{ kind = \"step\", threshold = 0.5 }", 0.9),
        ("{ kind = \"tanh\", beta = 1.5 }", -0.4),
    ] {
        let toml = format!(
            r#"
            [network]
            n = 1
            tau = 0.01
            activation = {act}
            weights = {{ kind = "diagonal", values = [0.0] }}
            [[input]]
            kind = "uniform"
            value = {h}
            [simulation]
            duration = 0.3
            dt = 0.0001
            method = "exponential"
            "#
        );
        let e = exp(&toml);
        let want = e.network.activation.apply(h);
        close(run(&e).final_state[0], want, 1e-12, act);
        let r = run(&exp_with(&toml, &["network.dynamics=current"]));
        close(r.final_state[0], h, 1e-12, "current I* = h");
        close(
            *r.metric("mean_rate").unwrap().last().unwrap(),
            want,
            1e-12,
            "rates v = F(I)",
        );
    }
}

#[test]
fn file_and_low_rank_weights_equal_inline_matrix() {
    // M = U V^T with U, V 5×2 from .npy files (f64 C order and f32), and the
    // same M as a .npy (f64, Fortran order) and inline: the three runs agree to
    // f64 rounding, up to the f32 rounding of V (1e-7 relative; M entries
    // ~0.3, 200 contracting steps: 1e-6).
    let dir = tempfile::tempdir().unwrap();
    let n = 5;
    let u: Vec<f64> = (0..n * 2).map(|k| 0.3 * ((k as f64) * 0.7).sin()).collect();
    let v: Vec<f64> = (0..n * 2).map(|k| 0.3 * ((k as f64) * 1.3).cos()).collect();
    let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            m[i * n + j] = (0..2).map(|r| u[i * 2 + r] * v32[j * 2 + r] as f64).sum();
        }
    }
    write_f64(&dir.path().join("u.npy"), &[5, 2], &u, false);
    write_npy_f32(&dir.path().join("v.npy"), &[5, 2], &v32).unwrap();
    let mt: Vec<f64> = (0..n * n).map(|k| m[(k % n) * n + k / n]).collect();
    write_f64(&dir.path().join("m.npy"), &[5, 5], &mt, true);
    let body = |w: String| {
        format!(
            r#"
            [network]
            n = 5
            tau = 0.01
            activation = {{ kind = "tanh" }}
            weights = {w}
            [[input]]
            kind = "vector"
            values = [0.5, -0.2, 0.1, 0.9, -0.7]
            [simulation]
            duration = 0.1
            dt = 0.0005
            method = "rk4"
            "#
        )
    };
    let d = dir.path().display();
    let low = run(&exp(&body(format!(
        "{{ kind = \"low_rank\", u = \"{d}/u.npy\", v = \"{d}/v.npy\" }}"
    ))));
    let file = run(&exp(&body(format!(
        "{{ kind = \"file\", path = \"{d}/m.npy\" }}"
    ))));
    let rows: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "[{}]",
                (0..n)
                    .map(|j| format!("{:e}", m[i * n + j]))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    let inline = run(&exp(&body(format!(
        "{{ kind = \"matrix\", rows = [{}] }}",
        rows.join(", ")
    ))));
    all_close(
        &low.final_state,
        &inline.final_state,
        1e-12,
        "low_rank vs matrix",
    );
    all_close(
        &file.final_state,
        &inline.final_state,
        1e-12,
        "file (Fortran order) vs matrix",
    );
}

#[test]
fn inputs_and_initial_states_from_files_vectors_and_bumps() {
    let dir = tempfile::tempdir().unwrap();
    let h = [0.4, -0.1, 0.25, 0.0];
    let x0 = [1.0f32, 2.0, -1.0, 0.5];
    write_f64(&dir.path().join("h.npy"), &[4], &h, false);
    write_npy_f32(&dir.path().join("x0.npy"), &[4], &x0).unwrap();
    let toml = format!(
        r#"
        [network]
        n = 4
        tau = 0.01
        weights = {{ kind = "diagonal", values = [0.0, 0.0, 0.0, 0.0] }}
        [[input]]
        kind = "file"
        path = "{d}/h.npy"
        [initial]
        kind = "file"
        path = "{d}/x0.npy"
        [simulation]
        duration = 0.02
        dt = 0.00001
        method = "rk4"
        "#,
        d = dir.path().display()
    );
    // Uncoupled linear neurons: v(t) = h + (v0 - h) e^{-t/tau}; rk4 at
    // dt/tau = 1e-3 is exact to ~1e-13.
    let r = run(&exp(&toml));
    let decay = (-2.0f64).exp();
    let want: Vec<f64> = (0..4)
        .map(|i| h[i] + (x0[i] as f64 - h[i]) * decay)
        .collect();
    all_close(&r.final_state, &want, 1e-12, "file input and initial state");
    // The same with inline vectors, and a bump initial state.
    let r2 = run(&exp_with(
        &toml,
        &[
            "input.0={kind=\"vector\",values=[0.4,-0.1,0.25,0.0]}",
            "initial={kind=\"vector\",values=[1.0,2.0,-1.0,0.5]}",
        ],
    ));
    all_close(
        &r2.final_state,
        &want,
        1e-12,
        "vector input and initial state",
    );
    let e = exp_with(
        &toml,
        &["initial={kind=\"bump\",c=2.0,epsilon=0.5,theta=0.3}"],
    );
    all_close(
        &e.initial,
        &bump(4, 2.0, 0.5, 0.3),
        0.0,
        "bump initial state",
    );
    close(
        e.initial[1],
        2.0 * (0.5 + 0.5 * (-std::f64::consts::FRAC_PI_2 - 0.3).cos()),
        1e-15,
        "bump at theta_1 = -pi/2",
    );
}

#[test]
fn input_epochs_switch_at_their_steps() {
    // Two overlapping epochs on an integrator (lambda = 1): v(t) = sum of
    // h * (time each epoch was on) / tau, exact with Euler.
    let e = exp(r#"
        [network]
        n = 1
        tau = 0.01
        weights = { kind = "diagonal", values = [1.0] }
        [[input]]
        start = 0.01
        end = 0.03
        kind = "uniform"
        value = 1.0
        [[input]]
        start = 0.02
        kind = "uniform"
        value = -0.5
        [simulation]
        duration = 0.05
        dt = 0.001
        "#);
    let r = run(&e);
    let v = r.metric("mean_rate").unwrap();
    for (t, v) in r.t.iter().zip(v) {
        let on = |a: f64, b: f64| (t.min(b) - a).max(0.0);
        let want = (1.0 * on(0.01, 0.03) - 0.5 * on(0.02, f64::INFINITY)) / 0.01;
        close(v, want, 1e-9, &format!("t = {t}"));
    }
}

#[test]
fn pattern_cues_flip_and_mask_exact_fractions() {
    let e = exp(r#"
        [network]
        n = 1000
        tau = 0.01
        weights = { kind = "hebbian", patterns = 3, seed = 4 }
        [initial]
        kind = "pattern"
        index = 2
        scale = 0.5
        flip = 0.2
        mask = 0.25
        seed = 8
        [simulation]
        duration = 0.001
        dt = 0.001
        "#);
    let xi = e.network.weights.pattern(2).unwrap();
    let (mut same, mut flipped, mut masked) = (0, 0, 0);
    for (x, p) in e.initial.iter().zip(xi) {
        if *x == 0.0 {
            masked += 1;
        } else if *x == 0.5 * p {
            same += 1;
        } else if *x == -0.5 * p {
            flipped += 1;
        }
    }
    assert_eq!((same, flipped, masked), (550, 200, 250));
    // Another seed picks other units.
    let e2 = exp_with(&e.toml, &["initial.seed=9"]);
    assert_ne!(e.initial, e2.initial);
    // The random patterns are ±1 and balanced within a few standard deviations (sqrt(1000) ≈ 32).
    assert!(xi.iter().all(|x| x.abs() == 1.0));
    assert!(xi.iter().sum::<f64>().abs() < 5.0 * 32.0);
}
