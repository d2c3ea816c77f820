//! The ingest (and validate) job: bundle → rules → warehouse, with every row either
//! stored or reported as rejected, and counts that reconcile.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::array::{
    ArrayRef, RecordBatch, StringBuilder, StringDictionaryBuilder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::Int32Type;
use serde::Serialize;
use std::sync::Arc;

use crate::check::{self, BatchBuilder, Validator};
use crate::error::{Error, Result};
use crate::input::{self, Bundle, Chunk, Entry, Item};
use crate::mapping::Mapping;
use crate::spec::reject::{Position, Reject, Rule};
use crate::spec::{CodeList, RecordType, Thresholds};
use crate::warehouse::{Counts, IngestRecord, InputFile, Manifest, Staging, Warehouse};

mod inputs;
mod pass;
mod rejects;
mod summary;

pub use inputs::*;
use pass::*;
use rejects::*;
pub use summary::*;

/// Rows per Arrow batch handed to the Parquet writer: the unit that bounds memory.
pub const BATCH_ROWS: usize = 8192;
/// Examples of each rule kept for the printed summary (the rejects file has them all).
pub const EXAMPLES_PER_RULE: usize = 3;

/// How to run an ingest.
pub struct Options {
    /// Where to store; `None` validates only and writes nothing to a warehouse.
    pub warehouse: Option<PathBuf>,
    /// Commit the valid rows even when some are rejected.
    pub accept_partial: bool,
    /// HMAC key for `patient_ref`; without one `patient_ref` is not stored.
    pub key: Option<Vec<u8>>,
    /// `--no-text`: a case's narrative and a finding's note are not stored.
    pub no_text: bool,
    pub codes: CodeList,
    pub thresholds: Thresholds,
    /// Where to write every reject as CSV (written only when there are rejects). A
    /// rejects file an earlier run left there is removed when the run starts, so the file
    /// present afterwards is always this run's (each row names the run in `run`).
    pub rejects_file: Option<PathBuf>,
    /// Called after each batch of rows with the rows read so far.
    pub progress: Box<dyn FnMut(RecordType, u64)>,
    /// Read the input as an export through this mapping (the path is then the export
    /// file, not a bundle folder).
    pub mapping: Option<Mapping>,
    /// Caps on input sizes.
    pub limits: crate::input::limits::Limits,
    /// Whether to wait for another process writing the warehouse.
    pub wait: crate::warehouse::LockWait,
    /// The zone of date-times written without an offset (`--time-zone`); `None`: UTC.
    pub time_zone: Option<chrono_tz::Tz>,
    /// The study in force, kept in the warehouse with the code list and thresholds.
    pub study: crate::spec::study::StudyFile,
    /// Rows of each record type to show as read (after a mapping), for a dry run.
    pub show: usize,
    /// The run's label in the rejects file (set by [`run`]).
    run: String,
}

impl Options {
    pub fn new(warehouse: Option<PathBuf>) -> Options {
        Options {
            warehouse,
            accept_partial: false,
            key: None,
            no_text: false,
            codes: CodeList::spec_default(),
            thresholds: Thresholds::spec_default(),
            rejects_file: None,
            progress: Box::new(|_, _| {}),
            mapping: None,
            limits: crate::input::limits::Limits::default(),
            wait: crate::warehouse::LockWait::No,
            time_zone: None,
            study: crate::spec::study::StudyFile::for_code_list(&CodeList::spec_default()),
            show: 0,
            run: String::new(),
        }
    }
}

/// Validates a bundle and, when `options.warehouse` is set, stores it.
///
/// Default policy: when any row or file is rejected nothing is committed (the summary
/// and the rejects file say why) and the result is `Ok` with `committed: false`. With
/// `accept_partial`, the valid rows are committed and the rejects kept in the
/// warehouse's `rejects` table; file problems still stop the commit.
pub fn run(bundle_dir: &Path, mut options: Options) -> Result<Summary> {
    let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let exposure_note = take_exposure(bundle_dir, &mut options)?;
    let (bundle, file_problems, mapping) = match options.mapping.take() {
        Some(mapping) => {
            let (bundle, mapping) = mapping.bind_with(bundle_dir, options.limits)?;
            (bundle, Vec::new(), Some(mapping))
        }
        None => {
            let (bundle, problems) = Bundle::locate_with(bundle_dir, options.limits)?;
            (bundle, problems, None)
        }
    };
    let warehouse = options.warehouse.as_ref().map(Warehouse::new);
    // The lock is taken before the committed state is read (Warehouse::begin).
    let (mut staging, old) = match &warehouse {
        Some(w) => {
            let (staging, old) = w.begin(options.wait)?;
            (Some(staging), old)
        }
        None => (None, None),
    };
    let ingest_no = staging.as_ref().map_or(1, |s| s.ingest_number());
    options.run = run_label(staging.as_ref().map(|s| s.ingest_number()), &started);
    let earlier_rejects = match &options.rejects_file {
        Some(path) => match remove_earlier_rejects(path) {
            Ok(removed) => removed.then(|| path.clone()),
            Err(e) => {
                if let Some(s) = staging {
                    let _ = s.abort();
                }
                return Err(e);
            }
        },
        None => None,
    };
    let result = ingest_into(
        &bundle,
        mapping.as_deref(),
        file_problems,
        &mut options,
        old.as_ref(),
        staging.as_mut(),
        ingest_no,
    );
    let (mut summary, record) = match result {
        Ok(mut v) => {
            v.0.notes.extend(exposure_note);
            if let Some(path) = earlier_rejects
                && v.0.rejects_file.is_none()
            {
                v.0.notes.push(format!(
                    "removed {}, the rejects file of an earlier run: this run rejected nothing",
                    path.display()
                ));
            }
            v
        }
        Err(e) => {
            if let Some(s) = staging {
                let _ = s.abort();
            }
            return Err(e);
        }
    };
    if let (Some(mut staging), Some(w)) = (staging, &warehouse) {
        let commit = summary.file_problems.is_empty()
            && (summary.rejected_rows == 0 || options.accept_partial);
        summary.warehouse = Some(w.root.display().to_string());
        if commit {
            staging.put_config(crate::warehouse::CODES_FILE, &options.codes.source.text)?;
            staging.put_config(
                crate::warehouse::THRESHOLDS_FILE,
                &options.thresholds.source.text,
            )?;
            staging.put_config(crate::warehouse::STUDY_FILE, &options.study.to_toml())?;
            let manifest = staging.commit(old, record)?;
            summary.committed = true;
            summary.version = Some(manifest.version);
        } else {
            staging.abort()?;
        }
    }
    Ok(summary)
}

/// One ingest's pass over the bundle (see [`run`]), and the record the manifest keeps.
fn ingest_into(
    bundle: &Bundle,
    mapping: Option<&Mapping>,
    file_problems: Vec<Reject>,
    options: &mut Options,
    old: Option<&Manifest>,
    staging: Option<&mut Staging>,
    ingest_no: u32,
) -> Result<(Summary, IngestRecord)> {
    let mut pass = Pass::new(options, mapping.is_some(), ingest_no);
    for p in file_problems {
        pass.file_problem(p)?;
    }
    let mut staging = staging;
    let inputs = read_all(&mut pass, bundle, options, &mut staging)?;
    pass.log.finish()?;
    let mut replaced_cases = 0;
    if let Some(s) = staging {
        replaced_cases = finish_staging(&mut pass, s, old)?;
    }
    let counts: BTreeMap<RecordType, Counts> =
        RecordType::ALL.into_iter().zip(pass.counts).collect();
    let record = IngestRecord {
        number: ingest_no,
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        casework_version: env!("CARGO_PKG_VERSION").to_string(),
        bundle: bundle.dir.display().to_string(),
        inputs: inputs.clone(),
        counts: counts
            .iter()
            .map(|(t, c)| (t.name().to_string(), *c))
            .collect(),
        replaced_cases,
        policy: if options.accept_partial {
            "accept_partial".into()
        } else {
            "all_or_nothing".into()
        },
        pseudonymised: options.key.is_some(),
        code_list: options.codes.source.clone(),
        thresholds: options.thresholds.source.clone(),
    };
    let summary = Summary {
        shown: shown(std::mem::take(&mut pass.shown)),
        time_zone: options.time_zone.map(|z| z.name().to_string()),
        notes: notes(&pass.validator, options, mapping),
        bundle: bundle.dir.display().to_string(),
        inputs,
        counts,
        file_problems: pass.problems,
        rules: rules(pass.log.per_rule),
        rejected_rows: pass.rejected_rows,
        committed: false,
        warehouse: None,
        version: None,
        rejects_file: pass.log.csv.as_ref().map(|(p, _)| p.display().to_string()),
        replaced_cases,
        pseudonymised: options.key.is_some(),
        patient_ref_values_seen: pass.patient_refs,
        code_list: options.codes.source.name.clone(),
        thresholds: options.thresholds.source.name.clone(),
        mapping: mapping.map(|m| m.source.name.clone()),
        not_mapped: mapping.map(|m| m.skipped()).unwrap_or_default(),
        export_lines: mapping
            .zip(pass.lines.as_ref())
            .map(|(m, lines)| export_lines(m, lines)),
    };
    Ok((summary, record))
}

/// Reads every source of the bundle through `pass`: the input files are hashed (for the
/// manifest) as they are read, others on a thread of their own, and stored rows are
/// written to the staging version on a thread of its own while the next are checked
/// ([`Sink`]). Returns the input files.
fn read_all(
    pass: &mut Pass,
    bundle: &Bundle,
    options: &mut Options,
    staging: &mut Option<&mut Staging>,
) -> Result<Vec<InputFile>> {
    std::thread::scope(|scope| {
        let hashing = scope.spawn(|| hash_other_files(bundle));
        let writer = staging.take().map(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel(WRITE_AHEAD);
            pass.sink = Some(Sink(tx));
            scope.spawn(move || -> Result<&mut Staging> {
                for sent in rx {
                    match sent {
                        Sent::Batch(table, partition, batch) => {
                            s.write(table, partition, &batch)?
                        }
                        Sent::Done(table) => s.finish_table(table)?,
                    }
                }
                Ok(s)
            })
        });
        let read = bundle.sources.iter().try_for_each(|source| {
            pass.read_source(source, &mut *options.progress)?;
            // A record type has one source ([`Bundle`]): once it is read, its table
            // is complete, and finished on the writing thread while the next is
            // checked.
            match &pass.sink {
                Some(sink) => sink.done(source.record_type.name()),
                None => Ok(()),
            }
        });
        // The writer finishes what it was sent; its own error comes first.
        pass.sink = None;
        if let Some(writer) = writer {
            *staging = Some(writer.join().expect("the writing thread does not panic")?);
        }
        read?;
        let mut hashed = hashing.join().expect("the hashing thread does not panic")?;
        hashed.extend(
            pass.digests
                .lock()
                .expect("no thread panics holding it")
                .drain(),
        );
        input_files(bundle, &hashed)
    })
}

/// After the rows: the rejects kept (`--accept-partial`) and the committed files carried
/// over into the staging version, less the rows of the cases this ingest replaced.
/// Returns how many cases were replaced.
fn finish_staging(pass: &mut Pass, s: &mut Staging, old: Option<&Manifest>) -> Result<u64> {
    if pass.log.table.len > 0 {
        let batch = pass.log.table.finish()?;
        s.write("rejects", None, &batch)?;
    }
    let Some(old) = old else {
        return Ok(0);
    };
    let validator = &pass.validator;
    let stored = |id: &str| validator.has_case(id);
    let replaced: Option<&dyn Fn(&str) -> bool> = (validator.stored_cases() > 0).then_some(&stored);
    let dropped = s.carry_over(old, replaced)?;
    Ok(dropped.get("cases").copied().unwrap_or(0))
}

/// The calendar year of a Date32 value.
pub fn year_of(days: i32) -> i32 {
    crate::spec::dates::civil_from_days(i64::from(days)).0 as i32
}
