//! The one consumer of outcomes: journal first, then results and rejects in input order.
//!
//! Outcomes arrive in completion order. Each is appended to the journal at once (so a crash
//! loses nothing learned), then held until every earlier row is written, so the results file is
//! always a valid, ordered prefix. Files are flushed whenever no further outcome is ready, which
//! batches writes under load and still writes each outcome promptly at 10 rows/s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use super::journal::Shared;
use super::send::Refused;
use crate::api::client::Client;
use crate::csv_in::{InputError, Record};
use crate::exit::Fatal;
use crate::results::{Kind, LineFormat, Outcome, RejectsWriter, ResultsWriter};
use crate::shutdown::Shutdown;

/// A row's final word, as produced by a worker.
pub struct Done {
    pub row: u64,
    pub cells: Vec<String>,
    pub outcome: Outcome,
    pub refused: Option<Refused>,
    /// Replayed from the journal of an earlier run: already recorded there.
    pub replayed: bool,
}

/// Why the collector stopped.
pub enum Stop {
    Completed,
    Interrupted,
    Refused(Refused),
    /// Not a row's problem: the input became unreadable or a file unwritable mid-run.
    Failed(Fatal),
    /// The reader of results written to standard output went away (`--results - | head`):
    /// it has what it wanted, as for `export -o - | head`.
    Closed,
}

impl Stop {
    /// Why a pipeline that drained its input stopped: the first reason seen, else whether a
    /// signal came.
    pub fn settle(first: Option<Stop>, shutdown: &Shutdown) -> Stop {
        match first {
            Some(why) => why,
            None if shutdown.is_triggered() => Stop::Interrupted,
            None => Stop::Completed,
        }
    }
}

/// Outcome counters, shared with the progress display.
///
/// Written by the [`Collector`] alone (its private methods are the only writers), read by
/// anyone: so an increment is a plain load and store, not a locked read-modify-write, which
/// cost a dry run's writer thread more than writing the row's results line.
#[derive(Default)]
pub struct Counts {
    done: AtomicU64,
    by_kind: [AtomicU64; Kind::ALL.len()],
}

/// `counter += by` for a counter with a single writer.
fn bump(counter: &AtomicU64, by: i64) {
    let value = counter.load(Ordering::Relaxed).wrapping_add_signed(by);
    counter.store(value, Ordering::Relaxed);
}

impl Counts {
    fn add(&self, kind: Kind) {
        bump(&self.done, 1);
        bump(&self.by_kind[kind.index()], 1);
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// A row's outcome changed after it was counted (a duplicate whose first occurrence failed).
    fn recount(&self, from: Kind, to: Kind) {
        bump(&self.by_kind[from.index()], -1);
        bump(&self.by_kind[to.index()], 1);
    }

    pub fn get(&self, kind: Kind) -> u64 {
        self.by_kind[kind.index()].load(Ordering::Relaxed)
    }

    pub fn by_name(&self) -> BTreeMap<&'static str, u64> {
        Kind::ALL
            .iter()
            .map(|&k| (k.as_str(), self.get(k)))
            .collect()
    }

    /// "created 10 · exists 2 · invalid 1", zero counts left out.
    pub fn detail(&self) -> String {
        let parts: Vec<String> = Kind::ALL
            .iter()
            .filter(|&&k| self.get(k) > 0)
            .map(|&k| format!("{} {}", k.as_str(), self.get(k)))
            .collect();
        if parts.is_empty() {
            "starting".into()
        } else {
            parts.join(" · ")
        }
    }
}

/// In-flight requests: starts at `--concurrency` and grows when rate × latency needs more, so
/// a slow server does not cap throughput below the rate limit.
pub struct Gate {
    slots: Semaphore,
    size: AtomicUsize,
    max: usize,
}

impl Gate {
    pub fn new(initial: usize, max: usize) -> Self {
        Gate {
            slots: Semaphore::new(initial),
            size: AtomicUsize::new(initial),
            max: max.max(initial),
        }
    }

    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        self.slots.acquire().await.expect("gate is never closed")
    }

    pub fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    /// Little's law with head-room: in flight = rate × latency × 2, never shrinking.
    pub fn adapt(&self, rate_per_second: Option<f64>, latency_seconds: f64) {
        let Some(rate) = rate_per_second else { return };
        let wanted = ((rate * latency_seconds * 2.0).ceil() as usize + 1).min(self.max);
        let current = self.size();
        if wanted > current {
            self.size.store(wanted, Ordering::Relaxed);
            self.slots.add_permits(wanted - current);
        }
    }
}

pub struct Collector {
    results: ResultsWriter,
    rejects: RejectsWriter,
    journal: Option<Shared>,
    counts: Arc<Counts>,
    next_row: u64,
    /// A write failed: nothing more is written (see [`Collector::accept`]).
    broken: bool,
    waiting: BTreeMap<u64, (Vec<String>, Outcome, OwnedSemaphorePermit)>,
    /// Rows the server saw and did not take, with the API's code: a later row with the same
    /// email is then no harmless duplicate. Only rows that reached the server, so the set is
    /// as small as the failures, not the file.
    failed_rows: HashMap<u64, Option<String>>,
}

impl Collector {
    pub fn new(
        results: ResultsWriter,
        rejects: RejectsWriter,
        journal: Option<Shared>,
        counts: Arc<Counts>,
    ) -> Self {
        Collector {
            results,
            rejects,
            journal,
            counts,
            next_row: 1,
            broken: false,
            waiting: BTreeMap::new(),
            failed_rows: HashMap::new(),
        }
    }

    /// Drains the stream to its end, whatever happens: a refusal (401/403), an unreadable row
    /// or an unwritable file stops new sends (through `shutdown`) but every row already read
    /// still gets its journal entry and results line, so nothing learned from the server is
    /// dropped. The first reason to stop is the one reported.
    pub async fn run(
        &mut self,
        stream: impl Stream<Item = (Result<Done, InputError>, OwnedSemaphorePermit)>,
        shutdown: &Shutdown,
        client: Option<&Client>,
        gate: &Gate,
    ) -> Stop {
        let mut stream = std::pin::pin!(stream);
        let mut stop: Option<Stop> = None;
        let halt = |stop: &mut Option<Stop>, why: Stop| {
            if stop.is_none() {
                *stop = Some(why);
                // Stop everyone: queued rows become not_attempted, in-flight ones settle.
                shutdown.trigger();
            }
        };
        let mut since_adapt = 0u32;
        loop {
            let next = match stream.next().now_or_never() {
                Some(item) => item,
                None => {
                    if let Err(e) = self.flush() {
                        halt(&mut stop, write_stop(e));
                    }
                    stream.next().await
                }
            };
            let Some((item, permit)) = next else { break };
            let done = match item {
                Ok(done) => done,
                Err(e) => {
                    halt(&mut stop, Stop::Failed(e.into()));
                    continue;
                }
            };
            if let Some(r) = done.refused {
                halt(&mut stop, Stop::Refused(r));
            }
            if let Err(e) = self.accept(done.row, done.cells, done.outcome, done.replayed, permit) {
                halt(&mut stop, write_stop(e));
            }
            since_adapt += 1;
            if since_adapt >= 16
                && let Some(client) = client
            {
                since_adapt = 0;
                gate.adapt(client.rate_per_second(), client.latency_seconds());
            }
        }
        if let Err(e) = self.flush() {
            halt(&mut stop, write_stop(e));
        }
        Stop::settle(stop, shutdown)
    }

    fn accept(
        &mut self,
        row: u64,
        cells: Vec<String>,
        outcome: Outcome,
        replayed: bool,
        permit: OwnedSemaphorePermit,
    ) -> std::io::Result<()> {
        self.counts.add(outcome.kind);
        if self.broken {
            // A write already failed: the files' state is unknown, so stop writing; the
            // permit is dropped so the reader is never stalled by a full window.
            return Ok(());
        }
        let written = self.write(row, cells, outcome, replayed, permit);
        self.broken = written.is_err();
        written
    }

    /// The dry run's path ([`super::dry`]): `record` is always the next one, written at once
    /// from the reader's borrowed cells, or as `line` when its results line was built ahead
    /// (by a [`Collector::line_format`], for this very outcome). Same counting, journaling and
    /// lines as [`Collector::run`]'s, which a test holds byte for byte.
    pub fn accept_next(
        &mut self,
        record: &Record,
        outcome: &Outcome,
        replayed: bool,
        line: Option<&[u8]>,
    ) -> std::io::Result<()> {
        let row = record.number;
        // After a failed write the next row is not advanced: nothing is written any more.
        debug_assert!(self.broken || row == self.next_row);
        self.counts.add(outcome.kind);
        if self.broken {
            return Ok(());
        }
        let written = self
            .journal(row, outcome, replayed)
            .and_then(|()| self.settle(&record.fields, record.unquoted, outcome, line));
        self.broken = written.is_err();
        written
    }

    fn write(
        &mut self,
        row: u64,
        cells: Vec<String>,
        outcome: Outcome,
        replayed: bool,
        permit: OwnedSemaphorePermit,
    ) -> std::io::Result<()> {
        self.journal(row, &outcome, replayed)?;
        if row == self.next_row && self.waiting.is_empty() {
            // In order already (every row of a dry run, most of a real one): no reordering.
            return self.settle(&cells, false, &outcome, None);
        }
        self.waiting.insert(row, (cells, outcome, permit));
        while let Some((cells, outcome, _permit)) = self.waiting.remove(&self.next_row) {
            self.settle(&cells, false, &outcome, None)?;
        }
        Ok(())
    }

    /// Appends what is learnt to the journal at once, before the row's turn in the files.
    fn journal(&mut self, row: u64, outcome: &Outcome, replayed: bool) -> std::io::Result<()> {
        match &mut self.journal {
            Some(journal)
                if !replayed && !matches!(outcome.kind, Kind::NotAttempted | Kind::WouldCreate) =>
            {
                journal.record(row, outcome)
            }
            _ => Ok(()),
        }
    }

    /// Writes row `next_row`, whose turn it is, to the results (and rejects) file.
    /// By reference: the dry run writes most rows from one shared `would_create` outcome, and
    /// moving an outcome (about 140 bytes) in and out of calls was a tenth of its writer's time.
    fn settle(
        &mut self,
        cells: &[String],
        unquoted: bool,
        outcome: &Outcome,
        mut line: Option<&[u8]>,
    ) -> std::io::Result<()> {
        let changed;
        let mut outcome = outcome;
        // In input order, a duplicate's first occurrence is always settled by now.
        if let Some(first) = outcome.duplicate_of.map(u64::from)
            && let Some(code) = self.failed_rows.get(&first)
        {
            changed = Outcome::duplicate_of_failed(first, code.as_deref());
            self.counts.recount(outcome.kind, changed.kind);
            if let Some(journal) = &mut self.journal {
                journal.record(self.next_row, &changed)?;
            }
            outcome = &changed;
            line = None;
        }
        // A partial row's contact exists: its duplicates are harmless ones.
        let missing = outcome.kind.is_reject() && outcome.kind != Kind::Partial;
        if missing && (outcome.attempts > 0 || outcome.http_status.is_some()) {
            self.failed_rows
                .insert(self.next_row, outcome.error_code.clone());
        }
        match line {
            Some(line) => self.results.write_line(line)?,
            None => self
                .results
                .write(self.next_row, cells, unquoted, outcome)?,
        }
        if outcome.kind.is_reject() {
            self.rejects.write(cells, outcome)?;
        }
        self.next_row += 1;
        Ok(())
    }

    /// For a thread that builds results lines ahead ([`Collector::accept_next`]).
    pub fn line_format(&self) -> LineFormat {
        self.results.line_format()
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.broken {
            return Ok(());
        }
        if let Some(journal) = &self.journal {
            journal.flush()?;
        }
        self.results.flush()?;
        self.rejects.flush()
    }

    /// Flushes everything and hands the journal back for its end marker.
    pub fn finish(mut self) -> std::io::Result<Option<Shared>> {
        self.flush()?;
        Ok(self.journal)
    }
}

/// Why writing the results stopped the run: a closed pipe is no error.
pub fn write_stop(e: std::io::Error) -> Stop {
    match crate::files::broken_pipe(&e) {
        true => Stop::Closed,
        false => Stop::Failed(Fatal::usage(format!("writing results: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_grows_with_latency_and_never_shrinks() {
        let gate = Gate::new(16, 256);
        gate.adapt(Some(10.0), 0.3);
        assert_eq!(gate.size(), 16);
        gate.adapt(Some(10.0), 2.0);
        assert_eq!(gate.size(), 41);
        gate.adapt(Some(10.0), 0.1);
        assert_eq!(gate.size(), 41);
        gate.adapt(Some(1000.0), 10.0);
        assert_eq!(gate.size(), 256);
        gate.adapt(None, 99.0);
        assert_eq!(gate.size(), 256);
    }

    #[test]
    fn counts_detail_skips_zeroes() {
        let c = Counts::default();
        assert_eq!(c.detail(), "starting");
        c.add(Kind::Created);
        c.add(Kind::Created);
        c.add(Kind::Invalid);
        assert_eq!(c.detail(), "created 2 · invalid 1");
        assert_eq!(c.done(), 3);
    }
}
