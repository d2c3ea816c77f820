//! A version being written: Parquet files (row groups gathered, each sorted by
//! `case_key` within itself), the committed tables carried over, the configuration kept,
//! then the atomic commit (the manifest renamed over the old one) and the `current` link.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::{
    FORMAT, IngestRecord, MANIFEST, Manifest, TABLES, TableFiles, Warehouse, row_group_rows,
};
use crate::check::CASE_KEY;
use crate::error::{Error, Result};
use crate::parquet_file::TableFile;

/// Writer settings for every warehouse file: zstd, page-level statistics, dictionary
/// encoding, row groups sized for scans. No row order is declared (`sorting_columns`
/// stays unset): each row group is sorted by `case_key` for tight statistics, but the row
/// groups of a file are not in order across it, and DataFusion acts on a declared order
/// as the whole file's (issue 13; docs/measures.md, "What the engine trusts").
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_sorting_columns(None)
        // Level 1: files barely larger than at level 3 (the pages are small and
        // repetitive) for less of the writing thread's time (docs/benchmarks.md, "Figures
        // behind choices in the code").
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        // The integer case key, sorted within each row group: deltas, not a dictionary
        // (sorted by case_id instead, a shuffled input's keys took nearly half the
        // warehouse: docs/benchmarks.md).
        .set_column_dictionary_enabled(ColumnPath::from(CASE_KEY), false)
        .set_column_encoding(ColumnPath::from(CASE_KEY), Encoding::DELTA_BINARY_PACKED)
        // case_id, a text nearly unique per case: a row group's dictionary is nearly as
        // long as its column, so no dictionary. Plain values, not prefix deltas
        // (DELTA_BYTE_ARRAY, a few per cent smaller: docs/benchmarks.md): fastparquet
        // (pandas' other engine) cannot read prefix deltas, and analysts keep these
        // files for years in whatever reads Parquet (README, "Readers tested").
        .set_column_dictionary_enabled(ColumnPath::from("case_id"), false)
        .set_column_encoding(ColumnPath::from("case_id"), Encoding::PLAIN)
        // Row groups are cut by `Staging`, which gathers ROW_GROUP_ROWS rows plus at most
        // one batch, and `TableFile` writes each as one: this cap binds only the parquet
        // crate's own `ArrowWriter` (the tests' reference writer).
        .set_max_row_group_row_count(Some(2 * row_group_rows()))
        // "<application> version <version>", the form parquet-mr (Spark, Hive) parses: a
        // `created_by` it cannot parse makes it ignore the min/max of text columns
        // (CorruptStatistics). The parquet crate writes "parquet-rs version …".
        .set_created_by(format!("casework version {}", env!("CARGO_PKG_VERSION")))
        .build()
}

struct OpenFile {
    table: String,
    file: File,
    writer: TableFile<File>,
    rows: u64,
    /// Batches of the row group being gathered, and their rows.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    sort_column: Option<usize>,
}

impl OpenFile {
    /// Writes the gathered batches as one row group, sorted by `case_key` (stable, so
    /// rows of one case keep their input order): a case's rows together, and the key
    /// column a run of small steps that delta encoding stores in a few bits a row. The sort is within the row group only
    /// and is not declared in the file's metadata.
    fn write_row_group(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let schema = self.pending[0].schema();
        let mut batch = arrow::compute::concat_batches(&schema, &self.pending)?;
        self.pending.clear();
        self.pending_rows = 0;
        if let Some(i) = self.sort_column
            && let Some(order) = key_order(batch.column(i))
        {
            batch = arrow::compute::take_record_batch(&batch, &order)?;
        }
        self.writer.write_row_group(&batch)?;
        Ok(())
    }
}

/// The order that sorts a row group by its `case_key`s, stable (the rows of one case
/// keep their input order); `None` when they are in order already (or a key is null,
/// which no ingest writes: such a row group is written as it is).
///
/// Hand-written (a hot path): a least-significant-digit radix sort of the keys less
/// their minimum, 11 bits a pass. One ingest's keys are its case ordinals, so a row
/// group of a million cases takes two passes over the rows, where a comparison sort
/// of (index, key) pairs took a noticeable share of the writing thread
/// (docs/benchmarks.md).
fn key_order(column: &arrow::array::ArrayRef) -> Option<arrow::array::UInt32Array> {
    const BITS: u32 = 11;
    let keys = column.as_primitive_opt::<arrow::datatypes::Int64Type>()?;
    if keys.null_count() > 0 || keys.values().windows(2).all(|w| w[0] <= w[1]) {
        return None;
    }
    let keys = keys.values();
    let min = *keys.iter().min()?;
    let mut relative: Vec<u64> = keys.iter().map(|k| k.wrapping_sub(min) as u64).collect();
    let span = relative.iter().copied().max()?;
    let passes = (u64::BITS - span.leading_zeros()).div_ceil(BITS);
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    let mut next_order = vec![0u32; keys.len()];
    let mut next_relative = vec![0u64; keys.len()];
    let mut starts = vec![0usize; 1 << BITS];
    for pass in 0..passes {
        let digit = |k: u64| ((k >> (pass * BITS)) & ((1 << BITS) - 1)) as usize;
        starts.fill(0);
        for &k in &relative {
            starts[digit(k)] += 1;
        }
        let mut at = 0;
        for slot in starts.iter_mut() {
            let n = *slot;
            *slot = at;
            at += n;
        }
        for (&k, &row) in relative.iter().zip(&order) {
            let slot = &mut starts[digit(k)];
            next_relative[*slot] = k;
            next_order[*slot] = row;
            *slot += 1;
        }
        std::mem::swap(&mut relative, &mut next_relative);
        std::mem::swap(&mut order, &mut next_order);
    }
    Some(arrow::array::UInt32Array::from(order))
}

/// A version being written. Nothing in it is visible until `commit`.
pub struct Staging {
    root: PathBuf,
    version: String,
    writers: BTreeMap<String, OpenFile>,
    /// Finished files per table: relative path → rows.
    done: BTreeMap<String, BTreeMap<String, u64>>,
    ingest: u32,
    _lock: File,
}

impl Staging {
    /// The number of this ingest (1 for the first).
    pub fn ingest_number(&self) -> u32 {
        self.ingest
    }

    /// A new version `version` of the warehouse at `root`, written while `lock` is held.
    pub(super) fn new(root: PathBuf, version: String, ingest: u32, lock: File) -> Staging {
        Staging {
            root,
            version,
            writers: BTreeMap::new(),
            done: BTreeMap::new(),
            ingest,
            _lock: lock,
        }
    }

    /// Appends a batch to a table; `partition` is the cases' opened year. Batches are
    /// gathered into row groups of [`ROW_GROUP_ROWS`] rows, each sorted by `case_key`, so
    /// row-group statistics on `case_id` are tight and a case's rows sit together.
    pub fn write(
        &mut self,
        table: &str,
        partition: Option<i32>,
        batch: &RecordBatch,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let rel = match partition {
            Some(year) => format!(
                "{}/{table}/opened_year={year}/part-{:06}.parquet",
                self.version, self.ingest
            ),
            None => format!("{}/{table}/part-{:06}.parquet", self.version, self.ingest),
        };
        self.append(table, rel, batch)
    }

    fn append(&mut self, table: &str, rel: String, batch: &RecordBatch) -> Result<()> {
        if !self.writers.contains_key(&rel) {
            let path = self.root.join(&rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
            let handle = file.try_clone().map_err(|e| Error::io(&path, e))?;
            let sort_column = batch.schema().index_of(CASE_KEY).ok();
            let writer = TableFile::try_new(handle, batch.schema(), writer_properties())?;
            self.writers.insert(
                rel.clone(),
                OpenFile {
                    table: table.to_string(),
                    file,
                    writer,
                    rows: 0,
                    pending: Vec::new(),
                    pending_rows: 0,
                    sort_column,
                },
            );
            crash_point("file-opened");
        }
        let open = self.writers.get_mut(&rel).expect("inserted above");
        open.pending.push(batch.clone());
        open.pending_rows += batch.num_rows();
        open.rows += batch.num_rows() as u64;
        if open.pending_rows >= row_group_rows() {
            open.write_row_group()?;
        }
        Ok(())
    }

    /// Brings the committed tables into this version, less every row of the `replaced`
    /// cases. A file with none of them is hard-linked (copied where links are not
    /// possible); a file with some is rewritten without them, and so is every file of a
    /// warehouse whose files may claim an order (written before issue 13's fix) or have
    /// no `case_key` column (before issue 18's): this ingest migrates it, keying the
    /// carried cases as ingest 0's. Returns the rows dropped per table.
    pub fn carry_over(
        &mut self,
        old: &Manifest,
        replaced: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<BTreeMap<String, u64>> {
        let mut dropped = BTreeMap::new();
        // Keys for the cases of files written without them ("cases" comes first).
        let mut migrated: HashMap<String, i64> = HashMap::new();
        for (table, files) in &old.tables {
            let add_keys = !old.case_keys && table != "rejects";
            for rel in &files.files {
                let path = self.root.join(rel);
                let new_rel = match rel.split_once('/') {
                    Some((_, rest)) => format!("{}/{rest}", self.version),
                    None => {
                        return Err(Error::Warehouse {
                            path: self.root.clone(),
                            message: format!("manifest names a file outside a version: {rel}"),
                        });
                    }
                };
                let (rows, mut keep) = self.rows_to_keep(&path, replaced)?;
                let old_encoder = old.encoder_revision < crate::parquet_file::ENCODER_REVISION;
                if keep.is_none() && (old.files_may_claim_order || add_keys || old_encoder) {
                    keep = Some(BooleanArray::from(vec![true; rows as usize]));
                }
                let kept = keep.as_ref().map_or(rows, |k| k.true_count() as u64);
                *dropped.entry(table.clone()).or_insert(0) += rows - kept;
                match keep {
                    None => {
                        let target = self.root.join(&new_rel);
                        if let Some(parent) = target.parent() {
                            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                        }
                        if fs::hard_link(&path, &target).is_err() {
                            fs::copy(&path, &target).map_err(|e| Error::io(&target, e))?;
                        }
                        self.done
                            .entry(table.clone())
                            .or_default()
                            .insert(new_rel, rows);
                    }
                    Some(_) if kept == 0 => {}
                    Some(mask) => {
                        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                            .and_then(|b| b.build())
                            .map_err(|e| super::unreadable(&path, e))?;
                        let mut offset = 0;
                        for batch in reader {
                            let batch = batch.map_err(|e| super::unreadable(&path, e.into()))?;
                            let part = mask.slice(offset, batch.num_rows());
                            offset += batch.num_rows();
                            let mut kept = filter_record_batch(&batch, &part)?;
                            if add_keys && kept.schema().index_of(CASE_KEY).is_err() {
                                kept = with_case_keys(table, &path, &kept, &mut migrated)?;
                            }
                            self.append(table, new_rel.clone(), &kept)?;
                        }
                    }
                }
            }
        }
        Ok(dropped)
    }

    /// (rows in the file, `Some(mask of rows to keep)` when any row is of a replaced
    /// case, else `None`).
    fn rows_to_keep(
        &self,
        path: &Path,
        replaced: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<(u64, Option<BooleanArray>)> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| super::unreadable(path, e))?;
        let rows = builder.metadata().file_metadata().num_rows() as u64;
        let Some(index) = builder
            .schema()
            .fields()
            .iter()
            .position(|f| f.name() == "case_id")
        else {
            return Ok((rows, None));
        };
        let Some(replaced) = replaced else {
            return Ok((rows, None));
        };
        let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
        let mut keep = Vec::with_capacity(rows as usize);
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|e| super::unreadable(path, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| super::unreadable(path, e.into()))?;
            let ids = batch.column(0).as_string::<i32>();
            keep.extend((0..ids.len()).map(|i| !replaced(ids.value(i))));
        }
        if keep.iter().all(|k| *k) {
            Ok((rows, None))
        } else {
            Ok((rows, Some(BooleanArray::from(keep))))
        }
    }

    /// Writes a configuration file (the code list or thresholds the ingest used) into
    /// the version, so that later measures read the data with the list it was coded
    /// against.
    pub fn put_config(&mut self, name: &str, text: &str) -> Result<()> {
        let path = self.root.join(&self.version).join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let mut f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        use std::io::Write;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::io(&path, e))?;
        f.sync_all().map_err(|e| Error::io(&path, e))
    }

    /// Finishes the files of `table` that are open: its last row groups written and the
    /// files closed and synced, now rather than at the commit (the ingest's writing
    /// thread does it once the table's input is read, while the next is checked).
    pub fn finish_table(&mut self, table: &str) -> Result<()> {
        let open: Vec<String> = self
            .writers
            .iter()
            .filter(|(_, f)| f.table == table)
            .map(|(rel, _)| rel.clone())
            .collect();
        for rel in open {
            let file = self.writers.remove(&rel).expect("an open file");
            self.close(rel, file)?;
        }
        Ok(())
    }

    /// Writes an open file's last row group, closes and syncs it.
    fn close(&mut self, rel: String, mut open: OpenFile) -> Result<()> {
        open.write_row_group()?;
        open.writer.close()?;
        open.file
            .sync_all()
            .map_err(|e| Error::io(self.root.join(&rel), e))?;
        self.done
            .entry(open.table)
            .or_default()
            .insert(rel, open.rows);
        Ok(())
    }

    /// Finishes every file, writes the new manifest aside and renames it over the old
    /// one (the commit), then removes the versions it replaced.
    pub fn commit(mut self, old: Option<Manifest>, record: IngestRecord) -> Result<Manifest> {
        for (rel, open) in std::mem::take(&mut self.writers) {
            self.close(rel, open)?;
        }
        let mut tables = BTreeMap::new();
        for table in TABLES {
            if let Some(files) = self.done.get(table) {
                tables.insert(
                    table.to_string(),
                    TableFiles {
                        files: files.keys().cloned().collect(),
                        rows: files.values().sum(),
                    },
                );
            }
        }
        let mut ingests = old.map(|m| m.ingests).unwrap_or_default();
        ingests.push(record);
        let manifest = Manifest {
            format: FORMAT.to_string(),
            version: self.version.clone(),
            tables,
            ingests,
            files_may_claim_order: false,
            case_keys: true,
            encoder_revision: crate::parquet_file::ENCODER_REVISION,
        };
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        let tmp = self.root.join("manifest.json.tmp");
        {
            use std::io::Write;
            let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            f.write_all(text.as_bytes())
                .map_err(|e| Error::io(&tmp, e))?;
            f.write_all(b"\n").map_err(|e| Error::io(&tmp, e))?;
            f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        }
        crash_point("before-commit");
        let target = self.root.join(MANIFEST);
        fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
        if let Ok(dir) = File::open(&self.root) {
            let _ = dir.sync_all();
        }
        crash_point("after-commit");
        self.point_current()?;
        let warehouse = Warehouse::new(&self.root);
        warehouse.remove_uncommitted(Some(&self.version))?;
        Ok(manifest)
    }

    /// Points the `current` link at the committed version (replaced atomically).
    fn point_current(&self) -> Result<()> {
        #[cfg(unix)]
        {
            let tmp = self.root.join("current.tmp");
            let _ = fs::remove_file(&tmp);
            std::os::unix::fs::symlink(&self.version, &tmp).map_err(|e| Error::io(&tmp, e))?;
            let link = self.root.join("current");
            fs::rename(&tmp, &link).map_err(|e| Error::io(&link, e))?;
        }
        Ok(())
    }

    /// Throws the version away; the committed state is untouched.
    pub fn abort(mut self) -> Result<()> {
        self.writers.clear();
        let dir = self.root.join(&self.version);
        fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))
    }
}

/// For tests of crash safety: when `CASEWORK_CRASH_AT` names this point, the process
/// aborts here, as a kill would stop it.
fn crash_point(name: &str) {
    if std::env::var("CASEWORK_CRASH_AT").is_ok_and(|v| v == name) {
        eprintln!("casework: CASEWORK_CRASH_AT={name}: aborting");
        std::process::abort();
    }
}

/// A batch of a file written before `case_key` existed, with its cases' keys added: a
/// new key for each case of the cases table, the case's key for the rows of the others.
fn with_case_keys(
    table: &str,
    path: &Path,
    batch: &RecordBatch,
    keys: &mut HashMap<String, i64>,
) -> Result<RecordBatch> {
    let bad = |message: String| Error::Warehouse {
        path: path.to_path_buf(),
        message,
    };
    let ids = batch
        .column_by_name("case_id")
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| bad("a file without a text case_id column".into()))?;
    let mut column = Vec::with_capacity(ids.len());
    for id in ids.iter() {
        let id = id.ok_or_else(|| bad("a row without a case_id".into()))?;
        let key = if table == "cases" {
            let ordinal = u32::try_from(keys.len() + 1)
                .map_err(|_| bad("more than 2^32 cases to key".into()))?;
            let key = crate::check::case_key(0, ordinal);
            keys.insert(id.to_string(), key);
            key
        } else {
            *keys
                .get(id)
                .ok_or_else(|| bad(format!("a {table} row of case {id}, which has no case row")))?
        };
        column.push(key);
    }
    let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(arrow_schema::Field::new(
        CASE_KEY,
        arrow_schema::DataType::Int64,
        false,
    )));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(arrow_array::Int64Array::from(column)));
    Ok(RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array};

    /// The radix order against the standard library's stable sort, on keys in no order,
    /// with repeats (a case's several rows), spanning more than one pass and more than
    /// 32 bits (the keys of two ingests).
    #[test]
    fn key_order_is_a_stable_sort_by_key() {
        let ingest = |n: i64| n << 32;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut keys: Vec<i64> = (0..50_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ingest(1 + (state % 2) as i64) + (state >> 40) as i64 % 9_000
            })
            .collect();
        keys.push(-5); // below every other key: the minimum is subtracted
        let column: ArrayRef = Arc::new(Int64Array::from(keys.clone()));
        let order = key_order(&column).expect("not in order");
        let mut expected: Vec<u32> = (0..keys.len() as u32).collect();
        expected.sort_by_key(|&i| keys[i as usize]);
        assert_eq!(order.values().to_vec(), expected);

        let sorted: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2, 7, 7, 9]));
        assert!(key_order(&sorted).is_none(), "in order already: no take");
    }
}
