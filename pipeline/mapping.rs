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

use chrono::format::{Item as FormatItem, StrftimeItems};
use chrono::{NaiveDate, NaiveDateTime};
use toml::de::{DeTable, DeValue};

use crate::bundle::{self, Bundle, Format, Item, RawRow, Rows, Source};
use crate::error::{Error, Result};
use crate::reject::{Reject, Rule};
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

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> u64 {
    text[..offset.min(text.len())].matches('\n').count() as u64 + 1
}

struct Loader<'a> {
    path: &'a Path,
    text: &'a str,
    columns: Vec<String>,
    column_lines: Vec<u64>,
    maps: Vec<ValueMap>,
    lookups: Vec<Lookup>,
}

type Spanned<T> = toml::Spanned<T>;

impl Loader<'_> {
    fn err(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> Error {
        Error::Config {
            file: self.path.to_path_buf(),
            message: format!(
                "line {}: {}",
                line_of(self.text, span.start),
                message.into()
            ),
        }
    }

    fn column(&mut self, name: &str, line: u64) -> usize {
        match self.columns.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                self.columns.push(name.to_string());
                self.column_lines.push(line);
                self.columns.len() - 1
            }
        }
    }

    fn string(&self, v: &Spanned<DeValue<'_>>, what: &str) -> Result<String> {
        v.get_ref()
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.err(v.span(), format!("{what} must be a string")))
    }

    fn table<'t, 'i>(&self, v: &'t Spanned<DeValue<'i>>, what: &str) -> Result<&'t DeTable<'i>> {
        v.get_ref()
            .as_table()
            .ok_or_else(|| self.err(v.span(), format!("{what} must be a table")))
    }

    fn check_keys(&self, table: &DeTable<'_>, allowed: &[&str], what: &str) -> Result<()> {
        for key in table.keys() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                return Err(self.err(
                    key.span(),
                    format!(
                        "unknown key {:?} in {what}; expected one of {}",
                        key.get_ref(),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn value_map(&mut self, name: &str, v: &Spanned<DeValue<'_>>) -> Result<usize> {
        let table = self.table(v, "a value map")?;
        let mut entries = HashMap::new();
        let mut other = None;
        for (key, value) in table {
            let text = self.string(value, "a mapped value")?;
            if key.get_ref() == "_other" {
                other = Some(text);
            } else {
                entries.insert(key.get_ref().to_string(), text);
            }
        }
        self.maps.push(ValueMap {
            name: name.to_string(),
            line: line_of(self.text, v.span().start),
            entries,
            other,
        });
        Ok(self.maps.len() - 1)
    }

    fn date_format(&self, v: &Spanned<DeValue<'_>>) -> Result<DateFormat> {
        let text = self.string(v, "date")?;
        if text == "excel" {
            return Ok(DateFormat::ExcelSerial);
        }
        let items: Vec<FormatItem> = StrftimeItems::new(&text).collect();
        let bad = items.iter().any(|i| matches!(i, FormatItem::Error));
        let spec = |s: &str| text.contains(s);
        let has_year = ["%Y", "%y", "%F", "%D", "%G"].iter().any(|s| spec(s));
        let has_day = ["%d", "%e", "%j", "%F", "%D"].iter().any(|s| spec(s));
        if bad || !has_year || !has_day {
            return Err(self.err(
                v.span(),
                format!(
                    "date format {text:?} is not a usable strftime pattern: write for example \"%d/%m/%Y\", \"%m/%d/%Y\", \"%Y-%m-%d %H:%M\", or \"excel\" for Excel serial numbers"
                ),
            ));
        }
        let with_time = ["%H", "%I", "%M", "%T", "%R"].iter().any(|s| spec(s));
        Ok(DateFormat::Pattern { text, with_time })
    }

    fn field(
        &mut self,
        t: RecordType,
        key: &Spanned<toml::de::DeString<'_>>,
        v: &Spanned<DeValue<'_>>,
        map_names: &BTreeMap<String, usize>,
    ) -> Result<Field> {
        let name = key.get_ref().as_ref();
        let line = line_of(self.text, key.span().start);
        let Some(target) = t.columns().iter().position(|c| c.name == name) else {
            let names: Vec<&str> = t.columns().iter().map(|c| c.name).collect();
            return Err(self.err(
                key.span(),
                format!(
                    "unknown target field {name:?} for {t}; the bundle's {t} columns are {}",
                    names.join(", ")
                ),
            ));
        };
        let mut field = Field {
            target,
            from: From::Constant(String::new()),
            map: None,
            date: None,
            prefix: None,
        };
        if let Some(column) = v.get_ref().as_str() {
            field.from = From::Column(self.column(column, line));
            return Ok(field);
        }
        let table = self.table(v, "a field (a column name or a table)")?;
        self.check_keys(
            table,
            &[
                "column", "columns", "split", "value", "lookup", "map", "date", "prefix",
            ],
            &format!("field {name}"),
        )?;
        let get = |k: &str| {
            table
                .iter()
                .find(|(key, _)| key.get_ref() == k)
                .map(|(_, v)| v)
        };
        let sources = ["column", "columns", "value"]
            .iter()
            .filter(|k| get(k).is_some())
            .count();
        if sources != 1 {
            return Err(self.err(
                v.span(),
                format!(
                    "field {name} needs exactly one of column, columns or value (with lookup, column names the lookup file's column)"
                ),
            ));
        }
        if let Some(l) = get("lookup") {
            let lookup_name = self.string(l, "lookup")?;
            let Some(lookup) = self.lookups.iter().position(|x| x.name == lookup_name) else {
                return Err(self.err(
                    l.span(),
                    format!("lookup {lookup_name:?} is not defined in [lookups]"),
                ));
            };
            let Some(c) = get("column") else {
                return Err(self.err(
                    v.span(),
                    format!("field {name}: a lookup needs column, the lookup file's column"),
                ));
            };
            let column = self.string(c, "column")?;
            let columns = &mut self.lookups[lookup].columns;
            let index = match columns.iter().position(|x| *x == column) {
                Some(i) => i,
                None => {
                    columns.push(column);
                    columns.len() - 1
                }
            };
            field.from = From::Lookup {
                lookup,
                column: index,
            };
        } else if let Some(c) = get("column") {
            let column = self.string(c, "column")?;
            let index = self.column(&column, line);
            field.from = match get("split") {
                Some(s) => From::Split(index, self.string(s, "split")?),
                None => From::Column(index),
            };
        } else if let Some(cs) = get("columns") {
            let Some(list) = cs.get_ref().as_array() else {
                return Err(self.err(cs.span(), "columns must be a list of column names"));
            };
            let mut indices = Vec::new();
            for c in list.iter() {
                let column = self.string(c, "a column name")?;
                indices.push(self.column(&column, line));
            }
            field.from = From::Columns(indices);
        } else if let Some(c) = get("value") {
            field.from = From::Constant(self.string(c, "value")?);
        }
        if let Some(m) = get("map") {
            field.map = Some(match m.get_ref().as_str() {
                Some(map_name) => *map_names.get(map_name).ok_or_else(|| {
                    self.err(
                        m.span(),
                        format!("value map {map_name:?} is not defined in [maps]"),
                    )
                })?,
                None => self.value_map(&format!("{t}.{name}"), m)?,
            });
        }
        if let Some(d) = get("date") {
            field.date = Some(self.date_format(d)?);
        }
        if let Some(p) = get("prefix") {
            field.prefix = Some(self.string(p, "prefix")?);
        }
        Ok(field)
    }
}

const TOP_KEYS: &[&str] = &[
    "export",
    "all",
    "maps",
    "lookups",
    "cases",
    "findings",
    "events",
    "recommendations",
];

impl Mapping {
    /// Reads and checks a mapping file. Every problem names the mapping file's line.
    pub fn load(path: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let doc = DeTable::parse(&text).map_err(|e| Error::Config {
            file: path.to_path_buf(),
            message: format!(
                "line {}: not valid TOML: {}",
                e.span().map_or(1, |s| line_of(&text, s.start)),
                e.message()
            ),
        })?;
        let doc = doc.get_ref();
        let mut loader = Loader {
            path,
            text: &text,
            columns: Vec::new(),
            column_lines: Vec::new(),
            maps: Vec::new(),
            lookups: Vec::new(),
        };
        loader.check_keys(doc, TOP_KEYS, "the mapping")?;
        let get = |k: &str| {
            doc.iter()
                .find(|(key, _)| key.get_ref() == k)
                .map(|(_, v)| v)
        };
        let relative = |p: String| -> PathBuf {
            let p = PathBuf::from(p);
            let p = if p.is_absolute() {
                p
            } else {
                path.parent().unwrap_or(Path::new(".")).join(p)
            };
            // `data/mappings/../codes/x.csv` is named as the file it is.
            std::fs::canonicalize(&p).unwrap_or(p)
        };

        // [export]
        let (mut sheet, mut skip_rows, mut codes, mut thresholds) = (None, 0, None, None);
        let mut skip_if = Vec::new();
        if let Some(e) = get("export") {
            let table = loader.table(e, "[export]")?;
            loader.check_keys(
                table,
                &["sheet", "skip_rows", "codes", "thresholds", "skip_if"],
                "[export]",
            )?;
            for (key, v) in table {
                match key.get_ref().as_ref() {
                    "sheet" => sheet = Some(loader.string(v, "sheet")?),
                    "skip_rows" => {
                        skip_rows = match v.get_ref() {
                            DeValue::Integer(i) => i.as_str().parse::<u64>().ok(),
                            _ => None,
                        }
                        .ok_or_else(|| {
                            loader.err(v.span(), "skip_rows must be a whole number ≥ 0")
                        })?
                    }
                    "codes" => codes = Some(relative(loader.string(v, "codes")?)),
                    "thresholds" => thresholds = Some(relative(loader.string(v, "thresholds")?)),
                    "skip_if" => {
                        let Some(list) = v.get_ref().as_array() else {
                            return Err(loader.err(
                                v.span(),
                                "skip_if must be a list of { column, values } tables",
                            ));
                        };
                        for item in list.iter() {
                            let t = loader.table(item, "a skip_if entry")?;
                            loader.check_keys(t, &["column", "values"], "a skip_if entry")?;
                            let line = line_of(&text, item.span().start);
                            let column = t.iter().find(|(k, _)| k.get_ref() == "column");
                            let values = t.iter().find(|(k, _)| k.get_ref() == "values");
                            let (Some((_, c)), Some((_, vs))) = (column, values) else {
                                return Err(loader
                                    .err(item.span(), "a skip_if entry needs column and values"));
                            };
                            let column = loader.string(c, "column")?;
                            let column = loader.column(&column, line);
                            let mut list = Vec::new();
                            for x in vs
                                .get_ref()
                                .as_array()
                                .map(|a| a.iter().collect())
                                .unwrap_or_else(Vec::new)
                            {
                                list.push(loader.string(x, "a value")?);
                            }
                            skip_if.push(Filter {
                                column,
                                values: list,
                                line,
                            });
                        }
                    }
                    _ => unreachable!("keys checked"),
                }
            }
        }

        // [maps.NAME]
        let mut map_names = BTreeMap::new();
        if let Some(m) = get("maps") {
            for (key, v) in loader.table(m, "[maps]")? {
                let index = loader.value_map(key.get_ref(), v)?;
                map_names.insert(key.get_ref().to_string(), index);
            }
        }

        // [lookups.NAME]
        if let Some(l) = get("lookups") {
            for (key, v) in loader.table(l, "[lookups]")? {
                let t = loader.table(v, "a lookup")?;
                loader.check_keys(t, &["file", "key", "on"], "a lookup")?;
                let line = line_of(&text, key.span().start);
                let field = |k: &str| t.iter().find(|(x, _)| x.get_ref() == k).map(|(_, v)| v);
                let (Some(file), Some(k), Some(on)) = (field("file"), field("key"), field("on"))
                else {
                    return Err(loader.err(
                        key.span(),
                        "a lookup needs file, key (its column) and on (the export's column)",
                    ));
                };
                let (file, k, on) = (
                    loader.string(file, "file")?,
                    loader.string(k, "key")?,
                    loader.string(on, "on")?,
                );
                let on = loader.column(&on, line);
                loader.lookups.push(Lookup {
                    name: key.get_ref().to_string(),
                    file,
                    key: k,
                    on,
                    columns: Vec::new(),
                    line,
                    rows: HashMap::new(),
                });
            }
        }

        // [all]: fields every target gets unless it sets them itself.
        let all: Vec<(&Spanned<toml::de::DeString>, &Spanned<DeValue>)> = match get("all") {
            Some(a) => loader.table(a, "[all]")?.iter().collect(),
            None => Vec::new(),
        };

        let mut targets = Vec::new();
        for t in RecordType::ALL {
            let Some(v) = get(t.name()) else { continue };
            let tables: Vec<&Spanned<DeValue>> = match v.get_ref() {
                DeValue::Table(_) => vec![v],
                DeValue::Array(a) => a.iter().collect(),
                _ => {
                    return Err(loader.err(
                        v.span(),
                        format!("[{t}] must be a table, or [[{t}]] tables"),
                    ));
                }
            };
            for (n, table_value) in tables.iter().enumerate() {
                let label = if tables.len() == 1 {
                    t.name().to_string()
                } else {
                    format!("{t}[{}]", n + 1)
                };
                let table = loader.table(table_value, &label)?;
                let mut fields: Vec<Field> = Vec::new();
                let mut require = None;
                for (key, value) in table {
                    if key.get_ref() == "require" {
                        let name = loader.string(value, "require")?;
                        require =
                            Some(t.columns().iter().position(|c| c.name == name).ok_or_else(
                                || {
                                    loader.err(
                                        value.span(),
                                        format!(
                                            "require names {name:?}, which is not a {t} column"
                                        ),
                                    )
                                },
                            )?);
                        continue;
                    }
                    fields.push(loader.field(t, key, value, &map_names)?);
                }
                for (key, value) in &all {
                    let defined = fields
                        .iter()
                        .any(|f| t.columns()[f.target].name == key.get_ref().as_ref());
                    if !defined && t.columns().iter().any(|c| c.name == key.get_ref().as_ref()) {
                        fields.push(loader.field(t, key, value, &map_names)?);
                    }
                }
                let expanding = fields
                    .iter()
                    .filter(|f| matches!(f.from, From::Columns(_) | From::Split(..)))
                    .count();
                if expanding > 1 {
                    return Err(loader.err(
                        table_value.span(),
                        format!("{label}: only one field may use columns or split"),
                    ));
                }
                for c in t.columns().iter().filter(|c| c.required) {
                    if !fields.iter().any(|f| t.columns()[f.target].name == c.name) {
                        return Err(loader.err(
                            table_value.span(),
                            format!(
                                "{label} does not say where the required field {} comes from",
                                c.name
                            ),
                        ));
                    }
                }
                targets.push(Target {
                    record_type: t,
                    label,
                    fields,
                    require,
                });
            }
        }
        if !targets.iter().any(|t| t.record_type == RecordType::Cases) {
            return Err(Error::Config {
                file: path.to_path_buf(),
                message:
                    "line 1: the mapping has no [cases] table: every export row must give a case"
                        .into(),
            });
        }
        Ok(Mapping {
            path: path.to_path_buf(),
            source: ConfigSource::of(path.display().to_string(), &text),
            sheet,
            skip_rows,
            codes,
            thresholds,
            columns: loader.columns,
            column_lines: loader.column_lines,
            targets,
            maps: loader.maps,
            skip_if,
            lookups: loader.lookups,
            skipped: Mutex::new(BTreeMap::new()),
        })
    }

    /// Binds the mapping to an export file: loads its lookup files (found beside the
    /// export) and gives the bundle to ingest, one source per record type mapped.
    pub fn bind(mut self, export: &Path) -> Result<Bundle> {
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
            (Format::Xlsx, None) => bundle::xlsx_sheet_names(export)
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
                    mapping: Some(mapping.clone()),
                    limits: crate::limits::Limits::default(),
                });
            }
        }
        Ok(Bundle {
            dir: export.to_path_buf(),
            sources,
        })
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
    pub(crate) fn header(
        &self,
        t: RecordType,
        position: &crate::reject::Position,
        names: &[String],
    ) -> std::result::Result<Vec<Option<usize>>, Vec<Reject>> {
        let mut problems = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if !name.is_empty() && names[..i].contains(name) && self.columns.contains(name) {
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
    pub(crate) fn rows(self: Arc<Self>, t: RecordType, raw: Rows) -> Rows {
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
                            && !crate::reject::CONFIDENTIAL_COLUMNS
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
    if crate::validate::parse_date(text).is_some() {
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
    let mut reader = csv::Reader::from_path(&path)
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
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
            .map(|&i| record.get(i).and_then(bundle::field))
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
