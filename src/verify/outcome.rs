//! What verify says about one row (`_verify`, `_contact_id`, `_diff`) and the run's counters.
//!
//! A verdict is a claim backed by evidence: `match` and `differs` only for a contact the
//! account returned under the row's email; `missing` only when the account was read whole
//! with the walk proven complete, or the server answered 404 to the row's own lookup;
//! `unknown` when an answer proved neither (a lookup answered something that is not a
//! contact or a 404). `invalid` and `duplicate` are import's own verdicts for the row, found
//! without the network: import would have refused it, or sent an earlier row with the same
//! email instead. Written by [`super::pipeline`], counted by [`Counts`], summed up by
//! [`super::report`].

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::results::{Kind, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Match,
    Differs,
    Missing,
    Invalid,
    Duplicate,
    Unknown,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Match,
        Verdict::Differs,
        Verdict::Missing,
        Verdict::Invalid,
        Verdict::Duplicate,
        Verdict::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::Differs => "differs",
            Verdict::Missing => "missing",
            Verdict::Invalid => "invalid",
            Verdict::Duplicate => "duplicate",
            Verdict::Unknown => "unknown",
        }
    }

    /// Whether the row shows that the account does not hold what the file says (exit 1).
    pub fn is_problem(self) -> bool {
        matches!(self, Verdict::Differs | Verdict::Missing | Verdict::Unknown)
    }
}

/// One row's verdict, as the verify file records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub verdict: Verdict,
    pub contact_id: Option<u64>,
    /// The differences (`first_name: "Zoë" != "Zoe"; tags: ...`), or why the row is invalid,
    /// a duplicate or unknown.
    pub diff: String,
    /// The contact's place in the stream's index, to tell `--extra` it was mentioned.
    pub ordinal: Option<u32>,
}

impl Checked {
    pub fn new(verdict: Verdict, diff: impl Into<String>) -> Checked {
        Checked {
            verdict,
            contact_id: None,
            diff: diff.into(),
            ordinal: None,
        }
    }

    /// Import's planner decided the row without the network: invalid or a duplicate.
    pub fn from_import(outcome: &Outcome) -> Checked {
        let verdict = match outcome.kind {
            Kind::Duplicate => Verdict::Duplicate,
            Kind::Invalid => Verdict::Invalid,
            // The duplicate check could not read its spill file: nothing is proven.
            _ => Verdict::Unknown,
        };
        // The server's per-field messages say what is wrong; the envelope's message does not.
        let why = match &outcome.details {
            Some(details) if !details.is_empty() => details
                .iter()
                .map(|(field, messages)| format!("{field}: {}", messages.join(" ")))
                .collect::<Vec<_>>()
                .join("; "),
            _ => outcome.message.clone().unwrap_or_default(),
        };
        Checked::new(verdict, why)
    }
}

/// Rows per verdict, shared with the progress display.
#[derive(Debug, Default)]
pub struct Counts {
    by_verdict: [AtomicU64; 6],
}

impl Counts {
    pub fn add(&self, v: Verdict) {
        self.by_verdict[v as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, v: Verdict) -> u64 {
        self.by_verdict[v as usize].load(Ordering::Relaxed)
    }

    pub fn rows(&self) -> u64 {
        Verdict::ALL.iter().map(|&v| self.get(v)).sum()
    }

    pub fn problems(&self) -> u64 {
        Verdict::ALL
            .iter()
            .filter(|v| v.is_problem())
            .map(|&v| self.get(v))
            .sum()
    }

    /// `match 40 · differs 1 · missing 2` (zero counts left out, `match` always shown).
    pub fn line(&self) -> String {
        Verdict::ALL
            .iter()
            .filter(|&&v| v == Verdict::Match || self.get(v) > 0)
            .map(|&v| format!("{} {}", v.as_str(), self.get(v)))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}
