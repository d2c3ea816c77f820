//! One warehouse Parquet file, written a row group at a time: every column through the
//! parquet crate's Arrow column writers, except the enumerated ones (Arrow dictionaries
//! of text), whose column chunks are encoded here.
//!
//! Hand-written because it is the ingest's hot path. The Arrow writer interns every row of
//! a dictionary column again (hashing and comparing its text) and compares every row's
//! text for the statistics (arrow-rs issue 10465, pull request 10862): at a million cases
//! that was about a tenth of the ingest's CPU. Here a row costs a key look-up and a few
//! bits of packing. The chunk is what the Arrow writer makes of the same column, with the
//! same page cuts (`data_page_row_count_limit`), compression, chunk and page statistics
//! (the column index) and offset index; its dictionary holds the values the row group
//! uses, in byte order (so the page is marked sorted), and its data pages are version 1
//! pages of bit-packed keys. Anything else (another compression codec, data page version
//! 2, bloom filters, statistics not kept per page, an all-null chunk) goes to the Arrow
//! writer.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, AsArray, DictionaryArray, RecordBatch};
use arrow::datatypes::{Int32Type, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{BoundaryOrder, Compression, Encoding, EncodingMask, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, OffsetIndexBuilder, PageEncodingStats,
};
use parquet::file::properties::{
    EnabledStatistics, WriterProperties, WriterPropertiesPtr, WriterVersion,
};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, SchemaDescriptor};

use crate::error::Result;

/// A Parquet file being written from record batches of one schema.
pub struct TableFile<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    columns: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    parquet: SchemaDescriptor,
    props: WriterPropertiesPtr,
    row_groups: usize,
}

impl<W: Write + Send> TableFile<W> {
    /// A file of `schema`'s batches, with `props` and the Arrow schema in its metadata
    /// (as `ArrowWriter` writes it, so readers get the same types back).
    pub fn try_new(out: W, schema: SchemaRef, mut props: WriterProperties) -> Result<Self> {
        let parquet = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)?;
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
            row_groups: 0,
        })
    }

    /// Writes `batch` as one row group (nothing for an empty batch).
    pub fn write_row_group(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let mut writers = self
            .columns
            .create_column_writers(self.row_groups)?
            .into_iter();
        self.row_groups += 1;
        let mut leaf = 0;
        let mut group = self.writer.next_row_group()?;
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            let leaves = compute_leaves(field, column)?;
            if let [_] = leaves.as_slice()
                && let Some(dictionary) = column.as_dictionary_opt::<Int32Type>()
                && let Some((bytes, close)) =
                    dictionary_chunk(&self.parquet.column(leaf), &self.props, dictionary)?
            {
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

    /// Writes the footer (with the page indexes).
    pub fn close(self) -> Result<()> {
        self.writer.close()?;
        Ok(())
    }
}

/// The column chunk of a dictionary column of text, encoded by hand (see the module's
/// comment): its bytes, and what the row group records of it. `None` where the Arrow
/// writer is to write it.
fn dictionary_chunk(
    descr: &ColumnDescPtr,
    props: &WriterProperties,
    column: &DictionaryArray<Int32Type>,
) -> Result<Option<(Bytes, ColumnCloseResult)>> {
    let path = descr.path();
    let Some(values) = column.values().as_string_opt::<i32>() else {
        return Ok(None);
    };
    let level = match props.compression(path) {
        Compression::ZSTD(level) => Some(level.compression_level()),
        Compression::UNCOMPRESSED => None,
        _ => return Ok(None),
    };
    if values.null_count() > 0
        || descr.max_rep_level() > 0
        || props.writer_version() != WriterVersion::PARQUET_1_0
        || props.statistics_enabled(path) != EnabledStatistics::Page
        || !props.dictionary_enabled(path)
        || props.bloom_filter_properties(path).is_some()
        || props.dictionary_page_encoding() != Encoding::PLAIN
    {
        return Ok(None);
    }
    let keys = column.keys().values();
    let rows = keys.len();
    let nulls = column.keys().nulls();
    let valid = |i: usize| nulls.is_none_or(|n| n.is_valid(i));

    // The dictionary: the values this chunk uses, in byte order.
    let mut uses = vec![0u64; values.len()];
    match nulls {
        None => keys.iter().for_each(|&k| uses[k as usize] += 1),
        Some(n) => keys
            .iter()
            .zip(n.iter())
            .filter(|(_, valid)| *valid)
            .for_each(|(&k, _)| uses[k as usize] += 1),
    }
    let mut used: Vec<usize> = (0..values.len()).filter(|&k| uses[k] > 0).collect();
    if used.is_empty() {
        return Ok(None);
    }
    used.sort_by(|&a, &b| values.value(a).as_bytes().cmp(values.value(b).as_bytes()));
    let mut code = vec![0u32; values.len()];
    for (c, &k) in used.iter().enumerate() {
        code[k] = c as u32;
    }
    let text = |c: u32| values.value(used[c as usize]).as_bytes();
    let text_len: Vec<i64> = (0..used.len() as u32)
        .map(|c| text(c).len() as i64)
        .collect();
    let width = bits_for(used.len() as u32 - 1);

    let mut compressor = match level {
        Some(level) => Some(zstd::bulk::Compressor::new(level).map_err(zstd_error)?),
        None => None,
    };
    let mut compress = |body: Vec<u8>| -> Result<(Bytes, usize)> {
        let size = body.len();
        Ok(match compressor.as_mut() {
            Some(c) => (Bytes::from(c.compress(&body).map_err(zstd_error)?), size),
            None => (Bytes::from(body), size),
        })
    };

    let mut out = TrackedWrite::new(Vec::new());
    let mut pages = SerializedPageWriter::new(&mut out);
    let mut dictionary = Vec::new();
    for c in 0..used.len() as u32 {
        let v = text(c);
        dictionary.extend_from_slice(&(v.len() as u32).to_le_bytes());
        dictionary.extend_from_slice(v);
    }
    let (buf, size) = compress(dictionary)?;
    let spec = pages.write_page(CompressedPage::new(
        Page::DictionaryPage {
            buf,
            num_values: used.len() as u32,
            encoding: Encoding::PLAIN,
            is_sorted: true,
        },
        size,
    ))?;
    let dictionary_offset = spec.offset as i64;
    let mut compressed = spec.compressed_size as i64;
    let mut uncompressed = spec.uncompressed_size as i64;

    let nullable = descr.max_def_level() > 0;
    let page_rows = props.data_page_row_count_limit().max(1);
    let header_statistics = props.write_page_header_statistics(path);
    let mut column_index = ColumnIndexBuilder::new(descr.physical_type());
    let mut offset_index = OffsetIndexBuilder::new();
    let (mut ascending, mut descending) = (true, true);
    let mut last: Option<(u32, u32)> = None;
    let mut data_offset = None;
    let mut data_pages = 0;
    let (mut nulls, mut text_bytes) = (0u64, 0i64);
    let mut codes = Vec::with_capacity(page_rows.min(rows));
    for start in (0..rows).step_by(page_rows) {
        let end = (start + page_rows).min(rows);
        codes.clear();
        let (mut lo, mut hi, mut page_bytes) = (u32::MAX, 0, 0i64);
        for i in start..end {
            if valid(i) {
                let c = code[keys[i] as usize];
                codes.push(c);
                (lo, hi) = (lo.min(c), hi.max(c));
                page_bytes += text_len[c as usize];
            }
        }
        let range = (!codes.is_empty()).then_some((lo, hi));
        let page_nulls = (end - start - codes.len()) as u64;
        let mut body = Vec::with_capacity(8 + (codes.len() * width as usize + end - start) / 8);
        if nullable {
            let mut encoded = Vec::new();
            if page_nulls == 0 {
                rle_run(end - start, 1, &mut encoded);
            } else {
                let levels: Vec<u32> = (start..end).map(|i| u32::from(valid(i))).collect();
                bit_pack(&levels, 1, &mut encoded);
            }
            body.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
            body.extend_from_slice(&encoded);
        }
        body.push(width);
        bit_pack(&codes, width, &mut body);
        let statistics = range.map(|(lo, hi)| {
            Statistics::ByteArray(ValueStatistics::new(
                Some(ByteArray::from(text(lo).to_vec())),
                Some(ByteArray::from(text(hi).to_vec())),
                None,
                Some(page_nulls),
                false,
            ))
        });
        let (buf, size) = compress(body)?;
        let spec = pages.write_page(CompressedPage::new(
            Page::DataPage {
                buf,
                num_values: (end - start) as u32,
                encoding: Encoding::RLE_DICTIONARY,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: statistics.filter(|_| header_statistics),
            },
            size,
        ))?;
        data_offset.get_or_insert(spec.offset as i64);
        data_pages += 1;
        compressed += spec.compressed_size as i64;
        uncompressed += spec.uncompressed_size as i64;
        offset_index.append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
        offset_index.append_row_count((end - start) as i64);
        offset_index.append_unencoded_byte_array_data_bytes(Some(page_bytes));
        match range {
            None => column_index.append(true, Vec::new(), Vec::new(), page_nulls as i64),
            Some((lo, hi)) => {
                if let Some((last_lo, last_hi)) = last {
                    ascending &= last_lo <= lo && last_hi <= hi;
                    descending &= last_lo >= lo && last_hi >= hi;
                }
                last = Some((lo, hi));
                column_index.append(
                    false,
                    text(lo).to_vec(),
                    text(hi).to_vec(),
                    page_nulls as i64,
                );
            }
        }
        nulls += page_nulls;
        text_bytes += page_bytes;
    }
    pages.close()?;

    column_index.set_boundary_order(match (ascending, descending) {
        (true, _) => BoundaryOrder::ASCENDING,
        (false, true) => BoundaryOrder::DESCENDING,
        (false, false) => BoundaryOrder::UNORDERED,
    });

    let last_code = used.len() as u32 - 1;
    let metadata = ColumnChunkMetaData::builder(descr.clone())
        .set_compression(props.compression(path))
        .set_encodings_mask(EncodingMask::new_from_encodings(
            [Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY].iter(),
        ))
        .set_page_encoding_stats(vec![
            PageEncodingStats {
                page_type: PageType::DICTIONARY_PAGE,
                encoding: Encoding::PLAIN,
                count: 1,
            },
            PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding: Encoding::RLE_DICTIONARY,
                count: data_pages,
            },
        ])
        .set_total_compressed_size(compressed)
        .set_total_uncompressed_size(uncompressed)
        .set_num_values(rows as i64)
        .set_data_page_offset(data_offset.unwrap_or(dictionary_offset))
        .set_dictionary_page_offset(Some(dictionary_offset))
        .set_statistics(Statistics::ByteArray(ValueStatistics::new(
            Some(ByteArray::from(text(0).to_vec())),
            Some(ByteArray::from(text(last_code).to_vec())),
            None,
            Some(nulls),
            false,
        )))
        .set_unencoded_byte_array_data_bytes(Some(text_bytes))
        .build()?;
    let bytes = out.into_inner()?;
    let close = ColumnCloseResult {
        bytes_written: bytes.len() as u64,
        rows_written: rows as u64,
        metadata,
        bloom_filter: None,
        column_index: Some(column_index.build()?),
        offset_index: Some(offset_index.build()),
    };
    Ok(Some((Bytes::from(bytes), close)))
}

/// A zstd failure, as the parquet crate reports its codec's.
fn zstd_error(e: std::io::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

/// Bits for values up to `max` (at least one: a one-value dictionary's keys still take a
/// bit, which every reader decodes).
fn bits_for(max: u32) -> u8 {
    (u32::BITS - max.leading_zeros()).max(1) as u8
}

/// Appends an RLE run of the RLE/bit-packing hybrid: `count` times `value` (`value` < 256,
/// one byte: the widths used here are at most 8 bits for levels).
fn rle_run(count: usize, value: u8, out: &mut Vec<u8>) {
    uleb128((count as u64) << 1, out);
    out.push(value);
}

/// Appends `values` (each below 2^`width`) as bit-packed runs of the RLE/bit-packing
/// hybrid: runs of at most 63 groups of eight values (a one-byte header, as parquet-rs
/// writes them), each value's bits from the least significant, the last group padded with
/// zeros (a reader stops at the page's count of values).
fn bit_pack(values: &[u32], width: u8, out: &mut Vec<u8>) {
    let w = usize::from(width);
    for run in values.chunks(8 * 63) {
        let groups = run.len().div_ceil(8);
        uleb128(((groups as u64) << 1) | 1, out);
        for group in run.chunks(8) {
            if w <= 8 {
                // Eight values of up to 8 bits: one word, its first `w` bytes.
                let word = group
                    .iter()
                    .enumerate()
                    .fold(0u64, |word, (j, &v)| word | u64::from(v) << (j * w));
                out.extend_from_slice(&word.to_le_bytes()[..w]);
            } else {
                let (mut acc, mut bits) = (0u64, 0);
                for j in 0..8 {
                    acc |= u64::from(group.get(j).copied().unwrap_or(0)) << bits;
                    bits += w;
                    while bits >= 8 {
                        out.push(acc as u8);
                        acc >>= 8;
                        bits -= 8;
                    }
                }
            }
        }
    }
}

/// Appends `v` as an unsigned LEB128 varint.
fn uleb128(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published example: the Parquet format's encoding spec (Encodings.md, "Bit-packed")
    /// packs 0..=7 at width 3 as 10001000 11000110 11111010.
    #[test]
    fn bit_packing_matches_the_format_example() {
        let mut out = Vec::new();
        bit_pack(&[0, 1, 2, 3, 4, 5, 6, 7], 3, &mut out);
        assert_eq!(
            out,
            vec![0b0000_0011, 0b1000_1000, 0b1100_0110, 0b1111_1010]
        );
    }

    /// Every width from 1 to 32 against packing bit by bit (LSB first, as the format
    /// says), on values that use all of each width and a last group that is not full.
    #[test]
    fn bit_packing_matches_a_bit_by_bit_packing() {
        for width in 1..=32u8 {
            let values: Vec<u32> = (0..1013u64)
                .map(|i| ((i * 2_654_435_761) % (1u64 << width)) as u32)
                .collect();
            let mut out = Vec::new();
            bit_pack(&values, width, &mut out);
            let mut want = Vec::new();
            for run in values.chunks(504) {
                let groups = run.len().div_ceil(8);
                uleb128(((groups as u64) << 1) | 1, &mut want);
                let mut bits = vec![false; groups * 8 * usize::from(width)];
                for (j, &v) in run.iter().enumerate() {
                    for b in 0..usize::from(width) {
                        bits[j * usize::from(width) + b] = v >> b & 1 == 1;
                    }
                }
                want.extend(bits.chunks(8).map(|byte| {
                    byte.iter()
                        .enumerate()
                        .fold(0u8, |acc, (k, &bit)| acc | u8::from(bit) << k)
                }));
            }
            assert_eq!(out, want, "width {width}");
        }
    }

    #[test]
    fn runs_are_cut_at_63_groups_and_padded() {
        let values: Vec<u32> = (0..1000).map(|i| i % 2).collect();
        let mut out = Vec::new();
        bit_pack(&values, 1, &mut out);
        // 504 values: header 127 and 63 bytes; 496 values: 62 groups, header 125, 62 bytes.
        assert_eq!(out.len(), 1 + 63 + 1 + 62);
        assert_eq!(out[0], 127);
        assert_eq!(out[64], 125);
        assert_eq!(out[1], 0b1010_1010);
        let mut rle = Vec::new();
        rle_run(300, 1, &mut rle);
        assert_eq!(rle, vec![0xd8, 0x04, 1]);
        assert_eq!(bits_for(0), 1);
        assert_eq!(bits_for(1), 1);
        assert_eq!(bits_for(2), 2);
        assert_eq!(bits_for(255), 8);
        assert_eq!(bits_for(256), 9);
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
    use parquet::file::page_index::column_index::ColumnIndexMetaData;

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
        let schema = Arc::new(Schema::new(vec![
            Field::new("kind", text_dictionary(), true),
            Field::new("one", text_dictionary(), false),
            Field::new("none", text_dictionary(), true),
            Field::new("n", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                dictionary(kind, &values),
                dictionary(vec![Some(1); rows], &["b", "only"]),
                dictionary(vec![None; rows], &["x"]),
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            ],
        )
        .unwrap()
    }

    fn write_ours(batch: &RecordBatch, cut: usize) -> Bytes {
        let mut file = TableFile::try_new(
            Vec::new(),
            batch.schema(),
            crate::warehouse::writer_properties(),
        )
        .unwrap();
        file.write_row_group(&batch.slice(0, cut)).unwrap();
        file.write_row_group(&batch.slice(cut, batch.num_rows() - cut))
            .unwrap();
        let out = file.writer.into_inner().unwrap();
        Bytes::from(out)
    }

    fn write_arrow(batch: &RecordBatch, cut: usize) -> Bytes {
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(
            &mut out,
            batch.schema(),
            Some(crate::warehouse::writer_properties()),
        )
        .unwrap();
        w.write(&batch.slice(0, cut)).unwrap();
        w.flush().unwrap();
        w.write(&batch.slice(cut, batch.num_rows() - cut)).unwrap();
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

    #[test]
    fn hand_encoded_chunks_read_back_with_the_arrow_writers_statistics() {
        let batch = batch();
        let ours = write_ours(&batch, 30_000);
        let (back, metadata) = read(&ours);
        assert_eq!(back.schema(), batch.schema(), "the Arrow types come back");
        for i in 0..batch.num_columns() {
            assert_eq!(
                as_text(back.column(i)),
                as_text(batch.column(i)),
                "column {i}"
            );
        }
        let (_, theirs) = read(&write_arrow(&batch, 30_000));
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
            }
            // The hand-written chunk: dictionary first, then RLE_DICTIONARY data pages.
            let kind = metadata.row_group(g).column(0);
            let dictionary_at = kind.dictionary_page_offset().expect("a dictionary page");
            assert!(kind.data_page_offset() > dictionary_at);
        }
        // Each page's entry in the column index against the rows the offset index puts in
        // it, computed from the input.
        let kind = as_text(batch.column(0));
        for g in 0..2 {
            let group_start = if g == 0 { 0 } else { 30_000 };
            let group_rows = metadata.row_group(g).num_rows() as usize;
            let locations = metadata.offset_index().unwrap()[g][0].page_locations();
            // Cut every 20,000 rows exactly (the Arrow writer cuts at its mini-batches).
            assert_eq!(locations.len(), group_rows.div_ceil(20_000));
            assert!(
                locations
                    .iter()
                    .enumerate()
                    .all(|(p, l)| l.first_row_index == p as i64 * 20_000)
            );
            let ColumnIndexMetaData::BYTE_ARRAY(index) = &metadata.column_index().unwrap()[g][0]
            else {
                panic!("a byte-array column index");
            };
            for (p, location) in locations.iter().enumerate() {
                let first = location.first_row_index as usize;
                let end = locations
                    .get(p + 1)
                    .map_or(group_rows, |l| l.first_row_index as usize);
                let rows = &kind[group_start + first..group_start + end];
                let present: Vec<&str> = rows.iter().flatten().map(String::as_str).collect();
                let nulls = rows.len() - present.len();
                assert_eq!(index.null_count(p), Some(nulls as i64));
                let min = present.iter().min().unwrap().as_bytes();
                let max = present.iter().max().unwrap().as_bytes();
                assert_eq!(index.min_value(p), Some(min));
                assert_eq!(index.max_value(p), Some(max));
            }
        }
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
        let mut file = TableFile::try_new(
            Vec::new(),
            batch.schema(),
            crate::warehouse::writer_properties(),
        )
        .unwrap();
        file.write_row_group(&batch).unwrap();
        let bytes = Bytes::from(file.writer.into_inner().unwrap());
        let (back, metadata) = read(&bytes);
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
