//! The oversight report: every measure, every chart, headline sentences, the methods
//! and the data's provenance, as `index.html` (self-contained), `report.md`,
//! `figures/`, `tables/`, `summary.json` and `workbook.xlsx`.

pub mod chart;
mod collect;
pub mod figures;
pub mod job;

use collect::collect;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use minijinja::{Environment, Value as JinjaValue, context};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::engine::{self, Scope};
use crate::error::{Error, NotDrawn, Result};
use crate::measures::{self, Context, FigureLike};
use crate::publication::{Publishing, View};
use crate::spec::study::StudyFile;
use crate::stats;
use figures::Figures;

const HTML_TEMPLATE: &str = include_str!("../../reports/templates/report.html");
const MD_TEMPLATE: &str = include_str!("../../reports/templates/report.md");
/// The founding report's seven recommendations, owners and deadline (status for the user).
pub const DEFAULT_TRACKER: &str = include_str!("../../data/recommendations-tracker.csv");

/// A period `FROM..TO` for committee comparisons.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub fn parse(text: &str) -> std::result::Result<Period, String> {
        let (a, b) = text
            .split_once("..")
            .ok_or_else(|| format!("{text:?}: write a period as YYYY-MM-DD..YYYY-MM-DD"))?;
        let d = |s: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| format!("{s:?} is not a date YYYY-MM-DD"))
        };
        Ok(Period {
            from: d(a)?,
            to: d(b)?,
        })
    }
}

/// How to build a report.
pub struct Options {
    pub out: PathBuf,
    pub title: String,
    /// The publication at the report's view, when it is for publication.
    pub publish: Option<Publishing>,
    /// Whether lists that name cases (the coding disagreements) are written (never with
    /// `publish`; `serve` never keeps them).
    pub lists: bool,
    pub comparison: Option<(Period, Period)>,
    /// The address of `casework serve` on this warehouse: the tables of flagged
    /// organisations link each to its page there.
    pub serve_url: Option<String>,
    /// A tracker CSV (number, text, owner, due_date, status, evidence); `None` uses the
    /// shipped one.
    pub tracker: Option<PathBuf>,
    /// Measures' outputs already computed for the report's scope, by a route whose
    /// answers equal the SQL's (serve's case index: `tests/it/explorer.rs`): not run
    /// again.
    pub given: Vec<crate::measures::Output>,
}

/// What `build` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub index: PathBuf,
    pub files: Vec<PathBuf>,
}

/// Everything the report is built from: the same as a session's.
pub use crate::engine::Inputs;

fn pct(p: f64) -> String {
    stats::percent(p)
}

/// A count as the report's prose writes it (as shown: `None` is suppressed), with
/// thousands separators (2,000).
fn count_text(n: Option<u64>) -> String {
    n.map_or("*".to_string(), |n| {
        crate::report::chart::thousands(n as i64)
    })
}

/// A count for summary.json: a number, or null when suppressed for publication (the
/// headline's `suppressed` says so).
fn count_value(n: Option<u64>) -> Value {
    n.map_or(Value::Null, Value::from)
}

/// One theme's headline figures as the report states them.
#[derive(Debug, Clone, Serialize)]
struct Headline {
    theme: String,
    label: String,
    /// Counts as numbers (null when suppressed for publication).
    cases: Value,
    cases_with_theme: Value,
    /// Whether a count is suppressed (publication): the figures are then null.
    suppressed: bool,
    /// The share as a number (0 to 1) and its 95% Wilson interval.
    proportion: Option<f64>,
    ci95_lower: Option<f64>,
    ci95_upper: Option<f64>,
    /// The same, as the sentence writes them ("43%").
    percent: Option<String>,
    ci95_low: Option<String>,
    ci95_high: Option<String>,
    phrase: Option<String>,
    sentence: String,
    /// Where coders agreed on the theme less than substantially (coding reliability).
    #[serde(skip_serializing_if = "Option::is_none")]
    caveat: Option<String>,
}

/// One theme's headline from its counts as shown (`None`: suppressed).
fn headline(study: &StudyFile, theme: &str, px: Option<u64>, pn: Option<u64>) -> Headline {
    let label = study.label(theme);
    let (nouns, words_after) = (study.cases(), study.headline_words(theme));
    let (xs, ns) = (count_text(px), count_text(pn));
    match (px, pn) {
        (Some(x), Some(n)) if n > 0 => {
            let p = x as f64 / n as f64;
            let ci = stats::wilson(x, n, 0.95);
            // One decimal where the interval is narrower than two percentage points, so
            // that it does not read "9% (95% CI 9% to 9%)".
            let narrow = ci.is_some_and(|c| c.high - c.low < 0.02);
            let show = |v: f64| {
                if narrow {
                    stats::percent_1dp(v)
                } else {
                    pct(v)
                }
            };
            let (lo, hi) = ci.map_or((String::new(), String::new()), |c| {
                stats::percent_interval(c.low, c.high, usize::from(narrow))
            });
            let phrase = stats::phrase(p);
            let words = phrase.as_ref().map_or(String::new(), |w| format!(" {w},"));
            Headline {
                sentence: format!(
                    "In {xs} of {ns} {nouns} ({}, 95% CI {lo} to {hi}),{words} {words_after}.",
                    show(p)
                ),
                theme: theme.into(),
                label,
                cases: count_value(pn),
                cases_with_theme: count_value(px),
                suppressed: false,
                proportion: Some(p),
                ci95_lower: ci.map(|c| c.low),
                ci95_upper: ci.map(|c| c.high),
                percent: Some(show(p)),
                ci95_low: Some(lo),
                ci95_high: Some(hi),
                phrase,
                caveat: None,
            }
        }
        _ => Headline {
            sentence: format!(
                "{label}: the number of {nouns} is too small to publish (disclosure control); of {ns} {nouns}."
            ),
            theme: theme.into(),
            label,
            cases: count_value(pn),
            cases_with_theme: count_value(px),
            suppressed: px.is_none() || pn.is_none(),
            proportion: None,
            ci95_lower: None,
            ci95_upper: None,
            percent: None,
            ci95_low: None,
            ci95_high: None,
            phrase: None,
            caveat: None,
        },
    }
}

/// The change in one theme between two periods, in words.
fn comparison_sentence(
    label: &str,
    base: (u64, u64),
    cur: (u64, u64),
    periods: &(Period, Period),
) -> (String, Value) {
    let (b, c) = (
        base.0 as f64 / base.1.max(1) as f64,
        cur.0 as f64 / cur.1.max(1) as f64,
    );
    let diff = ((c - b) * 100.0).round() as i64;
    let ci = stats::newcombe(cur.0, cur.1, base.0, base.1, 0.95);
    let ci_text = ci.map_or(String::new(), |i| {
        format!(
            " (95% CI {} to {} percentage points)",
            (i.low * 100.0).round() as i64,
            (i.high * 100.0).round() as i64
        )
    });
    let words = match diff.signum() {
        -1 => format!(
            "fell from {} to {}, a fall of {} percentage points",
            pct(b),
            pct(c),
            -diff
        ),
        1 => format!(
            "rose from {} to {}, a rise of {} percentage points",
            pct(b),
            pct(c),
            diff
        ),
        _ => format!(
            "was {} in both periods, no change in percentage points",
            pct(c)
        ),
    };
    let sentence = format!(
        "{label} {words}{ci_text}, between {}–{} and {}–{}.",
        periods.0.from, periods.0.to, periods.1.from, periods.1.to
    );
    let value = json!({
        "baseline_percent": pct(b), "current_percent": pct(c),
        "change_points": diff,
        "ci95_low_points": ci.map(|i| (i.low * 100.0).round() as i64),
        "ci95_high_points": ci.map(|i| (i.high * 100.0).round() as i64),
    });
    (sentence, value)
}

/// A table for the templates: column names and rows of text.
#[derive(Debug, Clone, Serialize)]
struct Table {
    name: String,
    /// What the page calls it, in the study's words.
    title: String,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Per cell, whether the measure gave a number (the workbook writes it as one);
    /// text that looks like a number ("0012", "nan") stays text.
    #[serde(skip)]
    numeric: Vec<Vec<bool>>,
    /// The rows the page shows (the first [`PAGE_ROWS`]); all are in `tables/` and the
    /// workbook.
    preview: Vec<Vec<String>>,
    /// Rows not shown on the page.
    more: usize,
    /// The column names as the page shows them (the study's name for `region`); the
    /// CSV and the workbook keep the data's names.
    headers: Vec<String>,
    /// The column whose cells link to their organisation's page in `casework serve`
    /// (`organisation_code`, when the report knows serve's address), and per row shown
    /// the link.
    link_column: Option<usize>,
    links: Vec<Option<String>>,
}

impl Table {
    /// Links each shown row's organisation code to its page in `casework serve` at
    /// `serve_url` ("" inside serve itself).
    fn link_organisations(&mut self, serve_url: &str) {
        let Some(c) = self.columns.iter().position(|c| c == "organisation_code") else {
            return;
        };
        self.link_column = Some(c);
        self.links = self
            .preview
            .iter()
            .map(|row| {
                row.get(c)
                    .filter(|code| !code.is_empty() && *code != "*")
                    .map(|code| {
                        format!(
                            "{}/organisation/{}",
                            serve_url.trim_end_matches('/'),
                            crate::serve::encode(code)
                        )
                    })
            })
            .collect();
    }
}

/// Bytes of figures the HTML page inlines; later figures are linked images (figures/).
pub const PAGE_FIGURE_BYTES: usize = 1_200_000;

/// Rows of a table shown in the HTML and Markdown report; longer tables say where the
/// rest is (tables/NAME.csv and the workbook).
pub const PAGE_ROWS: usize = 50;

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            format!("{f:.4}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        }
        other => other.to_string(),
    }
}

fn table(name: &str, maps: &[Map<String, Value>]) -> Table {
    let columns: Vec<String> = maps
        .first()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    let value = |r: &Map<String, Value>, c: &String| r.get(c).cloned().unwrap_or(Value::Null);
    let rows: Vec<Vec<String>> = maps
        .iter()
        .map(|r| columns.iter().map(|c| cell(&value(r, c))).collect())
        .collect();
    let numeric = maps
        .iter()
        .map(|r| columns.iter().map(|c| value(r, c).is_number()).collect())
        .collect();
    // The page's rows: whole numbers of 1,000 or more with thousands separators (a year
    // column's values left as they are); the CSV files and the workbook keep the number.
    let preview: Vec<Vec<String>> = maps
        .iter()
        .take(PAGE_ROWS)
        .map(|r| {
            columns
                .iter()
                .map(|c| match value(r, c) {
                    Value::Number(n)
                        if !c.contains("year") && n.as_i64().is_some_and(|i| i.abs() >= 1000) =>
                    {
                        crate::spec::thousands(n.as_i64().unwrap_or(0))
                    }
                    v => cell(&v),
                })
                .collect()
        })
        .collect();
    let more = rows.len() - preview.len();
    let headers = columns.clone();
    Table {
        name: name.to_string(),
        title: name.replace('_', " "),
        columns,
        rows,
        numeric,
        preview,
        more,
        headers,
        link_column: None,
        links: Vec::new(),
    }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>, files: &mut Vec<PathBuf>) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))?;
    files.push(path.to_path_buf());
    Ok(())
}

fn csv_text(t: &Table) -> String {
    measures::table_csv(&t.columns, &t.rows, Some(&t.numeric))
}

fn workbook(path: &Path, tables: &[Table], date: NaiveDate) -> Result<()> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    // A fixed creation date (the report's date), so that the same data gives the same file.
    let created = rust_xlsxwriter::ExcelDateTime::from_ymd(
        u16::try_from(chrono::Datelike::year(&date)).unwrap_or(2000),
        chrono::Datelike::month(&date) as u8,
        chrono::Datelike::day(&date) as u8,
    )?;
    wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    for t in tables {
        let ws = wb.add_worksheet();
        let name: String = t.name.chars().take(31).collect();
        ws.set_name(name)?;
        for (c, h) in t.columns.iter().enumerate() {
            ws.write_string(0, c as u16, h)?;
        }
        for (r, (row, numeric)) in t.rows.iter().zip(&t.numeric).enumerate() {
            for (c, (v, is_number)) in row.iter().zip(numeric).enumerate() {
                let (rr, cc) = (r as u32 + 1, c as u16);
                match v.parse::<f64>() {
                    Ok(n) if *is_number && n.is_finite() => ws.write_number(rr, cc, n)?,
                    _ => ws.write_string(rr, cc, v)?,
                };
            }
        }
    }
    Ok(wb.save(path)?)
}

/// The tracker's rows: `--tracker`, else the study's, else none (no tracker section).
fn tracker_rows(path: Option<&Path>, study: &StudyFile) -> Result<Vec<Map<String, Value>>> {
    let text = match (path, &study.tracker) {
        (Some(p), _) => std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
        (None, Some(t)) if t == "embedded:data/recommendations-tracker.csv" => {
            DEFAULT_TRACKER.to_string()
        }
        (None, Some(t)) => {
            std::fs::read_to_string(t).map_err(|e| Error::io(PathBuf::from(t), e))?
        }
        (None, None) => return Ok(Vec::new()),
    };
    let file = path.map_or_else(
        || PathBuf::from("data/recommendations-tracker.csv"),
        Path::to_path_buf,
    );
    let bad = |e: csv::Error| Error::Config {
        file: file.clone(),
        message: format!("recommendations tracker: {e}"),
    };
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().map_err(bad)?.clone();
    let mut rows = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(bad)?;
        rows.push(
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), Value::from(v)))
                .collect(),
        );
    }
    Ok(rows)
}

/// What the report says, gathered from the warehouse before anything is composed.
pub(super) struct Collected {
    /// Per theme, what its SPC chart plots, for the caption ("share of decisions per
    /// month").
    spc_captions: std::collections::BTreeMap<String, String>,
    /// Whether the data has what a section needs: measured delays, remedies,
    /// recommendations, services.
    has: Has,
    /// Every measure as a table (published if asked).
    tables: Vec<Table>,
    headlines: Vec<Headline>,
    /// The committee comparison: a sentence and its figures per theme.
    comparisons: Vec<(String, Value)>,
    /// Per theme, the organisations outside the funnel's 99.8% limits (published if
    /// asked): every one is listed under the chart, which labels at most ten.
    flagged: std::collections::BTreeMap<String, Vec<Flagged>>,
    /// Per theme, how its funnel judged the organisations (φ, τ², the flags both ways).
    judged: std::collections::BTreeMap<String, String>,
    /// Per theme read per exposure, what it is read per ("per 1,000 homes").
    per: std::collections::BTreeMap<String, String>,
    /// The scorecard: one row per theme, from its SPC chart (Making Data Count).
    scorecard: Vec<ScoreRow>,
    /// Coding reliability, when the warehouse holds a double-coded sample in scope.
    reliability: Option<Reliability>,
}

/// The "Coding reliability" section as the templates show it.
#[derive(Debug, Clone, Serialize)]
struct Reliability {
    summary: String,
    rows: Vec<ReliabilityRow>,
    disagreements: String,
}

#[derive(Debug, Clone, Serialize)]
struct ReliabilityRow {
    theme: String,
    cases: String,
    split: String,
    observed: String,
    kappa: String,
    band: String,
    alpha: String,
    ac1: String,
    note: String,
}

/// A theme's row of the scorecard: its SPC chart's latest value, mean and limits, the
/// summary icons (as inline SVG with their words), the target.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    pub theme: String,
    pub label: String,
    /// The latest month shown and its value ("2023-12: 31%").
    pub latest: String,
    pub mean: String,
    pub limits: String,
    pub variation: String,
    pub variation_words: String,
    pub assurance: String,
    pub assurance_words: String,
    pub target: String,
    /// Why there is no chart, when there is none.
    pub note: String,
    /// A sustained shift worth considering as a rebase, in words.
    pub suggestion: String,
    /// Numbers for summary.json: latest value, mean, lower and upper limit, target.
    #[serde(skip)]
    pub numbers: Value,
}

/// What the study's data has, so that the report shows no section for what it lacks.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Has {
    /// Measured delays (events with intervals): the delays chart, thresholds, methods.
    delays: bool,
    /// A theme measured against the thresholds (the study's delay theme).
    delay_theme: bool,
    remedies: bool,
    recommendations: bool,
    learning: bool,
    services: bool,
    stages: bool,
}

/// An organisation outside a funnel's 99.8% limits, as the report lists it.
#[derive(Debug, Clone, Serialize)]
struct Flagged {
    /// Its number on the funnel chart.
    number: usize,
    /// Its name (its code when it has none), and its code.
    organisation: String,
    code: String,
    /// Its page in `casework serve`, when the report was given serve's address.
    link: Option<String>,
    cases_with_theme: String,
    cases: String,
    percent: String,
    /// For a theme read per exposure: the rate and the ratio to expected.
    rate: String,
    side: String,
}

/// Per theme of a `theme_prevalence` output, in either form: (theme, cases with it,
/// cases), `None` where a count is suppressed.
fn prevalence_counts<F: crate::measures::Form>(
    out: &crate::measures::Output<F>,
) -> Vec<(String, Option<u64>, Option<u64>)> {
    use crate::measures::CountLike;
    out.rows
        .theme_prevalence()
        .iter()
        .map(|r| {
            (
                r.theme.clone(),
                r.cases_with_theme.number(),
                r.cases.number(),
            )
        })
        .collect()
}

/// Builds the report into `options.out`: collect the measures, draw the figures,
/// compose the page's values, render the templates, write the files.
pub async fn build(inputs: &Inputs<'_>, options: &Options) -> Result<Written> {
    let out = &options.out;
    let figures_dir = out.join("figures");
    let tables_dir = out.join("tables");
    for d in [out, &figures_dir, &tables_dir] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let manifest = inputs.warehouse.committed()?;
    let ctx = engine::session(inputs).await?;
    let context = Context {
        scope: inputs.scope,
        codes: inputs.codes,
        thresholds: inputs.thresholds,
        as_of: inputs.as_of,
        queries: None,
    };
    let source = figures::source_line(&manifest, inputs.codes);
    let mut files = Vec::new();
    let figs = Figures::new(
        &ctx,
        &context,
        source.clone(),
        options.publish.clone(),
        inputs.study,
    );
    for out in &options.given {
        figs.seed(out.clone());
    }

    let collected = collect(&figs, inputs, &context, options, &manifest).await?;
    for t in &collected.tables {
        write(
            &tables_dir.join(format!("{}.csv", t.name)),
            csv_text(t),
            &mut files,
        )?;
    }
    let xlsx = out.join("workbook.xlsx");
    workbook(&xlsx, &collected.tables, inputs.as_of)?;
    files.push(xlsx);

    let has = collected.has;
    let lacking: Vec<&str> = [
        ("delays", has.delays),
        ("service", has.services),
        ("stage", has.stages),
        ("compliance", has.recommendations),
    ]
    .into_iter()
    .filter(|(_, present)| !present)
    .map(|(name, _)| name)
    .collect();
    let (drawn, skipped) = figs.draw_all(&figures_dir, &lacking).await?;
    for stem in &drawn {
        files.push(stem.with_extension("svg"));
        files.push(stem.with_extension("png"));
    }

    let tracker = tracker_rows(options.tracker.as_deref(), inputs.study)?;
    let page = compose(
        &collected,
        &figures_dir,
        inputs,
        options,
        &manifest,
        &source,
        tracker,
        skipped
            .iter()
            .map(|why| readers_words(why, inputs.study, true))
            .collect(),
    );
    let (html, markdown) = render(&page)?;
    let index = out.join("index.html");
    write(&index, html, &mut files)?;
    write(&out.join("report.md"), markdown, &mut files)?;

    let summary = json!({
        "title": options.title,
        "source": source,
        "disclosure": options.publish.as_ref().map(|p| p.settings().text()),
        "themes": collected.headlines,
        "scorecard": collected.scorecard.iter().map(|r| r.numbers.clone()).collect::<Vec<_>>(),
        "comparisons": collected.comparisons.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
    });
    write(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
        &mut files,
    )?;
    Ok(Written { index, files })
}

/// A theme's scorecard row from its SPC chart as the report draws it (published when
/// the report is).
pub async fn score_row(figs: &Figures<'_>, study: &StudyFile, theme: &str) -> Result<ScoreRow> {
    let label = study.label(theme);
    let mut row = ScoreRow {
        theme: theme.to_string(),
        label,
        latest: String::new(),
        mean: String::new(),
        limits: String::new(),
        variation: String::new(),
        variation_words: String::new(),
        assurance: String::new(),
        assurance_words: String::new(),
        target: String::new(),
        note: String::new(),
        suggestion: String::new(),
        numbers: Value::Null,
    };
    let view = match figs.spc_view(theme).await {
        Ok(v) => v,
        Err(Error::NotDrawn(why)) => {
            // The row names the theme already.
            row.note = readers_words(&why, study, false);
            return Ok(row);
        }
        Err(e) => return Err(e),
    };
    let share = view.plotted == crate::oversight::Plotted::Proportion;
    let rate = view.plotted == crate::oversight::Plotted::Rate;
    let per = study
        .exposure
        .as_ref()
        .map(|e| e.per_words())
        .unwrap_or_default();
    let show = |v: f64| {
        if share {
            stats::percent_1dp(v)
        } else if rate {
            format!("{} {per}", stats::rate_text(v))
        } else if (v - v.round()).abs() < 1e-9 {
            crate::report::chart::thousands(v.round() as i64)
        } else {
            format!("{v:.1}")
        }
    };
    if let Some(p) = view.points.last() {
        row.latest = format!("{}: {}", p.label, show(p.value));
        row.mean = show(p.mean);
        row.limits = if rate {
            format!(
                "{} to {} {per}",
                stats::rate_text(p.lower.max(0.0)),
                stats::rate_text(p.upper)
            )
        } else {
            // A share's limits are given within 0% and 100% here (as the chart draws
            // them); summary.json keeps them as computed.
            let upper = if share { p.upper.min(1.0) } else { p.upper };
            format!("{} to {}", show(p.lower.max(0.0)), show(upper))
        };
        row.numbers = json!({
            "theme": theme, "latest_period": p.label, "latest": p.value, "mean": p.mean,
            "lower_limit": p.lower, "upper_limit": p.upper, "share": share,
            "rate_per": if rate { Some(per.as_str()) } else { None },
            "variation": view.icon, "assurance": view.assurance, "target": view.target,
        });
    }
    row.variation = crate::report::chart::icon_svg(view.icon, None).unwrap_or_default();
    row.variation_words = view.icon.map_or(String::new(), |i| i.words().to_string());
    row.assurance = crate::report::chart::icon_svg(None, view.assurance).unwrap_or_default();
    row.assurance_words = view.assurance.map_or_else(
        || {
            if view.target.is_some() {
                "no assurance (neither direction is better)".into()
            } else {
                "no target".into()
            }
        },
        |a| a.words().to_string(),
    );
    row.target = view.target.map_or(String::new(), |t| {
        let better = match study.better(theme) {
            crate::spec::study::Better::Lower => "at most",
            crate::spec::study::Better::Higher => "at least",
            crate::spec::study::Better::Neither => "",
        };
        format!("{better} {}", show(t)).trim().to_string()
    });
    if !view.rebases.is_empty() {
        row.note = format!(
            "rebased {}",
            view.rebases
                .iter()
                .map(|(m, why)| format!("{m} ({why})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if view.hidden > 0 {
        let extra = format!("{} months not shown (suppressed)", view.hidden);
        row.note = if row.note.is_empty() {
            extra
        } else {
            format!("{}; {extra}", row.note)
        };
    }
    row.suggestion = view.suggested.unwrap_or_default();
    Ok(row)
}

/// The section's theme rows from the agreement table, as computed or as published (a
/// withheld figure shows `*`, a missing one `–`).
fn reliability_rows<F: crate::measures::Form>(out: &measures::Output<F>) -> Vec<ReliabilityRow> {
    use crate::measures::CountLike;
    let interval = |lo: &F::Figure, hi: &F::Figure| match (lo.value(), hi.value()) {
        (Some(lo), Some(hi)) => format!(" ({:.2} to {:.2})", lo.max(-1.0), hi.min(1.0)),
        _ => String::new(),
    };
    out.rows
        .agreement()
        .iter()
        .filter(|r| r.level == "theme")
        .map(|r| {
            let missing = if r.kappa.is_suppressed() { "*" } else { "–" };
            let number =
                |v: &F::Figure| v.value().map_or(missing.to_string(), |v| format!("{v:.2}"));
            ReliabilityRow {
                theme: crate::report::figures::label(&r.item),
                cases: count_text(r.cases.number()),
                split: count_text(r.cases_split.number()),
                observed: r.observed.value().map_or(missing.to_string(), pct),
                kappa: format!(
                    "{}{}",
                    number(&r.kappa),
                    interval(&r.kappa_low, &r.kappa_high)
                ),
                // The band is the kappa's (Landis and Koch), shown with it.
                band: r.kappa.value().map_or(missing.to_string(), |k| {
                    crate::stats::agreement::landis_koch(k).to_string()
                }),
                alpha: format!(
                    "{}{}",
                    number(&r.alpha),
                    interval(&r.alpha_low, &r.alpha_high)
                ),
                ac1: number(&r.ac1),
                note: r.note.clone().unwrap_or_default(),
            }
        })
        .collect()
}

/// The words and rows of the "Coding reliability" section.
fn reliability_section(
    rel: &crate::oversight::agreement::Reliability,
    publish: bool,
    lists: bool,
    manifest: &crate::warehouse::Manifest,
) -> Reliability {
    // As published, or as computed.
    let rows = if publish {
        reliability_rows(&rel.published)
    } else {
        reliability_rows(&rel.output)
    };
    let n = rel.sample_text(publish);
    let method = if rel.coders > 2 {
        "Fleiss' kappa"
    } else {
        "Cohen's kappa with its 95% interval (the large-sample standard error of Fleiss, Cohen and Everitt, 1969)"
    };
    Reliability {
        summary: format!(
            "{n} cases were coded independently by {} coders. Per theme: the observed agreement; {method}, with Landis and Koch's band; Krippendorff's alpha (nominal) with a bootstrap interval ({} draws, fixed seed); and Gwet's AC1, which stays stable when a theme is rare. A theme whose kappa is below 0.61 (less than substantial) carries a caveat in its headline.",
            rel.coders,
            crate::stats::agreement::BOOTSTRAP_DRAWS
        ) + &models_sentence(&rel.models, manifest),
        rows,
        disagreements: if publish || !lists {
            String::new()
        } else {
            format!(
                "{} case and code pairs on which the coders differ are listed for adjudication in tables/coding_disagreements.csv (not for publication: it names cases).",
                rel.disagreements.rows.len()
            )
        },
    }
}

/// What the reliability section says of coders that are models: that they are, how
/// each was trained and validated (from the manifest's record of the version that
/// added its codes), and that no figure counts their codes.
fn models_sentence(models: &[String], manifest: &crate::warehouse::Manifest) -> String {
    if models.is_empty() {
        return String::new();
    }
    let mut out = format!(
        " {} of the coders {} a model, not a person: {}. A model's codes are suggestions, kept in the codings and compared here as any coder's are; no figure in this report counts them as findings until a person confirms them.",
        models.len(),
        if models.len() == 1 { "is" } else { "are" },
        models.join(", ")
    );
    for m in models {
        let described = manifest
            .ingests
            .iter()
            .rev()
            .find(|i| i.policy == "suggestions" && i.bundle.contains(m.as_str()))
            .map(|i| {
                i.bundle
                    .trim_start_matches("casework suggest: ")
                    .to_string()
            });
        if let Some(d) = described {
            out.push_str(&format!(
                " How it was trained and validated: {d} (docs/suggest.md)."
            ));
        }
    }
    out
}

/// A figure drawn into `dir`, inlined: without an XML prolog, with a viewBox so that it
/// scales to the page width.
fn inline_svg(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(format!("{name}.svg"));
    std::fs::read_to_string(path).ok().map(|s| {
        let s = match s.find("<svg") {
            Some(i) => s[i..].to_string(),
            None => s,
        };
        if s.contains("viewBox") {
            s
        } else {
            let (w, h) = crate::report::chart::SIZE;
            s.replacen("<svg ", &format!("<svg viewBox=\"0 0 {w} {h}\" "), 1)
        }
    })
}

/// A theme's (cases with it, cases) in a period, as shown (`None`: suppressed).
type ThemeCounts = (String, Option<(u64, u64)>);

/// A published view in words: "all cases, 2024" or "organisation RJ1, May 2024".
pub fn view_words(view: &View) -> String {
    let unit = match &view.unit {
        crate::publication::Unit::All => "all cases".to_string(),
        crate::publication::Unit::Is(f, v) => format!("{} {v}", f.name()),
    };
    format!("{unit}, {}", view.period.words())
}

/// A table's title and column headers as the page shows them, in the study's words
/// ("Decisions with the theme", "Landlord code"); the CSV and the workbook keep the
/// data's names.
fn humanise(t: &mut Table, study: &StudyFile) {
    let cases = chart::capitalised(&study.cases());
    let organisations = chart::capitalised(&study.organisations());
    t.title = match t.name.as_str() {
        "scorecard" => "Scorecard".to_string(),
        "theme_prevalence" => format!("{cases} with each theme"),
        "theme_cooccurrence" => "Themes together".to_string(),
        "theme_breakdown" => "Themes by each grouping".to_string(),
        "organisation_profile" => format!("{organisations}: {} with each theme", study.cases()),
        "monthly_series" => format!("{cases} per month"),
        "coding_agreement" => "Agreement between coders".to_string(),
        "agreement" => "Agreement between coders, by theme".to_string(),
        "coding_disagreements" => "Where coders disagree".to_string(),
        "delay_intervals" => "Measured delays".to_string(),
        "delay_coded_vs_measured" => "Delays coded against delays measured".to_string(),
        "financial_remedies" => "Financial remedies".to_string(),
        "recommendations" => "Recommendations".to_string(),
        "learning" => "Learning".to_string(),
        other => chart::capitalised(&other.replace('_', " ")),
    };
    let grouping = study
        .second_grouping
        .clone()
        .unwrap_or_else(|| "region".into());
    for h in &mut t.headers {
        let words: Vec<String> = h
            .split('_')
            .map(|w| match w {
                "cases" => study.cases(),
                "case" => study.case_noun.clone(),
                "organisation" => study.organisation_noun.clone(),
                "region" => grouping.to_lowercase(),
                "ci95" => "95% CI".into(),
                "ci998" => "99.8% CI".into(),
                "gbp" => "(£)".into(),
                w => w.to_string(),
            })
            .collect();
        *h = chart::capitalised(&words.join(" "));
    }
}

/// Whether a measure's rows say anything: some row, and for the single-row summaries
/// (remedies, learning) some count beyond the cases in scope.
fn informative(measure: &str, maps: &[Map<String, Value>]) -> bool {
    let positive = |v: Option<&Value>| v.and_then(Value::as_f64).is_some_and(|x| x > 0.0);
    match measure {
        "financial_remedies" => maps.iter().any(|r| positive(r.get("remedies"))),
        "learning" => maps.iter().any(|r| {
            r.get("measure").and_then(Value::as_str) != Some("cases_in_scope")
                && positive(r.get("value"))
        }),
        "delay_intervals" => maps.iter().any(|r| positive(r.get("episodes"))),
        _ => !maps.is_empty(),
    }
}

/// An SVG chart without its pale grid lines (the house style's light mesh): the
/// lighter form a figure takes in the page once the figure budget is spent.
fn lighter(svg: &str) -> String {
    let grid = format!(
        "stroke=\"#{:02X}{:02X}{:02X}\"",
        chart::NHS_PALE_GREY.0,
        chart::NHS_PALE_GREY.1,
        chart::NHS_PALE_GREY.2
    );
    svg.lines()
        .filter(|l| !(l.starts_with("<line") && l.contains(&grid)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The scope a report covers, in words: "all decisions in the warehouse, dated by date
/// of decision; from 2020-01-01 to 2020-12-31; region North."
fn scope_words(scope: &Scope, study: &StudyFile) -> String {
    let mut parts = vec![format!(
        "all {} in the warehouse, dated by {}",
        study.cases(),
        study.date_label(scope.date_field)
    )];
    match (scope.from, scope.to) {
        (Some(f), Some(t)) => parts.push(format!("from {f} to {t}")),
        (Some(f), None) => parts.push(format!("from {f}")),
        (None, Some(t)) => parts.push(format!("up to {t}")),
        (None, None) => {}
    }
    if let Some(p) = &scope.period {
        parts.push(format!("in {}", p.words()));
    }
    let grouping = study
        .second_grouping
        .clone()
        .unwrap_or_else(|| "region".into());
    for (what, v) in [
        (study.organisation_noun.clone(), &scope.organisation),
        (grouping, &scope.region),
        ("source".to_string(), &scope.source),
        ("decision".to_string(), &scope.decision),
        ("service".to_string(), &scope.service),
    ] {
        if let Some(v) = v {
            parts.push(format!("{what} {v}"));
        }
    }
    if let Some(stage) = &scope.stage {
        parts.push(stage_words(stage, study));
    }
    for c in &scope.choices {
        parts.push(choice_words(c, study));
    }
    let mut text = parts.join("; ");
    text.push('.');
    chart::capitalised(&text)
}

/// A stage filter in words, with the stage as the study names it.
pub fn stage_words(stage: &str, study: &StudyFile) -> String {
    format!("findings at stage {}", study.stage(stage).1)
}

/// A filter of several values, or of values left out, in the study's words: "region
/// London or North", "organisation not RJ1 or RJ2".
pub fn choice_words(c: &crate::engine::Choice, study: &StudyFile) -> String {
    use crate::engine::Grouping;
    let what = match c.grouping {
        Grouping::Organisation => study.organisation_noun.clone(),
        Grouping::Region => study
            .second_grouping
            .clone()
            .unwrap_or_else(|| "region".into())
            .to_lowercase(),
        Grouping::Stage => "findings at stage".to_string(),
        g => g.name().to_string(),
    };
    let shown: Vec<String> = c
        .values
        .iter()
        .map(|v| {
            if c.grouping == Grouping::Stage {
                study.stage(v).1
            } else {
                v.clone()
            }
        })
        .collect();
    let values = match shown.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    };
    if c.grouping == Grouping::Stage && c.exclude {
        return format!("findings not at stage {values} (and those with no stage)");
    }
    format!("{what} {}{values}", if c.exclude { "not " } else { "" })
}

/// The report's methods, in the study's words: what was computed and how, and for a
/// published report the disclosure control.
fn methods(study: &StudyFile, has: Has, options: &Options) -> Vec<String> {
    let mut methods = vec![
        format!(
            "A {case} has a theme when at least one of its findings has a code that the code list maps to the theme; the denominator is every {case} in scope.",
            case = study.case_noun
        ),
        "Confidence intervals are Wilson score intervals without continuity correction (PHEindicatormethods phe_proportion), at 95% (and 99.8% in the tables).".into(),
        "Plain-English phrases name the nearest of a tenth, a fifth, a quarter, a third, half, two-thirds, three-quarters, four-fifths and nine-tenths: within one percentage point its name, below it \"nearly\", above it \"more than\"; only when the share is within 15% of that fraction's own value (between 5% and 95%), else the percentage stands alone.".into(),
        "Changes between periods are differences in percentage points with Newcombe's hybrid score interval (method 10).".into(),
        format!(
            "Funnel plots follow Spiegelhalter (2005) as FunnelPlotR implements it: proportions on the arcsine square-root scale, z-scores winsorised at 10% each end, the dispersion ratio φ and the between-{} variance τ² (DerSimonian and Laird); when φ > 1 the 95% and 99.8% limits include τ² (adjusted for overdispersion), and each theme's section says how many {} lie outside them with and without the adjustment. SPC charts follow NHS England's Making Data Count (XmR, four rules; whether a rise is concern or improvement follows the study's better direction for the theme, lower by default).",
            study.organisation_noun,
            study.organisations()
        ),
        format!("SPC charts: {}", crate::oversight::INCOMPLETE_RULE),
        format!(
            "Funnel plots do not judge {} with fewer than {} {}: they are drawn hollow and never flagged (the study's minimum denominator; its default, 10, follows Public Health England's practice of not calculating an indicator from fewer than 10, as PHEindicatormethods does). They still count in the average, φ and τ².",
            study.organisations(),
            study.min_denominator,
            study.cases()
        ),
    ];
    if has.delays {
        methods.push("Delays are measured per episode from the events, against the thresholds below; a measured delay is strictly longer than its threshold.".to_string());
    }
    if let Some(rule) = &options.publish {
        let p = &rule.publication;
        methods.push(format!(
            "Prepared for publication. {} This report's view: {}. In this version of the data the audited set publishes {} cells and suppresses {}. Every count, table, sentence and chart here is from that set: funnel plots are computed from published numerators and denominators and leave out organisations with a suppressed count; SPC charts from the published monthly counts, a month with a suppressed count not shown and left out of the limits; a change between periods is the sum of the published counts of the periods that make it up, and not stated where one is suppressed. Tables of delays, remedies, recommendations, learning, co-occurrence, breakdowns and coding reliability are published for all organisations only.",
            rule.settings().text(),
            crate::report::view_words(&rule.view),
            crate::report::chart::thousands(p.counts.published as i64),
            crate::report::chart::thousands((p.counts.primary + p.counts.secondary) as i64),
        ));
        methods.extend(p.notes.iter().cloned());
    }
    methods
}

/// The delay thresholds table (none when the data has no measured delays).
fn thresholds_rows(thresholds: &crate::spec::Thresholds, delays: bool) -> Vec<JinjaValue> {
    thresholds
        .intervals
        .iter()
        .filter(|_| delays)
        .map(|t| {
            context! {
                from => t.from.replace('_', " "), to => t.to.replace('_', " "),
                urgency => t.urgency.join(", "),
                threshold => match (t.days, t.hours) {
                    (Some(d), Some(h)) => format!("{d} days {h} hours"),
                    (Some(d), None) => format!("{d} days"),
                    (None, Some(h)) => format!("{h} hours"),
                    (None, None) => String::new(),
                },
                basis => t.basis.clone().unwrap_or_default(),
            }
        })
        .collect()
}

/// Each ingest of the warehouse: when, from which files (with their SHA-256), by which
/// casework, and (not when published) how many rows it stored.
fn provenance(manifest: &crate::warehouse::Manifest, published: bool) -> Vec<JinjaValue> {
    manifest
        .ingests
        .iter()
        .map(|i| {
            let counts: Vec<String> = i
                .counts
                .iter()
                .filter(|_| !published)
                .map(|(t, c)| format!("{t} {} stored", count_text(Some(c.stored))))
                .collect();
            let inputs: Vec<String> = i.inputs.iter().map(|f| format!("{} (SHA-256 {})", f.file, f.sha256)).collect();
            context! { number => i.number, time => i.time.get(0..10).unwrap_or("").to_string(), counts => counts.join(", "), inputs => inputs, version => i.casework_version.clone() }
        })
        .collect()
}

/// Why a chart was not drawn, in a reader's words rather than the command line's: the
/// chart and theme named by their labels ("Delay, SPC chart: …", not "spc for delay:
/// …"; the theme left out where the reader already sees it, `name_theme` false), and
/// only the reader's advice, not the command line's options ("or use --per month").
pub fn readers_words(why: &NotDrawn, study: &StudyFile, name_theme: bool) -> String {
    let words = match why.chart.as_str() {
        "spc" => "SPC chart",
        "funnel" => "funnel plot",
        "prevalence" => "prevalence chart",
        "cooccurrence" => "chart of themes together",
        "delays" => "delays chart",
        "compliance" => "recommendations chart",
        "agreement" => "agreement chart",
        "service" => "chart by service",
        "stage" => "chart by stage",
        other => other,
    };
    let text = match &why.theme {
        Some(t) if name_theme => format!("{}, {words}: {}", study.label(t), why.reason),
        _ => format!("{}: {}", chart::capitalised(words), why.reason),
    };
    match why.advice {
        Some(a) => format!("{text} ({a})"),
        None => text,
    }
}

/// The values the templates are rendered with.
#[allow(clippy::too_many_arguments)]
fn compose(
    collected: &Collected,
    figures_dir: &Path,
    inputs: &Inputs<'_>,
    options: &Options,
    manifest: &crate::warehouse::Manifest,
    source: &str,
    tracker: Vec<Map<String, Value>>,
    skipped: Vec<String>,
) -> JinjaValue {
    // Figures are inlined as SVG (text that scales and can be searched). Once the page's
    // budget is spent, a figure is inlined in a lighter form: without its pale grid lines
    // (a third of a small chart's bytes), every point, limit and label kept. Never a
    // link: the page is one self-contained file at any size.
    let inlined = std::cell::Cell::new(0usize);
    let svg = |name: &str| {
        let text = inline_svg(figures_dir, name)?;
        let text = if inlined.get() + text.len() <= PAGE_FIGURE_BYTES {
            text
        } else {
            lighter(&text)
        };
        inlined.set(inlined.get() + text.len());
        Some(text)
    };
    let reliability = collected.reliability.as_ref().map(|r| {
        context! {
            summary => r.summary.clone(),
            rows => r.rows.clone(),
            disagreements => r.disagreements.clone(),
            svg => svg("agreement").map(JinjaValue::from_safe_string),
        }
    });
    let (tables, headlines, comparisons) = (
        &collected.tables,
        &collected.headlines,
        &collected.comparisons,
    );
    let theme_sections: Vec<JinjaValue> = headlines
        .iter()
        .map(|h| {
            context! {
                h => h,
                spc => svg(&format!("spc-{}", h.theme)).map(JinjaValue::from_safe_string),
                funnel => svg(&format!("funnel-{}", h.theme)).map(JinjaValue::from_safe_string),
                flagged => collected.flagged.get(&h.theme).cloned().unwrap_or_default(),
                judged => collected.judged.get(&h.theme).cloned(),
                per => collected.per.get(&h.theme).cloned(),
            }
        })
        .collect();
    let study = inputs.study;
    let has = collected.has;
    let cases_title = chart::capitalised(&study.cases());
    let general: Vec<JinjaValue> = [
        ("prevalence", format!("{cases_title} with each theme"), true),
        ("cooccurrence", "Themes together".to_string(), true),
        ("delays", "Measured delays".to_string(), has.delays),
        (
            "stage",
            format!("Themes by stage of the {}", study.case_noun),
            has.stages,
        ),
        ("service", "Themes by service".to_string(), has.services),
        (
            "compliance",
            "Recommendations".to_string(),
            has.recommendations,
        ),
    ]
    .into_iter()
    .filter(|(_, _, shown)| *shown)
    .filter_map(|(name, title, _)| {
        svg(name).map(
            |s| context! { name => name, title => title, svg => JinjaValue::from_safe_string(s) },
        )
    })
    .collect();
    let methods = methods(study, has, options);
    let thresholds = thresholds_rows(inputs.thresholds, has.delays);
    let provenance = provenance(manifest, options.publish.is_some());
    context! {
        title => options.title.clone(),
        source => source,
        generated => inputs.as_of.to_string(),
        disclosure => options.publish.as_ref().map(|p| p.settings().text()),
        themes => theme_sections,
        scorecard => collected.scorecard.iter().map(|r| context! {
            theme => r.theme.clone(), label => r.label.clone(), latest => r.latest.clone(),
            mean => r.mean.clone(), limits => r.limits.clone(),
            variation => JinjaValue::from_safe_string(r.variation.clone()),
            variation_words => r.variation_words.clone(),
            assurance => JinjaValue::from_safe_string(r.assurance.clone()),
            assurance_words => r.assurance_words.clone(),
            target => r.target.clone(), note => r.note.clone(), suggestion => r.suggestion.clone(),
        }).collect::<Vec<_>>(),
        figures => general,
        comparisons => comparisons.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
        tables => tables.clone(),
        methods => methods,
        thresholds => thresholds,
        codes => inputs.codes.codes.clone(),
        code_list => inputs.codes.source.name.clone(),
        provenance => provenance,
        tracker => tracker,
        reliability => reliability,
        skipped => skipped,
        scope => scope_words(inputs.scope, study),
        spc_captions => collected.spc_captions.clone(),
        words => context! {
            case => study.case_noun.clone(),
            cases => cases_title.clone(),
            organisation => chart::capitalised(&study.organisation_noun),
            organisations => study.organisations(),
        },
        has => has,
    }
}

/// The HTML page and the Markdown report.
fn render(page: &JinjaValue) -> Result<(String, String)> {
    let mut env = Environment::new();
    env.add_template("report.html", HTML_TEMPLATE)
        .map_err(|source| Error::Template {
            name: "report.html".into(),
            source,
        })?;
    env.add_template("report.md", MD_TEMPLATE)
        .map_err(|source| Error::Template {
            name: "report.md".into(),
            source,
        })?;
    let render = |name: &str| {
        env.get_template(name)
            .and_then(|t| t.render(page))
            .map_err(|source| Error::Template {
                name: name.to_string(),
                source,
            })
    };
    Ok((render("report.html")?, render("report.md")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by hand from the messages oversight and figures give.
    #[test]
    fn a_chart_not_drawn_is_said_in_a_readers_words() {
        let study = StudyFile::for_code_list(&crate::spec::CodeList::spec_default());
        let spc = NotDrawn::new(
            "spc",
            "an SPC chart needs at least 12 points; this series has 1 among its complete periods",
        )
        .of("delay")
        .advice("widen the scope", "or use --per month");
        assert_eq!(
            spc.to_string(),
            "spc for delay: an SPC chart needs at least 12 points; this series has 1 among its complete periods (widen the scope, or use --per month)"
        );
        assert_eq!(
            readers_words(&spc, &study, true),
            "Delay, SPC chart: an SPC chart needs at least 12 points; this series has 1 among its complete periods (widen the scope)"
        );
        assert_eq!(
            readers_words(
                &NotDrawn::new("prevalence", "no case in scope"),
                &study,
                true
            ),
            "Prevalence chart: no case in scope"
        );
        assert_eq!(
            readers_words(
                &NotDrawn::new("service", "no finding in scope has a service"),
                &study,
                true
            ),
            "Chart by service: no finding in scope has a service"
        );
    }
}
