//! Sparse weights from data (`kind = "sparse"`): every file format scipy
//! writes reads to the same matrix, the CSR product is the dense one, runs
//! match dense runs of the same M on both backends, and bad files are
//! refused naming the key. The files in tests/data/sparse are made by
//! scripts/make_sparse_fixtures.py: one 7×7 matrix with an empty row and a
//! duplicate entry, and files that must be refused.

mod common;

use attractor::model::{Csr, Weights};
use attractor::sim::cpu::CpuBackend;
use attractor::sim::Backend;
use common::*;

fn network(weights: &str) -> String {
    format!(
        r#"
        [network]
        n = 7
        tau = 0.01
        activation = {{ kind = "tanh" }}
        weights = {weights}
        [[input]]
        kind = "uniform"
        value = 0.3
        [simulation]
        duration = 0.05
        dt = 0.001
        record_every = 10
        "#
    )
}

fn dir() -> &'static str {
    "tests/data/sparse"
}

fn sparse(weights: &str) -> attractor::Experiment {
    exp(&network(weights))
}

fn error(weights: &str) -> String {
    attractor::Experiment::from_toml(
        &network(weights),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        "test",
        &[],
    )
    .expect_err("refused")
    .to_string()
}

#[test]
fn every_format_reads_to_the_same_matrix() {
    let dense = sparse(&format!(
        r#"{{ kind = "file", path = "{}/dense.npy" }}"#,
        dir()
    ));
    let m = dense.network.weights.to_dense();
    for weights in [
        format!(
            r#"{{ kind = "sparse", path = "{}/csr_f64_i32.npz" }}"#,
            dir()
        ),
        format!(
            r#"{{ kind = "sparse", path = "{}/csc_f32_i64.npz" }}"#,
            dir()
        ),
        format!(r#"{{ kind = "sparse", path = "{}/coo_f64.npz" }}"#, dir()),
        format!(
            r#"{{ kind = "sparse", rows = "{d}/rows.npy", cols = "{d}/cols.npy", values = "{d}/values.npy" }}"#,
            d = dir()
        ),
    ] {
        let e = sparse(&weights);
        assert_eq!(e.network.weights.kind(), "sparse");
        // Every value is exact in f32 (the CSC file's), and the duplicate
        // (5, 2) of the COO files is summed: 0.25 + 0.5.
        assert_eq!(e.network.weights.to_dense(), m, "{weights}");
        assert_eq!(m[5 * 7 + 2], 0.75);
        match &e.network.weights {
            Weights::Sparse { csr, .. } => {
                assert_eq!(csr.nnz(), 9);
                assert_eq!(csr.row(3).0.len(), 0, "row 3 is empty");
            }
            w => panic!("{}", w.kind()),
        }
    }
}

/// y = M x by the CSR product against the dense product, in f64, for
/// random matrices with empty rows and duplicate entries (summed); the
/// same bits on 1 and 4 threads. 1e-12 relative: two sums of the same
/// terms in different orders.
#[test]
fn the_csr_product_is_the_dense_product() {
    use attractor::sim::cpu::operator::Operator;
    for (n, nnz, seed) in [
        (1usize, 1usize, 1u64),
        (50, 300, 2),
        (700, 20_000, 3),
        (3000, 60_000, 4),
    ] {
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s >> 33
        };
        // Rows drawn from the first half only: the second half is empty.
        let rows: Vec<u64> = (0..nnz).map(|_| next() % (n as u64).div_ceil(2)).collect();
        let cols: Vec<u64> = (0..nnz).map(|_| next() % n as u64).collect();
        let values: Vec<f64> = (0..nnz)
            .map(|_| next() as f64 / 2f64.powi(31) - 0.5)
            .collect();
        let csr = Csr::from_triplets(n, &rows, &cols, &values).unwrap();
        let w = Weights::Sparse {
            n,
            csr: std::sync::Arc::new(csr),
            origin: attractor::model::SparseOrigin::Data,
            factors: std::sync::Arc::new(attractor::model::Factors::none(n)),
        };
        let x: Vec<f64> = (0..n).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
        let m = w.to_dense();
        let dense: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| m[i * n + j] * x[j]).sum())
            .collect();
        let scale = m.iter().map(|v| v.abs()).sum::<f64>().max(1.0) * 6.0;
        let product = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let op = Operator::<f64>::new(&w);
                let mut y = vec![f64::NAN; n];
                op.apply(&x, &mut y, &mut Vec::new());
                y
            })
        };
        let y1 = product(1);
        assert_eq!(product(4), y1, "N = {n}: the same bits on 1 and 4 threads");
        for i in 0..n {
            close(y1[i], dense[i], 1e-12 * scale, &format!("N = {n}, row {i}"));
        }
    }
}

/// A run with sparse weights is the run with the same M dense, on the CPU
/// (f64: within 1e-12 of the state's scale, the products differing only
/// in summation order).
#[test]
fn a_sparse_run_is_the_dense_run() {
    let d = sparse(&format!(
        r#"{{ kind = "file", path = "{}/dense.npy" }}"#,
        dir()
    ));
    let s = sparse(&format!(
        r#"{{ kind = "sparse", path = "{}/csr_f64_i32.npz" }}"#,
        dir()
    ));
    let (rd, rs) = (run(&d), run(&s));
    all_close(&rs.final_state, &rd.final_state, 1e-12, "final state");
    assert_eq!(rs.metric_names, rd.metric_names);
    // The CPU's cost counts the 9 entries, not N²: in memory each an f64
    // value, a 4-byte column and the run's f64 copy, with 8 bytes per row
    // place (N + 1); per product each value and column once, the row
    // places once.
    let cost = CpuBackend.cost(&s, 1);
    assert_eq!(cost.memory.weights, 9 * (8 + 4 + 8) + 8 * 8);
    assert_eq!(cost.weight_bytes_per_step, (9 * (8 + 4) + 8 * 7) as f64);
}

#[test]
fn bad_files_are_refused_naming_the_key() {
    let d = dir();
    let cases = [
        (
            format!(r#"{{ kind = "sparse", path = "{d}/dense.npy" }}"#),
            vec!["network.weights.path", "dense", "kind = \"file\""],
        ),
        (
            format!(r#"{{ kind = "sparse", path = "{d}/dense_savez.npz" }}"#),
            vec!["network.weights.path", "no `format` array"],
        ),
        (
            format!(r#"{{ kind = "sparse", path = "{d}/csr_6x6.npz" }}"#),
            vec!["network.weights.path", "shape [6, 6]", "N = 7"],
        ),
        (
            format!(r#"{{ kind = "sparse", path = "{d}/missing.npz" }}"#),
            vec!["network.weights.path", "cannot be read"],
        ),
        (
            format!(
                r#"{{ kind = "sparse", rows = "{d}/rows.npy", cols = "{d}/cols_out_of_range.npy", values = "{d}/values.npy" }}"#
            ),
            vec!["network.weights", "column index 7", "outside 0..7"],
        ),
        (
            format!(
                r#"{{ kind = "sparse", rows = "{d}/rows.npy", cols = "{d}/cols.npy", values = "{d}/values_nan.npy" }}"#
            ),
            vec!["network.weights", "entry 4", "NaN", "finite"],
        ),
        (
            format!(
                r#"{{ kind = "sparse", rows = "{d}/values.npy", cols = "{d}/cols.npy", values = "{d}/values.npy" }}"#
            ),
            vec!["network.weights.rows", "floats", "integers"],
        ),
        (
            format!(r#"{{ kind = "sparse", rows = "{d}/rows.npy", values = "{d}/values.npy" }}"#),
            vec![
                "network.weights",
                "all three of `rows`, `cols` and `values`",
            ],
        ),
        (
            format!(r#"{{ kind = "sparse", path = "{d}/coo_f64.npz", rows = "{d}/rows.npy" }}"#),
            vec!["network.weights", "either `path`"],
        ),
    ];
    for (weights, words) in cases {
        let e = error(&weights);
        for w in words {
            assert!(e.contains(w), "{weights}: `{w}` not in: {e}");
        }
    }
}

/// The GPU steps sparse weights (`sparse_step`) as the CPU does: alone and
/// as 3 trials, within 1e-5 of the state's scale (f32 against f64, 50
/// steps).
#[test]
fn the_gpu_runs_sparse_weights_as_the_cpu() {
    use attractor::sim::gpu::GpuBackend;
    let e = sparse(&format!(
        r#"{{ kind = "sparse", path = "{}/csc_f32_i64.npz" }}"#,
        dir()
    ));
    let mut g = GpuBackend::new().expect("a GPU adapter (CI installs lavapipe)");
    let cpu = run(&e);
    let scale = cpu.final_state.iter().fold(1e-3f64, |a, x| a.max(x.abs()));
    let gpu = g.run(&e, &mut |_| {}).expect("GPU run");
    all_close(
        &gpu.final_state,
        &cpu.final_state,
        1e-5 * scale,
        "one trial",
    );
    let trials: Vec<attractor::sim::Trial> = (0..3)
        .map(|k| {
            let mut t = attractor::sim::Trial::of(&e);
            t.trial = k;
            t.m_scale = 1.0 - 0.2 * f64::from(k);
            t
        })
        .collect();
    let batch = g.run_batch(&e, &trials, &mut |_| {}).expect("GPU batch");
    for (k, t) in trials.iter().enumerate() {
        let alone = attractor::sim::cpu::run_trial::<f64>(&e, t, &mut |_| {});
        all_close(
            &batch[k].final_state,
            &alone.final_state,
            1e-5 * scale,
            &format!("trial {k}"),
        );
    }
}

/// `modes` of sparse weights is the dense solve of the same M.
#[test]
fn modes_of_sparse_weights_are_the_dense_ones() {
    use attractor::analysis::modes::analyse;
    let d = analyse(&sparse(&format!(
        r#"{{ kind = "file", path = "{}/dense.npy" }}"#,
        dir()
    )))
    .unwrap();
    let s = analyse(&sparse(&format!(
        r#"{{ kind = "sparse", path = "{}/coo_f64.npz" }}"#,
        dir()
    )))
    .unwrap();
    assert_eq!(s.weights, "sparse");
    assert_eq!(s.spectral_radius, d.spectral_radius);
    assert_eq!(s.symmetric, d.symmetric);
}

/// A sparse ring of N neurons, each with K random partners weighted by
/// the cosine kernel scaled by N/K: (2/K)(-lambda0 + lambda1 cos(theta_i -
/// theta_j)), lambda0 = 0.5, lambda1 = 1.5.
fn sparse_ring(n: usize, k: usize) -> Csr {
    let mut s = 12345u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 33
    };
    let (mut rows, mut cols, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let theta = |i: usize| -std::f64::consts::PI + 2.0 * std::f64::consts::PI * i as f64 / n as f64;
    for i in 0..n {
        let mut chosen = std::collections::BTreeSet::new();
        while chosen.len() < k {
            chosen.insert((next() % n as u64) as usize);
        }
        for j in chosen {
            rows.push(i as u64);
            cols.push(j as u64);
            values.push(2.0 / k as f64 * (-0.5 + 1.5 * (theta(i) - theta(j)).cos()));
        }
    }
    Csr::from_triplets(n, &rows, &cols, &values).unwrap()
}

/// Beyond the dense solve, `modes` runs an Arnoldi process: at N = 2000
/// (where the dense solve still runs, to compare) its converged Ritz
/// values hold the spectral radius and the eigenvalues of largest real
/// part (the ring's two modes near lambda1, far outside the bulk of the
/// random partners) to 1e-8 relative, the Krylov test's own threshold.
/// About 20 to 60 s here: the dense Schur solve of the 2000 × 2000 matrix it
/// is checked against (the size the check is meant at).
#[test]
fn krylov_eigenvalues_match_the_dense_solve() {
    use attractor::analysis::{krylov, modes::analyse};
    let n = 2000;
    let csr = std::sync::Arc::new(sparse_ring(n, 200));
    let mut e = exp(&format!(
        r#"
        [network]
        n = {n}
        tau = 0.01
        weights = {{ kind = "diagonal", values = [{}] }}
        [simulation]
        duration = 0.01
        dt = 0.001
        "#,
        vec!["0.0"; n].join(", ")
    ));
    e.network.weights = Weights::Sparse {
        n,
        csr: csr.clone(),
        origin: attractor::model::SparseOrigin::Data,
        factors: std::sync::Arc::new(attractor::model::Factors::none(n)),
    };
    let dense = analyse(&e).unwrap();
    assert!(dense.method.contains("dense"), "{}", dense.method);
    let (ritz, method) = krylov::spectrum(&csr, 4096).unwrap();
    assert!(method.contains("Arnoldi"), "{method}");
    let radius = ritz.iter().map(|(l, _)| l.norm()).fold(0.0, f64::max);
    let want = dense.spectral_radius.unwrap();
    close(radius, want, 1e-8 * want, "spectral radius");
    // The two modes of largest real part (the cos and sin modes, split by
    // the random partners), each among the converged Ritz values.
    let top: Vec<&attractor::analysis::modes::Mode> = dense.modes.iter().take(2).collect();
    for m in &top {
        assert!(m.eigenvalue_re > 1.2, "an outlier: {}", m.eigenvalue_re);
        let found = ritz.iter().any(|(l, _)| {
            (l.re - m.eigenvalue_re).abs() <= 1e-8 * want
                && (l.im - m.eigenvalue_im).abs() <= 1e-8 * want
        });
        assert!(
            found,
            "{} + {}i not among {:?}",
            m.eigenvalue_re, m.eigenvalue_im, ritz
        );
    }
    // The Ritz values never claim an eigenvalue the dense solve lacks.
    for (l, _) in &ritz {
        let near = dense.modes.iter().any(|m| {
            (m.eigenvalue_re - l.re).abs() <= 1e-6 * want
                && (m.eigenvalue_im - l.im).abs() <= 1e-6 * want
        });
        assert!(near, "a Ritz value {l} that is no eigenvalue");
    }
}

/// Past N = 4096 `modes` of sparse weights takes the Arnoldi path.
#[test]
fn modes_of_large_sparse_weights_use_arnoldi() {
    use attractor::analysis::modes::analyse;
    let n = 5000;
    let mut e = exp(r#"
        [network]
        n = 1
        tau = 0.01
        weights = { kind = "diagonal", values = [0.0] }
        [simulation]
        duration = 0.01
        dt = 0.001
        "#);
    e.network.n = n;
    e.initial = vec![0.0; n];
    e.network.weights = Weights::Sparse {
        n,
        csr: std::sync::Arc::new(sparse_ring(n, 100)),
        origin: attractor::model::SparseOrigin::Data,
        factors: std::sync::Arc::new(attractor::model::Factors::none(n)),
    };
    let r = analyse(&e).unwrap();
    assert!(r.method.contains("Arnoldi"), "{}", r.method);
    let top = &r.modes[0];
    assert!(
        (top.eigenvalue_re - 1.5).abs() < 0.2,
        "{}",
        top.eigenvalue_re
    );
    assert!(r.spectral_radius.unwrap() >= top.eigenvalue_re);
}

/// A network of sparse `m` (tanh, a uniform input of 0.2, 20 Euler steps
/// from a state that varies by neuron).
fn network_of(m: Csr) -> attractor::Experiment {
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
        duration = 0.02
        dt = 0.001
        record_every = 10
        "#);
    e.network.n = n;
    e.network.weights = Weights::Sparse {
        n,
        csr: std::sync::Arc::new(m),
        origin: attractor::model::SparseOrigin::Data,
        factors: std::sync::Arc::new(attractor::model::Factors::none(n)),
    };
    e.inputs[0].h = vec![0.2; n];
    e.initial = (0..n).map(|i| ((i % 11) as f64 - 5.0) / 10.0).collect();
    e
}

/// The sparse matrices the GPU kernel is checked on: light rows with every
/// third row empty (N = 1000, mean about 4.7 entries: 2 lanes a row), one
/// heavy row of 2500 entries among rows of 3 (N = 3001: a workgroup of its
/// own), long rows (N = 300, 150 entries each: 32 lanes a row), and
/// log-normal in-degrees (N = 5000, mean 20).
pub fn gpu_cases() -> Vec<(&'static str, Csr)> {
    let random = random_sparse;
    use attractor::bench::{sparse::matrix, DegreeSpread};
    vec![
        (
            "empty rows",
            random(1000, &|i| if i % 3 == 0 { 0 } else { 7 }, 1),
        ),
        (
            "a heavy row",
            random(3001, &|i| if i == 1234 { 2500 } else { 3 }, 2),
        ),
        ("long rows", random(300, &|_| 150, 3)),
        ("log-normal", matrix(5000, 20, DegreeSpread::Lognormal)),
    ]
}

/// `sparse_step` gives the CPU's run for each case alone and as batches
/// of 3, 64 and 66 trials (their own scales and states), with the
/// adapter's lanes a light row (one on this software adapter), with 4
/// summed by subgroups and with 32 by the tree: within 1e-5 of the state's
/// scale plus 4 times the CPU f32 run's own rounding error (the GPU sums
/// each row in another order). About 50 s here: every way of summing the
/// lanes at every batch shape.
#[test]
fn the_sparse_kernel_matches_the_cpu() {
    use attractor::sim::gpu::operator::sparse::SparseFamily;
    use attractor::sim::gpu::GpuBackend;
    let mut g = GpuBackend::new().expect("a GPU adapter (CI installs lavapipe)");
    let cases = gpu_cases();
    let heavy: Vec<usize> = cases.iter().map(|(_, m)| m.heavy_rows()).collect();
    assert_eq!(heavy[1], 1, "the heavy row is heavy");
    assert!(
        g.set_sparse_lanes(Some(3)).is_err(),
        "lanes are a power of two"
    );
    // The lanes summed by subgroup shuffles where the adapter has them
    // (llvmpipe: 8 wide; 4 lanes are half a subgroup, a heavy row 32
    // subgroups), and by the workgroup-memory tree.
    for ((what, m), lanes, subgroups) in cases.into_iter().flat_map(|c| {
        [
            (c.clone(), None, true),
            (c.clone(), Some(4), true),
            (c, Some(32), false),
        ]
    }) {
        g.set_sparse_lanes(lanes).unwrap();
        g.set_subgroups(subgroups);
        if g.context().subgroup_sizes() == Some((8, 8)) {
            // lavapipe: the shuffles run where asked for.
            println!("sparse lanes summed by 8-wide subgroups: {subgroups}");
            assert_eq!(g.sparse_subgroup(), if subgroups { 8 } else { 0 });
        }
        let e = network_of(m);
        let launch = g.launch(&e, 1);
        let Some(sparse) = launch.op.family::<SparseFamily>() else {
            panic!("{what}: {:?}", launch.op)
        };
        if let Some(want) = lanes {
            assert_eq!(sparse.lanes, want, "{what}");
        }
        let what = format!("{what}, lanes {lanes:?}, subgroups {subgroups}");
        let cpu32 =
            attractor::sim::cpu::run_trial::<f32>(&e, &attractor::sim::Trial::of(&e), &mut |_| {});
        // 66 trials: a second chunk of one half tile, with each way of summing
        // the lanes (the chunks reuse the workgroup's sum slots).
        let batches: &[u32] = if lanes.is_some() && !what.starts_with("log-normal") {
            &[1, 3, 64, 66]
        } else {
            &[1, 3, 64]
        };
        for &b in batches {
            let trials: Vec<attractor::sim::Trial> = (0..b)
                .map(|k| {
                    let mut t = attractor::sim::Trial::of(&e);
                    t.trial = k;
                    t.m_scale = 1.0 - 0.01 * f64::from(k);
                    t.h_scale = 1.0 + 0.02 * f64::from(k);
                    t
                })
                .collect();
            let out = g.run_batch(&e, &trials, &mut |_| {}).expect("GPU batch");
            for (k, t) in trials
                .iter()
                .enumerate()
                .filter(|(k, _)| *k < 3 || *k == 63 || *k == 65)
            {
                let cpu = attractor::sim::cpu::run_trial::<f64>(&e, t, &mut |_| {});
                let scale = cpu.final_state.iter().fold(1e-3f64, |a, x| a.max(x.abs()));
                let f32_err = cpu32
                    .final_state
                    .iter()
                    .zip(&run(&e).final_state)
                    .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
                all_close(
                    &out[k].final_state,
                    &cpu.final_state,
                    1e-5 * scale + 4.0 * f32_err,
                    &format!("{what}, B = {b}, trial {k}"),
                );
            }
        }
    }
}
