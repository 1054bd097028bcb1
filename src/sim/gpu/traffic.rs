//! The bytes one dispatch moves in one buffer region ([`Traffic`]): the
//! distinct bytes, the passes its grid makes over them, the binding they
//! go through and the bytes its loads or stores request, cached or not
//! (see [`super::schedule`]), and a dispatch's traffic ([`Dispatch`]).

use super::kernels::Kernel;
use crate::model::Stage;

/// The largest region counted once however many passes read it: 4 MiB,
/// less than the L2 cache of every GPU this engine targets (an H100 has
/// 50 MB).
pub const CACHE_BYTES: u64 = 4 << 20;

/// The bindings of the weights: M or the table V (7), the diagonal (9),
/// the table U (15), the packed bits (16: the counting build counts every
/// bit binding there), sparse M's row places, columns, values and row list
/// (27 to 30), its factored terms and their numbers (32, 33).
pub const WEIGHT_BINDINGS: [u32; 10] = [7, 9, 15, 16, 27, 28, 29, 30, 32, 33];

/// The binding the counting build counts every packed bit binding under.
pub const BITS_BINDING: u32 = 16;

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
    /// Sparse M's row places.
    RowPlaces,
    /// Sparse M's columns.
    Columns,
    /// Sparse M's values.
    Values,
    /// Sparse M's rows in the order its kernel takes them.
    RowList,
    /// The populations' segment table.
    Segments,
    /// Sparse M's factored terms (their rows, columns, offsets and
    /// coefficients).
    FactorTerms,
}

impl Region {
    /// The binding (`@binding` in the shaders) its reads (`write` false)
    /// or writes go through, where a dispatch does not say otherwise.
    pub fn binding(self, write: bool) -> u32 {
        match self {
            Region::Operand if write => 2,
            Region::Operand => 1,
            Region::State => 3,
            Region::StagePoint => 4,
            Region::Accumulator => 5,
            Region::Input => 6,
            Region::Weights | Region::TableV => 7,
            Region::Projections => 8,
            Region::Diag => 9,
            Region::Partials => 10,
            Region::Coef => 11,
            Region::Trials => 13,
            Region::MetricSums => 14,
            Region::TableU => 15,
            Region::RowPlaces => 27,
            Region::Columns => 28,
            Region::Values => 29,
            Region::RowList => 30,
            Region::Segments => 31,
            Region::FactorTerms => 32,
        }
    }
}

/// The bytes one dispatch moves in one region.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Traffic {
    /// The region.
    pub region: Region,
    /// The binding its loads or stores go through.
    pub binding: u32,
    /// Distinct bytes read or written.
    pub bytes: u64,
    /// Independent passes the grid makes over them (reads).
    pub passes: u64,
    /// Written rather than read.
    pub write: bool,
    /// Bytes its loads or stores request over the whole grid, from cache
    /// or not (what the counting build counts).
    pub requested: u64,
}

impl Traffic {
    /// Reads of `bytes` distinct bytes by `passes` passes, each reading
    /// them once.
    pub(super) fn read(region: Region, bytes: u64, passes: u64) -> Self {
        let passes = passes.max(1);
        Traffic {
            region,
            binding: region.binding(false),
            bytes,
            passes,
            write: false,
            requested: bytes * passes,
        }
    }

    /// Writes of `bytes` distinct bytes, each once.
    pub(super) fn write(region: Region, bytes: u64) -> Self {
        Traffic {
            region,
            binding: region.binding(true),
            bytes,
            passes: 1,
            write: true,
            requested: bytes,
        }
    }

    /// Reads of bytes another traffic of the dispatch already reads, by
    /// the same threads (from cache): `requested` bytes, none new.
    pub(super) fn again(region: Region, requested: u64) -> Self {
        Traffic {
            requested,
            ..Traffic::read(region, 0, 1)
        }
    }

    /// The same, with `requested` bytes requested in all.
    pub(super) fn requesting(self, requested: u64) -> Self {
        Traffic { requested, ..self }
    }

    /// The same, through `binding`.
    pub(super) fn through(self, binding: u32) -> Self {
        Traffic { binding, ..self }
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

/// The traffic of sparse M's `t` factored terms (`rows` and `columns` of
/// them in all) for `b` trials of `n` neurons: (what `sparse_step` adds,
/// `factor_project`'s). Each (row, trial) of the step reads every term's
/// rows, and where they hold it u_at, u_i and the projection; the
/// projection pass has a workgroup per (term, trial), each thread loading
/// the term, and reads every column's v and operand once per trial.
pub(super) fn factor_traffic(
    b: u64,
    n: u64,
    t: u64,
    (rows, columns): (u64, u64),
    n_pad: u64,
) -> (Vec<Traffic>, Vec<Traffic>) {
    let f = 4;
    let threads = u64::from(super::kernels::SPARSE_THREADS);
    let term = u64::from(super::kernels::bytes_of::<super::kernels::FactorTerm>());
    (
        vec![
            Traffic::read(Region::FactorTerms, term * t, 1)
                .requesting(b * n * t * 8 + b * rows * f),
            Traffic::read(Region::TableU, rows * f, 1)
                .through(33)
                .requesting(b * rows * f),
            Traffic::read(Region::Projections, b * t * f, 1)
                .through(34)
                .requesting(b * rows * f),
        ],
        vec![
            Traffic::read(Region::FactorTerms, term * t, 1).requesting(b * t * threads * term),
            Traffic::read(Region::TableV, columns * f, 1)
                .through(33)
                .requesting(b * columns * f),
            Traffic::read(Region::Operand, b * n_pad * f, 1).requesting(16 * b * columns),
            Traffic::write(Region::Projections, b * t * f).through(34),
        ],
    )
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

/// The stage point: x at a step's first stage, y at the later rk4 ones.
pub fn stage_point(stage: Stage) -> Region {
    if matches!(stage, Stage::Rk4(2..=4)) {
        Region::StagePoint
    } else {
        Region::State
    }
}
