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

pub mod rows;

pub use rows::{
    Breakdown, Cooccurrence, Count, CountLike, DelayInterval, FigureLike, Form, Learning,
    MonthTheme, NamedCount, OrganisationTheme, Place, Prevalence, Public, Raw, Recommendation,
    Remedies, Rule, Shown, Table, family,
};

use crate::engine::Scope;
use crate::error::{Error, Result};
use crate::spec::{CodeList, Interval, Thresholds};

/// A measure: its name, the SQL file it runs, and what it depends on.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub name: &'static str,
    pub sql: &'static str,
    /// Whether its figures depend on the delay thresholds (shown in its output).
    pub uses_thresholds: bool,
    /// Whether its figures depend on the as-of date (shown in its output).
    pub uses_as_of: bool,
    /// A stored table without whose rows the measure has none: over a warehouse that
    /// stores none, its shipped query is not run (see [`empty_input`]).
    pub rows_from: Option<&'static str>,
}

macro_rules! measure {
    ($name:literal, $thresholds:literal, $as_of:literal) => {
        measure!($name, $thresholds, $as_of, None)
    };
    ($name:literal, $thresholds:literal, $as_of:literal, $rows_from:expr) => {
        Measure {
            name: $name,
            sql: include_str!(concat!("../../queries/", $name, ".sql")),
            uses_thresholds: $thresholds,
            uses_as_of: $as_of,
            rows_from: $rows_from,
        }
    };
}

/// Every measure, in the order reports present them.
pub const MEASURES: &[Measure] = &[
    measure!("theme_prevalence", false, false),
    measure!("theme_cooccurrence", false, false),
    measure!("theme_breakdown", false, false),
    measure!("delay_intervals", true, false, Some("events")),
    measure!("delay_coded_vs_measured", true, false),
    measure!("recommendations", false, true),
    measure!("financial_remedies", false, false),
    measure!("learning", false, false),
    measure!("organisation_profile", false, false),
    measure!("monthly_series", false, false),
    measure!("coding_agreement", false, false),
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

/// A measure's result, as its JSON is written: `Output<Raw>` as computed,
/// `Output<Public>` after disclosure control ([`Output::publish`]).
#[derive(Debug, Clone, Serialize)]
#[serde(bound(serialize = ""))]
pub struct Output<F: Form = Raw> {
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
    pub rows: Table<F>,
}

impl Output<Raw> {
    /// An output of the named measure under the run's scope, with its rows.
    pub fn new(measure: &str, c: &Context<'_>, rows: Table) -> Output {
        Output {
            measure: measure.to_string(),
            scope: c.scope.clone(),
            code_list: c.codes.source.name.clone(),
            thresholds: None,
            as_of: None,
            disclosure: None,
            extra: Map::new(),
            rows,
        }
    }

    /// The output under disclosure control (see [`Table::publish`]), stating the rule.
    pub fn publish(&self, r: &dyn rows::Rule) -> Output<Public> {
        Output {
            measure: self.measure.clone(),
            scope: self.scope.clone(),
            code_list: self.code_list.clone(),
            thresholds: self.thresholds.clone(),
            as_of: self.as_of.clone(),
            disclosure: Some(r.text()),
            extra: self.extra.clone(),
            rows: self.rows.publish(r),
        }
    }
}

impl<F: Form> Output<F> {
    /// The same output with other rows (of another form).
    pub fn with_rows<G: Form>(self, rows: Table<G>) -> Output<G> {
        Output {
            measure: self.measure,
            scope: self.scope,
            code_list: self.code_list,
            thresholds: self.thresholds,
            as_of: self.as_of,
            disclosure: self.disclosure,
            extra: self.extra,
            rows,
        }
    }
}

/// The result of free SQL (`casework query`): rows of named values, not a measure's.
#[derive(Debug, Clone, Serialize)]
pub struct QueryOutput {
    pub measure: String,
    pub scope: Scope,
    pub code_list: String,
    pub rows: Vec<Map<String, Value>>,
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
    let batches = if c.queries.is_none() && empty_input(ctx, measure).await? {
        Vec::new()
    } else {
        sql_batches(ctx, &sql, &file, Vec::new()).await?
    };
    let rows = typed(measure.name, to_rows(&batches)?, &file, c.codes)?;
    let mut out = Output::new(measure.name, c, rows);
    out.thresholds = measure
        .uses_thresholds
        .then(|| c.thresholds.intervals.clone());
    out.as_of = measure.uses_as_of.then(|| c.as_of.to_string());
    Ok(out)
}

/// Whether the warehouse stores no rows of the table `measure` takes its rows from
/// ([`Measure::rows_from`]): then it has none, and its query is not run. For
/// `delay_intervals` over a warehouse with no events (a complaints study without them):
/// its query takes its percentiles through a window over the intervals' counts, and
/// Ballista 55 never finishes a window over an empty shuffled input
/// (`tests/it/ballista.rs`). The local engine gives the same empty answer either way.
async fn empty_input(ctx: &SessionContext, measure: &Measure) -> Result<bool> {
    let Some(table) = measure.rows_from else {
        return Ok(false);
    };
    let stored = ctx.table_provider(format!("stored_{table}")).await?;
    let stored: &dyn std::any::Any = stored.as_ref();
    Ok(stored.is::<datafusion::datasource::empty::EmptyTable>())
}

/// Reads a measure's rows into its row type, then adds what casework computes beside the
/// SQL (intervals, the all-themes combination, empty months).
pub(crate) fn typed(
    name: &str,
    rows: Vec<Map<String, Value>>,
    file: &Path,
    codes: &CodeList,
) -> Result<Table> {
    fn read<R: serde::de::DeserializeOwned>(
        rows: Vec<Map<String, Value>>,
        name: &str,
        file: &Path,
    ) -> Result<Vec<R>> {
        rows.into_iter()
            .map(|m| {
                serde_json::from_value(Value::Object(m)).map_err(|e| Error::Columns {
                    file: file.to_path_buf(),
                    message: format!(
                        "its rows do not have the columns of measure {name} ({e}); \
                         keep the measure's columns (queries/README.md), or run other SQL \
                         with `casework query -f`"
                    ),
                })
            })
            .collect()
    }
    Ok(match name {
        "theme_prevalence" => Table::ThemePrevalence(
            read::<Prevalence>(rows, name, file)?
                .into_iter()
                .map(Prevalence::with_intervals)
                .collect(),
        ),
        "theme_cooccurrence" => {
            let mut r = read(rows, name, file)?;
            add_all_themes_row(&mut r, codes);
            Table::ThemeCooccurrence(r)
        }
        "theme_breakdown" => Table::ThemeBreakdown(read(rows, name, file)?),
        "delay_intervals" => Table::DelayIntervals(read(rows, name, file)?),
        "delay_coded_vs_measured" => Table::DelayCodedVsMeasured(read(rows, name, file)?),
        "recommendations" => Table::Recommendations(read(rows, name, file)?),
        "financial_remedies" => Table::FinancialRemedies(read(rows, name, file)?),
        "learning" => Table::Learning(read(rows, name, file)?),
        "organisation_profile" => Table::OrganisationProfile(read(rows, name, file)?),
        "coding_agreement" => Table::CodingAgreement(read(rows, name, file)?),
        "monthly_series" => {
            let mut r = read(rows, name, file)?;
            fill_months(&mut r, codes);
            Table::MonthlySeries(r)
        }
        other => {
            return Err(Error::Usage(format!(
                "{other}: no row type for this measure"
            )));
        }
    })
}

/// Plans and runs SQL, binding named placeholders (`$name`) to `params`. `file` names
/// the SQL in errors.
pub async fn sql_batches(
    ctx: &SessionContext,
    sql: &str,
    file: &Path,
    params: Vec<(String, ScalarValue)>,
) -> Result<Vec<RecordBatch>> {
    let failed = |source| crate::engine::query_failed(ctx, file, source);
    let mut df = ctx.sql(sql).await.map_err(failed)?;
    if !params.is_empty() {
        df = df.with_param_values(params).map_err(failed)?;
    }
    df.collect().await.map_err(failed)
}

/// A text cell as a CSV file holds it: one that a spreadsheet would read as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return: an organisation named
/// `=HYPERLINK(…)`) starts with an apostrophe instead, as OWASP's advice on CSV injection
/// has it. Numbers are never text here, so a negative number is untouched.
pub fn csv_text_cell(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// Rows of named values as CSV, columns in the order of the first row (strings as they
/// are but for [`csv_text_cell`], numbers and booleans as JSON writes them, nulls empty).
pub fn rows_csv(rows: &[Map<String, Value>]) -> String {
    let cell = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => csv_text_cell(s).into_owned(),
        other => other.to_string(),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    if let Some(first) = rows.first() {
        let _ = w.write_record(first.keys());
        for r in rows {
            let _ = w.write_record(first.keys().map(|k| r.get(k).map(cell).unwrap_or_default()));
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A table of text as CSV: its header, then its rows; `numeric[r][c]` says which cells
/// are numbers (others pass [`csv_text_cell`]; none given: every cell is text).
pub fn table_csv(
    columns: &[String],
    rows: &[Vec<String>],
    numeric: Option<&[Vec<bool>]>,
) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(columns.iter().map(|c| csv_text_cell(c).into_owned()));
    for (i, r) in rows.iter().enumerate() {
        let _ = w.write_record(r.iter().enumerate().map(|(j, v)| {
            let number = numeric
                .and_then(|n| n.get(i))
                .and_then(|row| row.get(j))
                .copied()
                .unwrap_or(false);
            if number {
                v.clone()
            } else {
                csv_text_cell(v).into_owned()
            }
        }));
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A column of text as a plain `StringArray`, whatever string type DataFusion gives it
/// (`Utf8View` from Parquet, a dictionary of codes, `Utf8`).
pub fn text_column(column: &arrow::array::ArrayRef) -> Result<arrow::array::StringArray> {
    use arrow::array::AsArray;
    let utf8 = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
    Ok(utf8.as_string::<i32>().clone())
}

/// The first column of `sql`'s rows, as text (null as empty).
pub async fn first_column_text(
    ctx: &SessionContext,
    sql: &str,
    file: &Path,
) -> Result<Vec<String>> {
    use arrow::array::Array;
    let mut out = Vec::new();
    for b in sql_batches(ctx, sql, file, Vec::new()).await? {
        let col = text_column(b.column(0))?;
        out.extend((0..col.len()).map(|i| {
            if col.is_null(i) {
                String::new()
            } else {
                col.value(i).to_string()
            }
        }));
    }
    Ok(out)
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

/// theme_cooccurrence: the row of all themes together is always present.
fn add_all_themes_row(rows: &mut Vec<Cooccurrence>, codes: &CodeList) {
    let themes = codes.themes();
    let all = themes.join(" + ");
    if !rows.iter().any(|r| r.combination == all) {
        rows.insert(
            0,
            Cooccurrence {
                combination: all,
                themes: themes.len() as u64,
                cases: Count(0),
            },
        );
    }
}

/// monthly_series: months without cases between the first and the last, with zeros.
/// The rows are read once, by month (a series of many months was quadratic).
fn fill_months(rows: &mut Vec<MonthTheme>, codes: &CodeList) {
    let mut by_month: std::collections::BTreeMap<NaiveDate, Vec<MonthTheme>> =
        std::collections::BTreeMap::new();
    let mut undated = Vec::new();
    for r in rows.drain(..) {
        match NaiveDate::parse_from_str(&r.month, "%Y-%m-%d") {
            Ok(m) => by_month.entry(m).or_default().push(r),
            Err(_) => undated.push(r),
        }
    }
    let (Some(&first), Some(&last)) = (by_month.keys().next(), by_month.keys().next_back()) else {
        *rows = undated;
        return;
    };
    let mut filled = Vec::new();
    let mut month = first;
    while month <= last {
        match by_month.remove(&month) {
            Some(present) => filled.extend(present),
            None => {
                for theme in codes.themes() {
                    filled.push(MonthTheme {
                        month: month.to_string(),
                        theme,
                        cases: Count(0),
                        cases_with_theme: Count(0),
                    });
                }
            }
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
