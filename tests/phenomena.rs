//! The lectures' phenomena, each reproduced by an example in examples/ and
//! checked against theory. Run with --nocapture to see the numbers the
//! README quotes.

mod common;
use attractor::analysis::ring::rectified_bump;
use attractor::model::theta;
use attractor::sim::Recording;
use common::*;
use std::f64::consts::PI;

/// Rates of neuron j at record k, in f64 (rates are kept in f32).
fn rate(r: &Recording, k: usize, j: usize) -> f64 {
    r.rates[k * r.kept + j] as f64
}

/// Index of the record at time t.
fn at(r: &Recording, t: f64) -> usize {
    r.t.iter()
        .position(|&s| (s - t).abs() < 1e-9)
        .unwrap_or_else(|| panic!("no record at {t}"))
}

#[test]
fn autapse_gain_and_time_constant() {
    let r = run(&example("autapse", &[]));
    let lambdas = [-1.0, 0.0, 0.5, 0.66];
    for (j, l) in lambdas.iter().enumerate() {
        let (ss, tc) = (1.0 / (1.0 - l), 0.01 / (1.0 - l));
        println!(
            "lambda = {l:5}: steady state {:.4} (theory {ss:.4}), time constant {:.1} ms",
            rate(&r, at(&r, 0.3), j),
            tc * 1e3
        );
        // v(t) = ss (1 - e^{-t/tc}) while the input is on; rk4 at dt/tau = 0.01
        // is exact to ~1e-9, and rates are stored in f32: 1e-6 relative.
        for k in 0..=at(&r, 0.3) {
            let want = ss * (1.0 - (-r.t[k] / tc).exp());
            close(
                rate(&r, k, j),
                want,
                1e-6 * ss,
                &format!("lambda {l} at t = {}", r.t[k]),
            );
        }
    }
}

#[test]
fn mutual_excitation_amplifies_along_one_one() {
    let r = run(&example("mutual_excitation", &[]));
    let v = &r.final_state;
    // (I - M)^-1 (1, 0) = (2.778, 2.222); after 10 time constants of the slow
    // mode the residual is at most 2.5 e^-10 = 1.1e-4.
    println!(
        "mutual excitation: final ({:.4}, {:.4}), along (1,1) / along (1,-1) = {:.3}",
        v[0],
        v[1],
        (v[0] + v[1]) / (v[0] - v[1])
    );
    all_close(v, &[2.5 + 0.5 / 1.8, 2.5 - 0.5 / 1.8], 2e-4, "steady state");
    // Input (1,1)/2 is amplified 5x, (1,-1)/2 by 1/1.8: their ratio becomes 9.
    close(
        (v[0] + v[1]) / (v[0] - v[1]),
        9.0,
        2e-3,
        "ratio of the modes",
    );
}

#[test]
fn mutual_inhibition_amplifies_along_one_minus_one() {
    let r = run(&example("mutual_inhibition", &[]));
    let v = &r.final_state;
    println!("mutual inhibition: final ({:.4}, {:.4})", v[0], v[1]);
    all_close(v, &[0.5 / 1.8 + 2.5, 0.5 / 1.8 - 2.5], 2e-4, "steady state");
}

#[test]
fn integrator_holds_and_leaky_integrator_forgets() {
    let r = run(&example("integrator", &[]));
    // Perfect integrator: +1 per burst of h = 1 lasting tau, -0.5 for the last;
    // rk4 integrates a constant derivative exactly (1e-9 for rounding).
    for (t, want) in [(0.2, 1.0), (0.4, 2.0), (0.7, 1.5), (1.0, 1.5)] {
        close(
            rate(&r, at(&r, t), 0),
            want,
            1e-6,
            &format!("integrator at {t}"),
        );
    }
    // Leaky (lambda = 0.95): decays between bursts as e^{-(1 - lambda) t / tau}.
    let (a, b) = (rate(&r, at(&r, 0.12), 1), rate(&r, at(&r, 0.3), 1));
    let measured = -(0.3 - 0.12) / (b / a).ln();
    println!(
        "leaky integrator: time constant {:.4} s (theory {:.4} s)",
        measured,
        0.01 / 0.05
    );
    close(measured, 0.2, 2e-5, "leak time constant");
}

#[test]
fn bistable_unit_holds_a_bit() {
    let r = run(&example("bistable", &[]));
    let v = |t: f64| rate(&r, at(&r, t), 0);
    println!(
        "bistable: v(0.29 s) = {:.6}, v(0.5 s) = {:.6}",
        v(0.29),
        v(0.5)
    );
    close(v(0.29), 1.0, 1e-6, "+ memory after the first pulse");
    close(v(0.5), -1.0, 1e-6, "- memory after the second pulse");
}

fn half_width(r: &Recording, k: usize, centre: f64) -> f64 {
    let n = r.kept;
    (0..n)
        .filter(|&i| rate(r, k, i) > 1e-9)
        .map(|i| {
            let d = theta(i, n) - centre;
            (d.sin()).atan2(d.cos()).abs()
        })
        .fold(0.0, f64::max)
}

#[test]
fn selective_amplification_matches_the_self_consistent_bump() {
    let e = example("selective_amplification", &[]);
    let r = run(&e);
    let last = r.t.len() - 1;
    let b = rectified_bump(2.0, 1.9, 1.0, 0.1).unwrap();
    let hw = half_width(&r, last, 0.0);
    let peak = (0..r.kept).map(|i| rate(&r, last, i)).fold(0.0, f64::max);
    println!(
        "selective amplification: input varies 0.8..1.0 (20%); output half-width {:.1} deg (theory {:.1}), peak {:.4} (theory {:.4}), zero over {:.0}% of the ring",
        hw.to_degrees(),
        b.half_width.to_degrees(),
        peak,
        b.peak,
        100.0 * (0..r.kept).filter(|&i| rate(&r, last, i) <= 1e-9).count() as f64 / r.kept as f64
    );
    // The grid resolves the edge to one neuron (360/512 = 0.7 degrees).
    close(hw, b.half_width, 2.0 * PI / 512.0, "half-width");
    // The 512-point sum approximates the integral to ~1e-5 (see the
    // convergence test); rates in f32.
    close(peak, b.peak, 1e-4, "peak");
}

#[test]
fn winner_takes_all_keeps_only_the_stronger_bump() {
    let r = run(&example("winner_takes_all", &[]));
    let last = r.t.len() - 1;
    let n = r.kept;
    let near = |t0: f64| {
        (0..n)
            .min_by(|&a, &b| {
                (theta(a, n) - t0)
                    .abs()
                    .total_cmp(&(theta(b, n) - t0).abs())
            })
            .unwrap()
    };
    let (win, lose) = (rate(&r, last, near(-1.2)), rate(&r, last, near(1.2)));
    let th = *r.metric("bump_theta").unwrap().last().unwrap();
    println!("winner-takes-all: rate at the stronger input {win:.4}, at the weaker {lose:.2e}, bump at {th:.4} rad");
    assert!(win > 0.5, "the winner is active: {win}");
    assert!(lose < 1e-9, "the loser is silent: {lose}");
    // The weaker input's tail pulls the bump slightly: within 0.02 rad of -1.2.
    close(th, -1.2, 0.02, "bump at the stronger input");
}

#[test]
fn gain_modulation_scales_without_moving_or_widening() {
    let e = example("gain_modulation", &[]);
    let r = run(&e);
    let ends = attractor::output::plots::segment_ends(&e, &r);
    assert_eq!(ends.len(), 3);
    let mut peaks = Vec::new();
    for (k, g) in ends.iter().zip([0.0, 0.5, 1.0]) {
        let peak = (0..r.kept).map(|i| rate(&r, *k, i)).fold(0.0, f64::max);
        let hw = half_width(&r, *k, 0.5);
        let th = r.metrics[*k][1];
        // g adds to the untuned part: c' = 1 + g, epsilon' = 0.1 / c'.
        let b = rectified_bump(5.0, 4.0, 1.0 + g, 0.1 / (1.0 + g)).unwrap();
        println!(
            "gain modulation g = {g}: peak {peak:.4} (theory {:.4}), half-width {:.1} deg (theory {:.1}), centre {th:.4} rad",
            b.peak,
            hw.to_degrees(),
            b.half_width.to_degrees()
        );
        close(peak, b.peak, 1e-3 * b.peak, "peak");
        close(hw, b.half_width, 2.0 * PI / 512.0, "half-width");
        close(th, 0.5, 1e-3, "centre");
        peaks.push(peak);
    }
    // Multiplicative: the peak nearly doubles from g = 0 to g = 1 while the
    // width moves by about one degree.
    assert!(peaks[2] / peaks[0] > 1.9);
}

#[test]
fn short_term_memory_needs_lambda1_above_two() {
    // Amplitude one second after the input ends, relative to its value when
    // the input ended, across the boundary lambda1 = 2 of the ring with
    // lambda0 = 0 (theory: a marginal bump exists at lambda1 = 2, whose
    // cosine mode has eigenvalue lambda1 / 2 on its half of the ring).
    for l1 in [1.8, 1.9, 1.95, 2.05, 2.1, 2.2] {
        let r = run(&example(
            "ring_memory",
            &[
                &format!("network.weights.lambda1={l1}"),
                "simulation.duration=1.3",
            ],
        ));
        let amp = r.metric("bump_amplitude").unwrap();
        let th = r.metric("bump_theta").unwrap();
        let (a0, a1) = (amp[at(&r, 0.3)], *amp.last().unwrap());
        println!("memory lambda1 = {l1}: amplitude {a0:.4} at input end -> {a1:.4} one second later, bump at {:.4} rad", th.last().unwrap());
        if l1 < 2.0 {
            assert!(a1 < 0.15 * a0, "lambda1 = {l1} forgets: {a0} -> {a1}");
        } else {
            assert!(a1 > 0.8 * a0, "lambda1 = {l1} remembers: {a0} -> {a1}");
            close(*th.last().unwrap(), 1.0, 1e-3, "remembered angle");
        }
    }
    // Below the boundary the decay rate is 1 - lambda1 / 2 per tau.
    let r = run(&example(
        "ring_memory",
        &["network.weights.lambda1=1.8", "simulation.duration=1.3"],
    ));
    let amp = r.metric("bump_amplitude").unwrap();
    let rate_measured = -(amp[at(&r, 0.9)] / amp[at(&r, 0.6)]).ln() / 0.3 * 0.01;
    println!(
        "memory lambda1 = 1.8: decay rate {rate_measured:.4} per tau (theory {:.4})",
        1.0 - 1.8 / 2.0
    );
    close(rate_measured, 0.1, 0.01, "decay rate below the boundary");
}

#[test]
fn pattern_completion_recalls_with_falling_energy() {
    let r = run(&example("pattern_completion", &[]));
    let m0 = r.metric("overlap_0").unwrap();
    let e = r.metric("energy").unwrap();
    println!(
        "pattern completion: overlap_0 {:.3} -> {:.5}, energy {:.2} -> {:.2}",
        m0[0],
        m0.last().unwrap(),
        e[0],
        e.last().unwrap()
    );
    // The cue: 25% flipped, scale 0.1: tanh(10 * 0.1) * (1 - 2 * 0.25).
    close(m0[0], 0.5 * 1.0f64.tanh(), 1e-12, "cue overlap");
    assert!(*m0.last().unwrap() > 0.95);
    let scale = e.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    for k in 1..e.len() {
        // rk4 at dt/tau = 0.05 follows the flow, along which dL/dt <= 0.
        assert!(e[k] <= e[k - 1] + 1e-9 * scale, "energy rose at record {k}");
    }
}

#[test]
fn hopfield_capacity_collapses_near_0_14() {
    let mut curve = Vec::new();
    for p in [20, 50, 80, 110, 140, 170, 200, 250] {
        let r = run(&example(
            "pattern_completion",
            &[
                &format!("network.weights.patterns={p}"),
                "initial.flip=0.05",
                "record.rates=false",
                "simulation.duration=0.2",
                "simulation.record_every=400",
            ],
        ));
        let m = *r.metric("overlap_0").unwrap().last().unwrap();
        println!(
            "capacity: load P/N = {:.2}: final overlap {m:.3}",
            p as f64 / 1000.0
        );
        curve.push((p, m));
    }
    // Below the classical capacity 0.138 (Amit, Gutfreund and Sompolinsky)
    // recall is near perfect; well above it, it collapses.
    for &(p, m) in &curve {
        if p <= 110 {
            assert!(m > 0.95, "load {p}/1000: {m}");
        }
        if p >= 200 {
            assert!(m < 0.6, "load {p}/1000: {m}");
        }
    }
}

#[test]
fn hopfield_basins_fractions() {
    let (mut pattern, mut negative, mut mixture, mut other) = (0, 0, 0, 0);
    let trials = 200;
    for seed in 0..trials {
        let r = run(&example(
            "hopfield_basins",
            &[&format!("simulation.seed={seed}"), "record.rates=false"],
        ));
        let m: Vec<f64> = (0..3)
            .map(|mu| *r.metric(&format!("overlap_{mu}")).unwrap().last().unwrap())
            .collect();
        let big: Vec<f64> = m.iter().copied().filter(|x| x.abs() > 0.9).collect();
        if big.len() == 1 {
            if big[0] > 0.0 {
                pattern += 1;
            } else {
                negative += 1;
            }
        } else if m.iter().all(|x| (x.abs() - 0.5).abs() < 0.1) {
            mixture += 1;
        } else {
            other += 1;
        }
    }
    let pct = |k: i32| 100.0 * k as f64 / trials as f64;
    println!(
        "basins over {trials} random starts: patterns {:.1}%, negatives {:.1}%, 3-mixtures {:.1}%, other {:.1}%",
        pct(pattern),
        pct(negative),
        pct(mixture),
        pct(other)
    );
    assert_eq!(pattern + negative + mixture + other, trials);
    // v -> -v leaves the dynamics unchanged: patterns and negatives are equally
    // likely; with 200 trials their counts differ by less than 4 binomial sd.
    let sd = ((pattern + negative) as f64).sqrt();
    assert!(
        ((pattern - negative) as f64).abs() < 4.0 * sd,
        "{pattern} vs {negative}"
    );
    assert!(
        pattern + negative > trials / 2,
        "stored patterns attract most starts"
    );
    assert!(mixture > 0, "mixture states attract some starts");
    assert_eq!(
        other, 0,
        "every start ends in a pattern, a negative or a mixture"
    );
}
