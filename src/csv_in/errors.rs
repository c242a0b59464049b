//! What can go wrong reading a CSV: per-record problems ([`RecordProblem`], carried on the
//! [`Record`] so the row becomes that row's outcome and reading goes on) and whole-file
//! [`InputError`]s (one line naming the file, record, line and column, with a hint). Used by
//! [`super::CsvInput`] and, through `From`, by the typed fatal errors in `crate::exit`.

use std::io;

use super::sanitize_for_message;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// 1-based, header excluded: the row number users see in results.
    pub number: u64,
    /// 1-based physical line of the record's first byte, counting the header,
    /// any `sep=` line, blank lines and line breaks inside quoted cells (CR,
    /// LF and CRLF each end one line).
    pub line: u64,
    /// Cells as parsed, not trimmed; an over-long cell is `""` (see `problem`).
    pub fields: Vec<String>,
    pub problem: Option<RecordProblem>,
    /// A hint, not content: set when the record came from a comma-separated line without a
    /// quote (the reader's plain path), so that no cell holds a comma, a quote, CR or LF and
    /// a comma-separated writer copies the cells without looking for what to quote.
    pub unquoted: bool,
}

/// Row-level problems: the caller reports the row as invalid and goes on.
/// When several apply, `RecordTooLong` wins over `FieldTooLong` over
/// `FieldCount`. With `RecordTooLong`, `fields` holds only the cells read
/// before the limit was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordProblem {
    FieldCount {
        expected: usize,
        found: usize,
    },
    FieldTooLong {
        /// 0-based.
        column: usize,
        bytes: usize,
        limit: usize,
    },
    /// `bytes` counts cell bytes plus one separator per cell (quotes excluded).
    RecordTooLong {
        bytes: usize,
        limit: usize,
    },
    /// A spreadsheet cell holds an error value (`#N/A`, `#REF!`, ...), usually a formula that
    /// failed: there is no value to send. The cell reads as the error's text.
    CellError {
        /// 0-based.
        column: usize,
        error: &'static str,
    },
}

impl RecordProblem {
    pub fn message(&self, headers: &[String]) -> String {
        match *self {
            RecordProblem::FieldCount { expected, found } => {
                format!("row has {found} fields but the header has {expected}")
            }
            RecordProblem::FieldTooLong {
                column,
                bytes,
                limit,
            } => format!(
                "{} is {bytes} bytes, over the {limit}-byte cell limit",
                column_label(headers, column)
            ),
            RecordProblem::RecordTooLong { bytes, limit } => {
                format!("row is {bytes} bytes, over the {limit}-byte row limit")
            }
            RecordProblem::CellError { column, error } => format!(
                "{} holds the spreadsheet error {error} (a formula that failed?): no value \
                 to send",
                column_label(headers, column)
            ),
        }
    }

    /// The results file's `_error_code` for a row with this problem.
    pub fn code(&self) -> &'static str {
        match self {
            RecordProblem::CellError { .. } => "CELL_ERROR",
            _ => "MALFORMED_ROW",
        }
    }
}

fn column_label(headers: &[String], column: usize) -> String {
    match headers.get(column) {
        Some(h) if !h.trim().is_empty() => {
            format!(
                "column {} (\"{}\")",
                column + 1,
                sanitize_for_message(h, 40)
            )
        }
        _ => format!("column {}", column + 1),
    }
}

/// Fatal problems: the file as a whole cannot be read. Each message is one
/// line starting with the file name, with a hint when there is one. I/O
/// errors are part of the message rather than a `source()`, so reporters
/// that walk the chain do not print them twice.
#[derive(thiserror::Error, Debug)]
pub enum InputError {
    #[error("{name}: cannot open: {error}")]
    Open { name: String, error: io::Error },
    #[error("{name}: read error near line {line}: {error}")]
    Read {
        name: String,
        line: u64,
        error: io::Error,
    },
    #[error("{name}: the file is empty (no header row)")]
    Empty { name: String },
    #[error(
        "{name}: the file starts with a UTF-16 byte-order mark but --encoding utf-8 was given; \
         drop --encoding"
    )]
    Utf16Bom { name: String },
    #[error("{name}: this looks like {what}, not CSV text; {hint}")]
    NotText {
        name: String,
        what: &'static str,
        hint: &'static str,
    },
    #[error(
        "{name}: {} is not valid UTF-8 (byte 0x{byte:02X} in column {column}); if the file is \
         Latin-1 or Windows-1252, pass --encoding windows-1252",
        where_(*.record, *.line)
    )]
    InvalidUtf8 {
        name: String,
        /// `None` for the header row.
        record: Option<u64>,
        line: u64,
        /// 1-based.
        column: usize,
        byte: u8,
    },
    #[error(
        "{name}: {} is not valid {encoding} (column {column} holds bytes that are no character, \
         such as a lone UTF-16 surrogate); check the file or --encoding",
        where_(*.record, *.line)
    )]
    Malformed {
        name: String,
        record: Option<u64>,
        line: u64,
        column: usize,
        encoding: &'static str,
    },
    #[error("{name}: the header row (line {line}) is unusable: {detail}")]
    BadHeader {
        name: String,
        line: u64,
        detail: String,
    },
    /// A spreadsheet the reader cannot open or read (damaged, encrypted, not one after all).
    #[error("{name}: cannot read this {format} spreadsheet: {detail}")]
    Spreadsheet {
        name: String,
        format: &'static str,
        detail: String,
    },
    #[error("{name}: no sheet named \"{sheet}\"; its sheets are: {}", list_sheets(.sheets))]
    UnknownSheet {
        name: String,
        sheet: String,
        sheets: Vec<String>,
    },
    /// A flag that applies to one kind of input given with the other (`--sheet` with a CSV,
    /// `--delimiter` with a spreadsheet).
    #[error("{name}: {flag} does not apply to {what}")]
    NotApplicable {
        name: String,
        flag: &'static str,
        what: &'static str,
    },
    #[error(
        "{name}: invalid delimiter {delimiter:?}: use a single ASCII character other than a quote or a line break"
    )]
    BadDelimiter { name: String, delimiter: char },
}

fn list_sheets(sheets: &[String]) -> String {
    let quoted: Vec<String> = sheets
        .iter()
        .map(|s| format!("\"{}\"", sanitize_for_message(s, 80)))
        .collect();
    quoted.join(", ")
}

fn where_(record: Option<u64>, line: u64) -> String {
    match record {
        Some(r) => format!("record {r} (line {line})"),
        None => format!("the header row (line {line})"),
    }
}
