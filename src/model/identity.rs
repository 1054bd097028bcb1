//! When two weights are the same M, or the same M up to a scale: the
//! fingerprint that keys sweeps' shared work, and the scale split off M.

use super::weights::largest;
use super::{SparseOrigin, Weights};
use std::sync::Arc;

impl Weights {
    /// Divides M by its largest parameter (the ring's by lambda1) and
    /// returns that factor, so that weights differing only by a scale of M
    /// become equal; Hebbian weights (whose patterns are also the metrics'
    /// tables) stay as they are, factor 1.
    pub fn split_scale(&mut self) -> f64 {
        fn divide(v: &mut [f64]) -> f64 {
            let s = largest(v.iter().copied());
            v.iter_mut().for_each(|x| *x /= s);
            s
        }
        match self {
            Weights::Dense { m, .. } => divide(m),
            Weights::Diagonal { values } => divide(values),
            Weights::Ring {
                lambda0, lambda1, ..
            }
            | Weights::Torus {
                lambda0, lambda1, ..
            } => {
                let s = if *lambda1 != 0.0 {
                    *lambda1
                } else {
                    largest([*lambda0])
                };
                *lambda0 /= s;
                *lambda1 /= s;
                s
            }
            Weights::LowRank { v, .. } => divide(v),
            Weights::Sparse { csr, origin, .. } => {
                let s = divide(Arc::make_mut(csr).values_mut());
                match origin {
                    SparseOrigin::Random { g } => *g /= s,
                    SparseOrigin::Data | SparseOrigin::Ring => {}
                }
                s
            }
            Weights::Hebbian { .. } | Weights::PackedHebbian { .. } => 1.0,
            Weights::Gaussian(k) => {
                let s = largest(k.terms.iter().map(|t| t.amplitude));
                k.terms.iter_mut().for_each(|t| t.amplitude /= s);
                s
            }
            Weights::Random { g, .. } => {
                let s = largest([*g]);
                *g /= s;
                s
            }
        }
    }

    /// Feeds the kind and every number that defines M to `put` (for keys
    /// that say whether two networks have the same M), without forming any
    /// table: the given parameters determine the form.
    pub fn fingerprint(&self, put: &mut dyn FnMut(&[u8])) {
        put(self.kind().as_bytes());
        let mut floats = |v: &[f64]| {
            for x in v {
                put(&x.to_bits().to_le_bytes());
            }
        };
        match self {
            Weights::Dense { m, .. } => floats(m),
            Weights::Diagonal { values } => floats(values),
            Weights::Ring {
                lambda0, lambda1, ..
            } => floats(&[*lambda0, *lambda1]),
            Weights::Torus {
                side,
                lambda0,
                lambda1,
                ..
            } => floats(&[*side as f64, *lambda0, *lambda1]),
            Weights::Gaussian(k) => {
                floats(&[k.side as f64]);
                for t in &k.terms {
                    floats(&[t.amplitude, t.sigma]);
                }
            }
            Weights::Hebbian { xi, .. } => floats(xi),
            Weights::PackedHebbian { bits, .. } => {
                put(&(bits.p() as u64).to_le_bytes());
                put(bytemuck::cast_slice(bits.data()));
            }
            Weights::LowRank { u, v, .. } => {
                floats(u);
                floats(v)
            }
            Weights::Sparse { csr, origin, .. } => {
                floats(&match origin {
                    SparseOrigin::Data => [0.0, 0.0],
                    SparseOrigin::Ring => [1.0, 0.0],
                    SparseOrigin::Random { g } => [2.0, *g],
                });
                let places = csr.row_ptr().iter().map(|&p| p as f64);
                floats(
                    &places
                        .chain(csr.cols().iter().map(|&c| f64::from(c)))
                        .collect::<Vec<_>>(),
                );
                floats(csr.values());
            }
            Weights::Random {
                n,
                g,
                sparsity,
                seed,
                ..
            } => {
                floats(&[*n as f64, *g, *sparsity]);
                put(&seed.to_le_bytes());
            }
        }
    }
}
