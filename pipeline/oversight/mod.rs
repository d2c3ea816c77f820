//! Oversight measures built on the SQL measures and `stats`: funnel plots across
//! organisations or regions (from `organisation_profile`), SPC charts of a theme over
//! time (from `monthly_series`), and disclosure control of published outputs.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::measures::{self, Context, Output};
use crate::stats::{self, SpcOptions};

/// What a funnel compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Organisation,
    Region,
}

/// The period of an SPC chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month,
    Quarter,
}

/// What an SPC chart plots per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plotted {
    /// Cases with the theme.
    Count,
    /// Cases with the theme / cases.
    Proportion,
}

fn check_theme(c: &Context<'_>, theme: &str) -> Result<()> {
    let themes = c.codes.themes();
    if themes.iter().any(|t| t == theme) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "unknown theme {theme:?}; the code list's themes are: {}",
            themes.join(", ")
        )))
    }
}

fn get_u64(row: &Map<String, Value>, key: &str) -> u64 {
    row.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn get_str<'a>(row: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    row.get(key).and_then(Value::as_str)
}

fn to_map(value: impl serde::Serialize) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The funnel plot of one theme's proportion across organisations or regions. Rows are
/// the units (label, numerator, denominator, proportion, limits at their denominator,
/// significance); `average` and `curve` (the limit curves on a grid of denominators
/// spanning the data) come beside them.
pub async fn funnel(ctx: &SessionContext, c: &Context<'_>, theme: &str, by: By) -> Result<Output> {
    check_theme(c, theme)?;
    let profile = measures::run(ctx, measures::find("organisation_profile")?, c).await?;
    funnel_from(&profile, c, theme, by)
}

/// `funnel` from an `organisation_profile` output already run.
pub fn funnel_from(profile: &Output, c: &Context<'_>, theme: &str, by: By) -> Result<Output> {
    check_theme(c, theme)?;
    let mut units: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for row in profile
        .rows
        .iter()
        .filter(|r| get_str(r, "theme") == Some(theme))
    {
        let label = match by {
            By::Organisation => get_str(row, "organisation_code").unwrap_or("(missing)"),
            By::Region => get_str(row, "region").unwrap_or("(missing)"),
        };
        let unit = units.entry(label.to_string()).or_default();
        unit.0 += get_u64(row, "cases_with_theme");
        unit.1 += get_u64(row, "cases");
    }
    let units: Vec<(String, u64, u64)> = units.into_iter().map(|(k, (x, n))| (k, x, n)).collect();
    let mut out = Output::new("funnel", c);
    out.extra.insert("theme".into(), Value::from(theme));
    out.extra.insert(
        "by".into(),
        Value::from(match by {
            By::Organisation => "organisation",
            By::Region => "region",
        }),
    );
    out.extra.insert(
        "method".into(),
        Value::from("PHEindicatormethods funnel limits for proportions: av ± z·√(av(1−av)/n), z the normal quantiles of 0.975 and 0.999; limits capped to [0, 1]; significance against the uncapped limits"),
    );
    if let Some(f) = stats::funnel(&units) {
        out.extra.insert("average".into(), Value::from(f.average));
        out.extra.insert(
            "curve".into(),
            serde_json::to_value(&f.curve).unwrap_or_default(),
        );
        out.rows = f.points.iter().map(to_map).collect();
    }
    Ok(out)
}

/// The first day of the period holding `d`.
fn period_start(d: NaiveDate, period: Period) -> NaiveDate {
    let month = match period {
        Period::Month => d.month(),
        Period::Quarter => (d.month() - 1) / 3 * 3 + 1,
    };
    NaiveDate::from_ymd_opt(d.year(), month, 1).unwrap_or(d)
}

/// The SPC chart of one theme over months or quarters of the date field. Rows are the
/// periods with their value and the chart's mean, limits, rule flags and variation.
pub async fn spc(
    ctx: &SessionContext,
    c: &Context<'_>,
    theme: &str,
    period: Period,
    plotted: Plotted,
    options: &SpcOptions,
    rebase: Option<NaiveDate>,
) -> Result<Output> {
    check_theme(c, theme)?;
    let series = measures::run(ctx, measures::find("monthly_series")?, c).await?;
    spc_from(&series, c, theme, period, plotted, options, rebase)
}

/// `spc` from a `monthly_series` output already run.
pub fn spc_from(
    series: &Output,
    c: &Context<'_>,
    theme: &str,
    period: Period,
    plotted: Plotted,
    options: &SpcOptions,
    rebase: Option<NaiveDate>,
) -> Result<Output> {
    check_theme(c, theme)?;
    let mut periods: BTreeMap<NaiveDate, (u64, u64)> = BTreeMap::new();
    for row in series
        .rows
        .iter()
        .filter(|r| get_str(r, "theme") == Some(theme))
    {
        let Some(month) =
            get_str(row, "month").and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        else {
            continue;
        };
        let p = periods.entry(period_start(month, period)).or_default();
        p.0 += get_u64(row, "cases_with_theme");
        p.1 += get_u64(row, "cases");
    }
    // Proportions need cases: periods without any are left out of a proportion chart.
    let kept: Vec<(NaiveDate, u64, u64)> = periods
        .into_iter()
        .filter(|(_, (_, n))| plotted == Plotted::Count || *n > 0)
        .map(|(d, (x, n))| (d, x, n))
        .collect();
    let values: Vec<f64> = kept
        .iter()
        .map(|(_, x, n)| match plotted {
            Plotted::Count => *x as f64,
            Plotted::Proportion => *x as f64 / *n as f64,
        })
        .collect();
    let mut options = options.clone();
    if let Some(date) = rebase {
        let start = period_start(date, period);
        if let Some(i) = kept.iter().position(|(d, _, _)| *d >= start) {
            options.rebase.push(i);
        }
    }
    let chart = stats::spc(&values, &options).map_err(|e| {
        Error::NotDrawn(format!(
            "spc for {theme}: {e} (widen the scope, or use --period month)"
        ))
    })?;
    let mut out = Output::new("spc", c);
    out.extra.insert("theme".into(), Value::from(theme));
    out.extra.insert(
        "period".into(),
        Value::from(match period {
            Period::Month => "month",
            Period::Quarter => "quarter",
        }),
    );
    out.extra.insert(
        "value".into(),
        Value::from(match plotted {
            Plotted::Count => "count",
            Plotted::Proportion => "proportion",
        }),
    );
    out.extra.insert(
        "improvement".into(),
        serde_json::to_value(chart.improvement).unwrap_or_default(),
    );
    out.extra
        .insert("screened".into(), Value::from(chart.screened));
    out.rows = kept
        .iter()
        .zip(&chart.points)
        .map(|((d, x, n), p)| {
            let mut row = Map::new();
            row.insert("period".into(), Value::from(d.to_string()));
            row.insert("cases".into(), Value::from(*n));
            row.insert("cases_with_theme".into(), Value::from(*x));
            row.extend(to_map(p));
            row
        })
        .collect();
    Ok(out)
}

/// Keys of measure rows that hold counts of cases, episodes or recommendations.
const COUNT_KEYS: &[&str] = &[
    "cases",
    "cases_with_theme",
    "episodes",
    "over_threshold",
    "out_of_order",
    "recommendations",
    "complied",
    "not_complied",
    "pending",
    "overdue",
    "remedies",
    "numerator",
    "denominator",
];

/// Applies disclosure control to an output for publication: every count published by
/// the rule; proportions, shares, rates and intervals recomputed from the published
/// counts, or suppressed with them; other figures of a row with a suppressed count
/// (medians, maxima, SPC values) suppressed. The rule is stated in the output.
pub fn publish(out: &mut Output) {
    for row in &mut out.rows {
        let mut suppressed = false;
        for key in COUNT_KEYS {
            if let Some(n) = row.get(*key).and_then(Value::as_u64) {
                let p = stats::publish_count(n);
                suppressed |= p.value().is_none();
                row.insert(key.to_string(), serde_json::to_value(p).unwrap_or_default());
            }
        }
        // learning's count rows (its `value` column also holds days).
        let counted = get_str(row, "measure")
            .is_some_and(|m| m.starts_with("cases") || m == "repeat_failures");
        if counted && let Some(v) = row.get("value").and_then(Value::as_f64) {
            let p = stats::publish_count(v as u64);
            row.insert("value".into(), serde_json::to_value(p).unwrap_or_default());
        }
        let num = |row: &Map<String, Value>, k: &str| row.get(k).and_then(Value::as_u64);
        let ratio = |x: Option<u64>, n: Option<u64>| match (x, n) {
            (Some(x), Some(n)) if n > 0 => Some(x as f64 / n as f64),
            _ => None,
        };
        let pairs = [
            ("proportion", "cases_with_theme", "cases"),
            ("share_over", "over_threshold", "episodes"),
            ("compliance_rate", "complied", "recommendations"),
            ("proportion", "numerator", "denominator"),
        ];
        for (key, x, n) in pairs {
            if row.contains_key(key) && row.contains_key(x) {
                let r = ratio(num(row, x), num(row, n));
                row.insert(key.into(), r.map_or(Value::from("*"), Value::from));
                if key == "proportion" && row.contains_key("ci95_low") {
                    let (x, n) = (num(row, x), num(row, n));
                    for (level, low, high) in [
                        (0.95, "ci95_low", "ci95_high"),
                        (0.998, "ci998_low", "ci998_high"),
                    ] {
                        let ci = match (x, n) {
                            (Some(x), Some(n)) => stats::wilson(x, n, level),
                            _ => None,
                        };
                        row.insert(
                            low.into(),
                            ci.map_or(Value::from("*"), |c| Value::from(c.low)),
                        );
                        row.insert(
                            high.into(),
                            ci.map_or(Value::from("*"), |c| Value::from(c.high)),
                        );
                    }
                    row.insert(
                        "phrase".into(),
                        r.map_or(Value::from("*"), |p| Value::from(stats::phrase(p))),
                    );
                }
            }
        }
        if suppressed {
            for key in [
                "median_days",
                "p90_days",
                "max_days",
                "total_gbp",
                "median_gbp",
                "value",
            ] {
                if row.contains_key(key) && !row.get(key).is_some_and(Value::is_string) {
                    row.insert(key.into(), Value::from("*"));
                }
            }
        }
    }
    if out.measure == "spc" && out.extra.get("value").and_then(Value::as_str) == Some("count") {
        for row in &mut out.rows {
            let published = row.get("cases_with_theme").cloned().unwrap_or(Value::Null);
            row.insert("value".into(), published);
        }
    }
    out.disclosure = Some(stats::DISCLOSURE_RULE.to_string());
}
