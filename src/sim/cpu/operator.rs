//! The recurrent product y = M x in the form of M ([`crate::model::Form`]):
//! dense rows, the structured form's projections and expansion, generated
//! rows, packed patterns, or a convolution. This is the CPU twin of the
//! GPU's operator kernels.

use super::matvec::Matvec;
use super::pages::Aligned;
use super::structured::Parts;
use super::table::{rows_read, tile_for, Table};
use crate::model::{Form, Generator, PatternBits, Rotation, Shape, StructuredForm, Weights};
use crate::real::c;
use rayon::prelude::*;

/// y = M x in float type `T`: dense rows, or the normalised structured form
/// diag(d) + sum_r coef_r U_r V_r^T ([`StructuredForm`]) of every other kind,
/// applied in O(N R) as the GPU's structured kernels do: the R projections
/// coef_r (V_r . x), then y_i = d_i x_i + sum_r proj_r U_r,i.
#[derive(Clone, Debug)]
pub enum Operator<T> {
    /// Dense N×N, row-major.
    Dense {
        /// N.
        n: usize,
        /// Entries, row-major.
        m: Aligned<T>,
    },
    /// diag(d) + sum_r coef_r U_r V_r^T.
    Structured {
        /// N.
        n: usize,
        /// The diagonal d, if any.
        diag: Option<Aligned<T>>,
        /// The R coefficients.
        coef: Vec<T>,
        /// V, R rows of N.
        v: Table<T>,
        /// U, R rows of N, in the same tiles; `None` when U = V.
        u: Option<Table<T>>,
        /// Rows of V (and of U when U = V) whose entries are all 1 (the
        /// ring's uniform mode): their projection is the sum of x and their
        /// expansion adds it, without reading the row.
        uniform: Vec<bool>,
        /// The row pairs a velocity turns ([`Operator::apply_turned`]).
        rotations: Vec<Rotation>,
    },
    /// `random` weights generated row by row at every product (O(N)
    /// memory): each block of [`GENERATED_ROWS`] rows is generated into a
    /// thread's scratch and multiplied by the dense kernel, so every row's
    /// sum is the one the stored matrix gives.
    Generated(Generator),
    /// Hebbian weights of bit-packed patterns.
    Packed(PackedOperator<T>),
    /// A kernel on a periodic sheet, applied by FFT.
    Convolution(std::sync::Arc<crate::model::Convolution>),
    /// Stored entries in compressed rows.
    Sparse(SparseOperator<T>),
}

/// Sparse M: the compressed rows (shared with the weights) and their
/// values in `T`, multiplied over blocks of rows of about equal numbers of
/// entries in parallel. Each row is summed alone, in column order, so the
/// product has the same bits whatever the number of threads.
#[derive(Clone, Debug)]
pub struct SparseOperator<T> {
    /// The rows' places and columns.
    pub csr: std::sync::Arc<crate::model::Csr>,
    /// The values in `T`, row by row.
    pub values: Vec<T>,
    /// The row blocks the product shares out.
    pub blocks: Vec<std::ops::Range<usize>>,
    /// The terms kept as factors, in `T`.
    pub factors: Vec<FactorTerm<T>>,
}

/// A factored term in `T`: (first row, first column, coefficient, u, v).
pub type FactorTerm<T> = (usize, usize, T, Vec<T>, Vec<T>);

/// Neurons of a factored term's dot product summed per task: the partial
/// sums are added in order, so the product has the same bits whatever the
/// number of threads.
const FACTOR_CHUNK: usize = 8192;

/// Whether a factored term's dot product or expansion of `len` neurons is
/// shared over rayon's threads.
fn factor_forks(len: usize) -> bool {
    len > FACTOR_CHUNK
}

/// Blocks of rows a sparse product shares out per thread (so that a few
/// slow blocks do not hold the others up).
pub const SPARSE_BLOCKS_PER_THREAD: usize = 4;

impl<T> SparseOperator<T> {
    /// The tasks [`SparseOperator::apply`] shares out at once: its blocks
    /// of rows (from [`SPARSE_PARALLEL_NNZ`] entries), or a factored
    /// term's chunks of [`FACTOR_CHUNK`] neurons (its dot product's and its
    /// expansion's), whichever are more (1 where it runs on one thread).
    fn tasks(&self) -> usize {
        let rows = if self.csr.nnz() < SPARSE_PARALLEL_NNZ {
            1
        } else {
            self.blocks.len()
        };
        let factor = |len: usize| {
            if factor_forks(len) {
                len.div_ceil(FACTOR_CHUNK)
            } else {
                1
            }
        };
        self.factors
            .iter()
            .map(|(_, _, _, u, v)| factor(u.len()).max(factor(v.len())))
            .fold(rows, usize::max)
    }
}

impl<T: Matvec> SparseOperator<T> {
    fn new(csr: &std::sync::Arc<crate::model::Csr>, factors: &crate::model::Factors) -> Self {
        let parts = SPARSE_BLOCKS_PER_THREAD * rayon::current_num_threads();
        let cv = |v: &[f64]| v.iter().map(|&x| c::<T>(x)).collect::<Vec<T>>();
        SparseOperator {
            values: csr.values().par_iter().map(|&x| c::<T>(x)).collect(),
            blocks: csr.row_blocks(parts),
            csr: csr.clone(),
            factors: factors
                .terms
                .iter()
                .map(|t| (t.to, t.from, c::<T>(t.coef), cv(&t.u), cv(&t.v)))
                .collect(),
        }
    }

    /// y += the factored terms' product: each term's v . x (in chunks of
    /// [`FACTOR_CHUNK`], their sums added in order) times coef u.
    fn add_factors(&self, x: &[T], y: &mut [T]) {
        for (to, from, coef, u, v) in &self.factors {
            let xs = &x[*from..*from + v.len()];
            let dot =
                |(vc, xc): (&[T], &[T])| vc.iter().zip(xc).fold(T::zero(), |s, (&a, &b)| s + a * b);
            let s = if factor_forks(v.len()) {
                let parts: Vec<T> = v
                    .par_chunks(FACTOR_CHUNK)
                    .zip(xs.par_chunks(FACTOR_CHUNK))
                    .map(dot)
                    .collect();
                parts.into_iter().fold(T::zero(), |a, b| a + b)
            } else {
                dot((v, xs))
            } * *coef;
            let ys = &mut y[*to..*to + u.len()];
            if factor_forks(u.len()) {
                ys.par_chunks_mut(FACTOR_CHUNK)
                    .zip(u.par_chunks(FACTOR_CHUNK))
                    .for_each(|(yc, uc)| {
                        for (yi, &ui) in yc.iter_mut().zip(uc) {
                            *yi = *yi + ui * s;
                        }
                    });
            } else {
                for (yi, &ui) in ys.iter_mut().zip(u) {
                    *yi = *yi + ui * s;
                }
            }
        }
    }

    /// y = M x.
    fn apply(&self, x: &[T], y: &mut [T]) {
        let (ptr, cols, values) = (self.csr.row_ptr(), self.csr.cols(), &self.values[..]);
        let rows = |range: std::ops::Range<usize>, yb: &mut [T]| {
            for (i, yi) in range.zip(yb) {
                let (a, b) = (ptr[i], ptr[i + 1]);
                let mut s = T::zero();
                for (&j, &v) in cols[a..b].iter().zip(&values[a..b]) {
                    s = s + v * x[j as usize];
                }
                *yi = s;
            }
        };
        if self.csr.nnz() < SPARSE_PARALLEL_NNZ {
            rows(0..self.csr.n(), y);
            return self.add_factors(x, y);
        }
        // Split y at the blocks' ends, one task per block.
        let mut parts = Vec::with_capacity(self.blocks.len());
        let mut rest = &mut *y;
        for b in &self.blocks {
            let (head, tail) = rest.split_at_mut(b.len());
            parts.push((b.clone(), head));
            rest = tail;
        }
        parts
            .into_par_iter()
            .for_each(|(range, yb)| rows(range, yb));
        self.add_factors(x, y);
    }
}

/// Hebbian weights from bit-packed ±1 patterns, without their values
/// ever stored as floats ([`crate::model::patterns`]).
#[derive(Clone, Debug)]
pub struct PackedOperator<T> {
    /// The patterns.
    pub bits: std::sync::Arc<crate::model::PatternBits>,
    /// 1/N.
    pub coef: T,
    /// The diagonal correction -P/N (the same for every unit).
    pub diag: T,
}

/// Rows of generated weights a task generates and multiplies at once (the
/// dense kernel's four rows per load of x).
pub const GENERATED_ROWS: usize = 4;

/// Generated M's product shares its blocks of rows over the threads from
/// this N up.
const GENERATED_PARALLEL_N: usize = 64;

/// A sparse product shares its blocks of rows over the threads from this
/// many stored entries up.
const SPARSE_PARALLEL_NNZ: usize = 4096;

impl<T: Matvec> Operator<T> {
    /// Builds the operator for `weights`, converting to `T`.
    pub fn new(weights: &Weights) -> Self {
        match weights.form() {
            Form::Dense { n, m } => {
                // M is streamed every step: back it with huge pages, from a
                // cache line.
                let entries = Aligned::build(m.len(), true, |e| {
                    e.par_extend(m.par_iter().map(|&x| c::<T>(x)))
                });
                Operator::Dense { n, m: entries }
            }
            Form::Generated(g) => Operator::Generated(g),
            Form::Packed { n, bits } => Operator::Packed(PackedOperator {
                bits: bits.clone(),
                coef: c(1.0 / n as f64),
                diag: c(-(bits.p() as f64) / n as f64),
            }),
            Form::Convolution(k) => {
                Operator::Convolution(std::sync::Arc::new(crate::model::Convolution::new(k)))
            }
            Form::Structured(form) => Self::from_form(&form),
            Form::Sparse(csr, factors) => Operator::Sparse(SparseOperator::new(csr, factors)),
        }
    }

    /// The operator of a structured form, converted to `T`, its tables in
    /// tiles sized to the rows a step reads (U's rows that are not
    /// all ones, V's too where U differs, the diagonal).
    pub fn from_form(form: &StructuredForm) -> Self {
        let uniform = form.unit_rows();
        let rows = rows_read(&uniform, form.u.is_some(), form.diag.is_some());
        Self::tiled(form, uniform, tile_for(rows, std::mem::size_of::<T>()))
    }

    /// [`Operator::from_form`] with tiles of `tile` neurons, `uniform` the
    /// form's all-ones rows.
    fn tiled(form: &StructuredForm, uniform: Vec<bool>, tile: usize) -> Self {
        // Streamed every step: on huge pages, from a cache line.
        let diag = |v: &[f64]| {
            Aligned::build(v.len(), true, |out| {
                out.par_extend(v.par_iter().map(|&x| c::<T>(x)))
            })
        };
        let (n, rank) = (form.n, form.coef.len());
        Operator::Structured {
            n,
            diag: form.diag.as_deref().map(diag),
            coef: form.coef.iter().map(|&x| c::<T>(x)).collect(),
            v: Table::new(&form.v, rank, n, tile),
            u: form.u.as_deref().map(|u| Table::new(u, rank, n, tile)),
            uniform,
            rotations: form.rotations.clone(),
        }
    }

    /// The row pairs a velocity turns (none but the ring's).
    pub fn rotations(&self) -> &[Rotation] {
        match self {
            Operator::Structured { rotations, .. } => rotations,
            Operator::Dense { .. }
            | Operator::Generated(_)
            | Operator::Packed(_)
            | Operator::Convolution(_)
            | Operator::Sparse(_) => &[],
        }
    }

    /// Number of low-rank projections this operator computes per product
    /// (3 for a ring, P for Hebbian, R for low rank, 0 otherwise).
    pub fn projections(&self) -> usize {
        match self {
            Operator::Structured { coef, .. } => coef.len(),
            Operator::Dense { .. }
            | Operator::Generated(_)
            | Operator::Convolution(_)
            | Operator::Sparse(_) => 0,
            Operator::Packed(p) => p.bits.p(),
        }
    }

    /// The first row of V (= U) that is all ones, if any: its projection is
    /// the sum of the operand.
    pub fn uniform_row(&self) -> Option<usize> {
        match self {
            Operator::Structured { uniform, .. } => uniform.iter().position(|&u| u),
            Operator::Dense { .. }
            | Operator::Generated(_)
            | Operator::Packed(_)
            | Operator::Convolution(_)
            | Operator::Sparse(_) => None,
        }
    }

    /// The diagonal d of the structured form, if any.
    pub fn diagonal(&self) -> Option<&[T]> {
        match self {
            Operator::Structured { diag, .. } => diag.as_deref(),
            Operator::Dense { .. }
            | Operator::Generated(_)
            | Operator::Packed(_)
            | Operator::Convolution(_)
            | Operator::Sparse(_) => None,
        }
    }

    /// y = M x. `proj` is scratch space for the projections.
    pub fn apply(&self, x: &[T], y: &mut [T], proj: &mut Vec<T>) {
        self.apply_turned(x, y, proj, &[])
    }

    /// y = M(kappa) x: M with each of its [`Operator::rotations`] turned by
    /// the matching `kappa` (tau k v: the velocity's sine kernel added);
    /// missing values are 0.
    pub fn apply_turned(&self, x: &[T], y: &mut [T], proj: &mut Vec<T>, kappa: &[T]) {
        match self {
            Operator::Dense { n, m } => T::matvec(m, *n, x, y),
            Operator::Sparse(s) => s.apply(x, y),
            Operator::Convolution(conv) => conv.apply_turned(x, y, kappa),
            Operator::Packed(p) => {
                let threads = rayon::current_num_threads();
                crate::model::patterns::overlaps(&p.bits, x, p.coef, proj, threads);
                crate::model::patterns::field(&p.bits, proj, p.diag, x, y);
            }
            Operator::Generated(g) => {
                let n = g.n;
                let block = |rows: &mut Vec<T>, (k, yb): (usize, &mut [T])| {
                    rows.resize(yb.len() * n, T::zero());
                    for (r, row) in rows.chunks_exact_mut(n).enumerate() {
                        g.row(k * GENERATED_ROWS + r, |j, v| row[j] = c(v));
                    }
                    T::rows(rows, n, x, yb);
                };
                if n >= GENERATED_PARALLEL_N {
                    y.par_chunks_mut(GENERATED_ROWS)
                        .enumerate()
                        .for_each_init(Vec::new, block);
                } else {
                    let mut rows = Vec::new();
                    y.chunks_mut(GENERATED_ROWS)
                        .enumerate()
                        .for_each(|b| block(&mut rows, b));
                }
            }
            Operator::Structured { .. } => {
                let s = self.parts().expect("a structured operator has parts");
                #[cfg(target_arch = "x86_64")]
                if super::matvec::simd_available() {
                    // SAFETY: the CPU has AVX2 and FMA (checked just above).
                    return unsafe { s.apply_avx2(x, y, proj, kappa) };
                }
                s.apply(x, y, proj, kappa)
            }
        }
    }
}

impl<T> Operator<T> {
    /// The tasks the product y = M x shares out over rayon's threads at
    /// once, each form by its own test (1 where it runs on one thread): so
    /// many threads can take part in it. For dense M the blocks of
    /// [`ROWS_PER_TASK`](super::matvec::ROWS_PER_TASK) rows of the f32
    /// kernel (f64's loop splits finer), for packed bits the words of
    /// units of the field (the overlaps may split finer where P is over
    /// N / 2): where a product splits finer than counted, fewer threads
    /// are kept awake than could take part, which costs speed only.
    pub fn tasks(&self) -> usize {
        use super::lanes::{forks, CHUNK};
        match self {
            Operator::Dense { n, m } if forks(m.len()) => n.div_ceil(super::matvec::ROWS_PER_TASK),
            Operator::Dense { .. } => 1,
            Operator::Structured { n, coef, .. } if forks(n * coef.len().max(1)) => {
                n.div_ceil(CHUNK)
            }
            Operator::Structured { .. } => 1,
            Operator::Generated(g) if g.n >= GENERATED_PARALLEL_N => g.n.div_ceil(GENERATED_ROWS),
            Operator::Generated(_) => 1,
            Operator::Packed(p) => crate::model::patterns::tasks(p.bits.n(), p.bits.p()),
            Operator::Convolution(conv) => conv.tasks(),
            Operator::Sparse(s) => s.tasks(),
        }
    }

    /// The structured form's parts; `None` for dense and generated M.
    pub(crate) fn parts(&self) -> Option<Parts<'_, T>> {
        match self {
            Operator::Structured {
                n,
                diag,
                coef,
                v,
                u,
                uniform,
                rotations,
            } => Some(Parts {
                n: *n,
                diag: diag.as_deref(),
                coef,
                v,
                u: u.as_ref().unwrap_or(v),
                separate_u: u.is_some(),
                uniform,
                rotations,
            }),
            Operator::Dense { .. }
            | Operator::Generated(_)
            | Operator::Packed(_)
            | Operator::Convolution(_)
            | Operator::Sparse(_) => None,
        }
    }
}

/// What one product by M of shape `shape` (and its share of the update)
/// moves and computes on the CPU, per trial and stage, in floats of
/// `size` bytes with an input uniform over the neurons or not: (bytes in
/// all, of which the weights', flops, a multiply-add counted as 2).
pub fn step_cost(shape: &Shape, size: f64, h_uniform: bool) -> (f64, f64, f64) {
    let n = shape.n() as f64;
    match *shape {
        // M alone (the vectors add 2/N to it).
        Shape::Dense { .. } => {
            let w = n * n * size;
            (w, w, 2.0 * n * n)
        }
        // No weights: x read by every row block (from the cache) and y
        // written, then the update's state, input and product: about 6
        // vectors, counted once each.
        Shape::Generated { .. } => (6.0 * size * n, 0.0, 2.0 * n * n),
        // The fused step: the state read and written, h read where it is
        // not uniform, and the rows of the tables the step reads (U's
        // rows that are not all ones, V's too where U differs, the
        // diagonal) once.
        Shape::Structured(s) => {
            let w = s.rows_read() as f64 * n * size;
            let state = (2 + usize::from(!h_uniform)) as f64 * n * size;
            (state + w, w, 4.0 * s.rank as f64 * n)
        }
        // The bits read twice (overlaps, field); the state read and
        // written, the input and the product, about 6 vectors.
        Shape::Packed {
            n: units, patterns, ..
        } => {
            let w = 2.0 * PatternBits::bytes(units, patterns) as f64;
            (w + 6.0 * size * n, w, 4.0 * patterns as f64 * n)
        }
        // The eigenvalues of the half spectrum (f64), read once; x read;
        // the rows' half spectra (complex f64, 8 N bytes) written and
        // read, the columns' the same; the product written; the update's
        // state read and written: 52 N bytes, plus the weights. The flops
        // are the conventional 5 N log2 N of a forward and an inverse real
        // FFT plus N for the product with the eigenvalues.
        Shape::Convolution { .. } => {
            let w = 4.0 * n;
            (w + 52.0 * n, w, 5.0 * n * n.log2() + n)
        }
        // The values and columns (4 bytes) and the row places (8 bytes a
        // row) once; x gathered by column (counted once: N floats, from the
        // cache where it fits), y written, and the update's state read and
        // written with the input, about 6 vectors.
        Shape::Sparse { nnz, .. } => {
            let w = nnz as f64 * (size + 4.0) + 8.0 * n;
            (w + 6.0 * size * n, w, 2.0 * nnz as f64)
        }
    }
}

/// Bytes the weights of shape `shape` take in a CPU run in floats of
/// `real` bytes on `threads` threads (as given, the run's copy, and a
/// table or form being built).
pub fn weight_memory(shape: &Shape, real: u64, threads: usize) -> u64 {
    let n = shape.n() as u64;
    // Entries of the weights as the run holds them.
    let given = match *shape {
        Shape::Dense { .. } => n.saturating_mul(n),
        // Generated: rows of scratch per thread.
        Shape::Generated { .. } => n.saturating_mul(4 * threads as u64),
        Shape::Packed { .. } => 0,
        // The half spectrum and a product's two half-spectrum buffers
        // (complex f64), about 3 N f64 in all.
        Shape::Convolution { .. } => 3 * n,
        Shape::Structured(s) => (s.rows_stored() as u64).saturating_mul(n),
        Shape::Sparse { .. } => 0,
    };
    match *shape {
        // The bits (shared by the run) and the overlaps' partial sums.
        Shape::Packed { n, patterns, .. } => {
            PatternBits::bytes(n, patterns).saturating_add((patterns as u64).saturating_mul(8 * 64))
        }
        // The weights' entries (f64 values, 4-byte columns, 8-byte row
        // places) and the run's values in its precision.
        Shape::Sparse { n, nnz, .. } => (nnz as u64)
            .saturating_mul(8 + 4 + real)
            .saturating_add(8 * (n as u64 + 1)),
        // As given (f64), the form or dense copy in the run's precision,
        // and a metric table or a form being built (f64).
        Shape::Dense { .. }
        | Shape::Generated { .. }
        | Shape::Convolution { .. }
        | Shape::Structured(_) => given.saturating_mul(8 + real + 8 + 8),
    }
}

#[cfg(test)]
mod tests {
    use super::super::lanes::CHUNK;
    use super::*;

    #[test]
    fn tiles_leave_the_product_unchanged() {
        let w = |k: usize| ((k * 7919 + 13) % 101) as f64 / 101.0 - 0.5;
        for (n, rank) in [(3001usize, 40usize), (70_001, 4)] {
            let form = StructuredForm {
                n,
                diag: Some((0..n).map(|i| w(i + 5)).collect()),
                coef: (0..rank).map(|r| 1.0 + r as f64 / 7.0).collect(),
                u: Some((0..rank * n).map(|k| w(k + 1)).collect()),
                v: (0..rank * n).map(|k| w(k + 2) / n as f64).collect(),
                rotations: Vec::new(),
            };
            let x: Vec<f64> = (0..n).map(|i| w(3 * i)).collect();
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let mut proj = Vec::new();
            let apply = |op: &Operator<f32>, proj: &mut Vec<f32>| {
                let mut y = vec![0.0f32; n];
                op.apply(&xf, &mut y, proj);
                y
            };
            let whole = apply(
                &Operator::<f32>::tiled(&form, form.unit_rows(), n.max(CHUNK)),
                &mut proj,
            );
            for tile in [8, 16, 256, CHUNK] {
                let y = apply(
                    &Operator::<f32>::tiled(&form, form.unit_rows(), tile),
                    &mut proj,
                );
                for i in 0..n {
                    assert!(y[i] == whole[i], "n = {n}, tile {tile}, i = {i}");
                }
                let op = Operator::<f64>::tiled(&form, form.unit_rows(), tile);
                let mut y = vec![0.0; n];
                op.apply(&x, &mut y, &mut Vec::new());
                let (u, v, d) = (
                    form.u.as_ref().unwrap(),
                    &form.v,
                    form.diag.as_ref().unwrap(),
                );
                let p: Vec<f64> = (0..rank)
                    .map(|r| form.coef[r] * (0..n).map(|j| v[r * n + j] * x[j]).sum::<f64>())
                    .collect();
                for i in (0..n).step_by(97) {
                    let want = d[i] * x[i] + (0..rank).map(|r| p[r] * u[r * n + i]).sum::<f64>();
                    assert!(
                        (y[i] - want).abs() < 1e-12,
                        "n = {n}, tile {tile}, i = {i}: {} vs {want}",
                        y[i]
                    );
                }
            }
        }
    }
}
