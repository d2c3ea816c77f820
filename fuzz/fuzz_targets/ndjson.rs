//! NDJSON bundles: the NDJSON reader (JSON syntax, objects, value types, line cap) and
//! the validator. The input is the bundle's files, each after a line `==== NAME` (the
//! first is cases.ndjson); .ndjson files and a `codes.csv` code list are kept.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let files: Vec<_> = casework_fuzz::files(data, "cases.ndjson")
        .into_iter()
        .filter(|(name, _)| name.ends_with(".ndjson") || name == "codes.csv")
        .collect();
    let dir = casework_fuzz::scratch();
    casework_fuzz::write(&dir, &files);
    casework_fuzz::read_bundle_dir(&dir);
});
