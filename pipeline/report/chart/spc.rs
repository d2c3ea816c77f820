//! SPC charts (Making Data Count's XmR): points, limits, calendar ticks.

use super::text::{BITMAP, CUT, with_tooltips};
use super::*;

/// A point of an SPC chart.
#[derive(Debug, Clone)]
pub struct SpcPoint {
    pub label: String,
    pub value: f64,
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
    /// "common cause", "special cause concern", "special cause improvement",
    /// "special cause neither".
    pub variation: String,
    /// False for an incomplete period: drawn hollow.
    pub complete: bool,
    /// A share of fewer cases than the study's minimum denominator (it swings by
    /// chance): drawn as a cross, not a dot. It stays in the chart's arithmetic.
    pub sparse: bool,
}

/// A theme's trend as an SPC chart: the values, the mean and process limits (per
/// segment), special-cause points coloured as Making Data Count does (orange concern,
/// blue improvement, grey common cause).
/// `share`: the values are proportions (0 to 1), drawn as percentages.
pub fn spc(
    stem: &Path,
    points: &[SpcPoint],
    y_desc: &str,
    share: bool,
    marks: &SpcMarks,
    f: &Frame,
) -> Result<()> {
    let scale = if share { 100.0 } else { 1.0 };
    let marks = SpcMarks {
        target: marks.target.map(|t| t * scale),
        ..marks.clone()
    };
    let points: Vec<SpcPoint> = points
        .iter()
        .map(|p| SpcPoint {
            value: p.value * scale,
            mean: p.mean * scale,
            lower: p.lower * scale,
            upper: p.upper * scale,
            ..p.clone()
        })
        .collect();
    render!(stem, |area| draw_spc(&area, &points, y_desc, &marks, f))
}

fn draw_spc<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[SpcPoint],
    y_desc: &str,
    marks: &SpcMarks,
    f: &Frame,
) -> Result<()> {
    let area = frame(root, f)?;
    let n = points.len().max(1);
    let hi = points
        .iter()
        .map(|p| p.value.max(p.upper))
        .chain(marks.target)
        .fold(0.0, f64::max)
        // Room above the data for the summary icons in the top right corner.
        * if marks.icon.is_some() || marks.assurance.is_some() { 1.3 } else { 1.1 }
        + 1e-9;
    // The chart plots counts: nothing below 0, and a lower limit below 0 is drawn at
    // the axis (no negative ticks).
    let lo = 0.0;
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(50)
        .y_label_area_size(60)
        // Half a period of margin each side, so the first and last points are whole.
        .build_cartesian_2d(-0.5f64..(n - 1).max(1) as f64 + 0.5, lo..hi)
        .map_err(err)?;
    let ticks = calendar_ticks(points);
    chart
        .configure_mesh()
        .x_labels(0)
        .disable_x_mesh()
        .y_desc(y_desc)
        .y_label_formatter(&|v| {
            if marks.fractional {
                decimal(v, hi)
            } else {
                whole(v)
            }
        })
        .house_style(12)
        .draw()
        .map_err(err)?;
    // The labelled periods (plotters would put a tick at every period).
    let ticks: Vec<(f64, String)> = ticks.into_iter().map(|(k, t)| (k as f64, t)).collect();
    draw_x_ticks(&mut chart, &area, &ticks, (lo, hi), 12)?;
    let line = |f: fn(&SpcPoint) -> f64| {
        points
            .iter()
            .enumerate()
            .map(move |(i, p)| (i as f64, f(p)))
    };
    chart
        .draw_series(LineSeries::new(
            line(|p| p.upper),
            NHS_DARK_GREY.stroke_width(2),
        ))
        .map_err(err)?
        .label("process limits")
        .legend(|(x, y)| {
            PathElement::new(vec![(x, y), (x + 16, y)], NHS_DARK_GREY.stroke_width(2))
        });
    chart
        .draw_series(LineSeries::new(
            line(|p| p.lower),
            NHS_DARK_GREY.stroke_width(2),
        ))
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            line(|p| p.mean),
            NHS_MID_GREY.stroke_width(1),
        ))
        .map_err(err)?
        .label("mean")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], NHS_MID_GREY.stroke_width(1)));
    chart
        .draw_series(LineSeries::new(
            line(|p| p.value),
            NHS_MID_GREY.stroke_width(2),
        ))
        .map_err(err)?;
    if let Some(t) = marks.target {
        chart
            .draw_series(LineSeries::new(
                [(-0.5, t), ((n - 1).max(1) as f64 + 0.5, t)],
                mdc::TARGET.stroke_width(2),
            ))
            .map_err(err)?
            .label("target")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], mdc::TARGET.stroke_width(2))
            });
    }
    let spacing = {
        let (x_range, _) = chart.plotting_area().get_pixel_range();
        (x_range.end - x_range.start) as f64 / n as f64
    };
    let radius = (spacing * 0.4).clamp(2.0, 5.0).round() as i32;
    chart
        .draw_series(
            points
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    // Points shrink as they crowd (hundreds of months); a common-cause point is
                    // left to the line once they are closer than four pixels.
                    !p.sparse && (spacing >= 4.0 || p.variation != "common cause" || !p.complete)
                })
                .map(|(i, p)| {
                    let colour = point_colour(&p.variation);
                    // An incomplete period is drawn hollow: it is outside the limits and rules.
                    let style = if p.complete {
                        colour.filled()
                    } else {
                        colour.stroke_width(2)
                    };
                    Circle::new((i as f64, p.value), radius, style)
                }),
        )
        .map_err(err)?;
    // Sparse shares: a cross in the point's colour.
    chart
        .draw_series(
            points
                .iter()
                .enumerate()
                .filter(|(_, p)| p.sparse)
                .map(|(i, p)| {
                    let colour = point_colour(&p.variation);
                    Cross::new((i as f64, p.value), radius.max(3), colour.stroke_width(2))
                }),
        )
        .map_err(err)?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    // The summary icons, top right of the plot: variation, then assurance.
    let faces: Vec<_> = [
        icon_face(marks.icon, None),
        marks.assurance.and_then(|a| icon_face(None, Some(a))),
    ]
    .into_iter()
    .flatten()
    .collect();
    let (w, _) = area.dim_in_pixel();
    let r = 17i32;
    for (k, (colour, letter, _)) in faces.iter().enumerate() {
        let cx = w as i32 - 26 - (faces.len() - 1 - k) as i32 * (2 * r + 10);
        let cy = 24;
        area.draw(&Circle::new((cx, cy), r, WHITE.filled()))
            .map_err(err)?;
        area.draw(&Circle::new((cx, cy), r, colour.stroke_width(4)))
            .map_err(err)?;
        let style = TextStyle::from((FONT, 22).into_font().style(FontStyle::Bold))
            .color(colour)
            .pos(Pos::new(HPos::Center, VPos::Center));
        area.draw(&Text::new(letter.to_string(), (cx, cy + 1), style))
            .map_err(err)?;
    }
    Ok(())
}

/// The x axis's labels of an SPC chart: (point index, label) at calendar steps (1, 2,
/// 3 or 6 months, or 1, 2, 5, 10 or 20 years, the smallest giving at most 12 labels),
/// on the periods' own boundaries: January for years, the quarter's first month for
/// quarters. A period labelled other than YYYY-MM gets labels at even steps.
/// A point's colour by its variation, as Making Data Count colours it.
fn point_colour(variation: &str) -> RGBColor {
    match variation {
        "special cause concern" => mdc::POINT_CONCERN,
        "special cause improvement" => mdc::POINT_IMPROVEMENT,
        "special cause neither" => mdc::POINT_NEITHER,
        _ => mdc::POINT_COMMON,
    }
}

fn calendar_ticks(points: &[SpcPoint]) -> Vec<(usize, String)> {
    let month = |l: &str| -> Option<i64> {
        let (y, m) = l.get(0..7)?.split_once('-')?;
        let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
        (1..=12).contains(&m).then_some(y * 12 + m - 1)
    };
    let months: Option<Vec<i64>> = points.iter().map(|p| month(&p.label)).collect();
    let Some(months) = months.filter(|m| !m.is_empty()) else {
        let step = (points.len() / 12).max(1);
        return points
            .iter()
            .enumerate()
            .filter(|(i, _)| i.is_multiple_of(step))
            .map(|(i, p)| (i, p.label.clone()))
            .collect();
    };
    let span = months.last().unwrap_or(&0) - months.first().unwrap_or(&0) + 1;
    let step = [1i64, 2, 3, 6, 12, 24, 60, 120, 240]
        .into_iter()
        .find(|s| span / s <= 12)
        .unwrap_or(480);
    months
        .iter()
        .enumerate()
        .filter(|(_, m)| *m % step == 0)
        .map(|(i, m)| {
            let (y, mo) = (m.div_euclid(12), m.rem_euclid(12) + 1);
            let text = if step >= 12 {
                y.to_string()
            } else {
                format!("{y}-{mo:02}")
            };
            (i, text)
        })
        .collect()
}
