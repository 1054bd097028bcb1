//! The pictures of a sweep's summary: retention, drift and final metrics
//! against the grid keys (drawn with the run plots' helpers).

use super::summary::PointSummary;
use crate::error::Result;
use crate::output::legend::{along, legend_clear_of};
use crate::output::plots::{panel, range, render, FONT};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// One group's means against x as a line, labelled in the legend unless
/// `label` is empty, with error bars of ± one sd clipped to `clip`.
fn mean_sd_line<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    mut pts: Vec<(f64, f64, f64)>,
    color: RGBAColor,
    label: &str,
    clip: (f64, f64),
) -> std::result::Result<Vec<(f64, f64)>, String> {
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let series = chart
        .draw_series(LineSeries::new(
            pts.iter().map(|p| (p.0, p.1)),
            color.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
    if !label.is_empty() {
        series
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .draw_series(pts.iter().map(|p| {
            ErrorBar::new_vertical(
                p.0,
                (p.1 - p.2).max(clip.0),
                p.1,
                (p.1 + p.2).min(clip.1),
                color.filled(),
                6,
            )
        }))
        .map_err(|e| e.to_string())?;
    // What the line covers, for a legend to keep clear of: its points
    // and the ends of its error bars.
    let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
    let mut covered = along(&[&line]);
    covered.extend(
        pts.iter()
            .flat_map(|p| [(p.0, p.1 - p.2), (p.0, p.1 + p.2)]),
    );
    Ok(covered)
}

/// The sweep summaries grouped by their values of every grid key but
/// `skip`: (legend label "key = value, ...", indices into `s`).
fn groups_except(keys: &[String], s: &[PointSummary], skip: usize) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, p) in s.iter().enumerate() {
        let label = keys
            .iter()
            .zip(&p.values)
            .enumerate()
            .filter(|(j, _)| *j != skip)
            .map(|(_, (k, v))| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        match groups.iter_mut().find(|g| g.0 == label) {
            Some(g) => g.1.push(i),
            None => groups.push((label, vec![i])),
        }
    }
    groups
}

/// retention.png: mean retention time (± sd over trials) against each grid
/// key, one panel per key and one line per combination of the other keys.
/// Points whose trials never forgot are drawn at the top of the panel.
pub fn sweep_retention(path: &Path, keys: &[String], s: &[PointSummary]) -> Result<()> {
    let num = |v: &str, i: usize| v.parse::<f64>().unwrap_or(i as f64);
    let finite_max = s
        .iter()
        .map(|p| p.retention_mean + p.retention_sd)
        .filter(|x| x.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-6);
    let top = finite_max * 1.15;
    let panels = keys.len().max(1);
    render(path, (900, 40 + 300 * panels as u32), |root| {
        let root = root
            .titled(
                "retention time by grid key (never forgotten: at the top edge)",
                (FONT, 20),
            )
            .map_err(|e| e.to_string())?;
        let areas = root.split_evenly((panels, 1));
        for (ki, area) in areas.iter().enumerate() {
            let key = keys.get(ki).cloned().unwrap_or_else(|| "point".into());
            let xs: Vec<f64> = s
                .iter()
                .map(|p| p.values.get(ki).map_or(p.point as f64, |v| num(v, p.point)))
                .collect();
            let (x0, x1) = range(xs.iter().copied());
            let mut chart = panel(area, x0..x1, 0.0..top, &key, "retention (s)")?;
            // Group by the other keys' values.
            let groups = groups_except(keys, s, ki);
            let mut covered = Vec::new();
            for (gi, (label, idx)) in groups.iter().enumerate() {
                let color = Palette99::pick(gi).to_rgba();
                let pts: Vec<(f64, f64, f64)> = idx
                    .iter()
                    .map(|&i| {
                        let p = &s[i];
                        let y = if p.retention_mean.is_finite() {
                            p.retention_mean
                        } else {
                            top
                        };
                        (
                            xs[i],
                            y,
                            if p.retention_mean.is_finite() {
                                p.retention_sd
                            } else {
                                0.0
                            },
                        )
                    })
                    .collect();
                covered.extend(mean_sd_line(&mut chart, pts, color, label, (0.0, top))?);
            }
            if groups.len() > 1 {
                let chars = groups.iter().map(|g| g.0.len()).max().unwrap_or(0);
                legend_clear_of(&mut chart, &covered, (groups.len(), chars))?;
            }
        }
        Ok(())
    })
}

/// drift.png (ring sweeps): the variance of the bump's drift against time
/// since the input ended, one line per grid point (slope = 2 D).
pub fn sweep_drift(path: &Path, keys: &[String], s: &[PointSummary]) -> Result<()> {
    let all: Vec<(f64, f64)> = s
        .iter()
        .flat_map(|p| p.drift_variance.iter().copied())
        .collect();
    let (x0, x1) = range(all.iter().map(|p| p.0));
    let (_, y1) = range(all.iter().map(|p| p.1).chain([0.0]));
    render(path, (900, 520), |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "drift variance of retained bumps after the input ends (slope = 2 D)",
                (FONT, 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0.max(0.0)..x1, 0.0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("time since the input ended (s)")
            .y_desc("mean drift^2 (rad^2)")
            .draw()
            .map_err(|e| e.to_string())?;
        let (mut entries, mut chars) = (0, 0);
        let mut lines: Vec<&[(f64, f64)]> = Vec::new();
        for (i, p) in s
            .iter()
            .filter(|p| !p.drift_variance.is_empty())
            .enumerate()
        {
            let color = Palette99::pick(i).to_rgba();
            let label = keys
                .iter()
                .zip(&p.values)
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            (entries, chars) = (entries + 1, chars.max(label.len()));
            lines.push(&p.drift_variance);
            chart
                .draw_series(LineSeries::new(
                    p.drift_variance.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        legend_clear_of(&mut chart, &along(&lines), (entries, chars))?;
        Ok(())
    })
}

/// finals.png: the final value of each metric (mean ± sd over trials, at
/// most four metrics: the bump's speed and lag with the three before them
/// when moving inputs add those) against the first grid key, one line per combination
/// of the other keys.
pub fn sweep_finals(path: &Path, keys: &[String], s: &[PointSummary]) -> Result<()> {
    let Some(first) = s.first() else {
        return Ok(());
    };
    // The first four metrics; the last four where the bump's speed and lag
    // (the columns moving inputs add, last) are among them.
    let names: Vec<String> = first.finals.iter().map(|f| f.0.clone()).collect();
    let skip = if names.iter().any(|m| m == "bump_speed") {
        names.len().saturating_sub(4)
    } else {
        0
    };
    let metrics: Vec<String> = names.iter().skip(skip).take(4).cloned().collect();
    let key = keys.first().cloned().unwrap_or_else(|| "point".into());
    let xs: Vec<f64> = s
        .iter()
        .map(|p| {
            p.values
                .first()
                .and_then(|v| v.parse().ok())
                .unwrap_or(p.point as f64)
        })
        .collect();
    let (x0, x1) = range(xs.iter().copied());
    render(
        path,
        (900, 40 + 260 * metrics.len().max(1) as u32),
        |root| {
            let root = root
                .titled(&format!("final metrics against {key}"), (FONT, 22))
                .map_err(|e| e.to_string())?;
            let areas = root.split_evenly((metrics.len().max(1), 1));
            for (mi, (name, area)) in metrics.iter().zip(areas).enumerate() {
                let vals: Vec<(f64, f64)> = s
                    .iter()
                    .map(|p| (p.finals[skip + mi].1, p.finals[skip + mi].2))
                    .collect();
                let (y0, y1) = range(vals.iter().flat_map(|(m, d)| [m - d, m + d]));
                let mut chart = panel(&area, x0..x1, y0..y1, &key, name)?;
                let groups = groups_except(keys, s, 0);
                let mut covered = Vec::new();
                for (gi, (label, idx)) in groups.iter().enumerate() {
                    let color = Palette99::pick(gi).to_rgba();
                    let pts: Vec<(f64, f64, f64)> =
                        idx.iter().map(|&i| (xs[i], vals[i].0, vals[i].1)).collect();
                    covered.extend(mean_sd_line(
                        &mut chart,
                        pts,
                        color,
                        label,
                        (f64::NEG_INFINITY, f64::INFINITY),
                    )?);
                }
                if groups.len() > 1 {
                    let chars = groups.iter().map(|g| g.0.len()).max().unwrap_or(0);
                    legend_clear_of(&mut chart, &covered, (groups.len(), chars))?;
                }
            }
            Ok(())
        },
    )
}
