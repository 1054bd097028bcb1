//! Networks of several populations (`[[population]]`, `[[projection]]`):
//! each population stepped with its own tau, dynamics, activation and
//! noise, checked against a reference loop, theory and the one-population
//! form; errors that name the key.

mod common;
use attractor::model::Dynamics;
use common::*;

/// Three populations of different sizes, time constants, activations and
/// dynamics (current for B), coupled by random, ring, uniform and
/// identity projections, with an input to A and one to C.
const THREE: &str = r#"
[[population]]
name = "A"
n = 7
tau = 0.02
activation = { kind = "tanh", beta = 1.5 }
initial = 0.3

[[population]]
name = "B"
n = 5
tau = 0.005
dynamics = "current"
activation = { kind = "sigmoid", beta = 2.0, threshold = 0.2 }
initial = [0.1, -0.2, 0.3, -0.4, 0.5]

[[population]]
name = "C"
n = 4
tau = 0.01
activation = { kind = "relu" }

[[projection]]
from = "A"
to = "A"
weights = { kind = "random", g = 1.2, seed = 3 }

[[projection]]
from = "A"
to = "B"
weights = { kind = "ring", lambda0 = 0.3, lambda1 = 1.1 }

[[projection]]
from = "B"
to = "C"
sign = "inhibitory"
weights = { kind = "random", g = 2.0, sparsity = 0.5, seed = 5 }

[[projection]]
from = "C"
to = "A"
weights = { kind = "uniform", value = 0.25 }

[[projection]]
from = "B"
to = "B"
weights = { kind = "identity", value = 0.5 }

[[input]]
population = "A"
kind = "bump"
c = 1.0
epsilon = 0.5

[[input]]
population = "C"
kind = "uniform"
value = 0.7
start = 0.01

[simulation]
duration = 0.05
dt = 0.0005
"#;

/// The Euler step of each population with its own constants, written out:
/// M multiplies x over rate populations and F(x) over current ones; the
/// drive is F(h + M·) (rate) or h + M· (current); x += dt/tau (D - x).
/// Returns the rates at every step.
fn reference(e: &attractor::Experiment) -> Vec<Vec<f64>> {
    let net = &e.network;
    let n = net.n;
    let m = net.weights.to_dense();
    let pop = |i: usize| {
        net.populations
            .iter()
            .find(|p| p.range().contains(&i))
            .unwrap()
    };
    let rates = |x: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| match pop(i).dynamics {
                Dynamics::Rate => x[i],
                Dynamics::Current => pop(i).activation.apply(x[i]),
            })
            .collect()
    };
    let dt = e.simulation.dt;
    let mut x = e.initial.clone();
    let mut out = vec![rates(&x)];
    for step in 0..e.simulation.steps {
        let t = step as f64 * dt;
        let mut h = vec![0.0; n];
        for input in &e.inputs {
            if input.first_step(dt) as f64 * dt <= t + 1e-12 && t < input.end {
                h.iter_mut().zip(&input.h).for_each(|(a, b)| *a += b);
            }
        }
        let operand = rates(&x);
        let new: Vec<f64> = (0..n)
            .map(|i| {
                let p = pop(i);
                let u: f64 = (0..n).map(|j| m[i * n + j] * operand[j]).sum();
                let d = match p.dynamics {
                    Dynamics::Rate => p.activation.apply(h[i] + u),
                    Dynamics::Current => h[i] + u,
                };
                x[i] + dt / p.tau * (d - x[i])
            })
            .collect();
        x = new;
        out.push(rates(&x));
    }
    out
}

#[test]
fn each_population_steps_with_its_own_constants() {
    let e = exp(THREE);
    assert_eq!(e.network.n, 16);
    let rec = run(&e);
    let want = reference(&e);
    assert_eq!(rec.t.len(), want.len());
    // rates.npy holds f32: 1e-6 covers its rounding (rates below 2); a
    // population stepped with another's tau, activation or dynamics is off
    // by 1e-3 or more within a few steps.
    for (k, w) in want.iter().enumerate() {
        all_close(&row(&rec, k), w, 1e-6, &format!("record {k}"));
    }
    // Per-population mean rates are metrics, after mean_rate.
    let names = &rec.metric_names;
    assert_eq!(
        names[names.len() - 3..],
        ["A.mean_rate", "B.mean_rate", "C.mean_rate"]
    );
    let last = want.last().unwrap();
    close(
        *rec.metrics.last().unwrap().last().unwrap(),
        last[12..16].iter().sum::<f64>() / 4.0,
        1e-12,
        "C.mean_rate",
    );
}

#[test]
fn sign_and_shapes_of_projections() {
    let e = exp(THREE);
    let m = e.network.weights.to_dense();
    let n = 16;
    // B -> C inhibitory: every entry ≤ 0, about half present (sparsity 0.5).
    let bc: Vec<f64> = (12..16)
        .flat_map(|i| (7..12).map(move |j| (i, j)))
        .map(|(i, j)| m[i * n + j])
        .collect();
    assert!(bc.iter().all(|&w| w <= 0.0), "{bc:?}");
    assert!(bc.iter().filter(|&&w| w < 0.0).count() >= 5, "{bc:?}");
    // C -> A uniform 0.25, B -> B the identity times 0.5, A -> C nothing.
    assert!((0..7).all(|i| (12..16).all(|j| m[i * n + j] == 0.25)));
    for i in 7..12 {
        for j in 7..12 {
            assert_eq!(m[i * n + j], if i == j { 0.5 } else { 0.0 });
        }
    }
    assert!((12..16).all(|i| (0..7).all(|j| m[i * n + j] == 0.0)));
    // A -> B ring of different sizes: (2/7)(-0.3 + 1.1 cos(theta_i - theta_j)).
    let theta = |i: usize, k: usize| {
        -std::f64::consts::PI + 2.0 * std::f64::consts::PI * i as f64 / k as f64
    };
    for i in 0..5 {
        for j in 0..7 {
            let want = 2.0 / 7.0 * (-0.3 + 1.1 * (theta(i, 5) - theta(j, 7)).cos());
            close(m[(7 + i) * n + j], want, 1e-15, "ring projection");
        }
    }
}

/// The paradoxical effect for other weights than the example's, set by
/// name: dr_I/dh_I = (1 - w_EE) / det(1 - W) of the threshold-linear fixed
/// point.
#[test]
fn paradoxical_response_matches_linear_theory() {
    for (w_ee, w_ii) in [(2.5, 1.0), (1.5, 0.5)] {
        let e = example(
            "wilson_cowan",
            &[
                &format!("projection.EE.weights.value={w_ee}"),
                &format!("projection.II.weights.value={w_ii}"),
                "population.I.tau=0.005",
            ],
        );
        assert_eq!(e.network.populations[1].tau, 0.005);
        let (w_ei, w_ie) = (2.5, 2.5);
        let det = (1.0 - w_ee) * (1.0 + w_ii) + w_ei * w_ie;
        let rec = run(&e);
        let k = rec.record_at(1.0).unwrap();
        let r_i = rec.metric("I.mean_rate").unwrap();
        let slope = (r_i[r_i.len() - 1] - r_i[k]) / 0.5;
        // Both fixed points are reached to rounding after 1 s (the slowest
        // mode decays at 25/s or faster here).
        close(slope, (1.0 - w_ee) / det, 1e-9, &format!("w_EE = {w_ee}"));
        assert!(slope < 0.0, "w_EE > 1: I's rate falls as its input rises");
    }
}

/// Each population's noise: sigma sqrt(dt / tau) a step, so an unconnected
/// linear population's stationary variance is sigma² / (2 - dt/tau); a
/// population with noise 0 stays on its deterministic path.
#[test]
fn noise_per_population() {
    let e = exp(r#"
[[population]]
name = "loud"
n = 4000
tau = 0.01
noise = 0.5

[[population]]
name = "soft"
n = 4000
tau = 0.02

[[population]]
name = "quiet"
n = 3
tau = 0.01
noise = 0.0
initial = 1.0

[simulation]
duration = 0.3
dt = 0.001
noise = 0.2
seed = 4
record_every = 300
"#);
    let rec = run(&e);
    let last = row(&rec, rec.t.len() - 1);
    let var = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64
    };
    // 4000 samples estimate a variance to sqrt(2/4000) = 2.2% (one sd);
    // after 30 and 15 time constants the process is stationary: 10% is
    // 4.5 sd.
    for (range, sigma, tau) in [(0..4000, 0.5, 0.01), (4000..8000, 0.2, 0.02)] {
        let want = sigma * sigma / (2.0 - 0.001 / tau);
        let got = var(&last[range]);
        assert!(
            (got / want - 1.0).abs() < 0.1,
            "variance {got}, theory {want}"
        );
    }
    let decayed = (1.0f64 - 0.1).powi(300);
    for &x in &last[8000..] {
        close(x, decayed, 1e-6 * decayed + 1e-12, "the quiet population");
    }
}

/// A one-population file written as one population with a projection onto
/// itself gives the [network] file's run (the dense product and the sparse
/// block sum in different orders: 1e-12 in f64).
#[test]
fn one_population_as_a_projection_matches_the_network_form() {
    let net = exp(r#"
[network]
n = 50
tau = 0.01
dynamics = "current"
activation = { kind = "tanh" }
weights = { kind = "random", g = 1.5, seed = 2 }

[initial]
kind = "random"
low = -1.0
high = 1.0

[simulation]
duration = 0.1
dt = 0.001
method = "rk4"
"#);
    let pops = exp(r#"
[[population]]
name = "all"
n = 50
tau = 0.01
dynamics = "current"
activation = { kind = "tanh" }

[[projection]]
from = "all"
to = "all"
weights = { kind = "random", g = 1.5, seed = 2 }

[initial]
kind = "random"
low = -1.0
high = 1.0

[simulation]
duration = 0.1
dt = 0.001
method = "rk4"
"#);
    let (a, b) = (run(&net), run(&pops));
    assert_eq!(a.t.len(), b.t.len());
    for k in 0..a.t.len() {
        all_close(&row(&a, k), &row(&b, k), 1e-6, &format!("record {k}"));
    }
    close(
        last(&a, "mean_rate"),
        last(&b, "all.mean_rate"),
        1e-12,
        "mean rates",
    );
}

/// Errors name the key, the value and what is allowed.
#[test]
fn errors_name_the_key() {
    let base = r#"
[[population]]
name = "E"
n = 3
tau = 0.02

[[population]]
name = "I"
n = 2
tau = 0.01

[simulation]
duration = 0.01
dt = 0.001
"#;
    let fails = |extra: &str, key: &str, words: &str| {
        let text = format!("{base}\n{extra}");
        let err = attractor::Experiment::from_toml(&text, std::path::Path::new("."), "t", &[])
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{extra}"))
            .to_string();
        assert!(err.contains(&format!("`{key}`")), "{err}");
        assert!(err.contains(words), "{err}");
    };
    fails(
        "[[projection]]\nfrom = \"E\"\nto = \"X\"\nweights = { kind = \"uniform\", value = 1 }",
        "projection[0].to",
        "\"E\", \"I\"",
    );
    fails(
        "[[projection]]\nfrom = \"E\"\nto = \"I\"\nweights = { kind = \"matrix\", rows = [[1, 2, 3]] }",
        "projection.EI.weights.rows",
        "must be 2 rows",
    );
    fails(
        "[[projection]]\nfrom = \"E\"\nto = \"I\"\nweights = { kind = \"torus\", lambda1 = 1 }",
        "projection.EI.weights.kind",
        "same size",
    );
    fails(
        "[[projection]]\nfrom = \"E\"\nto = \"E\"\nweights = { kind = \"ring\", lambda1 = \"x\" }",
        "projection[0].weights",
        "",
    );
    fails(
        "[[projection]]\nfrom = \"E\"\nto = \"E\"\nweights = { kind = \"diagonal\", values = [1, 2] }",
        "projection.EE.weights.values",
        "the population's n",
    );
    fails(
        "[[input]]\npopulation = \"Q\"\nkind = \"uniform\"\nvalue = 1",
        "input[0].population",
        "must name a population",
    );
    fails(
        "[[population]]\nname = \"E\"\nn = 1\ntau = 0.1",
        "population[2].name",
        "earlier population",
    );
    fails(
        "[[population]]\nname = \"X\"\nn = 1\ntau = -1",
        "population[2].tau",
        "> 0",
    );
    // Sizes no machine holds are refused before anything is allocated:
    // 2^40 neurons need 64 TiB of per-neuron values, and a random
    // projection with every connection between two populations of 2^21
    // stores 2^42 of them (a uniform one is kept as one factored term).
    fails(
        "[[population]]\nname = \"X\"\nn = 1099511627776\ntau = 0.1",
        "population[2].n",
        "bytes",
    );
    fails(
        "[[population]]\nname = \"X\"\nn = 2097152\ntau = 0.1\n\
         [[population]]\nname = \"Y\"\nn = 2097152\ntau = 0.1\n\
         [[projection]]\nfrom = \"X\"\nto = \"Y\"\nweights = { kind = \"random\", g = 1 }",
        "projection.XY.weights",
        "connections",
    );
    fails(
        "[network]\nn = 2\ntau = 0.1\nweights = { kind = \"identity\" }",
        "population",
        "cannot be given with [network]",
    );
    // An override naming no population lists the names.
    let err = attractor::Experiment::from_toml(
        base,
        std::path::Path::new("."),
        "t",
        &["population.Q.tau=1".to_string()],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("E, I"), "{err}");
}

/// tau and a bias per neuron (a list, a number): unconnected linear
/// neurons relax as b_i (1 - e^(-t / tau_i)), which the exponential
/// integrator steps exactly; a bad entry names its index.
#[test]
fn tau_and_bias_per_neuron() {
    let e = exp(r#"
[[population]]
name = "A"
n = 4
tau = [0.005, 0.01, 0.02, 0.04]
bias = [1.0, -2.0, 0.5, 3.0]

[[population]]
name = "B"
n = 2
tau = 0.01
bias = 2.0

[simulation]
duration = 0.05
dt = 0.001
method = "exponential"
record_every = 10
"#);
    let rec = run(&e);
    let taus = [0.005, 0.01, 0.02, 0.04, 0.01, 0.01];
    let bias = [1.0, -2.0, 0.5, 3.0, 2.0, 2.0];
    for (k, &t) in rec.t.iter().enumerate() {
        let want: Vec<f64> = (0..6)
            .map(|i| bias[i] * (1.0 - (-t / taus[i]).exp()))
            .collect();
        // Exact but for rounding (f32 rates): 1e-6.
        all_close(&row(&rec, k), &want, 1e-6, &format!("t = {t}"));
    }
    let err = attractor::Experiment::from_toml(
        "[[population]]\nname = \"A\"\nn = 2\ntau = [0.01, -1]\n[simulation]\nduration = 1\ndt = 0.1",
        std::path::Path::new("."),
        "t",
        &[],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("`population[0].tau[1]`"), "{err}");
}

/// A sweep over a population's tau and a population input, by name: every
/// row's final I rate is the fixed point (6.5 - delta) / 4.25 of the
/// paradoxical example whatever tau_I (the fixed point does not depend on
/// it), in batches of several points.
#[test]
fn a_sweep_over_population_keys_reaches_each_fixed_point() {
    let dir = tempfile::tempdir().unwrap();
    let base = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/wilson_cowan.toml");
    let path = dir.path().join("sweep.toml");
    std::fs::write(
        &path,
        format!(
            "base = {base:?}\ntrials = 2\n[grid]\n\"input.2.value\" = [0.25, 0.5, 1.0]\n\
             \"population.I.tau\" = [0.005, 0.01]\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_attractor"))
        .args(["sweep", "-q", "--backend", "cpu", "--out"])
        .arg(&out)
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = csv::Reader::from_path(out.join("results.csv")).unwrap();
    let head = r.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let (d, i) = (col("input.2.value"), col("I.mean_rate"));
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 12);
    for row in rows {
        let delta: f64 = row[d].parse().unwrap();
        let got: f64 = row[i].parse().unwrap();
        // 1 s after the step: 75 e-foldings or more, the fixed point to rounding.
        close(got, (6.5 - delta) / 4.25, 1e-9, &format!("delta = {delta}"));
    }
}

/// A run's folder holds each population's rates (its kept columns) and
/// their picture where the population's first neuron is kept.
#[test]
fn each_population_has_its_rates_file_and_picture() {
    let e = exp_with(THREE, &["record.stride=3"]);
    let rec = run(&e);
    let dir = tempfile::tempdir().unwrap();
    attractor::output::write_run(dir.path(), &e, &rec).unwrap();
    // Kept neurons 0, 3, ..., 15: A (0..7) keeps 0, 3, 6; B (7..12) 9;
    // C (12..16) 12, 15. The .npy header states the shape.
    for (name, cols) in [("A", 3), ("B", 1), ("C", 2)] {
        let bytes = std::fs::read(dir.path().join(format!("rates_{name}.npy"))).unwrap();
        let header = String::from_utf8_lossy(&bytes[..128]);
        assert!(
            header.contains(&format!("'shape': ({}, {cols}, )", rec.t.len())),
            "{name}: {header}"
        );
    }
    assert!(dir.path().join("rates_A.png").exists());
    assert!(dir.path().join("rates_C.png").exists());
    assert!(
        !dir.path().join("rates_B.png").exists(),
        "B's first neuron is not kept"
    );
    let summary = std::fs::read_to_string(dir.path().join("summary.json")).unwrap();
    assert!(summary.contains("\"first_neuron\": 12"), "{summary}");
}

/// An E ring of 64 and an I population of 24: a ring E -> E, a ring of
/// different sizes E -> I, a uniform inhibitory I -> E and the identity
/// I -> I.
const FACTORED: &str = r#"
[[population]]
name = "E"
n = 64
tau = 0.02
activation = { kind = "relu" }
initial = 0.1

[[population]]
name = "I"
n = 24
tau = 0.01
dynamics = "current"
activation = { kind = "tanh", beta = 1.5 }

[[projection]]
from = "E"
to = "E"
weights = { kind = "ring", lambda0 = 0.3, lambda1 = 1.2 }

[[projection]]
from = "E"
to = "I"
weights = { kind = "ring", lambda0 = 0.1, lambda1 = 0.5 }

[[projection]]
from = "I"
to = "E"
sign = "inhibitory"
weights = { kind = "uniform", value = 0.02 }

[[projection]]
from = "I"
to = "I"
weights = { kind = "identity", value = 0.4 }

[[input]]
population = "E"
kind = "bump"
c = 1.0
epsilon = 0.5

[simulation]
duration = 0.03
dt = 0.0005
"#;

#[test]
fn structured_projections_are_kept_as_factors() {
    let e = exp(FACTORED);
    // The rings' uniform, cos and sin terms (3 + 3) and the uniform one are
    // kept as factors: only the identity's 24 entries are stored.
    match e.network.weights.shape() {
        attractor::model::Shape::Sparse {
            nnz,
            factors,
            factor_rows,
            factor_columns,
            ..
        } => {
            assert_eq!((nnz, factors), (24, 7));
            assert_eq!(factor_rows, 3 * 64 + 3 * 24 + 64);
            assert_eq!(factor_columns, 3 * 64 + 3 * 64 + 24);
        }
        other => panic!("a sparse block, not {other:?}"),
    }
    // The block they make is the projections' entries (sums of three
    // products of numbers of order 1: 1e-15 of rounding).
    let m = e.network.weights.to_dense();
    let n = 88;
    let theta = |i: usize, k: usize| {
        -std::f64::consts::PI + 2.0 * std::f64::consts::PI * i as f64 / k as f64
    };
    for i in 0..n {
        for j in 0..n {
            let want = match (i < 64, j < 64) {
                (true, true) => 2.0 / 64.0 * (-0.3 + 1.2 * (theta(i, 64) - theta(j, 64)).cos()),
                (false, true) => {
                    2.0 / 64.0 * (-0.1 + 0.5 * (theta(i - 64, 24) - theta(j, 64)).cos())
                }
                (true, false) => -0.02,
                (false, false) => {
                    if i == j {
                        0.4
                    } else {
                        0.0
                    }
                }
            };
            close(m[i * n + j], want, 1e-15, &format!("M[{i}][{j}]"));
        }
    }
    // The run steps the factored block as the written-out Euler step does
    // with its dense matrix (rates.npy is f32: 1e-6).
    let rec = run(&e);
    for (k, w) in reference(&e).iter().enumerate() {
        all_close(&row(&rec, k), w, 1e-6, &format!("record {k}"));
    }
}

#[test]
fn a_ring_of_a_million_neurons_needs_no_square_block() {
    // As entries this E -> E ring would be 10^12 connections (36 TB while
    // built); as factors it is 3 terms of 2 × 10^6 numbers each.
    let e = exp(&FACTORED.replace("n = 64", "n = 1000000"));
    match e.network.weights.shape() {
        attractor::model::Shape::Sparse { nnz, factors, .. } => {
            assert_eq!((nnz, factors), (24, 7));
        }
        other => panic!("a sparse block, not {other:?}"),
    }
}

#[test]
fn hebbian_projections_as_factors_are_the_network_weights() {
    // Packed and float patterns onto a population of 40 are kept as their 3
    // terms and the diagonal -P/N: the block equals the weights of the same
    // `hebbian` network of one population (sums of 3 products: 1e-15).
    for packed in [false, true] {
        let w = format!("{{ kind = \"hebbian\", patterns = 3, seed = 2, packed = {packed} }}");
        let e = exp(&format!(
            "[[population]]\nname = \"E\"\nn = 40\ntau = 0.01\n\
             [[population]]\nname = \"H\"\nn = 40\ntau = 0.01\n\
             [[projection]]\nfrom = \"H\"\nto = \"H\"\nweights = {w}\n\
             [simulation]\nduration = 0.01\ndt = 0.001\n"
        ));
        assert!(matches!(
            e.network.weights.shape(),
            attractor::model::Shape::Sparse {
                nnz: 40,
                factors: 3,
                ..
            }
        ));
        let one = exp(&format!(
            "[network]\nn = 40\ntau = 0.01\nweights = {w}\n\
             [simulation]\nduration = 0.01\ndt = 0.001\n"
        ));
        let (m, want) = (e.network.weights.to_dense(), one.network.weights.to_dense());
        for i in 0..40 {
            for j in 0..40 {
                close(m[(40 + i) * 80 + 40 + j], want[i * 40 + j], 1e-15, "H -> H");
            }
        }
    }
}
