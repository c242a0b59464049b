//! `wolfeo-bulk import`: CSV rows -> `POST /v1/contact`, one results line per row.
//!
//! Shape (after oha): a reader thread parses, validates and de-duplicates rows ([`plan`]); a
//! stream pulls them with back-pressure, sends up to N at once through the one shared pacer
//! ([`send`]); a single collector ([`collect`]) owns the results, rejects and journal files, the
//! counters and the ordering. No task per row, no lock held across an await. Memory is bounded
//! by the reorder window, not by the file.

mod collect;
pub mod dedupe;
mod evidence;
pub mod journal;
mod outputs;
pub mod plan;
mod report;
mod scan;
pub mod send;
pub mod tags;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{Either, Ready, ready};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::api::client::Client;
use crate::cli::ConnectionArgs;
use crate::csv_in::{self, CsvInput, Encoding, Source};
use crate::exit::{Exit, Fatal};
use crate::mapping::{self, Field, Mapping};
use crate::results::{Kind, Outcome, RejectsWriter, ResultsWriter};
use crate::shutdown::Shutdown;
use crate::ui::{Reporter, Status, Ui};
use collect::{Collector, Counts};
use journal::EndState;
use plan::{Job, Planner, Work, spawn_reader};
use report::{ImportSummary, print_summary, refused_fatal, resume_command};
use send::{OnExists, RowSender};

/// How far the reader may run ahead of the first row without an outcome. Bounds memory when
/// one row sits in a long back-off while the others complete.
const REORDER_WINDOW: usize = 8192;
/// How long in-flight requests may finish after Ctrl-C before they are recorded as unknown.
const GRACE: Duration = Duration::from_secs(10);
/// A row's outcome with its place in the reorder window, as the collector receives it.
type InFlight = (
    Result<collect::Done, csv_in::InputError>,
    OwnedSemaphorePermit,
);
/// A row on its way to the API.
type SendFuture = std::pin::Pin<Box<dyn std::future::Future<Output = InFlight> + Send>>;

/// Upper bound for the adaptive concurrency.
const MAX_IN_FLIGHT: usize = 256;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV file with a header row, or - for standard input.
    pub input: String,

    /// Results file (default: <input stem>.results.csv beside the input; for - in the
    /// current directory: stdin.results.csv).
    #[arg(short = 'o', long, value_name = "PATH")]
    pub results: Option<PathBuf>,

    /// Invalid and failed rows with the original header (default: <input stem>.rejects.csv).
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,

    /// Map a column to a field, overriding the built-in aliases: --map "E-mail Address=email".
    /// Use "Column=-" to ignore a column. Repeatable.
    #[arg(short, long = "map", value_name = "COLUMN=FIELD", value_parser = mapping::parse_map_arg)]
    pub map: Vec<(String, String)>,

    /// Read, map and validate without sending; results say would_create or invalid.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Read only the first N data rows (a trial run); the results file then holds only those.
    /// It counts from the file's first row, also with --resume, so a resumed run with a higher
    /// limit (or none) continues where this one stopped.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    /// Continue an interrupted or aborted run of the same input and results file.
    #[arg(long)]
    pub resume: bool,

    /// Start over even though the results file belongs to an unfinished run.
    #[arg(long, conflicts_with = "resume")]
    pub restart: bool,

    /// What to do when the contact already exists (409).
    #[arg(long, value_enum, default_value = "skip")]
    pub on_exists: OnExists,

    /// With --on-exists update: let a row subscribe a contact stored as unsubscribed
    /// (email_marketing or gdpr false -> true). Without it such rows keep the stored consent.
    #[arg(long)]
    pub allow_resubscribe: bool,

    /// Create tags named in a `tags` column that the account does not have yet.
    #[arg(long)]
    pub create_missing_tags: bool,

    /// Field delimiter (default: detected; comma unless ';' or tab clearly wins): , ; tab |
    #[arg(short, long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,

    /// Input encoding when not UTF-8: windows-1252, latin1, utf-16.
    #[arg(short, long)]
    pub encoding: Option<Encoding>,

    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
            Ok(s.as_bytes()[0])
        }
        _ => Err(format!(
            "invalid delimiter {s:?}: use one ASCII character such as , ; | or tab"
        )),
    }
}

pub async fn run(args: Args, ui: Arc<Ui>) -> Result<Exit, Fatal> {
    let started = Instant::now();
    if args.allow_resubscribe && args.on_exists != OnExists::Update {
        return Err(Fatal::usage(
            "--allow-resubscribe only applies with --on-exists update",
        ));
    }
    let source = if args.input == "-" {
        Source::Stdin
    } else {
        Source::Path(PathBuf::from(&args.input))
    };
    let options = csv_in::Options {
        delimiter: args.delimiter,
        encoding: args.encoding,
        limit: args.limit,
        ..csv_in::Options::default()
    };
    let scan = match &source {
        Source::Path(path) if !source.is_stream() => Some(scan::scan(path, &options)?),
        _ => None,
    };
    let input = CsvInput::open(&source, &options).map_err(|e| Fatal::usage(e.to_string()))?;
    let headers = input.headers().to_vec();
    let mapping = Mapping::resolve(&headers, &args.map)
        .map_err(|e| Fatal::usage(format!("{}: {e}", input.source_name())))?;
    let outputs = outputs::Outputs::resolve(
        &source,
        outputs::Named {
            results: args.results.as_deref(),
            rejects: args.rejects.as_deref(),
            summary_json: args.summary_json.as_deref(),
            dry_run: args.dry_run,
        },
    )?;
    let results_path = outputs.results.clone();
    let rejects_path = outputs.rejects.clone();

    let header = outputs::run_header(
        &args,
        scan.as_ref(),
        input.dialect(),
        mapping.describe(&headers),
    );
    let mut run_state = outputs.admit(&header, &args, source.is_stream(), &ui)?;
    check_limit(args.limit, run_state.previous.as_ref(), &results_path)?;
    let resumed = run_state.previous.is_some();
    let run_started = run_state
        .previous
        .as_ref()
        .map_or(header.started_at, |p| p.header.started_at);

    let shutdown = Shutdown::new();
    let (client, _sandbox) = if args.dry_run {
        (None, None)
    } else {
        let (config, sandbox) = args.connection.connect(&ui)?;
        let client = Client::new(&config, Arc::clone(&shutdown), Arc::clone(&ui))
            .map_err(|e| Fatal::usage(format!("{e:#}")))?;
        (Some(Arc::new(client)), sandbox)
    };
    let tags = match (&client, mapping.column(Field::Tags)) {
        (Some(client), Some(column)) => Some(
            tags::prepare(
                client,
                &source,
                &options,
                column,
                args.create_missing_tags,
                &ui,
            )
            .await?,
        ),
        _ => None,
    };

    // The header is written only now, when requests are about to be sent.
    let journal = run_state.journal(&header, args.dry_run)?;
    let results =
        ResultsWriter::create(&results_path, &headers).map_err(|e| io_fatal(&results_path, e))?;
    let rejects = RejectsWriter::create(&rejects_path, &headers, input.dialect())
        .map_err(|e| io_fatal(&rejects_path, e))?;

    let dialect = input.dialect().to_string();
    let unmapped: Vec<String> = mapping
        .unmapped()
        .iter()
        .map(|&i| headers[i].clone())
        .collect();
    ui.info(&format!(
        "import {}{} ({dialect}); mapping: {}{}",
        input.source_name(),
        args.limit.map_or_else(String::new, limit_note),
        mapping.describe(&headers),
        if unmapped.is_empty() {
            String::new()
        } else {
            format!("; not sent: {}", unmapped.join(", "))
        }
    ));
    let consent = mapping.consent_line(&headers);
    ui.info(&consent);
    if resumed {
        ui.info(&format!(
            "resuming: {} rows already settled are not sent again",
            run_state.previous.as_ref().map_or(0, |p| p.settled())
        ));
    }

    let interrupted_message = resume_command(&results_path);
    let ui_for_signal = Arc::clone(&ui);
    shutdown.listen_for_signals(move || {
        ui_for_signal.warn(&format!(
            "interrupt: finishing requests in flight (up to {}s), then stopping",
            GRACE.as_secs()
        ))
    });

    // Reader thread -> bounded channel -> ordered window -> concurrent senders -> collector.
    let (tx, rx) = mpsc::channel::<Vec<Result<Job, csv_in::InputError>>>(16);
    let planner = Planner::new(
        mapping,
        headers.clone(),
        tags,
        run_state.previous.take(),
        args.dry_run,
    );
    let reader = spawn_reader(input, planner, tx, Arc::clone(&shutdown));

    let counts = Arc::new(Counts::default());
    let total = scan.as_ref().map(|s| {
        args.limit
            .map_or(s.records_estimate, |n| n.min(s.records_estimate))
    });
    let reporter = Reporter::start(&ui, "import", "rows", total, {
        let counts = Arc::clone(&counts);
        let client = client.clone();
        move || Status {
            done: counts.done(),
            detail: counts.detail(),
            paused: client.as_ref().and_then(|c| c.pacer().pause_remaining()),
        }
    });

    let window = Arc::new(Semaphore::new(REORDER_WINDOW));
    let gate = Arc::new(collect::Gate::new(
        usize::from(args.connection.concurrency),
        MAX_IN_FLIGHT,
    ));
    let sender = client.as_ref().map(|client| {
        Arc::new(RowSender {
            client: Arc::clone(client),
            on_exists: args.on_exists,
            allow_resubscribe: args.allow_resubscribe,
            run_started,
        })
    });
    let jobs = tokio_stream_from(rx)
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

    let mut collector = Collector::new(results, rejects, journal, Arc::clone(&counts));
    let collected = collector
        .run(jobs, &shutdown, client.as_deref(), &gate)
        .await;
    reporter.finish();
    reader.join().ok();
    let finish = collector.finish();

    let (state, fatal) = match collected {
        collect::Stop::Failed(f) => (EndState::Aborted, Some(f)),
        collect::Stop::Refused(r) => (EndState::Aborted, Some(refused_fatal(r))),
        collect::Stop::Interrupted => (EndState::Interrupted, None),
        collect::Stop::Completed if shutdown.is_triggered() => (EndState::Interrupted, None),
        collect::Stop::Completed => (EndState::Completed, None),
    };
    let sent = client
        .as_ref()
        .is_some_and(|c| crate::api::client::ClientStats::get(&c.stats().requests) > 0);
    let fatal = fatal.map(|f| f.once_sent(sent));
    let finish_result = finish.and_then(|mut journal| match journal.as_mut() {
        Some(j) => j.end(state),
        None => Ok(()),
    });
    let journal_path = outputs
        .journal
        .clone()
        .unwrap_or_else(|| results_path.clone());
    finish_result.map_err(|e| io_fatal(&journal_path, e).once_sent(sent))?;

    let exit = match (&fatal, state) {
        (Some(f), _) => f.exit(),
        (None, EndState::Interrupted) => Exit::Interrupted,
        _ if counts.get(Kind::Invalid) + counts.get(Kind::Failed) > 0 => Exit::RowsFailed,
        _ => Exit::Ok,
    };

    if counts.done() == 0 && fatal.is_none() {
        ui.info(&format!(
            "{}: the file has a header but no data rows; nothing to import",
            args.input
        ));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (requests, throttled, retries) = client.as_ref().map_or((0, 0, 0), |c| {
        use crate::api::client::ClientStats as S;
        let s = c.stats();
        (
            S::get(&s.requests),
            S::get(&s.throttled),
            S::get(&s.retries),
        )
    });
    let eta = args.dry_run.then(|| {
        let to_send = counts.get(Kind::WouldCreate) as f64;
        args.connection
            .rate
            .per_second()
            .map_or(0.0, |r| to_send / r)
    });
    let summary = ImportSummary {
        input: &args.input,
        results: results_path.display().to_string(),
        rejects: rejects_path.display().to_string(),
        dry_run: args.dry_run,
        limit: args.limit,
        resumed,
        rows: counts.done(),
        outcomes: counts.by_name(),
        requests,
        throttled_429: throttled,
        retries,
        elapsed_seconds: elapsed,
        achieved_requests_per_second: if elapsed > 0.0 {
            requests as f64 / elapsed
        } else {
            0.0
        },
        dialect,
        mapping: header.option("--map").to_string(),
        consent,
        unmapped_columns: unmapped,
        eta_seconds_at_rate: eta,
        exit_code: exit.code(),
    };
    print_summary(&ui, &summary, args.connection.rate);
    if let Some(path) = &args.summary_json {
        crate::summary::write_json(path, &summary)?;
    }
    // The way to continue goes out even with -q: main prints the error line whatever the mode.
    let next_step = match &source {
        Source::Path(_) => format!("to continue: {interrupted_message}"),
        Source::Stdin => format!(
            "standard input cannot be resumed: {} holds the outcome of every row read; \
             send the rows after the last one listed",
            results_path.display()
        ),
    };
    match (fatal, state) {
        (Some(f), _) if f.exit() != Exit::Usage => Err(f.with_next_step(&next_step)),
        (Some(f), _) => Err(f),
        (None, EndState::Interrupted) => {
            Err(Fatal::interrupted(format!("interrupted; {next_step}")))
        }
        _ => Ok(exit),
    }
}

/// Turns one job into its outcome: at once for rows decided locally, through a (boxed, so the
/// in-flight queue holds pointers) request future for rows that go to the network.
fn dispatch(
    item: Result<Job, csv_in::InputError>,
    permit: OwnedSemaphorePermit,
    sender: Option<Arc<RowSender>>,
    shutdown: &Arc<Shutdown>,
    gate: &Arc<collect::Gate>,
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
                let not_started = |permit| {
                    let done = collect::Done {
                        row,
                        cells: cells.clone(),
                        outcome: Outcome::new(Kind::NotAttempted),
                        refused: None,
                        replayed: false,
                    };
                    (Ok(done), permit)
                };
                let _slot = tokio::select! {
                    slot = gate.acquire() => slot,
                    _ = shutdown.wait() => return not_started(permit),
                };
                let (outcome, refused) = tokio::select! {
                    r = sender.send(&payload) => (r.0.with_note(payload.note.clone()), r.1),
                    _ = async { shutdown.wait().await; tokio::time::sleep(GRACE).await } => {
                        let mut o = Outcome::new(Kind::Failed)
                            .with_message("interrupted while in flight; --resume will check it");
                        o.attempts = 1;
                        (o, None)
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

/// "first N rows only": said in the opening line and the summary of a `--limit` run.
pub(crate) fn limit_note(n: u64) -> String {
    format!(", first {n} row{} only", if n == 1 { "" } else { "s" })
}

/// A resumed run may raise the limit or drop it, never lower it below a row the earlier run
/// already recorded: the results file would silently lose that row's outcome (maybe a contact
/// it created).
fn check_limit(
    limit: Option<u64>,
    previous: Option<&journal::Previous>,
    results: &Path,
) -> Result<(), Fatal> {
    let (Some(limit), Some(previous)) = (limit, previous) else {
        return Ok(());
    };
    match previous.last_row() {
        Some(last) if last > limit => Err(Fatal::usage(format!(
            "--limit {limit}: the run being resumed already recorded row {last} in {}; \
             pass --limit {last} or more, or no --limit",
            results.display()
        ))),
        _ => Ok(()),
    }
}

fn io_fatal(path: &Path, e: std::io::Error) -> Fatal {
    Fatal::usage(format!("{}: {e}", path.display()))
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert!(parse_delimiter("ab").is_err());
        assert!(parse_delimiter("\"").is_err());
    }
}
