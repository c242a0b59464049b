//! The duplicate check done after planning, on another thread.
//!
//! In a dry run the planner is the busiest of the two threads ([`crate::import::dry`]), and
//! the duplicate set (its cache misses, its spills to disk) was a third of its work. So the dry
//! run takes the set out of the planner ([`Planner::check_duplicates_later`]) and checks, on
//! the writer's thread, exactly the rows the planner left unchecked, in input order, with the
//! same key and the same outcomes ([`super::check_duplicate`]); only the thread differs. The
//! planner hands over each such row's key and its fingerprint (computed once, while the email
//! is in its cache), so the writer's thread neither reads the email again nor hashes it, and
//! can warm the set's memory a few rows ahead. That is exact because nothing the planner
//! decides after the check depends on its answer except through the outcome, which
//! [`LaterCheck::settle`] replaces: a resumed run (whose journal replays rows after the check)
//! keeps the check in the planner. The dry run's test holds the files to the pipeline's byte
//! for byte.

use super::{Planner, repeated};
use crate::import::dedupe::DupSet;
use crate::results::Outcome;

/// The duplicate set, taken out of the planner.
pub struct LaterCheck {
    seen: DupSet,
}

impl LaterCheck {
    /// Warms the set's memory for a coming row's key fingerprint ([`Planner::left_unchecked`]),
    /// so that lookups a few rows apart overlap instead of waiting on one cache miss after
    /// another. A hint only: it decides and remembers nothing.
    pub fn prefetch(&self, fingerprint: u64) {
        self.seen.prefetch(fingerprint);
    }

    /// The outcome of a row [`Planner::plan`] left unchecked, from the key and fingerprint
    /// [`Planner::left_unchecked`] gave: `None` for a first occurrence (its planned outcome
    /// stands), else `duplicate` (or `failed` when the check could not answer). Rows must
    /// come in input order, as to the planner.
    pub fn settle(&mut self, fingerprint: u64, key: &str, row: u64) -> Option<Outcome> {
        repeated(self.seen.check_hashed(fingerprint, key.as_bytes(), row))
    }
}

impl Planner {
    /// Leaves the duplicate check to the caller from now on: each row that reaches it is
    /// planned as a first occurrence, [`Planner::left_unchecked`] gives its key, and the
    /// caller settles it with the returned [`LaterCheck`]. `None` (the planner keeps
    /// checking) when a previous run is being resumed.
    pub fn check_duplicates_later(&mut self) -> Option<LaterCheck> {
        if self.previous.is_some() || self.later.is_some() {
            return None;
        }
        self.later = Some(self.seen.hash());
        Some(LaterCheck {
            seen: std::mem::take(&mut self.seen),
        })
    }

    /// A second planner, for a second thread, that plans exactly as this one: only once the
    /// duplicate check is left to the caller (the one decision that depends on earlier rows)
    /// and with no previous run (whose journal is consumed row by row). `None` otherwise.
    pub fn twin(&self) -> Option<Planner> {
        if self.previous.is_some() || self.later.is_none() {
            return None;
        }
        Some(Planner {
            mapping: self.mapping.clone(),
            headers: self.headers.clone(),
            tags: self.tags.clone(),
            sequences: self.sequences.clone(),
            seen: DupSet::default(),
            previous: None,
            dry_run: self.dry_run,
            fast: self.fast,
            later: self.later,
            unchecked: None,
            key: String::new(),
        })
    }

    /// When the row just planned reached the duplicate check and left it to the caller: the
    /// key's fingerprint and the key (the email as the check compares it).
    pub fn left_unchecked(&self) -> Option<(u64, &str)> {
        self.unchecked
            .map(|fingerprint| (fingerprint, self.key.as_str()))
    }
}
