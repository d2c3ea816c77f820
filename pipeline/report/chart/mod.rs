//! Charts with plotters: one function per chart kind, typed rows in, SVG and PNG out.
//! Text is drawn with DejaVu Sans embedded in the binary (no system fonts needed). The
//! palette is the NHS identity's, with colour-blind-safe contrasts: blue for the data,
//! orange for concern, dark grey for limits and thresholds.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// A4 width at 96 dpi, less margins: legible when printed.
pub const SIZE: (u32, u32) = (960, 560);

pub const NHS_BLUE: RGBColor = RGBColor(0x00, 0x5E, 0xB8);
pub const NHS_DARK_BLUE: RGBColor = RGBColor(0x00, 0x30, 0x87);
pub const NHS_DARK_GREY: RGBColor = RGBColor(0x42, 0x55, 0x63);
pub const NHS_MID_GREY: RGBColor = RGBColor(0x76, 0x86, 0x92);
pub const NHS_PALE_GREY: RGBColor = RGBColor(0xE8, 0xED, 0xEE);
pub const NHS_WARM_YELLOW: RGBColor = RGBColor(0xFF, 0xB8, 0x1C);
pub const NHS_ORANGE: RGBColor = RGBColor(0xED, 0x8B, 0x00);
pub const NHS_AQUA_GREEN: RGBColor = RGBColor(0x00, 0xA4, 0x99);
pub const NHS_PURPLE: RGBColor = RGBColor(0x33, 0x00, 0x72);

/// Making Data Count's colours, as NHSRplotthedots issue #196 lists them: the points of
/// an SPC chart (common cause, improvement, neither, concern) and the summary icons.
pub mod mdc {
    use plotters::style::RGBColor;
    pub const POINT_COMMON: RGBColor = RGBColor(0x7b, 0x7d, 0x7d);
    pub const POINT_IMPROVEMENT: RGBColor = RGBColor(0x28, 0x9d, 0xe0);
    pub const POINT_NEITHER: RGBColor = RGBColor(0x36, 0x14, 0x75);
    pub const POINT_CONCERN: RGBColor = RGBColor(0xfa, 0xb4, 0x28);
    pub const ICON_COMMON: RGBColor = RGBColor(0xBF, 0xBF, 0xBF);
    pub const ICON_IMPROVEMENT: RGBColor = RGBColor(0x00, 0x72, 0xC6);
    pub const ICON_NEITHER: RGBColor = RGBColor(0x80, 0x00, 0xC0);
    pub const ICON_CONCERN: RGBColor = RGBColor(0xFF, 0x66, 0x00);
    pub const ICON_DARK: RGBColor = RGBColor(0x7F, 0x7F, 0x7F);
    /// NHSRplotthedots' target line.
    pub const TARGET: RGBColor = RGBColor(0xde, 0x1b, 0x1b);
}

/// A summary icon: its colour, its letter and its words.
pub fn icon_face(
    icon: Option<crate::stats::VariationIcon>,
    assurance: Option<crate::stats::Assurance>,
) -> Option<(RGBColor, &'static str, &'static str)> {
    use crate::stats::{Assurance, VariationIcon};
    if let Some(a) = assurance {
        return Some(match a {
            Assurance::Pass => (mdc::ICON_IMPROVEMENT, "P", a.words()),
            Assurance::Fail => (mdc::ICON_CONCERN, "F", a.words()),
            Assurance::HitAndMiss => (mdc::ICON_DARK, "?", a.words()),
        });
    }
    let i = icon?;
    Some(match i {
        VariationIcon::CommonCause => (mdc::ICON_DARK, "~", i.words()),
        VariationIcon::ConcernHigh => (mdc::ICON_CONCERN, "H", i.words()),
        VariationIcon::ConcernLow => (mdc::ICON_CONCERN, "L", i.words()),
        VariationIcon::ImprovementHigh => (mdc::ICON_IMPROVEMENT, "H", i.words()),
        VariationIcon::ImprovementLow => (mdc::ICON_IMPROVEMENT, "L", i.words()),
        VariationIcon::NeitherHigh => (mdc::ICON_NEITHER, "H", i.words()),
        VariationIcon::NeitherLow => (mdc::ICON_NEITHER, "L", i.words()),
    })
}

/// A summary icon as inline SVG (for the scorecard): a ring in the icon's colour, its
/// letter, and its words as the title a screen reader reads.
pub fn icon_svg(
    icon: Option<crate::stats::VariationIcon>,
    assurance: Option<crate::stats::Assurance>,
) -> Option<String> {
    let (c, letter, words) = icon_face(icon, assurance)?;
    let hex = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
    Some(format!(
        "<svg class=\"icon\" width=\"32\" height=\"32\" viewBox=\"0 0 32 32\" role=\"img\" aria-label=\"{words}\"><title>{words}</title><circle cx=\"16\" cy=\"16\" r=\"13\" fill=\"#fff\" stroke=\"{hex}\" stroke-width=\"4\"/><text x=\"16\" y=\"21.5\" text-anchor=\"middle\" font-family=\"Arial, sans-serif\" font-weight=\"bold\" font-size=\"15\" fill=\"{hex}\">{}</text></svg>",
        match letter {
            "~" => "&#8764;",
            other => other,
        }
    ))
}

/// What an SPC chart draws beside its points: a target line and the summary icons.
#[derive(Debug, Clone, Default)]
pub struct SpcMarks {
    pub target: Option<f64>,
    pub icon: Option<crate::stats::VariationIcon>,
    pub assurance: Option<crate::stats::Assurance>,
    /// The values are rates, not whole counts: ticks have the decimals they need.
    pub fractional: bool,
}
/// Series colours in order (blue, orange, aqua green, purple, yellow, dark blue).
/// Twelve distinct colours for series: the NHS identity's six, then six from Okabe and
/// Ito's and Tol's colour-blind-safe sets. A chart never needs more: past twelve series
/// it turns its rows into the series' own rows (see `grouped`).
pub const SERIES: [RGBColor; 12] = [
    NHS_BLUE,
    NHS_ORANGE,
    NHS_AQUA_GREEN,
    NHS_PURPLE,
    NHS_WARM_YELLOW,
    NHS_DARK_BLUE,
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0x88, 0x22, 0x55),
    NHS_MID_GREY,
];

const FONT: &str = "sans-serif";

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded fonts are valid TrueType; registration cannot fail on them.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// What every chart shows around its data.
#[derive(Debug, Clone)]
pub struct Frame {
    pub title: String,
    /// Under the title: what was counted, and n.
    pub subtitle: String,
    /// At the foot: the data's source and date.
    pub source: String,
    /// The study's word for its cases, capitalised ("Decisions"), for axis titles.
    pub cases: String,
}

fn err<E: std::fmt::Display>(e: E) -> Error {
    Error::Chart(e.to_string())
}

/// Draws title, subtitle and source line; returns the area left for the plot.
fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    f: &Frame,
) -> Result<DrawingArea<DB, Shift>> {
    register_fonts();
    root.fill(&WHITE).map_err(err)?;
    let (w, h) = root.dim_in_pixel();
    let title = (FONT, 24, FontStyle::Bold)
        .into_font()
        .color(&NHS_DARK_BLUE);
    root.draw_text(&f.title, &title, (16, 12)).map_err(err)?;
    // A subtitle wider than the chart is broken at its last "; " or ", " that fits, onto
    // a second line in a smaller size (never cut at the edge).
    let sub = (FONT, 15).into_font().color(&NHS_DARK_GREY);
    let room = w as i32 - 32;
    let width = |t: &str, size: u32| -> i32 {
        root.estimate_text_size(t, &TextStyle::from((FONT, size).into_font()))
            .map_or(0, |(tw, _)| tw as i32)
    };
    if width(&f.subtitle, 15) <= room {
        root.draw_text(&f.subtitle, &sub, (16, 44)).map_err(err)?;
    } else {
        let small = (FONT, 13).into_font().color(&NHS_DARK_GREY);
        let breaks: Vec<usize> = f
            .subtitle
            .match_indices("; ")
            .chain(f.subtitle.match_indices(", "))
            .map(|(i, _)| i)
            .collect();
        let at = breaks
            .iter()
            .copied()
            .filter(|i| width(&f.subtitle[..=*i], 13) <= room)
            .max()
            .unwrap_or(f.subtitle.len() / 2);
        let at = if f.subtitle.is_char_boundary(at) {
            at
        } else {
            f.subtitle.len()
        };
        let (first, second) = f.subtitle.split_at(at);
        root.draw_text(first.trim_end_matches([';', ',']), &small, (16, 40))
            .map_err(err)?;
        root.draw_text(second.trim_start_matches([';', ',', ' ']), &small, (16, 55))
            .map_err(err)?;
    }
    let foot = (FONT, 13).into_font().color(&NHS_MID_GREY);
    root.draw_text(&f.source, &foot, (16, h as i32 - 22))
        .map_err(err)?;
    Ok(root
        .margin(70, 34, 10, 20)
        .shrink((0, 0), (w - 30, h - 104)))
}

/// Axis labels of counts: whole numbers only.
fn whole(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        thousands(v.round() as i64)
    } else {
        String::new()
    }
}

/// A tick of an axis running to `hi`: whole from 20 up, else with one or two decimals
/// (trailing zeros dropped).
fn decimal(v: &f64, hi: f64) -> String {
    if hi >= 20.0 {
        return whole(v);
    }
    let places = if hi >= 2.0 { 1 } else { 2 };
    let text = format!("{v:.places$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.to_string()
    }
}

/// A whole number with thousands separators (the spec's, which the readers use too).
pub use crate::spec::thousands;

fn text_style(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&NHS_DARK_GREY)
}

/// The house style of axes: label sizes, colours and a pale grid.
trait HouseStyle {
    fn house_style(&mut self, label_size: u32) -> &mut Self;
}

impl<X: Ranged, Y: Ranged, DB: DrawingBackend> HouseStyle
    for plotters::chart::MeshStyle<'_, '_, X, Y, DB>
{
    fn house_style(&mut self, label_size: u32) -> &mut Self {
        self.label_style(text_style(label_size))
            .axis_desc_style(text_style(14))
            .light_line_style(NHS_PALE_GREY)
    }
}

/// A chart of f64 by f64.
type XyChart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws an x axis's labelled ticks where plotters would not put them (at calendar
/// steps, at 1-2-5 steps of a log scale): for each (x, label), a pale grid line from
/// `lo` to `hi`, a tick under the axis and the label below it. `area` is the one the
/// chart was built on.
fn draw_x_ticks<DB: DrawingBackend>(
    chart: &mut XyChart<'_, DB>,
    area: &DrawingArea<DB, Shift>,
    ticks: &[(f64, String)],
    (lo, hi): (f64, f64),
    size: u32,
) -> Result<()> {
    let style = text_style(size).pos(Pos::new(HPos::Center, VPos::Top));
    let (ox, oy) = area.get_base_pixel();
    for (x, text) in ticks {
        chart
            .draw_series(LineSeries::new(
                [(*x, lo), (*x, hi)],
                NHS_PALE_GREY.stroke_width(1),
            ))
            .map_err(err)?;
        let (px, py) = chart.backend_coord(&(*x, lo));
        let (px, py) = (px - ox, py - oy);
        area.draw(&PathElement::new(
            vec![(px, py), (px, py + 5)],
            NHS_DARK_GREY.stroke_width(1),
        ))
        .map_err(err)?;
        area.draw(&Text::new(text.clone(), (px, py + 8), style.clone()))
            .map_err(err)?;
    }
    Ok(())
}

/// Draws the series legend in the house style.
fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(NHS_PALE_GREY)
        .label_font(text_style(13))
        .position(position)
        .draw()
        .map_err(err)
}

thread_local! {
    /// The formats charts are rendered in on this thread: bit 1 SVG, bit 2 PNG (both,
    /// unless [`only`] says otherwise).
    static FORMATS: std::cell::Cell<u8> = const { std::cell::Cell::new(3) };
}

/// While the guard lives, charts drawn on this thread are rendered in one format only
/// (`svg` or `png`): serve's chart of one format does not rasterise the other.
pub fn only(ext: &str) -> OnlyFormat {
    FORMATS.with(|f| f.set(if ext == "png" { 2 } else { 1 }));
    OnlyFormat
}

/// See [`only`]: both formats again when dropped.
pub struct OnlyFormat;

impl Drop for OnlyFormat {
    fn drop(&mut self) {
        FORMATS.with(|f| f.set(3));
    }
}

fn renders(bit: u8) -> bool {
    FORMATS.with(|f| f.get() & bit != 0)
}

/// Renders a chart to `stem.svg` and `stem.png` (or the one [`only`] names).
macro_rules! render {
    ($stem:expr, |$area:ident| $draw:expr) => {
        render!($stem, SIZE, |$area| $draw)
    };
    ($stem:expr, $size:expr, |$area:ident| $draw:expr) => {{
        let stem: &Path = $stem;
        let size: (u32, u32) = $size;
        let mut svg = String::new();
        CUT.with(|c| c.borrow_mut().clear());
        if renders(1) {
            {
                let $area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                $draw?;
                $area.present().map_err(err)?;
            }
            let svg = with_tooltips(svg);
            let svg_path = stem.with_extension("svg");
            std::fs::write(&svg_path, svg).map_err(|e| Error::io(&svg_path, e))?;
        }
        let png_path = stem.with_extension("png");
        if renders(2) {
            let $area = BitMapBackend::new(&png_path, size).into_drawing_area();
            BITMAP.with(|b| b.set(true));
            let drawn = $draw;
            BITMAP.with(|b| b.set(false));
            drawn?;
            $area.present().map_err(err)?;
        }
        Ok(())
    }};
}

/// A labelled value with an optional interval (proportions are 0 to 1).
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    /// `None`: suppressed for publication (no bar, shown as `*`).
    pub value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// The end of the prevalence chart's axis (in %): the first of 10, 20, 25, 30, 40, 50, 60,
/// 75 and 100 that holds the longest interval with room for its label, so that shares
/// of at most 30% are not squeezed into the axis's first third.
fn prevalence_axis_end(bars: &[Bar]) -> f64 {
    let top = bars
        .iter()
        .filter_map(|b| b.high.or(b.value))
        .fold(0.0, f64::max)
        * 100.0;
    share_axis_end(top, &[10.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 75.0], 4.0)
}

/// The end of an axis of shares (in %): the first of `ends` (ascending) that holds `top`
/// with a tenth to spare and `room` points more (for a label beside it); else 100.
pub(super) fn share_axis_end(top: f64, ends: &[f64], room: f64) -> f64 {
    ends.iter()
        .copied()
        .find(|end| top * 1.1 + room <= *end)
        .unwrap_or(100.0)
}

/// Theme prevalence: horizontal bars with 95% interval whiskers, as percentages.
///
/// The chart grows in height with the themes (30 pixels a bar beyond the first dozen),
/// so that every bar is drawn and every theme labelled, up to 40 themes and beyond.
pub fn prevalence(stem: &Path, bars: &[Bar], f: &Frame) -> Result<()> {
    let height = SIZE.1.max(180 + 30 * bars.len() as u32);
    render!(stem, (SIZE.0, height), |area| draw_prevalence(
        &area, bars, f
    ))
}

fn draw_prevalence<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    bars: &[Bar],
    f: &Frame,
) -> Result<()> {
    let area = frame(root, f)?;
    let n = bars.len().max(1);
    let x_max = prevalence_axis_end(bars);
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(40)
        .y_label_area_size(235)
        .build_cartesian_2d(0f64..x_max, (0..n - 1).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(
            format!(
                "{} with the theme (%), with 95% confidence interval",
                f.cases
            )
            .as_str(),
        )
        .x_label_formatter(&|v| format!("{v:.0}%"))
        .y_labels(n + 1)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => bars
                .get(*i)
                .map(|b| visual(&abbreviated(&b.label, LABEL_CHARS)))
                .unwrap_or_default(),
            _ => String::new(),
        })
        .house_style(14)
        .draw()
        .map_err(err)?;
    // Bars as rectangles in order (plotters' Histogram draws in hash order, which
    // would make the SVG differ from run to run).
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (b.value.unwrap_or(0.0) * 100.0, SegmentValue::Exact(i + 1)),
                ],
                NHS_BLUE.filled(),
            );
            // A gap between bars of about a third of a bar (30 pixels a bar when tall).
            bar.set_margin(if n > 8 { 5 } else { 14 }, if n > 8 { 5 } else { 14 }, 0, 0);
            bar
        }))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            let (lo, hi, v) = (b.low?, b.high?, b.value?);
            Some(ErrorBar::new_horizontal(
                SegmentValue::CenterOf(i),
                lo * 100.0,
                v * 100.0,
                hi * 100.0,
                NHS_DARK_GREY.stroke_width(2),
                12,
            ))
        }))
        .map_err(err)?;
    // The share beside its interval; where that would pass the axis's end, inside the
    // bar's end, in white.
    let near_end = x_max * 0.93;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let text = b.value.map_or("*".to_string(), crate::stats::percent);
            let beside = b.high.or(b.value).unwrap_or(0.0) * 100.0 + 1.5;
            // (x, pixel offset, style): below the whisker, inside the bar's end.
            let (x, offset, style) = match b.value {
                Some(v) if beside > near_end && v * 100.0 > x_max * 0.12 => (
                    v * 100.0,
                    (-8, 5),
                    text_style(14)
                        .color(&WHITE)
                        .pos(Pos::new(HPos::Right, VPos::Top)),
                ),
                _ if beside > near_end => (
                    b.value.unwrap_or(0.0) * 100.0,
                    (6, -5),
                    text_style(14).pos(Pos::new(HPos::Left, VPos::Bottom)),
                ),
                _ => (beside, (0, 0), text_style(14)),
            };
            EmptyElement::at((x, SegmentValue::CenterOf(i))) + Text::new(text, offset, style)
        }))
        .map_err(err)?;
    Ok(())
}

/// Coding reliability: each theme's kappa as a point with its 95% interval (whiskers),
/// against Landis and Koch's bands (shaded from "substantial", 0.61, up). A theme with
/// no kappa (undefined, or withheld for publication) is labelled with `note` instead of
/// a point. Grows in height with the themes as `prevalence` does.
pub fn agreement(stem: &Path, bars: &[Bar], notes: &[String], f: &Frame) -> Result<()> {
    let height = SIZE.1.max(180 + 30 * bars.len() as u32);
    render!(stem, (SIZE.0, height), |area| draw_agreement(
        &area, bars, notes, f
    ))
}

fn draw_agreement<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    bars: &[Bar],
    notes: &[String],
    f: &Frame,
) -> Result<()> {
    let area = frame(root, f)?;
    let n = bars.len().max(1);
    // From 0 (or the lowest point, to a tenth) to 1: kappa is at most 1, and an interval
    // past 1 is cut at the axis.
    let lowest = bars
        .iter()
        .filter_map(|b| b.low.or(b.value))
        .fold(0.0f64, f64::min);
    let x_min = ((lowest * 10.0).floor() / 10.0).max(-1.0);
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(40)
        .y_label_area_size(235)
        .build_cartesian_2d(x_min..1.0f64, (0..n - 1).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("Kappa, with 95% interval (shaded: substantial, 0.61, and above)")
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_labels(n + 1)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => bars
                .get(*i)
                .map(|b| visual(&abbreviated(&b.label, LABEL_CHARS)))
                .unwrap_or_default(),
            _ => String::new(),
        })
        .house_style(14)
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(err)?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [
                (0.61, SegmentValue::Exact(0)),
                (1.0, SegmentValue::Exact(n)),
            ],
            NHS_PALE_GREY.mix(0.6).filled(),
        )))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            let (lo, hi, v) = (b.low?, b.high?, b.value?);
            Some(ErrorBar::new_horizontal(
                SegmentValue::CenterOf(i),
                lo.max(x_min),
                v,
                hi.min(1.0),
                NHS_DARK_GREY.stroke_width(2),
                12,
            ))
        }))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            Some(Circle::new(
                (b.value?, SegmentValue::CenterOf(i)),
                6,
                NHS_BLUE.filled(),
            ))
        }))
        .map_err(err)?;
    // The value beside its interval (right of it, or left where the right has no room);
    // a theme with no point says why, from the left edge.
    let span = 1.0 - x_min;
    let ends = |b: &Bar, v: f64| (b.low.unwrap_or(v).max(x_min), b.high.unwrap_or(v).min(1.0));
    // One side for every value where the chart allows it (left, where the intervals
    // reach 1), so that the labels read down a column.
    let all_left = bars
        .iter()
        .filter_map(|b| b.value.map(|v| ends(b, v)))
        .all(|(lo, _)| lo - 0.09 * span >= x_min);
    let all_right = bars
        .iter()
        .filter_map(|b| b.value.map(|v| ends(b, v)))
        .all(|(_, hi)| hi + 0.09 * span <= 1.0);
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let (text, x) = match b.value {
                Some(v) => {
                    let (lo, hi) = ends(b, v);
                    let x = if all_right || (!all_left && hi + 0.09 * span <= 1.0) {
                        hi + 0.015 * span
                    } else if lo - 0.09 * span >= x_min {
                        lo - 0.075 * span
                    } else {
                        v - 0.075 * span
                    };
                    (format!("{v:.2}"), x)
                }
                None => (
                    notes.get(i).cloned().unwrap_or_default(),
                    x_min + 0.01 * span,
                ),
            };
            Text::new(
                text,
                (x, SegmentValue::CenterOf(i)),
                text_style(13).pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))
        .map_err(err)?;
    Ok(())
}

/// Grouped bars: for each category (x), one bar per series. Values are counts.
#[derive(Debug, Clone)]
pub struct Groups {
    pub categories: Vec<String>,
    pub series: Vec<String>,
    /// values[series][category]
    pub values: Vec<Vec<f64>>,
    pub y_desc: String,
}

/// A heat map of `g`: a row per series (theme), a column per category (stage or
/// service), each cell shaded by its count against the largest and, where it is wide
/// enough, labelled with it. Every theme and category is labelled (long ones cut with
/// an ellipsis); the chart's height follows the themes (26 pixels a row). Thirty
/// themes by ten services stay cells a reader can tell apart, where bars were hairlines
/// in near-identical colours.
pub fn heatmap(stem: &Path, g: &Groups, f: &Frame) -> Result<()> {
    let height = (104 + 100 + 26 * g.series.len() as u32).max(300);
    render!(stem, (SIZE.0, height), |area| draw_heatmap(&area, g, f))
}

fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    g: &Groups,
    f: &Frame,
) -> Result<()> {
    let area = frame(root, f)?;
    let (w, h) = area.dim_in_pixel();
    let (left, top_pad, bottom) = (235i32, 4i32, 70i32);
    let rows = g.series.len().max(1) as i32;
    let cols = g.categories.len().max(1) as i32;
    let cell_w = ((w as i32 - left - 10) / cols).max(1);
    let cell_h = ((h as i32 - top_pad - bottom) / rows).clamp(1, 26);
    let largest = largest(g);
    let label = text_style(13).pos(Pos::new(HPos::Right, VPos::Center));
    for (r, name) in g.series.iter().enumerate() {
        let y = top_pad + r as i32 * cell_h;
        area.draw(&Text::new(
            visual(&abbreviated(name, LABEL_CHARS)),
            (left - 8, y + cell_h / 2),
            label.clone(),
        ))
        .map_err(err)?;
        for c in 0..cols as usize {
            let v = g
                .values
                .get(r)
                .and_then(|row| row.get(c))
                .copied()
                .unwrap_or(0.0);
            let t = if largest > 0.0 { v / largest } else { 0.0 };
            // From white to NHS blue.
            let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
            let colour = RGBColor(
                mix(0xFF, NHS_BLUE.0),
                mix(0xFF, NHS_BLUE.1),
                mix(0xFF, NHS_BLUE.2),
            );
            let x = left + c as i32 * cell_w;
            area.draw(&Rectangle::new(
                [(x, y), (x + cell_w - 1, y + cell_h - 1)],
                colour.filled(),
            ))
            .map_err(err)?;
            let text = thousands(v.round() as i64);
            if cell_w >= 8 * text.len() as i32 + 6 && cell_h >= 14 {
                let ink = if t > 0.5 { WHITE } else { NHS_DARK_GREY };
                area.draw(&Text::new(
                    text,
                    (x + cell_w / 2, y + cell_h / 2),
                    (FONT, 12)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                ))
                .map_err(err)?;
            }
        }
    }
    // The categories under their columns, cut to the column's width.
    let per_char = 7;
    let fits = ((cell_w - 4) / per_char).max(3) as usize;
    let under = top_pad + rows * cell_h + 6;
    for (c, name) in g.categories.iter().enumerate() {
        let x = left + c as i32 * cell_w + cell_w / 2;
        area.draw(&Text::new(
            visual(&abbreviated(name, fits)),
            (x, under),
            text_style(12).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(err)?;
    }
    area.draw(&Text::new(
        format!(
            "Shade and number: {} (darkest {})",
            g.y_desc.to_lowercase(),
            thousands(largest.round() as i64)
        ),
        (left, under + 24),
        text_style(13),
    ))
    .map_err(err)?;
    Ok(())
}

/// Grouped bars: findings by stage or service, recommendations by kind and status.
///
/// Up to twelve series (themes) are bars in columns by category, each series a colour.
/// With more, each series gets a row of its own (a theme a row, growing in height, every
/// row labelled) and the categories are the colours: the legend then needs one entry per
/// category (at most twelve), not per theme.
pub fn grouped(stem: &Path, g: &Groups, f: &Frame) -> Result<()> {
    if g.series.len() <= SERIES.len() {
        return render!(stem, |area| draw_grouped(&area, g, f));
    }
    let height = SIZE.1.max(200 + 26 * g.series.len() as u32);
    render!(stem, (SIZE.0, height), |area| draw_grouped_rows(
        &area, g, f
    ))
}

/// The largest value of grouped bars (at least 1, for an axis).
fn largest(g: &Groups) -> f64 {
    g.values
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1.0)
}

/// A row per series, a bar per category within it (horizontal), the legend in a column
/// of its own at the right so that it never covers a bar.
fn draw_grouped_rows<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    g: &Groups,
    f: &Frame,
) -> Result<()> {
    let area = frame(root, f)?;
    let (w, _) = area.dim_in_pixel();
    let (plot, key) = area.split_horizontally(w.saturating_sub(210));
    let rows = g.series.len().max(1);
    let cats = g.categories.len().clamp(1, SERIES.len());
    let right = largest(g) * 1.1;
    let mut chart = ChartBuilder::on(&plot)
        .x_label_area_size(40)
        .y_label_area_size(170)
        .build_cartesian_2d(0f64..right, (0..rows - 1).into_segmented())
        .map_err(err)?;
    // Drawn bottom to top: reversed, so the first series is at the top.
    let label_of = |i: usize| {
        g.series
            .get(rows - 1 - i)
            .map(|l| visual(&abbreviated(l, 23)))
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(g.y_desc.as_str())
        .x_label_formatter(&whole)
        .y_labels(rows + 1)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => label_of(*i),
            _ => String::new(),
        })
        .house_style(13)
        .draw()
        .map_err(err)?;
    // Each row is split into one band per category, with a gap above and below.
    let (_, ys) = chart.plotting_area().get_pixel_range();
    let row_px = ((ys.end - ys.start) as f64 / rows as f64).max(1.0);
    let band_px = row_px * 0.8 / cats as f64;
    for (c, colour) in SERIES.iter().enumerate().take(cats) {
        chart
            .draw_series((0..rows).map(|i| {
                let s = rows - 1 - i;
                let v = g
                    .values
                    .get(s)
                    .and_then(|r| r.get(c))
                    .copied()
                    .unwrap_or(0.0);
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (v, SegmentValue::Exact(i + 1)),
                    ],
                    colour.filled(),
                );
                let top = row_px * 0.1 + band_px * c as f64;
                let bottom = row_px - top - band_px;
                bar.set_margin(top.round() as u32, bottom.max(0.0).round() as u32, 0, 0);
                bar
            }))
            .map_err(err)?;
    }
    // The key: one swatch and name per category.
    for (c, name) in g.categories.iter().take(cats).enumerate() {
        let y = 20 + 22 * c as i32;
        key.draw(&Rectangle::new(
            [(10, y - 6), (22, y + 6)],
            SERIES[c].filled(),
        ))
        .map_err(err)?;
        key.draw(&Text::new(name.clone(), (30, y - 7), text_style(13)))
            .map_err(err)?;
    }
    Ok(())
}

fn draw_grouped<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    g: &Groups,
    f: &Frame,
) -> Result<()> {
    let area = frame(root, f)?;
    let n = g.categories.len().max(1);
    let k = g.series.len().max(1) as f64;
    let top = largest(g) * 1.15;
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)
        .map_err(err)?;
    let categories = &g.categories;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 1e-6 {
                categories.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(g.y_desc.as_str())
        .y_label_formatter(&whole)
        .house_style(13)
        .draw()
        .map_err(err)?;
    for (s, name) in g.series.iter().enumerate() {
        let colour = SERIES[s % SERIES.len()];
        let width = 0.8 / k;
        chart
            .draw_series(g.values[s].iter().enumerate().map(|(i, v)| {
                let x0 = i as f64 + 0.1 + s as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.92, *v)], colour.filled())
            }))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], colour.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

/// One combination of themes and its cases, for the UpSet chart.
#[derive(Debug, Clone)]
pub struct Combination {
    pub members: Vec<bool>,
    pub cases: u64,
    /// The count as shown (`*` when suppressed for publication).
    pub label: String,
}

/// Theme co-occurrence, UpSet style: bars of cases per combination over a matrix of
/// dots showing which themes each combination holds.
///
/// Only the themes that some shown combination holds get a row of the matrix, and the
/// chart grows in height with them (22 pixels a row), so every row is labelled.
pub fn upset(stem: &Path, themes: &[String], combos: &[Combination], f: &Frame) -> Result<()> {
    // Every theme has its row, in one of the shown combinations or not; a long label
    // is cut with an ellipsis (the code list in the report's methods names it whole).
    let themes: Vec<String> = themes.to_vec();
    let height = SIZE.1.max(330 + 22 * themes.len() as u32);
    render!(stem, (SIZE.0, height), |area| draw_upset(
        &area, &themes, combos, f
    ))
}

fn draw_upset<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    themes: &[String],
    combos: &[Combination],
    f: &Frame,
) -> Result<()> {
    let area = frame(root, f)?;
    let (_, h) = area.dim_in_pixel();
    let matrix_h = 22 * themes.len() as u32 + 20;
    let (bars_area, matrix_area) = area.split_vertically(h.saturating_sub(matrix_h));
    let n = combos.len().max(1) as f64;
    let top = combos.iter().map(|c| c.cases).max().unwrap_or(1).max(1) as f64 * 1.15;
    let mut bars = ChartBuilder::on(&bars_area)
        .y_label_area_size(235)
        .x_label_area_size(4)
        .build_cartesian_2d(0f64..n, 0f64..top)
        .map_err(err)?;
    bars.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(f.cases.as_str())
        .y_label_formatter(&whole)
        .house_style(13)
        .draw()
        .map_err(err)?;
    bars.draw_series(combos.iter().enumerate().map(|(i, c)| {
        Rectangle::new(
            [(i as f64 + 0.2, 0.0), (i as f64 + 0.8, c.cases as f64)],
            NHS_BLUE.filled(),
        )
    }))
    .map_err(err)?;
    bars.draw_series(combos.iter().enumerate().map(|(i, c)| {
        Text::new(
            c.label.clone(),
            (i as f64 + 0.38, c.cases as f64 + top * 0.06),
            text_style(13),
        )
    }))
    .map_err(err)?;
    let t = themes.len().max(1);
    let mut matrix = ChartBuilder::on(&matrix_area)
        .y_label_area_size(235)
        .build_cartesian_2d(0f64..n, (0..t - 1).into_segmented())
        .map_err(err)?;
    matrix
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(t + 1)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => themes
                .get(*i)
                .map(|t| visual(&abbreviated(t, LABEL_CHARS)))
                .unwrap_or_default(),
            _ => String::new(),
        })
        .label_style(text_style(13))
        .draw()
        .map_err(err)?;
    for (i, c) in combos.iter().enumerate() {
        let x = i as f64 + 0.5;
        let on: Vec<usize> = (0..t)
            .filter(|j| c.members.get(*j) == Some(&true))
            .collect();
        if let (Some(first), Some(last)) = (on.first(), on.last()) {
            matrix
                .draw_series(std::iter::once(PathElement::new(
                    vec![
                        (x, SegmentValue::CenterOf(*first)),
                        (x, SegmentValue::CenterOf(*last)),
                    ],
                    NHS_DARK_BLUE.stroke_width(3),
                )))
                .map_err(err)?;
        }
        matrix
            .draw_series((0..t).map(|j| {
                let style = if on.contains(&j) {
                    NHS_DARK_BLUE.filled()
                } else {
                    NHS_PALE_GREY.filled()
                };
                Circle::new((x, SegmentValue::CenterOf(j)), 6, style)
            }))
            .map_err(err)?;
    }
    Ok(())
}

/// The measured days of one interval, with its threshold.
#[derive(Debug, Clone)]
pub struct DelaySeries {
    pub label: String,
    pub days: Vec<f64>,
    pub threshold_days: f64,
}

/// Delay distributions: a strip of points per interval and urgency, with each one's
/// threshold as a line; points over the threshold in orange. The chart grows in height
/// with the strips (30 pixels a strip beyond a dozen), and every strip is labelled.
pub fn delays(stem: &Path, series: &[DelaySeries], f: &Frame) -> Result<()> {
    let height = SIZE.1.max(180 + 30 * series.len() as u32);
    render!(stem, (SIZE.0, height), |area| draw_delays(&area, series, f))
}

fn draw_delays<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &[DelaySeries],
    f: &Frame,
) -> Result<()> {
    let area = frame(root, f)?;
    let n = series.len().max(1);
    // Days on a log-like scale would hide the threshold; use days + 1 on a log axis.
    let max = series
        .iter()
        .flat_map(|s| s.days.iter().copied().chain([s.threshold_days]))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(40)
        .y_label_area_size(260)
        .build_cartesian_2d(
            (0.01f64..max * 1.5).log_scale(),
            (0..n - 1).into_segmented(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("Days between the steps (log scale); line: threshold")
        .x_label_formatter(&|v| {
            if *v < 1.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.0}")
            }
        })
        .y_labels(n + 1)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => {
                series.get(*i).map(|s| s.label.clone()).unwrap_or_default()
            }
            _ => String::new(),
        })
        .house_style(13)
        .draw()
        .map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let th = s.threshold_days.max(0.01);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![
                    (th, SegmentValue::Exact(i)),
                    (th, SegmentValue::Exact(i + 1)),
                ],
                NHS_DARK_GREY.stroke_width(2),
            )))
            .map_err(err)?;
        chart
            .draw_series(s.days.iter().map(|d| {
                let colour = if *d > s.threshold_days {
                    NHS_ORANGE
                } else {
                    NHS_BLUE
                };
                Circle::new((d.max(0.01), SegmentValue::CenterOf(i)), 6, colour.filled())
            }))
            .map_err(err)?;
    }
    Ok(())
}

mod funnel;
mod spc;
mod text;
pub use funnel::*;
pub use spc::*;
pub use text::*;
use text::{BITMAP, CUT, with_tooltips};

/// One point of learning curves: cases coded, then the score of random sampling and of
/// the queue.
pub type CurvePoint = (f64, f64, f64);

/// The queue measured (`casework suggest --simulate`): the score on held-out cases by
/// cases coded, for random sampling and for the queue.
pub fn learning_curves(stem: &Path, points: &[CurvePoint], score: &str, f: &Frame) -> Result<()> {
    render!(stem, |area| draw_learning_curves(&area, points, score, f))
}

fn draw_learning_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[CurvePoint],
    score: &str,
    f: &Frame,
) -> Result<()> {
    let area = frame(root, f)?;
    let x_max = points.iter().map(|p| p.0).fold(1.0, f64::max) * 1.03;
    let top = points.iter().map(|p| p.1.max(p.2)).fold(0.0, f64::max);
    // Scaled to the data: the next tenth above the best score, with room for the legend.
    let y_max = ((top * 1.15 * 10.0).ceil() / 10.0).clamp(0.1, 1.0);
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("{} coded", f.cases).as_str())
        .y_desc(score)
        .x_label_formatter(&whole)
        .y_label_formatter(&|v| decimal(v, y_max))
        .house_style(13)
        .draw()
        .map_err(err)?;
    for (label, colour, pick) in [
        ("Random sampling", NHS_MID_GREY, 1usize),
        ("The queue (least certain first)", NHS_BLUE, 2usize),
    ] {
        let series: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (p.0, if pick == 1 { p.1 } else { p.2 }))
            .collect();
        chart
            .draw_series(LineSeries::new(series.clone(), colour.stroke_width(3)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
            });
        chart
            .draw_series(
                series
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, colour.filled())),
            )
            .map_err(err)?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}
