//! Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).
//!
//! A counter-based generator has no state: the numbers for (seed, step,
//! trial, neuron) are a pure function of those integers, so any backend
//! (these loops, a WGSL shader, a run resumed on another machine) reproduces
//! the same stream without sharing state. Keep in sync with the WGSL
//! implementation when it exists; the known-answer tests pin the algorithm.
//!
//! Counter layout, one block per (purpose, neuron):
//! `[index, step, trial, stream]`, key `[seed_lo, seed_hi]`.

use std::f64::consts::PI;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// The streams the engine draws from; one word of the counter, so that
/// different purposes never share numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Stream {
    /// Additive state noise, one normal per neuron per step.
    Noise = 0,
    /// Random ±1 Hebbian patterns.
    Patterns = 1,
    /// `initial.kind = "random"` uniform states.
    InitialRandom = 2,
    /// Flipped and masked units of a pattern cue.
    Cue = 3,
    /// The standard normals J_ij of `random` weights.
    Weights = 4,
    /// Which connections of sparse `random` weights exist.
    Connections = 5,
}

#[inline]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// One Philox4x32-10 block: ten rounds over `counter` with `key`.
#[inline]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The Philox key for a 64-bit seed.
#[inline]
pub fn key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// Maps 32 random bits to a uniform number in the open interval (0, 1).
///
/// Uses the top 24 bits, `(x >> 8) + 0.5` scaled by 2^-24, which is exact in
/// f32, so the GPU (f32) and CPU (f64) get the same uniform.
#[inline]
pub fn uniform(x: u32) -> f64 {
    ((x >> 8) as f64 + 0.5) * (1.0 / 16_777_216.0)
}

/// The random block for (`seed`, `stream`, `index`, `step`, `trial`).
#[inline]
pub fn block(seed: u64, stream: Stream, index: u32, step: u32, trial: u32) -> [u32; 4] {
    philox4x32_10([index, step, trial, stream as u32], key(seed))
}

/// A standard normal number for neuron `index` at `step` of `trial`, by
/// Box–Muller on the first two words of the block.
#[inline]
pub fn normal(seed: u64, stream: Stream, index: u32, step: u32, trial: u32) -> f64 {
    let b = block(seed, stream, index, step, trial);
    let u1 = uniform(b[0]);
    let u2 = uniform(b[1]);
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Four standard normals J_ij, j = 4 `col4` .. 4 `col4` + 3, of row `row`
/// of `random` weights: Box–Muller on words (0, 1) and (2, 3) of the block
/// `[col4, row, 0, Weights]`, cosine and sine of each pair.
#[inline]
pub fn weight_normals(seed: u64, row: u32, col4: u32) -> [f64; 4] {
    let b = philox4x32_10([col4, row, 0, Stream::Weights as u32], key(seed));
    let r0 = (-2.0 * uniform(b[0]).ln()).sqrt();
    let r1 = (-2.0 * uniform(b[2]).ln()).sqrt();
    let (s0, c0) = (2.0 * PI * uniform(b[1])).sin_cos();
    let (s1, c1) = (2.0 * PI * uniform(b[3])).sin_cos();
    [r0 * c0, r0 * s0, r1 * c1, r1 * s1]
}

/// Four uniforms in (0, 1) that decide which of the connections
/// j = 4 `col4` .. 4 `col4` + 3 of row `row` exist in sparse `random`
/// weights (a connection of probability p exists where its uniform is
/// below p): the block `[col4, row, 0, Connections]`.
#[inline]
pub fn connection_uniforms(seed: u64, row: u32, col4: u32) -> [f64; 4] {
    philox4x32_10([col4, row, 0, Stream::Connections as u32], key(seed)).map(uniform)
}

/// A uniform number in (0, 1) for `index` of `stream`.
#[inline]
pub fn uniform_at(seed: u64, stream: Stream, index: u32, step: u32) -> f64 {
    uniform(block(seed, stream, index, step, 0)[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123's published known-answer vectors (tests/kat_vectors).
    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn uniform_is_open_interval() {
        assert!(uniform(0) > 0.0);
        assert!(uniform(u32::MAX) < 1.0);
        // Exactly representable in f32: the GPU sees the same number.
        let u = uniform(0x1234_5678);
        assert_eq!(u as f32 as f64, u);
    }

    /// Mean and variance of 200k normals: standard errors are 1/sqrt(n) ≈ 0.0022
    /// for the mean and sqrt(2/n) ≈ 0.0032 for the variance; 5 sigma bounds.
    #[test]
    fn normals_have_unit_variance() {
        let n = 200_000u32;
        let (mut s, mut s2) = (0.0, 0.0);
        for i in 0..n {
            let z = normal(7, Stream::Noise, i, 3, 0);
            s += z;
            s2 += z * z;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 5.0 * 0.0023, "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * 0.0032, "var {var}");
    }
}
