//! Row outcomes and the two files that report them.
//!
//! The results file is the input's own columns, unchanged, followed by [`RESULT_COLUMNS`]:
//! exactly one line per input record, in input order. The rejects file holds only invalid and
//! failed rows with the original header and cells, ready to fix and import again. Both are
//! created before the first request and written as outcomes arrive, by the rules of
//! [`crate::files`] (a fresh 0600 file replaces the old one; a FIFO or `-` is written through).

use std::io::{self, BufWriter};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::api::Details;
use crate::files::Output;

pub const RESULT_COLUMNS: [&str; 8] = [
    "_row",
    "_outcome",
    "_http_status",
    "_error_code",
    "_message",
    "_details",
    "_contact_id",
    "_attempts",
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
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Created,
        Kind::Exists,
        Kind::Updated,
        Kind::Invalid,
        Kind::Duplicate,
        Kind::Failed,
        Kind::NotAttempted,
        Kind::WouldCreate,
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
        matches!(self, Kind::Invalid | Kind::Failed)
    }
}

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
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// Writes the results file, in input order.
pub struct ResultsWriter {
    out: csv::Writer<BufWriter<Output>>,
    width: usize,
}

impl ResultsWriter {
    pub fn create(path: &Path, headers: &[String]) -> io::Result<Self> {
        let file = Output::fresh(path)?;
        let mut out = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(BufWriter::with_capacity(256 * 1024, file));
        let header: Vec<&str> = headers
            .iter()
            .map(String::as_str)
            .chain(RESULT_COLUMNS)
            .collect();
        out.write_record(&header)?;
        Ok(ResultsWriter {
            out,
            width: headers.len(),
        })
    }

    /// One line: the row's cells (padded or cut to the header's width, so the result columns
    /// always line up; extra cells are quoted in `_message` by the caller) and its outcome.
    /// Fields are written in place: no per-row copies of the cells.
    pub fn write(&mut self, row: u64, cells: &[String], outcome: &Outcome) -> io::Result<()> {
        for i in 0..self.width {
            self.out
                .write_field(cells.get(i).map_or("", String::as_str))?;
        }
        let mut number = itoa::Buffer::new();
        self.out.write_field(number.format(row))?;
        self.out.write_field(outcome.kind.as_str())?;
        match outcome.http_status {
            Some(s) => self.out.write_field(number.format(s))?,
            None => self.out.write_field("")?,
        }
        self.out
            .write_field(outcome.error_code.as_deref().unwrap_or(""))?;
        self.out
            .write_field(outcome.message.as_deref().unwrap_or(""))?;
        match &outcome.details {
            Some(d) => self
                .out
                .write_field(serde_json::to_string(d).unwrap_or_default())?,
            None => self.out.write_field("")?,
        }
        match outcome.contact_id {
            Some(id) => self.out.write_field(number.format(id))?,
            None => self.out.write_field("")?,
        }
        match outcome.attempts {
            0 => self.out.write_field("")?,
            n => self.out.write_field(number.format(n))?,
        }
        self.out.write_record(None::<&[u8]>)?;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes the rejects file: original header and cells, nothing added.
pub struct RejectsWriter {
    out: csv::Writer<BufWriter<Output>>,
}

impl RejectsWriter {
    pub fn create(path: &Path, headers: &[String]) -> io::Result<Self> {
        let file = Output::fresh(path)?;
        let mut out = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(BufWriter::new(file));
        out.write_record(headers)?;
        Ok(RejectsWriter { out })
    }

    pub fn write(&mut self, cells: &[String]) -> io::Result<()> {
        self.out.write_record(cells)?;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        w.write(1, &["bad".into()], &invalid).unwrap();
        let mut created = Outcome::new(Kind::Created);
        created.http_status = Some(201);
        created.contact_id = Some(7);
        created.attempts = 2;
        w.write(
            2,
            &["a@b.co".into(), "A, B".into(), "extra".into()],
            &created,
        )
        .unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "Email,Name,_row,_outcome,_http_status,_error_code,_message,_details,_contact_id,_attempts\n\
             bad,,1,invalid,422,VALIDATION_ERROR,The given data was invalid,\"{\"\"email\"\":[\"\"The email must be a valid email address.\"\"]}\",,\n\
             a@b.co,\"A, B\",2,created,201,,,,7,2\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
