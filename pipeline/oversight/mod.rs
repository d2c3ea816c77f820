//! Oversight measures built on the SQL measures and `stats`: funnel plots across
//! organisations or regions (from `organisation_profile`), SPC charts of a theme over
//! time (from `monthly_series`). Disclosure control is the rows' own
//! (`measures::rows`, `Output::publish`).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::measures::rows::{FunnelRow, SpcRow};
use crate::measures::{self, Context, Count, Output, Table};
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

/// The funnel plot of one theme's proportion across organisations or regions. Rows are
/// the units (label, numerator, denominator, proportion, limits at their denominator,
/// significance); `average` and `curve` (the limit curves on a grid of denominators
/// spanning the data) come beside them.
///
/// For publication (`publish`), every unit's counts are published first (NHS rule) and
/// the funnel is computed from those: the average from the published totals, each limit
/// at the unit's published denominator. Units with a suppressed count (1 to 7) cannot be
/// placed and are left out; `not_shown` says how many.
pub async fn funnel(
    ctx: &SessionContext,
    c: &Context<'_>,
    theme: &str,
    by: By,
    publish: bool,
) -> Result<Funnel> {
    check_theme(c, theme)?;
    let profile = measures::run(ctx, measures::find("organisation_profile")?, c).await?;
    funnel_from(&profile, c, theme, by, publish)
}

/// A funnel plot: the output (rows are the units; `average` and `curve` are also in its
/// JSON) and, typed, the average and the limit curves.
#[derive(Debug, Clone)]
pub struct Funnel {
    pub output: Output,
    pub average: Option<f64>,
    pub curve: Vec<stats::CurvePoint>,
    /// Units left out because a count of theirs is suppressed (publication only).
    pub not_shown: usize,
}

/// `funnel` from an `organisation_profile` output already run.
pub fn funnel_from(
    profile: &Output,
    c: &Context<'_>,
    theme: &str,
    by: By,
    publish: bool,
) -> Result<Funnel> {
    check_theme(c, theme)?;
    let mut units: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for row in profile
        .rows
        .organisation_profile()
        .iter()
        .filter(|r| r.theme == theme)
    {
        let label = match by {
            By::Organisation => row.organisation_code.as_deref(),
            By::Region => row.region.as_deref(),
        };
        let unit = units
            .entry(label.unwrap_or("(missing)").to_string())
            .or_default();
        unit.0 += row.cases_with_theme.0;
        unit.1 += row.cases.0;
    }
    let mut not_shown = 0;
    let units: Vec<(String, u64, u64)> = units
        .into_iter()
        .filter_map(|(k, (x, n))| {
            if !publish {
                return Some((k, x, n));
            }
            match (Count(x).published().value(), Count(n).published().value()) {
                (Some(x), Some(n)) => Some((k, x, n)),
                _ => {
                    not_shown += 1;
                    None
                }
            }
        })
        .collect();
    let mut out = Output::new("funnel", c, Table::Funnel(Vec::new()));
    if publish {
        out.extra.insert("not_shown".into(), Value::from(not_shown));
    }
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
    let mut average = None;
    let mut curve = Vec::new();
    if let Some(f) = stats::funnel(&units) {
        average = Some(f.average);
        curve = f.curve.clone();
        out.extra.insert("average".into(), Value::from(f.average));
        out.extra.insert(
            "curve".into(),
            serde_json::to_value(&f.curve).unwrap_or_default(),
        );
        out.rows = Table::Funnel(
            f.points
                .into_iter()
                .map(|p| FunnelRow {
                    label: p.label,
                    numerator: Count(p.numerator),
                    denominator: Count(p.denominator),
                    proportion: Some(p.proportion),
                    lower95: p.lower95,
                    upper95: p.upper95,
                    lower998: p.lower998,
                    upper998: p.upper998,
                    significance: p.significance,
                })
                .collect(),
        );
    }
    Ok(Funnel {
        output: out,
        average,
        curve,
        not_shown,
    })
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
#[allow(clippy::too_many_arguments)]
pub async fn spc(
    ctx: &SessionContext,
    c: &Context<'_>,
    theme: &str,
    period: Period,
    plotted: Plotted,
    options: &SpcOptions,
    rebase: Option<NaiveDate>,
    publish: bool,
) -> Result<Output> {
    check_theme(c, theme)?;
    let series = measures::run(ctx, measures::find("monthly_series")?, c).await?;
    spc_from(&series, c, theme, period, plotted, options, rebase, publish)
}

/// `spc` from a `monthly_series` output already run. For publication (`publish`) the
/// chart is computed from the published counts of each period; when any period's count is
/// suppressed (1 to 7) no chart is published ([`Error::NotDrawn`] says why), since its
/// points would give the count away.
#[allow(clippy::too_many_arguments)]
pub fn spc_from(
    series: &Output,
    c: &Context<'_>,
    theme: &str,
    period: Period,
    plotted: Plotted,
    options: &SpcOptions,
    rebase: Option<NaiveDate>,
    publish: bool,
) -> Result<Output> {
    check_theme(c, theme)?;
    let mut periods: BTreeMap<NaiveDate, (u64, u64)> = BTreeMap::new();
    for row in series
        .rows
        .monthly_series()
        .iter()
        .filter(|r| r.theme == theme)
    {
        let Ok(month) = NaiveDate::parse_from_str(&row.month, "%Y-%m-%d") else {
            continue;
        };
        let p = periods.entry(period_start(month, period)).or_default();
        p.0 += row.cases_with_theme.0;
        p.1 += row.cases.0;
    }
    if publish {
        let hidden = periods
            .values()
            .filter(|(x, n)| {
                Count(*x).published().value().is_none() || Count(*n).published().value().is_none()
            })
            .count();
        if hidden > 0 {
            return Err(Error::NotDrawn(format!(
                "spc for {theme}: not published: {hidden} of its {} periods hold a count of 1 to 7, \
                 which disclosure control suppresses and the chart's points would show",
                periods.len()
            )));
        }
        for (x, n) in periods.values_mut() {
            *x = Count(*x).published().value().unwrap_or(0);
            *n = Count(*n).published().value().unwrap_or(0);
        }
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
    let mut out = Output::new("spc", c, Table::Spc(Vec::new()));
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
    out.rows = Table::Spc(
        kept.iter()
            .zip(&chart.points)
            .map(|((d, x, n), p)| SpcRow {
                counted: plotted == Plotted::Count,
                period: d.to_string(),
                cases: Count(*n),
                cases_with_theme: Count(*x),
                value: Some(p.value),
                segment: p.segment,
                mean: p.mean,
                lower_limit: p.lower_limit,
                upper_limit: p.upper_limit,
                lower_two_sigma: p.lower_two_sigma,
                upper_two_sigma: p.upper_two_sigma,
                outside_limits: p.outside_limits,
                trend: p.trend,
                two_of_three: p.two_of_three,
                shift: p.shift,
                variation: p.variation,
            })
            .collect(),
    );
    Ok(out)
}
