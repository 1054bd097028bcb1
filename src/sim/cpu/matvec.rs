//! The dense f32 matrix-vector product of the CPU backend, y = M x, built to
//! run at the speed of memory: M (N² floats) is streamed once per step, so
//! the product is bound by read bandwidth once M outgrows the caches.
//!
//! - Rows go four at a time, so each load of x serves four rows and four
//!   streams of M are in flight per core, each prefetched 2 KiB ahead.
//! - On x86-64 CPUs with AVX2 and FMA (checked once, at run time) each row
//!   keeps two 8-lane fused multiply-add accumulators; elsewhere a portable
//!   loop with eight accumulators per row, which compilers vectorise.
//! - Blocks of [`ROWS_PER_TASK`] rows are spread over the cores by rayon.
//! - M's storage is advised to use transparent huge pages (Linux, see
//!   [`super::pages`]), which spares the TLB a miss every 4 KiB of the stream.
//!
//! Each row's sum is computed by one thread in a fixed order, so the result
//! does not depend on how rayon splits the rows.

use super::lanes::{dense_matvec, dot, forks};
use crate::real::Real;
use rayon::prelude::*;

/// A float the CPU backend steps in, with its dense product: the SIMD
/// kernel [`matvec_f32`] in f32, the plain reference loop
/// ([`dense_matvec`]) in f64.
pub trait Matvec: Real {
    /// y = M x for a row-major M with `n` columns and `y.len()` rows.
    fn matvec(m: &[Self], n: usize, x: &[Self], y: &mut [Self]);

    /// The same on this thread: each row's sum is the one
    /// [`Matvec::matvec`] gives it, whatever rows come with it.
    fn rows(m: &[Self], n: usize, x: &[Self], y: &mut [Self]);
}

impl Matvec for f32 {
    fn matvec(m: &[f32], n: usize, x: &[f32], y: &mut [f32]) {
        matvec_f32(m, n, x, y);
    }

    fn rows(m: &[f32], n: usize, x: &[f32], y: &mut [f32]) {
        assert_eq!(m.len(), y.len() * n, "M has y.len() rows of n columns");
        assert_eq!(x.len(), n, "x has n entries");
        rows_f32(simd_available(), m, n, x, y);
    }
}

impl Matvec for f64 {
    fn matvec(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
        dense_matvec(m, n, x, y);
    }

    fn rows(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = dot(&m[i * n..(i + 1) * n], x);
        }
    }
}

/// Rows a rayon task computes (a multiple of 4).
pub const ROWS_PER_TASK: usize = 64;

/// y = M x for row-major M with `n` columns and `y.len()` rows.
///
/// # Panics
/// If `m.len() != y.len() * n` or `x.len() != n`.
pub fn matvec_f32(m: &[f32], n: usize, x: &[f32], y: &mut [f32]) {
    assert_eq!(m.len(), y.len() * n, "M has y.len() rows of n columns");
    assert_eq!(x.len(), n, "x has n entries");
    let simd = simd_available();
    let block = |(k, yb): (usize, &mut [f32])| {
        let rows = &m[k * ROWS_PER_TASK * n..][..yb.len() * n];
        rows_f32(simd, rows, n, x, yb);
    };
    if forks(m.len()) {
        y.par_chunks_mut(ROWS_PER_TASK).enumerate().for_each(block);
    } else {
        y.chunks_mut(ROWS_PER_TASK).enumerate().for_each(block);
    }
}

/// y = M x for consecutive rows, on this thread: the AVX2 + FMA kernel when
/// `simd` (the value of [`simd_available`]), else the portable one.
fn rows_f32(simd: bool, m: &[f32], n: usize, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` says the CPU supports AVX2 and FMA.
        unsafe { x86::rows(m, n, x, y) };
        return;
    }
    let _ = simd;
    portable_rows(m, n, x, y);
}

/// Whether the AVX2 + FMA kernel runs on this CPU.
pub fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The portable kernel: four rows at a time, eight accumulators each.
pub fn portable_rows(m: &[f32], n: usize, x: &[f32], y: &mut [f32]) {
    let done = y.len() / 4 * 4;
    for (q, yq) in y.chunks_exact_mut(4).enumerate() {
        let r = &m[4 * q * n..][..4 * n];
        let (r0, rest) = r.split_at(n);
        let (r1, rest) = rest.split_at(n);
        let (r2, r3) = rest.split_at(n);
        let mut acc = [[0.0f32; 8]; 4];
        let chunks = n / 8;
        for c in 0..chunks {
            let xs = &x[8 * c..8 * c + 8];
            for (a, row) in acc.iter_mut().zip([r0, r1, r2, r3]) {
                let rs = &row[8 * c..8 * c + 8];
                for k in 0..8 {
                    a[k] += rs[k] * xs[k];
                }
            }
        }
        for ((yi, a), row) in yq.iter_mut().zip(&acc).zip([r0, r1, r2, r3]) {
            let tail: f32 = (8 * chunks..n).map(|j| row[j] * x[j]).sum();
            *yi = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + tail;
        }
    }
    for (i, yi) in y.iter_mut().enumerate().skip(done) {
        *yi = dot(&m[i * n..(i + 1) * n], x);
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    /// How far ahead (floats) each row is prefetched into L2. Measured with
    /// N = 8192 on a 2-core AMD EPYC VM (median GB/s of 16 rounds, each
    /// beside a sum of the same matrix that read at 31.6–50.3 GB/s): no
    /// prefetch 29.6, 512 floats 32.3, 1024 30.5, 2048 29.7; the T0 and NTA
    /// hints and column blocking (to keep x in L1) were slower.
    const PREFETCH: usize = 512;

    /// The 8 lanes of `v`, summed in a fixed order.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// y = M x for consecutive rows: four rows at a time, each with two
    /// 8-lane FMA accumulators over 16 columns per iteration.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA. Slice lengths are checked: every
    /// pointer read below is at column j + 15 < n (or j + 7 < n) of a row
    /// that lies within `m`, and x has n entries.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows(m: &[f32], n: usize, x: &[f32], y: &mut [f32]) {
        assert_eq!(m.len(), y.len() * n);
        assert_eq!(x.len(), n);
        let xp = x.as_ptr();
        let mut i = 0;
        while i + 4 <= y.len() {
            let p = [0, 1, 2, 3].map(|k| m.as_ptr().add((i + k) * n));
            let mut a = [_mm256_setzero_ps(); 4];
            let mut b = [_mm256_setzero_ps(); 4];
            let mut j = 0;
            while j + 16 <= n {
                // One cache line of each row per iteration: ask for the
                // line PREFETCH floats ahead (prefetches never fault; the
                // address may lie past the row).
                for pk in p {
                    _mm_prefetch(pk.wrapping_add(j + PREFETCH) as *const i8, _MM_HINT_T1);
                }
                let x0 = _mm256_loadu_ps(xp.add(j));
                let x1 = _mm256_loadu_ps(xp.add(j + 8));
                for k in 0..4 {
                    a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(p[k].add(j)), x0, a[k]);
                    b[k] = _mm256_fmadd_ps(_mm256_loadu_ps(p[k].add(j + 8)), x1, b[k]);
                }
                j += 16;
            }
            if j + 8 <= n {
                let x0 = _mm256_loadu_ps(xp.add(j));
                for k in 0..4 {
                    a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(p[k].add(j)), x0, a[k]);
                }
                j += 8;
            }
            for k in 0..4 {
                let mut s = hsum(_mm256_add_ps(a[k], b[k]));
                for c in j..n {
                    s += *p[k].add(c) * *xp.add(c);
                }
                y[i + k] = s;
            }
            i += 4;
        }
        while i < y.len() {
            y[i] = row(&m[i * n..(i + 1) * n], x);
            i += 1;
        }
    }

    /// One row's dot product, two 8-lane accumulators.
    #[target_feature(enable = "avx2,fma")]
    fn row(r: &[f32], x: &[f32]) -> f32 {
        let n = r.len().min(x.len());
        let (rp, xp) = (r.as_ptr(), x.as_ptr());
        let (mut a, mut b) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut j = 0;
        // SAFETY: every load reads columns j..j + 8 with j + 8 <= n.
        unsafe {
            while j + 16 <= n {
                a = _mm256_fmadd_ps(_mm256_loadu_ps(rp.add(j)), _mm256_loadu_ps(xp.add(j)), a);
                b = _mm256_fmadd_ps(
                    _mm256_loadu_ps(rp.add(j + 8)),
                    _mm256_loadu_ps(xp.add(j + 8)),
                    b,
                );
                j += 16;
            }
            if j + 8 <= n {
                a = _mm256_fmadd_ps(_mm256_loadu_ps(rp.add(j)), _mm256_loadu_ps(xp.add(j)), a);
                j += 8;
            }
        }
        let mut s = hsum(_mm256_add_ps(a, b));
        for c in j..n {
            s += r[c] * x[c];
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Entries in [-1, 1) from a fixed stream.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len)
            .map(|k| {
                2.0 * crate::rng::uniform_at(seed, crate::rng::Stream::InitialRandom, k as u32, 0)
                    as f32
                    - 1.0
            })
            .collect()
    }

    /// Checks y against M x in f64: a float dot product of n terms in any
    /// order, with or without fused multiply-adds, is within
    /// γ_n·Σ|m_ij x_j| of the exact value (γ_n = nu/(1 - nu), u = 2^-24 the
    /// f32 unit roundoff; Higham, Accuracy and Stability, §3.1), and the f64
    /// reference is exact to far below that.
    fn check(m: &[f32], n: usize, x: &[f32], y: &[f32]) {
        for (i, &yi) in y.iter().enumerate() {
            let row = &m[i * n..(i + 1) * n];
            let exact: f64 = row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
            let abs: f64 = row
                .iter()
                .zip(x)
                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                .sum();
            let nu = n as f64 * f64::from(f32::EPSILON) / 2.0;
            let bound = nu / (1.0 - nu) * abs;
            assert!(
                (yi as f64 - exact).abs() <= bound,
                "row {i} of {}×{n}: {yi} vs {exact} (bound {bound})",
                y.len()
            );
        }
    }

    proptest! {
        /// Every shape (rows not a multiple of 4, N not a multiple of 8 or
        /// 16, N below one SIMD width) gives M x within the rounding bound,
        /// with the kernel this CPU picks and with the portable one.
        #[test]
        fn product_is_m_times_x(rows in 1usize..40, n in 1usize..80, seed in 0u64..1000) {
            let m = values(rows * n, seed);
            let x = values(n, seed + 1);
            let mut y = vec![0.0; rows];
            matvec_f32(&m, n, &x, &mut y);
            check(&m, n, &x, &y);
            let mut yp = vec![0.0; rows];
            portable_rows(&m, n, &x, &mut yp);
            check(&m, n, &x, &yp);
        }
    }

    /// A row's value does not depend on where the row falls (in a block of
    /// four, in the remainder, in which rayon task): the full product, run
    /// in parallel, equals each row computed alone, bit for bit. This is
    /// what makes results independent of threads and batching.
    #[test]
    fn rows_are_computed_independently_of_blocking() {
        let (rows, n) = (301, 333); // Over PARALLEL_WORK: the parallel path.
        assert!(forks(rows * n));
        let m = values(rows * n, 7);
        let x = values(n, 8);
        let mut y = vec![0.0; rows];
        matvec_f32(&m, n, &x, &mut y);
        check(&m, n, &x, &y);
        for (i, &yi) in y.iter().enumerate() {
            let mut alone = [0.0];
            matvec_f32(&m[i * n..(i + 1) * n], n, &x, &mut alone);
            assert_eq!(yi.to_bits(), alone[0].to_bits(), "row {i}");
        }
        let mut yp = vec![0.0; rows];
        portable_rows(&m, n, &x, &mut yp);
        for (i, &yi) in yp.iter().enumerate() {
            let mut alone = [0.0];
            portable_rows(&m[i * n..(i + 1) * n], n, &x, &mut alone);
            assert_eq!(yi.to_bits(), alone[0].to_bits(), "portable row {i}");
        }
    }

    /// The bandwidth kernel's sum is the sum: within len·u·Σ|v| of the f64
    /// sum (γ_len as above), for lengths around its 64-float stride.
    #[test]
    fn sum_is_the_sum() {
        for len in [0, 1, 63, 64, 65, 1000, 100_003] {
            let v = values(len, len as u64);
            let exact: f64 = v.iter().map(|&a| a as f64).sum();
            let abs: f64 = v.iter().map(|&a| (a as f64).abs()).sum();
            let nu = len as f64 * f64::from(f32::EPSILON) / 2.0;
            let bound = nu / (1.0 - nu) * abs;
            assert!(
                (super::super::probe::sum_f32(&v) as f64 - exact).abs() <= bound,
                "len {len}"
            );
        }
    }
}
