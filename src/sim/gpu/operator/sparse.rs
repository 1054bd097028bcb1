//! The sparse family: M in compressed rows, `sparse_step` (rows times
//! the operands of tiles of trials, fused with the update), after
//! `factor_project` where M has factored terms.

use super::buffers::GpuOperator;
use crate::error::{Error, Result};
use crate::model::{Csr, Factors, Stage};
use crate::sim::gpu::context::{storage_buffer, storage_words, GpuContext};
use crate::sim::gpu::kernels::{self, Family, Kernel};
use crate::sim::gpu::launch::{KernelFamily, Launch, OperatorShape, PipelineChoice, WeightBuffers};
use crate::sim::gpu::layout::FactorTerm;
use crate::sim::gpu::pipelines::PipelineKey;
use crate::sim::gpu::traffic::{self, Dispatch, Region, Traffic};

impl Kernel {
    /// `sparse_step`: sparse M's rows (compressed) times the operand of up
    /// to `SPARSE_GROUPS` tiles of trials, fused with the update.
    pub const SPARSE_STEP: Kernel = Kernel::new("sparse_step", Some(kernels::SPARSE_THREADS));
    /// `factor_project`: each factored term's coef (v . operand) of each
    /// trial, before `sparse_step` adds the terms.
    pub const FACTOR_PROJECT: Kernel = Kernel::new("factor_project", Some(kernels::SPARSE_THREADS));
}

/// Sparse M in compressed rows: `sparse_step`.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseFamily {
    /// The entries.
    pub nnz: u64,
    /// Heavy rows, a workgroup each (taken first).
    pub heavy: u32,
    /// Lanes per light row ([`sparse_lanes`]).
    pub lanes: u32,
    /// Factored terms, T (`factor_project` runs before each step when
    /// there are any).
    pub terms: u32,
    /// Their rows in all (each u's length).
    pub factor_rows: u64,
    /// Their columns in all (each v's length).
    pub factor_columns: u64,
}

/// Lanes `sparse_step` gives each light row of a matrix with `mean`
/// entries a row: a thread per row below 4 entries, then a power of two
/// near half the mean, up to a subgroup of 32 for rows of 64 entries and
/// more (each lane then sums about 2 entries or more).
pub fn sparse_lanes(mean: f64) -> u32 {
    let half = (mean / 2.0).max(1.0) as u32;
    (1u32 << (31 - half.leading_zeros())).clamp(1, 32)
}

/// The subgroup width `sparse_step` sums its lanes with on an adapter
/// whose subgroups are `min` to `max` invocations wide: that width where
/// every subgroup has it (a power of two, so that a row's lanes and a
/// subgroup tile each other), else 0 (the workgroup-memory tree).
pub fn sparse_subgroup(min: u32, max: u32) -> u32 {
    if min == max && min.is_power_of_two() && min <= 256 {
        min
    } else {
        0
    }
}

/// Trial tiles of `DENSE_TILE` per `sparse_step` workgroup
/// (`SPARSE_GROUPS`) for a batch of `batch` trials: enough for the batch,
/// at most 16, and at most 256 threads with the light rows' `lanes`.
pub fn sparse_groups(batch: u32, lanes: u32) -> u32 {
    let tiles = batch.div_ceil(kernels::DENSE_TILE).max(1);
    tiles
        .next_power_of_two()
        .min(16)
        .min(kernels::SPARSE_THREADS / lanes.max(1))
}

/// `sparse_step` and `factor_project` with their override constants:
/// `lanes` per light row (`SPARSE_LANES`), `groups` trial tiles per
/// workgroup (`SPARSE_GROUPS`), `heavy` rows of a workgroup each
/// (`SPARSE_HEAVY`), and the lanes summed by subgroup shuffles in
/// subgroups of `subgroup` (`SPARSE_SUBGROUP`, built from
/// [`kernels::DENSE_SUBGROUP_SOURCE`]; 0: by the tree). The kernel is in
/// the dense module, whose bindings it shares.
pub fn pipeline(lanes: u32, groups: u32, heavy: u32, subgroup: u32) -> PipelineKey {
    PipelineKey::new(
        "sparse.wgsl",
        if subgroup > 0 {
            kernels::DENSE_SUBGROUP_SOURCE.as_str()
        } else {
            kernels::DENSE_SOURCE.as_str()
        },
        &[Kernel::SPARSE_STEP, Kernel::FACTOR_PROJECT],
        Family::Dense,
    )
    .with("SPARSE_LANES", f64::from(lanes))
    .with("SPARSE_GROUPS", f64::from(groups))
    .with("SPARSE_HEAVY", f64::from(heavy))
    .with("SPARSE_SUBGROUP", f64::from(subgroup))
}

impl KernelFamily for SparseFamily {
    /// By default one lane a light row on a software adapter, whose
    /// invocations share a few cores and pay more for a tree's barriers
    /// than extra lanes save (N = 2000, K = 100 on llvmpipe, release
    /// build: 2.0e-2 s a step with 32 lanes, 4.2e-3 with one); `lanes`
    /// where set.
    fn on(&self, device: wgpu::DeviceType, lanes: Option<u32>) -> OperatorShape {
        OperatorShape::new(SparseFamily {
            lanes: lanes.unwrap_or(if device == wgpu::DeviceType::Cpu {
                1
            } else {
                self.lanes
            }),
            ..self.clone()
        })
    }

    /// N f32s (the metrics' table of a drawn ring).
    fn row_bytes(&self, n: u64) -> u64 {
        n * 4
    }

    fn stored_rows(&self) -> u64 {
        0
    }

    fn table_binding(&self) -> u32 {
        7
    }

    /// Each entry and each factored term's v . operand and u times it.
    fn flops(&self, _n: f64) -> f64 {
        2.0 * (self.nnz + self.factor_rows + self.factor_columns) as f64
    }

    /// Its values and columns, row places and row list and every factored
    /// term's u and v.
    fn minimum_weight_bytes(&self, n: u64, _batch: u64) -> u64 {
        (2 * self.nnz + 2 * n + 1 + self.factor_rows + self.factor_columns) * 4
    }

    fn weight_buffers(&self, n: u64, _n_pad: u64, _max_binding: u64) -> WeightBuffers {
        let floats = |count: u64| 4 * count.max(1);
        // One zero term and one number when there are none.
        let t = u64::from(self.terms);
        WeightBuffers {
            buffers: vec![
                ("row places", floats(n + 1)),
                ("columns", floats(self.nnz)),
                ("values", floats(self.nnz)),
                ("row list", floats(n)),
                ("factor terms", 32 * t.max(1)),
                (
                    "factor numbers",
                    floats(self.factor_rows + self.factor_columns),
                ),
            ],
            operand: true,
            projections: 0,
            rank: 0,
        }
    }

    fn factor_terms(&self) -> u64 {
        u64::from(self.terms)
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
        self.lanes
    }

    fn pipeline(&self, c: PipelineChoice) -> (Family, PipelineKey) {
        (
            Family::Dense,
            pipeline(
                self.lanes,
                sparse_groups(c.batch, self.lanes),
                self.heavy,
                c.subgroups
                    .map_or(0, |(min, max)| sparse_subgroup(min, max)),
            ),
        )
    }

    /// `factor_project` where there are factored terms, then `sparse_step`.
    fn stage(&self, g: &Launch, stage: Stage, _prologue: &mut Vec<Dispatch>) -> Vec<Dispatch> {
        let (b, n, f) = (u64::from(g.batch), u64::from(g.n), 4u64);
        let SparseFamily {
            nnz,
            heavy,
            lanes,
            terms,
            factor_rows,
            factor_columns,
        } = *self;
        // Workgroups: one per heavy row, then rows of `lanes`
        // lanes; each of a workgroup's trial groups a tile of
        // DENSE_TILE trials, the batch's `tiles` taken in
        // chunks of `groups` tiles by the same workgroup (the
        // row re-read from cache: one pass over memory).
        let tile = kernels::DENSE_TILE;
        let groups = sparse_groups(g.batch, lanes);
        let per_wg = kernels::SPARSE_THREADS / (lanes * groups);
        let light = g.n - heavy;
        let x = heavy + light.div_ceil(per_wg);
        let tiles = g.batch.div_ceil(tile);
        let (gx, gz) = g.grid(x);
        // Threads looking a row up: its lanes in each group with a tile.
        let readers = u64::from(tiles.min(groups))
            * (u64::from(heavy) * u64::from(kernels::SPARSE_THREADS / groups)
                + u64::from(light) * u64::from(lanes));
        let reread = u64::from(tiles) * nnz * f;
        let mut traffic = vec![
            Traffic::read(Region::RowList, n * f, 1).requesting(readers * f),
            Traffic::read(Region::RowPlaces, (n + 1) * f, 1).requesting(2 * readers * f),
            Traffic::read(Region::Columns, nnz * f, 1).requesting(reread),
            Traffic::read(Region::Values, nnz * f, 1).requesting(reread),
            // Each entry gathers its column's vec4 for every trial.
            Traffic::read(Region::Operand, b * u64::from(g.n_pad()) * f, 1)
                .requesting(16 * nnz * b),
            Traffic::write(Region::Operand, b * n * f),
        ];
        traffic.extend(g.update_traffic(stage, n, 1));
        let mut dispatches = Vec::new();
        if terms > 0 {
            let (step, project) = traffic::factor_traffic(
                b,
                n,
                u64::from(terms),
                (factor_rows, factor_columns),
                u64::from(g.n_pad()),
            );
            traffic.extend(step);
            let (px, pz) = g.grid(terms * g.batch);
            dispatches.push(Dispatch {
                kernel: Kernel::FACTOR_PROJECT,
                slot: 0,
                row0: 0,
                rows: g.n,
                workgroups: [px, 1, pz],
                traffic: project,
            });
        }
        dispatches.push(Dispatch {
            kernel: Kernel::SPARSE_STEP,
            slot: 0,
            row0: 0,
            rows: g.n,
            workgroups: [gx, 1, gz],
            traffic,
        });
        dispatches
    }
}

/// The terms of `factors` as the GPU reads them: each u then v one after
/// another in the factor buffer.
pub fn factor_terms(factors: &Factors) -> Vec<FactorTerm> {
    let mut at = 0u32;
    factors
        .terms
        .iter()
        .map(|t| {
            let (nu, nv) = (t.u.len() as u32, t.v.len() as u32);
            let term = FactorTerm {
                row0: t.to as u32,
                rows: nu,
                col0: t.from as u32,
                cols: nv,
                u_at: at,
                v_at: at + nu,
                coef: t.coef as f32,
                pad: 0,
            };
            at += nu + nv;
            term
        })
        .collect()
}

/// Sparse M's buffers: its row places (N + 1), columns and values, the
/// rows in the order `sparse_step` takes them (heavy first), its factored
/// terms and their numbers (each u then v), and the metrics' table of a
/// drawn ring (`metric_table`) where there is one.
pub fn upload(
    ctx: &GpuContext,
    csr: &Csr,
    factors: &Factors,
    metric_table: Option<Vec<f64>>,
) -> Result<GpuOperator> {
    let places: Vec<u32> = csr
        .row_ptr()
        .iter()
        .map(|&p| u32::try_from(p))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            Error::invalid(
                "network.weights",
                format!("{} entries", csr.nnz()),
                "the GPU holds at most 2^32 - 1 sparse entries; use --backend cpu",
            )
        })?;
    let values: Vec<f32> = csr.values().iter().map(|&v| v as f32).collect();
    // One zero term when there are none (no empty bindings).
    let mut terms = factor_terms(factors);
    if terms.is_empty() {
        terms.push(FactorTerm::default());
    }
    let numbers: Vec<f32> = factors
        .terms
        .iter()
        .flat_map(|t| t.u.iter().chain(&t.v).map(|&x| x as f32))
        .collect();
    let bindings = vec![
        (
            27,
            storage_words(ctx, "attractor sparse row places", &places),
        ),
        (
            28,
            storage_words(ctx, "attractor sparse columns", csr.cols()),
        ),
        (29, storage_buffer(ctx, "attractor sparse values", &values)),
        (
            30,
            storage_words(ctx, "attractor sparse rows", &csr.rows_heavy_first()),
        ),
        (
            32,
            storage_words(ctx, "attractor factor terms", bytemuck::cast_slice(&terms)),
        ),
        (
            33,
            storage_buffer(ctx, "attractor factor numbers", &numbers),
        ),
    ];
    let metric = metric_table.map(|t| {
        let t: Vec<f32> = t.iter().map(|&x| x as f32).collect();
        storage_buffer(ctx, "attractor metric table", &t)
    });
    let mut buffers: Vec<wgpu::Buffer> = bindings.iter().map(|(_, b)| b.clone()).collect();
    buffers.extend(metric.iter().cloned());
    Ok(GpuOperator {
        buffers,
        tables: Vec::new(),
        bindings,
        metric,
        metric_rows: None,
        rank: 0,
        operand: true,
        packed_words: None,
        factor_terms: factors.terms.len() as u32,
        table_flags: (false, false, false),
    })
}
