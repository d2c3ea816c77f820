//! XLSX bundles: the size check on the zip directory, calamine's reading of the workbook,
//! sheet names, cell types (numbers, dates, booleans, errors) and the validator.
//!
//! An input starting with `PK` is the workbook's bytes. Any other input is the workbook's
//! parts, each after a line `==== PATH` with `/` written as `~` (for example
//! `==== xl~worksheets~sheet1.xml`), zipped here with correct checksums: mutations then
//! reach the XML rather than stopping at the zip's CRC check.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: {
    // Panics inside calamine (overflow on impossible cell references) unwind to the
    // reader, which must catch them and report the workbook as unreadable; any other
    // panic still reaches libFuzzer as a crash.
    casework::input::quiet_caught_reader_panics();
}, |data: &[u8]| {
    let workbook = if data.starts_with(b"PK") {
        data.to_vec()
    } else {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in casework_fuzz::files(data, "[Content_Types].xml") {
            let path = name.replace('~', "/");
            if zip.start_file(path, stored).is_err() || zip.write_all(bytes).is_err() {
                return;
            }
        }
        match zip.finish() {
            Ok(cursor) => cursor.into_inner(),
            Err(_) => return,
        }
    };
    let dir = casework_fuzz::scratch();
    std::fs::write(dir.join("bundle.xlsx"), workbook).expect("the temporary folder is writable");
    casework_fuzz::read_bundle_dir(&dir);
});
