//! Products with a 2D circulant M (a kernel on a periodic sheet,
//! [`GaussianKernel`]) by FFT: y = IFFT(lambda ⊙ FFT(x)), O(N log N) per
//! product instead of O(N²), with lambda M's eigenvalues. In f64 whatever
//! the run's precision (the transforms' rounding stays near 1e-16 of the
//! largest |x|).
//!
//! The 2D transform is a real FFT of each row (side reals to side/2 + 1
//! complex, realfft) then a complex FFT of each of those columns
//! (rustfft), rows and columns in parallel over rayon's threads.

use super::GaussianKernel;
use crate::real::{c, f, Real};
use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use std::sync::{Arc, Mutex};

/// Sides below this many neurons transform their rows and columns on one
/// thread: a row's FFT is then well under the cost of handing it to rayon.
const PARALLEL_SIDE: usize = 64;

/// The FFT plans and eigenvalues of one circulant kernel.
#[derive(Clone)]
pub struct Convolution {
    side: usize,
    /// Eigenvalues at the half spectrum the real transform keeps, column
    /// by column: index qx side + qy for qx = 0 ..= side / 2.
    half: Vec<f64>,
    /// Per Gaussian: its scale c_t, its taps' transform (even, real) and
    /// its odd taps' transform over -i, each over q = 0 .. side: what a
    /// velocity's turn is made of.
    terms: Vec<(f64, Vec<f64>, Vec<f64>)>,
    r2c: Arc<dyn RealToComplex<f64>>,
    c2r: Arc<dyn ComplexToReal<f64>>,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
    /// The half spectra of finished products, kept for the next: a product
    /// at N = 10^6 needs two of 8 MB, which allocated afresh each time cost
    /// their page faults every step.
    spare: Spare,
}

/// The rows' and the columns' half spectra of one product (side × (side /
/// 2 + 1) complex values each, every entry written before it is read).
#[derive(Default)]
struct Spectra {
    rows: Vec<Complex<f64>>,
    columns: Vec<Complex<f64>>,
}

/// Spectra left by finished products, one per product that ran at once
/// (the trials of a batch share the plans). A clone starts with none.
#[derive(Default)]
struct Spare(Mutex<Vec<Spectra>>);

impl Clone for Spare {
    fn clone(&self) -> Self {
        Spare::default()
    }
}

impl Spare {
    /// Spectra of `len` entries each, a spare one if there is one.
    fn take(&self, len: usize) -> Spectra {
        let mut s = self
            .0
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default();
        s.rows.resize(len, Complex::new(0.0, 0.0));
        s.columns.resize(len, Complex::new(0.0, 0.0));
        s
    }

    /// Keeps `s` for a later product.
    fn give(&self, s: Spectra) {
        if let Ok(mut v) = self.0.lock() {
            v.push(s);
        }
    }
}

impl std::fmt::Debug for Convolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Convolution")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl Convolution {
    /// The plans for `kernel`.
    pub fn new(kernel: &GaussianKernel) -> Self {
        let side = kernel.side;
        let cols = side / 2 + 1;
        let mut real = RealFftPlanner::<f64>::new();
        let mut complex = FftPlanner::<f64>::new();
        let terms: Vec<(f64, Vec<f64>, Vec<f64>)> = (0..kernel.terms.len())
            .map(|t| {
                (
                    kernel.scale(t),
                    kernel.transform(t),
                    kernel.odd_transform(t),
                )
            })
            .collect();
        // The eigenvalues sum_t c_t ĝ_t(qx) ĝ_t(qy), as `eigenvalues` has them.
        let half = (0..cols * side)
            .map(|k| {
                let (qx, qy) = (k / side, k % side);
                terms.iter().map(|(c, g, _)| c * g[qx] * g[qy]).sum()
            })
            .collect();
        Convolution {
            side,
            half,
            terms,
            r2c: real.plan_fft_forward(side),
            c2r: real.plan_fft_inverse(side),
            forward: complex.plan_fft_forward(side),
            inverse: complex.plan_fft_inverse(side),
            spare: Spare::default(),
        }
    }

    /// Whether a product transforms its rows and columns over rayon's
    /// threads (sides from `PARALLEL_SIDE` up).
    fn forks(&self) -> bool {
        self.side >= PARALLEL_SIDE
    }

    /// The tasks a product shares out at once (a row or a column each; 1
    /// where it runs on one thread).
    pub(crate) fn tasks(&self) -> usize {
        if self.forks() {
            self.side
        } else {
            1
        }
    }

    /// Neurons per side.
    pub fn side(&self) -> usize {
        self.side
    }

    /// y = M x.
    pub fn apply<T: Real>(&self, x: &[T], y: &mut [T]) {
        self.filter(x, y, Some)
            .expect("the product is defined for every eigenvalue");
    }

    /// y = M(kappa) x: M turned by a velocity, kappa = tau (v_x, v_y)
    /// ([`GaussianKernel::entry_turned`]; missing values are 0). Mode (qx,
    /// qy) is multiplied by sum_t c_t (ĝ(qx) ĝ(qy) - i (kx s(qx) ĝ(qy) + ky
    /// ĝ(qx) s(qy))), the odd taps' transform being -i s.
    pub fn apply_turned<T: Real>(&self, x: &[T], y: &mut [T], kappa: &[T]) {
        let k = |a: usize| kappa.get(a).map_or(0.0, |&v| f(v));
        let (kx, ky) = (k(0), k(1));
        if kx == 0.0 && ky == 0.0 {
            return self.apply(x, y);
        }
        self.multiply(x, y, |qx, qy| {
            let mut m = Complex::new(0.0, 0.0);
            for (c, g, s) in &self.terms {
                m += *c * Complex::new(g[qx] * g[qy], -(kx * s[qx] * g[qy] + ky * g[qx] * s[qy]));
            }
            Some(m)
        })
        .expect("the turned product is defined everywhere");
    }

    /// y = g(M) x for the function `g` of the eigenvalues: M x with g(l) =
    /// l, (I - M)^-1 x with 1 / (1 - l). `None` (and `y` left unspecified)
    /// when `g` is undefined at some eigenvalue.
    pub fn filter<T: Real>(
        &self,
        x: &[T],
        y: &mut [T],
        g: impl Fn(f64) -> Option<f64> + Sync,
    ) -> Option<()> {
        let side = self.side;
        self.multiply(x, y, |qx, qy| {
            g(self.half[qx * side + qy]).map(|v| Complex::new(v, 0.0))
        })
    }

    /// y = the inverse transform of m ⊙ the transform of x, for a
    /// multiplier m(qx, qy) of the modes (qx = 0 ..= side / 2 of the half
    /// spectrum, qy = 0 .. side) that keeps the product real (m(-q) the
    /// conjugate of m(q)). `None` when m is undefined somewhere.
    fn multiply<T: Real>(
        &self,
        x: &[T],
        y: &mut [T],
        m: impl Fn(usize, usize) -> Option<Complex<f64>> + Sync,
    ) -> Option<()> {
        let side = self.side;
        let cols = side / 2 + 1;
        let n = side * side;
        assert!(x.len() == n && y.len() == n, "vectors of {n}");
        let mut spectra = self.spare.take(side * cols);
        let ok = self.transform(x, y, &m, &mut spectra);
        self.spare.give(spectra);
        ok
    }

    /// [`Convolution::multiply`] into the buffers `sp`.
    fn transform<T: Real>(
        &self,
        x: &[T],
        y: &mut [T],
        m: &(impl Fn(usize, usize) -> Option<Complex<f64>> + Sync),
        sp: &mut Spectra,
    ) -> Option<()> {
        let side = self.side;
        let cols = side / 2 + 1;
        let n = side * side;
        let par = self.forks();
        let zero = Complex::new(0.0, 0.0);
        // Each task's buffers: a row of reals and the transforms' scratch.
        let real_scratch = || (Vec::new(), vec![zero; self.r2c.get_scratch_len()]);
        // Rows: a real FFT each, into `rows` (side rows of `cols`).
        let row_fft = |(real, scratch): &mut (Vec<f64>, Vec<Complex<f64>>),
                       (xr, out): (&[T], &mut [Complex<f64>])| {
            real.clear();
            real.extend(xr.iter().map(|&v| f(v)));
            self.r2c
                .process_with_scratch(real, out, scratch)
                .expect("buffers of the plan's lengths");
        };
        if par {
            x.par_chunks(side)
                .zip(sp.rows.par_chunks_mut(cols))
                .for_each_init(real_scratch, row_fft);
        } else {
            let mut b = real_scratch();
            x.chunks(side)
                .zip(sp.rows.chunks_mut(cols))
                .for_each(|p| row_fft(&mut b, p));
        }
        // Columns: gathered, transformed, multiplied, transformed back.
        let rows_ref = &sp.rows;
        let scratch_len = self
            .forward
            .get_inplace_scratch_len()
            .max(self.inverse.get_inplace_scratch_len());
        let column_scratch = || vec![zero; scratch_len];
        let column = |scratch: &mut Vec<Complex<f64>>,
                      (qx, col): (usize, &mut [Complex<f64>])|
         -> Option<()> {
            for (r, v) in col.iter_mut().enumerate() {
                *v = rows_ref[r * cols + qx];
            }
            self.forward.process_with_scratch(col, scratch);
            for (qy, v) in col.iter_mut().enumerate() {
                *v *= m(qx, qy)?;
            }
            self.inverse.process_with_scratch(col, scratch);
            Some(())
        };
        let ok = if par {
            sp.columns
                .par_chunks_mut(side)
                .enumerate()
                .map_init(column_scratch, column)
                .collect::<Option<Vec<()>>>()
        } else {
            let mut b = column_scratch();
            sp.columns
                .chunks_mut(side)
                .enumerate()
                .map(|p| column(&mut b, p))
                .collect::<Option<Vec<()>>>()
        };
        ok?;
        // Rows back: gathered from the columns, an inverse real FFT each.
        let scale = 1.0 / n as f64;
        let columns = &sp.columns;
        let back_scratch = || {
            (
                Vec::new(),
                Vec::new(),
                vec![zero; self.c2r.get_scratch_len()],
            )
        };
        let row_back =
            |(spec, real, scratch): &mut (Vec<Complex<f64>>, Vec<f64>, Vec<Complex<f64>>),
             (r, yr): (usize, &mut [T])| {
                spec.clear();
                spec.extend((0..cols).map(|qx| columns[qx * side + r]));
                // The input of a real signal's transform: the imaginary parts
                // of the constant and (even side) Nyquist terms are zero up to
                // rounding; realfft wants them exactly zero.
                spec[0].im = 0.0;
                if side.is_multiple_of(2) {
                    spec[cols - 1].im = 0.0;
                }
                real.resize(side, 0.0);
                self.c2r
                    .process_with_scratch(spec, real, scratch)
                    .expect("buffers of the plan's lengths");
                for (o, v) in yr.iter_mut().zip(real.iter()) {
                    *o = c(v * scale);
                }
            };
        if par {
            y.par_chunks_mut(side)
                .enumerate()
                .for_each_init(back_scratch, row_back);
        } else {
            let mut b = back_scratch();
            y.chunks_mut(side)
                .enumerate()
                .for_each(|p| row_back(&mut b, p));
        }
        Some(())
    }
}
