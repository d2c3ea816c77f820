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

/// Problems of one rule: how many, and the first few.
#[derive(Debug, Clone, Serialize)]
pub struct RuleSummary {
    pub rule: Rule,
    pub count: u64,
    pub examples: Vec<Reject>,
}

/// What an ingest or validation found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub bundle: String,
    pub inputs: Vec<InputFile>,
    /// Per record type: rows read = stored + rejected. For `validate`, "stored" counts
    /// the rows that would be stored.
    pub counts: BTreeMap<RecordType, Counts>,
    /// Whole files that could not be read as rows (their rows are not counted).
    pub file_problems: Vec<Reject>,
    /// Problems per rule, most frequent first.
    pub rules: Vec<RuleSummary>,
    pub rejected_rows: u64,
    pub committed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejects_file: Option<String>,
    pub replaced_cases: u64,
    /// Whether `patient_ref` was stored as a keyed hash (`false`: not stored at all).
    pub pseudonymised: bool,
    pub patient_ref_values_seen: u64,
    pub code_list: String,
    pub thresholds: String,
    /// For a mapped export: the mapping file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<String>,
    /// For a mapped export: export rows that gave no row of some record type, by reason
    /// (not rejects: the mapping says these make no row).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub not_mapped: BTreeMap<String, u64>,
    /// For an export read through a mapping, its data lines reconciled: read = used +
    /// skipped_by_skip_if + made_no_row + rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_lines: Option<ExportLines>,
    /// Date-times written without an offset were read in this zone (`--time-zone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// What the analyst should know that is not a rejected row (times with and without
    /// an offset mixed with no `--time-zone`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The first rows of each record type as read (after a mapping), when asked
    /// (`--show N`): the columns with a value in any of them, then the rows.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub shown: BTreeMap<String, Shown>,
}

impl Summary {
    /// Whether everything read was stored (and, for an ingest, committed).
    pub fn clean(&self) -> bool {
        self.file_problems.is_empty() && self.rejected_rows == 0
    }
}

/// Collects rejects: counts per rule, the first examples, the rejects CSV and, when the
/// warehouse keeps them, the `rejects` table.
struct RejectLog {
    per_rule: BTreeMap<Rule, RuleSummary>,
    csv: Option<(PathBuf, csv::Writer<std::fs::File>)>,
    csv_path: Option<PathBuf>,
    /// The run every row of the CSV belongs to ([`run_label`]).
    run: String,
    table: RejectTable,
}

impl RejectLog {
    fn add(&mut self, reject: Reject) -> Result<()> {
        if self.csv.is_none()
            && let Some(path) = &self.csv_path
        {
            let mut w = csv::Writer::from_path(path)
                .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
            w.write_record(REJECTS_HEADER.iter().chain(&["run"]))
                .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
            self.csv = Some((path.clone(), w));
        }
        if let Some((path, w)) = &mut self.csv {
            let p = &reject.position;
            let line = p.number().map(|n| n.to_string()).unwrap_or_default();
            w.write_record([
                reject.record_type.name(),
                &p.file,
                p.sheet.as_deref().unwrap_or(""),
                &line,
                reject.column.as_deref().unwrap_or(""),
                reject.value.as_deref().unwrap_or(""),
                reject.rule.name(),
                &reject.message,
                &self.run,
            ])
            .map_err(|e| Error::io(&*path, std::io::Error::other(e.to_string())))?;
        }
        self.table.push(&reject);
        let entry = self.per_rule.entry(reject.rule).or_insert(RuleSummary {
            rule: reject.rule,
            count: 0,
            examples: Vec::new(),
        });
        entry.count += 1;
        if entry.examples.len() < EXAMPLES_PER_RULE {
            entry.examples.push(reject);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some((path, w)) = &mut self.csv {
            w.flush().map_err(|e| Error::io(&*path, e))?;
        }
        Ok(())
    }
}

/// The rejects CSV's columns before `run` (the header every rejects file casework has
/// written begins with: how an earlier run's file is recognised before it is removed).
const REJECTS_HEADER: [&str; 8] = [
    "record_type",
    "file",
    "sheet",
    "line",
    "column",
    "value",
    "rule",
    "message",
];

/// The rejects file named by `path`, left by an earlier run, removed: the rejects file
/// present after a run is that run's or none. A file at that path that is not a rejects
/// file is refused, not overwritten. Returns whether one was removed.
fn remove_earlier_rejects(path: &Path) -> Result<bool> {
    use std::io::BufRead;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut first = String::new();
    std::io::BufReader::new(std::io::Read::take(file, 4096))
        .read_line(&mut first)
        .map_err(|e| Error::io(path, e))?;
    if !first.trim_end().starts_with(&REJECTS_HEADER.join(",")) {
        return Err(Error::Usage(format!(
            "{}: the rejects file's path holds a file that is not a casework rejects file; give --rejects another path",
            path.display()
        )));
    }
    std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
    Ok(true)
}

/// The `run` column of a rejects file: the command, its ingest number where it stores,
/// and when it started (UTC), e.g. `ingest 3 2026-12-07T04:02:11Z`.
fn run_label(ingest: Option<u32>, started: &str) -> String {
    match ingest {
        Some(n) => format!("ingest {n} {started}"),
        None => format!("validate {started}"),
    }
}

/// The `rejects` table kept by `--accept-partial`.
struct RejectTable {
    ingest: u32,
    ingests: UInt32Builder,
    record_type: StringDictionaryBuilder<Int32Type>,
    file: StringBuilder,
    sheet: StringBuilder,
    line: UInt64Builder,
    column: StringBuilder,
    value: StringBuilder,
    rule: StringDictionaryBuilder<Int32Type>,
    message: StringBuilder,
    len: usize,
}

impl RejectTable {
    fn new(ingest: u32) -> RejectTable {
        RejectTable {
            ingest,
            ingests: UInt32Builder::new(),
            record_type: StringDictionaryBuilder::new(),
            file: StringBuilder::new(),
            sheet: StringBuilder::new(),
            line: UInt64Builder::new(),
            column: StringBuilder::new(),
            value: StringBuilder::new(),
            rule: StringDictionaryBuilder::new(),
            message: StringBuilder::new(),
            len: 0,
        }
    }

    fn push(&mut self, r: &Reject) {
        self.ingests.append_value(self.ingest);
        self.record_type.append_value(r.record_type.name());
        self.file.append_value(&r.position.file);
        self.sheet.append_option(r.position.sheet.as_deref());
        self.line.append_option(r.position.number());
        self.column.append_option(r.column.as_deref());
        self.value.append_option(r.value.as_deref());
        self.rule.append_value(r.rule.name());
        self.message.append_value(&r.message);
        self.len += 1;
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.ingests.finish()),
            Arc::new(self.record_type.finish()),
            Arc::new(self.file.finish()),
            Arc::new(self.sheet.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.column.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.rule.finish()),
            Arc::new(self.message.finish()),
        ];
        self.len = 0;
        Ok(RecordBatch::try_new(check::rejects_schema(), arrays)?)
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

/// Rows as read, for a dry run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Shown {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One ingest's pass over the bundle: the checker, the counts, the reject log and the
/// staging version stored rows go to (none for `validate`).
struct Pass {
    validator: Validator,
    log: RejectLog,
    problems: Vec<Reject>,
    /// Per record type, in [`RecordType::ALL`]'s order (looked up twice a row).
    counts: [Counts; RecordType::ALL.len()],
    /// SHA-256 and size of the bundle CSV files read to their end, by path: hashed by
    /// the thread that reads them ([`input::Hashing`]).
    digests: Digests,
    rejected_rows: u64,
    patient_refs: u64,
    /// Where stored rows go (none for `validate`).
    sink: Option<Sink>,
    /// How many rows of each record type to keep for a dry run, and those kept.
    show: usize,
    shown: BTreeMap<RecordType, Vec<Vec<Option<String>>>>,
    /// For an export read through a mapping, per line number: bit 1 a row of it was
    /// stored, bit 2 one was rejected.
    lines: Option<Vec<u8>>,
    /// Where cases keep patient_ref (counted even when not stored).
    patient_ref_index: usize,
}

/// Stored rows gathered into batches per partition (cases by opened year; other types
/// in one) and handed to the staging version as each fills.
struct PartitionWriter {
    t: RecordType,
    /// The validator's values of the enumerated and code columns, which the batches'
    /// dictionaries are built on.
    lists: Vec<Option<Arc<check::Listed>>>,
    builders: BTreeMap<i32, BatchBuilder>,
    /// Rows per batch handed to the staging version (read once: it may come from the
    /// environment, and this is per row).
    batch_rows: usize,
    /// The column that picks the partition (cases: opened_date).
    partition_column: Option<usize>,
}

impl PartitionWriter {
    fn new(t: RecordType, validator: &Validator) -> PartitionWriter {
        PartitionWriter {
            t,
            lists: validator.lists(t),
            builders: BTreeMap::new(),
            batch_rows: BATCH_ROWS.min(crate::warehouse::row_group_rows()),
            partition_column: (t == RecordType::Cases)
                .then(|| t.column_index("opened_date"))
                .flatten(),
        }
    }

    fn push(
        &mut self,
        sink: &Option<Sink>,
        values: &[check::Value<'_>],
        case_key: i64,
    ) -> Result<()> {
        let year = self
            .partition_column
            .and_then(|i| check::first_day(&values[i]))
            .map_or(0, year_of);
        let t = self.t;
        let builder = self
            .builders
            .entry(year)
            .or_insert_with(|| BatchBuilder::with_lists(t, &self.lists));
        builder.push_values(values, case_key);
        if builder.len() >= self.batch_rows {
            flush(sink, t, year, builder)?;
        }
        Ok(())
    }

    fn finish(mut self, sink: &Option<Sink>) -> Result<()> {
        for (year, builder) in &mut self.builders {
            flush(sink, self.t, *year, builder)?;
        }
        Ok(())
    }
}

impl Pass {
    /// A problem with a whole file: listed, and logged.
    fn file_problem(&mut self, p: Reject) -> Result<()> {
        self.problems.push(p.clone());
        self.log.add(p)
    }

    /// A rejected row: counted, its problems logged, the rejects table flushed when full.
    fn reject_row(&mut self, t: RecordType, rejects: Vec<Reject>) -> Result<()> {
        self.counts[t.index()].rejected += 1;
        self.rejected_rows += 1;
        for r in rejects {
            self.log.add(r)?;
        }
        if self.log.table.len >= BATCH_ROWS {
            let batch = self.log.table.finish()?;
            if let Some(s) = &self.sink {
                s.write("rejects", None, batch)?;
            }
        }
        Ok(())
    }

    /// Reads one source row by row: every row is checked, then stored or rejected.
    ///
    /// The file is read and split into fields on a thread of its own, which hands the
    /// rows over in order, a chunk at a time; this thread checks and stores them. A
    /// bundle CSV file comes as [`Chunk`]s (a row's fields are ranges of one buffer,
    /// and a chunk goes back to be filled again: no allocation per row or field);
    /// other sources as [`input::RawRow`]s. The reader stops after its first error, or
    /// when this side stops listening (an error here).
    fn read_source(
        &mut self,
        source: &crate::input::Source,
        progress: &mut dyn FnMut(RecordType, u64),
    ) -> Result<()> {
        // Once the cases are read, the reading thread looks up each row's case.
        let cases = (source.record_type != RecordType::Cases).then(|| self.validator.case_set());
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
            let (recycle, spent) = std::sync::mpsc::channel();
            let digests = Arc::clone(&self.digests);
            scope.spawn(move || read_rows(source, cases, tx, spent, &digests));
            self.take_rows(source, rx, &recycle, progress)
        })
    }

    /// The checking side of [`Pass::read_source`].
    fn take_rows(
        &mut self,
        source: &crate::input::Source,
        rx: std::sync::mpsc::Receiver<Result<Read>>,
        recycle: &std::sync::mpsc::Sender<Spent>,
        progress: &mut dyn FnMut(RecordType, u64),
    ) -> Result<()> {
        let t = source.record_type;
        let mut rx = rx.into_iter();
        let first = match rx.next().transpose()? {
            None => return Ok(()),
            Some(Read::Problems(file_rejects)) => {
                for p in file_rejects {
                    self.file_problem(p)?;
                }
                return Ok(());
            }
            Some(first) => first,
        };
        let mut writer = PartitionWriter::new(t, &self.validator);
        let case_id = t
            .column_index("case_id")
            .expect("every record type names its case");
        let mut read = 0u64;
        for message in std::iter::once(Ok(first)).chain(rx) {
            match message? {
                Read::Problems(_) => unreachable!("problems come first or not at all"),
                Read::Rows(items) => {
                    let mut spent = Vec::with_capacity(items.len());
                    for item in items {
                        read += 1;
                        self.check_item(t, item?, &mut writer, &mut spent)?;
                        if read.is_multiple_of(BATCH_ROWS as u64) {
                            progress(t, read);
                        }
                    }
                    // Freed on the reading thread, which allocated them (glibc's malloc
                    // then takes no lock shared by the two threads).
                    let _ = recycle.send(Spent::Rows(spent));
                }
                Read::Chunk(mut chunk) => {
                    let mut values = Vec::with_capacity(t.columns().len());
                    let mut fields = Vec::with_capacity(t.columns().len());
                    // The rows' cases, looked up by the reading thread (CaseSet::find).
                    let mut found = chunk.found.iter().copied();
                    // Cases: the case set is added to here, so each row's slot is
                    // prefetched a few rows ahead; on the first chunk, it makes room
                    // for as many cases as the file's size suggests.
                    let ids: Vec<Option<&str>> = if t == RecordType::Cases {
                        if read == 0 {
                            self.expect_cases(source, &chunk);
                        }
                        chunk.column(case_id).collect()
                    } else {
                        Vec::new()
                    };
                    let mut row = 0;
                    for entry in chunk.entries() {
                        read += 1;
                        match entry {
                            Entry::Unreadable(reject) => {
                                self.count_read(t);
                                self.reject_row(t, vec![reject.clone()])?;
                            }
                            Entry::Row { line, fields: f } => {
                                if let Some(Some(id)) = ids.get(row + CASE_PREFETCH_AHEAD) {
                                    self.validator.prefetch_case(id);
                                }
                                row += 1;
                                fields.clear();
                                fields.extend((0..f.len()).map(|i| f.get(i)));
                                let at = || Position::line(&source.file, line);
                                self.check_fields(
                                    t,
                                    &fields,
                                    &at,
                                    Some(line),
                                    None,
                                    found.next(),
                                    &mut writer,
                                    &mut values,
                                )?;
                            }
                        }
                        if read.is_multiple_of(BATCH_ROWS as u64) {
                            progress(t, read);
                        }
                    }
                    let error = chunk.error.take();
                    // Filled again by the reading thread.
                    let _ = recycle.send(Spent::Chunk(chunk));
                    if let Some(e) = error {
                        return Err(e);
                    }
                }
            }
        }
        progress(t, read);
        if t == RecordType::Cases && read == 0 {
            self.file_problem(Reject::new(
                t,
                crate::spec::reject::Position::file(&source.file),
                Rule::EmptyFile,
                format!(
                    "{} has a header but no rows: a bundle needs at least one case",
                    source.file
                ),
            ))?;
        }
        writer.finish(&self.sink)
    }

    /// Room in the case set for the cases of a file whose first chunk is `chunk`: the
    /// file's bytes over the chunk's bytes a row, and a tenth more, at most eight
    /// million (2^24 slots, 512 MiB: an odd first chunk cannot make it reserve more;
    /// past that the set grows as it fills).
    fn expect_cases(&mut self, source: &crate::input::Source, chunk: &Chunk) {
        let rows = chunk.len().max(1) as u64;
        let per_row = (chunk.text_bytes() as u64 / rows).max(1);
        if let Ok(meta) = std::fs::metadata(&source.path) {
            let cases = meta.len() / per_row;
            let cases = (cases + cases / 10).min(1 << 23);
            self.validator.expect_cases(cases as usize);
        }
    }

    fn count_read(&mut self, t: RecordType) {
        self.counts[t.index()].read += 1;
    }

    /// Checks one item read, then stores or rejects it; the row goes to `spent`.
    fn check_item(
        &mut self,
        t: RecordType,
        item: Item,
        writer: &mut PartitionWriter,
        spent: &mut Vec<input::RawRow>,
    ) -> Result<()> {
        match item {
            Item::Unreadable(reject) => {
                self.count_read(t);
                let line = reject.position.number();
                self.mark_line(line, false);
                if let Some(id) = &reject.case {
                    self.validator.rejected_case(id, line.unwrap_or(0));
                }
                self.reject_row(t, vec![reject])
            }
            Item::Row(row) => {
                let fields: Vec<Option<&str>> = row.values.iter().map(|v| v.as_deref()).collect();
                let mut values = Vec::with_capacity(fields.len());
                let at = || row.position.clone();
                let origin = row.origin.as_deref().map(|o| o.as_slice());
                let line = row.position.number();
                self.check_fields(t, &fields, &at, line, origin, None, writer, &mut values)?;
                spent.push(row);
                Ok(())
            }
        }
    }

    /// Checks one row's fields, then stores or rejects it. `origin`: for a row of a
    /// mapped export, the export column of each field (rejects name it). `found`: its
    /// case, already looked up.
    #[allow(clippy::too_many_arguments)]
    fn check_fields<'a>(
        &mut self,
        t: RecordType,
        fields: &[Option<&'a str>],
        at: &dyn Fn() -> Position,
        line: Option<u64>,
        origin: Option<&[Option<String>]>,
        found: Option<Option<i64>>,
        writer: &mut PartitionWriter,
        values: &mut Vec<check::Value<'a>>,
    ) -> Result<()> {
        self.count_read(t);
        if self.show > 0 {
            let kept = self.shown.entry(t).or_default();
            if kept.len() < self.show {
                kept.push(fields.iter().map(|f| f.map(str::to_string)).collect());
            }
        }
        if t == RecordType::Cases && fields[self.patient_ref_index].is_some() {
            self.patient_refs += 1;
        }
        let outcome = self
            .validator
            .check_fields(t, fields, line, at, found, values);
        self.mark_line(line, outcome.is_ok());
        match outcome {
            Ok(case_key) => {
                self.counts[t.index()].stored += 1;
                writer.push(&self.sink, values, case_key)
            }
            Err(mut rejects) => {
                if let Some(origin) = origin {
                    for r in &mut rejects {
                        name_export_column(t, origin, r);
                    }
                }
                self.reject_row(t, rejects)
            }
        }
    }

    /// For an export read through a mapping: notes that a row of line `n` was stored
    /// (or rejected).
    fn mark_line(&mut self, n: Option<u64>, stored: bool) {
        if let (Some(lines), Some(n)) = (self.lines.as_mut(), n) {
            let n = n as usize;
            if lines.len() <= n {
                lines.resize(n + 1, 0);
            }
            lines[n] |= if stored { 1 } else { 2 };
        }
    }
}

/// Cases checked before the one whose slot is prefetched (as [`check::CaseSet::find`]
/// looks ahead for the other record types).
const CASE_PREFETCH_AHEAD: usize = 16;

/// Rows in flight between the reading thread and the checking one: chunks of
/// [`READ_CHUNK`] rows (a bundle CSV file's: [`input::CHUNK_ROWS`]), at most
/// [`READ_AHEAD`] chunks ahead.
const READ_CHUNK: usize = 1024;
const READ_AHEAD: usize = 8;

/// What the reading thread hands over: the file's own problems (then nothing more), or
/// its rows in order.
enum Read {
    Problems(Vec<Reject>),
    Rows(Vec<Result<Item>>),
    Chunk(Chunk),
}

/// Rows checked and stored, handed back to the thread that read them: rows to be freed
/// there, a chunk to be filled again.
enum Spent {
    Rows(Vec<input::RawRow>),
    Chunk(Chunk),
}

/// The reading side of [`Pass::read_source`]: opens the source and sends its rows, and
/// frees (or refills) those handed back.
fn read_rows(
    source: &crate::input::Source,
    cases: Option<Arc<check::CaseSet>>,
    tx: std::sync::mpsc::SyncSender<Result<Read>>,
    spent: std::sync::mpsc::Receiver<Spent>,
    digests: &Digests,
) {
    match input::open_chunks(source) {
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
        Ok(Some(Err(problems))) => {
            let _ = tx.send(Ok(Read::Problems(problems)));
            return;
        }
        Ok(Some(Ok(mut reader))) => {
            let case_id = source
                .record_type
                .column_index("case_id")
                .expect("every record type has case_id");
            // An empty file still sends its (empty) chunk, so the other side knows it
            // was read.
            loop {
                let mut chunk = match spent.try_recv() {
                    Ok(Spent::Chunk(chunk)) => chunk,
                    _ => Chunk::default(),
                };
                let more = reader.fill(&mut chunk);
                if let Some(cases) = &cases {
                    let mut found = std::mem::take(&mut chunk.found);
                    cases.find(chunk.column(case_id), &mut found);
                    chunk.found = found;
                }
                let stop = !more || chunk.error.is_some();
                if stop && let Some(digest) = reader.digest() {
                    let mut digests = digests.lock().expect("no thread panics holding it");
                    digests.insert(source.path.clone(), digest);
                }
                if tx.send(Ok(Read::Chunk(chunk))).is_err() || stop {
                    return;
                }
            }
        }
        Ok(None) => {}
    }
    let rows = match input::open(source) {
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
        Ok(Err(problems)) => {
            let _ = tx.send(Ok(Read::Problems(problems)));
            return;
        }
        Ok(Ok(rows)) => rows,
    };
    let mut chunk = Vec::with_capacity(READ_CHUNK);
    for item in rows {
        let stop = item.is_err();
        chunk.push(item);
        if chunk.len() == READ_CHUNK || stop {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(READ_CHUNK));
            if tx.send(Ok(Read::Rows(full))).is_err() || stop {
                return;
            }
            while let Ok(Spent::Rows(rows)) = spent.try_recv() {
                drop(rows);
            }
        }
    }
    // An empty file still sends its (empty) rows, so the other side knows it was read.
    let _ = tx.send(Ok(Read::Rows(chunk)));
}

/// SHA-256 (hex) and size of input files, by path.
type Digests = Arc<std::sync::Mutex<HashMap<std::path::PathBuf, (String, u64)>>>;

/// Hashes the input files that are not bundle CSV files (those are hashed as they are
/// read): workbooks, NDJSON, exports read through a mapping.
fn hash_other_files(bundle: &Bundle) -> Result<HashMap<std::path::PathBuf, (String, u64)>> {
    let mut digests = HashMap::new();
    for source in bundle.sources.iter().filter(|s| !s.reads_in_chunks()) {
        if !digests.contains_key(&source.path) {
            digests.insert(source.path.clone(), input::sha256_file(&source.path)?);
        }
    }
    Ok(digests)
}

/// The input files, each hashed once (a workbook, or an export read through a mapping,
/// is one file behind several record types): from `hashed`, or now (a CSV file whose
/// reading stopped before its end).
fn input_files(
    bundle: &Bundle,
    hashed: &HashMap<std::path::PathBuf, (String, u64)>,
) -> Result<Vec<InputFile>> {
    let mut inputs = Vec::new();
    let mut seen: HashSet<std::path::PathBuf> = HashSet::new();
    for source in &bundle.sources {
        if seen.insert(source.path.clone()) {
            let (sha256, bytes) = match hashed.get(&source.path) {
                Some(digest) => digest.clone(),
                None => input::sha256_file(&source.path)?,
            };
            inputs.push(InputFile {
                record_type: source.record_type.name().to_string(),
                file: source.file.clone(),
                sheet: source.sheet.clone(),
                format: format!("{:?}", source.format).to_lowercase(),
                bytes,
                sha256,
            });
        }
    }
    Ok(inputs)
}

fn ingest_into(
    bundle: &Bundle,
    mapping: Option<&Mapping>,
    file_problems: Vec<Reject>,
    options: &mut Options,
    old: Option<&Manifest>,
    staging: Option<&mut Staging>,
    ingest_no: u32,
) -> Result<(Summary, IngestRecord)> {
    let mut pass = Pass {
        validator: Validator::new(options.codes.clone(), options.key.clone())
            .with_ingest(ingest_no)
            .with_time_zone(options.time_zone)
            .with_organisation_types(
                (!options.study.organisation_types.is_empty())
                    .then(|| options.study.organisation_types.clone()),
            ),
        log: RejectLog {
            per_rule: BTreeMap::new(),
            csv: None,
            csv_path: options.rejects_file.clone(),
            run: options.run.clone(),
            table: RejectTable::new(ingest_no),
        },
        problems: Vec::new(),
        counts: Default::default(),
        digests: Digests::default(),
        rejected_rows: 0,
        patient_refs: 0,
        sink: None,
        show: options.show,
        shown: BTreeMap::new(),
        lines: mapping.map(|_| Vec::new()),
        patient_ref_index: RecordType::Cases
            .column_index("patient_ref")
            .expect("cases have patient_ref"),
    };
    for p in file_problems {
        pass.file_problem(p)?;
    }
    // The input files are hashed (for the manifest) as they are read, others on a
    // thread of their own, and stored rows written while the next are checked (Sink).
    let mut staging = staging;
    let inputs = std::thread::scope(|scope| {
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
            staging = Some(writer.join().expect("the writing thread does not panic")?);
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
    })?;
    pass.log.finish()?;
    let mut replaced_cases = 0;
    if let Some(s) = staging {
        if pass.log.table.len > 0 {
            let batch = pass.log.table.finish()?;
            s.write("rejects", None, &batch)?;
        }
        if let Some(old) = old {
            let validator = &pass.validator;
            let stored = |id: &str| validator.has_case(id);
            let replaced: Option<&dyn Fn(&str) -> bool> =
                (validator.stored_cases() > 0).then_some(&stored);
            let dropped = s.carry_over(old, replaced)?;
            replaced_cases = dropped.get("cases").copied().unwrap_or(0);
        }
    }
    let counts: BTreeMap<RecordType, Counts> =
        RecordType::ALL.into_iter().zip(pass.counts).collect();
    let mut rules: Vec<RuleSummary> = pass.log.per_rule.into_values().collect();
    rules.sort_by(|a, b| b.count.cmp(&a.count).then(a.rule.cmp(&b.rule)));
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
    let mut notes = Vec::new();
    let (zoned, local) = pass.validator.times_seen();
    if zoned > 0 && local > 0 && options.time_zone.is_none() {
        notes.push(format!(
            "{zoned} times have an offset (Z, +01:00) and {local} have none; those without are read as UTC, so an interval between the two kinds can be an hour out in summer: give --time-zone (for example Europe/London) to read them as local times"
        ));
    }
    let single = pass.validator.single_coder_cases();
    if !single.is_empty() {
        let shown: Vec<&str> = single.iter().take(10).map(|s| s.as_str()).collect();
        notes.push(format!(
            "{} cases in codings were coded by one coder only ({}{}): agreement needs two coders of a case, so they are left out of it",
            single.len(),
            shown.join(", "),
            if single.len() > shown.len() { ", …" } else { "" }
        ));
    }
    if let Some(note) = partial_dates_note(pass.validator.partial_dates()) {
        notes.push(note);
    }
    if let Some(m) = mapping {
        notes.extend(m.name_matches());
        notes.extend(m.unused());
    }
    let mut shown = BTreeMap::new();
    for (t, rows) in std::mem::take(&mut pass.shown) {
        if rows.is_empty() {
            continue;
        }
        // patient_ref and free-text notes are never shown; columns with no value in any
        // row are left out.
        let keep: Vec<usize> = (0..t.columns().len())
            .filter(|&i| !crate::spec::reject::CONFIDENTIAL_COLUMNS.contains(&t.columns()[i].name))
            .filter(|&i| rows.iter().any(|r| r[i].is_some()))
            .collect();
        shown.insert(
            t.name().to_string(),
            Shown {
                columns: keep
                    .iter()
                    .map(|&i| t.columns()[i].name.to_string())
                    .collect(),
                rows: rows
                    .iter()
                    .map(|r| {
                        keep.iter()
                            .map(|&i| r[i].clone().unwrap_or_default())
                            .collect()
                    })
                    .collect(),
            },
        );
    }
    let summary = Summary {
        shown,
        time_zone: options.time_zone.map(|z| z.name().to_string()),
        notes,
        bundle: bundle.dir.display().to_string(),
        inputs,
        counts,
        file_problems: pass.problems,
        rules,
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
        export_lines: mapping.zip(pass.lines.as_ref()).map(|(m, lines)| {
            let (read, skipped) = m.lines();
            let rejected = lines.iter().filter(|b| **b & 2 != 0).count() as u64;
            let used = lines.iter().filter(|b| **b == 1).count() as u64;
            ExportLines {
                read,
                used,
                skipped_by_skip_if: skipped,
                made_no_row: read.saturating_sub(used + rejected + skipped),
                rejected,
            }
        }),
    };
    Ok((summary, record))
}

/// An export's data lines, reconciled (see [`Summary::export_lines`]).
#[derive(Debug, Clone, Serialize)]
pub struct ExportLines {
    pub read: u64,
    /// Lines that gave at least one stored row and no rejected one.
    pub used: u64,
    pub skipped_by_skip_if: u64,
    /// Lines that made no row of their own: every row they would make needed an empty
    /// field (`require`), or they only repeated a case (a `per_case` field may still
    /// have read them).
    pub made_no_row: u64,
    /// Lines of which at least one row was rejected.
    pub rejected: u64,
}

/// Names a mapped row's reject by the export's own column.
fn name_export_column(t: RecordType, origin: &[Option<String>], r: &mut Reject) {
    let Some(column) = r.column.clone() else {
        return;
    };
    let Some(index) = t.column_index(&column) else {
        return;
    };
    if let Some(Some(label)) = origin.get(index) {
        r.message = format!("{column} (from export column {label:?}): {}", r.message);
        r.column = Some(label.clone());
    }
}

fn flush(sink: &Option<Sink>, t: RecordType, year: i32, builder: &mut BatchBuilder) -> Result<()> {
    if builder.is_empty() {
        return Ok(());
    }
    let batch = builder.finish()?;
    if let Some(s) = sink {
        let partition = (t == RecordType::Cases).then_some(year);
        s.write(t.name(), partition, batch)?;
    }
    Ok(())
}

/// Batches on their way to the staging version: a thread of their own writes them
/// (gathers row groups, sorts, encodes and compresses them: a fifth of the ingest's
/// work) while this one checks the next rows. At most [`WRITE_AHEAD`] batches wait.
struct Sink(std::sync::mpsc::SyncSender<Sent>);

/// What the writing thread is sent: a batch for a table (and a cases partition), or
/// word that a table is complete.
enum Sent {
    Batch(&'static str, Option<i32>, RecordBatch),
    Done(&'static str),
}

/// Four row groups of batches: this thread goes on checking while the writer encodes a
/// row group (at 4, a million cases took 6.1 s to ingest; at 32, 4.9 s). At 64 (a
/// million cases' peak RSS 225 to 240 MiB), the checker no longer waits for the writer
/// as it goes from the cases, whose row groups are slow to encode, to the findings.
const WRITE_AHEAD: usize = 64;

impl Sink {
    /// Hands a batch to the writing thread. `Err` when that thread has stopped, on an
    /// error of its own, which the ingest then reports ([`ingest_into`]).
    fn write(&self, table: &'static str, partition: Option<i32>, batch: RecordBatch) -> Result<()> {
        self.send(Sent::Batch(table, partition, batch))
    }

    /// Tells the writing thread that `table` is complete.
    fn done(&self, table: &'static str) -> Result<()> {
        self.send(Sent::Done(table))
    }

    fn send(&self, sent: Sent) -> Result<()> {
        self.0
            .send(sent)
            .map_err(|_| Error::Usage("the Parquet writer stopped".into()))
    }
}

/// The exposure that comes with the data: a bundle's `exposure.csv`, or the file a
/// mapping's `[exposure]` names (relative to the mapping's folder). Its values replace the study's
/// lookup (docs/oversight.md, "Rates per exposure"). A study that reads themes per
/// exposure must have values from one or the other. Returns the summary's note.
fn take_exposure(bundle_dir: &Path, options: &mut Options) -> Result<Option<String>> {
    use crate::spec::study::{ExposureColumns, ExposureSpec};
    let from = match &options.mapping {
        Some(m) => match &m.exposure {
            Some(e) if !e.path.is_file() => {
                return Err(Error::Config {
                    file: m.path.clone(),
                    message: format!(
                        "[exposure] file {:?}: no such file at {}{}",
                        e.file,
                        e.path.display(),
                        crate::mapping::moved_hint(
                            &e.file,
                            bundle_dir.parent().unwrap_or(Path::new("."))
                        )
                    ),
                });
            }
            Some(e) => Some((e.path.clone(), e.columns.clone())),
            None => None,
        },
        None => {
            let p = bundle_dir.join("exposure.csv");
            p.is_file().then(|| (p, ExposureColumns::default()))
        }
    };
    let mut note = None;
    if let Some((path, columns)) = from {
        let values = ExposureSpec::read_file_with(&path, &columns)?;
        let n = values.len();
        options.study.take_exposure(values, &path)?;
        let organisations = options
            .study
            .exposure
            .as_ref()
            .map_or(0, |e| e.organisations().len());
        note = Some(format!(
            "exposure: {n} values for {organisations} organisations read from {} (they replace the study's lookup)",
            path.display()
        ));
    }
    if options
        .study
        .exposure
        .as_ref()
        .is_some_and(|e| e.values.is_empty())
    {
        return Err(Error::Usage(
            "the study reads themes per exposure ([exposure]) but has no values: give its file or values in study.toml, an exposure.csv in the bundle, or [exposure] in the mapping (docs/studies.md)".into(),
        ));
    }
    Ok(note)
}

/// The calendar year of a Date32 value.
pub fn year_of(days: i32) -> i32 {
    crate::spec::dates::civil_from_days(i64::from(days)).0 as i32
}

/// Reads a pseudonymisation key: at least 32 bytes, from a private file
/// ([`read_secret`]). The key's bytes are never printed or logged.
pub fn read_key(path: &Path) -> Result<Vec<u8>> {
    let key = read_secret(path, "key")?;
    if key.len() < 32 {
        return Err(Error::Config {
            file: path.to_path_buf(),
            message: format!(
                "the key is {} bytes long; a pseudonymisation key must be at least 32 bytes",
                key.len()
            ),
        });
    }
    Ok(key)
}

/// Reads a secret (`what`: "key", "token") from a file. On Unix the file must be a
/// regular file that only its owner can read or write (mode 600 or 400): a secret
/// others can read is no secret, and casework refuses it rather than warn.
pub fn read_secret(path: &Path, what: &str) -> Result<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| Error::Config {
            file: path.to_path_buf(),
            message: format!("cannot read the {what} file: {e}"),
        })?;
        if !meta.is_file() {
            return Err(Error::Config {
                file: path.to_path_buf(),
                message: format!("the {what} file is not a regular file"),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Config {
                file: path.to_path_buf(),
                message: format!(
                    "the {what} file can be read or written by others (mode {mode:03o}); make it private with chmod 600"
                ),
            });
        }
    }
    std::fs::read(path).map_err(|e| Error::Config {
        file: path.to_path_buf(),
        message: format!("cannot read the {what} file: {e}"),
    })
}

/// What the summary says of dates stored without their day.
fn partial_dates_note(
    counts: &BTreeMap<(RecordType, &'static str, &'static str), u64>,
) -> Option<String> {
    if counts.is_empty() {
        return None;
    }
    let list: Vec<String> = counts
        .iter()
        .map(|((t, column, precision), n)| {
            format!("{t}.{column}: {n} known only to the {precision}")
        })
        .collect();
    Some(format!(
        "dates without a day, stored at the first day of their month or year: {}; delay intervals and the days from decision to learning review leave them out (counted as not_to_the_day), and monthly series leave out a date known only to the year",
        list.join(", ")
    ))
}
