//! The duplicate check done after planning, on another thread, and the fingerprints that let
//! it warm its memory ahead.
//!
//! In a dry run the planner is the busiest of the three threads ([`crate::import::dry`]), and
//! the duplicate set (its cache misses, its spills to disk) was a third of its work. So the dry
//! run takes the set out of the planner ([`Planner::check_duplicates_later`]) and checks, on
//! the writer's thread, exactly the rows the planner left unchecked, in input order, with the
//! same key and the same outcomes ([`check_duplicate`]); only the thread differs. That is
//! exact because nothing the planner decides after the check depends on its answer except
//! through the outcome, which [`LaterCheck::settle`] replaces: a resumed run (whose journal
//! replays rows after the check) keeps the check in the planner. The dry run's test holds the
//! files to the pipeline's byte for byte.

use super::{Planner, check_duplicate, dedupe_key};
use crate::csv_in::Record;
use crate::import::dedupe::{DupSet, KeyHash};
use crate::mapping::{Field, Mapping};
use crate::results::Outcome;

/// A record's fingerprint in the duplicate check, as [`Planner::plan`] computes it for a row
/// that passes its checks (for one that does not, a hint with no duty to be exact).
pub struct Fingerprints {
    mapping: Mapping,
    hash: KeyHash,
}

impl Fingerprints {
    pub fn of(&self, record: &Record) -> Option<u64> {
        let email = self.mapping.text(Field::Email, &record.fields)?;
        Some((self.hash)(dedupe_key(email.value).as_bytes()))
    }
}

/// The duplicate set, taken out of the planner.
pub struct LaterCheck {
    seen: DupSet,
    mapping: Mapping,
}

impl LaterCheck {
    /// Warms the set's memory for the coming rows' fingerprints (from [`Fingerprints`]), so
    /// that their lookups overlap instead of waiting on one cache miss after another. A hint
    /// only: it decides and remembers nothing.
    pub fn prefetch(&self, fingerprints: &[u64]) {
        for &fp in fingerprints {
            self.seen.prefetch(fp);
        }
    }

    /// The outcome of a row [`Planner::plan`] left unchecked ([`Planner::left_unchecked`]):
    /// its planned outcome for a first occurrence, else `duplicate` (or `failed` when the
    /// check could not answer). Rows must come in input order, as to the planner.
    pub fn settle(&mut self, record: &Record, planned: Outcome) -> Outcome {
        // The planner's own email: the same mapping, the same cells.
        let email = self.mapping.text(Field::Email, &record.fields);
        let email = email.map_or("", |text| text.value);
        check_duplicate(&mut self.seen, email, record.number).unwrap_or(planned)
    }
}

impl Planner {
    /// What finds a record's fingerprint, for another thread to compute ahead of the check:
    /// the dry run's reader does it while the others are busy.
    pub fn fingerprints(&self) -> Fingerprints {
        Fingerprints {
            mapping: self.mapping.clone(),
            hash: self.seen.hash(),
        }
    }

    /// Leaves the duplicate check to the caller from now on: each row that reaches it is
    /// planned as a first occurrence, [`Planner::left_unchecked`] says so, and the caller
    /// settles it with the returned [`LaterCheck`]. `None` (the planner keeps checking) when a
    /// previous run is being resumed.
    pub fn check_duplicates_later(&mut self) -> Option<LaterCheck> {
        if self.previous.is_some() || self.later {
            return None;
        }
        self.later = true;
        Some(LaterCheck {
            seen: std::mem::take(&mut self.seen),
            mapping: self.mapping.clone(),
        })
    }

    /// Whether the row just planned reached the duplicate check and left it to the caller.
    pub fn left_unchecked(&self) -> bool {
        self.unchecked
    }
}
