//! The convolution family: a Gaussian kernel on a torus, two separable
//! passes per stage (`conv_rows`, then `conv_step` fused with the
//! update), built with the structured kernels and sharing their bindings.

use super::buffers::GpuOperator;
use super::structured::f32s;
use crate::model::{GaussianKernel, Stage};
use crate::sim::gpu::context::{storage_buffer, GpuContext};
use crate::sim::gpu::kernels::{self, Family, Kernel};
use crate::sim::gpu::launch::{KernelFamily, Launch, OperatorShape, PipelineChoice, WeightBuffers};
use crate::sim::gpu::pipelines::PipelineKey;
use crate::sim::gpu::traffic::{stage_point, Dispatch, Region, Traffic};

impl Kernel {
    /// `conv_rows`: the row pass of a Gaussian kernel.
    pub const CONV_ROWS: Kernel = Kernel::new("conv_rows", Some(kernels::CONVOLUTION_WORKGROUP));
    /// `conv_step`: the column pass, fused with the update.
    pub const CONV_STEP: Kernel = Kernel::new("conv_step", Some(kernels::CONVOLUTION_WORKGROUP));
}

/// A Gaussian kernel on a torus: two separable passes per stage.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvolutionFamily {
    /// Neurons per side.
    pub side: u32,
    /// The Gaussians.
    pub terms: u32,
}

impl KernelFamily for ConvolutionFamily {
    fn on(&self, _device: wgpu::DeviceType, _lanes: Option<u32>) -> OperatorShape {
        OperatorShape::new(self.clone())
    }

    /// N f32s (the metrics' table of the torus).
    fn row_bytes(&self, n: u64) -> u64 {
        n * 4
    }

    fn stored_rows(&self) -> u64 {
        0
    }

    fn table_binding(&self) -> u32 {
        7
    }

    /// 2 side N multiply-adds per Gaussian and pass (two passes).
    fn flops(&self, n: f64) -> f64 {
        2.0 * 2.0 * f64::from(self.terms) * f64::from(self.side) * n
    }

    /// Its even taps, and its even row passes written and read.
    fn minimum_weight_bytes(&self, n: u64, batch: u64) -> u64 {
        u64::from(self.terms) * (u64::from(self.side) + 2 * batch * n) * 4
    }

    fn weight_buffers(&self, n: u64, _n_pad: u64, _max_binding: u64) -> WeightBuffers {
        let floats = |count: u64| 4 * count.max(1);
        let t = u64::from(self.terms);
        WeightBuffers {
            buffers: vec![
                ("taps", floats(2 * t * u64::from(self.side))),
                ("coef", floats(t)),
                ("metric table", floats(4 * n)),
            ],
            operand: false,
            projections: 2 * t * n,
            rank: t,
        }
    }

    fn factor_terms(&self) -> u64 {
        0
    }

    fn row_kernel_only(&self) -> bool {
        true
    }

    fn convolution(&self) -> bool {
        true
    }

    fn largest_block(&self) -> u64 {
        0
    }

    fn light_row_lanes(&self) -> u32 {
        1
    }

    /// The structured kernels, its passes `staged` or not.
    fn pipeline(&self, c: PipelineChoice) -> (Family, PipelineKey) {
        (
            Family::Structured,
            super::structured::pipeline(c.subgroups.is_some(), c.packed_words, c.staged),
        )
    }

    /// The row pass, then the column pass fused with the update.
    fn stage(&self, g: &Launch, stage: Stage, _prologue: &mut Vec<Dispatch>) -> Vec<Dispatch> {
        let (b, n, f) = (u64::from(g.batch), u64::from(g.n), 4u64);
        let ConvolutionFamily { side, terms } = *self;
        let (gx, gy) = g.grid(g.n.div_ceil(kernels::CONVOLUTION_WORKGROUP));
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
        let w = kernels::CONVOLUTION_WORKGROUP;
        let staged = g.convolution_staged();
        let row_operand = if staged && side % u64::from(w) == 0 {
            b * (n / u64::from(w)) * side * f
        } else if staged && u64::from(w) % side == 0 {
            cells * f
        } else {
            cells * side * f
        };
        let rows = Dispatch {
            kernel: Kernel::CONV_ROWS,
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
        let square = u64::from(kernels::CONVOLUTION_BLOCK);
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
        traffic.extend(g.update_traffic(stage, n, b));
        traffic.retain(|t| t.requested > 0);
        let step = Dispatch {
            kernel: Kernel::CONV_STEP,
            slot: 0,
            row0: 0,
            rows: g.n,
            workgroups: [gx, gy, g.batch],
            traffic,
        };
        vec![rows, step]
    }
}

/// A Gaussian kernel's buffers: V the even taps g_t and the odd taps h_t
/// of each Gaussian, rows of side each (g_0, h_0, g_1, h_1); coef the
/// scales c_t; and the torus's metric table (cos x, sin x, cos y, sin y).
pub fn upload(ctx: &GpuContext, k: &GaussianKernel, metric_table: &[f64]) -> GpuOperator {
    let taps: Vec<f64> = (0..k.terms.len())
        .flat_map(|t| [k.taps(t), k.odd_taps(t)].concat())
        .collect();
    let scales: Vec<f64> = (0..k.terms.len()).map(|t| k.scale(t)).collect();
    super::structured::tables(
        k.terms.len() as u32,
        storage_buffer(ctx, "attractor taps", &f32s(&taps)),
        None,
        storage_buffer(ctx, "attractor coef", &f32s(&scales)),
        None,
        (false, Vec::new(), 0),
        Some(storage_buffer(
            ctx,
            "attractor metric table",
            &f32s(metric_table),
        )),
    )
}
