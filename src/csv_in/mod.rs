//! Streaming, hostile-input-proof CSV record reader for contact imports.
//!
//! The import and dry-run pipelines call [`CsvInput::open`], hand
//! [`CsvInput::headers`] to the column mapper, then loop on
//! [`CsvInput::read_record`] with one reused [`Record`]. Invariants:
//! memory stays bounded whatever the file (one 64 KiB input buffer, one cell
//! buffer of at most `max_field_bytes + 1`, the current record's cells of at
//! most `max_record_bytes`, at most [`MAX_COLUMNS`] stored cells); cells are
//! returned exactly as parsed (never trimmed or rewritten); row-level damage
//! is a [`RecordProblem`] on that record and reading goes on, while only
//! whole-file problems are an [`InputError`]; no input makes it panic.
//! Parsing is `csv_core`'s RFC 4180 dialect (the `csv` crate's defaults),
//! driven field by field so over-long cells are skipped, not buffered.
//! A spreadsheet file (`.xlsx`, `.xls`, `.ods`, told by its first bytes) is read by
//! [`sheet`] instead and handed over as the same records, so callers never
//! know the difference beyond [`CsvInput::dialect`] (which names the sheet).

use std::fmt;
use std::io::{self, Read};

use csv_core::{ReadFieldResult, Reader as CoreReader};

mod args;
pub use args::{ReadArgs, parse_delimiter};
mod dialect;
use dialect::count_lines;

/// Input buffer size; also the size of the sample used for delimiter detection.
const BUF_SIZE: usize = 64 * 1024;
/// Records after the header that delimiter detection looks at.
const SAMPLE_ROWS: usize = 20;
/// Most cells stored per record (Excel's limit is 16,384): beyond it a row
/// is surely broken, and storing millions of empty cells would defeat the
/// memory bound. Extra cells are still counted for [`RecordProblem::FieldCount`].
pub const MAX_COLUMNS: usize = 65_536;

mod errors;
mod open;
mod plain;
mod sheet;
pub use sheet::is_spreadsheet;
mod source;
pub use errors::{InputError, Record, RecordProblem};
pub use source::{DelimiterSource, Dialect, Encoding, Options, Sheet, Source, is_utf16};

pub struct CsvInput {
    name: String,
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// `buf[..utf8_end]` is valid UTF-8, checked once when it was read (vectorised), so that
    /// [`plain`] need not check each line again; at most `end`, at a character boundary.
    utf8_end: usize,
    eof: bool,
    /// Set after a fatal error: the parser state is then meaningless.
    failed: bool,
    /// The bytes pass through an `encoding_rs` decoder, which writes U+FFFD for bad input.
    decoded: bool,
    core: CoreReader,
    /// Current cell's bytes; grows up to `max_field_bytes + 1`.
    out: Vec<u8>,
    headers: Vec<String>,
    dialect: Dialect,
    max_field: usize,
    max_record: usize,
    /// Physical line terminators consumed so far (CR, LF and CRLF count once).
    lines: u64,
    prev_cr: bool,
    records: u64,
    limit: Option<u64>,
    /// Set for a spreadsheet: records come from its sheet, and the CSV state above is idle.
    sheet: Option<Box<sheet::SheetInput>>,
    /// A spreadsheet knows its record count up front.
    exact_records: Option<u64>,
    /// Whether [`plain`]'s one-pass reading of quote-free lines is used (a test turns it off
    /// to compare).
    plain_lines: bool,
    /// Where [`plain`] found the current line's delimiters (kept to reuse its memory).
    cuts: Vec<usize>,
}

impl fmt::Debug for CsvInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvInput")
            .field("name", &self.name)
            .field("dialect", &self.dialect)
            .field("headers", &self.headers)
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

impl CsvInput {
    /// Whether the buffer holds the end of a line: if not, the next record may wait on the
    /// producer, so a caller batching rows should hand over what it has first.
    pub fn line_buffered(&self) -> bool {
        // Asked after every record: a vectorised search, not a byte loop.
        self.eof || memchr::memchr(b'\n', &self.buf[self.pos..self.end]).is_some()
    }

    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    pub fn source_name(&self) -> &str {
        &self.name
    }

    /// The same input read by the general path only (no [`plain`] lines): the reference a
    /// test holds the fast paths to.
    #[cfg(test)]
    pub(crate) fn without_plain_lines(mut self) -> Self {
        self.plain_lines = false;
        self
    }

    /// How many records there are, when known before reading them (a spreadsheet).
    pub fn exact_records(&self) -> Option<u64> {
        self.exact_records
    }

    /// Reads the next record into `rec` (reusing its allocations). Ok(false)
    /// at end of file. After an `Err`, every later call returns Ok(false).
    pub fn read_record(&mut self, rec: &mut Record) -> Result<bool, InputError> {
        let number = self.records + 1;
        let expected = self.headers.len();
        if self.limit.is_some_and(|limit| number > limit) {
            rec.fields.clear();
            rec.problem = None;
            return Ok(false);
        }
        let read = match self.sheet.as_deref_mut() {
            Some(sheet) => Ok(sheet.read(rec)),
            None => self.read_into(rec, Some(expected), Some(number)),
        };
        match read {
            Ok(true) => {
                self.records = number;
                rec.number = number;
                Ok(true)
            }
            Ok(false) => {
                rec.fields.clear();
                rec.problem = None;
                Ok(false)
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Refills the empty buffer; Ok(false) at end of input.
    fn fill(&mut self) -> Result<bool, InputError> {
        self.pos = 0;
        self.end = 0;
        self.utf8_end = 0;
        while !self.eof {
            match self.reader.read(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end = n;
                    self.utf8_end = match simdutf8::compat::from_utf8(&self.buf[..n]) {
                        Ok(_) => n,
                        // An invalid byte, or a character cut by the end of the read.
                        Err(e) => e.valid_up_to(),
                    };
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.read_error(error)),
            }
        }
        Ok(false)
    }

    fn read_error(&self, error: io::Error) -> InputError {
        InputError::Read {
            name: self.name.clone(),
            line: self.lines + 1,
            error,
        }
    }

    /// Reads one record. `expected` is the header width (None for the
    /// header itself); `number` is the record number for error messages.
    fn read_into(
        &mut self,
        rec: &mut Record,
        expected: Option<usize>,
        number: Option<u64>,
    ) -> Result<bool, InputError> {
        rec.problem = None;
        rec.unquoted = false;
        if self.failed {
            return Ok(false);
        }
        if !self.skip_blank_lines()? {
            return Ok(false);
        }
        rec.line = self.lines + 1;
        if self.read_plain(rec, expected) {
            return Ok(true);
        }

        let mut found = 0usize; // cells seen
        let mut stored = 0usize; // cells written into rec.fields
        let mut flen = 0usize; // bytes of the current cell held in `out`
        let mut fbytes = 0usize; // real size of the current cell
        let mut rbytes = 0usize;
        let mut skipping_field = false;
        let mut record_too_long = false;
        let mut field_too_long: Option<(usize, usize)> = None;
        loop {
            if self.pos == self.end && !self.eof {
                self.fill()?;
            }
            let input = &self.buf[self.pos..self.end];
            let start = if skipping_field { 0 } else { flen };
            let (res, nin, nout) = self.core.read_field(input, &mut self.out[start..]);
            count_lines(&input[..nin], &mut self.lines, &mut self.prev_cr);
            self.pos += nin;
            fbytes = fbytes.saturating_add(nout);
            if !skipping_field {
                flen += nout;
            }
            match res {
                ReadFieldResult::InputEmpty => {}
                ReadFieldResult::OutputFull => {
                    if !skipping_field {
                        if self.out.len() <= self.max_field {
                            let len = (self.out.len() * 2).min(self.max_field.saturating_add(1));
                            self.out.resize(len, 0);
                        } else {
                            // Over the limit: keep parsing, overwrite the buffer.
                            skipping_field = true;
                        }
                    }
                }
                ReadFieldResult::Field { record_end } => {
                    // A cell can fill the buffer to limit + 1 and then end at
                    // end of input without csv_core ever saying OutputFull.
                    skipping_field |= flen > self.max_field;
                    rbytes = rbytes.saturating_add(fbytes).saturating_add(1);
                    if rbytes > self.max_record {
                        record_too_long = true;
                    }
                    if skipping_field && field_too_long.is_none() {
                        field_too_long = Some((found, fbytes));
                    }
                    if !record_too_long && stored < MAX_COLUMNS {
                        let cell = if skipping_field {
                            ""
                        } else {
                            self.cell_text(flen, number, rec.line, found + 1)?
                        };
                        match rec.fields.get_mut(stored) {
                            Some(f) => {
                                f.clear();
                                f.push_str(cell);
                            }
                            None => rec.fields.push(new_cell(cell)),
                        }
                        stored += 1;
                    }
                    found += 1;
                    flen = 0;
                    fbytes = 0;
                    skipping_field = false;
                    if record_end {
                        break;
                    }
                }
                // Unreachable after the blank-line skip, but harmless.
                ReadFieldResult::End => break,
            }
        }
        rec.fields.truncate(stored);
        rec.problem = if record_too_long {
            Some(RecordProblem::RecordTooLong {
                bytes: rbytes,
                limit: self.max_record,
            })
        } else if let Some((column, bytes)) = field_too_long {
            Some(RecordProblem::FieldTooLong {
                column,
                bytes,
                limit: self.max_field,
            })
        } else {
            width_problem(rec, expected, found)
        };
        Ok(found > 0)
    }

    /// Skips blank lines (csv_core would skip them the same way) so that a record's `line` is
    /// the line of its first byte. Ok(false) at end of input.
    fn skip_blank_lines(&mut self) -> Result<bool, InputError> {
        loop {
            if self.pos == self.end && !self.fill()? {
                return Ok(false);
            }
            match self.buf[self.pos] {
                b @ (b'\r' | b'\n') => {
                    count_lines(&[b], &mut self.lines, &mut self.prev_cr);
                    self.pos += 1;
                }
                _ => return Ok(true),
            }
        }
    }

    /// The first `len` bytes of the cell buffer as text. Bytes that are no UTF-8, or that a
    /// decoder turned into U+FFFD (a lone UTF-16 surrogate), are fatal: a replaced character
    /// would silently alter an email address. `column` is 1-based.
    fn cell_text(
        &self,
        len: usize,
        record: Option<u64>,
        line: u64,
        column: usize,
    ) -> Result<&str, InputError> {
        match std::str::from_utf8(&self.out[..len]) {
            Ok(s) if self.decoded && s.contains('\u{FFFD}') => Err(InputError::Malformed {
                name: self.name.clone(),
                record,
                line,
                column,
                encoding: self.dialect.encoding,
            }),
            Ok(s) => Ok(s),
            Err(e) => Err(InputError::InvalidUtf8 {
                name: self.name.clone(),
                record,
                line,
                column,
                byte: self.out[e.valid_up_to()],
            }),
        }
    }
}

/// A row narrower than the header is complete (spreadsheets drop empty trailing cells), so it
/// is padded; a wider one is damaged. `expected` is None for the header itself.
fn width_problem(rec: &mut Record, expected: Option<usize>, found: usize) -> Option<RecordProblem> {
    match expected {
        Some(e) if found < e => {
            rec.fields.resize(e, String::new());
            None
        }
        Some(e) if e != found => Some(RecordProblem::FieldCount { expected: e, found }),
        _ => None,
    }
}

/// A record's new cell, with room to grow: records are reused row after row, and a cell
/// allocated to its first value's size was reallocated as soon as a longer one came (a dry
/// run's thousands of reused records did that about three times each).
fn new_cell(cell: &str) -> String {
    let mut s = String::with_capacity(cell.len().next_power_of_two().max(16));
    s.push_str(cell);
    s
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The crate's one sanitiser, under the name this module's callers know.
pub use crate::text::sanitize as sanitize_for_message;

#[cfg(test)]
mod tests;
