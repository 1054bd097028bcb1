//! Fuzzed experiment and sweep files never panic, abort or exhaust memory:
//! every mutation of a valid file (wrong types, huge, negative and
//! non-finite numbers, empty and enormous arrays, nested tables, deleted
//! and unknown keys, truncated text, invalid UTF-8, sizes that would not
//! fit in memory) either builds an experiment that runs, or is an error
//! that names a key or a file. proptest counts a panic as a failure and an
//! abort ends the test binary, so both fail this suite.

use attractor::sim::{cpu::CpuBackend, Backend};
use attractor::sweep::Sweep;
use attractor::Experiment;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example experiments, parsed.
fn bases() -> Vec<(String, toml::Table)> {
    let mut v: Vec<(String, toml::Table)> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "toml").then(|| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p.display().to_string(), text.parse().unwrap())
            })
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(v.len() >= 10, "the examples are there");
    v
}

/// Every leaf of `v` as a path of table keys and array indices.
fn leaves(v: &toml::Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                path.push(Step::Key(k.clone()));
                leaves(x, path, out);
                path.pop();
            }
        }
        toml::Value::Array(a) if a.iter().any(|x| x.is_table()) => {
            for (i, x) in a.iter().enumerate() {
                path.push(Step::Index(i));
                leaves(x, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut toml::Value, path: &[Step]) -> &'a mut toml::Value {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v.as_table_mut().unwrap()[k],
        Step::Index(i) => &mut v.as_array_mut().unwrap()[*i],
    })
}

/// Values that no key expects, or that test its range.
fn bad_value() -> impl Strategy<Value = toml::Value> {
    use toml::Value as V;
    let huge_array = V::Array(vec![V::Float(0.5); 100_000]);
    let nested = "t = { a = { b = { c = [1, [2, [3, {}]]] } } }"
        .parse::<toml::Table>()
        .unwrap()["t"]
        .clone();
    prop_oneof![
        Just(V::String("x".into())),
        Just(V::String(String::new())),
        Just(V::Integer(-1)),
        Just(V::Integer(0)),
        Just(V::Integer(1)),
        Just(V::Integer(i64::MAX)),
        Just(V::Integer(i64::MIN)),
        Just(V::Integer(4_294_967_295)),
        Just(V::Integer(1 << 40)),
        Just(V::Float(f64::NAN)),
        Just(V::Float(f64::INFINITY)),
        Just(V::Float(f64::NEG_INFINITY)),
        Just(V::Float(1e308)),
        Just(V::Float(-1e308)),
        Just(V::Float(1e-308)),
        Just(V::Boolean(true)),
        Just(V::Array(vec![])),
        Just(V::Array(vec![V::Float(1.0), V::Float(2.0)])),
        Just(huge_array),
        Just(nested),
        any::<i64>().prop_map(V::Integer),
        any::<f64>().prop_map(V::Float),
    ]
}

/// Builds `text` as an experiment and, when it is small enough to run in a
/// moment, runs it on the CPU: any outcome but a panic or abort is fine,
/// and an error must say what is wrong.
fn build_and_run(text: &str) {
    match Experiment::from_toml(text, &root().join("examples"), "fuzz", &[]) {
        Ok(e) => {
            let work = e.network.n as u64 * e.simulation.steps;
            if e.network.n <= 4096 && work <= 2_000_000 && e.simulation.records() <= 100_000 {
                if let Err(err) = CpuBackend.run(&e, &mut |_| {}) {
                    assert!(!err.to_string().is_empty());
                }
            }
        }
        Err(err) => {
            let msg = err.to_string();
            assert!(msg.len() > 10, "a clear error: {msg:?}");
        }
    }
}

proptest! {
    // 200 cases a test: about 4 s in all on a 2-core machine.
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// One leaf of an example replaced by a bad value.
    #[test]
    fn a_bad_value_anywhere_is_an_error_or_a_run(
        base in any::<prop::sample::Index>(),
        leaf in any::<prop::sample::Index>(),
        value in bad_value(),
    ) {
        let bases = bases();
        let (_, table) = base.get(&bases);
        let mut v = toml::Value::Table(table.clone());
        let mut paths = Vec::new();
        leaves(&v, &mut Vec::new(), &mut paths);
        let path = leaf.get(&paths).clone();
        *at(&mut v, &path) = value;
        build_and_run(&toml::to_string(&v).unwrap());
    }

    /// A key deleted, or an unknown one added, anywhere.
    #[test]
    fn deleted_and_unknown_keys_are_errors_or_runs(
        base in any::<prop::sample::Index>(),
        leaf in any::<prop::sample::Index>(),
        delete in any::<bool>(),
    ) {
        let bases = bases();
        let (_, table) = base.get(&bases);
        let mut v = toml::Value::Table(table.clone());
        let mut paths = Vec::new();
        leaves(&v, &mut Vec::new(), &mut paths);
        let path = leaf.get(&paths).clone();
        let (last, parent) = path.split_last().unwrap();
        if let (toml::Value::Table(t), Step::Key(k)) = (at(&mut v, parent), last) {
            if delete {
                t.remove(k);
            } else {
                t.insert(format!("{k}_typo"), toml::Value::Integer(1));
            }
        }
        build_and_run(&toml::to_string(&v).unwrap());
    }

    /// The text cut anywhere, or a byte overwritten.
    #[test]
    fn broken_text_is_an_error(
        base in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        truncate in any::<bool>(),
    ) {
        let bases = bases();
        let (path, _) = base.get(&bases);
        let mut bytes = std::fs::read(path).unwrap();
        let k = cut.index(bytes.len());
        if truncate {
            bytes.truncate(k);
        } else {
            bytes[k] = byte;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broken.toml");
        std::fs::write(&file, &bytes).unwrap();
        // Through the loader: invalid UTF-8 is an error naming the file.
        match Experiment::load(&file, &[]) {
            Ok(e) => {
                let work = e.network.n as u64 * e.simulation.steps;
                if e.network.n <= 4096 && work <= 2_000_000 {
                    let _ = CpuBackend.run(&e, &mut |_| {});
                }
            }
            Err(err) => prop_assert!(err.to_string().len() > 10),
        }
    }

    /// A sweep file with one leaf replaced by a bad value (not the
    /// enormous list: a grid of 10^5 points is valid, only slow to build).
    #[test]
    fn a_bad_sweep_value_is_an_error_or_a_sweep(
        which in any::<prop::sample::Index>(),
        leaf in any::<prop::sample::Index>(),
        value in bad_value().prop_filter("a short value", |v| {
            v.as_array().is_none_or(|a| a.len() < 100)
        }),
    ) {
        let sweeps = ["examples/sweeps/ring_retention.toml", "examples/sweeps/hopfield_capacity.toml"];
        let source = root().join(which.get(&sweeps));
        let mut v: toml::Value = toml::Value::Table(
            std::fs::read_to_string(&source).unwrap().parse().unwrap(),
        );
        let mut paths = Vec::new();
        leaves(&v, &mut Vec::new(), &mut paths);
        let path = leaf.get(&paths).clone();
        *at(&mut v, &path) = value;
        // In a copy of the examples' layout, so that its base file is found.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sweeps")).unwrap();
        for (path, _) in bases() {
            let name = Path::new(&path).file_name().unwrap();
            std::fs::copy(&path, dir.path().join(name)).unwrap();
        }
        let file = dir.path().join("sweeps").join("fuzz.toml");
        std::fs::write(&file, toml::to_string(&v).unwrap()).unwrap();
        match Sweep::load(&file) {
            Ok(s) => prop_assert!(!s.points.is_empty()),
            Err(err) => prop_assert!(err.to_string().len() > 10),
        }
    }
}

/// Deeply nested arrays and tables are a parse error, not a stack overflow.
#[test]
fn deep_nesting_is_an_error() {
    for text in [
        format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("a = {}{}", "{ b = ".repeat(50_000), "}".repeat(50_000)),
    ] {
        let e = Experiment::from_toml(&text, Path::new("."), "deep", &[]);
        assert!(e.is_err());
    }
}

/// Networks, patterns and records that would not fit in memory are refused
/// before anything is allocated, naming the key and the bytes needed.
#[test]
fn what_would_not_fit_in_memory_is_refused_up_front() {
    let cases = [
        // 2^32 - 1 neurons: hundreds of GiB of state.
        (
            r#"[network]
            n = 4294967295
            tau = 0.01
            weights = { kind = "ring", lambda1 = 1.0 }
            [simulation]
            duration = 0.001
            dt = 0.001"#,
            "network.n",
        ),
        // 10^6 random patterns of 10^6 neurons: 32 TB.
        (
            r#"[network]
            n = 1000000
            tau = 0.01
            weights = { kind = "hebbian", patterns = 1000000 }
            [simulation]
            duration = 0.001
            dt = 0.001"#,
            "network.weights.patterns",
        ),
        // 4 × 10^9 records of the metrics.
        (
            r#"[network]
            n = 1
            tau = 0.01
            weights = { kind = "diagonal", values = [0.5] }
            [simulation]
            duration = 400000.0
            dt = 0.0001
            [record]
            rates = false"#,
            "simulation.record_every",
        ),
    ];
    for (text, key) in cases {
        let err = Experiment::from_toml(text, Path::new("."), "big", &[])
            .expect_err("refused")
            .to_string();
        assert!(err.contains(&format!("key `{key}`")), "{err}");
        assert!(err.contains("bytes") && err.contains("available"), "{err}");
    }
}
