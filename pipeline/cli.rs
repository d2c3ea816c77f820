//! Argument types, printing and exit codes. Everything else is the library's.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use casework::Error;
use casework::ingest::{self, Options, Summary};
use casework::spec::{CodeList, RecordType, Thresholds};

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
}

#[derive(Args)]
struct CheckArgs {
    /// The bundle folder (cases, findings, events, recommendations).
    #[arg(default_value = EXAMPLE_BUNDLE)]
    bundle: PathBuf,
    /// A code list CSV (code, theme, meaning) to use instead of the imaging themes.
    #[arg(long, value_name = "FILE")]
    codes: Option<PathBuf>,
    /// A thresholds TOML to use instead of the spec's delay thresholds.
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// Where to write every rejected row, as CSV.
    #[arg(long, value_name = "FILE", default_value = "casework-rejects.csv")]
    rejects: PathBuf,
    /// Output: a readable summary, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct IngestArgs {
    #[command(flatten)]
    check: CheckArgs,
    /// The warehouse folder.
    #[arg(
        long,
        env = "CASEWORK_WAREHOUSE",
        default_value = "warehouse",
        value_name = "DIR"
    )]
    warehouse: PathBuf,
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
enum Format {
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
            eprintln!("casework: error: {e}");
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
            let mut options = options(&args.check, Some(args.warehouse.clone()))?;
            options.accept_partial = args.accept_partial;
            options.key = match &args.key_file {
                Some(path) => Some(ingest::read_key(path)?),
                None => None,
            };
            let summary = ingest::run(&args.check.bundle, options)?;
            print_summary(&summary, args.check.format, "ingest");
            Ok(if summary.committed { 0 } else { 2 })
        }
    }
}

fn options(args: &CheckArgs, warehouse: Option<PathBuf>) -> Result<Options, Error> {
    let mut options = Options::new(warehouse);
    options.codes = CodeList::load(args.codes.as_deref())?;
    options.thresholds = Thresholds::load(args.thresholds.as_deref())?;
    options.rejects_file = Some(args.rejects.clone());
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

fn print_summary(summary: &Summary, format: Format, verb: &str) {
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(summary).expect("summary serialises")
        );
        return;
    }
    println!("casework {verb}: {}", summary.bundle);
    for (t, c) in &summary.counts {
        let files: Vec<String> = summary
            .inputs
            .iter()
            .filter(|i| {
                i.record_type == t.name() || (i.sheet.is_some() && i.record_type == t.name())
            })
            .map(|i| i.file.clone())
            .collect();
        println!(
            "  {:<16} {:>9} read {:>9} {} {:>9} rejected  {}",
            t.name(),
            c.read,
            c.stored,
            if verb == "validate" {
                "valid "
            } else {
                "stored"
            },
            c.rejected,
            files.join(", ")
        );
    }
    if summary.pseudonymised {
        println!("  patient_ref: stored as HMAC-SHA-256 under the key given.");
    } else if summary.patient_ref_values_seen > 0 {
        println!(
            "  patient_ref: not stored ({} values dropped; give --key-file to keep a keyed hash for linkage).",
            summary.patient_ref_values_seen
        );
    }
    if !summary.file_problems.is_empty() {
        println!("\nFiles that could not be read:");
        for p in &summary.file_problems {
            println!("  [{}] {p}", p.rule);
        }
    }
    if summary.rejected_rows > 0 {
        println!(
            "\nRejected rows: {}. Problems by rule:",
            summary.rejected_rows
        );
        for r in summary.rules.iter().filter(|r| !r.rule.is_file_rule()) {
            println!("  {} ({})", r.rule, r.count);
            for e in &r.examples {
                let value = e
                    .value
                    .as_deref()
                    .map(|v| format!(" [value: {v:?}]"))
                    .unwrap_or_default();
                println!("    {e}{value}");
            }
        }
    }
    if let Some(path) = &summary.rejects_file {
        println!("\nEvery problem, one per line: {}", show(Path::new(path)));
    }
    match (&summary.warehouse, summary.committed) {
        (Some(w), true) => println!(
            "\nCommitted to {w} as {} ({} cases replaced).",
            summary.version.as_deref().unwrap_or("?"),
            summary.replaced_cases
        ),
        (Some(w), false) => println!(
            "\nNothing was committed: the warehouse {w} is unchanged. Fix the problems above and ingest again, or use --accept-partial to store the valid rows."
        ),
        (None, _) if summary.clean() => println!("\nValid: every row can be stored."),
        (None, _) => println!("\nNot valid: fix the problems above."),
    }
}

fn show(p: &Path) -> String {
    p.display().to_string()
}
