//! The forms of M: every weight kind maps to one computational form
//! ([`Weights::form`]), whose shape is what [`Weights::shape`] states
//! without building it, and whose metric rows are what the geometry names.

use attractor::model::{largest, Gaussian, GaussianKernel, PatternBits, Weights};
use std::sync::Arc;

/// The weights an experiment file's `[network.weights]` table `weights`
/// gives a network of `n` neurons.
fn drawn(weights: &str, n: usize) -> Weights {
    let text = format!(
        "[network]\nn = {n}\ntau = 0.01\n{weights}\n[simulation]\nduration = 0.01\ndt = 0.001\n"
    );
    attractor::model::Experiment::from_toml(&text, std::path::Path::new("."), "drawn", &[])
        .unwrap()
        .network
        .weights
}

/// One network of every kind (and both forms of `random`), N = 36.
fn every_kind() -> Vec<Weights> {
    let n = 36;
    let mut ones = vec![1.0; 2 * n];
    ones[n + 2] = -1.0;
    let mut mixed = ones.clone();
    mixed[3] = -1.0;
    let random = |materialise| Weights::Random {
        n,
        g: 1.5,
        sparsity: 0.5,
        seed: 3,
        materialise,
    };
    vec![
        Weights::Dense {
            n,
            m: (0..n * n).map(|k| k as f64).collect(),
        },
        Weights::Diagonal {
            values: vec![1.0; n],
        },
        Weights::Ring {
            n,
            lambda0: 0.5,
            lambda1: 1.5,
        },
        Weights::Torus {
            n,
            side: 6,
            lambda0: 0.5,
            lambda1: 1.5,
        },
        Weights::Gaussian(GaussianKernel {
            side: 6,
            terms: vec![Gaussian {
                amplitude: 0.5,
                sigma: 0.7,
            }],
        }),
        Weights::Hebbian { n, p: 2, xi: ones },
        Weights::Hebbian { n, p: 2, xi: mixed },
        Weights::PackedHebbian {
            n,
            bits: Arc::new(PatternBits::random(n, 3, 1)),
        },
        Weights::LowRank {
            n,
            rank: 1,
            u: vec![1.0; n],
            v: vec![1.0; n],
        },
        random(true),
        random(false),
        Weights::Sparse {
            n,
            csr: Arc::new(
                attractor::model::Csr::from_triplets(n, &[0, 5, 35], &[3, 5, 0], &[1.0, -2.0, 0.5])
                    .unwrap(),
            ),
            origin: attractor::model::SparseOrigin::Data,
            factors: std::sync::Arc::new(attractor::model::Factors::none(n)),
        },
        drawn("[network.weights]\nkind = \"ring\"\nlambda1 = 2.0\ndegree = 7", n),
        drawn("[network.weights]\nkind = \"random\"\ng = 1.5\ndegree = 7\ndegree_spread = \"lognormal\"", n),
    ]
}

/// The shape stated without the tables is the shape of the form
/// built with them, for every kind (the all-ones row 0 of the ring,
/// of a first Hebbian pattern of +1, and not of U V^T with U = V = 1
/// stored apart).
#[test]
fn the_shape_is_the_forms_shape() {
    for w in every_kind() {
        let form = w.form();
        assert_eq!(w.shape(), form.shape(), "{}", w.kind());
        assert_eq!(form.n(), w.n(), "{}", w.kind());
        assert_eq!(w.shape().n(), w.n(), "{}", w.kind());
    }
}

/// The metric table is the form's metric rows, built without the form,
/// and its size is what the geometry says.
#[test]
fn metric_table_is_the_forms_metric_rows() {
    for w in every_kind() {
        let g = w.geometry();
        let table = w.metric_table();
        assert_eq!(table.len(), g.metric_rows.len() * w.n(), "{}", w.kind());
        if let Some(form) = w.structured() {
            let rows = g.metric_rows;
            assert_eq!(table, form.v[rows.start * w.n()..rows.end * w.n()].to_vec());
            assert_eq!(form.rotations.is_empty(), g.rotations.is_empty());
        }
    }
    assert_eq!(largest([0.0, -3.0, 2.0]), -3.0);
    assert_eq!(largest([0.0; 3]), 1.0);
}
