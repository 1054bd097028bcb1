//! The GPU's cost model, checked without a GPU: the schedule a run encodes
//! (`attractor::sim::gpu::schedule`) is a pure function of the experiment,
//! the batch and the adapter's limits, so its structural facts hold on any
//! machine. (tests/gpu.rs checks that the encoder counts exactly these
//! dispatches and bytes.) Nothing here is timed.

use attractor::bench::{experiment, Case, OperatorKind};
use attractor::sim::gpu::cost::minimum_bytes_per_step;
use attractor::sim::gpu::kernels;
use attractor::sim::gpu::schedule::{Kernel, Launch, Region, Schedule, CACHE_BYTES};
use attractor::Experiment;

/// The limits every WebGPU adapter has, and a 128 MiB binding (the software
/// adapter's; hardware GPUs allow more).
fn geometry(e: &Experiment, batch: usize) -> Launch {
    let limits = wgpu::Limits::default();
    let shape = kernels::dense_shape(&limits, e.network.n, batch, wgpu::DeviceType::DiscreteGpu);
    Launch::of(e, batch, &limits, 128 << 20, shape, false)
}

/// The case of `attractor bench` with the dense matrix left empty (the
/// schedule needs its shape only).
fn case(op: OperatorKind, n: usize) -> Experiment {
    if op != OperatorKind::Dense {
        return experiment(Case::new(op, n), 10).unwrap();
    }
    let mut e = experiment(Case::new(op, 1), 10).unwrap();
    e.network.n = n;
    e.network.weights = attractor::model::Weights::Dense { n, m: Vec::new() };
    e
}

#[test]
fn a_dense_batch_of_64_reads_m_once_per_step() {
    let n = 4096;
    let m = (n * n * 4) as u64;
    let e = case(OperatorKind::Dense, n);
    for b in [1, 3, 64, 256] {
        let s = Schedule::new(&geometry(&e, b));
        assert_eq!(s.bytes_per_step_in(Region::Weights), m, "B = {b}");
        assert_eq!(s.dispatches_per_step(), 1, "B = {b}");
    }
    // Past 256 trials a second tile reads M again.
    let s = Schedule::new(&geometry(&e, 300));
    assert_eq!(s.bytes_per_step_in(Region::Weights), 2 * m);
    // The row kernel forced at B = 64 (as `bench --tune` does) streams M
    // once per tile of 4 trials: the count sees it.
    let limits = wgpu::Limits::default();
    let one_row = kernels::DenseShape {
        workgroup: 256,
        rows: 1,
        stack: 1,
    };
    let g = Launch::of(&e, 64, &limits, 128 << 20, one_row, true);
    assert_eq!(Schedule::new(&g).bytes_per_step_in(Region::Weights), 16 * m);
    // A matrix split into row blocks (by the binding limit) still reads it once.
    let g = Launch::of(&e, 64, &limits, 16 << 20, one_row, false);
    let s = Schedule::new(&g);
    assert_eq!(s.dispatches_per_step(), 4);
    assert_eq!(s.bytes_per_step_in(Region::Weights), m);
}

#[test]
fn a_ring_step_is_at_most_two_dispatches() {
    for n in [512, 65536, 1 << 20, 10_000_000] {
        let mut e = case(OperatorKind::Ring, n);
        let s = Schedule::new(&geometry(&e, 1));
        assert_eq!(s.dispatches_per_step(), 2, "N = {n}");
        let kernels: Vec<Kernel> = s.stages[0].iter().map(|d| d.kernel).collect();
        assert_eq!(kernels, [Kernel::STRUCTURED_STEP, Kernel::PROJECT_FINISH]);
        // The uniform row is never read; cos and sin once per step.
        assert_eq!(s.bytes_per_step_in(Region::TableU), 2 * n as u64 * 4);
        // rk4: two per stage.
        e.simulation.method = attractor::model::Method::Rk4;
        assert_eq!(Schedule::new(&geometry(&e, 1)).dispatches_per_step(), 8);
    }
}

#[test]
fn a_hebbian_step_reads_the_patterns_at_most_twice() {
    for (n, p) in [
        (2000, 100),
        (16384, 16),
        (10_000, 500),
        (4099, 7),
        (1000, 3),
    ] {
        let mut e = case(OperatorKind::Hebbian, n);
        let xi = attractor::experiment::random_patterns(n, p, 1);
        e.network.weights = attractor::model::Weights::Hebbian { n, p, xi };
        let s = Schedule::new(&geometry(&e, 1));
        let patterns = (n * p * 4) as u64;
        let read = s.bytes_per_step_in(Region::TableU);
        assert!(
            read >= patterns && read <= 2 * patterns,
            "N = {n}, P = {p}: {read} bytes"
        );
        // At most 4 patterns: read once (kept in registers for the projections).
        if p <= 4 {
            assert_eq!(read, patterns);
        }
    }
}

#[test]
fn every_kernel_moves_within_10_percent_of_the_bytes_it_needs() {
    // Each dispatch's bytes against the distinct bytes its equations touch
    // (every region once): a kernel that streams a large region more than
    // once (M per trial tile, a table per trial) fails. The cases are the
    // bench's and the goal sizes.
    let cases = [
        (OperatorKind::Dense, 512, 1),
        (OperatorKind::Dense, 4096, 1),
        (OperatorKind::Dense, 4096, 64),
        (OperatorKind::Dense, 4096, 256),
        (OperatorKind::Dense, 16384, 1),
        (OperatorKind::Dense, 16384, 64),
        (OperatorKind::Ring, 512, 1),
        (OperatorKind::Ring, 65536, 1),
        (OperatorKind::Ring, 65536, 64),
        (OperatorKind::Ring, 10_000_000, 1),
        (OperatorKind::Ring, 100_000_000, 1),
        (OperatorKind::Hebbian, 16384, 1),
        (OperatorKind::Hebbian, 16384, 16),
    ];
    for (op, n, b) in cases {
        let e = case(op, n);
        let s = Schedule::new(&geometry(&e, b));
        for d in s.stages.iter().flatten() {
            let need = d.distinct_bytes() as f64;
            assert!(
                d.bytes() as f64 <= 1.1 * need,
                "{op:?} N = {n} B = {b}: {:?} moves {} bytes, needs {need}",
                d.kernel,
                d.bytes()
            );
        }
    }
}

#[test]
fn dense_and_ring_steps_move_within_10_percent_of_the_equations_minimum() {
    // The step against the fewest bytes the equations need (the weights'
    // stored form once, the state read and written, the input): dense at
    // B = 1 and 64, the ring at B = 1 from 512 to 10^8 neurons.
    for (op, n, b) in [
        (OperatorKind::Dense, 4096, 1),
        (OperatorKind::Dense, 4096, 64),
        (OperatorKind::Dense, 16384, 1),
        (OperatorKind::Ring, 512, 1),
        (OperatorKind::Ring, 1 << 20, 1),
        (OperatorKind::Ring, 100_000_000, 1),
    ] {
        let g = geometry(&case(op, n), b);
        let s = Schedule::new(&g);
        let (ours, min) = (s.bytes_per_step() as f64, minimum_bytes_per_step(&g) as f64);
        assert!(
            min <= ours && ours <= 1.1 * min,
            "{op:?} N = {n} B = {b}: {ours} against {min}"
        );
    }
}

#[test]
fn a_region_counts_once_per_pass_only_past_the_cache() {
    // The model's one assumption, at its edge: a ring of 64 trials reads its
    // 2 stored rows once while they fit the cache, once per trial beyond.
    let fits = (CACHE_BYTES / 8) as usize; // 2 rows of 4-byte floats
    for (n, passes) in [(fits, 1), (fits + 4, 64)] {
        let s = Schedule::new(&geometry(&case(OperatorKind::Ring, n), 64));
        assert_eq!(
            s.bytes_per_step_in(Region::TableU),
            passes * 2 * n as u64 * 4,
            "N = {n}"
        );
    }
}

/// A uniform input is one number a step: the ring of the bench (h = 0.1
/// everywhere) reads no input vector, and the floor does not count one;
/// the same ring with a bump input reads its N floats once per step.
#[test]
fn a_uniform_input_is_not_read_as_a_vector() {
    let n = 65536;
    let e = case(OperatorKind::Ring, n);
    let s = Schedule::new(&geometry(&e, 1));
    assert_eq!(s.bytes_per_step_in(Region::Input), 0);
    let mut bump = e.clone();
    bump.inputs[0].h = (0..n).map(|i| 0.1 + (i % 7) as f64 * 0.01).collect();
    let s = Schedule::new(&geometry(&bump, 1));
    assert_eq!(s.bytes_per_step_in(Region::Input), n as u64 * 4);
    let floor = |e: &Experiment| minimum_bytes_per_step(&geometry(e, 1));
    assert_eq!(floor(&bump) - floor(&e), n as u64 * 4);
}
