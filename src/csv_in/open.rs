//! Opening an input: a file, a stream or a spreadsheet becomes a [`CsvInput`] whose dialect is
//! settled and whose header is read. For text, the first bytes decide the decoder (BOMs, UTF-16)
//! and refuse binary formats, a sample of the first rows decides the delimiter (after a `sep=`
//! line and `--skip-lines` title lines), then the header row is read against it; a spreadsheet
//! is handed to [`super::sheet`]. Called through [`CsvInput::open`] by import, verify and the
//! tag pre-read.

use std::io::{self, Read};

use csv_core::{Reader as CoreReader, ReaderBuilder};

use super::dialect::{binary_kind, count_lines, detect_delimiter, parse_sep_line, valid_delimiter};
use super::source::decode;
use super::{
    BUF_SIZE, CsvInput, DelimiterSource, Dialect, Encoding, InputError, MAX_COLUMNS, Options,
    Record, RecordProblem, SAMPLE_ROWS, Source, dialect, read_up_to, sanitize_for_message, sheet,
};

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
            utf8_end: 0,
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
            plain_lines: true,
            cuts: Vec::new(),
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

    pub(super) fn build(
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
}
