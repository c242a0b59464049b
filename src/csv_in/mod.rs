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

use csv_core::{ReadFieldResult, Reader as CoreReader, ReaderBuilder};

mod dialect;
use dialect::{binary_kind, count_lines, detect_delimiter, parse_sep_line, valid_delimiter};

/// Input buffer size; also the size of the sample used for delimiter detection.
const BUF_SIZE: usize = 64 * 1024;
/// Records after the header that delimiter detection looks at.
const SAMPLE_ROWS: usize = 20;
/// Most cells stored per record (Excel's limit is 16,384): beyond it a row
/// is surely broken, and storing millions of empty cells would defeat the
/// memory bound. Extra cells are still counted for [`RecordProblem::FieldCount`].
pub const MAX_COLUMNS: usize = 65_536;

mod errors;
mod sheet;
mod source;
pub use errors::{InputError, Record, RecordProblem};
use source::decode;
pub use source::{DelimiterSource, Dialect, Encoding, Options, Sheet, Source, is_utf16};

pub struct CsvInput {
    name: String,
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
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
    /// Opens the source, settles the dialect and reads the header row.
    pub fn open(source: &Source, opts: &Options) -> Result<CsvInput, InputError> {
        let name = source.display_name();
        match source {
            Source::Path(p) => match std::fs::File::open(p) {
                Ok(mut f) => {
                    // A FIFO, `<(...)` or a device delivers rows as they come, like stdin.
                    let stream = !f.metadata().is_ok_and(|m| m.is_file());
                    if !stream {
                        let format =
                            sheet::format_of(p, &mut f).map_err(|error| InputError::Read {
                                name: name.clone(),
                                line: 1,
                                error,
                            })?;
                        if let Some(format) = format {
                            return Self::from_sheet(name, p, format, opts);
                        }
                    }
                    Self::build(name, Box::new(f), opts, BUF_SIZE, stream)
                }
                Err(error) => Err(InputError::Open { name, error }),
            },
            Source::Stdin => Self::build(name, Box::new(io::stdin()), opts, BUF_SIZE, true),
        }
    }

    /// Same as [`CsvInput::open`] for any byte stream (tests, pipes, archives).
    pub fn from_reader<R: Read + Send + 'static>(
        name: &str,
        reader: R,
        opts: &Options,
    ) -> Result<CsvInput, InputError> {
        Self::build(
            sanitize_for_message(name, 4096),
            Box::new(reader),
            opts,
            BUF_SIZE,
            false,
        )
    }

    /// Whether the buffer holds the end of a line: if not, the next record may wait on the
    /// producer, so a caller batching rows should hand over what it has first.
    pub fn line_buffered(&self) -> bool {
        self.eof || self.buf[self.pos..self.end].contains(&b'\n')
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

    /// A reader before its first byte: the header is read by the caller.
    fn new(
        name: String,
        reader: Box<dyn Read + Send>,
        buf_size: usize,
        opts: &Options,
        dialect: Dialect,
    ) -> CsvInput {
        CsvInput {
            name,
            reader,
            buf: vec![0; buf_size.max(1)],
            pos: 0,
            end: 0,
            eof: false,
            failed: false,
            decoded: false,
            core: CoreReader::new(),
            out: vec![0; opts.max_field_bytes.saturating_add(1).min(256)],
            headers: Vec::new(),
            dialect,
            max_field: opts.max_field_bytes,
            max_record: opts.max_record_bytes,
            lines: 0,
            prev_cr: false,
            records: 0,
            limit: opts.limit,
            sheet: None,
            exact_records: None,
        }
    }

    /// A spreadsheet's sheet as records. Files written back for the user (rejects) are CSV
    /// in the dialect Excel opens without asking: UTF-8 with a BOM, commas, CR LF.
    fn from_sheet(
        name: String,
        path: &std::path::Path,
        format: sheet::Format,
        opts: &Options,
    ) -> Result<CsvInput, InputError> {
        let opened = sheet::open(&name, path, format, opts)?;
        let dialect = Dialect {
            delimiter: b',',
            delimiter_source: DelimiterSource::Default,
            encoding: "UTF-8",
            bom: true,
            crlf: true,
            sheet: Some(opened.sheet),
        };
        let mut this = CsvInput::new(name, Box::new(io::empty()), 0, opts, dialect);
        this.eof = true;
        this.lines = opened.header_line;
        this.headers = opened.headers;
        this.sheet = Some(Box::new(opened.rows));
        this.exact_records = Some(opened.records);
        Ok(this)
    }

    fn build(
        name: String,
        mut raw: Box<dyn Read + Send>,
        opts: &Options,
        buf_size: usize,
        stream: bool,
    ) -> Result<CsvInput, InputError> {
        if let Some(d) = opts.delimiter
            && !valid_delimiter(d)
        {
            return Err(InputError::BadDelimiter {
                name,
                delimiter: d as char,
            });
        }
        if opts.sheet.is_some() {
            return Err(InputError::NotApplicable {
                name,
                flag: "--sheet",
                what: "a CSV file (it has one table; --sheet picks a spreadsheet's sheet)",
            });
        }
        // BOMs and binary signatures are facts about raw bytes, so look
        // before any decoder touches them, then put the bytes back in front.
        let mut head = [0u8; 4];
        let n = read_up_to(&mut raw, &mut head).map_err(|error| InputError::Read {
            name: name.clone(),
            line: 1,
            error,
        })?;
        let head = &head[..n];
        if let Some((what, hint)) = binary_kind(head) {
            return Err(InputError::NotText { name, what, hint });
        }
        let (reader, encoding, bom) = decode(&name, head, raw, opts.encoding)?;
        let dialect = Dialect {
            delimiter: b',',
            delimiter_source: DelimiterSource::Default,
            encoding,
            bom,
            crlf: false,
            sheet: None,
        };
        let mut this = CsvInput::new(name, reader, buf_size, opts, dialect);
        this.decoded = encoding != "UTF-8" || opts.encoding.is_some_and(|e| e != Encoding::Utf8);
        this.fill_sample(opts.delimiter.is_some(), stream)?;
        let sep = parse_sep_line(&this.buf[..this.end], this.eof);
        if let Some((_, used)) = sep {
            count_lines(&this.buf[..used], &mut this.lines, &mut this.prev_cr);
            this.pos = used;
        }
        if opts.skip_lines > 0 {
            this.skip_lines(opts.skip_lines)?;
            this.fill_sample(opts.delimiter.is_some(), stream)?;
        }
        let (delimiter, source) = match (opts.delimiter, sep) {
            (Some(d), _) => (d, DelimiterSource::Flag),
            (None, Some((d, _))) => (d, DelimiterSource::SepLine),
            (None, None) => detect_delimiter(&this.buf[this.pos..this.end], this.eof),
        };
        this.dialect.delimiter = delimiter;
        this.dialect.delimiter_source = source;
        this.core = ReaderBuilder::new().delimiter(delimiter).build();

        this.read_header()?;
        Ok(this)
    }

    /// Reads the header row into `headers`: a damaged or absurdly wide header is fatal, since
    /// every row is read against it. Also notes whether the file ends its lines with CR LF.
    fn read_header(&mut self) -> Result<(), InputError> {
        let mut header = Record::default();
        if !self.read_into(&mut header, None, None)? {
            return Err(InputError::Empty {
                name: self.name.clone(),
            });
        }
        if let Some(p) = header.problem {
            let detail = match p {
                RecordProblem::FieldTooLong {
                    column,
                    bytes,
                    limit,
                } => format!(
                    "column {} is {bytes} bytes, over the {limit}-byte cell limit",
                    column + 1
                ),
                other => other.message(&[]),
            };
            return Err(InputError::BadHeader {
                name: self.name.clone(),
                line: header.line,
                detail,
            });
        }
        if header.fields.len() >= MAX_COLUMNS {
            return Err(InputError::BadHeader {
                name: self.name.clone(),
                line: header.line,
                detail: format!("it has {MAX_COLUMNS} columns or more"),
            });
        }
        self.dialect.crlf = self.pos > 0 && self.buf[self.pos - 1] == b'\r'
            || self.buf[..self.pos].ends_with(b"\r\n");
        self.headers = header.fields;
        Ok(())
    }

    /// Buffers the sample that delimiter detection looks at; the sample is then parsed from
    /// the same buffer, so stdin works too. It never waits for more than it needs, so rows from
    /// a slow producer (`producer | wolfeo-bulk import -`) start flowing at once: the first
    /// line is enough when `--delimiter` is given; otherwise the header and [`SAMPLE_ROWS`]
    /// records, or, from a stream, whatever complete lines the producer has written so far.
    fn fill_sample(&mut self, delimiter_given: bool, stream: bool) -> Result<(), InputError> {
        while self.end < self.buf.len() {
            let room = self.buf.len() - self.end;
            let n = match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(self.read_error(error)),
            };
            self.end += n;
            let sample = &self.buf[..self.end];
            if !sample.contains(&b'\n') {
                continue;
            }
            if delimiter_given
                || (stream && n < room)
                || dialect::field_counts(sample, false, b',').len() > SAMPLE_ROWS
            {
                break;
            }
        }
        Ok(())
    }

    /// Skips `n` physical lines (`--skip-lines`: title lines above the header), then moves
    /// what is left of the buffer to its front so the delimiter sample can be topped up.
    /// Lines end as csv_core ends them (CR, LF or CR LF); quotes mean nothing in a title.
    fn skip_lines(&mut self, mut n: u64) -> Result<(), InputError> {
        while n > 0 {
            if self.pos == self.end && !self.fill()? {
                break; // no header after the title lines: reported as an empty file
            }
            let rest = &self.buf[self.pos..self.end];
            let Some(i) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                count_lines(rest, &mut self.lines, &mut self.prev_cr);
                self.pos = self.end;
                continue;
            };
            // The LF of a CR LF split across two reads ends no new line.
            let second_half = i == 0 && rest[0] == b'\n' && self.prev_cr;
            count_lines(&rest[..=i], &mut self.lines, &mut self.prev_cr);
            self.pos += i + 1;
            n -= u64::from(!second_half);
        }
        if self.pos < self.end && self.buf[self.pos] == b'\n' && self.prev_cr {
            count_lines(b"\n", &mut self.lines, &mut self.prev_cr);
            self.pos += 1;
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        Ok(())
    }

    /// Refills the empty buffer; Ok(false) at end of input.
    fn fill(&mut self) -> Result<bool, InputError> {
        self.pos = 0;
        self.end = 0;
        while !self.eof {
            match self.reader.read(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end = n;
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
        if self.failed {
            return Ok(false);
        }
        if !self.skip_blank_lines()? {
            return Ok(false);
        }
        rec.line = self.lines + 1;

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
                            None => rec.fields.push(cell.to_string()),
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
