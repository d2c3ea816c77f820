//! The report's figures: runs the measures a chart needs and hands their rows to
//! `chart`. With `publish`, counts pass disclosure control before they reach a chart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use crate::report::chart::{self, Bar, Combination, DelaySeries, Frame, FunnelUnit, Groups, SpcPoint};
use crate::error::{Error, Result};
use crate::measures::{self, Context, Output};
use crate::oversight::{self, By, Period, Plotted};
use crate::spec::{CodeList, STAGES};
use crate::stats::SpcOptions;
use crate::warehouse::Manifest;

/// The charts `casework chart` draws; `spc` and `funnel` take a theme.
pub const CHARTS: &[&str] = &[
    "prevalence",
    "cooccurrence",
    "delays",
    "spc",
    "funnel",
    "stage",
    "service",
    "compliance",
];

/// What a figure run needs.
pub struct Figures<'a> {
    pub ctx: &'a SessionContext,
    pub context: &'a Context<'a>,
    /// The source line under every chart.
    pub source: String,
    pub publish: bool,
    /// Measures already run, unpublished, by name.
    runs: Mutex<HashMap<String, Output>>,
}

fn f64_of(row: &Map<String, Value>, key: &str) -> Option<f64> {
    row.get(key).and_then(Value::as_f64)
}

fn str_of<'a>(row: &'a Map<String, Value>, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The source line under every chart and at the head of the report: the committed
/// warehouse version, the date of its last ingest, and the code list.
pub fn source_line(manifest: &Manifest, codes: &CodeList) -> String {
    let date = manifest
        .ingests
        .last()
        .and_then(|i| i.time.get(0..10))
        .unwrap_or("");
    format!(
        "Source: casework warehouse {}, data of {date}; code list {}",
        manifest.version,
        codes.source.name.trim_start_matches("embedded:")
    )
}

/// Turns `theme_name` into "Theme name" for labels.
pub fn label(theme: &str) -> String {
    let mut s = theme.replace('_', " ");
    if let Some(first) = s.get(0..1) {
        s.replace_range(0..1, &first.to_uppercase());
    }
    s
}

impl<'a> Figures<'a> {
    pub fn new(
        ctx: &'a SessionContext,
        context: &'a Context<'a>,
        source: String,
        publish: bool,
    ) -> Figures<'a> {
        Figures {
            ctx,
            context,
            source,
            publish,
            runs: Mutex::new(HashMap::new()),
        }
    }

    /// A measure's output, unpublished, run once however many charts (or report
    /// tables) use it.
    pub async fn raw(&self, name: &str) -> Result<Output> {
        if let Some(out) = self.runs.lock().ok().and_then(|r| r.get(name).cloned()) {
            return Ok(out);
        }
        let out = measures::run(self.ctx, measures::find(name)?, self.context).await?;
        if let Ok(mut runs) = self.runs.lock() {
            runs.insert(name.to_string(), out.clone());
        }
        Ok(out)
    }

    /// A measure's output as the charts show it: published if asked.
    async fn measure(&self, name: &str) -> Result<Output> {
        let mut out = self.raw(name).await?;
        if self.publish {
            oversight::publish(&mut out);
        }
        Ok(out)
    }

    /// The number of cases in scope, as a chart states it (published if asked).
    async fn cases_in_scope(&self) -> Result<String> {
        let prevalence = self.raw("theme_prevalence").await?;
        let n = prevalence
            .rows
            .first()
            .and_then(|r| r.get("cases").and_then(Value::as_u64))
            .unwrap_or(0);
        Ok(if self.publish {
            show_count(n)
        } else {
            n.to_string()
        })
    }

    fn frame(&self, title: String, subtitle: String) -> Frame {
        Frame {
            title,
            subtitle,
            source: self.source.clone(),
        }
    }

    /// Draws one chart to `stem.svg` and `stem.png`.
    pub async fn draw(&self, name: &str, theme: Option<&str>, stem: &Path) -> Result<()> {
        match name {
            "prevalence" => self.prevalence(stem).await,
            "cooccurrence" => self.cooccurrence(stem).await,
            "delays" => self.delays(stem).await,
            "spc" => self.spc(need_theme(theme)?, stem).await,
            "funnel" => self.funnel(need_theme(theme)?, stem).await,
            "stage" | "service" => self.breakdown(name, stem).await,
            "compliance" => self.compliance(stem).await,
            other => Err(Error::Usage(format!(
                "unknown chart {other:?}; the charts are: {}",
                CHARTS.join(", ")
            ))),
        }
    }

    /// Draws every chart into `dir` (spc and funnel once per theme); returns the stems
    /// drawn and, for charts that could not be drawn (an SPC chart with too few points),
    /// why not.
    pub async fn draw_all(&self, dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut drawn = Vec::new();
        let mut skipped = Vec::new();
        for name in CHARTS {
            let themes: Vec<Option<String>> = if matches!(*name, "spc" | "funnel") {
                self.context.codes.themes().into_iter().map(Some).collect()
            } else {
                vec![None]
            };
            for theme in themes {
                let stem = match &theme {
                    Some(t) => dir.join(format!("{name}-{t}")),
                    None => dir.join(name),
                };
                match self.draw(name, theme.as_deref(), &stem).await {
                    Ok(()) => drawn.push(stem),
                    Err(Error::NotDrawn(why)) => skipped.push(why),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((drawn, skipped))
    }

    async fn prevalence(&self, stem: &Path) -> Result<()> {
        let out = self.measure("theme_prevalence").await?;
        let n = out
            .rows
            .first()
            .map(|r| r.get("cases").cloned().unwrap_or_default());
        // Drawn bottom to top: reversed, so the first theme is at the top.
        let bars: Vec<Bar> = out
            .rows
            .iter()
            .rev()
            .map(|r| Bar {
                label: label(str_of(r, "theme")),
                value: f64_of(r, "proportion"),
                low: f64_of(r, "ci95_low"),
                high: f64_of(r, "ci95_high"),
            })
            .collect();
        let f = self.frame(
            "Cases with each failure theme".into(),
            format!(
                "Share of cases in scope (n = {}), with 95% Wilson intervals",
                show(n)
            ),
        );
        chart::prevalence(stem, &bars, &f)
    }

    async fn cooccurrence(&self, stem: &Path) -> Result<()> {
        let out = self.measure("theme_cooccurrence").await?;
        let themes = self.context.codes.themes();
        let combos: Vec<Combination> = out
            .rows
            .iter()
            .filter(|r| str_of(r, "combination") != "none")
            .map(|r| {
                let parts: Vec<&str> = str_of(r, "combination").split(" + ").collect();
                let cases = r.get("cases").and_then(Value::as_u64);
                Combination {
                    members: themes.iter().map(|t| parts.contains(&t.as_str())).collect(),
                    cases: cases.unwrap_or(0),
                    label: cases.map_or("*".to_string(), |c| c.to_string()),
                }
            })
            .collect();
        let labels: Vec<String> = themes.iter().map(|t| label(t)).collect();
        let f = self.frame(
            "Which failure themes occur together".into(),
            format!(
                "Cases per combination of themes, each case counted once (n = {})",
                self.cases_in_scope().await?
            ),
        );
        chart::upset(stem, &labels, &combos, &f)
    }

    async fn delays(&self, stem: &Path) -> Result<()> {
        // One point per interval is one point per episode: millions at national scale.
        // The strip is drawn from log-spaced buckets instead (50 a decade, finer than a
        // pixel): each bucket gives its shortest and longest interval, so the spread,
        // the extremes and which side of the threshold each part lies on are as drawn
        // point by point, and the data behind the chart stays a few thousand rows.
        let sql = "SELECT interval_no, from_event, to_event, urgency, threshold_days, \
                          MIN(days) AS lo, MAX(days) AS hi, COUNT(*) AS n \
                   FROM episode_intervals WHERE days >= 0 \
                   GROUP BY interval_no, from_event, to_event, urgency, threshold_days, \
                            CAST(round(log10(days + 0.01) * 50) AS BIGINT) \
                   ORDER BY interval_no, urgency, lo";
        let batches =
            measures::sql_batches(self.ctx, sql, Path::new("delays chart"), Vec::new()).await?;
        let rows = measures::to_rows(&batches)?;
        let mut series: Vec<DelaySeries> = Vec::new();
        let mut episodes = 0u64;
        for r in &rows {
            let name = format!(
                "{} → {} ({})",
                str_of(r, "from_event").replace('_', " "),
                str_of(r, "to_event").replace('_', " "),
                str_of(r, "urgency")
            );
            episodes += r.get("n").and_then(|v| v.as_u64()).unwrap_or(0);
            let (lo, hi) = (
                f64_of(r, "lo").unwrap_or(0.0),
                f64_of(r, "hi").unwrap_or(0.0),
            );
            let points: &[f64] = if lo == hi { &[lo] } else { &[lo, hi] };
            match series.iter_mut().find(|s| s.label == name) {
                Some(s) => s.days.extend_from_slice(points),
                None => series.push(DelaySeries {
                    label: name,
                    days: points.to_vec(),
                    threshold_days: f64_of(r, "threshold_days").unwrap_or(0.0),
                }),
            }
        }
        let f = self.frame(
            "Measured delays in the imaging journey".into(),
            format!(
                "Days between steps per episode ({} intervals measured); orange: over the threshold",
                if self.publish { show_count(episodes) } else { episodes.to_string() }
            ),
        );
        chart::delays(stem, &series, &f)
    }

    async fn spc(&self, theme: &str, stem: &Path) -> Result<()> {
        let series = self.raw("monthly_series").await?;
        let out = oversight::spc_from(
            &series,
            self.context,
            theme,
            Period::Month,
            Plotted::Count,
            &SpcOptions::default(),
            None,
        )?;
        let points: Vec<SpcPoint> = out
            .rows
            .iter()
            .map(|r| SpcPoint {
                label: str_of(r, "period").get(0..7).unwrap_or("").to_string(),
                value: f64_of(r, "value").unwrap_or(0.0),
                mean: f64_of(r, "mean").unwrap_or(0.0),
                lower: f64_of(r, "lower_limit").unwrap_or(0.0),
                upper: f64_of(r, "upper_limit").unwrap_or(0.0),
                variation: str_of(r, "variation").to_string(),
            })
            .collect();
        let f = self.frame(
            format!("{}: cases per month", label(theme)),
            "XmR chart (Making Data Count); orange: special cause concern, blue: improvement"
                .into(),
        );
        chart::spc(stem, &points, "Cases with the theme", &f)
    }

    async fn funnel(&self, theme: &str, stem: &Path) -> Result<()> {
        let profile = self.raw("organisation_profile").await?;
        let out = oversight::funnel_from(&profile, self.context, theme, By::Organisation)?;
        let units: Vec<FunnelUnit> = out
            .rows
            .iter()
            .map(|r| {
                let s = str_of(r, "significance");
                FunnelUnit {
                    label: str_of(r, "label").to_string(),
                    denominator: f64_of(r, "denominator").unwrap_or(0.0),
                    proportion: f64_of(r, "proportion").unwrap_or(0.0),
                    outside998: s.ends_with("(0.001)"),
                    outside95: s.ends_with("(0.025)"),
                }
            })
            .collect();
        let curve: chart::Curve = out
            .extra
            .get("curve")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|c| {
                        Some((
                            c.get("denominator")?.as_f64()?,
                            c.get("lower95")?.as_f64()?,
                            c.get("upper95")?.as_f64()?,
                            c.get("lower998")?.as_f64()?,
                            c.get("upper998")?.as_f64()?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let average = out
            .extra
            .get("average")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let f = self.frame(
            format!("{}: organisations compared", label(theme)),
            format!(
                "Funnel plot, {} organisations; labelled: outside the 99.8% limits",
                units.len()
            ),
        );
        chart::funnel(stem, &units, &curve, average, &f)
    }

    async fn breakdown(&self, dimension: &str, stem: &Path) -> Result<()> {
        let out = self.measure("theme_breakdown").await?;
        let themes = self.context.codes.themes();
        let rows: Vec<&Map<String, Value>> = out
            .rows
            .iter()
            .filter(|r| str_of(r, "dimension") == dimension)
            .collect();
        let mut categories: Vec<String> = Vec::new();
        for r in &rows {
            let v = str_of(r, "value").to_string();
            if !categories.contains(&v) {
                categories.push(v);
            }
        }
        if dimension == "stage" {
            categories.sort_by_key(|c| STAGES.iter().position(|s| s == c).unwrap_or(STAGES.len()));
        }
        let values = themes
            .iter()
            .map(|t| {
                categories
                    .iter()
                    .map(|c| {
                        rows.iter()
                            .find(|r| str_of(r, "theme") == t && str_of(r, "value") == c)
                            .and_then(|r| f64_of(r, "cases_with_theme"))
                            .unwrap_or(0.0)
                    })
                    .collect()
            })
            .collect();
        let g = Groups {
            categories: categories.iter().map(|c| c.replace('_', " ")).collect(),
            series: themes.iter().map(|t| label(t)).collect(),
            values,
            y_desc: "Cases with a failing of the theme".into(),
        };
        let (title, what) = match dimension {
            "stage" => (
                "Failings by stage of the imaging journey",
                "stage of the finding",
            ),
            _ => (
                "Failings by responsible service",
                "service of the finding (else of the case)",
            ),
        };
        let f = self.frame(
            title.into(),
            format!(
                "Cases with each theme, by {what} (n = {} cases)",
                self.cases_in_scope().await?
            ),
        );
        chart::grouped(stem, &g, &f)
    }

    async fn compliance(&self, stem: &Path) -> Result<()> {
        let out = self.measure("recommendations").await?;
        let rows: Vec<&Map<String, Value>> = out
            .rows
            .iter()
            .filter(|r| str_of(r, "kind") != "all")
            .collect();
        let series = ["complied", "not_complied", "pending"];
        let g = Groups {
            categories: rows
                .iter()
                .map(|r| str_of(r, "kind").replace('_', " "))
                .collect(),
            series: series.iter().map(|s| label(s)).collect(),
            values: series
                .iter()
                .map(|s| rows.iter().map(|r| f64_of(r, s).unwrap_or(0.0)).collect())
                .collect(),
            y_desc: "Recommendations".into(),
        };
        let f = self.frame(
            "Recommendations and compliance".into(),
            format!(
                "Recommendations by kind and status, as of {} (n = {})",
                self.context.as_of,
                out.rows
                    .iter()
                    .find(|r| str_of(r, "kind") == "all")
                    .and_then(|r| r.get("recommendations"))
                    .map_or("0".to_string(), cell_text)
            ),
        );
        chart::grouped(stem, &g, &f)
    }
}

fn need_theme(theme: Option<&str>) -> Result<&str> {
    theme.ok_or_else(|| Error::Usage("spc and funnel charts need --theme THEME".into()))
}

fn show(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => "0".into(),
    }
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn show_count(n: u64) -> String {
    crate::stats::publish_count(n).to_string()
}
