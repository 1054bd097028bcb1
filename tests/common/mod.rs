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
