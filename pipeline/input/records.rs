//! CSV records split from the file's bytes: the reading loop of [`super::csv`].
//!
//! Hand-written on purpose (a hot path: a million cases' bundle is 11 million lines).
//! A line that holds no quote and no carriage return other than its CRLF ending is a
//! record whose fields are the text between its commas; that is exactly what the
//! `csv-core` state machine finds in such a line, and here it is found with `memchr`
//! and no copy. Every other record (a quoted field, one running over lines, a lone
//! carriage return) goes to `csv-core` itself, from the record's first byte: at every
//! record boundary csv-core's reader is in a state that reads the next record as at
//! the start of a line, so the two paths can take turns. `tests::the_split_is_csv_cores` checks both against the `csv`
//! crate on generated messy input.
//!
//! Each record carries the number of the line its first byte is on. (The `csv` crate
//! gives the position before any blank lines and before the `\n` of a CRLF ending,
//! which put every row of a Windows export on the line above its own.)

use std::io::{self, Read};

/// Bytes asked of the file at a time.
const READ_BYTES: usize = 1 << 18;

/// Bytes kept free past the end of the bytes read, so a block of 64 can always be
/// loaded (the bytes past the end are masked off).
const SLACK: usize = 64;

/// A CSV file's records, read one at a time.
pub(super) struct Records<R> {
    input: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    core: csv_core::Reader,
    /// Line number of `buf[start]` (lines counted by `\n`, as csv-core counts them).
    next_line: u64,
    /// Bytes of the input consumed.
    consumed: u64,
    /// The last record: its line, and where its fields are.
    record_line: u64,
    /// The record is `buf[a..b]` (a line split by hand), or csv-core's output.
    fast: Option<(usize, usize)>,
    text: Vec<u8>,
    ends: Vec<usize>,
    /// Field `i` is `bytes()[ranges[i].0..ranges[i].1]`.
    ranges: Vec<(usize, usize)>,
    /// Whether the input's start (and a byte-order mark there) has been read.
    started: bool,
    /// `buf[..utf8_end]` is valid UTF-8: checked once a read, not once a record.
    utf8_end: usize,
}

impl<R: Read> Records<R> {
    pub(super) fn new(input: R) -> Records<R> {
        Records {
            input,
            buf: vec![0; READ_BYTES + SLACK],
            start: 0,
            end: 0,
            eof: false,
            core: csv_core::Reader::new(),
            next_line: 1,
            consumed: 0,
            record_line: 0,
            fast: None,
            text: vec![0; 1 << 12],
            ends: vec![0; 64],
            ranges: Vec::with_capacity(64),
            started: false,
            utf8_end: 0,
        }
    }

    /// Reads the next record; `false` at the end of the input.
    pub(super) fn read(&mut self) -> io::Result<bool> {
        self.fast = None;
        self.ranges.clear();
        if !self.started {
            self.start_input()?;
        }
        // Blank lines (and the ends of CRLF ones) between records hold no record, as
        // for csv-core.
        loop {
            match self.buf[self.start..self.end]
                .iter()
                .position(|&b| b != b'\n' && b != b'\r')
            {
                Some(skip) => {
                    self.skip(skip);
                    break;
                }
                None => {
                    self.skip(self.end - self.start);
                    if !self.fill()? {
                        return Ok(false);
                    }
                }
            }
        }
        self.record_line = self.next_line;
        match self.split_line()? {
            Some(next) => {
                self.consumed += (next - self.start) as u64;
                self.start = next;
                Ok(true)
            }
            None => {
                self.ranges.clear();
                self.read_core()
            }
        }
    }

    /// Splits the line at `start` by hand, its fields into `ranges`: the byte after its
    /// terminator, or `None` when the line holds a quote or a lone carriage return
    /// (csv-core reads it). The bytes that matter are found 64 at a time ([`specials`]).
    fn split_line(&mut self) -> io::Result<Option<usize>> {
        // Offsets from `start` (which a refill moves): the next byte to look at, and the
        // start of the current field.
        let (mut at, mut field) = (0, 0);
        loop {
            if self.start + at >= self.end {
                if !self.fill()? {
                    // The last line, with no line break.
                    self.ranges.push((field, at));
                    self.fast = Some((self.start, self.end));
                    return Ok(Some(self.end));
                }
                continue;
            }
            let base = self.start + at;
            let len = (self.end - base).min(64);
            let mut mask = specials(&self.buf[base..base + 64]);
            if len < 64 {
                mask &= (1u64 << len) - 1;
            }
            at = base + len - self.start;
            while mask != 0 {
                let p = base + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let (content_end, next) = match self.buf[p] {
                    b',' => {
                        self.ranges.push((field, p - self.start));
                        field = p + 1 - self.start;
                        continue;
                    }
                    b'\n' => (p, p + 1),
                    b'\r' if p + 1 < self.end => {
                        if self.buf[p + 1] != b'\n' {
                            return Ok(None);
                        }
                        (p, p + 2)
                    }
                    // A carriage return at the end of the input ends the record as csv-core
                    // reads it; one at the end of the bytes read waits for the next.
                    b'\r' if self.eof => (p, p + 1),
                    b'\r' => {
                        at = p - self.start;
                        self.fill()?;
                        break;
                    }
                    _ => return Ok(None),
                };
                self.next_line += u64::from(self.buf[next - 1] == b'\n');
                self.ranges.push((field, content_end - self.start));
                self.fast = Some((self.start, content_end));
                return Ok(Some(next));
            }
        }
    }

    /// Drops a UTF-8 byte-order mark at the start of the input, as csv-core would on its
    /// first call; csv-core is then told it has read (an empty output takes no input),
    /// so it never looks for one at a later record.
    fn start_input(&mut self) -> io::Result<()> {
        self.started = true;
        while self.end - self.start < 3 && self.fill()? {}
        if self.buf[self.start..self.end].starts_with(b"\xEF\xBB\xBF") {
            self.start += 3;
            self.consumed += 3;
        }
        let _ = self.core.read_record(b" ", &mut [], &mut [0]);
        Ok(())
    }

    /// Reads the record at `start` with csv-core.
    fn read_core(&mut self) -> io::Result<bool> {
        use csv_core::ReadRecordResult::*;
        let (mut out, mut nends) = (0, 0);
        self.core.set_line(self.next_line);
        loop {
            let (result, nin, nout, nend) = self.core.read_record(
                &self.buf[self.start..self.end],
                &mut self.text[out..],
                &mut self.ends[nends..],
            );
            self.start += nin;
            self.consumed += nin as u64;
            out += nout;
            nends += nend;
            match result {
                InputEmpty => {
                    if !self.eof {
                        self.fill()?;
                    }
                }
                OutputFull => {
                    let len = self.text.len();
                    self.text.resize(2 * len, 0);
                }
                OutputEndsFull => {
                    let len = self.ends.len();
                    self.ends.resize(2 * len, 0);
                }
                Record => break,
                End => {
                    self.next_line = self.core.line();
                    return Ok(false);
                }
            }
        }
        self.next_line = self.core.line();
        let mut from = 0;
        for &end in &self.ends[..nends] {
            self.ranges.push((from, end));
            from = end;
        }
        Ok(true)
    }

    /// Consumes `n` unread bytes that hold no record (line breaks).
    fn skip(&mut self, n: usize) {
        let bytes = &self.buf[self.start..self.start + n];
        self.next_line += memchr::memchr_iter(b'\n', bytes).count() as u64;
        self.start += n;
        self.consumed += n as u64;
    }

    /// Reads more of the input behind the unread bytes (moved to the front of the
    /// buffer, which grows when they fill it); `false` at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.buf.len() - SLACK - self.end < READ_BYTES / 2 {
            let len = self.buf.len();
            self.buf.resize(2 * len, 0);
        }
        let room = self.buf.len() - SLACK;
        let n = loop {
            match self.input.read(&mut self.buf[self.end..room]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end += n;
        self.eof = n == 0;
        // The bytes read and the unread ones before them, checked as UTF-8 in one call
        // (a few bytes of a partial line are checked again); up to the first byte that
        // is not, where records are checked one at a time.
        self.utf8_end = match std::str::from_utf8(&self.buf[..self.end]) {
            Ok(_) => self.end,
            Err(e) => e.valid_up_to(),
        };
        Ok(n > 0)
    }
}

impl<R> Records<R> {
    /// The input the records are read from.
    pub(super) fn input(&self) -> &R {
        &self.input
    }

    /// The last record's bytes: its fields are ranges of them ([`Records::fields`]).
    pub(super) fn bytes(&self) -> &[u8] {
        match self.fast {
            Some((a, b)) => &self.buf[a..b],
            None => &self.text[..self.ranges.last().map_or(0, |r| r.1)],
        }
    }

    /// Whether the last record's bytes are known to be UTF-8: a line split by hand
    /// within bytes checked when they were read. A line starts and ends at a line
    /// break, a byte-order mark or the input's ends, never inside a character, so a
    /// line of valid UTF-8 text is valid UTF-8 itself.
    pub(super) fn known_utf8(&self) -> bool {
        matches!(self.fast, Some((_, b)) if b <= self.utf8_end)
    }

    /// Whether the last record was split by hand: its bytes are its line, its fields
    /// the text between commas.
    pub(super) fn split_by_hand(&self) -> bool {
        self.fast.is_some()
    }

    /// The last record's fields, as ranges of [`Records::bytes`].
    pub(super) fn ranges(&self) -> &[(usize, usize)] {
        &self.ranges
    }

    /// The last record's fields.
    pub(super) fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let bytes = self.bytes();
        self.ranges.iter().map(move |&(a, b)| &bytes[a..b])
    }

    /// Field `i` of the last record.
    pub(super) fn field(&self, i: usize) -> &[u8] {
        let (a, b) = self.ranges[i];
        &self.bytes()[a..b]
    }

    /// The last record's number of fields.
    pub(super) fn len(&self) -> usize {
        self.ranges.len()
    }

    /// The line the last record starts on (1 is the first line read).
    pub(super) fn line(&self) -> u64 {
        self.record_line
    }

    /// Bytes of the input consumed so far.
    pub(super) fn consumed(&self) -> u64 {
        self.consumed
    }
}

/// Bit `i` set where `block[i]` (of 64) is a comma, a line feed, a carriage return or a
/// quote: four byte compares of 16 lanes at a time.
#[cfg(target_arch = "x86_64")]
fn specials(block: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let mut mask = 0u64;
    for (i, lanes) in block[..64].chunks_exact(16).enumerate() {
        // SSE2 is part of every x86-64 processor (the target's baseline, which the
        // compiler does not count as enabled for these calls).
        #[allow(unsafe_code)]
        // SAFETY: SSE2 is the x86-64 baseline; `lanes` is 16 bytes, all an unaligned
        // load reads.
        let lanes = unsafe {
            let v = _mm_loadu_si128(lanes.as_ptr().cast::<__m128i>());
            let any = _mm_or_si128(
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b',' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)),
                ),
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                ),
            );
            _mm_movemask_epi8(any) as u16
        };
        mask |= u64::from(lanes) << (16 * i);
    }
    mask
}

/// [`specials`] a byte at a time, on other processors.
#[cfg(any(not(target_arch = "x86_64"), test))]
fn specials_bytewise(block: &[u8]) -> u64 {
    block[..64].iter().enumerate().fold(0, |mask, (i, &b)| {
        mask | (u64::from(matches!(b, b',' | b'\n' | b'\r' | b'"')) << i)
    })
}

#[cfg(not(target_arch = "x86_64"))]
use specials_bytewise as specials;

/// The records of `input` handed to the splitter `read_size` bytes at a time (so lines
/// and characters straddle reads): each record's line and fields. Checks what the
/// readers rely on, panicking if it does not hold: a record the splitter says is known
/// to be UTF-8 is valid UTF-8 (`csv.rs` then takes its bytes as text unchecked), in an
/// input that is UTF-8 throughout every record split by hand is known to be, and every
/// byte is consumed. For the unit tests and the `split` fuzz target.
#[doc(hidden)]
pub fn split_in_small_reads(input: &[u8], read_size: usize) -> Vec<(u64, Vec<Vec<u8>>)> {
    /// Hands out the input a few bytes at a time.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1.max(1));
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut records = Records::new(Trickle(input, read_size));
    let mut out = Vec::new();
    let all_utf8 = std::str::from_utf8(input).is_ok();
    while records.read().expect("reading from memory does not fail") {
        if records.known_utf8() {
            assert!(
                std::str::from_utf8(records.bytes()).is_ok(),
                "a record taken as UTF-8 unchecked is not UTF-8: {:?}",
                records.bytes()
            );
        }
        if all_utf8 && records.split_by_hand() {
            assert!(
                records.known_utf8(),
                "a UTF-8 line split by hand is not known to be UTF-8"
            );
        }
        out.push((
            records.line(),
            records.fields().map(<[u8]>::to_vec).collect(),
        ));
    }
    assert_eq!(
        records.consumed(),
        input.len() as u64,
        "every byte consumed"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as the `csv` crate reads them (flexible, no header): fields, and the
    /// line each record's first byte is on, found from the byte after the previous
    /// record by skipping line breaks (the crate's own position is before them).
    fn csv_crate(input: &[u8]) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut record = ::csv::ByteRecord::new();
        let mut out = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            let at = record.position().unwrap().byte() as usize;
            let mut line = record.position().unwrap().line();
            let bom = if at == 0 && input.starts_with(b"\xEF\xBB\xBF") {
                3
            } else {
                0
            };
            for &b in &input[at + bom..] {
                match b {
                    b'\n' => line += 1,
                    b'\r' => {}
                    _ => break,
                }
            }
            out.push((line, record.iter().map(<[u8]>::to_vec).collect()));
        }
        out
    }

    fn split(input: &[u8], read_size: usize) -> Vec<(u64, Vec<Vec<u8>>)> {
        split_in_small_reads(input, read_size)
    }

    #[test]
    fn the_vector_compare_finds_each_byte_that_matters() {
        // The four bytes at 0, 17, 40 and 63; near misses (the same low bits with the
        // high bit set, a tab) elsewhere.
        let mut block = [b'x'; 64];
        for (i, b) in [(0, b','), (17, b'\n'), (40, b'\r'), (63, b'"')] {
            block[i] = b;
        }
        for (i, b) in [(5, 0x8A), (6, 0xAC), (7, 0xA2), (8, 0x8D), (9, b'\t')] {
            block[i] = b;
        }
        let want = 1 | 1 << 17 | 1 << 40 | 1 << 63;
        assert_eq!(specials_bytewise(&block), want);
        assert_eq!(specials(&block), want);
    }

    #[test]
    fn the_split_is_csv_cores() {
        // Written by hand: CRLF, a blank line, a quoted comma, a field over two lines,
        // a lone CR, no final line break.
        let input = b"a,b\r\n1,2\r\n\r\n3,\"x,y\"\n\n4,\"p\nq\"\n5,6\r7,8\n 9 , \n10,11";
        let expected: Vec<(u64, Vec<&[u8]>)> = vec![
            (1, vec![b"a", b"b"]),
            (2, vec![b"1", b"2"]),
            (4, vec![b"3", b"x,y"]),
            (6, vec![b"4", b"p\nq"]),
            (8, vec![b"5", b"6"]),
            (8, vec![b"7", b"8"]),
            (9, vec![b" 9 ", b" "]),
            (10, vec![b"10", b"11"]),
        ];
        let expected: Vec<(u64, Vec<Vec<u8>>)> = expected
            .into_iter()
            .map(|(l, f)| (l, f.into_iter().map(<[u8]>::to_vec).collect()))
            .collect();
        assert_eq!(csv_crate(input), expected);
        for size in [1, 2, 3, 7, 1 << 20] {
            assert_eq!(split(input, size), expected, "read size {size}");
        }
        // Generated: lines of the bytes that matter to CSV and a few others, in any
        // order, against the csv crate.
        let alphabet = b"ab ,,\"\"\r\n\n\xC3\xA9\xEF\xBB\xBF";
        // splitmix64: a fixed sequence, no crate.
        let mut state = 7u64;
        let mut next = |below: usize| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % below as u64) as usize
        };
        for case in 0..3000 {
            let len = next(300);
            let input: Vec<u8> = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
            let expected = csv_crate(&input);
            for size in [1, 5, 1 << 20] {
                assert_eq!(
                    split(&input, size),
                    expected,
                    "case {case}, read size {size}: {:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }
}
