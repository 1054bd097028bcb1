//! Choosing the GPU adapter: `attractor devices --json`, `--device` and
//! `simulation.device` (errors list the adapters), the adapter a run
//! records, and a sweep spread over several devices (here the one adapter
//! opened twice) giving the one-device sweep's rows, with --shard and
//! --resume. The mapping of the schedulers' variables is unit-tested over
//! made-up machines in `sim::gpu::devices`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_attractor"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `attractor devices --json`: at least one adapter (CI installs lavapipe:
/// the GPU tests fail rather than skip without one).
fn listed() -> Vec<serde_json::Value> {
    let o = bin().args(["devices", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!list.is_empty(), "the GPU tests need an adapter");
    list
}

#[test]
fn devices_lists_each_adapters_index_bus_id_and_memory() {
    for (k, a) in listed().iter().enumerate() {
        assert_eq!(a["index"], k, "{a}");
        for key in ["name", "device_type", "pci_bus_id"] {
            assert!(a[key].is_string(), "{key}: {a}");
        }
        // Memory and UUID are null where neither wgpu nor the vendor's
        // tools say, but the keys are there.
        for key in ["memory_bytes", "uuid"] {
            assert!(a.get(key).is_some(), "{key}: {a}");
        }
        let bus = a["pci_bus_id"].as_str().unwrap();
        assert!(
            bus.is_empty() || bus.len() == 12,
            "domain:bus:device.function: {bus}"
        );
    }
}

fn run(out: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("run")
        .arg("examples/integrator.toml")
        .arg("--out")
        .arg(out)
        .arg("-q")
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_device_that_matches_nothing_is_refused_listing_the_adapters() {
    let first = listed()[0]["name"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    for (args, key, value) in [
        (vec!["--backend", "gpu", "--device", "99"], "--device", "99"),
        (vec!["--device", "no-such-gpu"], "--device", "no-such-gpu"),
        (
            vec!["--backend", "gpu", "--set", "simulation.device=\"zzz\""],
            "simulation.device",
            "zzz",
        ),
    ] {
        let o = run(&out, &args);
        let t = text(&o);
        assert!(!o.status.success(), "{args:?}: {t}");
        assert!(
            t.contains(&format!("`{key}` = \"{value}\"")),
            "{args:?}: {t}"
        );
        assert!(
            t.contains("the adapters are") && t.contains(&format!("0: {first}")),
            "{t}"
        );
        assert!(!out.join("summary.json").exists(), "nothing written");
    }
    // A device with the CPU backend is a contradiction, said as such.
    let o = run(&out, &["--backend", "cpu", "--device", "0"]);
    assert!(
        !o.status.success() && text(&o).contains("the backend is cpu"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_gpu_run_records_the_adapter_it_opened_and_why() {
    let list = listed();
    let dir = tempfile::tempdir().unwrap();
    let last = list.len() - 1;
    let out = dir.path().join("r");
    let o = run(&out, &["--backend", "gpu", "--device", &last.to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["adapter"], list[last]["name"]);
    let bus = list[last]["pci_bus_id"].as_str().unwrap();
    let want = if bus.is_empty() {
        serde_json::Value::Null
    } else {
        bus.into()
    };
    assert_eq!(s["adapter_pci_bus_id"], want);
    assert_eq!(s["adapter_chosen_by"], format!("--device {last}"));
    // simulation.device in the file does the same.
    let out = dir.path().join("f");
    let o = run(
        &out,
        &[
            "--backend",
            "gpu",
            "--set",
            &format!("simulation.device={last}"),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        s["adapter_chosen_by"],
        format!("simulation.device = {last}")
    );
}

/// A ring sweep of three shapes of M (three batches) and four trials each.
fn write_sweep(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("base.toml"),
        r#"
        [network]
        n = 64
        tau = 0.01
        activation = { kind = "clip", min = 0.0, max = 1.0 }
        weights = { kind = "ring", lambda0 = 0.1, lambda1 = 2.1 }
        [[input]]
        end = 0.05
        kind = "bump"
        c = 1.0
        epsilon = 0.2
        theta = 0.5
        [simulation]
        duration = 0.2
        dt = 0.0005
        noise = 0.05
        seed = 3
        record_every = 10
        "#,
    )
    .unwrap();
    let path = dir.join("sweep.toml");
    std::fs::write(
        &path,
        r#"
        base = "base.toml"
        trials = 2
        [grid]
        "network.weights.lambda1" = [1.9, 2.05, 2.2]
        "simulation.noise" = [0.02, 0.05]
        [retention]
        metric = "bump_amplitude"
        threshold = 0.5
        "#,
    )
    .unwrap();
    path
}

fn sweep(path: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("sweep")
        .arg(path)
        .arg("--out")
        .arg(out)
        .args(["--backend", "gpu"])
        .args(extra)
        .output()
        .unwrap()
}

/// The rows of a results or drift file, sorted (two devices write rows in
/// the order their batches end).
fn rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let mut v: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    v.sort();
    v
}

/// Keeps the rows of `file` in `dir` whose grid point `keep` accepts.
fn keep_rows(dir: &Path, file: &str, keep: impl Fn(usize) -> bool) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let mut kept = vec![lines.next().unwrap().to_string()];
    kept.extend(
        lines
            .filter(|l| keep(l.split(',').next().unwrap().parse().unwrap()))
            .map(String::from),
    );
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
}

#[test]
fn a_sweep_over_two_devices_gives_the_one_device_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = write_sweep(dir.path());
    let one = dir.path().join("one");
    let o = sweep(&s, &one, &["-q"]);
    assert!(
        o.status.success(),
        "the GPU tests need an adapter: {}",
        text(&o)
    );
    let want = rows(&one.join("results.csv"));
    assert_eq!(want.len(), 12);

    // Two devices on the one adapter: the same rows, bit for bit (the same
    // kernels step each batch; which device ran it does not matter).
    let two = dir.path().join("two");
    let o = sweep(&s, &two, &["--devices", "0,0"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("on 2 devices"), "{}", text(&o));
    assert_eq!(rows(&two.join("results.csv")), want);
    assert_eq!(rows(&two.join("drift.csv")), rows(&one.join("drift.csv")));
    assert!(two.join("summary.csv").exists());

    // --resume: the rows of points 2 to 5 lost, the two devices run only
    // those again.
    for file in ["results.csv", "drift.csv"] {
        keep_rows(&two, file, |p| p < 2);
    }
    let o = sweep(&s, &two, &["--devices", "0,0", "--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("8 runs in") && text(&o).contains("4 already done"),
        "{}",
        text(&o)
    );
    assert_eq!(rows(&two.join("results.csv")), want);

    // --shard: the shard's rows of the one-device sweep.
    let shard = dir.path().join("shard");
    let o = sweep(&s, &shard, &["-q", "--devices", "0,0", "--shard", "1/2"]);
    assert!(o.status.success(), "{}", text(&o));
    let odd: Vec<Vec<String>> = want
        .iter()
        .filter(|r| r[0].parse::<usize>().unwrap() % 2 == 1)
        .cloned()
        .collect();
    assert_eq!(rows(&shard.join("results.csv")), odd);

    // Bad lists name --devices; with --device too, the two are refused.
    let o = sweep(&s, &dir.path().join("bad"), &["--devices", "0,9"]);
    assert!(
        !o.status.success() && text(&o).contains("`--devices` = \"9\""),
        "{}",
        text(&o)
    );
    let o = bin()
        .arg("sweep")
        .arg(&s)
        .arg("--out")
        .arg(dir.path().join("bad2"))
        .args(["--devices", "0", "--backend", "cpu"])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("the backend is cpu"),
        "{}",
        text(&o)
    );
}
