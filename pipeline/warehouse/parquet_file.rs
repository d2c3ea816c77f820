//! One warehouse Parquet file, written a row group at a time: every column through the
//! parquet crate's Arrow column writers, except two kinds whose column chunks are encoded
//! here: the enumerated columns (Arrow dictionaries of text) and `case_id` (text stored
//! as prefix deltas).
//!
//! Hand-written because it is the ingest's hot path. The Arrow writer interns every row of
//! a dictionary column again (hashing and comparing its text) and compares every row's
//! text for the statistics (arrow-rs issue 10465, pull request 10862): at a million cases
//! that was about a tenth of the ingest's CPU. Here an enumerated value costs a key
//! look-up and a few bits of packing, and a `case_id` equal to the row's before (a case's
//! rows are together) is not compared. Each chunk is one the Arrow writer could have
//! written: the same encodings and compression, chunk and page statistics (the column
//! index) and offset index, and pages cut at `data_page_row_count_limit` rows exactly. A
//! dictionary holds the values its row group uses, in byte order (so its page is marked
//! sorted); data pages are version 1. Anything else (another codec, data page version 2,
//! bloom filters, statistics not kept per page, a chunk of nulls only, a value longer
//! than the statistics keep) goes to the Arrow writer.

use std::io::Write;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, AsArray, DictionaryArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Int32Type, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{BoundaryOrder, Compression, Encoding, EncodingMask, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, LevelHistogram, OffsetIndexBuilder, PageEncodingStats,
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
            let descr = self.parquet.column(leaf);
            let by_hand = match (leaves.as_slice(), column.data_type()) {
                ([_], DataType::Dictionary(..)) => match column.as_dictionary_opt::<Int32Type>() {
                    Some(d) => dictionary_chunk(&descr, &self.props, d)?,
                    None => None,
                },
                ([_], DataType::Utf8) => delta_text_chunk(&descr, &self.props, column.as_string())?,
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
    if values.null_count() > 0
        || !props.dictionary_enabled(path)
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
    let null_count = column.keys().null_count();
    let Some(mut pages) = Pages::new(
        descr,
        props,
        null_count,
        used.iter().map(|&k| values.value(k)),
    )?
    else {
        return Ok(None);
    };
    used.sort_by(|&a, &b| values.value(a).as_bytes().cmp(values.value(b).as_bytes()));
    // Equal texts under different keys share a code: a row group's batches each bring
    // their own dictionary, which concatenation appends one after another.
    let mut code = vec![0u32; values.len()];
    let mut distinct: Vec<usize> = Vec::with_capacity(used.len());
    for &k in &used {
        if distinct
            .last()
            .is_none_or(|&d| values.value(d) != values.value(k))
        {
            distinct.push(k);
        }
        code[k] = distinct.len() as u32 - 1;
    }
    let used = distinct;
    let text = |c: u32| values.value(used[c as usize]).as_bytes();
    let text_len: Vec<i64> = (0..used.len() as u32)
        .map(|c| text(c).len() as i64)
        .collect();
    let width = bits_for(used.len() as u32 - 1);

    let mut dictionary = Vec::new();
    for c in 0..used.len() as u32 {
        let v = text(c);
        dictionary.extend_from_slice(&(v.len() as u32).to_le_bytes());
        dictionary.extend_from_slice(v);
    }
    if dictionary.len() > props.dictionary_page_size_limit() {
        return Ok(None);
    }
    pages.dictionary(dictionary, used.len() as u32)?;

    let page_rows = props.data_page_row_count_limit().max(1);
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
        let mut body = pages.levels(start..end, codes.len(), valid);
        body.push(width);
        bit_pack(&codes, width, &mut body);
        let range = (!codes.is_empty()).then(|| (text(lo), text(hi)));
        pages.data(
            body,
            start..end,
            codes.len(),
            Encoding::RLE_DICTIONARY,
            range,
            page_bytes,
        )?;
    }
    pages.finish(
        rows,
        &[Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY],
    )
}

/// The column chunk of a text column stored with prefix deltas (`DELTA_BYTE_ARRAY`, no
/// dictionary: `case_id`), encoded by hand like [`dictionary_chunk`]. The Arrow writer
/// compared every row's text with the page's least and greatest for the statistics;
/// here a row equal to the one before it (a case's rows are together) is not compared.
fn delta_text_chunk(
    descr: &ColumnDescPtr,
    props: &WriterProperties,
    column: &StringArray,
) -> Result<Option<(Bytes, ColumnCloseResult)>> {
    let path = descr.path();
    if props.dictionary_enabled(path) || props.encoding(path) != Some(Encoding::DELTA_BYTE_ARRAY) {
        return Ok(None);
    }
    let Some(mut pages) = Pages::new(descr, props, column.null_count(), column.iter().flatten())?
    else {
        return Ok(None);
    };
    let rows = column.len();
    let nulls = column.nulls();
    let valid = |i: usize| nulls.is_none_or(|n| n.is_valid(i));
    let page_rows = props.data_page_row_count_limit().max(1);
    let page_bytes_limit = props.data_page_size_limit().max(1);
    let (mut prefixes, mut suffix_lens, mut suffixes) = (Vec::new(), Vec::new(), Vec::new());
    let mut start = 0;
    while start < rows {
        prefixes.clear();
        suffix_lens.clear();
        suffixes.clear();
        let mut previous: &[u8] = &[];
        let mut range: Option<(&[u8], &[u8])> = None;
        let mut end = start;
        while end < rows && end - start < page_rows && suffixes.len() < page_bytes_limit {
            if valid(end) {
                let v = column.value(end).as_bytes();
                let prefix = common_prefix(previous, v);
                if !(prefix == v.len() && prefix == previous.len() && range.is_some()) {
                    range = Some(match range {
                        None => (v, v),
                        Some((lo, hi)) => (lo.min(v), hi.max(v)),
                    });
                }
                prefixes.push(prefix as i64);
                suffix_lens.push((v.len() - prefix) as i64);
                suffixes.extend_from_slice(&v[prefix..]);
                previous = v;
            }
            end += 1;
        }
        let present = prefixes.len();
        let mut body = pages.levels(start..end, present, valid);
        delta_binary_packed(&prefixes, &mut body);
        delta_binary_packed(&suffix_lens, &mut body);
        body.extend_from_slice(&suffixes);
        let page_bytes = prefixes.iter().zip(&suffix_lens).map(|(p, s)| p + s).sum();
        pages.data(
            body,
            start..end,
            present,
            Encoding::DELTA_BYTE_ARRAY,
            range,
            page_bytes,
        )?;
        start = end;
    }
    pages.finish(rows, &[Encoding::RLE, Encoding::DELTA_BYTE_ARRAY])
}

/// Bytes `a` and `b` begin with in common.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The pages of a column chunk being encoded by hand, and what the row group records
/// of them: the chunk's statistics, its column index and offset index, as the Arrow
/// writer keeps them.
struct Pages<'a> {
    descr: &'a ColumnDescPtr,
    props: &'a WriterProperties,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    out: TrackedWrite<Vec<u8>>,
    header_statistics: bool,
    column_index: ColumnIndexBuilder,
    offset_index: OffsetIndexBuilder,
    /// The chunk's least and greatest values so far, and the last page's (for the
    /// column index's boundary order).
    range: Option<(Vec<u8>, Vec<u8>)>,
    last_page: Option<(Vec<u8>, Vec<u8>)>,
    ascending: bool,
    descending: bool,
    dictionary_offset: Option<i64>,
    data_offset: Option<i64>,
    data_pages: i32,
    compressed: i64,
    uncompressed: i64,
    nulls: u64,
    text_bytes: i64,
    /// Rows at definition levels 0 and 1 (a column that may be null).
    levels_histogram: Option<[i64; 2]>,
}

impl<'a> Pages<'a> {
    /// `None` where the column is not one this encodes (nested, another codec, data
    /// pages of version 2, bloom filters, statistics not kept per page, no value at all,
    /// or a value the statistics would cut short).
    fn new<'v>(
        descr: &'a ColumnDescPtr,
        props: &'a WriterProperties,
        nulls: usize,
        mut values: impl Iterator<Item = &'v str>,
    ) -> Result<Option<Pages<'a>>> {
        let path = descr.path();
        let compressor = match props.compression(path) {
            Compression::ZSTD(level) => {
                Some(zstd::bulk::Compressor::new(level.compression_level()).map_err(zstd_error)?)
            }
            Compression::UNCOMPRESSED => None,
            _ => return Ok(None),
        };
        let cut = [
            props.statistics_truncate_length(),
            props.column_index_truncate_length(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(usize::MAX);
        let mut any = false;
        if descr.max_rep_level() > 0
            || (descr.max_def_level() == 0 && nulls > 0)
            || props.content_defined_chunking().is_some()
            || props.writer_version() != WriterVersion::PARQUET_1_0
            || props.statistics_enabled(path) != EnabledStatistics::Page
            || props.bloom_filter_properties(path).is_some()
            || !values.all(|v| {
                any = true;
                v.len() <= cut
            })
            || !any
        {
            return Ok(None);
        }
        Ok(Some(Pages {
            descr,
            props,
            compressor,
            out: TrackedWrite::new(Vec::new()),
            header_statistics: props.write_page_header_statistics(path),
            column_index: ColumnIndexBuilder::new(descr.physical_type()),
            offset_index: OffsetIndexBuilder::new(),
            range: None,
            last_page: None,
            ascending: true,
            descending: true,
            dictionary_offset: None,
            data_offset: None,
            data_pages: 0,
            compressed: 0,
            uncompressed: 0,
            nulls: 0,
            text_bytes: 0,
            levels_histogram: None,
        }))
    }

    fn write(&mut self, page: impl FnOnce(Bytes) -> Page, body: Vec<u8>) -> Result<PageWriteSpec> {
        let size = body.len();
        let buf = match self.compressor.as_mut() {
            Some(c) => Bytes::from(c.compress(&body).map_err(zstd_error)?),
            None => Bytes::from(body),
        };
        let spec = SerializedPageWriter::new(&mut self.out)
            .write_page(CompressedPage::new(page(buf), size))?;
        self.compressed += spec.compressed_size as i64;
        self.uncompressed += spec.uncompressed_size as i64;
        Ok(spec)
    }

    /// The dictionary page: `num_values` values, PLAIN, in byte order.
    fn dictionary(&mut self, body: Vec<u8>, num_values: u32) -> Result<()> {
        let page = |buf| Page::DictionaryPage {
            buf,
            num_values,
            encoding: Encoding::PLAIN,
            is_sorted: true,
        };
        let spec = self.write(page, body)?;
        self.dictionary_offset = Some(spec.offset as i64);
        Ok(())
    }

    /// A data page's start: the definition levels of `rows` (for a column that may be
    /// null), of which `present` are not null.
    fn levels(&self, rows: Range<usize>, present: usize, valid: impl Fn(usize) -> bool) -> Vec<u8> {
        let mut body = Vec::with_capacity(rows.len() + 16);
        if self.descr.max_def_level() > 0 {
            let mut encoded = Vec::new();
            if present == rows.len() || present == 0 {
                rle_run(rows.len(), u8::from(present > 0), &mut encoded);
            } else {
                let levels: Vec<u32> = rows.map(|i| u32::from(valid(i))).collect();
                bit_pack(&levels, 1, &mut encoded);
            }
            body.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
            body.extend_from_slice(&encoded);
        }
        body
    }

    /// A data page of `rows`, `present` of them not null, whose values span `range`
    /// (`None`: all null) and hold `text_bytes` bytes of text.
    fn data(
        &mut self,
        body: Vec<u8>,
        rows: Range<usize>,
        present: usize,
        encoding: Encoding,
        range: Option<(&[u8], &[u8])>,
        text_bytes: i64,
    ) -> Result<()> {
        let nulls = (rows.len() - present) as u64;
        let statistics = range.filter(|_| self.header_statistics).map(|(lo, hi)| {
            Statistics::ByteArray(ValueStatistics::new(
                Some(ByteArray::from(lo.to_vec())),
                Some(ByteArray::from(hi.to_vec())),
                None,
                Some(nulls),
                false,
            ))
        });
        let num_values = rows.len() as u32;
        let page = |buf| Page::DataPage {
            buf,
            num_values,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics,
        };
        let spec = self.write(page, body)?;
        self.data_offset.get_or_insert(spec.offset as i64);
        self.data_pages += 1;
        self.offset_index
            .append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
        self.offset_index.append_row_count(rows.len() as i64);
        self.offset_index
            .append_unencoded_byte_array_data_bytes(Some(text_bytes));
        match range {
            None => self
                .column_index
                .append(true, Vec::new(), Vec::new(), nulls as i64),
            Some((lo, hi)) => {
                if let Some((last_lo, last_hi)) = &self.last_page {
                    self.ascending &= last_lo.as_slice() <= lo && last_hi.as_slice() <= hi;
                    self.descending &= last_lo.as_slice() >= lo && last_hi.as_slice() >= hi;
                }
                self.last_page = Some((lo.to_vec(), hi.to_vec()));
                self.column_index
                    .append(false, lo.to_vec(), hi.to_vec(), nulls as i64);
                self.range = Some(match self.range.take() {
                    None => (lo.to_vec(), hi.to_vec()),
                    Some((a, b)) => (a.min(lo.to_vec()), b.max(hi.to_vec())),
                });
            }
        }
        if self.descr.max_def_level() > 0 {
            // Rows at definition level 0 (null) and 1, as the Arrow writer counts them.
            let levels = [nulls as i64, present as i64];
            self.column_index
                .append_histograms(&None, &Some(LevelHistogram::from(levels.to_vec())));
            let chunk = self.levels_histogram.get_or_insert([0, 0]);
            chunk[0] += levels[0];
            chunk[1] += levels[1];
        }
        self.nulls += nulls;
        self.text_bytes += text_bytes;
        Ok(())
    }

    /// The chunk's bytes and what the row group records of them: `rows` rows, pages of
    /// `encodings`.
    fn finish(
        mut self,
        rows: usize,
        encodings: &[Encoding],
    ) -> Result<Option<(Bytes, ColumnCloseResult)>> {
        self.column_index
            .set_boundary_order(match (self.ascending, self.descending) {
                (true, _) => BoundaryOrder::ASCENDING,
                (false, true) => BoundaryOrder::DESCENDING,
                (false, false) => BoundaryOrder::UNORDERED,
            });
        let mut encoding_stats = Vec::new();
        if self.dictionary_offset.is_some() {
            encoding_stats.push(PageEncodingStats {
                page_type: PageType::DICTIONARY_PAGE,
                encoding: Encoding::PLAIN,
                count: 1,
            });
        }
        encoding_stats.push(PageEncodingStats {
            page_type: PageType::DATA_PAGE,
            encoding: *encodings.last().expect("the data pages' encoding"),
            count: self.data_pages,
        });
        let (min, max) = self.range.expect("a value somewhere (Pages::new)");
        let data_offset = self.data_offset.expect("a data page");
        let metadata = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.props.compression(self.descr.path()))
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_page_encoding_stats(encoding_stats)
            .set_total_compressed_size(self.compressed)
            .set_total_uncompressed_size(self.uncompressed)
            .set_num_values(rows as i64)
            .set_data_page_offset(data_offset)
            .set_dictionary_page_offset(self.dictionary_offset)
            .set_statistics(Statistics::ByteArray(ValueStatistics::new(
                Some(ByteArray::from(min)),
                Some(ByteArray::from(max)),
                None,
                Some(self.nulls),
                false,
            )))
            .set_unencoded_byte_array_data_bytes(Some(self.text_bytes))
            .set_definition_level_histogram(
                self.levels_histogram
                    .map(|h| LevelHistogram::from(h.to_vec())),
            )
            .build()?;
        let bytes = self.out.into_inner()?;
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index: Some(self.column_index.build()?),
            offset_index: Some(self.offset_index.build()),
        };
        Ok(Some((Bytes::from(bytes), close)))
    }
}

/// Appends `values` in `DELTA_BINARY_PACKED`, as the parquet crate writes it: blocks of
/// 128 deltas in four miniblocks of 32, each miniblock at the width of its greatest
/// delta less the block's least (a partial last miniblock padded to 32; the widths of
/// miniblocks past the values are 0, with no bytes).
fn delta_binary_packed(values: &[i64], out: &mut Vec<u8>) {
    const BLOCK: usize = 128;
    const MINIBLOCK: usize = 32;
    uleb128(BLOCK as u64, out);
    uleb128((BLOCK / MINIBLOCK) as u64, out);
    uleb128(values.len() as u64, out);
    uleb128(zigzag(values.first().copied().unwrap_or(0)), out);
    let deltas: Vec<i64> = values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let mut relative = Vec::with_capacity(MINIBLOCK);
    for block in deltas.chunks(BLOCK) {
        let least = *block.iter().min().expect("chunks are not empty");
        uleb128(zigzag(least), out);
        let widths: Vec<u8> = (0..BLOCK / MINIBLOCK)
            .map(|m| {
                let mini = block.get(m * MINIBLOCK..).unwrap_or(&[]);
                let greatest = mini
                    .iter()
                    .take(MINIBLOCK)
                    .map(|&d| d.wrapping_sub(least) as u64)
                    .max();
                greatest.map_or(0, |g| (u64::BITS - g.leading_zeros()) as u8)
            })
            .collect();
        out.extend_from_slice(&widths);
        for (mini, &width) in block.chunks(MINIBLOCK).zip(&widths) {
            relative.clear();
            relative.extend(mini.iter().map(|&d| d.wrapping_sub(least) as u64));
            relative.resize(MINIBLOCK, 0);
            pack_groups(&relative, width, out);
        }
    }
}

/// Zigzag: signed to unsigned, small magnitudes to small numbers.
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
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
    for run in values.chunks(8 * 63) {
        let groups = run.len().div_ceil(8);
        uleb128(((groups as u64) << 1) | 1, out);
        pack_groups(run, width, out);
    }
}

/// Appends `values` (each below 2^`width`, `width` at most 64) bit-packed in groups of
/// eight, each value's bits from the least significant, the last group padded with
/// zeros.
fn pack_groups<T: Copy + Into<u64>>(values: &[T], width: u8, out: &mut Vec<u8>) {
    let w = usize::from(width);
    for group in values.chunks(8) {
        if w <= 8 {
            // Eight values of up to 8 bits: one word, its first `w` bytes.
            let word = group
                .iter()
                .enumerate()
                .fold(0u64, |word, (j, &v)| word | v.into() << (j * w));
            out.extend_from_slice(&word.to_le_bytes()[..w]);
        } else {
            let (mut acc, mut bits) = (0u128, 0);
            for j in 0..8 {
                acc |= u128::from(group.get(j).map_or(0, |&v| v.into())) << bits;
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
        // case_id's pages are prefix deltas, as the Arrow writer writes them.
        let encodings: Vec<Encoding> = metadata.row_group(0).column(1).encodings().collect();
        assert!(
            encodings.contains(&Encoding::DELTA_BYTE_ARRAY),
            "{encodings:?}"
        );
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
