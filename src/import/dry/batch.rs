//! What passes between the dry run's two threads: a batch of records and what was decided
//! for each, and the share of the planning each thread does.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::csv_in::{InputError, Record};
use crate::import::plan::{Planner, Work};
use crate::results::{Kind, LineFormat, Outcome};

/// Records per hand-over: large enough that the hand-overs (a wake-up each) cost nothing per
/// row, small enough that the batches in flight ([`BATCHES`]) stay about a MiB.
pub const BATCH: usize = 1024;
/// Enough for each thread to hold one while the channels hold the others.
pub const BATCHES: usize = 6;

/// Records read in one go, then their outcomes; `error` ends the input.
pub struct Batch {
    pub records: Vec<Record>,
    pub len: usize,
    /// Whether the run was stopping when the batch was read: its rows are planned so.
    pub stopping: bool,
    /// What was decided for `records[i]`.
    pub rows: Vec<Decided>,
    /// The outcomes of the rows that are not a plain `would_create` (see [`Decided`]).
    outcomes: Vec<Outcome>,
    /// The duplicate-check keys of the rows left unchecked, back to back.
    keys: String,
    /// Results lines built by the reader for its planned outcomes, back to back.
    lines: Vec<u8>,
    pub error: Option<InputError>,
}

/// One row as planned. Small on purpose: most rows of a dry run are a plain `would_create`,
/// written from one shared outcome, so no outcome is built, moved or dropped for them.
#[derive(Clone, Copy)]
pub enum Decided {
    /// Left for the writer's thread to plan ([`Share`]).
    Unplanned,
    Planned {
        /// Index in [`Batch::outcomes`]; `None`: a plain `would_create`.
        outcome: Option<u32>,
        /// Settled by a previous run (replayed from its journal).
        replayed: bool,
        /// Left to the writer's duplicate check ([`crate::import::plan::LaterCheck`]): the
        /// key's fingerprint and where the key is in [`Batch::keys`].
        check: Option<(u64, u32, u32)>,
        /// Where the row's results line for the planned outcome is in [`Batch::lines`],
        /// when it was built ahead.
        line: Option<(u32, u32)>,
    },
}

impl Batch {
    pub fn new() -> Self {
        Batch {
            records: (0..BATCH).map(|_| Record::default()).collect(),
            len: 0,
            stopping: false,
            rows: Vec::with_capacity(BATCH),
            outcomes: Vec::new(),
            keys: String::new(),
            lines: Vec::new(),
            error: None,
        }
    }

    pub fn clear(&mut self, stopping: bool) {
        self.len = 0;
        self.stopping = stopping;
        self.rows.clear();
        self.outcomes.clear();
        self.keys.clear();
        self.lines.clear();
    }

    /// Plans `records[i]` with `planner` into `rows[i]` (pushed when `i` is the next row),
    /// and builds its results line with `format` when given.
    pub fn plan(&mut self, i: usize, planner: &mut Planner, format: Option<&mut LineFormat>) {
        let record = &self.records[i];
        let work = planner.plan(record, self.stopping);
        // Looked at in place: the usual outcome is a plain `would_create`, kept nowhere.
        let (outcome, replayed) = match &work {
            Work::Done(outcome) => (Some(outcome), false),
            Work::Settled(outcome) => (Some(outcome), true),
            // A dry run's planner sends nothing; a row it would send is not attempted.
            Work::Send(_) => (None, false),
        };
        let not_attempted;
        let outcome = match outcome {
            Some(o) => o,
            None => {
                not_attempted = Outcome::new(Kind::NotAttempted);
                &not_attempted
            }
        };
        let line = format.map(|format| {
            let start = self.lines.len() as u32;
            format.push(
                &mut self.lines,
                record.number,
                &record.fields,
                record.unquoted,
                outcome,
            );
            (start, self.lines.len() as u32)
        });
        let outcome = (!outcome.is_plain(Kind::WouldCreate)).then(|| {
            self.outcomes.push(outcome.clone());
            (self.outcomes.len() - 1) as u32
        });
        let check = planner.left_unchecked().map(|(fingerprint, key)| {
            let start = self.keys.len() as u32;
            self.keys.push_str(key);
            (fingerprint, start, self.keys.len() as u32)
        });
        let decided = Decided::Planned {
            outcome,
            replayed,
            check,
            line,
        };
        match self.rows.get_mut(i) {
            Some(row) => *row = decided,
            None => self.rows.push(decided),
        }
    }

    /// The row's outcome as planned, before the duplicate check.
    pub fn planned<'a>(&'a self, i: usize, would_create: &'a Outcome) -> &'a Outcome {
        match self.rows[i] {
            Decided::Planned {
                outcome: Some(at), ..
            } => &self.outcomes[at as usize],
            _ => would_create,
        }
    }

    /// Row `i`'s results line for its planned outcome, if it was built ahead.
    pub fn line(&self, i: usize) -> Option<&[u8]> {
        match self.rows[i] {
            Decided::Planned {
                line: Some((start, end)),
                ..
            } => Some(&self.lines[start as usize..end as usize]),
            _ => None,
        }
    }

    /// The key and fingerprint of row `i` if it is left to the duplicate check.
    pub fn check(&self, i: usize) -> Option<(u64, &str)> {
        match self.rows.get(i)? {
            Decided::Planned {
                check: Some((fp, start, end)),
                ..
            } => Some((*fp, &self.keys[*start as usize..*end as usize])),
            _ => None,
        }
    }
}

/// How the planning is split between the two threads, adjusted as they go: the reader plans
/// the rows `i` of a batch with `i % STEPS < share` and leaves the others to the writer.
/// Whichever thread finds itself waiting for the other hands it less: the reader waiting for
/// an emptied batch means the writer is behind, the writer waiting for a full one means the
/// reader is. The split changes nothing but the thread: planning a row in a dry run depends
/// on nothing but the row (the duplicate check, the one thing that depends on earlier rows,
/// stays with the writer, in order).
pub struct Share {
    reader: AtomicUsize,
    /// False: the split stays as it started (a test holds each split to the same files).
    adaptive: bool,
}

impl Share {
    pub const STEPS: usize = 8;

    /// All the planning on the reader's side to begin with, then adjusted.
    pub fn adaptive() -> Self {
        Share {
            reader: AtomicUsize::new(Self::STEPS),
            adaptive: true,
        }
    }

    /// The reader plans `steps` rows in [`Share::STEPS`], always.
    #[cfg(test)]
    pub fn fixed(steps: usize) -> Self {
        Share {
            reader: AtomicUsize::new(steps.min(Self::STEPS)),
            adaptive: false,
        }
    }

    /// Whether the reader plans row `i`, at the share `share` read for its batch.
    pub fn reader_plans(share: usize, i: usize) -> bool {
        i % Self::STEPS < share
    }

    pub fn get(&self) -> usize {
        self.reader.load(Ordering::Relaxed)
    }

    /// The writer is behind: the reader takes one more step.
    pub fn writer_behind(&self) {
        if !self.adaptive {
            return;
        }
        let _ = self
            .reader
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                (s < Self::STEPS).then_some(s + 1)
            });
    }

    /// The reader is behind: the writer takes one more step.
    pub fn reader_behind(&self) {
        if !self.adaptive {
            return;
        }
        let _ = self
            .reader
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| s.checked_sub(1));
    }
}
