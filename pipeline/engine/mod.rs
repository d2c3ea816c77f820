//! The one place a DataFusion `SessionContext` is built: the warehouse's committed tables,
//! the code list and thresholds in force, the run's parameters, and the scope.
//!
//! Tables every query sees:
//!
//! | name | what |
//! | --- | --- |
//! | `cases` | the committed cases within the scope, with `opened_year` |
//! | `findings`, `events`, `recommendations` | rows of the cases in scope |
//! | `codes` | the code list: `code`, `theme`, `meaning`, `theme_order` (1, 2, … by first appearance) |
//! | `thresholds` | one row per interval and urgency: `interval_no`, `from_event`, `to_event`, `urgency` (`any`, `missing` or a value), `threshold_hours`, `date_only_hours` |
//! | `parameters` | one row: `as_of` (date), `date_field` (`opened_date` or `closed_date`) |
//! | `study` | one row: `delay_theme` (null when the study has none), `repeat_when_a_code_recurs`, `has_repeat_rule` |
//! | `repeat_codes` | the study's codes that mean a repeated failing: `code` |
//! | `stored_cases`, … | the committed tables without the scope |
//! | `themes`, `case_themes`, `case_theme_bits`, `episodes`, `episode_intervals` | shared views, defined in `queries/shared/` (`episodes` computed once per session on the local engine: [`Materialised`]) |
//!
//! Scope values reach DataFusion as typed literals in the logical plan (the DataFrame
//! filter API), never as SQL text.
//!
//! Every table is one that a logical plan can carry to another process (Parquet listing
//! tables, views, `VALUES` for the code list, thresholds and parameters, empty tables),
//! so the same session runs on Ballista (`Engine::Ballista`, cargo feature `ballista`).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, col, lit};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;

use crate::check;
use crate::error::{Error, Result};
use crate::spec::study::StudyFile;
use crate::spec::{CodeList, RecordType, Thresholds};
use crate::warehouse::{Manifest, Warehouse};
use materialised::Materialised;

mod materialised;

pub use crate::spec::grid::DateField;

/// The cases a measure covers. Every field is optional; none set means every case.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Scope {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    /// A period of the calendar grid (`--period`): the cases whose date falls in it, a
    /// date known only to the year counting in its calendar year alone (spec::grid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<crate::spec::grid::Period>,
    pub date_field: DateField,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Only the findings at this stage (`--stage`): it selects findings, not cases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Several values of a grouping, or values left out (`casework serve`'s filters:
    /// `region=A&region=B`, `exclude=region`). Each is a filter of its own, beside the
    /// single values above.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
}

/// One of the groupings every case has: the kinds of filter a publication may offer are
/// the same four.
pub use crate::spec::publication::Filter as Grouping;

/// The cases whose grouping has one of `values` or, with `exclude`, none of them. A case
/// with no value (a missing region) is in no list of values, and so is kept by an
/// exclusion and left out by an inclusion.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Choice {
    pub grouping: Grouping,
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exclude: bool,
}

impl Scope {
    /// The groupings given one value each (`--organisation`, `--region`, ...).
    pub fn singles(&self) -> impl Iterator<Item = (Grouping, &str)> {
        [
            (Grouping::Organisation, &self.organisation),
            (Grouping::Region, &self.region),
            (Grouping::Source, &self.source),
            (Grouping::Decision, &self.decision),
            (Grouping::Service, &self.service),
            (Grouping::Stage, &self.stage),
        ]
        .into_iter()
        .filter_map(|(g, v)| v.as_deref().map(|v| (g, v)))
    }

    /// The filter on `cases`, as DataFusion expressions with literal values.
    fn filters(&self) -> Vec<Expr> {
        let mut filters = Vec::new();
        let date = self.date_field.column();
        if let Some(from) = self.from {
            filters.push(col(date).gt_eq(lit(date32(from))));
        }
        if let Some(to) = self.to {
            filters.push(col(date).lt_eq(lit(date32(to))));
        }
        if let Some(period) = self.period {
            use crate::spec::grid::Level;
            if let Some((first, last)) = period.days() {
                filters.push(col(date).gt_eq(lit(date32(first))));
                filters.push(col(date).lt_eq(lit(date32(last))));
                if period.level() != Level::Year {
                    // A date known only to the year is in no month, quarter or
                    // financial year.
                    use crate::spec::dates::{Precision, precision_column};
                    let precision = col(precision_column(date));
                    filters.push(
                        precision
                            .clone()
                            .is_null()
                            .or(precision.not_eq(lit(Precision::Year.name()))),
                    );
                }
            }
        }
        filters.extend(self.grouping_filters(false));
        filters
    }

    /// The filters of the groupings of cases (`findings`: of the stage), as literal
    /// comparisons: one value, several, or values left out (a missing value is kept by
    /// an exclusion and left out by an inclusion).
    fn grouping_filters(&self, findings: bool) -> Vec<Expr> {
        let mut filters = Vec::new();
        let column = |g: Grouping| match g {
            // Dictionary-encoded in the warehouse: compared as text.
            Grouping::Source | Grouping::Decision | Grouping::Stage => {
                datafusion::logical_expr::cast(col(g.column()), DataType::Utf8)
            }
            g => col(g.column()),
        };
        for (g, v) in self.singles() {
            if g.of_findings() == findings {
                filters.push(column(g).eq(lit(v)));
            }
        }
        for c in self
            .choices
            .iter()
            .filter(|c| c.grouping.of_findings() == findings)
        {
            let column = column(c.grouping);
            let values: Vec<Expr> = c.values.iter().map(|v| lit(v.as_str())).collect();
            filters.push(if c.exclude {
                column.clone().is_null().or(column.in_list(values, true))
            } else {
                column.in_list(values, false)
            });
        }
        filters
    }
}

fn date32(d: NaiveDate) -> ScalarValue {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    ScalarValue::Date32(Some((d - epoch).num_days() as i32))
}

/// The default memory bound of a session: 1 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// Where the queries run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion in this process, under the memory limit.
    #[default]
    Local,
    /// Apache DataFusion Ballista: with no scheduler URL, a scheduler and an executor
    /// start in this process (standalone); with one (`df://host:50050`), the queries run
    /// on that cluster, whose executors must reach the warehouse at the same path.
    Ballista { scheduler: Option<String> },
}

/// Everything a session is built from.
#[derive(Clone)]
pub struct Inputs<'a> {
    pub warehouse: &'a Warehouse,
    pub codes: &'a CodeList,
    pub thresholds: &'a Thresholds,
    pub scope: &'a Scope,
    pub as_of: NaiveDate,
    /// Bytes the query engine may hold before it spills to disk (a fair spill pool:
    /// each spilling operator gets an equal share).
    pub memory_limit: usize,
    /// A pool shared by every session of the process (`casework serve`: one bound for
    /// all requests); `None`: a pool of `memory_limit` for this session.
    pub pool: Option<Arc<dyn datafusion::execution::memory_pool::MemoryPool>>,
    pub engine: &'a Engine,
    /// The study: which theme is the delay theme, which codes mean a repeated failing.
    pub study: &'a StudyFile,
}

/// Parses a memory size: bytes, or a number with KiB, MiB, GiB (or K, M, G).
pub fn parse_memory(text: &str) -> std::result::Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?}: write a size such as 512MiB or 2GiB"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use KiB, MiB or GiB)"
            ));
        }
    };
    Ok((n * factor) as usize)
}

/// Builds the session over the committed warehouse. Errors when it holds nothing yet.
pub async fn session(inputs: &Inputs<'_>) -> Result<SessionContext> {
    let manifest = inputs.warehouse.committed()?;
    // DATAFUSION_* environment variables set any DataFusion option (for example
    // DATAFUSION_OPTIMIZER_PREFER_HASH_JOIN=false for joins that spill; docs/scaling.md).
    let mut config = SessionConfig::from_env()?
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .with_information_schema(true);
    if manifest.order_claims_untrusted() {
        // Files written before issue 13's fix declare a `case_id` order they do not have.
        // DataFusion 55 takes a file's order from its metadata only while it collects
        // statistics (ListingTable::list_files_for_scan), so without statistics no order
        // is taken: slower plans, right answers. The next ingest rewrites the files.
        config.options_mut().execution.collect_statistics = false;
        eprintln!(
            "casework: {}: written by an older casework whose files claim a row order they \
             do not have; their metadata is not used (slower). The next ingest rewrites them.",
            inputs.warehouse.root.display()
        );
    }
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(
            inputs
                .pool
                .clone()
                .unwrap_or_else(|| Arc::new(FairSpillPool::new(inputs.memory_limit))),
        )
        .build_arc()?;
    if let Some(remote) = &inputs.warehouse.remote {
        runtime.register_object_store(&remote.url, remote.store.clone());
    }
    // The committed files, kept with the session so that a query failing on a damaged
    // file can name it ([`query_failed`]).
    if inputs.warehouse.remote.is_none() {
        let files = manifest
            .tables
            .values()
            .flat_map(|t| t.files.iter().map(|f| inputs.warehouse.root.join(f)))
            .collect();
        config = config.with_extension(Arc::new(WarehouseFiles(files)));
    }
    let ctx = context(inputs.engine, config, runtime).await?;
    for t in RecordType::ALL {
        let stored = format!("stored_{t}");
        register_stored(&ctx, inputs.warehouse, &manifest, t, &stored).await?;
    }
    register_scoped(&ctx, inputs.scope).await?;
    register_memory(&ctx, "codes", codes_batch(inputs.codes)?)?;
    register_memory(&ctx, "thresholds", thresholds_batch(inputs.thresholds)?)?;
    register_memory(&ctx, "parameters", parameters_batch(inputs)?)?;
    register_memory(&ctx, "study", study_batch(inputs.study)?)?;
    register_memory(&ctx, "repeat_codes", repeat_codes_batch(inputs.study)?)?;
    for (name, sql) in SHARED_VIEWS {
        let file = format!("queries/shared/{name}.sql");
        let materialise = MATERIALISED.contains(name) && matches!(inputs.engine, Engine::Local);
        register_view(&ctx, name, sql, &file, materialise).await?;
    }
    Ok(ctx)
}

/// The warehouse files a session reads (a session config extension).
pub struct WarehouseFiles(pub Vec<std::path::PathBuf>);

/// The error of SQL (from `file`) that failed: when DataFusion's error is a Parquet one,
/// which does not name the file, the first committed file whose footer cannot be read is
/// named instead.
pub fn query_failed(
    ctx: &SessionContext,
    file: &std::path::Path,
    source: datafusion::error::DataFusionError,
) -> Error {
    let parquet = matches!(
        source.find_root(),
        datafusion::error::DataFusionError::ParquetError(_)
    ) || source.to_string().contains("Parquet error");
    if parquet
        && let Some(files) = ctx.state().config().get_extension::<WarehouseFiles>()
        && let Some(named) = crate::warehouse::first_unreadable(&files.0)
    {
        return named;
    }
    Error::Query {
        file: file.to_path_buf(),
        source,
    }
}

/// Registers the view `name` of `sql` (read from `file`, for errors): computed once and
/// kept for the session when `materialise` (the local engine only: see `Materialised`),
/// else computed wherever a query names it.
pub async fn register_view(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    file: &str,
    materialise: bool,
) -> Result<()> {
    let view = ctx
        .sql(sql)
        .await
        .map_err(|source| query_failed(ctx, std::path::Path::new(file), source))?;
    if materialise {
        let table = Materialised::new(view.into_unoptimized_plan())
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        ctx.register_table(name, Arc::new(table))?;
    } else {
        ctx.register_table(name, view.into_view())?;
    }
    Ok(())
}

async fn context(
    engine: &Engine,
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
) -> Result<SessionContext> {
    match engine {
        Engine::Local => Ok(SessionContext::new_with_config_rt(config, runtime)),
        #[cfg(feature = "ballista")]
        Engine::Ballista { scheduler } => {
            use ballista::prelude::{SessionConfigExt, SessionContextExt};
            use datafusion::execution::SessionStateBuilder;
            // Ballista's defaults first, then ours (its defaults would replace them).
            let partitions = config.target_partitions();
            let config = config
                .upgrade_for_ballista()
                .with_target_partitions(partitions)
                .with_information_schema(true);
            let state = SessionStateBuilder::new()
                .with_config(config)
                .with_runtime_env(runtime)
                .with_default_features()
                .build();
            Ok(match scheduler {
                None => SessionContext::standalone_with_state(state).await?,
                Some(url) => SessionContext::remote_with_state(url, state).await?,
            })
        }
        #[cfg(not(feature = "ballista"))]
        Engine::Ballista { .. } => Err(Error::Usage(
            "--engine ballista needs a casework built with the ballista feature \
             (cargo install --path . --features ballista)"
                .into(),
        )),
    }
}

/// The shared views computed once per session, at their first use (local engine; see
/// [`Materialised`]).
const MATERIALISED: &[&str] = &["episodes"];

/// Views every measure may use, defined once (in this order: later ones may use
/// earlier ones).
pub const SHARED_VIEWS: &[(&str, &str)] = &[
    ("themes", include_str!("../../queries/shared/themes.sql")),
    (
        "case_themes",
        include_str!("../../queries/shared/case_themes.sql"),
    ),
    (
        "case_theme_bits",
        include_str!("../../queries/shared/case_theme_bits.sql"),
    ),
    (
        "episodes",
        include_str!("../../queries/shared/episodes.sql"),
    ),
    (
        "episode_intervals",
        include_str!("../../queries/shared/episode_intervals.sql"),
    ),
];

/// The stored schema of a table as DataFusion sees it: cases gain `opened_year`.
pub fn table_schema(t: RecordType) -> SchemaRef {
    let schema = check::schema(t);
    if t == RecordType::Cases {
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("opened_year", DataType::Int32, false));
        Arc::new(Schema::new(fields))
    } else {
        schema
    }
}

/// The schema the stored tables are read with: their text columns as `Utf8View`.
/// DataFusion's Parquet reader then keeps short strings inline instead of copying each
/// into one buffer, and groups and compares them as integers (all measures at a million
/// cases 4.6 s to 3.9 s, docs/benchmarks.md). The files are unchanged: this is only how
/// they are read, and every reader of query results takes either string type
/// (`measures::text_column`).
fn as_views(schema: SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type() == &DataType::Utf8 {
                f.as_ref().clone().with_data_type(DataType::Utf8View)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

async fn register_stored(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    manifest: &Manifest,
    t: RecordType,
    name: &str,
) -> Result<()> {
    let has_files = manifest
        .tables
        .get(t.name())
        .is_some_and(|f| !f.files.is_empty());
    if !has_files {
        ctx.register_table(name, Arc::new(EmptyTable::new(table_schema(t))))?;
        return Ok(());
    }
    let url = match &warehouse.remote {
        Some(remote) => {
            ListingTableUrl::parse(format!("{}{}/{}/", remote.url, manifest.version, t))?
        }
        None => {
            let dir = warehouse.root.join(&manifest.version).join(t.name());
            let dir = std::path::absolute(&dir).map_err(|e| Error::io(&dir, e))?;
            ListingTableUrl::parse(format!("{}/", dir.display()))?
        }
    };
    let mut options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    if t == RecordType::Cases {
        options =
            options.with_table_partition_cols(vec![("opened_year".to_string(), DataType::Int32)]);
    }
    // Files written before `case_key` existed: `case_id` stands in for it (the
    // measures only compare and count keys, so a text key gives the same answers).
    let keyed = manifest.case_keys;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(as_views(if keyed {
            check::schema(t)
        } else {
            check::schema_without_case_key(t)
        }));
    let table = ListingTable::try_new(config)?;
    if keyed {
        ctx.register_table(name, Arc::new(table))?;
    } else {
        let df = ctx.read_table(Arc::new(table))?;
        let mut columns: Vec<Expr> = df
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        columns.push(col("case_id").alias(check::CASE_KEY));
        ctx.register_table(name, df.select(columns)?.into_view())?;
    }
    Ok(())
}

/// Registers `cases` (filtered by the scope) and the other record tables (restricted to
/// the cases in scope). Without a scope they are the stored tables themselves.
async fn register_scoped(ctx: &SessionContext, scope: &Scope) -> Result<()> {
    let filters = scope.filters();
    let of_findings = scope.grouping_filters(true);
    let mut cases = ctx.table("stored_cases").await?;
    for f in &filters {
        cases = cases.filter(f.clone())?;
    }
    ctx.register_table("cases", cases.clone().into_view())?;
    for t in [
        RecordType::Findings,
        RecordType::Events,
        RecordType::Recommendations,
        RecordType::Codings,
    ] {
        let mut stored = ctx.table(format!("stored_{t}").as_str()).await?;
        if t == RecordType::Findings {
            // A stage selects findings: the cases stay, with fewer findings.
            for f in &of_findings {
                stored = stored.filter(f.clone())?;
            }
        }
        let table = if filters.is_empty() {
            stored
        } else {
            let keys = cases
                .clone()
                .select(vec![col(check::CASE_KEY).alias("scope_case_key")])?;
            stored.join(
                keys,
                JoinType::LeftSemi,
                &[check::CASE_KEY],
                &["scope_case_key"],
                None,
            )?
        };
        ctx.register_table(t.name(), table.into_view())?;
    }
    Ok(())
}

/// Registers a small table given as a batch: a view over `VALUES` of typed literals
/// (no SQL text), or an empty table when it has no rows.
fn register_memory(ctx: &SessionContext, name: &str, batch: RecordBatch) -> Result<()> {
    let schema = batch.schema();
    let table: Arc<dyn TableProvider> = if batch.num_rows() == 0 {
        Arc::new(EmptyTable::new(schema))
    } else {
        let mut rows = Vec::with_capacity(batch.num_rows());
        for r in 0..batch.num_rows() {
            let row = batch
                .columns()
                .iter()
                .map(|c| ScalarValue::try_from_array(c, r).map(lit))
                .collect::<datafusion::error::Result<Vec<Expr>>>()?;
            rows.push(row);
        }
        let names = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| col(format!("column{}", i + 1)).alias(f.name()));
        let plan = LogicalPlanBuilder::values(rows)?.project(names)?.build()?;
        Arc::new(ViewTable::new(plan, None))
    };
    ctx.register_table(name, table)?;
    Ok(())
}

fn codes_batch(codes: &CodeList) -> Result<RecordBatch> {
    let themes = codes.themes();
    let order: Vec<i32> = codes
        .codes
        .iter()
        .map(|c| themes.iter().position(|t| *t == c.theme).unwrap_or(0) as i32 + 1)
        .collect();
    let column = |f: fn(&crate::spec::Code) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(codes.codes.iter().map(f)))
    };
    Ok(RecordBatch::try_from_iter(vec![
        ("code", column(|c| &c.code)),
        ("theme", column(|c| &c.theme)),
        ("meaning", column(|c| &c.meaning)),
        ("theme_order", Arc::new(Int32Array::from(order)) as ArrayRef),
        (
            "code_order",
            Arc::new(Int32Array::from_iter_values(1..=codes.codes.len() as i32)) as ArrayRef,
        ),
    ])?)
}

fn thresholds_batch(thresholds: &Thresholds) -> Result<RecordBatch> {
    let (mut no, mut from, mut to, mut urgency, mut hours, mut date_only) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (i, t) in thresholds.intervals.iter().enumerate() {
        for u in &t.urgency {
            no.push(i as i32 + 1);
            from.push(t.from.clone());
            to.push(t.to.clone());
            urgency.push(u.clone());
            hours.push(t.threshold_hours());
            date_only.push(t.date_only_days.map(|d| d * 24.0));
        }
    }
    Ok(RecordBatch::try_from_iter(vec![
        ("interval_no", Arc::new(Int32Array::from(no)) as ArrayRef),
        ("from_event", Arc::new(StringArray::from(from))),
        ("to_event", Arc::new(StringArray::from(to))),
        ("urgency", Arc::new(StringArray::from(urgency))),
        ("threshold_hours", Arc::new(Float64Array::from(hours))),
        ("date_only_hours", Arc::new(Float64Array::from(date_only))),
    ])?)
}

/// The study's settings the SQL reads: one row.
fn study_batch(study: &StudyFile) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("delay_theme", DataType::Utf8, true),
            Field::new("repeat_when_a_code_recurs", DataType::Boolean, false),
            Field::new("has_repeat_rule", DataType::Boolean, false),
        ])),
        vec![
            Arc::new(StringArray::from(vec![study.delay_theme.clone()])) as ArrayRef,
            Arc::new(BooleanArray::from(vec![study.repeat_when_a_code_recurs])),
            Arc::new(BooleanArray::from(vec![
                study.repeat_when_a_code_recurs || !study.repeat_codes.is_empty(),
            ])),
        ],
    )?)
}

/// The codes that mean a repeated failing, one row each (none: no such code).
fn repeat_codes_batch(study: &StudyFile) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("code", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(study.repeat_codes.clone())) as ArrayRef],
    )?)
}

fn parameters_batch(inputs: &Inputs<'_>) -> Result<RecordBatch> {
    let ScalarValue::Date32(Some(as_of)) = date32(inputs.as_of) else {
        unreachable!("date32 gives a date")
    };
    Ok(RecordBatch::try_from_iter(vec![
        (
            "as_of",
            Arc::new(Date32Array::from(vec![as_of])) as ArrayRef,
        ),
        (
            "date_field",
            Arc::new(StringArray::from(vec![inputs.scope.date_field.column()])),
        ),
    ])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("1GiB"), Ok(1 << 30));
        assert_eq!(parse_memory("512MiB"), Ok(512 << 20));
        assert_eq!(parse_memory("1.5g"), Ok(3 << 29));
        assert_eq!(parse_memory("4096"), Ok(4096));
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("3TB").is_err());
    }
}
