//! Mappings: the TOML loader (every error names a line of the mapping), binding to an
//! export with lookup files, the mapped rows (columns, splits, value maps, dates,
//! lookups, `skip_if`, `require`) and the validator after them.
//!
//! The input is the mapping, then the export after `==== export.csv` (or
//! `==== export.xlsx`), then any lookup files and `codes.csv`, each after `==== NAME`.
//! Runs stay inside their folder: a mapping whose lookup or exposure file resolves outside
//! it (paths in a mapping resolve against its folder, and may leave it) is not bound, and
//! the code list and thresholds it names are not read here.
#![no_main]

use casework::error::Error;
use casework::mapping::Mapping;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = casework_fuzz::scratch();
    casework_fuzz::write(&dir, &casework_fuzz::files(data, "mapping.toml"));
    let path = dir.join("mapping.toml");
    let mapping = match Mapping::load(&path) {
        Ok(m) => m,
        Err(Error::Config { file, message }) => {
            assert_eq!(file, path, "a mapping error names the mapping");
            assert!(
                message.starts_with("line "),
                "a mapping error names the line: {message}"
            );
            return;
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let inside = |p: &std::path::Path| {
        p.parent()
            .and_then(|d| d.canonicalize().ok())
            .is_some_and(|d| d == dir.canonicalize().unwrap_or_default())
    };
    if !mapping.files_read().iter().all(|p| inside(p)) {
        return;
    }
    let Some(export) = ["export.csv", "export.xlsx"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
    else {
        return;
    };
    match mapping.bind(&export) {
        Ok((bundle, _)) => {
            casework_fuzz::read_bundle(&bundle, casework_fuzz::codes(&dir));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
