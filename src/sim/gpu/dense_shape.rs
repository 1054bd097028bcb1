//! The shape of the dense row kernels (`dense_step`, `dense_stacked`):
//! threads per workgroup, rows per workgroup and rows per thread
//! ([`DenseShape`]), chosen from the adapter and N ([`dense_shape`]), and
//! whether the stacked kernel's slots are summed by subgroups
//! ([`dense_subgroups`]).

/// Most threads per workgroup of `dense_step` on a hardware GPU: a row of
/// vec4 loads gains nothing from more lanes, and 256 is what every WebGPU
/// adapter allows.
pub const DENSE_MAX_WORKGROUP: u32 = 256;
/// Trials per workgroup of `dense_step` (`DENSE_TILE`): each M element is
/// read once per tile of trials; larger batches run `dense_batch`
/// ([`super::kernels::BatchShape`]), which reads it once per 256 trials.
pub const DENSE_TILE: u32 = 4;

/// The shape of `dense_step`: the override constants `DENSE_WORKGROUP`,
/// `DENSE_ROWS` and `DENSE_STACK`, powers of two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DenseShape {
    /// Threads per workgroup.
    pub workgroup: u32,
    /// Rows per workgroup.
    pub rows: u32,
    /// Rows per thread (at most [`DENSE_MAX_STACK`]): a thread's loads of
    /// the operand serve that many rows.
    pub stack: u32,
}

impl DenseShape {
    /// Threads per row slot: `workgroup / (rows / stack)`.
    pub fn lanes(&self) -> u32 {
        self.workgroup / (self.rows / self.stack).max(1)
    }
}

impl std::fmt::Display for DenseShape {
    /// `256x8` (threads x rows), with `s4` after when each thread takes 4 rows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.workgroup, self.rows)?;
        if self.stack > 1 {
            write!(f, "s{}", self.stack)?;
        }
        Ok(())
    }
}

/// The most rows one thread of `dense_stacked` takes (its eight named
/// accumulators).
pub const DENSE_MAX_STACK: u32 = 8;

/// Workgroups `dense_shape` keeps a dense step of one trial to at least,
/// where it stacks rows on a hardware GPU (a few per multiprocessor of a
/// large one: an H200 has 132).
pub const DENSE_MIN_WORKGROUPS: u32 = 512;

/// The shape of the dense row kernel for N neurons and `batch` trials on
/// an adapter with `limits` of kind `device`.
///
/// Hardware GPUs: the workgroup is as large as the adapter allows (up to
/// [`DENSE_MAX_WORKGROUP`], within its invocation and workgroup-memory
/// limits); each row gets enough lanes for about four vec4 loads per thread
/// (at least 32, a warp), so that short rows share a workgroup instead of
/// leaving most of its threads idle; for one trial each thread takes up
/// to [`DENSE_MAX_STACK`] rows (`dense_stacked`: the operand then read
/// N / 8 times a step, not N; eight independent loads of M in flight per
/// thread) while the step keeps at least [`DENSE_MIN_WORKGROUPS`]
/// workgroups (for 2 to 4 trials, `dense_step` reads M once for all of
/// them). No datacenter GPU
/// has timed this choice yet: `attractor bench --backend gpu --operator
/// dense --tune` times every shape on the adapter at hand.
///
/// Software adapters (llvmpipe, which runs a workgroup as SIMD loops on the
/// CPU, where each step of the tree reduction costs a barrier): 512 threads
/// and 16 lanes per row, as measured by `attractor bench --backend gpu
/// --operator dense --tune --n 1024 --n 2048` on llvmpipe (LLVM 15, 256
/// bits) on a 2-core AMD EPYC VM, seconds per step (B = 1, one row per
/// thread):
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
pub fn dense_shape(
    limits: &wgpu::Limits,
    n: usize,
    batch: usize,
    device: wgpu::DeviceType,
) -> DenseShape {
    let cap = dense_workgroup_cap(limits);
    if device == wgpu::DeviceType::Cpu {
        let workgroup = cap.min(SOFTWARE_DENSE_WORKGROUP);
        return DenseShape {
            workgroup,
            rows: (workgroup / SOFTWARE_DENSE_LANES).max(1),
            stack: 1,
        };
    }
    let workgroup = cap.min(DENSE_MAX_WORKGROUP);
    let vec4s = n.div_ceil(4) as u32;
    let lanes = (vec4s / 4)
        .max(1)
        .next_power_of_two()
        .clamp(32.min(workgroup), workgroup);
    let slots = workgroup / lanes;
    let mut stack = if batch == 1 { DENSE_MAX_STACK } else { 1 };
    while stack > 1 && (n as u32).div_ceil(slots * stack) < DENSE_MIN_WORKGROUPS {
        stack /= 2;
    }
    DenseShape {
        workgroup,
        rows: slots * stack,
        stack,
    }
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

/// Whether `dense_stacked` of `shape` may sum its slots with subgroup
/// operations on an adapter whose subgroups are `min` to `max` invocations
/// wide: only where every subgroup has one size that divides a slot's lanes
/// (so that no subgroup spans two slots), and the rows are stacked.
pub fn dense_subgroups(shape: DenseShape, min: u32, max: u32) -> bool {
    shape.stack > 1 && min == max && min > 0 && shape.lanes().is_multiple_of(min)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_shape_fits_rows_to_lanes() {
        let shape = |workgroup, rows, stack| DenseShape {
            workgroup,
            rows,
            stack,
        };
        let limits = wgpu::Limits::default();
        let gpu = wgpu::DeviceType::DiscreteGpu;
        // Long rows: one row slot of 256 lanes per 256-thread workgroup,
        // each thread taking 8 rows (2048 workgroups at N = 16384, 512 at
        // N = 4096).
        assert_eq!(dense_shape(&limits, 16384, 1, gpu), shape(256, 8, 8));
        assert_eq!(dense_shape(&limits, 16384, 1, gpu).lanes(), 256);
        assert_eq!(dense_shape(&limits, 4096, 1, gpu), shape(256, 8, 8));
        // More trials: one row per thread (dense_step reads M once for them).
        assert_eq!(dense_shape(&limits, 16384, 2, gpu), shape(256, 1, 1));
        // Fewer rows: fewer stacked, to keep 512 workgroups.
        assert_eq!(dense_shape(&limits, 2048, 1, gpu), shape(256, 4, 2));
        // 512 neurons = 128 vec4s: 32 lanes per row, 8 row slots per
        // workgroup, one row each (64 workgroups: none to spare).
        assert_eq!(dense_shape(&limits, 512, 1, gpu), shape(256, 8, 1));
        assert_eq!(dense_shape(&limits, 512, 1, gpu).lanes(), 32);
        assert_eq!(dense_shape(&limits, 1, 1, gpu), shape(256, 8, 1));
        // Software adapters: 16 lanes per row, as measured; within the
        // default limits (256 threads) the workgroup shrinks.
        let cpu = wgpu::DeviceType::Cpu;
        assert_eq!(dense_shape(&limits, 16384, 1, cpu), shape(256, 16, 1));
        let roomy = wgpu::Limits {
            max_compute_workgroup_size_x: 1024,
            max_compute_invocations_per_workgroup: 1024,
            ..limits.clone()
        };
        assert_eq!(dense_shape(&roomy, 16384, 1, cpu), shape(512, 32, 1));
        // A small adapter: the workgroup shrinks to a power of two within its limits.
        let small = wgpu::Limits {
            max_compute_workgroup_size_x: 96,
            ..wgpu::Limits::downlevel_defaults()
        };
        let s = dense_shape(&small, 100_000, 1, gpu);
        assert_eq!((s.workgroup, s.lanes()), (64, 64));
        assert_eq!(s.to_string(), "64x8s8");
    }

    #[test]
    fn dense_subgroups_only_where_subgroups_tile_the_slots() {
        let shape = |workgroup, rows, stack| DenseShape {
            workgroup,
            rows,
            stack,
        };
        // NVIDIA (32 wide): the hardware's B = 1 shape, 256 lanes a slot.
        assert!(dense_subgroups(shape(256, 8, 8), 32, 32));
        assert!(dense_subgroups(shape(256, 64, 8), 32, 32));
        // 16 lanes a slot: a 32-wide subgroup would span two slots.
        assert!(!dense_subgroups(shape(256, 128, 8), 32, 32));
        assert!(dense_subgroups(shape(256, 128, 8), 16, 16));
        // Sizes that vary (32 to 64 on some adapters): the tree.
        assert!(!dense_subgroups(shape(256, 8, 8), 32, 64));
        // One row per thread (dense_step) never, nor an adapter reporting 0.
        assert!(!dense_subgroups(shape(256, 8, 1), 32, 32));
        assert!(!dense_subgroups(shape(256, 8, 8), 0, 0));
    }
}
