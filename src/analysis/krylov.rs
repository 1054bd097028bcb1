//! Eigenvalues of sparse M beyond the dense solve: the Ritz values of an
//! Arnoldi process (a Krylov subspace of M, orthonormalised by modified
//! Gram–Schmidt with one reorthogonalisation), kept where their residual
//! shows them converged. The eigenvalues a Krylov subspace finds first are
//! those on the outside of the spectrum: the largest in magnitude (the
//! spectral radius) and the extreme real parts (the ones that decide
//! stability), which is what `modes` needs of a large network.

use crate::error::{Error, Result};
use crate::model::{Csr, Factors};
use nalgebra::{Complex, DMatrix, DVector};
use rayon::prelude::*;

/// Eigenvalues, each with its multiplicity.
pub type Spectrum = Vec<(Complex<f64>, usize)>;

/// Krylov vectors (the subspace's dimension) unless N is smaller.
pub const KRYLOV_DIMENSION: usize = 160;

/// A Ritz value counts as an eigenvalue when its residual ||M y - theta
/// y|| is at most this fraction of the largest |theta|.
pub const CONVERGED: f64 = 1e-8;

/// y = M x in f64, rows in parallel, then the factored terms.
fn product(m: &Csr, factors: &Factors, x: &[f64], y: &mut [f64]) {
    y.par_iter_mut().enumerate().for_each(|(i, yi)| {
        let (cols, values) = m.row(i);
        *yi = cols
            .iter()
            .zip(values)
            .map(|(&j, &v)| v * x[j as usize])
            .sum();
    });
    factors.add_product(x, y);
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The converged Ritz values of M (each with the relative residual it
/// was accepted at), from an Arnoldi process of `dim` vectors started at a
/// fixed pseudo-random vector; `None` where the subspace's small
/// eigenproblem does not converge.
pub fn ritz_values(m: &Csr, factors: &Factors, dim: usize) -> Option<Vec<(Complex<f64>, f64)>> {
    let n = m.n();
    let dim = dim.min(n).max(1);
    let mut v: Vec<Vec<f64>> = Vec::with_capacity(dim + 1);
    let mut start: Vec<f64> = (0..n)
        .map(|i| crate::rng::uniform_at(11, crate::rng::Stream::InitialRandom, i as u32, 0) - 0.5)
        .collect();
    let norm = dot(&start, &start).sqrt();
    start.iter_mut().for_each(|x| *x /= norm);
    v.push(start);
    let mut h = DMatrix::<f64>::zeros(dim + 1, dim);
    let mut w = vec![0.0; n];
    let mut used = dim;
    for k in 0..dim {
        product(m, factors, &v[k], &mut w);
        // Modified Gram–Schmidt, twice (the second pass keeps the basis
        // orthogonal to rounding).
        for _ in 0..2 {
            for (j, vj) in v.iter().enumerate() {
                let c = dot(&w, vj);
                h[(j, k)] += c;
                w.iter_mut().zip(vj).for_each(|(a, b)| *a -= c * b);
            }
        }
        let beta = dot(&w, &w).sqrt();
        h[(k + 1, k)] = beta;
        if beta <= 1e-14 * h.column(k).norm().max(f64::MIN_POSITIVE) {
            // An invariant subspace: its Ritz values are eigenvalues.
            used = k + 1;
            break;
        }
        v.push(w.iter().map(|x| x / beta).collect());
    }
    let hm = h.view((0, 0), (used, used)).into_owned();
    let beta = h[(used, used - 1)];
    // H is upper Hessenberg, in general not symmetric.
    let theta: Vec<Complex<f64>> =
        nalgebra::linalg::Schur::try_new(hm.clone(), f64::EPSILON, 10_000)?
            .complex_eigenvalues()
            .iter()
            .copied()
            .collect();
    let scale = theta
        .iter()
        .fold(0.0f64, |a, t| a.max(t.norm()))
        .max(f64::MIN_POSITIVE);
    let hc = hm.map(|x| Complex::new(x, 0.0));
    Some(
        theta
            .into_iter()
            .filter_map(|t| {
                // The Ritz vector's last component, by inverse iteration on
                // H - theta I (slightly shifted off the eigenvalue).
                let shift = t + Complex::new(1e-10 * scale, 1e-10 * scale);
                let a = &hc - DMatrix::identity(used, used) * shift;
                let lu = a.lu();
                let mut y = DVector::from_element(used, Complex::new(1.0, 0.0));
                for _ in 0..3 {
                    y = lu.solve(&y)?;
                    let norm = y.norm();
                    y /= Complex::new(norm, 0.0);
                }
                let residual = beta * y[used - 1].norm() / scale;
                (residual <= CONVERGED).then_some((t, residual))
            })
            .collect(),
    )
}

/// The eigenvalues of sparse M beyond the dense solve that an Arnoldi
/// process finds converged ([`ritz_values`]), each once, and what was
/// done, after the memory check of its Krylov vectors (`dense_limit`: the
/// dense solve's largest N, for the message).
pub fn spectrum(csr: &Csr, dense_limit: usize) -> Result<(Spectrum, String)> {
    spectrum_with(csr, &Factors::none(csr.n()), dense_limit)
}

/// [`spectrum`] of the entries plus terms kept as factors.
pub fn spectrum_with(
    csr: &Csr,
    factors: &Factors,
    dense_limit: usize,
) -> Result<(Spectrum, String)> {
    let n = csr.n();
    let dim = KRYLOV_DIMENSION.min(n);
    crate::memory::check(
        "network.n",
        n,
        "the Krylov vectors of the spectrum",
        (dim as u64 + 2) * n as u64 * 8,
    )?;
    let ritz = ritz_values(csr, factors, dim).ok_or_else(|| {
        Error::Analysis(format!(
            "network.n = {n}: the Arnoldi process's {dim}×{dim} eigenproblem did not converge"
        ))
    })?;
    let found = ritz.len();
    Ok((
        ritz.into_iter().map(|(l, _)| (l, 1)).collect(),
        format!(
            "Arnoldi process ({dim} Krylov vectors; beyond the dense solve's N ≤ {dense_limit}): \
             the {found} Ritz values converged to a relative residual ≤ {CONVERGED:e}, the outside \
             of the spectrum (the largest |lambda|, the extreme real parts); the rest of the N = \
             {n} eigenvalues are not listed"
        ),
    ))
}
