//! Legends placed where they hide the least: in the corner of a chart that
//! holds the fewest of its data points.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// A chart of f64 coordinates on both axes.
pub(crate) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A corner of a chart's plotting area, where a legend can sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Corner {
    /// Top left.
    UpperLeft,
    /// Top right.
    UpperRight,
    /// Bottom left.
    LowerLeft,
    /// Bottom right.
    LowerRight,
}

impl Corner {
    const ALL: [Corner; 4] = [
        Corner::UpperLeft,
        Corner::UpperRight,
        Corner::LowerLeft,
        Corner::LowerRight,
    ];

    fn position(self) -> SeriesLabelPosition {
        match self {
            Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
            Corner::UpperRight => SeriesLabelPosition::UpperRight,
            Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            Corner::LowerRight => SeriesLabelPosition::LowerRight,
        }
    }
}

/// The corner whose box of `fraction` (of the width, of the height) holds
/// the fewest of `points` (the first such in the order upper left, upper
/// right, lower left, lower right) within `x` × `y`: where a legend hides
/// no data, or the least.
pub(crate) fn emptiest_corner(
    points: &[(f64, f64)],
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    fraction: (f64, f64),
) -> Corner {
    let (w, h) = (
        (x.end - x.start) * fraction.0,
        (y.end - y.start) * fraction.1,
    );
    let inside = |c: Corner, &(px, py): &(f64, f64)| {
        let left = matches!(c, Corner::UpperLeft | Corner::LowerLeft);
        let top = matches!(c, Corner::UpperLeft | Corner::UpperRight);
        let in_x = if left {
            px <= x.start + w
        } else {
            px >= x.end - w
        };
        let in_y = if top {
            py >= y.end - h
        } else {
            py <= y.start + h
        };
        in_x && in_y
    };
    Corner::ALL
        .into_iter()
        .min_by_key(|&c| points.iter().filter(|p| inside(c, p)).count())
        .expect("four corners")
}

/// Points along each polyline, closely enough that a legend box over a
/// segment holds some of them.
pub(crate) fn along(lines: &[&[(f64, f64)]]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for line in lines {
        out.extend(line.first().copied());
        for seg in line.windows(2) {
            let ((x0, y0), (x1, y1)) = (seg[0], seg[1]);
            out.extend((1..=32).map(|k| {
                let f = k as f64 / 32.0;
                (x0 + f * (x1 - x0), y0 + f * (y1 - y0))
            }));
        }
    }
    out
}

/// Draws the legend of `chart`'s `entries` labelled series (the longest
/// label `chars` long) in the corner where it covers the fewest of
/// `points` (scatter points, and [`along`] lines).
pub(crate) fn legend_clear_of<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    points: &[(f64, f64)],
    (entries, chars): (usize, usize),
) -> Result<(), String> {
    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    // The legend's box in pixels: glyph, label (about 8 px a character at
    // the legend's size), margins; a line of about 20 px per entry.
    let (bw, bh) = (40.0 + 8.0 * chars as f64, 12.0 + 20.0 * entries as f64);
    let fraction = (
        (bw / f64::from(pw.max(1))).min(1.0),
        (bh / f64::from(ph.max(1))).min(1.0),
    );
    let corner = emptiest_corner(points, chart.x_range(), chart.y_range(), fraction);
    legend_at(chart, corner.position())
}

/// [`legend`] at `position`.
pub(crate) fn legend_at<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// From this many entries a legend goes beside its chart, in a strip of
/// its own ([`beside_width`], [`draw_beside`]), rather than over the data.
pub(crate) const BESIDE_FROM: usize = 4;

/// The width in pixels of a strip beside a chart holding a legend whose
/// longest label is `chars` long.
pub(crate) fn beside_width(chars: usize) -> u32 {
    44 + 7 * chars as u32
}

/// Draws a legend in `area`, a strip beside a chart: a line in each
/// entry's colour and its label, from `top` pixels down.
pub(crate) fn draw_beside<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[(String, RGBAColor)],
    top: i32,
    font: &str,
) -> Result<(), String> {
    for (k, (label, color)) in entries.iter().enumerate() {
        let y = top + 20 * k as i32;
        area.draw(&PathElement::new(
            vec![(6, y), (26, y)],
            color.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
        area.draw(&Text::new(label.clone(), (32, y - 7), (font, 13)))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spectrum of a random network fills a disk around 0 and a line
    /// marks Re lambda = 1: the legend goes to the upper left, clear of
    /// both; with data in every corner it goes where there is least.
    #[test]
    fn the_legend_goes_to_the_emptiest_corner() {
        let disk: Vec<(f64, f64)> = (0..400)
            .map(|k| {
                let (r, a) = (1.5 * (k as f64 / 400.0).sqrt(), k as f64 * 2.4);
                (r * a.cos(), r * a.sin())
            })
            .collect();
        let mut covered = along(&[&[(1.0, -1.8), (1.0, 1.8)]]);
        covered.extend(&disk);
        let c = emptiest_corner(&covered, -1.8..1.8, -1.8..1.8, (0.4, 0.15));
        assert_eq!(c, Corner::UpperLeft);
        // A line rising from the lower left to the upper right leaves the
        // upper left and lower right empty; the upper left comes first.
        let rising = along(&[&[(0.0, 0.0), (1.0, 1.0)]]);
        assert_eq!(
            emptiest_corner(&rising, 0.0..1.0, 0.0..1.0, (0.3, 0.3)),
            Corner::UpperLeft
        );
        let mut crowded = rising.clone();
        crowded.extend([(0.05, 0.95); 3]);
        crowded.extend([(0.95, 0.05); 1]);
        assert_eq!(
            emptiest_corner(&crowded, 0.0..1.0, 0.0..1.0, (0.3, 0.3)),
            Corner::LowerRight
        );
    }
}
