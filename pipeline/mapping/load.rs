//! Reading a mapping file: the TOML, checked field by field, each problem named with its
//! line in the file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::format::{Item as FormatItem, StrftimeItems};
use toml::de::{DeTable, DeValue};

use super::{
    DateFormat, Epoch, Field, Filter, From, Lookup, Mapping, PerCase, Piece, Target, ValueMap,
};
use crate::error::{Error, Result};
use crate::spec::dates::Precision;
use crate::spec::{ConfigSource, Kind, RecordType};

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> u64 {
    text[..offset.min(text.len())].matches('\n').count() as u64 + 1
}

struct Loader<'a> {
    path: &'a Path,
    text: &'a str,
    columns: Vec<String>,
    column_lines: Vec<u64>,
    /// Columns read by fields marked `optional = true`, and columns read any other way:
    /// a column in both is required.
    optional: Vec<String>,
    required: Vec<String>,
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
        self.required.push(name.to_string());
        self.column_any(name, line)
    }

    /// A column an export may lack (`optional = true`).
    fn optional_column(&mut self, name: &str, line: u64) -> usize {
        self.optional.push(name.to_string());
        self.column_any(name, line)
    }

    fn column_any(&mut self, name: &str, line: u64) -> usize {
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
            return Ok(DateFormat::ExcelSerial(Epoch::Excel1900));
        }
        if text == "excel-1904" {
            return Ok(DateFormat::ExcelSerial(Epoch::Excel1904));
        }
        let items: Vec<FormatItem> = StrftimeItems::new(&text).collect();
        let bad = items.iter().any(|i| matches!(i, FormatItem::Error));
        let spec = |s: &str| text.contains(s);
        let has_year = ["%Y", "%y", "%F", "%D", "%G"].iter().any(|s| spec(s));
        let has_day = ["%d", "%e", "%j", "%F", "%D"].iter().any(|s| spec(s));
        let has_month = ["%m", "%b", "%B", "%h"].iter().any(|s| spec(s));
        let with_time = ["%H", "%I", "%M", "%T", "%R"].iter().any(|s| spec(s));
        let precision = match (has_day, has_month) {
            (true, _) => Precision::Day,
            (false, true) => Precision::Month,
            (false, false) => Precision::Year,
        };
        if bad || !has_year || (with_time && precision != Precision::Day) {
            return Err(self.err(
                v.span(),
                format!(
                    "date format {text:?} is not a usable strftime pattern: write for example \"%d/%m/%Y\", \"%m/%d/%Y\", \"%Y-%m-%d %H:%M\", \"%B %Y\" for a month only, \"%Y\" for a year only, \"excel\" for Excel serial numbers, or \"excel-1904\" for a workbook in the 1904 date system"
                ),
            ));
        }
        Ok(DateFormat::Pattern {
            text,
            with_time,
            precision,
        })
    }

    /// `date = "…"` or `date = ["…", "…"]` (tried in order). A format that reads only a
    /// month or a year is refused for a column that needs a day.
    fn date_formats(&self, v: &Spanned<DeValue<'_>>, target: Kind) -> Result<Vec<DateFormat>> {
        let formats = match v.get_ref().as_array() {
            Some(list) if !list.is_empty() => list
                .iter()
                .map(|d| self.date_format(d))
                .collect::<Result<Vec<_>>>()?,
            Some(_) => {
                return Err(self.err(v.span(), "date = [] names no format: give one or more"));
            }
            None => vec![self.date_format(v)?],
        };
        let partial = formats.iter().any(
            |f| matches!(f, DateFormat::Pattern { precision, .. } if *precision != Precision::Day),
        );
        if partial && !matches!(target, Kind::PartialDate | Kind::DateTime) {
            return Err(self.err(
                v.span(),
                "a date format with no day (a month or a year only) is for opened_date, closed_date and occurred_at; this column needs a day",
            ));
        }
        Ok(formats)
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
        let Some(target) = t.column_index(name) else {
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
            fallbacks: Vec::new(),
            per_case: None,
        };
        if let Some(column) = v.get_ref().as_str() {
            field.from = From::Column(self.column(column, line));
            return Ok(field);
        }
        let table = self.table(v, "a field (a column name or a table)")?;
        self.check_keys(
            table,
            &[
                "column", "columns", "split", "value", "template", "lookup", "map", "date",
                "prefix", "else", "per_case", "order", "optional",
            ],
            &format!("field {name}"),
        )?;
        let get = |k: &str| {
            table
                .iter()
                .find(|(key, _)| key.get_ref() == k)
                .map(|(_, v)| v)
        };
        if get("optional").is_some() && (get("column").is_none() || get("lookup").is_some()) {
            return Err(self.err(
                v.span(),
                format!(
                    "field {name}: optional is for a field read from one export column (column = ...), which an export may lack"
                ),
            ));
        }
        let sources = ["column", "columns", "value", "template"]
            .iter()
            .filter(|k| get(k).is_some())
            .count();
        if sources != 1 {
            return Err(self.err(
                v.span(),
                format!(
                    "field {name} needs exactly one of column, columns, value or template (with lookup, column names the lookup file's column)"
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
            // `optional = true`: an export without the column gives every row an empty
            // value (for example a text column some exports leave out).
            let index = match get("optional").map(|o| o.get_ref().as_bool()) {
                None | Some(Some(false)) => self.column(&column, line),
                Some(Some(true)) => self.optional_column(&column, line),
                Some(None) => {
                    return Err(self.err(
                        v.span(),
                        format!("field {name}: optional must be true or false"),
                    ));
                }
            };
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
        } else if let Some(t) = get("template") {
            let text = self.string(t, "template")?;
            let pieces = parse_template(&text)
                .map_err(|m| self.err(t.span(), format!("field {name}: template {text:?}: {m}")))?;
            let label = pieces
                .iter()
                .filter(|(is_column, _)| *is_column)
                .map(|(_, p)| p.as_str())
                .collect::<Vec<_>>()
                .join("+");
            let pieces = pieces
                .into_iter()
                .map(|(is_column, p)| match is_column {
                    true => Piece::Column(self.column(&p, line)),
                    false => Piece::Text(p),
                })
                .collect();
            field.from = From::Template { pieces, label };
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
        let kind = t.columns()[target].kind;
        if let Some(d) = get("date") {
            field.date = Some(self.date_formats(d, kind)?);
        }
        if let Some(p) = get("prefix") {
            field.prefix = Some(self.string(p, "prefix")?);
        }
        match (get("per_case"), get("order")) {
            (None, None) => {}
            (None, Some(o)) => {
                return Err(self.err(
                    o.span(),
                    format!("field {name}: order goes with per_case = \"worst\""),
                ));
            }
            (Some(p), order) => {
                if t != RecordType::Cases
                    || matches!(field.from, From::Columns(_) | From::Split(..))
                {
                    return Err(self.err(
                        p.span(),
                        format!("field {name}: per_case is for a case field read from one column, template or lookup (a case's rows are gathered)"),
                    ));
                }
                let how = self.string(p, "per_case")?;
                field.per_case = Some(match (how.as_str(), order) {
                    ("worst", Some(o)) => {
                        let list = o
                            .get_ref()
                            .as_array()
                            .filter(|l| !l.is_empty())
                            .ok_or_else(|| {
                                self.err(
                                    o.span(),
                                    "order must be a list of the export's values, worst first",
                                )
                            })?;
                        let mut values = Vec::new();
                        for v in list.iter() {
                            values.push(self.string(v, "a value of order")?);
                        }
                        PerCase::Worst(values, line)
                    }
                    ("worst", None) => {
                        return Err(self.err(
                            p.span(),
                            format!("field {name}: per_case = \"worst\" needs order = [the export's values, worst first]"),
                        ));
                    }
                    (_, Some(o)) => {
                        return Err(self.err(
                            o.span(),
                            format!(
                                "field {name}: order goes with per_case = \"worst\", not {how:?}"
                            ),
                        ));
                    }
                    ("first", None) => PerCase::First,
                    ("last", None) => PerCase::Last,
                    ("max", None) => PerCase::Max,
                    ("min", None) => PerCase::Min,
                    ("any", None) => PerCase::Any,
                    ("count", None) => PerCase::Count,
                    _ => {
                        return Err(self.err(
                            p.span(),
                            "per_case must be one of worst, first, last, max, min, any, count",
                        ));
                    }
                });
            }
        }
        if let Some(e) = get("else") {
            if !matches!(field.from, From::Column(_)) {
                return Err(self.err(
                    e.span(),
                    format!("field {name}: else follows a single column (column = \"…\")"),
                ));
            }
            let Some(list) = e.get_ref().as_array().filter(|l| !l.is_empty()) else {
                return Err(self.err(
                    e.span(),
                    "else must be a list of { column, date } tables, read in order when the column is empty",
                ));
            };
            for item in list.iter() {
                let t = self.table(item, "an else entry")?;
                self.check_keys(t, &["column", "date"], "an else entry")?;
                let Some((_, c)) = t.iter().find(|(k, _)| k.get_ref() == "column") else {
                    return Err(self.err(item.span(), "an else entry needs column"));
                };
                let column = self.string(c, "column")?;
                let index = self.column(&column, line_of(self.text, item.span().start));
                let date = match t.iter().find(|(k, _)| k.get_ref() == "date") {
                    Some((_, d)) => Some(self.date_formats(d, kind)?),
                    None => None,
                };
                field.fallbacks.push((index, date));
            }
        }
        Ok(field)
    }
}

const TOP_KEYS: &[&str] = &[
    "export",
    "all",
    "maps",
    "lookups",
    "exposure",
    "cases",
    "findings",
    "events",
    "recommendations",
    "codings",
];

/// What `[export]` says.
#[derive(Default)]
struct ExportTable {
    sheet: Option<String>,
    skip_rows: u64,
    codes: Option<PathBuf>,
    thresholds: Option<PathBuf>,
    study: Option<String>,
    skip_if: Vec<Filter>,
    repeats_case_rows: bool,
}

type Entry<'t, 'i> = (
    &'t Spanned<toml::de::DeString<'i>>,
    &'t Spanned<DeValue<'i>>,
);

impl Loader<'_> {
    /// `[export]`: the sheet, lines before the header, the code list and thresholds the
    /// export is coded against (relative to the mapping), and rows to skip.
    fn export_table(
        &mut self,
        e: &Spanned<DeValue<'_>>,
        relative: &dyn Fn(String) -> PathBuf,
    ) -> Result<ExportTable> {
        let mut out = ExportTable::default();
        let table = self.table(e, "[export]")?;
        self.check_keys(
            table,
            &[
                "sheet",
                "skip_rows",
                "codes",
                "thresholds",
                "study",
                "skip_if",
                "repeats_case_rows",
            ],
            "[export]",
        )?;
        for (key, v) in table {
            match key.get_ref().as_ref() {
                "sheet" => out.sheet = Some(self.string(v, "sheet")?),
                "skip_rows" => {
                    out.skip_rows = match v.get_ref() {
                        DeValue::Integer(i) => i.as_str().parse::<u64>().ok(),
                        _ => None,
                    }
                    .ok_or_else(|| self.err(v.span(), "skip_rows must be a whole number ≥ 0"))?
                }
                "codes" => out.codes = Some(relative(self.string(v, "codes")?)),
                "thresholds" => out.thresholds = Some(relative(self.string(v, "thresholds")?)),
                "study" => {
                    // A shipped study's name, or a folder relative to the mapping.
                    let name = self.string(v, "study")?;
                    out.study = Some(
                        if crate::spec::study::SHIPPED.iter().any(|(n, _)| *n == name) {
                            name
                        } else {
                            relative(name).display().to_string()
                        },
                    );
                }
                "skip_if" => out.skip_if = self.skip_if(v)?,
                "repeats_case_rows" => {
                    out.repeats_case_rows = v.get_ref().as_bool().ok_or_else(|| {
                        self.err(
                            v.span(),
                            "repeats_case_rows must be true or false (true: each export row restates its case's events and recommendations, which are then stored once)",
                        )
                    })?
                }
                _ => unreachable!("keys checked"),
            }
        }
        Ok(out)
    }

    /// `skip_if = [{ column, values }, …]`.
    fn skip_if(&mut self, v: &Spanned<DeValue<'_>>) -> Result<Vec<Filter>> {
        let Some(list) = v.get_ref().as_array() else {
            return Err(self.err(
                v.span(),
                "skip_if must be a list of { column, values } tables",
            ));
        };
        let mut filters = Vec::new();
        for item in list.iter() {
            let t = self.table(item, "a skip_if entry")?;
            self.check_keys(t, &["column", "values"], "a skip_if entry")?;
            let line = line_of(self.text, item.span().start);
            let column = t.iter().find(|(k, _)| k.get_ref() == "column");
            let values = t.iter().find(|(k, _)| k.get_ref() == "values");
            let (Some((_, c)), Some((_, vs))) = (column, values) else {
                return Err(self.err(item.span(), "a skip_if entry needs column and values"));
            };
            let column = self.string(c, "column")?;
            let column = self.column(&column, line);
            let Some(list) = vs.get_ref().as_array() else {
                return Err(self.err(vs.span(), "skip_if values must be a list of strings"));
            };
            let mut values = Vec::new();
            for x in list.iter() {
                values.push(self.string(x, "a value")?);
            }
            if values.is_empty() {
                return Err(self.err(
                    vs.span(),
                    "skip_if values = [] skips nothing: list the values whose rows to skip (\"\" for an empty cell)",
                ));
            }
            filters.push(Filter {
                column,
                values,
                line,
            });
        }
        Ok(filters)
    }

    /// `[maps.NAME]`: value maps, by name.
    fn maps_table(&mut self, m: &Spanned<DeValue<'_>>) -> Result<BTreeMap<String, usize>> {
        let mut names = BTreeMap::new();
        for (key, v) in self.table(m, "[maps]")? {
            let index = self.value_map(key.get_ref(), v)?;
            names.insert(key.get_ref().to_string(), index);
        }
        Ok(names)
    }

    /// `[lookups.NAME]`: files (relative to the mapping's folder) that give more columns by a key.
    fn lookups_table(
        &mut self,
        l: &Spanned<DeValue<'_>>,
        relative: &dyn Fn(String) -> PathBuf,
    ) -> Result<()> {
        for (key, v) in self.table(l, "[lookups]")? {
            let t = self.table(v, "a lookup")?;
            self.check_keys(t, &["file", "key", "on", "match"], "a lookup")?;
            let line = line_of(self.text, key.span().start);
            let field = |k: &str| t.iter().find(|(x, _)| x.get_ref() == k).map(|(_, v)| v);
            let (Some(file), Some(k), Some(on)) = (field("file"), field("key"), field("on")) else {
                return Err(self.err(
                    key.span(),
                    "a lookup needs file, key (its column) and on (the export's column)",
                ));
            };
            let file_span = file.span();
            let (file, k, on) = (
                self.string(file, "file")?,
                self.string(k, "key")?,
                self.string(on, "on")?,
            );
            self.named_file(&file, file_span, "lookup")?;
            let normalised = match field("match") {
                None => false,
                Some(m) => match m.get_ref().as_str() {
                    Some("exact") => false,
                    Some("normalised") => true,
                    _ => {
                        return Err(self.err(
                            m.span(),
                            "match must be \"exact\" (the default) or \"normalised\" (case, spaces and punctuation ignored)",
                        ));
                    }
                },
            };
            let on = self.column(&on, line);
            self.lookups.push(Lookup {
                name: key.get_ref().to_string(),
                path: relative(file.clone()),
                file,
                key: k,
                on,
                columns: Vec::new(),
                line,
                rows: HashMap::new(),
                normalised,
                spellings: HashMap::new(),
            });
        }
        Ok(())
    }

    /// A file a mapping names: a path to a file, relative to the mapping's folder like
    /// every path in a mapping (or absolute).
    fn named_file(&self, file: &str, span: std::ops::Range<usize>, what: &str) -> Result<()> {
        if file.trim().is_empty() || file.ends_with('/') || file.ends_with('\\') {
            return Err(self.err(
                span,
                format!("{what} file {file:?} must name a file (a path relative to the mapping's folder)"),
            ));
        }
        Ok(())
    }

    /// `[exposure]`: a file (relative to the mapping's folder) giving each organisation's exposure, and
    /// its columns (docs/bring-your-own-export.md).
    fn exposure_table(
        &self,
        v: &Spanned<DeValue<'_>>,
        relative: &dyn Fn(String) -> PathBuf,
    ) -> Result<super::ExposureFrom> {
        let t = self.table(v, "[exposure]")?;
        self.check_keys(
            t,
            &["file", "organisation_code", "exposure", "period"],
            "[exposure]",
        )?;
        let field = |k: &str| t.iter().find(|(x, _)| x.get_ref() == k).map(|(_, v)| v);
        let Some(file) = field("file") else {
            return Err(self.err(
                v.span(),
                "[exposure] needs file (a path relative to the mapping's folder), and the file's organisation_code and exposure columns unless they are so named",
            ));
        };
        let file_span = file.span();
        let file = self.string(file, "file")?;
        self.named_file(&file, file_span, "exposure")?;
        let name =
            |k: &str| -> Result<Option<String>> { field(k).map(|v| self.string(v, k)).transpose() };
        let defaults = crate::spec::study::ExposureColumns::default();
        let period = name("period")?;
        Ok(super::ExposureFrom {
            path: relative(file.clone()),
            file,
            columns: crate::spec::study::ExposureColumns {
                organisation_code: name("organisation_code")?.unwrap_or(defaults.organisation_code),
                exposure: name("exposure")?.unwrap_or(defaults.exposure),
                period_named: period.is_some(),
                period: period.or(defaults.period),
            },
        })
    }

    /// `[cases]`, `[findings]`, `[[events]]`, …: the record types the export gives, each
    /// with its fields (and the `[all]` fields it does not set itself).
    fn record_tables(
        &mut self,
        t: RecordType,
        v: &Spanned<DeValue<'_>>,
        all: &[Entry<'_, '_>],
        map_names: &BTreeMap<String, usize>,
    ) -> Result<Vec<Target>> {
        let tables: Vec<&Spanned<DeValue>> = match v.get_ref() {
            DeValue::Table(_) => vec![v],
            DeValue::Array(a) => a.iter().collect(),
            _ => {
                return Err(self.err(
                    v.span(),
                    format!("[{t}] must be a table, or [[{t}]] tables"),
                ));
            }
        };
        let mut targets = Vec::new();
        for (n, table_value) in tables.iter().enumerate() {
            let label = if tables.len() == 1 {
                t.name().to_string()
            } else {
                format!("{t}[{}]", n + 1)
            };
            let table = self.table(table_value, &label)?;
            let mut fields: Vec<Field> = Vec::new();
            let mut require = None;
            for (key, value) in table {
                if key.get_ref() == "require" {
                    let name = self.string(value, "require")?;
                    require = Some(t.column_index(&name).ok_or_else(|| {
                        self.err(
                            value.span(),
                            format!("require names {name:?}, which is not a {t} column"),
                        )
                    })?);
                    continue;
                }
                fields.push(self.field(t, key, value, map_names)?);
            }
            for (key, value) in all {
                let defined = fields
                    .iter()
                    .any(|f| t.columns()[f.target].name == key.get_ref().as_ref());
                if !defined && t.columns().iter().any(|c| c.name == key.get_ref().as_ref()) {
                    fields.push(self.field(t, key, value, map_names)?);
                }
            }
            let expanding = fields
                .iter()
                .filter(|f| matches!(f.from, From::Columns(_) | From::Split(..)))
                .count();
            if expanding > 1 {
                return Err(self.err(
                    table_value.span(),
                    format!("{label}: only one field may use columns or split"),
                ));
            }
            for c in t.columns().iter().filter(|c| c.required) {
                if !fields.iter().any(|f| t.columns()[f.target].name == c.name) {
                    return Err(self.err(
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
                index: 0,
            });
        }
        Ok(targets)
    }
}

impl Mapping {
    /// Reads and checks a mapping file. Every problem names the mapping file's line.
    /// One method of the loader per TOML table: `[export]`, `[maps]`, `[lookups]`, and
    /// the record types' tables.
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
            optional: Vec::new(),
            required: Vec::new(),
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
        let export = match get("export") {
            Some(e) => loader.export_table(e, &relative)?,
            None => ExportTable::default(),
        };
        let map_names = match get("maps") {
            Some(m) => loader.maps_table(m)?,
            None => BTreeMap::new(),
        };
        if let Some(l) = get("lookups") {
            loader.lookups_table(l, &relative)?;
        }
        let exposure = match get("exposure") {
            Some(e) => Some(loader.exposure_table(e, &relative)?),
            None => None,
        };
        // [all]: fields every target gets unless it sets them itself.
        let all: Vec<Entry> = match get("all") {
            Some(a) => loader.table(a, "[all]")?.iter().collect(),
            None => Vec::new(),
        };
        let mut targets = Vec::new();
        for t in RecordType::ALL {
            if let Some(v) = get(t.name()) {
                targets.extend(loader.record_tables(t, v, &all, &map_names)?);
            }
        }
        for (i, t) in targets.iter_mut().enumerate() {
            t.index = i;
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
            sheet: export.sheet,
            skip_rows: export.skip_rows,
            codes: export.codes,
            thresholds: export.thresholds,
            study: export.study,
            optional_columns: loader
                .optional
                .iter()
                .filter(|c| !loader.required.contains(c))
                .cloned()
                .collect(),
            columns: loader.columns,
            column_lines: loader.column_lines,
            targets,
            maps: loader.maps,
            skip_if: export.skip_if,
            repeats_case_rows: export.repeats_case_rows,
            repeated: Default::default(),
            lookups: loader.lookups,
            exposure,
            skipped: Mutex::new(BTreeMap::new()),
            matched: Mutex::new(BTreeMap::new()),
            used: Mutex::new(super::Used::default()),
            lines_read: Default::default(),
            lines_skipped: Default::default(),
        })
    }
}

/// A template's pieces: `(true, column)` for `{column}`, `(false, text)` between them;
/// `{{` and `}}` are literal braces.
fn parse_template(text: &str) -> std::result::Result<Vec<(bool, String)>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') | None => {
                            return Err("a { with no } after its column name".into());
                        }
                        Some(c) => name.push(c),
                    }
                }
                if name.is_empty() {
                    return Err("{} names no column".into());
                }
                if !literal.is_empty() {
                    pieces.push((false, std::mem::take(&mut literal)));
                }
                pieces.push((true, name));
            }
            '}' => return Err("a } with no { before it (write }} for a brace)".into()),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push((false, literal));
    }
    if !pieces.iter().any(|(is_column, _)| *is_column) {
        return Err("names no {column} (a constant is value = \"…\")".into());
    }
    Ok(pieces)
}
