//! What a batch allocates and dispatches on an adapter of given limits,
//! known without one: every buffer with its bytes (and whether a kernel
//! binds it as storage), every dispatch's grid, and the limits a case
//! would exceed (`attractor bench --plan`). The GPU memory a run needs
//! ([`super::cost`]) is the sum of these buffers, and a run refuses to
//! start when its plan exceeds the adapter's limits.

use super::kernels::{TrialParams, PACKED_BINDINGS};
use super::launch::Launch;
use super::schedule::{Kernel, Schedule};
use crate::error::{Error, Result};

/// One buffer of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// What it holds (the buffer's label without `attractor `).
    pub name: &'static str,
    /// Its bytes.
    pub bytes: u64,
    /// Whether the weights' (M, the tables, the bits, the taps).
    pub weights: bool,
    /// Whether a kernel binds it as a storage buffer.
    pub storage: bool,
}

/// The buffers of `launch` with `inputs` floats of input epochs (and
/// played rows), in the order a run creates them: the weights' (as
/// `operator::upload` makes them), then the state's (as `Buffers::new`).
/// An empty buffer holds one float (WebGPU has no empty bindings).
pub fn buffers(launch: &Launch, inputs: u64, params_bytes: u64) -> Vec<Buffer> {
    let (n, b) = (u64::from(launch.n), u64::from(launch.batch));
    let n_pad = u64::from(launch.n_pad());
    let k = u64::from(launch.metric_sums);
    let floats = |count: u64| 4 * count.max(1);
    let weight = |name, bytes| Buffer {
        name,
        bytes,
        weights: true,
        storage: true,
    };
    let m = launch.op.weight_buffers(n, n_pad, launch.max_binding);
    let mut v: Vec<Buffer> = m
        .buffers
        .iter()
        .map(|&(name, bytes)| weight(name, bytes))
        .collect();
    let (dense, proj, rank) = (m.operand, m.projections, m.rank);
    let staged = launch.stages.len() > 1;
    let partials = launch.partial_sums(rank);
    let state = |name, bytes| Buffer {
        name,
        bytes,
        weights: false,
        storage: true,
    };
    v.extend([
        state("x", floats(b * n)),
        state("y", if staged { floats(b * n) } else { 4 }),
        state("acc", if staged { floats(b * n) } else { 4 }),
        state("operand 0", if dense { floats(b * n_pad) } else { 4 }),
        state("operand 1", if dense { floats(b * n_pad) } else { 4 }),
        state("h", floats(inputs)),
        state("first_bad", 4 * b),
        state("trials", b * std::mem::size_of::<TrialParams>() as u64),
        state("projections", floats(proj * b)),
        state("partial sums", floats(partials)),
        state("metric sums", floats(k * b)),
        Buffer {
            name: "params",
            bytes: params_bytes,
            weights: false,
            storage: false,
        },
        Buffer {
            name: "readback",
            bytes: 4 * b * (n + 1 + k),
            weights: false,
            storage: false,
        },
        state("unused", 4),
        state("counted", super::buffers::counted_bytes(launch.counting)),
        state("factor projections", floats(b * launch.factor_terms())),
        state(
            "segments",
            std::mem::size_of::<super::kernels::Segment>() as u64
                * u64::from(launch.segments.max(1)),
        ),
    ]);
    if launch.segments > 0 {
        // Each population's metric rows (N floats each).
        v.push(state(
            "population table",
            floats(launch.sums.table_rows as u64 * n),
        ));
    }
    v
}

/// What a batch would allocate and dispatch, and what it would exceed.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Every buffer.
    pub buffers: Vec<Buffer>,
    /// Every distinct dispatch: its kernel and grid (prologue, a step's
    /// stages, a record).
    pub dispatches: Vec<(Kernel, [u32; 3])>,
    /// Each limit exceeded, as a sentence naming it.
    pub exceeded: Vec<String>,
}

impl Plan {
    /// The plan of `launch` (with `inputs` floats of inputs) within
    /// `limits`.
    pub fn of(launch: &Launch, inputs: u64, limits: &wgpu::Limits) -> Plan {
        let buffers = buffers(launch, inputs, super::buffers::MAX_PARAM_BYTES);
        let schedule = Schedule::new(launch);
        let mut dispatches: Vec<(Kernel, [u32; 3])> = Vec::new();
        for d in schedule
            .prologue
            .iter()
            .chain(schedule.stages.iter().flatten())
            .chain(&schedule.record)
        {
            if !dispatches.contains(&(d.kernel, d.workgroups)) {
                dispatches.push((d.kernel, d.workgroups));
            }
        }
        let mut exceeded = Vec::new();
        let binding = limits.max_storage_buffer_binding_size;
        for b in &buffers {
            if b.storage && b.bytes > binding {
                exceeded.push(format!(
                    "binding `{}` needs {} bytes, more than max_storage_buffer_binding_size \
                     ({binding} bytes)",
                    b.name, b.bytes
                ));
            }
            if b.bytes > limits.max_buffer_size {
                exceeded.push(format!(
                    "buffer `{}` needs {} bytes, more than max_buffer_size ({} bytes)",
                    b.name, b.bytes, limits.max_buffer_size
                ));
            }
        }
        let bits = buffers.iter().filter(|b| b.name == "pattern bits").count();
        if bits > PACKED_BINDINGS {
            exceeded.push(format!(
                "the pattern bits need {bits} bindings of at most {} bytes; the kernels read at \
                 most {PACKED_BINDINGS} (max_storage_buffer_binding_size)",
                launch.max_binding
            ));
        }
        let most = limits.max_compute_workgroups_per_dimension;
        for (kernel, grid) in &dispatches {
            if grid.iter().any(|&g| g > most) {
                exceeded.push(format!(
                    "`{}` dispatches {grid:?} workgroups, more than \
                     max_compute_workgroups_per_dimension ({most}) in a dimension",
                    kernel.entry_point()
                ));
            }
        }
        Plan {
            buffers,
            dispatches,
            exceeded,
        }
    }

    /// The bytes of every buffer.
    pub fn bytes(&self) -> u64 {
        self.buffers.iter().map(|b| b.bytes).sum()
    }

    /// An error naming every limit exceeded on `adapter`, if any.
    pub fn check(&self, adapter: &str) -> Result<()> {
        if self.exceeded.is_empty() {
            return Ok(());
        }
        Err(Error::Gpu(format!(
            "{} on {adapter}; use --backend cpu",
            self.exceeded.join("; ")
        )))
    }
}

/// Limits of an adapter known by name, for plans without it: `webgpu`
/// (the limits every WebGPU adapter has) and `h200` (an NVIDIA H200
/// through wgpu 30's Vulkan backend: storage bindings capped at
/// 2 GiB − 1 by wgpu-hal, 65,535 workgroups a grid dimension, 48 KiB of
/// workgroup memory and 1024 invocations a workgroup as NVIDIA's Vulkan
/// driver reports them; buffers taken as at most 2^32 bytes, the least
/// the driver's `maxMemoryAllocationSize` has been).
pub fn named_limits(name: &str) -> Option<wgpu::Limits> {
    match name {
        "webgpu" => Some(wgpu::Limits::default()),
        "h200" => Some(wgpu::Limits {
            max_storage_buffer_binding_size: (1 << 31) - 1,
            max_buffer_size: 1 << 32,
            max_compute_workgroups_per_dimension: 65_535,
            max_compute_workgroup_storage_size: 48 << 10,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            max_compute_workgroup_size_y: 1024,
            max_compute_workgroup_size_z: 64,
            max_storage_buffers_per_shader_stage: 1 << 20,
            max_uniform_buffer_binding_size: 64 << 10,
            min_uniform_buffer_offset_alignment: 64,
            min_storage_buffer_offset_alignment: 16,
            ..wgpu::Limits::default()
        }),
        _ => None,
    }
}

/// The names [`named_limits`] knows.
pub const LIMIT_NAMES: [&str; 2] = ["h200", "webgpu"];
