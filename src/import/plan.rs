//! Decides, for each CSV record, whether it is sent and with which JSON body.
//!
//! Runs on the reader thread, off the async runtime: map the cells, build the exact payload,
//! validate it with the server's own rules ([`crate::validate`]), drop in-file duplicates, and
//! apply what a previous run already settled. Everything decided here becomes a [`Work::Done`]
//! outcome without touching the network.

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Map, Value};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::api::{Details, codes, messages};
use crate::csv_in::{self, CsvInput, Record, RecordProblem, sanitize_for_message};
use crate::import::dedupe::{self, DupSet, KeyHash, Seen};
use crate::import::journal::{Previous, Progress};
use crate::import::steps::StepValue;
use crate::import::tags::Named;
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
    /// Non-empty custom values, checked locally, in column order: one request each.
    pub values: Vec<StepValue>,
    /// What earlier runs did for this row (its contact, the values they set).
    pub progress: Option<Progress>,
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

/// Where `tag_ids` sits in [`TEXT_FIELDS`]: a `tags` column of names adds to it.
const TAG_IDS: usize = 2;
/// Where `sequence_ids` sits: a `sequences` column of names adds to it.
const SEQUENCE_IDS: usize = 3;

/// A consent field's value as sent.
enum Flag<'c> {
    Bool(bool),
    /// An unknown spelling, sent as written for the server to refuse.
    AsWritten(&'c str),
}

/// One row's fields as they will be sent, borrowed from its cells (only tag ids resolved from
/// names are owned): [`Fields::to_map`] is the JSON body.
struct Fields<'c> {
    email: Option<&'c str>,
    /// In [`TEXT_FIELDS`] order.
    texts: [Option<Cow<'c, str>>; 4],
    /// In [`BOOL_FIELDS`] order.
    bools: [Option<Flag<'c>>; 2],
    /// How the row was read, for its `_message`.
    note: Option<String>,
}

impl Fields<'_> {
    /// The JSON body: strings as written, consent as JSON booleans (or as written).
    fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        if let Some(email) = self.email {
            map.insert("email".into(), Value::String(email.to_string()));
        }
        for ((_, key), text) in TEXT_FIELDS.iter().zip(&self.texts) {
            if let Some(text) = text {
                map.insert((*key).into(), Value::String(text.to_string()));
            }
        }
        for ((_, key), flag) in BOOL_FIELDS.iter().zip(&self.bools) {
            match flag {
                Some(Flag::Bool(b)) => map.insert((*key).into(), Value::Bool(*b)),
                Some(Flag::AsWritten(v)) => map.insert((*key).into(), Value::String(v.to_string())),
                None => None,
            };
        }
        map
    }

    /// True when `validate::check_contact` surely passes [`Fields::to_map`]
    /// (`validate::fast::contact_passes`); false: ask it.
    fn surely_valid(&self) -> bool {
        let Some(email) = self.email else {
            return false;
        };
        if self
            .bools
            .iter()
            .flatten()
            .any(|f| matches!(f, Flag::AsWritten(_)))
        {
            return false;
        }
        let present = |i: usize| self.texts[i].as_deref();
        validate::fast::contact_passes(
            email,
            [0, 1].into_iter().filter_map(present),
            [TAG_IDS, 3].into_iter().filter_map(present),
        )
    }
}

/// Tag names (lower-case) to ids, for a `tags` column of names.
pub type TagIndex = HashMap<String, u64>;

pub struct Planner {
    mapping: Mapping,
    headers: Vec<String>,
    tags: Option<TagIndex>,
    /// Sequence names (lower-case) to ids, for a `sequences` column of names.
    sequences: Option<TagIndex>,
    /// Lower-cased emails seen so far, with their first row.
    seen: DupSet,
    previous: Option<Previous>,
    dry_run: bool,
    /// Whether [`Fields::surely_valid`] may spare the full check (off in a test that holds
    /// the two against each other).
    fast: bool,
    /// The caller checks duplicates itself ([`Planner::check_duplicates_later`]), with this
    /// fingerprint (the set's own, taken out with it).
    later: Option<KeyHash>,
    /// The last planned row reached the duplicate check and left it to the caller: its key's
    /// fingerprint, the key itself in `key`.
    unchecked: Option<u64>,
    key: String,
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
            sequences: None,
            seen: DupSet::default(),
            previous,
            dry_run,
            fast: true,
            later: None,
            unchecked: None,
            key: String::new(),
        }
    }

    /// Resolves a `sequences` column of names with this index (from `GET /v1/sequences`).
    pub fn with_sequences(mut self, sequences: Option<TagIndex>) -> Self {
        self.sequences = sequences;
        self
    }

    /// Every row through the full check ([`validate::check_contact`]), as the reference a
    /// test holds the one-pass check to.
    #[cfg(test)]
    pub(crate) fn with_full_checks(mut self) -> Self {
        self.fast = false;
        self
    }

    /// Sizes the duplicate check for about `rows` rows (the input's line count, when known).
    pub fn expecting(mut self, rows: Option<u64>) -> Self {
        if let Some(rows) = rows {
            self.seen.expect_keys(rows);
        }
        self
    }

    /// `stopping`: the run is winding down; rows not settled yet are not attempted.
    pub fn plan(&mut self, record: &Record, stopping: bool) -> Work {
        let row = record.number;
        self.unchecked = None;
        if let Some(problem) = record.problem.filter(|p| self.matters(p)) {
            return Work::Done(self.malformed(record, &problem));
        }
        let fields = match self.fields(&record.fields) {
            Ok(p) => p,
            Err(outcome) => return Work::Done(*outcome),
        };
        let values = self.custom_values(&record.fields);
        // The usual row passes the one-pass check on its borrowed cells; the JSON map is
        // built for the full check only when that cannot tell.
        let verdict = match self.fast && fields.surely_valid() {
            true => Ok(()),
            false => validate::check_contact(&fields.to_map(), Mode::Create),
        };
        if let Err(rejection) = verdict {
            let error = rejection.to_api_error();
            let mut outcome = Outcome::new(Kind::Invalid).with_message(error.message);
            outcome.error_code = Some(error.code);
            outcome.details = error.details;
            if let (Err(more), Some(details)) = (&values, outcome.details.as_mut()) {
                details.extend(more.clone());
            }
            return Work::Done(outcome.with_note(fields.note));
        }
        let values = match values {
            Ok(values) => values,
            Err(details) => return Work::Done(custom_invalid(details).with_note(fields.note)),
        };
        let email = fields.email.unwrap_or_default();
        if let Some(hash) = self.later {
            self.key.clear();
            self.key.push_str(&dedupe_key(email));
            self.unchecked = Some(hash(self.key.as_bytes()));
        } else if let Some(outcome) = check_duplicate(&mut self.seen, email, row) {
            return Work::Done(outcome);
        }
        if let Some(previous) = &self.previous
            && let Some(settled) = previous.settled_outcome(row)
        {
            return Work::Settled(settled);
        }
        let progress = self.previous.as_mut().and_then(|p| p.take_progress(row));
        if self.dry_run {
            // Most rows have no note: the outcome is then built in place, not moved through
            // `with_note` (a copy of the whole outcome each way, measurable per row).
            let outcome = Outcome::new(Kind::WouldCreate);
            return Work::Done(match fields.note {
                None => outcome,
                note => outcome.with_note(note),
            });
        }
        if stopping {
            return Work::Done(Outcome::new(Kind::NotAttempted));
        }
        let body = serde_json::to_vec(&fields.to_map()).expect("a JSON map always serializes");
        Work::Send(Payload {
            body: Bytes::from(body),
            email: email.to_string(),
            note: fields.note,
            maybe_sent_before: self.previous.as_ref().is_some_and(|p| p.maybe_sent(row)),
            values,
            progress,
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

    /// The row's custom values, each checked as the server checks it (at most 1000
    /// characters; a `select` value among the field's options), so that no contact is created
    /// and then left half-filled by a value the server was always going to refuse.
    fn custom_values(&self, cells: &[String]) -> Result<Vec<StepValue>, Details> {
        let mut values = Vec::new();
        let mut refused = Details::new();
        for (column, value) in self.mapping.custom_values(cells) {
            let field = &column.field;
            match field.allows(value) {
                Ok(()) => values.push(StepValue {
                    field_id: field.id,
                    name: field.name.clone(),
                    value: value.to_string(),
                }),
                Err(message) => {
                    let shown = sanitize_for_message(value, 60);
                    let why = match field.is_select() {
                        true => format!(
                            "{message} (\"{shown}\"; options: {})",
                            field.options().join(", ")
                        ),
                        false => message,
                    };
                    refused.entry(field.name.clone()).or_default().push(why);
                }
            }
        }
        if refused.is_empty() {
            Ok(values)
        } else {
            Err(refused)
        }
    }

    /// A record the reader flagged (too many cells, an oversized cell or record, a
    /// spreadsheet error value).
    fn malformed(&self, record: &Record, problem: &RecordProblem) -> Outcome {
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
        outcome
    }

    /// The fields exactly as they will be sent, and what the row's `_message` should say
    /// about how it was read: cells trimmed, empty cells left out, recognised yes/no spellings
    /// turned into JSON booleans (opt-out columns winning), everything else as written (no
    /// numeric casting).
    /// A row refused here (an unknown tag name) is the `Err`, boxed: it is the rare case.
    fn fields<'c>(&self, cells: &'c [String]) -> Result<Fields<'c>, Box<Outcome>> {
        let mut notes = Vec::new();
        let email = self.mapping.text(Field::Email, cells).map(|email| {
            notes.extend(email.note);
            email.value
        });
        // A field no column feeds is skipped without a call (most files map few of them).
        let mut texts = TEXT_FIELDS.map(|(field, _)| {
            if !self.mapping.feeds(field) {
                return None;
            }
            self.mapping
                .text(field, cells)
                .map(|text| Cow::Borrowed(text.value))
        });
        let bools = BOOL_FIELDS.map(|(field, _)| {
            if !self.mapping.feeds(field) {
                return None;
            }
            match self.mapping.consent(field, cells) {
                Consent::Absent => None,
                Consent::Send(b, note) => {
                    notes.extend(note);
                    Some(Flag::Bool(b))
                }
                Consent::AsWritten(v) => Some(Flag::AsWritten(v)),
            }
        });
        let named = [
            (Field::Tags, &self.tags, TAG_IDS, Named::Tag),
            (
                Field::Sequences,
                &self.sequences,
                SEQUENCE_IDS,
                Named::Sequence,
            ),
        ];
        for (field, index, slot, what) in named {
            let Some(names) = self.mapping.column(field).and_then(|c| cells.get(c)) else {
                continue;
            };
            let ids = resolve_names(index.as_ref(), names, what)?;
            if !ids.is_empty() {
                let list = &mut texts[slot];
                *list = Some(match list.take() {
                    Some(existing) => Cow::Owned(format!("{existing},{ids}")),
                    None => Cow::Owned(ids),
                });
            }
        }
        Ok(Fields {
            email,
            texts,
            bools,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        })
    }
}

/// The outcome of a row whose email appeared earlier (or could not be checked); `None` for
/// a first occurrence, now remembered.
fn check_duplicate(seen: &mut DupSet, email: &str, row: u64) -> Option<Outcome> {
    repeated(seen.check(dedupe_key(email).as_bytes(), row))
}

/// What [`DupSet::check`]'s answer makes of a row: `None` for a first occurrence.
fn repeated(seen: std::io::Result<Seen>) -> Option<Outcome> {
    match seen {
        Ok(Seen::New) => None,
        Ok(Seen::Repeat { first_row }) => Some(Outcome::duplicate(first_row)),
        // Unconfirmed either way: neither `duplicate` nor sent, and retried on resume.
        Err(e) => Some(Outcome::new(Kind::Failed).with_message(format!(
            "not sent: could not check for an earlier row with this email ({e})"
        ))),
    }
}

/// What the duplicate check compares: the email, lower-cased (borrowed when it already is).
fn dedupe_key(email: &str) -> Cow<'_, str> {
    match dedupe::needs_folding(email.as_bytes()) {
        true => Cow::Owned(email.to_lowercase()),
        false => Cow::Borrowed(email),
    }
}

/// A `tags` or `sequences` cell of names (see [`split_tag_names`]), resolved with the
/// account's list; without an index (a dry run) nothing is resolved.
fn resolve_names(
    index: Option<&TagIndex>,
    names: &str,
    what: Named,
) -> Result<String, Box<Outcome>> {
    let Some(index) = index else {
        return Ok(String::new());
    };
    let mut ids = Vec::new();
    for name in split_tag_names(names) {
        match index.get(&name.to_lowercase()) {
            Some(id) => ids.push(id.to_string()),
            None => {
                let noun = what.noun();
                let mut outcome = Outcome::new(Kind::Invalid).with_message(format!(
                    "{}{} not found: {} (use {} to create it)",
                    noun[..1].to_uppercase(),
                    &noun[1..],
                    sanitize_for_message(&name, 80),
                    what.flag()
                ));
                outcome.error_code = Some(crate::api::codes::NOT_FOUND.into());
                return Err(Box::new(outcome));
            }
        }
    }
    Ok(ids.join(","))
}

/// A row whose custom values the server would refuse: `invalid`, nothing sent.
fn custom_invalid(details: Details) -> Outcome {
    let mut outcome = Outcome::new(Kind::Invalid).with_message(format!(
        "{} (custom field values checked locally; nothing was sent)",
        messages::VALIDATION
    ));
    outcome.error_code = Some(codes::VALIDATION_ERROR.into());
    outcome.details = Some(details);
    outcome
}

/// Rows travel to the async side in batches: one channel hand-off (and one wake-up) per
/// [`READ_BATCH`] rows instead of per row. A smaller batch goes out when the last hand-off is
/// [`BATCH_LINGER`] old, so rows from a slow pipe are not held back.
const READ_BATCH: usize = 64;
const BATCH_LINGER: Duration = Duration::from_millis(10);

/// How long a stopped run waits for the reader of a stream to hand over what it has read: a
/// reader still waiting after that is waiting on its producer, whose next line may never come
/// (`tail -f log | wolfeo-bulk import -`), and is left behind.
pub const READER_GRACE: Duration = Duration::from_millis(500);

pub fn spawn_reader(
    mut input: CsvInput,
    mut planner: Planner,
    tx: mpsc::Sender<Vec<Result<Job, csv_in::InputError>>>,
    shutdown: Arc<Shutdown>,
    stream: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("csv-reader".into())
        .spawn(move || {
            let mut record = Record::default();
            let mut batch = Vec::with_capacity(READ_BATCH);
            let mut last_send = std::time::Instant::now();
            loop {
                // After a stop, a file is read to its end so every row gets a line (the
                // resume re-reads it); a stream may never end (`producer | import -`), so it
                // is not read further: the results hold every row read, and the stop message
                // says to send the rows after the last one.
                let last = if stream && shutdown.is_triggered() {
                    // Not `read_record` first: a line read and dropped would be lost.
                    true
                } else {
                    match input.read_record(&mut record) {
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

mod later;
pub use later::LaterCheck;
#[cfg(test)]
mod tests;
