//! Chart text: right-to-left scripts in visual order for the PNG, labels cut to fit
//! (with their whole text as an SVG tooltip), capitals.

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
    pub(super) static CUT: std::cell::RefCell<Vec<(String, String)>> = const { std::cell::RefCell::new(Vec::new()) };
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
pub(super) fn with_tooltips(svg: String) -> String {
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

/// `text` with its first letter in capitals.
pub fn capitalised(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

thread_local! {
    /// Whether the chart being drawn is the PNG (text must be in visual order) rather
    /// than the SVG (the browser orders it).
    pub(super) static BITMAP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
