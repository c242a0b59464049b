//! The pipeline of a dry run: three threads, no network, nothing reordered.
//!
//! A dry run decides every row locally, so the async pipeline's machinery ([`super::pipeline`]:
//! channel of owned cells, reorder window, request futures) would only cost time. Here the
//! work is a line of three stages that pass batches of reused [`Record`]s along: a reader
//! thread parses records (no allocation per cell once the batches are warm) and fingerprints
//! their emails, a planning thread decides each ([`Planner::plan`], the same decisions as a
//! real run) but the duplicate check, and this thread runs the duplicate check
//! ([`super::plan::LaterCheck`], its memory warmed for the whole batch from the reader's
//! fingerprints) and hands the borrowed cells and their outcomes to
//! [`Collector::accept_next`], which writes the results line in place.
//! Emptied batches go back to the reader. No stage holds more than about a third of the work,
//! so a 2-core machine runs the three side by side without copying a cell. The outcomes,
//! files, counts and stop reasons are the pipeline's own, byte for byte: a test runs both on
//! the same input and compares the files.
//!
//! Called by [`super::run`] on a blocking thread of the runtime, so the signal listener keeps
//! running; an interrupt is handled as in the pipeline (the input is still read to its end,
//! every row gets its line, the run ends as interrupted). Files are flushed whenever no batch
//! is ready, so rows from a slow pipe get their lines at once.

use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

use super::collect::{self, Collector, Stop};
use super::plan::{Fingerprints, Planner, Work};
use crate::csv_in::{CsvInput, InputError, Record};
use crate::results::{Kind, Outcome};
use crate::shutdown::Shutdown;

/// Records per hand-over: large enough that the hand-overs (a wake-up each) cost nothing per
/// row, small enough that the batches in flight ([`BATCHES`]) stay about a MiB.
const BATCH: usize = 1024;
/// Enough for every stage to hold one while the channels hold the others.
const BATCHES: usize = 6;

/// Records read in one go, then their outcomes; `error` ends the input.
struct Batch {
    records: Vec<Record>,
    len: usize,
    /// The duplicate-check fingerprint of `records[i]`'s email (0 without one), filled by
    /// the reader for the planner's prefetch.
    fingerprints: Vec<u64>,
    /// `(outcome, replayed, unchecked)` of `records[i]`, filled by the planning thread;
    /// `unchecked`: the duplicate check is left to this thread ([`super::plan::LaterCheck`]).
    decided: Vec<(Outcome, bool, bool)>,
    error: Option<InputError>,
}

/// Reads, plans and writes every row; hands the collector back like [`super::pipeline`] does.
pub fn run(
    input: CsvInput,
    mut planner: Planner,
    mut collector: Collector,
    shutdown: &Shutdown,
) -> (Stop, Collector) {
    let (read_tx, read_rx) = sync_channel::<Batch>(BATCHES);
    let (planned_tx, planned) = sync_channel::<Batch>(BATCHES);
    let (empty, empty_rx) = channel::<Batch>();
    for _ in 0..BATCHES {
        let batch = Batch {
            records: (0..BATCH).map(|_| Record::default()).collect(),
            len: 0,
            fingerprints: Vec::with_capacity(BATCH),
            decided: Vec::with_capacity(BATCH),
            error: None,
        };
        empty.send(batch).expect("the receiver is alive");
    }
    let fingerprints = planner.fingerprints();
    // The planner has the most to do: its duplicate set moves to this thread.
    let mut later = planner.check_duplicates_later();
    let mut stop: Option<Stop> = None;
    let mut halt = |why: Stop| {
        if stop.is_none() {
            stop = Some(why);
            shutdown.trigger();
        }
    };
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("csv-reader".into())
            .spawn_scoped(scope, move || {
                read_batches(input, &fingerprints, &empty_rx, &read_tx);
            })
            .expect("spawning the reader thread");
        std::thread::Builder::new()
            .name("dry-planner".into())
            .spawn_scoped(scope, move || {
                plan_batches(planner, &read_rx, &planned_tx, shutdown)
            })
            .expect("spawning the planning thread");
        loop {
            let mut batch = match planned.try_recv() {
                Ok(batch) => batch,
                Err(_) => {
                    // Nothing ready: what is written so far goes out before waiting.
                    if let Err(e) = collector.flush() {
                        halt(Stop::Failed(collect::write_fatal(e)));
                    }
                    match planned.recv() {
                        Ok(batch) => batch,
                        Err(_) => break,
                    }
                }
            };
            if let Some(later) = &later {
                later.prefetch(&batch.fingerprints);
            }
            let records = &batch.records[..batch.len];
            for (record, decided) in records.iter().zip(batch.decided.drain(..)) {
                let (outcome, replayed) = match (&mut later, decided) {
                    (Some(later), (outcome, replayed, true)) => {
                        (later.settle(record, outcome), replayed)
                    }
                    (_, (outcome, replayed, _)) => (outcome, replayed),
                };
                let row = record.number;
                if let Err(e) = collector.accept_next(row, &record.fields, outcome, replayed) {
                    halt(Stop::Failed(collect::write_fatal(e)));
                }
            }
            if let Some(e) = batch.error.take() {
                halt(Stop::Failed(e.into()));
            }
            // The reader may have stopped already: then the batch is simply dropped.
            let _ = empty.send(batch);
        }
    });
    if let Err(e) = collector.flush() {
        halt(Stop::Failed(collect::write_fatal(e)));
    }
    (Stop::settle(stop, shutdown), collector)
}

/// The reader thread: fills emptied batches until the input ends or fails. A batch goes out
/// early when the next record may wait on a slow producer.
fn read_batches(
    mut input: CsvInput,
    fingerprints: &Fingerprints,
    empty: &Receiver<Batch>,
    full: &SyncSender<Batch>,
) {
    while let Ok(mut batch) = empty.recv() {
        batch.len = 0;
        let mut last = false;
        while batch.len < batch.records.len() {
            match input.read_record(&mut batch.records[batch.len]) {
                Ok(true) => batch.len += 1,
                Ok(false) => last = true,
                Err(e) => {
                    batch.error = Some(e);
                    last = true;
                }
            }
            if last || !input.line_buffered() {
                break;
            }
        }
        let records = &batch.records[..batch.len];
        batch.fingerprints.clear();
        let each = records.iter().map(|r| fingerprints.of(r).unwrap_or(0));
        batch.fingerprints.extend(each);
        if full.send(batch).is_err() || last {
            return;
        }
    }
}

/// The planning thread: decides every record of a batch, in order. Whether the run is
/// stopping is read once a batch: a flag behind a lock, and a row decided a batch late is
/// only `not_attempted` a batch late, as in the pipeline, where rows in flight settle too.
fn plan_batches(
    mut planner: Planner,
    read: &Receiver<Batch>,
    planned: &SyncSender<Batch>,
    shutdown: &Shutdown,
) {
    while let Ok(mut batch) = read.recv() {
        let records = &batch.records[..batch.len];
        let stopping = shutdown.is_triggered();
        batch.decided.clear();
        for record in records {
            let (outcome, replayed) = match planner.plan(record, stopping) {
                Work::Done(outcome) => (outcome, false),
                Work::Settled(outcome) => (outcome, true),
                // A dry run's planner sends nothing; a row it would send is not attempted.
                Work::Send(_) => (Outcome::new(Kind::NotAttempted), false),
            };
            batch
                .decided
                .push((outcome, replayed, planner.left_unchecked()));
        }
        if planned.send(batch).is_err() {
            return;
        }
    }
}

#[cfg(test)]
pub(super) mod tests;
