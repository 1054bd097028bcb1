//! What a run encodes, as data: the dispatches of the prologue (once per
//! run), of every integration stage and of every record, each with its
//! kernel, its grid and the bytes it moves. The encoder records exactly
//! these dispatches and adds each one's bytes to a
//! [`Ledger`](super::ledger::Ledger) as it records it, so the cost the
//! engine reports (`attractor bench --json`: `dispatches_per_step`,
//! `bytes_per_step`) is the cost of what ran.
//!
//! A schedule is a pure function of the experiment, the batch and the
//! adapter's limits ([`Launch`]): the tests check its structural facts on
//! any machine, with or without a GPU.
//!
//! # Bytes
//! A dispatch's traffic lists, per buffer region, the distinct bytes it
//! reads or writes and the number of independent passes its grid makes over
//! them (the dense kernel's trial tiles each stream M; every trial of a
//! structured step reads the tables). A region read by several passes
//! counts once when it is at most [`CACHE_BYTES`] (it stays in the GPU's L2
//! cache between passes), else once per pass. Writes count once. That is
//! the memory traffic a step is predicted to cost ([`Dispatch::bytes`]).
//!
//! Each traffic also states the bytes its loads and stores request over
//! the whole grid, cached or not ([`Traffic::requested`]): every thread's
//! read of a trial's parameters, of the projections, of the dense operand
//! for each row. That is what the counting build of the kernels counts
//! (every load and store of a binding adds its bytes to a counter:
//! [`GpuBackend::with_counting`](super::GpuBackend::with_counting)), and
//! tests/counting.rs holds the two equal, per dispatch family and binding,
//! so a kernel that read M twice, or the schedule that forgot a read,
//! fails.

pub use super::kernels::Kernel;
pub use super::launch::{Launch, OperatorShape};
pub use super::traffic::{
    state_traffic, Dispatch, Region, Traffic, BITS_BINDING, CACHE_BYTES, WEIGHT_BINDINGS,
};

/// The dispatches of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Once, before the first step.
    pub prologue: Vec<Dispatch>,
    /// At each stage of each step (`stages[s]`), in order.
    pub stages: Vec<Vec<Dispatch>>,
    /// At each record.
    pub record: Vec<Dispatch>,
}

impl Schedule {
    /// The schedule of `g`: each stage's dispatches and the prologue are
    /// those of M's kernel family ([`super::launch::KernelFamily::stage`]:
    /// for dense M one fused dispatch per row block, for structured forms
    /// the step and the projections' passes, and so on); a record's are the
    /// two metric dispatches.
    pub fn new(g: &Launch) -> Self {
        let mut prologue = Vec::new();
        let stages = g
            .stages
            .iter()
            .map(|&stage| g.op.stage(g, stage, &mut prologue))
            .collect();
        let record = Self::record(g);
        Schedule {
            prologue,
            stages,
            record,
        }
    }

    /// A record's dispatches: `metric_partial`, each workgroup one sum of
    /// one trial over a chunk of neurons (each sum reads x again, and its
    /// table row or the energy's terms), then `metric_finish`.
    fn record(g: &Launch) -> Vec<Dispatch> {
        let (b, n) = (u64::from(g.batch), u64::from(g.n));
        let f = 4u64;
        let cells = b * n;
        let k = u64::from(g.metric_sums);
        let mg = u64::from(g.metric_groups());
        let sums = g.sums;
        let table_rows = sums.table_rows as u64;
        let mut partial = vec![
            Traffic::read(Region::State, b * n * f, k),
            Traffic::read(Region::TableV, table_rows * g.op.row_bytes(n), b)
                .requesting(table_rows * cells * f)
                .through(g.op.table_binding()),
        ];
        if sums.energy {
            let trial = std::mem::size_of::<super::kernels::TrialParams>() as u64;
            let epochs = u64::from(g.epochs_on);
            partial.extend([
                Traffic::read(Region::Diag, n * f, b),
                Traffic::read(Region::Trials, b * trial, 1).requesting(cells * trial),
                Traffic::read(Region::Input, epochs * n * f, b),
            ]);
        }
        // Each term of a network of several populations looks up its
        // neuron's segment (for the neuron's rate).
        let segment = std::mem::size_of::<super::kernels::Segment>() as u64;
        partial.push(
            Traffic::read(Region::Segments, u64::from(g.segments) * segment, 1)
                .requesting(k * cells * g.segment_reads() * segment),
        );
        partial.push(Traffic::write(Region::Partials, b * k * mg * f));
        partial.retain(|t| t.requested > 0);
        // Each sum's workgroups, and the sums, folded within the grid limit.
        let (px, py) = g.grid(g.metric_groups() * g.metric_sums);
        let (kx, ky) = g.grid(g.metric_sums);
        vec![
            Dispatch {
                kernel: Kernel::METRIC_PARTIAL,
                slot: 0,
                row0: 0,
                rows: g.n,
                workgroups: [px, py, g.batch],
                traffic: partial,
            },
            Dispatch {
                kernel: Kernel::METRIC_FINISH,
                slot: 0,
                row0: 0,
                rows: g.n,
                workgroups: [kx, ky, g.batch],
                traffic: vec![
                    Traffic::read(Region::Partials, b * k * mg * f, 1),
                    Traffic::write(Region::MetricSums, b * k * f),
                ],
            },
        ]
    }

    /// Dispatches per step.
    pub fn dispatches_per_step(&self) -> usize {
        self.stages.iter().map(Vec::len).sum()
    }

    /// Bytes moved per step.
    pub fn bytes_per_step(&self) -> u64 {
        self.stages.iter().flatten().map(Dispatch::bytes).sum()
    }

    /// Bytes the loads and stores of a step request
    /// ([`Dispatch::requested`]: re-reads from cache included).
    pub fn requested_per_step(&self) -> u64 {
        self.stages.iter().flatten().map(Dispatch::requested).sum()
    }

    /// Bytes the loads of a step request through the weights' bindings
    /// (M, the tables or bits, the taps, the diagonal).
    pub fn requested_weight_bytes_per_step(&self) -> u64 {
        self.stages
            .iter()
            .flatten()
            .flat_map(|d| &d.traffic)
            .filter(|t| !t.write && WEIGHT_BINDINGS.contains(&t.binding))
            .map(|t| t.requested)
            .sum()
    }

    /// Bytes moved per step in `region`.
    pub fn bytes_per_step_in(&self, region: Region) -> u64 {
        self.stages
            .iter()
            .flatten()
            .map(|d| d.bytes_in(region))
            .sum()
    }
}
