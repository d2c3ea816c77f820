//! The files around the rows: input files hashed for the manifest, the exposure file,
//! and keys read from files.

use super::*;

/// SHA-256 (hex) and size of input files, by path.
pub(super) type Digests = Arc<std::sync::Mutex<HashMap<std::path::PathBuf, (String, u64)>>>;

/// Hashes the input files that are not bundle CSV files (those are hashed as they are
/// read): workbooks, NDJSON, exports read through a mapping.
pub(super) fn hash_other_files(
    bundle: &Bundle,
) -> Result<HashMap<std::path::PathBuf, (String, u64)>> {
    let mut digests = HashMap::new();
    for source in bundle.sources.iter().filter(|s| !s.reads_in_chunks()) {
        if !digests.contains_key(&source.path) {
            digests.insert(source.path.clone(), input::sha256_file(&source.path)?);
        }
    }
    Ok(digests)
}

/// The input files, each hashed once (a workbook, or an export read through a mapping,
/// is one file behind several record types): from `hashed`, or now (a CSV file whose
/// reading stopped before its end).
pub(super) fn input_files(
    bundle: &Bundle,
    hashed: &HashMap<std::path::PathBuf, (String, u64)>,
) -> Result<Vec<InputFile>> {
    let mut inputs = Vec::new();
    let mut seen: HashSet<std::path::PathBuf> = HashSet::new();
    for source in &bundle.sources {
        if seen.insert(source.path.clone()) {
            let (sha256, bytes) = match hashed.get(&source.path) {
                Some(digest) => digest.clone(),
                None => input::sha256_file(&source.path)?,
            };
            inputs.push(InputFile {
                record_type: source.record_type.name().to_string(),
                file: source.file.clone(),
                sheet: source.sheet.clone(),
                format: format!("{:?}", source.format).to_lowercase(),
                bytes,
                sha256,
            });
        }
    }
    Ok(inputs)
}

/// The exposure that comes with the data: a bundle's `exposure.csv`, or the file a
/// mapping's `[exposure]` names (relative to the mapping's folder). Its values replace the study's
/// lookup (docs/oversight.md, "Rates per exposure"). A study that reads themes per
/// exposure must have values from one or the other. Returns the summary's note.
pub(super) fn take_exposure(bundle_dir: &Path, options: &mut Options) -> Result<Option<String>> {
    use crate::spec::study::{ExposureColumns, ExposureSpec};
    let from = match &options.mapping {
        Some(m) => match &m.exposure {
            Some(e) if !e.path.is_file() => {
                return Err(Error::Config {
                    file: m.path.clone(),
                    message: format!(
                        "[exposure] file {:?}: no such file at {}{}",
                        e.file,
                        e.path.display(),
                        crate::mapping::moved_hint(
                            &e.file,
                            bundle_dir.parent().unwrap_or(Path::new("."))
                        )
                    ),
                });
            }
            Some(e) => Some((e.path.clone(), e.columns.clone())),
            None => None,
        },
        None => {
            let p = bundle_dir.join("exposure.csv");
            p.is_file().then(|| (p, ExposureColumns::default()))
        }
    };
    let mut note = None;
    if let Some((path, columns)) = from {
        let values = ExposureSpec::read_file_with(&path, &columns)?;
        let n = values.len();
        options.study.take_exposure(values, &path)?;
        let organisations = options
            .study
            .exposure
            .as_ref()
            .map_or(0, |e| e.organisations().len());
        note = Some(format!(
            "exposure: {n} values for {organisations} organisations read from {} (they replace the study's lookup)",
            path.display()
        ));
    }
    if options
        .study
        .exposure
        .as_ref()
        .is_some_and(|e| e.values.is_empty())
    {
        return Err(Error::Usage(
            "the study reads themes per exposure ([exposure]) but has no values: give its file or values in study.toml, an exposure.csv in the bundle, or [exposure] in the mapping (docs/studies.md)".into(),
        ));
    }
    Ok(note)
}

/// Reads a pseudonymisation key: at least 32 bytes, from a private file
/// ([`read_secret`]). The key's bytes are never printed or logged.
pub fn read_key(path: &Path) -> Result<Vec<u8>> {
    let key = read_secret(path, "key")?;
    if key.len() < 32 {
        return Err(Error::Config {
            file: path.to_path_buf(),
            message: format!(
                "the key is {} bytes long; a pseudonymisation key must be at least 32 bytes",
                key.len()
            ),
        });
    }
    Ok(key)
}

/// Reads a secret (`what`: "key", "token") from a file. On Unix the file must be a
/// regular file that only its owner can read or write (mode 600 or 400): a secret
/// others can read is no secret, and casework refuses it rather than warn.
pub fn read_secret(path: &Path, what: &str) -> Result<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| Error::Config {
            file: path.to_path_buf(),
            message: format!("cannot read the {what} file: {e}"),
        })?;
        if !meta.is_file() {
            return Err(Error::Config {
                file: path.to_path_buf(),
                message: format!("the {what} file is not a regular file"),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Config {
                file: path.to_path_buf(),
                message: format!(
                    "the {what} file can be read or written by others (mode {mode:03o}); make it private with chmod 600"
                ),
            });
        }
    }
    std::fs::read(path).map_err(|e| Error::Config {
        file: path.to_path_buf(),
        message: format!("cannot read the {what} file: {e}"),
    })
}
