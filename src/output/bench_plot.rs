//! The bench plot: time per step against N.

use super::legend::legend_at;
use super::plots::{render, FONT};
use crate::error::Result;
use plotters::prelude::*;
use std::path::Path;

/// Time per step against N, log-log: one line per named series of (N,
/// seconds per step) points.
pub fn time_per_step(path: &Path, series: Vec<(String, Vec<(f64, f64)>)>) -> Result<()> {
    let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.1.iter().map(|p| p.1));
    let (x0, x1) = xs.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let (y0, y1) = ys.fold((f64::INFINITY, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
    render(path, (900, 560), |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption("time per step against N", (FONT, 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(
                (x0 / 1.5..x1 * 1.5).log_scale(),
                // Room above the data for the legend.
                (y0 / 2.0..y1 * 30.0).log_scale(),
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("N (neurons)")
            .y_desc("seconds per step")
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, mut pts)) in series.into_iter().enumerate() {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        legend_at(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}
