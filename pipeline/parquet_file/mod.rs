//! One warehouse Parquet file, written a row group at a time: every column through the
//! parquet crate's Arrow column writers, except two kinds whose column chunks are encoded
//! here: the enumerated columns (Arrow dictionaries of text) and `case_id` (text without a
//! dictionary, as plain values or prefix deltas).
//!
//! Hand-written because it is the ingest's hot path. The Arrow writer interns every row of
//! a dictionary column again (hashing and comparing its text) and compares every row's
//! text for the statistics (arrow-rs issue 10465, pull request 10862): a large share of
//! the ingest's CPU (docs/benchmarks.md). Here an enumerated value costs a key
//! look-up and a few bits of packing, and a `case_id` equal to the row's before (a case's
//! rows are together) is not compared. Each chunk is one the Arrow writer could have
//! written: the same encodings and compression, chunk and page statistics (the column
//! index) and offset index, and pages cut at `data_page_row_count_limit` rows exactly. A
//! dictionary holds the values its row group uses, in byte order (so its page is marked
//! sorted); data pages are version 1. Anything else (another codec, data page version 2,
//! bloom filters, statistics not kept per page, a chunk of nulls only, a value longer
//! than the statistics keep) goes to the Arrow writer.

mod chunks;
mod encoding;

use std::io::Write;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::SchemaDescriptor;

use crate::error::Result;
use chunks::{dictionary_chunk, text_chunk};

/// The revision of the hand-written encoder (the chunks of enumerated columns and
/// `case_id`), recorded in every file it writes (key [`ENCODER_KEY`]) and in the
/// manifest, so that a fix can find the files an earlier revision wrote. Raise it with
/// any change to the bytes it writes:
/// - 1: dictionaries; `case_id` as prefix deltas (`DELTA_BYTE_ARRAY`), which
///   fastparquet cannot read (files with no key were written by revision 1);
/// - 2: `case_id` as plain values (`PLAIN`), read by every reader tested.
pub const ENCODER_REVISION: u32 = 2;
/// The key-value metadata keys naming what wrote a warehouse file.
pub const VERSION_KEY: &str = "casework.version";
pub const ENCODER_KEY: &str = "casework.encoder_revision";

/// A Parquet file being written from record batches of one schema.
pub struct TableFile<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    columns: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    parquet: SchemaDescriptor,
    props: WriterPropertiesPtr,
}

impl<W: Write + Send> TableFile<W> {
    /// A file of `schema`'s batches, with `props` and the Arrow schema in its metadata
    /// (as `ArrowWriter` writes it, so readers get the same types back).
    pub fn try_new(out: W, schema: SchemaRef, props: WriterProperties) -> Result<Self> {
        let parquet = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)?;
        let mut kv = props.key_value_metadata().cloned().unwrap_or_default();
        kv.retain(|e| e.key != VERSION_KEY && e.key != ENCODER_KEY);
        kv.push(KeyValue::new(
            VERSION_KEY.into(),
            env!("CARGO_PKG_VERSION").to_string(),
        ));
        kv.push(KeyValue::new(
            ENCODER_KEY.into(),
            ENCODER_REVISION.to_string(),
        ));
        let mut props = props
            .into_builder()
            .set_key_value_metadata(Some(kv))
            .build();
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let props = Arc::new(props);
        let writer = SerializedFileWriter::new(out, parquet.root_schema_ptr(), Arc::clone(&props))?;
        let columns = ArrowRowGroupWriterFactory::new(&writer, Arc::clone(&schema));
        Ok(TableFile {
            writer,
            columns,
            schema,
            parquet,
            props,
        })
    }

    /// Writes `batch` as one row group (nothing for an empty batch).
    pub fn write_row_group(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let written = self.writer.flushed_row_groups().len();
        let mut writers = self.columns.create_column_writers(written)?.into_iter();
        let mut leaf = 0;
        let mut group = self.writer.next_row_group()?;
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            let leaves = compute_leaves(field, column)?;
            let descr = self.parquet.column(leaf);
            let by_hand = match (leaves.as_slice(), column.data_type()) {
                ([_], DataType::Dictionary(..)) => match column.as_dictionary_opt::<Int32Type>() {
                    Some(d) => dictionary_chunk(&descr, &self.props, d)?,
                    None => None,
                },
                ([_], DataType::Utf8) => text_chunk(&descr, &self.props, column.as_string())?,
                _ => None,
            };
            if let Some((bytes, close)) = by_hand {
                writers.next();
                leaf += 1;
                group.append_column(&bytes, close)?;
                continue;
            }
            for leaf_column in leaves {
                let mut writer = writers.next().expect("a writer for every leaf");
                leaf += 1;
                writer.write(&leaf_column)?;
                writer.close()?.append_to_row_group(&mut group)?;
            }
        }
        group.close()?;
        Ok(())
    }

    /// Writes the footer (with the page indexes) and returns the output.
    pub fn into_inner(self) -> Result<W> {
        Ok(self.writer.into_inner()?)
    }

    /// Writes the footer (with the page indexes).
    pub fn close(self) -> Result<()> {
        self.writer.close()?;
        Ok(())
    }
}

#[cfg(all(test, feature = "engine"))]
mod tests {
    use super::*;
    use arrow::array::DictionaryArray;
    use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use bytes::Bytes;
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use parquet::basic::Encoding;
    use parquet::column::page::Page;
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
    use parquet::file::page_index::column_index::ColumnIndexMetaData;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn text_dictionary() -> DataType {
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
    }

    fn dictionary(keys: Vec<Option<i32>>, values: &[&str]) -> ArrayRef {
        let values: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
        Arc::new(DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values).unwrap())
    }

    /// 50,000 rows in no order: three pages a row group at the default 20,000-row limit.
    /// `kind` has about one null in ten and a dictionary out of byte order with a value no
    /// row uses; `one` a single value and no nulls; `none` is all null (the Arrow writer's).
    fn batch() -> RecordBatch {
        let values = ["zeta", "alpha", "mid", "unused", "beta", "é-accent"];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let rows = 50_000;
        let kind: Vec<Option<i32>> = (0..rows)
            .map(|_| {
                let r = next();
                (r % 10 != 0).then(|| [0, 1, 2, 4, 5][(r >> 8) as usize % 5])
            })
            .collect();
        // case_id: runs of one to nine rows of a case (as a row group sorted by case
        // key has them), cases in no order, ids of different lengths sharing prefixes, one
        // row in fifty null; a non-ASCII id.
        let mut ids: Vec<Option<String>> = Vec::with_capacity(rows);
        while ids.len() < rows {
            let r = next();
            let id = match r % 97 {
                0 => "ü-ståck".to_string(),
                n if n < 10 => format!("g{:04}", (r >> 16) % 10_000),
                _ => format!("g{:09}", (r >> 16) % 1_000_000_000),
            };
            for _ in 0..(1 + (r >> 40) % 9).min((rows - ids.len()) as u64) {
                ids.push((next() % 50 != 0).then(|| id.clone()));
            }
        }
        // The last page's greatest id follows an id it extends (its prefix is the whole
        // of the one before).
        for (i, id) in ids[rows - 10..].iter_mut().enumerate() {
            *id = Some(if i < 5 { "ÿ" } else { "ÿÿ" }.to_string());
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("kind", text_dictionary(), true),
            Field::new("case_id", DataType::Utf8, true),
            Field::new("one", text_dictionary(), false),
            Field::new("none", text_dictionary(), true),
            Field::new("n", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                // Two dictionaries of the same texts in different orders, concatenated
                // (as a row group's batches are): one text under two keys.
                arrow::compute::concat(&[
                    &dictionary(kind[..rows / 2].to_vec(), &values),
                    &dictionary(
                        kind[rows / 2..].iter().map(|k| k.map(|k| 5 - k)).collect(),
                        &values.iter().rev().copied().collect::<Vec<_>>(),
                    ),
                ])
                .unwrap(),
                Arc::new(StringArray::from(ids)),
                dictionary(vec![Some(1); rows], &["b", "only"]),
                dictionary(vec![None; rows], &["x"]),
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            ],
        )
        .unwrap()
    }

    /// The warehouse's writer properties with `case_id` stored in `encoding`.
    fn props(encoding: Encoding) -> WriterProperties {
        crate::warehouse::writer_properties()
            .into_builder()
            .set_column_encoding("case_id".into(), encoding)
            .build()
    }

    /// `groups` written through `TableFile`, a row group each.
    fn write_ours(groups: &[RecordBatch]) -> Bytes {
        write_ours_with(groups, crate::warehouse::writer_properties())
    }

    fn write_ours_with(groups: &[RecordBatch], props: WriterProperties) -> Bytes {
        let mut file = TableFile::try_new(Vec::new(), groups[0].schema(), props).unwrap();
        for group in groups {
            file.write_row_group(group).unwrap();
        }
        Bytes::from(file.writer.into_inner().unwrap())
    }

    /// The first `cut` rows and the rest, a row group each.
    fn two_groups(batch: &RecordBatch, cut: usize) -> [RecordBatch; 2] {
        [
            batch.slice(0, cut),
            batch.slice(cut, batch.num_rows() - cut),
        ]
    }

    /// `groups` written through the parquet crate's `ArrowWriter`, a row group each.
    fn write_arrow(groups: &[RecordBatch], props: WriterProperties) -> Bytes {
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, groups[0].schema(), Some(props)).unwrap();
        for group in groups {
            w.write(group).unwrap();
            w.flush().unwrap();
        }
        w.close().unwrap();
        Bytes::from(out)
    }

    fn read(bytes: &Bytes) -> (RecordBatch, Arc<ParquetMetaData>) {
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let builder =
            ParquetRecordBatchReaderBuilder::try_new_with_options(bytes.clone(), options).unwrap();
        let metadata = Arc::clone(builder.metadata());
        let schema = builder.schema().clone();
        let batches: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
        (
            arrow::compute::concat_batches(&schema, &batches).unwrap(),
            metadata,
        )
    }

    fn as_text(column: &ArrayRef) -> Vec<Option<String>> {
        let text = arrow::compute::cast(column, &DataType::Utf8).unwrap();
        text.as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    /// `case_id` in the warehouse's encoding (plain) and in prefix deltas.
    #[test]
    fn hand_encoded_chunks_read_back_with_the_arrow_writers_statistics() {
        for encoding in [Encoding::PLAIN, Encoding::DELTA_BYTE_ARRAY] {
            hand_encoded_chunks_match_the_arrow_writer(encoding);
        }
    }

    fn hand_encoded_chunks_match_the_arrow_writer(encoding: Encoding) {
        let batch = batch();
        let ours = write_ours_with(&two_groups(&batch, 30_000), props(encoding));
        let (back, metadata) = read(&ours);
        assert_eq!(
            back.schema().fields(),
            batch.schema().fields(),
            "the Arrow types come back"
        );
        for i in 0..batch.num_columns() {
            assert_eq!(
                as_text(back.column(i)),
                as_text(batch.column(i)),
                "column {i}"
            );
        }
        let (_, theirs) = read(&write_arrow(&two_groups(&batch, 30_000), props(encoding)));
        assert_eq!(metadata.num_row_groups(), 2);
        for g in 0..2 {
            for c in 0..batch.num_columns() {
                let (a, b) = (
                    metadata.row_group(g).column(c),
                    theirs.row_group(g).column(c),
                );
                assert_eq!(a.num_values(), b.num_values(), "group {g} column {c}");
                let (sa, sb) = (a.statistics().unwrap(), b.statistics().unwrap());
                assert_eq!(
                    sa.min_bytes_opt(),
                    sb.min_bytes_opt(),
                    "group {g} column {c}"
                );
                assert_eq!(
                    sa.max_bytes_opt(),
                    sb.max_bytes_opt(),
                    "group {g} column {c}"
                );
                assert_eq!(
                    sa.null_count_opt(),
                    sb.null_count_opt(),
                    "group {g} column {c}"
                );
                assert_eq!(
                    a.unencoded_byte_array_data_bytes(),
                    b.unencoded_byte_array_data_bytes()
                );
                assert_eq!(
                    a.definition_level_histogram(),
                    b.definition_level_histogram(),
                    "group {g} column {c}"
                );
            }
            // The dictionary page holds each text once: the five the rows use.
            let reader = SerializedFileReader::new(ours.clone()).unwrap();
            let mut pages = reader
                .get_row_group(g)
                .unwrap()
                .get_column_page_reader(0)
                .unwrap();
            match pages.get_next_page().unwrap() {
                Some(Page::DictionaryPage { num_values, .. }) => assert_eq!(num_values, 5),
                other => panic!("a dictionary page first, not {other:?}"),
            }
            // The hand-written chunk: dictionary first, then RLE_DICTIONARY data pages.
            let kind = metadata.row_group(g).column(0);
            let dictionary_at = kind.dictionary_page_offset().expect("a dictionary page");
            assert!(kind.data_page_offset() > dictionary_at);
        }
        // Each page's entry in the column index against the rows the offset index puts in
        // it, computed from the input: the dictionary column and case_id.
        for column in [0, 1] {
            let text = as_text(batch.column(column));
            for g in 0..2 {
                let group_start = if g == 0 { 0 } else { 30_000 };
                let group_rows = metadata.row_group(g).num_rows() as usize;
                let locations = metadata.offset_index().unwrap()[g][column].page_locations();
                // Cut every 20,000 rows exactly (the Arrow writer cuts at its mini-batches).
                assert_eq!(locations.len(), group_rows.div_ceil(20_000));
                assert!(
                    locations
                        .iter()
                        .enumerate()
                        .all(|(p, l)| l.first_row_index == p as i64 * 20_000)
                );
                let ColumnIndexMetaData::BYTE_ARRAY(index) =
                    &metadata.column_index().unwrap()[g][column]
                else {
                    panic!("a byte-array column index");
                };
                for (p, location) in locations.iter().enumerate() {
                    let first = location.first_row_index as usize;
                    let end = locations
                        .get(p + 1)
                        .map_or(group_rows, |l| l.first_row_index as usize);
                    let rows = &text[group_start + first..group_start + end];
                    let present: Vec<&str> = rows.iter().flatten().map(String::as_str).collect();
                    let nulls = rows.len() - present.len();
                    assert_eq!(index.null_count(p), Some(nulls as i64));
                    let min = present.iter().min().unwrap().as_bytes();
                    let max = present.iter().max().unwrap().as_bytes();
                    assert_eq!(index.min_value(p), Some(min), "column {column} page {p}");
                    assert_eq!(index.max_value(p), Some(max), "column {column} page {p}");
                }
            }
        }
        // case_id's pages are in the encoding asked for, and the file says which
        // casework and which encoder revision wrote it.
        let encodings: Vec<Encoding> = metadata.row_group(0).column(1).encodings().collect();
        assert!(encodings.contains(&encoding), "{encodings:?}");
        let kv = metadata.file_metadata().key_value_metadata().unwrap();
        let value = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
        assert_eq!(
            value(VERSION_KEY).as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(value(ENCODER_KEY), Some(ENCODER_REVISION.to_string()));
    }

    /// Hand-counted: five rows b, null, a, b, c.
    #[test]
    fn a_small_chunk_has_the_hand_counted_statistics() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", text_dictionary(), true)]));
        let column = dictionary(
            vec![Some(1), None, Some(0), Some(1), Some(2)],
            &["a", "b", "c"],
        );
        let batch = RecordBatch::try_new(schema, vec![column]).unwrap();
        let (back, metadata) = read(&write_ours(&[batch]));
        assert_eq!(
            as_text(back.column(0)),
            vec![
                Some("b".to_string()),
                None,
                Some("a".to_string()),
                Some("b".to_string()),
                Some("c".to_string())
            ]
        );
        let stats = metadata.row_group(0).column(0).statistics().unwrap();
        assert_eq!(stats.min_bytes_opt(), Some(&b"a"[..]));
        assert_eq!(stats.max_bytes_opt(), Some(&b"c"[..]));
        assert_eq!(stats.null_count_opt(), Some(1));
        assert_eq!(
            metadata
                .row_group(0)
                .column(0)
                .unencoded_byte_array_data_bytes(),
            Some(4)
        );
    }
}
