//! Hebbian weights of bit-packed ±1 patterns (`packed = true`): the same
//! network as f64 patterns, 32 units per word, so that N = 10^5 neurons
//! with P = 10^4 patterns take 125 MB.

mod common;
use attractor::model::Weights;
use attractor::Experiment;
use common::*;

#[test]
fn packed_and_float_patterns_give_the_same_run() {
    // The same random patterns (same seed, same bits); only the order of
    // the sums differs: in f64 the runs agree to 1e-9 (rounding of sums
    // of 1000 terms, ~1e-13, grown by the flow's expansion near the cue);
    // in f32 to 1e-4 of the scale (f32 rounding of 50 overlaps per step).
    for (precision, tol) in [("f64", 1e-9), ("f32", 1e-4)] {
        let set = format!("simulation.precision=\"{precision}\"");
        let f = example("pattern_completion", &[&set]);
        let p = example("pattern_completion", &[&set, "network.weights.packed=true"]);
        assert!(matches!(p.network.weights, Weights::PackedHebbian { .. }));
        assert_eq!(
            p.initial, f.initial,
            "the cue is built from the same pattern"
        );
        let (a, b) = (run(&f), run(&p));
        assert_eq!(a.metric_names, b.metric_names);
        for (ra, rb) in a.metrics.iter().zip(&b.metrics) {
            all_close(rb, ra, tol * 50.0, &format!("{precision} metrics"));
        }
        all_close(
            &b.final_state,
            &a.final_state,
            tol,
            &format!("{precision} state"),
        );
        let overlap = *b.metric("overlap_0").unwrap().last().unwrap();
        assert!(overlap > 0.99, "recall {overlap}");
    }
}

#[test]
fn packed_capacity_collapses_near_0_138_at_n_10_000() {
    // N = 10^4, cue with 5% flipped, 20 tau of Euler steps: recall below
    // the capacity 0.138 (Amit, Gutfreund and Sompolinsky), none well above.
    let recall = |p: usize| {
        let r = run(&example(
            "pattern_completion",
            &[
                "network.n=10000",
                &format!("network.weights.patterns={p}"),
                "network.weights.packed=true",
                "initial.flip=0.05",
                "simulation.method=\"euler\"",
                "simulation.dt=0.001",
                "simulation.duration=0.2",
                "simulation.record_every=200",
                "record.rates=false",
            ],
        ));
        let m = *r.metric("overlap_0").unwrap().last().unwrap();
        println!("N = 10^4, load {:.2}: final overlap {m:.3}", p as f64 / 1e4);
        m
    };
    let below = recall(1000);
    assert!(below > 0.95, "load 0.10: {below}");
    let above = recall(2000);
    assert!(above < 0.6, "load 0.20: {above}");
}

#[test]
fn packed_patterns_feed_cues_and_inputs() {
    // A pattern input and a pattern cue read the bits as ±1 values.
    let e = example(
        "pattern_completion",
        &[
            "network.weights.packed=true",
            "initial.flip=0.0",
            "initial.scale=1.0",
        ],
    );
    let Weights::PackedHebbian { bits, .. } = &e.network.weights else {
        panic!("packed")
    };
    assert_eq!(e.initial, bits.pattern(0));
    let f = example("pattern_completion", &[]);
    assert_eq!(bits.values(), f.network.weights.metric_table());
    let err = Experiment::load(
        std::path::Path::new(&format!(
            "{}/examples/pattern_completion.toml",
            env!("CARGO_MANIFEST_DIR")
        )),
        &[
            "network.weights.packed=true".to_string(),
            "initial.index=50".to_string(),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("initial.index") && err.contains("P = 50"),
        "{err}"
    );
}

#[test]
fn many_patterns_record_the_cued_overlaps_and_the_largest_other() {
    // P = 1200 > 1000: by default the cued pattern's overlap and the
    // largest |overlap| of the other 1199, from the same sums as "all".
    let base = [
        "network.n=600",
        "network.weights.patterns=1200",
        "network.weights.packed=true",
        "initial.index=3",
        "simulation.duration=0.005",
        "record.rates=false",
    ];
    let cued = run(&example("pattern_completion", &base));
    assert_eq!(
        cued.metric_names,
        ["mean_rate", "overlap_3", "overlap_max_rest", "energy"]
    );
    let mut all_set = base.to_vec();
    all_set.push("record.overlaps=\"all\"");
    let all = run(&example("pattern_completion", &all_set));
    assert_eq!(all.metric_names.len(), 1 + 1200 + 1);
    for (c, a) in cued.metrics.iter().zip(&all.metrics) {
        assert_eq!(c[1], a[1 + 3], "overlap_3");
        let rest = (0..1200)
            .filter(|&mu| mu != 3)
            .map(|mu| a[1 + mu].abs())
            .fold(0.0f64, f64::max);
        assert_eq!(c[2], rest, "overlap_max_rest");
        assert_eq!(c[3], a[1201], "energy");
    }
    // A list, sorted and without repeats.
    let mut list = base.to_vec();
    list.push("record.overlaps=[7, 1, 7]");
    let e = example("pattern_completion", &list);
    assert_eq!(e.network.overlaps, Some(vec![1, 7]));
    let r = run(&e);
    assert_eq!(
        r.metric_names,
        [
            "mean_rate",
            "overlap_1",
            "overlap_7",
            "overlap_max_rest",
            "energy"
        ]
    );
}

#[test]
fn bad_overlap_selections_name_the_key() {
    let path = format!(
        "{}/examples/pattern_completion.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    for (set, want) in [
        ("record.overlaps=[3, 50]", "below P = 50"),
        ("record.overlaps=\"some\"", "\"all\", \"cued\""),
    ] {
        let err = Experiment::load(std::path::Path::new(&path), &[set.to_string()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("record.overlaps") && err.contains(want),
            "{set}: {err}"
        );
    }
    let ring = format!("{}/examples/ring_memory.toml", env!("CARGO_MANIFEST_DIR"));
    let err = Experiment::load(
        std::path::Path::new(&ring),
        &["record.overlaps=\"cued\"".to_string()],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("record.overlaps") && err.contains("hebbian"),
        "{err}"
    );
}

#[test]
fn modes_of_packed_patterns_match_the_float_form() {
    // The overlap matrix from popcounts against the structured form's
    // eigen-solve of the same ±1 patterns: the same spectrum to 1e-10.
    use attractor::analysis::modes::analyse;
    for (n, p) in [(100, 7), (33, 40)] {
        let sets = [
            format!("network.n={n}"),
            format!("network.weights.patterns={p}"),
        ];
        let f = example("pattern_completion", &[&sets[0], &sets[1]]);
        let mut packed = sets.to_vec();
        packed.push("network.weights.packed=true".into());
        let q = example(
            "pattern_completion",
            &packed.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let (a, b) = (analyse(&f).unwrap(), analyse(&q).unwrap());
        assert!(b.method.contains("packed"), "{}", b.method);
        let spectrum = |r: &attractor::analysis::modes::ModesReport| {
            let mut v: Vec<f64> = r
                .modes
                .iter()
                .flat_map(|m| std::iter::repeat_n(m.eigenvalue_re, m.multiplicity))
                .collect();
            v.sort_by(|x, y| x.partial_cmp(y).unwrap());
            v
        };
        let (sa, sb) = (spectrum(&a), spectrum(&b));
        assert_eq!(sa.len(), n);
        all_close(&sb, &sa, 1e-10, &format!("N = {n}, P = {p}"));
    }
}
