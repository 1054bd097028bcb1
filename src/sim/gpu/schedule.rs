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
//! them (the dense kernel's trial tiles each stream M; every row tile reads
//! the whole operand; every trial of a structured step reads the tables). A
//! region read by several passes counts once when it is at most
//! [`CACHE_BYTES`] (it stays in the GPU's L2 cache between passes), else
//! once per pass. Writes count once.

pub use super::kernels::Kernel;
pub use super::launch::Launch;
pub use super::operator::OperatorShape;
use crate::model::Stage;

/// The largest region counted once however many passes read it: 4 MiB,
/// less than the L2 cache of every GPU this engine targets (an H100 has
/// 50 MB).
pub const CACHE_BYTES: u64 = 4 << 20;

/// A buffer region whose traffic is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// The dense matrix M (rows padded to whole vec4s).
    Weights,
    /// The structured form's U rows (V itself when U = V).
    TableU,
    /// The structured form's V rows, where read apart from U.
    TableV,
    /// The structured form's diagonal.
    Diag,
    /// The structured form's coefficients.
    Coef,
    /// The state x.
    State,
    /// The rk4 stage point y.
    StagePoint,
    /// The rk4 accumulator.
    Accumulator,
    /// The dense family's operand (what M multiplies).
    Operand,
    /// The input epochs.
    Input,
    /// The trials' parameters.
    Trials,
    /// The structured form's projections.
    Projections,
    /// Partial sums of the projection and metric passes.
    Partials,
    /// A record's metric sums.
    MetricSums,
}

/// The bytes one dispatch moves in one region.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Traffic {
    /// The region.
    pub region: Region,
    /// Distinct bytes read or written.
    pub bytes: u64,
    /// Independent passes the grid makes over them (reads).
    pub passes: u64,
    /// Written rather than read.
    pub write: bool,
}

impl Traffic {
    fn read(region: Region, bytes: u64, passes: u64) -> Self {
        Traffic {
            region,
            bytes,
            passes: passes.max(1),
            write: false,
        }
    }

    fn write(region: Region, bytes: u64) -> Self {
        Traffic {
            region,
            bytes,
            passes: 1,
            write: true,
        }
    }

    /// The bytes counted: once for writes and for reads of regions of at
    /// most [`CACHE_BYTES`], once per pass for larger reads.
    pub fn moved(&self) -> u64 {
        if self.write || self.bytes <= CACHE_BYTES {
            self.bytes
        } else {
            self.bytes * self.passes
        }
    }
}

/// One dispatch of a schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Dispatch {
    /// Its kernel.
    pub kernel: Kernel,
    /// Its bind group: the dense row block, or 0.
    pub slot: usize,
    /// The first row and the rows of its dense row block (`StepParams.row0`,
    /// `rows`); 0 and N otherwise.
    pub row0: u32,
    /// See `row0`.
    pub rows: u32,
    /// Workgroups in x, y, z.
    pub workgroups: [u32; 3],
    /// What it reads and writes.
    pub traffic: Vec<Traffic>,
}

impl Dispatch {
    /// The bytes it moves ([`Traffic::moved`] summed).
    pub fn bytes(&self) -> u64 {
        self.traffic.iter().map(Traffic::moved).sum()
    }

    /// The fewest bytes its equations need: every region it reads or
    /// writes, once (its traffic without repeated passes).
    pub fn distinct_bytes(&self) -> u64 {
        self.traffic.iter().map(|t| t.bytes).sum()
    }

    /// The bytes it moves in the weights' regions (M, the tables, the diagonal).
    pub fn weight_bytes(&self) -> u64 {
        [
            Region::Weights,
            Region::TableU,
            Region::TableV,
            Region::Diag,
        ]
        .into_iter()
        .map(|r| self.bytes_in(r))
        .sum()
    }

    /// The bytes it moves in `region`.
    pub fn bytes_in(&self, region: Region) -> u64 {
        self.traffic
            .iter()
            .filter(|t| t.region == region)
            .map(Traffic::moved)
            .sum()
    }
}

/// The reads and writes of the state vectors (x, y, acc) at `stage`, as
/// the update's equations need them (see [`Stage::update`]): x is read at
/// every stage; the first rk4 stage starts from x and writes the stage
/// point and accumulator; the middle ones also read them; the last reads
/// them and writes x.
pub fn state_traffic(stage: Stage) -> (Vec<Region>, Vec<Region>) {
    use Region::*;
    match stage {
        Stage::Euler | Stage::Exponential => (vec![State], vec![State]),
        Stage::Rk4(1) => (vec![State], vec![StagePoint, Accumulator]),
        Stage::Rk4(4) => (vec![State, StagePoint, Accumulator], vec![State]),
        Stage::Rk4(_) => (
            vec![State, StagePoint, Accumulator],
            vec![StagePoint, Accumulator],
        ),
    }
}

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
    /// The schedule of `g`.
    ///
    /// Dense: one fused dispatch per row block and stage (`dense_step` for
    /// at most `DENSE_TILE` trials, `dense_batch` for more: M read once per
    /// 256 trials). Structured: two per stage, `structured_step` (the
    /// update and the next operand's projections 0..3, one
    /// barrier-separated tree reduction per 4 projections) then
    /// `project_finish`; three when R > 4 (`project_rest` between them for
    /// the projections 4 and up); one when R = 0; the prologue computes the
    /// initial projections. A record: the two metric dispatches.
    pub fn new(g: &Launch) -> Self {
        let (b, n) = (u64::from(g.batch), u64::from(g.n));
        let f = 4u64;
        let input = |rows: u64, passes: u64| {
            Traffic::read(Region::Input, u64::from(g.epochs_on) * rows * f, passes)
        };
        let trials = Traffic::read(
            Region::Trials,
            b * std::mem::size_of::<super::kernels::TrialParams>() as u64,
            1,
        );
        let state = |stage: Stage, rows: u64| {
            let (reads, writes) = state_traffic(stage);
            let mut t: Vec<Traffic> = reads
                .into_iter()
                .map(|r| Traffic::read(r, b * rows * f, 1))
                .collect();
            t.extend(writes.into_iter().map(|r| Traffic::write(r, b * rows * f)));
            t
        };
        let mut prologue = Vec::new();
        let stages = g
            .stages
            .iter()
            .map(|&stage| match &g.op {
                OperatorShape::Dense {
                    blocks,
                    row_shape,
                    generated,
                    ..
                } => blocks
                    .iter()
                    .enumerate()
                    .map(|(slot, &(row0, rows))| {
                        let (kernel, rows_per_group, tiles) = match g.batch_shape() {
                            Some(s) => (Kernel::DenseBatch, s.rows(), g.batch.div_ceil(s.trials())),
                            None => (
                                Kernel::DenseRow,
                                row_shape.1,
                                g.batch.div_ceil(super::kernels::DENSE_TILE),
                            ),
                        };
                        let row_groups = rows.div_ceil(rows_per_group);
                        let (gx, gz) = g.grid(row_groups);
                        let r = u64::from(rows);
                        let np = u64::from(g.n_pad());
                        let weights = if *generated { 0 } else { r * np * f };
                        let mut traffic = vec![
                            Traffic::read(Region::Weights, weights, u64::from(tiles)),
                            Traffic::read(Region::Operand, b * np * f, u64::from(row_groups)),
                            Traffic::write(Region::Operand, b * r * f),
                            input(r, u64::from(tiles)),
                            trials,
                        ];
                        traffic.extend(state(stage, r));
                        Dispatch {
                            kernel,
                            slot,
                            row0,
                            rows,
                            workgroups: [gx, tiles, gz],
                            traffic,
                        }
                    })
                    .collect(),
                &OperatorShape::Convolution { side, terms } => {
                    let (gx, gy) = g.grid(g.n.div_ceil(super::kernels::CONVOLUTION_WORKGROUP));
                    let t = u64::from(terms);
                    // The stage point: x at a step's first stage, y at the later rk4 ones.
                    let point = if matches!(stage, Stage::Rk4(2..=4)) {
                        Region::StagePoint
                    } else {
                        Region::State
                    };
                    // Even and odd taps; with a velocity the odd row passes
                    // are written and read too (counted here: the upper bound).
                    let taps = Traffic::read(Region::TableU, 2 * t * u64::from(side) * f, b);
                    let passes = 2 * t;
                    let rows = Dispatch {
                        kernel: Kernel::ConvRows,
                        slot: 0,
                        row0: 0,
                        rows: g.n,
                        workgroups: [gx, gy, g.batch],
                        // A row's entries are read again by the threads of
                        // the row's own workgroups (from cache): once. A
                        // column's are read by `side` workgroups apart: once
                        // per pass where the row passes exceed the cache.
                        traffic: vec![
                            Traffic::read(point, b * n * f, 1),
                            taps,
                            Traffic::write(Region::Projections, b * passes * n * f),
                        ],
                    };
                    let mut traffic = vec![
                        Traffic::read(Region::Projections, b * passes * n * f, u64::from(side)),
                        taps,
                        Traffic::read(Region::Coef, t * f, 1),
                        input(n, b),
                        trials,
                    ];
                    traffic.extend(state(stage, n));
                    traffic.retain(|t| t.bytes > 0);
                    let step = Dispatch {
                        kernel: Kernel::ConvStep,
                        slot: 0,
                        row0: 0,
                        rows: g.n,
                        workgroups: [gx, gy, g.batch],
                        traffic,
                    };
                    vec![rows, step]
                }
                OperatorShape::Structured {
                    rank,
                    separate_u,
                    diag,
                    ..
                } => {
                    let r = u64::from(*rank);
                    let stored = g.op.stored_rows();
                    let row = g.op.row_bytes(n);
                    let groups = g.projection_groups();
                    let (gx, gy) = g.grid(groups);
                    let partials = |rows: u64| b * rows * u64::from(groups) * f;
                    // Rows 0..3 of V are read by the step (U's own when
                    // U = V: kept in registers), rows 4.. by project_rest.
                    let first = r.min(4);
                    let mut traffic = vec![
                        Traffic::read(Region::TableU, stored * row, b),
                        Traffic::read(Region::Projections, b * r * f, 1),
                        input(n, b),
                        trials,
                    ];
                    if *separate_u {
                        traffic.push(Traffic::read(Region::TableV, first * row, b));
                    }
                    if *diag {
                        traffic.push(Traffic::read(Region::Diag, n * f, b));
                    }
                    if r > 0 {
                        traffic.push(Traffic::write(Region::Partials, partials(first)));
                    }
                    traffic.extend(state(stage, n));
                    traffic.retain(|t| t.bytes > 0);
                    let mut list = vec![Dispatch {
                        kernel: Kernel::StructuredStep,
                        slot: 0,
                        row0: 0,
                        rows: g.n,
                        workgroups: [gx, gy, g.batch],
                        traffic,
                    }];
                    if r == 0 {
                        return list;
                    }
                    let v_region = if *separate_u {
                        Region::TableV
                    } else {
                        Region::TableU
                    };
                    if r > 4 {
                        // The point the update wrote: x after the last stage, y before.
                        let point = if stage.is_last() {
                            Region::State
                        } else {
                            Region::StagePoint
                        };
                        list.push(Dispatch {
                            kernel: Kernel::ProjectRest,
                            slot: 0,
                            row0: 0,
                            rows: g.n,
                            workgroups: {
                                let (x, y) = g.grid(groups * (*rank - 4).div_ceil(4));
                                [x, y, g.batch]
                            },
                            traffic: vec![
                                Traffic::read(v_region, (r - 4) * row, b),
                                Traffic::read(point, b * n * f, 1),
                                Traffic::write(Region::Partials, partials(r - 4)),
                            ],
                        });
                    }
                    let (fx, fy) = g.grid(*rank);
                    let finish = Dispatch {
                        kernel: Kernel::ProjectFinish,
                        slot: 0,
                        row0: 0,
                        rows: g.n,
                        workgroups: [fx, fy, g.batch],
                        traffic: vec![
                            Traffic::read(Region::Partials, partials(r), 1),
                            Traffic::read(Region::Coef, r * f, 1),
                            Traffic::write(Region::Projections, b * r * f),
                        ],
                    };
                    if prologue.is_empty() {
                        prologue = vec![
                            Dispatch {
                                kernel: Kernel::ProjectPartial,
                                slot: 0,
                                row0: 0,
                                rows: g.n,
                                workgroups: {
                                    let (x, y) = g.grid(groups * rank.div_ceil(4));
                                    [x, y, g.batch]
                                },
                                traffic: vec![
                                    Traffic::read(Region::State, b * n * f, 1),
                                    Traffic::read(v_region, stored * row, b),
                                    Traffic::write(Region::Partials, partials(r)),
                                ],
                            },
                            finish.clone(),
                        ];
                    }
                    list.push(finish);
                    list
                }
            })
            .collect();
        let k = u64::from(g.metric_sums);
        let mg = u64::from(g.metric_groups());
        // Each sum's workgroups, and the sums, folded within the grid limit.
        let (px, py) = g.grid(g.metric_groups() * g.metric_sums);
        let (kx, ky) = g.grid(g.metric_sums);
        let record = vec![
            Dispatch {
                kernel: Kernel::MetricPartial,
                slot: 0,
                row0: 0,
                rows: g.n,
                workgroups: [px, py, g.batch],
                traffic: vec![
                    Traffic::read(Region::State, b * n * f, k),
                    Traffic::write(Region::Partials, b * k * mg * f),
                ],
            },
            Dispatch {
                kernel: Kernel::MetricFinish,
                slot: 0,
                row0: 0,
                rows: g.n,
                workgroups: [kx, ky, g.batch],
                traffic: vec![
                    Traffic::read(Region::Partials, b * k * mg * f, 1),
                    Traffic::write(Region::MetricSums, b * k * f),
                ],
            },
        ];
        Schedule {
            prologue,
            stages,
            record,
        }
    }

    /// Dispatches per step.
    pub fn dispatches_per_step(&self) -> usize {
        self.stages.iter().map(Vec::len).sum()
    }

    /// Bytes moved per step.
    pub fn bytes_per_step(&self) -> u64 {
        self.stages.iter().flatten().map(Dispatch::bytes).sum()
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
