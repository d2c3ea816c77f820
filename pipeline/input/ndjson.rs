//! NDJSON: one JSON object per line; a missing key or `null` is a missing value.

use std::fs::File;
use std::io::{BufRead, BufReader};

use serde_json::Value;

use super::{Item, RawRow, Rows, Source, field};
use crate::error::{Error, Result};
use crate::spec::reject::{Position, Reject, Rule};

pub(super) fn open(source: &Source) -> Result<std::result::Result<Rows, Vec<Reject>>> {
    let t = source.record_type;
    let path = source.path.clone();
    let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
    if meta.len() == 0 {
        return Ok(Err(vec![Reject::new(
            t,
            Position::line(&source.file, 1),
            Rule::EmptyFile,
            "the file is empty: expected one JSON object per line (remove the file if there are no records)",
        )]));
    }
    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
    let file = crate::input::limits::LineLimit::new(file, source.limits.max_line_bytes, 1);
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let columns = t.columns();
    let file_name = source.file.clone();
    let mut line_no = 0u64;
    let mut buf: Vec<u8> = Vec::new();
    let rows = std::iter::from_fn(move || {
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Some(Err(Error::Bundle {
                        path: path.clone(),
                        message: e.to_string(),
                    }));
                }
                Err(e) => return Some(Err(Error::io(&path, e))),
            }
            line_no += 1;
            let mut bytes: &[u8] = &buf;
            if line_no == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            while let Some((b'\n' | b'\r', rest)) = bytes.split_last() {
                bytes = rest;
            }
            if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let position = Position::line(&file_name, line_no);
            let bad = |rule: Rule, message: String| {
                Some(Ok(Item::Unreadable(Reject::new(
                    t,
                    position.clone(),
                    rule,
                    message,
                ))))
            };
            let text = match std::str::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => {
                    return bad(
                        Rule::InvalidUtf8,
                        format!(
                            "not valid UTF-8 (byte {} of the line): save the file as UTF-8",
                            e.valid_up_to() + 1
                        ),
                    );
                }
            };
            let value: Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => {
                    return bad(
                        Rule::MalformedJson,
                        format!("not valid JSON at column {}: {}", e.column(), {
                            let text = e.to_string();
                            match text.find(" at line ") {
                                Some(i) => text[..i].to_string(),
                                None => text,
                            }
                        }),
                    );
                }
            };
            let Value::Object(object) = value else {
                return bad(
                    Rule::NotAnObject,
                    format!(
                        "expected a JSON object such as {{\"case_id\": ...}}, found {}",
                        kind_of(&value)
                    ),
                );
            };
            let mut values = vec![None; columns.len()];
            for (index, column) in columns.iter().enumerate() {
                values[index] = match object.get(column.name) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => field(s),
                    Some(Value::Bool(b)) => Some(b.to_string()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    Some(other) => {
                        return Some(Ok(Item::Unreadable(
                            Reject::new(
                                t,
                                position,
                                Rule::Format,
                                format!(
                                    "expected a single value (text, number or boolean), found {}",
                                    kind_of(other)
                                ),
                            )
                            .column(column.name),
                        )));
                    }
                };
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

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
