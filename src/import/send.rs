//! Sends one row and turns whatever happens into that row's [`Outcome`].
//!
//! The interesting cases are the ambiguous ones: when an earlier attempt may have reached the
//! server (a timeout, a connection closed before the answer, a run killed mid-request), a 409 on
//! the re-send may be our own contact. We then look it up and call it `created` if it was made
//! after this run started, so a contact we created is never reported as a conflict nor counted
//! twice. `--on-exists update` turns a 409 into a lookup plus `PUT /v1/contact`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::Value;

use super::plan::Payload;
use crate::api::client::{Answer, CallError, Client};
use crate::api::{Contact, CreatedId, Success, codes, parse_time};
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
    pub on_exists: OnExists,
    /// When the first run of this import started (kept across resumes).
    pub run_started: DateTime<Utc>,
}

impl RowSender {
    /// Sends a row. `Err` only for 401/403; the row's own outcome is then `failed`.
    pub async fn send(&self, payload: &Payload) -> (Outcome, Option<Refused>) {
        let mut attempts = 0;
        let answer = self
            .client
            .call(Method::POST, "contact", &[], Some(payload.body.clone()))
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => return call_failed(e, 0),
        };
        attempts += answer.attempts;
        let mut outcome = match answer.status {
            200 | 201 => created(&answer),
            409 if self.on_exists == OnExists::Update => {
                return self.upsert(payload, &answer, attempts).await;
            }
            409 if answer.maybe_duplicated || payload.maybe_sent_before => {
                match self.resolve_conflict(payload).await {
                    Ok((outcome, lookups)) => {
                        attempts += lookups;
                        outcome
                    }
                    Err(e) => return call_failed(e, attempts),
                }
            }
            409 => from_error(Kind::Exists, &answer),
            400 | 404 | 422 => from_error(Kind::Invalid, &answer),
            _ => from_error(Kind::Failed, &answer),
        };
        outcome.attempts = attempts;
        (outcome, None)
    }

    /// After an ambiguous attempt, is the existing contact ours?
    async fn resolve_conflict(&self, payload: &Payload) -> Result<(Outcome, u32), CallError> {
        let (contact, lookups) = self.lookup(&payload.email).await?;
        let Some(contact) = contact else {
            // Gone again (deleted meanwhile): report the conflict as the server gave it.
            let mut outcome = Outcome::new(Kind::Exists).with_message("contact already exists");
            outcome.http_status = Some(409);
            outcome.error_code = Some(codes::CONTACT_EXISTS.into());
            return Ok((outcome, lookups));
        };
        let ours = self.created_by_this_run(&contact);
        let mut outcome = if ours {
            Outcome::new(Kind::Created).with_message(
                "created by an earlier attempt whose answer was lost; confirmed by lookup",
            )
        } else {
            let mut o = Outcome::new(Kind::Exists).with_message("contact already exists");
            o.error_code = Some(codes::CONTACT_EXISTS.into());
            o
        };
        outcome.http_status = Some(if ours { 201 } else { 409 });
        outcome.contact_id = Some(contact.id);
        Ok((outcome, lookups))
    }

    async fn upsert(
        &self,
        payload: &Payload,
        conflict: &Answer,
        mut attempts: u32,
    ) -> (Outcome, Option<Refused>) {
        let (contact, lookups) = match self.lookup(&payload.email).await {
            Ok(found) => found,
            Err(e) => return call_failed(e, attempts),
        };
        attempts += lookups;
        let Some(contact) = contact else {
            let mut o = from_error(Kind::Failed, conflict);
            o.message = Some("409 on create, but the contact was not found by email".into());
            o.attempts = attempts;
            return (o, None);
        };
        let ours = (conflict.maybe_duplicated || payload.maybe_sent_before)
            && self.created_by_this_run(&contact);
        if ours {
            let mut o = Outcome::new(Kind::Created)
                .with_message("created by an earlier attempt whose answer was lost");
            o.http_status = Some(201);
            o.contact_id = Some(contact.id);
            o.attempts = attempts;
            return (o, None);
        }
        let mut body: serde_json::Map<String, Value> =
            serde_json::from_slice(&payload.body).unwrap_or_default();
        body.insert("contact_id".into(), Value::from(contact.id));
        let body = bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let answer = match self
            .client
            .call(Method::PUT, "contact", &[], Some(body))
            .await
        {
            Ok(a) => a,
            Err(e) => return call_failed(e, attempts),
        };
        attempts += answer.attempts;
        let mut outcome = if answer.is_success() {
            let mut o = Outcome::new(Kind::Updated);
            o.http_status = Some(answer.status);
            o.contact_id = Some(contact.id);
            o
        } else if matches!(answer.status, 400 | 404 | 422) {
            from_error(Kind::Invalid, &answer)
        } else {
            from_error(Kind::Failed, &answer)
        };
        outcome.attempts = attempts;
        (outcome, None)
    }

    /// A contact created since this import first started can only be ours when one of our
    /// attempts may have reached the server unanswered. `created_at` is the server's clock:
    /// when its `Date` headers show it more than 2 s off ours, the start is moved onto the
    /// server's clock (less a second for the header's resolution), so a skewed clock cannot
    /// turn our contact into a conflict; within 2 s our own clock is the better measure.
    fn created_by_this_run(&self, contact: &Contact) -> bool {
        let start = match self.client.clock_offset() {
            Some(offset) if offset.num_milliseconds().abs() > 2_000 => {
                self.run_started + offset - chrono::Duration::seconds(1)
            }
            _ => self.run_started,
        };
        contact
            .created_at
            .as_deref()
            .and_then(parse_time)
            .is_some_and(|t| t >= start)
    }

    /// `GET /v1/contact?email=`: `None` when the API says 404.
    async fn lookup(&self, email: &str) -> Result<(Option<Contact>, u32), CallError> {
        let answer = self.client.get("contact", &[("email", email)]).await?;
        if answer.status == 404 {
            return Ok((None, answer.attempts));
        }
        let contact = answer.json::<Success<Contact>>().ok().map(|s| s.data);
        Ok((contact, answer.attempts))
    }
}

fn created(answer: &Answer) -> Outcome {
    let mut outcome = Outcome::new(Kind::Created);
    outcome.http_status = Some(answer.status);
    match answer.json::<Success<CreatedId>>() {
        Ok(s) => outcome.contact_id = Some(s.data.id),
        Err(e) => outcome.message = Some(e),
    }
    outcome
}

/// Copies `error.code`, `message` and `details` from an error envelope (or the raw body).
fn from_error(kind: Kind, answer: &Answer) -> Outcome {
    let mut outcome = Outcome::new(kind);
    outcome.http_status = Some(answer.status);
    match answer.error() {
        Some(error) => {
            outcome.error_code = Some(error.code);
            outcome.message = Some(error.message);
            outcome.details = error.details;
        }
        None => {
            outcome.message = Some(crate::csv_in::sanitize_for_message(
                &String::from_utf8_lossy(&answer.body),
                200,
            ))
        }
    }
    outcome
}

fn call_failed(e: CallError, earlier_attempts: u32) -> (Outcome, Option<Refused>) {
    match e {
        CallError::Refused { status, error } => {
            let message = error
                .map(|e| format!("{}: {}", e.code, e.message))
                .unwrap_or_else(|| format!("HTTP {status}"));
            let mut outcome = Outcome::new(Kind::Failed).with_message(message.clone());
            outcome.http_status = Some(status);
            outcome.attempts = earlier_attempts + 1;
            (outcome, Some(Refused { status, message }))
        }
        CallError::Exhausted {
            status,
            error,
            last,
            attempts,
            ..
        } => {
            let mut outcome = Outcome::new(Kind::Failed);
            outcome.http_status = status;
            outcome.attempts = earlier_attempts + attempts;
            let what = match &error {
                Some(e) => format!("{}: {}", e.code, e.message),
                None => last,
            };
            outcome.error_code = error.map(|e| e.code);
            outcome.message = Some(format!("{what} (gave up after {attempts} attempts)"));
            (outcome, None)
        }
        CallError::Interrupted { attempts, .. } => {
            let total = earlier_attempts + attempts;
            let outcome = if total == 0 {
                Outcome::new(Kind::NotAttempted)
            } else {
                let mut o = Outcome::new(Kind::Failed)
                    .with_message("interrupted before a final answer; --resume will check it");
                o.attempts = total;
                o
            };
            (outcome, None)
        }
    }
}
