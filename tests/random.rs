//! `random` weights: M_ij = g J_ij / sqrt(p N), J generated from the
//! counter-based generator instead of stored. The generated numbers are
//! standard normals, the stored and generated forms give the same run bit
//! for bit, the spectrum follows the circular law, and the network shows
//! the transition to chaos at g = 1.

mod common;
use attractor::analysis::metrics::Metrics;
use attractor::analysis::modes::analyse;
use attractor::model::{random_row, Weights};
use attractor::sim::cpu::operator::Operator;
use common::*;

/// The entries of an n × n random matrix, row-major.
fn entries(n: usize, g: f64, p: f64, seed: u64) -> Vec<f64> {
    Weights::Random {
        n,
        g,
        sparsity: p,
        seed,
        materialise: true,
    }
    .to_dense()
}

/// Mean and variance.
fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (mean, v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
}

#[test]
fn generated_j_is_standard_normal() {
    // J = M sqrt(N) / g over N^2 = 160,000 entries: the mean's standard
    // error is 1/400 = 0.0025 and the variance's sqrt(2/160000) = 0.0035;
    // the bounds are 5 standard errors. Excess kurtosis 0 (standard error
    // sqrt(24/160000) = 0.012, bound 0.06) says the tails are Gaussian.
    let n = 400;
    let j: Vec<f64> = entries(n, 2.0, 1.0, 3)
        .iter()
        .map(|x| x * (n as f64).sqrt() / 2.0)
        .collect();
    let (mean, var) = moments(&j);
    assert!(mean.abs() < 5.0 * 0.0025, "mean {mean}");
    assert!((var - 1.0).abs() < 5.0 * 0.0035, "variance {var}");
    let kurt = j.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / j.len() as f64 / var.powi(2);
    assert!((kurt - 3.0).abs() < 0.06, "kurtosis {kurt}");
    // The four entries of a block (two Box–Muller pairs) and neighbouring
    // rows are uncorrelated: correlation of 40,000 pairs, standard error
    // 1/200 = 0.005, bound 5 standard errors.
    let corr = |a: &dyn Fn(usize) -> f64, b: &dyn Fn(usize) -> f64, count: usize| {
        (0..count).map(|k| a(k) * b(k)).sum::<f64>() / count as f64
    };
    for lag in 1..4 {
        let c = corr(&|k| j[4 * k], &|k| j[4 * k + lag], j.len() / 4);
        assert!(
            c.abs() < 0.025,
            "columns 4k and 4k + {lag}: correlation {c}"
        );
    }
    let c = corr(&|k| j[k], &|k| j[k + n], j.len() - n);
    assert!(c.abs() < 0.025, "rows i and i + 1: correlation {c}");
    // Another seed gives other numbers.
    assert_ne!(entries(8, 1.0, 1.0, 3), entries(8, 1.0, 1.0, 4));
}

#[test]
fn sparse_weights_keep_a_fraction_p_scaled_to_the_same_variance() {
    // p = 0.1 of 250,000 connections: the kept fraction's standard error is
    // sqrt(p (1 - p) / N^2) = 6e-4, bound 5 standard errors. The kept
    // entries are J g / sqrt(p N), so M's entries have variance g^2 / N
    // either way (the same circular law). The sample variance of 250,000
    // entries with kurtosis 3/p = 30 has relative standard error
    // sqrt((30 - 1) / 250000) = 0.011: bound 5%, about 5 standard errors.
    let (n, p, g) = (500, 0.1, 1.5);
    let m = entries(n, g, p, 9);
    let kept = m.iter().filter(|x| **x != 0.0).count() as f64 / m.len() as f64;
    assert!((kept - p).abs() < 5.0 * 6e-4, "kept fraction {kept}");
    let (_, var) = moments(&m);
    let want = g * g / n as f64;
    assert!(
        (var - want).abs() < 0.05 * want,
        "variance {var}, want {want}"
    );
    // The sparse matrix is the dense one's J, masked.
    let dense = entries(n, g, 1.0, 9);
    let ratio = (1.0 / p).sqrt();
    for (s, d) in m.iter().zip(&dense).take(5000) {
        if *s != 0.0 {
            close(*s, d * ratio, 1e-12 * d.abs().max(1.0), "kept entry");
        }
    }
}

#[test]
fn random_row_is_the_materialised_row() {
    let (n, g, p, seed) = (13, 0.7, 0.5, 2);
    let m = entries(n, g, p, seed);
    for i in 0..n {
        let mut row = vec![f64::NAN; n];
        random_row(n, g, p, seed, i, |j, x| row[j] = x);
        assert_eq!(row, m[i * n..(i + 1) * n].to_vec(), "row {i}");
    }
}

/// The generated operator's product equals the stored matrix's, bit for
/// bit: each block of rows is generated and multiplied by the dense kernel.
#[test]
fn generated_product_equals_stored_product_bit_for_bit() {
    for (n, p) in [
        (1, 1.0),
        (5, 1.0),
        (64, 0.3),
        (301, 1.0),
        (301, 0.05),
        (1030, 0.5),
    ] {
        let random = |materialise| Weights::Random {
            n,
            g: 1.3,
            sparsity: p,
            seed: 11,
            materialise,
        };
        let (stored, generated) = (random(true), random(false));
        let x64: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
        let (a, b) = (
            Operator::<f64>::new(&stored),
            Operator::<f64>::new(&generated),
        );
        assert!(matches!(b, Operator::Generated { .. }));
        let (mut ya, mut yb) = (vec![0.0; n], vec![0.0; n]);
        a.apply(&x64, &mut ya, &mut Vec::new());
        b.apply(&x64, &mut yb, &mut Vec::new());
        assert_eq!(ya, yb, "f64, N = {n}, p = {p}");
        let (a, b) = (
            Operator::<f32>::new(&stored),
            Operator::<f32>::new(&generated),
        );
        let (mut ya, mut yb) = (vec![0.0; n], vec![0.0; n]);
        a.apply(&x32, &mut ya, &mut Vec::new());
        b.apply(&x32, &mut yb, &mut Vec::new());
        assert_eq!(ya, yb, "f32, N = {n}, p = {p}");
    }
}

const CHAOS: &str = r#"
    [network]
    n = 400
    tau = 0.01
    dynamics = "current"
    activation = { kind = "tanh" }
    weights = { kind = "random", g = 1.5, seed = 1, materialise = false }
    [initial]
    kind = "random"
    low = -1.0
    high = 1.0
    [simulation]
    duration = 0.1
    dt = 0.001
    record_every = 10
"#;

#[test]
fn generated_and_materialised_runs_are_the_same_run() {
    for precision in ["f64", "f32"] {
        let set = format!("simulation.precision=\"{precision}\"");
        let g = exp_with(CHAOS, &[&set]);
        let m = exp_with(CHAOS, &[&set, "network.weights.materialise=true"]);
        let mut cpu = attractor::sim::cpu::CpuBackend;
        use attractor::sim::Backend;
        let (a, b) = (
            cpu.run(&g, &mut |_| {}).unwrap(),
            cpu.run(&m, &mut |_| {}).unwrap(),
        );
        assert_eq!(a.metric_names, ["mean_rate", "rate_variance"]);
        assert_eq!(a.metrics, b.metrics, "{precision}");
        assert_eq!(a.rates, b.rates, "{precision}");
        assert_eq!(a.final_state, b.final_state, "{precision}");
    }
}

#[test]
fn materialise_defaults_by_size() {
    let small = exp(&CHAOS.replace(", materialise = false", ""));
    assert!(matches!(
        small.network.weights,
        Weights::Random {
            materialise: true,
            ..
        }
    ));
    let large = exp_with(
        &CHAOS.replace(", materialise = false", ""),
        &["network.n=5000"],
    );
    assert!(matches!(
        large.network.weights.shape(),
        attractor::model::Shape::Generated { .. }
    ));
}

/// The mean over the records of the second half of a run of `rate_variance`.
fn late_variance(g: f64, n: usize) -> f64 {
    let e = exp_with(
        CHAOS,
        &[
            &format!("network.weights.g={g}"),
            &format!("network.n={n}"),
            "network.weights.materialise=true",
            "simulation.duration=0.5",
        ],
    );
    let r = run(&e);
    let k = r
        .metric_names
        .iter()
        .position(|m| m == "rate_variance")
        .unwrap();
    let late: Vec<f64> = r.metrics[r.metrics.len() / 2..]
        .iter()
        .map(|m| m[k])
        .collect();
    late.iter().sum::<f64>() / late.len() as f64
}

#[test]
fn activity_decays_below_g_1_and_persists_above() {
    // Below g = 1 the state 0 is stable: the linearisation x' = (M - 1) x
    // has every eigenvalue's real part below g (1 + 0.1) - 1 < -0.4 at
    // g = 0.5, N = 400 (circular law, edge within 10%), and tanh only
    // shrinks, so after 25 tau the variance of tanh(x) (which starts near
    // 0.25) is below 0.25 e^{-2 0.4 25} ~ 5e-10 times any transient growth
    // of a non-normal M; 1e-6 leaves three decades for it.
    let v = late_variance(0.5, 400);
    assert!(v < 1e-6, "g = 0.5: late rate_variance {v}");
    // Above it the activity keeps fluctuating with a variance of order 1
    // (0.50 at g = 2 for this network, seed and N); 0.1 is far from both
    // that and the decay's 0.
    let v = late_variance(2.0, 400);
    assert!(v > 0.1, "g = 2: late rate_variance {v}");
}

#[test]
fn rate_variance_is_the_population_variance_of_the_rates() {
    let e = exp(CHAOS);
    let m = Metrics::new(&e.network);
    let x = &e.initial;
    let v: Vec<f64> = x.iter().map(|&xi| xi.tanh()).collect();
    let got = m.compute(&v, x, &vec![0.0; v.len()], None);
    let (mean, var) = moments(&v);
    close(got[0], mean, 1e-12, "mean_rate");
    close(got[1], var, 1e-12, "rate_variance");
    // From the sums (the GPU's and the fused step's path): sum v, sum v^2.
    let layout = m.sum_layout();
    assert!(layout.squares && layout.len() == 2);
    let sums = [v.iter().sum::<f64>(), v.iter().map(|a| a * a).sum::<f64>()];
    let from = m.from_sums(&sums, 1.0);
    close(from[1], var, 1e-12, "rate_variance from sums");
}

#[test]
fn modes_follow_the_circular_law() {
    // N = 400, g = 1.5. The spectral radius of a Ginibre matrix scaled to
    // the unit disk exceeds 1 by about sqrt(log N / 4N) ~ 0.06 with
    // fluctuations of a few hundredths at this N: bound 0.9 g to 1.15 g.
    // The eigenvalues are uniform in the disk: the fraction within g / 2
    // is 1/4 (rigid eigenvalues fluctuate less than independent points,
    // whose binomial standard error is 0.022; bound 0.06).
    let g = 1.5;
    let e = exp_with(CHAOS, &["network.weights.g=1.5"]);
    let r = analyse(&e).unwrap();
    assert_eq!(r.circular_law, Some(g));
    let radius = r.spectral_radius.unwrap();
    assert!(
        radius > 0.9 * g && radius < 1.15 * g,
        "spectral radius {radius}"
    );
    let count: usize = r.modes.iter().map(|m| m.multiplicity).sum();
    assert_eq!(count, 400);
    let within = |rho: f64| {
        r.modes
            .iter()
            .filter(|m| m.eigenvalue_re.hypot(m.eigenvalue_im) <= rho)
            .map(|m| m.multiplicity)
            .sum::<usize>() as f64
            / 400.0
    };
    assert!(
        (within(g / 2.0) - 0.25).abs() < 0.06,
        "inside g/2: {}",
        within(g / 2.0)
    );
    assert!(
        within(1.05 * g) > 0.97,
        "inside 1.05 g: {}",
        within(1.05 * g)
    );
    // Beyond the dense solver: the law itself, no solve.
    let big = exp_with(CHAOS, &["network.n=100000"]);
    let r = analyse(&big).unwrap();
    assert!(r.modes.is_empty());
    assert_eq!(r.spectral_radius, Some(1.5));
    assert!(r.method.contains("circular law"), "{}", r.method);
}

#[test]
fn bad_random_weights_name_the_key() {
    for (set, key) in [
        ("network.weights.sparsity=0", "network.weights.sparsity"),
        ("network.weights.sparsity=1.5", "network.weights.sparsity"),
        ("network.weights.g=nan", "network.weights.g"),
    ] {
        let err = attractor::Experiment::from_toml(
            CHAOS,
            std::path::Path::new("."),
            "t",
            &[set.to_string()],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(key), "{set}: {err}");
    }
    // Drawn sparse weights whose entries overflow f64 (g z / sqrt(K) with
    // g = 1e308; 2 lambda1 cos / K with lambda1 = 1e308, K = 1) are an error
    // naming the key, not a panic.
    for (weights, key) in [
        (
            r#"{ kind = "random", g = 1e308, degree = 20 }"#,
            "network.weights.g",
        ),
        (
            r#"{ kind = "ring", lambda1 = 1e308, degree = 1 }"#,
            "network.weights.lambda1",
        ),
    ] {
        let toml = format!(
            "[network]\nn = 64\ntau = 0.01\nweights = {weights}\n\
             [simulation]\nduration = 0.01\ndt = 0.001\n"
        );
        let err = attractor::Experiment::from_toml(&toml, std::path::Path::new("."), "t", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(key) && err.contains("too large"),
            "{weights}: {err}"
        );
    }
}
