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

/// Precision and scale of stored amounts: Decimal128(12, 2).
pub const AMOUNT_PRECISION: u8 = 12;
pub const AMOUNT_SCALE: i8 = 2;

/// The name of the companion column that says whether a date-time had a time of day.
pub fn has_time_column(name: &str) -> String {
    format!("{name}_has_time")
}

fn dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The stored column that keys a case in every table: an integer given at ingest (see
/// [`case_key`]), which the measures join and group on instead of the text `case_id`.
pub const CASE_KEY: &str = "case_key";

/// The key of the `ordinal`-th case (from 1) stored by ingest number `ingest`. A case's
/// rows all come from one ingest (a later ingest that names the case replaces all of
/// them), so a key never changes while its case is kept and two cases never share one.
/// Ingest 0 stands for cases carried over from a warehouse written before keys existed.
pub fn case_key(ingest: u32, ordinal: u32) -> i64 {
    (i64::from(ingest) << 32) | i64::from(ordinal)
}

/// The stored (Arrow) schema of a record type: its columns as typed, then `case_key`.
/// Cases' `opened_year` partition column is not in the files: it is the folder name
/// (`opened_year=2019`).
pub fn schema(t: RecordType) -> SchemaRef {
    let mut fields = stored_fields(t);
    fields.push(Field::new(CASE_KEY, DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

/// The schema of files written before `case_key` existed (manifest without `case_keys`).
pub fn schema_without_case_key(t: RecordType) -> SchemaRef {
    Arc::new(Schema::new(stored_fields(t)))
}

fn stored_fields(t: RecordType) -> Vec<Field> {
    let mut fields = Vec::new();
    for c in t.columns() {
        let nullable = !c.required;
        match c.kind {
            Kind::Identifier | Kind::Text { .. } | Kind::Secret => {
                fields.push(Field::new(c.name, DataType::Utf8, nullable))
            }
            Kind::Enum(_) | Kind::Code => fields.push(Field::new(c.name, dictionary(), nullable)),
            Kind::Date => fields.push(Field::new(c.name, DataType::Date32, nullable)),
            Kind::PartialDate => {
                fields.push(Field::new(c.name, DataType::Date32, nullable));
                fields.push(Field::new(precision_column(c.name), dictionary(), true));
            }
            Kind::DateTime => {
                fields.push(Field::new(
                    c.name,
                    DataType::Timestamp(TimeUnit::Millisecond, None),
                    nullable,
                ));
                fields.push(Field::new(
                    has_time_column(c.name),
                    DataType::Boolean,
                    nullable,
                ));
                fields.push(Field::new(precision_column(c.name), dictionary(), true));
            }
            Kind::Boolean => fields.push(Field::new(c.name, DataType::Boolean, nullable)),
            Kind::Amount => fields.push(Field::new(
                c.name,
                DataType::Decimal128(AMOUNT_PRECISION, AMOUNT_SCALE),
                nullable,
            )),
        }
    }
    fields
}

/// The schema of the `rejects` table kept in the warehouse by `--accept-partial`.
pub fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ingest", DataType::UInt32, false),
        Field::new("record_type", dictionary(), false),
        Field::new("file", DataType::Utf8, false),
        Field::new("sheet", DataType::Utf8, true),
        Field::new("line", DataType::UInt64, true),
        Field::new("column", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
        Field::new("rule", dictionary(), false),
        Field::new("message", DataType::Utf8, false),
    ]))
}

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

/// The stored cases, by a 128-bit fingerprint of their case_id (no string kept or
/// compared; a false match among n cases has probability about n²/2¹²⁹) → the line or
/// row it came from and its case key.
///
/// Hand-written (open addressing, linear probing, one 32-byte slot per case, at most
/// 70% full) rather than a `HashMap`, for one reason: [`CaseSet::find`] prefetches the
/// slots of the rows ahead of the one it looks up. The set is far larger than the caches
/// and every look-up of a row of a shuffled file is a miss; a `HashMap` look-up waits
/// for two (its control bytes, then its slot), one after the other. The memory is a
/// `HashMap`'s (32 bytes a slot, a power of two of them).
pub struct CaseSet {
    /// Fingerprint 0: an empty slot (a text whose fingerprint is 0 is taken as 1).
    slots: Vec<CaseSlot>,
    len: usize,
    /// The fingerprint's two hashers (also the validator's, for codings).
    fingerprint: (RandomState, RandomState),
}

#[derive(Clone, Copy, Default)]
struct CaseSlot {
    print: u128,
    line: u64,
    key: i64,
}

/// Rows looked ahead by [`CaseSet::find`]: enough misses in flight to cover a memory
/// access, few enough that the prefetched lines are still in the cache when read.
const PREFETCH_AHEAD: usize = 16;

impl CaseSet {
    fn new() -> CaseSet {
        CaseSet {
            slots: vec![CaseSlot::default(); 1024],
            len: 0,
            fingerprint: (RandomState::new(), RandomState::new()),
        }
    }

    /// The 128-bit fingerprint of a text (two independent 64-bit hashes; never 0).
    fn print<T: std::hash::Hash>(&self, value: T) -> u128 {
        let p = (u128::from(self.fingerprint.0.hash_one(&value)) << 64)
            | u128::from(self.fingerprint.1.hash_one(&value));
        p.max(1)
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The slot holding `print`, or the empty slot where it would go.
    fn slot(&self, print: u128) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = print as usize & mask;
        while self.slots[i].print != 0 && self.slots[i].print != print {
            i = (i + 1) & mask;
        }
        i
    }

    /// (line, key) of the case with this fingerprint.
    fn get(&self, print: u128) -> Option<(u64, i64)> {
        let s = &self.slots[self.slot(print)];
        (s.print != 0).then_some((s.line, s.key))
    }

    /// Makes room for `cases` in all without growing on the way (growing moves every
    /// case to a new slot, a cache miss each). Only an empty set is resized.
    fn reserve(&mut self, cases: usize) {
        let slots = (cases.saturating_mul(10) / 7 + 1).next_power_of_two();
        if self.len == 0 && slots > self.slots.len() {
            self.slots = vec![CaseSlot::default(); slots];
        }
    }

    /// Adds a case not in the set.
    fn insert(&mut self, print: u128, line: u64, key: i64) {
        if (self.len + 1) * 10 > self.slots.len() * 7 {
            let grown = vec![CaseSlot::default(); self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            for s in old.into_iter().filter(|s| s.print != 0) {
                let i = self.slot(s.print);
                self.slots[i] = s;
            }
        }
        let i = self.slot(print);
        debug_assert_eq!(self.slots[i].print, 0, "a case is added once");
        self.slots[i] = CaseSlot { print, line, key };
        self.len += 1;
    }

    /// Asks the processor to fetch the cache line of `print`'s first slot.
    #[inline]
    fn prefetch(&self, print: u128) {
        let slot = &self.slots[print as usize & (self.slots.len() - 1)];
        #[cfg(target_arch = "x86_64")]
        #[allow(unsafe_code)]
        // SAFETY: a prefetch is a hint: it reads nothing into the program and cannot
        // fault; the address is of a slot of this set.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (slot as *const CaseSlot).cast::<i8>(),
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    /// The keys of the cases `ids` name (`None`: no such case), into `keys`. Each
    /// row's slot is prefetched [`PREFETCH_AHEAD`] rows before it is read, so the
    /// misses overlap. The ingest runs this on the thread that reads the file;
    /// [`Validator::check_fields`] takes the result as `found`.
    pub fn find<'a>(
        &self,
        ids: impl Iterator<Item = Option<&'a str>>,
        keys: &mut Vec<Option<i64>>,
    ) {
        let prints: Vec<u128> = ids.map(|id| id.map_or(0, |id| self.print(id))).collect();
        keys.clear();
        for p in prints.iter().take(PREFETCH_AHEAD) {
            self.prefetch(*p);
        }
        for (i, p) in prints.iter().enumerate() {
            if let Some(ahead) = prints.get(i + PREFETCH_AHEAD) {
                self.prefetch(*ahead);
            }
            keys.push(if *p == 0 {
                None
            } else {
                self.get(*p).map(|(_, k)| k)
            });
        }
    }
}

/// Checks rows against the spec and remembers what the bundle's cases were, so that the
/// other record types can be checked against them.
pub struct Validator {
    codes: CodeList,
    key: Option<Vec<u8>>,
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
    pub fn new(codes: CodeList, key: Option<Vec<u8>>) -> Validator {
        Validator {
            listed: lists(&codes, None),
            codes,
            key,
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
        // (the copy stalled on a load of what had just been stored, a third of the
        // typing's time).
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

/// `patient_ref` → HMAC-SHA-256 under the key, as lowercase hex.
pub fn pseudonymise(key: &[u8], value: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn show_date(days: i32, precision: Precision) -> String {
    let format = match precision {
        Precision::Day => "%Y-%m-%d",
        Precision::Month => "%Y-%m",
        Precision::Year => "%Y",
    };
    (EPOCH + chrono::Duration::days(i64::from(days)))
        .format(format)
        .to_string()
}

/// The last day of the month or year that starts on `first` (the day itself for a day).
fn last_day(first: i32, precision: Precision) -> i32 {
    let start = EPOCH + chrono::Duration::days(i64::from(first));
    let next = match precision {
        Precision::Day => return first,
        Precision::Month => start.checked_add_months(chrono::Months::new(1)),
        Precision::Year => start.checked_add_months(chrono::Months::new(12)),
    };
    next.map_or(i32::MAX, |n| (n - EPOCH).num_days() as i32 - 1)
}

fn date_time_expected(name: &str) -> String {
    format!(
        "{name} must be a date YYYY-MM-DD (or only a month YYYY-MM, or a year YYYY) or a date-time YYYY-MM-DDTHH:MM[:SS], optionally ending in Z or an offset such as +01:00"
    )
}

/// A date or date-time → (seconds since 1970-01-01T00:00:00, whether it had a time of
/// day). Local times are taken as given; a `Z` or offset is converted to UTC.
pub fn parse_date_time(text: &str) -> Option<(i64, bool)> {
    if text.len() == 10 {
        let days = parse_date(text)?;
        return Some((i64::from(days) * 86_400, false));
    }
    let (date, rest) = text.split_at_checked(10)?;
    let days = parse_date(date)?;
    let rest = rest.strip_prefix('T')?;
    // Split off the zone: `Z`, or `+HH:MM` / `-HH:MM` / `+HHMM` after the time.
    let (clock, offset_seconds) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0i64)
    } else if let Some(i) = rest.find(['+', '-']) {
        let (c, zone) = rest.split_at(i);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let hours: i64 = digits[..2].parse().ok()?;
        let minutes: i64 = digits[2..].parse().ok()?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        (c, sign * (hours * 3600 + minutes * 60))
    } else {
        (rest, 0)
    };
    let time = match clock.len() {
        5 => NaiveTime::parse_from_str(clock, "%H:%M").ok()?,
        8 => NaiveTime::parse_from_str(clock, "%H:%M:%S").ok()?,
        _ => return None,
    };
    let local = NaiveDateTime::new(EPOCH + chrono::Duration::days(i64::from(days)), time);
    let seconds = (local - NaiveDateTime::new(EPOCH, NaiveTime::MIN)).num_seconds();
    Some((seconds - offset_seconds, true))
}

/// Whether a date-time text ends in its own offset (`Z`, `+01:00`, `-0500`).
fn has_offset(text: &str) -> bool {
    text.len() > 10 && (text.ends_with('Z') || text[10..].contains(['+', '-']))
}

/// A local wall-clock time (seconds since 1970-01-01T00:00 as written) in `zone` → UTC
/// seconds. A time the clocks skipped, or one they passed twice, is refused: only an
/// offset can say which instant it was.
fn local_to_utc(seconds: i64, zone: chrono_tz::Tz) -> std::result::Result<i64, String> {
    use chrono::TimeZone;
    let local = NaiveDateTime::new(EPOCH, NaiveTime::MIN) + chrono::Duration::seconds(seconds);
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Ok(t.timestamp()),
        chrono::LocalResult::Ambiguous(a, b) => Err(format!(
            "happened twice in {zone} (the clocks went back): write the offset, {} or {}",
            a.format("%:z"),
            b.format("%:z")
        )),
        chrono::LocalResult::None => Err(format!(
            "did not happen in {zone} (the clocks went forward past it): check the time, or write its offset"
        )),
    }
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A decimal ≥ 0 with at most two places and at most ten whole digits → pence.
pub fn parse_amount(text: &str) -> std::result::Result<i128, &'static str> {
    const WHY: &str =
        "a decimal number of pounds ≥ 0 with at most two decimal places, such as 2500 or 950.50";
    if text.starts_with('-') {
        return Err("≥ 0");
    }
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) {
        return Err(WHY);
    }
    if frac.len() > 2 {
        return Err("given to at most two decimal places (pence)");
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > usize::from(AMOUNT_PRECISION) - 2 {
        return Err("less than 10,000,000,000");
    }
    let w: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| WHY)?
    };
    let f: i128 = format!("{frac:0<2}").parse().map_err(|_| WHY)?;
    Ok(w * 100 + f)
}

/// Builds a record type's batches from typed rows.
pub struct BatchBuilder {
    t: RecordType,
    columns: Vec<ColumnBuilder>,
    case_keys: Prim<Int64Type>,
    len: usize,
}

enum ColumnBuilder {
    Text(StringBuilder),
    Dict(StringDictionaryBuilder<Int32Type>),
    /// Keys into fixed values ([`Listed`]).
    Keys(Prim<Int32Type>, Arc<arrow_array::StringArray>),
    Date(Prim<Date32Type>),
    /// A date and its precision (keys into [`precision_names`]).
    PartialDate(Prim<Date32Type>, Prim<Int32Type>),
    DateTime(
        Prim<TimestampMillisecondType>,
        BooleanBuilder,
        Prim<Int32Type>,
    ),
    Bool(BooleanBuilder),
    Amount(Prim<Decimal128Type>),
}

/// A primitive column being built: its values in a `Vec`, validity kept only once a
/// null comes. (arrow's builders, not inlined into `push_values`, cost a call a value:
/// a sixth of the checking thread.)
struct Prim<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    nulls: arrow_buffer::NullBufferBuilder,
}

impl<T: ArrowPrimitiveType> Prim<T> {
    fn new() -> Prim<T> {
        Prim {
            values: Vec::new(),
            nulls: arrow_buffer::NullBufferBuilder::new(0),
        }
    }

    #[inline(always)]
    fn append_value(&mut self, v: T::Native) {
        self.values.push(v);
        self.nulls.append_non_null();
    }

    #[inline(always)]
    fn append_null(&mut self) {
        self.values.push(T::Native::default());
        self.nulls.append_null();
    }

    /// The values so far as an array; the builder starts again with the same room.
    fn finish(&mut self) -> arrow_array::PrimitiveArray<T> {
        let room = self.values.capacity();
        let values = std::mem::replace(&mut self.values, Vec::with_capacity(room));
        arrow_array::PrimitiveArray::new(values.into(), self.nulls.finish())
    }
}

/// The precision names, in the order of [`Precision`]'s discriminants: a date's precision
/// is kept as its key into them (a key a row, not a hashed name), and stored as the same
/// dictionary-encoded text.
fn precision_names() -> Arc<arrow_array::StringArray> {
    static NAMES: std::sync::OnceLock<Arc<arrow_array::StringArray>> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            let all = [Precision::Day, Precision::Month, Precision::Year];
            debug_assert!(all.iter().enumerate().all(|(i, p)| *p as usize == i));
            Arc::new(arrow_array::StringArray::from_iter_values(
                all.iter().map(|p| p.name()),
            ))
        })
        .clone()
}

/// A precision column's keys as its dictionary array.
fn precisions(keys: &mut Prim<Int32Type>) -> Result<ArrayRef> {
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
        keys.finish(),
        precision_names(),
    )?))
}

impl BatchBuilder {
    pub fn new(t: RecordType) -> BatchBuilder {
        BatchBuilder::with_lists(t, &[])
    }

    /// A builder whose columns with [`Listed`] values (by column; missing: none) are
    /// keys into them ([`Validator::lists`]).
    pub fn with_lists(t: RecordType, lists: &[Option<Arc<Listed>>]) -> BatchBuilder {
        let columns = t
            .columns()
            .iter()
            .enumerate()
            .map(
                |(i, c)| match (c.kind, lists.get(i).and_then(Option::as_ref)) {
                    (Kind::Enum(_) | Kind::Code, Some(l)) => {
                        ColumnBuilder::Keys(Prim::new(), l.values.clone())
                    }
                    (Kind::Enum(_) | Kind::Code, None) => {
                        ColumnBuilder::Dict(StringDictionaryBuilder::new())
                    }
                    (Kind::Identifier | Kind::Text { .. } | Kind::Secret, _) => {
                        ColumnBuilder::Text(StringBuilder::new())
                    }
                    (Kind::Date, _) => ColumnBuilder::Date(Prim::new()),
                    (Kind::PartialDate, _) => ColumnBuilder::PartialDate(Prim::new(), Prim::new()),
                    (Kind::DateTime, _) => {
                        ColumnBuilder::DateTime(Prim::new(), BooleanBuilder::new(), Prim::new())
                    }
                    (Kind::Boolean, _) => ColumnBuilder::Bool(BooleanBuilder::new()),
                    (Kind::Amount, _) => ColumnBuilder::Amount(Prim::new()),
                },
            )
            .collect();
        BatchBuilder {
            t,
            columns,
            case_keys: Prim::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, row: &TypedRow) {
        self.push_values(&row.values, row.case_key);
    }

    /// Appends a checked row's values ([`Validator::check_fields`]) and its case key.
    pub fn push_values(&mut self, values: &[Value<'_>], case_key: i64) {
        for (builder, value) in self.columns.iter_mut().zip(values) {
            match (builder, value) {
                (ColumnBuilder::Text(b), Value::Text(s)) => b.append_value(s),
                (ColumnBuilder::Text(b), _) => b.append_null(),
                (ColumnBuilder::Keys(k, _), Value::Listed(_, i)) => k.append_value(*i),
                (ColumnBuilder::Keys(k, _), _) => k.append_null(),
                (ColumnBuilder::Dict(b), Value::Text(s) | Value::Listed(s, _)) => {
                    b.append_value(s);
                }
                (ColumnBuilder::Dict(b), _) => b.append_null(),
                (ColumnBuilder::Date(b), Value::Date(d)) => b.append_value(*d),
                (ColumnBuilder::Date(b), _) => b.append_null(),
                (ColumnBuilder::PartialDate(b, p), Value::PartialDate(d, precision)) => {
                    b.append_value(*d);
                    p.append_value(*precision as i32);
                }
                (ColumnBuilder::PartialDate(b, p), _) => {
                    b.append_null();
                    p.append_null();
                }
                (
                    ColumnBuilder::DateTime(ts, has, p),
                    Value::DateTime {
                        seconds,
                        has_time,
                        precision,
                    },
                ) => {
                    ts.append_value(*seconds * 1000);
                    has.append_value(*has_time);
                    p.append_value(*precision as i32);
                }
                (ColumnBuilder::DateTime(ts, has, p), _) => {
                    ts.append_null();
                    has.append_null();
                    p.append_null();
                }
                (ColumnBuilder::Bool(b), Value::Bool(v)) => b.append_value(*v),
                (ColumnBuilder::Bool(b), _) => b.append_null(),
                (ColumnBuilder::Amount(b), Value::Amount(v)) => b.append_value(*v),
                (ColumnBuilder::Amount(b), _) => b.append_null(),
            }
        }
        self.case_keys.append_value(case_key);
        self.len += 1;
    }

    /// The rows pushed so far as a batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for builder in &mut self.columns {
            match builder {
                ColumnBuilder::Text(b) => arrays.push(Arc::new(b.finish())),
                ColumnBuilder::Dict(b) => arrays.push(Arc::new(b.finish())),
                ColumnBuilder::Keys(k, values) => {
                    arrays.push(Arc::new(DictionaryArray::<Int32Type>::try_new(
                        k.finish(),
                        values.clone(),
                    )?))
                }
                ColumnBuilder::Date(b) => arrays.push(Arc::new(b.finish())),
                ColumnBuilder::PartialDate(b, p) => {
                    arrays.push(Arc::new(b.finish()));
                    arrays.push(precisions(p)?);
                }
                ColumnBuilder::DateTime(ts, has, p) => {
                    arrays.push(Arc::new(ts.finish()));
                    arrays.push(Arc::new(has.finish()));
                    arrays.push(precisions(p)?);
                }
                ColumnBuilder::Bool(b) => arrays.push(Arc::new(b.finish())),
                ColumnBuilder::Amount(b) => arrays.push(Arc::new(
                    b.finish()
                        .with_precision_and_scale(AMOUNT_PRECISION, AMOUNT_SCALE)?,
                )),
            }
        }
        arrays.push(Arc::new(self.case_keys.finish()));
        self.len = 0;
        Ok(RecordBatch::try_new(schema(self.t), arrays)?)
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
