//! `casework validate` and `casework ingest`.

use casework::Error;
use casework::ingest;
use casework::warehouse::LockWait;

use crate::args::{CheckArgs, IngestArgs};
use crate::output::print_summary;
use crate::session::options;

pub(crate) fn validate(args: &CheckArgs) -> Result<i32, Error> {
    let options = options(args, None)?;
    let summary = ingest::run(&args.bundle, options)?;
    print_summary(&summary, args.format, "validate");
    Ok(if summary.clean() { 0 } else { 2 })
}

pub(crate) fn ingest(args: &IngestArgs) -> Result<i32, Error> {
    let mut options = options(&args.check, Some(args.warehouse.warehouse.clone()))?;
    options.accept_partial = args.accept_partial;
    options.wait = match args.wait.as_deref() {
        None => LockWait::No,
        Some("forever") => LockWait::Forever,
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) => LockWait::For(std::time::Duration::from_secs(seconds)),
            Err(_) => {
                return Err(Error::Usage(format!(
                    "--wait {text:?}: give a number of seconds, or --wait alone to wait as long as it takes"
                )));
            }
        },
    };
    options.key = match &args.key_file {
        Some(path) => Some(ingest::read_key(path)?),
        None => None,
    };
    let summary = ingest::run(&args.check.bundle, options)?;
    print_summary(&summary, args.check.format, "ingest");
    Ok(if summary.committed { 0 } else { 2 })
}
