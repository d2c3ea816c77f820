//! The attack suite (issue 30): published output tried as an attacker would try it, on
//! loopback and with bounded requests, against `casework serve --publish` and the CLI's
//! `--publish`, on generated warehouses whose true counts the test reads with `casework
//! query` (the analyst's side of the access boundary).
//!
//! Every answer becomes a fact about sums of unknown counts: a published count `n`
//! (rounded to 5) says the true count is within n ± 2 and above the threshold; `0` says
//! it is 0; `*` says it is at least 1 (the *bold* attacker also assumes `*` means 1 to
//! 7, as a primary suppression does). A linear-programming solver (microlp) then bounds
//! every unknown and every target sum, first tightening each unknown's bounds to whole
//! numbers, and an integer program settles narrow ranges. A target is *recovered* when
//! the facts leave it one value, and that value is its true count of 1 to 7.
//!
//! The attacks:
//! - sliding windows of days (one day, a week), and views that differ by their `from`
//!   (sibling views), solved together;
//! - months against quarters, years and financial years, and sibling organisations'
//!   and groupings' cells against the total, solved together on the grid;
//! - the first-case date, by binary search on `to`, and on the refusal oracle;
//! - remedy amounts and delay intervals by differencing;
//! - the organisation page's comparison column for a scope refused elsewhere.
//!
//! Run against the code of issue 30 (commit 76d0bcd, per-view rounding and serve's 50-case
//! rule), these attacks recovered: from the CLI, 20 day counts by sliding windows, 12
//! monthly and quarterly theme counts of an organisation on the grid, the first case's
//! date to the day, 4 single remedy amounts and 39 individual values (maxima, medians
//! and percentiles in days); from `serve --publish`, 11 day and week counts by sibling
//! views, the first case's date to the day by the refusal oracle, a single remedy and 37
//! individual values. On the publication they recover none.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, Duration, NaiveDate};
use microlp::{ComparisonOp, OptimizationDirection, Problem};
use serde_json::Value;

use crate::common::*;
use crate::serve::Server;

/// The disclosure threshold of the warehouses attacked here (the default: 1 to 7 are
/// suppressed).
const THRESHOLD: f64 = 7.0;

/// What a published count says of the true count, to a sound attacker and to a bold
/// one (who takes `*` for a primary suppression, 1 to 7). `None`: not a count.
fn reading(text: &str) -> Option<((f64, f64), (f64, f64))> {
    let t = text.trim().trim_matches('"').replace(',', "");
    match t.as_str() {
        "" | "null" => None,
        "*" => Some(((1.0, f64::INFINITY), (1.0, THRESHOLD))),
        _ => {
            let v: f64 = t.parse().ok()?;
            if v == 0.0 {
                Some(((0.0, 0.0), (0.0, 0.0)))
            } else {
                let r = ((v - 2.0).max(THRESHOLD + 1.0), v + 2.0);
                Some((r, r))
            }
        }
    }
}

/// An attacker's knowledge: unknown counts (whole numbers, at least 0) and facts about
/// sums of them.
#[derive(Default)]
struct Knowledge {
    names: Vec<String>,
    truth: Vec<f64>,
    sound: Vec<(Vec<usize>, f64, f64)>,
    bold: Vec<(Vec<usize>, f64, f64)>,
}

impl Knowledge {
    fn unknown(&mut self, name: impl Into<String>, truth: f64) -> usize {
        self.names.push(name.into());
        self.truth.push(truth);
        self.names.len() - 1
    }

    /// Learns what a published count of the sum of `vars` says.
    fn learn(&mut self, vars: &[usize], text: &str) {
        if vars.is_empty() {
            return;
        }
        if let Some((s, b)) = reading(text) {
            self.sound.push((vars.to_vec(), s.0, s.1));
            self.bold.push((vars.to_vec(), b.0, b.1));
        }
    }

    fn facts(&self) -> usize {
        self.sound.len()
    }
}

/// The least (or greatest) value of the sum of `target` under `facts` with each unknown
/// within its bounds; `integer`: the unknowns are whole numbers. `None`: no solution.
fn optimum(
    n: usize,
    facts: &[(Vec<usize>, f64, f64)],
    bounds: &[(f64, f64)],
    target: &[usize],
    maximise: bool,
    integer: bool,
) -> Option<f64> {
    let direction = if maximise {
        OptimizationDirection::Maximize
    } else {
        OptimizationDirection::Minimize
    };
    let mut p = Problem::new(direction);
    let vars: Vec<_> = (0..n)
        .map(|i| {
            let c = if target.contains(&i) { 1.0 } else { 0.0 };
            let (lo, hi) = bounds[i];
            if integer {
                let hi = if hi.is_finite() { hi as i32 } else { 1_000_000 };
                p.add_integer_var(c, (lo as i32, hi))
            } else {
                p.add_var(c, (lo, hi))
            }
        })
        .collect();
    for (vs, lo, hi) in facts {
        let expr: Vec<_> = vs.iter().map(|&v| (vars[v], 1.0)).collect();
        if lo == hi {
            p.add_constraint(expr.as_slice(), ComparisonOp::Eq, *lo);
            continue;
        }
        p.add_constraint(expr.as_slice(), ComparisonOp::Ge, *lo);
        if hi.is_finite() {
            p.add_constraint(expr.as_slice(), ComparisonOp::Le, *hi);
        }
    }
    if integer {
        p.set_time_limit(std::time::Duration::from_secs(10));
    }
    let outcome = p.solve().ok()?;
    let s = outcome.solution()?;
    if !outcome.is_optimal() {
        // A time limit: only a bound is known; do not claim a value.
        return Some(if maximise {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        });
    }
    Some(s.objective())
}

/// Each unknown's bounds under `facts`, tightened to whole numbers: the least and
/// greatest value the linear program allows, rounded inwards, `rounds` times over.
fn tighten(n: usize, facts: &[(Vec<usize>, f64, f64)], rounds: usize) -> Option<Vec<(f64, f64)>> {
    let mut bounds = vec![(0.0, f64::INFINITY); n];
    for _ in 0..rounds {
        let mut changed = false;
        for i in 0..n {
            let lo = optimum(n, facts, &bounds, &[i], false, false)?;
            let hi = optimum(n, facts, &bounds, &[i], true, false).unwrap_or(f64::INFINITY);
            let lo = (lo - 1e-6).ceil().max(bounds[i].0);
            let hi = if hi.is_finite() {
                (hi + 1e-6).floor().min(bounds[i].1)
            } else {
                bounds[i].1
            };
            if (lo, hi) != bounds[i] {
                bounds[i] = (lo, hi);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Some(bounds)
}

/// A sum of unknowns the attacker wants, with its true value.
struct Target {
    name: String,
    vars: Vec<usize>,
    truth: f64,
}

/// The targets whose true value (1 to 7) the facts give away, to the sound or the bold
/// attacker. `rounds`: how many times the unknowns' bounds are tightened first.
fn recovered(k: &Knowledge, targets: &[Target], rounds: usize) -> Vec<String> {
    let n = k.names.len();
    let mut out = Vec::new();
    for facts in [&k.sound, &k.bold] {
        let Some(bounds) = tighten(n, facts, rounds) else {
            // The bold assumption contradicts the answers (a `*` above 7): it is wrong.
            continue;
        };
        for t in targets {
            if !(1.0..=THRESHOLD).contains(&t.truth) || out.contains(&t.name) {
                continue;
            }
            let Some(lo) = optimum(n, facts, &bounds, &t.vars, false, false) else {
                continue;
            };
            let hi = optimum(n, facts, &bounds, &t.vars, true, false).unwrap_or(f64::INFINITY);
            let (mut lo, mut hi) = ((lo - 1e-6).ceil(), (hi + 1e-6).floor());
            if hi - lo >= 1.0 && hi - lo <= 3.0 {
                // A few whole numbers left: the integer program settles them.
                lo = optimum(n, facts, &bounds, &t.vars, false, true).unwrap_or(lo);
                hi = optimum(n, facts, &bounds, &t.vars, true, true).unwrap_or(hi);
                lo = (lo - 1e-6).ceil();
                hi = (hi + 1e-6).floor();
            }
            if lo == hi && lo == t.truth {
                out.push(t.name.clone());
            }
        }
    }
    out
}

/// Where answers come from: a measure's rows for a scope, as published, or `None` when
/// the view is refused.
trait Source {
    fn rows(
        &self,
        measure: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        filter: Option<(&str, &str)>,
    ) -> Option<Vec<BTreeMap<String, String>>>;

    /// Whether the view is answered at all (the refusal oracle).
    fn answered(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        filter: Option<(&str, &str)>,
    ) -> bool {
        self.rows("theme_prevalence", from, to, filter).is_some()
    }

    fn name(&self) -> &'static str;
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The CLI: `casework measure NAME --publish` on a warehouse.
struct Cli<'a> {
    dir: &'a Path,
}

impl Source for Cli<'_> {
    fn rows(
        &self,
        measure: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        filter: Option<(&str, &str)>,
    ) -> Option<Vec<BTreeMap<String, String>>> {
        let (f, t) = (from.map(|d| d.to_string()), to.map(|d| d.to_string()));
        let mut args = vec![
            "measure",
            measure,
            "--publish",
            "--format",
            "json",
            "--warehouse",
            "wh",
            "--as-of",
            "2025-06-30",
        ];
        if let Some(f) = &f {
            args.extend_from_slice(&["--from", f]);
        }
        if let Some(t) = &t {
            args.extend_from_slice(&["--to", t]);
        }
        let flag;
        if let Some((k, v)) = filter {
            flag = format!("--{k}");
            args.extend_from_slice(&[&flag, v]);
        }
        let o = casework(self.dir, &args);
        if o.status.code() != Some(0) {
            return None;
        }
        let v: Value = serde_json::from_slice(&o.stdout).ok()?;
        let rows = v["rows"].as_array()?;
        Some(
            rows.iter()
                .filter_map(|r| r.as_object())
                .map(|r| r.iter().map(|(k, v)| (k.clone(), cell(v))).collect())
                .collect(),
        )
    }

    fn name(&self) -> &'static str {
        "cli"
    }
}

/// `casework serve --publish`: `/table/NAME.csv` for the view.
struct Http<'a> {
    server: &'a Server,
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn view_query(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    filter: Option<(&str, &str)>,
) -> String {
    let mut q = Vec::new();
    if let Some(f) = from {
        q.push(format!("from={f}"));
    }
    if let Some(t) = to {
        q.push(format!("to={t}"));
    }
    if let Some((k, v)) = filter {
        q.push(format!("{k}={}", encode(v)));
    }
    q.join("&")
}

impl Source for Http<'_> {
    fn rows(
        &self,
        measure: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        filter: Option<(&str, &str)>,
    ) -> Option<Vec<BTreeMap<String, String>>> {
        let target = format!("/table/{measure}.csv?{}", view_query(from, to, filter));
        let (status, _, body) = self.server.get(&target, &[]);
        if status != 200 {
            return None;
        }
        let text = String::from_utf8_lossy(&body).to_string();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let h = r.headers().ok()?.clone();
        Some(
            r.records()
                .filter_map(|rec| rec.ok())
                .map(|rec| {
                    h.iter()
                        .zip(rec.iter())
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .collect(),
        )
    }

    fn name(&self) -> &'static str {
        "serve"
    }
}

/// `casework query` (raw, unpublished: the truth) as rows of text.
fn truth(dir: &Path, sql: &str) -> Vec<BTreeMap<String, String>> {
    let o = casework(
        dir,
        &["query", sql, "--warehouse", "wh", "--format", "json"],
    );
    assert_eq!(o.status.code(), Some(0), "{sql}: {}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v
        .as_array()
        .or_else(|| v["rows"].as_array())
        .unwrap()
        .clone();
    rows.iter()
        .filter_map(|r| r.as_object().cloned())
        .map(|r| r.iter().map(|(k, v)| (k.clone(), cell(v))).collect())
        .collect()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The cases of `org` per opened day.
fn daily(dir: &Path, org: &str) -> BTreeMap<NaiveDate, f64> {
    truth(
        dir,
        &format!(
            "SELECT CAST(opened_date AS VARCHAR) AS d, COUNT(*) AS n FROM cases WHERE organisation_code = '{org}' GROUP BY opened_date"
        ),
    )
    .into_iter()
    .map(|r| (day(&r["d"]), r["n"].parse().unwrap()))
    .collect()
}

fn first_count(rows: &[BTreeMap<String, String>], column: &str) -> Option<String> {
    rows.first().and_then(|r| r.get(column).cloned())
}

/// Attack: windows of days (`widths`) starting on each of `days` days from `start`,
/// and views that differ by their `from` (every case of the organisation from a day on):
/// overlapping rounded sums, solved together. Targets: each day and each week.
fn sliding(
    source: &dyn Source,
    dir: &Path,
    org: &str,
    start: NaiveDate,
    days: i64,
    widths: &[i64],
) -> Vec<String> {
    let per_day = daily(dir, org);
    let reach = days + widths.iter().copied().max().unwrap_or(1) - 1;
    let end = start + Duration::days(reach - 1);
    let mut k = Knowledge::default();
    let xs: Vec<usize> = (0..reach)
        .map(|i| {
            let d = start + Duration::days(i);
            k.unknown(d.to_string(), *per_day.get(&d).unwrap_or(&0.0))
        })
        .collect();
    let after: f64 = per_day
        .range(end + Duration::days(1)..)
        .map(|(_, n)| n)
        .sum();
    let tail = k.unknown("after", after);
    let before: f64 = per_day.range(..start).map(|(_, n)| n).sum();
    let head = k.unknown("before", before);
    let filter = Some(("organisation", org));
    for &width in widths {
        for i in 0..days {
            let (a, b) = (
                start + Duration::days(i),
                start + Duration::days(i + width - 1),
            );
            if let Some(rows) = source.rows("theme_prevalence", Some(a), Some(b), filter) {
                let vars: Vec<usize> = (i..i + width).map(|j| xs[j as usize]).collect();
                k.learn(&vars, &first_count(&rows, "cases").unwrap_or_default());
            }
        }
    }
    // Every case from a day on, and every case up to a day.
    for i in 0..days {
        let a = start + Duration::days(i);
        if let Some(rows) = source.rows("theme_prevalence", Some(a), None, filter) {
            let mut vars: Vec<usize> = (i..reach).map(|j| xs[j as usize]).collect();
            vars.push(tail);
            k.learn(&vars, &first_count(&rows, "cases").unwrap_or_default());
        }
        if let Some(rows) = source.rows("theme_prevalence", None, Some(a), filter) {
            let mut vars: Vec<usize> = (0..=i).map(|j| xs[j as usize]).collect();
            vars.push(head);
            k.learn(&vars, &first_count(&rows, "cases").unwrap_or_default());
        }
    }
    let mut targets: Vec<Target> = Vec::new();
    for width in [1, 7] {
        for i in 0..days {
            let vars: Vec<usize> = (i..i + width).map(|j| xs[j as usize]).collect();
            targets.push(Target {
                name: format!("{org} {} +{}d", start + Duration::days(i), width),
                truth: vars.iter().map(|&v| k.truth[v]).sum(),
                vars,
            });
        }
    }
    eprintln!(
        "sliding windows ({}): {} facts over {} days",
        source.name(),
        k.facts(),
        reach
    );
    recovered(&k, &targets, 1)
}

/// The grid: every month, quarter, year and financial year of two calendar years, and
/// the whole period, for every organisation, every grouping and all (from
/// `organisation_profile`, `theme_breakdown`'s groupings and `theme_prevalence`), for
/// the cases and for one theme: months against quarters, siblings against the total.
fn grid(source: &dyn Source, dir: &Path, years: (i32, i32), theme: &str) -> Vec<String> {
    // The truth: per organisation and month, cases and cases with the theme.
    let rows = truth(
        dir,
        &format!(
            "SELECT k.organisation_code AS o, k.region AS g, CAST(date_trunc('month', k.opened_date) AS VARCHAR) AS m, \
             COUNT(*) AS n, COUNT(t.case_key) AS x \
             FROM cases k LEFT JOIN (SELECT DISTINCT f.case_key FROM findings f JOIN codes c ON c.code = CAST(f.code AS VARCHAR) WHERE c.theme = '{theme}') t \
             ON t.case_key = k.case_key GROUP BY 1, 2, 3"
        ),
    );
    let mut orgs: BTreeMap<String, String> = BTreeMap::new();
    let mut cells: BTreeMap<(String, NaiveDate), (f64, f64)> = BTreeMap::new();
    for r in &rows {
        orgs.insert(r["o"].clone(), r["g"].clone());
        let m = day(&r["m"][..10]);
        cells.insert(
            (r["o"].clone(), m),
            (r["n"].parse().unwrap(), r["x"].parse().unwrap()),
        );
    }
    let (months, mut periods) = grid_periods(years);
    periods.push((None, None, (0..months.len()).collect()));
    let mut found = Vec::new();
    for (what, column_total, column_theme) in [
        ("cases", "cases", "cases"),
        (theme, "cases", "cases_with_theme"),
    ] {
        let mut k = Knowledge::default();
        let mut var: BTreeMap<(String, usize), usize> = BTreeMap::new();
        let mut rest: BTreeMap<String, usize> = BTreeMap::new();
        for o in orgs.keys() {
            let mut inside = 0.0;
            for (i, m) in months.iter().enumerate() {
                let (n, x) = cells.get(&(o.clone(), *m)).copied().unwrap_or((0.0, 0.0));
                let t = if what == "cases" { n } else { x };
                inside += t;
                var.insert((o.clone(), i), k.unknown(format!("{what} {o} {m}"), t));
            }
            let all: f64 = cells
                .iter()
                .filter(|((oo, _), _)| oo == o)
                .map(|(_, (n, x))| if what == "cases" { *n } else { *x })
                .sum();
            rest.insert(
                o.clone(),
                k.unknown(format!("{what} {o} outside"), all - inside),
            );
        }
        let _ = column_total;
        let of = |units: &[&String], covered: &[usize], whole: bool| -> Vec<usize> {
            let mut v = Vec::new();
            for o in units {
                for &i in covered {
                    v.push(var[&((*o).clone(), i)]);
                }
                if whole {
                    v.push(rest[*o]);
                }
            }
            v
        };
        let all_orgs: Vec<&String> = orgs.keys().collect();
        let mut targets = Vec::new();
        for (from, to, covered) in &periods {
            let whole = from.is_none();
            let label = from.map_or("all".to_string(), |f| format!("{f}..{}", to.unwrap()));
            if let Some(rows) = source.rows("organisation_profile", *from, *to, None) {
                for r in rows
                    .iter()
                    .filter(|r| r.get("theme").map(String::as_str) == Some(theme))
                {
                    let Some(o) = r.get("organisation_code") else {
                        continue;
                    };
                    if !orgs.contains_key(o) {
                        continue;
                    }
                    let col = if what == "cases" {
                        "cases"
                    } else {
                        column_theme
                    };
                    k.learn(&of(&[o], covered, whole), &r[col]);
                }
            }
            if let Some(rows) = source.rows("theme_breakdown", *from, *to, None) {
                for r in rows.iter().filter(|r| {
                    r.get("dimension").map(String::as_str) == Some("region")
                        && r.get("theme").map(String::as_str) == Some(theme)
                }) {
                    let g = r.get("value").cloned().unwrap_or_default();
                    let members: Vec<&String> = orgs
                        .iter()
                        .filter(|(_, gg)| **gg == g)
                        .map(|(o, _)| o)
                        .collect();
                    let col = if what == "cases" {
                        "cases"
                    } else {
                        column_theme
                    };
                    k.learn(&of(&members, covered, whole), &r[col]);
                }
            }
            if let Some(rows) = source.rows("theme_prevalence", *from, *to, None)
                && let Some(r) = rows
                    .iter()
                    .find(|r| r.get("theme").map(String::as_str) == Some(theme))
            {
                let col = if what == "cases" {
                    "cases"
                } else {
                    column_theme
                };
                k.learn(&of(&all_orgs, covered, whole), &r[col]);
            }
            for o in &all_orgs {
                let vars = of(&[o], covered, whole);
                targets.push(Target {
                    name: format!("{what} {o} {label}"),
                    truth: vars.iter().map(|&v| k.truth[v]).sum(),
                    vars,
                });
            }
        }
        eprintln!(
            "grid ({}, {what}): {} facts over {} unknowns, {} targets",
            source.name(),
            k.facts(),
            k.names.len(),
            targets.len()
        );
        found.extend(recovered(&k, &targets, 1));
    }
    found
}

trait YearMonth {
    fn year_m(&self, months_on: i32) -> (i32, u32);
}

impl YearMonth for NaiveDate {
    fn year_m(&self, months_on: i32) -> (i32, u32) {
        let total = self.year() * 12 + self.month0() as i32 + months_on;
        (total.div_euclid(12), total.rem_euclid(12) as u32 + 1)
    }
}

/// Attack: the first case of `org`, to the day, by binary search: on the count up to a
/// day (0 until the first case), or on whether the view is answered at all.
fn first_day(source: &dyn Source, dir: &Path, org: &str) -> Option<NaiveDate> {
    let per_day = daily(dir, org);
    let truth = *per_day.keys().next()?;
    let filter = Some(("organisation", org));
    let (mut lo, mut hi) = (day("2018-06-01"), day("2024-12-31"));
    // Invariant: no case on or before lo; a case on or before hi.
    let none_until = |d: NaiveDate| -> Option<bool> {
        let rows = source.rows("theme_prevalence", None, Some(d), filter)?;
        Some(first_count(&rows, "cases")? == "0")
    };
    for _ in 0..14 {
        if hi - lo <= Duration::days(1) {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        match none_until(mid) {
            Some(true) => lo = mid,
            Some(false) => hi = mid,
            None => return None,
        }
    }
    (hi - lo == Duration::days(1) && hi == truth).then_some(hi)
}

/// The same search on the refusal oracle: a view from a day on is answered when it
/// holds every case of the organisation (it then differs from the organisation's view by
/// 0), refused when it leaves out a few.
fn first_day_by_refusal(source: &dyn Source, dir: &Path, org: &str) -> Option<NaiveDate> {
    let per_day = daily(dir, org);
    let truth = *per_day.keys().next()?;
    let filter = Some(("organisation", org));
    // A day before any case is answered (the view holds them all); the days after the
    // first case are refused until the organisation's earlier cases reach the rule's
    // size: probe forward a month at a time for a refused day, then search between.
    let mut lo = day("2018-06-01");
    if !source.answered(Some(lo), None, filter) {
        return None;
    }
    let mut hi = lo;
    for _ in 0..80 {
        hi += Duration::days(30);
        if !source.answered(Some(hi), None, filter) {
            break;
        }
        lo = hi;
    }
    if source.answered(Some(hi), None, filter) {
        return None;
    }
    for _ in 0..14 {
        if hi - lo <= Duration::days(1) {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        if source.answered(Some(mid), None, filter) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo == truth).then_some(lo)
}

/// Attack: single remedy amounts, by the difference of the totals from two consecutive
/// days on (the totals of every financial remedy of cases opened from that day).
fn remedies(source: &dyn Source, dir: &Path, start: NaiveDate, days: i64) -> Vec<String> {
    let per_day: BTreeMap<NaiveDate, (u64, f64)> = truth(
        dir,
        "SELECT CAST(k.opened_date AS VARCHAR) AS d, COUNT(*) AS n, SUM(r.amount_gbp) AS gbp \
         FROM recommendations r JOIN cases k ON k.case_key = r.case_key \
         WHERE r.kind = 'financial_remedy' GROUP BY k.opened_date",
    )
    .into_iter()
    .map(|r| {
        (
            day(&r["d"]),
            (r["n"].parse().unwrap(), r["gbp"].parse().unwrap()),
        )
    })
    .collect();
    let mut totals: Vec<Option<f64>> = Vec::new();
    for i in 0..=days {
        let d = start + Duration::days(i);
        let rows = source.rows("financial_remedies", Some(d), None, None);
        totals.push(
            rows.and_then(|r| first_count(&r, "total_gbp"))
                .and_then(|t| t.parse().ok()),
        );
    }
    let mut out = Vec::new();
    for i in 0..days as usize {
        let d = start + Duration::days(i as i64);
        if let (Some((1, gbp)), Some(a), Some(b)) = (per_day.get(&d), totals[i], totals[i + 1]) {
            // Recovered: the difference is the amount to within a quarter of it.
            if ((a - b) - gbp).abs() < 0.25 * gbp {
                out.push(format!(
                    "remedy of {d}: £{gbp} (published difference £{})",
                    a - b
                ));
            }
        }
    }
    out
}

/// The grid's periods of two calendar years: (from, to, the months they cover).
type GridPeriods = Vec<(Option<NaiveDate>, Option<NaiveDate>, Vec<usize>)>;

fn grid_periods(years: (i32, i32)) -> (Vec<NaiveDate>, GridPeriods) {
    let months: Vec<NaiveDate> = (years.0..=years.1)
        .flat_map(|y| (1..=12).map(move |m| NaiveDate::from_ymd_opt(y, m, 1).unwrap()))
        .collect();
    let last_day = |d: NaiveDate, n: i32| {
        let (y, m) = d.year_m(n);
        NaiveDate::from_ymd_opt(y, m, 1).unwrap() - Duration::days(1)
    };
    let mut periods: GridPeriods = Vec::new();
    for (i, m) in months.iter().enumerate() {
        periods.push((Some(*m), Some(last_day(*m, 1)), vec![i]));
    }
    for q in 0..months.len() / 3 {
        let m = months[3 * q];
        periods.push((Some(m), Some(last_day(m, 3)), (3 * q..3 * q + 3).collect()));
    }
    for y in 0..months.len() / 12 {
        let m = months[12 * y];
        periods.push((
            Some(m),
            Some(last_day(m, 12)),
            (12 * y..12 * y + 12).collect(),
        ));
        if 12 * y + 15 <= months.len() {
            let a = months[12 * y + 3];
            periods.push((
                Some(a),
                Some(last_day(a, 12)),
                (12 * y + 3..12 * y + 15).collect(),
            ));
        }
    }
    (months, periods)
}

/// Attack: single remedy amounts from the grid: the published totals of remedies of
/// every month, quarter, year and financial year of two years (amounts, so a linear
/// program without whole numbers); a month with one remedy is recovered when the totals
/// pin its amount to within a quarter of it.
fn remedies_grid(source: &dyn Source, dir: &Path, years: (i32, i32)) -> Vec<String> {
    let per_month: BTreeMap<String, (u64, f64)> = truth(
        dir,
        "SELECT CAST(date_trunc('month', k.opened_date) AS VARCHAR) AS m, COUNT(*) AS n, SUM(r.amount_gbp) AS gbp \
         FROM recommendations r JOIN cases k ON k.case_key = r.case_key \
         WHERE r.kind = 'financial_remedy' GROUP BY 1",
    )
    .into_iter()
    .map(|r| (r["m"][..10].to_string(), (r["n"].parse().unwrap(), r["gbp"].parse().unwrap())))
    .collect();
    let (months, periods) = grid_periods(years);
    let mut k = Knowledge::default();
    let vars: Vec<usize> = months
        .iter()
        .map(|m| {
            k.unknown(
                m.to_string(),
                per_month.get(&m.to_string()).map_or(0.0, |x| x.1),
            )
        })
        .collect();
    let mut facts = Vec::new();
    for (from, to, covered) in periods.iter().filter(|p| p.0.is_some()) {
        let Some(rows) = source.rows("financial_remedies", *from, *to, None) else {
            continue;
        };
        let Some(t) = first_count(&rows, "total_gbp").and_then(|t| t.parse::<f64>().ok()) else {
            continue;
        };
        // Rounded to at most £100 (the publication states its unit; an exact total is
        // within it too).
        let v: Vec<usize> = covered.iter().map(|&i| vars[i]).collect();
        facts.push((v, t - 50.0, t + 50.0));
    }
    let n = k.names.len();
    let bounds = vec![(0.0, f64::INFINITY); n];
    let mut out = Vec::new();
    for (i, m) in months.iter().enumerate() {
        let Some(&(1, gbp)) = per_month.get(&m.to_string()) else {
            continue;
        };
        let lo = optimum(n, &facts, &bounds, &[vars[i]], false, false);
        let hi = optimum(n, &facts, &bounds, &[vars[i]], true, false);
        if let (Some(lo), Some(hi)) = (lo, hi)
            && hi - lo < 0.5 * gbp
        {
            out.push(format!(
                "the one remedy of {m}: £{gbp} within £{lo:.0} to £{hi:.0}"
            ));
        }
    }
    eprintln!(
        "remedies on the grid ({}): {} totals",
        source.name(),
        facts.len()
    );
    out
}

/// Attack: a published figure that is one person's own value: a maximum (the longest
/// interval of a group is one episode's), a median or percentile of a group whose count
/// is suppressed or at most the threshold (with one case it is that case's value), or a
/// day count not rounded to whole weeks.
fn individual_values(source: &dyn Source) -> Vec<String> {
    let small = |v: Option<&String>| -> bool {
        v.is_none_or(|v| {
            v == "*"
                || v.parse::<f64>()
                    .is_ok_and(|n| (1.0..=THRESHOLD).contains(&n))
        })
    };
    let figure =
        |r: &BTreeMap<String, String>, c: &str| r.get(c).and_then(|v| v.parse::<f64>().ok());
    let mut out = Vec::new();
    if let Some(rows) = source.rows("delay_intervals", None, None, None) {
        for r in &rows {
            let what = format!("{}→{} ({})", r["from_event"], r["to_event"], r["urgency"]);
            if let Some(x) = figure(r, "max_days") {
                out.push(format!(
                    "delay {what}: the maximum {x} is one episode's interval"
                ));
            }
            for c in ["median_days", "p90_days"] {
                if let Some(x) = figure(r, c) {
                    if small(r.get("episodes")) {
                        out.push(format!(
                            "delay {what}: {c} {x} of a suppressed or small group"
                        ));
                    } else if x % 7.0 != 0.0 {
                        out.push(format!("delay {what}: {c} {x} days is not whole weeks"));
                    }
                }
            }
        }
    }
    if let Some(rows) = source.rows("learning", None, None, None) {
        let value = |m: &str| {
            rows.iter()
                .find(|r| r["measure"] == m)
                .map(|r| r["value"].clone())
        };
        let group = value("cases_decision_to_review_measured")
            .or_else(|| value("cases_with_learning_review"));
        for m in [
            "median_days_decision_to_review",
            "max_days_decision_to_review",
        ] {
            if let Some(x) = value(m).and_then(|v| v.parse::<f64>().ok()) {
                if m.starts_with("max") {
                    out.push(format!("learning: the maximum {x} is one case's interval"));
                } else if small(group.as_ref()) {
                    out.push(format!(
                        "learning: the median {x} of a suppressed or small group"
                    ));
                } else if x % 7.0 != 0.0 {
                    out.push(format!("learning: the median {x} days is not whole weeks"));
                }
            }
        }
    }
    if let Some(rows) = source.rows("financial_remedies", None, None, None) {
        for r in &rows {
            if figure(r, "median_gbp").is_some() && small(r.get("remedies")) {
                out.push("remedies: a median of a suppressed or small group".into());
            }
            if figure(r, "total_gbp").is_some() && small(r.get("remedies")) {
                out.push("remedies: a total of a suppressed or small group".into());
            }
        }
    }
    out
}

/// A generated warehouse of `cases` cases over `organisations` organisations.
fn warehouse(dir: &Path, cases: &str, organisations: &str, seed: &str) {
    let o = casework(
        dir,
        &[
            "generate",
            "--cases",
            cases,
            "--organisations",
            organisations,
            "--seed",
            seed,
            "--out",
            "g",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = casework(dir, &["ingest", "g", "--warehouse", "wh", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// The organisation with the most cases.
fn largest_org(dir: &Path) -> String {
    truth(
        dir,
        "SELECT organisation_code AS o, COUNT(*) AS n FROM cases GROUP BY organisation_code ORDER BY n DESC, o",
    )[0]["o"]
        .clone()
}

/// The smallest organisation with at least `min` cases.
fn small_org(dir: &Path, min: u64) -> String {
    let rows = truth(
        dir,
        "SELECT organisation_code AS o, COUNT(*) AS n FROM cases GROUP BY organisation_code ORDER BY n, o",
    );
    rows.into_iter()
        .find(|r| r["n"].parse::<u64>().unwrap() >= min)
        .map(|r| r["o"].clone())
        .unwrap()
}

fn report(problems: &mut Vec<String>, attack: &str, found: Vec<String>) {
    eprintln!("{attack}: {} recovered", found.len());
    for f in found.iter().take(8) {
        eprintln!("  {f}");
    }
    problems.extend(found.into_iter().map(|f| format!("{attack}: {f}")));
}

/// The attacks both surfaces face alike: the grid (months against quarters, sibling
/// organisations against the total), remedy differencing from `start` over `days`
/// days, remedies on the grid, and individual values.
fn shared_attacks(
    problems: &mut Vec<String>,
    source: &dyn Source,
    dir: &Path,
    start: NaiveDate,
    days: i64,
) {
    report(problems, "grid", grid(source, dir, (2021, 2022), "delay"));
    report(
        problems,
        "remedy differencing",
        remedies(source, dir, start, days),
    );
    report(
        problems,
        "remedies on the grid",
        remedies_grid(source, dir, (2021, 2022)),
    );
    report(problems, "individual values", individual_values(source));
}

fn assert_none(problems: Vec<String>) {
    assert_no_problems(&problems, "values recovered from published output");
}

#[test]
fn the_cli_publication_gives_nothing_away() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    warehouse(d, "4000", "8", "30");
    let cli = Cli { dir: d };
    let mut problems = Vec::new();
    let org = small_org(d, 40);
    let big = largest_org(d);
    report(
        &mut problems,
        "sliding windows",
        sliding(&cli, d, &big, day("2021-03-01"), 28, &[1, 7, 14, 28]),
    );
    report(
        &mut problems,
        "first case by counts",
        first_day(&cli, d, &org)
            .map(|d| format!("{org}: {d}"))
            .into_iter()
            .collect(),
    );
    shared_attacks(&mut problems, &cli, d, day("2021-03-01"), 20);
    assert_none(problems);
}

#[test]
fn serve_publication_gives_nothing_away() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    warehouse(d, "6000", "8", "31");
    let server = Server::start(
        d,
        &["--warehouse", "wh", "--publish", "--as-of", "2025-06-30"],
    );
    let http = Http { server: &server };
    let mut problems = Vec::new();
    // The largest organisation: its views hold enough cases for a 50-case rule.
    let big = largest_org(d);
    report(
        &mut problems,
        "sibling views",
        sliding(
            &http,
            d,
            &big,
            day("2023-03-01"),
            28,
            &[56, 57, 58, 59, 60, 61, 62, 63],
        ),
    );
    let small = small_org(d, 50);
    report(
        &mut problems,
        "first case by refusal",
        first_day_by_refusal(&http, d, &small)
            .map(|d| format!("{small}: {d}"))
            .into_iter()
            .collect(),
    );
    shared_attacks(&mut problems, &http, d, day("2023-06-01"), 14);
    // The explorer's pages (answered from the case index) show the published counts
    // only: for the views of the five smallest organisations, every count of cases and
    // of cases with a theme on the overview and each theme's page is one of the
    // published table's for the same view (or `*`), never a raw count.
    let rows = truth(
        d,
        "SELECT organisation_code AS o, COUNT(*) AS n FROM cases GROUP BY organisation_code ORDER BY n, o",
    );
    for r in rows.iter().take(5) {
        let (org, raw) = (&r["o"], &r["n"]);
        let q = format!("organisation={}", encode(org));
        let Some(published) =
            http.rows("theme_prevalence", None, None, Some(("organisation", org)))
        else {
            continue;
        };
        let allowed: std::collections::BTreeSet<String> = published
            .iter()
            .flat_map(|p| [p["cases"].clone(), p["cases_with_theme"].clone()])
            .collect();
        for target in std::iter::once(format!("/?{q}")).chain(
            published
                .iter()
                .map(|p| format!("/theme/{}?{q}", encode(&p["theme"]))),
        ) {
            let (status, _, body) = server.get(&target, &[]);
            if status != 200 {
                continue;
            }
            let page = String::from_utf8_lossy(&body).replace(',', "");
            // The counts the pages write: "N cases", "X of N cases", and the summary
            // table's count cells.
            let counts: Vec<String> = page
                .split("<td class=\"n\">")
                .skip(1)
                .filter_map(|c| c.split('<').next())
                .filter(|c| !c.contains('%'))
                .map(str::to_string)
                .chain(
                    page.split(" cases")
                        .filter_map(|before| before.rsplit(['>', ' ', '(']).next())
                        .filter(|n| n.parse::<u64>().is_ok())
                        .map(str::to_string),
                )
                .collect();
            for c in counts {
                if c != "*" && !allowed.contains(&c) {
                    problems.push(format!(
                        "{target}: shows {c}, not a published count (the raw count is {raw}; published: {allowed:?})"
                    ));
                }
            }
        }
    }
    // The organisation page's comparison column: never figures for a scope that the
    // publication does not publish.
    let (status, _, _) = server.get(&format!("/organisation/{big}?from=2023-06-03"), &[]);
    let (refused, _, _) = server.get("/table/theme_prevalence.csv?from=2023-06-03", &[]);
    if status == 200 && refused != 200 {
        problems.push(
            "organisation page: figures for all organisations in a scope refused elsewhere".into(),
        );
    }
    assert_none(problems);
}
