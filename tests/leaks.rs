//! No leaks over repeated runs: 500 small experiments in one process, on the
//! CPU and on one GPU backend, keep the resident memory flat. On the
//! software adapter (lavapipe) GPU buffers are process memory, so the same
//! count covers the GPU's buffers, pipelines and bind groups. One test in
//! its own binary, so no other test's allocations move the count.

mod common;
use attractor::sim::{cpu::CpuBackend, gpu::GpuBackend, Backend};
use common::*;

/// Resident set size of this process, bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn five_hundred_runs_keep_memory_flat() {
    let e = exp(r#"
        [network]
        n = 256
        tau = 0.01
        activation = { kind = "relu" }
        weights = { kind = "ring", lambda0 = 0.5, lambda1 = 1.5 }
        [[input]]
        end = 0.01
        kind = "bump"
        c = 1.0
        epsilon = 0.2
        [simulation]
        duration = 0.02
        dt = 0.001
        noise = 0.1
        record_every = 2
    "#);
    let mut gpu = GpuBackend::new().unwrap_or_else(|e| {
        panic!("the GPU half needs a GPU adapter: {e}. Run scripts/test.sh, which installs one")
    });
    let backends: [(&str, &mut dyn Backend); 2] = [("cpu", &mut CpuBackend), ("gpu", &mut gpu)];
    for (name, backend) in backends {
        // Warm-up: caches, pipelines, allocator pools reach their size.
        for _ in 0..50 {
            backend.run(&e, &mut |_| {}).unwrap();
        }
        let before = rss();
        for _ in 0..500 {
            let r = backend.run(&e, &mut |_| {}).unwrap();
            assert_eq!(r.t.len(), 11);
        }
        let grown = rss().saturating_sub(before);
        // A leak of one recording (11 records of 256 rates, ~12 KiB) or one
        // set of buffers per run would grow by 6 MiB or more over 500 runs;
        // allocator noise stays well under 4 MiB.
        assert!(
            grown < 4 << 20,
            "{name}: resident memory grew by {} KiB over 500 runs",
            grown >> 10
        );
    }
}
