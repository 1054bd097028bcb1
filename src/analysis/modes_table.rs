//! The `attractor modes` report as text: by default a summary (the modes
//! that decide the dynamics, the spectral radius, how many others there are
//! and a histogram of their real parts), or every mode (`--all`).

use super::modes::{Mode, ModesReport};
use std::fmt::Write;

/// How many modes the summary lists by default (`--top`).
pub const TOP: usize = 10;

/// Bins of the histogram of real parts.
const BINS: usize = 20;

/// The report as a human-readable table: the `top` modes of largest real
/// part (each with its multiplicity), or every mode for `None`. When modes
/// are left out, a line counts them and gives the range of their real
/// parts, and a histogram shows the real parts of every eigenvalue.
pub fn format_table(r: &ModesReport, top: Option<usize>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: N = {}, tau = {} s, weights = {}{}\neigenvalues by {}\n",
        r.name,
        r.n,
        r.tau,
        r.weights,
        if r.symmetric {
            " (symmetric)"
        } else {
            " (non-symmetric)"
        },
        r.method
    );
    if r.weights.starts_with("projections between") {
        let _ = writeln!(
            s,
            "several populations: these are the modes of the linearised system, each \
             population with its own tau (activation {} of the first population; every unit \
             in a linear range of slope 1)\n",
            r.activation
        );
    } else if r.activation != "linear" {
        let _ = writeln!(
            s,
            "activation = {}: these are the modes of M, i.e. of the linear network (or of the \
             linearisation where every unit is in a linear range of slope 1)\n",
            r.activation
        );
    }
    if let Some(r0) = r.spectral_radius {
        let _ = write!(s, "spectral radius max |lambda| = {r0:.6}");
        if let Some(g) = r.circular_law {
            let _ = write!(s, " (circular law: {g:.6})");
        }
        let _ = writeln!(s, "\n");
    }
    if r.modes.is_empty() {
        return s;
    }
    let shown = top.unwrap_or(r.modes.len()).min(r.modes.len());
    modes_rows(&mut s, &r.modes[..shown]);
    let rest = &r.modes[shown..];
    if !rest.is_empty() {
        let count: usize = rest.iter().map(|m| m.multiplicity).sum();
        let (lo, hi) = rest
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), m| {
                (a.min(m.eigenvalue_re), b.max(m.eigenvalue_re))
            });
        let _ = writeln!(
            s,
            "   … and {} more modes ({count} eigenvalues with multiplicity), Re lambda from \
             {lo:.6} to {hi:.6}; --all lists every mode",
            rest.len()
        );
        histogram(&mut s, &r.modes);
    }
    steady_states(&mut s, r);
    for note in &r.notes {
        let _ = writeln!(s, "\nvelocity: {note}");
    }
    s
}

/// re + im i formatted as a real or complex number.
fn complex(re: f64, im: f64) -> String {
    if im == 0.0 {
        format!("{re:.6}")
    } else {
        format!("{re:.6}{:+.6}i", im)
    }
}

/// The table of `modes`, a header then one line each.
fn modes_rows(s: &mut String, modes: &[Mode]) {
    let _ = writeln!(
        s,
        "{:>4}  {:>22}  {:>6}  {:>22}  {:>14}  {:>12}",
        "mode", "eigenvalue", "mult", "gain 1/(1-lambda)", "time constant", "regime"
    );
    for (k, m) in modes.iter().enumerate() {
        let gain = m.gain.map_or("inf".to_string(), |g| complex(g, m.gain_im));
        let tc = m
            .time_constant
            .map_or("inf".to_string(), |t| format!("{t:.6} s"));
        let mut regime = format!("{:?}", m.regime).to_lowercase();
        if let Some(p) = m.period {
            regime.push_str(&format!(", oscillating (period {p:.4} s)"));
        }
        let _ = writeln!(
            s,
            "{:>4}  {:>22}  {:>6}  {:>22}  {:>14}  {}",
            k,
            complex(m.eigenvalue_re, m.eigenvalue_im),
            m.multiplicity,
            gain,
            tc,
            regime
        );
    }
}

/// The counts of `modes`' real parts (with multiplicity) in `bins` equal
/// bins from the smallest to the largest; every count in one bin when all
/// are equal.
pub fn real_part_counts(modes: &[Mode], bins: usize) -> (f64, f64, Vec<usize>) {
    let (lo, hi) = modes
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), m| {
            (a.min(m.eigenvalue_re), b.max(m.eigenvalue_re))
        });
    let mut counts = vec![0usize; bins.max(1)];
    let last = counts.len() - 1;
    for m in modes {
        let k = if hi > lo {
            (((m.eigenvalue_re - lo) / (hi - lo) * counts.len() as f64) as usize).min(last)
        } else {
            0
        };
        counts[k] += m.multiplicity;
    }
    (lo, hi, counts)
}

/// Two lines: the real parts of every eigenvalue as bars, then the counts.
fn histogram(s: &mut String, modes: &[Mode]) {
    const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (lo, hi, counts) = real_part_counts(modes, BINS);
    let most = counts.iter().copied().max().unwrap_or(1).max(1);
    let bars: String = counts
        .iter()
        .map(|&c| {
            if c == 0 {
                BARS[0]
            } else {
                BARS[1 + (c * 7).div_ceil(most).min(7)]
            }
        })
        .collect();
    let total: usize = counts.iter().sum();
    let _ = writeln!(
        s,
        "\nreal parts of all {total} eigenvalues, {} bins of {:.4}: {lo:.4} |{bars}| {hi:.4}",
        counts.len(),
        (hi - lo) / counts.len() as f64
    );
    let listed: Vec<String> = counts.iter().map(|c| c.to_string()).collect();
    let _ = writeln!(s, "counts per bin: {}", listed.join(" "));
}

/// The linear steady state of each input epoch.
fn steady_states(s: &mut String, r: &ModesReport) {
    if r.steady_states.is_empty() {
        let _ = writeln!(s, "\nno [[input]]: the linear steady state is v = 0");
    }
    for st in &r.steady_states {
        let _ = write!(s, "\nsteady state (I - M)^-1 h for input[{}]: ", st.input);
        match &st.values {
            Some(v) if v.len() <= 16 => {
                let vals: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
                let _ = writeln!(s, "[{}]", vals.join(", "));
            }
            Some(v) => {
                let (lo, hi) = v
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                        (a.min(x), b.max(x))
                    });
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                let _ = writeln!(
                    s,
                    "min {lo:.6}, mean {mean:.6}, max {hi:.6} (all {} values with --json)",
                    v.len()
                );
            }
            None => {
                let _ = writeln!(s, "none");
            }
        }
        if let Some(note) = &st.note {
            let _ = writeln!(s, "  note: {note}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::modes::Regime;

    fn mode(re: f64, multiplicity: usize) -> Mode {
        Mode {
            eigenvalue_re: re,
            eigenvalue_im: 0.0,
            multiplicity,
            gain: Some(1.0 / (1.0 - re)),
            gain_im: 0.0,
            time_constant: Some(0.01 / (1.0 - re)),
            period: None,
            regime: Regime::Decaying,
        }
    }

    /// Counts weigh each mode by its multiplicity; the largest real part
    /// falls in the last bin, the smallest in the first.
    #[test]
    fn the_histogram_counts_every_eigenvalue_once() {
        let modes = [mode(0.9, 2), mode(0.5, 1), mode(0.0, 997)];
        let (lo, hi, counts) = real_part_counts(&modes, 10);
        assert_eq!((lo, hi), (0.0, 0.9));
        assert_eq!(counts.iter().sum::<usize>(), 1000);
        assert_eq!((counts[0], counts[5], counts[9]), (997, 1, 2));
        let (_, _, one) = real_part_counts(&[mode(0.2, 3)], 10);
        assert_eq!(one[0], 3);
    }
}
