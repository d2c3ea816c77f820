//! One module per command; `run` dispatches a parsed command line to it.

mod agreement;
mod chart;
mod generate;
mod ingest;
mod measure;
mod query;
mod report;
mod serve;
mod suggest;

use casework::Error;

use crate::args::{Cli, Command, StudyCommand};
use crate::session::runtime;

/// Runs the command; returns the process exit code (README, "Exit codes").
pub(crate) fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Validate(args) => ingest::validate(&args),
        Command::Ingest(args) => ingest::ingest(&args),
        Command::Measure(args) => runtime()?.block_on(measure::measure_command(args)),
        Command::Query(args) => runtime()?.block_on(query::query_command(args)),
        Command::Serve(args) => runtime()?.block_on(serve::serve_command(args)),
        Command::Agreement(args) => runtime()?.block_on(agreement::agreement_command(args)),
        Command::Suggest(args) => runtime()?.block_on(suggest::suggest_command(args)),
        Command::Chart(args) => runtime()?.block_on(chart::chart_command(args)),
        Command::Report(args) => runtime()?.block_on(report::report_command(args)),
        Command::Run(args) => runtime()?.block_on(report::run_command(args)),
        Command::Generate(args) => generate::generate(&args),
        Command::Study(StudyCommand::List) => {
            for (name, _) in casework::spec::study::SHIPPED {
                println!("{name}");
            }
            Ok(0)
        }
        Command::Study(StudyCommand::Check { study }) => {
            let s = casework::spec::study::Study::load(Some(&study))?;
            println!(
                "{}: {} ({} codes, {} themes; delay theme: {}; repeat codes: {})",
                s.name,
                s.file.title,
                s.codes.codes.len(),
                s.codes.themes().len(),
                s.file.delay_theme.as_deref().unwrap_or("none"),
                if s.file.repeat_codes.is_empty() {
                    "none".to_string()
                } else {
                    s.file.repeat_codes.join(", ")
                }
            );
            Ok(0)
        }
    }
}
