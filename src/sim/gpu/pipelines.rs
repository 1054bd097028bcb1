//! Shader modules, bind group layouts and compute pipelines, compiled once
//! per backend and kept by key ([`PipelineKey`]): the runs of a sweep's
//! batches reuse them instead of compiling WGSL again.

use super::context::GpuContext;
use super::kernels::{self, Family, Kernel};
use crate::error::Result;
use std::collections::HashMap;

/// What a set of pipelines is compiled for: a WGSL module, the kernels
/// (entry points) built from it, their bind group layout's family and
/// their override constants. Each kernel family makes its own keys (in its
/// file of `operator/`); the record's metrics and the probes have theirs
/// here ([`PipelineKey::metrics`], [`PipelineKey::probe`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PipelineKey {
    /// The module's name, for messages ("dense.wgsl").
    label: &'static str,
    /// The WGSL module.
    source: &'static str,
    /// The kernels compiled, in the order [`Pipelines::get`] returns them.
    kernels: &'static [Kernel],
    /// The bind group layout they use.
    family: Family,
    /// The override constants, each value as its f64's bits.
    constants: Vec<(&'static str, u64)>,
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
    /// The `kernels` of the module `source` (named `label`), bound with
    /// `family`'s layout, without override constants.
    pub fn new(
        label: &'static str,
        source: &'static str,
        kernels: &'static [Kernel],
        family: Family,
    ) -> Self {
        PipelineKey {
            label,
            source,
            kernels,
            family,
            constants: Vec::new(),
        }
    }

    /// The key with the override constant `name` set to `value`.
    pub fn with(mut self, name: &'static str, value: f64) -> Self {
        self.constants.push((name, value.to_bits()));
        self
    }

    /// `metric_partial`, `metric_finish`: a record's sums (the metric
    /// table bit-packed patterns with `packed` blocks of 32 units per
    /// binding, as the structured kernels read them).
    pub fn metrics(packed: Option<u32>) -> Self {
        let key = PipelineKey::new(
            "metrics.wgsl",
            kernels::METRICS_SOURCE.as_str(),
            &[Kernel::METRIC_PARTIAL, Kernel::METRIC_FINISH],
            Family::Metrics,
        );
        match packed {
            Some(words) => key
                .with("PACKED", 1.0)
                .with("PACKED_WORDS", f64::from(words)),
            None => key,
        }
    }

    /// `read_probe`, `flops_probe`: what the GPU can do (`attractor bench`).
    pub fn probe() -> Self {
        PipelineKey::new(
            "probe.wgsl",
            kernels::PROBE_SOURCE.as_str(),
            &[Kernel::READ_PROBE, Kernel::FLOPS_PROBE],
            Family::Probe,
        )
    }

    /// The bind group layout these pipelines use.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The kernels compiled for this key, in the order [`Pipelines::get`]
    /// returns them (each by its entry point, [`Kernel::entry_point`]).
    pub fn kernels(&self) -> &'static [Kernel] {
        self.kernels
    }

    /// The WGSL module these pipelines are built from.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The override constants, by name.
    pub fn constants(&self) -> Vec<(&'static str, f64)> {
        self.constants
            .iter()
            .map(|&(name, bits)| (name, f64::from_bits(bits)))
            .collect()
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
        if let Some(p) = self.compiled.get(&(key.clone(), counting)) {
            return Ok(p.clone());
        }
        let layout = self.layout(ctx, key.family());
        let (label, source, entries) = (key.label, key.source, key.kernels);
        let mut constants = key.constants();
        if counting {
            constants.push(("COUNTING", 1.0));
        }
        // The counting build: each entry point counts under its code.
        let constants_of = |k: &Kernel| {
            let mut c = constants.clone();
            if counting {
                c.push(("KERNEL", f64::from(k.code())));
            }
            c
        };
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
                        let constants = constants_of(k);
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
