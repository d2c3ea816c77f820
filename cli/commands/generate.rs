//! `casework generate`: a synthetic bundle with planted truth.

use casework::Error;
use casework::demo::generate::{Plan, generate as write_bundle};

use crate::args::GenerateArgs;

pub(crate) fn generate(args: &GenerateArgs) -> Result<i32, Error> {
    let truth = write_bundle(
        &args.out,
        &Plan {
            bad: args.bad,
            themes: args.themes,
            organisations: args.organisations,
            years: args.years,
            months: args.months,
            ..Plan::new(args.cases, args.seed)
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
