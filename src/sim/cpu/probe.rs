//! What the CPU can do, measured: its read bandwidth and its f32
//! arithmetic peak (`attractor bench` divides a case's bytes and flops
//! per second by them).

use super::matvec::{matvec_f32, simd_available};
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

/// The CPU's read bandwidth, measured on demand over a 1 GiB f32 buffer
/// (far larger than any cache, on huge pages where the OS allows) two
/// ways: parallel sums, one contiguous slice per thread
/// ([`sum_f32`], 8 independent vector accumulators), and
/// the dense product's own kernel ([`matvec_f32`]: four
/// rows per load of x, rows prefetched ahead) reading the buffer as a
/// 16384 × 16384 matrix. The bandwidth is the machine's best, so each
/// measurement is the fastest of several runs of either, and `attractor
/// bench` measures before and after each case and takes the larger. The
/// sums alone, as a median taken only before the case, read slower than
/// the dense step itself (fractions of 1.2 to 1.48 were seen at N = 8192 on
/// a 2-core VM): the product's prefetching and four streams reach more of
/// the memory system than one stream per thread, and a shared machine's
/// bandwidth drifts as the host schedules other work.
pub struct CpuBandwidth {
    buffer: Vec<f32>,
}

/// How [`CpuBandwidth`] measures (the `bandwidth_probe` of CPU cases).
pub const CPU_PROBE: &str = "cpu: the faster of parallel sums and the dense product's kernel \
                             over 1 GiB, fastest of 4 runs each, before and after the case";

/// Columns of the matrix the CPU probe reads its buffer as.
const PROBE_COLUMNS: usize = 1 << 14;

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

    /// The fastest of 4 timed sums and 4 timed products of the buffer, GB/s.
    pub fn measure(&self) -> f64 {
        let v = &self.buffer;
        let slice = v.len().div_ceil(rayon::current_num_threads());
        let x = vec![1.0f32; PROBE_COLUMNS];
        let mut y = vec![0.0f32; v.len() / PROBE_COLUMNS];
        let best = (0..8)
            .map(|k| {
                let s = Instant::now();
                if k % 2 == 0 {
                    let total: f32 = v.par_chunks(slice).map(sum_f32).sum();
                    std::hint::black_box(total);
                } else {
                    matvec_f32(v, PROBE_COLUMNS, &x, &mut y);
                    std::hint::black_box(&y);
                }
                s.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        (v.len() * 4) as f64 / best / 1e9
    }
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
