//! The reader's fast path: a record on one line without quotes, wholly in the buffer.
//!
//! Almost every record of a real file is such a line, and for it `csv_core`'s parse is simply
//! the line split at the delimiter: without a `"` no quoting starts, and the line's first CR
//! or LF ends the record (CR LF as one). [`CsvInput::read_plain`] takes those lines with one
//! pass sixteen or eight bytes at a time ([`scan_line`]: the line end or a quote, and the
//! delimiters before it) instead of driving `csv_core` field by field, which costs several
//! times more per byte. Anything else (a quote, a line end beyond the buffer, a line over the
//! cell or record limit, text a decoder flagged, bytes that are no UTF-8) is left to the
//! general path, which names the error exactly. A test reads varied input both ways and
//! compares every record. Called by [`CsvInput::read_into`] only.

use super::{CsvInput, MAX_COLUMNS, Record, width_problem};

impl CsvInput {
    /// True: the record was read into `rec`, as the general path would have read it. False:
    /// not a plain line, nothing consumed. `expected` as for `read_into`.
    pub(super) fn read_plain(&mut self, rec: &mut Record, expected: Option<usize>) -> bool {
        if !self.plain_lines {
            return false;
        }
        // One pass over the line for its end (or a quote) and its delimiters: two `memchr`
        // searches (one a call per cell) cost more than the rest of the row's parse.
        let delimiter = self.dialect.delimiter;
        let rest = &self.buf[self.pos..self.end];
        let Some(end) = scan_line(rest, delimiter, &mut self.cuts) else {
            return false;
        };
        if rest[end] == b'"' {
            return false;
        }
        let line = &rest[..end];
        let terminator = match (rest[end], rest.get(end + 1)) {
            (b'\r', Some(b'\n')) => 2,
            // A CR at the buffer's end may be half of a CR LF: let the general path see.
            (b'\r', None) if !self.eof => return false,
            _ => 1,
        };
        // Cells and the record, delimiters counted, are at most the line.
        if line.len() > self.max_field || line.len() >= self.max_record {
            return false;
        }
        let text = match self.pos + end <= self.utf8_end {
            // SAFETY: `buf[..utf8_end]` was checked to be UTF-8 when it was read and is not
            // written until the next `fill`, which lowers `utf8_end` first; the line starts at
            // `pos` (the buffer's start or just after a line break) and ends before one, both
            // character boundaries, so it is a whole part of checked UTF-8.
            true => unsafe { std::str::from_utf8_unchecked(line) },
            false => match std::str::from_utf8(line) {
                Ok(text) => text,
                Err(_) => return false,
            },
        };
        debug_assert!(std::str::from_utf8(line).is_ok());
        if self.decoded && text.contains('\u{FFFD}') {
            return false;
        }
        // An ASCII delimiter always falls on a character boundary: every cut of valid UTF-8
        // is valid UTF-8.
        let cuts = self.cuts.iter().copied().chain([line.len()]);
        let mut found = 0;
        let mut start = 0;
        for at in cuts {
            let cell = &text[start..at];
            start = at + 1;
            if found < MAX_COLUMNS {
                match rec.fields.get_mut(found) {
                    Some(f) => {
                        f.clear();
                        f.push_str(cell);
                    }
                    None => rec.fields.push(super::new_cell(cell)),
                }
            }
            found += 1;
        }
        rec.fields.truncate(found.min(MAX_COLUMNS));
        // The usual record is as wide as the header: no call (whose answer, returned through
        // memory, cost a store-forwarding stall a row).
        rec.problem = match expected {
            Some(width) if width == found => None,
            _ => width_problem(rec, expected, found),
        };
        rec.unquoted = delimiter == b',';
        self.prev_cr = terminator == 1 && rest[end] == b'\r';
        self.pos += end + terminator;
        self.lines += 1;
        true
    }
}

/// Where the line at the start of `rest` ends (its first CR, LF or `"`), with the offsets of
/// the `delimiter`s before that end in `cuts` (cleared first); `None` when `rest` has no end.
/// Sixteen bytes at a time where SSE2 is (every x86_64), then eight ([`scan_words`]). A test
/// holds it to a loop over the bytes.
fn scan_line(rest: &[u8], delimiter: u8, cuts: &mut Vec<usize>) -> Option<usize> {
    cuts.clear();
    #[cfg(target_arch = "x86_64")]
    let at = {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        let mut at = 0;
        // SAFETY: SSE2 is part of every x86_64 target; each load reads the 16 bytes
        // `rest[at..at + 16]`, in bounds by the loop's condition, unaligned loads allowed.
        unsafe {
            let splat = |b: u8| _mm_set1_epi8(b as i8);
            let (lf, cr, quote, delim) =
                (splat(b'\n'), splat(b'\r'), splat(b'"'), splat(delimiter));
            while at + 16 <= rest.len() {
                let v = _mm_loadu_si128(rest.as_ptr().add(at).cast::<__m128i>());
                let ends = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)),
                    _mm_cmpeq_epi8(v, quote),
                );
                let ends = _mm_movemask_epi8(ends) as u32;
                let mut delimiters = _mm_movemask_epi8(_mm_cmpeq_epi8(v, delim)) as u32;
                if ends != 0 {
                    let end = ends.trailing_zeros();
                    delimiters &= (1u32 << end) - 1;
                    push_bits(u64::from(delimiters), at, 1, cuts);
                    return Some(at + end as usize);
                }
                push_bits(u64::from(delimiters), at, 1, cuts);
                at += 16;
            }
        }
        at
    };
    #[cfg(not(target_arch = "x86_64"))]
    let at = 0;
    scan_words(rest, at, delimiter, cuts)
}

/// [`scan_line`] from `rest[at..]` on, eight bytes at a time: a byte equal to `b` is found in
/// a word without a branch a byte ([`equal`]), then the set bits are walked.
fn scan_words(rest: &[u8], mut at: usize, delimiter: u8, cuts: &mut Vec<usize>) -> Option<usize> {
    let mut words = rest[at..].chunks_exact(8);
    for word in words.by_ref() {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let ends = equal(word, b'\n') | equal(word, b'\r') | equal(word, b'"');
        let mut delimiters = equal(word, delimiter);
        if ends != 0 {
            let end = ends.trailing_zeros();
            delimiters &= (1u64 << end) - 1;
            push_bits(delimiters, at, 8, cuts);
            return Some(at + end as usize / 8);
        }
        push_bits(delimiters, at, 8, cuts);
        at += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        match b {
            b'\n' | b'\r' | b'"' => return Some(at + i),
            _ if b == delimiter => cuts.push(at + i),
            _ => {}
        }
    }
    None
}

/// The high bit of every byte of `word` that equals `b`, and no other bit. Exact: on the low
/// seven bits, adding 0x7F sets the high bit of every byte but a zero one, without a carry
/// into the next byte.
fn equal(word: u64, b: u8) -> u64 {
    const LOW: u64 = u64::from_ne_bytes([0x7F; 8]);
    let x = word ^ (u64::from_ne_bytes([0x01; 8]) * u64::from(b));
    !(((x & LOW) + LOW) | x | LOW)
}

/// The byte offsets (from `base`) of the bytes `bits` marks, `per_byte` bits a byte: 1 for a
/// byte mask, 8 for a word whose bytes' high bits are set ([`equal`]).
fn push_bits(mut bits: u64, base: usize, per_byte: u32, cuts: &mut Vec<usize>) {
    while bits != 0 {
        cuts.push(base + (bits.trailing_zeros() / per_byte) as usize);
        bits &= bits - 1;
    }
}

#[cfg(test)]
mod tests {
    use crate::csv_in::{CsvInput, Options, Record};
    use proptest::prelude::*;

    /// Every record (cells, problem, line, number) and the error, if any, of `bytes`.
    fn records(bytes: &[u8], plain: bool, opts: &Options) -> Vec<Result<Record, String>> {
        let cursor = std::io::Cursor::new(bytes.to_vec());
        let mut input = match CsvInput::build("t.csv".into(), Box::new(cursor), opts, 16, false) {
            Ok(input) => input,
            Err(e) => return vec![Err(e.to_string())],
        };
        input.plain_lines = plain;
        let mut out = vec![Ok(Record {
            fields: input.headers().to_vec(),
            ..Record::default()
        })];
        let mut rec = Record::default();
        loop {
            match input.read_record(&mut rec) {
                // The plain path's hint aside, the same record.
                Ok(true) => out.push(Ok(Record {
                    unquoted: false,
                    ..rec.clone()
                })),
                Ok(false) => return out,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    /// Wide lines, of empty and multi-byte cells, read the same both ways.
    #[test]
    fn wide_lines_read_as_csv_core_reads_them() {
        for width in [63, 64, 65, 70] {
            let row = |c: &str| vec![c; width].join(",");
            let text = format!("{}\n{}\r\n{}\n", row("h"), row("a"), row("é"));
            let opts = Options::default();
            let plain = records(text.as_bytes(), true, &opts);
            assert_eq!(plain, records(text.as_bytes(), false, &opts), "{width}");
            assert_eq!(plain.len(), 3);
        }
    }

    /// `scan_line` against a loop over the bytes.
    fn scan_slowly(rest: &[u8], delimiter: u8) -> (Option<usize>, Vec<usize>) {
        let end = rest.iter().position(|b| matches!(b, b'\n' | b'\r' | b'"'));
        let upto = end.unwrap_or(rest.len());
        let cuts = (0..upto).filter(|&i| rest[i] == delimiter).collect();
        (end, cuts)
    }

    proptest! {
        #[test]
        fn scan_line_finds_what_a_byte_loop_finds(
            rest in proptest::collection::vec(
                prop_oneof![
                    Just(b','), Just(b';'), Just(b'\t'), Just(b'"'), Just(b'\r'), Just(b'\n'),
                    Just(0x80), Just(0xAC), Just(0xFF), Just(0x00), Just(0x7F), any::<u8>(),
                    Just(b'a'), Just(b'a'), Just(b'a'), Just(b'a'),
                ],
                0..100,
            ),
            delimiter in prop::sample::select(vec![b',', b';', b'\t', b'|', 0x80, 0x00]),
        ) {
            let mut cuts = vec![99];
            let end = super::scan_line(&rest, delimiter, &mut cuts);
            prop_assert_eq!((end, cuts), scan_slowly(&rest, delimiter));
            // The word-at-a-time pass alone, as other targets use it for whole lines.
            let mut cuts = Vec::new();
            let end = super::scan_words(&rest, 0, delimiter, &mut cuts);
            prop_assert_eq!((end, cuts), scan_slowly(&rest, delimiter));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The fast path reads exactly what the general path reads, whatever the bytes and
        /// wherever the (16-byte) buffer cuts them.
        #[test]
        fn plain_lines_read_as_csv_core_reads_them(
            body in proptest::collection::vec(
                prop_oneof![
                    Just(b'a'), Just(b','), Just(b';'), Just(b'"'), Just(b'\r'), Just(b'\n'),
                    Just(b' '), Just(0xC3), Just(0xA9), Just(0xFF), Just(b'x'),
                ],
                0..80,
            ),
            header in prop::sample::select(vec!["a,b,c\n", "a;b\r\n", "h\n", "x,y\r"]),
            tiny in any::<bool>(),
        ) {
            let mut bytes = header.as_bytes().to_vec();
            bytes.extend_from_slice(&body);
            let opts = match tiny {
                true => Options { max_field_bytes: 3, max_record_bytes: 8, ..Options::default() },
                false => Options::default(),
            };
            prop_assert_eq!(records(&bytes, true, &opts), records(&bytes, false, &opts));
        }
    }
}
