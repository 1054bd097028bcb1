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
/// parallel for large N.
pub fn each_activated<T: Real>(
    act: Activation,
    out: &mut [T],
    pre: impl Fn(usize, T) -> T + Sync + Send,
) {
    if out.len() >= PARALLEL_N {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(k, ch)| act.map_slice(ch, |j, v| pre(k * CHUNK + j, v)));
    } else {
        act.map_slice(out, pre);
    }
}
