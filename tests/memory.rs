//! The memory check belongs to the backend that runs: reading a file checks
//! what every backend keeps on the host, and each run checks its own
//! footprint when it starts (`Backend::cost`): the CPU's weights and state
//! against the host's memory, the GPU's against the device's. Run through
//! the command line, whose environment sets the memory taken as available
//! (`ATTRACTOR_MEMORY_BYTES`, `ATTRACTOR_GPU_MEMORY_BYTES`).

use attractor::sim::{cpu::CpuBackend, gpu::GpuBackend, Backend};
use attractor::Experiment;
use std::path::Path;
use std::process::{Command, Output};

/// A ring of 10^5 neurons, one step, no rates kept.
const RING: &str = r#"
name = "big-ring"
[network]
n = 100000
tau = 0.01
weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }
[[input]]
kind = "uniform"
value = 0.1
[simulation]
duration = 0.001
dt = 0.001
[record]
rates = false
"#;

fn run(dir: &Path, backend: &str, env: &[(&str, String)]) -> Output {
    let file = dir.join("ring.toml");
    std::fs::write(&file, RING).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_attractor"));
    c.args(["run", "--quiet", "--backend", backend, "--out"])
        .arg(dir.join(backend))
        .arg(&file);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn each_backend_checks_its_own_memory_when_a_run_starts() {
    let e = Experiment::from_toml(RING, Path::new("."), "big-ring", &[]).unwrap();
    let cpu = CpuBackend.cost(&e, 1).memory;
    // Between what reading the file checks (the initial state, the time
    // constants, the one input epoch and the final state, 4 N f64) and
    // what a CPU run needs (its tables and state): the file reads, the CPU
    // run is refused, naming the key of its largest need.
    let parse = 100_000u64 * 8 * 4;
    let host = (parse + cpu.total()) / 2;
    assert!(
        parse < host && host < cpu.total(),
        "{parse} against {cpu:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        "cpu",
        &[("ATTRACTOR_MEMORY_BYTES", host.to_string())],
    );
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    let key = if cpu.weights >= cpu.state {
        "network.weights"
    } else {
        "network.n"
    };
    assert!(t.contains(&format!("key `{key}`")), "{t}");
    assert!(
        t.contains(&cpu.total().to_string()) && t.contains("available"),
        "{t}"
    );
    assert!(!dir.path().join("cpu").join("summary.json").exists());

    // The same machine runs it on the GPU: the CPU's estimate is not the
    // GPU's, and the host keeps only the records.
    let o = run(
        dir.path(),
        "gpu",
        &[("ATTRACTOR_MEMORY_BYTES", host.to_string())],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.path().join("gpu").join("summary.json").exists());

    // A GPU with less memory than the run's buffers refuses it, naming the
    // key, the bytes and the device.
    let gpu = GpuBackend::new().unwrap();
    let device = gpu.cost(&e, 1).memory;
    assert!(device.records < 1 << 20, "{device:?}");
    let small = (device.weights + device.state) / 2;
    let o = run(
        dir.path(),
        "gpu",
        &[("ATTRACTOR_GPU_MEMORY_BYTES", small.to_string())],
    );
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("GPU memory") && t.contains("key `network."),
        "{t}"
    );
    assert!(
        t.contains(&(device.weights + device.state).to_string()),
        "{t}"
    );
    assert!(t.contains(&gpu.context().summary.name), "{t}");
}
