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
        let data = &buf[..n];
        // Line breaks found with memchr (vectorised): every byte passes here. The lines
        // between the first break and the last are measured one by one only when they
        // could hold one over the limit; otherwise they are only counted.
        let Some(first) = memchr::memchr(b'\n', data) else {
            self.current += n;
            return self.within().map(|()| n);
        };
        self.current += first;
        self.within()?;
        self.line += 1;
        let last = memchr::memrchr(b'\n', data).expect("a line break");
        if last - first > self.max {
            let mut start = first + 1;
            for end in memchr::memchr_iter(b'\n', &data[first + 1..=last]) {
                let end = first + 1 + end;
                self.current = end - start;
                self.within()?;
                self.line += 1;
                start = end + 1;
            }
        } else {
            self.line += memchr::memchr_iter(b'\n', &data[first + 1..=last]).count() as u64;
        }
        self.current = n - last - 1;
        self.within().map(|()| n)
    }
}

impl<R> LineLimit<R> {
    /// The reader underneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// An error when the line being read (`current` bytes so far) is over the limit.
    fn within(&self) -> io::Result<()> {
        if self.current <= self.max {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "line {} is longer than {} bytes (the --max-line-bytes limit): not a line of a case export",
                self.line, self.max
            ),
        ))
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
        // In one read: the long line between two short ones is found, and so is a long
        // last line; the line numbers count from the first line given.
        let long = |text: &[u8], max, first| {
            let mut out = Vec::new();
            let mut reader = LineLimit::new(text, max, first);
            reader.read_to_end(&mut out).err().map(|e| e.to_string())
        };
        let said = |line: u64, max: usize| {
            Some(format!(
                "line {line} is longer than {max} bytes (the --max-line-bytes limit): not a line of a case export"
            ))
        };
        assert_eq!(long(b"a\nbbbbbbb\nc\nd\n", 5, 1), said(2, 5));
        assert_eq!(long(b"a\nb\nc\ndddddd", 5, 3), said(6, 5));
        assert_eq!(long(b"aaaaaa\nb\n", 5, 1), said(1, 5));
        assert_eq!(long(b"a\nbbbbb\nccccc\nddddd\n", 5, 1), None);
    }
}
