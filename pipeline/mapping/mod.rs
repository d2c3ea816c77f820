//! Column mappings: ingesting an export that is not in bundle form.
//!
//! A mapping file (TOML, see `docs/bring-your-own-export.md`) says, for each record type,
//! how one export row gives zero, one or several bundle rows: which export column fills
//! each bundle column, constants, value maps, date formats, several code columns or a
//! split cell giving several findings, and date columns giving events. The mapped rows
//! are plain text rows, checked by `validate` exactly like a bundle's; their positions
//! are the export's own lines, and rejects name the export's own columns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{NaiveDate, NaiveDateTime};

use crate::error::{Error, Result};
use crate::input::limits::Limits;
use crate::input::{self, Bundle, Format, Item, Layout, RawRow, Rows, Source};
use crate::spec::reject::{Reject, Rule};
use crate::spec::{ConfigSource, RecordType};

/// A loaded mapping file.
#[derive(Debug)]
pub struct Mapping {
    pub path: PathBuf,
    pub source: ConfigSource,
    pub sheet: Option<String>,
    pub skip_rows: u64,
    /// A code list the mapping names (resolved against the mapping's folder).
    pub codes: Option<PathBuf>,
    /// A thresholds file the mapping names.
    pub thresholds: Option<PathBuf>,
    /// The export columns the mapping reads: mapped sources' raw rows align with it.
    pub columns: Vec<String>,
    column_lines: Vec<u64>,
    targets: Vec<Target>,
    maps: Vec<ValueMap>,
    skip_if: Vec<Filter>,
    lookups: Vec<Lookup>,
    /// Rows the mapping made none of, by reason (reported in the ingest summary).
    skipped: Mutex<BTreeMap<String, u64>>,
}

#[derive(Debug)]
struct Target {
    record_type: RecordType,
    /// `cases`, `findings[2]`…, as messages show it.
    label: String,
    fields: Vec<Field>,
    /// A target column whose emptiness means "no row" rather than a reject.
    require: Option<usize>,
}

#[derive(Debug)]
struct Field {
    /// Index of the bundle column in the record type's columns.
    target: usize,
    from: From,
    map: Option<usize>,
    date: Option<DateFormat>,
    prefix: Option<String>,
}

#[derive(Debug)]
enum From {
    Column(usize),
    /// One bundle row per non-empty column.
    Columns(Vec<usize>),
    /// One bundle row per part of the cell.
    Split(usize, String),
    Constant(String),
    Lookup {
        lookup: usize,
        column: usize,
    },
}

#[derive(Debug)]
enum DateFormat {
    Pattern { text: String, with_time: bool },
    ExcelSerial,
}

#[derive(Debug)]
struct ValueMap {
    name: String,
    line: u64,
    entries: HashMap<String, String>,
    other: Option<String>,
}

#[derive(Debug)]
struct Filter {
    column: usize,
    values: Vec<String>,
    line: u64,
}

#[derive(Debug)]
struct Lookup {
    name: String,
    file: String,
    key: String,
    /// Export column holding the key.
    on: usize,
    /// Lookup-file columns used, in the order `From::Lookup` indexes them.
    columns: Vec<String>,
    line: u64,
    rows: HashMap<String, Vec<Option<String>>>,
}

mod load;

impl Layout for Mapping {
    fn skip_rows(&self) -> u64 {
        self.skip_rows
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn header(
        &self,
        t: RecordType,
        position: &crate::spec::reject::Position,
        names: &[String],
    ) -> std::result::Result<Vec<Option<usize>>, Vec<Reject>> {
        self.check_header(t, position, names)
    }

    fn rows(self: Arc<Self>, t: RecordType, raw: Rows) -> Rows {
        self.bundle_rows(t, raw)
    }
}

impl Mapping {
    /// Binds the mapping to an export file: loads its lookup files (found beside the
    /// export) and gives the bundle to ingest, one source per record type mapped.
    pub fn bind(mut self, export: &Path) -> Result<(Bundle, Arc<Mapping>)> {
        let format = match export
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "csv" => Format::Csv,
            Some(e) if e == "xlsx" => Format::Xlsx,
            _ => {
                return Err(Error::Bundle {
                    path: export.to_path_buf(),
                    message: "an export must be a .csv or .xlsx file".into(),
                });
            }
        };
        if !export.is_file() {
            return Err(Error::Bundle {
                path: export.to_path_buf(),
                message: "no such file".into(),
            });
        }
        let dir = export.parent().unwrap_or(Path::new("."));
        for lookup in &mut self.lookups {
            load_lookup(lookup, dir, &self.path)?;
        }
        let sheet = match (format, &self.sheet) {
            (Format::Xlsx, None) => input::xlsx_sheet_names(export)
                .map_err(|message| Error::Bundle {
                    path: export.to_path_buf(),
                    message,
                })?
                .into_iter()
                .next(),
            (_, s) => s.clone(),
        };
        let file = export
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mapping = Arc::new(self);
        let mut sources = Vec::new();
        for t in RecordType::ALL {
            if mapping.targets.iter().any(|x| x.record_type == t) {
                sources.push(Source {
                    record_type: t,
                    format,
                    path: export.to_path_buf(),
                    file: file.clone(),
                    sheet: sheet.clone(),
                    layout: Some(mapping.clone() as Arc<dyn Layout>),
                    limits: Limits::default(),
                });
            }
        }
        let bundle = Bundle {
            dir: export.to_path_buf(),
            sources,
        };
        Ok((bundle, mapping))
    }

    /// Rows the mapping made nothing of, by reason.
    pub fn skipped(&self) -> BTreeMap<String, u64> {
        self.skipped.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn skip(&self, reason: String) {
        if let Ok(mut m) = self.skipped.lock() {
            *m.entry(reason).or_insert(0) += 1;
        }
    }

    /// Checks an export's header against the columns the mapping reads: for each header
    /// column its index in [`Mapping::columns`], or the file rejects for columns the
    /// mapping names that the export lacks.
    fn check_header(
        &self,
        t: RecordType,
        position: &crate::spec::reject::Position,
        names: &[String],
    ) -> std::result::Result<Vec<Option<usize>>, Vec<Reject>> {
        let mut problems = input::duplicate_columns(t, position, names, |name| {
            self.columns.iter().any(|c| c == name)
        });
        for (column, line) in self.columns.iter().zip(&self.column_lines) {
            if !names.contains(column) {
                problems.push(
                    Reject::new(
                        t,
                        position.clone(),
                        Rule::MissingColumn,
                        format!(
                            "unknown column {column:?}: the mapping ({} line {line}) reads it, but the export's header has: {}",
                            self.path.display(),
                            names.join(", ")
                        ),
                    )
                    .column(column),
                );
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(names
            .iter()
            .map(|n| self.columns.iter().position(|c| c == n))
            .collect())
    }

    /// The bundle rows of record type `t` that the export's rows give.
    fn bundle_rows(self: Arc<Self>, t: RecordType, raw: Rows) -> Rows {
        let mut seen_cases: HashSet<String> = HashSet::new();
        let rows = raw.flat_map(move |item| {
            let mut out = Vec::new();
            match item {
                Err(e) => out.push(Err(e)),
                Ok(Item::Unreadable(r)) => out.push(Ok(Item::Unreadable(Reject {
                    record_type: t,
                    ..r
                }))),
                Ok(Item::Row(row)) => {
                    if let Some(f) = self.skip_if.iter().find(|f| {
                        row.values[f.column]
                            .as_deref()
                            .is_some_and(|v| f.values.iter().any(|x| x == v))
                    }) {
                        if t == RecordType::Cases {
                            self.skip(format!(
                                "export rows skipped by skip_if on {:?} (mapping line {})",
                                self.columns[f.column], f.line
                            ));
                        }
                    } else {
                        for target in self.targets.iter().filter(|x| x.record_type == t) {
                            self.emit(target, &row, &mut seen_cases, &mut out);
                        }
                    }
                }
            }
            out
        });
        Box::new(rows)
    }

    fn emit(
        &self,
        target: &Target,
        row: &RawRow,
        seen_cases: &mut HashSet<String>,
        out: &mut Vec<Result<Item>>,
    ) {
        let t = target.record_type;
        let columns = t.columns();
        // The values an expanding field takes (one bundle row each), or one pass.
        let expanding = target.fields.iter().find_map(|f| match &f.from {
            From::Columns(cs) => Some(
                cs.iter()
                    .filter_map(|&c| row.values[c].clone().map(|v| (c, v)))
                    .collect::<Vec<_>>(),
            ),
            From::Split(c, sep) => Some(
                row.values[*c]
                    .as_deref()
                    .map(|v| {
                        v.split(sep.as_str())
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(|p| (*c, p.to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => None,
        });
        let passes: Vec<Option<(usize, String)>> = match expanding {
            None => vec![None],
            Some(parts) if parts.is_empty() => {
                self.skip(format!(
                    "{}: export rows with no value to make a row of",
                    target.label
                ));
                return;
            }
            Some(parts) => parts.into_iter().map(Some).collect(),
        };
        for part in passes {
            let mut values = vec![None; columns.len()];
            let mut origin = vec![None; columns.len()];
            let mut problem = None;
            for f in &target.fields {
                let (text, label): (Option<String>, Option<String>) = match &f.from {
                    From::Column(c) => (row.values[*c].clone(), Some(self.columns[*c].clone())),
                    From::Columns(_) | From::Split(..) => match &part {
                        Some((c, v)) => (Some(v.clone()), Some(self.columns[*c].clone())),
                        None => (None, None),
                    },
                    From::Constant(v) => (Some(v.clone()).filter(|v| !v.is_empty()), None),
                    From::Lookup { lookup, column } => {
                        let l = &self.lookups[*lookup];
                        let value = row.values[l.on]
                            .as_deref()
                            .and_then(|k| l.rows.get(k))
                            .and_then(|r| r[*column].clone());
                        (value, Some(format!("{}.{}", l.name, l.columns[*column])))
                    }
                };
                origin[f.target] = label.clone();
                match self.convert(f, text) {
                    Ok(v) => values[f.target] = v,
                    Err((rule, message)) => {
                        let column = label.unwrap_or_else(|| columns[f.target].name.to_string());
                        let shown = match &f.from {
                            From::Column(c) => row.values[*c].clone(),
                            _ => part.as_ref().map(|p| p.1.clone()),
                        };
                        let mut r =
                            Reject::new(t, row.position.clone(), rule, message).column(&column);
                        if let Some(s) = shown
                            && !crate::spec::reject::CONFIDENTIAL_COLUMNS
                                .contains(&columns[f.target].name)
                        {
                            r = r.value(&column, &s);
                        }
                        problem.get_or_insert(r);
                    }
                }
            }
            if let Some(r) = problem {
                out.push(Ok(Item::Unreadable(r)));
                continue;
            }
            if let Some(c) = target.require
                && values[c].is_none()
            {
                let from = origin[c]
                    .clone()
                    .unwrap_or_else(|| columns[c].name.to_string());
                self.skip(format!("{}: no row where {from} is empty", target.label));
                continue;
            }
            if t == RecordType::Cases
                && let Some(id) = values[0].clone()
                && !seen_cases.insert(id)
            {
                self.skip(format!(
                    "{}: later export rows of a case already given (their case columns are not compared)",
                    target.label
                ));
                continue;
            }
            out.push(Ok(Item::Row(RawRow {
                position: row.position.clone(),
                values,
                origin: Some(Arc::new(origin)),
            })));
        }
    }

    /// One value through the field's map, date format and prefix.
    fn convert(
        &self,
        f: &Field,
        text: Option<String>,
    ) -> std::result::Result<Option<String>, (Rule, String)> {
        let mut value = text;
        if let (Some(m), Some(v)) = (f.map, value.clone()) {
            let map = &self.maps[m];
            value = match map.entries.get(&v).or(map.other.as_ref()) {
                Some(mapped) => Some(mapped.clone()).filter(|x| !x.is_empty()),
                None => {
                    return Err((
                        Rule::UnmappedValue,
                        format!(
                            "value {v:?} is not in the value map {} ({} line {}); add it there, or an _other entry",
                            map.name,
                            self.path.display(),
                            map.line
                        ),
                    ));
                }
            };
        }
        if let (Some(d), Some(v)) = (&f.date, value.clone()) {
            value = Some(convert_date(d, &v).ok_or_else(|| {
                let wanted = match d {
                    DateFormat::Pattern { text, .. } => format!("the date format {text:?}"),
                    DateFormat::ExcelSerial => "an Excel serial date number".into(),
                };
                (
                    Rule::Format,
                    format!(
                        "{v:?} does not match {wanted} (mapping {})",
                        self.path.display()
                    ),
                )
            })?);
        }
        if let (Some(p), Some(v)) = (&f.prefix, value.clone()) {
            value = Some(format!("{p}{v}"));
        }
        Ok(value)
    }
}

/// A date in the export's format as the spec's ISO text. A value already in ISO form
/// (an XLSX date cell) is taken as it is.
fn convert_date(format: &DateFormat, text: &str) -> Option<String> {
    if crate::spec::dates::parse_date(text).is_some() {
        return Some(text.to_string());
    }
    match format {
        DateFormat::Pattern { text: f, with_time } => {
            if *with_time {
                NaiveDateTime::parse_from_str(text, f)
                    .ok()
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string())
            } else {
                NaiveDate::parse_from_str(text, f)
                    .ok()
                    .map(|d| d.format("%Y-%m-%d").to_string())
            }
        }
        DateFormat::ExcelSerial => {
            let serial: f64 = text.parse().ok()?;
            if !(1.0..2_958_466.0).contains(&serial) {
                return None;
            }
            let base = NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
            let seconds = (serial * 86_400.0).round() as i64;
            let t = base + chrono::Duration::seconds(seconds);
            Some(if seconds % 86_400 == 0 {
                t.format("%Y-%m-%d").to_string()
            } else {
                t.format("%Y-%m-%dT%H:%M:%S").to_string()
            })
        }
    }
}

fn load_lookup(lookup: &mut Lookup, dir: &Path, mapping: &Path) -> Result<()> {
    let path = dir.join(&lookup.file);
    let bad = |message: String| Error::Config {
        file: mapping.to_path_buf(),
        message: format!("line {}: lookup {}: {message}", lookup.line, lookup.name),
    };
    // The same line cap as an export's, so a lookup file cannot be buffered whole.
    let file = std::fs::File::open(&path)
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    let file = crate::input::limits::LineLimit::new(file, Limits::default().max_line_bytes, 1);
    let mut reader = csv::Reader::from_reader(file);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(format!("{}: {e}", path.display())))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let index = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            bad(format!(
                "unknown column {name:?} in {}; its header has: {}",
                path.display(),
                header.join(", ")
            ))
        })
    };
    let key = index(&lookup.key)?;
    let wanted: Vec<usize> = lookup
        .columns
        .iter()
        .map(|c| index(c))
        .collect::<Result<_>>()?;
    for record in reader.records() {
        let record = record.map_err(|e| bad(format!("{}: {e}", path.display())))?;
        let k = record.get(key).unwrap_or("").trim().to_string();
        let values = wanted
            .iter()
            .map(|&i| record.get(i).and_then(input::field))
            .collect();
        if lookup.rows.insert(k.clone(), values).is_some() {
            return Err(bad(format!(
                "key {k:?} appears twice in {}",
                path.display()
            )));
        }
    }
    Ok(())
}
