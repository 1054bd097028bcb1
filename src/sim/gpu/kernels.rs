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

/// Most threads per workgroup of `dense_step` on a hardware GPU: a row of
/// vec4 loads gains nothing from more lanes, and 256 is what every WebGPU
/// adapter allows.
pub const DENSE_MAX_WORKGROUP: u32 = 256;
/// Trials per workgroup of `dense_step` (`DENSE_TILE`): each M element is
/// read once per tile of trials.
pub const DENSE_TILE: u32 = 4;
/// Threads per workgroup of the structured kernels (`STRUCTURED_WORKGROUP`).
pub const STRUCTURED_WORKGROUP: u32 = 256;
/// Elements per workgroup of `project_partial` (`PROJECT_CHUNK`) and of
/// `metric_partial` (`METRIC_CHUNK`).
pub const PROJECT_CHUNK: u32 = 4096;

/// The shape of `dense_step` for N neurons on an adapter with `limits` of
/// kind `device`: (threads per workgroup, rows per workgroup), both powers
/// of two, for the override constants `DENSE_WORKGROUP` and `DENSE_ROWS`.
///
/// Hardware GPUs: the workgroup is as large as the adapter allows (up to
/// [`DENSE_MAX_WORKGROUP`], within its invocation and workgroup-memory
/// limits); each row gets enough lanes for about four vec4 loads per thread
/// (at least 32, a warp), so that short rows share a workgroup instead of
/// leaving most of its threads idle. No datacenter GPU has timed this
/// choice yet: `attractor bench --backend gpu --operator dense --tune`
/// times every shape on the adapter at hand.
///
/// Software adapters (llvmpipe, which runs a workgroup as SIMD loops on the
/// CPU, where each step of the tree reduction costs a barrier): 512 threads
/// and 16 lanes per row, as measured by `attractor bench --backend gpu
/// --operator dense --tune --n 1024 --n 2048` on llvmpipe (LLVM 15, 256
/// bits) on a 2-core AMD EPYC VM, seconds per step (B = 1):
///
/// | shape (threads x rows) | lanes/row | N = 1024 | N = 2048 |
/// |---|---|---|---|
/// | 512x32  | 16  | 3.77e-3 | 1.12e-2 |
/// | 256x16  | 16  | 4.50e-3 | 1.39e-2 |
/// | 128x8   | 16  | 5.21e-3 | 1.24e-2 |
/// | 1024x64 | 16  | 4.61e-3 | 1.46e-2 |
/// | 512x16  | 32  | 7.22e-3 | 2.01e-2 |
/// | 256x4   | 64  | 1.25e-2 | 3.94e-2 |
/// | 256x2   | 128 | 2.58e-2 | 5.45e-2 |
/// | 256x1   | 256 | 5.25e-2 | 1.08e-1 |
///
/// Fewer lanes per row won at every workgroup size (the shape the hardware
/// rule picks, 256x4 and 256x2, was 3.3 and 4.9 times slower).
pub fn dense_shape(limits: &wgpu::Limits, n: usize, device: wgpu::DeviceType) -> (u32, u32) {
    let cap = dense_workgroup_cap(limits);
    if device == wgpu::DeviceType::Cpu {
        let workgroup = cap.min(SOFTWARE_DENSE_WORKGROUP);
        return (workgroup, (workgroup / SOFTWARE_DENSE_LANES).max(1));
    }
    let workgroup = cap.min(DENSE_MAX_WORKGROUP);
    let vec4s = n.div_ceil(4) as u32;
    let lanes = (vec4s / 4)
        .max(1)
        .next_power_of_two()
        .clamp(32.min(workgroup), workgroup);
    (workgroup, workgroup / lanes)
}

/// Threads per workgroup of `dense_step` on a software adapter (measured:
/// see [`dense_shape`]).
pub const SOFTWARE_DENSE_WORKGROUP: u32 = 512;
/// Lanes per row of `dense_step` on a software adapter (measured: see
/// [`dense_shape`]).
pub const SOFTWARE_DENSE_LANES: u32 = 16;

/// The largest power-of-two workgroup `dense_step` can have on an adapter
/// with `limits` (threads, invocations and workgroup memory for the tile's
/// partial sums).
pub fn dense_workgroup_cap(limits: &wgpu::Limits) -> u32 {
    let cap = limits
        .max_compute_workgroup_size_x
        .min(limits.max_compute_invocations_per_workgroup)
        .min(limits.max_compute_workgroup_storage_size / (4 * DENSE_TILE))
        .max(1);
    1u32 << (31 - cap.leading_zeros())
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
    /// 1 if `diag[i] u[i]` is added.
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
        let gpu = wgpu::DeviceType::DiscreteGpu;
        // Long rows: one row per 256-thread workgroup.
        assert_eq!(dense_shape(&limits, 16384, gpu), (256, 1));
        // 512 neurons = 128 vec4s: 32 lanes per row, 8 rows per workgroup.
        assert_eq!(dense_shape(&limits, 512, gpu), (256, 8));
        assert_eq!(dense_shape(&limits, 1, gpu), (256, 8));
        // Software adapters: 16 lanes per row, as measured; within the
        // default limits (256 threads) the workgroup shrinks.
        let cpu = wgpu::DeviceType::Cpu;
        assert_eq!(dense_shape(&limits, 16384, cpu), (256, 16));
        let roomy = wgpu::Limits {
            max_compute_workgroup_size_x: 1024,
            max_compute_invocations_per_workgroup: 1024,
            ..limits.clone()
        };
        assert_eq!(dense_shape(&roomy, 16384, cpu), (512, 32));
        // A small adapter: the workgroup shrinks to a power of two within its limits.
        let small = wgpu::Limits {
            max_compute_workgroup_size_x: 96,
            ..wgpu::Limits::downlevel_defaults()
        };
        let (wg, rows) = dense_shape(&small, 100_000, gpu);
        assert_eq!((wg, rows), (64, 1));
    }

    #[test]
    fn params_match_the_wgsl_structs() {
        // 24 and 8 four-byte fields, as the WGSL structs.
        assert_eq!(std::mem::size_of::<StepParams>(), 96);
        assert_eq!(std::mem::size_of::<TrialParams>(), 32);
    }
}
