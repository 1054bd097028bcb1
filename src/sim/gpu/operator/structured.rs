//! The structured family: diag(d) + sum_r coef_r U_r V_r^T (and
//! bit-packed ±1 patterns as U = V), by projections: `structured_step`
//! (the update, fused with the next operand's projections 0 to 3),
//! `project_rest` or `packed_project` for the projections 4 and up, and
//! `project_finish`.

use super::buffers::GpuOperator;
use crate::model::{PatternBits, Stage, StructuredForm};
use crate::sim::gpu::context::{storage_buffer, storage_words, GpuContext};
use crate::sim::gpu::kernels::{self, Family, Kernel};
use crate::sim::gpu::launch::{KernelFamily, Launch, OperatorShape, PipelineChoice, WeightBuffers};
use crate::sim::gpu::pipelines::PipelineKey;
use crate::sim::gpu::traffic::{stage_point, Dispatch, Region, Traffic, BITS_BINDING};

/// diag(d) + sum_r coef_r U_r V_r^T.
#[derive(Clone, Debug, PartialEq)]
pub struct StructuredFamily {
    /// R.
    pub rank: u32,
    /// U is stored apart from V.
    pub separate_u: bool,
    /// There is a diagonal.
    pub diag: bool,
    /// Row 0 of the table is all ones (the ring's uniform mode): never read.
    pub unit_row0: bool,
    /// The table is bit-packed ±1 patterns: a row is ceil(N / 32) words.
    pub packed: bool,
}

impl Kernel {
    /// `project_partial`: partial sums of the projections of the initial state.
    pub const PROJECT_PARTIAL: Kernel =
        Kernel::new("project_partial", Some(kernels::STRUCTURED_WORKGROUP));
    /// `structured_step`: the update from the projections, fused with the
    /// partial sums of the next operand's projections 0 to 3.
    pub const STRUCTURED_STEP: Kernel =
        Kernel::new("structured_step", Some(kernels::STRUCTURED_WORKGROUP));
    /// `project_rest`: partial sums of the projections 4 and up (R > 4).
    pub const PROJECT_REST: Kernel =
        Kernel::new("project_rest", Some(kernels::STRUCTURED_WORKGROUP));
    /// `packed_project`: the same for packed patterns by pattern, a thread
    /// per pattern reading its words coalesced.
    pub const PACKED_PROJECT: Kernel =
        Kernel::new("packed_project", Some(kernels::STRUCTURED_WORKGROUP));
    /// `project_finish`: the projections from their partial sums.
    pub const PROJECT_FINISH: Kernel =
        Kernel::new("project_finish", Some(kernels::STRUCTURED_WORKGROUP));
}

/// How packed patterns of N = `n` units and P = `p` patterns are split over
/// bindings of `max_binding` bytes: (blocks of 32 units in all, blocks per
/// binding).
pub fn packed_split(n: usize, p: usize, max_binding: u64) -> (usize, usize) {
    let words = crate::model::PatternBits::words(n);
    let per = ((max_binding / (p as u64 * 4).max(1)) as usize).clamp(1, words);
    (words, per)
}

/// `project_partial`, `project_finish`, `structured_step`,
/// `project_rest`, `packed_project` (their workgroup sums with subgroup
/// operations when `subgroups`: built from
/// [`kernels::STRUCTURED_SUBGROUP_SOURCE`]), and the convolution passes
/// `conv_rows`, `conv_step` (which share their bindings): the table
/// bit-packed patterns (`PACKED`) with `packed` blocks of 32 units per
/// binding (`PACKED_WORDS`), the convolution passes `staged` in workgroup
/// memory (`CONVOLUTION_STAGED`) or not.
pub fn pipeline(subgroups: bool, packed: Option<u32>, staged: bool) -> PipelineKey {
    let key = PipelineKey::new(
        "structured.wgsl",
        if subgroups {
            kernels::STRUCTURED_SUBGROUP_SOURCE.as_str()
        } else {
            kernels::STRUCTURED_SOURCE.as_str()
        },
        &[
            Kernel::PROJECT_PARTIAL,
            Kernel::PROJECT_FINISH,
            Kernel::STRUCTURED_STEP,
            Kernel::PROJECT_REST,
            Kernel::PACKED_PROJECT,
            Kernel::CONV_ROWS,
            Kernel::CONV_STEP,
        ],
        Family::Structured,
    )
    .with("CONVOLUTION_STAGED", f64::from(u8::from(staged)));
    match packed {
        Some(words) => key
            .with("PACKED", 1.0)
            .with("PACKED_WORDS", f64::from(words)),
        None => key,
    }
}

impl KernelFamily for StructuredFamily {
    fn on(&self, _device: wgpu::DeviceType, _lanes: Option<u32>) -> OperatorShape {
        OperatorShape::new(self.clone())
    }

    fn row_bytes(&self, n: u64) -> u64 {
        if self.packed {
            n.div_ceil(32) * 4
        } else {
            n * 4
        }
    }

    fn stored_rows(&self) -> u64 {
        u64::from(self.rank) - u64::from(self.unit_row0)
    }

    /// The bit planes when packed, the f32 table otherwise.
    fn table_binding(&self) -> u32 {
        if self.packed {
            BITS_BINDING
        } else {
            7
        }
    }

    /// 4NR: R projections and their expansion (P for packed patterns).
    fn flops(&self, n: f64) -> f64 {
        4.0 * f64::from(self.rank) * n
    }

    /// The table rows that are not all ones, and the diagonal.
    fn minimum_weight_bytes(&self, n: u64, _batch: u64) -> u64 {
        self.stored_rows() * (1 + u64::from(self.separate_u)) * self.row_bytes(n)
            + u64::from(self.diag) * n * 4
    }

    fn weight_buffers(&self, n: u64, _n_pad: u64, max_binding: u64) -> WeightBuffers {
        let floats = |count: u64| 4 * count.max(1);
        let r = u64::from(self.rank);
        let mut v = Vec::new();
        if self.packed {
            v.push(("V (packed)", 16));
            v.push(("coef", floats(r)));
            v.push(("diag", floats(n)));
            let (words, per) = packed_split(n as usize, self.rank as usize, max_binding);
            let mut left = words as u64;
            while left > 0 {
                let w = left.min(per as u64);
                v.push(("pattern bits", 4 * w * r));
                left -= w;
            }
        } else {
            v.push(("V", floats(r * n)));
            if self.separate_u {
                v.push(("U", floats(r * n)));
            }
            v.push(("coef", floats(r)));
            if self.diag {
                v.push(("diag", floats(n)));
            }
        }
        WeightBuffers {
            buffers: v,
            operand: false,
            projections: r,
            rank: r,
        }
    }

    fn factor_terms(&self) -> u64 {
        0
    }

    fn row_kernel_only(&self) -> bool {
        true
    }

    fn convolution(&self) -> bool {
        false
    }

    fn largest_block(&self) -> u64 {
        0
    }

    fn light_row_lanes(&self) -> u32 {
        1
    }

    /// The structured kernels (packed patterns' bits in buffers of
    /// `packed_words`).
    fn pipeline(&self, c: PipelineChoice) -> (Family, PipelineKey) {
        (
            Family::Structured,
            pipeline(c.subgroups.is_some(), c.packed_words, c.staged),
        )
    }

    /// Two dispatches per stage, `structured_step` (the update and the
    /// next operand's projections 0..3, one barrier-separated tree
    /// reduction per 4 projections) then `project_finish`; three when R >
    /// 4 (`project_rest` or `packed_project` between them for the
    /// projections 4 and up); one when R = 0. The prologue computes the
    /// initial projections.
    fn stage(&self, g: &Launch, stage: Stage, prologue: &mut Vec<Dispatch>) -> Vec<Dispatch> {
        let (b, n, f) = (u64::from(g.batch), u64::from(g.n), 4u64);
        let StructuredFamily {
            rank,
            separate_u,
            diag,
            unit_row0,
            packed,
        } = *self;
        let r = u64::from(rank);
        let cells = b * n;
        let stored = self.stored_rows();
        let unit = u64::from(unit_row0);
        let row = self.row_bytes(n);
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
            let sets = n.div_ceil(u64::from(kernels::STRUCTURED_WORKGROUP));
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
        traffic.extend(g.update_traffic(stage, n, b));
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
            kernel: Kernel::STRUCTURED_STEP,
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
        let v = |rows: u64, read_rows: u64| table(v_region, rows, read_rows, b).through(bits(7));
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
                let pattern_groups = (rank - 4).div_ceil(kernels::STRUCTURED_WORKGROUP);
                let (x, y) = g.grid(groups * pattern_groups);
                list.push(Dispatch {
                    kernel: Kernel::PACKED_PROJECT,
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
                    kernel: Kernel::PROJECT_REST,
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
            kernel: Kernel::PROJECT_FINISH,
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
            *prologue = vec![
                Dispatch {
                    kernel: Kernel::PROJECT_PARTIAL,
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
}

/// f32 copies of `v`.
pub fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// A structured form's tables exactly as the CPU operator reads them: V,
/// U where it differs, the coefficients and the diagonal.
pub fn upload(ctx: &GpuContext, form: &StructuredForm) -> GpuOperator {
    let v = storage_buffer(ctx, "attractor V", &f32s(&form.v));
    let u = form
        .u
        .as_deref()
        .map(|u| storage_buffer(ctx, "attractor U", &f32s(u)));
    let coef = storage_buffer(ctx, "attractor coef", &f32s(&form.coef));
    let diag = form
        .diag
        .as_deref()
        .map(|d| storage_buffer(ctx, "attractor diag", &f32s(d)));
    tables(
        form.rank() as u32,
        v,
        u,
        coef,
        diag,
        (form.unit_row(0), Vec::new(), 0),
        None,
    )
}

/// Packed Hebbian patterns of N units (`bits`): their bits split by
/// blocks of units over buffers of at most `max_binding` bytes (V and U
/// placeholders), coefficients 1/N and the diagonal correction -P/N.
pub fn upload_packed(ctx: &GpuContext, bits: &PatternBits, max_binding: u64) -> GpuOperator {
    let (n, p) = (bits.n(), bits.p());
    let (_, per) = packed_split(n, p, max_binding);
    let placeholder = storage_buffer(ctx, "attractor V (packed)", &[0.0; 4]);
    let coef = storage_buffer(ctx, "attractor coef", &vec![1.0 / n as f32; p]);
    let diag = storage_buffer(
        ctx,
        "attractor diag",
        &vec![(-(p as f64) / n as f64) as f32; n],
    );
    let words: Vec<wgpu::Buffer> = bits
        .data()
        .chunks(per * p)
        .map(|chunk| storage_words(ctx, "attractor pattern bits", chunk))
        .collect();
    tables(
        p as u32,
        placeholder,
        None,
        coef,
        Some(diag),
        (bits.first_all_ones(), words, per as u32),
        None,
    )
}

/// The structured kernels' buffers: R = `rank`, the table `v` (and `u`
/// where it differs), the coefficients, the diagonal, (row 0 all ones,
/// the packed bits, blocks of 32 units per bits buffer) and the metrics'
/// own table where it is not V's rows.
pub fn tables(
    rank: u32,
    v: wgpu::Buffer,
    u: Option<wgpu::Buffer>,
    coef: wgpu::Buffer,
    diag: Option<wgpu::Buffer>,
    (unit_row0, bits, bits_words): (bool, Vec<wgpu::Buffer>, u32),
    metric: Option<wgpu::Buffer>,
) -> GpuOperator {
    let mut buffers = vec![v.clone()];
    buffers.extend(u.iter().cloned());
    buffers.push(coef.clone());
    buffers.extend(diag.iter().cloned());
    buffers.extend(metric.iter().cloned());
    buffers.extend(bits.iter().cloned());
    let mut bindings = vec![(11, coef)];
    bindings.extend(diag.iter().map(|d| (9, d.clone())));
    bindings.extend(
        [16, 17, 18, 19, 22, 23, 24, 25]
            .into_iter()
            .zip(bits.iter().cloned()),
    );
    GpuOperator {
        buffers,
        table_flags: (u.is_none(), unit_row0, diag.is_some()),
        packed_words: (!bits.is_empty()).then_some(bits_words),
        tables: vec![(v.clone(), u)],
        bindings,
        metric,
        metric_rows: Some(v),
        rank,
        operand: false,
        factor_terms: 0,
    }
}
