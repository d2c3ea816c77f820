//! Argument types, printing and exit codes. Everything else is the library's.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use casework::Error;
use casework::input::limits::Limits;

use casework::engine::{self, DateField, Engine, Scope};
use casework::ingest::{self, Options};
use casework::measures::{self, Output};
use casework::oversight;
use casework::report;
use casework::spec::{CodeList, RecordType, Thresholds};
use casework::warehouse::Warehouse;
use chrono::NaiveDate;
use datafusion::scalar::ScalarValue;
use crate::output::{csv_text, json, print_summary, print_table};
use serde_json::Map;

/// The example bundle the commands use when none is given.
const EXAMPLE_BUNDLE: &str = "data/examples/phso-imaging-2021";

#[derive(Parser)]
#[command(
    name = "casework",
    version,
    about = "Ingest, measure and report coded ombudsman, complaint and incident case data",
    after_help = "Exit codes: 0 success; 1 usage or configuration error; 2 input rejected; 3 internal error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a case bundle and store it in the Parquet warehouse.
    Ingest(IngestArgs),
    /// Check a case bundle against the spec; write nothing but the rejects file.
    Validate(CheckArgs),
    /// Run measures (all, or those named) over the warehouse.
    Measure(MeasureArgs),
    /// Run any SQL over the warehouse tables.
    Query(QueryArgs),
    /// Draw one chart as SVG and PNG.
    Chart(ChartArgs),
    /// Write the oversight report (HTML, Markdown, figures, tables, workbook, summary).
    Report(ReportArgs),
    /// The whole batch job: validate, ingest, measure, chart, report. Without BUNDLE it
    /// runs on the example bundle built into the binary.
    Run(RunArgs),
    /// Write a synthetic bundle with planted truth (truth.json beside it).
    Generate(GenerateArgs),
}

#[derive(Args)]
struct GenerateArgs {
    /// How many cases.
    #[arg(long)]
    cases: u64,
    /// The seed: the same seed gives the same bundle.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The folder to write.
    #[arg(long, default_value = "generated-bundle", value_name = "DIR")]
    out: PathBuf,
    /// Add this many malformed rows of each reject kind.
    #[arg(long, default_value_t = 0, value_name = "K")]
    bad: u64,
}

#[derive(Args)]
struct ReportOpts {
    /// The report's title.
    #[arg(long, default_value = "Failings in imaging: what the case data shows")]
    title: String,
    /// Prepare for publication: NHS disclosure control on every count.
    #[arg(long)]
    publish: bool,
    /// Committee comparison: the baseline period, YYYY-MM-DD..YYYY-MM-DD.
    #[arg(long, value_name = "FROM..TO", requires = "current")]
    baseline: Option<String>,
    /// Committee comparison: the current period.
    #[arg(long, value_name = "FROM..TO", requires = "baseline")]
    current: Option<String>,
    /// A recommendations tracker CSV (number, text, owner, due_date, status, evidence);
    /// default: the founding report's seven recommendations.
    #[arg(long, value_name = "FILE")]
    tracker: Option<PathBuf>,
}

#[derive(Args)]
struct ReportArgs {
    /// The folder to write.
    #[arg(long, default_value = "reports/out", value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    report: ReportOpts,
    #[command(flatten)]
    session: SessionArgs,
}

#[derive(Args)]
struct RunArgs {
    /// The bundle folder (default: the example built into the binary), or with --mapping
    /// the export file.
    bundle: Option<PathBuf>,
    /// Read the input as an export described by this mapping file.
    #[arg(long, value_name = "MAPPING.toml", requires = "bundle")]
    mapping: Option<PathBuf>,
    /// The folder to write (default: reports/phso-imaging-2021 for the example,
    /// reports/out/NAME for a bundle).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The warehouse folder (default: a temporary one for the example).
    #[arg(long, value_name = "DIR")]
    warehouse: Option<PathBuf>,
    #[command(flatten)]
    report: ReportOpts,
    #[command(flatten)]
    config: ConfigArgs,
    /// The date overdue recommendations are counted on (default: today).
    #[arg(long, value_name = "YYYY-MM-DD")]
    as_of: Option<NaiveDate>,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct ChartArgs {
    /// The chart: prevalence, cooccurrence, delays, spc, funnel, stage, service, compliance.
    name: String,
    /// spc, funnel: the theme.
    #[arg(long)]
    theme: Option<String>,
    /// Where to write: FILE.svg and FILE.png are both written (default: NAME in the
    /// current folder).
    #[arg(long, value_name = "FILE.svg|.png")]
    out: Option<PathBuf>,
    /// Prepare for publication: disclosure control on every count shown.
    #[arg(long)]
    publish: bool,
    #[command(flatten)]
    session: SessionArgs,
}

#[derive(Args)]
struct SessionArgs {
    #[command(flatten)]
    warehouse: WarehouseArg,
    #[command(flatten)]
    config: ConfigArgs,
    /// The date overdue recommendations are counted on (default: today).
    #[arg(long, value_name = "YYYY-MM-DD")]
    as_of: Option<NaiveDate>,
    /// Cases whose --date-field is on or after this date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<NaiveDate>,
    /// Cases whose --date-field is on or before this date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: Option<NaiveDate>,
    /// The date --from/--to and the monthly series use.
    #[arg(long, value_enum, default_value_t = DateFieldArg::OpenedDate)]
    date_field: DateFieldArg,
    /// Only cases of this organisation (organisation_code).
    #[arg(long)]
    organisation: Option<String>,
    /// Only cases of this region.
    #[arg(long)]
    region: Option<String>,
    /// Only cases of this source.
    #[arg(long)]
    source: Option<String>,
    /// Only cases with this decision.
    #[arg(long)]
    decision: Option<String>,
    /// Output: a table, JSON, or CSV.
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    format: OutFormat,
    /// Memory the query engine may use before spilling to disk (e.g. 512MiB, 2GiB).
    #[arg(long, default_value = "1GiB", value_parser = engine::parse_memory)]
    memory_limit: usize,
    /// Where the queries run: DataFusion here, or Apache DataFusion Ballista (needs a
    /// build with the `ballista` feature; standalone in this process unless --scheduler).
    #[arg(long, value_enum, default_value_t = EngineArg::Local)]
    engine: EngineArg,
    /// The Ballista scheduler to run on, e.g. df://scheduler:50050 (with --engine ballista).
    #[arg(long, value_name = "URL", requires = "engine")]
    scheduler: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EngineArg {
    Local,
    Ballista,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DateFieldArg {
    #[value(name = "opened_date")]
    OpenedDate,
    #[value(name = "closed_date")]
    ClosedDate,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutFormat {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
struct MeasureArgs {
    /// Measures to run (default: all). `casework measure --list` names them.
    names: Vec<String>,
    /// List the measures and stop.
    #[arg(long)]
    list: bool,
    /// Write one CSV per measure into this folder.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run the .sql files of this folder instead of the built-in queries.
    #[arg(long, value_name = "DIR")]
    queries: Option<PathBuf>,
    /// funnel, spc: the theme to chart.
    #[arg(long)]
    theme: Option<String>,
    /// funnel: compare organisations or regions.
    #[arg(long, value_enum, default_value_t = ByArg::Organisation)]
    by: ByArg,
    /// spc: one point per month or per quarter.
    #[arg(long, value_enum, default_value_t = PeriodArg::Month)]
    period: PeriodArg,
    /// spc: plot the count of cases with the theme, or their proportion of cases.
    #[arg(long, value_enum, default_value_t = ValueArg::Count)]
    value: ValueArg,
    /// spc: screen out moving ranges of 3.267 times the mean or more (off by default,
    /// as in the Making Data Count tool).
    #[arg(long)]
    screen: bool,
    /// spc: recompute the limits from the period holding this date on.
    #[arg(long, value_name = "YYYY-MM-DD")]
    rebase: Option<NaiveDate>,
    /// Prepare for publication: NHS disclosure control on every count.
    #[arg(long)]
    publish: bool,
    #[command(flatten)]
    session: SessionArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ByArg {
    Organisation,
    Region,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PeriodArg {
    Month,
    Quarter,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ValueArg {
    Count,
    Proportion,
}

#[derive(Args)]
struct QueryArgs {
    /// The SQL to run.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    sql: Option<String>,
    /// Run the SQL in this file.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
    file: Option<PathBuf>,
    /// A value for a named placeholder: `--param org=RJ1` binds `$org` (as text).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    #[command(flatten)]
    session: SessionArgs,
}

#[derive(Args)]
struct CheckArgs {
    /// The bundle folder (cases, findings, events, recommendations), or with --mapping
    /// the export file (.csv or .xlsx).
    #[arg(default_value = EXAMPLE_BUNDLE)]
    bundle: PathBuf,
    /// Read the input as an export described by this mapping file (TOML; see
    /// docs/bring-your-own-export.md and data/mappings/).
    #[arg(long, value_name = "MAPPING.toml")]
    mapping: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArgs,
    /// Where to write every rejected row, as CSV.
    #[arg(long, value_name = "FILE", default_value = "casework-rejects.csv")]
    rejects: PathBuf,
    /// Output: a readable summary, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Refuse a file with a line longer than this many bytes (CSV, NDJSON).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_line_bytes)]
    max_line_bytes: usize,
    /// Reject a row with a field longer than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_field_bytes)]
    max_field_bytes: usize,
    /// Refuse a file or sheet with more data rows than this.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_rows)]
    max_rows: u64,
    /// Refuse a workbook that expands to more than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_xlsx_bytes)]
    max_xlsx_bytes: u64,
}

/// The warehouse folder.
#[derive(Args)]
struct WarehouseArg {
    /// The warehouse folder.
    #[arg(
        long,
        env = "CASEWORK_WAREHOUSE",
        default_value = "warehouse",
        value_name = "DIR"
    )]
    warehouse: PathBuf,
}

/// The code list and thresholds in force.
#[derive(Args)]
struct ConfigArgs {
    /// A code list CSV (code, theme, meaning) to use instead of the imaging themes.
    #[arg(long, value_name = "FILE")]
    codes: Option<PathBuf>,
    /// A thresholds TOML to use instead of the spec's delay thresholds.
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
}

impl ConfigArgs {
    fn load(&self) -> Result<(CodeList, Thresholds), Error> {
        Ok((
            CodeList::load(self.codes.as_deref())?,
            Thresholds::load(self.thresholds.as_deref())?,
        ))
    }
}

#[derive(Args)]
struct IngestArgs {
    #[command(flatten)]
    check: CheckArgs,
    #[command(flatten)]
    warehouse: WarehouseArg,
    /// Commit the valid rows even when others are rejected (rejects are kept in the
    /// warehouse's `rejects` table).
    #[arg(long)]
    accept_partial: bool,
    /// A key of at least 32 bytes: patient_ref is stored as its HMAC-SHA-256. Without
    /// it, patient_ref is not stored at all.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("casework: error: {}", e.chain());
            e.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Validate(args) => {
            let options = options(&args, None)?;
            let summary = ingest::run(&args.bundle, options)?;
            print_summary(&summary, args.format, "validate");
            Ok(if summary.clean() { 0 } else { 2 })
        }
        Command::Ingest(args) => {
            let mut options = options(&args.check, Some(args.warehouse.warehouse.clone()))?;
            options.accept_partial = args.accept_partial;
            options.key = match &args.key_file {
                Some(path) => Some(ingest::read_key(path)?),
                None => None,
            };
            let summary = ingest::run(&args.check.bundle, options)?;
            print_summary(&summary, args.check.format, "ingest");
            Ok(if summary.committed { 0 } else { 2 })
        }
        Command::Measure(args) => runtime()?.block_on(measure_command(args)),
        Command::Query(args) => runtime()?.block_on(query_command(args)),
        Command::Chart(args) => runtime()?.block_on(chart_command(args)),
        Command::Report(args) => runtime()?.block_on(report_command(args)),
        Command::Run(args) => runtime()?.block_on(run_command(args)),
        Command::Generate(args) => {
            let truth = casework::demo::generate::generate(
                &args.out,
                &casework::demo::generate::Plan {
                    cases: args.cases,
                    seed: args.seed,
                    bad: args.bad,
                },
            )?;
            println!(
                "Wrote {} cases to {} (planted counts in truth.json: {:?})",
                truth.cases,
                args.out.display(),
                truth.themes
            );
            Ok(0)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Runtime::new().map_err(Error::Runtime)
}

/// What the measure, query, chart and report commands run over.
struct Session {
    warehouse: Warehouse,
    scope: Scope,
    codes: CodeList,
    thresholds: Thresholds,
    as_of: NaiveDate,
    memory_limit: usize,
    engine: Engine,
}

impl Session {
    fn from_args(args: &SessionArgs) -> Result<Session, Error> {
        let (mut codes, mut thresholds) = args.config.load()?;
        // Without --codes or --thresholds, the warehouse's data is read with the code
        // list and thresholds it was ingested with.
        let warehouse = Warehouse::locate(&args.warehouse.warehouse)?;
        let (stored_codes, stored_thresholds) = warehouse.stored_config()?;
        if let (None, Some(c)) = (&args.config.codes, stored_codes) {
            codes = c;
        }
        if let (None, Some(t)) = (&args.config.thresholds, stored_thresholds) {
            thresholds = t;
        }
        let scope = Scope {
            from: args.from,
            to: args.to,
            date_field: match args.date_field {
                DateFieldArg::OpenedDate => DateField::OpenedDate,
                DateFieldArg::ClosedDate => DateField::ClosedDate,
            },
            organisation: args.organisation.clone(),
            region: args.region.clone(),
            source: args.source.clone(),
            decision: args.decision.clone(),
        };
        Ok(Session {
            warehouse,
            scope,
            codes,
            thresholds,
            as_of: args
                .as_of
                .unwrap_or_else(|| chrono::Local::now().date_naive()),
            memory_limit: args.memory_limit,
            engine: match (args.engine, &args.scheduler) {
                (EngineArg::Local, None) => Engine::Local,
                (EngineArg::Local, Some(_)) => {
                    return Err(Error::Usage("--scheduler is for --engine ballista".into()));
                }
                (EngineArg::Ballista, scheduler) => Engine::Ballista {
                    scheduler: scheduler.clone(),
                },
            },
        })
    }

    fn inputs(&self) -> engine::Inputs<'_> {
        engine::Inputs {
            warehouse: &self.warehouse,
            codes: &self.codes,
            thresholds: &self.thresholds,
            scope: &self.scope,
            as_of: self.as_of,
            memory_limit: self.memory_limit,
            engine: &self.engine,
        }
    }

    fn context<'a>(&'a self, queries: Option<&'a Path>) -> measures::Context<'a> {
        measures::Context {
            scope: &self.scope,
            codes: &self.codes,
            thresholds: &self.thresholds,
            as_of: self.as_of,
            queries,
        }
    }
}

async fn measure_command(args: MeasureArgs) -> Result<i32, Error> {
    if args.list {
        for m in measures::MEASURES {
            println!("{}", m.name);
        }
        println!("funnel (with --theme)\nspc (with --theme)");
        return Ok(0);
    }
    let names: Vec<String> = if args.names.is_empty() {
        measures::MEASURES
            .iter()
            .map(|m| m.name.to_string())
            .collect()
    } else {
        args.names.clone()
    };
    for n in &names {
        if n != "funnel" && n != "spc" {
            measures::find(n)?;
        }
    }
    let s = Session::from_args(&args.session)?;
    let ctx = engine::session(&s.inputs()).await?;
    let context = s.context(args.queries.as_deref());
    let theme = || {
        args.theme
            .as_deref()
            .ok_or_else(|| Error::Usage("funnel and spc need --theme THEME".into()))
    };
    let mut outputs = Vec::new();
    for name in &names {
        let mut out = match name.as_str() {
            "funnel" => {
                let by = match args.by {
                    ByArg::Organisation => oversight::By::Organisation,
                    ByArg::Region => oversight::By::Region,
                };
                oversight::funnel(&ctx, &context, theme()?, by).await?
            }
            "spc" => {
                let period = match args.period {
                    PeriodArg::Month => oversight::Period::Month,
                    PeriodArg::Quarter => oversight::Period::Quarter,
                };
                let plotted = match args.value {
                    ValueArg::Count => oversight::Plotted::Count,
                    ValueArg::Proportion => oversight::Plotted::Proportion,
                };
                let options = casework::stats::SpcOptions {
                    screen: args.screen,
                    ..Default::default()
                };
                oversight::spc(
                    &ctx,
                    &context,
                    theme()?,
                    period,
                    plotted,
                    &options,
                    args.rebase,
                )
                .await?
            }
            other => measures::run(&ctx, measures::find(other)?, &context).await?,
        };
        if args.publish {
            oversight::publish(&mut out);
        }
        outputs.push(out);
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for o in &outputs {
            let path = dir.join(format!("{}.csv", o.measure));
            std::fs::write(&path, csv_text(&o.rows)).map_err(|e| Error::io(&path, e))?;
        }
    }
    match args.session.format {
        OutFormat::Json if outputs.len() == 1 => println!("{}", json(&outputs[0])),
        OutFormat::Json => println!("{}", json(&outputs)),
        OutFormat::Csv => {
            for o in &outputs {
                if outputs.len() > 1 {
                    println!("# {}", o.measure);
                }
                print!("{}", csv_text(&o.rows));
            }
        }
        OutFormat::Table => {
            for o in &outputs {
                print_table(o);
            }
        }
    }
    Ok(0)
}

async fn chart_command(args: ChartArgs) -> Result<i32, Error> {
    let s = Session::from_args(&args.session)?;
    let ctx = engine::session(&s.inputs()).await?;
    let context = s.context(None);
    let figures = casework::report::figures::Figures::new(
        &ctx,
        &context,
        casework::report::figures::source_line(&s.warehouse.committed()?, &s.codes),
        args.publish,
    );
    let stem = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name))
        .with_extension("");
    if let Some(parent) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    figures
        .draw(&args.name, args.theme.as_deref(), &stem)
        .await?;
    println!(
        "{}\n{}",
        stem.with_extension("svg").display(),
        stem.with_extension("png").display()
    );
    Ok(0)
}

fn report_options(r: &ReportOpts, out: PathBuf) -> Result<report::Options, Error> {
    let period = |p: &Option<String>| -> Result<Option<report::Period>, Error> {
        p.as_deref()
            .map(report::Period::parse)
            .transpose()
            .map_err(Error::Usage)
    };
    let comparison = match (period(&r.baseline)?, period(&r.current)?) {
        (Some(b), Some(c)) => Some((b, c)),
        _ => None,
    };
    Ok(report::Options {
        out,
        title: r.title.clone(),
        publish: r.publish,
        comparison,
        tracker: r.tracker.clone(),
    })
}

async fn report_command(args: ReportArgs) -> Result<i32, Error> {
    let s = Session::from_args(&args.session)?;
    let options = report_options(&args.report, args.out.clone())?;
    let written = report::build(&s.inputs(), &options).await?;
    println!("Report written: {}", written.index.display());
    Ok(0)
}

async fn run_command(args: RunArgs) -> Result<i32, Error> {
    let stage = |n: u32, text: &str| {
        if !args.quiet {
            eprintln!("[{n}/3] {text}");
        }
    };
    let scratch = std::env::temp_dir().join(format!("casework-run-{}", std::process::id()));
    let (bundle, out, warehouse) = match &args.bundle {
        Some(b) => {
            let name = b
                .file_stem()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "bundle".into());
            (
                b.clone(),
                args.out
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("reports/out").join(&name)),
                args.warehouse
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("warehouse")),
            )
        }
        None => {
            let dir = scratch.join("phso-imaging-2021");
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            casework::demo::example::write(&dir)?;
            (
                dir,
                args.out
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("reports/phso-imaging-2021")),
                args.warehouse
                    .clone()
                    .unwrap_or_else(|| scratch.join("warehouse")),
            )
        }
    };
    let result = run_job(&args, &bundle, &out, &warehouse, &stage).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

async fn run_job(
    args: &RunArgs,
    bundle: &Path,
    out: &Path,
    warehouse: &Path,
    stage: &dyn Fn(u32, &str),
) -> Result<i32, Error> {
    stage(1, &format!("validating and ingesting {}", bundle.display()));
    let mut options = Options::new(Some(warehouse.to_path_buf()));
    (options.codes, options.thresholds) = args.config.load()?;
    use_mapping(&mut options, args.mapping.as_deref(), &args.config)?;
    options.rejects_file = Some(PathBuf::from("casework-rejects.csv"));
    let codes = options.codes.clone();
    let thresholds = options.thresholds.clone();
    let summary = ingest::run(bundle, options)?;
    if !summary.committed {
        print_summary(&summary, Format::Text, "ingest");
        return Ok(2);
    }
    stage(2, "measuring and drawing charts");
    let scope = Scope::default();
    let as_of = args
        .as_of
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let wh = Warehouse::new(warehouse);
    let mut report_options = report_options(&args.report, out.to_path_buf())?;
    // A bundle may carry its own recommendations tracker.
    let bundled_tracker = bundle.join("recommendations-tracker.csv");
    if report_options.tracker.is_none() && bundled_tracker.is_file() {
        report_options.tracker = Some(bundled_tracker);
    }
    stage(3, &format!("writing the report to {}", out.display()));
    let written = report::build(
        &report::Inputs {
            warehouse: &wh,
            codes: &codes,
            thresholds: &thresholds,
            scope: &scope,
            as_of,
            memory_limit: engine::DEFAULT_MEMORY_LIMIT,
            engine: &Engine::Local,
        },
        &report_options,
    )
    .await?;
    println!("Report written: {}", written.index.display());
    Ok(0)
}

async fn query_command(args: QueryArgs) -> Result<i32, Error> {
    let (sql, file) = match (&args.sql, &args.file) {
        (_, Some(path)) => (
            std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?,
            path.clone(),
        ),
        (Some(sql), None) => (sql.clone(), PathBuf::from("query")),
        (None, None) => return Err(Error::Usage("give SQL or -f FILE.sql".into())),
    };
    let mut params = Vec::new();
    for p in &args.params {
        let Some((name, value)) = p.split_once('=') else {
            return Err(Error::Usage(format!(
                "--param {p:?}: write it as NAME=VALUE"
            )));
        };
        params.push((
            name.trim_start_matches('$').to_string(),
            ScalarValue::Utf8(Some(value.to_string())),
        ));
    }
    let s = Session::from_args(&args.session)?;
    let ctx = engine::session(&s.inputs()).await?;
    let batches = measures::sql_batches(&ctx, &sql, &file, params).await?;
    let rows = measures::to_rows(&batches)?;
    let output = Output {
        measure: file.display().to_string(),
        scope: s.scope.clone(),
        code_list: s.codes.source.name.clone(),
        thresholds: None,
        as_of: None,
        disclosure: None,
        extra: Map::new(),
        rows,
    };
    match args.session.format {
        OutFormat::Json => println!("{}", json(&output)),
        OutFormat::Csv => print!("{}", csv_text(&output.rows)),
        OutFormat::Table => print_table(&output),
    }
    Ok(0)
}

/// Reads the input through a mapping, with the code list and thresholds the mapping
/// names unless --codes and --thresholds say otherwise.
fn use_mapping(
    options: &mut Options,
    mapping: Option<&Path>,
    config: &ConfigArgs,
) -> Result<(), Error> {
    let Some(path) = mapping else { return Ok(()) };
    let mapping = casework::mapping::Mapping::load(path)?;
    if let (None, Some(codes)) = (&config.codes, &mapping.codes) {
        options.codes = CodeList::load(Some(codes))?;
    }
    if let (None, Some(t)) = (&config.thresholds, &mapping.thresholds) {
        options.thresholds = Thresholds::load(Some(t))?;
    }
    options.mapping = Some(mapping);
    Ok(())
}

fn options(args: &CheckArgs, warehouse: Option<PathBuf>) -> Result<Options, Error> {
    let mut options = Options::new(warehouse);
    (options.codes, options.thresholds) = args.config.load()?;
    use_mapping(&mut options, args.mapping.as_deref(), &args.config)?;
    options.rejects_file = Some(args.rejects.clone());
    options.limits = Limits {
        max_line_bytes: args.max_line_bytes,
        max_field_bytes: args.max_field_bytes,
        max_rows: args.max_rows,
        max_xlsx_bytes: args.max_xlsx_bytes,
    };
    if !args.quiet && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        options.progress = Box::new(move |t: RecordType, rows: u64| {
            bar.set_message(format!("{t}: {rows} rows read"));
            bar.tick();
        });
    }
    Ok(options)
}
