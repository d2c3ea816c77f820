//! The column chunks `TableFile` encodes by hand (see the module above): a dictionary
//! column of text, and `case_id`'s prefix deltas; and their pages, statistics and
//! indexes ([`Pages`]).

use std::ops::Range;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, DictionaryArray, StringArray};
use bytes::Bytes;
use parquet::basic::{BoundaryOrder, Compression, Encoding, EncodingMask, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, LevelHistogram, OffsetIndexBuilder, PageEncodingStats,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::encoding::{bit_pack, bits_for, delta_binary_packed, rle_run};
use crate::error::Result;

/// The column chunk of a dictionary column of text, encoded by hand (see the module's
/// comment): its bytes, and what the row group records of it. `None` where the Arrow
/// writer is to write it.
pub(super) fn dictionary_chunk(
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
    let mut is_used = vec![false; values.len()];
    match nulls {
        None => keys.iter().for_each(|&k| is_used[k as usize] = true),
        Some(n) => keys
            .iter()
            .zip(n.iter())
            .filter(|(_, valid)| *valid)
            .for_each(|(&k, _)| is_used[k as usize] = true),
    }
    let mut used: Vec<usize> = (0..values.len()).filter(|&k| is_used[k]).collect();
    let null_count = column.keys().null_count();
    let longest = used.iter().map(|&k| values.value(k).len()).max();
    let Some(mut pages) = Pages::new(
        descr,
        props,
        null_count,
        rows - null_count,
        longest.unwrap_or(0),
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

/// The column chunk of a text column stored without a dictionary (`case_id`), as plain
/// length-prefixed values (`PLAIN`, which every Parquet reader reads) or as prefix
/// deltas (`DELTA_BYTE_ARRAY`, which some do not: fastparquet), encoded by hand like
/// [`dictionary_chunk`]. The Arrow writer compared every row's text with the page's
/// least and greatest for the statistics; here a row equal to the one before it (a
/// case's rows are together) is not compared.
pub(super) fn text_chunk(
    descr: &ColumnDescPtr,
    props: &WriterProperties,
    column: &StringArray,
) -> Result<Option<(Bytes, ColumnCloseResult)>> {
    let path = descr.path();
    let encoding = match props.encoding(path) {
        Some(e @ (Encoding::PLAIN | Encoding::DELTA_BYTE_ARRAY)) => e,
        _ => return Ok(None),
    };
    if props.dictionary_enabled(path) {
        return Ok(None);
    }
    let plain = encoding == Encoding::PLAIN;
    // The longest span of the offsets: a null slot's span (which may hold bytes) can
    // only make it longer, sending the chunk to the Arrow writer, never cutting a value.
    let longest = column
        .offsets()
        .windows(2)
        .map(|w| (w[1] - w[0]) as usize)
        .max();
    let null_count = column.null_count();
    let Some(mut pages) = Pages::new(
        descr,
        props,
        null_count,
        column.len() - null_count,
        longest.unwrap_or(0),
    )?
    else {
        return Ok(None);
    };
    let rows = column.len();
    let nulls = column.nulls();
    let valid = |i: usize| nulls.is_none_or(|n| n.is_valid(i));
    let page_rows = props.data_page_row_count_limit().max(1);
    let page_bytes_limit = props.data_page_size_limit().max(1);
    // Per page: for DELTA_BYTE_ARRAY each value's shared prefix and suffix length, and
    // the suffixes; for PLAIN each value's length (4 bytes, little-endian) and bytes.
    let (mut prefixes, mut suffix_lens, mut suffixes) = (Vec::new(), Vec::new(), Vec::new());
    let mut start = 0;
    while start < rows {
        prefixes.clear();
        suffix_lens.clear();
        suffixes.clear();
        let mut previous: &[u8] = &[];
        let mut range: Option<(&[u8], &[u8])> = None;
        let (mut present, mut page_bytes) = (0, 0i64);
        let mut end = start;
        while end < rows && end - start < page_rows && suffixes.len() < page_bytes_limit {
            if valid(end) {
                let v = column.value(end).as_bytes();
                let same = range.is_some() && v == previous;
                if !same {
                    range = Some(match range {
                        None => (v, v),
                        Some((lo, hi)) => (lo.min(v), hi.max(v)),
                    });
                }
                if plain {
                    suffixes.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    suffixes.extend_from_slice(v);
                } else {
                    let prefix = if same {
                        v.len()
                    } else {
                        common_prefix(previous, v)
                    };
                    prefixes.push(prefix as i64);
                    suffix_lens.push((v.len() - prefix) as i64);
                    suffixes.extend_from_slice(&v[prefix..]);
                }
                present += 1;
                page_bytes += v.len() as i64;
                previous = v;
            }
            end += 1;
        }
        let mut body = pages.levels(start..end, present, valid);
        if !plain {
            delta_binary_packed(&prefixes, &mut body);
            delta_binary_packed(&suffix_lens, &mut body);
        }
        body.extend_from_slice(&suffixes);
        pages.data(body, start..end, present, encoding, range, page_bytes)?;
        start = end;
    }
    pages.finish(rows, &[Encoding::RLE, encoding])
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
    /// Pages of a chunk of `nulls` nulls and `present` values, the longest `longest`
    /// bytes; `None` where the column is not one this encodes (nested, another codec,
    /// data pages of version 2, bloom filters, statistics not kept per page, no value at
    /// all, or a value the statistics would cut short).
    fn new(
        descr: &'a ColumnDescPtr,
        props: &'a WriterProperties,
        nulls: usize,
        present: usize,
        longest: usize,
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
        if present == 0
            || longest > cut
            || descr.max_rep_level() > 0
            || (descr.max_def_level() == 0 && nulls > 0)
            || props.content_defined_chunking().is_some()
            || props.writer_version() != WriterVersion::PARQUET_1_0
            || props.statistics_enabled(path) != EnabledStatistics::Page
            || props.bloom_filter_properties(path).is_some()
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

/// A zstd failure, as the parquet crate reports its codec's.
fn zstd_error(e: std::io::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}
