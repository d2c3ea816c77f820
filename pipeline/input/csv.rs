//! CSV (RFC 4180, UTF-8, optional byte-order mark), read record by record.

use std::fs::File;
use std::io::{BufRead, BufReader};

use super::{Item, RawRow, Rows, Source, field, map_header};
use crate::error::{Error, Result};
use crate::spec::reject::{Position, Reject, Rule};

pub(super) fn open(source: &Source) -> Result<std::result::Result<Rows, Vec<Reject>>> {
    let t = source.record_type;
    let path = &source.path;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
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
    let input = crate::input::limits::LineLimit::new(input, source.limits.max_line_bytes, 1 + skip);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header_pos = Position::line(&source.file, 1 + skip);
    let header = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(read_error(path, &e)),
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
    let width = source.width();
    let mapped = source.layout.is_some();
    let file_name = source.file.clone();
    let path = path.clone();
    let mut record = ::csv::ByteRecord::new();
    let rows = std::iter::from_fn(move || {
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => return None,
                Err(e) => return Some(Err(read_error(&path, &e))),
                Ok(true) => {}
            }
            let line = record.position().map(|p| p.line()).unwrap_or(0) + skip;
            let position = Position::line(&file_name, line);
            if record
                .iter()
                .all(|f| f.iter().all(|b| b.is_ascii_whitespace()))
            {
                continue; // a row with no values holds no data
            }
            if record.len() != names.len() {
                let multi_line = record.iter().any(|f| f.contains(&b'\n'));
                let at_end = reader.position().byte() + skipped_bytes >= file_len;
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
                return Some(Ok(Item::Unreadable(Reject::new(
                    t,
                    position,
                    rule,
                    format!(
                        "expected {} fields as in the header, found {}{hint}",
                        names.len(),
                        record.len()
                    ),
                ))));
            }
            // A stray quote can join the lines up to the next quote in the same column
            // into one field of a record with the right field count: rows would vanish
            // into a text field.
            if let Some((i, lines)) = (!mapped).then(|| swallowed_rows(&record, &names)).flatten() {
                return Some(Ok(Item::Unreadable(
                    Reject::new(
                        t,
                        position,
                        Rule::UnbalancedQuote,
                        format!(
                            "a quoted field here runs over {lines} lines and holds the commas of a whole row: check for an unbalanced quote"
                        ),
                    )
                    .column(&names[i]),
                )));
            }
            let mut values = vec![None; width];
            for (i, raw) in record.iter().enumerate() {
                let Some(index) = mapping[i] else { continue };
                match std::str::from_utf8(raw) {
                    Ok(s) => values[index] = field(s),
                    Err(e) => {
                        // An encoding is the file's, not a row's: the file is refused
                        // once, at its first such byte, rather than row by row.
                        return Some(Err(Error::Bundle {
                            path: path.clone(),
                            message: format!(
                                "{file_name} line {line}, column {}: not valid UTF-8 (byte {} of the field){}: the whole file must be UTF-8; save it as \"CSV UTF-8\" in Excel, or convert it (iconv -f WINDOWS-1252 -t UTF-8)",
                                names[i],
                                e.valid_up_to() + 1,
                                encoding_hint(raw)
                            ),
                        }));
                    }
                }
            }
            return Some(Ok(Item::Row(RawRow {
                position,
                values,
                origin: None,
            })));
        }
    });
    Ok(Ok(Box::new(rows)))
}

/// The first field that holds rows of the file swallowed by a stray quote, and the lines
/// it spans: a field of a structured column (any bundle column but `note`) that runs over
/// several lines and holds a whole record's commas (`width - 1`), the delimiters between
/// a stray quote and the next quote in the same column of a later line. Free text may
/// run over lines with any number of commas (real complaint narratives do), so `note`
/// and the columns of a mapped export, whose free text casework cannot tell, are not
/// checked: there a stray quote that keeps the field count is not caught.
fn swallowed_rows(record: &::csv::ByteRecord, names: &[String]) -> Option<(usize, usize)> {
    let width = names.len();
    if width < 2 {
        return None;
    }
    // Most fields hold no line break: that test comes first, and commas are counted only
    // in a field that runs over lines.
    record.iter().enumerate().find_map(|(i, f)| {
        if !f.contains(&b'\n') || names[i] == "note" {
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
fn read_error(path: &std::path::Path, e: &::csv::Error) -> Error {
    match e.kind() {
        ::csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => Error::Bundle {
            path: path.to_path_buf(),
            message: io.to_string(),
        },
        _ => Error::io(path, std::io::Error::other(e.to_string())),
    }
}
