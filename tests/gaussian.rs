//! Gaussian and Mexican-hat kernels on a torus, applied by FFT: the product
//! against the dense matrix, the eigenvalues against a dense solve and the
//! continuum, the steady state against LU, a Mexican-hat sheet holding a
//! bump, convergence as the grid is refined, and a million neurons.

mod common;
use attractor::analysis::modes;
use attractor::model::{Gaussian, GaussianKernel, Weights};
use attractor::sim::cpu::operator::Operator;
use attractor::Experiment;
use common::*;
use std::path::Path;

fn kernel(side: usize, terms: &[(f64, f64)]) -> GaussianKernel {
    GaussianKernel {
        side,
        terms: terms
            .iter()
            .map(|&(amplitude, sigma)| Gaussian { amplitude, sigma })
            .collect(),
    }
}

/// The FFT product equals the dense M x on odd and even sides, for a
/// Gaussian and a Mexican hat: to 1e-12 of the largest |y| in f64 (the
/// transforms' rounding is near 1e-16 times log N), and the f32 operator
/// (its vectors rounded to f32, the transforms in f64) to 1e-6.
#[test]
fn the_fft_product_is_the_dense_product() {
    for side in [5usize, 9, 12, 16] {
        for terms in [vec![(2.0, 0.7)], vec![(6.0, 0.8), (-5.0, 1.6)]] {
            let k = kernel(side, &terms);
            let w = Weights::Gaussian(k.clone());
            let n = side * side;
            let m = w.to_dense();
            let x: Vec<f64> = (0..n)
                .map(|i| ((i * 7919) % 101) as f64 / 50.0 - 1.0)
                .collect();
            let want: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| m[i * n + j] * x[j]).sum())
                .collect();
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            let op = Operator::<f64>::new(&w);
            let mut y = vec![0.0; n];
            op.apply(&x, &mut y, &mut Vec::new());
            all_close(&y, &want, 1e-12 * scale, &format!("f64, side {side}"));
            let op32 = Operator::<f32>::new(&w);
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let mut y32 = vec![0.0f32; n];
            op32.apply(&x32, &mut y32, &mut Vec::new());
            let y32: Vec<f64> = y32.iter().map(|&v| f64::from(v)).collect();
            all_close(&y32, &want, 1e-6 * scale, &format!("f32, side {side}"));
        }
    }
}

/// `modes` finds the spectrum from the Fourier modes: the same eigenvalues
/// as a dense symmetric solve of the 100 × 100 matrix (to 1e-10), and as the
/// sheet is refined the eigenvalues approach the continuum's on the torus
/// at second order (the wrapped distance has a kink at pi, so the lattice
/// sums are trapezoid rules of a function whose derivative jumps there).
#[test]
fn modes_come_from_the_fourier_modes() {
    let toml = |side: usize| {
        format!(
            r#"
        [network]
        n = {}
        tau = 0.01
        weights = {{ kind = "gaussian", excitation = 6.0, sigma = 0.8, inhibition = 5.0, sigma_inhibition = 1.6 }}
        [simulation]
        duration = 0.01
        dt = 0.001
        "#,
            side * side
        )
    };
    let e = exp(&toml(10));
    let r = modes::analyse(&e).unwrap();
    assert!(r.method.contains("circulant"), "{}", r.method);
    let mut ours: Vec<f64> = r
        .modes
        .iter()
        .flat_map(|m| std::iter::repeat_n(m.eigenvalue_re, m.multiplicity))
        .collect();
    let m = nalgebra::DMatrix::from_row_slice(100, 100, &e.network.weights.to_dense());
    let mut dense: Vec<f64> = m.symmetric_eigen().eigenvalues.iter().copied().collect();
    ours.sort_by(f64::total_cmp);
    dense.sort_by(f64::total_cmp);
    all_close(&ours, &dense, 1e-10, "eigenvalues");

    // The continuum on the torus: per axis the integral over [-pi, pi] of
    // the Gaussian times cos(q x) (Simpson, 20 000 intervals: far below the
    // lattice's error), each Gaussian scaled as the lattice's c_t N.
    let axis = |sigma: f64, q: f64| {
        let m = 20_000;
        let h = 2.0 * std::f64::consts::PI / m as f64;
        (0..=m)
            .map(|k| {
                let x = -std::f64::consts::PI + k as f64 * h;
                let w = if k == 0 || k == m {
                    1.0
                } else if k % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                w * (-x * x / (2.0 * sigma * sigma)).exp() * (q * x).cos()
            })
            .sum::<f64>()
            * h
            / 3.0
    };
    let continuum = |qx: f64, qy: f64| {
        [(6.0, 0.8), (-5.0, 1.6)]
            .iter()
            .map(|&(a, s): &(f64, f64)| {
                a / (2.0 * std::f64::consts::PI * s * s) * axis(s, qx) * axis(s, qy)
            })
            .sum::<f64>()
    };
    let modes = [(0usize, 0usize), (1, 0), (1, 1), (2, 1), (3, 0)];
    let errors: Vec<f64> = [16usize, 32, 64]
        .iter()
        .map(|&side| {
            let Weights::Gaussian(k) = exp(&toml(side)).network.weights else {
                panic!("gaussian weights")
            };
            modes
                .iter()
                .map(|&(qx, qy)| (k.eigenvalue(qx, qy) - continuum(qx as f64, qy as f64)).abs())
                .fold(0.0, f64::max)
        })
        .collect();
    println!("largest |lambda - lambda_continuum| at sides 16, 32, 64: {errors:?}");
    for w in errors.windows(2) {
        assert!(w[1] < w[0] / 3.0, "no second-order convergence: {errors:?}");
    }
    assert!(errors[2] < 1e-3, "{errors:?}");
}

/// The linear steady state (I - M)^-1 h that `modes` finds by FFT is the
/// LU solve of the dense system (to 1e-10).
#[test]
fn the_steady_state_by_fft_is_the_dense_solve() {
    let e = exp(r#"
        [network]
        n = 64
        tau = 0.01
        weights = { kind = "gaussian", excitation = 0.8, sigma = 0.9 }
        [[input]]
        kind = "bump"
        c = 1.0
        epsilon = 0.5
        theta = [0.3, -2.0]
        [simulation]
        duration = 0.01
        dt = 0.001
        "#);
    let r = modes::analyse(&e).unwrap();
    let got = r.steady_states[0].values.as_ref().expect("a steady state");
    let m = nalgebra::DMatrix::from_row_slice(64, 64, &e.network.weights.to_dense());
    let a = nalgebra::DMatrix::identity(64, 64) - m;
    let want = a
        .lu()
        .solve(&nalgebra::DVector::from_column_slice(&e.inputs[0].h))
        .unwrap();
    all_close(got, want.as_slice(), 1e-10, "steady state");
}

/// The Mexican-hat example: a cue at (0.5, -1.0) for 0.1 s leaves a bump
/// there that stays for the rest of the second (the kernel is a continuous
/// attractor in both directions): within 0.02 rad of the cue (the lattice
/// of 64 × 64 places, 0.1 rad apart, pins it slightly), amplitude above
/// 0.2, and the run is the same on the f32 path (to 1e-4 rad: f32
/// rounding of the state, the FFT in f64).
#[test]
fn a_mexican_hat_sheet_holds_a_bump() {
    let e = example("mexican_hat", &[]);
    let r = run(&e);
    assert!(
        last(&r, "bump_amplitude") > 0.2,
        "{}",
        last(&r, "bump_amplitude")
    );
    close(last(&r, "bump_x"), 0.5, 0.02, "bump_x");
    close(last(&r, "bump_y"), -1.0, 0.02, "bump_y");
    let r32 = run32(&e);
    close(last(&r32, "bump_x"), last(&r, "bump_x"), 1e-4, "f32 bump_x");
    close(last(&r32, "bump_y"), last(&r, "bump_y"), 1e-4, "f32 bump_y");
}

/// The bump of a rectified Mexican-hat sheet converges as the grid is
/// refined: sampled on a 16 × 16 grid, the largest difference from the
/// 128 × 128 sheet's falls at each doubling of the side and is below 1e-3
/// of the bump's height at 64 × 64.
#[test]
fn the_mexican_hat_bump_converges_as_the_grid_is_refined() {
    let profile = |side: usize| {
        let e = example(
            "mexican_hat",
            &[
                &format!("network.n={}", side * side),
                "simulation.duration=0.4",
                "input.0.theta=[0.0, 0.0]",
                "record.rates=false",
            ],
        );
        run(&e).final_state
    };
    let (errs, height) = sheet_refinement(profile, &[16usize, 32, 64], 128);
    assert!(height > 0.5, "a bump: {height}");
    for k in 1..errs.len() {
        assert!(errs[k] < errs[k - 1], "no convergence: {errs:?}");
    }
    assert!(errs[errs.len() - 1] < 1e-3 * height, "{errs:?}");
}

/// A million neurons (1000 × 1000): the operator is the FFT plans and
/// 5 × 10^5 eigenvalues, not 8 TB of M, and a few steps from a cue raise
/// a bump at the cue.
#[test]
fn a_million_neuron_mexican_hat_needs_no_matrix() {
    let e = example(
        "mexican_hat",
        &[
            "network.n=1000000",
            "simulation.duration=0.004",
            "simulation.dt=0.001",
            "simulation.precision=\"f32\"",
            "record.rates=false",
        ],
    );
    let op = Operator::<f32>::new(&e.network.weights);
    assert!(matches!(op, Operator::Convolution(_)));
    let r = run32(&e);
    assert!(last(&r, "bump_amplitude") > 0.01);
    close(last(&r, "bump_x"), 0.5, 1e-2, "bump_x");
    close(last(&r, "bump_y"), -1.0, 1e-2, "bump_y");
}

/// Bad kernels are refused naming the key: a non-square N, a surround
/// without its width, a width that is not positive, and a velocity of one
/// number on the sheet.
#[test]
fn gaussian_keys_are_checked() {
    let base = |n: usize, weights: &str, input: &str| {
        format!(
            "[network]\nn = {n}\ntau = 0.01\nweights = {{ kind = \"gaussian\", {weights} }}\n{input}\n[simulation]\nduration = 0.01\ndt = 0.001\n"
        )
    };
    let err = |t: &str| {
        Experiment::from_toml(t, std::path::Path::new("."), "t", &[])
            .expect_err("invalid")
            .to_string()
    };
    let e = err(&base(50, "excitation = 1.0, sigma = 0.5", ""));
    assert!(e.contains("network.n") && e.contains("side²"), "{e}");
    let e = err(&base(
        49,
        "excitation = 1.0, sigma = 0.5, inhibition = 0.5",
        "",
    ));
    assert!(
        e.contains("network.weights.inhibition") && e.contains("sigma_inhibition"),
        "{e}"
    );
    let e = err(&base(49, "excitation = 1.0, sigma = 0.0", ""));
    assert!(
        e.contains("network.weights.sigma") && e.contains("> 0"),
        "{e}"
    );
    let e = err(&base(
        49,
        "excitation = 1.0, sigma = 0.5",
        "[[input]]\nkind = \"velocity\"\nvalue = 1.0",
    ));
    assert!(e.contains("input[0].value") && e.contains("[x, y]"), "{e}");
}

/// A velocity turns the kernel: the FFT product with kappa = tau (v_x, v_y)
/// equals the dense product of M + kx H ⊗ G + ky G ⊗ H (the odd taps h =
/// minus the derivative of g) to 1e-12 of the largest |y|, on odd and even
/// sides, for one and two Gaussians.
#[test]
fn the_turned_fft_product_is_the_dense_turned_product() {
    for side in [7usize, 12] {
        for terms in [vec![(2.0, 0.7)], vec![(6.0, 0.8), (-5.0, 1.6)]] {
            let k = kernel(side, &terms);
            let n = side * side;
            let (kx, ky) = (0.03, -0.05);
            let x: Vec<f64> = (0..n)
                .map(|i| ((i * 7919) % 101) as f64 / 50.0 - 1.0)
                .collect();
            let want: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| k.entry_turned(i, j, kx, ky) * x[j]).sum())
                .collect();
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            let op = Operator::<f64>::new(&Weights::Gaussian(k.clone()));
            let mut y = vec![0.0; n];
            op.apply_turned(&x, &mut y, &mut Vec::new(), &[kx, ky]);
            all_close(&y, &want, 1e-12 * scale, &format!("turned, side {side}"));
            // Without a turn the entries are M's.
            assert_eq!(k.entry_turned(3, 5, 0.0, 0.0), k.entry(3, 5));
        }
    }
}

/// Products keep their spectra for the next product: a product after
/// others (plain, turned, of other vectors, from several threads at once,
/// or through a clone) gives the same bits as the first, on a side that
/// transforms on one thread (12) and one that uses rayon's (64).
#[test]
fn reused_spectra_carry_nothing_over() {
    for side in [12usize, 64] {
        let k = kernel(side, &[(6.0, 0.8), (-5.0, 1.6)]);
        let n = side * side;
        let op = Operator::<f64>::new(&Weights::Gaussian(k));
        let vector = |s: usize| -> Vec<f64> {
            (0..n)
                .map(|i| ((i * 7919 + s * 104_729) % 101) as f64 / 50.0 - 1.0)
                .collect()
        };
        let product = |op: &Operator<f64>, x: &[f64]| {
            let mut y = vec![0.0; n];
            op.apply(x, &mut y, &mut Vec::new());
            y
        };
        let xs: Vec<Vec<f64>> = (0..4).map(vector).collect();
        let first: Vec<Vec<f64>> = xs.iter().map(|x| product(&op, x)).collect();
        let mut turned = vec![0.0; n];
        op.apply_turned(&xs[1], &mut turned, &mut Vec::new(), &[0.03, -0.05]);
        assert_eq!(product(&op, &xs[0]), first[0], "side {side}, again");
        std::thread::scope(|sc| {
            let runs: Vec<_> = xs
                .iter()
                .map(|x| sc.spawn(|| (0..3).map(|_| product(&op, x)).collect::<Vec<_>>()))
                .collect();
            for (run, want) in runs.into_iter().zip(&first) {
                for y in run.join().unwrap() {
                    assert_eq!(&y, want, "side {side}, threads");
                }
            }
        });
        assert_eq!(product(&op.clone(), &xs[2]), first[2], "side {side}, clone");
    }
}

/// Path integration on a Mexican-hat sheet: a velocity (v_x, v_y) = (1.0,
/// 0.5) rad/s from t = 0.3 s to 1 s moves the bump cued at (0.5, -1.0) by
/// (0.7, 0.35), as the kernel shifted by tau v moves a bump at v to first
/// order in tau v (tau v = 0.01 here): within 0.01 rad (1.3% of the path;
/// 4e-4 measured; the 64 × 64 lattice can pin a bump by up to 0.02 rad
/// when still, less when it moves).
#[test]
fn a_mexican_hat_sheet_integrates_a_velocity() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let text = std::fs::read_to_string(dir.join("mexican_hat.toml")).unwrap()
        + "\n[[input]]\nkind = \"velocity\"\nstart = 0.3\nvalue = [1.0, 0.5]\n";
    let e = Experiment::from_toml(&text, &dir, "moving_hat", &[]).unwrap();
    let r = run(&e);
    println!(
        "bump at ({}, {}), amplitude {}",
        last(&r, "bump_x"),
        last(&r, "bump_y"),
        last(&r, "bump_amplitude")
    );
    assert!(last(&r, "bump_amplitude") > 0.2);
    close(last(&r, "bump_x"), 1.2, 0.01, "bump_x");
    close(last(&r, "bump_y"), -0.65, 0.01, "bump_y");
}
