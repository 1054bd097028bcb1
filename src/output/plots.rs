//! PNG pictures of a run: the rates as a neuron × time image (or one line
//! per neuron for small networks) and the metrics over time.

use crate::error::{Error, Result};
use crate::model::Experiment;
use crate::sim::Recording;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use std::path::Path;
use std::sync::Once;

use super::legend::{along, beside_width, draw_beside, legend_clear_of, Chart, BESIDE_FROM};

pub(crate) const FONT: &str = "sans-serif";

/// One panel of a stacked figure: f64 axes over `x` × `y` on `area`, mesh
/// and axis labels drawn.
pub(crate) fn panel<'a, DB: DrawingBackend + 'a>(
    area: &'a DrawingArea<DB, plotters::coord::Shift>,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_desc: &str,
    y_desc: &str,
) -> Result<Chart<'a, DB>, String> {
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// Registers the bundled font once (plots need no system fonts).
pub(crate) fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

pub(crate) fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A temporary file beside `path` (in its folder), ending in `suffix`: a
/// picture is drawn there and renamed into place ([`super::finish_atomic`]).
pub(crate) fn temp_beside(path: &Path, suffix: &str) -> Result<tempfile::NamedTempFile> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix(".attractor-")
        .suffix(suffix)
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Renders into a temporary PNG beside `path`, then renames it into place.
pub(crate) fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<()> {
    fonts();
    let tmp = temp_beside(path, ".png")?;
    {
        let root = BitMapBackend::new(tmp.path(), size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        draw(root.clone()).map_err(|e| err(path, e))?;
        root.present().map_err(|e| err(path, e))?;
    }
    super::finish_atomic(tmp, path)
}

pub(crate) fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 * lo.abs().max(1.0) {
        let pad = 0.5 * lo.abs().max(1e-3);
        return (lo - pad, hi + pad);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// rates.png: a neuron × time image (viridis, with a colour bar), or one line
/// per neuron when at most 16 neurons are kept.
pub fn rates_image(path: &Path, exp: &Experiment, rec: &Recording) -> Result<()> {
    let (records, kept) = (rec.t.len(), rec.kept);
    let t0 = rec.t[0];
    let t1 = (*rec.t.last().unwrap()).max(t0 + exp.simulation.dt);
    let title = format!(
        "{}: rates ({} neurons{}, {} records)",
        exp.name,
        exp.network.n,
        if exp.record.stride > 1 {
            format!(", every {}th kept", exp.record.stride)
        } else {
            String::new()
        },
        records
    );
    if kept <= 16 {
        let label = |j: usize| format!("neuron {}", j * exp.record.stride);
        let beside = (kept >= BESIDE_FROM).then(|| beside_width(label(kept).len()));
        return render(path, (900 + beside.unwrap_or(0), 500), |root| {
            let (root, strip) = root.split_horizontally(900);
            let (lo, hi) = range(rec.rates.iter().map(|&x| x as f64));
            let mut chart = ChartBuilder::on(&root)
                .caption(&title, (FONT, 20))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(t0..t1, lo..hi)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("t (s)")
                .y_desc("rate v")
                .draw()
                .map_err(|e| e.to_string())?;
            for j in 0..kept {
                let color = Palette99::pick(j).to_rgba();
                chart
                    .draw_series(LineSeries::new(
                        (0..records).map(|k| (rec.t[k], rec.rates[k * kept + j] as f64)),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?
                    .label(label(j))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
            if beside.is_some() {
                let entries: Vec<(String, RGBAColor)> = (0..kept)
                    .map(|j| (label(j), Palette99::pick(j).to_rgba()))
                    .collect();
                return draw_beside(&strip, &entries, 60, FONT);
            }
            let lines: Vec<Vec<(f64, f64)>> = (0..kept)
                .map(|j| {
                    (0..records)
                        .map(|k| (rec.t[k], rec.rates[k * kept + j] as f64))
                        .collect()
                })
                .collect();
            let lines: Vec<&[(f64, f64)]> = lines.iter().map(Vec::as_slice).collect();
            legend_clear_of(&mut chart, &along(&lines), (kept, label(kept).len()))?;
            Ok(())
        });
    }
    // Average into at most 600 time columns × 400 neuron rows.
    let cols = records.min(600);
    let rows = kept.min(400);
    let mut cells = vec![0.0f64; cols * rows];
    let mut counts = vec![0u32; cols * rows];
    for k in 0..records {
        let cx = k * cols / records;
        for j in 0..kept {
            let cy = j * rows / kept;
            cells[cy * cols + cx] += rec.rates[k * kept + j] as f64;
            counts[cy * cols + cx] += 1;
        }
    }
    for (c, n) in cells.iter_mut().zip(&counts) {
        *c /= (*n).max(1) as f64;
    }
    let (lo, hi) = range(cells.iter().copied());
    render(path, (1000, 560), |root| {
        let (main, bar) = root.split_horizontally(900);
        let mut chart = ChartBuilder::on(&main)
            .caption(&title, (FONT, 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(t0..t1, 0.0..kept as f64 * exp.record.stride as f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("t (s)")
            .y_desc("neuron")
            .draw()
            .map_err(|e| e.to_string())?;
        let dt_col = (t1 - t0) / cols as f64;
        let dn_row = kept as f64 * exp.record.stride as f64 / rows as f64;
        chart
            .draw_series((0..rows).flat_map(|r| {
                let cells = &cells;
                (0..cols).map(move |cx| {
                    let x0 = t0 + cx as f64 * dt_col;
                    let y0 = r as f64 * dn_row;
                    let color = ViridisRGB::get_color_normalized(cells[r * cols + cx], lo, hi);
                    Rectangle::new([(x0, y0), (x0 + dt_col, y0 + dn_row)], color.filled())
                })
            }))
            .map_err(|e| e.to_string())?;
        let mut cb = ChartBuilder::on(&bar)
            .margin_top(40)
            .margin_bottom(50)
            .margin_right(10)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, lo..hi)
            .map_err(|e| e.to_string())?;
        cb.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .y_desc("rate")
            .draw()
            .map_err(|e| e.to_string())?;
        let steps = 100;
        cb.draw_series((0..steps).map(|s| {
            let a = lo + (hi - lo) * s as f64 / steps as f64;
            let b = lo + (hi - lo) * (s + 1) as f64 / steps as f64;
            Rectangle::new(
                [(0.0, a), (1.0, b)],
                ViridisRGB::get_color_normalized(a, lo, hi).filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// metrics.png: one panel per metric over time (the overlaps share one panel).
pub fn metrics_plot(path: &Path, exp: &Experiment, rec: &Recording) -> Result<()> {
    let mut panels: Vec<(String, Vec<usize>)> = Vec::new();
    let overlaps: Vec<usize> = (0..rec.metric_names.len())
        .filter(|&k| rec.metric_names[k].starts_with("overlap_"))
        .collect();
    for (k, name) in rec.metric_names.iter().enumerate() {
        if !name.starts_with("overlap_") {
            panels.push((name.clone(), vec![k]));
        } else if k == overlaps[0] {
            panels.push((
                if overlaps.len() > 8 {
                    "overlaps m_0..m_7".into()
                } else {
                    "overlaps m_mu".into()
                },
                overlaps.iter().copied().take(8).collect(),
            ));
        }
    }
    let t0 = rec.t[0];
    let t1 = (*rec.t.last().unwrap()).max(t0 + exp.simulation.dt);
    let height = 40 + 220 * panels.len() as u32;
    // A panel of many curves has its legend beside it; the others keep the
    // same width, so that their time axes line up.
    let longest = |cols: &[usize]| cols.iter().map(|&k| rec.metric_names[k].len()).max();
    let beside = panels
        .iter()
        .filter(|(_, cols)| cols.len() >= BESIDE_FROM)
        .filter_map(|(_, cols)| longest(cols))
        .max()
        .map(beside_width);
    render(path, (900 + beside.unwrap_or(0), height), |root| {
        let root = root
            .titled(&format!("{}: metrics", exp.name), (FONT, 22))
            .map_err(|e| e.to_string())?;
        let (root, strip) = root.split_horizontally(900);
        let areas = root.split_evenly((panels.len(), 1));
        let strips = strip.split_evenly((panels.len(), 1));
        for (((name, cols), area), strip) in panels.iter().zip(areas).zip(strips) {
            let (lo, hi) = range(
                cols.iter()
                    .flat_map(|&k| rec.metrics.iter().map(move |r| r[k])),
            );
            let mut chart = panel(&area, t0..t1, lo..hi, "t (s)", name)?;
            for (j, &k) in cols.iter().enumerate() {
                let color = Palette99::pick(j).to_rgba();
                let s = chart
                    .draw_series(LineSeries::new(
                        rec.t
                            .iter()
                            .zip(&rec.metrics)
                            .map(|(t, r)| (*t, r[k]))
                            .filter(|p| p.1.is_finite()),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?;
                if cols.len() > 1 {
                    s.label(rec.metric_names[k].clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
                }
            }
            if cols.len() >= BESIDE_FROM {
                let entries: Vec<(String, RGBAColor)> = cols
                    .iter()
                    .enumerate()
                    .map(|(j, &k)| (rec.metric_names[k].clone(), Palette99::pick(j).to_rgba()))
                    .collect();
                draw_beside(&strip, &entries, 20, FONT)?;
            } else if cols.len() > 1 {
                let lines: Vec<Vec<(f64, f64)>> = cols
                    .iter()
                    .map(|&k| {
                        rec.t
                            .iter()
                            .zip(&rec.metrics)
                            .map(|(t, r)| (*t, r[k]))
                            .filter(|p| p.1.is_finite())
                            .collect()
                    })
                    .collect();
                let lines: Vec<&[(f64, f64)]> = lines.iter().map(Vec::as_slice).collect();
                let chars = cols.iter().map(|&k| rec.metric_names[k].len()).max();
                legend_clear_of(&mut chart, &along(&lines), (cols.len(), chars.unwrap_or(0)))?;
            }
        }
        Ok(())
    })
}

/// The record indices at which the set of active inputs is about to change
/// (the last record before each change), and the last record: the ends of
/// the run's input segments, where a stable network shows its steady state.
pub fn segment_ends(exp: &Experiment, rec: &Recording) -> Vec<usize> {
    let dt = exp.simulation.dt;
    let mut changes: Vec<u64> = exp
        .inputs
        .iter()
        .flat_map(|e| [e.first_step(dt), e.end_step(dt)])
        .filter(|&s| s > 0 && s <= exp.simulation.steps)
        .collect();
    changes.sort_unstable();
    changes.dedup();
    let steps: Vec<u64> = rec.t.iter().map(|t| (t / dt).round() as u64).collect();
    let mut ends: Vec<usize> = changes
        .iter()
        .filter_map(|&c| steps.iter().rposition(|&s| s <= c))
        .collect();
    if !rec.t.is_empty() {
        ends.push(rec.t.len() - 1);
    }
    ends.sort_unstable();
    ends.dedup();
    ends
}

/// profiles.png (ring networks): the rates against the neurons' preferred
/// angle theta at the end of each input segment, one curve per segment.
pub fn ring_profiles(path: &Path, exp: &Experiment, rec: &Recording) -> Result<()> {
    let n = exp.network.n;
    let stride = exp.record.stride;
    let kept = rec.kept;
    let ends = segment_ends(exp, rec);
    let (lo, hi) = range(ends.iter().flat_map(|&k| {
        rec.rates[k * kept..(k + 1) * kept]
            .iter()
            .map(|&x| x as f64)
    }));
    let pi = std::f64::consts::PI;
    render(path, (900, 520), |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{}: rates against preferred angle at the end of each input segment",
                    exp.name
                ),
                (FONT, 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-pi..pi, lo..hi)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("preferred angle theta (rad)")
            .y_desc("rate v")
            .draw()
            .map_err(|e| e.to_string())?;
        for (j, &k) in ends.iter().enumerate() {
            let color = Palette99::pick(j).to_rgba();
            let row = &rec.rates[k * kept..(k + 1) * kept];
            chart
                .draw_series(LineSeries::new(
                    (0..kept).map(|m| (crate::model::theta(m * stride, n), row[m] as f64)),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(format!("t = {:.3} s", rec.t[k]))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        let lines: Vec<Vec<(f64, f64)>> = ends
            .iter()
            .map(|&k| {
                let row = &rec.rates[k * kept..(k + 1) * kept];
                (0..kept)
                    .map(|m| (crate::model::theta(m * stride, n), row[m] as f64))
                    .collect()
            })
            .collect();
        let lines: Vec<&[(f64, f64)]> = lines.iter().map(Vec::as_slice).collect();
        legend_clear_of(&mut chart, &along(&lines), (ends.len(), 12))?;
        Ok(())
    })
}

/// state_space.png (two-neuron networks): the trajectory (v0(t), v1(t)),
/// with the eigenvectors of a symmetric M drawn through the origin.
pub fn state_space(path: &Path, exp: &Experiment, rec: &Recording) -> Result<()> {
    let pts: Vec<(f64, f64)> = (0..rec.t.len())
        .map(|k| (rec.rates[2 * k] as f64, rec.rates[2 * k + 1] as f64))
        .collect();
    let (x0, x1) = range(pts.iter().map(|p| p.0).chain([0.0]));
    let (y0, y1) = range(pts.iter().map(|p| p.1).chain([0.0]));
    let lim = x0.abs().max(x1.abs()).max(y0.abs()).max(y1.abs());
    // The eigenvectors of a symmetric M (real, orthogonal) are drawn.
    let w = &exp.network.weights;
    let eig: Vec<(f64, f64, f64)> = if w.is_symmetric() {
        let m = nalgebra::DMatrix::from_row_slice(2, 2, &w.to_dense());
        let e = m.symmetric_eigen();
        (0..2)
            .map(|c| {
                (
                    e.eigenvalues[c],
                    e.eigenvectors[(0, c)],
                    e.eigenvectors[(1, c)],
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    // The axes named by population for an E/I pair (rate of E, rate of I).
    let names: Vec<String> = match &exp.network.populations[..] {
        [a, b] => vec![format!("rate of {}", a.name), format!("rate of {}", b.name)],
        _ => vec!["v0".into(), "v1".into()],
    };
    let pair = match &exp.network.populations[..] {
        [a, b] => format!("({}, {})", a.name, b.name),
        _ => "(v0, v1)".into(),
    };
    render(path, (640, 640), |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{}: state space", exp.name), (FONT, 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-lim..lim, -lim..lim)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(names[0].as_str())
            .y_desc(names[1].as_str())
            .draw()
            .map_err(|e| e.to_string())?;
        for (j, (l, ex, ey)) in eig.iter().enumerate() {
            let color = Palette99::pick(j + 2).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    [(-lim * ex, -lim * ey), (lim * ex, lim * ey)],
                    color.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?
                .label(format!("eigenvector, lambda = {l:.3}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        let black = BLACK.to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), black.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(format!("trajectory {pair}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], black));
        if let Some(&last) = pts.last() {
            chart
                .draw_series([Circle::new(last, 5, BLACK.filled())])
                .map_err(|e| e.to_string())?;
        }
        let axes: Vec<[(f64, f64); 2]> = eig
            .iter()
            .map(|(_, ex, ey)| [(-lim * ex, -lim * ey), (lim * ex, lim * ey)])
            .collect();
        let mut lines: Vec<&[(f64, f64)]> = axes.iter().map(|a| &a[..]).collect();
        lines.push(&pts);
        legend_clear_of(&mut chart, &along(&lines), (eig.len() + 1, 28))?;
        Ok(())
    })
}

/// The spectrum `attractor modes --plot` draws: the eigenvalues of M in the
/// complex plane (each mode once, whatever its multiplicity), the line
/// Re lambda = 1 where modes stop decaying, and for random weights the
/// circle |lambda| = |g| the circular law fills.
pub fn spectrum(path: &Path, r: &crate::analysis::modes::ModesReport) -> Result<()> {
    let pts: Vec<(f64, f64)> = r
        .modes
        .iter()
        .map(|m| (m.eigenvalue_re, m.eigenvalue_im))
        .collect();
    let lim = pts
        .iter()
        .fold(r.circular_law.unwrap_or(0.0).max(1.0), |a, p| {
            a.max(p.0.abs()).max(p.1.abs())
        })
        * 1.1;
    render(path, (680, 680), |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{}: eigenvalues of M (N = {})", r.name, r.n),
                (FONT, 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-lim..lim, -lim..lim)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("Re lambda")
            .y_desc("Im lambda")
            .draw()
            .map_err(|e| e.to_string())?;
        let red = RED.to_rgba();
        chart
            .draw_series(LineSeries::new(
                [(1.0, -lim), (1.0, lim)],
                red.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?
            .label("Re lambda = 1 (stability edge)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red));
        if let Some(g) = r.circular_law {
            let blue = BLUE.to_rgba();
            chart
                .draw_series(LineSeries::new(
                    (0..=256).map(|k| {
                        let a = 2.0 * std::f64::consts::PI * k as f64 / 256.0;
                        (g * a.cos(), g * a.sin())
                    }),
                    blue.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(format!("circular law |lambda| = {g}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue));
        }
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 2, BLACK.filled())))
            .map_err(|e| e.to_string())?
            .label("eigenvalue")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, BLACK.filled()));
        let circle: Vec<(f64, f64)> = r
            .circular_law
            .map(|g| {
                (0..=64)
                    .map(|k| {
                        let a = 2.0 * std::f64::consts::PI * k as f64 / 64.0;
                        (g * a.cos(), g * a.sin())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut covered = along(&[&[(1.0, -lim), (1.0, lim)], &circle]);
        covered.extend(&pts);
        let entries = 2 + usize::from(r.circular_law.is_some());
        legend_clear_of(&mut chart, &covered, (entries, 30))?;
        Ok(())
    })
}
