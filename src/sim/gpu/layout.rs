//! The parameter blocks every dispatch reads (`StepParams`, `TrialParams`,
//! mirrored in shaders/common.wgsl) and the bind group layouts of the
//! kernel families. tests/shaders.rs reflects every module with naga and
//! compares its structs and bindings with these.

use bytemuck::{Pod, Zeroable};

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
    /// [`Stage::code`](crate::model::Stage::code) of this dispatch's stage.
    pub stage: u32,
    /// `DYNAMICS_RATE` or `DYNAMICS_CURRENT`
    /// ([`super::kernels::dynamics_code`]).
    pub dynamics: u32,
    /// The activation's code (its row of
    /// [`Activation::WGSL`](crate::model::Activation::WGSL)).
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
    /// Bits [`FLAG_DIAG`], [`FLAG_U_IS_V`], [`FLAG_H_UNIFORM`],
    /// [`FLAG_PACKED_STAGED`], [`FLAG_SEGMENTS`].
    pub flags: u32,
    /// Workgroups whose partial sums this dispatch writes or adds (the
    /// projection pass's, or the metric pass's at a record).
    pub n_groups: u32,
    /// Table rows whose products with v are metric sums.
    pub metric_rows: u32,
    /// The first of them in the table.
    pub metric_row0: u32,
    /// K, the metric sums per trial.
    pub metric_sums: u32,
    /// h at every neuron this step, when [`FLAG_H_UNIFORM`] is set (the
    /// input epochs' vectors are then not read).
    pub h_uniform: f32,
    /// 1 when row 0 of the structured table is all ones (never read).
    pub unit_row0: u32,
    /// The first row of the structured form's turned pairs (cos, sin).
    pub rot_first: u32,
    /// Turned pairs: rows (rot_first + 2m, rot_first + 2m + 1), m < rot_pairs.
    pub rot_pairs: u32,
    /// Moving ring profiles on at this step (in `moving`).
    pub n_moving: u32,
    /// Neurons per side of a torus (its places' (x, y) from the column and
    /// row), or 0: one angle theta_i per neuron.
    pub side: u32,
    /// tau k v of each turned pair at this step.
    pub kappa: [f32; MAX_TURNED],
    /// Moving input m: `moving[2m]` = (mode, a, b, 0) (h = a + b g or
    /// a exp(b (g - 1))) with `moving[2m + 1]` = (cos theta0(t), sin
    /// theta0(t), 0, 0); or (2, row, 0, 0), a played file's row of h.
    pub moving: [[f32; 4]; 2 * MAX_MOVING],
}

/// `StepParams.flags`: `diag[i] operand[i]` is added to the product.
pub const FLAG_DIAG: u32 = 1;
/// `StepParams.flags`: the structured U is V (one table, read once for both).
pub const FLAG_U_IS_V: u32 = 2;
/// `StepParams.flags`: h is `h_uniform` at every neuron this step.
pub const FLAG_H_UNIFORM: u32 = 4;
/// `StepParams.flags`: the update's product of packed patterns stages
/// their words and the signed sums of their projections in workgroup
/// memory (the default, with `packed_project`); unset, each neuron reads
/// its word of every pattern (with `project_rest`).
pub const FLAG_PACKED_STAGED: u32 = 8;

/// `StepParams.flags`: the network has several populations, each with its
/// own constants in the segment table (binding 31, [`Segment`]).
pub const FLAG_SEGMENTS: u32 = 16;

/// One population of a network of several, in the segment table
/// (`Segment` in common.wgsl): its neurons end at `end` (they start at the
/// previous segment's end), its dynamics, activation, step constants and
/// noise stand in for `StepParams`'s at its neurons.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Segment {
    /// One past its last neuron.
    pub end: u32,
    /// `DYNAMICS_RATE` or `DYNAMICS_CURRENT`.
    pub dynamics: u32,
    /// Its activation's code.
    pub act_kind: u32,
    /// Its activation's first parameter.
    pub act_p0: f32,
    /// Its activation's second parameter.
    pub act_p1: f32,
    /// dt / tau of its neurons.
    pub a: f32,
    /// exp(-dt / tau).
    pub decay: f32,
    /// sqrt(dt / tau).
    pub sqrt_a: f32,
    /// Its own noise sigma, or -1: the trial's.
    pub noise: f32,
}

/// One factored term of sparse M (`FactorTerm` in shaders/sparse.wgsl):
/// coef u v^T, u over `rows` rows from `row0`, v over `cols` columns from
/// `col0`, their numbers in the factor buffer from `u_at` and `v_at`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct FactorTerm {
    /// Its first row.
    pub row0: u32,
    /// Its rows.
    pub rows: u32,
    /// Its first column.
    pub col0: u32,
    /// Its columns.
    pub cols: u32,
    /// u's first number.
    pub u_at: u32,
    /// v's first number.
    pub v_at: u32,
    /// The coefficient.
    pub coef: f32,
    /// Unused (32 bytes a term).
    pub pad: u32,
}

/// Most moving input profiles on at one step on the GPU.
pub const MAX_MOVING: usize = 4;

/// Most pairs of structured rows a velocity turns on the GPU: the four
/// lanes of `StepParams.kappa`, a vec4 (a uniform array of f32 would take
/// 16 bytes a lane).
pub const MAX_TURNED: usize = 4;
const _: () = assert!(MAX_TURNED == 4, "StepParams.kappa is a vec4");

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Bindings 0..=7 (1 and 2 the operand ping-pong), 12, 13, 27..=30
    /// (sparse M) and 31 (the populations' segments); the dense and sparse
    /// kernels.
    Dense,
    /// Also 8..=11 (projections, diagonal, partial sums, coefficients) and
    /// 15 (U); the operand bindings hold one unused float.
    Structured,
    /// Also 14 (metric sums).
    Metrics,
    /// Bindings 20 (read) and 21 (written) only: the probes of
    /// shaders/probe.wgsl.
    Probe,
}

/// The bind group layout of a kernel family.
pub fn layout(device: &wgpu::Device, family: Family) -> wgpu::BindGroupLayout {
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(match family {
            Family::Dense => "attractor dense layout",
            Family::Structured => "attractor structured layout",
            Family::Metrics => "attractor metrics layout",
            Family::Probe => "attractor probe layout",
        }),
        entries: &layout_entries(family),
    })
}

/// The entries of a kernel family's bind group layout (every binding its
/// shader module declares, with the same type: a test reflects the modules
/// with naga and compares).
pub fn layout_entries(family: Family) -> Vec<wgpu::BindGroupLayoutEntry> {
    // Each family's entries extend the one before (dense, structured,
    // metrics) in the same order, so the layouts of consecutive dispatches
    // share a prefix. With structured layouts that did not (no operand
    // bindings, U where the metrics have their sums), the software adapter
    // (lavapipe) grew its memory by about 256 KiB with every metric
    // dispatch; tests/leaks.rs would see it.
    if family == Family::Probe {
        return vec![storage(20, true), storage(21, false)];
    }
    let mut entries: Vec<wgpu::BindGroupLayoutEntry> = vec![
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
        storage(26, false),
        storage(10, false),
        // Sparse M: row places, columns, values, the row list.
        storage(27, true),
        storage(28, true),
        storage(29, true),
        storage(30, true),
        // The populations' segment table.
        storage(31, true),
        // Sparse M's factored terms: the terms, their numbers, their
        // projections.
        storage(32, true),
        storage(33, true),
        storage(34, false),
    ];
    if family != Family::Dense {
        entries.extend([
            storage(8, false),
            storage(9, true),
            storage(11, true),
            storage(15, true),
            storage(16, true),
            storage(17, true),
            storage(18, true),
            storage(19, true),
            storage(22, true),
            storage(23, true),
            storage(24, true),
            storage(25, true),
        ]);
    }
    if family == Family::Metrics {
        entries.push(storage(14, false));
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_wgsl_structs() {
        // 28 four-byte fields, then vec4 kappa at a multiple of 16 (as WGSL
        // aligns it) and 8 vec4 of moving inputs; 8 fields. tests/shaders.rs
        // compares every offset with naga's layout of the WGSL structs.
        assert_eq!(std::mem::offset_of!(StepParams, kappa), 112);
        assert_eq!(std::mem::size_of::<StepParams>(), 256);
        assert_eq!(std::mem::size_of::<TrialParams>(), 32);
        assert_eq!(std::mem::size_of::<Segment>(), 36);
        assert_eq!(std::mem::size_of::<FactorTerm>(), 32);
    }
}
