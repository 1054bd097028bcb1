//! Choosing the GPU adapter: `attractor devices --json`, `--device` and
//! `simulation.device` (errors list the adapters), the adapter a run
//! records. A sweep spread over several devices is tested in
//! `tests/sweep.rs`; the mapping of the schedulers' variables is
//! unit-tested over made-up machines in `sim::gpu::pick`.

use std::path::Path;
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
