//! The counting build of the kernels against the schedule: every load and
//! store of a storage binding adds its bytes to that binding's counter
//! (shaders/common.wgsl, `count`), and the bytes the schedule says each
//! dispatch requests (`Traffic::requested`) must be exactly what was
//! counted, kernel by kernel and binding by binding, for every kernel
//! family at small awkward sizes. A kernel that read M twice, or a read
//! the schedule does not list, fails here. Exact equality: both sides are
//! integer byte counts of the same dispatches.

mod common;

use attractor::model::Experiment;
use attractor::sim::gpu::kernels::{DenseShape, Kernel};
use attractor::sim::gpu::GpuBackend;
use attractor::sim::Trial;

fn exp(text: &str) -> Experiment {
    Experiment::from_toml(text, std::path::Path::new("."), "counted", &[]).unwrap()
}

/// Counts a first stretch (the prologue and 2 steps) and a second (3
/// steps) of `b` trials of `e`; every binding of every kernel must be the
/// schedule's. Returns the second stretch's count.
fn counted_as_scheduled(name: &str, e: &Experiment, b: usize) -> attractor::sim::gpu::Counted {
    counted_with(name, e, b, None)
}

/// [`counted_as_scheduled`] with the dense row kernel of `shape`.
fn counted_with(
    name: &str,
    e: &Experiment,
    b: usize,
    shape: Option<DenseShape>,
) -> attractor::sim::gpu::Counted {
    counted_on(name, e, b, &|g| g.set_dense_shape(shape).unwrap())
}

/// [`counted_as_scheduled`] on a backend `setup` sets.
fn counted_on(
    name: &str,
    e: &Experiment,
    b: usize,
    setup: &dyn Fn(&mut GpuBackend),
) -> attractor::sim::gpu::Counted {
    let trials: Vec<Trial> = (0..b)
        .map(|k| {
            let mut t = Trial::of(e);
            t.trial = k as u32;
            t
        })
        .collect();
    let mut g = GpuBackend::new()
        .expect("a GPU adapter (CI installs lavapipe)")
        .with_counting();
    setup(&mut g);
    // The counters are in the plan of a counting run.
    let planned = g.plan(e, b).bytes();
    let run = g.prepare(e, &trials).unwrap();
    assert_eq!(run.allocated(), planned, "{name}");
    let mut last = None;
    for steps in [2, 3] {
        let c = run.count(steps).unwrap();
        let wrong = c.differences();
        assert!(
            wrong.is_empty(),
            "{name}, B = {b}, a stretch of {steps} steps: counted bytes differ from the schedule's:\n{}",
            wrong
                .iter()
                .map(|d| format!(
                    "  {:?} binding {} {}: counted {}, scheduled {}",
                    d.kernel,
                    d.binding,
                    if d.write { "written" } else { "read" },
                    d.measured,
                    d.scheduled
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
        last = Some(c);
    }
    last.unwrap()
}

fn dense(n: usize, method: &str) -> Experiment {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let r: Vec<String> = (0..n)
                .map(|j| {
                    format!(
                        "{:e}",
                        0.3 * (((i * 7 + j * 3) % 11) as f64 - 5.0) / n as f64
                    )
                })
                .collect();
            format!("[{}]", r.join(","))
        })
        .collect();
    exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        activation = {{ kind = "tanh" }}
        weights = {{ kind = "matrix", rows = [{}] }}
        [[input]]
        kind = "bump"
        c = 0.5
        epsilon = 0.8
        [simulation]
        duration = 0.01
        dt = 0.0005
        method = "{method}"
        record_every = 2
        "#,
        rows.join(",")
    ))
}

#[test]
fn dense_kernels_request_what_the_schedule_says() {
    // The row kernel (B up to 4: one trial tile) and the batch kernel
    // (B = 5), at N = 37 (rows padded to 40), every stage kind.
    for method in ["euler", "rk4", "exponential"] {
        let e = dense(37, method);
        for b in [1, 3, 5] {
            counted_as_scheduled(&format!("dense {method}"), &e, b);
        }
    }
    // Rows stacked 2, 4 and 8 per thread (the last thread's stack cut
    // short at 37 rows): the operand read once per stack, one trial per
    // workgroup.
    for (rows, stack) in [(4, 2), (16, 4), (16, 8)] {
        let shape = DenseShape {
            workgroup: 64,
            rows,
            stack,
        };
        let e = dense(37, "rk4");
        for b in [1, 3] {
            let c = counted_with(&format!("dense {shape}"), &e, b, Some(shape));
            // The operand: 40 floats per trial for each stack of rows.
            let stacks = 37usize.div_ceil(stack as usize);
            let read = c.measured(Kernel::DENSE_STACKED, 1, false);
            assert_eq!(read, (3 * 4 * stacks * b * 40 * 4) as u64, "{shape}");
        }
    }
    // The batch kernel with its columns in 2 and 8 spans (8 spans of the
    // 10 vec4 columns leave the last three empty): M read once per step,
    // each span's sums written once and read back once by the finish.
    let e = dense(37, "rk4");
    for split in [2usize, 8] {
        for b in [5, 9] {
            let c = counted_on(&format!("dense batch in {split} spans"), &e, b, &|g| {
                g.set_batch_split(Some(split as u32)).unwrap()
            });
            // 3 steps of 4 stages.
            let sums = c.measured(Kernel::DENSE_BATCH_FINISH, 10, false);
            assert_eq!(sums, (3 * 4 * split * b * 37 * 4) as u64, "{split} spans");
            assert_eq!(c.measured(Kernel::DENSE_BATCH, 10, true), sums);
            assert_eq!(
                c.measured(Kernel::DENSE_BATCH, 7, false),
                3 * 4 * 37 * 40 * 4,
                "{split} spans"
            );
            assert_eq!(c.measured(Kernel::DENSE_BATCH, 2, true), 0);
        }
    }
    // Generated weights: nothing read of M.
    let e = exp(r#"
        [network]
        n = 37
        tau = 0.01
        dynamics = "current"
        activation = { kind = "tanh" }
        weights = { kind = "random", g = 1.5, sparsity = 0.5, seed = 5, materialise = false }
        [simulation]
        duration = 0.01
        dt = 0.001
        record_every = 2
        "#);
    let c = counted_as_scheduled("generated", &e, 2);
    assert_eq!(c.measured(Kernel::DENSE_ROW, 7, false), 0);
}

#[test]
fn a_kernel_that_reads_m_twice_would_fail() {
    // The dense row kernel reads each row of M once per trial tile: 37
    // rows of 40 floats per step here, counted, and the schedule says so.
    let e = dense(37, "euler");
    let c = counted_as_scheduled("dense", &e, 1);
    assert_eq!(c.measured(Kernel::DENSE_ROW, 7, false), 3 * 37 * 40 * 4);
    assert_eq!(c.measured_weight_bytes_per_step(), (37 * 40 * 4) as f64);
}

fn ring(n: usize, method: &str, extra: &str) -> Experiment {
    exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        activation = {{ kind = "clip", min = 0.0, max = 1.0 }}
        weights = {{ kind = "ring", lambda0 = 0.3, lambda1 = 2.1 }}
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.2
        theta = 1.0
        {extra}
        [simulation]
        duration = 0.01
        dt = 0.0005
        method = "{method}"
        record_every = 2
        "#
    ))
}

#[test]
fn structured_kernels_request_what_the_schedule_says() {
    // The ring (R = 3, unit row 0, U = V), with and without a velocity
    // (the turned pair's partner projections), over several workgroups.
    for method in ["euler", "rk4"] {
        counted_as_scheduled("ring", &ring(4099, method, ""), 1);
        let turning = ring(
            1001,
            method,
            "[[input]]\nkind = \"velocity\"\nvalue = 3.0\n",
        );
        counted_as_scheduled("ring turning", &turning, 3);
    }
    // The torus (R = 5: project_rest).
    let torus = exp(r#"
        [network]
        n = 289
        tau = 0.01
        activation = { kind = "clip", min = 0.0, max = 1.0 }
        weights = { kind = "torus", lambda0 = 0.5, lambda1 = 3.0 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 1.0
        theta = [0.3, -0.4]
        [simulation]
        duration = 0.01
        dt = 0.0005
        method = "rk4"
        record_every = 2
        "#);
    counted_as_scheduled("torus", &torus, 3);
    // Hebbian with its diagonal and the energy's sums (P = 9: three blocks
    // of project_rest), f32 tables and bits.
    for packed in [false, true] {
        let e = exp(&format!(
            r#"
            [network]
            n = 301
            tau = 0.01
            dynamics = "current"
            activation = {{ kind = "tanh", beta = 3.0 }}
            weights = {{ kind = "hebbian", patterns = 13, seed = 2, packed = {packed} }}
            [[input]]
            kind = "pattern"
            index = 1
            scale = 0.1
            [initial]
            kind = "pattern"
            index = 0
            flip = 0.25
            [simulation]
            duration = 0.01
            dt = 0.0005
            method = "exponential"
            record_every = 2
            "#
        ));
        for b in [1, 3] {
            counted_as_scheduled(&format!("hebbian packed = {packed}"), &e, b);
        }
    }
    // Packed projections by pattern and by blocks of 4 where the neuron
    // groups, their staged quarters and the pattern groups end part-way
    // (N = 5000, P = 300).
    let e = exp(r#"
        [network]
        n = 5000
        tau = 0.01
        dynamics = "current"
        activation = { kind = "tanh", beta = 3.0 }
        weights = { kind = "hebbian", patterns = 300, seed = 6, packed = true }
        [simulation]
        duration = 0.01
        dt = 0.0005
        record_every = 2
        "#);
    for by_pattern in [true, false] {
        let c = counted_on(&format!("packed by pattern {by_pattern}"), &e, 1, &|g| {
            g.set_by_pattern(by_pattern)
        });
        // By pattern each word of patterns 4.. is read once a step: 296
        // patterns of ceil(5000 / 32) = 157 words, 3 steps.
        if by_pattern {
            assert_eq!(
                c.measured(Kernel::PACKED_PROJECT, 16, false),
                3 * 296 * 157 * 4
            );
        } else {
            assert_eq!(c.measured(Kernel::PACKED_PROJECT, 16, false), 0);
        }
    }
    // A diagonal alone (R = 0: the step only).
    let e = exp(r#"
        [network]
        n = 5
        tau = 0.02
        weights = { kind = "diagonal", values = [1.0, 0.5, -1.0, 0.9, 0.0] }
        [[input]]
        kind = "vector"
        values = [0.1, 0.2, 0.3, 0.4, 0.5]
        [simulation]
        duration = 0.01
        dt = 0.001
        record_every = 2
        "#);
    counted_as_scheduled("diagonal", &e, 2);
    // Low rank with U apart from V.
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
        duration = 0.01
        dt = 0.0005
        method = "rk4"
        record_every = 2
        "#,
        d = dir.path().display()
    ));
    counted_as_scheduled("low rank", &e, 3);
}

#[test]
fn convolution_kernels_request_what_the_schedule_says() {
    // Sides of 12 (the row pass reads each row's operand from memory for
    // every neuron), 16 (staged: whole rows in a workgroup, each neuron's
    // operand staged once) and 256 (staged: a row over workgroups, a tile
    // at a time), staged (as on a hardware GPU) and not (as on a software
    // adapter; not at 256², whose unstaged count takes long).
    let hat = "excitation = 6.0, sigma = 0.6, inhibition = 9.0, sigma_inhibition = 1.6";
    for (n, velocity, method) in [
        (144, "", "euler"),
        (144, "", "rk4"),
        (
            144,
            "[[input]]\nkind = \"velocity\"\nvalue = [3.0, -2.0]\n",
            "euler",
        ),
        (256, "", "rk4"),
        (
            256,
            "[[input]]\nkind = \"velocity\"\nvalue = [3.0, -2.0]\n",
            "euler",
        ),
        (65536, "", "euler"),
    ] {
        let e = exp(&format!(
            r#"
            [network]
            n = {n}
            tau = 0.01
            activation = {{ kind = "clip", min = 0.0, max = 1.0 }}
            weights = {{ kind = "gaussian", {hat} }}
            [[input]]
            kind = "bump"
            c = 1.0
            epsilon = 1.0
            theta = [0.5, -1.0]
            {velocity}
            [simulation]
            duration = 0.01
            dt = 0.0005
            method = "{method}"
            record_every = 2
            "#
        ));
        for staged in [true, false].into_iter().filter(|&s| s || n < 65536) {
            let name = format!("gaussian {n} {method} {velocity} staged {staged}");
            let c = counted_on(&name, &e, 2, &|g| g.set_convolution_staged(Some(staged)));
            // The row pass's operand (x, binding 3, in a euler step): a row
            // read per neuron at side 12 or unstaged, each neuron's own at
            // 16, a row per workgroup of 256 at 256; 3 steps of 2 trials.
            if method == "euler" {
                let side = (n as f64).sqrt() as u64;
                let per_trial = match side {
                    16 if staged => n as u64,
                    256 if staged => n as u64 / 256 * side,
                    _ => n as u64 * side,
                };
                assert_eq!(
                    c.measured(Kernel::CONV_ROWS, 3, false),
                    3 * 2 * per_trial * 4,
                    "{name}"
                );
            }
        }
    }
}

/// `sparse_step` requests what the schedule says, for light rows with
/// empty ones (N = 1000: 2 lanes a row), a heavy row (N = 3001, one row of
/// 2500 entries: a workgroup of its own), long rows (32 lanes) and
/// log-normal in-degrees, at B = 1, 3 and 64 (1, 1 and 16 trial tiles a
/// workgroup).
#[test]
fn the_sparse_kernel_requests_what_the_schedule_says() {
    use attractor::model::Weights;
    let random = common::random_sparse;
    let cases = [
        (
            "empty rows",
            random(1000, &|i| if i % 3 == 0 { 0 } else { 7 }, 1),
        ),
        (
            "a heavy row",
            random(3001, &|i| if i == 1234 { 2500 } else { 3 }, 2),
        ),
        ("long rows", random(300, &|_| 150, 3)),
        (
            "log-normal",
            attractor::bench::sparse::matrix(5000, 20, attractor::bench::DegreeSpread::Lognormal),
        ),
    ];
    for (what, m) in cases {
        let n = m.n();
        let mut e = exp(r#"
            [network]
            n = 1
            tau = 0.01
            activation = { kind = "tanh" }
            weights = { kind = "diagonal", values = [0.0] }
            [[input]]
            kind = "uniform"
            value = 0.2
            [simulation]
            duration = 0.01
            dt = 0.0005
            method = "rk4"
            record_every = 2
            "#);
        e.network.n = n;
        e.network.weights = Weights::Sparse {
            n,
            csr: std::sync::Arc::new(m),
            origin: attractor::model::SparseOrigin::Data,
            factors: std::sync::Arc::new(attractor::model::Factors::none(n)),
        };
        e.inputs[0].h = vec![0.2; n];
        e.initial = vec![0.1; n];
        // 130 trials: chunks of 64, the last of 2 (the row read again).
        for b in [1, 3, 64, 130] {
            counted_as_scheduled(&format!("sparse, {what}"), &e, b);
        }
        // Light rows of 32 lanes (the adapter's choice here is one).
        counted_on(&format!("sparse, {what}, 32 lanes"), &e, 3, &|g| {
            g.set_sparse_lanes(Some(32)).unwrap()
        });
    }
}

#[test]
fn populations_request_what_the_schedule_says() {
    // Each neuron's update and each metric term look its segment up in a
    // search of ceil(log2 S) + 1 reads: S = 1, 2, 3 and 5 segments (the
    // last from a population with a tau per neuron), every stage kind.
    let pop = |name: &str, n: usize, tau: &str, extra: &str| {
        format!("[[population]]\nname = \"{name}\"\nn = {n}\ntau = {tau}\n{extra}\n")
    };
    let cases = [
        ("one segment", pop("E", 9, "0.02", "")),
        (
            "two",
            pop("E", 9, "0.02", "") + &pop("I", 4, "0.01", "dynamics = \"current\""),
        ),
        (
            "three",
            pop("E", 9, "0.02", "activation = { kind = \"relu\" }")
                + &pop("I", 4, "0.01", "")
                + &pop("C", 6, "0.005", "noise = 0.1"),
        ),
        (
            "five",
            pop("E", 9, "0.02", "")
                + &pop(
                    "I",
                    5,
                    "[0.01, 0.01, 0.02, 0.01, 0.005]",
                    "dynamics = \"current\"",
                ),
        ),
    ];
    for (what, pops) in cases {
        let first = "E";
        for method in ["euler", "rk4", "exponential"] {
            let e = exp(&format!(
                r#"{pops}
                [[projection]]
                from = "{first}"
                to = "{first}"
                weights = {{ kind = "ring", lambda0 = 0.2, lambda1 = 0.8 }}
                [[input]]
                population = "{first}"
                kind = "uniform"
                value = 0.3
                [simulation]
                duration = 0.01
                dt = 0.0005
                method = "{method}"
                record_every = 2
                "#
            ));
            for b in [1, 3] {
                counted_as_scheduled(&format!("populations, {what}, {method}"), &e, b);
            }
        }
    }
}
