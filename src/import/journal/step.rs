//! Step records: the requests of a row that takes several (the create, then one
//! `PUT /v1/contact-custom-field` per value), each journaled the moment its answer is known.
//!
//! A row's steps come before its `row` record. A resume rebuilds each unfinished row's
//! [`Progress`] from them: the contact step (with the server's id) means the contact exists and
//! is not created again; a field step that succeeded is not sent again; everything else is.
//! Who writes: `import::steps` through [`super::Shared::step`]; who reads: [`super::read`].

use serde::{Deserialize, Serialize};

use crate::results::Outcome;

/// `step` of the record for the request that made the contact exist.
pub const CREATE: &str = "create";
pub const UPDATE: &str = "update";

/// One request of a multi-request row, as journaled: `{"t":"step","row":N,"step":...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// [`CREATE`] or [`UPDATE`] for the contact, else the custom field's name.
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_id: Option<u64>,
    /// The server proved it done (a 2xx success envelope).
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// HTTP requests this step took (retries and 429s included).
    #[serde(default)]
    pub attempts: u32,
    /// The contact step's outcome (`created` or `updated`, with the id), which a resumed row
    /// reports as its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Outcome>,
}

impl Step {
    /// `Company 200`, `Plan 404`, `Plan failed` (no answer): one entry of `_steps`.
    pub fn label(&self) -> String {
        match self.http_status {
            Some(status) => format!("{} {status}", self.step),
            None => format!("{} failed", self.step),
        }
    }
}

/// What earlier runs did for one row that is not settled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// The contact step: the contact exists with this id.
    pub contact: Option<Outcome>,
    /// Custom fields set successfully, by name.
    pub done: Vec<String>,
    /// Every step's label, in order (`_steps` continues it).
    pub history: Vec<String>,
    /// Requests of every step so far (`_attempts` continues it).
    pub attempts: u32,
}

impl Progress {
    pub fn add(&mut self, step: Step) {
        self.attempts += step.attempts;
        self.history.push(step.label());
        if !step.ok {
            return;
        }
        match step.contact {
            Some(contact) if step.field_id.is_none() => self.contact = Some(contact),
            _ => {
                if !self.done.contains(&step.step) {
                    self.done.push(step.step);
                }
            }
        }
    }

    /// Whether the contact exists (a resume goes straight to the missing values).
    pub fn has_contact(&self) -> bool {
        self.contact
            .as_ref()
            .is_some_and(|c| c.contact_id.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Kind;

    #[test]
    fn progress_keeps_the_contact_and_the_values_set() {
        let mut created = Outcome::new(Kind::Created);
        created.contact_id = Some(7);
        created.http_status = Some(201);
        let mut p = Progress::default();
        p.add(Step {
            step: CREATE.into(),
            field_id: None,
            ok: true,
            http_status: Some(201),
            error_code: None,
            message: None,
            attempts: 2,
            contact: Some(created),
        });
        let field = |name: &str, ok: bool, status: Option<u16>| Step {
            step: name.into(),
            field_id: Some(1),
            ok,
            http_status: status,
            error_code: None,
            message: None,
            attempts: 1,
            contact: None,
        };
        p.add(field("Company", true, Some(200)));
        p.add(field("Plan", false, Some(404)));
        p.add(field("Size", false, None));
        assert!(p.has_contact());
        assert_eq!(p.done, ["Company"]);
        assert_eq!(
            p.history,
            ["create 201", "Company 200", "Plan 404", "Size failed"]
        );
        assert_eq!(p.attempts, 5);
    }
}
