//! One fast pass over an input file before anything is sent.
//!
//! It fingerprints the bytes (size + xxh3-128) so `--resume` can refuse a changed file, counts
//! lines for the progress bar's estimate, and checks UTF-8 up front: an encoding problem at row
//! 900,000 must stop the run before row 1 is sent (exit 2, nothing sent), not halfway.

use std::io::Read;
use std::path::Path;

use crate::csv_in::{self, CsvInput, Record, Source};
use crate::exit::Fatal;

pub struct Scan {
    pub size: u64,
    pub hash: String,
    /// Lines minus the header: exact for files without multi-line cells.
    pub records_estimate: u64,
}

pub fn scan(path: &Path, options: &csv_in::Options) -> Result<Scan, Fatal> {
    let fail = |e: std::io::Error| Fatal::usage(format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    let mut lines = 0u64;
    let mut last = b'\n';
    let mut check_utf8 = options.encoding.is_none();
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
        hasher.update(chunk);
        size += n as u64;
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        last = chunk[n - 1];
        if check_utf8 && utf8_ok {
            carry.extend_from_slice(chunk);
            match std::str::from_utf8(&carry) {
                Ok(_) => carry.clear(),
                // An incomplete sequence at the end may be completed by the next chunk.
                Err(e) if e.error_len().is_none() => {
                    carry.drain(..e.valid_up_to());
                }
                Err(_) => utf8_ok = false,
            }
        }
    }
    if !carry.is_empty() {
        utf8_ok = false;
    }
    if last != b'\n' && size > 0 {
        lines += 1;
    }
    if check_utf8 && !utf8_ok {
        return Err(locate_encoding_error(path, options));
    }
    Ok(Scan {
        size,
        hash: format!("{:032x}", hasher.digest128()),
        records_estimate: lines.saturating_sub(1),
    })
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
