//! Typed rows gathered into Arrow record batches of the stored schemas.

use super::*;

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
/// a visible share of the checking thread; docs/benchmarks.md.)
struct Prim<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    nulls: arrow_buffer::NullBufferBuilder,
}

impl<T: ArrowPrimitiveType> Prim<T> {
    pub(super) fn new() -> Prim<T> {
        Prim {
            values: Vec::new(),
            nulls: arrow_buffer::NullBufferBuilder::new(0),
        }
    }

    #[inline(always)]
    pub(super) fn append_value(&mut self, v: T::Native) {
        self.values.push(v);
        self.nulls.append_non_null();
    }

    #[inline(always)]
    pub(super) fn append_null(&mut self) {
        self.values.push(T::Native::default());
        self.nulls.append_null();
    }

    /// The values so far as an array; the builder starts again with the same room.
    pub(super) fn finish(&mut self) -> arrow_array::PrimitiveArray<T> {
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
