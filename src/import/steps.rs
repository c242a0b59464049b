//! Rows that take several requests: the contact, then one `PUT /v1/contact-custom-field` per
//! non-empty custom value, each journaled the moment its answer is known.
//!
//! Invariants: values are set only on a contact the server proved (`created` or `updated`
//! with its id), by `contact_id`, one after the other, through the client's one pacer; a row
//! that `exists` under `--on-exists skip` gets none. A resumed row starts at its first
//! unfinished step: a contact its journal proves is not created again, a value its journal
//! says was set is not sent again. A step that fails after the client's retries (or a 404 or
//! 422) leaves the row `partial`: the contact exists, the message names the values missing,
//! and `--resume` sends only those. `_steps` lists every request of the row across runs,
//! `_attempts` counts them all. Called by the pipeline through [`RowSender::send`].

use super::journal::step::{self, Step};
use super::plan::Payload;
use super::send::{RowSender, Sent};
use crate::api::Details;
use crate::api::client::CallError;
use crate::results::{Kind, Outcome};

/// One custom value of a row, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepValue {
    pub field_id: u64,
    pub name: String,
    pub value: String,
}

/// What a row in flight has proven so far: once its contact exists, the outcome the row
/// would have if it stopped now (`partial`, naming every value not yet confirmed). The
/// pipeline reports it when the grace period after a stop ends before the row does, so a
/// contact the server created is never reported as a plain `failed` without its id.
#[derive(Default)]
pub struct Proven(std::sync::Mutex<Option<Outcome>>);

impl Proven {
    fn set(&self, outcome: Outcome) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(outcome);
        }
    }

    /// The last snapshot, if the row's contact was proven.
    pub fn take(&self) -> Option<Outcome> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// A step that did not set its value.
#[derive(Clone)]
struct Missing {
    name: String,
    why: String,
}

impl RowSender {
    /// Sends a row: its contact (unless an earlier run's journal proves it), then its custom
    /// values, keeping `proven` up to date after each step. `Some(Refused)` only for 401/403.
    pub async fn send(&self, row: u64, payload: &Payload, proven: &Proven) -> Sent {
        let earlier = payload.progress.clone().unwrap_or_default();
        let (mut contact, refused) = match &earlier.contact {
            Some(contact) if earlier.has_contact() => (contact.clone(), None),
            _ => self.send_contact(payload).await,
        };
        let id = match contact.contact_id {
            Some(id) if matches!(contact.kind, Kind::Created | Kind::Updated) => id,
            _ if contact.kind == Kind::Exists && !payload.values.is_empty() => {
                let note =
                    "custom values not sent: the contact exists (--on-exists update sets them)";
                return (contact.with_note(Some(note.into())), refused);
            }
            _ => return (contact, refused),
        };
        if payload.values.is_empty() || refused.is_some() {
            return (contact, refused);
        }
        let mut history = earlier.history.clone();
        let mut attempts = earlier.attempts;
        if !earlier.has_contact() {
            let record = contact_step(&contact);
            attempts += record.attempts;
            history.push(record.label());
            self.journal_step(row, &record);
        }
        let mut missing = Vec::new();
        let mut refused = None;
        for (i, value) in payload.values.iter().enumerate() {
            if earlier.done.contains(&value.name) {
                continue;
            }
            let rest = payload.values[i..]
                .iter()
                .filter(|v| !earlier.done.contains(&v.name));
            proven.set(snapshot(&contact, id, &history, attempts, &missing, rest));
            if refused.is_some() || self.stopping() {
                missing.push(Missing {
                    name: value.name.clone(),
                    why: "not sent: the run stopped".into(),
                });
                continue;
            }
            let (record, stop) = self.set_value(id, value).await;
            attempts += record.attempts;
            if record.attempts > 0 {
                history.push(record.label());
                self.journal_step(row, &record);
            }
            if !record.ok {
                missing.push(Missing {
                    name: value.name.clone(),
                    why: why_not_set(&record),
                });
            }
            refused = refused.or(stop);
        }
        contact.attempts = attempts;
        contact.steps = Some(history.join("; "));
        if !missing.is_empty() {
            contact = partial(contact, id, &missing);
        }
        (contact, refused)
    }

    fn stopping(&self) -> bool {
        self.shutdown.is_triggered()
    }

    /// Journals a step; a failure is remembered by the journal and stops the run at the
    /// collector's next record, so it needs no handling here.
    fn journal_step(&self, row: u64, record: &Step) {
        if let Some(journal) = &self.journal {
            let _ = journal.step(row, record);
        }
    }

    /// One `PUT /v1/contact-custom-field`, and what it proved.
    async fn set_value(&self, id: u64, value: &StepValue) -> (Step, Option<super::send::Refused>) {
        let mut record = Step {
            step: value.name.clone(),
            field_id: Some(value.field_id),
            ok: false,
            http_status: None,
            error_code: None,
            message: None,
            attempts: 0,
            contact: None,
        };
        let reply = match self
            .client
            .set_custom_field(id, value.field_id, &value.value)
            .await
        {
            Ok(reply) => reply,
            Err(CallError::Refused { status, error }) => {
                record.attempts = 1;
                record.http_status = Some(status);
                let message = error
                    .as_ref()
                    .map_or_else(|| format!("HTTP {status}"), |e| e.message.clone());
                record.error_code = error.map(|e| e.code);
                record.message = Some(message.clone());
                let refused = super::send::Refused { status, message };
                return (record, Some(refused));
            }
            Err(CallError::Exhausted {
                status,
                error,
                last,
                attempts,
                ..
            }) => {
                record.attempts = attempts;
                record.http_status = status;
                record.message = Some(match &error {
                    Some(e) => format!("{} (gave up after {attempts} attempts)", e.message),
                    None => format!("{last} (gave up after {attempts} attempts)"),
                });
                record.error_code = error.map(|e| e.code);
                return (record, None);
            }
            Err(CallError::Interrupted { attempts, .. }) => {
                record.attempts = attempts;
                record.message = Some("interrupted before an answer".into());
                return (record, None);
            }
        };
        record.attempts = reply.attempts;
        record.http_status = Some(reply.status);
        record.ok = reply.data().is_some();
        if !record.ok {
            record.message = Some(reply.describe());
            if let Some(e) = reply.error() {
                record.error_code = Some(e.code.clone());
                record.message = Some(e.message.clone());
            }
        }
        (record, None)
    }
}

/// The row's outcome if it stopped before `rest` were confirmed: `partial`, every value of
/// `rest` missing (the one in flight may have been set; `--resume` sends it again, which
/// sets the same value).
fn snapshot<'a>(
    contact: &Outcome,
    id: u64,
    history: &[String],
    attempts: u32,
    missing: &[Missing],
    rest: impl Iterator<Item = &'a StepValue>,
) -> Outcome {
    let mut now = contact.clone();
    now.attempts = attempts;
    now.steps = Some(history.join("; "));
    let mut all = missing.to_vec();
    all.extend(rest.map(|v| Missing {
        name: v.name.clone(),
        why: "interrupted while in flight".into(),
    }));
    partial(now, id, &all)
}

/// The contact's step record: how the row's contact came to exist, and its id.
fn contact_step(contact: &Outcome) -> Step {
    Step {
        step: match contact.kind {
            Kind::Updated => step::UPDATE,
            _ => step::CREATE,
        }
        .into(),
        field_id: None,
        ok: true,
        http_status: contact.http_status,
        error_code: None,
        message: None,
        attempts: contact.attempts,
        contact: Some(contact.clone()),
    }
}

fn why_not_set(record: &Step) -> String {
    match (&record.error_code, &record.message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (None, Some(message)) => message.clone(),
        (Some(code), None) => code.clone(),
        (None, None) => "no answer".into(),
    }
}

/// The row's outcome when some values were not set: the contact exists (its id, its
/// create/update status stay), the missing fields are named in `_message` and `_details`.
fn partial(contact: Outcome, id: u64, missing: &[Missing]) -> Outcome {
    let was = contact.kind;
    let names: Vec<&str> = missing.iter().map(|m| m.name.as_str()).collect();
    let mut details = Details::new();
    for m in missing {
        details.insert(m.name.clone(), vec![m.why.clone()]);
    }
    let mut o = Outcome::new(Kind::Partial).with_message(format!(
        "contact {} (id {id}) but {} not set: {}; --resume sets only the missing values",
        was.as_str(),
        if names.len() == 1 {
            "this value"
        } else {
            "these values"
        },
        names.join(", ")
    ));
    o.http_status = contact.http_status;
    o.contact_id = Some(id);
    o.attempts = contact.attempts;
    o.steps = contact.steps;
    o.details = Some(details);
    o.error_code = missing
        .iter()
        .find_map(|m| m.why.split_once(':').map(|(code, _)| code.to_string()))
        .filter(|code| code.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
    o.with_note(contact.message)
}
