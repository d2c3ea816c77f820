//! `casework report` and `casework run` (ingest, then the report).

use std::path::PathBuf;

use casework::Error;
use casework::ingest::Options;
use casework::report::{self, job};

use crate::args::*;
use crate::output::print_summary;
use crate::session::{Session, report_options, use_mapping};

pub(crate) async fn report_command(args: ReportArgs) -> Result<i32, Error> {
    let mut s = Session::from_args(&args.session)?;
    let publishing = s.publishing_if(args.report.publish).await?;
    let options = report_options(&args.report, args.out.clone(), &s.study, publishing)?;
    let written = report::build(&s.inputs(), &options).await?;
    println!("Report written: {}", written.index.display());
    Ok(0)
}

pub(crate) async fn run_command(args: RunArgs) -> Result<i32, Error> {
    let stage = |n: u32, text: &str| {
        if !args.quiet {
            eprintln!("[{n}/3] {text}");
        }
    };
    // The example bundle and its warehouse go into a private folder of the temporary
    // directory, with an unpredictable name, removed when this function returns or
    // unwinds.
    let scratch = tempfile::Builder::new()
        .prefix("casework-run-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
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
            let dir = scratch.path().join("phso-imaging-2021");
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            casework::demo::example::write(&dir)?;
            (
                dir,
                args.out
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("reports/phso-imaging-2021")),
                args.warehouse
                    .clone()
                    .unwrap_or_else(|| scratch.path().join("warehouse")),
            )
        }
    };
    let mut ingest = Options::new(Some(warehouse.clone()));
    (ingest.codes, ingest.thresholds, ingest.study) = args.config.load()?;
    use_mapping(&mut ingest, args.mapping.as_deref(), &args.config)?;
    ingest.rejects_file = Some(PathBuf::from("casework-rejects.csv"));
    let report = report_options(&args.report, out, &ingest.study, None)?;
    let job = job::Job {
        bundle,
        warehouse,
        ingest,
        report,
        publish: args.report.publish,
        as_of: args
            .as_of
            .unwrap_or_else(|| chrono::Local::now().date_naive()),
    };
    match job::run(job, &stage).await? {
        job::Outcome::Rejected(summary) => {
            print_summary(&summary, Format::Text, "ingest");
            Ok(2)
        }
        job::Outcome::Written(written) => {
            println!("Report written: {}", written.index.display());
            Ok(0)
        }
    }
}
