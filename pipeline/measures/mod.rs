//! Measures: the SQL files of `queries/`, run through DataFusion over the session that
//! `engine` builds, returned as rows of named values. The SQL is built into the binary;
//! `--queries DIR` runs an analyst's edited copies instead.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use chrono::{Datelike, NaiveDate};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::Scope;
use crate::error::{Error, Result};
use crate::spec::{CodeList, Interval, Thresholds};
use crate::stats;

/// A measure: its name, the SQL file it runs, and what it depends on.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub name: &'static str,
    pub sql: &'static str,
    /// Whether its figures depend on the delay thresholds (shown in its output).
    pub uses_thresholds: bool,
    /// Whether its figures depend on the as-of date (shown in its output).
    pub uses_as_of: bool,
}

macro_rules! measure {
    ($name:literal, $thresholds:literal, $as_of:literal) => {
        Measure {
            name: $name,
            sql: include_str!(concat!("../../queries/", $name, ".sql")),
            uses_thresholds: $thresholds,
            uses_as_of: $as_of,
        }
    };
}

/// Every measure, in the order reports present them.
pub const MEASURES: &[Measure] = &[
    measure!("theme_prevalence", false, false),
    measure!("theme_cooccurrence", false, false),
    measure!("theme_breakdown", false, false),
    measure!("delay_intervals", true, false),
    measure!("delay_coded_vs_measured", true, false),
    measure!("recommendations", false, true),
    measure!("financial_remedies", false, false),
    measure!("learning", false, false),
    measure!("organisation_profile", false, false),
    measure!("monthly_series", false, false),
];

pub fn find(name: &str) -> Result<&'static Measure> {
    MEASURES.iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<&str> = MEASURES.iter().map(|m| m.name).collect();
        Error::Usage(format!(
            "unknown measure {name:?}; the measures are: {}",
            names.join(", ")
        ))
    })
}

/// A measure's result, as its JSON is written.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub measure: String,
    pub scope: Scope,
    pub code_list: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<Interval>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// The disclosure rule, when the output was prepared for publication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclosure: Option<String>,
    /// Measure-specific fields beside the rows (a funnel's average and curve, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    pub rows: Vec<Map<String, Value>>,
}

impl Output {
    /// An empty output of the named measure under the run's scope.
    pub fn new(measure: &str, c: &Context<'_>) -> Output {
        Output {
            measure: measure.to_string(),
            scope: c.scope.clone(),
            code_list: c.codes.source.name.clone(),
            thresholds: None,
            as_of: None,
            disclosure: None,
            extra: Map::new(),
            rows: Vec::new(),
        }
    }
}

/// What a measure run needs besides the session.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub scope: &'a Scope,
    pub codes: &'a CodeList,
    pub thresholds: &'a Thresholds,
    pub as_of: NaiveDate,
    /// A folder of edited `.sql` files to use instead of the built-in ones.
    pub queries: Option<&'a Path>,
}

/// Runs one measure.
pub async fn run(ctx: &SessionContext, measure: &Measure, c: &Context<'_>) -> Result<Output> {
    let (sql, file) = match c.queries {
        Some(dir) => {
            let path = dir.join(format!("{}.sql", measure.name));
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            (text, path)
        }
        None => (
            measure.sql.to_string(),
            PathBuf::from(format!("queries/{}.sql", measure.name)),
        ),
    };
    let batches = sql_batches(ctx, &sql, &file, Vec::new()).await?;
    let mut rows = to_rows(&batches)?;
    match measure.name {
        "theme_prevalence" => add_intervals(&mut rows),
        "theme_cooccurrence" => add_all_themes_row(&mut rows, c.codes),
        "monthly_series" => fill_months(&mut rows, c.codes),
        _ => {}
    }
    let mut out = Output::new(measure.name, c);
    out.thresholds = measure
        .uses_thresholds
        .then(|| c.thresholds.intervals.clone());
    out.as_of = measure.uses_as_of.then(|| c.as_of.to_string());
    out.rows = rows;
    Ok(out)
}

/// Plans and runs SQL, binding named placeholders (`$name`) to `params`. `file` names
/// the SQL in errors.
pub async fn sql_batches(
    ctx: &SessionContext,
    sql: &str,
    file: &Path,
    params: Vec<(String, ScalarValue)>,
) -> Result<Vec<RecordBatch>> {
    let failed = |source: datafusion::error::DataFusionError| Error::Query {
        file: file.to_path_buf(),
        source,
    };
    let mut df = ctx.sql(sql).await.map_err(failed)?;
    if !params.is_empty() {
        df = df.with_param_values(params).map_err(failed)?;
    }
    df.collect().await.map_err(failed)
}

/// Record batches as rows of named JSON values (strings of every kind, numbers,
/// booleans, dates as `YYYY-MM-DD`).
pub fn to_rows(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>> {
    let mut buf = Vec::new();
    {
        let mut writer = arrow::json::ArrayWriter::new(&mut buf);
        for b in batches {
            writer.write(b)?;
        }
        writer.finish()?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_slice(&buf)
        .map_err(|e| Error::Arrow(arrow::error::ArrowError::JsonError(e.to_string())))?;
    let mut rows = Vec::new();
    if let Value::Array(items) = value {
        for item in items {
            if let Value::Object(map) = item {
                rows.push(complete(map, batches));
            }
        }
    }
    Ok(rows)
}

/// arrow's JSON writer leaves out null values; every row gets every column.
fn complete(map: Map<String, Value>, batches: &[RecordBatch]) -> Map<String, Value> {
    let Some(first) = batches.first() else {
        return map;
    };
    let mut out = Map::new();
    for field in first.schema().fields() {
        let v = map.get(field.name()).cloned().unwrap_or(Value::Null);
        out.insert(field.name().clone(), v);
    }
    out
}

fn number(row: &Map<String, Value>, key: &str) -> u64 {
    row.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// theme_prevalence: proportion, Wilson 95% and 99.8% intervals, phrase.
fn add_intervals(rows: &mut [Map<String, Value>]) {
    for row in rows {
        let (n, x) = (number(row, "cases"), number(row, "cases_with_theme"));
        let p = if n > 0 {
            Value::from(x as f64 / n as f64)
        } else {
            Value::Null
        };
        let phrase = p.as_f64().map(stats::phrase);
        row.insert("proportion".into(), p);
        for (level, low, high) in [
            (0.95, "ci95_low", "ci95_high"),
            (0.998, "ci998_low", "ci998_high"),
        ] {
            let ci = stats::wilson(x, n, level);
            row.insert(low.into(), ci.map_or(Value::Null, |c| Value::from(c.low)));
            row.insert(high.into(), ci.map_or(Value::Null, |c| Value::from(c.high)));
        }
        row.insert("phrase".into(), phrase.map_or(Value::Null, Value::from));
    }
}

/// theme_cooccurrence: the row of all themes together is always present.
fn add_all_themes_row(rows: &mut Vec<Map<String, Value>>, codes: &CodeList) {
    let themes = codes.themes();
    let all = themes.join(" + ");
    if !rows
        .iter()
        .any(|r| r.get("combination").and_then(Value::as_str) == Some(all.as_str()))
    {
        let mut row = Map::new();
        row.insert("combination".into(), Value::from(all));
        row.insert("themes".into(), Value::from(themes.len()));
        row.insert("cases".into(), Value::from(0));
        rows.insert(0, row);
    }
}

/// monthly_series: months without cases between the first and the last, with zeros.
fn fill_months(rows: &mut Vec<Map<String, Value>>, codes: &CodeList) {
    let month_of = |r: &Map<String, Value>| {
        r.get("month")
            .and_then(Value::as_str)
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    let (Some(first), Some(last)) = (
        rows.iter().filter_map(month_of).min(),
        rows.iter().filter_map(month_of).max(),
    ) else {
        return;
    };
    let mut filled = Vec::new();
    let mut month = first;
    while month <= last {
        let present: Vec<&Map<String, Value>> =
            rows.iter().filter(|r| month_of(r) == Some(month)).collect();
        if present.is_empty() {
            for theme in codes.themes() {
                let mut row = Map::new();
                row.insert("month".into(), Value::from(month.to_string()));
                row.insert("theme".into(), Value::from(theme));
                row.insert("cases".into(), Value::from(0));
                row.insert("cases_with_theme".into(), Value::from(0));
                filled.push(row);
            }
        } else {
            filled.extend(present.into_iter().cloned());
        }
        month = next_month(month);
    }
    *rows = filled;
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("first of a month")
}
