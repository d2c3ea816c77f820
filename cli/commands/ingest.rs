//! `casework validate` and `casework ingest`.

use casework::Error;
use casework::ingest;
use casework::warehouse::LockWait;

use crate::args::{CheckArgs, IngestArgs};
use crate::output::print_summary;
use crate::session::options;

pub(crate) fn validate(args: &CheckArgs) -> Result<i32, Error> {
    keep_freed_memory();
    let options = options(args, None)?;
    let summary = ingest::run(&args.bundle, options)?;
    print_summary(&summary, args.format, "validate");
    Ok(if summary.clean() { 0 } else { 2 })
}

pub(crate) fn ingest(args: &IngestArgs) -> Result<i32, Error> {
    keep_freed_memory();
    // `--show N` is a dry run, on ingest as on validate: it reads, checks and prints,
    // and writes nothing (no warehouse version, no rejects file).
    let dry_run = args.check.show > 0;
    if dry_run {
        let no_effect = [
            (args.accept_partial, "--accept-partial"),
            (args.wait.is_some(), "--wait"),
            (args.key_file.is_some(), "--key-file"),
            (args.no_text, "--no-text"),
        ];
        if let Some((_, flag)) = no_effect.iter().find(|(given, _)| *given) {
            return Err(Error::Usage(format!(
                "{flag} has no effect with --show, which is a dry run that stores nothing: leave out one of them"
            )));
        }
    }
    let warehouse = (!dry_run).then(|| args.warehouse.warehouse.clone());
    let mut options = options(&args.check, warehouse)?;
    options.accept_partial = args.accept_partial;
    options.no_text = args.no_text;
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
    if dry_run {
        print_summary(
            &summary,
            args.check.format,
            "ingest --show (dry run, nothing written)",
        );
        return Ok(if summary.clean() { 0 } else { 2 });
    }
    print_summary(&summary, args.check.format, "ingest");
    Ok(if summary.committed { 0 } else { 2 })
}

/// Sets glibc's malloc to keep the memory the reading, checking and writing threads free,
/// for the next chunk or row group to reuse. By default, a block of more than 128 KiB is
/// mapped afresh and unmapped when freed, and the top of the heap is handed back to the
/// system at 128 KiB free: each chunk, column builder and row group then costs a page
/// fault per 4 KiB the first time it is written (much of the ingest's system time).
/// Blocks up to 32 MiB (glibc's cap for this setting) now come from the heap, and up to
/// 1 GiB free stays with the process until it exits. What is kept is not always the size
/// the next request needs, so the heap grows somewhat past the live peak, for less time
/// (docs/benchmarks.md, seventh round).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets malloc's parameters (under its own lock); it is called
    // before the ingest's threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
