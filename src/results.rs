//! Row outcomes and the two files that report them.
//!
//! The results file is the input's own columns, unchanged, followed by [`RESULT_COLUMNS`]:
//! exactly one line per input record, in input order. The rejects file holds only invalid and
//! failed rows with the original header and cells, ready to fix and import again. Both are
//! created before the first request and written as outcomes arrive, by the rules of
//! [`crate::files`] (a fresh 0600 file replaces the old one; a FIFO or `-` is written through).

use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::api::Details;
use crate::files::Output;

mod line;
pub use line::LineFormat;
use line::push_field;

/// The column the rejects file adds: why the row was rejected.
pub const REASON_COLUMN: &str = "_reason";

pub const RESULT_COLUMNS: [&str; 9] = [
    "_row",
    "_outcome",
    "_http_status",
    "_error_code",
    "_message",
    "_details",
    "_contact_id",
    "_attempts",
    "_steps",
];

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Created,
    Exists,
    Updated,
    Invalid,
    Duplicate,
    Failed,
    NotAttempted,
    WouldCreate,
    /// The contact was created (or updated) but some of its custom values were not set:
    /// `--resume` sends only the missing ones.
    Partial,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Created,
        Kind::Exists,
        Kind::Updated,
        Kind::Invalid,
        Kind::Duplicate,
        Kind::Failed,
        Kind::NotAttempted,
        Kind::WouldCreate,
        Kind::Partial,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Created => "created",
            Kind::Exists => "exists",
            Kind::Updated => "updated",
            Kind::Invalid => "invalid",
            Kind::Duplicate => "duplicate",
            Kind::Failed => "failed",
            Kind::NotAttempted => "not_attempted",
            Kind::WouldCreate => "would_create",
            Kind::Partial => "partial",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Settled for good: a resumed run does not send these rows again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Kind::Created | Kind::Exists | Kind::Updated | Kind::Invalid | Kind::Duplicate
        )
    }

    /// Rows that need the user's attention, and the rejects file.
    pub fn is_reject(self) -> bool {
        matches!(self, Kind::Invalid | Kind::Failed | Kind::Partial)
    }
}

/// `_error_code` of a row whose email's first occurrence failed on the server.
pub const FIRST_OCCURRENCE_FAILED: &str = "FIRST_OCCURRENCE_FAILED";

/// One row's outcome, as recorded in the results file and the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<u64>,
    #[serde(default)]
    pub attempts: u32,
    /// For a `failed` row: the answer proves nothing was stored (401/403, another 4xx, or no
    /// request ever left), so a resume sends it again without a lookup. Unset, a failed row
    /// may have been stored, and a 409 on its re-send is looked up before it is called
    /// `exists`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_stored: bool,
    /// Every request of a multi-request row with its answer, `create 201; Company 200;
    /// Plan 404` (`_steps`); `None` for a row of one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<String>,
    /// A `duplicate`'s first occurrence: the collector turns it into [`Outcome::duplicate_of_failed`]
    /// when that row failed. Never journaled: resume decides duplicates afresh.
    #[serde(skip)]
    pub duplicate_of: Option<std::num::NonZeroU64>,
}

impl Outcome {
    pub fn new(kind: Kind) -> Self {
        Outcome {
            kind,
            http_status: None,
            error_code: None,
            message: None,
            details: None,
            contact_id: None,
            attempts: 0,
            not_stored: false,
            steps: None,
            duplicate_of: None,
        }
    }

    /// A request for this row may have been stored without us holding the proof (a `failed`
    /// row whose answers do not rule it out): a resume looks it up after a 409.
    pub fn maybe_stored_unseen(&self) -> bool {
        self.kind == Kind::Failed && !self.not_stored
    }

    /// A row not sent because the same email appeared earlier, on `first_row`.
    pub fn duplicate(first_row: u64) -> Self {
        let mut o = Outcome::new(Kind::Duplicate)
            .with_message(format!("same email as row {first_row}; not sent"));
        o.duplicate_of = std::num::NonZeroU64::new(first_row);
        o
    }

    /// The same row when its first occurrence failed on the server: no contact with this email
    /// exists, so calling it a harmless `duplicate` would hide a missing contact (issue 19.6).
    /// It is `failed` (so it goes to the rejects file beside its first occurrence), never sent
    /// (`not_stored`): `--resume` retries the first occurrence and decides this row again.
    pub fn duplicate_of_failed(first_row: u64, first_code: Option<&str>) -> Self {
        let why = first_code.map_or_else(String::new, |c| format!(" ({c})"));
        let mut o = Outcome::new(Kind::Failed).with_message(format!(
            "not sent: same email as row {first_row}, which failed{why}; \
             fix that row, then --resume or import the rejects file"
        ));
        o.error_code = Some(FIRST_OCCURRENCE_FAILED.into());
        o.not_stored = true;
        o
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Nothing but its kind shows in the results line (the rest as [`Outcome::new`] leaves it).
    pub fn is_bare(&self) -> bool {
        self.http_status.is_none()
            && self.error_code.is_none()
            && self.message.is_none()
            && self.details.is_none()
            && self.contact_id.is_none()
            && self.attempts == 0
            && self.steps.is_none()
    }

    /// Equal to `Outcome::new(kind)`, without building one to compare with (a dry run asks it
    /// of every row).
    pub fn is_plain(&self, kind: Kind) -> bool {
        self.kind == kind && self.is_bare() && !self.not_stored && self.duplicate_of.is_none()
    }

    /// Adds a note on how the row was read after whatever message the outcome has.
    pub fn with_note(mut self, note: Option<String>) -> Self {
        if let Some(note) = note {
            self.message = Some(match self.message.take() {
                Some(m) if !m.is_empty() => format!("{m}; {note}"),
                _ => note,
            });
        }
        self
    }
}

/// Writes the results file, in input order.
///
/// Each line is built at the end of a 256 KiB buffer ([`LineFormat`]), which goes to the file
/// whenever it is full: this runs once per input row, so it allocates nothing and copies each
/// byte once (a line built aside and then copied into a `BufWriter` cost a tenth of a dry
/// run's writer thread in `memcpy`). Whole lines only ever reach the file, and what is
/// buffered is written on [`ResultsWriter::flush`] or, like a `BufWriter`, on drop.
pub struct ResultsWriter {
    out: Output,
    format: LineFormat,
    /// Complete lines not yet written.
    line: Vec<u8>,
}

/// What [`ResultsWriter`] buffers before writing.
const RESULTS_BUFFER: usize = 256 * 1024;

impl ResultsWriter {
    pub fn create(path: &Path, headers: &[String]) -> io::Result<Self> {
        let mut writer = ResultsWriter {
            out: Output::fresh(path)?,
            format: LineFormat::new(headers.len()),
            // Room for the last line past the mark, so the buffer rarely grows.
            line: Vec::with_capacity(RESULTS_BUFFER + 16 * 1024),
        };
        let header = headers.iter().map(String::as_str).chain(RESULT_COLUMNS);
        for (i, name) in header.enumerate() {
            if i > 0 {
                writer.line.push(b',');
            }
            push_field(&mut writer.line, name.as_bytes());
        }
        writer.line.push(b'\n');
        writer.end_line()?;
        Ok(writer)
    }

    /// A [`LineFormat`] for this file, for a thread that prepares lines ahead of their turn
    /// ([`ResultsWriter::write_line`]).
    pub fn line_format(&self) -> LineFormat {
        self.format.for_same_file()
    }

    /// Row `row`'s line ([`LineFormat::push`]).
    pub fn write(
        &mut self,
        row: u64,
        cells: &[String],
        unquoted: bool,
        outcome: &Outcome,
    ) -> io::Result<()> {
        self.format
            .push(&mut self.line, row, cells, unquoted, outcome);
        self.end_line()
    }

    /// A line built by another [`LineFormat`] of this file, for the row whose turn it is.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.line.extend_from_slice(line);
        self.end_line()
    }

    fn end_line(&mut self) -> io::Result<()> {
        match self.line.len() >= RESULTS_BUFFER {
            true => self.write_buffered(),
            false => Ok(()),
        }
    }

    /// Hands the buffered lines to the file; they are dropped even when that fails, as the
    /// run stops on the error (a `BufWriter` would retry them at its next write).
    fn write_buffered(&mut self) -> io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let written = self.out.write_all(&self.line);
        self.line.clear();
        written
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.write_buffered()?;
        self.out.flush()
    }
}

impl Drop for ResultsWriter {
    /// As a `BufWriter` does: what is buffered is written, an error ignored (who drops the
    /// writer without [`ResultsWriter::flush`] is already stopping on another error).
    fn drop(&mut self) {
        let _ = self.write_buffered();
    }
}

/// Writes the rejects file: the original header and cells, plus one `_reason` column, in the
/// input's own dialect (delimiter, line ending, and a UTF-8 BOM when the input had one or was
/// not UTF-8), so the spreadsheet the file came from opens it as it opened the input. Import
/// ignores `_reason` when the fixed file is read back.
pub struct RejectsWriter {
    out: csv::Writer<BufWriter<Output>>,
    width: usize,
}

impl RejectsWriter {
    pub fn create(
        path: &Path,
        headers: &[String],
        dialect: &crate::csv_in::Dialect,
    ) -> io::Result<Self> {
        let mut file = BufWriter::new(Output::fresh(path)?);
        if dialect.bom || dialect.encoding != "UTF-8" {
            io::Write::write_all(&mut file, "\u{FEFF}".as_bytes())?;
        }
        let mut out = csv::WriterBuilder::new()
            .flexible(true)
            .delimiter(dialect.delimiter)
            .terminator(if dialect.crlf {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            })
            .from_writer(file);
        out.write_record(headers.iter().map(String::as_str).chain([REASON_COLUMN]))?;
        Ok(RejectsWriter {
            out,
            width: headers.len(),
        })
    }

    /// The row's cells, padded to the header's width, then its reason. A ragged row keeps
    /// every cell it had, side by side, so its reason comes after its extra cells.
    pub fn write(&mut self, cells: &[String], outcome: &Outcome) -> io::Result<()> {
        for i in 0..self.width.max(cells.len()) {
            self.out
                .write_field(cells.get(i).map_or("", String::as_str))?;
        }
        self.out.write_field(reason(outcome))?;
        self.out.write_record(None::<&[u8]>)?;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One line on why a row is in the rejects file: the field messages of a 422 when there are
/// some (`email: The email must be a valid email address.`), else the message, else the code.
fn reason(outcome: &Outcome) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(code) = &outcome.error_code {
        parts.push(code.clone());
    }
    match &outcome.details {
        Some(details) if !details.is_empty() => {
            for (field, messages) in details {
                parts.push(format!("{field}: {}", messages.join(" ")));
            }
        }
        _ => parts.extend(outcome.message.clone()),
    }
    if parts.is_empty() {
        parts.push(outcome.kind.as_str().to_string());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `is_plain` is equality with a new outcome of the kind: every field that can differ
    /// makes it false.
    #[test]
    fn is_plain_is_equality_with_a_new_outcome() {
        let variants: Vec<fn(&mut Outcome)> = vec![
            |_| {},
            |o| o.http_status = Some(201),
            |o| o.error_code = Some("X".into()),
            |o| o.message = Some("m".into()),
            |o| o.details = Some(Details::default()),
            |o| o.contact_id = Some(7),
            |o| o.attempts = 1,
            |o| o.not_stored = true,
            |o| o.steps = Some("create 201".into()),
            |o| o.duplicate_of = std::num::NonZeroU64::new(3),
        ];
        for kind in Kind::ALL {
            for change in &variants {
                let mut o = Outcome::new(kind);
                change(&mut o);
                for asked in Kind::ALL {
                    assert_eq!(
                        o.is_plain(asked),
                        o == Outcome::new(asked),
                        "{o:?} {asked:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn kinds_round_trip_and_classify() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert!(Kind::Duplicate.is_final() && !Kind::Failed.is_final());
        assert!(!Kind::NotAttempted.is_final());
        assert!(Kind::Invalid.is_reject() && !Kind::Exists.is_reject());
    }

    #[test]
    fn writes_input_columns_then_outcome_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let headers = vec!["Email".to_string(), "Name".to_string()];
        let mut w = ResultsWriter::create(&path, &headers).unwrap();
        let mut details = Details::new();
        details.insert(
            "email".into(),
            vec!["The email must be a valid email address.".into()],
        );
        let mut invalid = Outcome::new(Kind::Invalid).with_message("The given data was invalid");
        invalid.http_status = Some(422);
        invalid.error_code = Some("VALIDATION_ERROR".into());
        invalid.details = Some(details);
        w.write(1, &["bad".into()], true, &invalid).unwrap();
        let mut created = Outcome::new(Kind::Created);
        created.http_status = Some(201);
        created.contact_id = Some(7);
        created.attempts = 2;
        w.write(
            2,
            &["a@b.co".into(), "A, B".into(), "extra".into()],
            false,
            &created,
        )
        .unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "Email,Name,_row,_outcome,_http_status,_error_code,_message,_details,_contact_id,_attempts,_steps\n\
             bad,,1,invalid,422,VALIDATION_ERROR,The given data was invalid,\"{\"\"email\"\":[\"\"The email must be a valid email address.\"\"]}\",,,\n\
             a@b.co,\"A, B\",2,created,201,,,,7,2,\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
