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

/// A whole number with thousands separators: 26,076.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

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

/// Renders a chart to `stem.svg` and `stem.png`.
macro_rules! render {
    ($stem:expr, |$area:ident| $draw:expr) => {
        render!($stem, SIZE, |$area| $draw)
    };
    ($stem:expr, $size:expr, |$area:ident| $draw:expr) => {{
        let stem: &Path = $stem;
        let size: (u32, u32) = $size;
        let mut svg = String::new();
        CUT.with(|c| c.borrow_mut().clear());
        {
            let $area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            $draw?;
            $area.present().map_err(err)?;
        }
        let svg = with_tooltips(svg);
        let svg_path = stem.with_extension("svg");
        std::fs::write(&svg_path, svg).map_err(|e| Error::io(&svg_path, e))?;
        let png_path = stem.with_extension("png");
        {
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

/// The characters a theme's label keeps beside a chart (235 pixels at 13 pixels).
pub const LABEL_CHARS: usize = 32;

/// `text` cut to `max` characters at a word where it can be, with an ellipsis.
pub fn abbreviated(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    let at_word = match cut.rfind(' ') {
        Some(i) if i > max / 2 => cut[..i].to_string(),
        _ => cut,
    };
    let short = format!("{}…", at_word.trim_end());
    CUT.with(|c| c.borrow_mut().push((short.clone(), text.to_string())));
    short
}

thread_local! {
    /// Labels cut while drawing a chart, (as drawn, whole): the SVG gives each its whole
    /// text as a tooltip.
    static CUT: std::cell::RefCell<Vec<(String, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// XML-escaped text, as the SVG backend writes it.
fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// `svg` with a `<title>` (the browser's tooltip) holding the whole text of every label
/// the chart cut.
fn with_tooltips(svg: String) -> String {
    let cut = CUT.with(|c| std::mem::take(&mut *c.borrow_mut()));
    let mut svg = svg;
    for (short, whole) in cut {
        for drawn in [short.clone(), xml_escaped(&short)] {
            let from = format!("\n{drawn}\n</text>");
            if svg.contains(&from) {
                svg = svg.replace(
                    &from,
                    &format!("\n<title>{}</title>{drawn}\n</text>", xml_escaped(&whole)),
                );
                break;
            }
        }
    }
    svg
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
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(40)
        .y_label_area_size(235)
        .build_cartesian_2d(0f64..100f64, (0..n - 1).into_segmented())
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
    // The share beside its interval; where that would pass the axis (an interval
    // reaching 100%), inside the bar's end, in white.
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let text = b.value.map_or("*".to_string(), crate::stats::percent);
            let beside = b.high.or(b.value).unwrap_or(0.0) * 100.0 + 1.5;
            // (x, pixel offset, style): below the whisker, inside the bar's end.
            let (x, offset, style) = match b.value {
                Some(v) if beside > 93.0 && v > 0.12 => (
                    v * 100.0,
                    (-8, 5),
                    text_style(14)
                        .color(&WHITE)
                        .pos(Pos::new(HPos::Right, VPos::Top)),
                ),
                _ if beside > 93.0 => (
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
/// threshold as a line; points over the threshold in orange.
pub fn delays(stem: &Path, series: &[DelaySeries], f: &Frame) -> Result<()> {
    render!(stem, |area| draw_delays(&area, series, f))
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
    // The labelled periods: a vertical grid line, a tick and the label (drawn here, as
    // plotters would put a tick at every period).
    let tick_style = text_style(12).pos(Pos::new(HPos::Center, VPos::Top));
    for (k, text) in &ticks {
        chart
            .draw_series(LineSeries::new(
                [(*k as f64, lo), (*k as f64, hi)],
                NHS_PALE_GREY.stroke_width(1),
            ))
            .map_err(err)?;
        let (px, py) = chart.backend_coord(&(*k as f64, lo));
        let (ox, oy) = area.get_base_pixel();
        area.draw(&PathElement::new(
            vec![(px - ox, py - oy), (px - ox, py - oy + 5)],
            NHS_DARK_GREY.stroke_width(1),
        ))
        .map_err(err)?;
        area.draw(&Text::new(
            text.clone(),
            (px - ox, py - oy + 8),
            tick_style.clone(),
        ))
        .map_err(err)?;
    }
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
                    let colour = match p.variation.as_str() {
                        "special cause concern" => mdc::POINT_CONCERN,
                        "special cause improvement" => mdc::POINT_IMPROVEMENT,
                        "special cause neither" => mdc::POINT_NEITHER,
                        _ => mdc::POINT_COMMON,
                    };
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
                    let colour = match p.variation.as_str() {
                        "special cause concern" => mdc::POINT_CONCERN,
                        "special cause improvement" => mdc::POINT_IMPROVEMENT,
                        "special cause neither" => mdc::POINT_NEITHER,
                        _ => mdc::POINT_COMMON,
                    };
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

/// `text` with its first letter in capitals.
pub fn capitalised(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
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
/// at a round step giving about `target` ticks (a linear one).
fn ticks(lo: f64, hi: f64, log: bool, target: usize) -> Vec<f64> {
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
        .unwrap_or(10.0 * magnitude);
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
    // that hundreds of small units are not crowded against zero.
    let log = max_n / min_n.max(1e-9) >= 100.0;
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
    )
    .into_iter()
    .map(tx)
    .collect();
    // Ratios: from 0 to past the highest unit (at least 2), the limits cut there.
    let top = if axes.ratio {
        units.iter().map(|u| u.proportion).fold(2.0, f64::max) * 1.1
    } else {
        100.0
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
    for k in &key_points {
        chart
            .draw_series(LineSeries::new(
                [(*k, 0.0), (*k, top)],
                NHS_PALE_GREY.stroke_width(1),
            ))
            .map_err(err)?;
    }
    let tick_style = text_style(13).pos(Pos::new(HPos::Center, VPos::Top));
    for k in &key_points {
        let n = if log { 10f64.powf(*k) } else { *k };
        let text = if n >= 1.0 || !log {
            thousands(n.round() as i64)
        } else {
            format!("{n:.1}")
        };
        let (px, py) = chart.backend_coord(&(*k, 0.0));
        let (ox, oy) = plot_area.get_base_pixel();
        plot_area
            .draw(&PathElement::new(
                vec![(px - ox, py - oy), (px - ox, py - oy + 5)],
                NHS_DARK_GREY.stroke_width(1),
            ))
            .map_err(err)?;
        plot_area
            .draw(&Text::new(text, (px - ox, py - oy + 8), tick_style.clone()))
            .map_err(err)?;
    }
    let pct = |v: f64| if axes.ratio { v } else { v * 100.0 };
    let inside = |p: &(f64, f64)| p.1.is_finite() && p.1 <= top && p.0 >= x_lo;
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
            let series = chart
                .draw_series(LineSeries::new(
                    curve
                        .iter()
                        .filter(|c| c.0 > 0.0)
                        .map(|c| (tx(c.0), pct(pick(c, lower))))
                        .filter(inside),
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
    let mut numbered: Vec<&FunnelUnit> = units.iter().filter(|u| u.number.is_some()).collect();
    numbered.sort_by_key(|u| u.number);
    let dots: Vec<(i32, i32)> = units
        .iter()
        .map(|u| chart.backend_coord(&(tx(u.denominator), pct(u.proportion))))
        .collect();
    // The legend's box, top right (an estimate of its size).
    let legend_box = (plot_x.end - 330, plot_y.start, 330, 130);
    let mut placed: Vec<(i32, i32, i32, i32)> = vec![legend_box];
    let label_style = (FONT, 13, FontStyle::Bold)
        .into_font()
        .color(&NHS_DARK_BLUE);
    // (number, where it is drawn, its dot).
    type Placed = (String, (i32, i32), (i32, i32));
    let mut labels: Vec<Placed> = Vec::new();
    for u in &numbered {
        let n = u.number.unwrap_or(0);
        let text = n.to_string();
        let (px, py) = chart.backend_coord(&(tx(u.denominator), pct(u.proportion)));
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
    let (ox, oy) = (plot_area.get_base_pixel().0, plot_area.get_base_pixel().1);
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
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
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
        for (i, u) in numbered.iter().enumerate() {
            let (col, row) = (i / rows, i % rows);
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

thread_local! {
    /// Whether the chart being drawn is the PNG (text must be in visual order) rather
    /// than the SVG (the browser orders it).
    static BITMAP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A right-to-left character (Hebrew, Arabic, Syriac, Thaana, N'Ko and their
/// presentation forms).
fn is_rtl(c: char) -> bool {
    matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF)
}

/// Text as a chart draws it: for the PNG, text holding right-to-left script is shaped
/// (Arabic joined forms) and put in visual order by the Unicode Bidirectional Algorithm,
/// since the bitmap backend lays glyphs out left to right; for the SVG it is left as
/// written (the browser does both).
pub fn visual(text: &str) -> String {
    if !BITMAP.with(|b| b.get()) || !text.chars().any(is_rtl) {
        return text.to_string();
    }
    let shaped = ar_reshaper::reshape_line(text);
    // A left-to-right paragraph (the chart's language), its right-to-left runs reversed
    // in place.
    let info = unicode_bidi::BidiInfo::new(&shaped, Some(unicode_bidi::Level::ltr()));
    info.paragraphs
        .iter()
        .map(|p| info.reorder_line(p, p.range.clone()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
