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
pub use super::launch::Launch;
pub use super::shape::OperatorShape;
pub use super::traffic::{Region, Traffic, BITS_BINDING, CACHE_BYTES, WEIGHT_BINDINGS};
use crate::model::Stage;

/// The binding the structured table's rows are read through: the bit planes
/// when packed, the f32 table otherwise (and for the other forms, whose
/// metrics read the f32 table).
fn table_binding(op: &OperatorShape) -> u32 {
    match op {
        OperatorShape::Structured { packed: true, .. } => BITS_BINDING,
        OperatorShape::Structured { packed: false, .. }
        | OperatorShape::Dense { .. }
        | OperatorShape::Convolution { .. }
        | OperatorShape::Sparse { .. } => 7,
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
            Region::RowPlaces,
            Region::Columns,
            Region::Values,
            Region::RowList,
        ]
        .into_iter()
        .map(|r| self.bytes_in(r))
        .sum()
    }

    /// The bytes its loads and stores request ([`Traffic::requested`] summed).
    pub fn requested(&self) -> u64 {
        self.traffic.iter().map(|t| t.requested).sum()
    }

    /// The bytes it requests through `binding`, read (`write` false) or written.
    pub fn requested_through(&self, binding: u32, write: bool) -> u64 {
        self.traffic
            .iter()
            .filter(|t| t.binding == binding && t.write == write)
            .map(|t| t.requested)
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
        let epochs = u64::from(g.epochs_on);
        let trial = std::mem::size_of::<super::kernels::TrialParams>() as u64;
        // The update of `rows` neurons of every trial (`finish` in
        // common.wgsl): each (neuron, trial) reads its trial's parameters
        // (all of TrialParams), the input epochs on (passes: those of the
        // grid over the input vectors), and the state the stage needs.
        // Each neuron of a network of several populations also looks its
        // segment up once.
        let segment = std::mem::size_of::<super::kernels::Segment>() as u64;
        let segments = u64::from(g.segments) * segment;
        let lookup = g.segment_reads() * segment;
        let update = |stage: Stage, rows: u64, input_passes: u64| {
            let cells = b * rows;
            let mut t = vec![
                Traffic::read(Region::Trials, b * trial, 1).requesting(cells * trial),
                Traffic::read(Region::Input, epochs * rows * f, input_passes)
                    .requesting(cells * epochs * f),
            ];
            if segments > 0 {
                t.push(Traffic::read(Region::Segments, segments, 1).requesting(cells * lookup));
            }
            let (reads, writes) = state_traffic(stage);
            t.extend(reads.into_iter().map(|r| Traffic::read(r, cells * f, 1)));
            t.extend(writes.into_iter().map(|r| Traffic::write(r, cells * f)));
            t
        };
        // The stage point: x at a step's first stage, y at the later rk4 ones.
        let stage_point = |stage: Stage| {
            if matches!(stage, Stage::Rk4(2..=4)) {
                Region::StagePoint
            } else {
                Region::State
            }
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
                    .flat_map(|(slot, &(row0, rows))| {
                        let np = u64::from(g.n_pad());
                        let r = u64::from(rows);
                        let (kernel, row_groups, tiles, operand) = match g.batch_shape() {
                            // Each row tile stages the operands of its trials once.
                            Some(s) => {
                                let groups = rows.div_ceil(s.rows());
                                let tiles = g.batch.div_ceil(s.trials());
                                let operand = u64::from(groups) * b * np * f;
                                (Kernel::DenseBatch, groups, tiles, operand)
                            }
                            // Each row slot's threads read the operands of the
                            // tile's trials (a thread's stacked rows share its
                            // loads); stacked rows take one trial per tile.
                            None => {
                                let groups = rows.div_ceil(row_shape.rows);
                                let slots = u64::from(rows.div_ceil(row_shape.stack));
                                let (kernel, tiles) = if row_shape.stack > 1 {
                                    (Kernel::DenseStacked, g.batch)
                                } else {
                                    let tiles = g.batch.div_ceil(super::kernels::DENSE_TILE);
                                    (Kernel::DenseRow, tiles)
                                };
                                (kernel, groups, tiles, slots * b * np * f)
                            }
                        };
                        let (gx, gz) = g.grid(row_groups);
                        let weights = if *generated { 0 } else { r * np * f };
                        let mut traffic = vec![
                            Traffic::read(Region::Weights, weights, u64::from(tiles)),
                            Traffic::read(Region::Operand, b * np * f, u64::from(row_groups))
                                .requesting(operand),
                        ];
                        let split = g.batch_shape().map_or(1, |s| s.split);
                        if split == 1 {
                            traffic.push(Traffic::write(Region::Operand, b * r * f));
                            traffic.extend(update(stage, r, u64::from(tiles)));
                            return vec![Dispatch {
                                kernel,
                                slot,
                                row0,
                                rows,
                                workgroups: [gx, tiles, gz],
                                traffic,
                            }];
                        }
                        // Split columns: each span's workgroups store their
                        // sums; the finish adds them and updates.
                        let sums = u64::from(split) * b * r * f;
                        traffic.push(Traffic::write(Region::Partials, sums));
                        let (fx, fy) =
                            g.grid((rows * g.batch).div_ceil(super::kernels::BatchShape::THREADS));
                        let mut finish = vec![
                            Traffic::read(Region::Partials, sums, 1),
                            Traffic::write(Region::Operand, b * r * f),
                        ];
                        finish.extend(update(stage, r, 1));
                        vec![
                            Dispatch {
                                kernel,
                                slot,
                                row0,
                                rows,
                                workgroups: [gx, tiles * split, gz],
                                traffic,
                            },
                            Dispatch {
                                kernel: Kernel::DenseBatchFinish,
                                slot,
                                row0,
                                rows,
                                workgroups: [fx, fy, 1],
                                traffic: finish,
                            },
                        ]
                    })
                    .collect(),
                &OperatorShape::Sparse {
                    nnz,
                    heavy,
                    lanes,
                    terms,
                    factor_rows,
                    factor_columns,
                } => {
                    // Workgroups: one per heavy row, then rows of `lanes`
                    // lanes; each of a workgroup's trial groups a tile of
                    // DENSE_TILE trials, the batch's `tiles` taken in
                    // chunks of `groups` tiles by the same workgroup (the
                    // row re-read from cache: one pass over memory).
                    let tile = super::kernels::DENSE_TILE;
                    let groups = g.sparse_groups(lanes);
                    let per_wg = super::kernels::SPARSE_THREADS / (lanes * groups);
                    let light = g.n - heavy;
                    let x = heavy + light.div_ceil(per_wg);
                    let tiles = g.batch.div_ceil(tile);
                    let (gx, gz) = g.grid(x);
                    // Threads looking a row up: its lanes in each group with a tile.
                    let readers = u64::from(tiles.min(groups))
                        * (u64::from(heavy) * u64::from(super::kernels::SPARSE_THREADS / groups)
                            + u64::from(light) * u64::from(lanes));
                    let reread = u64::from(tiles) * nnz * f;
                    let mut traffic = vec![
                        Traffic::read(Region::RowList, n * f, 1).requesting(readers * f),
                        Traffic::read(Region::RowPlaces, (n + 1) * f, 1)
                            .requesting(2 * readers * f),
                        Traffic::read(Region::Columns, nnz * f, 1).requesting(reread),
                        Traffic::read(Region::Values, nnz * f, 1).requesting(reread),
                        // Each entry gathers its column's vec4 for every trial.
                        Traffic::read(Region::Operand, b * u64::from(g.n_pad()) * f, 1)
                            .requesting(16 * nnz * b),
                        Traffic::write(Region::Operand, b * n * f),
                    ];
                    traffic.extend(update(stage, n, 1));
                    let mut dispatches = Vec::new();
                    if terms > 0 {
                        let (step, project) = super::traffic::factor_traffic(
                            b,
                            n,
                            u64::from(terms),
                            (factor_rows, factor_columns),
                            u64::from(g.n_pad()),
                        );
                        traffic.extend(step);
                        let (px, pz) = g.grid(terms * g.batch);
                        dispatches.push(Dispatch {
                            kernel: Kernel::FactorProject,
                            slot: 0,
                            row0: 0,
                            rows: g.n,
                            workgroups: [px, 1, pz],
                            traffic: project,
                        });
                    }
                    dispatches.push(Dispatch {
                        kernel: Kernel::SparseStep,
                        slot: 0,
                        row0: 0,
                        rows: g.n,
                        workgroups: [gx, 1, gz],
                        traffic,
                    });
                    dispatches
                }
                &OperatorShape::Convolution { side, terms } => {
                    let (gx, gy) = g.grid(g.n.div_ceil(super::kernels::CONVOLUTION_WORKGROUP));
                    let (t, side) = (u64::from(terms), u64::from(side));
                    let cells = b * n;
                    // Even and odd taps; with a velocity the odd row passes
                    // are read too (counted here: the upper bound).
                    let turned = 1 + u64::from(g.turned_pairs > 0);
                    // Every neuron reads its row's (or column's) taps.
                    let taps = Traffic::read(Region::TableV, 2 * t * side * f, b)
                        .requesting(cells * turned * t * side * f);
                    let passes = 2 * t;
                    // The row pass's operand: staged a row tile per
                    // workgroup (a side that is a multiple of the
                    // workgroup), a neuron per thread (a side that divides
                    // it), else read by each neuron for its whole row.
                    let w = super::kernels::CONVOLUTION_WORKGROUP;
                    let staged = g.convolution_staged();
                    let row_operand = if staged && side % u64::from(w) == 0 {
                        b * (n / u64::from(w)) * side * f
                    } else if staged && u64::from(w) % side == 0 {
                        cells * f
                    } else {
                        cells * side * f
                    };
                    let rows = Dispatch {
                        kernel: Kernel::ConvRows,
                        slot: 0,
                        row0: 0,
                        rows: g.n,
                        workgroups: [gx, gy, g.batch],
                        // A row's entries are read again by the row's own
                        // workgroups (from cache): once, but requested as
                        // above. A
                        // column's are read by `side` workgroups apart:
                        // once per pass where the row passes exceed the
                        // cache.
                        traffic: vec![
                            Traffic::read(stage_point(stage), b * n * f, 1).requesting(row_operand),
                            taps,
                            Traffic::write(Region::Projections, b * passes * n * f),
                        ],
                    };
                    // The column pass in square blocks of neurons (a side
                    // that is a multiple of the block's): each row pass
                    // element is loaded once per block, by side / block
                    // blocks; else by each of the side neurons of its
                    // column.
                    let square = u64::from(super::kernels::CONVOLUTION_BLOCK);
                    let block = if staged && side % square == 0 {
                        square
                    } else {
                        1
                    };
                    let mut traffic = vec![
                        Traffic::read(Region::Projections, b * passes * n * f, side / block)
                            .requesting(cells * turned * t * side / block * f),
                        taps,
                        Traffic::read(Region::Coef, t * f, 1).requesting(cells * t * f),
                    ];
                    traffic.extend(update(stage, n, b));
                    traffic.retain(|t| t.requested > 0);
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
                &OperatorShape::Structured {
                    rank,
                    separate_u,
                    diag,
                    unit_row0,
                    packed,
                } => {
                    let r = u64::from(rank);
                    let cells = b * n;
                    let stored = g.op.stored_rows();
                    let unit = u64::from(unit_row0);
                    let row = g.op.row_bytes(n);
                    let groups = g.projection_groups();
                    let (gx, gy) = g.grid(groups);
                    let partials = |rows: u64| b * rows * u64::from(groups) * f;
                    let bits = |binding| if packed { BITS_BINDING } else { binding };
                    // Every (neuron, trial) reads a row's value (a word of
                    // bits when packed) of each row it uses.
                    let table = |region: Region, rows: u64, read_rows: u64, passes: u64| {
                        Traffic::read(region, rows * row, passes)
                            .requesting(read_rows * cells * f)
                            .through(bits(region.binding(false)))
                    };
                    // Rows 0..3 of V are read by the step (U's own when
                    // U = V: kept in registers), rows 4.. by project_rest.
                    let first = r.min(4);
                    let turned = u64::from(g.turned_pairs);
                    let mut traffic = if packed && g.by_pattern {
                        // The words staged once per trial, and each set of
                        // STRUCTURED_WORKGROUP neurons reads every
                        // projection (a turned pair's partner too) for its
                        // signed sums.
                        let sets = n.div_ceil(u64::from(super::kernels::STRUCTURED_WORKGROUP));
                        vec![
                            Traffic::read(Region::TableU, stored * row, b).through(BITS_BINDING),
                            Traffic::read(Region::Projections, b * r * f, 1)
                                .requesting(b * sets * (r + 2 * turned) * f),
                        ]
                    } else {
                        vec![
                            table(Region::TableU, stored, stored, b),
                            // Each neuron reads every projection, and a
                            // turned pair's partner too.
                            Traffic::read(Region::Projections, b * r * f, 1)
                                .requesting(cells * (r + 2 * turned) * f),
                        ]
                    };
                    traffic.extend(update(stage, n, b));
                    if separate_u {
                        let read = first - unit.min(first);
                        traffic.push(table(Region::TableV, first, read, b));
                    }
                    if diag {
                        traffic.push(Traffic::read(Region::Diag, n * f, b));
                        // d_i times the operand of the stage point.
                        traffic.push(
                            Traffic::again(stage_point(stage), cells * f)
                                .through(stage_point(stage).binding(false)),
                        );
                    }
                    if r > 0 {
                        traffic.push(Traffic::write(Region::Partials, partials(first)));
                    }
                    traffic.retain(|t| t.requested > 0);
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
                    // V as the projection pass reads it (binding 7, or the bits).
                    let v_region = if separate_u {
                        Region::TableV
                    } else {
                        Region::TableU
                    };
                    let v = |rows: u64, read_rows: u64| {
                        table(v_region, rows, read_rows, b).through(bits(7))
                    };
                    if r > 4 {
                        // The point the update wrote: x after the last
                        // stage, y before; each block of 4 rows reads it.
                        let point = if stage.is_last() {
                            Region::State
                        } else {
                            Region::StagePoint
                        };
                        if packed && g.by_pattern {
                            // A thread per pattern: each word read once per
                            // trial, the operands once per pattern group.
                            let pattern_groups =
                                (rank - 4).div_ceil(super::kernels::STRUCTURED_WORKGROUP);
                            let (x, y) = g.grid(groups * pattern_groups);
                            list.push(Dispatch {
                                kernel: Kernel::PackedProject,
                                slot: 0,
                                row0: 0,
                                rows: g.n,
                                workgroups: [x, y, g.batch],
                                traffic: vec![
                                    Traffic::read(v_region, (r - 4) * row, b).through(BITS_BINDING),
                                    Traffic::read(point, b * n * f, u64::from(pattern_groups)),
                                    Traffic::write(Region::Partials, partials(r - 4)),
                                ],
                            });
                        } else {
                            let blocks = (rank - 4).div_ceil(4);
                            list.push(Dispatch {
                                kernel: Kernel::ProjectRest,
                                slot: 0,
                                row0: 0,
                                rows: g.n,
                                workgroups: {
                                    let (x, y) = g.grid(groups * blocks);
                                    [x, y, g.batch]
                                },
                                traffic: vec![
                                    v(r - 4, r - 4),
                                    Traffic::read(point, b * n * f, u64::from(blocks)),
                                    Traffic::write(Region::Partials, partials(r - 4)),
                                ],
                            });
                        }
                    }
                    let (fx, fy) = g.grid(rank);
                    let finish = Dispatch {
                        kernel: Kernel::ProjectFinish,
                        slot: 0,
                        row0: 0,
                        rows: g.n,
                        workgroups: [fx, fy, g.batch],
                        traffic: vec![
                            Traffic::read(Region::Partials, partials(r), 1),
                            Traffic::read(Region::Coef, r * f, b),
                            Traffic::write(Region::Projections, b * r * f),
                        ],
                    };
                    if prologue.is_empty() {
                        let blocks = rank.div_ceil(4);
                        prologue = vec![
                            Dispatch {
                                kernel: Kernel::ProjectPartial,
                                slot: 0,
                                row0: 0,
                                rows: g.n,
                                workgroups: {
                                    let (x, y) = g.grid(groups * blocks);
                                    [x, y, g.batch]
                                },
                                traffic: vec![
                                    Traffic::read(Region::State, b * n * f, u64::from(blocks)),
                                    v(stored, stored),
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
                .through(table_binding(&g.op)),
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
                kernel: Kernel::MetricPartial,
                slot: 0,
                row0: 0,
                rows: g.n,
                workgroups: [px, py, g.batch],
                traffic: partial,
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
