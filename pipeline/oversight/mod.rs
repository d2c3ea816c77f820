//! Oversight measures built on the SQL measures and `stats`: funnel plots across
//! organisations (from `organisation_profile`) or regions (from `theme_breakdown`), SPC
//! charts of a theme over time (from `monthly_series`). For publication they are
//! computed from the published rows alone (`measures::rows`, `Output::publish`).

pub mod agreement;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::error::{Error, NotDrawn, Result};
use crate::measures::rows::{FunnelRow, SpcRow};
use crate::measures::{
    self, Context, CountLike, FigureLike, Form, Output, Public, Raw, Rule, Table,
};
use crate::spec::study::ExposureSpec;
use crate::stats::{self, Published, SpcOptions};

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
    /// Cases with the theme per the study's `per` of its exposure (the plan's).
    Rate,
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
/// Organisations are read from `organisation_profile`, regions (the second grouping)
/// from `theme_breakdown`'s region rows: each case counts where its own value puts it.
/// For publication (`publish`), the rows are published first and the funnel is computed
/// from them alone: the average from the published counts, each limit at the unit's
/// published denominator; units with a suppressed count cannot be placed and are left
/// out (`not_shown`).
#[allow(clippy::too_many_arguments)]
pub async fn funnel(
    ctx: &SessionContext,
    c: &Context<'_>,
    theme: &str,
    by: By,
    choice: stats::Choice,
    exposure: Option<&ExposureSpec>,
    min_denominator: u64,
    publish: Option<&dyn Rule>,
) -> Result<Funnel<Public>> {
    check_theme(c, theme)?;
    let measure = match by {
        By::Organisation => "organisation_profile",
        By::Region => "theme_breakdown",
    };
    let rows = measures::run(ctx, measures::find(measure)?, c).await?;
    Ok(match publish {
        Some(r) => funnel_from(
            &rows.publish(r),
            c,
            theme,
            by,
            choice,
            exposure,
            min_denominator,
        )?,
        None => funnel_from(&rows, c, theme, by, choice, exposure, min_denominator)?.shown(),
    })
}

/// A funnel plot: the output (rows are the units; `average` and `curve` are also in its
/// JSON) and, typed, the average and the limit curves.
#[derive(Debug, Clone)]
pub struct Funnel<F: Form = Raw> {
    pub output: Output<F>,
    pub average: Option<f64>,
    pub curve: Vec<stats::CurvePoint>,
    /// Units left out because a count of theirs is suppressed (publication only).
    pub not_shown: usize,
    /// φ, τ² and the flags with and without the adjustment (none without a unit).
    pub judged: Option<Judged>,
}

impl Funnel<Raw> {
    /// As an output of the public form without disclosure control (counts as computed).
    pub fn shown(mut self) -> Funnel<Public> {
        let rows = match std::mem::replace(&mut self.output.rows, Table::Funnel(Vec::new())) {
            Table::Funnel(rows) => rows,
            _ => Vec::new(),
        };
        let rows = rows
            .into_iter()
            .map(|r| FunnelRow {
                label: r.label,
                name: r.name,
                numerator: Published::Count(r.numerator.0),
                denominator: Published::Count(r.denominator.0),
                proportion: measures::Shown::Value(r.proportion),
                per_exposure: r.per_exposure,
                lower95: r.lower95,
                upper95: r.upper95,
                lower998: r.lower998,
                upper998: r.upper998,
                significance: r.significance,
                limits: r.limits,
                phi: r.phi,
                tau2: r.tau2,
                method: r.method,
            })
            .collect();
        Funnel {
            output: self.output.with_rows(Table::Funnel(rows)),
            average: self.average,
            curve: self.curve,
            not_shown: self.not_shown,
            judged: self.judged,
        }
    }
}

/// A funnel's unit as its rows give it: its label, its name (an organisation's, when not
/// blank), and (cases with the theme, cases), or `None` when a count is suppressed.
type Unit<'a> = (&'a str, Option<&'a str>, Option<(u64, u64)>);

/// `funnel` from rows already run: `organisation_profile` for organisations,
/// `theme_breakdown` for regions, in either form (published rows give a published
/// funnel).
///
/// A theme the study reads per exposure (`exposure`), across organisations, is a funnel
/// of indirectly standardised ratios: each organisation's exposure over the view's days
/// (`ExposureSpec::of`), its expected count E = X·ΣO/ΣX at the overall rate of the
/// organisations placed, and O/E against limits around 1 by the study's method (SHMI or
/// CQC). An organisation with cases but no exposure cannot be placed and is named in
/// `without_exposure`; one of the lookup's with no case in the view counts 0 when the
/// view is filtered by nothing but dates. Across regions a theme stays a proportion of
/// cases (the lookup gives organisations, not regions) and the output says so.
///
/// A unit with fewer cases than `min_denominator` (the study's) is placed and counts in
/// the average, φ and τ² as in FunnelPlotR, but is not judged: its significance is
/// "not judged (small denominator)" and it is in neither count of flagged units.
#[allow(clippy::too_many_arguments)]
pub fn funnel_from<F: Form>(
    rows: &Output<F>,
    c: &Context<'_>,
    theme: &str,
    by: By,
    choice: stats::Choice,
    exposure: Option<&ExposureSpec>,
    min_denominator: u64,
) -> Result<Funnel<F>> {
    check_theme(c, theme)?;
    // Per unit: its label, its name (an organisation's, when not blank) and (cases with
    // the theme, cases), or None when a count is suppressed. Borrowed from the rows, and
    // sorted by label; a label given twice keeps its last count and its last name.
    let mut given: Vec<Unit<'_>> = Vec::new();
    let count = |x: &F::Count, n: &F::Count| x.number().zip(n.number());
    match by {
        By::Organisation => {
            for row in rows
                .rows
                .organisation_profile()
                .iter()
                .filter(|r| r.theme == theme)
            {
                given.push((
                    row.organisation_code.as_deref().unwrap_or("(missing)"),
                    row.organisation_name
                        .as_deref()
                        .filter(|n| n.chars().any(|c| !c.is_whitespace())),
                    count(&row.cases_with_theme, &row.cases),
                ));
            }
        }
        By::Region => {
            for row in rows
                .rows
                .theme_breakdown()
                .iter()
                .filter(|r| r.dimension == "region" && r.theme == theme)
            {
                given.push((
                    row.value.as_deref().unwrap_or("(missing)"),
                    None,
                    count(&row.cases_with_theme, &row.cases),
                ));
            }
        }
    }
    given.sort_by(|a, b| a.0.cmp(b.0));
    let mut listed: Vec<Unit<'_>> = Vec::with_capacity(given.len());
    for g in given {
        match listed.last_mut() {
            Some(last) if last.0 == g.0 => {
                last.2 = g.2;
                last.1 = g.1.or(last.1);
            }
            _ => listed.push(g),
        }
    }
    let not_shown = listed.iter().filter(|v| v.2.is_none()).count();
    let read_per = exposure.filter(|e| e.reads(theme));
    let per_exposure = read_per.filter(|_| by == By::Organisation);
    // The lookup's organisations with no case in a view of every organisation count 0.
    let mut lookup_only: Vec<&str> = Vec::new();
    if let Some(e) = per_exposure {
        let s = c.scope;
        if has_exposure(s) {
            for code in e.organisations() {
                if s.organisation.as_deref().is_none_or(|o| o == code)
                    && listed.binary_search_by(|u| u.0.cmp(code)).is_err()
                {
                    lookup_only.push(code);
                }
            }
        }
    }
    if !lookup_only.is_empty() {
        listed.extend(
            lookup_only
                .into_iter()
                .map(|code| (code, None, Some((0, 0)))),
        );
        listed.sort_by(|a, b| a.0.cmp(b.0));
        listed.dedup_by(|a, b| a.0 == b.0);
    }
    // The units placed, in label order: (label, cases with the theme, cases).
    let mut units: Vec<(&str, u64, u64)> = listed
        .iter()
        .filter_map(|(k, _, v)| v.map(|(x, n)| (*k, x, n)))
        .filter(|(_, _, n)| *n > 0 || per_exposure.is_some())
        .collect();
    let mut out: Output<F> = Output {
        measure: "funnel".into(),
        scope: c.scope.clone(),
        code_list: c.codes.source.name.clone(),
        thresholds: None,
        as_of: None,
        disclosure: rows.disclosure.clone(),
        extra: serde_json::Map::new(),
        rows: Table::Funnel(Vec::new()),
    };
    if rows.disclosure.is_some() {
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
    let mut average = None;
    let mut curve = Vec::new();
    let mut judged = None;
    // Per unit read per exposure, its exposure over the view.
    let mut placed: BTreeMap<String, f64> = BTreeMap::new();
    let result = match per_exposure {
        None => {
            if let Some(e) = read_per {
                out.extra.insert(
                    "per_exposure".into(),
                    Value::from(format!(
                        "not across regions: the study reads {theme} per {} {} of organisations, so this funnel compares proportions of cases",
                        e.per, e.unit
                    )),
                );
            }
            stats::funnel(&units, choice)
        }
        Some(e) => {
            let (from, to) = exposure_window(c.scope);
            let mut without = Vec::new();
            units.retain(|(label, _, _)| match e.of(label, from, to) {
                Some(v) => {
                    placed.insert(label.to_string(), v);
                    true
                }
                None => {
                    without.push(label.to_string());
                    false
                }
            });
            let observed: u64 = units.iter().map(|u| u.1).sum();
            let exposed: f64 = placed.values().sum();
            let rate = if exposed > 0.0 {
                observed as f64 / exposed
            } else {
                0.0
            };
            out.extra.insert(
                "per_exposure".into(),
                serde_json::json!({
                    "unit": e.unit,
                    "per": e.per,
                    "overall_rate": rate * e.per,
                    "days": match (from, to) {
                        (None, None) => "every period of the lookup".to_string(),
                        (f, t) => format!(
                            "{} to {}",
                            f.map_or("the lookup's first".into(), |d| d.to_string()),
                            t.map_or("the lookup's last".into(), |d| d.to_string())
                        ),
                    },
                    "expected": "the exposure times the overall rate of the organisations placed",
                }),
            );
            out.extra.insert(
                "without_exposure".into(),
                serde_json::json!({
                    "count": without.len(),
                    "first": without.iter().take(20).collect::<Vec<_>>(),
                }),
            );
            let kind = match e.method {
                crate::spec::study::RatioMethod::Shmi => stats::Kind::RatioShmi,
                crate::spec::study::RatioMethod::Cqc => stats::Kind::RatioCqc,
            };
            let ratio_units: Vec<(&str, u64, f64)> = units
                .iter()
                .map(|(l, x, _)| (*l, *x, placed.get(*l).map_or(0.0, |v| v * rate)))
                .collect();
            if observed == 0 {
                None
            } else {
                stats::ratio_funnel(&ratio_units, kind, choice)
            }
        }
    };
    if let Some(mut f) = result {
        // Each point's cases and name, found once in the units (sorted by label).
        let of: Vec<(u64, Option<&str>)> = f
            .points
            .iter()
            .map(|p| {
                listed
                    .binary_search_by(|u| u.0.cmp(p.label.as_str()))
                    .map_or((0, None), |i| {
                        let (_, name, v) = listed[i];
                        (v.map_or(0, |(_, n)| n), name)
                    })
            })
            .collect();
        // Units under the minimum denominator: drawn, not judged, not counted as flagged.
        let not_judged = f.leave_unjudged(|i, _| of[i].0 < min_denominator);
        out.extra.insert(
            "min_denominator".into(),
            serde_json::json!({"cases": min_denominator, "units_not_judged": not_judged}),
        );
        average = Some(f.average);
        curve = f.curve.clone();
        let d = &f.dispersion;
        out.extra
            .insert("method".into(), Value::from(d.kind.method()));
        if let Some(n) = &f.note {
            out.extra
                .insert("method_note".into(), Value::from(n.as_str()));
        }
        out.extra
            .insert("trimming".into(), Value::from(d.kind.trimming()));
        out.extra.insert("phi".into(), Value::from(d.phi));
        out.extra.insert("tau2".into(), Value::from(d.tau2));
        out.extra.insert(
            "limits".into(),
            Value::from(if f.adjusted { "adjusted" } else { "unadjusted" }),
        );
        out.extra.insert(
            "flagged_adjusted".into(),
            serde_json::json!({"high": f.flagged_adjusted.0, "low": f.flagged_adjusted.1}),
        );
        out.extra.insert(
            "flagged_unadjusted".into(),
            serde_json::json!({"high": f.flagged_unadjusted.0, "low": f.flagged_unadjusted.1}),
        );
        judged = Some(Judged {
            min_denominator,
            not_judged,
            phi: d.phi,
            tau2: d.tau2,
            adjusted: f.adjusted,
            flagged_adjusted: f.flagged_adjusted,
            flagged_unadjusted: f.flagged_unadjusted,
            method: d.kind.method(),
            note: f.note.clone(),
        });
        out.extra.insert("average".into(), Value::from(f.average));
        out.extra.insert(
            "curve".into(),
            serde_json::to_value(&f.curve).unwrap_or_default(),
        );
        out.rows = Table::Funnel(
            f.points
                .into_iter()
                .zip(of)
                .map(|(p, (n, name))| {
                    let x = p.numerator.round() as u64;
                    FunnelRow {
                        per_exposure: placed.get(&p.label).zip(per_exposure).map(|(v, spec)| {
                            crate::measures::rows::PerExposure {
                                exposure: *v,
                                expected: p.denominator,
                                ratio: p.value,
                                rate: x as f64 / v * spec.per,
                            }
                        }),
                        name: name.map(str::to_string),
                        label: p.label,
                        numerator: F::Count::of(x),
                        denominator: F::Count::of(n),
                        proportion: F::Figure::of((n > 0).then(|| x as f64 / n as f64)),
                        lower95: p.lower95,
                        upper95: p.upper95,
                        lower998: p.lower998,
                        upper998: p.upper998,
                        significance: p.significance,
                        limits: if f.adjusted { "adjusted" } else { "unadjusted" },
                        phi: f.dispersion.phi,
                        tau2: f.dispersion.tau2,
                        method: f.dispersion.kind.method(),
                    }
                })
                .collect(),
        );
    }
    Ok(Funnel {
        output: out,
        average,
        curve,
        not_shown,
        judged,
    })
}

/// Whether a view has an exposure of its own: every organisation's, or one's. A view
/// filtered by region, source, decision or service has none (the lookup is per
/// organisation), nor has one of several organisations or of organisations left out
/// (their exposures are not summed). A stage keeps every case, and so the exposure.
pub fn has_exposure(s: &crate::engine::Scope) -> bool {
    use crate::engine::Grouping;
    s.region.is_none()
        && s.source.is_none()
        && s.decision.is_none()
        && s.service.is_none()
        && s.choices.iter().all(|c| c.grouping == Grouping::Stage)
}

/// The days a view covers, for its exposure: the later of `--from` and its period's
/// first day, the earlier of `--to` and its period's last (either open).
pub fn exposure_window(s: &crate::engine::Scope) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let days = s.period.and_then(|p| p.days());
    let from = match (s.from, days.map(|d| d.0)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let to = match (s.to, days.map(|d| d.1)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    (from, to)
}

/// How a funnel judged its units: the overdispersion and the flags both ways.
#[derive(Debug, Clone)]
pub struct Judged {
    /// Units with fewer cases are drawn, not judged; `not_judged` of them.
    pub min_denominator: u64,
    pub not_judged: usize,
    pub phi: f64,
    pub tau2: f64,
    /// Whether the limits drawn and judged by are adjusted for overdispersion.
    pub adjusted: bool,
    /// Units outside the 99.8% limits (high, low), adjusted and unadjusted.
    pub flagged_adjusted: (usize, usize),
    pub flagged_unadjusted: (usize, usize),
    pub method: &'static str,
    /// A convention beyond FunnelPlotR's that was applied (the method's fallback).
    pub note: Option<String>,
}

/// What an SPC chart is asked to do beyond its data: rebases (a month each, with its
/// reason) and a target (a share of cases, from a month or throughout).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub rebases: Vec<(NaiveDate, String)>,
    pub target: Option<(f64, Option<NaiveDate>)>,
    /// The study's exposure when it reads the theme per exposure (a rate's denominator).
    pub exposure: Option<ExposureSpec>,
}

impl Plan {
    /// The study's plan for a theme, with `extra` rebases (from the command line).
    pub fn for_theme(
        study: &crate::spec::study::StudyFile,
        theme: &str,
        extra: &[(NaiveDate, String)],
    ) -> Plan {
        let spec = study.theme(theme);
        let mut rebases: Vec<(NaiveDate, String)> = spec
            .map(|t| {
                t.rebases
                    .iter()
                    .filter_map(|r| {
                        crate::spec::study::month_start(&r.from).map(|d| (d, r.reason.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        rebases.extend(extra.iter().cloned());
        rebases.sort_by_key(|r| r.0);
        Plan {
            exposure: study.exposure.clone().filter(|e| e.reads(theme)),
            rebases,
            target: spec.and_then(|t| {
                t.target.map(|v| {
                    (
                        v,
                        t.target_from
                            .as_deref()
                            .and_then(crate::spec::study::month_start),
                    )
                })
            }),
        }
    }

    /// The target in force at the latest period (none before its first month).
    pub fn target_at(&self, latest: Option<NaiveDate>) -> Option<f64> {
        let (v, from) = self.target?;
        match (from, latest) {
            (Some(f), Some(l)) if l < f => None,
            _ => Some(v),
        }
    }
}

/// The SPC direction of improvement for a theme, as its study's `better` says (lower
/// unless the theme says `higher` or `neither`, whatever its `kind`).
pub fn improvement(study: &crate::spec::study::StudyFile, theme: &str) -> stats::Direction {
    use crate::spec::study::Better;
    match study.better(theme) {
        Better::Lower => stats::Direction::Decrease,
        Better::Higher => stats::Direction::Increase,
        Better::Neither => stats::Direction::Neither,
    }
}

/// When the busiest complete month holds more than this many times the cases of the
/// quietest, the report's SPC charts plot each theme's share of cases, not its count: a
/// count would mostly follow the volume.
pub const VOLUME_RATIO: f64 = 1.5;

/// What the report's SPC chart of a theme plots (see [`VOLUME_RATIO`]).
pub fn plotted_for<F: Form>(series: &Output<F>, theme: &str) -> Plotted {
    let cases: Vec<u64> = series
        .rows
        .monthly_series()
        .iter()
        .filter(|r| r.theme == theme)
        .map(|r| r.cases.number().unwrap_or(0))
        .collect();
    let complete = complete_periods(&cases);
    let used: Vec<u64> = cases
        .iter()
        .zip(&complete)
        .filter(|(_, c)| **c)
        .map(|(n, _)| *n)
        .collect();
    match (used.iter().min(), used.iter().max()) {
        (Some(&lo), Some(&hi)) if lo > 0 && hi as f64 > VOLUME_RATIO * lo as f64 => {
            Plotted::Proportion
        }
        (Some(0), Some(&hi)) if hi > 0 => Plotted::Proportion,
        _ => Plotted::Count,
    }
}

/// Below this share of the median period's cases, a period at either end of an SPC
/// series is incomplete.
pub const INCOMPLETE_FRACTION: f64 = 0.5;

/// The rule, as every SPC output states it.
pub const INCOMPLETE_RULE: &str = "A run of periods at the start or the end of the series with fewer than half the median period's cases is incomplete: drawn hollow, and left out of the mean, the limits and the rules. A low period between complete ones is part of the process and stays in. A chart needs at least 12 complete periods, and is not drawn when the median complete period has no case with the theme. In the report, when the busiest complete month holds more than 1.5 times the cases of the quietest, the chart plots the theme's share of cases instead of its count.";

/// Per period, whether it is complete (see [`INCOMPLETE_RULE`]), from each period's cases.
pub fn complete_periods(cases: &[u64]) -> Vec<bool> {
    let mut sorted = cases.to_vec();
    sorted.sort_unstable();
    let median = match sorted.len() {
        0 => return Vec::new(),
        n if n % 2 == 1 => sorted[n / 2] as f64,
        n => (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0,
    };
    let low = |n: u64| (n as f64) < INCOMPLETE_FRACTION * median;
    let mut complete = vec![true; cases.len()];
    for (i, n) in cases.iter().enumerate() {
        if !low(*n) {
            break;
        }
        complete[i] = false;
    }
    for (i, n) in cases.iter().enumerate().rev() {
        if !low(*n) {
            break;
        }
        complete[i] = false;
    }
    complete
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
    plan: &Plan,
    publish: Option<&dyn Rule>,
) -> Result<Output<Public>> {
    check_theme(c, theme)?;
    let series = measures::run(ctx, measures::find("monthly_series")?, c).await?;
    match publish {
        Some(r) => spc_from(&series.publish(r), c, theme, period, plotted, options, plan),
        None => spc_from(&series, c, theme, period, plotted, options, plan).map(shown_spc),
    }
}

/// An SPC output of the raw form in the public one, counts as computed.
fn shown_spc(out: Output) -> Output<Public> {
    let rows = out
        .rows
        .spc()
        .iter()
        .map(|r| SpcRow {
            counted: r.counted,
            period: r.period.clone(),
            cases: Published::Count(r.cases.0),
            cases_with_theme: Published::Count(r.cases_with_theme.0),
            value: measures::rows::Amount::Figure(measures::Shown::Value(r.value)),
            segment: r.segment,
            mean: r.mean,
            lower_limit: r.lower_limit,
            upper_limit: r.upper_limit,
            lower_two_sigma: r.lower_two_sigma,
            upper_two_sigma: r.upper_two_sigma,
            outside_limits: r.outside_limits,
            trend: r.trend,
            two_of_three: r.two_of_three,
            shift: r.shift,
            variation: r.variation,
            complete: r.complete,
        })
        .collect();
    out.with_rows(Table::Spc(rows))
}

/// `spc` from a `monthly_series` output already run, in either form. From published
/// rows the chart is computed from the published counts alone: a period whose count is
/// suppressed is drawn as "not shown" and left out of the mean, the limits and the rules
/// (a quarter is the sum of its months' published counts, not shown when one of them
/// is suppressed), and the completeness of the periods at the ends is judged on the
/// published cases.
#[allow(clippy::too_many_arguments)]
pub fn spc_from<F: Form>(
    series: &Output<F>,
    c: &Context<'_>,
    theme: &str,
    period: Period,
    plotted: Plotted,
    options: &SpcOptions,
    plan: &Plan,
) -> Result<Output<F>> {
    check_theme(c, theme)?;
    // Per period: (cases with the theme, cases), None when a count is suppressed.
    let mut periods: BTreeMap<NaiveDate, Option<(u64, u64)>> = BTreeMap::new();
    let mut months: Vec<NaiveDate> = Vec::new();
    for row in series
        .rows
        .monthly_series()
        .iter()
        .filter(|r| r.theme == theme)
    {
        let Ok(month) = NaiveDate::parse_from_str(&row.month, "%Y-%m-%d") else {
            continue;
        };
        months.push(month);
        let p = periods
            .entry(period_start(month, period))
            .or_insert(Some((0, 0)));
        *p = match (*p, row.cases_with_theme.number(), row.cases.number()) {
            (Some((a, b)), Some(x), Some(n)) => Some((a + x, b + n)),
            _ => None,
        };
    }
    // A rate's exposure per period: the months' of the view's organisation, or of every
    // organisation of the lookup.
    let mut exposed: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    if plotted == Plotted::Rate {
        let Some(e) = &plan.exposure else {
            return Err(Error::Usage(format!(
                "spc for {theme}: a rate needs the study to read {theme} per exposure ([exposure] in study.toml, docs/studies.md)"
            )));
        };
        let s = c.scope;
        if !has_exposure(s) {
            return Err(Error::Usage(format!(
                "spc for {theme}: a rate per {} is of every organisation or one (--organisation); a view filtered by region, source or decision has no exposure of its own",
                e.unit
            )));
        }
        for (m, x) in e.per_month(&months, s.organisation.as_deref()) {
            *exposed.entry(period_start(m, period)).or_insert(0.0) += x;
        }
    }
    // Proportions need cases, rates an exposure: periods without are left out.
    let kept: Vec<(NaiveDate, Option<(u64, u64)>)> = periods
        .into_iter()
        .filter(|(d, v)| match plotted {
            Plotted::Count => true,
            Plotted::Proportion => v.is_none_or(|(_, n)| n > 0),
            Plotted::Rate => exposed.contains_key(d),
        })
        .collect();
    let per = plan.exposure.as_ref().map_or(1.0, |e| e.per);
    // Incomplete periods: a run at the start or the end whose cases are fewer than
    // INCOMPLETE_FRACTION of the median period's (an export cut in the middle of a month,
    // a system still being filled); a period not shown counts as 0 cases there. They are
    // drawn, but left out of the mean, the limits and the rules. A low period between
    // complete ones is part of the process and stays in.
    let complete = complete_periods(
        &kept
            .iter()
            .map(|(_, v)| v.map_or(0, |(_, n)| n))
            .collect::<Vec<_>>(),
    );
    let used: Vec<usize> = (0..kept.len())
        .filter(|i| complete[*i] && kept[*i].1.is_some())
        .collect();
    let value_of = |d: NaiveDate, x: u64, n: u64| match plotted {
        Plotted::Count => x as f64,
        Plotted::Proportion => x as f64 / n as f64,
        Plotted::Rate => x as f64 / exposed.get(&d).copied().unwrap_or(f64::NAN) * per,
    };
    let values: Vec<f64> = used
        .iter()
        .filter_map(|&i| kept[i].1.map(|(x, n)| value_of(kept[i].0, x, n)))
        .collect();
    let mut options = options.clone();
    let mut rebased = Vec::new();
    for (date, reason) in &plan.rebases {
        let start = period_start(*date, period);
        if let Some(i) = used.iter().position(|&i| kept[i].0 >= start) {
            options.rebase.push(i);
            rebased.push(serde_json::json!({
                "from": kept[used[i]].0.to_string(),
                "reason": reason,
            }));
        }
    }
    let chart = stats::spc(&values, &options).map_err(|e| {
        let published = if series.disclosure.is_some() {
            " with published counts"
        } else {
            ""
        };
        Error::from(
            NotDrawn::new("spc", format!("{e} among its complete periods{published}"))
                .of(theme)
                .advice("widen the scope", "or use --per month"),
        )
    })?;
    // Too sparse to chart: when the median complete period has no case with the theme,
    // an XmR chart only shows 0s and 1s against limits no point can cross downwards.
    let mut counts: Vec<u64> = used
        .iter()
        .filter_map(|&i| kept[i].1.map(|(x, _)| x))
        .collect();
    counts.sort_unstable();
    if counts.get(counts.len() / 2).is_some_and(|m| *m == 0) {
        let median = match period {
            Period::Month => "month",
            Period::Quarter => "quarter",
        };
        return Err(NotDrawn::new(
            "spc",
            format!("too sparse: the median {median} has no case with the theme"),
        )
        .of(theme)
        .advice("widen the scope", "or use --per quarter")
        .into());
    }
    let mut out: Output<F> = Output {
        measure: "spc".into(),
        scope: c.scope.clone(),
        code_list: c.codes.source.name.clone(),
        thresholds: None,
        as_of: None,
        disclosure: series.disclosure.clone(),
        extra: serde_json::Map::new(),
        rows: Table::Spc(Vec::new()),
    };
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
            Plotted::Rate => "rate",
        }),
    );
    if let (Plotted::Rate, Some(e)) = (plotted, &plan.exposure) {
        out.extra.insert(
            "per_exposure".into(),
            serde_json::json!({
                "unit": e.unit,
                "per": e.per,
                "of": c.scope.organisation.clone().map_or(
                    format!("the {} organisations of the lookup", e.organisations().len()),
                    |o| format!("organisation {o}"),
                ),
                "months": "a period's value spread over its months by days; a value throughout counts in full each month",
            }),
        );
    }
    out.extra.insert(
        "improvement".into(),
        serde_json::to_value(chart.improvement).unwrap_or_default(),
    );
    out.extra
        .insert("screened".into(), Value::from(chart.screened));
    out.extra
        .insert("run_length".into(), Value::from(options.run_length));
    if let Some(n) = options.fix_after {
        out.extra.insert("baseline_points".into(), Value::from(n));
    }
    out.extra.insert("rebases".into(), Value::from(rebased));
    let icon = chart.variation_icon();
    out.extra.insert(
        "variation_icon".into(),
        serde_json::to_value(icon).unwrap_or_default(),
    );
    // A target is a share of cases, or for a theme read per exposure a rate: it is
    // drawn and judged only on a chart of that.
    let target_applies = match plotted {
        Plotted::Count => false,
        Plotted::Proportion => plan.exposure.is_none(),
        Plotted::Rate => true,
    };
    if let Some(target) = plan
        .target_at(kept.last().map(|k| k.0))
        .filter(|_| target_applies)
    {
        out.extra.insert("target".into(), Value::from(target));
        out.extra.insert(
            "assurance".into(),
            serde_json::to_value(chart.assurance(target)).unwrap_or_default(),
        );
    }
    if let Some(i) = stats::suggest_rebase(&chart) {
        let from = kept[used[i]].0;
        out.extra.insert(
            "suggested_rebase".into(),
            Value::from(format!(
                "a sustained shift from {from}: {} points on one side of the mean to the latest; consider rebasing there if the process changed (casework never rebases by itself)",
                used.len() - i
            )),
        );
    }
    out.extra
        .insert("incomplete_rule".into(), Value::from(INCOMPLETE_RULE));
    let hidden = kept.iter().filter(|(_, v)| v.is_none()).count();
    if series.disclosure.is_some() {
        out.extra.insert("not_shown".into(), Value::from(hidden));
    }
    // Each period with its chart point; an incomplete or hidden one shows the nearest
    // used point's mean and limits and breaks no rule.
    let point_for = |i: usize| -> (usize, &stats::SpcPoint) {
        let (k, j) = used
            .iter()
            .enumerate()
            .min_by_key(|(_, j)| j.abs_diff(i))
            .map_or((0, 0), |(k, j)| (k, *j));
        (j, &chart.points[k])
    };
    out.rows = Table::Spc(
        kept.iter()
            .enumerate()
            .map(|(i, (d, v))| {
                let (j, p) = point_for(i);
                let whole = complete[i] && v.is_some() && j == i;
                let (x, n) = v.unwrap_or((0, 0));
                SpcRow {
                    counted: plotted == Plotted::Count,
                    period: d.to_string(),
                    cases: if v.is_some() {
                        F::Count::of(n)
                    } else {
                        F::Count::hidden()
                    },
                    cases_with_theme: if v.is_some() {
                        F::Count::of(x)
                    } else {
                        F::Count::hidden()
                    },
                    value: if v.is_some() {
                        F::Amount::of_amount(Some(value_of(*d, x, n)), plotted == Plotted::Count)
                    } else {
                        F::Amount::hidden()
                    },
                    segment: p.segment,
                    mean: p.mean,
                    lower_limit: p.lower_limit,
                    upper_limit: p.upper_limit,
                    lower_two_sigma: p.lower_two_sigma,
                    upper_two_sigma: p.upper_two_sigma,
                    outside_limits: whole && p.outside_limits,
                    trend: whole && p.trend,
                    two_of_three: whole && p.two_of_three,
                    shift: whole && p.shift,
                    variation: if whole {
                        p.variation
                    } else {
                        stats::Variation::CommonCause
                    },
                    complete: complete[i],
                }
            })
            .collect(),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_low_periods_at_the_ends_are_incomplete() {
        // Median 200: a trickle before the series starts (3, 40) and an export cut in
        // its last months (53, 7, 5) are incomplete; the dip to 60 in the middle is not.
        let cases = [3, 40, 190, 210, 200, 60, 205, 195, 200, 53, 7, 5];
        let complete = complete_periods(&cases);
        assert_eq!(
            complete,
            [
                false, false, true, true, true, true, true, true, true, false, false, false
            ]
        );
        // 100 is exactly half the median: complete.
        assert_eq!(complete_periods(&[200, 200, 100]), [true, true, true]);
        assert!(complete_periods(&[]).is_empty());
    }
}
