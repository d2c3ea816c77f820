//! casework's own Parquet encoder (`parquet_file/`, hand-written for the ingest's hot
//! path): arbitrary columns written through it, read back with the parquet crate's
//! reader (and its page index), and compared with what was written.
//!
//! The input sets the shape: page row limit (1 to 32 rows, so that chunks have many
//! pages), `case_id`'s encoding (plain or prefix deltas), the row groups' sizes, and the
//! rows: an enumerated column (an Arrow dictionary of text, nulls, a dictionary with
//! values no row uses, out of byte order), a text column without dictionary (`case_id`:
//! any UTF-8, empty texts, repeats, nulls) and an integer column (the Arrow writer's).
//! Checked on every run: the values come back as written; each chunk's statistics and
//! each page's column-index entry (null count, least and greatest value by bytes) match
//! the rows that the offset index puts in it; each file names the encoder revision.
#![no_main]

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

/// The input, read a byte or a piece at a time (zeros past its end).
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn text(&mut self) -> String {
        // At most 20 bytes (60 once invalid bytes become U+FFFD): under the 64 bytes the
        // statistics keep, past which a chunk goes to the Arrow writer, which cuts them.
        let n = usize::from(self.byte() % 21).min(self.0.len());
        let (piece, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(piece).into_owned()
    }
}

const VALUES: [&str; 6] = ["zeta", "alpha", "", "é-accent", "mid", "unused"];

fn text_dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn as_text(column: &ArrayRef) -> Vec<Option<Vec<u8>>> {
    let text = arrow_cast::cast(column, &DataType::Utf8).expect("casts to text");
    let text = text.as_string::<i32>();
    (0..text.len())
        .map(|i| text.is_valid(i).then(|| text.value(i).as_bytes().to_vec()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let page_rows = usize::from(input.byte() % 32) + 1;
    let encoding = if input.byte() % 2 == 0 {
        Encoding::PLAIN
    } else {
        Encoding::DELTA_BYTE_ARRAY
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        .set_data_page_row_count_limit(page_rows)
        .set_column_dictionary_enabled(ColumnPath::from("case_id"), false)
        .set_column_encoding(ColumnPath::from("case_id"), encoding)
        .build();
    let schema = Arc::new(Schema::new(vec![
        Field::new("kind", text_dictionary(), true),
        Field::new("case_id", DataType::Utf8, true),
        Field::new("n", DataType::Int64, false),
    ]));
    // One to three row groups of up to 200 rows.
    let mut groups = Vec::new();
    for _ in 0..=(input.byte() % 3) {
        let rows = usize::from(input.byte()) % 200 + 1;
        let reversed = input.byte() % 2 == 1;
        let mut keys = Vec::with_capacity(rows);
        let mut ids = Vec::with_capacity(rows);
        let mut previous = String::new();
        for r in 0..rows {
            let b = input.byte();
            keys.push((b % 7 != 6).then_some(i32::from(b % 6)));
            ids.push(match input.byte() % 4 {
                0 => None,
                1 => Some(previous.clone()),
                _ => {
                    previous = input.text();
                    Some(previous.clone())
                }
            });
            let _ = r;
        }
        let values: Vec<&str> = if reversed {
            VALUES.iter().rev().copied().collect()
        } else {
            VALUES.to_vec()
        };
        let kind: ArrayRef = Arc::new(
            DictionaryArray::<Int32Type>::try_new(
                Int32Array::from(keys),
                Arc::new(StringArray::from(values)),
            )
            .unwrap(),
        );
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                kind,
                Arc::new(StringArray::from(ids)),
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            ],
        )
        .unwrap();
        groups.push(batch);
    }
    let mut file =
        casework::parquet_file::TableFile::try_new(Vec::new(), Arc::clone(&schema), props).unwrap();
    for g in &groups {
        file.write_row_group(g).unwrap();
    }
    let bytes = Bytes::from(file.into_inner().unwrap());

    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options).unwrap();
    let metadata = Arc::clone(builder.metadata());
    let kv = metadata.file_metadata().key_value_metadata().unwrap();
    assert!(kv.iter().any(|e| e.key == casework::parquet_file::ENCODER_KEY
        && e.value.as_deref() == Some(&casework::parquet_file::ENCODER_REVISION.to_string())));
    let read: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
    let read = arrow_select::concat::concat_batches(&schema, &read).unwrap();
    let written = arrow_select::concat::concat_batches(&schema, &groups).unwrap();
    assert_eq!(read.num_rows(), written.num_rows());
    for c in 0..2 {
        let (back, sent) = (as_text(read.column(c)), as_text(written.column(c)));
        assert_eq!(back, sent, "column {c} comes back as written");
        let mut start = 0;
        for (g, group) in groups.iter().enumerate() {
            let rows = &sent[start..start + group.num_rows()];
            let chunk = metadata.row_group(g).column(c);
            let stats = chunk.statistics().expect("chunk statistics");
            let present: Vec<&Vec<u8>> = rows.iter().flatten().collect();
            let nulls = (rows.len() - present.len()) as u64;
            assert_eq!(stats.null_count_opt(), Some(nulls), "group {g} column {c}");
            if let (Some(lo), Some(hi)) = (present.iter().min(), present.iter().max()) {
                assert_eq!(stats.min_bytes_opt(), Some(lo.as_slice()), "group {g} column {c}");
                assert_eq!(stats.max_bytes_opt(), Some(hi.as_slice()), "group {g} column {c}");
            }
            let locations = metadata.offset_index().unwrap()[g][c].page_locations();
            let ColumnIndexMetaData::BYTE_ARRAY(index) = &metadata.column_index().unwrap()[g][c]
            else {
                panic!("a byte-array column index");
            };
            for (p, location) in locations.iter().enumerate() {
                let first = location.first_row_index as usize;
                let end = locations
                    .get(p + 1)
                    .map_or(rows.len(), |l| l.first_row_index as usize);
                // Pages cut at the row limit exactly (a chunk of nulls only is the Arrow
                // writer's, which cuts at its mini-batches).
                if !present.is_empty() {
                    assert!(end - first <= page_rows, "a page of {} rows", end - first);
                }
                let page = &rows[first..end];
                let present: Vec<&Vec<u8>> = page.iter().flatten().collect();
                assert_eq!(index.null_count(p), Some((page.len() - present.len()) as i64));
                assert_eq!(index.min_value(p), present.iter().min().map(|v| v.as_slice()));
                assert_eq!(index.max_value(p), present.iter().max().map(|v| v.as_slice()));
            }
            start += group.num_rows();
        }
    }
});
