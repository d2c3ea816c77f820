//! Resource limits on input, so that a hostile or broken file cannot exhaust memory:
//! the longest line, the longest field, the rows of one file and the size a workbook
//! expands to. Each has a default for real exports and a command-line flag.

use std::io::{self, Read};

/// The caps in force for one ingest or validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest physical line of a CSV or NDJSON file, in bytes.
    pub max_line_bytes: usize,
    /// Longest field value, in bytes (text, after reading).
    pub max_field_bytes: usize,
    /// Most data rows in one file or sheet.
    pub max_rows: u64,
    /// Most bytes an XLSX workbook may expand to (the sum of its parts uncompressed).
    pub max_xlsx_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line_bytes: 1 << 20,
            max_field_bytes: 64 << 10,
            max_rows: 200_000_000,
            max_xlsx_bytes: 1 << 30,
        }
    }
}

/// A reader that fails with `InvalidData` when a line runs longer than `max` bytes, so a
/// file with no line breaks is refused before it is buffered whole.
pub struct LineLimit<R> {
    inner: R,
    max: usize,
    current: usize,
    line: u64,
}

impl<R: Read> LineLimit<R> {
    /// `first_line` is the number of the line the reader starts on.
    pub fn new(inner: R, max: usize, first_line: u64) -> LineLimit<R> {
        LineLimit {
            inner,
            max,
            current: 0,
            line: first_line,
        }
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        // Line breaks found with memchr (vectorised): every byte passes here.
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &buf[..n]).chain(std::iter::once(n)) {
            self.current += end - start;
            if self.current > self.max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {} is longer than {} bytes (the --max-line-bytes limit): not a line of a case export",
                        self.line, self.max
                    ),
                ));
            }
            if end < n {
                self.current = 0;
                self.line += 1;
            }
            start = end + 1;
        }
        Ok(n)
    }
}

/// The message for a field over the limit.
pub fn field_message(bytes: usize, limits: &Limits) -> String {
    format!(
        "the value is {bytes} bytes long; at most {} are read (the --max-field-bytes limit)",
        limits.max_field_bytes
    )
}

/// The message for a file over the row limit.
pub fn rows_message(limits: &Limits) -> String {
    format!(
        "the file has more than {} rows (the --max-rows limit): split it, or raise the limit",
        limits.max_rows
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_fails_with_its_number_and_short_lines_pass() {
        let text = b"ab\ncdef\nghijklmnop\n";
        let mut out = Vec::new();
        let e = LineLimit::new(&text[..], 5, 1)
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(
            e.to_string().starts_with("line 3 is longer than 5 bytes"),
            "{e}"
        );
        let mut out = Vec::new();
        LineLimit::new(&text[..], 10, 1)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, text);
    }
}
