//! The spec's rules: each raw row is typed column by column and checked, within the row
//! (date order, amount only for financial remedies) and across the bundle (unique
//! case_id, every other row names a stored case, codes in the code list). Valid rows go
//! into Arrow record batches; every problem becomes a `Reject`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// The case_id set is looked up for every row of every record type: aHash (already in
/// the tree through arrow) instead of SipHash, with its per-process random keys.
use ahash::RandomState;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, StringBuilder, StringDictionaryBuilder};
use arrow_array::types::{
    ArrowPrimitiveType, Date32Type, Decimal128Type, Int32Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{ArrayRef, DictionaryArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{NaiveDateTime, NaiveTime};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::Result;
use crate::input::RawRow;
pub use crate::spec::dates::parse_date;
use crate::spec::dates::{EPOCH, Precision, parse_partial_date, precision_column};
use crate::spec::reject::{Position, Reject, Rule};
use crate::spec::{CodeList, Column, ID_MAX_CHARS, Kind, RecordType};

mod batch;
mod cases;
mod schema;
mod values;

pub use batch::*;
pub use cases::*;
pub use schema::*;
pub use values::*;

/// A typed value. Text borrows from the raw row it was read from while the row is
/// checked and stored (the ingest copies it once, into the batch); a [`TypedRow`] owns
/// its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Text(Cow<'a, str>),
    /// A value of an enumerated column or a code: its text, and its position in the
    /// column's [`Listed`] values (what the stored dictionary array is keyed by).
    Listed(Cow<'a, str>, i32),
    Date(i32),
    /// A date that may be only a month or a year: its first day, and its precision.
    PartialDate(i32, Precision),
    DateTime {
        seconds: i64,
        has_time: bool,
        precision: Precision,
    },
    Bool(bool),
    Amount(i128),
}

impl Value<'_> {
    /// The value with its text owned.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Text(s) => Value::Text(Cow::Owned(s.into_owned())),
            Value::Listed(s, i) => Value::Listed(Cow::Owned(s.into_owned()), i),
            Value::Null => Value::Null,
            Value::Date(d) => Value::Date(d),
            Value::PartialDate(d, p) => Value::PartialDate(d, p),
            Value::DateTime {
                seconds,
                has_time,
                precision,
            } => Value::DateTime {
                seconds,
                has_time,
                precision,
            },
            Value::Bool(b) => Value::Bool(b),
            Value::Amount(a) => Value::Amount(a),
        }
    }
}

/// A row that passed every rule, ready for a batch.
#[derive(Debug, Clone)]
pub struct TypedRow {
    pub values: Vec<Value<'static>>,
    /// Its case's key ([`case_key`]).
    pub case_key: i64,
}

impl TypedRow {
    pub fn text(&self, t: RecordType, column: &str) -> Option<&str> {
        text_of(&self.values, t, column)
    }

    /// A date's first day (of its month or year when it has no day).
    pub fn date(&self, t: RecordType, column: &str) -> Option<i32> {
        self.period(t, column).map(|(first, _, _)| first)
    }

    /// A date as the days it may stand for: (first day, last day, precision).
    pub fn period(&self, t: RecordType, column: &str) -> Option<(i32, i32, Precision)> {
        period_of(&self.values, t, column)
    }
}

/// Every record type's [`Listed`] values: the spec's enumerations (the study's
/// organisation types in place of the spec's when it has its own) and the code list.
fn lists(codes: &CodeList, organisation_types: Option<&[String]>) -> Vec<Vec<Option<Arc<Listed>>>> {
    let code_values: Vec<&str> = codes.codes.iter().map(|c| c.code.as_str()).collect();
    let code_list = Listed::new(&code_values);
    RecordType::ALL
        .iter()
        .map(|t| {
            t.columns()
                .iter()
                .map(|c| match c.kind {
                    Kind::Enum(_)
                        if c.name == "organisation_type" && organisation_types.is_some() =>
                    {
                        organisation_types.map(Listed::new)
                    }
                    Kind::Enum(allowed) => Some(Listed::new(allowed)),
                    Kind::Code => Some(code_list.clone()),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// A text column's value in a row's typed values.
fn text_of<'v>(values: &'v [Value<'_>], t: RecordType, column: &str) -> Option<&'v str> {
    let i = t.column_index(column)?;
    match &values[i] {
        Value::Text(s) | Value::Listed(s, _) => Some(s),
        _ => None,
    }
}

/// A date's first day (of its month or year when it has no day); `None` for any other
/// value.
pub fn first_day(value: &Value<'_>) -> Option<i32> {
    match value {
        Value::Date(d) | Value::PartialDate(d, _) => Some(*d),
        _ => None,
    }
}

/// A date column's value in a row's typed values: (first day, last day, precision).
fn period_of(values: &[Value<'_>], t: RecordType, column: &str) -> Option<(i32, i32, Precision)> {
    let i = t.column_index(column)?;
    match values[i] {
        Value::Date(d) => Some((d, d, Precision::Day)),
        Value::PartialDate(d, p) => Some((d, last_day(d, p), p)),
        _ => None,
    }
}

/// The values an enumerated column (or the code column) may take, in order: a value is
/// found by a slot table or a hash look-up ([`Listed::position`]; not compared with
/// each allowed value in turn) and stored as its position, the key of a dictionary array built on these values (the
/// stored column is the same dictionary-encoded text either way; the Parquet writer
/// encodes the values a row group uses).
pub struct Listed {
    values: Arc<arrow_array::StringArray>,
    index: HashMap<String, i32, RandomState>,
    /// A first look-up without hashing the text: by its length and three of its bytes
    /// ([`listed_slot`]), the one value that may match ([`NONE`]: none may, [`MANY`]:
    /// several share the slot, ask `index`). Enumerations are short lists, and every
    /// row of a file looks up several of them.
    slots: Box<[i32; LISTED_SLOTS]>,
}

const LISTED_SLOTS: usize = 1024;
const NONE: i32 = -1;
const MANY: i32 = -2;

/// A value's slot in [`Listed::slots`].
#[inline]
fn listed_slot(text: &[u8]) -> usize {
    let n = text.len();
    let key = (n as u32)
        ^ (u32::from(text[0]) << 8)
        ^ (u32::from(text[n / 2]) << 16)
        ^ (u32::from(text[n - 1]) << 24);
    (key.wrapping_mul(0x9E37_79B1) >> 22) as usize
}

impl Listed {
    fn new<S: AsRef<str>>(values: &[S]) -> Arc<Listed> {
        let mut index = HashMap::default();
        let mut slots = Box::new([NONE; LISTED_SLOTS]);
        for (i, v) in values.iter().enumerate() {
            let i = i32::try_from(i).expect("fewer than 2^31 values");
            let v = v.as_ref();
            if index.contains_key(v) {
                continue;
            }
            index.insert(v.to_string(), i);
            if !v.is_empty() {
                let slot = &mut slots[listed_slot(v.as_bytes())];
                *slot = if *slot == NONE { i } else { MANY };
            }
        }
        Arc::new(Listed {
            values: Arc::new(values.iter().map(|v| Some(v.as_ref())).collect()),
            index,
            slots,
        })
    }

    /// The position of `text` among the values.
    #[inline(always)]
    fn position(&self, text: &str) -> Option<i32> {
        if text.is_empty() {
            return self.index.get(text).copied();
        }
        match self.slots[listed_slot(text.as_bytes())] {
            NONE => None,
            MANY => self.index.get(text).copied(),
            i => same_bytes(self.values.value(i as usize).as_bytes(), text.as_bytes()).then_some(i),
        }
    }
}

/// `a == b`, without a library call for texts of up to 16 bytes (an enumerated value):
/// two overlapping 8-byte words (or 4-byte ones, or bytes) from each end.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word8 = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8"));
    let word4 = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4"));
    match n {
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

/// Checks rows against the spec and remembers what the bundle's cases were, so that the
/// other record types can be checked against them.
pub struct Validator {
    codes: CodeList,
    key: Option<Vec<u8>>,
    /// `ingest --no-text`: the free-text columns ([`crate::spec::FREE_TEXT_COLUMNS`]) are
    /// read but not stored (null), and not checked.
    no_text: bool,
    /// The zone of date-times written without an offset (`--time-zone`); without one
    /// they are taken as UTC.
    time_zone: Option<chrono_tz::Tz>,
    /// Date-times read with a time of day: (with an offset, without one).
    times_seen: std::cell::Cell<(u64, u64)>,
    /// Dates of passed rows known only to the month or the year: (record type, column,
    /// precision) → how many.
    partial_dates: BTreeMap<(RecordType, &'static str, &'static str), u64>,
    /// The organisation types allowed, when the study has its own (else the spec's).
    organisation_types: Option<Vec<String>>,
    /// Codings rows seen (case, coder, code, stage) → the line or row they came from.
    /// Keyed by a 128-bit fingerprint of the row's case, coder, code and stage (two
    /// independent 64-bit hashes: a false duplicate among n rows has probability about
    /// n²/2¹²⁹), so ten million cases' codings take 24 bytes a row, not four strings.
    codings: HashMap<u128, u64, RandomState>,
    /// Each coded case: its first coder's hash, and whether another coder coded it too.
    coders: HashMap<String, (u64, bool), RandomState>,
    /// Per record type (in [`RecordType::ALL`]'s order) and column, the values of an
    /// enumerated or code column.
    listed: Vec<Vec<Option<Arc<Listed>>>>,
    /// Stored cases (see [`CaseSet`]), shared read-only with the reading threads of
    /// the other record types once the cases are read.
    cases: Arc<CaseSet>,
    /// The ingest whose cases this validator keys ([`case_key`]).
    ingest: u32,
    /// Rejected case_id → the line or row it came from.
    rejected_cases: HashMap<String, u64, RandomState>,
}

impl Validator {
    /// `ingest --no-text`: free text read but not stored.
    pub fn without_text(mut self, no_text: bool) -> Validator {
        self.no_text = no_text;
        self
    }

    pub fn new(codes: CodeList, key: Option<Vec<u8>>) -> Validator {
        Validator {
            listed: lists(&codes, None),
            codes,
            key,
            no_text: false,
            time_zone: None,
            times_seen: std::cell::Cell::new((0, 0)),
            partial_dates: BTreeMap::new(),
            codings: HashMap::default(),
            coders: HashMap::default(),
            organisation_types: None,
            cases: Arc::new(CaseSet::new()),
            rejected_cases: HashMap::default(),
            ingest: 1,
        }
    }

    /// Keys the stored cases as those of this ingest (default 1).
    pub fn with_ingest(mut self, ingest: u32) -> Validator {
        self.ingest = ingest;
        self
    }

    /// Date-times without an offset are read as local times of this zone (converted to
    /// UTC, so intervals across a change of the clocks are the time that passed).
    pub fn with_time_zone(mut self, zone: Option<chrono_tz::Tz>) -> Validator {
        self.time_zone = zone;
        self
    }

    /// The organisation types a case may have, when the study names its own (a housing
    /// study's landlord types); `None` keeps the bundle spec's NHS list.
    pub fn with_organisation_types(mut self, types: Option<Vec<String>>) -> Validator {
        self.listed = lists(&self.codes, types.as_deref());
        self.organisation_types = types;
        self
    }

    /// Record type `t`'s [`Listed`] values, by column: for
    /// [`BatchBuilder::with_lists`], whose enumerated and code columns are then keyed
    /// by them (see [`Value::Listed`]).
    pub fn lists(&self, t: RecordType) -> Vec<Option<Arc<Listed>>> {
        self.listed[t.index()].clone()
    }

    /// Date-times with a time of day read so far: (with an offset, without one).
    pub fn times_seen(&self) -> (u64, u64) {
        self.times_seen.get()
    }

    /// Dates of the rows that passed known only to the month or the year, per record
    /// type, column and precision (`month`, `year`).
    pub fn partial_dates(&self) -> &BTreeMap<(RecordType, &'static str, &'static str), u64> {
        &self.partial_dates
    }

    /// The cases of the codings that passed that one coder only coded, in order.
    pub fn single_coder_cases(&self) -> Vec<&String> {
        let mut v: Vec<&String> = self
            .coders
            .iter()
            .filter(|(_, (_, more))| !more)
            .map(|(case, _)| case)
            .collect();
        v.sort();
        v
    }

    /// How many cases passed.
    pub fn stored_cases(&self) -> usize {
        self.cases.len()
    }

    /// Whether a case of this case_id passed.
    pub fn has_case(&self, id: &str) -> bool {
        self.cases.get(self.print(id)).is_some()
    }

    /// The 128-bit fingerprint of a text (two independent 64-bit hashes).
    fn print<T: std::hash::Hash>(&self, value: T) -> u128 {
        self.cases.print(value)
    }

    /// Types and checks one row. `Err` holds every problem found with it.
    pub fn check(
        &mut self,
        t: RecordType,
        row: RawRow,
    ) -> std::result::Result<TypedRow, Vec<Reject>> {
        let fields: Vec<Option<&str>> = row.values.iter().map(|v| v.as_deref()).collect();
        let mut values = Vec::with_capacity(fields.len());
        let line = row.position.number();
        let case_key = self.check_fields(
            t,
            &fields,
            line,
            &|| row.position.clone(),
            None,
            &mut values,
        )?;
        let values = values.into_iter().map(Value::into_owned).collect();
        Ok(TypedRow { values, case_key })
    }

    /// The stored cases, to look up from another thread while rows of the other
    /// record types are checked ([`CaseSet::find`]).
    pub fn case_set(&self) -> Arc<CaseSet> {
        self.cases.clone()
    }

    /// Before the cases are checked: room for about this many (an estimate from the
    /// file's size; the set still grows past it).
    pub fn expect_cases(&mut self, cases: usize) {
        self.cases_mut().reserve(cases);
    }

    /// Asks the processor for the slot of case `id`, which is checked a few rows on
    /// (while cases are read, the set is looked up and added to a row at a time, a
    /// cache miss each; see [`CaseSet::find`] for the other record types).
    /// A case rejected before its row was checked (a mapped export's row the mapping
    /// could not convert): rows naming it are told so.
    pub fn rejected_case(&mut self, id: &str, line: u64) {
        self.rejected_cases.entry(id.to_string()).or_insert(line);
    }

    pub fn prefetch_case(&self, id: &str) {
        self.cases.prefetch(self.print(id));
    }

    /// The case set, to add to: no reading thread holds it while cases are read.
    fn cases_mut(&mut self) -> &mut CaseSet {
        Arc::get_mut(&mut self.cases)
            .expect("no other thread holds the case set while cases are checked")
    }

    /// Types and checks one row's fields (aligned with the record type's columns;
    /// `None`: missing) into `values` (cleared first; text borrowed from the fields).
    /// `Ok`: the row's case key. `Err` holds every problem found with the row, each at
    /// `at()` (called only for a reject: a row that passes builds no position); `line`
    /// is the row's line or sheet row, kept for later messages (a duplicate's first).
    /// `found`: the row's case, already looked up ([`CaseSet::find`]; not for cases,
    /// whose set this adds to).
    pub fn check_fields<'a>(
        &mut self,
        t: RecordType,
        fields: &[Option<&'a str>],
        line: Option<u64>,
        at: &dyn Fn() -> Position,
        found: Option<Option<i64>>,
        values: &mut Vec<Value<'a>>,
    ) -> std::result::Result<i64, Vec<Reject>> {
        debug_assert!(found.is_none() || t != RecordType::Cases);
        let columns = t.columns();
        let mut rejects = Vec::new();
        let lists = &self.listed[t.index()];
        // Each field is typed into its slot: built in place, not moved out of a result
        // (the copy stalled on a load of what had just been stored; docs/benchmarks.md).
        values.clear();
        values.resize_with(columns.len().min(fields.len()).min(lists.len()), || {
            Value::Null
        });
        for (((column, raw), listed), slot) in
            columns.iter().zip(fields).zip(lists).zip(values.iter_mut())
        {
            match raw {
                None if column.required => {
                    rejects.push(
                        Reject::new(
                            t,
                            at(),
                            Rule::Required,
                            format!("{} is required and is missing", column.name),
                        )
                        .column(column.name),
                    );
                }
                None => {}
                Some(text) => {
                    if let Err((rule, message)) =
                        self.type_value(column, listed.as_deref(), text, slot)
                    {
                        *slot = Value::Null;
                        rejects.push(Reject::new(t, at(), rule, message).value(column.name, text));
                    }
                }
            }
        }
        self.row_rules(t, fields, values, at, &mut rejects);
        let number = line.unwrap_or(0);
        let mut key = 0;
        if t == RecordType::Cases {
            if let Some(id) = text_of(values, t, "case_id") {
                let print = self.print(id);
                if let Some((first, _)) = self.cases.get(print) {
                    rejects.push(
                        Reject::new(
                            t,
                            at(),
                            Rule::DuplicateCaseId,
                            format!("case_id {id} is already used at line {first}; case_id must be unique"),
                        )
                        .value("case_id", id),
                    );
                } else if rejects.is_empty() {
                    let ordinal = u32::try_from(self.cases.len() + 1)
                        .expect("fewer than 2^32 cases in one ingest");
                    key = case_key(self.ingest, ordinal);
                    self.cases_mut().insert(print, number, key);
                } else {
                    self.rejected_cases.entry(id.to_string()).or_insert(number);
                }
            }
        } else if let Some(id) = text_of(values, t, "case_id") {
            let found = match found {
                Some(found) => found,
                None => self.cases.get(self.print(id)).map(|(_, k)| k),
            };
            match found {
                Some(k) => key = k,
                None => {
                    let message = match self.rejected_cases.get(id) {
                        Some(line) => format!(
                            "names case {id}, which was rejected (cases, line {line}); fix that case first"
                        ),
                        None => format!("names case {id}, which is not in the bundle's cases"),
                    };
                    rejects.push(
                        Reject::new(t, at(), Rule::UnknownCase, message).value("case_id", id),
                    );
                }
            }
        }
        if t == RecordType::Codings && rejects.is_empty() {
            let key = ["case_id", "coder", "code", "stage"]
                .map(|c| text_of(values, t, c).unwrap_or_default());
            let print = self.print(key);
            match self.codings.get(&print) {
                Some(first) => rejects.push(
                    Reject::new(
                        t,
                        at(),
                        Rule::DuplicateCoding,
                        format!(
                            "case {} is coded {} by {} twice (first at line {first}); a coder gives a code once per case and stage",
                            key[0],
                            if key[2].is_empty() { "with no code" } else { key[2] },
                            key[1],
                        ),
                    )
                    .value("coder", key[1]),
                ),
                None => {
                    self.codings.insert(print, number);
                    let coder = self.cases.fingerprint.0.hash_one(key[1]);
                    match self.coders.get_mut(key[0]) {
                        Some((first, more)) => *more |= *first != coder,
                        None => {
                            self.coders.insert(key[0].to_string(), (coder, false));
                        }
                    }
                }
            }
        }
        if rejects.is_empty() {
            for (column, value) in columns.iter().zip(values.iter()) {
                if let Value::PartialDate(_, p) | Value::DateTime { precision: p, .. } = value
                    && *p != Precision::Day
                {
                    *self
                        .partial_dates
                        .entry((t, column.name, p.name()))
                        .or_default() += 1;
                }
            }
            Ok(key)
        } else {
            Err(rejects)
        }
    }

    /// Types one field into `out` (text is borrowed from the field); `listed`: the
    /// column's values, for an enumerated or code column.
    fn type_value<'a>(
        &self,
        column: &Column,
        listed: Option<&Listed>,
        text: &'a str,
        out: &mut Value<'a>,
    ) -> std::result::Result<(), (Rule, String)> {
        *out = self.typed(column, listed, text)?;
        Ok(())
    }

    /// [`Validator::type_value`]'s value.
    #[inline(always)]
    fn typed<'a>(
        &self,
        column: &Column,
        listed: Option<&Listed>,
        text: &'a str,
    ) -> std::result::Result<Value<'a>, (Rule, String)> {
        let kept = || Value::Text(Cow::Borrowed(text));
        let name = column.name;
        let position = || listed.and_then(|l| l.position(text));
        match column.kind {
            Kind::Identifier => {
                // Every allowed character is one byte: counting bytes is counting them.
                let ok = text.len() <= ID_MAX_CHARS
                    && text
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
                if ok {
                    Ok(kept())
                } else {
                    Err((
                        Rule::Format,
                        format!("{name} must be 1 to 64 characters of A-Z a-z 0-9 . _ -"),
                    ))
                }
            }
            Kind::Text { .. }
                if self.no_text && crate::spec::FREE_TEXT_COLUMNS.contains(&name) =>
            {
                Ok(Value::Null)
            }
            Kind::Text { max_chars } => match max_chars {
                // No more bytes than the limit: no more characters either.
                Some(max) if text.len() > max && text.chars().count() > max => Err((
                    Rule::TooLong,
                    format!(
                        "{name} is {} characters long; at most {max} are allowed",
                        text.chars().count()
                    ),
                )),
                _ => Ok(kept()),
            },
            Kind::Enum(allowed) => match position() {
                Some(i) => Ok(Value::Listed(Cow::Borrowed(text), i)),
                // The study's own organisation types replace the spec's (`listed` holds
                // them); the message names whichever list applies.
                None => Err((
                    Rule::AllowedValues,
                    match &self.organisation_types {
                        Some(own) if name == "organisation_type" => {
                            format!("{name} must be one of the study's: {}", own.join(", "))
                        }
                        _ => format!("{name} must be one of {}", allowed.join(", ")),
                    },
                )),
            },
            Kind::Code => {
                if let Some(i) = position() {
                    Ok(Value::Listed(Cow::Borrowed(text), i))
                } else {
                    Err((
                        Rule::UnknownCode,
                        format!(
                            "code {text} is not in the code list ({})",
                            self.codes.source.name
                        ),
                    ))
                }
            }
            Kind::Date => parse_date(text)
                .map(Value::Date)
                .ok_or_else(|| {
                    (
                        Rule::Format,
                        format!("{name} must be a date written YYYY-MM-DD"),
                    )
                }),
            Kind::PartialDate => parse_partial_date(text)
                .map(|(d, p)| Value::PartialDate(d, p))
                .ok_or_else(|| {
                    (
                        Rule::Format,
                        format!(
                            "{name} must be a date written YYYY-MM-DD (or only a month YYYY-MM, or a year YYYY)"
                        ),
                    )
                }),
            Kind::DateTime => self.type_date_time(name, text),
            Kind::Boolean => parse_bool(text)
                .map(Value::Bool)
                .ok_or_else(|| {
                    (
                        Rule::Format,
                        format!("{name} must be true or false (or yes/no, 1/0)"),
                    )
                }),
            Kind::Amount => parse_amount(text)
                .map(Value::Amount)
                .map_err(|why| (Rule::Format, format!("{name} must be {why}"))),
            Kind::Secret => Ok(match &self.key {
                Some(key) => Value::Text(Cow::Owned(pseudonymise(key, text))),
                None => Value::Null,
            }),
        }
    }

    /// A date-time: a date (perhaps only a month or a year), or a date and time with or
    /// without an offset (without one, local to `--time-zone`, else UTC).
    fn type_date_time(
        &self,
        name: &str,
        text: &str,
    ) -> std::result::Result<Value<'static>, (Rule, String)> {
        if text.len() < 10 {
            return parse_partial_date(text)
                .map(|(days, precision)| Value::DateTime {
                    seconds: i64::from(days) * 86_400,
                    has_time: false,
                    precision,
                })
                .ok_or_else(|| (Rule::Format, date_time_expected(name)));
        }
        let (seconds, has_time) =
            parse_date_time(text).ok_or_else(|| (Rule::Format, date_time_expected(name)))?;
        let precision = Precision::Day;
        if !has_time {
            return Ok(Value::DateTime {
                seconds,
                has_time,
                precision,
            });
        }
        let zoned = has_offset(text);
        let (with, without) = self.times_seen.get();
        self.times_seen.set(if zoned {
            (with + 1, without)
        } else {
            (with, without + 1)
        });
        let seconds = match (zoned, self.time_zone) {
            (false, Some(zone)) => local_to_utc(seconds, zone)
                .map_err(|why| (Rule::Format, format!("{name} {text}: {why}")))?,
            _ => seconds,
        };
        Ok(Value::DateTime {
            seconds,
            has_time,
            precision,
        })
    }

    /// Rules between columns of one row.
    fn row_rules(
        &self,
        t: RecordType,
        fields: &[Option<&str>],
        values: &[Value<'_>],
        at: &dyn Fn() -> Position,
        rejects: &mut Vec<Reject>,
    ) {
        // A date with no day stands for every day of its month or year: it is before
        // another only when all of those days are.
        let order = |later: &str, earlier: &str, rejects: &mut Vec<Reject>| {
            if let (Some((a, a_last, ap)), Some((b, _, bp))) =
                (period_of(values, t, later), period_of(values, t, earlier))
                && a_last < b
            {
                rejects.push(
                    Reject::new(
                        t,
                        at(),
                        Rule::DateOrder,
                        format!(
                            "{later} {} is before {earlier} {}",
                            show_date(a, ap),
                            show_date(b, bp)
                        ),
                    )
                    .value(later, &show_date(a, ap)),
                );
            }
        };
        match t {
            RecordType::Cases => order("closed_date", "opened_date", rejects),
            RecordType::Recommendations => {
                order("due_date", "made_date", rejects);
                order("completed_date", "made_date", rejects);
                let kind = text_of(values, t, "kind");
                let amount_index = t.column_index("amount_gbp");
                let amount_raw = amount_index.and_then(|i| fields[i]);
                match (kind, amount_raw) {
                    (Some("financial_remedy"), None) => rejects.push(
                        Reject::new(
                            t,
                            at(),
                            Rule::AmountKind,
                            "amount_gbp is required when kind is financial_remedy",
                        )
                        .column("amount_gbp"),
                    ),
                    (Some(k), Some(amount)) if k != "financial_remedy" => rejects.push(
                        Reject::new(
                            t,
                            at(),
                            Rule::AmountKind,
                            format!("amount_gbp is only for kind financial_remedy, not {k}"),
                        )
                        .value("amount_gbp", amount),
                    ),
                    _ => {}
                }
            }
            RecordType::Findings | RecordType::Events | RecordType::Codings => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_is_slice_equality() {
        let texts: Vec<Vec<u8>> = (0..=20)
            .flat_map(|n| {
                let base: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
                let mut variants = vec![base.clone()];
                for at in 0..n {
                    let mut v = base.clone();
                    v[at] ^= 0x20;
                    variants.push(v);
                }
                variants
            })
            .collect();
        for a in &texts {
            for b in &texts {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    /// The slot table answers as the hash map does: members at their first position
    /// (a repeated value keeps it), near misses (same length and the same three sampled
    /// bytes) and others absent, with a list long enough that slots are shared.
    #[test]
    fn listed_positions_are_the_index_positions() {
        let short = ["ct", "mri", "x_ray", "ultrasound", "mri", "", "é"];
        let long: Vec<String> = (0..3000).map(|i| format!("v{i:05}x")).collect();
        for values in [short.map(String::from).to_vec(), long] {
            let listed = Listed::new(&values);
            assert!(values.len() < 100 || listed.slots.contains(&MANY));
            let mut probes: Vec<String> = values.clone();
            probes.extend(
                ["c", "mrj", "mzi", "x_raz", "CT", "v00001y", "v0000x", "è"].map(String::from),
            );
            probes.extend(values.iter().map(|v| format!("{v}{v}")));
            for probe in &probes {
                let want = values.iter().position(|v| v == probe).map(|i| i as i32);
                assert_eq!(listed.position(probe), want, "{probe:?}");
            }
        }
    }

    /// The hand-written case set: every case found again after the table has grown
    /// many times (1,024 slots at first), unknown ones not, and the line kept.
    #[test]
    fn the_case_set_finds_every_case_after_growing() {
        let mut set = CaseSet::new();
        let ids: Vec<String> = (0..50_000).map(|i| format!("case-{i}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let print = set.print(id.as_str());
            assert!(set.get(print).is_none(), "{id} is new");
            set.insert(print, i as u64 + 2, 1000 + i as i64);
        }
        assert_eq!(set.len(), 50_000);
        assert!(set.slots.len() >= 50_000 * 10 / 7, "at most 70% full");
        let mut keys = Vec::new();
        let asked: Vec<Option<&str>> = ids
            .iter()
            .map(|s| Some(s.as_str()))
            .chain([Some("case-50000"), None, Some("")])
            .collect();
        set.find(asked.iter().copied(), &mut keys);
        assert_eq!(keys.len(), 50_003);
        for (i, k) in keys.iter().take(50_000).enumerate() {
            assert_eq!(*k, Some(1000 + i as i64));
        }
        assert_eq!(&keys[50_000..], &[None, None, None]);
        assert_eq!(set.get(set.print("case-7")), Some((9, 1007)));
    }

    #[test]
    fn dates_are_strict_iso() {
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("2019-02-29"), None);
        assert_eq!(parse_date("2019-2-28"), None);
        assert_eq!(parse_date("28/02/2019"), None);
    }

    #[test]
    fn local_times_in_a_zone_are_converted_to_utc_across_a_change_of_the_clocks() {
        let london: chrono_tz::Tz = "Europe/London".parse().unwrap();
        let utc = |text: &str| {
            let (s, _) = parse_date_time(text).unwrap();
            local_to_utc(s, london)
        };
        // 31 March 2024: the clocks went forward at 01:00 GMT. 00:30 local is 00:30Z;
        // 02:10 local (BST) is 01:10Z: 40 minutes later, not 100.
        let before = utc("2024-03-31T00:30").unwrap();
        let after = utc("2024-03-31T02:10").unwrap();
        assert_eq!(after - before, 40 * 60);
        assert!(
            utc("2024-03-31T01:30")
                .unwrap_err()
                .contains("did not happen")
        );
        // 27 October 2024: 01:30 happened twice.
        let twice = utc("2024-10-27T01:30").unwrap_err();
        assert!(
            twice.contains("+01:00") && twice.contains("+00:00"),
            "{twice}"
        );
        // In winter London is UTC.
        assert_eq!(
            utc("2024-01-15T12:00").unwrap(),
            parse_date_time("2024-01-15T12:00Z").unwrap().0
        );
        assert!(has_offset("2024-01-15T12:00Z") && has_offset("2024-01-15T12:00-05:00"));
        assert!(!has_offset("2024-01-15T12:00") && !has_offset("2024-01-15"));
    }

    #[test]
    fn date_times_take_the_spec_forms() {
        assert_eq!(parse_date_time("1970-01-02"), Some((86_400, false)));
        assert_eq!(parse_date_time("1970-01-01T01:30"), Some((5_400, true)));
        assert_eq!(parse_date_time("1970-01-01T01:30:15"), Some((5_415, true)));
        assert_eq!(parse_date_time("1970-01-01T01:30:00Z"), Some((5_400, true)));
        assert_eq!(
            parse_date_time("1970-01-01T01:30+01:00"),
            Some((1_800, true))
        );
        assert_eq!(
            parse_date_time("1970-01-01T01:30:00-0030"),
            Some((7_200, true))
        );
        assert_eq!(parse_date_time("1970-01-01 01:30"), None);
        assert_eq!(parse_date_time("1970-01-01T25:00"), None);
    }

    #[test]
    fn amounts_are_pence() {
        assert_eq!(parse_amount("2500"), Ok(250_000));
        assert_eq!(parse_amount("950.5"), Ok(95_050));
        assert_eq!(parse_amount("0.07"), Ok(7));
        assert!(parse_amount("1.234").is_err());
        assert!(parse_amount("-1").is_err());
        assert!(parse_amount("£5").is_err());
        assert!(parse_amount("12345678901").is_err());
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            pseudonymise(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
