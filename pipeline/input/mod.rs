//! Reading a case bundle: finding its files, and reading each record type's rows as
//! text, with their position, in CSV, NDJSON or XLSX. Typing and the spec's rules are
//! `check`'s job; this module only turns bytes into named text fields.

mod csv;
pub mod limits;
mod ndjson;
mod records;
#[doc(hidden)]
pub use records::split_in_small_reads;
mod xlsx;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::input::limits::Limits;
use crate::spec::RecordType;
use crate::spec::reject::{Position, Reject, Rule};

/// The encoding of one record type's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Ndjson,
    Xlsx,
}

/// One record type's input within the bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub record_type: RecordType,
    pub format: Format,
    /// Path on disk.
    #[serde(skip)]
    pub path: PathBuf,
    /// File name within the bundle, as messages show it.
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// For an export in its own layout: how to read it (rows are the export's until
    /// the layout turns them into bundle rows). `None` for a bundle file.
    #[serde(skip)]
    pub layout: Option<std::sync::Arc<dyn Layout>>,
    /// Caps on lines, fields, rows and workbook size.
    #[serde(skip)]
    pub limits: Limits,
}

impl Source {
    /// A bundle CSV file read without a mapping: read in [`Chunk`]s ([`open_chunks`]),
    /// and hashed as it is read.
    pub fn reads_in_chunks(&self) -> bool {
        self.format == Format::Csv && self.layout.is_none()
    }

    /// Lines (CSV) or rows (XLSX) before the header.
    pub(crate) fn skip_rows(&self) -> u64 {
        self.layout.as_ref().map_or(0, |m| m.skip_rows())
    }

    /// The columns of a raw row: the spec's, or those a mapping reads.
    pub(crate) fn column_names(&self) -> Vec<String> {
        match &self.layout {
            Some(m) => m.columns().to_vec(),
            None => self
                .record_type
                .columns()
                .iter()
                .map(|c| c.name.to_string())
                .collect(),
        }
    }

    /// Fields per raw row: the spec's columns, or the columns a mapping reads.
    pub(crate) fn width(&self) -> usize {
        match &self.layout {
            Some(m) => m.columns().len(),
            None => self.record_type.columns().len(),
        }
    }
}

/// How an export in its own layout is read: what the readers need to know of a mapping
/// (the `mapping` stage implements it; the readers know nothing else of mappings).
pub trait Layout: std::fmt::Debug + Send + Sync {
    /// Lines (CSV) or rows (XLSX) before the header.
    fn skip_rows(&self) -> u64;
    /// The export columns that are read, in the order of a raw row's fields.
    fn columns(&self) -> &[String];
    /// For each header column its index in [`Layout::columns`], or the file's rejects.
    fn header(
        &self,
        t: RecordType,
        position: &Position,
        names: &[String],
    ) -> std::result::Result<Vec<Option<usize>>, Vec<Reject>>;
    /// The bundle rows of record type `t` that the export's raw rows give.
    fn rows(self: std::sync::Arc<Self>, t: RecordType, raw: Rows) -> Rows;
}

/// A row read from a source, its fields aligned with the record type's spec columns
/// (`None`: missing value, after trimming spaces).
#[derive(Debug, Clone)]
pub struct RawRow {
    pub position: Position,
    pub values: Vec<Option<String>>,
    /// For a mapped row: per spec column, the export column it came from (rejects name
    /// that column).
    pub origin: Option<std::sync::Arc<Vec<Option<String>>>>,
}

/// What a reader yields per input row: the row's text, or why it could not be read.
#[derive(Debug)]
pub enum Item {
    Row(RawRow),
    Unreadable(Reject),
}

pub type Rows = Box<dyn Iterator<Item = Result<Item>>>;

/// Rows of a file read a chunk at a time into one text buffer: the ingest's form of a
/// bundle CSV file. A row's fields are ranges of `text`, so reading a row allocates
/// nothing (a [`RawRow`] takes a `String` per field), and a chunk handed back to the
/// reader is filled again.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Every row's fields, trimmed, one after another.
    text: String,
    /// Per row, one (start, end) range of `text` per spec column; start == end: missing.
    bounds: Vec<(u32, u32)>,
    items: Vec<ChunkItem>,
    width: usize,
    /// An error that ends the file after these rows.
    pub error: Option<Error>,
    /// Each row's case key, when the reader looked the rows' cases up (`None`: no such
    /// case); empty otherwise.
    pub found: Vec<Option<i64>>,
}

#[derive(Debug)]
enum ChunkItem {
    /// A row, by its line number; its fields are the next `width` bounds.
    Row(u64),
    Unreadable(Reject),
}

/// One row of a [`Chunk`], in file order.
pub enum Entry<'c> {
    Row { line: u64, fields: Fields<'c> },
    Unreadable(&'c Reject),
}

/// A row's fields within a [`Chunk`].
#[derive(Clone, Copy)]
pub struct Fields<'c> {
    text: &'c str,
    bounds: &'c [(u32, u32)],
}

impl<'c> Fields<'c> {
    /// The field of spec column `i` (`None`: missing).
    pub fn get(&self, i: usize) -> Option<&'c str> {
        let (start, end) = self.bounds[i];
        (start < end).then(|| &self.text[start as usize..end as usize])
    }

    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// The fields as owned text (a [`RawRow`]'s values).
    pub fn to_values(&self) -> Vec<Option<String>> {
        (0..self.len())
            .map(|i| self.get(i).map(str::to_string))
            .collect()
    }
}

impl Chunk {
    /// Rows and unreadable rows held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Text held, in bytes (a row's fields, without delimiters or quotes).
    pub fn text_bytes(&self) -> usize {
        self.text.len()
    }

    /// Text held, in bytes.
    fn text_len(&self) -> usize {
        self.text.len()
    }

    fn clear(&mut self, width: usize) {
        self.text.clear();
        self.bounds.clear();
        self.items.clear();
        self.width = width;
        self.error = None;
        self.found.clear();
    }

    /// Starts a row: its fields follow with [`Chunk::field`].
    fn start_row(&mut self, line: u64) {
        self.items.push(ChunkItem::Row(line));
        let width = self.width;
        self.bounds.extend(std::iter::repeat_n((0, 0), width));
    }

    /// Sets spec column `index` of the row started last (text already trimmed).
    fn field(&mut self, index: usize, text: &str) {
        let start = self.text.len() as u32;
        self.text.push_str(text);
        let row = self.bounds.len() - self.width;
        self.bounds[row + index] = (start, self.text.len() as u32);
    }

    /// Appends a record's text whole, returning where it starts: its fields are then
    /// set by [`Chunk::field_at`] (one copy a row, not one a field).
    fn push_text(&mut self, text: &str) -> usize {
        let start = self.text.len();
        self.text.push_str(text);
        start
    }

    /// Sets spec column `index` of the row started last to `start..end` of the text
    /// (already trimmed).
    fn field_at(&mut self, index: usize, start: usize, end: usize) {
        let row = self.bounds.len() - self.width;
        self.bounds[row + index] = (start as u32, end as u32);
    }

    /// Takes back the row started last (its text stays unused until the chunk is
    /// cleared).
    fn drop_last_row(&mut self) {
        self.items.pop();
        let keep = self.bounds.len() - self.width;
        self.bounds.truncate(keep);
    }

    /// Puts an unreadable row in place of the row started last.
    fn replace_last_row(&mut self, reject: Reject) {
        self.drop_last_row();
        self.items.push(ChunkItem::Unreadable(reject));
    }

    fn unreadable(&mut self, reject: Reject) {
        self.items.push(ChunkItem::Unreadable(reject));
    }

    /// Field `index` of each row (not of unreadable ones), in file order.
    pub fn column(&self, index: usize) -> impl Iterator<Item = Option<&str>> {
        self.entries().filter_map(move |e| match e {
            Entry::Row { fields, .. } => Some(fields.get(index)),
            Entry::Unreadable(_) => None,
        })
    }

    /// The rows in file order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        let mut next = 0;
        self.items.iter().map(move |item| match item {
            ChunkItem::Row(line) => {
                let bounds = &self.bounds[next..next + self.width];
                next += self.width;
                Entry::Row {
                    line: *line,
                    fields: Fields {
                        text: &self.text,
                        bounds,
                    },
                }
            }
            ChunkItem::Unreadable(r) => Entry::Unreadable(r),
        })
    }
}

/// Rows per chunk, and the text after which a chunk is handed on early. 8,192 rows (a
/// third of a megabyte of events) where 1,024 handed over eight times as many chunks,
/// and the checking thread waited on the reading one thousands of times in a large
/// ingest (docs/benchmarks.md).
pub const CHUNK_ROWS: usize = 8192;
const CHUNK_TEXT: usize = 4 << 20;

/// A bundle CSV file read chunk by chunk ([`open_chunks`]).
pub struct ChunkReader(csv::CsvChunks);

impl ChunkReader {
    /// Fills `chunk` (cleared first) with the next rows: `false` once the file has
    /// ended (the chunk may still hold its last rows, or an error).
    pub fn fill(&mut self, chunk: &mut Chunk) -> bool {
        self.0.fill(chunk)
    }

    /// The file's SHA-256 (hex) and size, once it has been read to its end.
    pub fn digest(&self) -> Option<(String, u64)> {
        self.0.digest()
    }
}

/// Opens a bundle CSV file (no mapping) to be read in chunks, the limits applied as
/// [`open`] applies them. `None`: the source is not such a file (read it with [`open`]).
pub fn open_chunks(
    source: &Source,
) -> Result<Option<std::result::Result<ChunkReader, Vec<Reject>>>> {
    if !source.reads_in_chunks() {
        return Ok(None);
    }
    Ok(Some(csv::open_chunks(source)?.map(ChunkReader)))
}

/// A reader that hashes (SHA-256) every byte read through it: a bundle CSV file is
/// hashed for the manifest as it is read ([`ChunkReader::digest`]), not read twice. A
/// mapped export, read once per record type it feeds and hashed apart, is not hashed
/// here (`hasher` is `None`).
pub struct Hashing<R> {
    inner: R,
    hasher: Option<Sha256>,
    bytes: u64,
    ended: bool,
}

impl<R> Hashing<R> {
    /// Hashes what is read when `hash` is set; otherwise only passes it on.
    pub fn new(inner: R, hash: bool) -> Hashing<R> {
        Hashing {
            inner,
            hasher: hash.then(Sha256::new),
            bytes: 0,
            ended: false,
        }
    }

    /// SHA-256 (hex) and size of everything read, once the input has ended.
    pub fn digest(&self) -> Option<(String, u64)> {
        let hasher = self.hasher.as_ref().filter(|_| self.ended)?;
        Some((hex::encode(hasher.clone().finalize()), self.bytes))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ended |= n == 0 && !buf.is_empty();
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The files of a bundle, one per record type present (at most one source per record
/// type: a second file for one is a `duplicate_file` reject, and a mapping makes one
/// source per record type it fills).
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub sources: Vec<Source>,
}

impl Bundle {
    /// Finds the bundle's files. Problems with the set of files (no cases, two files for
    /// one type, a sheet that is no record type) come back as file rejects.
    pub fn locate(dir: &Path) -> Result<(Bundle, Vec<Reject>)> {
        Bundle::locate_with(dir, Limits::default())
    }

    /// As [`Bundle::locate`], under the given input limits (a workbook's size is checked
    /// before its sheets are listed).
    pub fn locate_with(dir: &Path, limits: Limits) -> Result<(Bundle, Vec<Reject>)> {
        if !dir.is_dir() {
            return Err(Error::Bundle {
                path: dir.to_path_buf(),
                message: "not a folder (a bundle is a folder holding cases.csv, cases.ndjson or bundle.xlsx)".into(),
            });
        }
        let mut problems = Vec::new();
        let mut sources = Vec::new();
        let workbook = dir.join("bundle.xlsx");
        let sheets = if workbook.is_file() {
            match xlsx::sheet_names(&workbook, limits.max_xlsx_bytes) {
                Ok(names) => names,
                Err(message) => {
                    problems.push(Reject::new(
                        RecordType::Cases,
                        Position::file("bundle.xlsx"),
                        Rule::Unreadable,
                        message,
                    ));
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        for sheet in &sheets {
            if RecordType::from_name(sheet.trim()).is_none() {
                problems.push(Reject::new(
                    RecordType::Cases,
                    Position {
                        sheet: Some(sheet.clone()),
                        ..Position::file("bundle.xlsx")
                    },
                    Rule::UnknownSheet,
                    format!(
                        "sheet {sheet:?} is not a record type: name the sheets cases, findings, events, recommendations or codings"
                    ),
                ));
            }
        }
        for t in RecordType::ALL {
            let mut found: Vec<Source> = Vec::new();
            for (ext, format) in [
                ("csv", Format::Csv),
                ("ndjson", Format::Ndjson),
                ("jsonl", Format::Ndjson),
            ] {
                let file = format!("{t}.{ext}");
                let path = dir.join(&file);
                if path.is_file() {
                    found.push(Source {
                        record_type: t,
                        format,
                        path,
                        file,
                        sheet: None,
                        layout: None,
                        limits,
                    });
                }
            }
            if let Some(sheet) = sheets.iter().find(|s| s.trim() == t.name()) {
                found.push(Source {
                    record_type: t,
                    format: Format::Xlsx,
                    path: workbook.clone(),
                    file: "bundle.xlsx".into(),
                    sheet: Some(sheet.clone()),
                    layout: None,
                    limits,
                });
            }
            match found.len() {
                0 if t.required() => problems.push(Reject::new(
                    t,
                    Position::file(&format!("{t}.csv")),
                    Rule::MissingFile,
                    format!(
                        "the bundle has no {t}: expected {t}.csv, {t}.ndjson or sheet {t} of bundle.xlsx"
                    ),
                )),
                0 | 1 => {}
                _ => {
                    let names: Vec<String> = found.iter().map(describe).collect();
                    problems.push(Reject::new(
                        t,
                        Position::file(&found[1].file),
                        Rule::DuplicateFile,
                        format!(
                            "two inputs for {t}: {}; keep one encoding per record type",
                            names.join(" and ")
                        ),
                    ));
                    found.truncate(0);
                }
            }
            sources.extend(found);
        }
        Ok((
            Bundle {
                dir: dir.to_path_buf(),
                sources,
            },
            problems,
        ))
    }
}

fn describe(s: &Source) -> String {
    match &s.sheet {
        Some(sheet) => format!("sheet {sheet} of {}", s.file),
        None => s.file.clone(),
    }
}

/// Opens a source for reading. A problem with the file as a whole (empty, a required
/// column missing, a column named twice) comes back as `Err` file rejects.
pub fn open(source: &Source) -> Result<std::result::Result<Rows, Vec<Reject>>> {
    let rows = match source.format {
        Format::Csv => csv::open(source)?,
        Format::Ndjson => ndjson::open(source)?,
        Format::Xlsx => xlsx::open(source)?,
    };
    let rows = match rows {
        // The CSV reader applies the limits itself, as it reads.
        Ok(rows) if source.format == Format::Csv => rows,
        Ok(rows) => limited(source, rows),
        Err(problems) => return Ok(Err(problems)),
    };
    Ok(Ok(match &source.layout {
        Some(m) => m.clone().rows(source.record_type, rows),
        None => rows,
    }))
}

/// Applies the field and row caps to a reader's rows: a field over the cap rejects its
/// row (it is not stored cut short); a file over the row cap stops the ingest.
fn limited(source: &Source, rows: Rows) -> Rows {
    let limits = source.limits;
    let names = source.column_names();
    let path = source.path.clone();
    let t = source.record_type;
    let mut count = 0u64;
    Box::new(rows.map(move |item| {
        let Ok(Item::Row(row)) = item else {
            return item;
        };
        count += 1;
        if count > limits.max_rows {
            return Err(Error::Bundle {
                path: path.clone(),
                message: crate::input::limits::rows_message(&limits),
            });
        }
        let long = row
            .values
            .iter()
            .position(|v| v.as_ref().is_some_and(|v| v.len() > limits.max_field_bytes));
        Ok(match long {
            Some(i) => {
                let bytes = row.values[i].as_ref().map_or(0, String::len);
                Item::Unreadable(
                    Reject::new(
                        t,
                        row.position.clone(),
                        Rule::TooLong,
                        crate::input::limits::field_message(bytes, &limits),
                    )
                    .column(&names[i]),
                )
            }
            None => Item::Row(row),
        })
    }))
}

/// Installs a panic hook that stays silent for panics inside calamine, which the XLSX
/// reader catches and reports as an unreadable workbook, and hands every other panic to
/// the hook that was in place. For programs (the CLI, the fuzz targets), not for the
/// library to call.
pub fn quiet_caught_reader_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !xlsx::caught_panic(info) {
            previous(info);
        }
    }));
}

/// The sheet names of a workbook.
pub fn xlsx_sheet_names(path: &Path, limits: &Limits) -> std::result::Result<Vec<String>, String> {
    xlsx::sheet_names(path, limits.max_xlsx_bytes)
}

/// Maps a header (column names as found) to the record type's spec columns. Returns for
/// each found column its spec index (`None` for a column the spec does not know, which
/// is ignored), or the file rejects for duplicate and missing required columns.
pub(crate) fn map_header(
    source: &Source,
    position: &Position,
    names: &[String],
) -> std::result::Result<Vec<Option<usize>>, Vec<Reject>> {
    let t = source.record_type;
    if let Some(m) = &source.layout {
        return m.header(t, position, names);
    }
    let columns = t.columns();
    let mut problems = duplicate_columns(t, position, names, |_| true);
    let mapping: Vec<Option<usize>> = names
        .iter()
        .map(|name| columns.iter().position(|c| c.name == name.trim()))
        .collect();
    for (index, column) in columns.iter().enumerate() {
        if column.required && !mapping.contains(&Some(index)) {
            problems.push(
                Reject::new(
                    t,
                    position.clone(),
                    Rule::MissingColumn,
                    format!(
                        "required column {:?} is missing (the header has: {})",
                        column.name,
                        names.join(", ")
                    ),
                )
                .column(column.name),
            );
        }
    }
    if problems.is_empty() {
        Ok(mapping)
    } else {
        Err(problems)
    }
}

/// A reject for each header column named a second time, among the columns `read`
/// says matter (names compared trimmed; blank names are not columns).
pub(crate) fn duplicate_columns(
    t: RecordType,
    position: &Position,
    names: &[String],
    read: impl Fn(&str) -> bool,
) -> Vec<Reject> {
    let mut problems = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let name = name.trim();
        if !name.is_empty() && read(name) && names[..i].iter().any(|n| n.trim() == name) {
            problems.push(
                Reject::new(
                    t,
                    position.clone(),
                    Rule::DuplicateColumn,
                    format!("column {name:?} appears more than once in the header"),
                )
                .column(name),
            );
        }
    }
    problems
}

/// Turns a field as read into a value: surrounding spaces trimmed, empty is missing.
pub fn field(text: &str) -> Option<String> {
    trimmed(text).map(str::to_string)
}

/// [`field`], borrowed.
pub(crate) fn trimmed(text: &str) -> Option<&str> {
    // Nearly every field starts and ends with a printable ASCII character: nothing to
    // trim, and no need for `trim`'s Unicode tables.
    let printable = |b: Option<&u8>| b.is_some_and(|b| (0x21..0x7F).contains(b));
    if printable(text.as_bytes().first()) && printable(text.as_bytes().last()) {
        return Some(text);
    }
    let t = text.trim();
    (!t.is_empty()).then_some(t)
}

/// SHA-256 (hex) and size of a file, read in blocks.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

#[cfg(test)]
mod tests {
    #[test]
    fn trimmed_is_str_trim_with_empty_as_none() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\r",
            "\u{a0}a",
            "a\u{3000}",
            "é",
            "a b",
            "~",
            "\u{7f}",
        ] {
            let want = Some(text.trim()).filter(|t| !t.is_empty());
            assert_eq!(super::trimmed(text), want, "{text:?}");
        }
    }
}
