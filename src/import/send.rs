//! Sends one row and turns whatever happens into that row's [`Outcome`], on evidence only.
//!
//! `created` needs the server's id: from the create's own success envelope, or from a lookup
//! by email after an answer that proves nothing (an HTML 200, an empty 201, a lost answer then
//! a 409), judged ours by [`evidence`]. `exists` needs a contact someone else made: a plain 409
//! for a row none of our requests can have stored, or a lookup that found one created before
//! this run. A lookup answered with anything but that contact never yields `exists`. Failed
//! rows say whether they may have been stored (`Outcome::not_stored`), so a resume looks up
//! only those. `--on-exists update` turns a 409 into a lookup plus `PUT /v1/contact`, and
//! never raises consent (`email_marketing`, `gdpr`) from false to true unless
//! `--allow-resubscribe`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::evidence::{self, Verdict};
use super::plan::Payload;
use crate::api::client::{CallError, Client};
use crate::api::reply::{Body, Reply};
use crate::api::{Contact, codes};
use crate::results::{Kind, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnExists {
    /// Record `exists` and move on.
    Skip,
    /// Update the existing contact with the row's non-empty fields.
    Update,
}

impl OnExists {
    pub fn as_str(self) -> &'static str {
        match self {
            OnExists::Skip => "skip",
            OnExists::Update => "update",
        }
    }
}

/// A 401/403: the run must stop.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

pub struct RowSender {
    pub client: Arc<Client>,
    /// Where custom-value steps are recorded as they happen (`None` for no journal).
    pub journal: Option<super::journal::Shared>,
    pub shutdown: Arc<crate::shutdown::Shutdown>,
    pub on_exists: OnExists,
    /// `--allow-resubscribe`: an update may raise consent from false to true.
    pub allow_resubscribe: bool,
    /// When the first run of this import started (kept across resumes).
    pub run_started: DateTime<Utc>,
}

/// What a lookup by email proved.
enum Found {
    Contact(Contact),
    /// 404 with an error envelope.
    Missing,
    /// Anything else, described.
    Unreadable(String),
}

pub(super) type Sent = (Outcome, Option<Refused>);

impl RowSender {
    /// Sends a row's contact (the first step of a row with custom values, see
    /// [`super::steps`]). `Some(Refused)` only for 401/403; the row's own outcome is then
    /// `failed`.
    pub(super) async fn send_contact(&self, payload: &Payload) -> Sent {
        let reply = match self.client.create_contact(payload.body.clone()).await {
            Ok(reply) => reply,
            Err(e) => return call_failed(e, 0, payload.maybe_sent_before),
        };
        let mut attempts = reply.attempts;
        let maybe_sent = reply.maybe_duplicated || payload.maybe_sent_before;
        let (mut outcome, refused) = match (reply.data(), reply.status) {
            (Some(created), status) => {
                let mut o = Outcome::new(Kind::Created);
                o.http_status = Some(status);
                o.contact_id = Some(created.id);
                (o, None)
            }
            // A 2xx that proves nothing: it may have been stored, so look before anything.
            _ if reply.is_success() => {
                let what = format!("the create answered {}", reply.describe());
                self.look_after(payload, &what, reply.status, &mut attempts)
                    .await
            }
            (None, 409) if self.on_exists == OnExists::Update => {
                self.upsert(payload, &reply, maybe_sent, &mut attempts)
                    .await
            }
            (None, 409) if maybe_sent => {
                let what = format!("409 {} on a re-send", reply.describe());
                self.look_after(payload, &what, 409, &mut attempts).await
            }
            (None, 409) => (from_reply(Kind::Exists, &reply), None),
            (None, 400 | 404 | 422) => (from_reply(Kind::Invalid, &reply), None),
            (None, status) => {
                let mut o = from_reply(Kind::Failed, &reply);
                o.not_stored = !maybe_sent && (400..500).contains(&status);
                (o, None)
            }
        };
        outcome.attempts = attempts;
        (outcome, refused)
    }

    /// After an answer that leaves "was it stored?" open (`what` says which), the lookup by
    /// email decides: ours, someone else's, or still open (then `failed`, maybe stored).
    async fn look_after(
        &self,
        payload: &Payload,
        what: &str,
        status: u16,
        attempts: &mut u32,
    ) -> Sent {
        let found = match self.lookup(&payload.email, attempts).await {
            Ok(found) => found,
            Err(e) => return prefixed(call_failed(e, *attempts, true), what),
        };
        match found {
            Found::Contact(contact) => (self.judged(&contact, what, status), None),
            Found::Missing => (
                failed_maybe_stored(
                    status,
                    format!(
                        "{what}; a lookup by email found no such contact; --resume will send \
                         it again"
                    ),
                ),
                None,
            ),
            Found::Unreadable(why) => (
                failed_maybe_stored(
                    status,
                    format!("{what}; the lookup by email answered {why}; --resume will check it"),
                ),
                None,
            ),
        }
    }

    /// `created` or `exists` for a contact found after an ambiguous attempt.
    fn judged(&self, contact: &Contact, what: &str, status: u16) -> Outcome {
        let stamp = contact.created_at.as_deref().unwrap_or("unknown");
        let verdict = evidence::judge(contact, self.run_started, self.client.clock_bounds());
        let mut outcome = match verdict {
            Verdict::Ours => Outcome::new(Kind::Created).with_message(format!(
                "{what}; a lookup found the contact, created by this run (created_at {stamp})"
            )),
            Verdict::Unsure(why) => Outcome::new(Kind::Created).with_message(format!(
                "{what}; a lookup found the contact, probably created by this run: {why}; \
                 check it"
            )),
            Verdict::Before => {
                let mut o = Outcome::new(Kind::Exists).with_message(format!(
                    "{what}; the contact existed before this run (created_at {stamp})"
                ));
                o.error_code = Some(codes::CONTACT_EXISTS.into());
                o
            }
        };
        outcome.http_status = Some(status);
        outcome.contact_id = Some(contact.id);
        outcome
    }

    /// `--on-exists update` after a 409.
    async fn upsert(
        &self,
        payload: &Payload,
        conflict: &Reply<crate::api::CreatedId>,
        maybe_sent: bool,
        attempts: &mut u32,
    ) -> Sent {
        let what = format!("409 {}", conflict.describe());
        let contact = match self.lookup(&payload.email, attempts).await {
            Ok(Found::Contact(contact)) => contact,
            Ok(Found::Missing) => {
                let mut o = failed_maybe_stored(
                    409,
                    format!("{what}; a lookup by email found no such contact"),
                );
                o.error_code = conflict.error().map(|e| e.code.clone());
                return (o, None);
            }
            Ok(Found::Unreadable(why)) => {
                let message = format!("{what}; the lookup by email answered {why}");
                return (failed_maybe_stored(409, message), None);
            }
            Err(e) => return prefixed(call_failed(e, *attempts, maybe_sent), &what),
        };
        if maybe_sent {
            let outcome = self.judged(&contact, &what, 409);
            if outcome.kind == Kind::Created {
                return (outcome, None);
            }
        }
        self.update(payload, &contact, attempts).await
    }

    /// `PUT /v1/contact` with the row's fields, consent never raised without the flag.
    async fn update(&self, payload: &Payload, contact: &Contact, attempts: &mut u32) -> Sent {
        let mut body: Map<String, Value> =
            serde_json::from_slice(&payload.body).unwrap_or_default();
        let held = if self.allow_resubscribe {
            Vec::new()
        } else {
            hold_back_consent(&mut body, contact)
        };
        body.insert("contact_id".into(), Value::from(contact.id));
        let bytes = bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let reply = match self.client.update_contact(bytes).await {
            Ok(reply) => reply,
            Err(e) => return call_failed(e, *attempts, true),
        };
        *attempts += reply.attempts;
        let outcome = if reply.data().is_some() {
            let mut o = Outcome::new(Kind::Updated);
            o.http_status = Some(reply.status);
            o.contact_id = Some(contact.id);
            if !held.is_empty() {
                o.message = Some(format!(
                    "{} not raised: the stored contact has {} false and the row says true; \
                     pass --allow-resubscribe to subscribe it",
                    held.join(" and "),
                    if held.len() > 1 { "them" } else { "it" }
                ));
            }
            o
        } else if reply.is_success() {
            let mut o = failed_maybe_stored(
                reply.status,
                format!("the update answered {}", reply.describe()),
            );
            o.contact_id = Some(contact.id);
            o
        } else if matches!(reply.status, 400 | 404 | 422) {
            from_reply(Kind::Invalid, &reply)
        } else {
            from_reply(Kind::Failed, &reply)
        };
        (outcome, None)
    }

    /// `GET /v1/contact?email=`: only a contact with this email counts as found.
    async fn lookup(&self, email: &str, attempts: &mut u32) -> Result<Found, CallError> {
        let reply = self.client.find_contact(email).await?;
        *attempts += reply.attempts;
        let status = reply.status;
        let described = reply.describe();
        Ok(match reply.body {
            Body::Data(c) if c.email.trim().eq_ignore_ascii_case(email.trim()) => Found::Contact(c),
            Body::Data(c) => Found::Unreadable(format!("another contact (id {})", c.id)),
            Body::Error(_) if status == 404 => Found::Missing,
            _ => Found::Unreadable(described),
        })
    }
}

/// Removes `email_marketing` / `gdpr` from an update that would raise them from the stored
/// false to true, and says which it removed.
fn hold_back_consent(body: &mut Map<String, Value>, stored: &Contact) -> Vec<&'static str> {
    let mut held = Vec::new();
    for (key, now) in [
        ("email_marketing", stored.email_marketing),
        ("gdpr", stored.gdpr),
    ] {
        // What the server will read: Laravel's `boolean` rule, as the planner encodes it.
        let raises = body
            .get(key)
            .is_some_and(|v| crate::validate::laravel_boolean(v) == Some(true));
        if raises && !now {
            body.remove(key);
            held.push(key);
        }
    }
    held
}

/// Copies `error.code`, `message` and `details` from the answer (or describes its body).
fn from_reply<T>(kind: Kind, reply: &Reply<T>) -> Outcome {
    let mut outcome = Outcome::new(kind);
    outcome.http_status = Some(reply.status);
    match reply.error() {
        Some(error) => {
            outcome.error_code = Some(error.code.clone());
            outcome.message = Some(error.message.clone());
            outcome.details = error.details.clone();
        }
        None => outcome.message = Some(reply.describe()),
    }
    outcome
}

fn failed_maybe_stored(status: u16, message: String) -> Outcome {
    let mut o = Outcome::new(Kind::Failed).with_message(message);
    o.http_status = Some(status);
    o
}

fn prefixed((mut outcome, refused): Sent, what: &str) -> Sent {
    outcome.message = Some(match outcome.message.take() {
        Some(m) => format!("{what}; then {m}"),
        None => what.to_string(),
    });
    (outcome, refused)
}

/// A call that produced no final answer. `maybe_stored`: an earlier request of this row may
/// have been stored whatever this call says.
fn call_failed(e: CallError, earlier_attempts: u32, maybe_stored: bool) -> Sent {
    match e {
        CallError::Refused { status, error } => {
            // The run's fatal line names the code; the row has its own `_error_code` column.
            let (message, row_message) = match &error {
                Some(e) => (format!("{}: {}", e.code, e.message), e.message.clone()),
                None => (format!("HTTP {status}"), format!("HTTP {status}")),
            };
            let mut outcome = Outcome::new(Kind::Failed).with_message(row_message);
            outcome.http_status = Some(status);
            outcome.error_code = error.map(|e| e.code);
            outcome.attempts = earlier_attempts + 1;
            outcome.not_stored = !maybe_stored;
            (outcome, Some(Refused { status, message }))
        }
        CallError::Exhausted {
            status,
            error,
            last,
            attempts,
            maybe_sent,
        } => {
            let mut outcome = Outcome::new(Kind::Failed);
            outcome.http_status = status;
            outcome.attempts = earlier_attempts + attempts;
            let what = match &error {
                Some(e) => e.message.clone(),
                None => last,
            };
            outcome.error_code = error.map(|e| e.code);
            outcome.message = Some(format!("{what} (gave up after {attempts} attempts)"));
            // Connection refused every time: nothing ever left. A 5xx may follow a write.
            outcome.not_stored = !(maybe_stored || maybe_sent || status.is_some());
            (outcome, None)
        }
        CallError::Interrupted { attempts, .. } => {
            let total = earlier_attempts + attempts;
            let outcome = if total == 0 {
                Outcome::new(Kind::NotAttempted)
            } else {
                let mut o = Outcome::new(Kind::Failed)
                    .with_message("interrupted before a final answer; --resume will check it");
                // Whatever answers came before the interrupt (a 5xx, a lost one), the row
                // may have been stored: a resume looks it up after a 409.
                o.attempts = total;
                o
            };
            (outcome, None)
        }
    }
}
