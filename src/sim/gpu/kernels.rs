//! The WGSL kernels (files in `shaders/`), the parameter block they share
//! and their bind group layouts. Keep `StepParams` and the workgroup
//! constants in sync with `shaders/common.wgsl`, `dense.wgsl` and
//! `structured.wgsl`.

use bytemuck::{Pod, Zeroable};

/// Dense family: common definitions + the fused row kernel.
pub const DENSE_SOURCE: &str = concat!(
    include_str!("../../../shaders/common.wgsl"),
    "\n",
    include_str!("../../../shaders/dense.wgsl")
);

/// Structured family: common definitions + projections and per-neuron update.
pub const STRUCTURED_SOURCE: &str = concat!(
    include_str!("../../../shaders/common.wgsl"),
    "\n",
    include_str!("../../../shaders/structured.wgsl")
);

/// Metrics family: common definitions + the record's reductions.
pub const METRICS_SOURCE: &str = concat!(
    include_str!("../../../shaders/common.wgsl"),
    "\n",
    include_str!("../../../shaders/metrics.wgsl")
);

/// Every shader module the backend builds, by name (for validation).
pub const SOURCES: [(&str, &str); 3] = [
    ("dense", DENSE_SOURCE),
    ("structured", STRUCTURED_SOURCE),
    ("metrics", METRICS_SOURCE),
];

/// Most threads per workgroup of `dense_step`: a row of vec4 loads gains
/// nothing from more lanes, and 256 is what every WebGPU adapter allows.
pub const DENSE_MAX_WORKGROUP: u32 = 256;
/// Trials per workgroup of `dense_step` (`DENSE_TILE`): each M element is
/// read once per tile of trials.
pub const DENSE_TILE: u32 = 4;
/// Threads per workgroup of the structured kernels (`STRUCTURED_WORKGROUP`).
pub const STRUCTURED_WORKGROUP: u32 = 256;
/// Elements per workgroup of `project_partial` (`PROJECT_CHUNK`) and of
/// `metric_partial` (`METRIC_CHUNK`).
pub const PROJECT_CHUNK: u32 = 4096;

/// The shape of `dense_step` for N neurons on an adapter with `limits`:
/// (threads per workgroup, rows per workgroup), both powers of two, for the
/// override constants `DENSE_WORKGROUP` and `DENSE_ROWS`. The workgroup is as
/// large as the adapter allows (up to [`DENSE_MAX_WORKGROUP`], within its
/// invocation and workgroup-memory limits); each row gets enough lanes for
/// about four vec4 loads per thread (at least 32), so that short rows share
/// a workgroup instead of leaving most of its threads idle.
pub fn dense_shape(limits: &wgpu::Limits, n: usize) -> (u32, u32) {
    let cap = DENSE_MAX_WORKGROUP
        .min(limits.max_compute_workgroup_size_x)
        .min(limits.max_compute_invocations_per_workgroup)
        .min(limits.max_compute_workgroup_storage_size / (4 * DENSE_TILE))
        .max(1);
    let workgroup = 1u32 << (31 - cap.leading_zeros());
    let vec4s = n.div_ceil(4) as u32;
    let lanes = (vec4s / 4)
        .max(1)
        .next_power_of_two()
        .clamp(32.min(workgroup), workgroup);
    (workgroup, workgroup / lanes)
}

/// `stage` values of [`StepParams`].
pub mod stage {
    /// Forward Euler.
    pub const EULER: u32 = 0;
    /// Exponential Euler.
    pub const EXPONENTIAL: u32 = 1;
    /// Runge–Kutta stage s (1..=4) is `RK4 + s - 1`.
    pub const RK4: u32 = 2;
}

/// The per-dispatch parameters (`StepParams` in common.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct StepParams {
    /// N.
    pub n: u32,
    /// N rounded up to a multiple of 4.
    pub n_pad: u32,
    /// First row of the dense row block.
    pub row0: u32,
    /// Rows in the block.
    pub rows: u32,
    /// See [`stage`].
    pub stage: u32,
    /// 0 rate, 1 current.
    pub dynamics: u32,
    /// 0 linear, 1 relu, 2 tanh, 3 sigmoid, 4 clip, 5 step.
    pub act_kind: u32,
    /// beta, clip min or step threshold.
    pub act_p0: f32,
    /// Sigmoid threshold or clip max.
    pub act_p1: f32,
    /// dt / tau.
    pub a: f32,
    /// exp(-dt / tau).
    pub decay: f32,
    /// sqrt(dt / tau), the noise's scale per unit sigma.
    pub sqrt_a: f32,
    /// Step index.
    pub step: u32,
    /// Trials stepped together, B.
    pub batch: u32,
    /// Bit mask of the input epochs on during this step.
    pub epochs_on: u32,
    /// Number of input epochs.
    pub n_epochs: u32,
    /// R of a structured operator.
    pub rank: u32,
    /// 1 if diag[i] u[i] is added.
    pub has_diag: u32,
    /// Workgroups of the projection and metric passes.
    pub n_groups: u32,
    /// Table rows whose products with v are metric sums.
    pub metric_rows: u32,
    /// The first of them in the table.
    pub metric_row0: u32,
    /// K, the metric sums per trial.
    pub metric_sums: u32,
    /// Padding to 96 bytes.
    pub pad: [u32; 2],
}

/// One trial of a batch (`TrialParams` in common.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct TrialParams {
    /// Seed, low word.
    pub seed_lo: u32,
    /// Seed, high word.
    pub seed_hi: u32,
    /// Trial word of the noise counter.
    pub trial: u32,
    /// Scale of M.
    pub m_scale: f32,
    /// Scale of the input.
    pub h_scale: f32,
    /// Noise sigma of this trial.
    pub noise: f32,
    /// Padding to 32 bytes.
    pub pad: [u32; 2],
}

fn entry(binding: u32, ty: wgpu::BindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty,
        count: None,
    }
}

fn storage(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    entry(
        binding,
        wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
    )
}

/// Which bind group layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Bindings 0..=7, 12, 13.
    Dense,
    /// Also 8..=11 (projections, diagonal, partial sums, coefficients).
    Structured,
    /// Also 14 (metric sums).
    Metrics,
}

/// The bind group layout of a kernel family.
pub fn layout(device: &wgpu::Device, family: Family) -> wgpu::BindGroupLayout {
    let structured = family != Family::Dense;
    let mut entries = vec![
        entry(
            0,
            wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<StepParams>() as u64),
            },
        ),
        storage(1, true),
        storage(2, false),
        storage(3, false),
        storage(4, false),
        storage(5, false),
        storage(6, true),
        storage(7, true),
        storage(12, false),
        storage(13, true),
    ];
    if structured {
        entries.extend([
            storage(8, false),
            storage(9, true),
            storage(10, false),
            storage(11, true),
        ]);
    }
    if family == Family::Metrics {
        entries.push(storage(14, false));
    }
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(match family {
            Family::Dense => "attractor dense layout",
            Family::Structured => "attractor structured layout",
            Family::Metrics => "attractor metrics layout",
        }),
        entries: &entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_shape_fits_rows_to_lanes() {
        let limits = wgpu::Limits::default();
        // Long rows: one row per 256-thread workgroup.
        assert_eq!(dense_shape(&limits, 16384), (256, 1));
        // 512 neurons = 128 vec4s: 32 lanes per row, 8 rows per workgroup.
        assert_eq!(dense_shape(&limits, 512), (256, 8));
        assert_eq!(dense_shape(&limits, 1), (256, 8));
        // A small adapter: the workgroup shrinks to a power of two within its limits.
        let small = wgpu::Limits {
            max_compute_workgroup_size_x: 96,
            ..wgpu::Limits::downlevel_defaults()
        };
        let (wg, rows) = dense_shape(&small, 100_000);
        assert_eq!((wg, rows), (64, 1));
    }

    #[test]
    fn params_match_the_wgsl_structs() {
        // 24 and 8 four-byte fields, as the WGSL structs.
        assert_eq!(std::mem::size_of::<StepParams>(), 96);
        assert_eq!(std::mem::size_of::<TrialParams>(), 32);
    }
}
