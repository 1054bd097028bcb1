//! What the CPU can do, measured: its read bandwidth and its f32
//! arithmetic peak (`attractor bench` divides a case's bytes and flops
//! per second by them).

use super::matvec::{simd_available, Matvec};
use super::pages::advise_huge_pages;
use rayon::prelude::*;
use std::time::Instant;

/// The sum of `v`, read at the speed of memory (AVX2: eight 8-lane
/// accumulators over one sequential stream): the kernel behind the CPU
/// bandwidth `attractor bench` measures, a plain streaming read with no
/// arithmetic to wait for.
pub fn sum_f32(v: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { x86::sum(v) };
    }
    super::lanes::long_sum(v)
}

/// The AVX2 + FMA loops of the probes.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::matvec::x86::hsum;
    use std::arch::x86_64::*;

    /// The sum of `v`, eight 8-lane accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX2 (loads stay within `v`: j + 64 <= len).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sum(v: &[f32]) -> f32 {
        let p = v.as_ptr();
        let mut a = [_mm256_setzero_ps(); 8];
        let mut j = 0;
        while j + 64 <= v.len() {
            for (k, ak) in a.iter_mut().enumerate() {
                *ak = _mm256_add_ps(*ak, _mm256_loadu_ps(p.add(j + 8 * k)));
            }
            j += 64;
        }
        let s = _mm256_add_ps(
            _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])),
            _mm256_add_ps(_mm256_add_ps(a[4], a[5]), _mm256_add_ps(a[6], a[7])),
        );
        hsum(s) + v[j..].iter().sum::<f32>()
    }

    /// The sum of `v` as four streams (its quarters) at once, two 8-lane
    /// accumulators each.
    ///
    /// # Safety
    /// The CPU must support AVX2 (loads stay within each quarter: j + 16
    /// <= q, the quarters within `v`).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn four_streams(v: &[f32]) -> f32 {
        let q = v.len() / 4;
        let p = [0, 1, 2, 3].map(|k| v.as_ptr().add(k * q));
        let mut a = [_mm256_setzero_ps(); 8];
        let mut j = 0;
        while j + 16 <= q {
            for k in 0..4 {
                a[2 * k] = _mm256_add_ps(a[2 * k], _mm256_loadu_ps(p[k].add(j)));
                a[2 * k + 1] = _mm256_add_ps(a[2 * k + 1], _mm256_loadu_ps(p[k].add(j + 8)));
            }
            j += 16;
        }
        let s = _mm256_add_ps(
            _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])),
            _mm256_add_ps(_mm256_add_ps(a[4], a[5]), _mm256_add_ps(a[6], a[7])),
        );
        let rest: f32 = (0..4)
            .map(|k| v[k * q + j..(k + 1) * q].iter().sum::<f32>())
            .sum();
        hsum(s) + rest + v[4 * q..].iter().sum::<f32>()
    }

    /// The sum of `v`, four 16-lane AVX-512 accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX-512F (loads stay within `v`: j + 64 <= len).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn wide_sum(v: &[f32]) -> f32 {
        let p = v.as_ptr();
        let mut a = [_mm512_setzero_ps(); 4];
        let mut j = 0;
        while j + 64 <= v.len() {
            for (k, ak) in a.iter_mut().enumerate() {
                *ak = _mm512_add_ps(*ak, _mm512_loadu_ps(p.add(j + 16 * k)));
            }
            j += 64;
        }
        let s = _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3]));
        _mm512_reduce_add_ps(s) + v[j..].iter().sum::<f32>()
    }

    /// `rounds` rounds of 8 independent 8-lane fused multiply-adds (2 flops
    /// per lane each): the arithmetic probe of [`super::fma_chains`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_chains(rounds: u64, seed: f32) -> f32 {
        let m = _mm256_set1_ps(0.999_999);
        let c = _mm256_set1_ps(1e-7);
        let mut a = [0usize; 8].map(|_| _mm256_set1_ps(seed));
        for (k, ak) in a.iter_mut().enumerate() {
            *ak = _mm256_add_ps(*ak, _mm256_set1_ps(k as f32 * 1e-3));
        }
        for _ in 0..rounds {
            for ak in a.iter_mut() {
                *ak = _mm256_fmadd_ps(*ak, m, c);
            }
        }
        let s = _mm256_add_ps(
            _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])),
            _mm256_add_ps(_mm256_add_ps(a[4], a[5]), _mm256_add_ps(a[6], a[7])),
        );
        hsum(s)
    }
}

/// The arithmetic probe of `attractor bench`: `rounds` rounds of 64
/// independent f32 multiply-adds (8 chains of 8 lanes; fused on CPUs with
/// AVX2 and FMA, else a multiply and an add that compilers vectorise) on
/// this thread; returns the flops done and a value that depends on them.
pub fn fma_chains(rounds: u64, seed: f32) -> (f64, f32) {
    let flops = rounds as f64 * 64.0 * 2.0;
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return (flops, unsafe { x86::fma_chains(rounds, seed) });
    }
    let mut a = [[seed; 8]; 8];
    for _ in 0..rounds {
        for row in a.iter_mut() {
            for x in row.iter_mut() {
                *x = *x * 0.999_999 + 1e-7;
            }
        }
    }
    (flops, a.iter().flatten().sum())
}

/// The CPU's read bandwidth: the fastest of several read kernels over a 1
/// GiB f32 buffer (far larger than any cache, on huge pages where the OS
/// allows), or over its first W bytes for a case whose working set is W
/// ([`CpuBandwidth::measure_over`]): what a case's own loop cannot beat.
/// The kernels ([`ReadKernel`]) are parallel sums with one stream per
/// thread and with four, AVX-512 loads where the CPU has them, and the
/// dense product's own kernel ([`Matvec::rows`]: four rows per load of x,
/// rows prefetched ahead) reading the buffer as a matrix of 4096 columns.
/// One kernel alone is no ceiling: a single stream per thread read 1.2 to
/// 1.5 times slower than the dense step at N = 8192 on a 2-core VM, and
/// numpy's gemv read 41 GB/s where the sums read 34. A shared machine's
/// bandwidth drifts as the host schedules other work, so `attractor bench`
/// measures before and after each case and takes the larger.
pub struct CpuBandwidth {
    buffer: Vec<f32>,
}

/// How [`CpuBandwidth`] measures (the `bandwidth_probe` of CPU cases).
pub const CPU_PROBE: &str = "cpu: the fastest of four read kernels (sums with one stream per \
                             thread and with four, AVX-512 sums, the dense product's kernel) \
                             over 1 GiB and over the case's working set, before and after the \
                             case";

/// Columns of the matrix the CPU probe reads its buffer as: x (16 KiB)
/// stays in a core's L1 cache while the rows stream past.
const PROBE_COLUMNS: usize = 1 << 12;

/// Timings of each read kernel per measurement: a shared machine's
/// bandwidth drifts within a second, and the probe wants its best.
const TIMINGS: usize = 6;

/// The read kernels of [`CpuBandwidth`], each a different way to stream a
/// buffer through the cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKernel {
    /// One contiguous slice per thread, summed by [`sum_f32`].
    Sums,
    /// Each thread's slice cut in four, the four summed in one loop (four
    /// streams per core for its prefetchers).
    Streams,
    /// One slice per thread summed with 16-lane AVX-512 loads (the sums'
    /// loop where the CPU lacks them).
    Wide,
    /// The dense product's kernel over the buffer as a matrix.
    Product,
}

impl ReadKernel {
    /// Every kernel, in the order they run.
    pub const ALL: [ReadKernel; 4] = [
        ReadKernel::Sums,
        ReadKernel::Streams,
        ReadKernel::Wide,
        ReadKernel::Product,
    ];

    /// The kernel's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ReadKernel::Sums => "sums",
            ReadKernel::Streams => "four streams",
            ReadKernel::Wide => "avx-512 sums",
            ReadKernel::Product => "dense product",
        }
    }

    /// Reads `v` once on this thread (the product as rows of up to 4096
    /// columns, `x` its operand and `y` its result, at least as long as
    /// the rows); returns a value that depends on every entry read.
    pub fn read(self, v: &[f32], x: &[f32], y: &mut [f32]) -> f32 {
        match self {
            ReadKernel::Sums => sum_f32(v),
            ReadKernel::Streams => four_streams(v),
            ReadKernel::Wide => wide_sum(v),
            ReadKernel::Product => {
                let cols = v.len().clamp(1, PROBE_COLUMNS);
                let rows = v.len() / cols;
                <f32 as Matvec>::rows(&v[..rows * cols], cols, &x[..cols], &mut y[..rows]);
                y[..rows].iter().sum()
            }
        }
    }
}

/// The sum of `v` read as four streams at once (its four quarters).
pub fn four_streams(v: &[f32]) -> f32 {
    let q = v.len() / 4;
    #[cfg(target_arch = "x86_64")]
    if simd_available() && q >= 16 {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { x86::four_streams(v) };
    }
    let _ = q;
    sum_f32(v)
}

/// The sum of `v` by 16-lane AVX-512 loads where the CPU has them, else
/// [`sum_f32`].
pub fn wide_sum(v: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F (checked just above).
        return unsafe { x86::wide_sum(v) };
    }
    sum_f32(v)
}

impl Default for CpuBandwidth {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBandwidth {
    /// Allocates and fills the buffer.
    pub fn new() -> Self {
        let mut buffer = Vec::with_capacity(1 << 28);
        advise_huge_pages(&buffer);
        buffer.par_extend(rayon::iter::repeat_n(1.0f32, 1 << 28));
        CpuBandwidth { buffer }
    }

    /// Bytes of the buffer.
    pub fn bytes(&self) -> usize {
        self.buffer.len() * 4
    }

    /// The fastest read of the whole buffer, GB/s.
    pub fn measure(&self) -> f64 {
        self.measure_over(self.bytes()).0
    }

    /// The fastest read of the buffer's first `bytes` (from 4 KiB a
    /// thread to the whole buffer), GB/s, and the kernel that read it:
    /// every [`ReadKernel`] on every thread at once, each thread reading
    /// its own slice; each timing reads the slices as many times as make
    /// 64 MiB (a set in the cache is read from it, and the fork-join is
    /// paid once), six timings a kernel, the fastest of any.
    pub fn measure_over(&self, bytes: usize) -> (f64, ReadKernel) {
        let threads = rayon::current_num_threads().max(1);
        let len =
            (bytes / 4).clamp(1024 * threads, self.buffer.len()) / (64 * threads) * (64 * threads);
        let v = &self.buffer[..len];
        let slice = len / threads;
        let repeat = ((64usize << 20) / (len * 4)).max(1);
        let mut best = (f64::INFINITY, ReadKernel::Sums);
        for kernel in ReadKernel::ALL {
            for _ in 0..TIMINGS {
                let s = Instant::now();
                rayon::broadcast(|ctx| {
                    let mine = &v[ctx.index() * slice..][..slice];
                    let x = vec![1.0f32; PROBE_COLUMNS.min(slice)];
                    let mut y = vec![0.0f32; slice / x.len()];
                    for _ in 0..repeat {
                        std::hint::black_box(kernel.read(std::hint::black_box(mine), &x, &mut y));
                    }
                });
                let t = s.elapsed().as_secs_f64() / repeat as f64;
                if t < best.0 {
                    best = (t, kernel);
                }
            }
        }
        ((len * 4) as f64 / best.0 / 1e9, best.1)
    }
}

/// The size of the CPU's last-level cache, bytes, as Linux reports it
/// (`/sys/devices/system/cpu/cpu0/cache`: the highest level's data or
/// unified cache); `None` where it says nothing.
pub fn last_level_cache_bytes() -> Option<u64> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    let read = |p: &std::path::Path, f: &str| std::fs::read_to_string(p.join(f)).ok();
    dir.filter_map(|e| {
        let p = e.ok()?.path();
        let level: u32 = read(&p, "level")?.trim().parse().ok()?;
        if read(&p, "type")?.trim() == "Instruction" {
            return None;
        }
        Some((level, parse_cache_size(read(&p, "size")?.trim())?))
    })
    .max()
    .map(|(_, bytes)| bytes)
}

/// A cache size as sysfs writes it: `32768K`, `2M`, or bytes.
pub fn parse_cache_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let scale = match unit.trim() {
        "" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => return None,
    };
    Some(n * scale)
}

/// The CPU's f32 arithmetic peak, GFLOP/s: every thread runs
/// [`fma_chains`] (8 independent 8-lane fused
/// multiply-add chains where the CPU has AVX2 and FMA) for 2^22 rounds at
/// once; the fastest of 3.
pub fn cpu_peak_gflops() -> f64 {
    let rounds = 1u64 << 22;
    let threads = rayon::current_num_threads();
    (0..3)
        .map(|_| {
            let s = Instant::now();
            let done: f64 = rayon::broadcast(|ctx| {
                let (flops, v) = fma_chains(rounds, ctx.index() as f32);
                std::hint::black_box(v);
                flops
            })
            .into_iter()
            .sum();
            debug_assert_eq!(done, threads as f64 * rounds as f64 * 128.0);
            done / s.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_read_as_sysfs_writes_them() {
        assert_eq!(parse_cache_size("32768K"), Some(32 << 20));
        assert_eq!(parse_cache_size("2M"), Some(2 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("1G"), Some(1 << 30));
        assert_eq!(parse_cache_size("lots"), None);
        assert_eq!(parse_cache_size("3X"), None);
    }

    /// Every read kernel reads every entry: over a buffer of ones its value
    /// is the count (exact in f32 up to 2^24), at lengths around the
    /// kernels' strides and rows.
    #[test]
    fn every_read_kernel_reads_every_entry() {
        for len in [1usize, 63, 64, 65, 1000, 4096, 3 * 4096 + 17, 100_000] {
            let v = vec![1.0f32; len];
            let x = vec![1.0f32; PROBE_COLUMNS];
            let mut y = vec![0.0f32; len];
            for k in ReadKernel::ALL {
                let cols = len.clamp(1, PROBE_COLUMNS);
                let want = if k == ReadKernel::Product {
                    (len / cols * cols) as f32
                } else {
                    len as f32
                };
                assert_eq!(k.read(&v, &x, &mut y), want, "{} over {len}", k.name());
            }
        }
    }
}
