//! Shader modules, bind group layouts and compute pipelines, compiled once
//! per backend and kept by kernel family and shape: the runs of a sweep's
//! batches reuse them instead of compiling WGSL again.

use super::context::GpuContext;
use super::kernels::{self, Family, Kernel};
use crate::error::Result;
use std::collections::HashMap;

/// What a set of pipelines is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PipelineKey {
    /// `dense_step` with its override constants (threads per workgroup,
    /// rows per workgroup, rows per thread).
    Dense {
        /// `DENSE_WORKGROUP`, `DENSE_ROWS`, `DENSE_STACK`.
        shape: kernels::DenseShape,
        /// The weights it generates (`RANDOM` and its parameters), if any.
        generated: Option<Generated>,
        /// `dense_stacked` sums its slots with subgroup operations (built
        /// from [`kernels::DENSE_SUBGROUP_SOURCE`]).
        subgroups: bool,
    },
    /// `dense_batch` of a batch shape (and `dense_batch_finish` when its
    /// columns are split).
    DenseBatch(kernels::BatchShape),
    /// `sparse_step` with its override constants.
    Sparse {
        /// Lanes per light row (`SPARSE_LANES`).
        lanes: u32,
        /// Trial tiles per workgroup (`SPARSE_GROUPS`).
        groups: u32,
        /// Heavy rows, a workgroup each (`SPARSE_HEAVY`).
        heavy: u32,
        /// The lanes' sums by subgroup shuffles in subgroups of this width
        /// (`SPARSE_SUBGROUP`, built from
        /// [`kernels::DENSE_SUBGROUP_SOURCE`]); 0: by the tree.
        subgroup: u32,
    },
    /// `project_partial`, `project_finish`, `structured_step`,
    /// `project_rest` (their workgroup sums with subgroup operations when
    /// `subgroups`), and the convolution passes `conv_rows`, `conv_step`.
    Structured {
        /// Built from [`kernels::STRUCTURED_SUBGROUP_SOURCE`].
        subgroups: bool,
        /// The table is bit-packed patterns (`PACKED`), with this many
        /// blocks of 32 units per binding (`PACKED_WORDS`).
        packed: Option<u32>,
        /// The convolution passes stage the operand and the row passes in
        /// workgroup memory (`CONVOLUTION_STAGED`).
        staged: bool,
    },
    /// `metric_partial`, `metric_finish`.
    Metrics {
        /// The metric table is bit-packed patterns, as for `Structured`.
        packed: Option<u32>,
    },
    /// `read_probe`, `flops_probe`: what the GPU can do (`attractor bench`).
    Probe,
}

/// The parameters of generated `random` weights, as `dense_step`'s
/// override constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Generated {
    /// The seed of J and of the connections.
    pub seed: u64,
    /// g / sqrt(p N), as f32 bits.
    pub scale: u32,
    /// p, as f32 bits.
    pub sparsity: u32,
}

impl PipelineKey {
    /// The bind group layout these pipelines use.
    pub fn family(self) -> Family {
        match self {
            PipelineKey::Dense { .. } | PipelineKey::DenseBatch(_) | PipelineKey::Sparse { .. } => {
                Family::Dense
            }
            PipelineKey::Structured { .. } => Family::Structured,
            PipelineKey::Metrics { .. } => Family::Metrics,
            PipelineKey::Probe => Family::Probe,
        }
    }

    /// The kernels compiled for this key, in the order [`Pipelines::get`]
    /// returns them (each by its entry point, [`Kernel::entry_point`]).
    pub fn kernels(self) -> &'static [Kernel] {
        self.module().2
    }

    /// The WGSL module these pipelines are built from.
    pub fn source(self) -> &'static str {
        self.module().1
    }

    fn module(self) -> (&'static str, &'static str, &'static [Kernel]) {
        match self {
            PipelineKey::Dense {
                shape, subgroups, ..
            } => (
                "dense.wgsl",
                if subgroups {
                    kernels::DENSE_SUBGROUP_SOURCE.as_str()
                } else {
                    kernels::DENSE_SOURCE.as_str()
                },
                if shape.stack > 1 {
                    &[Kernel::DenseStacked]
                } else {
                    &[Kernel::DenseRow]
                },
            ),
            PipelineKey::Sparse { subgroup, .. } => (
                "sparse.wgsl",
                if subgroup > 0 {
                    kernels::DENSE_SUBGROUP_SOURCE.as_str()
                } else {
                    kernels::DENSE_SOURCE.as_str()
                },
                &[Kernel::SparseStep, Kernel::FactorProject],
            ),
            PipelineKey::DenseBatch(shape) => (
                "dense_batch.wgsl",
                kernels::dense_batch_source(shape),
                if shape.split > 1 {
                    &[Kernel::DenseBatch, Kernel::DenseBatchFinish]
                } else {
                    &[Kernel::DenseBatch]
                },
            ),
            PipelineKey::Structured { subgroups, .. } => (
                "structured.wgsl",
                if subgroups {
                    kernels::STRUCTURED_SUBGROUP_SOURCE.as_str()
                } else {
                    kernels::STRUCTURED_SOURCE.as_str()
                },
                &[
                    Kernel::ProjectPartial,
                    Kernel::ProjectFinish,
                    Kernel::StructuredStep,
                    Kernel::ProjectRest,
                    Kernel::PackedProject,
                    Kernel::ConvRows,
                    Kernel::ConvStep,
                ],
            ),
            PipelineKey::Metrics { .. } => (
                "metrics.wgsl",
                kernels::METRICS_SOURCE.as_str(),
                &[Kernel::MetricPartial, Kernel::MetricFinish],
            ),
            PipelineKey::Probe => (
                "probe.wgsl",
                kernels::PROBE_SOURCE.as_str(),
                &[Kernel::ReadProbe, Kernel::FlopsProbe],
            ),
        }
    }
}

/// The cache: layouts by family, pipelines (in entry-point order) by key.
#[derive(Default)]
pub struct Pipelines {
    layouts: HashMap<Family, wgpu::BindGroupLayout>,
    compiled: HashMap<(PipelineKey, bool), Vec<wgpu::ComputePipeline>>,
    builds: usize,
}

impl Pipelines {
    /// The bind group layout of `family`, made on first use.
    pub fn layout(&mut self, ctx: &GpuContext, family: Family) -> wgpu::BindGroupLayout {
        self.layouts
            .entry(family)
            .or_insert_with(|| kernels::layout(&ctx.device, family))
            .clone()
    }

    /// The pipelines of `key` (one per entry point, in order), compiled on
    /// first use inside an error scope; with `counting`, the counting build
    /// (every load and store adds its bytes to its binding's counter).
    pub fn get(
        &mut self,
        ctx: &GpuContext,
        key: PipelineKey,
        counting: bool,
    ) -> Result<Vec<wgpu::ComputePipeline>> {
        if let Some(p) = self.compiled.get(&(key, counting)) {
            return Ok(p.clone());
        }
        let layout = self.layout(ctx, key.family());
        let (label, source, entries) = key.module();
        let constants: Vec<(&str, f64)> = match key {
            PipelineKey::Dense {
                shape, generated, ..
            } => {
                let mut c = vec![
                    ("DENSE_WORKGROUP", f64::from(shape.workgroup)),
                    ("DENSE_ROWS", f64::from(shape.rows)),
                    ("DENSE_STACK", f64::from(shape.stack)),
                ];
                if let Some(g) = generated {
                    c.extend([
                        ("RANDOM", 1.0),
                        ("RANDOM_SEED_LO", f64::from(g.seed as u32)),
                        ("RANDOM_SEED_HI", f64::from((g.seed >> 32) as u32)),
                        ("RANDOM_SCALE", f64::from(f32::from_bits(g.scale))),
                        ("RANDOM_SPARSITY", f64::from(f32::from_bits(g.sparsity))),
                    ]);
                }
                c
            }
            PipelineKey::DenseBatch(shape) => vec![("DB_SPLIT", f64::from(shape.split))],
            PipelineKey::Sparse {
                lanes,
                groups,
                heavy,
                subgroup,
            } => vec![
                ("SPARSE_LANES", f64::from(lanes)),
                ("SPARSE_GROUPS", f64::from(groups)),
                ("SPARSE_HEAVY", f64::from(heavy)),
                ("SPARSE_SUBGROUP", f64::from(subgroup)),
            ],
            PipelineKey::Structured { packed, staged, .. } => {
                let mut c = vec![("CONVOLUTION_STAGED", f64::from(u8::from(staged)))];
                if let Some(words) = packed {
                    c.extend([("PACKED", 1.0), ("PACKED_WORDS", f64::from(words))]);
                }
                c
            }
            PipelineKey::Metrics {
                packed: Some(words),
            } => vec![("PACKED", 1.0), ("PACKED_WORDS", f64::from(words))],
            PipelineKey::Metrics { packed: None } | PipelineKey::Probe => Vec::new(),
        };
        let mut constants = constants;
        if counting {
            constants.push(("COUNTING", 1.0));
        }
        let pipelines = ctx.scoped(
            &format!("building the compute pipelines of {label}"),
            || {
                let module = ctx
                    .device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(label),
                        source: wgpu::ShaderSource::Wgsl(source.into()),
                    });
                let pl = ctx
                    .device
                    .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some(label),
                        bind_group_layouts: &[Some(&layout)],
                        immediate_size: 0,
                    });
                entries
                    .iter()
                    .map(|k| {
                        ctx.device
                            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                                label: Some(k.entry_point()),
                                layout: Some(&pl),
                                module: &module,
                                entry_point: Some(k.entry_point()),
                                compilation_options: wgpu::PipelineCompilationOptions {
                                    constants: &constants,
                                    ..Default::default()
                                },
                                cache: None,
                            })
                    })
                    .collect::<Vec<_>>()
            },
        )?;
        self.builds += 1;
        self.compiled.insert((key, counting), pipelines.clone());
        Ok(pipelines)
    }

    /// How many sets of pipelines were compiled so far (one per key used).
    pub fn builds(&self) -> usize {
        self.builds
    }
}
