//! Eigen-analysis of M (SPEC §3, `attractor modes`).
//!
//! A mode of eigenvalue lambda of the linear network tau dv/dt = -v + h + M v
//! relaxes with time constant tau / (1 - lambda) to gain 1 / (1 - lambda)
//! times its input: it decays for Re lambda < 1, integrates at lambda = 1
//! and grows for Re lambda > 1. Dense symmetric M uses a symmetric solver,
//! other dense M the Schur form (complex eigenvalues); every structured kind
//! uses diag(d) + U V^T, whose spectrum is that of the R×R matrix V^T U
//! shifted by d when d is constant, so no N×N matrix is formed.

use crate::error::{Error, Result};
use crate::model::{AnglePath, Csr, Experiment, Factors, Form, Motion, StructuredForm, Velocity};
use nalgebra::{Complex, DMatrix, DVector};
use serde::Serialize;
use std::borrow::Cow;

/// Largest N for which a dense eigen-decomposition (N³) is attempted.
pub const DENSE_LIMIT: usize = 4096;
/// Eigenvalues closer than this (relative to the spectral scale) are one mode
/// with multiplicity; |1 - lambda| below it is an integrator.
const TOL: f64 = 1e-9;

/// How a mode behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// Re lambda < 1: decays to its steady state.
    Decaying,
    /// lambda = 1: integrates its input, holds its value.
    Integrator,
    /// Re lambda > 1: grows exponentially.
    Growing,
}

/// One eigenvalue (with multiplicity) and what it means.
#[derive(Clone, Debug, Serialize)]
pub struct Mode {
    /// Re lambda.
    pub eigenvalue_re: f64,
    /// Im lambda (0 for real modes; non-zero modes oscillate).
    pub eigenvalue_im: f64,
    /// How many modes share this eigenvalue.
    pub multiplicity: usize,
    /// Re of the gain 1/(1 - lambda); null for an integrator.
    pub gain: Option<f64>,
    /// Im of the gain (0 for real modes).
    pub gain_im: f64,
    /// e-folding time tau / |1 - Re lambda| (of decay or of growth); null for an integrator.
    pub time_constant: Option<f64>,
    /// Oscillation period 2 pi tau / |Im lambda| for complex modes.
    pub period: Option<f64>,
    /// Decaying, integrator or growing.
    pub regime: Regime,
}

/// The linear steady state (I - M)^-1 h for one input epoch.
#[derive(Clone, Debug, Serialize)]
pub struct SteadyState {
    /// Index of the `[[input]]` entry.
    pub input: usize,
    /// The steady state, or null when I - M is singular or M has a growing mode.
    pub values: Option<Vec<f64>>,
    /// Why there is none.
    pub note: Option<String>,
}

/// The result of `attractor modes`.
#[derive(Clone, Debug, Serialize)]
pub struct ModesReport {
    /// Experiment name.
    pub name: String,
    /// N.
    pub n: usize,
    /// tau.
    pub tau: f64,
    /// Weights kind.
    pub weights: String,
    /// Activation kind; for a nonlinear one the modes are those of M, i.e.
    /// of the linearisation where every unit is in a linear range of slope 1.
    pub activation: String,
    /// Whether M is symmetric (real spectrum).
    pub symmetric: bool,
    /// How the eigenvalues were obtained.
    pub method: String,
    /// The largest |lambda| (for random weights beyond the dense solver,
    /// the circular law's radius |g|); null without modes.
    pub spectral_radius: Option<f64>,
    /// Random weights: the radius |g| of the disk the circular law fills.
    pub circular_law: Option<f64>,
    /// Modes, largest real part first.
    pub modes: Vec<Mode>,
    /// One per input epoch.
    pub steady_states: Vec<SteadyState>,
    /// What a velocity input does to the modes.
    pub notes: Vec<String>,
}

/// The note of a moving or played input: no steady state, and for a
/// steadily moving profile on a ring, how a linear ring's cosine mode
/// follows it.
fn moving_note(experiment: &Experiment, e: &crate::model::InputEpoch) -> String {
    match (&e.motion, experiment.network.weights.ring_lambda1()) {
        (
            Motion::Moving {
                path: AnglePath::Steady { omega, .. },
                ..
            },
            Some(lambda1),
        ) if lambda1 < 1.0 => {
            let omega = omega[0];
            let wt = omega * experiment.network.tau;
            format!(
                "the input moves at {omega} rad/s (its profile at the start is shown): a linear \
                 ring's cosine mode follows it, behind by atan(omega tau / (1 - lambda1)) = {:.6} \
                 rad with gain 1 / |1 - lambda1 + i omega tau| = {:.6}",
                (wt / (1.0 - lambda1)).atan(),
                1.0 / (1.0 - lambda1).hypot(wt)
            )
        }
        (Motion::Moving { .. }, _) => {
            "the input moves (its profile at the start is shown): it has no steady state".into()
        }
        (Motion::Still | Motion::Frames { .. }, _) => {
            "the input plays a file's rows (the first is shown): it has no steady state".into()
        }
    }
}

/// What the velocity inputs do to the ring's modes: the pair of eigenvalue
/// lambda1 becomes lambda1 (1 ± i tau v).
fn velocity_notes(experiment: &Experiment) -> Vec<String> {
    let Some(lambda1) = experiment.network.weights.ring_lambda1() else {
        return Vec::new();
    };
    let tau = experiment.network.tau;
    let vmax = experiment
        .velocity
        .iter()
        .flat_map(|e| match &e.v {
            Velocity::Constant(v) => vec![v[0]],
            Velocity::Samples(s) => s[0].values().to_vec(),
        })
        .fold(None, |a: Option<f64>, v| {
            Some(a.map_or(v, |a| if v.abs() > a.abs() { v } else { a }))
        });
    vmax.map(|v| {
        format!(
            "a velocity v turns the pair of modes lambda1 = {lambda1} into lambda1 (1 ± i tau v) \
             (at |v| = {:.6} rad/s: {lambda1:.6} ± {:.6}i): a linear ring's pair then rotates \
             at lambda1 v, and the bump of a ring attractor moves at v",
            v.abs(),
            lambda1 * tau * v.abs()
        )
    })
    .into_iter()
    .collect()
}

impl Mode {
    fn new(lambda: Complex<f64>, multiplicity: usize, tau: f64) -> Self {
        let one_minus = Complex::new(1.0, 0.0) - lambda;
        let integrator = one_minus.norm() <= TOL;
        let regime = if integrator {
            Regime::Integrator
        } else if lambda.re > 1.0 {
            Regime::Growing
        } else {
            Regime::Decaying
        };
        let gain = (!integrator).then(|| Complex::new(1.0, 0.0) / one_minus);
        let rate = (1.0 - lambda.re).abs();
        Mode {
            eigenvalue_re: lambda.re,
            eigenvalue_im: lambda.im,
            multiplicity,
            gain: gain.map(|g| g.re),
            gain_im: gain.map_or(0.0, |g| g.im),
            time_constant: (rate > TOL).then(|| tau / rate),
            period: (lambda.im != 0.0).then(|| 2.0 * std::f64::consts::PI * tau / lambda.im.abs()),
            regime,
        }
    }
}

/// Eigenvalues with their multiplicities.
type Spectrum = Vec<(Complex<f64>, usize)>;

/// Groups eigenvalues (with multiplicities) into modes, largest real part first.
fn group(mut eig: Spectrum, tau: f64) -> Vec<Mode> {
    let scale = eig.iter().fold(1.0f64, |a, (l, _)| a.max(l.norm()));
    for (l, _) in eig.iter_mut() {
        if l.im.abs() <= TOL * scale {
            l.im = 0.0;
        }
    }
    eig.sort_by(|a, b| {
        b.0.re
            .partial_cmp(&a.0.re)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(
                b.0.im
                    .partial_cmp(&a.0.im)
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
    });
    let mut out: Vec<(Complex<f64>, usize)> = Vec::new();
    for (l, m) in eig {
        match out.last_mut() {
            Some((prev, count)) if (*prev - l).norm() <= TOL * scale => *count += m,
            _ => out.push((l, m)),
        }
    }
    out.into_iter().map(|(l, m)| Mode::new(l, m, tau)).collect()
}

fn dense_eigenvalues(n: usize, m: &[f64], symmetric: bool) -> Result<(Spectrum, String)> {
    if n > DENSE_LIMIT {
        return Err(Error::Analysis(format!(
            "network.n = {n}: a dense eigen-decomposition is limited to N ≤ {DENSE_LIMIT} \
             (its cost grows as N³); structured weights (ring, hebbian, low_rank, diagonal) have no limit"
        )));
    }
    let mat = DMatrix::from_row_slice(n, n, m);
    Ok(if symmetric {
        let e = mat.symmetric_eigenvalues();
        (
            e.iter().map(|&l| (Complex::new(l, 0.0), 1)).collect(),
            "dense symmetric eigen-solver".into(),
        )
    } else {
        let e = eigenvalues(mat).ok_or_else(|| {
            Error::Analysis(format!(
                "network.n = {n}: the Schur decomposition of M did not converge in \
                 {SCHUR_ITERATIONS} iterations"
            ))
        })?;
        (
            e.into_iter().map(|l| (l, 1)).collect(),
            "dense Schur decomposition (non-symmetric M)".into(),
        )
    })
}

/// The eigenvalues of a network of several populations, as those of one
/// population of time constant tau (the first population's): the
/// linearised system tau_i dx_i/dt = -x_i + sum_j M_ij x_j has the
/// eigenvalues mu of T^-1 (M - I), T = diag(tau_i); reported as
/// lambda = 1 + tau mu, the eigenvalues of I + tau T^-1 (M - I), so that a
/// mode's time constant tau / |1 - Re lambda| = 1 / |Re mu| and period
/// 2 pi tau / |Im lambda| = 2 pi / |Im mu| are in seconds as for one population.
/// All of them by a dense solve up to [`POPULATIONS_DENSE_LIMIT`] neurons,
/// the outer ones by the Arnoldi process beyond.
fn populations_eigenvalues(
    net: &crate::model::Network,
    m: &Csr,
    factors: &Factors,
) -> Result<(Spectrum, String)> {
    let n = net.n;
    // I + tau T^-1 (M - I), row by row, sparse as M is.
    let taus = crate::model::neuron_taus(&net.populations, n, net.tau);
    let (mut rows, mut cols, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &tau_i) in taus.iter().enumerate() {
        let r = net.tau / tau_i;
        let (c, v) = m.row(i);
        for (&j, &x) in c.iter().zip(v) {
            rows.push(i as u64);
            cols.push(u64::from(j));
            values.push(r * x);
        }
        // Summed with M_ii where it has one.
        rows.push(i as u64);
        cols.push(i as u64);
        values.push(1.0 - r);
    }
    let a = Csr::from_triplets(n, &rows, &cols, &values).map_err(Error::Analysis)?;
    // The factored terms scaled as M's rows are.
    let ratios: Vec<f64> = taus.iter().map(|&t| net.tau / t).collect();
    let a_factors = factors.scale_rows(&ratios);
    let what = format!(
        "I + tau T^-1 (M - I), T the diagonal of each neuron's population's time constant and \
         tau = {} s the first population's (each mode's time constant and period in seconds)",
        net.tau
    );
    if n > POPULATIONS_DENSE_LIMIT {
        let (e, method) = super::krylov::spectrum_with(&a, &a_factors, POPULATIONS_DENSE_LIMIT)?;
        return Ok((e, format!("{what}, by the {method}")));
    }
    let mut dense = a.to_dense();
    a_factors.add_to_dense(&mut dense);
    let a = DMatrix::from_row_slice(n, n, &dense);
    // Populations of identical neurons give eigenvalues of high
    // multiplicity, on which the Schur iteration at machine precision can
    // stall: then again at 1e-12, which moves no eigenvalue by more.
    let e = eigenvalues(a.clone())
        .or_else(|| {
            nalgebra::linalg::Schur::try_new(a, 1e-12, SCHUR_ITERATIONS)
                .map(|s| s.complex_eigenvalues().iter().copied().collect())
        })
        .ok_or_else(|| {
            Error::Analysis(format!(
                "{n} neurons: the Schur decomposition did not converge in {SCHUR_ITERATIONS} \
                 iterations"
            ))
        })?;
    Ok((
        e.into_iter().map(|l| (l, 1)).collect(),
        format!("dense solve of {what}"),
    ))
}

/// The largest network of several populations whose modes are all found
/// by a dense solve (which takes seconds at this size); beyond it the
/// Arnoldi process finds the outer ones.
pub const POPULATIONS_DENSE_LIMIT: usize = 1024;

/// The most Schur iterations an eigen-solve takes (nalgebra's own default
/// never stops, and some nearly diagonal matrices never converge).
const SCHUR_ITERATIONS: usize = 100_000;

/// The eigenvalues of a square matrix: a symmetric solve where it is
/// symmetric to 1e-12 of its largest entry (the eigenvalues then move by
/// no more than that), else the Schur decomposition, None when that does
/// not converge.
fn eigenvalues(m: DMatrix<f64>) -> Option<Vec<Complex<f64>>> {
    let scale = m.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    let asymmetry = (&m - m.transpose())
        .iter()
        .fold(0.0f64, |a, x| a.max(x.abs()));
    if asymmetry <= 1e-12 * scale {
        let sym = (&m + m.transpose()) * 0.5;
        return Some(
            sym.symmetric_eigenvalues()
                .iter()
                .map(|&l| Complex::new(l, 0.0))
                .collect(),
        );
    }
    let schur = nalgebra::linalg::Schur::try_new(m, f64::EPSILON, SCHUR_ITERATIONS)?;
    Some(schur.complex_eigenvalues().iter().copied().collect())
}

/// Eigenvalues of diag(c) + U V^T for constant c: c + eig(V^T U), and c for
/// the other N - R modes.
fn structured_eigenvalues(s: &StructuredForm) -> Option<Spectrum> {
    let n = s.n;
    let d = s.d();
    let c0 = d[0];
    if d.iter()
        .any(|&x| (x - c0).abs() > 1e-14 * c0.abs().max(1.0))
    {
        return None;
    }
    let r = s.rank();
    let mut eig: Spectrum = Vec::new();
    if r > 0 {
        let small = s.v_matrix().transpose() * s.u_matrix();
        // With R > N only N of the R eigenvalues are eigenvalues of M; the
        // extra ones are zeros of V^T U (rank ≤ N): drop the smallest.
        let mut vals: Vec<Complex<f64>> = eigenvalues(small)?;
        vals.sort_by(|a, b| {
            b.norm()
                .partial_cmp(&a.norm())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        vals.truncate(n);
        eig.extend(vals.into_iter().map(|l| (l + Complex::new(c0, 0.0), 1)));
    }
    if n > r {
        eig.push((Complex::new(c0, 0.0), n - r));
    }
    Some(eig)
}

/// Eigenvalues of packed Hebbian weights, M = (1/N) Xᵀ X - (P/N) I: those
/// of the P×P overlap matrix G = (1/N) X Xᵀ minus P/N, and -P/N for the
/// other N - P modes. G_{mu nu} = (N - 2 popcount(xi^mu XOR xi^nu)) / N,
/// from the bits (the padding bits of the last word are 0 in every
/// pattern, so they never differ).
fn packed_eigenvalues(bits: &crate::model::PatternBits) -> Result<Spectrum> {
    let (n, p) = (bits.n(), bits.p());
    if p > DENSE_LIMIT {
        return Err(Error::Analysis(format!(
            "network.weights.patterns = {p}: the eigenvalues of packed Hebbian weights come from \
             the P×P overlap matrix, limited to P ≤ {DENSE_LIMIT}"
        )));
    }
    let words = crate::model::PatternBits::words(n);
    let g = DMatrix::from_fn(p, p, |a, b| {
        let differ: u32 = (0..words)
            .map(|j| (bits.word(a, j) ^ bits.word(b, j)).count_ones())
            .sum();
        (n as f64 - 2.0 * f64::from(differ)) / n as f64
    });
    let mut vals: Vec<f64> = g.symmetric_eigenvalues().iter().copied().collect();
    vals.sort_by(|a, b| {
        b.abs()
            .partial_cmp(&a.abs())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    vals.truncate(n);
    let c0 = -(p as f64) / n as f64;
    let r = vals.len();
    let mut eig: Spectrum = vals
        .into_iter()
        .map(|l| (Complex::new(l + c0, 0.0), 1))
        .collect();
    if n > r {
        eig.push((Complex::new(c0, 0.0), n - r));
    }
    Ok(eig)
}

/// The most P N entries of packed patterns `modes` expands to floats for
/// the steady states (8 bytes each).
const PACKED_SOLVE_LIMIT: usize = 1 << 24;

/// (I - M)^-1 h for M = diag(d) + U V^T by the Woodbury identity.
fn structured_solve(s: &StructuredForm, h: &[f64]) -> Option<Vec<f64>> {
    let a: Vec<f64> = s.d().iter().map(|d| 1.0 - d).collect();
    if a.iter().any(|x| x.abs() < TOL) {
        return None;
    }
    let ainv_h = DVector::from_iterator(h.len(), h.iter().zip(&a).map(|(h, a)| h / a));
    let r = s.rank();
    if r == 0 {
        return Some(ainv_h.iter().copied().collect());
    }
    let (u, v) = (s.u_matrix(), s.v_matrix());
    let mut ainv_u = u.clone();
    for (i, ai) in a.iter().enumerate() {
        for k in 0..r {
            ainv_u[(i, k)] /= ai;
        }
    }
    let small = DMatrix::identity(r, r) - v.transpose() * &ainv_u;
    let lu = small.lu();
    let y = lu.solve(&(v.transpose() * &ainv_h))?;
    let x = ainv_h + ainv_u * y;
    Some(x.iter().copied().collect())
}

/// The eigen-analysis of `experiment`'s M and the linear steady states of its inputs.
pub fn analyse(experiment: &Experiment) -> Result<ModesReport> {
    let net = &experiment.network;
    let n = net.n;
    let w = &net.weights;
    let symmetric = w.is_symmetric();
    let circular_law = w.circular_law();
    // Several populations: their block M is sparse, expanded (for the
    // steady states) only within their dense solve's limit.
    let dense_limit = if net.has_populations() {
        POPULATIONS_DENSE_LIMIT
    } else {
        DENSE_LIMIT
    };
    // Generated random weights beyond the dense solver: the circular law
    // alone, no form built (a materialised matrix would be N² entries);
    // drawn sparse ones go to the Krylov solve below.
    let form = match circular_law {
        Some(_) if n > DENSE_LIMIT && w.kind() != "sparse" => None,
        Some(_) | None => Some(w.form()),
    };
    // What the solves read: the dense entries (stored or generated), the
    // structured form (packed patterns expanded only while small), a
    // kernel's Fourier modes, the bits.
    let (dense, structured, kernel, packed) = match &form {
        None => (None, None, None, None),
        Some(Form::Dense { m, .. }) => (Some(m.clone()), None, None, None),
        Some(Form::Generated(g)) => (Some(Cow::Owned(g.matrix())), None, None, None),
        Some(Form::Structured(s)) => (None, Some(Cow::Borrowed(s)), None, None),
        Some(Form::Packed { n, bits }) => (
            None,
            (bits.p() * n <= PACKED_SOLVE_LIMIT)
                .then(|| w.structured().map(Cow::Owned))
                .flatten(),
            None,
            Some(*bits),
        ),
        Some(Form::Convolution(k)) => (None, None, Some(*k), None),
        // Expanded for the dense solve, within its limit.
        Some(Form::Sparse(_, _)) if n <= dense_limit => {
            (Some(Cow::Owned(w.to_dense())), None, None, None)
        }
        // Beyond it: the Arnoldi process below.
        Some(Form::Sparse(_, _)) => (None, None, None, None),
    };
    let krylov = match &form {
        Some(Form::Sparse(csr, factors)) if n > DENSE_LIMIT => Some((*csr, *factors)),
        Some(Form::Sparse(_, _))
        | Some(Form::Dense { .. })
        | Some(Form::Generated(_))
        | Some(Form::Structured(_))
        | Some(Form::Packed { .. })
        | Some(Form::Convolution(_))
        | None => None,
    };
    let (eig, method) = if let Some(bits) = packed {
        (
            packed_eigenvalues(bits)?,
            format!(
                "structure: packed patterns (eigenvalues of the {p}×{p} overlap matrix)",
                p = bits.p()
            ),
        )
    } else if let Some(k) = kernel {
        (
            k.eigenvalues()
                .into_iter()
                .map(|l| (Complex::new(l, 0.0), 1))
                .collect(),
            format!(
                "structure: a circulant on the {side}×{side} sheet (one eigenvalue per Fourier \
                 mode, the products of the 1D transforms of the Gaussians' taps)",
                side = k.side
            ),
        )
    } else if let Some(s) = &structured {
        match structured_eigenvalues(s) {
            Some(e) => (
                e,
                format!(
                    "structure: diag + rank-{} (eigenvalues of a {}×{} matrix)",
                    s.rank(),
                    s.rank(),
                    s.rank()
                ),
            ),
            None => {
                let (e, _) = dense_eigenvalues(n, &w.to_dense(), symmetric).map_err(|_| {
                    Error::Analysis(format!(
                        "these hebbian patterns have unequal norms, so the spectrum needs a dense \
                         solve, limited to N ≤ {DENSE_LIMIT}; network.n = {n}"
                    ))
                })?;
                (
                    e,
                    "dense solve (structured weights with a non-constant diagonal)".into(),
                )
            }
        }
    } else if let (Some(m), Some(g)) = (&dense, circular_law) {
        let (e, _) = dense_eigenvalues(n, m, false)?;
        (
            e,
            format!(
                "dense solve of the generated matrix (circular law: as N grows the \
                 eigenvalues fill the disk |lambda| ≤ |g| = {g})"
            ),
        )
    } else if let (true, Some(Form::Sparse(csr, factors))) = (net.has_populations(), &form) {
        populations_eigenvalues(net, csr, factors)?
    } else if let Some(m) = &dense {
        dense_eigenvalues(n, m, symmetric)?
    } else if net.has_populations() {
        return Err(Error::Analysis(format!(
            "{n} neurons in all: the modes of several populations (each with its own tau) are \
             found from their block M in sparse rows, which these weights are not"
        )));
    } else if let Some((csr, factors)) = krylov {
        let (e, mut method) = super::krylov::spectrum_with(csr, factors, DENSE_LIMIT)?;
        if let (true, Some(g)) = (e.is_empty(), circular_law) {
            method.push_str(&format!(
                "; none converges here, as the eigenvalues of random weights fill the disk \
                 |lambda| ≤ |g| = {g} without an isolated edge: the spectral radius below is \
                 the circular law's"
            ));
        }
        (e, method)
    } else {
        let g = circular_law.expect("only random weights skip the form");
        (
            Vec::new(),
            format!(
                "the circular law, not a solve (the dense solve is limited to N ≤ \
                 {DENSE_LIMIT}; network.n = {n}): the eigenvalues of g J / sqrt(p N) fill the \
                 disk |lambda| ≤ |g| = {g} uniformly as N grows, so the state 0 of the \
                 linear network decays for |g| < 1 and the mode of largest Re lambda grows \
                 for |g| > 1"
            ),
        )
    };
    let spectral_radius = eig
        .iter()
        .map(|(l, _)| l.norm())
        .fold(None, |a: Option<f64>, r| Some(a.map_or(r, |a| a.max(r))))
        .or(circular_law);
    let modes = group(eig, net.tau);
    let unstable = modes.iter().any(|m| m.regime != Regime::Decaying);
    let steady_states = experiment
        .inputs
        .iter()
        .map(|e| {
            let values = if let Some(s) = &structured {
                structured_solve(s, &e.h)
            } else if let Some(k) = kernel {
                // (I - M)^-1 h by FFT, none where a mode has eigenvalue 1.
                let mut x = vec![0.0; n];
                crate::model::Convolution::new(k)
                    .filter(&e.h, &mut x, |l| {
                        ((1.0 - l).abs() > TOL).then(|| 1.0 / (1.0 - l))
                    })
                    .map(|()| x)
            } else {
                dense.as_deref().and_then(|m| {
                    let a = DMatrix::identity(n, n) - DMatrix::from_row_slice(n, n, m);
                    a.lu()
                        .solve(&DVector::from_column_slice(&e.h))
                        .map(|x| x.iter().copied().collect())
                })
            };
            let note = match (&values, unstable) {
                (None, _) if structured.is_none() && dense.is_none() && kernel.is_none() => {
                    Some(match packed {
                        Some(bits) => format!(
                            "not computed: the Woodbury solve would expand the {} packed \
                             patterns of N = {n} to floats",
                            bits.p()
                        ),
                        None => {
                            format!("not computed: the dense solve is limited to N ≤ {DENSE_LIMIT}")
                        }
                    })
                }
                (None, _) => Some(
                    "I - M is singular (a mode with eigenvalue 1): no steady state".to_string(),
                ),
                (Some(_), true) => Some(
                    "a fixed point of the equations, but M has a mode with Re lambda ≥ 1, so the \
                     network does not settle there"
                        .to_string(),
                ),
                _ => None,
            };
            let note = match (&e.motion, note) {
                (Motion::Still, note) => note,
                (_, note) => Some(
                    std::iter::once(moving_note(experiment, e))
                        .chain(note)
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            };
            SteadyState {
                input: e.entry,
                values,
                note,
            }
        })
        .collect();
    let notes = velocity_notes(experiment);
    Ok(ModesReport {
        notes,
        name: experiment.name.clone(),
        n,
        tau: net.tau,
        weights: if net.has_populations() {
            format!("projections between {} populations", net.populations.len())
        } else {
            w.kind().into()
        },
        activation: net.activation.kind().into(),
        symmetric,
        method,
        spectral_radius,
        circular_law,
        modes,
        steady_states,
    })
}
