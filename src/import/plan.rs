//! Decides, for each CSV record, whether it is sent and with which JSON body.
//!
//! Runs on the reader thread, off the async runtime: map the cells, build the exact payload,
//! validate it with the server's own rules ([`crate::validate`]), drop in-file duplicates, and
//! apply what a previous run already settled. Everything decided here becomes a [`Work::Done`]
//! outcome without touching the network.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Map, Value};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::csv_in::{self, CsvInput, Record, RecordProblem, sanitize_for_message};
use crate::import::dedupe::{DupSet, Seen};
use crate::import::journal::Previous;
use crate::mapping::{self, Consent, Field, Mapping};
use crate::results::{Kind, Outcome};
use crate::shutdown::Shutdown;
use crate::validate::{self, Mode};

/// One record on its way through the pipeline.
pub struct Job {
    pub row: u64,
    pub cells: Vec<String>,
    pub work: Work,
}

pub enum Work {
    Send(Payload),
    /// Decided here (invalid, duplicate, dry run, not attempted).
    Done(Outcome),
    /// Settled by a previous run of this import: replayed from its journal.
    Settled(Outcome),
}

pub struct Payload {
    pub body: Bytes,
    pub email: String,
    /// How the row was read, for its `_message` whatever the server answers (an email taken
    /// from a second column, an opt-out that won over an opt-in).
    pub note: Option<String>,
    /// A previous run may already have sent this row: a 409 must be looked up, not trusted.
    pub maybe_sent_before: bool,
}

/// Fields copied as strings, in payload order.
const TEXT_FIELDS: [(Field, &str); 4] = [
    (Field::FirstName, "first_name"),
    (Field::LastName, "last_name"),
    (Field::TagIds, "tag_ids"),
    (Field::SequenceIds, "sequence_ids"),
];
const BOOL_FIELDS: [(Field, &str); 2] = [
    (Field::EmailMarketing, "email_marketing"),
    (Field::Gdpr, "gdpr"),
];

/// Tag names (lower-case) to ids, for a `tags` column of names.
pub type TagIndex = HashMap<String, u64>;

pub struct Planner {
    mapping: Mapping,
    headers: Vec<String>,
    tags: Option<TagIndex>,
    /// Lower-cased emails seen so far, with their first row.
    seen: DupSet,
    previous: Option<Previous>,
    dry_run: bool,
}

impl Planner {
    pub fn new(
        mapping: Mapping,
        headers: Vec<String>,
        tags: Option<TagIndex>,
        previous: Option<Previous>,
        dry_run: bool,
    ) -> Self {
        Planner {
            mapping,
            headers,
            tags,
            seen: DupSet::default(),
            previous,
            dry_run,
        }
    }

    /// `stopping`: the run is winding down; rows not settled yet are not attempted.
    pub fn plan(&mut self, record: &Record, stopping: bool) -> Work {
        let row = record.number;
        if let Some(problem) = record.problem.filter(|p| self.matters(p)) {
            let mut message = problem.message(&self.headers);
            if record.fields.len() > self.headers.len() {
                let extra: Vec<&str> = record.fields[self.headers.len()..]
                    .iter()
                    .map(String::as_str)
                    .collect();
                message.push_str(&format!(
                    "; extra cells: {}",
                    sanitize_for_message(&extra.join(" | "), 200)
                ));
            }
            let mut outcome = Outcome::new(Kind::Invalid).with_message(message);
            outcome.error_code = Some(problem.code().into());
            return Work::Done(outcome);
        }
        let (payload, note) = match self.payload(&record.fields) {
            Ok(p) => p,
            Err(outcome) => return Work::Done(outcome),
        };
        if let Err(rejection) = validate::check_contact(&payload, Mode::Create) {
            let error = rejection.to_api_error();
            let mut outcome = Outcome::new(Kind::Invalid).with_message(error.message);
            outcome.error_code = Some(error.code);
            outcome.details = error.details;
            return Work::Done(outcome.with_note(note));
        }
        let email = payload
            .get("email")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let lower;
        let key = if email
            .bytes()
            .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
        {
            lower = email.to_lowercase();
            lower.as_bytes()
        } else {
            email.as_bytes()
        };
        match self.seen.check(key, row) {
            Ok(Seen::New) => {}
            Ok(Seen::Repeat { first_row }) => {
                return Work::Done(Outcome::duplicate(first_row));
            }
            // Unconfirmed either way: neither `duplicate` nor sent, and retried on resume.
            Err(e) => {
                return Work::Done(Outcome::new(Kind::Failed).with_message(format!(
                    "not sent: could not check for an earlier row with this email ({e})"
                )));
            }
        }
        if let Some(previous) = &self.previous
            && let Some(settled) = previous.settled_outcome(row)
        {
            return Work::Settled(settled);
        }
        if self.dry_run {
            return Work::Done(Outcome::new(Kind::WouldCreate).with_note(note));
        }
        if stopping {
            return Work::Done(Outcome::new(Kind::NotAttempted));
        }
        let body = serde_json::to_vec(&payload).expect("a JSON map always serializes");
        Work::Send(Payload {
            body: Bytes::from(body),
            email: email.to_string(),
            note,
            maybe_sent_before: self.previous.as_ref().is_some_and(|p| p.maybe_sent(row)),
        })
    }

    /// Whether a reading problem stops the row: a spreadsheet error (`#N/A`) in a column that
    /// is not sent loses nothing, so the row goes on.
    fn matters(&self, problem: &RecordProblem) -> bool {
        match *problem {
            RecordProblem::CellError { column, .. } => {
                self.mapping.unmapped().binary_search(&column).is_err()
            }
            _ => true,
        }
    }

    /// The JSON body exactly as it will be sent, and what the row's `_message` should say
    /// about how it was read: cells trimmed, empty cells left out, recognised yes/no spellings
    /// turned into JSON booleans (opt-out columns winning), everything else as written (no
    /// numeric casting).
    fn payload(&self, cells: &[String]) -> Result<(Map<String, Value>, Option<String>), Outcome> {
        let mut map = Map::new();
        let mut notes = Vec::new();
        if let Some(email) = self.mapping.text(Field::Email, cells) {
            map.insert("email".into(), Value::String(email.value.to_string()));
            notes.extend(email.note);
        }
        for (field, key) in TEXT_FIELDS {
            if let Some(text) = self.mapping.text(field, cells) {
                map.insert(key.into(), Value::String(text.value.to_string()));
            }
        }
        for (field, key) in BOOL_FIELDS {
            match self.mapping.consent(field, cells) {
                Consent::Absent => {}
                Consent::Send(b, note) => {
                    map.insert(key.into(), Value::Bool(b));
                    notes.extend(note);
                }
                Consent::AsWritten(v) => {
                    map.insert(key.into(), Value::String(v.to_string()));
                }
            }
        }
        if let Some(names) = self.mapping.column(Field::Tags).and_then(|c| cells.get(c)) {
            let ids = self.resolve_tags(names)?;
            if !ids.is_empty() {
                let merged = match map.get("tag_ids").and_then(Value::as_str) {
                    Some(existing) => format!("{existing},{ids}"),
                    None => ids,
                };
                map.insert("tag_ids".into(), Value::String(merged));
            }
        }
        Ok((map, (!notes.is_empty()).then(|| notes.join("; "))))
    }

    /// A `tags` cell of names (see [`split_tag_names`]), resolved with `GET /v1/tags`.
    fn resolve_tags(&self, names: &str) -> Result<String, Outcome> {
        let Some(index) = &self.tags else {
            return Ok(String::new());
        };
        let mut ids = Vec::new();
        for name in split_tag_names(names) {
            match index.get(&name.to_lowercase()) {
                Some(id) => ids.push(id.to_string()),
                None => {
                    let mut outcome = Outcome::new(Kind::Invalid).with_message(format!(
                        "Tag not found: {} (use --create-missing-tags to create it)",
                        sanitize_for_message(&name, 80)
                    ));
                    outcome.error_code = Some(crate::api::codes::NOT_FOUND.into());
                    return Err(outcome);
                }
            }
        }
        Ok(ids.join(","))
    }
}

/// Rows travel to the async side in batches: one channel hand-off (and one wake-up) per
/// [`READ_BATCH`] rows instead of per row. A smaller batch goes out when the last hand-off is
/// [`BATCH_LINGER`] old, so rows from a slow pipe are not held back.
const READ_BATCH: usize = 64;
const BATCH_LINGER: Duration = Duration::from_millis(10);

pub fn spawn_reader(
    mut input: CsvInput,
    mut planner: Planner,
    tx: mpsc::Sender<Vec<Result<Job, csv_in::InputError>>>,
    shutdown: Arc<Shutdown>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("csv-reader".into())
        .spawn(move || {
            let mut record = Record::default();
            let mut batch = Vec::with_capacity(READ_BATCH);
            let mut last_send = std::time::Instant::now();
            loop {
                let last = match input.read_record(&mut record) {
                    Ok(false) => true,
                    Ok(true) => {
                        let work = planner.plan(&record, shutdown.is_triggered());
                        batch.push(Ok(Job {
                            row: record.number,
                            cells: std::mem::take(&mut record.fields),
                            work,
                        }));
                        false
                    }
                    Err(e) => {
                        batch.push(Err(e));
                        true
                    }
                };
                // The next record may wait on a slow producer: hand over what is read first.
                let stale = last_send.elapsed() >= BATCH_LINGER || !input.line_buffered();
                if last || batch.len() >= READ_BATCH || stale {
                    last_send = std::time::Instant::now();
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(READ_BATCH));
                    if (!full.is_empty() && tx.blocking_send(full).is_err()) || last {
                        return;
                    }
                }
            }
        })
        .expect("spawning the reader thread")
}

/// The tag names of a cell, in any of the encodings [`mapping::values::tag_names`] reads.
pub fn split_tag_names(cell: &str) -> Vec<std::borrow::Cow<'_, str>> {
    mapping::values::tag_names(cell)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv_in::{CsvInput, Options};
    use proptest::prelude::*;

    fn plan_all(bytes: Vec<u8>, overrides: &[(String, String)]) -> Vec<Work> {
        let Ok(mut input) =
            CsvInput::from_reader("fuzz.csv", std::io::Cursor::new(bytes), &Options::default())
        else {
            return Vec::new();
        };
        let headers = input.headers().to_vec();
        let Ok(mapping) = Mapping::resolve(&headers, overrides) else {
            return Vec::new();
        };
        let mut planner = Planner::new(mapping, headers, Some(TagIndex::new()), None, false);
        let mut record = Record::default();
        let mut works = Vec::new();
        while let Ok(true) = input.read_record(&mut record) {
            works.push(planner.plan(&record, false));
        }
        works
    }

    fn outcome(work: &Work) -> Option<Kind> {
        match work {
            Work::Send(_) => None,
            Work::Done(o) | Work::Settled(o) => Some(o.kind),
        }
    }

    #[test]
    fn builds_the_exact_payload() {
        let works = plan_all(
            b"Email,First Name,GDPR,Tag IDs,Notes\n a@b.co ,00123, YES ,\"1, 2\",x\n".to_vec(),
            &[],
        );
        let Work::Send(p) = &works[0] else {
            panic!("row should be sent")
        };
        assert_eq!(
            std::str::from_utf8(&p.body).unwrap(),
            r#"{"email":"a@b.co","first_name":"00123","gdpr":true,"tag_ids":"1, 2"}"#
        );
    }

    #[test]
    fn duplicates_invalid_rows_and_unknown_tag_names() {
        let works = plan_all(
            b"email,gdpr,tags\nA@x.co,,\na@X.CO,,\nbad,,\nb@x.co,maybe,\nc@x.co,,Ghost\n".to_vec(),
            &[],
        );
        let kinds: Vec<Option<Kind>> = works.iter().map(outcome).collect();
        assert_eq!(
            kinds,
            [
                None,
                Some(Kind::Duplicate),
                Some(Kind::Invalid),
                Some(Kind::Invalid),
                Some(Kind::Invalid)
            ]
        );
    }

    proptest! {
        /// Reader + mapper + validator never panic, whatever the bytes.
        #[test]
        fn the_row_pipeline_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = plan_all(bytes, &[]);
        }

        #[test]
        fn csv_like_input_never_panics(
            body in "[a-z@.,;\"\t\r\n ]{0,200}",
            header in prop::sample::select(vec!["email", "Email,First Name,gdpr", "email;tags", "E-mail\tLNAME\ttag_ids"]),
        ) {
            let text = format!("{header}\n{body}");
            let _ = plan_all(text.into_bytes(), &[]);
        }
    }
}
