//! What the fuzz targets share: turning one fuzz input into the files of a bundle or an
//! export, and reading them the way `casework ingest` does (readers, limits, mapping,
//! validator, record batches) while checking what must hold for any input.
//!
//! A panic anywhere is a crash. Beyond "no panic", each run checks that
//! - every row a reader yields is either stored (typed) or rejected, and the record batch
//!   built from the stored rows has exactly that many rows;
//! - a rejected row carries at least one reject, at a numbered line or row;
//! - no reject copies a `patient_ref` or `note` value, or more than 200 characters of any
//!   value;
//! - an error names its file.
//!
//! With `CASEWORK_FUZZ_SHOW=1` each run prints its counts per file and record type, to
//! see what a seed reaches.

use std::path::{Path, PathBuf};

use casework::input::{self, Bundle, Item};
use casework::input::limits::Limits;
use casework::spec::reject::{CONFIDENTIAL_COLUMNS, Reject};
use casework::spec::CodeList;
use casework::check::{BatchBuilder, Validator};

/// Caps small enough that fuzz inputs reach every limit's code path.
pub const LIMITS: Limits = Limits {
    max_line_bytes: 4096,
    max_field_bytes: 512,
    max_rows: 2000,
    max_xlsx_bytes: 4 << 20,
};

/// Splits an input into named files. A line `==== NAME` starts the file NAME; text before
/// the first such line goes to `first`. Names other than plain file names (letters,
/// digits, `.`, `_`, `-`, `~`, `[`, `]`; not starting with `.`) are dropped with their
/// text, so a run only ever writes inside its own folder.
pub fn files<'a>(data: &'a [u8], first: &str) -> Vec<(String, &'a [u8])> {
    let mut out = Vec::new();
    let mut name = Some(first.to_string());
    let mut start = 0;
    let mut at = 0;
    while at <= data.len() {
        let line_end = data[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| at + i);
        let line = &data[at..line_end];
        if let Some(rest) = line.strip_prefix(b"==== ") {
            if let Some(n) = name.take() {
                out.push((n, &data[start..at]));
            }
            name = plain_name(rest);
            start = (line_end + 1).min(data.len());
        }
        at = line_end + 1;
    }
    if let Some(n) = name {
        out.push((n, &data[start.min(data.len())..]));
    }
    out
}

fn plain_name(raw: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(raw).ok()?.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '~' | '[' | ']'));
    ok.then(|| name.to_string())
}

/// A fresh, empty folder for this process (libFuzzer runs inputs one at a time).
pub fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("casework-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temporary folder is writable");
    dir
}

/// Writes the files into `dir` (a name given twice keeps its last text).
pub fn write(dir: &Path, files: &[(String, &[u8])]) {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("the temporary folder is writable");
    }
}

/// The code list in `codes.csv` if the input has one that parses, else the default.
pub fn codes(dir: &Path) -> CodeList {
    std::fs::read(dir.join("codes.csv"))
        .ok()
        .and_then(|b| CodeList::parse(&String::from_utf8_lossy(&b), "codes.csv".into()).ok())
        .unwrap_or_else(CodeList::spec_default)
}

/// Checks one reject against what every reject must be.
pub fn check_reject(r: &Reject) {
    assert!(
        !r.position.file.is_empty(),
        "a reject names its file: {r:?}"
    );
    if !r.rule.is_file_rule() {
        assert!(
            r.position.number().is_some(),
            "a row reject names its line or row: {r:?}"
        );
    }
    if let (Some(column), Some(value)) = (&r.column, &r.value) {
        if CONFIDENTIAL_COLUMNS.contains(&column.as_str()) {
            assert_eq!(
                value, "(redacted)",
                "a confidential value was copied: {r:?}"
            );
        }
        assert!(
            value.chars().count() <= 201,
            "a long value was copied whole"
        );
    }
    let _ = r.to_string();
}

/// Reads every source of the bundle as the ingest does and checks the counts reconcile.
/// Returns the rows stored.
pub fn read_bundle(bundle: &Bundle, codes: CodeList) -> u64 {
    let mut validator = Validator::new(codes, Some(b"fuzz-key".to_vec()));
    let mut stored_total = 0;
    for source in &bundle.sources {
        let mut source = source.clone();
        source.limits = LIMITS;
        let t = source.record_type;
        let rows = match input::open(&source) {
            Ok(Ok(rows)) => rows,
            Ok(Err(file_rejects)) => {
                assert!(!file_rejects.is_empty(), "a refused file says why");
                file_rejects.iter().for_each(check_reject);
                continue;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                continue;
            }
        };
        let mut builder = BatchBuilder::new(t);
        let (mut read, mut stored, mut rejected) = (0u64, 0u64, 0u64);
        for item in rows {
            // An error ends the file (the ingest stops there): the row cap, or a line
            // over the line cap.
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    break;
                }
            };
            read += 1;
            match item {
                Item::Unreadable(r) => {
                    check_reject(&r);
                    rejected += 1;
                }
                Item::Row(row) => match validator.check(t, row) {
                    Ok(typed) => {
                        builder.push(&typed);
                        stored += 1;
                    }
                    Err(rejects) => {
                        assert!(!rejects.is_empty(), "a rejected row says why");
                        rejects.iter().for_each(check_reject);
                        rejected += 1;
                    }
                },
            }
        }
        assert_eq!(read, stored + rejected);
        assert!(read <= LIMITS.max_rows);
        let batch = builder
            .finish()
            .expect("rows that passed the checks always make a record batch");
        assert_eq!(
            batch.num_rows() as u64,
            stored,
            "every stored row is in the batch"
        );
        if std::env::var_os("CASEWORK_FUZZ_SHOW").is_some() {
            eprintln!(
                "{} {}: {read} read, {stored} stored, {rejected} rejected",
                source.file,
                t.name()
            );
        }
        stored_total += stored;
    }
    stored_total
}

/// Locates the bundle in `dir` and reads it.
pub fn read_bundle_dir(dir: &Path) {
    match Bundle::locate(dir) {
        Ok((bundle, problems)) => {
            problems.iter().for_each(check_reject);
            read_bundle(&bundle, codes(dir));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
