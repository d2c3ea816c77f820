//! CSV bundles: the CSV reader (quoting, UTF-8, header, line and field caps), the
//! cross-file checks and the validator. The input is the bundle's files, each after a
//! line `==== NAME` (the first is cases.csv); only .csv files are kept.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let files: Vec<_> = casework_fuzz::files(data, "cases.csv")
        .into_iter()
        .filter(|(name, _)| name.ends_with(".csv"))
        .collect();
    let dir = casework_fuzz::scratch();
    casework_fuzz::write(&dir, &files);
    casework_fuzz::read_bundle_dir(&dir);
});
