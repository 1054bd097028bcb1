//! The dense family: M in row blocks, `dense_step` (or `dense_stacked`)
//! for a few trials and the tiled `dense_batch` for many, each fused with
//! the update; generated `random` M in the row kernels, never read.

use super::buffers::GpuOperator;
use crate::model::Stage;
use crate::sim::gpu::context::{storage_buffer, GpuContext};
use crate::sim::gpu::kernels::{self, BatchShape, DenseShape, Family, Kernel};
use crate::sim::gpu::launch::{KernelFamily, Launch, OperatorShape, PipelineChoice, WeightBuffers};
use crate::sim::gpu::pipelines::{Generated, PipelineKey};
use crate::sim::gpu::traffic::{Dispatch, Region, Traffic};

/// Dense M in row blocks (first row, rows).
#[derive(Clone, Debug, PartialEq)]
pub struct DenseFamily {
    /// The row blocks, each within one storage binding.
    pub blocks: Vec<(u32, u32)>,
    /// `dense_step`'s shape.
    pub row_shape: DenseShape,
    /// `dense_step` for every batch size (a shape was set for it, as
    /// `attractor bench --tune` does), not `dense_batch` above
    /// `DENSE_TILE` trials.
    pub row_kernel_only: bool,
    /// M is generated in the kernel (`random` weights), not read:
    /// one block, `dense_step` for every batch size, no weight bytes.
    pub generated: bool,
}

impl Kernel {
    /// `dense_step`: rows of M operand for up to `DENSE_TILE` trials, fused
    /// with the update, one row per thread (its workgroup an override).
    pub const DENSE_ROW: Kernel = Kernel::new("dense_step", None);
    /// `dense_stacked`: the same for one trial per workgroup with
    /// `DENSE_STACK` rows per thread, which share its loads of the operand
    /// (the B = 1 kernel on hardware GPUs).
    pub const DENSE_STACKED: Kernel = Kernel::new("dense_stacked", None);
    /// `dense_batch`: a tiled product of M with the batch's operands, fused
    /// with the update (or, split over the columns, the span's sums).
    pub const DENSE_BATCH: Kernel = Kernel::new("dense_batch", Some(BatchShape::THREADS));
    /// `dense_batch_finish`: the sums of a split `dense_batch` added and
    /// the update applied.
    pub const DENSE_BATCH_FINISH: Kernel =
        Kernel::new("dense_batch_finish", Some(BatchShape::THREADS));
}

/// Row blocks (first row, rows) of a dense N×N matrix, rows padded to whole
/// vec4s, each block within `max_binding` bytes.
pub fn row_blocks(n: usize, max_binding: u64) -> Vec<(u32, u32)> {
    let row_bytes = n.div_ceil(4) as u64 * 16;
    let per_block = ((max_binding / row_bytes.max(1)) as usize).clamp(1, n.max(1));
    (0..n)
        .step_by(per_block)
        .map(|r0| (r0 as u32, per_block.min(n - r0) as u32))
        .collect()
}

/// `dense_step` (`dense_stacked` where a thread takes several rows) with
/// `shape`'s override constants (threads per workgroup, rows per
/// workgroup, rows per thread) and the weights it generates (`RANDOM` and
/// its parameters), if any; `dense_stacked` sums its slots with subgroup
/// operations where `subgroups` (built from
/// [`kernels::DENSE_SUBGROUP_SOURCE`]).
pub fn row_pipeline(
    shape: DenseShape,
    generated: Option<Generated>,
    subgroups: bool,
) -> PipelineKey {
    let key = PipelineKey::new(
        "dense.wgsl",
        if subgroups {
            kernels::DENSE_SUBGROUP_SOURCE.as_str()
        } else {
            kernels::DENSE_SOURCE.as_str()
        },
        if shape.stack > 1 {
            &[Kernel::DENSE_STACKED]
        } else {
            &[Kernel::DENSE_ROW]
        },
        Family::Dense,
    )
    .with("DENSE_WORKGROUP", f64::from(shape.workgroup))
    .with("DENSE_ROWS", f64::from(shape.rows))
    .with("DENSE_STACK", f64::from(shape.stack));
    match generated {
        Some(g) => key
            .with("RANDOM", 1.0)
            .with("RANDOM_SEED_LO", f64::from(g.seed as u32))
            .with("RANDOM_SEED_HI", f64::from((g.seed >> 32) as u32))
            .with("RANDOM_SCALE", f64::from(f32::from_bits(g.scale)))
            .with("RANDOM_SPARSITY", f64::from(f32::from_bits(g.sparsity))),
        None => key,
    }
}

/// `dense_batch` of a batch shape, and `dense_batch_finish` when its
/// columns are split.
pub fn batch_pipeline(shape: BatchShape) -> PipelineKey {
    PipelineKey::new(
        "dense_batch.wgsl",
        kernels::dense_batch_source(shape),
        if shape.split > 1 {
            &[Kernel::DENSE_BATCH, Kernel::DENSE_BATCH_FINISH]
        } else {
            &[Kernel::DENSE_BATCH]
        },
        Family::Dense,
    )
    .with("DB_SPLIT", f64::from(shape.split))
}

impl KernelFamily for DenseFamily {
    fn on(&self, _device: wgpu::DeviceType, _lanes: Option<u32>) -> OperatorShape {
        OperatorShape::new(self.clone())
    }

    /// N f32s (the metrics' table, where there is one).
    fn row_bytes(&self, n: u64) -> u64 {
        n * 4
    }

    fn stored_rows(&self) -> u64 {
        0
    }

    fn table_binding(&self) -> u32 {
        7
    }

    /// 2N² (the generation of generated M is not counted).
    fn flops(&self, n: f64) -> f64 {
        2.0 * n * n
    }

    /// M, none for generated M.
    fn minimum_weight_bytes(&self, n: u64, _batch: u64) -> u64 {
        if self.generated {
            0
        } else {
            n * n * 4
        }
    }

    fn weight_buffers(&self, _n: u64, n_pad: u64, _max_binding: u64) -> WeightBuffers {
        let buffers = if self.generated {
            vec![("M (generated)", 16)]
        } else {
            self.blocks
                .iter()
                .map(|&(_, rows)| ("M block", 4 * u64::from(rows) * n_pad))
                .collect()
        };
        WeightBuffers {
            buffers,
            operand: true,
            projections: 0,
            rank: 0,
        }
    }

    fn factor_terms(&self) -> u64 {
        0
    }

    fn row_kernel_only(&self) -> bool {
        self.row_kernel_only
    }

    fn convolution(&self) -> bool {
        false
    }

    fn largest_block(&self) -> u64 {
        self.blocks
            .iter()
            .map(|&(_, r)| u64::from(r))
            .max()
            .unwrap_or(0)
    }

    fn light_row_lanes(&self) -> u32 {
        1
    }

    /// The dense batch kernel in its shape where it is used, else the row
    /// kernels (with generated M's constants; `dense_stacked`'s slots
    /// summed by subgroups where the adapter's sizes divide them).
    fn pipeline(&self, c: PipelineChoice) -> (Family, PipelineKey) {
        let row_shape = self.row_shape;
        let key = match c.batch_shape {
            Some(shape) => batch_pipeline(shape),
            None => row_pipeline(
                row_shape,
                c.generated,
                c.subgroups
                    .is_some_and(|(min, max)| kernels::dense_subgroups(row_shape, min, max)),
            ),
        };
        (Family::Dense, key)
    }

    /// One fused dispatch per row block (`dense_step` for at most
    /// `DENSE_TILE` trials, `dense_batch` for more: M read once per 256
    /// trials), and `dense_batch_finish` after it where its columns are
    /// split.
    fn stage(&self, g: &Launch, stage: Stage, _prologue: &mut Vec<Dispatch>) -> Vec<Dispatch> {
        let (b, f) = (u64::from(g.batch), 4u64);
        self.blocks
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
                        (Kernel::DENSE_BATCH, groups, tiles, operand)
                    }
                    // Each row slot's threads read the operands of the
                    // tile's trials (a thread's stacked rows share its
                    // loads); stacked rows take one trial per tile.
                    None => {
                        let groups = rows.div_ceil(self.row_shape.rows);
                        let slots = u64::from(rows.div_ceil(self.row_shape.stack));
                        let (kernel, tiles) = if self.row_shape.stack > 1 {
                            (Kernel::DENSE_STACKED, g.batch)
                        } else {
                            let tiles = g.batch.div_ceil(kernels::DENSE_TILE);
                            (Kernel::DENSE_ROW, tiles)
                        };
                        (kernel, groups, tiles, slots * b * np * f)
                    }
                };
                let (gx, gz) = g.grid(row_groups);
                let weights = if self.generated { 0 } else { r * np * f };
                let mut traffic = vec![
                    Traffic::read(Region::Weights, weights, u64::from(tiles)),
                    Traffic::read(Region::Operand, b * np * f, u64::from(row_groups))
                        .requesting(operand),
                ];
                let split = g.batch_shape().map_or(1, |s| s.split);
                if split == 1 {
                    traffic.push(Traffic::write(Region::Operand, b * r * f));
                    traffic.extend(g.update_traffic(stage, r, u64::from(tiles)));
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
                let (fx, fy) = g.grid((rows * g.batch).div_ceil(BatchShape::THREADS));
                let mut finish = vec![
                    Traffic::read(Region::Partials, sums, 1),
                    Traffic::write(Region::Operand, b * r * f),
                ];
                finish.extend(g.update_traffic(stage, r, 1));
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
                        kernel: Kernel::DENSE_BATCH_FINISH,
                        slot,
                        row0,
                        rows,
                        workgroups: [fx, fy, 1],
                        traffic: finish,
                    },
                ]
            })
            .collect()
    }
}

/// Dense M of N = `n` (`m`, row-major) as row blocks of at most
/// `max_binding` bytes, rows padded to N rounded up to 4 (vec4 loads).
pub fn upload(ctx: &GpuContext, m: &[f64], n: usize, max_binding: u64) -> GpuOperator {
    let n_pad = n.div_ceil(4) * 4;
    let blocks: Vec<wgpu::Buffer> = row_blocks(n, max_binding)
        .into_iter()
        .map(|(row0, rows)| {
            let (row0, rows) = (row0 as usize, rows as usize);
            let mut data = vec![0.0f32; rows * n_pad];
            for r in 0..rows {
                let row = &mut data[r * n_pad..r * n_pad + n];
                for (j, x) in row.iter_mut().enumerate() {
                    *x = m[(row0 + r) * n + j] as f32;
                }
            }
            storage_buffer(ctx, "attractor M block", &data)
        })
        .collect();
    rows_of(blocks)
}

/// Generated `random` M: generated in the kernel (`dense_step`
/// with `RANDOM` set), one block of every row bound to a placeholder.
pub fn upload_generated(ctx: &GpuContext) -> GpuOperator {
    rows_of(vec![storage_buffer(
        ctx,
        "attractor M (generated)",
        &[0.0; 4],
    )])
}

/// Row blocks read through the operand's ping-pong buffers.
fn rows_of(blocks: Vec<wgpu::Buffer>) -> GpuOperator {
    GpuOperator {
        buffers: blocks.clone(),
        tables: blocks.into_iter().map(|b| (b, None)).collect(),
        bindings: Vec::new(),
        metric: None,
        metric_rows: None,
        rank: 0,
        operand: true,
        packed_words: None,
        factor_terms: 0,
        table_flags: (false, false, false),
    }
}
