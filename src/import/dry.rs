//! The pipeline of a dry run: one thread, no network, nothing reordered.
//!
//! A dry run decides every row locally, so the async pipeline's machinery ([`super::pipeline`]:
//! reader thread, channel, reorder window, request futures) would only cost time. Here one
//! loop reads each record into the same reused [`Record`] (no allocation per cell), plans it
//! ([`Planner::plan`], the same decisions as a real run) and hands the borrowed cells straight
//! to [`Collector::accept_next`], which writes its results line in place. The outcomes, files,
//! counts and stop reasons are the pipeline's own, byte for byte: a test runs both on the same
//! input and compares the files.
//!
//! Called by [`super::run`] on a blocking thread of the runtime, so the signal listener keeps
//! running; an interrupt is handled as in the pipeline (the input is still read to its end, every
//! row gets its line, the run ends as interrupted).

use super::collect::{self, Collector, Stop};
use super::plan::{Planner, Work};
use crate::csv_in::{CsvInput, Record};
use crate::results::{Kind, Outcome};
use crate::shutdown::Shutdown;

/// Reads, plans and writes every row; hands the collector back like [`super::pipeline`] does.
pub fn run(
    mut input: CsvInput,
    mut planner: Planner,
    mut collector: Collector,
    shutdown: &Shutdown,
) -> (Stop, Collector) {
    let mut record = Record::default();
    let mut stop: Option<Stop> = None;
    let mut halt = |why: Stop| {
        if stop.is_none() {
            stop = Some(why);
            shutdown.trigger();
        }
    };
    loop {
        match input.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                halt(Stop::Failed(e.into()));
                break;
            }
        }
        let (outcome, replayed) = match planner.plan(&record, shutdown.is_triggered()) {
            Work::Done(outcome) => (outcome, false),
            Work::Settled(outcome) => (outcome, true),
            // A dry run's planner sends nothing; a row it would send is not attempted.
            Work::Send(_) => (Outcome::new(Kind::NotAttempted), false),
        };
        if let Err(e) = collector.accept_next(record.number, &record.fields, outcome, replayed) {
            halt(Stop::Failed(collect::write_fatal(e)));
        }
        // The next record may wait on a slow producer: what is written so far goes out first.
        if !input.line_buffered()
            && let Err(e) = collector.flush()
        {
            halt(Stop::Failed(collect::write_fatal(e)));
        }
    }
    if let Err(e) = collector.flush() {
        halt(Stop::Failed(collect::write_fatal(e)));
    }
    (Stop::settle(stop, shutdown), collector)
}

#[cfg(test)]
pub(super) mod tests;
