//! `attractor bench --plan`: what each GPU case would allocate and
//! dispatch within an adapter's limits, computed from the case's sizes
//! alone (nothing is built, allocated or run), and the limits it would
//! exceed.

use super::cases::{Case, OperatorKind};
use crate::analysis::metrics::SumLayout;
use crate::error::{Error, Result};
use crate::model::{Shape, Stage, StructuredShape};
use crate::sim::gpu::cost::minimum_bytes_per_step;
use crate::sim::gpu::kernels;
use crate::sim::gpu::launch::Launch;
use crate::sim::gpu::operator::binding_limit;
use crate::sim::gpu::plan::{named_limits, Plan, LIMIT_NAMES};
use crate::sim::gpu::schedule::Schedule;
use serde::Serialize;

/// M's shape, what a record sums, the pairs a velocity turns and the
/// floats of the inputs of a case, from its sizes (what the case's
/// experiment would have: `case_sizes_are_the_experiments` checks them
/// against it at small N).
pub fn case_sizes(case: Case) -> CaseSizes {
    let n = case.n;
    let p = case.patterns;
    let structured = |rank, diag, unit_row0| {
        Shape::Structured(StructuredShape {
            n,
            rank,
            separate_u: false,
            diag,
            unit_row0,
        })
    };
    // What a record sums: the rates, the metric rows (the ring's and the
    // torus's (cos, sin) rows after their unit row, the overlaps of the
    // Hebbian forms, the Gaussian sheet's four tables), and the squares of
    // random networks' rate variance.
    let sums = |table_rows, table_row0, squares| SumLayout {
        table_rows,
        table_row0,
        energy: false,
        squares,
    };
    let (shape, sums, turned_pairs) = match case.operator {
        OperatorKind::Dense => (Shape::Dense { n }, sums(0, 0, false), 0),
        OperatorKind::Random => (Shape::Generated { n }, sums(0, 0, true), 0),
        OperatorKind::Ring => (structured(3, false, true), sums(2, 1, false), 0),
        OperatorKind::Torus => (structured(5, false, true), sums(4, 1, false), 0),
        OperatorKind::Hebbian => (structured(p, true, false), sums(p, 0, false), 0),
        OperatorKind::Packed => (
            Shape::Packed {
                n,
                patterns: p,
                unit_row0: false,
            },
            sums(p, 0, false),
            0,
        ),
        OperatorKind::Sparse => {
            let d = super::sparse::degrees(n, case.degree, case.spread);
            (
                Shape::Sparse {
                    n,
                    nnz: d.iter().sum(),
                    longest_row: d.iter().copied().max().unwrap_or(0),
                    heavy_rows: {
                        let t = crate::model::heavy_row_threshold(n, d.iter().sum());
                        d.iter().filter(|&&k| k > t).count()
                    },
                    factors: 0,
                    factor_rows: 0,
                    factor_columns: 0,
                },
                sums(0, 0, false),
                0,
            )
        }
        OperatorKind::Gaussian => (
            Shape::Convolution {
                side: (n as f64).sqrt().round() as usize,
                terms: 2,
            },
            sums(4, 0, false),
            0,
        ),
    };
    CaseSizes {
        shape,
        sums,
        turned_pairs,
        // One uniform input of N values.
        inputs: n as u64,
    }
}

/// The sizes a case's plan needs: those of its experiment, without it.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseSizes {
    /// M's shape.
    pub shape: Shape,
    /// What a record sums.
    pub sums: SumLayout,
    /// The (cos, sin) row pairs a velocity may turn.
    pub turned_pairs: usize,
    /// Input values stored.
    pub inputs: u64,
}

/// The plan of one case (a line of `--plan --json`).
#[derive(Clone, Debug, Serialize)]
pub struct CasePlan {
    /// The operator.
    pub operator: OperatorKind,
    /// N.
    pub n: usize,
    /// P of the Hebbian cases.
    pub patterns: Option<usize>,
    /// Trials stepped together.
    pub batch: usize,
    /// The limits planned within.
    pub limits: String,
    /// Whether the case fits them.
    pub fits: bool,
    /// Each limit it would exceed.
    pub exceeded: Vec<String>,
    /// Bytes of all its buffers.
    pub bytes: u64,
    /// Bytes a step moves by the schedule's count.
    pub bytes_per_step: u64,
    /// Bytes the loads and stores of a step request, from cache or not
    /// (what the counting build counts: tests/counting.rs).
    pub requested_bytes_per_step: u64,
    /// Of those, the loads of the weights' bindings.
    pub requested_weight_bytes_per_step: u64,
    /// The fewest bytes a step can move (each region once).
    pub minimum_bytes_per_step: u64,
    /// Dispatches per step.
    pub dispatches_per_step: usize,
    /// Every buffer: (what, bytes).
    pub buffers: Vec<(String, u64)>,
    /// Every distinct dispatch: (entry point, workgroups).
    pub dispatches: Vec<(String, [u32; 3])>,
}

impl CasePlan {
    /// The plan as lines of text: the case, whether it fits, its largest
    /// buffer, its dispatches and each limit it exceeds.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let case = match self.patterns {
            Some(pat) => format!("{:?} N = {} P = {pat}", self.operator, self.n),
            None => format!("{:?} N = {}", self.operator, self.n),
        }
        .to_lowercase();
        let mut s = format!(
            "{case}, batch {}, within {}: {} ({} in {} buffers)\n",
            self.batch,
            self.limits,
            if self.fits { "fits" } else { "does not fit" },
            crate::memory::human(self.bytes),
            self.buffers.len()
        );
        if let Some((name, bytes)) = self.buffers.iter().max_by_key(|b| b.1) {
            let _ = writeln!(
                s,
                "    largest buffer `{name}`: {}",
                crate::memory::human(*bytes)
            );
        }
        for (entry, grid) in &self.dispatches {
            let _ = writeln!(s, "    {entry:<16} {grid:?}");
        }
        for e in &self.exceeded {
            let _ = writeln!(s, "    exceeds: {e}");
        }
        s
    }
}

/// The limits `--limits` names: one of [`LIMIT_NAMES`]; an error names the
/// key and what is allowed.
pub fn limits_named(name: &str) -> Result<wgpu::Limits> {
    named_limits(name).ok_or_else(|| {
        Error::invalid(
            "--limits",
            name,
            format!(
                "must be one of {} (or leave it out for this machine's GPU)",
                LIMIT_NAMES.join(", ")
            ),
        )
    })
}

/// The plan of `batch` trials of `case` stepped by Euler within `limits`
/// (called `name`) on an adapter of kind `device`.
pub fn plan_case(
    case: Case,
    batch: usize,
    limits: &wgpu::Limits,
    name: &str,
    device: wgpu::DeviceType,
) -> CasePlan {
    let sizes = case_sizes(case);
    let mut launch = Launch {
        batch_split: kernels::batch_split(case.n, batch, binding_limit(limits), device),
        staged: kernels::convolution_staged(device),
        ..Launch::new(
            &sizes.shape,
            batch,
            vec![Stage::Euler],
            // The cases' one input is uniform: one number a step.
            0,
            sizes.sums,
            sizes.turned_pairs,
            limits,
            binding_limit(limits),
            kernels::dense_shape(limits, case.n, batch, device),
            false,
        )
    };
    launch.op = launch.op.on(device, None);
    let plan = Plan::of(&launch, sizes.inputs, limits);
    let schedule = Schedule::new(&launch);
    CasePlan {
        bytes_per_step: schedule.bytes_per_step(),
        requested_bytes_per_step: schedule.requested_per_step(),
        requested_weight_bytes_per_step: schedule.requested_weight_bytes_per_step(),
        minimum_bytes_per_step: minimum_bytes_per_step(&launch),
        dispatches_per_step: schedule.dispatches_per_step(),
        operator: case.operator,
        n: case.n,
        patterns: case.operator.has_patterns().then_some(case.patterns),
        batch,
        limits: name.to_string(),
        fits: plan.exceeded.is_empty(),
        bytes: plan.bytes(),
        exceeded: plan.exceeded.clone(),
        buffers: plan
            .buffers
            .iter()
            .map(|b| (b.name.to_string(), b.bytes))
            .collect(),
        dispatches: plan
            .dispatches
            .iter()
            .map(|(k, g)| (k.entry_point().to_string(), *g))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A case's sizes are those of its experiment: M's shape, the metric
    /// sums of a record, the floats of the inputs, for every operator.
    #[test]
    fn case_sizes_are_the_experiments() {
        for op in [
            OperatorKind::Dense,
            OperatorKind::Ring,
            OperatorKind::Torus,
            OperatorKind::Hebbian,
            OperatorKind::Packed,
            OperatorKind::Random,
            OperatorKind::Gaussian,
            OperatorKind::Sparse,
        ] {
            let case = Case {
                operator: op,
                n: 64,
                patterns: 7,
                degree: 9,
                spread: super::super::DegreeSpread::Lognormal,
                activation: crate::model::Activation::Relu {},
                dynamics: crate::model::Dynamics::Rate,
            };
            let e = super::super::experiment(case, 1).unwrap();
            let sizes = case_sizes(case);
            assert_eq!(sizes.shape, e.network.weights.shape(), "{op:?}");
            let layout = crate::analysis::metrics::Metrics::shape(&e.network).sum_layout();
            assert_eq!(sizes.sums, layout, "{op:?}");
            let turned = crate::sim::gpu::launch::turned_pairs(&e);
            assert_eq!(sizes.turned_pairs, turned, "{op:?}");
            assert_eq!(sizes.inputs, e.input_values(), "{op:?}");
        }
    }
}
