//! Rejects: counted per rule with their first examples, written to the rejects CSV
//! (which names its run, and replaces an earlier run's), and kept in the warehouse's
//! `rejects` table under `--accept-partial`.

use super::*;

/// Collects rejects: counts per rule, the first examples, the rejects CSV and, when the
/// warehouse keeps them, the `rejects` table.
pub(super) struct RejectLog {
    pub(super) per_rule: BTreeMap<Rule, RuleSummary>,
    pub(super) csv: Option<(PathBuf, csv::Writer<std::fs::File>)>,
    pub(super) csv_path: Option<PathBuf>,
    /// The run every row of the CSV belongs to ([`run_label`]).
    pub(super) run: String,
    pub(super) table: RejectTable,
}

impl RejectLog {
    pub(super) fn add(&mut self, reject: Reject) -> Result<()> {
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

    pub(super) fn finish(&mut self) -> Result<()> {
        if let Some((path, w)) = &mut self.csv {
            w.flush().map_err(|e| Error::io(&*path, e))?;
        }
        Ok(())
    }
}

/// The rejects CSV's columns before `run` (the header every rejects file casework has
/// written begins with: how an earlier run's file is recognised before it is removed).
pub(super) const REJECTS_HEADER: [&str; 8] = [
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
pub(super) fn remove_earlier_rejects(path: &Path) -> Result<bool> {
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
pub(super) fn run_label(ingest: Option<u32>, started: &str) -> String {
    match ingest {
        Some(n) => format!("ingest {n} {started}"),
        None => format!("validate {started}"),
    }
}

/// The `rejects` table kept by `--accept-partial`.
pub(super) struct RejectTable {
    pub(super) ingest: u32,
    pub(super) ingests: UInt32Builder,
    pub(super) record_type: StringDictionaryBuilder<Int32Type>,
    pub(super) file: StringBuilder,
    pub(super) sheet: StringBuilder,
    pub(super) line: UInt64Builder,
    pub(super) column: StringBuilder,
    pub(super) value: StringBuilder,
    pub(super) rule: StringDictionaryBuilder<Int32Type>,
    pub(super) message: StringBuilder,
    pub(super) len: usize,
}

impl RejectTable {
    pub(super) fn new(ingest: u32) -> RejectTable {
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

    pub(super) fn push(&mut self, r: &Reject) {
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

    pub(super) fn finish(&mut self) -> Result<RecordBatch> {
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
