//! Projections kept as their factors: the rank-one terms coef u v^T of a
//! block matrix whose projections are structured (a ring's cosine kernel,
//! `uniform`, `low_rank`, float `hebbian` between populations), each `u`
//! over its target population's rows and `v` over its source's columns.
//! A product reads each term's n_to + n_from numbers instead of its
//! n_to × n_from entries.

/// One rank-one term coef u v^T of M: `u` over the rows `to .. to +
/// u.len()`, `v` over the columns `from .. from + v.len()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Factor {
    /// Its first row (the target population's first neuron).
    pub to: usize,
    /// Its first column (the source population's first neuron).
    pub from: usize,
    /// The coefficient.
    pub coef: f64,
    /// The column vector, one value per target neuron.
    pub u: Vec<f64>,
    /// The row vector, one value per source neuron.
    pub v: Vec<f64>,
}

/// The factored part of an N×N matrix: sum over terms of coef u v^T.
#[derive(Clone, Debug, PartialEq)]
pub struct Factors {
    /// N.
    pub n: usize,
    /// The terms.
    pub terms: Vec<Factor>,
}

impl Factors {
    /// No terms.
    pub fn none(n: usize) -> Self {
        Factors {
            n,
            terms: Vec::new(),
        }
    }

    /// Numbers stored: every term's u and v.
    pub fn entries(&self) -> usize {
        self.rows() + self.columns()
    }

    /// Every term's rows (u's length), summed.
    pub fn rows(&self) -> usize {
        self.terms.iter().map(|t| t.u.len()).sum()
    }

    /// Every term's columns (v's length), summed.
    pub fn columns(&self) -> usize {
        self.terms.iter().map(|t| t.v.len()).sum()
    }

    /// y += sum over terms of coef u (v . x), in f64, each dot product
    /// summed in column order.
    pub fn add_product(&self, x: &[f64], y: &mut [f64]) {
        for t in &self.terms {
            let s: f64 =
                t.v.iter()
                    .zip(&x[t.from..t.from + t.v.len()])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    * t.coef;
            for (yi, &ui) in y[t.to..t.to + t.u.len()].iter_mut().zip(&t.u) {
                *yi += ui * s;
            }
        }
    }

    /// Adds the terms to the row-major N×N matrix `m`.
    pub fn add_to_dense(&self, m: &mut [f64]) {
        let n = self.n;
        for t in &self.terms {
            for (a, &ui) in t.u.iter().enumerate() {
                let row = &mut m[(t.to + a) * n + t.from..(t.to + a) * n + t.from + t.v.len()];
                for (mij, &vj) in row.iter_mut().zip(&t.v) {
                    *mij += t.coef * ui * vj;
                }
            }
        }
    }

    /// The terms of diag(r) M: each u scaled by the r of its rows.
    pub fn scale_rows(&self, r: &[f64]) -> Factors {
        Factors {
            n: self.n,
            terms: self
                .terms
                .iter()
                .map(|t| Factor {
                    u: t.u.iter().zip(&r[t.to..]).map(|(u, r)| u * r).collect(),
                    ..t.clone()
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_is_the_dense_matrix_times_x() {
        // A 5-neuron network: a term from neurons 3..5 onto 0..3 and one
        // from 0..3 onto itself.
        let f = Factors {
            n: 5,
            terms: vec![
                Factor {
                    to: 0,
                    from: 3,
                    coef: 0.5,
                    u: vec![1.0, -2.0, 3.0],
                    v: vec![4.0, 5.0],
                },
                Factor {
                    to: 0,
                    from: 0,
                    coef: -1.0,
                    u: vec![1.0, 1.0, 1.0],
                    v: vec![0.25, 0.5, 0.75],
                },
            ],
        };
        let mut m = vec![0.0; 25];
        f.add_to_dense(&mut m);
        // M_{1,4} = 0.5 (-2)(5) = -5; M_{2,1} = -0.5.
        assert_eq!(m[9], -5.0);
        assert_eq!(m[2 * 5 + 1], -0.5);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let mut y = vec![0.0; 5];
        f.add_product(&x, &mut y);
        for i in 0..5 {
            let want: f64 = (0..5).map(|j| m[i * 5 + j] * x[j]).sum();
            // Sums of a few exact binary fractions: equal up to rounding.
            assert!((y[i] - want).abs() < 1e-12, "row {i}: {} vs {want}", y[i]);
        }
        assert_eq!(f.entries(), 11);
        let scaled = f.scale_rows(&[2.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(scaled.terms[0].u, vec![2.0, -2.0, 3.0]);
    }
}
