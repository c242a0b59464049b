//! The pipeline of a dry run: two threads, no network, nothing reordered.
//!
//! A dry run decides every row locally, so the async pipeline's machinery ([`super::pipeline`]:
//! channel of owned cells, reorder window, request futures) would only cost time. Here a
//! reader thread parses each record into a batch of reused [`Record`]s (no allocation per cell
//! once the batches are warm), plans it at once while its cells are in that core's cache
//! ([`Planner::plan`], the same decisions as a real run) but for the duplicate check, and
//! fingerprints its email; this thread runs the duplicate check
//! ([`super::plan::LaterCheck`], its memory warmed for the whole batch from those
//! fingerprints) and hands the borrowed cells and their outcomes to
//! [`Collector::accept_next`], which writes the results line in place. Emptied batches go
//! back to the reader. The split gives the two threads about half the work each on a 2-core
//! machine (a third thread for planning alone cost more in cells moved between cores than it
//! gained). The outcomes, files, counts and stop reasons are the pipeline's own, byte for
//! byte: a test runs both on the same input and compares the files.
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
/// Enough for each thread to hold one while the channels hold the others.
const BATCHES: usize = 6;

/// Records read in one go, then their outcomes; `error` ends the input.
struct Batch {
    records: Vec<Record>,
    len: usize,
    /// The duplicate-check fingerprint of `records[i]`'s email (0 without one), filled by
    /// the reader thread for this thread's prefetch.
    fingerprints: Vec<u64>,
    /// `(outcome, replayed, unchecked)` of `records[i]`, filled by the reader thread;
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
    let (full_tx, full) = sync_channel::<Batch>(BATCHES);
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
    // Reading and planning are most of the work: the duplicate set moves to this thread.
    let mut later = planner.check_duplicates_later();
    let mut stop: Option<Stop> = None;
    // Records why the run stops; true when nothing more is worth reading: the reader of the
    // results went away (`--results - | head`).
    let mut halt = |why: Stop| {
        let closed = matches!(why, Stop::Closed);
        if stop.is_none() {
            stop = Some(why);
            shutdown.trigger();
        }
        closed
    };
    std::thread::scope(|scope| {
        let stages = Stages {
            input,
            planner,
            fingerprints,
        };
        std::thread::Builder::new()
            .name("csv-reader".into())
            .spawn_scoped(scope, move || stages.run(&empty_rx, &full_tx, shutdown))
            .expect("spawning the reader thread");
        // Owned here, so that leaving this loop (or a panic in it) closes both channels and
        // the reader returns instead of waiting for a batch forever.
        let (full, empty) = (full, empty);
        'batches: loop {
            let mut batch = match full.try_recv() {
                Ok(batch) => batch,
                Err(_) => {
                    // Nothing ready: what is written so far goes out before waiting.
                    if let Err(e) = collector.flush()
                        && halt(collect::write_stop(e))
                    {
                        break;
                    }
                    match full.recv() {
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
                if let Err(e) = collector.accept_next(row, &record.fields, outcome, replayed)
                    && halt(collect::write_stop(e))
                {
                    break 'batches;
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
        halt(collect::write_stop(e));
    }
    (Stop::settle(stop, shutdown), collector)
}

/// What the reader thread owns: it reads each record and plans it while its cells are still
/// in this core's cache.
struct Stages {
    input: CsvInput,
    planner: Planner,
    fingerprints: Fingerprints,
}

impl Stages {
    /// Fills emptied batches until the input ends or fails. A batch goes out early when the
    /// next record may wait on a slow producer. Whether the run is stopping is read once a
    /// batch (a flag behind a lock): a row decided a batch late is only `not_attempted` a
    /// batch late, as in the pipeline, where rows in flight settle too.
    fn run(mut self, empty: &Receiver<Batch>, full: &SyncSender<Batch>, shutdown: &Shutdown) {
        while let Ok(mut batch) = empty.recv() {
            let stopping = shutdown.is_triggered();
            batch.len = 0;
            batch.fingerprints.clear();
            batch.decided.clear();
            let mut last = false;
            while batch.len < batch.records.len() {
                let record = &mut batch.records[batch.len];
                match self.input.read_record(record) {
                    Ok(true) => {
                        batch.len += 1;
                        let fingerprint = self.fingerprints.of(record).unwrap_or(0);
                        batch.fingerprints.push(fingerprint);
                        batch.decided.push(self.plan(record, stopping));
                    }
                    Ok(false) => last = true,
                    Err(e) => {
                        batch.error = Some(e);
                        last = true;
                    }
                }
                if last || !self.input.line_buffered() {
                    break;
                }
            }
            if full.send(batch).is_err() || last {
                return;
            }
        }
    }

    /// `(outcome, replayed, unchecked)`: see [`Batch::decided`].
    fn plan(&mut self, record: &Record, stopping: bool) -> (Outcome, bool, bool) {
        let (outcome, replayed) = match self.planner.plan(record, stopping) {
            Work::Done(outcome) => (outcome, false),
            Work::Settled(outcome) => (outcome, true),
            // A dry run's planner sends nothing; a row it would send is not attempted.
            Work::Send(_) => (Outcome::new(Kind::NotAttempted), false),
        };
        (outcome, replayed, self.planner.left_unchecked())
    }
}

#[cfg(test)]
pub(super) mod tests;
