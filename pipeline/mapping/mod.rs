//! Column mappings: ingesting an export that is not in bundle form.
//!
//! A mapping file (TOML, see `docs/bring-your-own-export.md`) says, for each record type,
//! how one export row gives zero, one or several bundle rows: which export column fills
//! each bundle column, constants, value maps, date formats, several code columns or a
//! split cell giving several findings, and date columns giving events. The mapped rows
//! are plain text rows, checked by `validate` exactly like a bundle's; their positions
//! are the export's own lines, and rejects name the export's own columns.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{NaiveDate, NaiveDateTime};

use crate::error::{Error, Result};
use crate::input::limits::Limits;
use crate::input::{self, Bundle, Format, Item, Layout, RawRow, Rows, Source};
use crate::spec::dates::Precision;
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
    /// The study the export is coded against (`[export] study`): a shipped study's name
    /// or a folder; used unless `--study` names another.
    pub study: Option<String>,
    /// The export columns the mapping reads: mapped sources' raw rows align with it.
    pub columns: Vec<String>,
    /// Columns only `optional = true` fields read: an export may lack them.
    optional_columns: Vec<String>,
    column_lines: Vec<u64>,
    targets: Vec<Target>,
    maps: Vec<ValueMap>,
    skip_if: Vec<Filter>,
    /// `[export] repeats_case_rows`: each export row restates its case's events and
    /// recommendations (remedies among them: an export of one row per finding or
    /// allegation), so a row of those equal in every column to one already made is
    /// stored once.
    pub repeats_case_rows: bool,
    /// Rows of events and recommendations equal in every column to one made
    /// before, by record type (without `repeats_case_rows` they are stored, and the
    /// summary's notes say how many).
    repeated: Mutex<BTreeMap<RecordType, u64>>,
    lookups: Vec<Lookup>,
    /// `[exposure]`: each organisation's exposure, from a file the mapping names.
    pub exposure: Option<ExposureFrom>,
    /// Rows the mapping made none of, by reason (reported in the ingest summary).
    skipped: Mutex<BTreeMap<String, u64>>,
    /// Export names a `match = "normalised"` lookup read: (lookup, name as written) →
    /// the lookup file's spelling it matched, or none (reported in the summary's notes).
    matched: Mutex<BTreeMap<(usize, String), Option<String>>>,
    /// Options that acted on some row: `skip_if` filters by index, `else` lists by
    /// (target, field), value-map entries by (map, entry): those that never did are
    /// reported (a mapping that makes no difference says so).
    used: Mutex<Used>,
    /// Export data lines read (in the cases pass, which every mapping has) and of them
    /// those `skip_if` skipped.
    lines_read: AtomicU64,
    lines_skipped: AtomicU64,
}

/// A mapping's `[exposure]`: the file (as written, and resolved against the mapping's
/// folder) and its columns.
#[derive(Debug, Clone)]
pub struct ExposureFrom {
    pub file: String,
    pub path: PathBuf,
    pub columns: crate::spec::study::ExposureColumns,
}

#[derive(Debug, Default)]
struct Used {
    filters: HashSet<usize>,
    fallbacks: HashSet<(usize, usize)>,
    /// Per value map (by index), the entries some value took.
    entries: HashMap<usize, HashSet<String>>,
}

#[derive(Debug)]
struct Target {
    record_type: RecordType,
    /// `cases`, `findings[2]`…, as messages show it.
    label: String,
    fields: Vec<Field>,
    /// A target column whose emptiness means "no row" rather than a reject.
    require: Option<usize>,
    /// Its place among the mapping's targets.
    index: usize,
}

#[derive(Debug)]
struct Field {
    /// Index of the bundle column in the record type's columns.
    target: usize,
    from: From,
    map: Option<usize>,
    /// Date formats, tried in order (`date = "%d/%m/%Y"` or a list).
    date: Option<Vec<DateFormat>>,
    prefix: Option<String>,
    /// Columns to read, in order, when the field's own column is empty (`else`), each
    /// with its own date formats (or the field's).
    fallbacks: Vec<(usize, Option<Vec<DateFormat>>)>,
    /// A case field taken over all the export rows of the case (`per_case`), not only
    /// its first row.
    per_case: Option<PerCase>,
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
    /// Text made of export columns (`template = "{Category}|{Determination}"`): empty
    /// when any of its columns is empty. `label` names its columns in messages.
    Template {
        pieces: Vec<Piece>,
        label: String,
    },
}

#[derive(Debug)]
enum Piece {
    Text(String),
    Column(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Epoch {
    /// Excel's default (Windows) date system: serial 1 is 1900-01-01, and serial 60 is
    /// the 29 February 1900 that never was (Lotus 1-2-3's leap-year bug, kept by Excel).
    Excel1900,
    /// The 1904 date system (old Mac workbooks, "Use 1904 date system"): serial 0 is
    /// 1904-01-01.
    Excel1904,
}

#[derive(Debug)]
enum DateFormat {
    /// A strftime pattern. One with no day (`%B %Y`, `%Y`) reads a month or a year,
    /// written as the spec's `YYYY-MM` or `YYYY` (stored at its first day, with its
    /// precision).
    Pattern {
        text: String,
        with_time: bool,
        precision: Precision,
    },
    ExcelSerial(Epoch),
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
    /// The file as the mapping writes it (for messages), and where it resolves: like
    /// every path in a mapping, relative to the mapping's folder.
    file: String,
    path: PathBuf,
    key: String,
    /// Export column holding the key.
    on: usize,
    /// Lookup-file columns used, in the order `From::Lookup` indexes them.
    columns: Vec<String>,
    line: u64,
    rows: HashMap<String, Vec<Option<String>>>,
    /// `match = "normalised"`: keys compared ignoring case, spaces and punctuation.
    normalised: bool,
    /// With `normalised`, each key's spelling in the lookup file.
    spellings: HashMap<String, String>,
}

/// A name compared ignoring case, spaces and punctuation: its letters and digits,
/// lower-cased ("54 North" and "54North" are both "54north").
fn normalise_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

mod load;
mod notes;
mod per_case;

use per_case::{Gathered, PerCase};

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
    pub fn bind(self, export: &Path) -> Result<(Bundle, Arc<Mapping>)> {
        self.bind_with(export, Limits::default())
    }

    /// As [`Mapping::bind`], under the given input limits (they apply to the lookup files
    /// and to listing a workbook's sheets as to the export itself).
    pub fn bind_with(mut self, export: &Path, limits: Limits) -> Result<(Bundle, Arc<Mapping>)> {
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
            load_lookup(lookup, dir, &self.path, &limits)?;
        }
        let sheet = match (format, &self.sheet) {
            (Format::Xlsx, None) => input::xlsx_sheet_names(export, &limits)
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
                    limits,
                });
            }
        }
        let bundle = Bundle {
            dir: export.to_path_buf(),
            sources,
        };
        Ok((bundle, mapping))
    }

    /// The files besides the export that binding the mapping reads: its lookup files and
    /// its exposure file, resolved against the mapping's folder.
    pub fn files_read(&self) -> Vec<PathBuf> {
        self.lookups
            .iter()
            .map(|l| l.path.clone())
            .chain(self.exposure.iter().map(|e| e.path.clone()))
            .collect()
    }

    /// Rows the mapping made nothing of, by reason.
    pub fn skipped(&self) -> BTreeMap<String, u64> {
        self.skipped.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Export data lines read, and of them those `skip_if` skipped.
    pub fn lines(&self) -> (u64, u64) {
        (
            self.lines_read.load(Ordering::Relaxed),
            self.lines_skipped.load(Ordering::Relaxed),
        )
    }

    fn skip(&self, reason: String) {
        if let Ok(mut m) = self.skipped.lock() {
            *m.entry(reason).or_insert(0) += 1;
        }
    }

    /// Of the rows just made, those equal in every column to a row made before: dropped
    /// (with the stated rule) under `repeats_case_rows`, else counted for a note.
    fn drop_repeats(
        &self,
        t: RecordType,
        made: &mut ((RandomState, RandomState), HashSet<u128>),
        out: &mut Vec<Result<Item>>,
    ) {
        let ((a, b), seen) = made;
        out.retain(|item| {
            let Ok(Item::Row(row)) = item else {
                return true;
            };
            let print = (u128::from(a.hash_one(&row.values)) << 64) | u128::from(b.hash_one(&row.values));
            if seen.insert(print) {
                return true;
            }
            if let Ok(mut m) = self.repeated.lock() {
                *m.entry(t).or_insert(0) += 1;
            }
            if self.repeats_case_rows {
                self.skip(format!(
                    "{t}: rows equal to one already made (repeats_case_rows: the export restates them on each of a case's rows), stored once"
                ));
            }
            !self.repeats_case_rows
        });
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
            if !names.contains(column) && !self.optional_columns.contains(column) {
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
        // Cases given so far: whether each was rejected.
        let mut seen_cases: HashMap<String, bool> = HashMap::new();
        let gathering = Rc::new(RefCell::new((HashMap::new(), Vec::new())));
        let flush = (Arc::clone(&self), Rc::clone(&gathering));
        // Rows of the case-level record types an export may restate on each of a
        // case's rows: the 128-bit fingerprints (two independent 64-bit hashes) of the
        // rows made so far.
        let mut made = matches!(t, RecordType::Events | RecordType::Recommendations).then(|| {
            let hashers = (RandomState::new(), RandomState::new());
            (hashers, HashSet::<u128>::new())
        });
        let rows = raw.flat_map(move |item| {
            let mut out = Vec::new();
            if t == RecordType::Cases && item.is_ok() {
                self.lines_read.fetch_add(1, Ordering::Relaxed);
            }
            match item {
                Err(e) => out.push(Err(e)),
                Ok(Item::Unreadable(r)) => out.push(Ok(Item::Unreadable(Reject {
                    record_type: t,
                    ..r
                }))),
                Ok(Item::Row(row)) => {
                    // A value matches as written (trimmed); "" matches an empty cell, which
                    // the reader gives as no value.
                    if let Some((i, f)) = self.skip_if.iter().enumerate().find(|(_, f)| {
                        let v = row.values[f.column].as_deref().unwrap_or("");
                        f.values.iter().any(|x| x.trim() == v)
                    }) {
                        if let Ok(mut u) = self.used.lock() {
                            u.filters.insert(i);
                        }
                        if t == RecordType::Cases {
                            self.lines_skipped.fetch_add(1, Ordering::Relaxed);
                            self.skip(format!(
                                "export rows skipped by skip_if on {:?} (mapping line {})",
                                self.columns[f.column], f.line
                            ));
                        }
                    } else {
                        for target in self.targets.iter().filter(|x| x.record_type == t) {
                            let mut g = gathering.borrow_mut();
                            self.emit(target, &row, &mut seen_cases, &mut g, &mut out);
                        }
                        if let Some(made) = made.as_mut() {
                            self.drop_repeats(t, made, &mut out);
                        }
                    }
                }
            }
            out
        });
        // Cases with `per_case` fields are whole only once every row has been read.
        let (mapping, gathering) = flush;
        let gathered = std::iter::once(()).flat_map(move |_| {
            let (_, cases) = std::mem::take(&mut *gathering.borrow_mut());
            let per_case: Vec<&Field> = mapping
                .targets
                .iter()
                .filter(|x| x.record_type == RecordType::Cases)
                .flat_map(|x| x.fields.iter())
                .filter(|f| f.per_case.is_some())
                .collect();
            cases
                .into_iter()
                .map(|mut g: Gathered| {
                    for (f, (chosen, n)) in per_case.iter().zip(g.chosen) {
                        g.row.values[f.target] = match f.per_case {
                            Some(PerCase::Count) => Some(n.to_string()),
                            Some(PerCase::Any) => Some(chosen.is_some().to_string()),
                            _ => chosen.map(|c| c.1),
                        };
                    }
                    Ok(Item::Row(g.row))
                })
                .collect::<Vec<_>>()
        });
        Box::new(rows.chain(gathered))
    }

    fn emit(
        &self,
        target: &Target,
        row: &RawRow,
        seen_cases: &mut HashMap<String, bool>,
        gathering: &mut (HashMap<String, usize>, Vec<Gathered>),
        out: &mut Vec<Result<Item>>,
    ) {
        let t = target.record_type;
        let columns = t.columns();
        let passes: Vec<Option<(usize, String)>> = match expanding(target, row) {
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
            // The `per_case` fields' values: (column, as written, as stored).
            let mut gathered: Vec<(Option<String>, Option<String>)> = Vec::new();
            for f in &target.fields {
                let (mut text, mut label) = self.field_text(f, row, &part);
                // The field's column is empty: the first of its `else` columns that is not.
                let mut date = f.date.as_deref();
                if text.is_none()
                    && let Some((c, d)) = f.fallbacks.iter().find(|(c, _)| row.values[*c].is_some())
                {
                    if let Ok(mut u) = self.used.lock() {
                        u.fallbacks.insert((target.index, f.target));
                    }
                    text = row.values[*c].clone();
                    label = Some(self.columns[*c].clone());
                    date = d.as_deref().or(f.date.as_deref());
                }
                let read = text.clone();
                origin[f.target] = label.clone();
                match self.convert(f, text, date) {
                    Ok(v) if f.per_case.is_some() => {
                        gathered.push((read.clone(), v.clone()));
                        values[f.target] = v;
                    }
                    Ok(v) => values[f.target] = v,
                    Err((rule, message)) => {
                        let column = label.unwrap_or_else(|| columns[f.target].name.to_string());
                        let shown = match &f.from {
                            From::Column(_) | From::Template { .. } => read.clone(),
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
            if let Some(mut r) = problem {
                // A case's row rejected: the case is rejected once, on its first row; its
                // later rows are its rows, not new cases rejected again.
                if t == RecordType::Cases
                    && let Some(id) = values[0].clone()
                {
                    let (index, _) = &*gathering;
                    let rejected = seen_cases.get(&id).copied();
                    if index.contains_key(&id) || rejected.is_some() {
                        self.skip(later_rows(
                            target,
                            rejected.unwrap_or(false),
                            target.fields.iter().any(|f| f.per_case.is_some()),
                        ));
                        continue;
                    }
                    seen_cases.insert(id.clone(), true);
                    r.case = Some(id);
                }
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
                && !gathered.is_empty()
                && let Some(id) = values[0].clone()
            {
                if seen_cases.contains_key(&id) {
                    self.skip(later_rows(target, true, true));
                } else {
                    let made = (values, origin, gathered);
                    out.extend(self.gather_row(target, row, id, made, gathering));
                }
                continue;
            }
            if t == RecordType::Cases
                && let Some(id) = values[0].clone()
                && let Some(rejected) = seen_cases.get(&id).copied().or_else(|| {
                    seen_cases.insert(id, false);
                    None
                })
            {
                self.skip(later_rows(target, rejected, false));
                continue;
            }
            out.push(Ok(Item::Row(RawRow {
                position: row.position.clone(),
                values,
                origin: Some(Arc::new(origin)),
            })));
        }
    }

    /// A case row with `per_case` fields (`made`: its values, their export columns, and
    /// the `per_case` fields' values): gathered into its case (made on the case's first
    /// row, emitted once every row is read). Returns the reject of a value the gathering
    /// refuses.
    fn gather_row(
        &self,
        target: &Target,
        row: &RawRow,
        id: String,
        made: MadeRow,
        gathering: &mut (HashMap<String, usize>, Vec<Gathered>),
    ) -> Option<Result<Item>> {
        let (values, origin, gathered) = made;
        let (index, cases) = gathering;
        let later = index.contains_key(&id);
        let at = *index.entry(id).or_insert_with(|| {
            cases.push(Gathered {
                row: RawRow {
                    position: row.position.clone(),
                    values,
                    origin: Some(Arc::new(origin.clone())),
                },
                chosen: gathered.iter().map(|_| (None, 0)).collect(),
            });
            cases.len() - 1
        });
        if let Err((c, message)) = self.gather(target, &mut cases[at], &gathered) {
            let t = target.record_type;
            let column = origin[c]
                .clone()
                .unwrap_or_else(|| t.columns()[c].name.to_string());
            return Some(Ok(Item::Unreadable(
                Reject::new(t, row.position.clone(), Rule::UnmappedValue, message).column(&column),
            )));
        }
        if later {
            self.skip(later_rows(target, false, true));
        }
        None
    }

    /// A field's text as the export row gives it (before its map, date format and
    /// prefix), and the export column (or lookup column) it came from; `part` is the
    /// value of the row's expanding field in this pass.
    fn field_text(
        &self,
        f: &Field,
        row: &RawRow,
        part: &Option<(usize, String)>,
    ) -> (Option<String>, Option<String>) {
        match &f.from {
            From::Column(c) => (row.values[*c].clone(), Some(self.columns[*c].clone())),
            From::Columns(_) | From::Split(..) => match part {
                Some((c, v)) => (Some(v.clone()), Some(self.columns[*c].clone())),
                None => (None, None),
            },
            From::Constant(v) => (Some(v.clone()).filter(|v| !v.is_empty()), None),
            From::Template { pieces, label } => {
                let mut made = String::new();
                let mut whole = true;
                for p in pieces {
                    match p {
                        Piece::Text(t) => made.push_str(t),
                        Piece::Column(c) => match &row.values[*c] {
                            Some(v) => made.push_str(v),
                            None => whole = false,
                        },
                    }
                }
                (whole.then_some(made), Some(label.clone()))
            }
            From::Lookup { lookup, column } => {
                let l = &self.lookups[*lookup];
                (
                    self.looked_up(*lookup, *column, row.values[l.on].as_deref()),
                    Some(format!("{}.{}", l.name, l.columns[*column])),
                )
            }
        }
    }

    /// The lookup file's `column` for the export's `key` (noting, for the summary, the
    /// spelling a normalised key matched, or that it matched none).
    fn looked_up(&self, lookup: usize, column: usize, key: Option<&str>) -> Option<String> {
        let l = &self.lookups[lookup];
        match (l.normalised, key) {
            (true, Some(name)) => {
                let key = normalise_name(name);
                if let Ok(mut m) = self.matched.lock() {
                    m.entry((lookup, name.to_string()))
                        .or_insert_with(|| l.spellings.get(&key).cloned());
                }
                l.rows.get(&key).and_then(|r| r[column].clone())
            }
            (false, Some(k)) => match l.rows.get(k) {
                Some(r) => r[column].clone(),
                None => {
                    if let Ok(mut m) = self.matched.lock() {
                        m.entry((lookup, k.to_string())).or_insert(None);
                    }
                    None
                }
            },
            (_, None) => None,
        }
    }

    /// One value through the field's map, date format and prefix.
    fn convert(
        &self,
        f: &Field,
        text: Option<String>,
        date: Option<&[DateFormat]>,
    ) -> std::result::Result<Option<String>, (Rule, String)> {
        let mut value = text;
        if let (Some(m), Some(v)) = (f.map, value.clone()) {
            let map = &self.maps[m];
            if let Ok(mut u) = self.used.lock() {
                // Looked up by reference: a value is copied once per map, not per row.
                let key = match map.entries.contains_key(&v) {
                    true => v.as_str(),
                    false => "_other",
                };
                let seen = u.entries.entry(m).or_default();
                if !seen.contains(key) {
                    seen.insert(key.to_string());
                }
            }
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
        if let (Some(formats), Some(v)) = (date, value.clone()) {
            value = Some(formats.iter().find_map(|d| convert_date(d, &v)).ok_or_else(|| {
                let wanted: Vec<String> = formats.iter().map(|d| match d {
                    DateFormat::Pattern { text, .. } => format!("the date format {text:?}"),
                    DateFormat::ExcelSerial(Epoch::Excel1900) => "an Excel serial date number (1900 date system; serial 60, the 29 February 1900 that never was, is refused)".into(),
                    DateFormat::ExcelSerial(Epoch::Excel1904) => "an Excel serial date number (1904 date system)".into(),
                }).collect();
                let wanted = wanted.join(" or ");
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

/// A row's values as mapped, the export column each came from, and its `per_case` fields'
/// values (as written, as stored).
type MadeRow = (
    Vec<Option<String>>,
    Vec<Option<String>>,
    Vec<(Option<String>, Option<String>)>,
);

/// The values a target's expanding field (`columns` or `split`) takes in an export row,
/// one bundle row each; `None` when the target has no expanding field (one row).
fn expanding(target: &Target, row: &RawRow) -> Option<Vec<(usize, String)>> {
    target.fields.iter().find_map(|f| match &f.from {
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
    })
}

/// A date in the export's format as the spec's ISO text. The format is tried first; a
/// value that does not match it but is already ISO (an XLSX date cell, which the reader
/// gives as ISO) is taken as it is, except under a format that itself begins `%Y-`
/// (`%Y-%d-%m`), where an ISO-looking value is the format's to read.
/// The stated rule for a case's later export rows: they are its rows, never a case
/// read (or rejected) again.
fn later_rows(target: &Target, rejected: bool, gathered: bool) -> String {
    match (rejected, gathered) {
        (true, _) => format!(
            "{}: later export rows of a rejected case (its rows, not a case rejected again)",
            target.label
        ),
        (false, true) => format!(
            "{}: later export rows of a case already given (their per_case fields are gathered; other case columns are not compared)",
            target.label
        ),
        (false, false) => format!(
            "{}: later export rows of a case already given (their case columns are not compared)",
            target.label
        ),
    }
}

fn convert_date(format: &DateFormat, text: &str) -> Option<String> {
    let converted = match format {
        DateFormat::Pattern {
            text: f,
            with_time,
            precision,
        } => match precision {
            _ if *with_time => NaiveDateTime::parse_from_str(text, f)
                .ok()
                .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string()),
            Precision::Day => NaiveDate::parse_from_str(text, f)
                .ok()
                .map(|d| d.format("%Y-%m-%d").to_string()),
            // chrono makes a date only with a day: the pattern's missing parts are
            // supplied as the first day (and month), then dropped again.
            Precision::Month => {
                NaiveDate::parse_from_str(&format!("{text}\u{1}1"), &format!("{f}\u{1}%d"))
                    .ok()
                    .map(|d| d.format("%Y-%m").to_string())
            }
            Precision::Year => NaiveDate::parse_from_str(
                &format!("{text}\u{1}1\u{1}1"),
                &format!("{f}\u{1}%m\u{1}%d"),
            )
            .ok()
            .map(|d| d.format("%Y").to_string()),
        },
        DateFormat::ExcelSerial(epoch) => excel_serial(text, *epoch),
    };
    let iso_like_format =
        matches!(format, DateFormat::Pattern { text: f, .. } if f.starts_with("%Y-"));
    converted.or_else(|| {
        (!iso_like_format && crate::spec::dates::parse_partial_date(text).is_some())
            .then(|| text.to_string())
    })
}

/// An Excel serial number (days, with the time of day as a fraction) as ISO text: a date,
/// or a date and time when the fraction is not whole seconds of midnight.
fn excel_serial(text: &str, epoch: Epoch) -> Option<String> {
    let serial: f64 = text.trim().parse().ok()?;
    if !serial.is_finite() {
        return None;
    }
    let (base, first) = match epoch {
        // Before the fictional 29 February 1900 (serials 1 to 59) day 1 is 1900-01-01;
        // from serial 61 on, counting from 1899-12-30 absorbs the extra day.
        Epoch::Excel1900 if (1.0..60.0).contains(&serial) => {
            (NaiveDate::from_ymd_opt(1899, 12, 31)?, 1.0)
        }
        Epoch::Excel1900 if serial.floor() == 60.0 => return None,
        Epoch::Excel1900 => (NaiveDate::from_ymd_opt(1899, 12, 30)?, 61.0),
        Epoch::Excel1904 => (NaiveDate::from_ymd_opt(1904, 1, 1)?, 0.0),
    };
    // Up to 9999-12-31, Excel's last date.
    if !(first..2_958_466.0).contains(&serial) {
        return None;
    }
    let seconds = (serial * 86_400.0).round() as i64;
    let t = base.and_hms_opt(0, 0, 0)? + chrono::Duration::seconds(seconds);
    Some(if seconds % 86_400 == 0 {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    })
}

/// Where a file a mapping names is missing but one of that name sits beside the export
/// (where lookup and exposure files were looked for before every path in a mapping
/// resolved against the mapping's folder): a hint saying so.
pub fn moved_hint(file: &str, export_dir: &Path) -> String {
    let beside = Path::new(file).file_name().map(|n| export_dir.join(n));
    if let Some(beside) = beside.filter(|b| b.is_file()) {
        format!(
            "; a file of that name is beside the export ({}): paths in a mapping are relative to the mapping's folder, so write the path from there",
            beside.display()
        )
    } else {
        " (paths in a mapping are relative to the mapping's folder)".into()
    }
}

fn load_lookup(
    lookup: &mut Lookup,
    export_dir: &Path,
    mapping: &Path,
    limits: &Limits,
) -> Result<()> {
    let path = lookup.path.clone();
    let bad = |message: String| Error::Config {
        file: mapping.to_path_buf(),
        message: format!("line {}: lookup {}: {message}", lookup.line, lookup.name),
    };
    // The same line cap as an export's, so a lookup file cannot be buffered whole.
    let file = std::fs::File::open(&path).map_err(|e| {
        bad(format!(
            "cannot read {} ({e}){}",
            path.display(),
            moved_hint(&lookup.file, export_dir)
        ))
    })?;
    let file = crate::input::limits::LineLimit::new(file, limits.max_line_bytes, 1);
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
        let written = record.get(key).unwrap_or("").trim().to_string();
        let k = match lookup.normalised {
            true => normalise_name(&written),
            false => written.clone(),
        };
        if lookup.normalised {
            if let Some(first) = lookup.spellings.get(&k) {
                return Err(bad(format!(
                    "{written:?} and {first:?} are one name once case, spaces and punctuation are ignored; {} must give each name once",
                    path.display()
                )));
            }
            lookup.spellings.insert(k.clone(), written.clone());
        }
        let values = wanted
            .iter()
            .map(|&i| record.get(i).and_then(input::field))
            .collect();
        if lookup.rows.insert(k, values).is_some() {
            return Err(bad(format!(
                "key {written:?} appears twice in {}",
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(f: &str) -> DateFormat {
        DateFormat::Pattern {
            text: f.into(),
            with_time: false,
            precision: Precision::Day,
        }
    }

    #[test]
    fn a_pattern_with_no_day_reads_a_month_or_a_year() {
        let month = DateFormat::Pattern {
            text: "%B %Y".into(),
            with_time: false,
            precision: Precision::Month,
        };
        assert_eq!(
            convert_date(&month, "October 2025").as_deref(),
            Some("2025-10")
        );
        assert_eq!(convert_date(&month, "Octobr 2025"), None);
        assert_eq!(convert_date(&month, "13 October 2025"), None);
        let year = DateFormat::Pattern {
            text: "%Y".into(),
            with_time: false,
            precision: Precision::Year,
        };
        assert_eq!(convert_date(&year, "2025").as_deref(), Some("2025"));
        assert_eq!(convert_date(&year, "twenty"), None);
        // A value already in the spec's form is taken as it is.
        assert_eq!(convert_date(&month, "2025-10").as_deref(), Some("2025-10"));
    }

    #[test]
    fn excel_1900_serials_follow_excel_including_its_leap_year_bug() {
        // Excel (1900 system) shows 1 as 1900-01-01, 59 as 1900-02-28, 60 as the
        // fictional 1900-02-29, 61 as 1900-03-01; 45292 is 2024-01-01; 44927.5 is
        // 2023-01-01 12:00.
        let e = DateFormat::ExcelSerial(Epoch::Excel1900);
        assert_eq!(convert_date(&e, "1").as_deref(), Some("1900-01-01"));
        assert_eq!(convert_date(&e, "59").as_deref(), Some("1900-02-28"));
        assert_eq!(convert_date(&e, "60"), None);
        assert_eq!(convert_date(&e, "61").as_deref(), Some("1900-03-01"));
        assert_eq!(convert_date(&e, "45292").as_deref(), Some("2024-01-01"));
        assert_eq!(
            convert_date(&e, "44927.5").as_deref(),
            Some("2023-01-01T12:00:00")
        );
        assert_eq!(convert_date(&e, "0"), None);
        assert_eq!(convert_date(&e, "2958466"), None);
        assert_eq!(convert_date(&e, "x"), None);
    }

    #[test]
    fn excel_1904_serials_count_from_1904() {
        // 1904 system: 0 is 1904-01-01; 43830 is 2024-01-01 (45292 − 1462).
        let e = DateFormat::ExcelSerial(Epoch::Excel1904);
        assert_eq!(convert_date(&e, "0").as_deref(), Some("1904-01-01"));
        assert_eq!(convert_date(&e, "43830").as_deref(), Some("2024-01-01"));
        assert_eq!(
            convert_date(&e, "43830.25").as_deref(),
            Some("2024-01-01T06:00:00")
        );
    }

    #[test]
    fn an_iso_looking_value_is_read_by_a_year_day_month_format() {
        // 2023-05-04 under %Y-%d-%m is 5 April, not 4 May.
        assert_eq!(
            convert_date(&pattern("%Y-%d-%m"), "2023-05-04").as_deref(),
            Some("2023-04-05")
        );
        // A value the format cannot read is not taken as ISO either.
        assert_eq!(convert_date(&pattern("%Y-%d-%m"), "2023-05-31"), None);
        // Under another format an ISO value (an XLSX date cell) is taken as it is.
        assert_eq!(
            convert_date(&pattern("%d/%m/%Y"), "2023-05-04").as_deref(),
            Some("2023-05-04")
        );
        // Days 29 to 31.
        assert_eq!(
            convert_date(&pattern("%d/%m/%Y"), "31/01/2024").as_deref(),
            Some("2024-01-31")
        );
        assert_eq!(
            convert_date(&pattern("%d/%m/%Y"), "29/02/2024").as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(convert_date(&pattern("%d/%m/%Y"), "29/02/2023"), None);
    }
}
