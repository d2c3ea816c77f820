//! One pass over the bundle: each source's rows read, checked and either stored (in
//! batches per partition, handed to the writing thread) or rejected.

use super::*;

/// One ingest's pass over the bundle: the checker, the counts, the reject log and the
/// staging version stored rows go to (none for `validate`).
pub(super) struct Pass {
    pub(super) validator: Validator,
    pub(super) log: RejectLog,
    pub(super) problems: Vec<Reject>,
    /// Per record type, in [`RecordType::ALL`]'s order (looked up twice a row).
    pub(super) counts: [Counts; RecordType::ALL.len()],
    /// SHA-256 and size of the bundle CSV files read to their end, by path: hashed by
    /// the thread that reads them ([`input::Hashing`]).
    pub(super) digests: Digests,
    pub(super) rejected_rows: u64,
    pub(super) patient_refs: u64,
    /// Where stored rows go (none for `validate`).
    pub(super) sink: Option<Sink>,
    /// How many rows of each record type to keep for a dry run, and those kept.
    pub(super) show: usize,
    pub(super) shown: BTreeMap<RecordType, Vec<Vec<Option<String>>>>,
    /// For an export read through a mapping, per line number: bit 1 a row of it was
    /// stored, bit 2 one was rejected.
    pub(super) lines: Option<Vec<u8>>,
    /// Where cases keep patient_ref (counted even when not stored).
    pub(super) patient_ref_index: usize,
}

/// Stored rows gathered into batches per partition (cases by opened year; other types
/// in one) and handed to the staging version as each fills.
pub(super) struct PartitionWriter {
    pub(super) t: RecordType,
    /// The validator's values of the enumerated and code columns, which the batches'
    /// dictionaries are built on.
    pub(super) lists: Vec<Option<Arc<check::Listed>>>,
    pub(super) builders: BTreeMap<i32, BatchBuilder>,
    /// Rows per batch handed to the staging version (read once: it may come from the
    /// environment, and this is per row).
    pub(super) batch_rows: usize,
    /// The column that picks the partition (cases: opened_date).
    pub(super) partition_column: Option<usize>,
}

impl PartitionWriter {
    pub(super) fn new(t: RecordType, validator: &Validator) -> PartitionWriter {
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

    pub(super) fn push(
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

    pub(super) fn finish(mut self, sink: &Option<Sink>) -> Result<()> {
        for (year, builder) in &mut self.builders {
            flush(sink, self.t, *year, builder)?;
        }
        Ok(())
    }
}

impl Pass {
    /// A pass under `options`, keying the cases it stores as those of ingest
    /// `ingest_no`; `mapped`: the bundle is an export read through a mapping (whose lines
    /// are then reconciled).
    pub(super) fn new(options: &Options, mapped: bool, ingest_no: u32) -> Pass {
        Pass {
            validator: Validator::new(options.codes.clone(), options.key.clone())
                .without_text(options.no_text)
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
            lines: mapped.then(Vec::new),
            patient_ref_index: RecordType::Cases
                .column_index("patient_ref")
                .expect("cases have patient_ref"),
        }
    }

    /// A problem with a whole file: listed, and logged.
    pub(super) fn file_problem(&mut self, p: Reject) -> Result<()> {
        self.problems.push(p.clone());
        self.log.add(p)
    }

    /// A rejected row: counted, its problems logged, the rejects table flushed when full.
    pub(super) fn reject_row(&mut self, t: RecordType, rejects: Vec<Reject>) -> Result<()> {
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
    pub(super) fn read_source(
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
    pub(super) fn take_rows(
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
    pub(super) fn expect_cases(&mut self, source: &crate::input::Source, chunk: &Chunk) {
        let rows = chunk.len().max(1) as u64;
        let per_row = (chunk.text_bytes() as u64 / rows).max(1);
        if let Ok(meta) = std::fs::metadata(&source.path) {
            let cases = meta.len() / per_row;
            let cases = (cases + cases / 10).min(1 << 23);
            self.validator.expect_cases(cases as usize);
        }
    }

    pub(super) fn count_read(&mut self, t: RecordType) {
        self.counts[t.index()].read += 1;
    }

    /// Checks one item read, then stores or rejects it; the row goes to `spent`.
    pub(super) fn check_item(
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
    pub(super) fn check_fields<'a>(
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
    pub(super) fn mark_line(&mut self, n: Option<u64>, stored: bool) {
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
pub(super) const CASE_PREFETCH_AHEAD: usize = 16;

/// Rows in flight between the reading thread and the checking one: chunks of
/// [`READ_CHUNK`] rows (a bundle CSV file's: [`input::CHUNK_ROWS`]), at most
/// [`READ_AHEAD`] chunks ahead.
pub(super) const READ_CHUNK: usize = 1024;
pub(super) const READ_AHEAD: usize = 8;

/// What the reading thread hands over: the file's own problems (then nothing more), or
/// its rows in order.
pub(super) enum Read {
    Problems(Vec<Reject>),
    Rows(Vec<Result<Item>>),
    Chunk(Chunk),
}

/// Rows checked and stored, handed back to the thread that read them: rows to be freed
/// there, a chunk to be filled again.
pub(super) enum Spent {
    Rows(Vec<input::RawRow>),
    Chunk(Chunk),
}

/// The reading side of [`Pass::read_source`]: opens the source and sends its rows, and
/// frees (or refills) those handed back.
pub(super) fn read_rows(
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

/// Names a mapped row's reject by the export's own column.
pub(super) fn name_export_column(t: RecordType, origin: &[Option<String>], r: &mut Reject) {
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

pub(super) fn flush(
    sink: &Option<Sink>,
    t: RecordType,
    year: i32,
    builder: &mut BatchBuilder,
) -> Result<()> {
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
/// (gathers row groups, sorts, encodes and compresses them: a good share of the
/// ingest's work) while this one checks the next rows. At most [`WRITE_AHEAD`] batches wait.
pub(super) struct Sink(pub(super) std::sync::mpsc::SyncSender<Sent>);

/// What the writing thread is sent: a batch for a table (and a cases partition), or
/// word that a table is complete.
pub(super) enum Sent {
    Batch(&'static str, Option<i32>, RecordBatch),
    Done(&'static str),
}

/// Four row groups of batches: this thread goes on checking while the writer encodes a
/// row group (fewer made the ingest wait; docs/benchmarks.md). At 64, for a little more
/// memory, the checker no longer waits for the writer as it goes from the cases, whose
/// row groups are slow to encode, to the findings.
pub(super) const WRITE_AHEAD: usize = 64;

impl Sink {
    /// Hands a batch to the writing thread. `Err` when that thread has stopped, on an
    /// error of its own, which the ingest then reports ([`ingest_into`]).
    pub(super) fn write(
        &self,
        table: &'static str,
        partition: Option<i32>,
        batch: RecordBatch,
    ) -> Result<()> {
        self.send(Sent::Batch(table, partition, batch))
    }

    /// Tells the writing thread that `table` is complete.
    pub(super) fn done(&self, table: &'static str) -> Result<()> {
        self.send(Sent::Done(table))
    }

    pub(super) fn send(&self, sent: Sent) -> Result<()> {
        self.0
            .send(sent)
            .map_err(|_| Error::Usage("the Parquet writer stopped".into()))
    }
}
