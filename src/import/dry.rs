//! The pipeline of a dry run: two threads, no network, nothing reordered.
//!
//! A dry run decides every row locally, so the async pipeline's machinery ([`super::pipeline`]:
//! channel of owned cells, reorder window, request futures) would only cost time. Here a
//! reader thread parses records into batches of reused [`Record`]s (no allocation per cell
//! once the batches are warm) and one loop plans each ([`Planner::plan`], the same decisions
//! as a real run) and hands the borrowed cells straight to [`Collector::accept_next`], which
//! writes its results line in place. Emptied batches go back to the reader, so the two
//! threads share the work of a 2-core machine without copying a cell. The outcomes, files,
//! counts and stop reasons are the pipeline's own, byte for byte: a test runs both on the same
//! input and compares the files.
//!
//! Called by [`super::run`] on a blocking thread of the runtime, so the signal listener keeps
//! running; an interrupt is handled as in the pipeline (the input is still read to its end,
//! every row gets its line, the run ends as interrupted). Files are flushed whenever the
//! reader has nothing ready, so rows from a slow pipe get their lines at once.

use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

use super::collect::{self, Collector, Stop};
use super::plan::{Planner, Work};
use crate::csv_in::{CsvInput, InputError, Record};
use crate::results::{Kind, Outcome};
use crate::shutdown::Shutdown;

/// Records per hand-over: large enough that the hand-over costs nothing per row, small enough
/// that the batches in flight ([`BATCHES`]) stay a few hundred KiB.
const BATCH: usize = 256;
const BATCHES: usize = 4;

/// Records read in one go; `error` ends the input.
struct Batch {
    records: Vec<Record>,
    len: usize,
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
        let records = (0..BATCH).map(|_| Record::default()).collect();
        let batch = Batch {
            records,
            len: 0,
            error: None,
        };
        empty.send(batch).expect("the receiver is alive");
    }
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
            .spawn_scoped(scope, move || read_batches(input, &empty_rx, &full_tx))
            .expect("spawning the reader thread");
        loop {
            let batch = match full.try_recv() {
                Ok(batch) => batch,
                Err(_) => {
                    // Nothing ready: what is written so far goes out before waiting.
                    if let Err(e) = collector.flush() {
                        halt(Stop::Failed(collect::write_fatal(e)));
                    }
                    match full.recv() {
                        Ok(batch) => batch,
                        Err(_) => break,
                    }
                }
            };
            for record in &batch.records[..batch.len] {
                let (outcome, replayed) = match planner.plan(record, shutdown.is_triggered()) {
                    Work::Done(outcome) => (outcome, false),
                    Work::Settled(outcome) => (outcome, true),
                    // A dry run's planner sends nothing; a row it would send is not attempted.
                    Work::Send(_) => (Outcome::new(Kind::NotAttempted), false),
                };
                let row = record.number;
                if let Err(e) = collector.accept_next(row, &record.fields, outcome, replayed) {
                    halt(Stop::Failed(collect::write_fatal(e)));
                }
            }
            let mut batch = batch;
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
fn read_batches(mut input: CsvInput, empty: &Receiver<Batch>, full: &SyncSender<Batch>) {
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
        if full.send(batch).is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
pub(super) mod tests;
