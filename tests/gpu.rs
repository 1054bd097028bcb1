//! GPU == CPU: every model feature stepped on the GPU (f32) against the CPU
//! reference (f64). These tests need a GPU adapter and fail without one;
//! scripts/test.sh installs Mesa's software adapter (lavapipe) where none exists.

mod common;
use attractor::sim::gpu::GpuBackend;
use attractor::sim::{Backend, Recording};
use attractor::Experiment;
use common::*;

fn gpu() -> GpuBackend {
    GpuBackend::new().unwrap_or_else(|e| {
        panic!("the GPU tests need a GPU adapter: {e}. Run scripts/test.sh, which installs one")
    })
}

fn gpu_run(e: &Experiment) -> Recording {
    gpu().run(e, &mut |_| {}).expect("GPU run")
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Compares a GPU run with the f64 CPU run: same records, same metrics and
/// final state within `tol` times the scale of the values, plus four times
/// the error of the CPU's own f32 run. A network that expands perturbations
/// (a Hopfield flow leaving its cue, noise on a slow mode) amplifies f32
/// rounding whatever the hardware; the GPU must do no worse than f32
/// arithmetic allows, measured on the same run.
#[track_caller]
fn same(e: &Experiment, tol: f64) {
    same_on(e, tol, &mut gpu());
}

/// [`same`] with the GPU run on backend `g`.
#[track_caller]
fn same_on(e: &Experiment, tol: f64, g: &mut GpuBackend) {
    let cpu = run(e);
    let cpu32 = run32(e);
    let gpu = g.run(e, &mut |_| {}).expect("GPU run");
    assert_eq!(gpu.backend, "gpu");
    assert_eq!(gpu.t, cpu.t, "record times");
    assert_eq!(gpu.metric_names, cpu.metric_names);
    let scale = cpu.final_state.iter().fold(1e-3f64, |a, x| a.max(x.abs()));
    let f32_err = max_diff(&cpu32.final_state, &cpu.final_state);
    all_close(
        &gpu.final_state,
        &cpu.final_state,
        tol * scale + 4.0 * f32_err,
        "final state",
    );
    for (k, (g, c)) in gpu.metrics.iter().zip(&cpu.metrics).enumerate() {
        let s = c.iter().fold(1e-3f64, |a, x| a.max(x.abs()));
        let f32_err = max_diff(&cpu32.metrics[k], c);
        all_close(
            g,
            c,
            tol * s + 4.0 * f32_err,
            &format!("metrics at record {k}"),
        );
    }
    assert_eq!(gpu.rates.len(), cpu.rates.len());
}

fn dense_rows(n: usize, scale: f64, seed: u64) -> String {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let r: Vec<String> = (0..n)
                .map(|j| {
                    let u = attractor::rng::uniform_at(
                        seed,
                        attractor::rng::Stream::InitialRandom,
                        (i * n + j) as u32,
                        7,
                    );
                    format!("{:e}", scale * (2.0 * u - 1.0) / (n as f64).sqrt())
                })
                .collect();
            format!("[{}]", r.join(","))
        })
        .collect();
    format!("[{}]", rows.join(","))
}

fn dense_exp(n: usize, extra: &str) -> Experiment {
    exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        {extra}
        weights = {{ kind = "matrix", rows = {} }}
        [[input]]
        kind = "bump"
        c = 0.5
        epsilon = 0.8
        end = 0.02
        [initial]
        kind = "random"
        low = -0.5
        high = 0.5
        [simulation]
        duration = 0.04
        dt = 0.0005
        record_every = 20
        "#,
        dense_rows(n, 0.9, n as u64)
    ))
}

// Tolerances: the GPU computes in f32 (relative rounding 6e-8 per
// operation) and sums N products in a different order; a contracting
// network (|M| < 1 here) does not amplify the rounding, so after ~100 steps
// the difference stays near 1e-6 of the values' scale. 1e-5 leaves room for
// the transcendental functions (tanh, exp) of the GPU's math library, which
// WGSL lets be less precise than the CPU's.

#[test]
fn dense_linear_euler_at_awkward_sizes() {
    // 1, 3: below a vec4; 255, 257: around the workgroup size; 130: not a multiple of 4.
    for n in [1usize, 3, 130, 255, 257] {
        same(&dense_exp(n, ""), 1e-5);
    }
}

#[test]
fn dense_nonlinear_methods() {
    same(
        &dense_exp(100, r#"activation = { kind = "tanh", beta = 2.0 }"#),
        1e-5,
    );
    same(
        &exp_with(
            &dense_exp(100, r#"activation = { kind = "relu" }"#).toml,
            &["simulation.method=rk4"],
        ),
        1e-5,
    );
    same(
        &exp_with(
            &dense_exp(
                64,
                r#"activation = { kind = "sigmoid", beta = 3.0, threshold = 0.2 }"#,
            )
            .toml,
            &["simulation.method=exponential"],
        ),
        1e-4,
    );
    same(
        &exp_with(
            &dense_exp(
                64,
                r#"activation = { kind = "clip", min = -0.2, max = 0.3 }"#,
            )
            .toml,
            &["simulation.method=rk4"],
        ),
        1e-5,
    );
    same(
        &exp_with(
            &dense_exp(77, r#"activation = { kind = "tanh" }"#).toml,
            &["network.dynamics=current", "simulation.method=rk4"],
        ),
        1e-5,
    );
}

#[test]
fn dense_matrix_split_into_row_blocks() {
    // A 64 KiB binding limit splits the 300×300 matrix (300 rows of 1200 bytes) into 6 blocks.
    let e = dense_exp(300, r#"activation = { kind = "tanh" }"#);
    let cpu = run(&e);
    let g = gpu()
        .with_binding_limit(64 << 10)
        .run(&e, &mut |_| {})
        .unwrap();
    let scale = cpu.final_state.iter().fold(1e-3f64, |a, x| a.max(x.abs()));
    all_close(
        &g.final_state,
        &cpu.final_state,
        1e-5 * scale,
        "row-blocked dense",
    );
}

#[test]
fn every_dense_kernel_shape_matches_the_cpu() {
    use attractor::sim::gpu::kernels::DenseShape;
    // `attractor bench --tune` times these shapes; each must compute the
    // same step. N = 130 (not a multiple of 4, fewer vec4s than some
    // workgroups have lanes) and B = 5 (a full and a partial tile of 4
    // trials), with noise and per-trial scales; tolerance as above.
    let mut e = dense_exp(130, r#"activation = { kind = "tanh" }"#);
    e.simulation.noise = 0.05;
    let ts = trials(&e, 5);
    let cpu: Vec<Recording> = ts
        .iter()
        .map(|t| attractor::sim::cpu::run_trial::<f64>(&e, t, &mut |_| {}))
        .collect();
    let mut g = gpu();
    let cap = attractor::sim::gpu::kernels::dense_workgroup_cap(&g.context().device.limits());
    let mut shapes = 0;
    let shape = |workgroup, rows, stack| DenseShape {
        workgroup,
        rows,
        stack,
    };
    // One row per thread at every size, and stacks of 2 to 8 rows per
    // thread (130 rows: the last thread's stack is cut short).
    let mut all = Vec::new();
    for workgroup in [32u32, 64, 128, 256, 512, 1024] {
        for rows in [1u32, 2, 4, 8, 16, 32] {
            all.push(shape(workgroup, rows, 1));
        }
    }
    all.extend([
        shape(256, 8, 8),
        shape(256, 16, 8),
        shape(256, 4, 2),
        shape(64, 16, 4),
    ]);
    // A stack's slots are summed by subgroups where the adapter has one
    // subgroup size dividing a slot's lanes (lavapipe: 8 wide, so each
    // stacked shape here), else by the tree: both are run.
    let mut by_subgroups = 0;
    for s in all {
        if s.workgroup > cap || s.rows > s.workgroup / 4 * s.stack {
            continue;
        }
        g.set_dense_shape(Some(s)).unwrap();
        assert_eq!(g.dense_shape(130, 5), s);
        for subgroups in [true, false] {
            g.set_subgroups(subgroups);
            by_subgroups += usize::from(g.uses_dense_subgroups(s));
            assert!(subgroups || !g.uses_dense_subgroups(s));
            let out = g.run_batch(&e, &ts, &mut |_| {}).unwrap();
            for (k, (o, c)) in out.iter().zip(&cpu).enumerate() {
                let scale = c.final_state.iter().fold(1e-3f64, |a, x| a.max(x.abs()));
                all_close(
                    &o.final_state,
                    &c.final_state,
                    1e-5 * scale,
                    &format!("shape {s}, subgroups {subgroups}, trial {k}"),
                );
            }
        }
        shapes += 1;
    }
    println!("stacked shapes summed by subgroups: {by_subgroups}");
    if g.context().subgroup_sizes() == Some((8, 8)) {
        assert_eq!(
            by_subgroups, 4,
            "lavapipe's 8-wide subgroups divide every stacked slot"
        );
    }
    assert!(shapes >= 10, "only {shapes} shapes fit the adapter");
    // Shapes that are not powers of two, or exceed the adapter, are refused.
    for bad in [
        shape(96, 1, 1),
        shape(cap * 2, 1, 1),
        shape(64, 3, 1),
        shape(64, 128, 1),
        shape(64, 8, 3),
        shape(64, 32, 16),
        shape(64, 2, 4),
    ] {
        let err = g.set_dense_shape(Some(bad)).unwrap_err().to_string();
        assert!(err.contains("power of two"), "{bad:?}: {err}");
    }
}

#[test]
fn step_activation_on_the_gpu() {
    // A binary unit: inputs kept away from the threshold so that f32 and
    // f64 take the same branch; then the runs agree to rounding.
    let e = exp(r#"
        [network]
        n = 3
        tau = 0.01
        activation = { kind = "step", threshold = 0.5 }
        weights = { kind = "matrix", rows = [[0.0, 0.3, 0.0], [0.3, 0.0, 0.0], [0.0, 0.0, 0.4]] }
        [[input]]
        kind = "vector"
        values = [1.0, 0.1, -1.0]
        [simulation]
        duration = 0.05
        dt = 0.001
        "#);
    same(&e, 1e-5);
}

#[test]
fn ring_structured_on_the_gpu() {
    let e = exp(r#"
        [network]
        n = 1000
        tau = 0.01
        activation = { kind = "clip", min = 0.0, max = 1.0 }
        weights = { kind = "ring", lambda0 = 0.3, lambda1 = 2.1 }
        [[input]]
        end = 0.03
        kind = "bump"
        c = 1.0
        epsilon = 0.2
        theta = 1.0
        [simulation]
        duration = 0.06
        dt = 0.0005
        method = "rk4"
        record_every = 30
        "#);
    same(&e, 1e-5);
}

#[test]
fn hebbian_with_energy_and_overlaps_on_the_gpu() {
    let e = exp(r#"
        [network]
        n = 301
        tau = 0.01
        dynamics = "current"
        activation = { kind = "tanh", beta = 3.0 }
        weights = { kind = "hebbian", patterns = 5, seed = 2 }
        [[input]]
        kind = "pattern"
        index = 1
        scale = 0.1
        [initial]
        kind = "pattern"
        index = 0
        flip = 0.25
        mask = 0.1
        [simulation]
        duration = 0.05
        dt = 0.0005
        method = "exponential"
        record_every = 25
        "#);
    same(&e, 1e-5);
}

#[test]
fn diagonal_and_low_rank_on_the_gpu() {
    let e = exp(r#"
        [network]
        n = 5
        tau = 0.02
        weights = { kind = "diagonal", values = [1.0, 0.5, -1.0, 0.9, 0.0] }
        [[input]]
        kind = "vector"
        values = [0.1, 0.2, 0.3, 0.4, 0.5]
        end = 0.05
        [simulation]
        duration = 0.1
        dt = 0.001
        record_every = 10
        "#);
    same(&e, 1e-5);
    let dir = tempfile::tempdir().unwrap();
    let u: Vec<f32> = (0..40).map(|k| 0.2 * ((k as f32) * 0.9).sin()).collect();
    let v: Vec<f32> = (0..40).map(|k| 0.2 * ((k as f32) * 0.4).cos()).collect();
    attractor::output::write_npy_f32(&dir.path().join("u.npy"), &[20, 2], &u).unwrap();
    attractor::output::write_npy_f32(&dir.path().join("v.npy"), &[20, 2], &v).unwrap();
    let e = exp(&format!(
        r#"
        [network]
        n = 20
        tau = 0.01
        activation = {{ kind = "tanh" }}
        weights = {{ kind = "low_rank", u = "{d}/u.npy", v = "{d}/v.npy" }}
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 1.0
        [simulation]
        duration = 0.05
        dt = 0.0005
        method = "rk4"
        record_every = 50
        "#,
        d = dir.path().display()
    ));
    same(&e, 1e-5);
}

#[test]
fn seeded_noise_matches_the_cpu_stream() {
    // The same Philox stream on both sides: the runs agree to f32 rounding
    // of the normals (log, cos in f32: ~1e-6 relative), not just in law.
    let toml = r#"
        [network]
        n = 200
        tau = 0.01
        activation = { kind = "tanh" }
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 0.8 }
        [simulation]
        duration = 0.05
        dt = 0.0005
        noise = 0.3
        seed = 1234567890123
        record_every = 25
        "#;
    let e = exp(toml);
    same(&e, 1e-5);
    // And the noise matters: without it the state differs by far more.
    let quiet = run(&exp_with(toml, &["simulation.noise=0"]));
    let noisy = gpu_run(&e);
    let d = noisy
        .final_state
        .iter()
        .zip(&quiet.final_state)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(d > 0.05, "noise changed the state by only {d}");
}

#[test]
fn divergence_is_reported_at_the_same_step_as_the_cpu_f32_run() {
    // lambda = 3, Euler at dt/tau = 0.1: v_k = 1.2^k overflows f32 (via M v = 3 v)
    // at the same step on the GPU and on the CPU in f32.
    let e = exp(r#"
        [network]
        n = 2
        tau = 0.01
        weights = { kind = "diagonal", values = [3.0, 3.0] }
        [initial]
        kind = "uniform"
        value = 1.0
        [simulation]
        duration = 1.0
        dt = 0.001
        record_every = 50
        "#);
    let c = run32(&e);
    let g = gpu_run(&e);
    let (cd, gd) = (
        c.divergence.expect("cpu f32 diverges"),
        g.divergence.expect("gpu diverges"),
    );
    assert_eq!(gd.step, cd.step);
    assert_eq!(g.t, c.t, "the same records are kept");
}

#[test]
fn examples_run_on_the_gpu_as_on_the_cpu() {
    // Every example, shortened to at most 60 steps to keep the software
    // adapter fast, gives the CPU's numbers on the GPU.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
    {
        let full = Experiment::load(path, &[]).unwrap();
        let duration = full.simulation.duration.min(60.0 * full.simulation.dt);
        let e = Experiment::load(
            path,
            &[
                format!("simulation.duration={duration}"),
                "simulation.record_every=20".into(),
            ],
        )
        .unwrap();
        println!("{}", path.display());
        same(&e, 1e-5);
    }
}

/// Three populations, each with its own constants: a ring E (rate, relu,
/// tau 20 ms), an I of a tau per neuron (current, sigmoid) and a C of its
/// own noise and a bias per neuron (rate, tanh), with inputs to E and C.
fn three_populations(method: &str) -> Experiment {
    exp(&format!(
        r#"
        [[population]]
        name = "E"
        n = 40
        tau = 0.02
        activation = {{ kind = "relu" }}
        initial = 0.2
        [[population]]
        name = "I"
        n = 10
        tau = [0.01, 0.01, 0.01, 0.005, 0.005, 0.01, 0.02, 0.02, 0.01, 0.01]
        dynamics = "current"
        activation = {{ kind = "sigmoid", beta = 2.0, threshold = 0.3 }}
        initial = 0.1
        [[population]]
        name = "C"
        n = 6
        tau = 0.01
        activation = {{ kind = "tanh", beta = 1.5 }}
        noise = 0.3
        bias = [0.1, -0.1, 0.2, 0.0, 0.3, -0.2]
        [[projection]]
        from = "E"
        to = "E"
        weights = {{ kind = "ring", lambda0 = -0.5, lambda1 = 1.6 }}
        [[projection]]
        from = "E"
        to = "I"
        weights = {{ kind = "uniform", value = 0.05 }}
        [[projection]]
        from = "I"
        to = "E"
        sign = "inhibitory"
        weights = {{ kind = "uniform", value = 0.3 }}
        [[projection]]
        from = "I"
        to = "C"
        weights = {{ kind = "random", g = 1.5, sparsity = 0.5, seed = 4 }}
        [[projection]]
        from = "C"
        to = "E"
        weights = {{ kind = "random", g = 0.5, seed = 6 }}
        [[input]]
        population = "E"
        kind = "bump"
        c = 1.0
        epsilon = 0.4
        [[input]]
        population = "C"
        kind = "uniform"
        value = 0.5
        start = 0.005
        [simulation]
        method = "{method}"
        duration = 0.03
        dt = 0.0005
        record_every = 10
        "#
    ))
}

#[test]
fn populations_step_on_the_gpu_as_on_the_cpu() {
    // Each neuron steps with its population's tau (I's neuron by neuron),
    // dynamics, activation and noise, and the per-population metrics (E's
    // ring bump included) come from the GPU's sums. A neuron stepped with
    // another population's constants is off by 1e-3 or more within a few
    // steps; 1e-5 of the scale plus four times the CPU's own f32 error is
    // what f32 arithmetic in another order allows.
    for method in ["euler", "rk4", "exponential"] {
        let mut e = three_populations(method);
        // E -> E (a ring: its uniform, cos and sin terms), E -> I and
        // I -> E (uniform) are factored terms: factor_project and their sum
        // in sparse_step are checked too.
        assert!(matches!(
            e.network.weights.shape(),
            attractor::model::Shape::Sparse { factors: 5, .. }
        ));
        let names = gpu_run(&e).metric_names;
        assert!(
            names.ends_with(&[
                "E.mean_rate".to_string(),
                "E.bump_theta".into(),
                "E.bump_amplitude".into(),
                "I.mean_rate".into(),
                "C.mean_rate".into(),
            ]),
            "{names:?}"
        );
        same(&e, 1e-5);
        // Trials of their own seed, noise, scale of M and of the input, in
        // one batch (C keeps its own noise in every trial).
        e.simulation.noise = 0.2;
        batch_matches(&e, 3, 1e-5);
    }
}

/// Every kind of factored term between populations of different sizes: a
/// ring onto itself (its uniform, cos and sin terms) and onto a smaller
/// population, uniform projections (one inhibitory), packed Hebbian
/// patterns onto themselves (their diagonal stored as entries), beside a
/// random projection stored as entries.
fn factored_populations(method: &str) -> Experiment {
    // A bump at 1 rad from the start: E.bump_theta is defined at every
    // record (a flat start has none, and its angle is noise).
    let bump: Vec<f64> = (0..48)
        .map(|i| 0.2 + 0.1 * (attractor::model::theta(i, 48) - 1.0).cos())
        .collect();
    exp(&format!(
        r#"
        [[population]]
        name = "E"
        n = 48
        tau = 0.02
        activation = {{ kind = "relu" }}
        initial = {bump:?}
        [[population]]
        name = "I"
        n = 20
        tau = 0.01
        dynamics = "current"
        activation = {{ kind = "tanh", beta = 1.5 }}
        [[population]]
        name = "H"
        n = 40
        tau = 0.015
        activation = {{ kind = "tanh", beta = 2.0 }}
        initial = 0.1
        [[projection]]
        from = "E"
        to = "E"
        weights = {{ kind = "ring", lambda0 = 0.2, lambda1 = 1.3 }}
        [[projection]]
        from = "E"
        to = "I"
        weights = {{ kind = "ring", lambda0 = 0.1, lambda1 = 0.6 }}
        [[projection]]
        from = "I"
        to = "E"
        sign = "inhibitory"
        weights = {{ kind = "uniform", value = 0.04 }}
        [[projection]]
        from = "H"
        to = "H"
        weights = {{ kind = "hebbian", patterns = 3, seed = 2, packed = true }}
        [[projection]]
        from = "H"
        to = "E"
        weights = {{ kind = "uniform", value = 0.01 }}
        [[projection]]
        from = "E"
        to = "H"
        weights = {{ kind = "random", g = 0.8, sparsity = 0.5, seed = 7 }}
        [[input]]
        population = "E"
        kind = "bump"
        c = 1.0
        epsilon = 0.4
        [simulation]
        method = "{method}"
        duration = 0.02
        dt = 0.0005
        record_every = 10
        "#
    ))
}

#[test]
fn factored_projections_step_on_the_gpu_as_on_the_cpu() {
    // factor_project's sums and each row's terms in sparse_step against the
    // CPU's factored product: a term read at the wrong rows, columns or
    // trial is off by 1e-3 or more within a few steps; 1e-5 of the scale
    // plus four times the CPU's own f32 error is f32 in another order.
    for method in ["euler", "rk4"] {
        let mut e = factored_populations(method);
        // 3 + 3 ring terms, 1 + 1 uniform, 3 patterns.
        assert!(matches!(
            e.network.weights.shape(),
            attractor::model::Shape::Sparse { factors: 11, .. }
        ));
        same(&e, 1e-5);
        e.simulation.noise = 0.2;
        batch_matches(&e, 3, 1e-5);
    }
}

fn trials(e: &Experiment, b: usize) -> Vec<attractor::sim::Trial> {
    (0..b)
        .map(|k| attractor::sim::Trial {
            seed: 100 + k as u64,
            trial: k as u32,
            m_scale: 0.6 + 0.15 * k as f64,
            h_scale: 1.0 - 0.2 * k as f64,
            // Per-trial noise: 0 for the first trial, then growing.
            noise: e.simulation.noise * k as f64,
            initial: Some(
                e.initial
                    .iter()
                    .enumerate()
                    .map(|(i, x)| x * (1.0 + 0.1 * k as f64) + 0.01 * (i % 7) as f64)
                    .collect(),
            ),
        })
        .collect()
}

/// A batch on the GPU against each trial run alone on the CPU (f64).
#[track_caller]
fn batch_matches(e: &Experiment, b: usize, tol: f64) {
    batch_matches_on(&mut gpu(), e, &trials(e, b), tol, true, "");
}

/// `trials` of `e` as one batch on `g` against each trial alone on the CPU
/// (f64): states within `tol` of their scale plus 4 times the CPU f32 run's
/// own rounding error (the GPU sums in another order), the same record
/// times, and with `metrics` the metrics within `tol` of their scale (for
/// trials whose metrics are not sums that nearly cancel: an overlap of
/// 1e-3 from N terms of 0.03 carries f32 summation errors of 1e-6 and more).
#[track_caller]
fn batch_matches_on(
    g: &mut GpuBackend,
    e: &Experiment,
    trials: &[attractor::sim::Trial],
    tol: f64,
    metrics: bool,
    what: &str,
) {
    let b = trials.len();
    let got = g.run_batch(e, trials, &mut |_| {}).unwrap();
    assert_eq!(got.len(), b);
    for (k, (t, gk)) in trials.iter().zip(&got).enumerate() {
        let c = attractor::sim::cpu::run_trial::<f64>(e, t, &mut |_| {});
        let c32 = attractor::sim::cpu::run_trial::<f32>(e, t, &mut |_| {});
        let scale = c.final_state.iter().fold(1e-3f64, |a, x| a.max(x.abs()));
        let f32_err = max_diff(&c32.final_state, &c.final_state);
        all_close(
            &gk.final_state,
            &c.final_state,
            tol * scale + 4.0 * f32_err,
            &format!("{what}trial {k} of {b}"),
        );
        assert_eq!(gk.t, c.t);
        if !metrics {
            continue;
        }
        for (r, (gm, cm)) in gk.metrics.iter().zip(&c.metrics).enumerate() {
            let s = cm.iter().fold(1e-3f64, |a, x| a.max(x.abs()));
            all_close(
                gm,
                cm,
                tol * s + 1e-6,
                &format!("{what}trial {k} metrics at record {r}"),
            );
        }
    }
}

#[test]
fn batches_of_trials_share_m_and_match_the_cpu_trial_by_trial() {
    // Trials differ by seed, initial state, scale of M and of the input.
    // B = 1, 3 and 6 cover a partial tile and more than one tile of 4 trials.
    let mut dense = dense_exp(70, r#"activation = { kind = "tanh" }"#);
    dense.simulation.noise = 0.05;
    for b in [1, 3, 6] {
        batch_matches(&dense, b, 1e-5);
    }
    let ring = exp(r#"
        [network]
        n = 300
        tau = 0.01
        activation = { kind = "relu" }
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.5
        [initial]
        kind = "random"
        [simulation]
        duration = 0.03
        dt = 0.0005
        method = "rk4"
        noise = 0.1
        record_every = 15
        "#);
    for b in [2, 5] {
        batch_matches(&ring, b, 1e-5);
    }
}

#[test]
fn a_diverging_trial_stops_alone() {
    // M scaled by 1 (stable) and by 40 (lambda = 3 * 40 - grows): the second
    // trial stops at its overflow step, the first runs to the end.
    let e = exp(r#"
        [network]
        n = 2
        tau = 0.01
        weights = { kind = "diagonal", values = [0.5, 0.5] }
        [initial]
        kind = "uniform"
        value = 1.0
        [simulation]
        duration = 0.5
        dt = 0.001
        record_every = 50
        "#);
    let mut ts = trials(&e, 2);
    ts[0].m_scale = 1.0;
    ts[1].m_scale = 40.0;
    let g = gpu().run_batch(&e, &ts, &mut |_| {}).unwrap();
    assert!(g[0].divergence.is_none());
    assert_eq!(g[0].t.len(), 11);
    let c = attractor::sim::cpu::run_trial::<f32>(&e, &ts[1], &mut |_| {});
    assert_eq!(g[1].divergence.unwrap().step, c.divergence.unwrap().step);
    assert_eq!(g[1].t, c.t);
}

#[test]
fn a_ten_million_neuron_ring_runs_on_the_gpu() {
    // 10^7 neurons: the ring's tables (3 N floats, 120 MB) fit one binding;
    // a dense M would need 400 TB. Four steps against the CPU reference.
    let e = exp(r#"
        [network]
        n = 10000000
        tau = 0.01
        activation = { kind = "relu" }
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.9 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.2
        theta = 0.5
        [simulation]
        duration = 0.002
        dt = 0.0005
        record_every = 4
        [record]
        rates = false
        "#);
    let g = gpu_run(&e);
    let c = run(&e);
    assert_eq!(g.steps_done, 4);
    // f32 sums of 10^7 terms in workgroup trees: relative error ~1e-6.
    all_close(&g.metrics[1], &c.metrics[1], 1e-5, "metrics at N = 10^7");
}

/// Shader modules and pipelines are compiled once per backend and kept by
/// kernel family and shape: a second batch (other trials, other scales)
/// compiles nothing, a dense run adds its family once, and results of a
/// reused pipeline equal those of a fresh backend bit for bit.
#[test]
fn a_second_batch_reuses_the_pipelines() {
    let ring = exp(r#"
        [network]
        n = 64
        tau = 0.01
        activation = { kind = "relu" }
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.2
        [simulation]
        duration = 0.01
        dt = 0.001
        noise = 0.1
    "#);
    let trials = |scale: f64| -> Vec<attractor::sim::Trial> {
        (0..3)
            .map(|k| attractor::sim::Trial {
                seed: k,
                m_scale: scale,
                ..attractor::sim::Trial::of(&ring)
            })
            .collect()
    };
    let mut g = gpu();
    assert_eq!(g.pipeline_builds(), 0);
    let first = g.run_batch(&ring, &trials(1.0), &mut |_| {}).unwrap();
    // The structured family and the metrics family.
    assert_eq!(g.pipeline_builds(), 2);
    g.run_batch(&ring, &trials(0.9), &mut |_| {}).unwrap();
    let again = g.run_batch(&ring, &trials(1.0), &mut |_| {}).unwrap();
    assert_eq!(g.pipeline_builds(), 2, "a second batch compiled pipelines");
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(a.final_state, b.final_state);
    }
    let dense = exp(r#"
        [network]
        n = 2
        tau = 0.01
        weights = { kind = "matrix", rows = [[0.5, 0.1], [0.1, 0.5]] }
        [simulation]
        duration = 0.01
        dt = 0.001
    "#);
    g.run(&dense, &mut |_| {}).unwrap();
    g.run(&dense, &mut |_| {}).unwrap();
    assert_eq!(g.pipeline_builds(), 3, "the dense family is compiled once");
}

/// A GPU whose device is lost mid-run (destroyed from the progress callback,
/// the error path wgpu lets a program trigger) ends the run with a clear
/// error and keeps the records read before it, which equal the CPU's.
#[test]
fn a_lost_device_keeps_the_records_so_far() {
    let e = exp(r#"
        [network]
        n = 64
        tau = 0.01
        activation = { kind = "relu" }
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.2
        [simulation]
        duration = 0.2
        dt = 0.001
        record_every = 10
    "#);
    let mut g = gpu();
    let device = g.context().device.clone();
    let rec = g
        .run(&e, &mut |step| {
            if step >= 100 {
                device.destroy();
            }
        })
        .expect("a run that fails after its first records returns them");
    let fault = rec.fault.clone().expect("the run reports the fault");
    assert!(
        fault.contains("lost") && fault.contains("after step"),
        "{fault}"
    );
    assert!(
        rec.t.len() >= 2 && rec.t.len() < 21,
        "records before the fault only: {}",
        rec.t.len()
    );
    assert_eq!(rec.steps_done as f64 * 0.001, *rec.t.last().unwrap());
    // The kept records are right: the CPU's within f32 rounding (values ~1,
    // 100 steps of a contracting ring: 1e-4 is far above f32 error).
    let cpu = run(&e);
    for (k, row) in rec.metrics.iter().enumerate() {
        all_close(row, &cpu.metrics[k], 1e-4, &format!("record {k}"));
    }
}

/// Trials of a large batch: seeds, initial states and scales that differ
/// mildly (M scaled 0.8 to 1.2, the input 0.9 to 1.1), with noise in every
/// other trial.
fn mild_trials(e: &Experiment, b: usize) -> Vec<attractor::sim::Trial> {
    (0..b)
        .map(|k| attractor::sim::Trial {
            seed: 7 + k as u64,
            trial: k as u32,
            m_scale: 0.8 + 0.4 * (k % 11) as f64 / 10.0,
            h_scale: 0.9 + 0.2 * (k % 5) as f64 / 4.0,
            noise: if k % 2 == 1 { 0.05 } else { 0.0 },
            initial: Some(
                (0..e.network.n)
                    .map(|i| 0.1 * (((i * 7 + k * 13) % 17) as f64 / 17.0 - 0.3))
                    .collect(),
            ),
        })
        .collect()
}

/// A batch of `b` mild trials on the GPU against each trial alone on the
/// CPU, as `batch_matches`.
#[track_caller]
fn large_batch_matches(e: &Experiment, b: usize, tol: f64) {
    batch_matches_on(&mut gpu(), e, &mild_trials(e, b), tol, false, "");
}

#[test]
fn dense_batch_split_over_columns_matches_the_cpu() {
    let mut dense = dense_exp(70, r#"activation = { kind = "tanh" }"#);
    dense.simulation.noise = 0.05;
    // The batch kernel with its columns split into 2 and 8 spans (each
    // span's sums stored, then dense_batch_finish adds them and updates),
    // the split a hardware GPU takes where the tiles alone leave its
    // multiprocessors idle. N = 70 is 18 vec4 columns: 8 spans of 4 leave
    // the last three empty. (B = 1 and 3 run the row kernels: no split.)
    let mut split = gpu();
    for k in [2, 8] {
        split.set_batch_split(Some(k)).unwrap();
        for b in [64, 256, 300] {
            batch_matches_on(
                &mut split,
                &dense,
                &mild_trials(&dense, b),
                1e-5,
                false,
                &format!("{k} spans, "),
            );
        }
    }
    // Split spans over row blocks: a 64 KiB binding splits the 300×300
    // matrix into 6 blocks, each block's spans summed apart.
    let blocked = dense_exp(300, r#"activation = { kind = "tanh" }"#);
    let mut split_blocks = gpu().with_binding_limit(64 << 10);
    split_blocks.set_batch_split(Some(4)).unwrap();
    batch_matches_on(
        &mut split_blocks,
        &blocked,
        &mild_trials(&blocked, 9),
        1e-5,
        false,
        "row blocks in 4 spans, ",
    );
    for bad in [3, 16] {
        let err = split.set_batch_split(Some(bad)).unwrap_err().to_string();
        assert!(
            err.contains("dense batch split") && err.contains("power of two up to 8"),
            "{err}"
        );
    }
    // rk4 in 4 spans.
    let mut dense_rk4 = dense_exp(37, r#"activation = { kind = "relu" }"#);
    dense_rk4.simulation.method = attractor::model::Method::Rk4;
    split.set_batch_split(Some(4)).unwrap();
    batch_matches_on(
        &mut split,
        &dense_rk4,
        &mild_trials(&dense_rk4, 64),
        1e-5,
        false,
        "rk4 in 4 spans, ",
    );
}

#[test]
fn every_kernel_matches_the_cpu_at_batches_of_1_3_64_and_256() {
    // Dense: B = 1 and 3 run dense_step (one trial tile), 64 and 256 the
    // tiled dense_batch (every trial in one tile), 300 two tiles of 256;
    // N = 70 leaves partial row tiles and a partial column slice.
    let mut dense = dense_exp(70, r#"activation = { kind = "tanh" }"#);
    dense.simulation.noise = 0.05;
    for b in [1, 3, 64, 256, 300] {
        large_batch_matches(&dense, b, 1e-5);
    }
    // The stacked row kernel (8 rows per thread, one trial per workgroup),
    // the shape a hardware GPU runs one trial with, at every batch.
    let mut stacked = gpu();
    stacked
        .set_dense_shape(Some(attractor::sim::gpu::kernels::DenseShape {
            workgroup: 256,
            rows: 16,
            stack: 8,
        }))
        .unwrap();
    for b in [1, 3, 64, 256] {
        batch_matches_on(
            &mut stacked,
            &dense,
            &mild_trials(&dense, b),
            1e-5,
            false,
            "stacked",
        );
    }
    // rk4 through the batch kernel.
    let mut dense_rk4 = dense_exp(37, r#"activation = { kind = "relu" }"#);
    dense_rk4.simulation.method = attractor::model::Method::Rk4;
    large_batch_matches(&dense_rk4, 64, 1e-5);
    // Ring (R = 3: structured_step + project_finish), rk4, N not a multiple
    // of the workgroup.
    let ring = exp(r#"
        [network]
        n = 301
        tau = 0.01
        activation = { kind = "relu" }
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.5
        [simulation]
        duration = 0.02
        dt = 0.0005
        method = "rk4"
        record_every = 20
        "#);
    for b in [1, 3, 64, 256] {
        large_batch_matches(&ring, b, 1e-5);
    }
    // Hebbian with 7 patterns (project_rest for rows 4..6, a partial block)
    // and current dynamics.
    let hebbian = exp(r#"
        [network]
        n = 4099
        tau = 0.01
        dynamics = "current"
        activation = { kind = "tanh", beta = 2.0 }
        weights = { kind = "hebbian", patterns = 7, seed = 3 }
        [[input]]
        kind = "pattern"
        index = 0
        scale = 0.5
        [simulation]
        duration = 0.01
        dt = 0.0005
        record_every = 10
        "#);
    for b in [1, 3, 64] {
        large_batch_matches(&hebbian, b, 1e-5);
    }
    // Low rank 6 with U apart from V.
    let dir = tempfile::tempdir().unwrap();
    let n = 50;
    let u: Vec<f32> = (0..n * 6).map(|k| 0.1 * ((k as f32) * 0.7).sin()).collect();
    let v: Vec<f32> = (0..n * 6).map(|k| 0.1 * ((k as f32) * 0.3).cos()).collect();
    attractor::output::write_npy_f32(&dir.path().join("u.npy"), &[n, 6], &u).unwrap();
    attractor::output::write_npy_f32(&dir.path().join("v.npy"), &[n, 6], &v).unwrap();
    let low = exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        activation = {{ kind = "tanh" }}
        weights = {{ kind = "low_rank", u = "{d}/u.npy", v = "{d}/v.npy" }}
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 1.0
        [simulation]
        duration = 0.02
        dt = 0.0005
        method = "rk4"
        record_every = 10
        "#,
        d = dir.path().display()
    ));
    for b in [1, 3, 64] {
        large_batch_matches(&low, b, 1e-5);
    }
}

#[test]
fn the_encoder_counts_what_the_schedule_lists() {
    // The ledger a run reports is counted as the encoder records each
    // dispatch: it equals the schedule's count per step and its bytes, for
    // each kernel family; and with timestamp queries the GPU time is
    // positive and within the wall time.
    use attractor::sim::gpu::schedule::Schedule;
    let ring = exp(r#"
        [network]
        n = 1000
        tau = 0.01
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }
        [simulation]
        duration = 0.01
        dt = 0.001
        method = "rk4"
        "#);
    let hebbian = exp(r#"
        [network]
        n = 500
        tau = 0.01
        weights = { kind = "hebbian", patterns = 9 }
        [simulation]
        duration = 0.01
        dt = 0.001
        "#);
    let dense = dense_exp(40, "");
    let mut g = gpu();
    for (e, b, per_step) in [
        (&ring, 1, 8),
        (&ring, 5, 8),
        (&hebbian, 2, 3),
        (&dense, 1, 1),
        (&dense, 64, 1),
    ] {
        let ts = mild_trials(e, b);
        let rec = &g.run_batch(e, &ts, &mut |_| {}).unwrap()[0];
        let ledger = rec.ledger.expect("GPU runs carry their ledger");
        let schedule = Schedule::new(&g.launch(e, b));
        assert_eq!(ledger.steps, e.simulation.steps);
        assert_eq!(schedule.dispatches_per_step(), per_step);
        assert_eq!(ledger.step_dispatches, e.simulation.steps * per_step as u64);
        assert_eq!(
            ledger.step_bytes,
            e.simulation.steps * schedule.bytes_per_step()
        );
        let records = e.simulation.records();
        assert_eq!(
            ledger.other_dispatches,
            (schedule.prologue.len() + schedule.record.len() * records as usize) as u64
        );
        if let Some(s) = ledger.gpu_seconds {
            assert!(
                s > 0.0 && s <= rec.wall_seconds,
                "{s} s on the GPU, {} s wall",
                rec.wall_seconds
            );
        }
    }
    // A shape set for the row kernel runs it at every batch size: a batch
    // of 64 then streams M (4.8 MB, more than the cache the model assumes)
    // once per tile of 4 trials, 16 times; dense_batch reads it once.
    let n = 1100;
    let big = attractor::bench::experiment(
        attractor::bench::Case::new(attractor::bench::OperatorKind::Dense, n),
        2,
    )
    .unwrap();
    let m_bytes = (n * n * 4) as f64;
    g.set_dense_shape(Some(g.dense_shape(n, 64))).unwrap();
    let rec = &g
        .run_batch(&big, &mild_trials(&big, 64), &mut |_| {})
        .unwrap()[0];
    assert_eq!(rec.ledger.unwrap().weight_bytes_per_step(), 16.0 * m_bytes);
    g.set_dense_shape(None).unwrap();
    let rec = &g
        .run_batch(&big, &mild_trials(&big, 64), &mut |_| {})
        .unwrap()[0];
    assert_eq!(rec.ledger.unwrap().weight_bytes_per_step(), m_bytes);
}

#[test]
fn subgroup_and_portable_sums_give_the_cpu_numbers() {
    // The structured kernels' workgroup sums with subgroup operations (where
    // the adapter has them; lavapipe does, with 8-wide subgroups) and with
    // the portable tree: both match the CPU, ring and Hebbian (R > 4), at
    // B = 1 and 3.
    let ring = exp(r#"
        [network]
        n = 5000
        tau = 0.01
        activation = { kind = "relu" }
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.5
        [simulation]
        duration = 0.02
        dt = 0.0005
        record_every = 20
        "#);
    let hebbian = exp(r#"
        [network]
        n = 999
        tau = 0.01
        activation = { kind = "tanh", beta = 2.0 }
        weights = { kind = "hebbian", patterns = 6, seed = 4 }
        [[input]]
        kind = "pattern"
        index = 2
        scale = 0.5
        [simulation]
        duration = 0.01
        dt = 0.0005
        record_every = 10
        "#);
    let mut g = gpu();
    println!("subgroups on this adapter: {}", g.uses_subgroups());
    for subgroups in [true, false] {
        g.set_subgroups(subgroups);
        assert!(subgroups || !g.uses_subgroups());
        for e in [&ring, &hebbian] {
            for b in [1, 3] {
                let what = format!("subgroups {subgroups}: ");
                batch_matches_on(&mut g, e, &mild_trials(e, b), 1e-5, false, &what);
            }
        }
    }
}

/// A stop requested from the progress callback ends a long run early on
/// both backends (CPU: one trial and a parallel batch; GPU: one batch) with
/// `Error::Interrupted`, at a step well before the end; a stop never
/// requested leaves the run whole.
#[test]
fn a_stop_ends_runs_early_on_both_backends() {
    use attractor::sim::{cpu::CpuBackend, Stop, Trial};
    // 10^6 steps of a 512-neuron ring: minutes on either backend if not
    // stopped.
    let e = exp_with(
        &std::fs::read_to_string("examples/ring_memory.toml").unwrap(),
        &["simulation.duration=500", "simulation.record_every=100000"],
    );
    let steps = e.simulation.steps;
    let trials: Vec<Trial> = (0..3)
        .map(|k| Trial {
            trial: k,
            ..Trial::of(&e)
        })
        .collect();
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(CpuBackend), Box::new(gpu())];
    for b in backends.iter_mut() {
        for ts in [&trials[..1], &trials[..]] {
            let stop = Stop::default();
            let mut calls = 0;
            let got = b.run_batch_until(
                &e,
                ts,
                &mut |_| {
                    calls += 1;
                    if calls == 2 {
                        stop.request();
                    }
                },
                &stop,
            );
            match got {
                Err(attractor::Error::Interrupted { step, steps: s }) => {
                    assert_eq!(s, steps);
                    assert!(step < steps / 10, "{}: stopped at {step}", b.name());
                }
                other => panic!("{}: {:?}", b.name(), other.map(|r| r.len())),
            }
        }
    }
    let short = exp_with(
        &std::fs::read_to_string("examples/ring_memory.toml").unwrap(),
        &["simulation.duration=0.05"],
    );
    let whole = CpuBackend
        .run_batch_until(&short, &[Trial::of(&short)], &mut |_| {}, &Stop::default())
        .unwrap();
    assert_eq!(whole[0].steps_done, short.simulation.steps);
}

/// A random network (current dynamics, tanh), its weights generated in
/// `dense_step` (`materialise = false`) or stored, `n` neurons, connection
/// probability `p`; 5 tau, short enough that the chaos above g = 1 has not
/// amplified f32 rounding beyond what `same` allows.
fn random_exp(n: usize, p: f64, materialise: bool) -> Experiment {
    exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        dynamics = "current"
        activation = {{ kind = "tanh" }}
        weights = {{ kind = "random", g = 1.5, sparsity = {p}, seed = 5, materialise = {materialise} }}
        [initial]
        kind = "random"
        low = -1.0
        high = 1.0
        [simulation]
        duration = 0.05
        dt = 0.001
        record_every = 5
        "#
    ))
}

#[test]
fn generated_random_weights_match_the_cpu() {
    // The kernel's f32 Box–Muller (log, sqrt and the series of cos_2pi and
    // sin_2pi) against the CPU's f64 one: entries agree to a few f32 ulps,
    // so the runs agree as f32 arithmetic allows (`same`, 1e-5 of scale).
    // N = 301 and 1030 pad the last vec4 of each row.
    for (n, p) in [(301, 1.0), (301, 0.2), (1030, 0.05)] {
        let e = random_exp(n, p, false);
        assert!(matches!(
            e.network.weights.shape(),
            attractor::model::Shape::Generated { .. }
        ));
        same(&e, 1e-5);
    }
    // Stored: the dense kernel reads the materialised matrix.
    same(&random_exp(301, 0.2, true), 1e-5);
}

#[test]
fn generated_random_weights_in_a_batch_of_trial_tiles() {
    // Six trials: two tiles of DENSE_TILE = 4, each generating M anew, with
    // the trials' own M scales (a sweep over g shares one J).
    let e = random_exp(301, 0.5, false);
    batch_matches(&e, 6, 1e-5);
}

#[test]
fn packed_hebbian_on_the_gpu_matches_the_packed_cpu() {
    // Packed patterns (the CPU's bit product) against the GPU's (the
    // kernels unpack each unit's bit); with a selection of overlaps (the cued
    // 0 and 1, and the largest other) built from the GPU's metric sums.
    let e = exp(r#"
        [network]
        n = 301
        tau = 0.01
        dynamics = "current"
        activation = { kind = "tanh", beta = 3.0 }
        weights = { kind = "hebbian", patterns = 9, seed = 2, packed = true }
        [[input]]
        kind = "pattern"
        index = 1
        scale = 0.1
        [initial]
        kind = "pattern"
        index = 0
        flip = 0.25
        [simulation]
        duration = 0.05
        dt = 0.0005
        record_every = 25
        [record]
        overlaps = "cued"
        "#);
    assert_eq!(
        run(&e).metric_names,
        [
            "mean_rate",
            "overlap_0",
            "overlap_1",
            "overlap_max_rest",
            "energy"
        ]
    );
    same(&e, 1e-5);
    // The GPU reads the bits, not f32 tables: a step reads 9 rows (the
    // update) and rows 4 to 8 again (project_rest), each of ceil(301 / 32)
    // = 10 words, plus the diagonal; unpacked, rows of 301 floats.
    let ledger = |e: &Experiment| {
        let l = gpu_run(e).ledger.expect("GPU runs carry their ledger");
        l.step_weight_bytes / l.steps
    };
    let mut float = e.clone();
    float.network.weights = attractor::model::Weights::Hebbian {
        n: 301,
        p: 9,
        xi: e.network.weights.metric_table(),
    };
    let (packed, unpacked) = (ledger(&e), ledger(&float));
    let diag = 301 * 4;
    assert_eq!(
        packed - diag,
        (9 + 5) * 10 * 4,
        "packed table bytes per step"
    );
    assert_eq!(
        unpacked - diag,
        (9 + 5) * 301 * 4,
        "f32 table bytes per step"
    );
    // And as a batch of trials with their own scales, states and noise.
    batch_matches(&e, 3, 1e-5);
}

/// Packed projections by pattern (`packed_project`, a thread per pattern)
/// and by blocks of 4 (`project_rest`) give the CPU's run, where neuron
/// groups (4096 neurons), their stages (512) and the pattern groups (256
/// patterns past the first 4) all end part-way: N = 5000 (two neuron
/// groups, the second's 904 neurons a stage and 392 of the next, the last
/// word 8 neurons long), P = 300 (patterns 4 to 299: a group of 256 and one
/// of 40; the update's chunks of 128 patterns: 128, 128 and 44), two trials.
#[test]
fn packed_projections_by_pattern_and_by_block_match_the_cpu() {
    let e = exp(r#"
        [network]
        n = 5000
        tau = 0.01
        dynamics = "current"
        activation = { kind = "tanh", beta = 3.0 }
        weights = { kind = "hebbian", patterns = 300, seed = 6, packed = true }
        [initial]
        kind = "pattern"
        index = 3
        flip = 0.1
        [simulation]
        duration = 0.005
        dt = 0.0005
        method = "rk4"
        record_every = 5
        "#);
    for by_pattern in [true, false] {
        let mut g = gpu();
        g.set_by_pattern(by_pattern);
        assert_eq!(g.by_pattern(), by_pattern);
        same_on(&e, 1e-5, &mut g);
        batch_matches_on(
            &mut g,
            &e,
            &trials(&e, 2),
            1e-5,
            false,
            &format!("by pattern {by_pattern}, "),
        );
    }
}

/// A ring of 4096 × 1025 + 1 neurons has 1026 partial sums a projection,
/// which `project_finish` adds in one workgroup a projection, each thread
/// four loads at a time (`total_of_partials`: the 4-load loop runs, then the
/// remainder). The run is the CPU's, alone and as 2 trials (tolerance as
/// `same`). About 12 s here (4.2 million neurons on the software adapter
/// and the f64 CPU).
#[test]
fn many_partial_sums_a_projection_match_the_cpu() {
    use attractor::sim::gpu::kernels::{PROJECT_CHUNK, STRUCTURED_WORKGROUP};
    let n = PROJECT_CHUNK * 1025 + 1;
    let e = exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        activation = {{ kind = "relu" }}
        weights = {{ kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }}
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.5
        [simulation]
        duration = 0.003
        dt = 0.0005
        record_every = 3
        "#
    ));
    let groups = gpu().launch(&e, 1).projection_groups();
    assert_eq!(groups, 1026);
    assert!(groups > 3 * STRUCTURED_WORKGROUP, "the 4-load loop runs");
    same(&e, 1e-5);
    // The batch's states (its early metrics include the bump's position
    // while the profile is still nearly flat, an angle of sums that nearly
    // cancel).
    batch_matches_on(
        &mut gpu(),
        &e,
        &trials(&e, 2),
        1e-5,
        false,
        "many partials, ",
    );
}

/// Fewer than 4 packed patterns: the update's one chunk of patterns ends
/// inside its first 4 (signed sums over P < 4 projections, the rest 0), and
/// its projections come from the update alone (no `project_rest`). N = 77
/// (a partial set of 256 and a partial word), P = 1, 2, 3, alone and as 3
/// trials; tolerance as `same`.
#[test]
fn packed_hebbian_with_fewer_than_four_patterns_matches_the_cpu() {
    for p in 1..=3 {
        let e = exp(&format!(
            r#"
            [network]
            n = 77
            tau = 0.01
            dynamics = "current"
            activation = {{ kind = "tanh", beta = 3.0 }}
            weights = {{ kind = "hebbian", patterns = {p}, seed = 8, packed = true }}
            [initial]
            kind = "pattern"
            index = 0
            flip = 0.2
            [simulation]
            duration = 0.01
            dt = 0.0005
            record_every = 5
            "#
        ));
        same(&e, 1e-5);
        batch_matches(&e, 3, 1e-5);
    }
}

#[test]
fn packed_patterns_split_over_bindings() {
    // P = 400 patterns of N = 301 units: 10 blocks of 32 units of 1600
    // bytes each. A 4800-byte binding limit holds 3 blocks, so the bits
    // are split over 4 bindings (3, 3, 3 and 1 blocks); the run is the
    // CPU's (tolerance as `same`).
    let e = exp(r#"
        [network]
        n = 301
        tau = 0.01
        dynamics = "current"
        activation = { kind = "tanh", beta = 3.0 }
        weights = { kind = "hebbian", patterns = 400, seed = 4, packed = true }
        [initial]
        kind = "pattern"
        index = 7
        flip = 0.1
        [simulation]
        duration = 0.01
        dt = 0.0005
        record_every = 10
        [record]
        overlaps = [7, 399]
        "#);
    let cpu = run(&e);
    let cpu32 = run32(&e);
    let g = gpu().with_binding_limit(4800).run(&e, &mut |_| {}).unwrap();
    let scale = cpu.final_state.iter().fold(1e-3f64, |a, x| a.max(x.abs()));
    let f32_err = max_diff(&cpu32.final_state, &cpu.final_state);
    all_close(
        &g.final_state,
        &cpu.final_state,
        1e-5 * scale + 4.0 * f32_err,
        "packed over 4 bindings",
    );
    for (gm, cm) in g.metrics.iter().zip(&cpu.metrics) {
        all_close(&gm[..3], &cm[..3], 1e-5, "overlaps over 4 bindings");
    }
    // 1600 bytes hold one block: 10 bindings are more than the kernels read.
    let err = gpu()
        .with_binding_limit(1600)
        .run(&e, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("bindings"), "{err}");
}

/// Moving inputs and the velocity's turn of the ring's kernel, evaluated on
/// the GPU from a few coefficients per step: a steady moving bump, a von
/// Mises bump along a trajectory file, a velocity from samples (fused
/// Euler and the staged rk4 kernels), and played files (on a ring and on a
/// diagonal network), each equal to the CPU's run (angles kept away from
/// +-pi, where the wrapped bump_theta and bump_lag would jump by 2 pi).
#[test]
fn moving_inputs_and_velocity_on_the_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("path.csv"),
        "t,theta\n0.0,-0.5\n0.04,0.3\n0.1,0.1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("v.csv"),
        "t,v\n0.02,0.0\n0.05,8.0\n0.08,-3.0\n",
    )
    .unwrap();
    let movie: Vec<f32> = (0..4 * 301)
        .map(|k| 0.5 + 0.4 * ((k % 301) as f32 * 0.05 + (k / 301) as f32).cos())
        .collect();
    attractor::output::write_npy_f32(&dir.path().join("movie.npy"), &[4, 301], &movie).unwrap();
    let ring = |method: &str, inputs: &str| {
        exp(&format!(
            r#"
            [network]
            n = 301
            tau = 0.01
            activation = {{ kind = "clip", min = 0.0, max = 1.0 }}
            weights = {{ kind = "ring", lambda0 = 0.2, lambda1 = 2.1 }}
            {inputs}
            [simulation]
            duration = 0.1
            dt = 0.0005
            method = "{method}"
            record_every = 20
            "#
        ))
    };
    let cue = "[[input]]\nend = 0.02\nkind = \"bump\"\nc = 1.0\nepsilon = 0.2\ntheta = 0.4\n";
    for method in ["euler", "rk4"] {
        same(
            &ring(
                method,
                "[[input]]\nkind = \"bump\"\nc = 1.0\nepsilon = 0.3\ntheta = -0.5\nvelocity = 6.0\n",
            ),
            1e-5,
        );
        same(
            &ring(
                method,
                &format!("[[input]]\nkind = \"von_mises\"\nc = 0.8\nkappa = 3.0\ntrajectory = \"{d}/path.csv\"\n"),
            ),
            1e-5,
        );
        same(
            &ring(
                method,
                &format!("{cue}[[input]]\nkind = \"velocity\"\npath = \"{d}/v.csv\"\n"),
            ),
            1e-5,
        );
        same(
            &ring(
                method,
                &format!("{cue}[[input]]\nstart = 0.03\nkind = \"file\"\npath = \"{d}/movie.npy\"\nframe = 0.01\n"),
            ),
            1e-5,
        );
    }
    let values: Vec<String> = (0..301)
        .map(|i| format!("{}", (i % 7) as f64 * 0.1 - 0.3))
        .collect();
    same(
        &exp(&format!(
            r#"
            [network]
            n = 301
            tau = 0.01
            weights = {{ kind = "diagonal", values = [{}] }}
            [[input]]
            start = 0.005
            kind = "file"
            path = "{d}/movie.npy"
            frame = 0.01
            [[input]]
            kind = "uniform"
            value = 0.1
            [simulation]
            duration = 0.06
            dt = 0.001
            record_every = 5
            "#,
            values.join(", ")
        )),
        1e-5,
    );
    // More moving profiles at once than the step parameters hold.
    let many: String = (0..5)
        .map(|k| format!("[[input]]\nkind = \"bump\"\nc = 1.0\nepsilon = 0.1\ntheta = {k}.0\nvelocity = 1.0\n"))
        .collect();
    let e = gpu()
        .run(&ring("euler", &many), &mut |_| {})
        .expect_err("5 moving profiles at once")
        .to_string();
    assert!(e.contains("input") && e.contains("at most 4"), "{e}");
}

/// A GPU sweep over a moving input's amplitude runs its points as one
/// batch (the canonical input, each trial's scale of h): each point's
/// final metrics equal the CPU's run of that point (within f32 rounding:
/// 1e-4 of the values, which are of order 1). c up to 1.2: at 2 the rates
/// saturate at 1 everywhere and the bump's angle is undefined.
#[test]
fn moving_input_sweeps_batch_on_the_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sweep = dir.path().join("s.toml");
    std::fs::write(
        &sweep,
        format!(
            "base = \"{}/examples/tracking.toml\"\n[grid]\n\"input.0.c\" = [0.5, 0.8, 1.2]\n\"simulation.duration\" = [0.3]\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_attractor"))
        .arg("sweep")
        .arg(&sweep)
        .arg("--out")
        .arg(&out)
        .args(["--backend", "gpu"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let path = format!("{}/examples/tracking.toml", env!("CARGO_MANIFEST_DIR"));
    for (line, c) in text.lines().skip(1).zip(["0.5", "0.8", "1.2"]) {
        let f: Vec<&str> = line.split(',').collect();
        let e = Experiment::load(
            std::path::Path::new(&path),
            &[format!("input.0.c={c}"), "simulation.duration=0.3".into()],
        )
        .unwrap();
        let r = run(&e);
        // A bump, not the saturated all-ones state (c = 2 would be).
        assert!(*r.metric("bump_amplitude").unwrap().last().unwrap() > 0.5);
        for name in ["bump_theta", "bump_amplitude", "bump_lag"] {
            let want = *r.metric(name).unwrap().last().unwrap();
            let got: f64 = f[col(name)].parse().unwrap();
            close(got, want, 1e-4, &format!("{name} at c = {c}"));
        }
    }
}

/// The torus (rank 5: the project_rest path of the structured kernels) on
/// the GPU, with its places' (x, y) computed on the device from the side
/// (odd: 17): a 2D cue then a 2D velocity from (t, v_x, v_y) samples, a
/// von Mises input along a (t, x, y) trajectory and a steadily moving
/// bump, by Euler and rk4, each equal to the CPU's run.
#[test]
fn torus_with_moving_inputs_on_the_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("v.csv"),
        "t,vx,vy\n0.02,0.0,0.0\n0.05,6.0,-3.0\n0.08,-2.0,4.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("path.csv"),
        "t,x,y\n0.0,-0.5,0.5\n0.05,0.2,0.1\n0.1,0.4,-0.6\n",
    )
    .unwrap();
    let torus = |method: &str, inputs: &str| {
        exp(&format!(
            r#"
            [network]
            n = 289
            tau = 0.01
            activation = {{ kind = "clip", min = 0.0, max = 1.0 }}
            weights = {{ kind = "torus", lambda0 = 0.5, lambda1 = 3.0 }}
            {inputs}
            [simulation]
            duration = 0.1
            dt = 0.0005
            method = "{method}"
            record_every = 20
            "#
        ))
    };
    let cue =
        "[[input]]\nend = 0.02\nkind = \"bump\"\nc = 1.0\nepsilon = 1.0\ntheta = [0.3, -0.4]\n";
    for method in ["euler", "rk4"] {
        same(
            &torus(
                method,
                &format!("{cue}[[input]]\nkind = \"velocity\"\npath = \"{d}/v.csv\"\n"),
            ),
            1e-5,
        );
        same(
            &torus(
                method,
                &format!("[[input]]\nkind = \"von_mises\"\nc = 0.8\nkappa = 2.0\ntrajectory = \"{d}/path.csv\"\n"),
            ),
            1e-5,
        );
        same(
            &torus(
                method,
                "[[input]]\nkind = \"bump\"\nc = 1.0\nepsilon = 0.5\ntheta = [-0.5, 0.2]\nvelocity = [4.0, -3.0]\n",
            ),
            1e-5,
        );
    }
}

/// Gaussian and Mexican-hat kernels: the GPU's two separable passes per
/// stage give the CPU's FFT products, for one and two Gaussians, rate and
/// current dynamics, euler and rk4, on odd and even sides (17² and 12²,
/// read from memory; 16² and 256², staged in workgroup memory by rows and
/// blocks),
/// and a batch of trials with their own scales of M and noise (to 1e-5 of
/// the scale plus the f32 run's own error, as everywhere here).
#[test]
fn gaussian_kernels_on_the_gpu() {
    let sheet = |n: usize, weights: &str, dynamics: &str, method: &str, noise: f64| {
        exp(&format!(
            r#"
            [network]
            n = {n}
            tau = 0.01
            dynamics = "{dynamics}"
            activation = {{ kind = "clip", min = 0.0, max = 1.0 }}
            weights = {{ kind = "gaussian", {weights} }}
            [[input]]
            end = 0.02
            kind = "bump"
            c = 1.0
            epsilon = 1.0
            theta = [0.5, -1.0]
            [[input]]
            kind = "uniform"
            value = 0.1
            [simulation]
            duration = 0.04
            dt = 0.0005
            method = "{method}"
            record_every = 20
            noise = {noise}
            "#
        ))
    };
    let hat = "excitation = 6.0, sigma = 0.6, inhibition = 9.0, sigma_inhibition = 1.6";
    for (n, weights, dynamics, method) in [
        (289, hat, "rate", "euler"),
        (144, hat, "current", "rk4"),
        // A side of 16 divides the workgroup: the row pass stages whole rows.
        (256, hat, "current", "rk4"),
        (289, "excitation = 2.0, sigma = 0.5", "rate", "rk4"),
        (
            144,
            "excitation = 2.0, sigma = 0.5",
            "current",
            "exponential",
        ),
    ] {
        println!("{n} {weights} {dynamics} {method}");
        same(&sheet(n, weights, dynamics, method, 0.0), 1e-5);
    }
    batch_matches(&sheet(289, hat, "rate", "euler", 0.05), 3, 1e-5);
    // A side of 256, a multiple of the workgroup: the row pass stages each
    // row a tile at a time (10 steps: 65,536 neurons of 256 terms a pass).
    let wide = exp_with(
        &format!(
            "[network]\nn = 65536\ntau = 0.01\ndynamics = \"current\"\n\
             activation = {{ kind = \"clip\", min = 0.0, max = 1.0 }}\n\
             weights = {{ kind = \"gaussian\", {hat} }}\n\
             [[input]]\nkind = \"bump\"\nc = 1.0\nepsilon = 1.0\ntheta = [0.5, -1.0]\n\
             [simulation]\nduration = 0.005\ndt = 0.0005\nrecord_every = 5\n"
        ),
        &[],
    );
    // Staged in workgroup memory (as on a hardware GPU) and not (the
    // software adapter's default).
    let mut staged = gpu();
    staged.set_convolution_staged(Some(true));
    same_on(&wide, 1e-5, &mut staged);
    same(&wide, 1e-5);
    // The states of a batch (its metrics are sums of 65,536 terms that
    // nearly cancel: f32 summation errors of 1e-4, either way).
    batch_matches_on(
        &mut staged,
        &wide,
        &trials(&wide, 2),
        1e-5,
        false,
        "side 256, ",
    );
    for method in ["euler", "rk4"] {
        same_on(&sheet(256, hat, "current", method, 0.0), 1e-5, &mut staged);
    }
    // A velocity turns the kernel (the odd row passes), on both backends.
    for (n, method) in [(289, "euler"), (144, "rk4"), (256, "euler")] {
        let mut e = sheet(n, hat, "rate", method, 0.0);
        let turned = exp(&format!(
            "[network]\nn = {n}\ntau = 0.01\nweights = {{ kind = \"gaussian\", {hat} }}\n\
             [[input]]\nkind = \"velocity\"\nstart = 0.01\nvalue = [3.0, -2.0]\n\
             [simulation]\nduration = 0.04\ndt = 0.0005\n"
        ));
        e.velocity = turned.velocity;
        same(&e, 1e-5);
        same_on(&e, 1e-5, &mut staged);
        // The turn moved the bump (0.03 s at 3 rad/s along x).
        let still = run(&sheet(n, hat, "rate", method, 0.0));
        let x = |r: &Recording| *r.metric("bump_x").unwrap().last().unwrap();
        assert!(x(&gpu_run(&e)) - x(&still) > 0.03, "{method}");
    }
}

/// Grids fold and bits split for real on the software adapter under
/// lowered limits. With at most 4 workgroups a grid dimension, a ring of
/// 20,000 neurons folds its 5 projection groups and the 5 × 3 workgroups
/// of its metric sums over two dimensions (Euler and rk4). With 32, 400
/// packed patterns fold the projections' finish (400), their partial sums
/// (100 blocks of 4) and the metric passes' 401 sums, and 1600 bytes of bits a block over bindings of
/// 4800 bytes use 4 bindings. Each run equals the CPU's (tolerances as
/// `same`: 1e-5 of the values beyond f32 rounding).
#[test]
fn grids_fold_and_bits_split_under_lowered_limits() {
    for method in ["euler", "rk4"] {
        let e = exp_with(
            &std::fs::read_to_string("examples/ring_memory.toml").unwrap(),
            &[
                "network.n=20000",
                "simulation.duration=0.02",
                "simulation.record_every=10",
                &format!("simulation.method=\"{method}\""),
            ],
        );
        same_on(&e, 1e-5, &mut gpu().with_grid_limit(4));
    }
    let e = exp(r#"
        [network]
        n = 301
        tau = 0.01
        dynamics = "current"
        activation = { kind = "tanh", beta = 3.0 }
        weights = { kind = "hebbian", patterns = 400, seed = 4, packed = true }
        [initial]
        kind = "pattern"
        index = 7
        flip = 0.1
        [simulation]
        duration = 0.01
        dt = 0.0005
        record_every = 10
        [record]
        overlaps = "all"
        "#);
    let mut g = gpu().with_grid_limit(32).with_binding_limit(4800);
    let launch = g.launch(&e, 1);
    let schedule = attractor::sim::gpu::schedule::Schedule::new(&launch);
    for d in schedule.stages.iter().flatten().chain(&schedule.record) {
        assert!(d.workgroups.iter().all(|&w| w <= 32), "{d:?}");
    }
    assert!(
        schedule.record.iter().all(|d| d.workgroups[1] > 1),
        "folded"
    );
    same_on(&e, 1e-5, &mut g);
}

/// The plan of a batch is what its run allocates: for every operator of
/// the bench at small sizes, one trial and five (the tiled batch kernel),
/// rk4's stage buffers, and packed patterns split over bindings, the
/// bytes of the buffers a prepared run made equal its plan's (which the
/// memory check and `attractor bench --plan` report).
#[test]
fn plans_are_what_runs_allocate() {
    use attractor::bench::{experiment, Case, OperatorKind};
    use attractor::sim::Trial;
    let cases = [
        (OperatorKind::Dense, 64),
        (OperatorKind::Ring, 1000),
        (OperatorKind::Torus, 64),
        (OperatorKind::Hebbian, 300),
        (OperatorKind::Packed, 301),
        (OperatorKind::Random, 64),
        (OperatorKind::Gaussian, 64),
    ];
    use attractor::model::Method;
    for (op, n) in cases {
        for (batch, method) in [(1, Method::Euler), (5, Method::Rk4)] {
            let mut e = experiment(Case::new(op, n), 3).unwrap();
            e.simulation.method = method;
            let trials: Vec<Trial> = (0..batch).map(|_| Trial::of(&e)).collect();
            let mut g = gpu().with_binding_limit(64 << 10);
            let plan = g.plan(&e, batch);
            assert!(plan.exceeded.is_empty(), "{op:?}: {:?}", plan.exceeded);
            let prepared = g.prepare(&e, &trials).unwrap();
            assert_eq!(
                prepared.allocated(),
                plan.bytes(),
                "{op:?} N = {n}, B = {batch}"
            );
        }
    }
}
