//! Loops over neurons: on one thread for small N, in chunks over rayon's
//! threads above; every element's value is the same either way.

use crate::model::Activation;
use crate::real::Real;
use rayon::prelude::*;

/// Element loops shorter than this stay on one thread.
pub const PARALLEL_N: usize = 1 << 15;
/// Neurons per task of a parallel loop.
pub const CHUNK: usize = 1 << 12;

/// Sets `out[i] = g(i, out[i])` for every i, in parallel for large N.
pub fn each<T: Real>(out: &mut [T], g: impl Fn(usize, T) -> T + Sync + Send) {
    if out.len() >= PARALLEL_N {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(k, ch)| {
            for (j, o) in ch.iter_mut().enumerate() {
                *o = g(k * CHUNK + j, *o);
            }
        });
    } else {
        for (i, o) in out.iter_mut().enumerate() {
            *o = g(i, *o);
        }
    }
}

/// Sets `out[i] = F(pre(i, out[i]))` for every i with the activation
/// `act` ([`Activation::map_slice`]: no branch on its kind per element), in
/// parallel for large N, each block compiled for AVX2 where the CPU has it
/// ([`activated`]).
pub fn each_activated<T: Real>(
    act: Activation,
    out: &mut [T],
    pre: impl Fn(usize, T) -> T + Sync + Send,
) {
    if out.len() >= PARALLEL_N {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(k, ch)| activated(act, ch, &|j, v| pre(k * CHUNK + j, v)));
    } else {
        activated(act, out, &pre);
    }
}

/// [`Activation::map_slice`] of a block, compiled for AVX2 and FMA where
/// the CPU has them (8 f32 lanes per instruction where the baseline has 4)
/// and for the baseline elsewhere: the same bits either way, since the
/// activations' formulas ([`crate::real::tanh_f32`], ...) are plain
/// multiplies and adds, never contracted, and a `mul_add` is fused on both.
#[inline(always)]
pub fn activated<T: Real>(act: Activation, out: &mut [T], pre: &impl Fn(usize, T) -> T) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<T: Real>(act: Activation, out: &mut [T], pre: &impl Fn(usize, T) -> T) {
            act.map_slice(out, pre)
        }
        if super::matvec::simd_available() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { avx2(act, out, pre) };
        }
    }
    act.map_slice(out, pre)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The activations compiled for AVX2 give the baseline's bits: every
    /// f32 activation over a sweep of inputs, through [`each_activated`]
    /// (both sides of its parallel threshold), equals
    /// [`Activation::apply`] element by element.
    #[test]
    fn activated_blocks_give_the_baseline_bits() {
        let acts = [
            Activation::Tanh { beta: 4.0 },
            Activation::Sigmoid {
                beta: 2.0,
                threshold: 0.3,
            },
            Activation::Relu {},
            Activation::Clip {
                min: -0.5,
                max: 0.5,
            },
        ];
        for act in acts {
            for n in [1000, PARALLEL_N + 7] {
                let x: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 1e-3).collect();
                let mut out = x.clone();
                each_activated(act, &mut out, |i, v| v + 0.25 * x[i]);
                for (i, o) in out.iter().enumerate() {
                    let want: f32 = act.apply(x[i] + 0.25 * x[i]);
                    assert_eq!(o.to_bits(), want.to_bits(), "{act:?} at {i} of {n}");
                }
            }
        }
    }
}
