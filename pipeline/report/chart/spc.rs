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
    // A share cannot pass 100%: its axis stops just past it (room for a point at 100%
    // to be drawn whole), and a limit beyond it is drawn along the edge (as a limit below
    // 0 is drawn along the axis). The limits themselves are kept as computed, in every
    // table, as NHSRplotthedots gives them (docs/oversight.md).
    let ceiling = if share { Some(102.0) } else { None };
    render!(stem, |area| draw_spc(
        &area, &points, y_desc, &marks, ceiling, f
    ))
}

/// The top of the chart's value axis: the highest point, upper limit or target, with
/// room above for the summary icons, and never past `ceiling` (100 for a share).
fn axis_top(points: &[SpcPoint], marks: &SpcMarks, ceiling: Option<f64>) -> f64 {
    let cap = |v: f64| ceiling.map_or(v, |c| v.min(c));
    let top = points
        .iter()
        .map(|p| p.value.max(cap(p.upper)))
        .chain(marks.target)
        .fold(0.0, f64::max)
        // Room above the data for the summary icons in the top right corner.
        * if marks.icon.is_some() || marks.assurance.is_some() { 1.3 } else { 1.1 };
    cap(top) + 1e-9
}

/// The corner of the plot for the legend: the one with the fewest points under it (the
/// legend's box is about a fifth of the width and of the height), upper left
/// when none is clearer; never the upper right where the summary icons are.
fn legend_corner(points: &[SpcPoint], hi: f64, icons: bool) -> SeriesLabelPosition {
    let n = points.len().max(1) as f64;
    let under = |left: bool, upper: bool| {
        points
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                let x = *i as f64 / n;
                let y = p.value / hi.max(1e-9);
                (if left { x < 0.25 } else { x > 0.75 }) && (if upper { y > 0.8 } else { y < 0.2 })
            })
            .count()
    };
    let mut corners = vec![
        (SeriesLabelPosition::UpperLeft, under(true, true)),
        (SeriesLabelPosition::LowerLeft, under(true, false)),
        (SeriesLabelPosition::LowerRight, under(false, false)),
    ];
    if !icons {
        corners.push((SeriesLabelPosition::UpperRight, under(false, true)));
    }
    corners
        .into_iter()
        .min_by_key(|(_, k)| *k)
        .map_or(SeriesLabelPosition::UpperLeft, |(c, _)| c)
}

fn draw_spc<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[SpcPoint],
    y_desc: &str,
    marks: &SpcMarks,
    ceiling: Option<f64>,
    f: &Frame,
) -> Result<()> {
    let area = frame(root, f)?;
    let n = points.len().max(1);
    let hi = axis_top(points, marks, ceiling);
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
    let icons = marks.icon.is_some() || marks.assurance.is_some();
    legend(&mut chart, legend_corner(points, hi, icons))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn point(value: f64, upper: f64) -> SpcPoint {
        SpcPoint {
            label: "2024-01".into(),
            value,
            mean: value,
            lower: -upper,
            upper,
            variation: "common cause".into(),
            complete: true,
            sparse: false,
        }
    }

    #[test]
    fn the_legend_goes_to_the_corner_with_the_fewest_points() {
        // High points at the start (under the upper left): the legend goes lower left.
        let mut points: Vec<SpcPoint> = (0..20)
            .map(|i| point(if i < 5 { 95.0 } else { 50.0 }, 100.0))
            .collect();
        assert!(matches!(
            legend_corner(&points, 100.0, true),
            SeriesLabelPosition::LowerLeft
        ));
        // Mid-range points everywhere: the upper left, as before.
        points.iter_mut().for_each(|p| p.value = 50.0);
        assert!(matches!(
            legend_corner(&points, 100.0, true),
            SeriesLabelPosition::UpperLeft
        ));
    }

    #[test]
    fn a_share_s_axis_stops_at_100_and_a_count_s_follows_its_limits() {
        let marks = SpcMarks::default();
        // A small organisation's share: 40% with an upper limit of 130%.
        let share = [point(40.0, 130.0), point(20.0, 130.0)];
        assert!((axis_top(&share, &marks, Some(102.0)) - 102.0).abs() < 1e-6);
        // A share well inside: 30% with limits to 45%: the axis ends at 45 × 1.1.
        let low = [point(30.0, 45.0)];
        assert!((axis_top(&low, &marks, Some(102.0)) - 49.5).abs() < 1e-6);
        // Counts have no ceiling.
        assert!((axis_top(&share, &marks, None) - 143.0).abs() < 1e-6);
    }
}
