//! Funnel plots: units, limits, numbered labels placed without collisions, and the key
//! that names them.

use super::text::{BITMAP, CUT, with_tooltips};
use super::*;

/// A unit of a funnel plot.
#[derive(Debug, Clone)]
pub struct FunnelUnit {
    /// Its code.
    pub label: String,
    /// Its name, when it has one.
    pub name: Option<String>,
    pub denominator: f64,
    pub proportion: f64,
    /// What the key says of its figures ("31% (45 of 145)").
    pub figures: String,
    /// Outside the 99.8% limits (numbered on the chart and in its key) or the 95% limits.
    pub outside998: bool,
    pub outside95: bool,
    /// Fewer cases than the study's minimum denominator: drawn hollow, not judged.
    pub judged: bool,
    /// Its number on the chart and in the key (and the report's table), when flagged.
    pub number: Option<usize>,
}

/// The limit curves: (denominator, lower95, upper95, lower998, upper998).
pub type Curve = Vec<(f64, f64, f64, f64, f64)>;

/// A limit line cut where it leaves the top of the plot: the points under `top`, and
/// where the line crosses it, the crossing (so that a limit leaves through the top edge
/// instead of starting in mid-air).
fn clipped_at(points: &[(f64, f64)], top: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() + 2);
    for (i, p) in points.iter().enumerate() {
        if let Some(q) = i.checked_sub(1).map(|j| points[j])
            && (q.1 > top) != (p.1 > top)
        {
            let t = (top - q.1) / (p.1 - q.1);
            out.push((q.0 + t * (p.0 - q.0), top));
        }
        if p.1 <= top {
            out.push(*p);
        }
    }
    out
}

/// The end of a proportion funnel's y axis (in %): the first of 5, 10, 15, 20, 25, 30,
/// 40, 50, 60, 70 and 80 that holds every unit and the upper 99.8% limit at the median
/// unit's denominator, with a tenth to spare; else 100.
fn proportion_axis_end(units: &[FunnelUnit], curve: &Curve) -> f64 {
    let mut sizes: Vec<f64> = units.iter().map(|u| u.denominator).collect();
    sizes.sort_by(f64::total_cmp);
    let median = sizes.get(sizes.len() / 2).copied().unwrap_or(0.0);
    let limit = curve
        .iter()
        .filter(|c| c.0 > 0.0)
        .min_by(|a, b| (a.0 - median).abs().total_cmp(&(b.0 - median).abs()))
        .map_or(1.0, |c| c.4);
    let highest = units
        .iter()
        .map(|u| u.proportion)
        .filter(|p| p.is_finite())
        .fold(limit, f64::max)
        * 100.0;
    let ends = [
        5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0,
    ];
    super::share_axis_end(highest, &ends, 0.0)
}

/// What a funnel's axes show: proportions of cases (as percentages) against cases, or
/// standardised ratios (observed over expected, 1 the overall rate) against expected
/// cases, with the axis titles to write.
#[derive(Debug, Clone)]
pub struct FunnelAxes {
    pub x: String,
    pub y: String,
    pub ratio: bool,
    /// The minimum denominator below which units are not judged (the legend says so).
    pub min_denominator: u64,
}

impl FunnelAxes {
    pub fn proportions(cases: &str, min_denominator: u64) -> FunnelAxes {
        FunnelAxes {
            x: format!("{} (denominator)", capitalised(cases)),
            y: "Share with the theme (%)".into(),
            ratio: false,
            min_denominator,
        }
    }
}

/// The height of the plot of a chart with a key below it (the key adds its rows).
const PLOT_HEIGHT: u32 = 560;
/// A row of a chart's key, in pixels.
const KEY_ROW: u32 = 18;

/// The key's layout: rows per column and columns, for `n` entries.
fn key_layout(n: usize) -> (usize, usize) {
    let columns = if n > 8 { 2 } else { 1 };
    (n.div_ceil(columns), columns)
}

pub fn funnel(
    stem: &Path,
    units: &[FunnelUnit],
    curve: &Curve,
    average: f64,
    axes: &FunnelAxes,
    f: &Frame,
) -> Result<()> {
    let numbered = units.iter().filter(|u| u.number.is_some()).count();
    let (rows, _) = key_layout(numbered);
    let key = if numbered == 0 {
        0
    } else {
        28 + rows as u32 * KEY_ROW
    };
    render!(stem, (SIZE.0, PLOT_HEIGHT + key), |area| draw_funnel(
        &area, units, curve, average, axes, f
    ))
}

/// Axis ticks at 1, 2 and 5 times the powers of ten from `lo` to `hi` (a log axis), or
/// at a round step giving about `target` ticks, never less than `min_step` (a linear
/// one: 1 for counts of cases).
fn ticks(lo: f64, hi: f64, log: bool, target: usize, min_step: f64) -> Vec<f64> {
    if log {
        let mut out = Vec::new();
        let mut decade = 10f64.powf(lo.max(1e-9).log10().floor());
        while decade <= hi {
            for m in [1.0, 2.0, 5.0] {
                let v = decade * m;
                if v >= lo && v <= hi {
                    out.push(v);
                }
            }
            decade *= 10.0;
        }
        return out;
    }
    let raw = (hi - lo).max(1e-9) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
        .max(min_step);
    let mut out = Vec::new();
    let mut v = (lo / step).ceil() * step;
    while v <= hi + 1e-9 {
        out.push(v);
        v += step;
    }
    out
}

fn draw_funnel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    units: &[FunnelUnit],
    curve: &Curve,
    average: f64,
    axes: &FunnelAxes,
    f: &Frame,
) -> Result<()> {
    let whole_area = frame(root, f)?;
    let (plot_area, key_area) = whole_area.split_vertically(PLOT_HEIGHT - 104);
    let max_n = units.iter().map(|u| u.denominator).fold(1.0, f64::max);
    let min_n = units
        .iter()
        .map(|u| u.denominator)
        .filter(|d| *d > 0.0)
        .fold(max_n, f64::min);
    // Denominators spanning two orders of magnitude or more are drawn on a log axis, so
    // that hundreds of small units are not crowded against zero; so are those spanning
    // one order where most units would sit in the first tenth of a linear axis.
    let spread = max_n / min_n.max(1e-9);
    let crowded = units.iter().filter(|u| u.denominator < max_n * 0.1).count() * 2 > units.len();
    let log = spread >= 100.0 || (spread >= 10.0 && crowded);
    let (x_lo, x_hi) = if log {
        ((min_n * 0.8).log10(), (max_n * 1.25).log10())
    } else {
        (0.0, max_n * 1.05)
    };
    let tx = move |n: f64| if log { n.max(1e-9).log10() } else { n };
    let key_points: Vec<f64> = ticks(
        if log { 10f64.powf(x_lo) } else { x_lo },
        if log { 10f64.powf(x_hi) } else { x_hi },
        log,
        10,
        // Cases are whole; expected counts (ratio funnels) need not be.
        if axes.ratio { 0.0 } else { 1.0 },
    )
    .into_iter()
    .map(tx)
    .collect();
    // Ratios: from 0 to past the highest unit (at least 2), the limits cut there.
    // Proportions: from 0 to a round share past the highest unit and the 99.8% limit at
    // the median unit's size (the limits of smaller units leave through the top), so that
    // shares of a few per cent are not pressed against the floor of a 0–100% axis.
    let top = if axes.ratio {
        units.iter().map(|u| u.proportion).fold(2.0, f64::max) * 1.1
    } else {
        proportion_axis_end(units, curve)
    };
    let mut chart = ChartBuilder::on(&plot_area)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(x_lo..x_hi, 0f64..top)
        .map_err(err)?;
    let x_desc = if log {
        format!("{} (log scale)", axes.x)
    } else {
        axes.x.clone()
    };
    // The x axis's ticks are drawn here, at round values of the denominator (1, 2 and 5
    // times powers of ten on a log axis).
    chart
        .configure_mesh()
        .x_desc(x_desc.as_str())
        .y_desc(axes.y.as_str())
        .x_labels(0)
        .disable_x_mesh()
        .y_label_formatter(&|v| {
            if axes.ratio {
                decimal(v, top)
            } else {
                format!("{v:.0}%")
            }
        })
        .house_style(13)
        .draw()
        .map_err(err)?;
    let ticks: Vec<(f64, String)> = key_points
        .iter()
        .map(|k| {
            let n = if log { 10f64.powf(*k) } else { *k };
            let text = if (n - n.round()).abs() < 1e-9 {
                thousands(n.round() as i64)
            } else if n >= 1.0 {
                format!("{n:.1}")
            } else {
                format!("{n:.2}")
            };
            (*k, text)
        })
        .collect();
    draw_x_ticks(&mut chart, &plot_area, &ticks, (0.0, top), 13)?;
    let pct = |v: f64| if axes.ratio { v } else { v * 100.0 };
    chart
        .draw_series(LineSeries::new(
            [(x_lo, pct(average)), (x_hi, pct(average))],
            NHS_DARK_BLUE.stroke_width(2),
        ))
        .map_err(err)?
        .label("average")
        .legend(|(x, y)| {
            PathElement::new(vec![(x, y), (x + 16, y)], NHS_DARK_BLUE.stroke_width(2))
        });
    for (idx, name, colour) in [
        (1usize, "95% limits", NHS_MID_GREY),
        (3, "99.8% limits", NHS_DARK_GREY),
    ] {
        let pick = move |c: &(f64, f64, f64, f64, f64), lower: bool| match (idx, lower) {
            (1, true) => c.1,
            (1, false) => c.2,
            (_, true) => c.3,
            (_, false) => c.4,
        };
        for lower in [false, true] {
            let points: Vec<(f64, f64)> = curve
                .iter()
                .filter(|c| c.0 > 0.0)
                .map(|c| (tx(c.0), pct(pick(c, lower))))
                .filter(|p| p.1.is_finite() && p.0 >= x_lo)
                .collect();
            let series = chart
                .draw_series(LineSeries::new(
                    clipped_at(&points, top),
                    colour.stroke_width(2),
                ))
                .map_err(err)?;
            if !lower {
                series.label(name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            }
        }
    }
    // The dots, and what their colours mean, in the legend; units not judged hollow.
    let small = format!("fewer than {} cases: not judged", axes.min_denominator);
    let classes: [(&str, RGBColor, u8); 4] = [
        ("within the 95% limits", NHS_BLUE, 0),
        ("outside the 95% limits", NHS_WARM_YELLOW, 1),
        ("outside the 99.8% limits (numbered)", NHS_ORANGE, 2),
        (small.as_str(), NHS_MID_GREY, 3),
    ];
    for (name, colour, pick) in classes {
        let class = |u: &&FunnelUnit| match pick {
            3 => !u.judged,
            2 => u.judged && u.outside998,
            1 => u.judged && u.outside95 && !u.outside998,
            _ => u.judged && !u.outside95 && !u.outside998,
        };
        if pick == 3 && !units.iter().any(|u| !u.judged) {
            continue;
        }
        let style = if pick == 3 {
            colour.stroke_width(1)
        } else {
            colour.filled()
        };
        let r = if units.len() > 200 { 3 } else { 5 };
        chart
            .draw_series(
                units
                    .iter()
                    .filter(class)
                    .map(|u| Circle::new((tx(u.denominator), pct(u.proportion)), r, style)),
            )
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, style));
    }
    // Every unit outside the 99.8% limits carries its number, placed where it overlaps no
    // other number, no legend and stays inside the plot: tried at eight places around its
    // dot at growing distances, with a leader line when it stands off; the key below the
    // plot names each number.
    let (plot_x, plot_y) = chart.plotting_area().get_pixel_range();
    let mut numbered: Vec<usize> = (0..units.len())
        .filter(|i| units[*i].number.is_some())
        .collect();
    numbered.sort_by_key(|i| units[*i].number);
    let dots: Vec<(i32, i32)> = units
        .iter()
        .map(|u| chart.backend_coord(&(tx(u.denominator), pct(u.proportion))))
        .collect();
    // The legend goes in the corner of the plot covering fewest dots (an estimate of its
    // box).
    let (lw, lh) = (330, 130);
    let upper = (plot_x.end - lw, plot_y.start, lw, lh);
    let lower = (plot_x.end - lw, plot_y.end - lh, lw, lh);
    let covered = |(x, y, w, h): (i32, i32, i32, i32)| {
        dots.iter()
            .filter(|(px, py)| (x..=x + w).contains(px) && (y..=y + h).contains(py))
            .count()
    };
    let corners = [
        (upper, SeriesLabelPosition::UpperRight),
        (lower, SeriesLabelPosition::LowerRight),
        (
            (plot_x.start, plot_y.start, lw, lh),
            SeriesLabelPosition::UpperLeft,
        ),
        (
            (plot_x.start, plot_y.end - lh, lw, lh),
            SeriesLabelPosition::LowerLeft,
        ),
    ];
    // The first corner covering fewest dots (top right unless it covers more).
    let (legend_box, legend_at) = corners
        .into_iter()
        .min_by_key(|(b, _)| covered(*b))
        .unwrap_or((upper, SeriesLabelPosition::UpperRight));
    let mut placed: Vec<(i32, i32, i32, i32)> = vec![legend_box];
    let label_style = (FONT, 13, FontStyle::Bold)
        .into_font()
        .color(&NHS_DARK_BLUE);
    // (number, where it is drawn, its dot).
    type Placed = (String, (i32, i32), (i32, i32));
    let mut labels: Vec<Placed> = Vec::new();
    for &i in &numbered {
        let text = units[i].number.unwrap_or(0).to_string();
        let (px, py) = dots[i];
        let (w, h) = (8 * text.len() as i32 + 4, 15);
        let mut spot = None;
        'search: for distance in [6, 14, 24, 36, 50, 66] {
            for (dx, dy) in [
                (1, -1),
                (1, 1),
                (-1, -1),
                (-1, 1),
                (1, 0),
                (-1, 0),
                (0, -1),
                (0, 1),
            ] {
                let x = px + dx * distance
                    - if dx < 0 {
                        w
                    } else if dx == 0 {
                        w / 2
                    } else {
                        0
                    };
                let y = py + dy * distance
                    - if dy < 0 {
                        h
                    } else if dy == 0 {
                        h / 2
                    } else {
                        0
                    };
                let fits = x >= plot_x.start
                    && x + w <= plot_x.end
                    && y >= plot_y.start
                    && y + h <= plot_y.end;
                let free = placed.iter().all(|(ox, oy, ow, oh)| {
                    x + w <= *ox || x >= ox + ow || y + h <= *oy || y >= oy + oh
                });
                // Not over another unit's flagged dot.
                let covers = |(px2, py2): &(i32, i32)| {
                    (x - 3..=x + w + 3).contains(px2) && (y - 3..=y + h + 3).contains(py2)
                };
                let clear = dots
                    .iter()
                    .zip(units)
                    .all(|(dot, v)| !(v.outside998 && covers(dot)));
                if fits && free && clear {
                    spot = Some((x, y));
                    break 'search;
                }
            }
        }
        // Nowhere free: the nearest place inside the plot, even over another label (the
        // key still names it).
        let (x, y) = spot.unwrap_or((
            (px + 6).clamp(plot_x.start, plot_x.end - w),
            (py - h - 6).clamp(plot_y.start, plot_y.end - h),
        ));
        placed.push((x, y, w, h));
        labels.push((text, (x, y), (px, py)));
    }
    let (ox, oy) = plot_area.get_base_pixel();
    for (text, (x, y), (px, py)) in &labels {
        let (cx, cy) = (x + 4 * text.len() as i32 + 2, y + 7);
        if (cx - px).abs() + (cy - py).abs() > 24 {
            plot_area
                .draw(&PathElement::new(
                    vec![(cx - ox, cy - oy), (px - ox, py - oy)],
                    NHS_DARK_BLUE.stroke_width(1),
                ))
                .map_err(err)?;
        }
        plot_area
            .draw(&Rectangle::new(
                [
                    (x - ox, y - oy),
                    (x - ox + 8 * text.len() as i32 + 4, y - oy + 15),
                ],
                WHITE.mix(0.85).filled(),
            ))
            .map_err(err)?;
        plot_area
            .draw(&Text::new(
                text.clone(),
                (x - ox + 2, y - oy + 1),
                label_style.clone(),
            ))
            .map_err(err)?;
    }
    legend(&mut chart, legend_at)?;
    // The key: each number, its unit's name and code, and its figures.
    if !numbered.is_empty() {
        let (rows, columns) = key_layout(numbered.len());
        let heading = (FONT, 14, FontStyle::Bold)
            .into_font()
            .color(&NHS_DARK_BLUE);
        key_area
            .draw(&Text::new(
                "Outside the 99.8% limits (the numbers on the chart):".to_string(),
                (0, 8),
                heading,
            ))
            .map_err(err)?;
        let (kw, _) = key_area.dim_in_pixel();
        let column_width = kw as i32 / columns as i32;
        let style = text_style(12);
        for (k, u) in numbered.iter().map(|i| &units[*i]).enumerate() {
            let (col, row) = (k / rows, k % rows);
            // A long name is cut, never its code or figures.
            let (who, tail) = match &u.name {
                Some(n) => (n.clone(), format!(" ({}): {}", u.label, u.figures)),
                None => (u.label.clone(), format!(": {}", u.figures)),
            };
            let room = column_width - 40;
            let text = fit_text(
                &key_area,
                &format!("{who}{tail}"),
                &who,
                &tail,
                room,
                &style,
            )?;
            let (x, y) = (col as i32 * column_width, 30 + row as i32 * KEY_ROW as i32);
            key_area
                .draw(&Text::new(
                    u.number.unwrap_or(0).to_string(),
                    (x, y),
                    (FONT, 12, FontStyle::Bold)
                        .into_font()
                        .color(&NHS_DARK_BLUE),
                ))
                .map_err(err)?;
            key_area
                .draw(&Text::new(visual(&text), (x + 28, y), style.clone()))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// `whole` if it fits in `room` pixels, else `name` cut with an ellipsis and `tail`.
fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    whole: &str,
    name: &str,
    tail: &str,
    room: i32,
    style: &TextStyle,
) -> Result<String> {
    let width =
        |t: &str| -> Result<i32> { Ok(area.estimate_text_size(t, style).map_err(err)?.0 as i32) };
    if width(whole)? <= room {
        return Ok(whole.to_string());
    }
    let chars: Vec<char> = name.chars().collect();
    let mut keep = chars.len();
    while keep > 4 {
        keep -= 1;
        let cut: String = chars[..keep].iter().collect();
        let text = format!("{}…{tail}", cut.trim_end());
        if width(&text)? <= room {
            CUT.with(|c| c.borrow_mut().push((text.clone(), whole.to_string())));
            return Ok(text);
        }
    }
    Ok(format!(
        "{}…{tail}",
        chars.iter().take(4).collect::<String>()
    ))
}
