//! The command line end to end: run an example, read its files back; every
//! kind of bad input gets a message naming the key, the value and what is
//! allowed, a non-zero exit, and no outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_attractor"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.dtype().descr(), "'<f4'", "rates.npy is float32");
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| {
            rec.unwrap()
                .iter()
                .map(|x| x.parse::<f64>().unwrap())
                .collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn ring_memory_example_end_to_end() {
    let out = tmpdir();
    let o = bin()
        .args(["run", "examples/ring_memory.toml", "--out"])
        .arg(out.path())
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("running on the CPU"),
        "auto says which backend: {}",
        text(&o)
    );

    // 1 s at dt = 0.5 ms is 2000 steps; records every 10 steps: 201 rows.
    let (shape, rates) = read_npy(&out.path().join("rates.npy"));
    assert_eq!(shape, vec![201, 512]);
    let (header, rows) = read_csv(&out.path().join("metrics.csv"));
    assert_eq!(header, ["t", "mean_rate", "bump_theta", "bump_amplitude"]);
    assert_eq!(rows.len(), 201);
    for (k, row) in rows.iter().enumerate() {
        // Row k of metrics.csv is at t = k * 10 * dt, and its mean_rate is the
        // mean of rates row k (rates are f32: 1e-6 relative).
        assert!((row[0] - k as f64 * 0.005).abs() < 1e-12);
        let mean = rates[k * 512..(k + 1) * 512]
            .iter()
            .map(|&x| x as f64)
            .sum::<f64>()
            / 512.0;
        assert!(
            (row[1] - mean).abs() < 1e-6 * mean.abs().max(1.0),
            "row {k}: {} vs {mean}",
            row[1]
        );
    }
    // The memory: after the input ends at 0.3 s the bump stays at its angle (1 rad).
    let last = rows.last().unwrap();
    assert!((last[2] - 1.0).abs() < 1e-3, "bump_theta {}", last[2]);
    assert!(last[3] > 0.3, "bump_amplitude {}", last[3]);
    // Clip to [0, 1]: every rate within bounds.
    assert!(rates.iter().all(|&r| (0.0..=1.0).contains(&r)));

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    for key in [
        "name",
        "backend",
        "adapter",
        "n",
        "steps",
        "dt",
        "duration",
        "wall_seconds",
        "steps_per_second",
        "final",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["name"], "ring-memory");
    assert_eq!(summary["backend"], "cpu");
    assert!(summary["adapter"].is_null());
    assert_eq!(summary["n"], 512);
    assert_eq!(summary["steps"], 2000);
    // The same f64 in both files (the JSON parser may round the last bit).
    assert!((summary["final"]["bump_theta"].as_f64().unwrap() - last[2]).abs() < 1e-14);
    for png in ["rates.png", "metrics.png"] {
        let bytes = std::fs::read(out.path().join(png)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{png} is a PNG");
    }
    // No temporary file is left behind.
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "left over: {name}");
    }
}

#[test]
fn overrides_and_record_options() {
    let out = tmpdir();
    let o = bin()
        .args([
            "run",
            "examples/ring_memory.toml",
            "-q",
            "--backend",
            "cpu",
            "--set",
            "network.weights.lambda1=1.5",
            "--set",
            "simulation.duration=0.1",
            "--set",
            "record.stride=8",
            "--out",
        ])
        .arg(out.path())
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let (shape, _) = read_npy(&out.path().join("rates.npy"));
    assert_eq!(shape, vec![21, 64]);
    let toml = std::fs::read_to_string(out.path().join("experiment.toml")).unwrap();
    assert!(
        toml.contains("lambda1 = 1.5"),
        "the experiment as run is saved: {toml}"
    );
    let o = bin()
        .args([
            "run",
            "examples/ring_memory.toml",
            "-q",
            "--set",
            "record.rates=false",
            "--set",
            "simulation.duration=0.01",
            "--out",
        ])
        .arg(out.path().join("norates"))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!out.path().join("norates/rates.npy").exists());
    assert!(out.path().join("norates/metrics.csv").exists());
}

#[test]
fn modes_table_and_json() {
    let dir = tmpdir();
    let f = dir.path().join("pair.toml");
    std::fs::write(
        &f,
        r#"
        [network]
        n = 2
        tau = 0.01
        weights = { kind = "matrix", rows = [[0.0, 0.8], [0.8, 0.0]] }
        [[input]]
        kind = "vector"
        values = [1.0, 0.0]
        [simulation]
        duration = 1.0
        dt = 0.001
        "#,
    )
    .unwrap();
    let o = bin().arg("modes").arg(&f).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("5.000000") && t.contains("0.555556") && t.contains("decaying"),
        "{t}"
    );
    let o = bin().arg("modes").arg(&f).arg("--json").output().unwrap();
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let gain = j["modes"][0]["gain"].as_f64().unwrap();
    assert!((gain - 5.0).abs() < 1e-12);
    let tc = j["modes"][1]["time_constant"].as_f64().unwrap();
    assert!((tc - 0.01 / 1.8).abs() < 1e-15);
    // (I - M)^-1 (1, 0) = (1/0.36, 0.8/0.36).
    let ss = &j["steady_states"][0]["values"];
    assert!((ss[0].as_f64().unwrap() - 1.0 / 0.36).abs() < 1e-12);
    assert!((ss[1].as_f64().unwrap() - 0.8 / 0.36).abs() < 1e-12);
    // An integrator has no finite gain: null in JSON, "inf" in the table.
    let o = bin()
        .arg("modes")
        .arg(&f)
        .args([
            "--json",
            "--set",
            "network.weights.rows=[[1.0, 0.0], [0.0, 0.5]]",
        ])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["modes"][0]["gain"].is_null());
    assert_eq!(j["modes"][0]["regime"], "integrator");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `attractor modes ... | head -1`: the reader leaves after one line;
    // the rest of the table must not panic in print!.
    use std::io::{BufRead, BufReader};
    let mut child = bin()
        .args([
            "modes",
            "examples/chaos.toml",
            "--all",
            "--set",
            "network.n=1500",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("chaos: N = 1500"), "{first}");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

/// `modes` summarises by default: the 10 modes of largest real part, a
/// line counting the rest, the histogram of every real part; at most 40
/// lines for the chaos example (N = 1000) and the Mexican-hat sheet
/// (N = 4096, 500 or more distinct modes). `--all` lists one line per mode
/// of the JSON report (the whole table, as before the summary), and
/// `--top 3` lists three.
#[test]
fn modes_summarises_and_all_lists_every_mode() {
    for example in ["examples/chaos.toml", "examples/mexican_hat.toml"] {
        let modes = |args: &[&str]| {
            let o = bin().arg("modes").arg(example).args(args).output().unwrap();
            assert!(o.status.success(), "{example}: {}", text(&o));
            String::from_utf8(o.stdout).unwrap()
        };
        // A line of the table: the mode's index, then its eigenvalue.
        let rows = |t: &str| {
            t.lines()
                .filter(|l| {
                    let mut w = l.split_whitespace();
                    w.next().is_some_and(|k| k.parse::<usize>().is_ok())
                        && w.next().is_some_and(|e| e.contains('.'))
                })
                .count()
        };
        let j: serde_json::Value = serde_json::from_str(&modes(&["--json"])).unwrap();
        let listed = j["modes"].as_array().unwrap();
        assert!(listed.len() > 400, "{example}: {} modes", listed.len());
        let total: u64 = listed
            .iter()
            .map(|m| m["multiplicity"].as_u64().unwrap())
            .sum();
        let summary = modes(&[]);
        assert!(summary.lines().count() <= 40, "{example}:\n{summary}");
        assert_eq!(rows(&summary), 10, "{summary}");
        assert!(
            summary.contains(&format!("and {} more modes", listed.len() - 10))
                && summary.contains(&format!("real parts of all {total} eigenvalues")),
            "{summary}"
        );
        let all = modes(&["--all"]);
        assert_eq!(rows(&all), listed.len(), "{example}");
        assert!(!all.contains("more modes"), "{example}");
        assert_eq!(rows(&modes(&["--top", "3"])), 3);
    }
}

#[test]
fn modes_draws_the_spectrum_of_a_random_network() {
    let out = tmpdir();
    let png = out.path().join("spectrum.png");
    let o = bin()
        .args([
            "modes",
            "examples/chaos.toml",
            "--set",
            "network.n=200",
            "--plot",
        ])
        .arg(&png)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("circular law: 1.500000"), "{t}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    // Beyond the dense solver: the law, exit 0, no modes.
    let o = bin()
        .args([
            "modes",
            "examples/chaos.toml",
            "--json",
            "--set",
            "network.n=20000",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["spectral_radius"], 1.5);
    assert_eq!(j["modes"].as_array().unwrap().len(), 0);
}

#[test]
fn gpu_backend_runs_and_auto_prefers_the_cpu_to_a_software_adapter() {
    let out = tmpdir();
    let o = bin()
        .args([
            "run",
            "examples/mutual_excitation.toml",
            "--backend",
            "gpu",
            "--out",
        ])
        .arg(out.path().join("g"))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the GPU tests need an adapter: {}",
        text(&o)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("g/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["backend"], "gpu");
    assert_eq!(summary["precision"], "f32");
    assert!(summary["adapter"].as_str().is_some_and(|a| !a.is_empty()));
    // Mean of (I - M)^-1 (1, 0) = (2.78, 2.22) is 2.5; after 0.5 s = 10 time
    // constants of the slow mode the residual is 2.5 e^-10 = 1.1e-4.
    let (_, rows) = read_csv(&out.path().join("g/metrics.csv"));
    assert!(
        (rows.last().unwrap()[1] - 2.5).abs() < 2e-4,
        "{:?}",
        rows.last()
    );
    // With only a software adapter (as here and in CI), auto runs on the CPU backend.
    let o = bin()
        .args(["run", "examples/mutual_excitation.toml", "--out"])
        .arg(out.path().join("a"))
        .current_dir(root())
        .output()
        .unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("a/summary.json")).unwrap())
            .unwrap();
    if text(&o).contains("software") {
        assert_eq!(summary["backend"], "cpu", "{}", text(&o));
    } else {
        assert_eq!(
            summary["backend"],
            "gpu",
            "a hardware adapter is used: {}",
            text(&o)
        );
    }
    let o = bin().arg("devices").output().unwrap();
    assert!(
        o.status.success() && text(&o).contains("* = the adapter"),
        "{}",
        text(&o)
    );
}

#[test]
fn without_an_adapter_gpu_is_an_error_and_auto_runs_on_the_cpu() {
    let out = tmpdir();
    // No Vulkan driver manifests: wgpu finds no adapter.
    let hide = |c: &mut Command| {
        c.env("VK_ICD_FILENAMES", "/nonexistent.json")
            .env("VK_DRIVER_FILES", "/nonexistent.json");
    };
    let mut c = bin();
    c.args([
        "run",
        "examples/ring_memory.toml",
        "--backend",
        "gpu",
        "--out",
    ])
    .arg(out.path().join("x"))
    .current_dir(root());
    hide(&mut c);
    let o = c.output().unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no GPU adapter found") && text(&o).contains("mesa-vulkan-drivers"),
        "{}",
        text(&o)
    );
    assert!(!out.path().join("x").exists());
    let mut c = bin();
    c.args([
        "run",
        "examples/ring_memory.toml",
        "--set",
        "simulation.duration=0.01",
        "--out",
    ])
    .arg(out.path().join("y"))
    .current_dir(root());
    hide(&mut c);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("running on the CPU"), "{}", text(&o));
}

#[test]
fn divergence_stops_with_step_and_time_and_keeps_records() {
    let dir = tmpdir();
    let f = dir.path().join("grow.toml");
    // lambda = 3 with Euler at dt/tau = 0.1: v_k = (1 + 0.1 (3 - 1))^k = 1.2^k.
    // The step to k computes M v = 3 v_{k-1}, which exceeds f64's 1.8e308
    // first when 1.2^{k-1} > 6.0e307, i.e. k - 1 = 3888 (708.68 / ln 1.2 = 3887.1).
    std::fs::write(
        &f,
        r#"
        [network]
        n = 1
        tau = 0.01
        weights = { kind = "diagonal", values = [3.0] }
        [initial]
        kind = "uniform"
        value = 1.0
        [simulation]
        duration = 5.0
        dt = 0.001
        record_every = 100
        "#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = bin()
        .arg("run")
        .arg(&f)
        .arg("--out")
        .arg(&out)
        .arg("-q")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("infinite at step 3889 (t = 3.889 s)"), "{t}");
    let (_, rows) = read_csv(&out.join("metrics.csv"));
    // Records every 0.1 s up to the last one before the overflow (t = 3.8 s): 39 rows.
    assert_eq!(rows.len(), 39);
    assert!(rows.iter().all(|r| r[1].is_finite()));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["diverged"]["step"].as_u64().unwrap(), 3889);
}

const BASE: &str = r#"
name = "bad"
[network]
n = 3
tau = 0.01
weights = { kind = "hebbian", patterns = 2 }
[[input]]
kind = "pattern"
index = 0
[simulation]
duration = 0.01
dt = 0.001
"#;

/// Runs BASE with `overrides` (or `file` instead of BASE) and expects an error containing every needle.
fn expect_error(file: Option<&str>, overrides: &[&str], needles: &[&str]) {
    let dir = tmpdir();
    let f = dir.path().join("exp.toml");
    std::fs::write(&f, file.unwrap_or(BASE)).unwrap();
    let out = dir.path().join("out");
    let mut cmd = bin();
    cmd.arg("run")
        .arg(&f)
        .arg("--out")
        .arg(&out)
        .current_dir(dir.path());
    for o in overrides {
        cmd.arg("--set").arg(o);
    }
    let o = cmd.output().unwrap();
    let t = text(&o);
    assert!(
        !o.status.success(),
        "expected failure for {overrides:?}: {t}"
    );
    for n in needles {
        assert!(t.contains(n), "message for {overrides:?} lacks `{n}`:\n{t}");
    }
    assert!(
        !out.exists(),
        "nothing may be written for invalid input ({overrides:?})"
    );
    assert_eq!(t.trim().lines().count(), 1, "one paragraph: {t}");
}

#[test]
fn the_base_file_is_valid() {
    let dir = tmpdir();
    let f = dir.path().join("exp.toml");
    std::fs::write(&f, BASE).unwrap();
    let o = bin()
        .arg("run")
        .arg(&f)
        .arg("-q")
        .arg("--out")
        .arg(dir.path().join("o"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn invalid_experiments_name_key_value_and_what_is_allowed() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["network.n=0"], &["network.n", "0", "at least 1"]),
        (
            &["network.n=\"abc\""],
            &["network.n", "invalid type", "abc", "usize"],
        ),
        (&["network.n=-4"], &["network.n", "-4"]),
        (&["network.tau=0"], &["network.tau", "> 0"]),
        (
            &["network.nn=3"],
            &["network", "unknown field `nn`", "expected one of"],
        ),
        (&["simulation.dt=0"], &["simulation.dt", "0", "> 0"]),
        (&["simulation.dt=-0.1"], &["simulation.dt", "-0.1", "> 0"]),
        (
            &["simulation.duration=0.0001"],
            &["simulation.duration", "0.0001", "half a step"],
        ),
        (&["simulation.noise=-1"], &["simulation.noise", "-1", "≥ 0"]),
        (
            &["simulation.record_every=0"],
            &["simulation.record_every", "0", "at least 1"],
        ),
        (
            &["simulation.method=\"heun\""],
            &["simulation.method", "heun", "euler", "rk4", "exponential"],
        ),
        (
            &["simulation.backend=\"tpu\""],
            &["simulation.backend", "tpu", "auto", "cpu", "gpu"],
        ),
        (
            &["simulation.precision=\"f16\""],
            &["simulation.precision", "f16", "f32", "f64"],
        ),
        (&["record.stride=0"], &["record.stride", "0", "at least 1"]),
        (
            &["network.dynamics=\"voltage\""],
            &["network.dynamics", "voltage", "rate", "current"],
        ),
        (
            &["network.activation={kind=\"softplus\"}"],
            &["network.activation", "softplus", "relu", "tanh"],
        ),
        (
            &["network.activation={kind=\"tanh\",beta=-1}"],
            &["network.activation.beta", "-1", "> 0"],
        ),
        (
            &["network.activation={kind=\"clip\",min=1,max=0}"],
            &["network.activation.min", "1", "max"],
        ),
        (
            &["network.activation={kind=\"relu\",gain=2}"],
            &["network.activation", "unknown field `gain`"],
        ),
        (
            &["network.weights={kind=\"matrix\",rows=[[1,2],[3,4]]}"],
            &["network.weights.rows", "2 rows", "N×N", "N = 3"],
        ),
        (
            &["network.weights={kind=\"matrix\",rows=[[1,2,3],[3,4],[1,1,1]]}"],
            &["network.weights.rows", "[3, 2, 3]", "N×N"],
        ),
        (
            &["network.weights={kind=\"diagonal\",values=[1,2]}"],
            &["network.weights.values", "2 numbers", "N = 3"],
        ),
        (
            &["network.n=2", "network.weights={kind=\"ring\",lambda1=1}"],
            &["network.n", "2", "at least 3"],
        ),
        (
            &["network.weights={kind=\"ring\",lambda1=1}"],
            &["input[0].index", "only for", "hebbian", "ring"],
        ),
        (
            &["network.weights={kind=\"ring\"}"],
            &["network.weights", "missing field `lambda1`"],
        ),
        (
            &["network.weights={kind=\"hebbian\"}"],
            &["network.weights", "exactly one of"],
        ),
        (
            &["network.weights={kind=\"hebbian\",patterns=0}"],
            &["network.weights.patterns", "0", "at least 1"],
        ),
        (
            &["network.weights={kind=\"lattice\"}"],
            &["network.weights", "lattice", "ring", "hebbian", "low_rank"],
        ),
        (
            &["network.weights={kind=\"file\",path=\"missing.npy\"}"],
            &["network.weights.path", "missing.npy", "cannot be read"],
        ),
        (
            &["input.0.index=2"],
            &["input[0].index", "2", "below P = 2"],
        ),
        (
            &["input.0.start=0.5", "input.0.end=0.2"],
            &["input[0].end", "0.2", "later than"],
        ),
        (
            &["input.0={kind=\"bump\",epsilon=0.1}"],
            &["input[0]", "missing field `c`"],
        ),
        (
            &["input.0.kind=\"bump\""],
            &[
                "input[0]",
                "unknown field `index`",
                "expected one of `c`, `epsilon`",
            ],
        ),
        (
            &["input.0.kind=\"uniform\"", "input.0.value=1"],
            &["input[0]", "unknown field `index`"],
        ),
        (
            &["input.0={kind=\"vector\",values=[1,2]}"],
            &["input[0].values", "N = 3"],
        ),
        (
            &["initial={kind=\"pattern\",index=0,flip=1.5}"],
            &["initial.flip", "1.5", "between 0 and 1"],
        ),
        (
            &["initial={kind=\"pattern\",index=7}"],
            &["initial.index", "7", "below P = 2"],
        ),
        (
            &["initial={kind=\"random\",low=2,high=1}"],
            &["initial.low", "2", "initial.high"],
        ),
        (
            &["initial={kind=\"gaussian\"}"],
            &["initial", "gaussian", "zeros", "random"],
        ),
        (&["simulation"], &["simulation", "KEY=VALUE"]),
        (&["network.n.x=1"], &["network.n", "not a table"]),
        (&["input.3.value=1"], &["input", "index 3 is out of range"]),
    ];
    for (overrides, needles) in cases {
        expect_error(None, overrides, needles);
    }
}

#[test]
fn invalid_files_and_arrays() {
    expect_error(Some("[network\nn = 3"), &[], &["not valid TOML", "line"]);
    expect_error(
        Some("[network]\nn = 3\nweights = { kind = \"ring\", lambda1 = 1 }\n[simulation]\ndt = 0.001\nduration = 1"),
        &[],
        &["network", "missing field `tau`"],
    );
    expect_error(
        Some("[network]\nn = 3\ntau = 0.01\nweights = { kind = \"ring\", lambda1 = 1 }\n"),
        &[],
        &["missing field `simulation`"],
    );
    // A .npy of the wrong shape and one of the wrong dtype.
    let dir = tmpdir();
    let write = |name: &str, shape: &[u64], data: &[f32]| {
        attractor::output::write_npy_f32(&dir.path().join(name), shape, data).unwrap();
    };
    write("w22.npy", &[2, 2], &[0.0; 4]);
    let ints = dir.path().join("ints.npy");
    npyz::to_file_1d(&ints, vec![1i64, 2, 3]).unwrap();
    let base = |w: &str| {
        format!("[network]\nn = 3\ntau = 0.01\nweights = {w}\n[simulation]\nduration = 0.01\ndt = 0.001\n")
    };
    let w22 = dir.path().join("w22.npy");
    expect_error(
        Some(&base(&format!(
            "{{ kind = \"file\", path = \"{}\" }}",
            w22.display()
        ))),
        &[],
        &["network.weights.path", "shape [2, 2]", "N×N", "N = 3"],
    );
    expect_error(
        Some(
            &(base("{ kind = \"ring\", lambda1 = 1 }")
                + &format!(
                    "[initial]\nkind = \"file\"\npath = \"{}\"\n",
                    ints.display()
                )),
        ),
        &[],
        &["initial.path", "dtype", "float32 and float64"],
    );
}

#[test]
fn every_example_runs() {
    let out = tmpdir();
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let o = bin()
                .arg("run")
                .arg(&path)
                .arg("-q")
                .arg("--out")
                .arg(out.path().join(path.file_stem().unwrap()))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}: {}", path.display(), text(&o));
            let o = bin().arg("modes").arg(&path).output().unwrap();
            assert!(o.status.success(), "modes {}: {}", path.display(), text(&o));
        }
    }
}

#[test]
fn bench_reports_json_lines() {
    let o = bin()
        .args([
            "bench",
            "--backend",
            "cpu",
            "--operator",
            "ring",
            "--n",
            "256",
            "--reps",
            "1",
            "--seconds",
            "0.001",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let line = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let j: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(j["backend"], "cpu");
    assert_eq!(j["operator"], "ring");
    assert_eq!(j["n"], 256);
    assert_eq!(j["batch"], 1);
    for k in [
        "seconds_per_step",
        "gbytes_per_second",
        "fraction_of_bandwidth",
    ] {
        assert!(j[k].as_f64().is_some_and(|x| x > 0.0), "{k}: {}", j[k]);
    }
    // GB/s is the bytes of the ring's tables read per step over the time per step.
    let bytes = j["bytes_per_step"].as_f64().unwrap();
    assert_eq!(bytes, 4.0 * 256.0 * 4.0);
    let gbs = bytes / j["seconds_per_step"].as_f64().unwrap() / 1e9;
    assert!((gbs - j["gbytes_per_second"].as_f64().unwrap()).abs() < 1e-9 * gbs);
}

#[test]
fn bench_refuses_bad_counts_before_printing() {
    for flag in ["--patterns", "--degree", "--batch", "--reps"] {
        let o = bin()
            .args(["bench", "--backend", "cpu", flag, "0"])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{flag} 0 was accepted");
        assert!(o.stdout.is_empty(), "{flag}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("key `{flag}` = 0: must be at least 1")),
            "{err}"
        );
    }
}

#[test]
fn bench_takes_the_activation_and_dynamics_users_run() {
    // The continuous Hopfield network as users run it: current dynamics,
    // tanh(4 I); the JSON says so, and the table's case names both.
    let j = &bench_lines(&[
        "--backend",
        "cpu",
        "--operator",
        "hebbian",
        "--n",
        "300",
        "--patterns",
        "5",
        "--activation",
        r#"{ kind = "tanh", beta = 4.0 }"#,
        "--dynamics",
        "current",
    ])[0];
    assert_eq!(j["activation"]["kind"], "tanh");
    assert_eq!(j["activation"]["beta"].as_f64(), Some(4.0));
    assert_eq!(j["dynamics"], "current");
    let o = bin()
        .args([
            "bench",
            "--backend",
            "cpu",
            "--operator",
            "hebbian",
            "--n",
            "300",
            "--reps",
            "1",
            "--seconds",
            "0.001",
            "--activation",
            "sigmoid",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("hebbian P=16 sigmoid(1, 0)"),
        "{}",
        text(&o)
    );
    // A kind that does not exist, and a bad parameter: errors naming the
    // option, before any case runs.
    for (value, says) in [
        (
            "tanhh",
            "key `--activation` = tanhh: a kind (linear, relu, tanh",
        ),
        (
            r#"{ kind = "tanh", beta = -1.0 }"#,
            "key `--activation.beta` = -1",
        ),
    ] {
        let o = bin()
            .args(["bench", "--backend", "cpu", "--activation", value])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{value} was accepted");
        assert!(
            o.stdout.is_empty() || !text(&o).contains("cpu  "),
            "{}",
            text(&o)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn bench_labels_the_cases_that_run_from_the_cache() {
    // A ring of 256 neurons touches 4 KiB a step, a dense N = 2048 matrix
    // 16 MiB: each case's working set is reported, compared with the
    // last-level cache where the OS reports it, and the bandwidth it is a
    // fraction of was measured over that many bytes (or 1 GiB), naming the
    // fastest read kernel.
    for (op, n, ws) in [("ring", "256", 4.0 * 256.0 * 4.0), ("dense", "2048", 0.0)] {
        let j = &bench_lines(&["--backend", "cpu", "--operator", op, "--n", n])[0];
        let set = j["working_set_bytes"].as_f64().unwrap();
        if ws > 0.0 {
            assert_eq!(set, ws, "{op}");
        } else {
            assert!(set >= 2048.0 * 2048.0 * 4.0, "{op}: {set}");
        }
        match j["last_level_cache_bytes"].as_f64() {
            Some(c) => assert_eq!(j["cache_resident"].as_bool(), Some(set <= c), "{op}"),
            None => assert_eq!(j["cache_resident"].as_bool(), Some(false), "{op}"),
        }
        assert!(j["fraction_of_bandwidth"].as_f64().is_some_and(|f| f > 0.0));
        let probe = j["bandwidth_probe"].as_str().unwrap();
        assert!(
            ["sums", "four streams", "avx-512 sums", "dense product"]
                .iter()
                .any(|k| probe.ends_with(&format!("fastest: {k}"))),
            "{probe}"
        );
    }
}

#[test]
fn bench_refuses_a_dense_case_larger_than_memory() {
    // N = 2^20: 8 TiB of f64 entries. An error naming --n, before drawing.
    let o = bin()
        .args([
            "bench",
            "--backend",
            "cpu",
            "--operator",
            "dense",
            "--n",
            "1048576",
        ])
        .env("ATTRACTOR_MEMORY_BYTES", "1000000000")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("key `--n` = 1048576"), "{err}");
    assert!(err.contains("the dense case's matrix"), "{err}");
}

#[test]
fn bench_hebbian_cases_take_their_patterns() {
    // P = 7 random patterns at N = 64: the fused step reads the state,
    // writes it, and reads the 7 pattern rows and the diagonal once (the
    // input is uniform); the product is 4 N P flops.
    let j = &bench_lines(&[
        "--backend",
        "cpu",
        "--operator",
        "hebbian",
        "--n",
        "64",
        "--patterns",
        "7",
    ])[0];
    assert_eq!(j["patterns"].as_u64(), Some(7));
    assert_eq!(
        j["bytes_per_step"].as_f64().unwrap(),
        4.0 * 64.0 * (2.0 + 8.0)
    );
    assert_eq!(
        j["weight_bytes_per_step"].as_f64().unwrap(),
        4.0 * 64.0 * 8.0
    );
    assert_eq!(j["flops_per_step"].as_f64().unwrap(), 4.0 * 7.0 * 64.0);
}

#[test]
fn bench_torus_cases_count_four_rows() {
    // An 8 × 8 torus: the fused step reads and writes the state and reads
    // the four non-uniform rows (cos and sin of each axis) once; the
    // product is 4 N R flops with R = 5.
    let j = &bench_lines(&["--backend", "cpu", "--operator", "torus", "--n", "64"])[0];
    assert_eq!(j["operator"], "torus");
    assert_eq!(j["bytes_per_step"].as_f64().unwrap(), 4.0 * 64.0 * 6.0);
    assert_eq!(
        j["weight_bytes_per_step"].as_f64().unwrap(),
        4.0 * 64.0 * 4.0
    );
    assert_eq!(j["flops_per_step"].as_f64().unwrap(), 4.0 * 5.0 * 64.0);
    // N must be a square: the error names the option and the value, before
    // anything is measured.
    let o = bin()
        .args([
            "bench",
            "--backend",
            "cpu",
            "--operator",
            "torus",
            "--n",
            "60",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("key `--n` = 60") && err.contains("side²"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "{}", text(&o));
}

#[test]
fn bench_sparse_cases_count_their_entries() {
    // N = 2000 neurons, log-normal in-degrees of mean 10: a step reads
    // each value and column once (4 bytes each in f32), the N + 1 row
    // places (8 bytes each, counted as 8 N), and about 6 state vectors;
    // the product is 2 flops an entry.
    let j = &bench_lines(&[
        "--backend",
        "cpu",
        "--operator",
        "sparse",
        "--n",
        "2000",
        "--degree",
        "10",
        "--degree-spread",
        "lognormal",
    ])[0];
    let degrees =
        attractor::bench::sparse::degrees(2000, 10, attractor::bench::DegreeSpread::Lognormal);
    let nnz = degrees.iter().sum::<usize>() as f64;
    assert!(degrees.iter().max().unwrap() > &50, "a heavy tail");
    assert_eq!(j["operator"], "sparse");
    assert_eq!(j["degree"].as_u64(), Some(10));
    assert_eq!(j["degree_spread"], "lognormal");
    let weights = 8.0 * nnz + 8.0 * 2000.0;
    assert_eq!(j["weight_bytes_per_step"].as_f64().unwrap(), weights);
    assert_eq!(
        j["bytes_per_step"].as_f64().unwrap(),
        weights + 6.0 * 4.0 * 2000.0
    );
    assert_eq!(j["flops_per_step"].as_f64().unwrap(), 2.0 * nnz);
}

fn bench_lines(args: &[&str]) -> Vec<serde_json::Value> {
    let o = bin()
        .arg("bench")
        .args(args)
        .args(["--reps", "1", "--seconds", "0.001", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn bench_counts_the_weights_each_batch_reads() {
    // The CPU steps each trial on its own: a batch of 3 reads M 3 times and
    // does 3 products of 2N² flops.
    let j = &bench_lines(&[
        "--backend",
        "cpu",
        "--operator",
        "dense",
        "--n",
        "64",
        "--batch",
        "3",
    ])[0];
    assert_eq!(
        j["bytes_per_step"].as_f64().unwrap(),
        3.0 * 64.0 * 64.0 * 4.0
    );
    assert_eq!(
        j["flops_per_step"].as_f64().unwrap(),
        3.0 * 2.0 * 64.0 * 64.0
    );
    let gflops =
        j["flops_per_step"].as_f64().unwrap() / j["seconds_per_step"].as_f64().unwrap() / 1e9;
    assert!((gflops - j["gflops_per_second"].as_f64().unwrap()).abs() < 1e-9 * gflops);
    assert!(j["workgroup"].is_null());
}

#[test]
fn bench_tune_times_every_dense_kernel_shape_on_the_gpu() {
    // The default kernel first (for 5 trials the tiled dense_batch, which
    // has no row shape, its columns whole on a software adapter), then the
    // row kernel at every shape the adapter allows, then the batch kernel
    // with its columns in 2, 4 and 8 spans; each line names its shape. The
    // bytes are what the encoder counted: M (16 KiB, within the cache the
    // model assumes) once per step, one dispatch per step (two with spans:
    // the finish), at least the equations' minimum.
    let lines = bench_lines(&[
        "--backend",
        "gpu",
        "--operator",
        "dense",
        "--n",
        "64",
        "--batch",
        "5",
        "--tune",
    ]);
    assert!(lines[0]["workgroup"].is_null(), "{}", lines[0]);
    assert_eq!(lines[0]["batch_split"], 1, "{}", lines[0]);
    let spans: Vec<u64> = lines
        .iter()
        .filter(|j| j["workgroup"].is_null())
        .map(|j| {
            let k = j["batch_split"].as_u64().unwrap();
            let dispatches = if k == 1 { 1.0 } else { 2.0 };
            assert_eq!(
                j["dispatches_per_step"].as_f64().unwrap(),
                dispatches,
                "{j}"
            );
            k
        })
        .collect();
    assert_eq!(spans, [1, 2, 4, 8]);
    let shapes: std::collections::BTreeSet<(u64, u64, u64)> = lines
        .iter()
        .map(|j| {
            assert_eq!(j["backend"], "gpu");
            assert_eq!(
                j["weight_bytes_per_step"].as_f64().unwrap(),
                64.0 * 64.0 * 4.0
            );
            let bytes = j["bytes_per_step"].as_f64().unwrap();
            let min = j["minimum_bytes_per_step"].as_f64().unwrap();
            assert!(
                bytes >= min && min > 64.0 * 64.0 * 4.0,
                "{bytes} against {min}"
            );
            (
                j["workgroup"].as_u64().unwrap_or(0),
                j["rows_per_workgroup"].as_u64().unwrap_or(0),
                j["rows_per_thread"].as_u64().unwrap_or(0),
            )
        })
        .filter(|&s| s != (0, 0, 0))
        .collect();
    assert_eq!(shapes.len(), lines.len() - 4, "each shape is timed once");
    assert!(shapes.len() >= 10, "{shapes:?}");
    for &(w, k, s) in &shapes {
        assert!(
            w.is_power_of_two() && k.is_power_of_two() && w / k >= 16,
            "{w}x{k}"
        );
        // One row per thread (the operand read per row), or 8 (read once
        // for 8 rows).
        assert!(s == 1 || s == 8, "{w}x{k}s{s}");
    }
    assert!(shapes.iter().any(|s| s.2 == 8), "{shapes:?}");
}

#[test]
fn bench_tune_times_convolution_packed_and_sparse_kernels_on_the_gpu() {
    // The software adapter's default first (the passes read memory), then
    // the passes staged in workgroup memory (a hardware GPU's default):
    // the same dispatches, the staged row pass requesting a row per
    // workgroup instead of per neuron.
    let lines = bench_lines(&[
        "--backend",
        "gpu",
        "--operator",
        "gaussian",
        "--n",
        "256",
        "--tune",
    ]);
    let staged: Vec<bool> = lines
        .iter()
        .map(|j| {
            assert_eq!(j["dispatches_per_step"].as_f64().unwrap(), 2.0, "{j}");
            j["staged"].as_bool().unwrap()
        })
        .collect();
    assert_eq!(staged, [false, true]);
    // Packed patterns: the projections by pattern (the default), then by
    // blocks of 4 patterns; the same three dispatches a step.
    let lines = bench_lines(&[
        "--backend",
        "gpu",
        "--operator",
        "packed",
        "--n",
        "512",
        "--patterns",
        "40",
        "--tune",
    ]);
    let by_pattern: Vec<bool> = lines
        .iter()
        .map(|j| {
            assert_eq!(j["dispatches_per_step"].as_f64().unwrap(), 3.0, "{j}");
            j["by_pattern"].as_bool().unwrap()
        })
        .collect();
    assert_eq!(by_pattern, [true, false]);
    // Sparse rows: the software adapter's one lane a row first, then 2 to
    // 32 lanes, all one dispatch a step over the same bytes.
    let lines = bench_lines(&[
        "--backend",
        "gpu",
        "--operator",
        "sparse",
        "--n",
        "2000",
        "--degree",
        "40",
        "--tune",
    ]);
    let lanes: Vec<u64> = lines
        .iter()
        .map(|j| {
            assert_eq!(j["dispatches_per_step"].as_f64().unwrap(), 1.0, "{j}");
            assert_eq!(j["bytes_per_step"], lines[0]["bytes_per_step"], "{j}");
            j["sparse_lanes"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(lanes, [1, 2, 4, 8, 16, 32]);
}

/// On a machine without a display a successful run prints no line starting
/// with "error": not when the backend is decided without adapters (cpu),
/// not when `auto` and `devices` enumerate them (Mesa's Wayland code would
/// print `error: XDG_RUNTIME_DIR is invalid or not set` there).
#[test]
fn headless_runs_print_no_error_lines() {
    let out = tmpdir();
    let o_dir = out.path().display().to_string();
    for args in [
        vec![
            "run",
            "examples/autapse.toml",
            "--backend",
            "cpu",
            "--out",
            &o_dir,
        ],
        vec!["run", "examples/autapse.toml", "--out", &o_dir],
        vec!["devices"],
        vec!["modes", "examples/autapse.toml"],
    ] {
        let o = bin()
            .current_dir(root())
            .args(&args)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DISPLAY")
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            !stderr.lines().any(|l| l.trim_start().starts_with("error")),
            "{args:?} printed an error line:\n{stderr}"
        );
    }
}

/// A tmpfs of `kib` KiB mounted on a fresh folder, unmounted on drop. The
/// test script runs as root (as CI does), which mounting needs.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn new(kib: u32) -> Self {
        let dir = tmpdir();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            o.status.success(),
            "mounting a small tmpfs needs root (scripts/test.sh runs as root): {}",
            text(&o)
        );
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// An output folder that cannot take the outputs is a clear error: a file
/// in the way fails before the run and is left alone; a full disk fails
/// naming the file and leaves only complete files under their final names.
#[test]
fn output_folder_faults_are_clear_errors() {
    let d = tmpdir();
    let file = d.path().join("results");
    std::fs::write(&file, "keep me").unwrap();
    let o = bin()
        .current_dir(root())
        .args(["run", "examples/autapse.toml", "--backend", "cpu", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("key `--out`") && text(&o).contains("is a file"),
        "{}",
        text(&o)
    );
    assert!(
        !text(&o).contains("steps of N"),
        "refused before the run: {}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    // 64 KiB: experiment.toml and metrics.csv fit, rates.npy (400 KiB) does not.
    let disk = SmallDisk::new(64);
    let out = disk.0.path();
    let o = bin()
        .current_dir(root())
        .args([
            "run",
            "examples/ring_memory.toml",
            "--backend",
            "cpu",
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("No space left on device"), "{}", text(&o));
    assert!(
        text(&o).contains("rates.npy"),
        "names the file: {}",
        text(&o)
    );
    let names: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".attractor")),
        "no temporary file is left: {names:?}"
    );
    assert!(!names.contains(&"rates.npy".to_string()), "{names:?}");
    assert!(!names.contains(&"summary.json".to_string()), "{names:?}");
    let (header, rows) = read_csv(&out.join("metrics.csv"));
    assert_eq!(header[0], "t");
    assert_eq!(rows.len(), 201, "metrics.csv is complete");

    // A read-only file system (root writes through permissions, not through
    // a read-only mount): refused before the run, naming --out.
    let ro = SmallDisk::new(64);
    let remount = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(ro.0.path())
        .status()
        .unwrap();
    assert!(remount.success(), "remounting read-only");
    let o = bin()
        .current_dir(root())
        .args(["run", "examples/autapse.toml", "--backend", "cpu", "--out"])
        .arg(ro.0.path().join("out"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("key `--out`") && text(&o).contains("Read-only file system"),
        "{}",
        text(&o)
    );
    assert!(
        !text(&o).contains("steps of N"),
        "refused before the run: {}",
        text(&o)
    );
}

/// The guide's Slurm job-array script (docs/guide/sweeps.md) is
/// scripts/slurm_sweep.sh, the file scripts/slurm_test.sh submits to a
/// real cluster.
#[test]
fn the_readme_slurm_script_is_the_tested_one() {
    let readme = std::fs::read_to_string(root().join("docs/guide/sweeps.md")).unwrap();
    let script = std::fs::read_to_string(root().join("scripts/slurm_sweep.sh")).unwrap();
    assert!(readme.contains(&format!("```bash\n{script}```")));
    let test = std::fs::read_to_string(root().join("scripts/slurm_test.sh")).unwrap();
    assert!(test.contains("scripts/slurm_sweep.sh") && test.contains("scontrol requeue"));
}

/// `bench --plan --limits h200` plans the GPU's goal cases without a GPU
/// and without allocating (10^8 neurons, 12.5 GB of packed bits): each
/// fits an H200's limits through wgpu (bindings of 2 GiB − 1, 65,535
/// workgroups a dimension), with every grid within them and the bits over
/// at most 8 bindings. A case beyond them exits non-zero naming the limit,
/// and an unknown name of limits is refused naming `--limits`.
#[test]
fn bench_plans_the_goal_cases_within_an_h200s_limits() {
    let plan = |args: &[&str]| {
        bin()
            .args(["bench", "--plan", "--limits", "h200", "--json"])
            .args(args)
            .output()
            .unwrap()
    };
    let goals: [&[&str]; 6] = [
        &["--operator", "dense", "--n", "16384"],
        &["--operator", "dense", "--n", "16384", "--batch", "64"],
        &["--operator", "dense", "--n", "4096", "--batch", "64"],
        &["--operator", "ring", "--n", "100000000"],
        &[
            "--operator",
            "packed",
            "--n",
            "1000000",
            "--patterns",
            "100000",
        ],
        &["--operator", "gaussian", "--n", "1048576"],
    ];
    for args in goals {
        let o = plan(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        let j: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap())
                .unwrap();
        assert_eq!(j["fits"], true, "{j}");
        for d in j["dispatches"].as_array().unwrap() {
            for w in d[1].as_array().unwrap() {
                assert!(w.as_u64().unwrap() <= 65_535, "{args:?}: {d}");
            }
        }
        for b in j["buffers"].as_array().unwrap() {
            let name = b[0].as_str().unwrap();
            if !["params", "readback"].contains(&name) {
                assert!(b[1].as_u64().unwrap() < 1 << 31, "{args:?}: {b}");
            }
        }
        // The dense kernels keep the H200's 132 multiprocessors busy: at
        // least 256 workgroups (B = 64 splits the columns of 32 row tiles
        // of 128 into 8 spans at N = 4096, 128 row tiles into 2 at 16384).
        if args.contains(&"dense") {
            let d = &j["dispatches"][0];
            let groups: u64 = d[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_u64().unwrap())
                .product();
            assert!(groups >= 256, "{args:?}: {d}");
        }
        if args.contains(&"packed") {
            let bits: Vec<u64> = j["buffers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| b[0] == "pattern bits")
                .map(|b| b[1].as_u64().unwrap())
                .collect();
            // 31,250 blocks of 32 units, 400,000 bytes each.
            assert_eq!(bits.iter().sum::<u64>(), 31_250 * 400_000);
            assert!((6..=8).contains(&bits.len()), "{bits:?}");
        }
    }
    // A ring of 10^9 neurons: 3 rows of 4 GB in one binding.
    let o = plan(&["--operator", "ring", "--n", "1000000000"]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("max_storage_buffer_binding_size") && t.contains("`V`"),
        "{t}"
    );
    // 2 × 10^5 packed patterns of 10^6 units: 25 GB over more than 8
    // bindings.
    let o = plan(&[
        "--operator",
        "packed",
        "--n",
        "1000000",
        "--patterns",
        "200000",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("bindings"), "{}", text(&o));
    let o = bin()
        .args(["bench", "--plan", "--limits", "a100"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("key `--limits` = a100") && text(&o).contains("h200"),
        "{}",
        text(&o)
    );
}

/// The GPU machine's kit fails loudly without a GPU adapter: exit 1, a
/// line naming what is missing, and that line in its results, not CPU
/// figures (the loader is pointed at a driver that does not exist).
#[test]
fn the_device_kit_fails_without_an_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .arg(root().join("scripts/device_bench.sh"))
        .arg("--dry-run")
        .arg(dir.path())
        .env("ATTRACTOR_BIN", env!("CARGO_BIN_EXE_attractor"))
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no GPU adapter found"), "{}", text(&o));
    let lines = std::fs::read_to_string(dir.path().join("device.jsonl")).unwrap();
    assert_eq!(lines.trim(), r#"{"error": "no GPU adapter found"}"#);
}

/// `bench --count` runs the counting build of the GPU cases' kernels: the
/// bytes counted per step are the schedule's requests (exactly: integer
/// byte counts over whole steps), the weights' part of them at least M or
/// the table once, and `--plan` states the same requests without running.
#[test]
fn bench_counts_the_bytes_the_kernels_move() {
    let o = bin()
        .args([
            "bench",
            "--backend",
            "gpu",
            "--operator",
            "dense",
            "--operator",
            "ring",
            "--n",
            "100",
            "--count",
            "--json",
            "--reps",
            "1",
            "--seconds",
            "0.01",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", text(&o));
    for j in &lines {
        let measured = j["measured_bytes_per_step"].as_f64().unwrap();
        assert_eq!(
            measured,
            j["requested_bytes_per_step"].as_f64().unwrap(),
            "{j}"
        );
        let weights = j["measured_weight_bytes_per_step"].as_f64().unwrap();
        let plan = bin()
            .args(["bench", "--plan", "--json", "--operator"])
            .arg(j["operator"].as_str().unwrap())
            .args(["--n", "100"])
            .output()
            .unwrap();
        let p: serde_json::Value = serde_json::from_str(
            String::from_utf8_lossy(&plan.stdout)
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            p["requested_bytes_per_step"].as_f64().unwrap(),
            measured,
            "{p}"
        );
        assert_eq!(
            p["requested_weight_bytes_per_step"].as_f64().unwrap(),
            weights,
            "{p}"
        );
        match j["operator"].as_str().unwrap() {
            // M: 100 rows of 100 floats, once (one trial tile).
            "dense" => assert_eq!(weights, 100.0 * 100.0 * 4.0),
            // The ring's cos and sin rows, once per neuron.
            _ => assert_eq!(weights, 2.0 * 100.0 * 4.0),
        }
    }
}
