//! The Parquet warehouse: one dataset per record type, a manifest naming exactly the
//! committed files, and atomic replacement.
//!
//! Layout (root = `./warehouse`, `--warehouse` or `CASEWORK_WAREHOUSE`):
//!
//! ```text
//! manifest.json                 the committed state: every table's files and rows
//! current -> v000002            convenience link to the committed version
//! v000002/cases/opened_year=2019/part-000002.parquet
//! v000002/findings/part-000002.parquet
//! v000002/events/…  v000002/recommendations/…  v000002/rejects/…
//! ```
//!
//! An ingest writes a whole new version folder beside the committed one (files that do
//! not change are hard-linked, not copied), then commits by renaming a new
//! `manifest.json` over the old one. Until that rename the old manifest, and every file it
//! names, is untouched; after it the new one is complete. Old versions are removed only
//! after the commit, and any folder the manifest does not name is left-over work that
//! the next ingest removes.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::{CodeList, ConfigSource, Thresholds};

pub const MANIFEST: &str = "manifest.json";
/// The code list and thresholds an ingest used, kept in its version folder.
pub const CODES_FILE: &str = "codes.csv";
pub const THRESHOLDS_FILE: &str = "thresholds.toml";
pub const FORMAT: &str = "casework-warehouse/1";
/// Tables a warehouse may hold, in manifest order.
pub const TABLES: [&str; 5] = ["cases", "findings", "events", "recommendations", "rejects"];
/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// A test-only setting: rows per row group (and at most that many rows per batch handed
/// to the warehouse), so that the tests' small bundles are written as many row groups,
/// the layout real exports get at ROW_GROUP_ROWS. Not for production use: small row
/// groups only make files larger and scans slower.
pub const TEST_ROW_GROUP_ROWS_VAR: &str = "CASEWORK_TEST_ROW_GROUP_ROWS";

/// Rows per row group: [`ROW_GROUP_ROWS`], or the test-only setting when it is set.
pub fn row_group_rows() -> usize {
    std::env::var(TEST_ROW_GROUP_ROWS_VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(ROW_GROUP_ROWS)
}

/// The committed state, as written to `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    /// The version folder holding the committed files.
    pub version: String,
    pub tables: BTreeMap<String, TableFiles>,
    pub ingests: Vec<IngestRecord>,
    /// Whether the committed files may carry an order claim (`sorting_columns`) in their
    /// Parquet metadata. Warehouses written before this field existed (it is absent, so it
    /// reads as true) declared `case_id` order on every row group, though row groups were
    /// sorted only within themselves: DataFusion took that as the whole file's order and
    /// miscounted (issue 13). Readers do not trust such files ([`Manifest::order_claims_untrusted`]);
    /// the next ingest rewrites them without the claim. casework now writes `false`.
    #[serde(default = "legacy_order_claims")]
    pub files_may_claim_order: bool,
}

fn legacy_order_claims() -> bool {
    true
}

impl Manifest {
    /// True when the files may declare an order they do not have: the engine must not
    /// take any order, or anything else, from their metadata.
    pub fn order_claims_untrusted(&self) -> bool {
        self.files_may_claim_order
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableFiles {
    /// Paths relative to the warehouse root.
    pub files: Vec<String>,
    pub rows: u64,
}

/// Rows read, stored and rejected for one record type in one ingest.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub read: u64,
    pub stored: u64,
    pub rejected: u64,
}

/// An input file of an ingest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputFile {
    pub record_type: String,
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    pub format: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What one ingest did, kept in the manifest's `ingests` list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestRecord {
    pub number: u32,
    /// UTC, RFC 3339.
    pub time: String,
    pub casework_version: String,
    pub bundle: String,
    pub inputs: Vec<InputFile>,
    pub counts: BTreeMap<String, Counts>,
    /// Cases already in the warehouse that this ingest replaced (with their other rows).
    pub replaced_cases: u64,
    pub policy: String,
    pub pseudonymised: bool,
    pub code_list: ConfigSource,
    pub thresholds: ConfigSource,
}

/// A warehouse folder, or a warehouse given as a URL and read through object_store.
#[derive(Debug, Clone)]
pub struct Warehouse {
    /// The folder; for a URL, the URL as given (for messages).
    pub root: PathBuf,
    pub remote: Option<Remote>,
}

/// Where a warehouse given as a URL is read from.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The warehouse's URL, ending in `/`.
    pub url: url::Url,
    pub store: Arc<dyn ObjectStore>,
    /// The warehouse's path within the store.
    prefix: object_store::path::Path,
    /// Files already fetched: a URL warehouse is read only, and one command reads its
    /// manifest several times (kept configuration, session, source line).
    fetched: Arc<std::sync::Mutex<BTreeMap<String, Option<String>>>>,
}

impl Warehouse {
    pub fn new(root: impl Into<PathBuf>) -> Warehouse {
        Warehouse {
            root: root.into(),
            remote: None,
        }
    }

    /// A warehouse to read: a folder, or a URL read through object_store: `file://`, and
    /// `s3://` or `az://` with the `cloud` feature. Store options come from the
    /// environment (`AWS_*`, `AZURE_*`).
    pub fn locate(location: &Path) -> Result<Warehouse> {
        let text = location.to_string_lossy().to_string();
        if !text.contains("://") {
            return Ok(Warehouse::new(location));
        }
        let bad = |message: String| Error::Warehouse {
            path: location.to_path_buf(),
            message,
        };
        let mut url = url::Url::parse(&text).map_err(|e| bad(format!("not a URL: {e}")))?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let options = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("AZURE_"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v));
        let (store, prefix) = object_store::parse_url_opts(&url, options).map_err(|e| {
            bad(format!(
                "{e}: this casework reads file:// warehouse URLs (s3:// and az:// need a build with --features cloud)"
            ))
        })?;
        Ok(Warehouse {
            root: PathBuf::from(text),
            remote: Some(Remote {
                url,
                store: Arc::from(store),
                prefix,
                fetched: Arc::default(),
            }),
        })
    }

    /// A file of the warehouse as text; `None` when there is no such file.
    fn read_text(&self, relative: &str) -> Result<Option<String>> {
        let path = self.root.join(relative);
        let Some(remote) = &self.remote else {
            return match fs::read_to_string(&path) {
                Ok(t) => Ok(Some(t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(path, e)),
            };
        };
        if let Some(text) = remote
            .fetched
            .lock()
            .ok()
            .and_then(|f| f.get(relative).cloned())
        {
            return Ok(text);
        }
        let location = object_store::path::Path::from(format!("{}/{relative}", remote.prefix));
        let store = remote.store.clone();
        // object_store is async; this runs it to completion on a thread of its own, so
        // it works inside or outside the caller's runtime.
        let got = std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(Error::Runtime)?;
                Ok(rt.block_on(async {
                    match store.get(&location).await {
                        Ok(r) => r.bytes().await.map(Some),
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(e),
                    }
                }))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::Warehouse {
                    path: path.clone(),
                    message: "the object store reader failed".into(),
                })
            })
        })?;
        let bytes = got.map_err(|e| Error::Warehouse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let text = bytes
            .map(|b| {
                String::from_utf8(b.to_vec()).map_err(|_| Error::Warehouse {
                    path: path.clone(),
                    message: "not UTF-8 text".into(),
                })
            })
            .transpose()?;
        if let Ok(mut fetched) = remote.fetched.lock() {
            fetched.insert(relative.to_string(), text.clone());
        }
        Ok(text)
    }

    /// The code list and thresholds the latest ingest used, as kept in the warehouse
    /// (`None` for each that is the embedded default or was not kept).
    pub fn stored_config(&self) -> Result<(Option<CodeList>, Option<Thresholds>)> {
        let Some(m) = self.manifest()? else {
            return Ok((None, None));
        };
        let Some(last) = m.ingests.last() else {
            return Ok((None, None));
        };
        let read = |file: &str| self.read_text(&format!("{}/{file}", m.version));
        let codes = match read(CODES_FILE)? {
            Some(t) if !last.code_list.name.starts_with("embedded:") => {
                Some(CodeList::parse(&t, last.code_list.name.clone())?)
            }
            _ => None,
        };
        let thresholds = match read(THRESHOLDS_FILE)? {
            Some(t) if !last.thresholds.name.starts_with("embedded:") => {
                Some(Thresholds::parse(&t, last.thresholds.name.clone())?)
            }
            _ => None,
        };
        Ok((codes, thresholds))
    }

    /// The committed manifest, or `None` for a warehouse that holds nothing yet.
    pub fn manifest(&self) -> Result<Option<Manifest>> {
        let path = self.root.join(MANIFEST);
        let Some(text) = self.read_text(MANIFEST)? else {
            return Ok(None);
        };
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::Warehouse {
            path: path.clone(),
            message: format!("manifest is not readable: {e}"),
        })?;
        if manifest.format != FORMAT {
            return Err(Error::Warehouse {
                path,
                message: format!(
                    "format {:?} is not {FORMAT:?}: written by another casework version",
                    manifest.format
                ),
            });
        }
        Ok(Some(manifest))
    }

    /// The committed manifest; an error for a warehouse that holds nothing yet.
    pub fn committed(&self) -> Result<Manifest> {
        self.manifest()?.ok_or_else(|| Error::Warehouse {
            path: self.root.clone(),
            message: "holds no data yet: run `casework ingest BUNDLE` first".into(),
        })
    }

    /// The committed files of a table, as absolute paths.
    pub fn files(&self, manifest: &Manifest, table: &str) -> Vec<PathBuf> {
        manifest
            .tables
            .get(table)
            .map(|t| t.files.iter().map(|f| self.root.join(f)).collect())
            .unwrap_or_default()
    }

    /// Starts a new version beside the committed one. Holds the warehouse's lock until
    /// the staging is committed or dropped, so that two ingests never interleave.
    pub fn begin(&self, ingest: u32) -> Result<Staging> {
        if self.remote.is_some() || self.root.to_string_lossy().contains("://") {
            return Err(Error::Usage(format!(
                "{}: a warehouse URL is read only; ingest writes to a local folder",
                self.root.display()
            )));
        }
        fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let lock_path = self.root.join(".lock");
        let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        lock.try_lock().map_err(|_| Error::Warehouse {
            path: self.root.clone(),
            message: "another casework process is writing this warehouse (.lock is held)".into(),
        })?;
        let committed = self.manifest()?.map(|m| m.version);
        self.remove_uncommitted(committed.as_deref())?;
        let version = format!("v{ingest:06}");
        let dir = self.root.join(&version);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging {
            root: self.root.clone(),
            version,
            writers: BTreeMap::new(),
            done: BTreeMap::new(),
            ingest,
            _lock: lock,
        })
    }

    /// Removes version folders and temporary files that the committed manifest does not
    /// name: left-overs of an interrupted ingest or of versions replaced by a commit.
    fn remove_uncommitted(&self, keep: Option<&str>) -> Result<()> {
        let entries = fs::read_dir(&self.root).map_err(|e| Error::io(&self.root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.root, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let path = entry.path();
            let is_version = name.starts_with('v')
                && name.len() == 7
                && name[1..].chars().all(|c| c.is_ascii_digit());
            if is_version && Some(name.as_str()) != keep {
                fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            } else if name.ends_with(".tmp") {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(())
    }
}

/// Writer settings for every warehouse file: zstd, page-level statistics, dictionary
/// encoding, row groups sized for scans. No row order is declared (`sorting_columns`
/// stays unset): each row group is sorted by `case_id` for tight statistics, but the row
/// groups of a file are not in order across it, and DataFusion acts on a declared order
/// as the whole file's (issue 13; docs/measures.md, "What the engine trusts").
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_sorting_columns(None)
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        // Row groups are cut by `Staging`, which gathers ROW_GROUP_ROWS rows plus at most
        // one batch: the writer's own cap is only a backstop.
        .set_max_row_group_row_count(Some(2 * row_group_rows()))
        .set_created_by(format!("casework {}", env!("CARGO_PKG_VERSION")))
        .build()
}

struct OpenFile {
    table: String,
    file: File,
    writer: ArrowWriter<File>,
    rows: u64,
    /// Batches of the row group being gathered, and their rows.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    sort_column: Option<usize>,
}

impl OpenFile {
    /// Writes the gathered batches as one row group, sorted by `case_id` (stable, so
    /// rows of one case keep their input order). The sort is within the row group only
    /// and is not declared in the file's metadata.
    fn write_row_group(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let schema = self.pending[0].schema();
        let mut batch = arrow::compute::concat_batches(&schema, &self.pending)?;
        self.pending.clear();
        self.pending_rows = 0;
        if let Some(i) = self.sort_column {
            let options = arrow::compute::SortOptions {
                descending: false,
                nulls_first: false,
            };
            let order = arrow::compute::lexsort_to_indices(
                &[arrow::compute::SortColumn {
                    values: batch.column(i).clone(),
                    options: Some(options),
                }],
                None,
            )?;
            let sorted_in_place = order
                .values()
                .iter()
                .enumerate()
                .all(|(n, &v)| n == v as usize);
            if !sorted_in_place {
                batch = arrow::compute::take_record_batch(&batch, &order)?;
            }
        }
        self.writer.write(&batch)?;
        self.writer.flush()?;
        Ok(())
    }
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
    /// Appends a batch to a table; `partition` is the cases' opened year. Batches are
    /// gathered into row groups of [`ROW_GROUP_ROWS`] rows, each sorted by `case_id`, so
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
            let sort_column = batch.schema().index_of("case_id").ok();
            let writer = ArrowWriter::try_new(handle, batch.schema(), Some(writer_properties()))?;
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
    /// warehouse whose files may claim an order (written before issue 13's fix): this
    /// ingest migrates it. Returns the rows dropped per table.
    pub fn carry_over(
        &mut self,
        old: &Manifest,
        replaced: &HashSet<String>,
    ) -> Result<BTreeMap<String, u64>> {
        let mut dropped = BTreeMap::new();
        for (table, files) in &old.tables {
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
                if keep.is_none() && old.files_may_claim_order {
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
                        let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
                        let mut offset = 0;
                        for batch in reader {
                            let batch = batch?;
                            let part = mask.slice(offset, batch.num_rows());
                            offset += batch.num_rows();
                            let kept = filter_record_batch(&batch, &part)?;
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
        replaced: &HashSet<String>,
    ) -> Result<(u64, Option<BooleanArray>)> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let rows = builder.metadata().file_metadata().num_rows() as u64;
        let Some(index) = builder
            .schema()
            .fields()
            .iter()
            .position(|f| f.name() == "case_id")
        else {
            return Ok((rows, None));
        };
        if replaced.is_empty() {
            return Ok((rows, None));
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
        let mut keep = Vec::with_capacity(rows as usize);
        for batch in builder.with_projection(mask).build()? {
            let batch = batch?;
            let ids = batch.column(0).as_string::<i32>();
            keep.extend((0..ids.len()).map(|i| !replaced.contains(ids.value(i))));
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

    /// Finishes every file, writes the new manifest aside and renames it over the old
    /// one (the commit), then removes the versions it replaced.
    pub fn commit(mut self, old: Option<Manifest>, record: IngestRecord) -> Result<Manifest> {
        for (rel, mut open) in std::mem::take(&mut self.writers) {
            open.write_row_group()?;
            open.writer.close()?;
            open.file
                .sync_all()
                .map_err(|e| Error::io(self.root.join(&rel), e))?;
            self.done
                .entry(open.table)
                .or_default()
                .insert(rel, open.rows);
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
