//! The command line's arguments (clap), one struct per command and the option groups
//! they share. Nothing here does any work: `session` resolves them, `commands` run them.

use std::path::PathBuf;

use casework::Error;
use casework::engine;
use casework::input::limits::Limits;
use casework::spec::study::{Study, StudyFile};
use casework::spec::{CodeList, Thresholds};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

pub(crate) const EXAMPLE_BUNDLE: &str = "data/examples/phso-imaging-2021";

#[derive(Parser)]
#[command(
    name = "casework",
    version,
    about = "Ingest, measure and report coded ombudsman, complaint and incident case data",
    after_help = "Exit codes: 0 success; 1 usage or configuration error; 2 input rejected; 3 internal error."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Check a case bundle and store it in the Parquet warehouse.
    Ingest(IngestArgs),
    /// Check a case bundle against the spec; write nothing but the rejects file.
    Validate(CheckArgs),
    /// Run measures (all, or those named) over the warehouse.
    Measure(MeasureArgs),
    /// Run any SQL over the warehouse tables.
    Query(QueryArgs),
    /// Explore the warehouse in a browser: the report's pages with filters in the URL,
    /// tables as CSV, charts as SVG and PNG (docs/serve.md).
    Serve(ServeArgs),
    /// Coding reliability: how far coders agree per code and theme (kappa, alpha, AC1),
    /// from the bundle's double-coded sample (`codings`), and the disagreements.
    Agreement(AgreementArgs),
    /// Assisted coding (docs/suggest.md): train a model on the coded cases' text,
    /// cross-validate it against the coders, suggest codes for the uncoded cases and
    /// list which to code next; --write adds its codes to `codings` as coder model:NAME.
    Suggest(SuggestArgs),
    /// Draw one chart as SVG and PNG.
    Chart(ChartArgs),
    /// Write the oversight report (HTML, Markdown, figures, tables, workbook, summary).
    Report(ReportArgs),
    /// The whole batch job: validate, ingest, measure, chart, report. Without BUNDLE it
    /// runs on the example bundle built into the binary.
    Run(RunArgs),
    /// Write a synthetic bundle with planted truth (truth.json beside it).
    Generate(GenerateArgs),
    /// Studies (docs/studies.md): `casework study check DIR` checks a study folder.
    #[command(subcommand)]
    Study(StudyCommand),
}

#[derive(Subcommand)]
pub(crate) enum StudyCommand {
    /// Check a study (a folder holding study.toml, or a shipped study's name): its
    /// TOML, its code list and thresholds, and every theme and code it names.
    Check {
        /// The study folder (or study.toml, or a shipped study's name).
        study: String,
    },
    /// List the shipped studies.
    List,
}

#[derive(Args)]
pub(crate) struct GenerateArgs {
    /// How many cases.
    #[arg(long)]
    pub(crate) cases: u64,
    /// The seed: the same seed gives the same bundle.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// The folder to write.
    #[arg(long, default_value = "generated-bundle", value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Add this many malformed rows of each reject kind.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub(crate) bad: u64,
    /// Themes: without it, the founding report's four; with it, that many generated
    /// themes, whose code list and study are written beside the bundle (codes.csv,
    /// study.toml: ingest with --study DIR).
    #[arg(long, default_value_t = 0)]
    pub(crate) themes: usize,
    /// Organisations (Zipf-like sizes).
    #[arg(long, default_value_t = 300)]
    pub(crate) organisations: u64,
    /// Years of opened dates from January 2019 (6 gives 72 months; a span past 2024
    /// starts earlier, so that 40 years end in December 2024).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub(crate) years: u32,
    /// Months of opened dates from January 2019, instead of --years (14 gives January
    /// 2019 to February 2020).
    #[arg(long, conflicts_with = "years", value_parser = clap::value_parser!(u32).range(1..=600))]
    pub(crate) months: Option<u32>,
}

#[derive(Args)]
pub(crate) struct ReportOpts {
    /// The report's title (default: the study's).
    #[arg(long)]
    pub(crate) title: Option<String>,
    /// Prepare for publication: every count from the publication's audited set (the
    /// study's disclosure rule; docs/oversight.md).
    #[arg(long)]
    pub(crate) publish: bool,
    /// Committee comparison: the baseline period, YYYY-MM-DD..YYYY-MM-DD.
    #[arg(long, value_name = "FROM..TO", requires = "current")]
    pub(crate) baseline: Option<String>,
    /// Committee comparison: the current period.
    #[arg(long, value_name = "FROM..TO", requires = "baseline")]
    pub(crate) current: Option<String>,
    /// A recommendations tracker CSV (number, text, owner, due_date, status, evidence);
    /// default: the study's own, if it has one (the founding study's: its seven).
    #[arg(long, value_name = "FILE")]
    pub(crate) tracker: Option<PathBuf>,
    /// The address of `casework serve` on this warehouse (http://HOST:PORT): the tables
    /// of organisations outside the funnels' limits link each to its page there.
    #[arg(long, value_name = "URL")]
    pub(crate) serve_url: Option<String>,
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// The folder to write.
    #[arg(long, default_value = "reports/out", value_name = "DIR")]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) report: ReportOpts,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// The bundle folder (default: the example built into the binary), or with --mapping
    /// the export file.
    pub(crate) bundle: Option<PathBuf>,
    /// Read the input as an export described by this mapping file.
    #[arg(long, value_name = "MAPPING.toml", requires = "bundle")]
    pub(crate) mapping: Option<PathBuf>,
    /// The folder to write (default: reports/phso-imaging-2021 for the example,
    /// reports/out/NAME for a bundle).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// The warehouse folder (default: a temporary one for the example).
    #[arg(long, value_name = "DIR")]
    pub(crate) warehouse: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) report: ReportOpts,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The date overdue recommendations are counted on (default: today).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) as_of: Option<NaiveDate>,
    /// No progress lines.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(Args)]
pub(crate) struct SuggestArgs {
    /// Learn and suggest codes, or themes (--write needs codes: `codings` holds codes).
    #[arg(long, value_enum, default_value_t = LevelArg::Code)]
    pub(crate) level: LevelArg,
    /// Folds of the cross-validation by case (stratified by each case's rarest label).
    #[arg(long, default_value_t = 5)]
    pub(crate) folds: usize,
    /// The seed of the folds: training is the same for the same seed and data.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// How each label's threshold is chosen: `f1` (the highest F1), or
    /// `precision:SHARE` (the lowest threshold whose precision reaches SHARE, e.g.
    /// precision:0.9).
    #[arg(long, default_value = "f1")]
    pub(crate) threshold: String,
    /// The inverse of the L2 penalty of each logistic regression (scikit-learn's C).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) c: f64,
    /// Weight each code's cases by the inverse of how often it is given, as
    /// scikit-learn's class_weight="balanced" (the default: rare codes are otherwise
    /// seldom suggested); `--class-weight none` weighs every case alike.
    #[arg(long, value_enum, default_value_t = ClassWeightArg::Balanced)]
    pub(crate) class_weight: ClassWeightArg,
    /// Suggest with this saved model instead of training one (no cross-validation).
    #[arg(long, value_name = "FILE")]
    pub(crate) model: Option<PathBuf>,
    /// Where to write the model, the validation, the calibration, the folds, the
    /// suggestions and the queue.
    #[arg(long, value_name = "DIR", default_value = "suggest")]
    pub(crate) out: PathBuf,
    /// Measure the queue instead: learning curves of the queue against random sampling
    /// on the coded cases, their codes hidden until asked for (learning_curves.csv and
    /// .svg/.png in --out). Nothing is saved or written to the warehouse.
    #[arg(long, conflicts_with_all = ["model", "write"])]
    pub(crate) simulate: bool,
    /// --simulate: cases coded at the start (at random) and at each round.
    #[arg(long, default_value_t = 50, requires = "simulate")]
    pub(crate) batch: usize,
    /// --simulate: cases coded at the end.
    #[arg(long, default_value_t = 1000, requires = "simulate")]
    pub(crate) budget: usize,
    /// --simulate: repeats with other seeds (other test quarters and starts), averaged.
    #[arg(long, default_value_t = 3, requires = "simulate")]
    pub(crate) repeats: usize,
    /// Commit the model's codes into the warehouse's `codings` as coder model:NAME
    /// (never into `findings`): out-of-fold codes for the coded cases, the model's for
    /// the uncoded. `casework agreement` then measures it as one more coder.
    #[arg(long)]
    pub(crate) write: bool,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

#[derive(Args)]
pub(crate) struct ChartArgs {
    /// The chart: prevalence, cooccurrence, delays, spc, funnel, stage, service, compliance.
    pub(crate) name: String,
    /// spc, funnel: the theme.
    #[arg(long)]
    pub(crate) theme: Option<String>,
    /// Where to write: FILE.svg and FILE.png are both written (default: NAME in the
    /// current folder).
    #[arg(long, value_name = "FILE.svg|.png")]
    pub(crate) out: Option<PathBuf>,
    /// Prepare for publication: disclosure control on every count shown.
    #[arg(long)]
    pub(crate) publish: bool,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

#[derive(Args)]
pub(crate) struct SessionArgs {
    #[command(flatten)]
    pub(crate) warehouse: WarehouseArg,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The date overdue recommendations are counted on (default: today).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) as_of: Option<NaiveDate>,
    /// Cases whose --date-field is on or after this date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) from: Option<NaiveDate>,
    /// Cases whose --date-field is on or before this date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) to: Option<NaiveDate>,
    /// Cases whose --date-field falls in this period of the calendar grid: a year
    /// (2024), a UK financial year (FY2024-25), a quarter (2024-Q2) or a month (2024-05);
    /// a date known only to the year counts in its calendar year alone. With --publish,
    /// a view's period is one of these (or --from/--to that are exactly one).
    #[arg(long, value_name = "PERIOD", conflicts_with_all = ["from", "to"])]
    pub(crate) period: Option<String>,
    /// The date --from/--to, --period and the monthly series use (default opened_date;
    /// with --publish, the study's publication date).
    #[arg(long, value_enum)]
    pub(crate) date_field: Option<DateFieldArg>,
    /// Only cases of this organisation (organisation_code).
    #[arg(long)]
    pub(crate) organisation: Option<String>,
    /// Only cases of this region.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Only cases of this source.
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Only cases with this decision.
    #[arg(long)]
    pub(crate) decision: Option<String>,
    /// Only cases of this service (the service mainly complained about).
    #[arg(long)]
    pub(crate) service: Option<String>,
    /// Only the findings at this stage (`request`, `review`, ...): every case in scope
    /// stays, with the themes of its findings at the stage.
    #[arg(long)]
    pub(crate) stage: Option<String>,
    /// Output: a table, JSON, or CSV.
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    pub(crate) format: OutFormat,
    /// Memory the query engine may use before spilling to disk (e.g. 512MiB, 2GiB).
    #[arg(long, default_value = "1GiB", value_parser = engine::parse_memory)]
    pub(crate) memory_limit: usize,
    /// Where the queries run: DataFusion here, or Apache DataFusion Ballista (needs a
    /// build with the `ballista` feature; standalone in this process unless --scheduler).
    #[arg(long, value_enum, default_value_t = EngineArg::Local)]
    pub(crate) engine: EngineArg,
    /// The Ballista scheduler to run on, e.g. df://scheduler:50050 (with --engine ballista).
    #[arg(long, value_name = "URL", requires = "engine")]
    pub(crate) scheduler: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EngineArg {
    Local,
    Ballista,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DateFieldArg {
    #[value(name = "opened_date")]
    OpenedDate,
    #[value(name = "closed_date")]
    ClosedDate,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutFormat {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
pub(crate) struct MeasureArgs {
    /// Measures to run (default: all). `casework measure --list` names them.
    pub(crate) names: Vec<String>,
    /// List the measures and stop.
    #[arg(long)]
    pub(crate) list: bool,
    /// Write one CSV per measure into this folder.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Run the .sql files of this folder instead of the built-in queries.
    #[arg(long, value_name = "DIR")]
    pub(crate) queries: Option<PathBuf>,
    /// funnel, spc: the theme to chart.
    #[arg(long)]
    pub(crate) theme: Option<String>,
    /// funnel: compare organisations or regions.
    #[arg(long, value_enum, default_value_t = ByArg::Organisation)]
    pub(crate) by: ByArg,
    /// funnel: the limits that judge the units: adjusted for overdispersion when the
    /// units are overdispersed (auto, the default), always adjusted, or unadjusted
    /// (docs/oversight.md).
    #[arg(long, value_enum, default_value_t = LimitsArg::Auto)]
    pub(crate) limits: LimitsArg,
    /// spc: one point per month or per quarter.
    #[arg(long, value_enum, default_value_t = PeriodArg::Month)]
    pub(crate) per: PeriodArg,
    /// spc: plot the count of cases with the theme, their proportion of cases, or (for a
    /// theme the study reads per exposure) their rate per the study's exposure.
    #[arg(long, value_enum, default_value_t = ValueArg::Count)]
    pub(crate) value: ValueArg,
    /// spc: screen out moving ranges of 3.267 times the mean or more (off by default,
    /// as in the Making Data Count tool).
    #[arg(long)]
    pub(crate) screen: bool,
    /// spc: recompute the limits from the period holding this date on (repeat for
    /// several; the study's rebases of the theme come too).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) rebase: Vec<NaiveDate>,
    /// spc: the reason for each --rebase, in their order.
    #[arg(long, value_name = "TEXT")]
    pub(crate) rebase_reason: Vec<String>,
    /// spc: compute each segment's mean and limits from its first N points (a baseline,
    /// 12 to 20 in the Making Data Count tool).
    #[arg(long, value_name = "N")]
    pub(crate) fix_after: Option<usize>,
    /// spc: points in a trend or a shift: 7 (the default) or 6.
    #[arg(long, value_name = "N", default_value_t = casework::stats::RUN_LENGTH as u64, value_parser = clap::value_parser!(u64).range(6..=7))]
    pub(crate) run_length: u64,
    /// spc: a target for the assurance icon, instead of the study's: a share of cases (0
    /// to 1) with --value proportion, a rate with --value rate.
    #[arg(long, value_name = "SHARE")]
    pub(crate) target: Option<f64>,
    /// Prepare for publication: every count from the publication's audited set (the
    /// study's disclosure rule; docs/oversight.md).
    #[arg(long)]
    pub(crate) publish: bool,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on (HOST:PORT; localhost:8080 is loopback). Loopback by
    /// default; any other needs --token-file, and a TLS proxy in front (docs/serve.md).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// A Host name to answer to besides the loopback ones (the name a proxy in front
    /// uses); repeat for several.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub(crate) allow_host: Vec<String>,
    /// Connections open at once; more wait.
    #[arg(long, default_value_t = 256)]
    pub(crate) max_connections: usize,
    /// A file holding the token every request must present (a bearer header, or the
    /// cookie /login?token=… sets). Required for a non-loopback address.
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// Serve the publication only: the study's audited set of tables (periods of the
    /// calendar grid, one publishable filter at a time; docs/serve.md).
    #[arg(long)]
    pub(crate) publish: bool,
    /// Pages computing at once (others wait).
    #[arg(long, default_value_t = 2)]
    pub(crate) max_queries: usize,
    /// Seconds a page may take before the server answers 503.
    #[arg(long, default_value_t = 120)]
    pub(crate) timeout: u64,
    #[command(flatten)]
    pub(crate) warehouse: WarehouseArg,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The date for measures that depend on today (overdue recommendations).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) as_of: Option<NaiveDate>,
    /// Memory all pages' queries share before they spill to disk.
    #[arg(long, default_value = "1GiB", value_parser = engine::parse_memory)]
    pub(crate) memory_limit: usize,
}

#[derive(Args)]
pub(crate) struct AgreementArgs {
    /// Compare only these coders (repeat: --coder model:1a2b3c4d5e6f --coder alice), for
    /// example a model of `casework suggest --write` against one person.
    #[arg(long, value_name = "NAME")]
    pub(crate) coder: Vec<String>,
    /// Show only codes or only themes (default: both).
    #[arg(long, value_enum)]
    pub(crate) level: Option<LevelArg>,
    /// Write the disagreements (one row per case and code where coders differ, with
    /// each coder's answer) as CSV to this file, for adjudication. It names cases, so
    /// it is refused with --publish.
    #[arg(long, value_name = "FILE")]
    pub(crate) disagreements: Option<PathBuf>,
    /// Prepare for publication: NHS disclosure control on every count, and every
    /// coefficient withheld where a cell of its table holds 1 to 7 cases.
    #[arg(long)]
    pub(crate) publish: bool,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ClassWeightArg {
    Balanced,
    None,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LevelArg {
    Code,
    Theme,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ByArg {
    Organisation,
    Region,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LimitsArg {
    Auto,
    Adjusted,
    Unadjusted,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PeriodArg {
    Month,
    Quarter,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ValueArg {
    Count,
    Proportion,
    Rate,
}

#[derive(Args)]
pub(crate) struct QueryArgs {
    /// The SQL to run.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub(crate) sql: Option<String>,
    /// Run the SQL in this file.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
    pub(crate) file: Option<PathBuf>,
    /// A value for a named placeholder: `--param org=RJ1` binds `$org` (as text).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub(crate) params: Vec<String>,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

#[derive(Args)]
pub(crate) struct CheckArgs {
    /// The bundle folder (cases, findings, events, recommendations), or with --mapping
    /// the export file (.csv or .xlsx).
    #[arg(default_value = EXAMPLE_BUNDLE)]
    pub(crate) bundle: PathBuf,
    /// Read the input as an export described by this mapping file (TOML; see
    /// docs/bring-your-own-export.md and data/mappings/).
    #[arg(long, value_name = "MAPPING.toml")]
    pub(crate) mapping: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Where to write every rejected row, as CSV.
    #[arg(long, value_name = "FILE", default_value = "casework-rejects.csv")]
    pub(crate) rejects: PathBuf,
    /// Output: a readable summary, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// No progress bar.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Refuse a file with a line longer than this many bytes (CSV, NDJSON).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_line_bytes)]
    pub(crate) max_line_bytes: usize,
    /// Reject a row with a field longer than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_field_bytes)]
    pub(crate) max_field_bytes: usize,
    /// Refuse a file or sheet with more data rows than this.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_rows)]
    pub(crate) max_rows: u64,
    /// Refuse a workbook that expands to more than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_xlsx_bytes)]
    pub(crate) max_xlsx_bytes: u64,
    /// Read date-times written without an offset as local times of this zone (an IANA
    /// name such as Europe/London), so that intervals across a change of the clocks are
    /// the time that passed. Without it they are taken as UTC.
    #[arg(long, value_name = "ZONE")]
    pub(crate) time_zone: Option<String>,
    /// A dry run's view: print the first N rows of each record type as read (after a
    /// mapping, before the checks), patient_ref and notes left out.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) show: usize,
}

/// The warehouse folder.
#[derive(Args)]
pub(crate) struct WarehouseArg {
    /// The warehouse folder.
    #[arg(
        long,
        env = "CASEWORK_WAREHOUSE",
        default_value = "warehouse",
        value_name = "DIR"
    )]
    pub(crate) warehouse: PathBuf,
}

/// The code list and thresholds in force.
#[derive(Args)]
pub(crate) struct ConfigArgs {
    /// The study: a shipped one (phso-imaging-2021, cfpb-complaints, fda-maude) or a
    /// folder holding study.toml (docs/studies.md). It names the code list, thresholds,
    /// delay theme and repeat codes; --codes and --thresholds replace its files.
    #[arg(long, value_name = "NAME|DIR")]
    pub(crate) study: Option<String>,
    /// A code list CSV (code, theme, meaning) to use instead of the study's.
    #[arg(long, value_name = "FILE")]
    pub(crate) codes: Option<PathBuf>,
    /// A thresholds TOML to use instead of the spec's delay thresholds.
    #[arg(long, value_name = "FILE")]
    pub(crate) thresholds: Option<PathBuf>,
}

impl ConfigArgs {
    /// The code list, thresholds and study in force: the study's files unless --codes or
    /// --thresholds replace them; without --study, the study of the code list.
    pub(crate) fn load(&self) -> Result<(CodeList, Thresholds, StudyFile), Error> {
        let Some(name) = &self.study else {
            let codes = CodeList::load(self.codes.as_deref())?;
            let study = StudyFile::for_code_list(&codes);
            return Ok((codes, Thresholds::load(self.thresholds.as_deref())?, study));
        };
        let study = Study::load(Some(name))?;
        let codes = match &self.codes {
            Some(p) => CodeList::load(Some(p))?,
            None => study.codes.clone(),
        };
        let thresholds = match &self.thresholds {
            Some(p) => Thresholds::load(Some(p))?,
            None => study.thresholds.clone(),
        };
        study
            .file
            .check(&codes, &study.source.text)
            .map_err(|message| Error::Config {
                file: study.name.clone().into(),
                message,
            })?;
        Ok((codes, thresholds, study.file))
    }
}

#[derive(Args)]
pub(crate) struct IngestArgs {
    #[command(flatten)]
    pub(crate) check: CheckArgs,
    #[command(flatten)]
    pub(crate) warehouse: WarehouseArg,
    /// Commit the valid rows even when others are rejected (rejects are kept in the
    /// warehouse's `rejects` table).
    #[arg(long)]
    pub(crate) accept_partial: bool,
    /// A key of at least 32 bytes: patient_ref is stored as its HMAC-SHA-256. Without
    /// it, patient_ref is not stored at all.
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// Store no free text: a case's narrative and a finding's note are read and
    /// dropped (docs/data-dictionary.md, "Case text"). `casework suggest` then has
    /// nothing to learn from.
    #[arg(long)]
    pub(crate) no_text: bool,
    /// When another casework is writing the warehouse, wait for it (at most SECONDS;
    /// without a number, as long as it takes) instead of failing at once.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "forever")]
    pub(crate) wait: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}
