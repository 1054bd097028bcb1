//! The summary of a sweep: per grid point, the retention time over trials
//! and, for rings, the bump's diffusion coefficient from the drift.

use crate::output::csv_float;
use std::collections::BTreeMap;

/// One grid point's summary.
#[derive(Clone, Debug)]
pub struct PointSummary {
    /// Grid point index.
    pub point: usize,
    /// The grid values, as written in results.csv.
    pub values: Vec<String>,
    /// Trials.
    pub trials: usize,
    /// Mean retention time over the trials that forgot (finite), seconds.
    pub retention_mean: f64,
    /// Standard deviation of those.
    pub retention_sd: f64,
    /// Trials that never fell below the threshold within the run.
    pub never: usize,
    /// Diffusion coefficient D (rad^2/s) of the bump angle: the slope of the
    /// drift variance over time, halved (var = 2 D t). Only where every trial
    /// kept its bump: the angle of a bump that faded away means nothing.
    pub diffusion: Option<f64>,
    /// (t, mean drift^2 over trials) after the input's end.
    pub drift_variance: Vec<(f64, f64)>,
    /// Per metric column of results.csv: (name, mean, sd) of the final values.
    pub finals: Vec<(String, f64, f64)>,
}

/// Mean and sample standard deviation of `v` (mean 0 when empty, sd 0 for
/// fewer than two values).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
    } else {
        0.0
    };
    (m, sd)
}

fn parse(x: &str) -> f64 {
    match x {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => x.parse().unwrap_or(f64::NAN),
    }
}

/// Summaries of `rows` (results.csv, with `header`) and `drift` rows
/// (point, trial, t, drift), by grid point.
pub fn summarize(
    header: &[String],
    rows: &[Vec<String>],
    drift: &[Vec<String>],
    n_keys: usize,
) -> Vec<PointSummary> {
    let col = |name: &str| header.iter().position(|h| h == name);
    let ret = col("retention_time").expect("results have retention_time");
    let mut by_point: BTreeMap<usize, Vec<&Vec<String>>> = BTreeMap::new();
    for r in rows {
        if let Ok(p) = r[0].parse() {
            by_point.entry(p).or_default().push(r);
        }
    }
    // Drift: mean of drift^2 over trials at each time (duplicates from a
    // resumed crash are counted once).
    let mut msd: BTreeMap<usize, BTreeMap<u64, BTreeMap<u32, f64>>> = BTreeMap::new();
    for d in drift {
        if let (Ok(p), Ok(k), t, x) = (
            d[0].parse::<usize>(),
            d[1].parse::<u32>(),
            parse(&d[2]),
            parse(&d[3]),
        ) {
            msd.entry(p)
                .or_default()
                .entry(t.to_bits())
                .or_default()
                .insert(k, x * x);
        }
    }
    by_point
        .into_iter()
        .map(|(p, rs)| {
            let times: Vec<f64> = rs.iter().map(|r| parse(&r[ret])).collect();
            let finite: Vec<f64> = times.iter().copied().filter(|t| t.is_finite()).collect();
            let (finite_mean, sd) = mean_sd(&finite);
            let mean = if times.iter().all(|t| t.is_nan()) {
                f64::NAN // no retention rule, or every trial diverged
            } else if finite.is_empty() {
                f64::INFINITY
            } else {
                finite_mean
            };
            let drift_variance: Vec<(f64, f64)> = msd
                .get(&p)
                .map(|m| {
                    m.iter()
                        .map(|(t, per)| {
                            (
                                f64::from_bits(*t),
                                per.values().sum::<f64>() / per.len() as f64,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let never = times.iter().filter(|t| t.is_infinite()).count();
            let kept = never == rs.len();
            let drift_variance = if kept { drift_variance } else { Vec::new() };
            let (num, den) = drift_variance
                .iter()
                .fold((0.0, 0.0), |(a, b), (t, v)| (a + t * v, b + t * t));
            // The final metrics sit between retention_time (and drift) and status.
            let first_metric = ret + if col("drift").is_some() { 2 } else { 1 };
            let last_metric = col("status").unwrap_or(header.len());
            let finals = (first_metric..last_metric)
                .map(|c| {
                    let v: Vec<f64> = rs
                        .iter()
                        .map(|r| parse(&r[c]))
                        .filter(|x| x.is_finite())
                        .collect();
                    let (m, sd) = mean_sd(&v);
                    (header[c].clone(), m, sd)
                })
                .collect();
            PointSummary {
                finals,
                point: p,
                values: rs[0][1..1 + n_keys].to_vec(),
                trials: rs.len(),
                retention_mean: mean,
                retention_sd: sd,
                never,
                diffusion: (den > 0.0).then(|| num / den / 2.0),
                drift_variance,
            }
        })
        .collect()
}

/// The summary as a table for the terminal.
pub fn table(keys: &[String], s: &[PointSummary]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut head: Vec<String> = vec!["point".into()];
    head.extend(keys.iter().cloned());
    head.extend([
        "trials".into(),
        "retention (s)".into(),
        "sd (s)".into(),
        "never".into(),
    ]);
    let ring = s.iter().any(|p| p.diffusion.is_some());
    if ring {
        head.push("D (rad^2/s)".into());
    }
    let _ = writeln!(out, "{}", head.join("  "));
    for p in s {
        let mut row = vec![p.point.to_string()];
        row.extend(p.values.iter().cloned());
        row.push(p.trials.to_string());
        if p.retention_mean.is_nan() {
            row.extend(["-".to_string(), "-".to_string()]);
        } else {
            row.push(format!("{:.4}", p.retention_mean));
            row.push(format!("{:.4}", p.retention_sd));
        }
        row.push(p.never.to_string());
        if ring {
            row.push(p.diffusion.map_or("-".into(), |d| format!("{d:.3e}")));
        }
        let _ = writeln!(out, "{}", row.join("  "));
    }
    out
}

/// The summary as CSV rows (with header).
pub fn csv_rows(keys: &[String], s: &[PointSummary]) -> Vec<Vec<String>> {
    let mut head: Vec<String> = vec!["point".into()];
    head.extend(keys.iter().cloned());
    head.extend(
        [
            "trials",
            "retention_mean",
            "retention_sd",
            "never_forgot",
            "diffusion",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    if let Some(p) = s.first() {
        for (name, _, _) in &p.finals {
            head.push(format!("final_{name}_mean"));
            head.push(format!("final_{name}_sd"));
        }
    }
    let mut rows = vec![head];
    for p in s {
        let mut r = vec![p.point.to_string()];
        r.extend(p.values.iter().cloned());
        r.push(p.trials.to_string());
        r.push(csv_float(p.retention_mean));
        r.push(csv_float(p.retention_sd));
        r.push(p.never.to_string());
        r.push(p.diffusion.map_or(String::new(), csv_float));
        for (_, m, sd) in &p.finals {
            r.push(csv_float(*m));
            r.push(csv_float(*sd));
        }
        rows.push(r);
    }
    rows
}
