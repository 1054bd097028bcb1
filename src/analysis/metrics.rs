//! The metrics of SPEC §4, computed from the state at each record: mean
//! rate; ring bump angle and amplitude; Hopfield overlaps and energy;
//! the population variance of the rates of random networks.
//! Always over all neurons, whatever `record.stride` keeps in rates.npy.

use crate::model::{Activation, Dynamics, Experiment, Motion, Network};
use crate::real::{f, Real};

/// Which metrics a network has, and the tables needed to compute them.
#[derive(Clone, Debug)]
pub struct Metrics {
    n: usize,
    /// Angles of the bump's place: 1 (ring networks: bump_theta and
    /// bump_amplitude), 2 (torus networks: bump_x, bump_y and
    /// bump_amplitude) or 0 (no bump).
    dims: usize,
    /// P, the overlaps (Hebbian networks).
    patterns: usize,
    /// The overlaps that are metrics (then `overlap_max_rest`); `None`: all.
    selected: Option<Vec<usize>>,
    /// Which rows of the structured form's V the table holds.
    rows: std::ops::Range<usize>,
    /// The rows of the structured form's V that the bump (cos, sin) or the
    /// overlaps (the patterns) multiply with the rates.
    table: Option<Vec<f64>>,
    /// The patterns of packed Hebbian weights, whose overlaps come from
    /// the bits instead of a table.
    bits: Option<std::sync::Arc<crate::model::PatternBits>>,
    energy_beta: Option<f64>,
    /// Whether the population variance of the rates is a metric (random
    /// networks: the order parameter of the transition to chaos).
    variance: bool,
    /// Each population's name, neurons and whether it is a ring (networks
    /// of several): its mean rate follows the others as `NAME.mean_rate`,
    /// a ring's bump as `NAME.bump_theta` and `NAME.bump_amplitude`.
    populations: Vec<(String, std::ops::Range<usize>, bool)>,
}

/// ln cosh(x), without overflow for large |x|.
#[inline]
pub fn ln_cosh(x: f64) -> f64 {
    let a = x.abs();
    a + (-2.0 * a).exp().ln_1p() - std::f64::consts::LN_2
}

impl Metrics {
    /// The metrics of `network`: ring networks get the bump, Hebbian networks
    /// the overlaps, Hebbian current networks with tanh the energy, and
    /// random networks the population variance of the rates.
    pub fn new(network: &Network) -> Self {
        let mut m = Self::shape(network);
        match network.weights.bits() {
            Some(bits) => m.bits = Some(bits.clone()),
            None if !m.rows.is_empty() => m.table = Some(network.weights.metric_table()),
            None => {}
        }
        m
    }

    /// The metrics of `network` without their tables: enough for
    /// [`Metrics::names`] and [`Metrics::sum_layout`], at no cost in N.
    pub fn shape(network: &Network) -> Self {
        let geometry = network.weights.geometry();
        // Hopfield networks (Hebbian weights) of current dynamics and tanh.
        let energy_beta = match (geometry.patterns, network.dynamics, network.activation) {
            (1.., Dynamics::Current, Activation::Tanh { beta }) => Some(beta),
            _ => None,
        };
        Metrics {
            n: network.n,
            dims: geometry.dims,
            patterns: geometry.patterns,
            selected: network.overlaps.clone(),
            rows: geometry.metric_rows,
            table: None,
            bits: None,
            energy_beta,
            // Random weights: the order parameter of the transition to chaos.
            variance: network.weights.circular_law().is_some(),
            populations: network
                .populations
                .iter()
                .map(|p| (p.name.clone(), p.range(), p.ring))
                .collect(),
        }
    }

    /// Column names, in order (without `t`).
    pub fn names(&self) -> Vec<String> {
        let mut names = vec!["mean_rate".to_string()];
        names.extend(bump_names(self.dims).iter().map(|s| s.to_string()));
        if self.dims > 0 {
            names.push("bump_amplitude".into());
        }
        match &self.selected {
            None => names.extend((0..self.patterns).map(|mu| format!("overlap_{mu}"))),
            Some(list) => {
                names.extend(list.iter().map(|mu| format!("overlap_{mu}")));
                if list.len() < self.patterns {
                    names.push("overlap_max_rest".into());
                }
            }
        }
        if self.energy_beta.is_some() {
            names.push("energy".into());
        }
        if self.variance {
            names.push("rate_variance".into());
        }
        for (p, _, ring) in &self.populations {
            names.push(format!("{p}.mean_rate"));
            if *ring {
                names.push(format!("{p}.bump_theta"));
                names.push(format!("{p}.bump_amplitude"));
            }
        }
        names
    }

    /// Whether [`Metrics::compute`] needs M v (for the energy).
    pub fn needs_mv(&self) -> bool {
        self.energy_beta.is_some()
    }

    /// The metrics for rates `v`, state `x` (I for current dynamics), input
    /// `h` and, when [`Metrics::needs_mv`], `mv` = M v. Sums are in f64.
    pub fn compute<T: Real>(&self, v: &[T], x: &[T], h: &[T], mv: Option<&[T]>) -> Vec<f64> {
        let n = self.n as f64;
        let nn = self.n;
        let mut out = Vec::with_capacity(3);
        out.push(v.iter().map(|&a| f(a)).sum::<f64>() / n);
        let table = self.table.as_deref().unwrap_or(&[]);
        if self.dims > 0 {
            let sums: Vec<f64> = table[..2 * self.dims * nn]
                .chunks(nn)
                .map(|row| row.iter().zip(v).fold(0.0, |s, (t, &a)| s + f(a) * t))
                .collect();
            self.push_bump(&mut out, &sums);
        }
        let mut overlaps = Vec::new();
        if let Some(bits) = &self.bits {
            let v64: Vec<f64> = v.iter().map(|&a| f(a)).collect();
            let threads = rayon::current_num_threads();
            crate::model::patterns::overlaps(bits, &v64, 1.0 / n, &mut overlaps, threads);
        } else {
            for mu in 0..self.patterns {
                let row = &table[mu * nn..(mu + 1) * nn];
                overlaps.push(row.iter().zip(v).map(|(x, &a)| x * f(a)).sum::<f64>() / n);
            }
        }
        self.push_overlaps(&mut out, &overlaps);
        if let Some(beta) = self.energy_beta {
            let mv = mv.expect("energy needs M v");
            let mut e = 0.0;
            for i in 0..self.n {
                let (vi, ii) = (f(v[i]), f(x[i]));
                e += -0.5 * vi * f(mv[i]) - f(h[i]) * vi + vi * ii - ln_cosh(beta * ii) / beta;
            }
            out.push(e);
        }
        if self.variance {
            let squares: f64 = v.iter().map(|&a| f(a) * f(a)).sum();
            out.push(variance(out[0], squares / n));
        }
        for (_, r, ring) in &self.populations {
            let v = &v[r.clone()];
            let m = v.len();
            out.push(v.iter().map(|&a| f(a)).sum::<f64>() / m as f64);
            if *ring {
                // As a ring network's bump, over this population's angles.
                let (c, s) = v.iter().enumerate().fold((0.0, 0.0), |(c, s), (i, &a)| {
                    let t = crate::model::theta(i, m);
                    (c + f(a) * t.cos(), s + f(a) * t.sin())
                });
                out.push(bump_angle(c, s));
                out.push(2.0 / m as f64 * c.hypot(s));
            }
        }
        out
    }
}

impl Metrics {
    /// Appends the bump's angles and amplitude from the sums of the rates
    /// times (cos, sin) of each angle: the angles of C + iS, and (2/N) |C + iS|
    /// (on a torus the root mean square over the two axes).
    fn push_bump(&self, out: &mut Vec<f64>, sums: &[f64]) {
        let n = self.n as f64;
        let mut square = 0.0;
        for cs in sums.chunks(2) {
            out.push(bump_angle(cs[0], cs[1]));
            square += cs[0] * cs[0] + cs[1] * cs[1];
        }
        out.push(if let [c, s] = sums {
            2.0 / n * c.hypot(*s)
        } else {
            2.0 / n * (square / self.dims as f64).sqrt()
        });
    }

    /// Appends the overlap metrics from all P overlaps: every one, or the
    /// selected ones and the largest |overlap| of the rest.
    fn push_overlaps(&self, out: &mut Vec<f64>, all: &[f64]) {
        match &self.selected {
            None => out.extend_from_slice(all),
            Some(list) => {
                out.extend(list.iter().map(|&mu| all[mu]));
                if list.len() < all.len() {
                    let rest = all
                        .iter()
                        .enumerate()
                        .filter(|(mu, _)| list.binary_search(mu).is_err())
                        .fold(0.0f64, |a, (_, m)| a.max(m.abs()));
                    out.push(rest);
                }
            }
        }
    }
}

/// The population variance from the mean and the mean square (never
/// negative, which rounding could make it).
fn variance(mean: f64, mean_square: f64) -> f64 {
    (mean_square - mean * mean).max(0.0)
}

/// The sums over neurons from which [`Metrics::from_sums`] builds the
/// metrics, in this order: sum v; sum table_t v for each table row (ring:
/// cos, sin; Hebbian: xi^mu; then each population's rows,
/// [`Metrics::population_table`]); and for the energy sum d_i v_i^2 (d = the
/// Hebbian diagonal correction, negative), sum h v, sum (v I - ln cosh(beta I)/beta).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SumLayout {
    /// Table rows multiplied with v.
    pub table_rows: usize,
    /// The first of them among the rows of the structured form's V.
    pub table_row0: usize,
    /// Whether the three energy sums follow.
    pub energy: bool,
    /// Whether sum v^2 follows (last).
    pub squares: bool,
}

impl SumLayout {
    /// Position of sum v.
    pub const RATES: usize = 0;
    /// Position of the first table row's sum.
    pub const TABLE: usize = 1;
    /// Offset of sum d_i v_i^2 in the energy block.
    pub const ENERGY_SELF: usize = 0;
    /// Offset of sum h v in the energy block.
    pub const ENERGY_INPUT: usize = 1;
    /// Offset of sum (v I - ln cosh(beta I) / beta) in the energy block.
    pub const ENERGY_INTEGRAL: usize = 2;
    /// Sums in the energy block.
    pub const ENERGY_SUMS: usize = 3;

    /// Position of the energy block (after the table rows).
    pub fn energy_start(&self) -> usize {
        Self::TABLE + self.table_rows
    }

    /// Position of sum v^2 (after the energy block), when there is one.
    pub fn squares_at(&self) -> usize {
        self.energy_start() + if self.energy { Self::ENERGY_SUMS } else { 0 }
    }

    /// The number of sums.
    pub fn len(&self) -> usize {
        self.squares_at() + usize::from(self.squares)
    }

    /// Whether there are no sums (never: sum v is always there).
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Metrics {
    /// Which sums a backend that reduces on its own must deliver.
    pub fn sum_layout(&self) -> SumLayout {
        SumLayout {
            table_rows: self.rows.len() + self.population_rows(),
            table_row0: self.rows.start,
            energy: self.energy_beta.is_some(),
            squares: self.variance,
        }
    }

    /// The table rows of the populations' metrics (after the network's
    /// own rows): per population its indicator (sum v over its neurons),
    /// then for a ring population cos theta and sin theta over its own
    /// angles.
    fn population_rows(&self) -> usize {
        self.populations
            .iter()
            .map(|(_, _, ring)| if *ring { 3 } else { 1 })
            .sum()
    }

    /// The populations' metric rows, N values each, one after another
    /// (empty for a network of one population): per population 1 on its
    /// neurons (its mean rate), then for a ring population cos theta and
    /// sin theta over its own angles (its bump). A backend that reduces on
    /// its own multiplies them with the rates as it does the network's own
    /// table rows, which networks of several populations never have.
    pub fn population_table(&self) -> Vec<f64> {
        let mut t = Vec::with_capacity(self.population_rows() * self.n);
        for (_, r, ring) in &self.populations {
            let mut row = |value: &dyn Fn(usize) -> f64| {
                t.extend((0..self.n).map(|i| {
                    if r.contains(&i) {
                        value(i - r.start)
                    } else {
                        0.0
                    }
                }));
            };
            row(&|_| 1.0);
            if *ring {
                let m = r.len();
                row(&|i| crate::model::theta(i, m).cos());
                row(&|i| crate::model::theta(i, m).sin());
            }
        }
        t
    }

    /// The energy block of [`Metrics::sum_layout`] (sum d_i v_i^2, sum h v,
    /// sum (v I - ln cosh(beta I) / beta)) for currents `x`, rates v =
    /// F(x) with `activation`, input `h` and the Hebbian diagonal `diag`,
    /// in f64; zeros for a network without an energy.
    pub fn energy_sums<T: Real>(
        &self,
        activation: Activation,
        x: &[T],
        h: &[T],
        diag: Option<&[T]>,
    ) -> [f64; 3] {
        let Some(beta) = self.energy_beta else {
            return [0.0; 3];
        };
        let mut e = [0.0; 3];
        for (i, (&xi, &hi)) in x.iter().zip(h).enumerate() {
            let (vi, ii) = (f(activation.apply(xi)), f(xi));
            e[SumLayout::ENERGY_SELF] += diag.map_or(0.0, |d| f(d[i])) * vi * vi;
            e[SumLayout::ENERGY_INPUT] += f(hi) * vi;
            e[SumLayout::ENERGY_INTEGRAL] += vi * ii - ln_cosh(beta * ii) / beta;
        }
        e
    }

    /// The metrics from the sums of [`Metrics::sum_layout`], for a trial
    /// whose M is scaled by `m_scale`. Same formulas as [`Metrics::compute`]:
    /// v.Mv of the Hebbian M is (1/N) sum_mu (xi^mu . v)^2 + sum_i d_i v_i^2.
    pub fn from_sums(&self, sums: &[f64], m_scale: f64) -> Vec<f64> {
        let n = self.n as f64;
        let layout = self.sum_layout();
        let k = SumLayout::TABLE;
        let mut out = vec![sums[SumLayout::RATES] / n];
        if self.dims > 0 {
            self.push_bump(&mut out, &sums[k..k + 2 * self.dims]);
        }
        let p = self.patterns;
        let overlaps: Vec<f64> = sums[k..k + p].iter().map(|x| x / n).collect();
        self.push_overlaps(&mut out, &overlaps);
        if self.energy_beta.is_some() {
            let e = &sums[layout.energy_start()..];
            let vmv =
                sums[k..k + p].iter().map(|x| x * x).sum::<f64>() / n + e[SumLayout::ENERGY_SELF];
            out.push(
                -0.5 * m_scale * vmv - e[SumLayout::ENERGY_INPUT] + e[SumLayout::ENERGY_INTEGRAL],
            );
        }
        if self.variance {
            out.push(variance(out[0], sums[layout.squares_at()] / n));
        }
        let mut k = SumLayout::TABLE + self.rows.len();
        for (_, r, ring) in &self.populations {
            let m = r.len() as f64;
            out.push(sums[k] / m);
            if *ring {
                let (c, s) = (sums[k + 1], sums[k + 2]);
                out.push(bump_angle(c, s));
                out.push(2.0 / m * c.hypot(s));
            }
            k += if *ring { 3 } else { 1 };
        }
        out
    }
}

/// The bump's angle columns of a network whose places have `dims`
/// angles: bump_theta on a ring, bump_x and bump_y on a torus.
pub fn bump_names(dims: usize) -> &'static [&'static str] {
    match dims {
        1 => &["bump_theta"],
        2 => &["bump_x", "bump_y"],
        _ => &[],
    }
}

/// The columns a ring or torus run with moving inputs or a velocity adds
/// after the network's metrics: `bump_speed` (rad/s, the change of
/// bump_theta since the record before, taken the short way round, over
/// the time between them; 0 at the first record) and, with a moving
/// profile, `bump_lag` (the centre of the last-started moving profile on
/// minus bump_theta, in (-pi, pi]; NaN while none is on). On a torus one
/// of each per axis: `bump_speed_x`, `bump_speed_y`, `bump_lag_x`,
/// `bump_lag_y`.
pub fn motion_names(exp: &Experiment) -> Vec<String> {
    let dims = exp.network.weights.geometry().dims;
    if dims == 0 {
        return Vec::new();
    }
    let moving = exp
        .inputs
        .iter()
        .any(|e| matches!(e.motion, Motion::Moving { .. }));
    let axes: &[&str] = if dims == 1 { &[""] } else { &["_x", "_y"] };
    let mut names = Vec::new();
    if moving || !exp.velocity.is_empty() {
        names.extend(axes.iter().map(|a| format!("bump_speed{a}")));
    }
    if moving {
        names.extend(axes.iter().map(|a| format!("bump_lag{a}")));
    }
    names
}

/// The [`motion_names`] columns, one row per record, from the records'
/// times `t` and the bump's angles `angles` (one column per axis).
pub fn motion_columns(exp: &Experiment, t: &[f64], angles: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let names = motion_names(exp);
    let dt = exp.simulation.dt;
    let axis = |name: &str| usize::from(name.ends_with("_y"));
    (0..t.len())
        .map(|k| {
            let mut row = Vec::with_capacity(names.len());
            for name in &names {
                let theta = &angles[axis(name)];
                row.push(if name.starts_with("bump_speed") {
                    if k == 0 {
                        0.0
                    } else {
                        wrap(theta[k] - theta[k - 1]) / (t[k] - t[k - 1])
                    }
                } else {
                    let step = (t[k] / dt).round() as u64;
                    exp.inputs
                        .iter()
                        .filter(|e| e.first_step(dt) <= step && step < e.end_step(dt))
                        .filter_map(|e| match &e.motion {
                            Motion::Moving { path, .. } => Some((e.start, path)),
                            Motion::Still | Motion::Frames { .. } => None,
                        })
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                        .map_or(f64::NAN, |(start, path)| {
                            wrap(path.at(start, step as f64 * dt)[axis(name)] - theta[k])
                        })
                });
            }
            row
        })
        .collect()
}

/// `a` wrapped to (-pi, pi].
pub fn wrap(a: f64) -> f64 {
    use std::f64::consts::{PI, TAU};
    let w = a - TAU * ((a + PI) / TAU).floor();
    if w <= -PI {
        w + TAU
    } else {
        w
    }
}

/// The angle of C + iS in (-pi, pi].
pub fn bump_angle(c: f64, s: f64) -> f64 {
    let a = s.atan2(c);
    if a <= -std::f64::consts::PI {
        std::f64::consts::PI
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_cosh_is_stable() {
        assert!((ln_cosh(0.3) - 0.3f64.cosh().ln()).abs() < 1e-15);
        assert!((ln_cosh(1000.0) - (1000.0 - std::f64::consts::LN_2)).abs() < 1e-9);
    }
}
