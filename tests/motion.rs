//! Moving inputs and path integration on the ring, against theory: a
//! linear ring tracking a moving cosine input with the analytic lag and
//! gain, a linear integrator turned by a velocity by exactly atan(v dt) per
//! Euler step, a rectified attractor integrating a velocity signal from a
//! file, trajectories and played files against their still equivalents,
//! and the errors of bad input.

mod common;
use attractor::sim::cpu::CpuBackend;
use attractor::sim::{Backend, Recording};
use attractor::Experiment;
use common::*;

fn cpu(e: &Experiment) -> Recording {
    CpuBackend.run(e, &mut |_| {}).expect("CPU run")
}

fn wrap(a: f64) -> f64 {
    attractor::analysis::metrics::wrap(a)
}

fn err(toml: &str) -> String {
    Experiment::from_toml(
        toml,
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        "t",
        &[],
    )
    .expect_err("the file is invalid")
    .to_string()
}

/// A linear ring (lambda1 = 0.5) driven by cos(theta - omega t): the cosine
/// mode z obeys the Euler recursion z' = (1 - a (1 - lambda1)) z + a e^{i omega t}
/// (a = dt / tau), whose steady state turns with the input behind it by
/// arg(e^{i omega dt} - 1 + a (1 - lambda1)) with gain a / |that|: exact for
/// the discrete run, so to 1e-9 once the transient (time constant
/// tau / (1 - lambda1) = 20 ms, run for 50 of them) is gone. The
/// continuous-time lag atan(omega tau / (1 - lambda1)) differs from it by
/// O(omega dt): within 0.25 |omega| dt (first order in the step; 4e-3 rad
/// at omega dt = 0.02, the largest here).
#[test]
fn linear_ring_tracks_with_the_analytic_lag() {
    let (tau, dt, l1) = (0.01f64, 0.0005f64, 0.5f64);
    for omega in [5.0f64, -12.0, 40.0] {
        let e = exp(&format!(
            r#"
            [network]
            n = 64
            tau = {tau}
            weights = {{ kind = "ring", lambda0 = 0.0, lambda1 = {l1} }}
            [[input]]
            kind = "bump"
            c = 1.0
            epsilon = 1.0
            theta = 0.3
            velocity = {omega}
            [simulation]
            duration = 1.0
            dt = {dt}
            record_every = 20
            "#
        ));
        let r = cpu(&e);
        let a = dt / tau;
        let (re, im) = (
            (omega * dt).cos() - 1.0 + a * (1.0 - l1),
            (omega * dt).sin(),
        );
        let lag = im.atan2(re);
        let gain = a / re.hypot(im);
        let continuous = (omega * tau / (1.0 - l1)).atan();
        println!(
            "omega = {omega}: lag {:.6} (discrete theory {lag:.6}, continuous {continuous:.6}), gain {:.6} ({gain:.6})",
            last(&r, "bump_lag"),
            last(&r, "bump_amplitude")
        );
        close(last(&r, "bump_lag"), lag, 1e-9, "lag");
        close(last(&r, "bump_amplitude"), gain, 1e-9, "gain");
        close(last(&r, "bump_speed"), omega, 1e-7, "speed");
        close(
            lag,
            continuous,
            0.25 * omega.abs() * dt,
            "discrete vs continuous lag",
        );
        // The bump sits behind the input's centre at the last record.
        let t = *r.t.last().unwrap();
        close(
            wrap(0.3 + omega * t - last(&r, "bump_theta")),
            lag,
            1e-9,
            "bump_theta",
        );
    }
}

/// A linear ring at lambda1 = 1 (an integrator) with velocity v: the Euler
/// step multiplies the cosine mode by 1 + i a tau v = 1 + i v dt, so the
/// bump turns by exactly atan(v dt) per step and its amplitude grows by
/// sqrt(1 + (v dt)^2): checked to 1e-9 after 2000 steps, in both dynamics
/// (linear: they coincide). This pins the sine kernel's sign and size.
#[test]
fn velocity_turns_a_linear_integrator_by_atan_v_dt_per_step() {
    let dt = 0.0005f64;
    for (v, dynamics) in [(3.0f64, "rate"), (-7.5, "current")] {
        let e = exp(&format!(
            r#"
            [network]
            n = 48
            tau = 0.02
            dynamics = "{dynamics}"
            weights = {{ kind = "ring", lambda0 = 0.0, lambda1 = 1.0 }}
            [[input]]
            kind = "velocity"
            value = {v}
            [initial]
            kind = "bump"
            c = 1.0
            epsilon = 1.0
            theta = 0.0
            [simulation]
            duration = 1.0
            dt = {dt}
            record_every = 100
            "#
        ));
        let r = cpu(&e);
        let steps = 2000.0f64;
        close(
            last(&r, "bump_theta"),
            wrap(steps * (v * dt).atan()),
            1e-9,
            "angle",
        );
        close(
            last(&r, "bump_amplitude"),
            (1.0 + (v * dt) * (v * dt)).powf(steps / 2.0),
            1e-9,
            "amplitude",
        );
    }
}

/// The rectified attractor of examples/head_turns.toml integrates the
/// velocity of data/head_turns.csv (turns of +6 rad/s and -4 rad/s): its
/// integral is 3.0 rad after the first turn (t = 1 s) and 1.0 rad at the
/// end. The bump lands within 0.01 rad of both, in both dynamics: the Euler
/// step slows a moving bump by about 0.47 v dt (0.14% at 6 rad/s: 0.004
/// rad over the turn), and it does not drift in the pauses.
#[test]
fn a_velocity_signal_from_a_file_is_integrated() {
    for dynamics in ["rate", "current"] {
        let r = cpu(&example(
            "head_turns",
            &[&format!("network.dynamics=\"{dynamics}\"")],
        ));
        let theta = r.metric("bump_theta").unwrap();
        let k = r.record_at(1.0).unwrap();
        println!(
            "{dynamics}: bump at 1 s {:.5} (integral 3), at 2 s {:.5} (integral 1)",
            theta[k],
            theta.last().unwrap()
        );
        close(theta[k], 3.0, 0.01, "angle after the first turn");
        close(*theta.last().unwrap(), 1.0, 0.01, "angle at the end");
        close(last(&r, "bump_speed"), 0.0, 1e-3, "still after the turns");
    }
}

/// examples/path_integration.toml: the bump moves at v = 2 rad/s and has
/// turned by 2 rad/s times 0.7 s = 1.4 rad, both within 1e-3 relative (the
/// Euler step's shortfall, about 0.47 v dt = 5e-4 of v, and the onset).
#[test]
fn path_integration_example_moves_at_the_velocity() {
    let r = cpu(&example("path_integration", &[]));
    close(last(&r, "bump_speed"), 2.0, 2e-3, "speed");
    close(last(&r, "bump_theta"), 1.4, 2e-3, "angle");
}

/// A trajectory file tracing theta = 0.2 + 3 t is the steady velocity 3
/// rad/s from 0.2: the same run to 1e-9 (the two evaluate the same line,
/// rounded differently). A trajectory crossing +-pi goes the short way round.
#[test]
fn trajectories_match_a_steady_velocity() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("path.csv");
    std::fs::write(&csv, "t,theta\n0.0,0.2\n1.0,3.2\n").unwrap();
    let base = |profile: &str| {
        format!(
            r#"
            [network]
            n = 100
            tau = 0.01
            activation = {{ kind = "relu" }}
            weights = {{ kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }}
            [[input]]
            kind = "von_mises"
            c = 1.0
            kappa = 4.0
            {profile}
            [simulation]
            duration = 0.5
            dt = 0.001
            record_every = 50
            "#
        )
    };
    let steady = cpu(&exp(&base("theta = 0.2\nvelocity = 3.0")));
    let traced = cpu(&exp(&base(&format!("trajectory = \"{}\"", csv.display()))));
    all_close(
        &traced.final_state,
        &steady.final_state,
        1e-9,
        "final state",
    );
    for (a, b) in traced.metrics.iter().zip(&steady.metrics) {
        all_close(a, b, 1e-9, "metrics");
    }
    // At t = 0.5 the centre (1.7 rad) is ahead of the bump, by less than
    // the 0.15 rad it moves in one time constant... of the drive's 3 rad/s.
    let lag = last(&steady, "bump_lag");
    assert!(lag > 0.0 && lag < 0.5, "lag {lag}");
}

/// A played T×N file equals the same rows given as consecutive still
/// epochs, bit for bit (f64), and is off after its last row.
#[test]
fn played_files_equal_consecutive_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let (n, t) = (6usize, 3usize);
    let rows: Vec<f32> = (0..n * t).map(|k| ((k * 7) % 5) as f32 - 1.5).collect();
    attractor::output::write_npy_f32(&dir.path().join("movie.npy"), &[t as u64, n as u64], &rows)
        .unwrap();
    let net = r#"
        [network]
        n = 6
        tau = 0.01
        weights = { kind = "diagonal", values = [0.5, 0.0, -0.5, 0.2, 0.1, 0.0] }
        [simulation]
        duration = 0.06
        dt = 0.001
        record_every = 5
        "#;
    let played = cpu(&exp(&format!(
        "{net}\n[[input]]\nstart = 0.005\nkind = \"file\"\npath = \"{}\"\nframe = 0.01\n",
        dir.path().join("movie.npy").display()
    )));
    let mut epochs = String::new();
    for k in 0..t {
        let v: Vec<String> = rows[k * n..(k + 1) * n]
            .iter()
            .map(|x| format!("{x}"))
            .collect();
        epochs += &format!(
            "\n[[input]]\nstart = {}\nend = {}\nkind = \"vector\"\nvalues = [{}]\n",
            0.005 + 0.01 * k as f64,
            0.005 + 0.01 * (k + 1) as f64,
            v.join(", ")
        );
    }
    let still = cpu(&exp(&format!("{net}{epochs}")));
    assert_eq!(played.final_state, still.final_state);
    assert_eq!(played.metrics, still.metrics);
    // After the last row (t = 0.035) the input is off: the state decays.
    let m = played.metric("mean_rate").unwrap();
    assert!(m.last().unwrap().abs() < m[played.record_at(0.035).unwrap()].abs());
}

/// Each bad moving input is an error naming its key and what is allowed.
#[test]
fn bad_moving_inputs_name_their_keys() {
    let net = |weights: &str, input: &str| {
        format!(
            "[network]\nn = 8\ntau = 0.01\nweights = {weights}\n[[input]]\n{input}\n[simulation]\nduration = 0.01\ndt = 0.001\n"
        )
    };
    let ring = r#"{ kind = "ring", lambda0 = 0.0, lambda1 = 1.0 }"#;
    let e = err(&net(
        r#"{ kind = "hebbian", patterns = 1 }"#,
        "kind = \"velocity\"\nvalue = 1.0",
    ));
    assert!(e.contains("input[0].kind") && e.contains("ring"), "{e}");
    let e = err(&net(ring, "kind = \"velocity\""));
    assert!(
        e.contains("input[0]") && e.contains("`value`") && e.contains("`path`"),
        "{e}"
    );
    let e = err(&net(
        ring,
        "kind = \"velocity\"\nvalue = 1.0\npath = \"v.csv\"",
    ));
    assert!(e.contains("exactly one"), "{e}");
    let e = err(&net(
        ring,
        "kind = \"bump\"\nc = 1.0\nepsilon = 0.5\nvelocity = 1.0\ntrajectory = \"p.csv\"",
    ));
    assert!(e.contains("input[0]") && e.contains("trajectory"), "{e}");
    let e = err(&net(
        ring,
        "kind = \"bump\"\nc = 1.0\nepsilon = 0.5\nvelocity = nan",
    ));
    assert!(e.contains("input[0].velocity"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let back = dir.path().join("back.csv");
    std::fs::write(&back, "0.0,0.0\n0.5,1.0\n0.5,2.0\n").unwrap();
    let e = err(&net(
        ring,
        &format!(
            "kind = \"bump\"\nc = 1.0\nepsilon = 0.5\ntrajectory = \"{}\"",
            back.display()
        ),
    ));
    assert!(
        e.contains("input[0].trajectory") && e.contains("times must increase"),
        "{e}"
    );
    let words = dir.path().join("words.csv");
    std::fs::write(&words, "t,theta\n0.0,zero\n").unwrap();
    let e = err(&net(
        ring,
        &format!("kind = \"velocity\"\npath = \"{}\"", words.display()),
    ));
    assert!(
        e.contains("input[0].path") && e.contains("two numbers"),
        "{e}"
    );

    let movie = dir.path().join("movie.npy");
    attractor::output::write_npy_f32(&movie, &[3, 8], &[0.5; 24]).unwrap();
    let file = |extra: &str| {
        net(
            ring,
            &format!("kind = \"file\"\npath = \"{}\"\n{extra}", movie.display()),
        )
    };
    let e = err(&file(""));
    assert!(e.contains("input[0].frame") && e.contains("3 rows"), "{e}");
    let e = err(&file("frame = 0.0"));
    assert!(e.contains("input[0].frame") && e.contains("> 0"), "{e}");
    let short = dir.path().join("short.npy");
    attractor::output::write_npy_f32(&short, &[3, 5], &[0.5; 15]).unwrap();
    let e = err(&net(
        ring,
        &format!(
            "kind = \"file\"\npath = \"{}\"\nframe = 0.01",
            short.display()
        ),
    ));
    assert!(
        e.contains("input[0].path") && e.contains("T rows of N = 8"),
        "{e}"
    );
}

/// A sweep over the moving input's amplitude steps each point from its
/// canonical form (the input divided by its largest value, the factor as
/// the trial's input scale): the same numbers as the runs themselves.
#[test]
fn sweeps_scale_moving_inputs_like_still_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sweep = dir.path().join("s.toml");
    std::fs::write(
        &sweep,
        format!(
            "base = \"{}/examples/tracking.toml\"\n[grid]\n\"input.0.c\" = [0.5, 1.2]\n\"simulation.duration\" = [0.3]\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_attractor"))
        .arg("sweep")
        .arg(&sweep)
        .arg("--out")
        .arg(&out)
        .args(["--backend", "cpu"])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let text = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (line, c) in text.lines().skip(1).zip(["0.5", "1.2"]) {
        let f: Vec<&str> = line.split(',').collect();
        let r = cpu(&example(
            "tracking",
            &[&format!("input.0.c={c}"), "simulation.duration=0.3"],
        ));
        for name in ["bump_theta", "bump_amplitude", "bump_lag"] {
            let v: f64 = f[col(name)].parse().unwrap();
            close(
                v,
                last(&r, name),
                1e-12 * last(&r, name).abs().max(1.0),
                name,
            );
        }
    }
}
