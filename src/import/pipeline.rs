//! The `pipeline` step of an import (after oha): reader thread -> bounded channel -> ordered
//! window -> up to N requests in flight -> one collector.
//!
//! The reader ([`super::plan`]) parses, validates and de-duplicates rows off the runtime; a
//! stream pulls them with back-pressure, sends up to N at once through the session's one pacer
//! ([`super::send`]); the single [`Collector`] owns the files, the counters and the ordering.
//! No task per row, no lock held across an await; memory is bounded by the reorder window.
//!
//! Stopping (Ctrl-C, SIGTERM, 401/403, a fatal error) goes through the [`Shutdown`]: rows that
//! have not started become `not_attempted` at once, without queueing for a slot or the pacer;
//! requests in flight get [`GRACE`] to settle. The stream always runs to its end, so every row
//! read gets its line.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::{Either, Ready, ready};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::collect::{self, Collector, Gate, Stop};
use super::plan::{Job, Planner, READER_GRACE, Work, spawn_reader};
use super::send::RowSender;
use super::steps::Proven;
use crate::api::client::{Client, Purpose};
use crate::csv_in::{self, CsvInput};
use crate::results::{Kind, Outcome};
use crate::shutdown::Shutdown;

/// How far the reader may run ahead of the first row without an outcome. Bounds memory when
/// one row sits in a long back-off while the others complete.
const REORDER_WINDOW: usize = 8192;
/// How long in-flight requests may finish after a stop before they are recorded as unknown.
pub const GRACE: Duration = Duration::from_secs(10);
/// Upper bound for the adaptive concurrency.
const MAX_IN_FLIGHT: usize = 256;

/// A row's outcome with its place in the reorder window, as the collector receives it.
type InFlight = (
    Result<collect::Done, csv_in::InputError>,
    OwnedSemaphorePermit,
);
/// A row on its way to the API.
type SendFuture = std::pin::Pin<Box<dyn std::future::Future<Output = InFlight> + Send>>;

/// What the pipeline works with. `sender` and `client` are `None` for a dry run.
pub struct Pipeline {
    pub input: CsvInput,
    pub planner: Planner,
    pub collector: Collector,
    pub sender: Option<Arc<RowSender>>,
    pub client: Option<Arc<Client>>,
    pub shutdown: Arc<Shutdown>,
    /// The input is read once as it arrives (stdin, a FIFO): not read past a stop.
    pub stream: bool,
    pub concurrency: usize,
}

impl Pipeline {
    /// Runs every row to its outcome; hands the collector back for the journal's end marker.
    pub async fn run(self) -> (Stop, Collector) {
        let Pipeline {
            input,
            planner,
            mut collector,
            sender,
            client,
            shutdown,
            concurrency,
            stream,
        } = self;
        let (tx, rx) = mpsc::channel::<Vec<Result<Job, csv_in::InputError>>>(16);
        let reader = spawn_reader(input, planner, tx, Arc::clone(&shutdown), stream);
        let window = Arc::new(Semaphore::new(REORDER_WINDOW));
        let gate = Arc::new(Gate::new(concurrency, MAX_IN_FLIGHT));
        let jobs = stream_from(rx, stream.then(|| Arc::clone(&shutdown)))
            .flat_map(futures::stream::iter)
            .then(|item| {
                let window = Arc::clone(&window);
                async move {
                    let permit = window
                        .acquire_owned()
                        .await
                        .expect("window is never closed");
                    (item, permit)
                }
            })
            .map(|(item, permit)| dispatch(item, permit, sender.clone(), &shutdown, &gate))
            .buffer_unordered(MAX_IN_FLIGHT);
        let stop = collector
            .run(jobs, &shutdown, client.as_deref(), &gate)
            .await;
        // A stream's reader may still wait on an idle producer: it is left behind, not joined.
        if !stream || reader.is_finished() {
            reader.join().ok();
        }
        (stop, collector)
    }
}

/// Turns one job into its outcome: at once for rows decided locally, through a (boxed, so the
/// in-flight queue holds pointers) request future for rows that go to the network.
fn dispatch(
    item: Result<Job, csv_in::InputError>,
    permit: OwnedSemaphorePermit,
    sender: Option<Arc<RowSender>>,
    shutdown: &Arc<Shutdown>,
    gate: &Arc<Gate>,
) -> Either<Ready<InFlight>, SendFuture> {
    let job = match item {
        Ok(job) => job,
        Err(e) => return Either::Left(ready((Err(e), permit))),
    };
    let Job { row, cells, work } = job;
    let (outcome, replayed) = match (work, sender) {
        (Work::Done(outcome), _) => (outcome, false),
        (Work::Settled(outcome), _) => (outcome, true),
        (Work::Send(_), None) => (Outcome::new(Kind::NotAttempted), false),
        // Stopping: a row that has not started is settled now, without queueing for a slot
        // or the pacer (that queue drained at the rate limit: 27 s for 300 rows at 10/s).
        (Work::Send(_), Some(_)) if shutdown.is_triggered() => {
            (Outcome::new(Kind::NotAttempted), false)
        }
        (Work::Send(payload), Some(sender)) => {
            let shutdown = Arc::clone(shutdown);
            let gate = Arc::clone(gate);
            return Either::Right(Box::pin(async move {
                let slot = tokio::select! {
                    slot = gate.acquire() => Some(slot),
                    _ = shutdown.wait() => None,
                };
                let (outcome, refused) = match slot {
                    None => (Outcome::new(Kind::NotAttempted), None),
                    Some(_slot) => {
                        let proven = Proven::default();
                        tokio::select! {
                            r = Purpose::Row(row).scope(sender.send(row, &payload, &proven)) => (r.0.with_note(payload.note.clone()), r.1),
                            _ = async { shutdown.wait().await; tokio::time::sleep(GRACE).await } => {
                                match proven.take() {
                                    Some(o) => (o.with_note(payload.note.clone()), None),
                                    None => (interrupted(), None),
                                }
                            }
                        }
                    }
                };
                let done = collect::Done {
                    row,
                    cells,
                    outcome,
                    refused,
                    replayed: false,
                };
                (Ok(done), permit)
            }));
        }
    };
    let done = collect::Done {
        row,
        cells,
        outcome,
        refused: None,
        replayed,
    };
    Either::Left(ready((Ok(done), permit)))
}

/// A row whose request was still unanswered when the grace period ended: it may have been
/// stored, so `--resume` looks it up.
fn interrupted() -> Outcome {
    let mut o = Outcome::new(Kind::Failed)
        .with_message("interrupted while in flight; --resume will check it");
    o.attempts = 1;
    o
}

/// What the reader hands over, until it is done. The reader of a stream may wait on an idle
/// producer forever: after a stop (`stop` given), it gets [`READER_GRACE`] to hand over what it
/// has read, then is given up on (the rows it waits for were never read).
fn stream_from<T: Send + 'static>(
    rx: mpsc::Receiver<T>,
    stop: Option<Arc<Shutdown>>,
) -> impl futures::Stream<Item = T> {
    futures::stream::unfold((rx, stop), |(mut rx, stop)| async move {
        let next = match &stop {
            None => rx.recv().await,
            Some(shutdown) => tokio::select! {
                biased;
                next = rx.recv() => next,
                () = async {
                    shutdown.wait().await;
                    tokio::time::sleep(READER_GRACE).await;
                } => rx.try_recv().ok(),
            },
        };
        next.map(|item| (item, (rx, stop)))
    })
}
