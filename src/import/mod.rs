//! `wolfeo-bulk import`: CSV rows -> `POST /v1/contact`, one results line per row.
//!
//! [`run`] is the same outline as every command: plan ([`setup`]: input, mapping, outputs,
//! journal admission) -> session ([`crate::session`]: connection, pacer, client, shutdown,
//! preflight) -> pipeline ([`pipeline`]: reader, senders, one collector) -> summary
//! ([`report`]). Where things go: a per-row request after the create (custom fields) belongs
//! in [`send`] with a journal step per request; a budget shared between processes plugs in
//! where the session builds its pacer.

mod collect;
pub(crate) mod custom;
pub mod dedupe;
mod dry;
mod evidence;
pub mod journal;
pub(crate) mod outputs;
mod pipeline;
pub mod plan;
mod report;
pub(crate) mod scan;
pub mod send;
mod setup;
mod steps;
mod summary;
pub mod tags;

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::ConnectionArgs;
use crate::exit::{Exit, Fatal};
use crate::mapping::{self, Field};
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::ui::Ui;
use collect::{Collector, Counts};
use pipeline::Pipeline;
use plan::Planner;
use report::Ending;
use send::{OnExists, RowSender};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV file with a header row, or - for standard input; or a spreadsheet (.xlsx, .xls,
    /// .ods), whose first sheet (or --sheet) is read the same way.
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

    /// Create sequences named in a `sequences` column that the account does not have yet.
    #[arg(long)]
    pub create_missing_sequences: bool,

    #[command(flatten)]
    pub reading: crate::csv_in::ReadArgs,

    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub async fn run(args: Args, ui: Arc<Ui>) -> Result<Exit, Fatal> {
    let clock = crate::summary::Clock::start();
    let (mut plan, input) = setup::plan(&args, &ui)?;
    let session = match args.dry_run {
        true => None,
        false => Some(Session::open(&args.connection, &ui, plan.check()).await?),
    };
    let shutdown = session
        .as_ref()
        .map_or_else(Shutdown::new, |s| Arc::clone(s.shutdown()));
    let client = session.as_ref().map(Session::client);
    custom::prepare(client.map(|c| &**c), &mut plan, &ui).await?;
    let columns = [Field::Tags, Field::Sequences].map(|f| plan.mapping.column(f));
    let (source, options) = (&plan.source, &plan.options);
    let [tags, sequences] =
        names(client.map(|c| &**c), columns, source, options, &args, &ui).await?;
    let files = plan.open_files(args.dry_run)?;
    let journal = files.journal.map(journal::Shared::new);
    report::announce(&ui, &plan);
    let ui_for_signal = Arc::clone(&ui);
    shutdown.listen_for_signals(move || {
        ui_for_signal.warn(&format!(
            "interrupt: finishing requests in flight (up to {}s), then stopping",
            pipeline::GRACE.as_secs()
        ))
    });

    let counts = Arc::new(Counts::default());
    let reporter = report::progress(&ui, &plan, &counts, client);
    let sender = client.map(|client| {
        Arc::new(RowSender {
            client: Arc::clone(client),
            journal: journal.clone(),
            shutdown: Arc::clone(&shutdown),
            on_exists: args.on_exists,
            allow_resubscribe: args.allow_resubscribe,
            run_started: plan.run_started,
        })
    });
    let planner = Planner::new(
        plan.mapping.clone(),
        plan.headers.clone(),
        tags,
        plan.run_state.previous.take(),
        args.dry_run,
    )
    .with_sequences(sequences)
    .expecting(plan.scan.as_ref().map(|s| {
        let rows = s.records_estimate;
        plan.limit.map_or(rows, |n| n.min(rows))
    }));
    let collector = Collector::new(files.results, files.rejects, journal, Arc::clone(&counts));
    let (stop, collector) = match sender {
        // Nothing to send: one thread, no async plumbing per row (see `dry`).
        None => {
            let shutdown = Arc::clone(&shutdown);
            let stream = plan.source.is_stream();
            tokio::task::spawn_blocking(move || {
                dry::run(input, planner, collector, &shutdown, stream)
            })
            .await
            .map_err(|e| Fatal::usage(format!("the dry run stopped: {e}")))?
        }
        sender => {
            Pipeline {
                planner,
                input,
                collector,
                sender,
                client: client.cloned(),
                shutdown: Arc::clone(&shutdown),
                concurrency: usize::from(args.connection.concurrency),
                stream: plan.source.is_stream(),
            }
            .run()
            .await
        }
    };
    reporter.finish();
    if matches!(stop, collect::Stop::Closed) {
        // `--results - | head`: the reader has what it wanted (as for `export -o - | head`).
        return Ok(Exit::Ok);
    }
    let ending = Ending::settle(stop, collector, &shutdown, session.as_ref(), &plan)?;
    report::finish(&ui, &args, &plan, &counts, session.as_ref(), clock, ending)
}

/// The account's tags and sequences by name, for `tags` and `sequences` columns of names
/// (creating the missing ones when asked); `None` for a column the file does not have, or in a
/// dry run.
async fn names(
    client: Option<&crate::api::client::Client>,
    columns: [Option<usize>; 2],
    source: &crate::csv_in::Source,
    options: &crate::csv_in::Options,
    args: &Args,
    ui: &Ui,
) -> Result<[Option<plan::TagIndex>; 2], Fatal> {
    let wanted = [
        (tags::Named::Tag, args.create_missing_tags),
        (tags::Named::Sequence, args.create_missing_sequences),
    ];
    let mut found = [None, None];
    for ((slot, column), (what, create)) in found.iter_mut().zip(columns).zip(wanted) {
        let (Some(client), Some(column)) = (client, column) else {
            continue;
        };
        *slot = Some(tags::prepare_names(what, client, source, options, column, create, ui).await?);
    }
    Ok(found)
}
