//! The pipeline of a dry run: two threads, no network, nothing reordered.
//!
//! A dry run decides every row locally, so the async pipeline's machinery ([`super::pipeline`]:
//! channel of owned cells, reorder window, request futures) would only cost time. Here a
//! reader thread parses each record into a batch of reused records (no allocation per cell
//! once the batches are warm) and plans it at once while its cells are in that core's cache
//! ([`Planner::plan`], the same decisions as a real run) but for the duplicate check, handing
//! over each row's duplicate key and its fingerprint; this thread runs the duplicate check
//! ([`super::plan::LaterCheck`], its memory warmed [`AHEAD`] rows ahead from those
//! fingerprints) and hands the borrowed cells and their outcomes to
//! [`Collector::accept_next`], with the results line the reader built for the planned outcome
//! (unless the check found a duplicate, whose line is built there). Most rows are a plain
//! `would_create`, written from one shared outcome: no outcome is built or moved for them.
//! Emptied batches go back to the reader.
//!
//! Planning is the one stage that can run on either thread (in a dry run it depends on
//! nothing but the row), so it is split between them by [`batch::Share`], adjusted as they
//! go: whichever thread waits for the other gives it less. The outcomes, files, counts and
//! stop reasons are the pipeline's own, byte for byte, however the planning is split: a test
//! runs both on the same input, with several splits, and compares the files.
//!
//! Called by [`super::run`] on a blocking thread of the runtime, so the signal listener keeps
//! running; an interrupt is handled as in the pipeline (the input is still read to its end,
//! every row gets its line, the run ends as interrupted); a stream is not read after a stop, and
//! a reader waiting on an idle producer is left behind after [`READER_GRACE`] (the producer's
//! next line may never come). Files are flushed whenever no batch is ready, so rows from a slow
//! pipe get their lines at once.

use std::sync::Arc;
use std::sync::mpsc::{
    Receiver, RecvTimeoutError, SyncSender, TryRecvError, channel, sync_channel,
};
use std::time::Duration;

use super::collect::{self, Collector, Stop};
use super::plan::{LaterCheck, Planner, READER_GRACE};
use crate::csv_in::CsvInput;
use crate::results::{Kind, LineFormat, Outcome};
use crate::shutdown::Shutdown;

mod batch;
use batch::{BATCHES, Batch, Decided, Share};

/// How many rows ahead the duplicate set's memory is warmed.
const AHEAD: usize = 16;

/// Reads, plans and writes every row; hands the collector back like [`super::pipeline`] does.
/// `stream`: the input is a pipe, whose producer may make the reader wait for a line.
pub fn run(
    input: CsvInput,
    planner: Planner,
    collector: Collector,
    shutdown: &Arc<Shutdown>,
    stream: bool,
) -> (Stop, Collector) {
    split(
        input,
        planner,
        collector,
        shutdown,
        Share::adaptive(),
        stream,
    )
}

/// [`run`] with the planning split by `share`.
fn split(
    input: CsvInput,
    mut planner: Planner,
    mut collector: Collector,
    shutdown: &Arc<Shutdown>,
    share: Share,
    stream: bool,
) -> (Stop, Collector) {
    let share = Arc::new(share);
    let (full_tx, full) = sync_channel::<Batch>(BATCHES);
    let (empty, empty_rx) = channel::<Batch>();
    for _ in 0..BATCHES {
        empty.send(Batch::new()).expect("the receiver is alive");
    }
    // Reading and planning are most of the work: the duplicate set moves to this thread, and
    // so does part of the planning when this thread has time for it.
    let mut later = planner.check_duplicates_later();
    let mut twin = planner.twin();
    let would_create = Outcome::new(Kind::WouldCreate);
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
    let stages = Stages {
        input,
        planner,
        share: Arc::clone(&share),
        format: collector.line_format(),
        stream,
    };
    let reader = {
        let shutdown = Arc::clone(shutdown);
        std::thread::Builder::new()
            .name("csv-reader".into())
            .spawn(move || stages.run(&empty_rx, &full_tx, &shutdown))
            .expect("spawning the reader thread")
    };
    {
        // Owned here, so that leaving this loop (or a panic in it) closes both channels and
        // the reader returns instead of waiting for a batch forever.
        let (full, empty) = (full, empty);
        loop {
            let mut batch = match full.try_recv() {
                Ok(batch) => batch,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    if twin.is_some() {
                        share.reader_behind();
                    }
                    // Nothing ready: what is written so far goes out before waiting.
                    if let Err(e) = collector.flush()
                        && halt(collect::write_stop(e))
                    {
                        break;
                    }
                    match next_batch(&full, stream, shutdown) {
                        Some(batch) => batch,
                        None => break,
                    }
                }
            };
            if write_batch(
                &mut batch,
                twin.as_mut(),
                later.as_mut(),
                &mut collector,
                &would_create,
                &mut halt,
            ) {
                break;
            }
            if let Some(e) = batch.error.take() {
                halt(Stop::Failed(e.into()));
            }
            // The reader may have stopped already: then the batch is simply dropped.
            let _ = empty.send(batch);
        }
    }
    // A stream's reader may be waiting on an idle producer: it is left behind, not joined.
    if !stream || reader.is_finished() {
        reader.join().expect("the reader thread does not panic");
    }
    if let Err(e) = collector.flush() {
        halt(collect::write_stop(e));
    }
    (Stop::settle(stop, shutdown), collector)
}

/// Plans the rows the reader left (on `twin`), checks duplicates in order and hands every row
/// of `batch` to the collector. True when nothing more is worth writing (`halt` says so: the
/// reader of the results went away); a row after another write error is still counted.
fn write_batch(
    batch: &mut Batch,
    twin: Option<&mut Planner>,
    mut later: Option<&mut LaterCheck>,
    collector: &mut Collector,
    would_create: &Outcome,
    halt: &mut impl FnMut(Stop) -> bool,
) -> bool {
    if let Some(twin) = twin {
        for i in 0..batch.len {
            if matches!(batch.rows[i], Decided::Unplanned) {
                batch.plan(i, twin, None);
            }
        }
    }
    if let Some(later) = &later {
        (0..AHEAD)
            .filter_map(|i| batch.check(i))
            .for_each(|(fp, _)| later.prefetch(fp));
    }
    for (i, record) in batch.records[..batch.len].iter().enumerate() {
        let mut outcome = batch.planned(i, would_create);
        // The line built ahead holds the planned outcome, not a duplicate's.
        let mut line = batch.line(i);
        let repeated;
        if let (Some(later), Some((fp, key))) = (&mut later, batch.check(i)) {
            if let Some((ahead, _)) = batch.check(i + AHEAD) {
                later.prefetch(ahead);
            }
            if let Some(found) = later.settle(fp, key, record.number) {
                repeated = found;
                line = None;
                outcome = &repeated;
            }
        }
        let replayed = matches!(batch.rows[i], Decided::Planned { replayed: true, .. });
        if let Err(e) = collector.accept_next(record, outcome, replayed, line)
            && halt(collect::write_stop(e))
        {
            return true;
        }
    }
    false
}

/// Waits for the reader's next batch; `None` once it is gone. A stream's reader may wait on its
/// producer forever: after a stop it gets [`READER_GRACE`] to hand over what it has read, then
/// it is given up on (the rows it is still waiting for were never read).
fn next_batch(full: &Receiver<Batch>, stream: bool, shutdown: &Shutdown) -> Option<Batch> {
    if !stream {
        return full.recv().ok();
    }
    const POLL: Duration = Duration::from_millis(50);
    let mut waited_stopped = Duration::ZERO;
    loop {
        match full.recv_timeout(POLL) {
            Ok(batch) => return Some(batch),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) if shutdown.is_triggered() => {
                waited_stopped += POLL;
                if waited_stopped >= READER_GRACE {
                    return None;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// What the reader thread owns: it reads each record and plans it while its cells are still
/// in this core's cache (all of them, or its [`Share`] when the writer plans the others).
struct Stages {
    input: CsvInput,
    planner: Planner,
    share: Arc<Share>,
    /// Builds the results lines of the rows this thread plans, ahead of their turn.
    format: LineFormat,
    /// A pipe: a batch goes out as soon as the next line is not in the buffer yet (a file's
    /// next read never waits on a producer, so it is not asked: a search a row).
    stream: bool,
}

impl Stages {
    /// Fills emptied batches until the input ends or fails. A batch goes out early when the
    /// next record may wait on a slow producer. Whether the run is stopping is read once a
    /// batch (a flag behind a lock): a row decided a batch late is only `not_attempted` a
    /// batch late, as in the pipeline, where rows in flight settle too. After a stop, a file
    /// is read to its end (every row gets its line) and a stream is not read further, as in
    /// the pipeline ([`super::plan::spawn_reader`]).
    fn run(mut self, empty: &Receiver<Batch>, full: &SyncSender<Batch>, shutdown: &Shutdown) {
        loop {
            let mut batch = match empty.try_recv() {
                Ok(batch) => batch,
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {
                    self.share.writer_behind();
                    match empty.recv() {
                        Ok(batch) => batch,
                        Err(_) => return,
                    }
                }
            };
            let stopping = shutdown.is_triggered();
            if stopping && self.stream {
                return;
            }
            batch.clear(stopping);
            let share = self.share.get();
            let mut last = false;
            while batch.len < batch.records.len() {
                let i = batch.len;
                match self.input.read_record(&mut batch.records[i]) {
                    Ok(true) => {
                        batch.len += 1;
                        match Share::reader_plans(share, i) {
                            true => batch.plan(i, &mut self.planner, Some(&mut self.format)),
                            false => batch.rows.push(Decided::Unplanned),
                        }
                    }
                    Ok(false) => last = true,
                    Err(e) => {
                        batch.error = Some(e);
                        last = true;
                    }
                }
                if last || (self.stream && !self.input.line_buffered()) {
                    break;
                }
            }
            if full.send(batch).is_err() || last {
                return;
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests;
