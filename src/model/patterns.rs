//! ±1 Hebbian patterns stored as bits, 32 units per u32: a network of
//! N = 10^6 neurons with P = 10^5 patterns takes 12.5 GB instead of 400 GB
//! of f32. Bit 1 is +1, bit 0 is -1.
//!
//! The words are stored word-major: the P words of units 32 j .. 32 j + 31
//! lie one after the other (`data[j P + mu]`), so that both halves of a
//! product, the overlaps sum_i xi_i^mu x_i (every pattern over a block of
//! units) and the field sum_mu xi_i^mu s_mu (every pattern for a block of
//! units), read the bits of a block of units as one contiguous stream.

use crate::real::Real;
use crate::rng::{self, Stream};
use rayon::prelude::*;

/// P patterns of N units ±1, as bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternBits {
    n: usize,
    p: usize,
    /// ceil(N / 32) × P words, word-major.
    data: Vec<u32>,
}

impl PatternBits {
    /// Words per pattern, ceil(N / 32).
    pub fn words(n: usize) -> usize {
        n.div_ceil(32)
    }

    /// The bytes the bits of P patterns of N units take.
    pub fn bytes(n: usize, p: usize) -> u64 {
        (Self::words(n) as u64)
            .saturating_mul(p as u64)
            .saturating_mul(4)
    }

    /// The random patterns of `seed`: unit i of pattern mu is +1 where the
    /// top bit of word 0 of the Patterns block (i, mu) is set, the same
    /// numbers as the f64 patterns of the same seed (`experiment::random_patterns`).
    pub fn random(n: usize, p: usize, seed: u64) -> Self {
        let words = Self::words(n);
        let mut data = vec![0u32; words * p];
        data.par_chunks_mut(p).enumerate().for_each(|(j, block)| {
            for (mu, w) in block.iter_mut().enumerate() {
                for k in 0..32.min(n - 32 * j) {
                    let i = 32 * j + k;
                    let b = rng::block(seed, Stream::Patterns, i as u32, mu as u32, 0)[0];
                    *w |= (b >> 31) << k;
                }
            }
        });
        PatternBits { n, p, data }
    }

    /// Random patterns drawn a word at a time: units 32 j .. 32 j + 31 of
    /// pattern mu are the bits of word 0 of the Patterns block (j, mu, 1)
    /// (bits past N cleared). Other patterns than [`PatternBits::random`]'s
    /// for the same seed, from 32 times fewer draws: for benchmarks of
    /// large P N (12.5 GB of bits for N = 10^6, P = 10^5).
    pub fn random_words(n: usize, p: usize, seed: u64) -> Self {
        let words = Self::words(n);
        let mut data = vec![0u32; words * p];
        data.par_chunks_mut(p).enumerate().for_each(|(j, block)| {
            let valid = 32.min(n - 32 * j);
            let mask = if valid == 32 {
                u32::MAX
            } else {
                (1 << valid) - 1
            };
            for (mu, w) in block.iter_mut().enumerate() {
                *w = rng::block(seed, Stream::Patterns, j as u32, mu as u32, 1)[0] & mask;
            }
        });
        PatternBits { n, p, data }
    }

    /// The patterns of a P×N row-major array of ±1 values; `Err((mu, i,
    /// value))` names the first entry that is neither +1 nor -1.
    pub fn from_values(n: usize, p: usize, xi: &[f64]) -> Result<Self, (usize, usize, f64)> {
        let words = Self::words(n);
        let mut data = vec![0u32; words * p];
        for mu in 0..p {
            for i in 0..n {
                let x = xi[mu * n + i];
                if x == 1.0 {
                    data[(i / 32) * p + mu] |= 1 << (i % 32);
                } else if x != -1.0 {
                    return Err((mu, i, x));
                }
            }
        }
        Ok(PatternBits { n, p, data })
    }

    /// N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// P.
    pub fn p(&self) -> usize {
        self.p
    }

    /// The words, word-major (`[j P + mu]` holds units 32 j .. 32 j + 31 of
    /// pattern mu, unit 32 j + k at bit k).
    pub fn data(&self) -> &[u32] {
        &self.data
    }

    /// The word of pattern `mu` holding units 32 j .. 32 j + 31.
    #[inline]
    pub fn word(&self, mu: usize, j: usize) -> u32 {
        self.data[j * self.p + mu]
    }

    /// xi_i^mu, ±1.
    #[inline]
    pub fn get(&self, mu: usize, i: usize) -> f64 {
        if (self.word(mu, i / 32) >> (i % 32)) & 1 == 1 {
            1.0
        } else {
            -1.0
        }
    }

    /// Pattern `mu` as ±1 values.
    pub fn pattern(&self, mu: usize) -> Vec<f64> {
        (0..self.n).map(|i| self.get(mu, i)).collect()
    }

    /// Every pattern as a P×N row-major array of ±1 values (small networks:
    /// tests, the dense eigen-solve).
    pub fn values(&self) -> Vec<f64> {
        (0..self.p).flat_map(|mu| self.pattern(mu)).collect()
    }

    /// Whether pattern 0 is all +1.
    pub fn first_all_ones(&self) -> bool {
        self.p > 0 && (0..self.n).all(|i| self.get(0, i) == 1.0)
    }
}

// The product from the bits: y = (1/N) sum_mu xi^mu (xi^mu . x) - (P/N) x,
// in two passes over the bits, each reading every word once:
// - the overlaps s_mu = coef sum_i xi_i^mu x_i, parallel over ranges of
//   patterns (each range reads, for every block of 32 units, its patterns'
//   words, which lie together);
// - the field y_i = d x_i + sum_mu xi_i^mu s_mu, parallel over blocks of
//   units (each reads its P words, which lie together).
// Every sum runs in a fixed order (s_mu over the words in order, each
// word's 32 terms in 8 lanes; y_i over the patterns in order), so the
// result does not depend on the thread count.

/// Work (sign-adds) below which a pass stays on one thread.
const PARALLEL_WORK: usize = 1 << 16;

/// Units per word.
const UNITS: usize = 32;

/// The 32 units of word `j` of `x`, zero past N.
#[inline(always)]
fn units<T: Real>(x: &[T], j: usize) -> [T; UNITS] {
    let mut u = [T::zero(); UNITS];
    let start = j * UNITS;
    let end = (start + UNITS).min(x.len());
    u[..end - start].copy_from_slice(&x[start..end]);
    u
}

/// sum_k ±u_k, + where bit k of `w` is set: 8 lanes of 4 terms, then a tree.
#[inline(always)]
fn signed_sum<T: Real>(w: u32, u: &[T; UNITS]) -> T {
    let mut l = [T::zero(); 8];
    for c in 0..UNITS / 8 {
        for (q, lane) in l.iter_mut().enumerate() {
            let k = 8 * c + q;
            let v = u[k];
            *lane = *lane + if w & (1 << k) != 0 { v } else { -v };
        }
    }
    ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}

/// s_mu = coef sum_i xi_i^mu x_i for every pattern, into `s` (resized to
/// P); large products are split into ranges of patterns for `threads`
/// threads (each s_mu is the same whatever the split).
pub fn overlaps<T: Real>(bits: &PatternBits, x: &[T], coef: T, s: &mut Vec<T>, threads: usize) {
    let (n, p) = (bits.n(), bits.p());
    assert_eq!(x.len(), n, "x has N entries");
    s.clear();
    s.resize(p, T::zero());
    let words = PatternBits::words(n);
    let data = bits.data();
    let range = |(r, out): (usize, &mut [T]), len: usize| {
        let mu0 = r * len;
        for j in 0..words {
            let u = units(x, j);
            let row = &data[j * p + mu0..j * p + mu0 + out.len()];
            for (o, &w) in out.iter_mut().zip(row) {
                *o = *o + signed_sum(w, &u);
            }
        }
        for o in out.iter_mut() {
            *o = *o * coef;
        }
    };
    if forks(n, p) && p > 1 {
        // Ranges of patterns: enough for every thread, at least 16 words
        // (a 64-byte line) of each block.
        let len = p.div_ceil(4 * threads.max(1)).max(16);
        s.par_chunks_mut(len)
            .enumerate()
            .for_each(|c| range(c, len));
    } else {
        range((0, &mut s[..]), p.max(1));
    }
}

/// Whether the product of N units and P patterns ([`field`], and
/// [`overlaps`] for P > 1) shares its work over rayon's threads.
pub(crate) fn forks(n: usize, p: usize) -> bool {
    n * p >= PARALLEL_WORK
}

/// The tasks [`field`] shares out for N units and P patterns (a word of
/// units each; 1 where it runs on one thread).
pub(crate) fn tasks(n: usize, p: usize) -> usize {
    if forks(n, p) {
        n.div_ceil(UNITS)
    } else {
        1
    }
}

/// y_i = d x_i + sum_mu xi_i^mu s_mu for every unit.
pub fn field<T: Real>(bits: &PatternBits, s: &[T], d: T, x: &[T], y: &mut [T]) {
    let (n, p) = (bits.n(), bits.p());
    assert!(s.len() == p && x.len() == n && y.len() == n, "shapes");
    let data = bits.data();
    let word = |(j, yb): (usize, &mut [T])| {
        let mut acc = [T::zero(); UNITS];
        for (&w, &sm) in data[j * p..(j + 1) * p].iter().zip(s) {
            for (k, a) in acc.iter_mut().enumerate() {
                *a = *a + if w & (1 << k) != 0 { sm } else { -sm };
            }
        }
        for (k, yi) in yb.iter_mut().enumerate() {
            *yi = d * x[j * UNITS + k] + acc[k];
        }
    };
    if forks(n, p) {
        y.par_chunks_mut(UNITS).enumerate().for_each(word);
    } else {
        y.chunks_mut(UNITS).enumerate().for_each(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Patterns drawn a word at a time: the same for the same seed, no bit
    /// set past N, and about half the units +1 (10,000 units of 3
    /// patterns: 15,000 ± 3 sd of 87).
    #[test]
    fn word_patterns_are_random_and_end_at_n() {
        let (n, p) = (10_000 + 7, 3);
        let a = PatternBits::random_words(n, p, 9);
        assert_eq!(a.data(), PatternBits::random_words(n, p, 9).data());
        let last = PatternBits::words(n) - 1;
        let valid = n - 32 * last;
        for mu in 0..p {
            assert_eq!(a.word(mu, last) >> valid, 0, "pattern {mu}");
        }
        let ones: u32 = a.data().iter().map(|w| w.count_ones()).sum();
        assert!((ones as f64 - 1.5 * n as f64).abs() < 3.0 * 87.0, "{ones}");
    }

    #[test]
    fn bits_hold_the_values() {
        let (n, p) = (70, 5);
        let xi: Vec<f64> = (0..p * n)
            .map(|k| {
                let b = rng::block(3, Stream::Patterns, (k % n) as u32, (k / n) as u32, 0)[0];
                if b >> 31 == 1 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let bits = PatternBits::random(n, p, 3);
        assert_eq!(bits.values(), xi);
        assert_eq!(PatternBits::from_values(n, p, &xi).unwrap(), bits);
        let mut bad = xi.clone();
        bad[2 * n + 7] = 0.5;
        assert_eq!(PatternBits::from_values(n, p, &bad), Err((2, 7, 0.5)));
        assert_eq!(PatternBits::bytes(n, p), 3 * 5 * 4);
    }

    /// Both passes against the plain sums over ±1 values, in f64 (1e-12
    /// relative: the orders differ).
    #[test]
    fn packed_product_is_the_hebbian_product() {
        for (n, p) in [(1, 1), (31, 3), (33, 2), (100, 7), (4000, 40)] {
            let bits = PatternBits::random(n, p, 5);
            let xi = bits.values();
            let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
            let coef = 1.0 / n as f64;
            let mut s = Vec::new();
            overlaps(&bits, &x, coef, &mut s, 2);
            for mu in 0..p {
                let want: f64 = (0..n).map(|i| xi[mu * n + i] * x[i]).sum::<f64>() * coef;
                assert!(
                    (s[mu] - want).abs() <= 1e-12,
                    "overlap {mu}: {} vs {want}",
                    s[mu]
                );
            }
            let mut y = vec![0.0; n];
            let d = -(p as f64) / n as f64;
            field(&bits, &s, d, &x, &mut y);
            for i in 0..n {
                let want: f64 = d * x[i] + (0..p).map(|mu| xi[mu * n + i] * s[mu]).sum::<f64>();
                assert!(
                    (y[i] - want).abs() <= 1e-12,
                    "field {i}: {} vs {want}",
                    y[i]
                );
            }
        }
    }
}
