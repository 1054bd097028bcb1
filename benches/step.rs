//! Step time per backend, operator and size, with the bytes of weights
//! streamed per step as throughput (generated random weights: entries per
//! step), and the CPU's dense f32 product alone
//! (`cpu/matvec`). ATTRACTOR_BENCH_SMALL=1 shrinks the sizes (CI runs them
//! that way, as a smoke test, with `-- --test`). The GPU cases run when an
//! adapter exists.

use attractor::bench::{experiment, Case, OperatorKind};
use attractor::sim::{cpu::CpuBackend, gpu::GpuBackend, Backend, Trial};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn small() -> bool {
    std::env::var("ATTRACTOR_BENCH_SMALL").is_ok_and(|v| v != "0")
}

fn sizes(op: OperatorKind) -> Vec<usize> {
    let small = small();
    match (op, small) {
        (OperatorKind::Dense, true) => vec![64],
        (OperatorKind::Dense, false) => vec![1024, 4096],
        (OperatorKind::Ring, true) => vec![1024],
        (OperatorKind::Ring, false) => vec![65536, 1 << 20],
        (OperatorKind::Hebbian, true) => vec![512],
        (OperatorKind::Hebbian, false) => vec![16384],
        (OperatorKind::Packed, true) => vec![512],
        (OperatorKind::Packed, false) => vec![16384],
        (OperatorKind::Random, true) => vec![64],
        (OperatorKind::Random, false) => vec![1024],
        (OperatorKind::Gaussian, true) => vec![1024],
        (OperatorKind::Gaussian, false) => vec![65536],
        (OperatorKind::Torus, true) => vec![1024],
        (OperatorKind::Torus, false) => vec![65536],
        (OperatorKind::Sparse, true) => vec![1024],
        // Within what the GPU holds expanded to a dense matrix.
        (OperatorKind::Sparse, false) => vec![4096],
    }
}

/// Steps per timed run: the GPU records them in one submit.
const STEPS: u64 = 20;

fn bench_backend(c: &mut Criterion, backend: &mut dyn Backend, name: &str) {
    for op in [
        OperatorKind::Dense,
        OperatorKind::Ring,
        OperatorKind::Hebbian,
        OperatorKind::Packed,
        OperatorKind::Random,
        OperatorKind::Gaussian,
        OperatorKind::Torus,
        OperatorKind::Sparse,
    ] {
        let mut group = c.benchmark_group(format!("{name}/{op:?}").to_lowercase());
        group.sample_size(10);
        for n in sizes(op) {
            let case = Case::new(op, n);
            let e = experiment(case, STEPS).expect("bench experiment");
            let trials = [Trial::of(&e)];
            // Generated weights read no bytes: their throughput is the
            // entries generated and applied.
            group.throughput(if op == OperatorKind::Random {
                Throughput::Elements((n * n) as u64 * STEPS)
            } else {
                let bytes = backend.cost(&e, 1).weight_bytes_per_step;
                Throughput::Bytes((bytes * STEPS as f64) as u64)
            });
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                // The run includes uploading M and reading back the last
                // record; the GPU is waited for inside.
                b.iter(|| {
                    backend
                        .run_batch(&e, &trials, &mut |_| {})
                        .expect("bench run")
                })
            });
        }
        group.finish();
    }
}

/// The CPU's dense f32 product y = M x alone, M streamed from memory (an
/// 8192² matrix is 256 MiB, beyond any cache).
fn matvec(c: &mut Criterion) {
    let sizes: &[usize] = if small() { &[64] } else { &[1024, 4096, 8192] };
    let mut group = c.benchmark_group("cpu/matvec");
    group.sample_size(10);
    for &n in sizes {
        let m: Vec<f32> = (0..n * n).map(|k| ((k % 17) as f32 - 8.0) / 64.0).collect();
        let x = vec![0.5f32; n];
        let mut y = vec![0.0f32; n];
        group.throughput(Throughput::Bytes((n * n * 4) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| attractor::sim::cpu::matvec::matvec_f32(&m, n, &x, &mut y))
        });
    }
    group.finish();
}

fn steps(c: &mut Criterion) {
    matvec(c);
    bench_backend(c, &mut CpuBackend, "cpu");
    if let Ok(mut g) = GpuBackend::new() {
        bench_backend(c, &mut g, "gpu");
    }
}

criterion_group!(benches, steps);
criterion_main!(benches);
