//! The shape of the dense batch kernel (`dense_batch`, a tiled matrix
//! product of M with the batch's operands): its register and trial tiles
//! ([`BatchShape`]) and how many spans its columns are split into on a
//! large GPU ([`batch_split`]).

/// The shape of `dense_batch` (shaders/dense_batch.wgsl): 256 threads, each
/// accumulating `rows_per_thread` × `trials_per_thread` products, so that a
/// workgroup covers [`Self::trials`] trials (a batch of up to 256 in one
/// tile: M read once per step) and [`Self::rows`] rows, the columns
/// staged [`Self::k`] at a time. Workgroup memory: (rows + trials) × K
/// floats, at most 16 KiB (what WebGPU guarantees).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchShape {
    /// Rows per thread (DB_RM).
    pub rows_per_thread: u32,
    /// Trials per thread (DB_RB).
    pub trials_per_thread: u32,
    /// Threads across the trials (DB_TT).
    pub trial_threads: u32,
    /// Spans of the columns (`DB_SPLIT`, an override constant): with more
    /// than one, each workgroup sums its rows over one span and
    /// `dense_batch_finish` adds the spans' sums and applies the update.
    pub split: u32,
}

impl BatchShape {
    /// Threads per workgroup (DB_THREADS).
    pub const THREADS: u32 = 256;
    /// Workgroup memory the staged slices may take: 16 KiB, what every
    /// WebGPU adapter has.
    pub const STAGE_BYTES: u32 = 16 << 10;

    const fn new(rows_per_thread: u32, trials_per_thread: u32, trial_threads: u32) -> Self {
        BatchShape {
            rows_per_thread,
            trials_per_thread,
            trial_threads,
            split: 1,
        }
    }

    /// The same tile with the columns in `split` spans.
    pub fn with_split(self, split: u32) -> Self {
        BatchShape { split, ..self }
    }

    /// Every shape, for tiles of 8, 16, ..., 256 trials: register blocks of
    /// 1×4 up to 8×8, 128 rows per workgroup (64 for 256 trials).
    pub const ALL: [BatchShape; 6] = [
        BatchShape::new(1, 4, 2),
        BatchShape::new(2, 4, 4),
        BatchShape::new(4, 4, 8),
        BatchShape::new(4, 8, 8),
        BatchShape::new(8, 8, 16),
        BatchShape::new(8, 8, 32),
    ];

    /// The shape for a batch of `batch` trials: the smallest tile of at
    /// least `batch` trials (256 for larger batches, tiled).
    pub fn for_batch(batch: u32) -> Self {
        *BatchShape::ALL
            .iter()
            .find(|s| s.trials() >= batch)
            .unwrap_or(&BatchShape::ALL[5])
    }

    /// Trials per workgroup (DB_TRIALS).
    pub fn trials(self) -> u32 {
        self.trials_per_thread * self.trial_threads
    }

    /// Threads across the rows (DB_TR).
    pub fn row_threads(self) -> u32 {
        Self::THREADS / self.trial_threads
    }

    /// Columns staged per slice (DB_K): 16 where the slices of M and the
    /// operands fit [`Self::STAGE_BYTES`] (two barriers per 16 columns),
    /// else 8 (the tile of 256 trials).
    pub fn k(self) -> u32 {
        if (self.rows() + self.trials()) * 16 * 4 <= Self::STAGE_BYTES {
            16
        } else {
            8
        }
    }

    /// Rows per workgroup (DB_ROWS).
    pub fn rows(self) -> u32 {
        self.rows_per_thread * self.row_threads()
    }

    /// The module's constants.
    pub fn wgsl_constants(self) -> String {
        [
            ("DB_THREADS", Self::THREADS),
            ("DB_K", self.k()),
            ("DB_RM", self.rows_per_thread),
            ("DB_RB", self.trials_per_thread),
            ("DB_TT", self.trial_threads),
            ("DB_TR", self.row_threads()),
            ("DB_ROWS", self.rows()),
            ("DB_TRIALS", self.trials()),
        ]
        .iter()
        .map(|(k, v)| format!("const {k}: u32 = {v}u;\n"))
        .collect::<String>()
            + "\n"
    }
}

/// The fewest workgroups `dense_batch` is given on a hardware GPU by
/// splitting its columns: two for each of an H200's 132 multiprocessors,
/// rounded to a power of two.
pub const DENSE_BATCH_MIN_WORKGROUPS: u32 = 256;
/// The most column spans of `dense_batch`.
pub const DENSE_BATCH_MAX_SPLIT: u32 = 8;
/// The fewest columns of one span of `dense_batch`.
pub const DENSE_BATCH_MIN_SPAN: usize = 256;

/// The column spans of `dense_batch` for `batch` trials of N = `n` (see
/// [`BatchShape::split`]): 1 on a software adapter (its invocations share
/// the CPU's few cores: more workgroups gain nothing) and where the row
/// and trial tiles alone make [`DENSE_BATCH_MIN_WORKGROUPS`]; else the
/// least power of two that reaches it, at most [`DENSE_BATCH_MAX_SPLIT`],
/// each span at least [`DENSE_BATCH_MIN_SPAN`] columns, and the spans'
/// sums (split × batch × N floats) within one binding of `max_binding`
/// bytes.
pub fn batch_split(n: usize, batch: usize, max_binding: u64, device: wgpu::DeviceType) -> u32 {
    if device == wgpu::DeviceType::Cpu {
        return 1;
    }
    let shape = BatchShape::for_batch(batch as u32);
    let groups = (n as u32).div_ceil(shape.rows()) * (batch as u32).div_ceil(shape.trials());
    let sums = |split: u32| u64::from(split) * batch as u64 * n.div_ceil(4) as u64 * 16;
    let mut split = 1;
    while split < DENSE_BATCH_MAX_SPLIT
        && groups * split < DENSE_BATCH_MIN_WORKGROUPS
        && n / (2 * split as usize) >= DENSE_BATCH_MIN_SPAN
        && sums(2 * split) <= max_binding
    {
        split *= 2;
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_split_fills_a_large_gpu() {
        let gpu = wgpu::DeviceType::DiscreteGpu;
        let binding = (2u64 << 30) - 1;
        // 32 row tiles of 128 (B = 64, one trial tile) in 8 spans: 256
        // workgroups.
        assert_eq!(batch_split(4096, 64, binding, gpu), 8);
        // 128 row tiles in 2.
        assert_eq!(batch_split(16384, 64, binding, gpu), 2);
        // 256 row tiles of 64 (B = 256): enough already.
        assert_eq!(batch_split(16384, 256, binding, gpu), 1);
        // Spans of at least 256 columns: N = 512 in 2 at most.
        assert_eq!(batch_split(512, 64, binding, gpu), 2);
        assert_eq!(batch_split(300, 64, binding, gpu), 1);
        // The spans' sums within one binding: 8 × 64 × 4096 floats is 8
        // MiB, 4 spans' 4 MiB.
        assert_eq!(batch_split(4096, 64, 4 << 20, gpu), 4);
        // A software adapter's invocations share the CPU's cores: no split.
        assert_eq!(batch_split(4096, 64, binding, wgpu::DeviceType::Cpu), 1);
    }
}
