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

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::{ObjectStore, ObjectStoreExt};

mod manifest;
mod staging;

pub use manifest::{Counts, IngestRecord, InputFile, Manifest, TableFiles};
pub use staging::{Staging, writer_properties};

use crate::error::{Error, Result};
use crate::spec::{CodeList, Thresholds};

pub const MANIFEST: &str = "manifest.json";

/// A committed file that the parquet crate cannot read: the error names it, and says
/// what to do.
pub fn unreadable(path: &Path, e: parquet::errors::ParquetError) -> Error {
    Error::Warehouse {
        path: path.to_path_buf(),
        message: format!(
            "not a readable Parquet file ({e}): the warehouse is damaged; restore this file from a backup, or ingest the bundles again into a new warehouse"
        ),
    }
}

/// The first of `files` whose Parquet footer cannot be read, as the error naming it.
/// Called after a query fails with a Parquet error (DataFusion's message does not
/// name the file).
pub fn first_unreadable(files: &[PathBuf]) -> Option<Error> {
    files.iter().find_map(|path| {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return Some(Error::io(path, e)),
        };
        parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .err()
            .map(|e| unreadable(path, e))
    })
}
/// The code list and thresholds an ingest used, kept in its version folder.
pub const CODES_FILE: &str = "codes.csv";
pub const THRESHOLDS_FILE: &str = "thresholds.toml";
/// The study an ingest used (docs/studies.md), kept likewise.
pub const STUDY_FILE: &str = "study.toml";
pub const FORMAT: &str = "casework-warehouse/1";
/// Tables a warehouse may hold, in manifest order.
pub const TABLES: [&str; 6] = [
    "cases",
    "findings",
    "events",
    "recommendations",
    "codings",
    "rejects",
];
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

/// A warehouse folder, or a warehouse given as a URL and read through object_store.
#[derive(Debug, Clone)]
pub struct Warehouse {
    /// The folder; for a URL, the URL as given (for messages).
    pub root: PathBuf,
    pub remote: Option<Remote>,
    /// A folder's manifest as last read, by the file it was read from (device, inode,
    /// length and time modified: a commit renames a new file into place): a server reads
    /// it for every page, and parses it again only when it has changed.
    read: Arc<std::sync::Mutex<Option<(ManifestFile, Manifest)>>>,
}

/// Which file a manifest was read from, and as it was then.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ManifestFile {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl ManifestFile {
    fn of(path: &Path) -> Option<ManifestFile> {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(path).ok()?;
        Some(ManifestFile {
            device: m.dev(),
            inode: m.ino(),
            len: m.len(),
            modified: m.modified().ok(),
        })
    }
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
            read: Arc::default(),
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
            read: Arc::default(),
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
        // The kept text under the name it was used by (`embedded:…` for a list built
        // into casework: the same list, read back).
        let codes = match read(CODES_FILE)? {
            Some(t) => Some(CodeList::parse(&t, last.code_list.name.clone())?),
            None => None,
        };
        let thresholds = match read(THRESHOLDS_FILE)? {
            Some(t) => Some(Thresholds::parse(&t, last.thresholds.name.clone())?),
            None => None,
        };
        Ok((codes, thresholds))
    }

    /// The study kept by the last ingest, checked against `codes` (the code list in
    /// force); `None` for a warehouse written before studies were kept.
    pub fn stored_study(&self, codes: &CodeList) -> Result<Option<crate::spec::study::StudyFile>> {
        let Some(m) = self.manifest()? else {
            return Ok(None);
        };
        let name = format!("{}/{STUDY_FILE}", m.version);
        match self.read_text(&name)? {
            Some(text) => Ok(Some(crate::spec::study::StudyFile::parse_stored(
                &text, &name, codes,
            )?)),
            None => Ok(None),
        }
    }

    /// The committed manifest, or `None` for a warehouse that holds nothing yet.
    pub fn manifest(&self) -> Result<Option<Manifest>> {
        let path = self.root.join(MANIFEST);
        // A folder's manifest unchanged since it was last read is not parsed again.
        let file = self
            .remote
            .is_none()
            .then(|| ManifestFile::of(&path))
            .flatten();
        if let Some(file) = &file
            && let Ok(read) = self.read.lock()
            && let Some((f, m)) = read.as_ref()
            && f == file
        {
            return Ok(Some(m.clone()));
        }
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
        if let (Some(file), Ok(mut read)) = (file, self.read.lock()) {
            *read = Some((file, manifest.clone()));
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

    /// Starts a new version beside the committed one, returning it and the committed
    /// manifest it builds on. The warehouse's lock is taken first (waiting as `wait`
    /// says), and only then is the manifest read and the new version's number chosen, so
    /// that two ingests never build on the same state; the lock is held until the staging
    /// is committed or dropped. The version folder is created new (never an existing
    /// one), so `abort` removes only what this ingest wrote.
    pub fn begin(&self, wait: LockWait) -> Result<(Staging, Option<Manifest>)> {
        if self.remote.is_some() || self.root.to_string_lossy().contains("://") {
            return Err(Error::Usage(format!(
                "{}: a warehouse URL is read only; ingest writes to a local folder",
                self.root.display()
            )));
        }
        fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let lock_path = self.root.join(".lock");
        let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        lock_with_wait(&lock, wait).map_err(|message| Error::Warehouse {
            path: self.root.clone(),
            message,
        })?;
        pause_point("locked");
        let old = self.manifest()?;
        self.remove_uncommitted(old.as_ref().map(|m| m.version.as_str()))?;
        let ingest = old.as_ref().map_or(0, |m| m.ingests.len() as u32) + 1;
        let version = format!("v{ingest:06}");
        let dir = self.root.join(&version);
        if old.as_ref().is_some_and(|m| m.version == version) {
            return Err(Error::Warehouse {
                path: self.root.clone(),
                message: format!(
                    "the manifest names {version} as committed but lists {} ingests: \
                     refusing to write over it",
                    ingest - 1
                ),
            });
        }
        fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok((Staging::new(self.root.clone(), version, ingest, lock), old))
    }

    /// Removes version folders and temporary files that the committed manifest does not
    /// name: left-overs of an interrupted ingest or of versions replaced by a commit.
    pub(crate) fn remove_uncommitted(&self, keep: Option<&str>) -> Result<()> {
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

/// How long an ingest waits for another process's lock on the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// Fail at once (the default).
    No,
    /// Wait at most this long.
    For(std::time::Duration),
    /// Wait as long as it takes.
    Forever,
}

fn lock_with_wait(lock: &File, wait: LockWait) -> std::result::Result<(), String> {
    let held = "another casework process is writing this warehouse (.lock is held)";
    match wait {
        LockWait::No => lock
            .try_lock()
            .map_err(|_| format!("{held}; give --wait to wait for it")),
        LockWait::Forever => lock.lock().map_err(|e| format!("{held}: {e}")),
        LockWait::For(limit) => {
            let start = std::time::Instant::now();
            loop {
                if lock.try_lock().is_ok() {
                    return Ok(());
                }
                if start.elapsed() >= limit {
                    return Err(format!(
                        "{held}, and was still held after waiting {} s",
                        limit.as_secs()
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

/// For tests of concurrent writers: when `CASEWORK_TEST_PAUSE_AT` names this point, the
/// process sleeps `CASEWORK_TEST_PAUSE_MS` milliseconds (default 2,000) there.
fn pause_point(name: &str) {
    if std::env::var("CASEWORK_TEST_PAUSE_AT").is_ok_and(|v| v == name) {
        let ms = std::env::var("CASEWORK_TEST_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
