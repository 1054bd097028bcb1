//! Pictures of a torus run: the sheet at several records, square so that a
//! round bump is drawn round, and the sheet over the run as a GIF.

use super::legend::Chart;
use super::plots::{err, fonts, range, render, temp_beside, FONT};
use crate::error::Result;
use crate::model::Experiment;
use crate::sim::Recording;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use std::path::Path;

/// The rates of record `k` of a torus run as a side × side grid, row-major
/// (row = y), averaged into at most `cells` × `cells`: (values, cells per side).
fn sheet_cells(rec: &Recording, side: usize, k: usize, cells: usize) -> (Vec<f64>, usize) {
    let m = side.min(cells);
    let row = &rec.rates[k * rec.kept..(k + 1) * rec.kept];
    let mut sum = vec![0.0f64; m * m];
    let mut count = vec![0u32; m * m];
    for (i, &v) in row.iter().enumerate() {
        let (y, x) = (i / side * m / side, i % side * m / side);
        sum[y * m + x] += f64::from(v);
        count[y * m + x] += 1;
    }
    for (s, c) in sum.iter_mut().zip(&count) {
        *s /= f64::from((*c).max(1));
    }
    (sum, m)
}

/// The part of `area` whose plotting area is square once the label areas
/// (`x_label` pixels below, `y_label` at the left) and a margin of
/// `margin` pixels all round are taken off: centred, as large as fits.
pub(crate) fn square_part<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    (x_label, y_label, margin): (u32, u32, u32),
) -> DrawingArea<DB, plotters::coord::Shift> {
    let (w, h) = area.dim_in_pixel();
    let (wide, tall) = (y_label + 2 * margin, x_label + 2 * margin);
    let side = w.saturating_sub(wide).min(h.saturating_sub(tall));
    let (dw, dh) = (w - wide - side, h - tall - side);
    area.margin(dh / 2, dh - dh / 2, dw / 2, dw - dw / 2)
}

/// The label areas (below, at the left) and margin of a sheet's panel, in pixels.
const SHEET_LABELS: (u32, u32, u32) = (30, 40, 6);

/// Draws `values` (m × m, row = y) over [-pi, pi)² on `area`, coloured
/// from `lo` to `hi`, with `title` above: square, so that a round bump is
/// drawn round. Returns the plotting area's size in pixels.
fn draw_sheet<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    values: &[f64],
    m: usize,
    (lo, hi): (f64, f64),
    title: &str,
) -> Result<(u32, u32), String> {
    let pi = std::f64::consts::PI;
    let mut chart = sheet_chart(area, title)?;
    let d = 2.0 * pi / m as f64;
    chart
        .draw_series((0..m * m).map(|c| {
            let (x0, y0) = (-pi + (c % m) as f64 * d, -pi + (c / m) as f64 * d);
            let color = ViridisRGB::get_color_normalized(values[c], lo, hi);
            Rectangle::new([(x0, y0), (x0 + d, y0 + d)], color.filled())
        }))
        .map_err(|e| e.to_string())?;
    Ok(chart.plotting_area().dim_in_pixel())
}

/// A square panel over the torus [-pi, pi)² with `title` above and the
/// axes in radians.
fn sheet_chart<'a, DB: DrawingBackend + 'a>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
) -> Result<Chart<'a, DB>, String> {
    let pi = std::f64::consts::PI;
    let (x_label, y_label, margin) = SHEET_LABELS;
    let titled = area.titled(title, (FONT, 15)).map_err(|e| e.to_string())?;
    let area = square_part(&titled, SHEET_LABELS);
    let mut chart = ChartBuilder::on(&area)
        .margin(margin)
        .x_label_area_size(x_label)
        .y_label_area_size(y_label)
        .build_cartesian_2d(-pi..pi, -pi..pi)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .y_labels(5)
        .x_desc("x (rad)")
        .y_desc("y (rad)")
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// The records a torus picture shows: `count` evenly spaced, first and last included.
fn snapshot_records(records: usize, count: usize) -> Vec<usize> {
    let count = count.min(records).max(1);
    let mut ks: Vec<usize> = (0..count)
        .map(|j| j * (records - 1) / (count - 1).max(1))
        .collect();
    ks.dedup();
    ks
}

/// sheet.png (torus networks, every neuron kept): the sheet at seven records
/// and the bump's path (bump_x, bump_y over the run) on the torus.
pub fn torus_sheet(path: &Path, exp: &Experiment, rec: &Recording) -> Result<()> {
    let side = exp.network.weights.geometry().side;
    let ks = snapshot_records(rec.t.len(), 7);
    let (lo, hi) = range(rec.rates.iter().map(|&x| f64::from(x)));
    let bx = rec.metric("bump_x").unwrap_or_default();
    let by = rec.metric("bump_y").unwrap_or_default();
    let amplitude = rec.metric("bump_amplitude").unwrap_or_default();
    render(path, (1200, 680), |root| {
        let root = root
            .titled(
                &format!("{}: the sheet ({side} × {side})", exp.name),
                (FONT, 22),
            )
            .map_err(|e| e.to_string())?;
        let areas = root.split_evenly((2, 4));
        for (area, &k) in areas.iter().zip(&ks) {
            let (cells, m) = sheet_cells(rec, side, k, 96);
            draw_sheet(area, &cells, m, (lo, hi), &format!("t = {:.3} s", rec.t[k]))?;
        }
        // The bump's path, where it has one (amplitude above 1% of its largest).
        let top = amplitude.iter().copied().fold(0.0f64, f64::max);
        let mut chart = sheet_chart(&areas[7], "bump path (bump_x, bump_y)")?;
        let n = bx.len().min(by.len()).min(amplitude.len());
        chart
            .draw_series((0..n).filter(|&k| amplitude[k] > 0.01 * top).map(|k| {
                let c = ViridisRGB::get_color_normalized(k as f64, 0.0, n.max(2) as f64 - 1.0);
                Circle::new((bx[k], by[k]), 2, c.filled())
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// sheet.gif (torus networks, every neuron kept): the sheet over the run,
/// at most 60 frames of evenly spaced records, 100 ms each.
pub fn torus_gif(path: &Path, exp: &Experiment, rec: &Recording) -> Result<()> {
    fonts();
    let side = exp.network.weights.geometry().side;
    let ks = snapshot_records(rec.t.len(), 60);
    let (lo, hi) = range(rec.rates.iter().map(|&x| f64::from(x)));
    let tmp = temp_beside(path, ".gif")?;
    {
        let root = BitMapBackend::gif(tmp.path(), (360, 380), 100)
            .map_err(|e| err(path, e))?
            .into_drawing_area();
        for &k in &ks {
            root.fill(&WHITE).map_err(|e| err(path, e))?;
            let (cells, m) = sheet_cells(rec, side, k, 64);
            draw_sheet(
                &root,
                &cells,
                m,
                (lo, hi),
                &format!("{}: t = {:.3} s", exp.name, rec.t[k]),
            )
            .map_err(|e| err(path, e))?;
            root.present().map_err(|e| err(path, e))?;
        }
    }
    super::finish_atomic(tmp, path)
}
