//! The CSV splitter (`input/records.rs`, hand-written for speed) fed a few bytes at a
//! time: the first byte of the input sets the read size (1 to 16 bytes), the rest is
//! the file. Lines and multi-byte characters then straddle reads, where the splitter
//! decides which records it has already checked as UTF-8 (`csv.rs` takes those bytes as
//! text unchecked). Checked on every run (`input::split_in_small_reads`): a record known
//! to be UTF-8 is valid UTF-8, a UTF-8 input's lines split by hand are all known to be,
//! every byte is consumed; and the records, fields and line numbers are the same
//! whatever the read size (against one read of the whole input).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let small = usize::from(first % 16) + 1;
    let trickled = casework::input::split_in_small_reads(input, small);
    let whole = casework::input::split_in_small_reads(input, input.len().max(1));
    assert_eq!(trickled, whole, "read {small} bytes at a time");
});
