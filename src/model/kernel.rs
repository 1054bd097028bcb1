//! Gaussian and Mexican-hat (difference of Gaussians) kernels on a sheet of
//! side × side neurons with periodic boundaries: weights that depend on
//! the distance between two places, applied by convolution.

use std::f64::consts::PI;

/// One Gaussian of a kernel: `amplitude` (2 pi / (sigma² N))
/// exp(-d² / (2 sigma²)). Where sigma is well below pi (the torus cuts the
/// tails at distance pi otherwise) its continuum eigenvalue at wave
/// vector k is amplitude exp(-sigma² |k|² / 2): `amplitude` is the gain of
/// the uniform mode, and a mode of wave number k has that gain times
/// exp(-sigma² k² / 2). The exact eigenvalues are those of the lattice
/// ([`GaussianKernel::eigenvalues`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gaussian {
    /// The gain of the uniform mode in the continuum limit (negative:
    /// inhibition).
    pub amplitude: f64,
    /// The width in radians of the sheet's 2 pi period.
    pub sigma: f64,
}

/// M_ij = sum_t K_t(x_i - x_j, y_i - y_j) over the kernel's Gaussians, each
/// separable, K_t(dx, dy) = c_t g_t(dx) g_t(dy) with g_t(d) = exp(-d² /
/// (2 sigma_t²)) at the wrapped distance |d| ≤ pi of each axis and c_t =
/// amplitude_t 2 pi / (sigma_t² N): a Gaussian (one term) or a Mexican hat
/// (an excitatory centre minus a wider inhibitory surround).
///
/// Neuron i = row side + col sits at (x, y) = (theta(col, side),
/// theta(row, side)), as on the cosine torus. M is a 2D circulant: its
/// eigenvectors are the sheet's Fourier modes, its eigenvalues the
/// products of the 1D transforms of the taps ([`GaussianKernel::eigenvalue`]).
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianKernel {
    /// Neurons per side; N = side².
    pub side: usize,
    /// The Gaussians, summed (one or two).
    pub terms: Vec<Gaussian>,
}

impl GaussianKernel {
    /// N = side².
    pub fn n(&self) -> usize {
        self.side * self.side
    }

    /// The wrapped distance between lattice offsets `k` and 0 of one axis:
    /// 2 pi min(k, side - k) / side.
    pub fn distance(&self, k: usize) -> f64 {
        let k = k % self.side;
        2.0 * PI * k.min(self.side - k) as f64 / self.side as f64
    }

    /// The scale c_t of term `t` (amplitude 2 pi / (sigma² N)).
    pub fn scale(&self, t: usize) -> f64 {
        let g = self.terms[t];
        g.amplitude * 2.0 * PI / (g.sigma * g.sigma * self.n() as f64)
    }

    /// The 1D taps g_t(d_k) of term `t` at offsets k = 0 .. side.
    pub fn taps(&self, t: usize) -> Vec<f64> {
        let s = self.terms[t].sigma;
        (0..self.side)
            .map(|k| (-self.distance(k).powi(2) / (2.0 * s * s)).exp())
            .collect()
    }

    /// The signed wrapped offset of lattice offset `k` along one axis:
    /// 2 pi k / side for k < side / 2, 2 pi (k - side) / side above, and 0
    /// at k = side / 2 on an even side (the two directions tie there).
    pub fn offset(&self, k: usize) -> f64 {
        let (k, side) = (k % self.side, self.side);
        if 2 * k == side {
            0.0
        } else if 2 * k < side {
            2.0 * PI * k as f64 / side as f64
        } else {
            -2.0 * PI * (side - k) as f64 / side as f64
        }
    }

    /// The odd taps of term `t`, h_t(k) = (d_k / sigma²) g_t(d_k) at the
    /// signed offsets d_k ([`GaussianKernel::offset`]): minus the
    /// derivative of g_t, what a velocity adds along its axis.
    pub fn odd_taps(&self, t: usize) -> Vec<f64> {
        let s = self.terms[t].sigma;
        (0..self.side)
            .map(|k| {
                let d = self.offset(k);
                d / (s * s) * (-self.distance(k).powi(2) / (2.0 * s * s)).exp()
            })
            .collect()
    }

    /// sum_k h_t(k) sin(2 pi q k / side) for q = 0 .. side: the odd taps'
    /// transform is -i times it.
    pub fn odd_transform(&self, t: usize) -> Vec<f64> {
        let taps = self.odd_taps(t);
        let side = self.side;
        (0..side)
            .map(|q| {
                taps.iter()
                    .enumerate()
                    .map(|(k, h)| h * (2.0 * PI * ((q * k) % side) as f64 / side as f64).sin())
                    .sum()
            })
            .collect()
    }

    /// M_ij turned by a velocity: sum_t c_t (g_t(dx) g_t(dy) + kx h_t(dx)
    /// g_t(dy) + ky g_t(dx) h_t(dy)) with (kx, ky) = tau (v_x, v_y), the
    /// kernel plus tau v · (minus its gradient): the twin of the ring's
    /// turned cos/sin pair, which moves a bump at v.
    pub fn entry_turned(&self, i: usize, j: usize, kx: f64, ky: f64) -> f64 {
        let side = self.side;
        let dx = (i % side + side - j % side) % side;
        let dy = (i / side + side - j / side) % side;
        (0..self.terms.len())
            .map(|t| {
                let (g, h) = (self.taps(t), self.odd_taps(t));
                self.scale(t) * (g[dx] * g[dy] + kx * h[dx] * g[dy] + ky * g[dx] * h[dy])
            })
            .sum()
    }

    /// The 1D transforms of term `t`'s taps, sum_k g_t(d_k) cos(2 pi q k /
    /// side) for q = 0 .. side (real: the taps are even).
    pub fn transform(&self, t: usize) -> Vec<f64> {
        let taps = self.taps(t);
        let side = self.side;
        (0..side)
            .map(|q| {
                taps.iter()
                    .enumerate()
                    .map(|(k, g)| g * (2.0 * PI * ((q * k) % side) as f64 / side as f64).cos())
                    .sum()
            })
            .collect()
    }

    /// Every eigenvalue, at index qy side + qx for the mode of wave numbers
    /// (qx, qy): sum_t c_t ĝ_t(qx) ĝ_t(qy).
    pub fn eigenvalues(&self) -> Vec<f64> {
        let side = self.side;
        let transforms: Vec<(f64, Vec<f64>)> = (0..self.terms.len())
            .map(|t| (self.scale(t), self.transform(t)))
            .collect();
        (0..side * side)
            .map(|q| {
                transforms
                    .iter()
                    .map(|(c, g)| c * g[q % side] * g[q / side])
                    .sum()
            })
            .collect()
    }

    /// The eigenvalue of the mode of wave numbers (qx, qy).
    pub fn eigenvalue(&self, qx: usize, qy: usize) -> f64 {
        (0..self.terms.len())
            .map(|t| {
                let g = self.transform(t);
                self.scale(t) * g[qx % self.side] * g[qy % self.side]
            })
            .sum()
    }

    /// M_ij.
    pub fn entry(&self, i: usize, j: usize) -> f64 {
        let side = self.side;
        let dx = (i % side + side - j % side) % side;
        let dy = (i / side + side - j / side) % side;
        let (ex, ey) = (self.distance(dx), self.distance(dy));
        (0..self.terms.len())
            .map(|t| {
                let s = self.terms[t].sigma;
                self.scale(t) * (-(ex * ex + ey * ey) / (2.0 * s * s)).exp()
            })
            .sum()
    }

    /// M as a dense row-major N×N matrix (small N only; rows in parallel).
    pub fn to_dense(&self) -> Vec<f64> {
        use rayon::prelude::*;
        let n = self.n();
        let mut m = vec![0.0; n * n];
        m.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
            row.iter_mut()
                .enumerate()
                .for_each(|(j, x)| *x = self.entry(i, j))
        });
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eigenvalues are those of the dense matrix: M times a Fourier mode
    /// is the mode times its eigenvalue.
    #[test]
    fn fourier_modes_are_eigenvectors() {
        let k = GaussianKernel {
            side: 7,
            terms: vec![
                Gaussian {
                    amplitude: 3.0,
                    sigma: 0.6,
                },
                Gaussian {
                    amplitude: -2.0,
                    sigma: 1.3,
                },
            ],
        };
        let n = k.n();
        for (qx, qy) in [(0, 0), (1, 0), (2, 3), (6, 5)] {
            let mode: Vec<f64> = (0..n)
                .map(|i| {
                    let (c, r) = (i % 7, i / 7);
                    (2.0 * PI * (qx * c + qy * r) as f64 / 7.0).cos()
                })
                .collect();
            let lambda = k.eigenvalue(qx, qy);
            assert_eq!(lambda, k.eigenvalues()[qy * 7 + qx]);
            for i in 0..n {
                let mv: f64 = (0..n).map(|j| k.entry(i, j) * mode[j]).sum();
                // Sums of 49 terms of size up to ~1: rounding near 1e-15.
                assert!((mv - lambda * mode[i]).abs() < 1e-12, "{qx} {qy} {i}");
            }
        }
    }
}
