//! CSV (RFC 4180, UTF-8, optional byte-order mark), read record by record.

use std::fs::File;
use std::io::{BufRead, BufReader};

use super::Hashing;
use super::records::Records;
use super::{
    CHUNK_ROWS, CHUNK_TEXT, Chunk, Entry, Item, RawRow, Rows, Source, map_header, trimmed,
};
use crate::error::{Error, Result};
use crate::input::limits::{Limits, LineLimit};
use crate::spec::reject::{Position, Reject, Rule};

pub(super) fn open_chunks(source: &Source) -> Result<std::result::Result<CsvChunks, Vec<Reject>>> {
    let t = source.record_type;
    let path = &source.path;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let file = Hashing::new(file, source.reads_in_chunks());
    // An export may have lines before its header (a mapping's skip_rows).
    let skip = source.skip_rows();
    let mut input = BufReader::with_capacity(1 << 16, file);
    let mut skipped_bytes = 0u64;
    for _ in 0..skip {
        let mut line = Vec::new();
        skipped_bytes += input
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))? as u64;
    }
    let input = LineLimit::new(input, source.limits.max_line_bytes, 1 + skip);
    let mut records = Records::new(input);
    let header_pos = Position::line(&source.file, 1 + skip);
    let header: Vec<Vec<u8>> = match records.read() {
        Ok(true) => records.fields().map(<[u8]>::to_vec).collect(),
        Ok(false) => Vec::new(),
        Err(e) => return Err(read_error(path, e)),
    };
    if header.is_empty() || (header.len() == 1 && header[0].iter().all(|b| b.is_ascii_whitespace()))
    {
        return Ok(Err(vec![Reject::new(
            t,
            header_pos,
            Rule::EmptyFile,
            "the file is empty: expected a header line naming the columns",
        )]));
    }
    let mut names = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let raw = if i == 0 {
            raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
        } else {
            raw
        };
        match std::str::from_utf8(raw) {
            Ok(s) => names.push(s.trim().to_string()),
            Err(e) => {
                return Ok(Err(vec![Reject::new(
                    t,
                    header_pos,
                    Rule::InvalidUtf8,
                    format!(
                        "the header is not valid UTF-8 (column {}, byte {}){}: save the file as UTF-8 (Excel: \"CSV UTF-8\")",
                        i + 1,
                        e.valid_up_to() + 1,
                        encoding_hint(raw)
                    ),
                )]));
            }
        }
    }
    let mapping = match map_header(source, &header_pos, &names) {
        Ok(m) => m,
        Err(problems) => return Ok(Err(problems)),
    };
    Ok(Ok(CsvChunks {
        records,
        t,
        file_name: source.file.clone(),
        path: path.clone(),
        names,
        columns: source.column_names(),
        mapping,
        mapped: source.layout.is_some(),
        skip,
        skipped_bytes,
        file_len,
        limits: source.limits,
        rows: 0,
        done: false,
    }))
}

/// A CSV file being read into [`Chunk`]s.
pub(super) struct CsvChunks {
    records: Records<LineLimit<BufReader<Hashing<File>>>>,
    t: crate::spec::RecordType,
    file_name: String,
    path: std::path::PathBuf,
    /// The header's names, and where each column goes among the row's fields.
    names: Vec<String>,
    mapping: Vec<Option<usize>>,
    /// The row's fields: the spec's columns, or those a mapping reads.
    columns: Vec<String>,
    mapped: bool,
    skip: u64,
    skipped_bytes: u64,
    file_len: u64,
    limits: Limits,
    /// Rows read (the --max-rows count).
    rows: u64,
    done: bool,
}

impl CsvChunks {
    /// The file's SHA-256 and size, once it has been read to its end.
    pub(super) fn digest(&self) -> Option<(String, u64)> {
        self.records.input().get_ref().get_ref().digest()
    }

    /// See [`super::ChunkReader::fill`].
    pub(super) fn fill(&mut self, chunk: &mut Chunk) -> bool {
        chunk.clear(self.columns.len());
        while !self.done && chunk.len() < CHUNK_ROWS && chunk.text_len() < CHUNK_TEXT {
            if let Err(e) = self.next_row(chunk) {
                chunk.error = Some(e);
                self.done = true;
            }
        }
        !self.done
    }

    /// Reads the next record into the chunk: a row, an unreadable row, or nothing (a
    /// blank line; the end of the file sets `done`).
    fn next_row(&mut self, chunk: &mut Chunk) -> Result<()> {
        let t = self.t;
        match self.records.read() {
            Ok(false) => {
                self.done = true;
                return Ok(());
            }
            Err(e) => return Err(read_error(&self.path, e)),
            Ok(true) => {}
        }
        let record = &self.records;
        let line = record.line() + self.skip;
        let position = || Position::line(&self.file_name, line);
        if record
            .fields()
            .all(|f| f.iter().all(|b| b.is_ascii_whitespace()))
        {
            return Ok(()); // a row with no values holds no data
        }
        if record.len() != self.names.len() {
            let multi_line = record.fields().any(|f| f.contains(&b'\n'));
            let at_end = record.consumed() + self.skipped_bytes >= self.file_len;
            let (rule, hint) = if multi_line && at_end {
                (
                    Rule::UnbalancedQuote,
                    "; a quoted field opened here runs to the end of the file: check for an unbalanced quote",
                )
            } else if multi_line {
                (
                    Rule::FieldCount,
                    "; a quoted field here runs over several lines: check for an unbalanced quote",
                )
            } else {
                (Rule::FieldCount, "")
            };
            chunk.unreadable(Reject::new(
                t,
                position(),
                rule,
                format!(
                    "expected {} fields as in the header, found {}{hint}",
                    self.names.len(),
                    record.len()
                ),
            ));
            return Ok(());
        }
        // A stray quote can join the lines up to the next quote in the same column
        // into one field of a record with the right field count: rows would vanish
        // into a text field.
        // A record split by hand is one line: nothing swallowed.
        if let Some((i, lines)) = (!self.mapped && !record.split_by_hand())
            .then(|| swallowed_rows(record, &self.names))
            .flatten()
        {
            chunk.unreadable(
                Reject::new(
                    t,
                    position(),
                    Rule::UnbalancedQuote,
                    format!(
                        "a quoted field here runs over {lines} lines and holds the commas of a whole row: check for an unbalanced quote"
                    ),
                )
                .column(&self.names[i]),
            );
            return Ok(());
        }
        // The row cap counts rows, not unreadable ones (as for the other formats).
        self.rows += 1;
        if self.rows > self.limits.max_rows {
            return Err(Error::Bundle {
                path: self.path.clone(),
                message: crate::input::limits::rows_message(&self.limits),
            });
        }
        // The record's bytes are checked as UTF-8 at once and copied into the chunk in
        // one piece; field by field only when that fails, or when a character would
        // straddle two fields.
        chunk.start_row(line);
        #[allow(unsafe_code)]
        let text = if record.known_utf8() {
            // `Records::known_utf8` is checked in small reads by the unit tests and the
            // `split` fuzz target (`records::split_in_small_reads`).
            debug_assert!(std::str::from_utf8(record.bytes()).is_ok());
            // SAFETY: the reader checked these bytes as UTF-8 when it read them.
            Ok(unsafe { std::str::from_utf8_unchecked(record.bytes()) })
        } else {
            std::str::from_utf8(record.bytes())
        };
        let long = match text {
            Ok(whole) => self.whole_fields(chunk, whole, line)?,
            Err(_) => self.each_field(chunk, line)?,
        };
        // A field over the cap rejects its row (it is not stored cut short).
        if let Some((index, bytes)) = long {
            chunk.replace_last_row(
                Reject::new(
                    t,
                    position(),
                    Rule::TooLong,
                    crate::input::limits::field_message(bytes, &self.limits),
                )
                .column(&self.columns[index]),
            );
        }
        Ok(())
    }

    /// The fields of a record whose bytes are valid UTF-8 (`whole`): the record's text
    /// is appended once and each field set to its trimmed range of it. Returns the first
    /// field over the length cap in column order (column index and bytes).
    fn whole_fields(
        &self,
        chunk: &mut Chunk,
        whole: &str,
        line: u64,
    ) -> Result<Option<(usize, usize)>> {
        // A chunk addresses its text with 32-bit offsets; it is handed on at 4 MiB, so
        // only a record of gigabytes (a --max-line-bytes raised that far) could pass them.
        if chunk.text_len() + whole.len() > u32::MAX as usize {
            chunk.drop_last_row();
            return Err(Error::Bundle {
                path: self.path.clone(),
                message: format!(
                    "{} line {line}: the record is longer than casework reads in one piece (4 GiB)",
                    self.file_name
                ),
            });
        }
        let base = chunk.push_text(whole);
        let split_at_commas = self.records.split_by_hand();
        let mut long = None;
        for (i, &(start, end)) in self.records.ranges().iter().enumerate() {
            let Some(index) = self.mapping[i] else {
                continue;
            };
            // A split by hand cuts at commas only, which are never inside a character.
            if !(split_at_commas || whole.is_char_boundary(start) && whole.is_char_boundary(end)) {
                // A character split by a delimiter: the field alone is not UTF-8.
                chunk.drop_last_row();
                return Err(self.not_utf8(line, i));
            }
            let field = &whole[start..end];
            let Some(s) = trimmed(field) else {
                continue;
            };
            self.note_long(&mut long, index, s.len());
            let at = base + start + (s.as_ptr() as usize - field.as_ptr() as usize);
            chunk.field_at(index, at, at + s.len());
        }
        Ok(long)
    }

    /// Keeps in `long` the first field over the length cap in the columns' order (the
    /// one a reject names): column index and bytes.
    fn note_long(&self, long: &mut Option<(usize, usize)>, index: usize, bytes: usize) {
        if bytes > self.limits.max_field_bytes && long.is_none_or(|(first, _)| index < first) {
            *long = Some((index, bytes));
        }
    }

    /// [`CsvChunks::whole_fields`] for a record that is not valid UTF-8 as a whole: the
    /// file is refused at its first field that is not (an encoding is the file's, not a
    /// row's), unless that field is one the mapping does not read.
    fn each_field(&self, chunk: &mut Chunk, line: u64) -> Result<Option<(usize, usize)>> {
        let mut long = None;
        for (i, raw) in self.records.fields().enumerate() {
            let text = std::str::from_utf8(raw);
            let Some(index) = self.mapping[i] else {
                continue;
            };
            match text {
                Ok(text) => {
                    if let Some(s) = trimmed(text) {
                        self.note_long(&mut long, index, s.len());
                        chunk.field(index, s);
                    }
                }
                Err(_) => {
                    chunk.drop_last_row();
                    return Err(self.not_utf8(line, i));
                }
            }
        }
        Ok(long)
    }

    /// The error for field `i` of the record read last, which is not valid UTF-8.
    fn not_utf8(&self, line: u64, i: usize) -> Error {
        let raw = self.records.field(i);
        let valid_up_to = std::str::from_utf8(raw)
            .err()
            .map_or(0, |e| e.valid_up_to());
        Error::Bundle {
            path: self.path.clone(),
            message: format!(
                "{} line {line}, column {}: not valid UTF-8 (byte {} of the field){}: the whole file must be UTF-8; save it as \"CSV UTF-8\" in Excel, or convert it (iconv -f WINDOWS-1252 -t UTF-8)",
                self.file_name,
                self.names[i],
                valid_up_to + 1,
                encoding_hint(raw)
            ),
        }
    }
}

/// Opens a CSV file as rows (a mapped export's, or a bundle file read outside the
/// ingest): its chunks, each row's text copied out.
pub(super) fn open(source: &Source) -> Result<std::result::Result<Rows, Vec<Reject>>> {
    let mut reader = match open_chunks(source)? {
        Ok(r) => r,
        Err(problems) => return Ok(Err(problems)),
    };
    let file = source.file.clone();
    let mut chunk = Chunk::default();
    let mut more = true;
    let mut pending: std::collections::VecDeque<Result<Item>> = std::collections::VecDeque::new();
    let rows = std::iter::from_fn(move || {
        loop {
            if let Some(item) = pending.pop_front() {
                return Some(item);
            }
            if !more {
                return None;
            }
            more = reader.fill(&mut chunk);
            for entry in chunk.entries() {
                pending.push_back(Ok(match entry {
                    Entry::Row { line, fields } => Item::Row(RawRow {
                        position: Position::line(&file, line),
                        values: fields.to_values(),
                        origin: None,
                    }),
                    Entry::Unreadable(r) => Item::Unreadable(r.clone()),
                }));
            }
            if let Some(e) = chunk.error.take() {
                pending.push_back(Err(e));
                more = false;
            }
        }
    });
    Ok(Ok(Box::new(rows)))
}

/// The first field that holds rows of the file swallowed by a stray quote, and the lines
/// it spans: a field of a structured column (any bundle column but the free text, `note`
/// and `narrative`) that runs over
/// several lines and holds a whole record's commas (`width - 1`), the delimiters between
/// a stray quote and the next quote in the same column of a later line. Free text may
/// run over lines with any number of commas (real complaint narratives do), so the free
/// text and the columns of a mapped export, whose free text casework cannot tell, are not
/// checked: there a stray quote that keeps the field count is not caught.
fn swallowed_rows<R>(record: &Records<R>, names: &[String]) -> Option<(usize, usize)> {
    let width = names.len();
    // Nearly every record holds no line break: one search of the whole record first.
    if width < 2 || memchr::memchr(b'\n', record.bytes()).is_none() {
        return None;
    }
    // Most fields hold no line break: that test comes first, and commas are counted only
    // in a field that runs over lines.
    record.fields().enumerate().find_map(|(i, f)| {
        if !f.contains(&b'\n') || crate::spec::FREE_TEXT_COLUMNS.contains(&names[i].as_str()) {
            return None;
        }
        let count = |byte: u8| f.iter().filter(|&&b| b == byte).count();
        (count(b',') >= width - 1).then(|| (i, count(b'\n') + 1))
    })
}

/// What the bytes that are not UTF-8 probably are, for the message.
fn encoding_hint(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) || bytes.contains(&0) {
        " (it looks like UTF-16, which Excel's \"Unicode Text\" writes)"
    } else if bytes.iter().any(|b| *b >= 0x80) {
        " (it looks like Windows-1252 or Latin-1, which Excel's plain \"CSV\" writes)"
    } else {
        ""
    }
}

/// A read error: a line over the limit is a problem of the input (exit code 2), any
/// other an I/O failure.
fn read_error(path: &std::path::Path, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::InvalidData => Error::Bundle {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
        _ => Error::io(path, e),
    }
}
