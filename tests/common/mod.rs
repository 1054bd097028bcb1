//! Helpers shared by the integration tests.
#![allow(dead_code)]

use attractor::sim::{cpu, Recording};
use attractor::Experiment;
use std::path::Path;

/// Parses experiment TOML (paths relative to the crate root).
pub fn exp(toml: &str) -> Experiment {
    Experiment::from_toml(toml, Path::new(env!("CARGO_MANIFEST_DIR")), "test", &[])
        .unwrap_or_else(|e| panic!("invalid test experiment: {e}\n{toml}"))
}

/// Parses experiment TOML with overrides.
pub fn exp_with(toml: &str, overrides: &[&str]) -> Experiment {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Experiment::from_toml(toml, Path::new(env!("CARGO_MANIFEST_DIR")), "test", &o)
        .unwrap_or_else(|e| panic!("invalid test experiment: {e}\n{toml}"))
}

/// Runs on the CPU in f64.
pub fn run(e: &Experiment) -> Recording {
    cpu::run::<f64>(e, &mut |_| {})
}

/// Runs on the CPU in f32.
pub fn run32(e: &Experiment) -> Recording {
    cpu::run::<f32>(e, &mut |_| {})
}

/// Asserts |a - b| <= tol, naming what is compared.
#[track_caller]
pub fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol,
        "{what}: got {a}, expected {b}, difference {} > tolerance {tol}",
        (a - b).abs()
    );
}

/// Asserts two slices agree elementwise within `tol`, reporting the worst index.
#[track_caller]
pub fn all_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let (i, d) = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .enumerate()
        .fold((0, 0.0f64), |m, (i, d)| if d > m.1 { (i, d) } else { m });
    assert!(
        d <= tol,
        "{what}: index {i}: {} vs {}, difference {d} > tolerance {tol}",
        a[i],
        b[i]
    );
}

/// The rates row of record k.
pub fn row(r: &Recording, k: usize) -> Vec<f64> {
    r.rates[k * r.kept..(k + 1) * r.kept]
        .iter()
        .map(|&x| x as f64)
        .collect()
}

/// examples/`name`.toml with `overrides` (as `--set` gives them).
pub fn example(name: &str, overrides: &[&str]) -> Experiment {
    let path = format!("{}/examples/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Experiment::load(Path::new(&path), &o).unwrap()
}

/// The last value of metric `name`.
pub fn last(r: &Recording, name: &str) -> f64 {
    *r.metric(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", r.metric_names))
        .last()
        .unwrap()
}

/// Refinement of a sheet: the largest difference, on a 16 × 16 grid of
/// places, between the final state `profile(side)` at each of `sides` and
/// at `reference` (a side each of them divides), with the reference's
/// largest rate; prints each difference.
pub fn sheet_refinement(
    profile: impl Fn(usize) -> Vec<f64>,
    sides: &[usize],
    reference: usize,
) -> (Vec<f64>, f64) {
    let fine = profile(reference);
    let coarse = 16;
    let at = |v: &[f64], side: usize, r: usize, c: usize| {
        v[(r * side / coarse) * side + c * side / coarse]
    };
    let errs: Vec<f64> = sides
        .iter()
        .map(|&side| {
            let p = profile(side);
            (0..coarse * coarse)
                .map(|k| {
                    let (r, c) = (k / coarse, k % coarse);
                    (at(&p, side, r, c) - at(&fine, reference, r, c)).abs()
                })
                .fold(0.0, f64::max)
        })
        .collect();
    for (s, e) in sides.iter().zip(&errs) {
        println!("side {s:>3}: max |v - v_{reference}| = {e:.3e}");
    }
    (errs, fine.iter().fold(0.0f64, |a, &x| a.max(x)))
}

/// The bump profile c (1 - epsilon + epsilon cos(theta_i - theta0)) over N
/// neurons at theta_i = -pi + 2 pi i / N (SPEC's `bump`), written out.
pub fn bump(n: usize, c: f64, epsilon: f64, theta0: f64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let theta = -std::f64::consts::PI + 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            c * (1.0 - epsilon + epsilon * (theta - theta0).cos())
        })
        .collect()
}

/// A sparse N×N matrix whose row i has `per_row(i)` entries at random
/// columns (repeats summed) with values in [-1, 1], from a seeded LCG.
pub fn random_sparse(
    n: usize,
    per_row: &dyn Fn(usize) -> usize,
    seed: u64,
) -> attractor::model::Csr {
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 33
    };
    let (mut r, mut c, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        for _ in 0..per_row(i) {
            r.push(i as u64);
            c.push(next() % n as u64);
            v.push((next() % 2001) as f64 / 1000.0 - 1.0);
        }
    }
    attractor::model::Csr::from_triplets(n, &r, &c, &v).unwrap()
}
