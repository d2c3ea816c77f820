//! The stored tables' Arrow schemas: the spec's columns with the types casework
//! stores them in, the case key, and the `rejects` table.

use super::*;

/// Precision and scale of stored amounts: Decimal128(12, 2).
pub const AMOUNT_PRECISION: u8 = 12;
pub const AMOUNT_SCALE: i8 = 2;

/// The name of the companion column that says whether a date-time had a time of day.
pub fn has_time_column(name: &str) -> String {
    format!("{name}_has_time")
}

pub(super) fn dictionary() -> DataType {
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

pub(super) fn stored_fields(t: RecordType) -> Vec<Field> {
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
