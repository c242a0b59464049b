//! Sniffing what kind of file this is before parsing it: binary formats that cannot be read
//! from a stream (xlsx, xls) or at all (gzip), Excel's `sep=` line, the delimiter, and line counting. Called by
//! [`super::CsvInput::open`] on the first 64 KiB it buffers.

use csv_core::{ReadFieldResult, ReaderBuilder};

use super::{DelimiterSource, SAMPLE_ROWS};

/// Binary formats met where CSV text was expected. A spreadsheet given as a regular file never
/// gets here (it is read as one); from a pipe or standard input it cannot be, since its zip or
/// OLE container needs seeking.
pub(super) fn binary_kind(head: &[u8]) -> Option<(&'static str, &'static str)> {
    const SHEET: &str = "a spreadsheet is read from a file path, not from a pipe or standard \
                         input: pass the file's name";
    if head.starts_with(b"PK\x03\x04") {
        Some(("a zip archive (an .xlsx or .ods spreadsheet?)", SHEET))
    } else if head.starts_with(b"\xD0\xCF\x11\xE0") {
        Some(("an old Excel .xls file", SHEET))
    } else if head.starts_with(b"\x1F\x8B") {
        Some(("a gzip-compressed file", "decompress it first"))
    } else {
        None
    }
}

pub(super) fn valid_delimiter(d: u8) -> bool {
    d.is_ascii() && !matches!(d, b'"' | b'\r' | b'\n')
}

/// CR, LF and CRLF each end one physical line, matching how csv_core ends records.
pub(super) fn count_lines(bytes: &[u8], lines: &mut u64, prev_cr: &mut bool) {
    let Some(&last) = bytes.last() else { return };
    let lf = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    if !bytes.contains(&b'\r') && !*prev_cr {
        *lines += lf;
    } else {
        let mut n = 0u64;
        let mut prev = *prev_cr;
        for &b in bytes {
            n += (b == b'\r' || (b == b'\n' && !prev)) as u64;
            prev = b == b'\r';
        }
        *lines += n;
    }
    *prev_cr = last == b'\r';
}

/// Recognises Excel's `sep=X` first line (`"sep=X"`, any case, `\t` spelled
/// out or literal). Returns the delimiter and the bytes to skip.
pub(super) fn parse_sep_line(s: &[u8], eof: bool) -> Option<(u8, usize)> {
    let quoted = s.first() == Some(&b'"');
    let mut i = quoted as usize;
    if !s.get(i..i + 4)?.eq_ignore_ascii_case(b"sep=") {
        return None;
    }
    i += 4;
    let d = if s[i..].starts_with(b"\\t") {
        i += 2;
        b'\t'
    } else {
        i += 1;
        *s.get(i - 1)?
    };
    if !valid_delimiter(d) || d.is_ascii_alphanumeric() {
        return None;
    }
    if quoted {
        if s.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
    }
    match s.get(i) {
        Some(b'\n') => Some((d, i + 1)),
        Some(b'\r') if s.get(i + 1) == Some(&b'\n') => Some((d, i + 2)),
        Some(b'\r') => Some((d, i + 1)),
        None if eof => Some((d, i)),
        _ => None,
    }
}

/// Picks the delimiter when neither `--delimiter` nor a `sep=` line gives it.
///
/// Conservative, because a wrong guess silently shreds every row. The header
/// and up to 20 following records of the sample (the first 64 KiB; a record
/// cut by the end of the sample is ignored) are parsed with `,`, `;` and tab,
/// quotes respected. A candidate is *consistent* when the header has more than
/// one field and at least 90% of the sampled rows have that same count.
/// Comma wins whenever it is consistent; otherwise the consistent one of `;`, tab and `|`
/// wins (several: the one matching more rows, a tie keeps comma); anything else keeps comma
/// as [`DelimiterSource::Default`].
pub(super) fn detect_delimiter(sample: &[u8], complete: bool) -> (u8, DelimiterSource) {
    let score = |d: u8| -> Option<usize> {
        let counts = field_counts(sample, complete, d);
        let (&header, rows) = counts.split_first()?;
        let matching = rows.iter().filter(|&&c| c == header).count();
        (header > 1 && matching * 10 >= rows.len() * 9).then_some(matching)
    };
    if score(b',').is_some() {
        return (b',', DelimiterSource::Default);
    }
    let mut consistent: Vec<(usize, u8)> = [b';', b'\t', b'|']
        .into_iter()
        .filter_map(|d| score(d).map(|s| (s, d)))
        .collect();
    consistent.sort_by_key(|c| std::cmp::Reverse(c.0));
    match consistent.as_slice() {
        [(best, d), rest @ ..] if rest.first().is_none_or(|(next, _)| next < best) => {
            (*d, DelimiterSource::Detected)
        }
        _ => (b',', DelimiterSource::Default),
    }
}

/// Field count of each complete record in `sample` (header first).
pub(super) fn field_counts(sample: &[u8], complete: bool, delimiter: u8) -> Vec<usize> {
    let mut rdr = ReaderBuilder::new().delimiter(delimiter).build();
    let mut scratch = [0u8; 512];
    let mut counts = Vec::new();
    let mut input = sample;
    let mut fields = 0;
    while counts.len() <= SAMPLE_ROWS {
        let (res, nin, _) = rdr.read_field(input, &mut scratch);
        input = &input[nin..];
        match res {
            ReadFieldResult::InputEmpty if !complete => break,
            ReadFieldResult::InputEmpty | ReadFieldResult::OutputFull => {}
            ReadFieldResult::Field { record_end } => {
                fields += 1;
                if record_end {
                    counts.push(fields);
                    fields = 0;
                }
            }
            ReadFieldResult::End => break,
        }
    }
    counts
}
