//! One fast pass over an input file before anything is sent.
//!
//! It fingerprints the bytes (size + xxh3-128) so `--resume` can refuse a changed file (a
//! spreadsheet too: its bytes are fingerprinted the same way), counts lines for the progress
//! bar's estimate, and checks UTF-8 up front: an encoding problem at row
//! 900,000 must stop the run before row 1 is sent (exit 2, nothing sent), not halfway. A dry
//! run, which sends nothing, only estimates its rows ([`estimate`]).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::csv_in::{self, CsvInput, Record, Source};
use crate::exit::Fatal;

pub struct Scan {
    pub size: u64,
    /// xxh3-128 of the bytes, for `--resume` to refuse a changed file; empty when not asked.
    pub hash: String,
    /// Lines minus the header: exact for files without multi-line cells; in a dry run,
    /// estimated from pieces of the file ([`estimate`]).
    pub records_estimate: u64,
}

/// A spreadsheet's bytes are fingerprinted only: they are no text to check, and their line
/// count means nothing (the caller takes [`csv_in::CsvInput::exact_records`] instead).
/// `fingerprint`: compute [`Scan::hash`] (left empty otherwise: `verify` keeps no journal to
/// match the file against, and hashing every byte is a few percent of a run). A dry run reads
/// no further than [`estimate`] does.
pub fn scan(path: &Path, options: &csv_in::Options, fingerprint: bool) -> Result<Scan, Fatal> {
    let sheet = csv_in::is_spreadsheet(path);
    let fail = |e: std::io::Error| Fatal::usage(format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    let mut lines = 0u64;
    let mut last = None;
    let mut check_utf8 = options.encoding.is_none() && !sheet;
    let mut carry: Vec<u8> = Vec::new();
    let mut utf8_ok = true;
    loop {
        let n = file.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        // UTF-16 (BOM or not) is decoded by the reader, which refuses bad sequences itself.
        check_utf8 &= size > 0 || !csv_in::is_utf16(&chunk[..n.min(4)]);
        if fingerprint {
            hasher.update(chunk);
        }
        size += n as u64;
        lines += newlines(chunk);
        last = Some(chunk[n - 1]);
        if check_utf8 && utf8_ok {
            utf8_ok = check_utf8_chunk(&mut carry, chunk);
        }
    }
    if !carry.is_empty() {
        utf8_ok = false;
    }
    if check_utf8 && !utf8_ok {
        return Err(locate_encoding_error(path, options));
    }
    Ok(Scan {
        size,
        hash: match fingerprint {
            true => format!("{:032x}", hasher.digest128()),
            false => String::new(),
        },
        records_estimate: records(lines, last, options),
    })
}

/// A dry run's stand-in for [`scan`]: the size, and the records estimated from [`SAMPLES`]
/// pieces of [`SAMPLE`] bytes spread over the file (the whole of a smaller file: exact),
/// enough to size the duplicate check and the progress bar; spread, because a file's first
/// rows are often shorter or longer than the rest (ids and dates growing, notes filled in
/// later). Nothing is sent, so an encoding problem can wait for the reader, which stops the
/// run with the same message naming the record and line (as for standard input), after the
/// rows before it got their lines. Reading every byte first took a dry run of 1M rows 15-25 ms
/// of the 300 before its first row, on one core.
pub fn estimate(path: &Path, options: &csv_in::Options) -> Result<Scan, Fatal> {
    let fail = |e: std::io::Error| Fatal::usage(format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let size = file.metadata().map_err(fail)?.len();
    let records_estimate = if size <= SAMPLE * SAMPLES {
        let mut text = Vec::with_capacity(size as usize);
        file.read_to_end(&mut text).map_err(fail)?;
        records(newlines(&text), text.last().copied(), options)
    } else {
        // The mean of the pieces' line lengths: a mean of their line densities would let the
        // short lines of one piece outweigh the long lines of another.
        let mut lengths = 0f64;
        let mut piece = Vec::with_capacity(SAMPLE as usize);
        for k in 0..SAMPLES {
            piece.clear();
            let start = (size - SAMPLE) * k / (SAMPLES - 1);
            file.seek(SeekFrom::Start(start)).map_err(fail)?;
            (&mut file)
                .take(SAMPLE)
                .read_to_end(&mut piece)
                .map_err(fail)?;
            lengths += piece.len() as f64 / newlines(&piece).max(1) as f64;
        }
        let lines = size as f64 / (lengths / SAMPLES as f64).max(1.0);
        records(lines as u64, None, options)
    };
    Ok(Scan {
        size,
        hash: String::new(),
        records_estimate,
    })
}

/// Line breaks in `bytes`.
fn newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// The records after the header and `--skip-lines` in a text of `newlines` line breaks whose
/// last byte is `last`: a last line without a break counts.
fn records(newlines: u64, last: Option<u8>, options: &csv_in::Options) -> u64 {
    let lines = newlines + u64::from(last.is_some_and(|b| b != b'\n'));
    lines.saturating_sub(1 + options.skip_lines)
}

/// How much of a file [`estimate`] reads at each of its [`SAMPLES`] places.
const SAMPLE: u64 = 64 * 1024;
const SAMPLES: u64 = 4;

/// Validates one chunk as UTF-8, given the incomplete sequence `carry` left by the previous
/// one (at most 3 bytes); leaves this chunk's own incomplete tail in `carry`. The chunk itself
/// is never copied: this runs over every byte of the file before the first row is read.
fn check_utf8_chunk(carry: &mut Vec<u8>, mut chunk: &[u8]) -> bool {
    if !carry.is_empty() {
        // Complete the carried sequence with up to 3 bytes of this chunk.
        let take = chunk.len().min(4 - carry.len());
        carry.extend_from_slice(&chunk[..take]);
        let used = match std::str::from_utf8(carry) {
            Ok(_) => take,
            Err(e) if e.valid_up_to() > 0 => e.valid_up_to() - (carry.len() - take),
            Err(e) if e.error_len().is_none() && take == chunk.len() => {
                return true; // still incomplete: the chunk was tiny, wait for more
            }
            Err(_) => return false,
        };
        carry.clear();
        chunk = &chunk[used..];
    }
    // The vectorised check (`simdutf8`, exact positions like `std`'s): several times faster on
    // the mostly ASCII bytes of a contact file, and this pass is serial, before any row.
    match simdutf8::compat::from_utf8(chunk) {
        Ok(_) => true,
        Err(e) if e.error_len().is_none() => {
            carry.extend_from_slice(&chunk[e.valid_up_to()..]);
            true
        }
        Err(_) => false,
    }
}

/// Reads records until the reader reports the bad bytes, for a message with record and line.
fn locate_encoding_error(path: &Path, options: &csv_in::Options) -> Fatal {
    let source = Source::Path(path.to_path_buf());
    let mut input = match CsvInput::open(&source, options) {
        Ok(input) => input,
        Err(e) => return Fatal::usage(e.to_string()),
    };
    let mut record = Record::default();
    loop {
        match input.read_record(&mut record) {
            Ok(true) => continue,
            Ok(false) => break,
            Err(e) => return Fatal::usage(e.to_string()),
        }
    }
    Fatal::usage(format!(
        "{}: the file is not valid UTF-8; if it is Latin-1 or Windows-1252, pass --encoding windows-1252",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::{SAMPLE, SAMPLES, check_utf8_chunk, estimate};
    use crate::csv_in::Options;
    use proptest::prelude::*;

    /// Exact for a file within the samples (last line ended or not, lines skipped), within a
    /// percent for a larger file of even lines, within a fifth for one of growing lines.
    #[test]
    fn a_dry_runs_estimate_counts_a_small_file_and_extrapolates_a_large_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        let skip_two = Options {
            skip_lines: 2,
            ..Options::default()
        };
        for (text, options, records) in [
            ("email\na@x.io\nb@x.io\n", Options::default(), 2),
            ("email\na@x.io\nb@x.io", Options::default(), 2),
            ("note\nnote\nemail\na@x.io\n", skip_two, 1),
            ("", Options::default(), 0),
        ] {
            std::fs::write(&path, text).unwrap();
            let scan = estimate(&path, &options).unwrap();
            assert_eq!(scan.records_estimate, records, "{text:?}");
            assert_eq!(scan.size, text.len() as u64);
        }
        let rows = 3 * SAMPLE * SAMPLES / 20;
        let mut text = String::from("email,name\n");
        for i in 0..rows {
            text.push_str(&format!("u{:07}@x.io,N\n", i % 10_000_000));
        }
        std::fs::write(&path, &text).unwrap();
        let guess = estimate(&path, &Options::default())
            .unwrap()
            .records_estimate;
        assert!(guess.abs_diff(rows) * 100 <= rows, "{guess} for {rows}");
        // Rows growing from 16 to 116 bytes: the first piece alone would guess 3 times too
        // many; the pieces spread over the file come within a fifth.
        let rows = 40_000u64;
        let mut text = String::from("email,notes\n");
        for i in 0..rows {
            let notes = "n".repeat((i * 100 / rows) as usize);
            text.push_str(&format!("u{:07}@x.io,{notes}\n", i));
        }
        std::fs::write(&path, &text).unwrap();
        let guess = estimate(&path, &Options::default())
            .unwrap()
            .records_estimate;
        assert!(guess.abs_diff(rows) * 5 <= rows, "{guess} for {rows}");
    }

    proptest! {
        /// Chunked validation agrees with validating the whole, wherever the chunks are cut.
        #[test]
        fn chunked_utf8_check_agrees_with_the_whole(
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(0xC3), Just(0xA9), Just(0xE2), Just(0x82), Just(0xF0)],
                0..40,
            ),
            cuts in proptest::collection::vec(1usize..6, 1..20),
            text in "[aé€😀]{0,12}",
        ) {
            for input in [bytes.as_slice(), text.as_bytes()] {
                let mut carry = Vec::new();
                let mut ok = true;
                let mut rest = input;
                for &cut in cuts.iter().cycle() {
                    if rest.is_empty() || !ok {
                        break;
                    }
                    let (chunk, tail) = rest.split_at(cut.min(rest.len()));
                    ok = check_utf8_chunk(&mut carry, chunk);
                    rest = tail;
                }
                if ok && !rest.is_empty() {
                    ok = check_utf8_chunk(&mut carry, rest);
                }
                prop_assert_eq!(ok && carry.is_empty(), std::str::from_utf8(input).is_ok());
            }
        }
    }
}
