//! `wolfeo-bulk verify FILE`: does the account hold what the file says?
//!
//! The last step of a migration: the file given to import (or an export of the old account)
//! against the account as it is now. Same outline as import and export: plan ([`plan`]: the
//! input read with import's reader and mapping, the outputs checked) -> session
//! ([`crate::session`]) -> pipeline ([`read`]: the account's size, the cheaper way to read it
//! ([`strategy`]), the whole contact stream into a compact [`account`] index or one lookup per
//! row; [`pipeline`]: each row's verdict ([`compare`], [`custom`], [`outcome`]) into the verify
//! file, then `--extra`) -> summary ([`report`]). Nothing is ever written to the account: every request
//! is a `GET`.

mod account;
mod compare;
mod custom;
mod outcome;
mod pipeline;
mod plan;
mod read;
mod report;
mod strategy;

use std::path::PathBuf;
use std::sync::Arc;

pub use strategy::ReadMode;

use crate::cli::ConnectionArgs;
use crate::exit::{Exit, Fatal};
use crate::mapping;
use crate::session::{Check, Session};
use crate::ui::Ui;
use outcome::Counts;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV file with a header row (the file given to import, or an export), or - for
    /// standard input; or a spreadsheet (.xlsx, .xls, .ods) read as import reads it.
    pub input: String,

    /// Verify file: the input's columns, then _row, _verify (match, differs, missing,
    /// invalid, duplicate, unknown), _contact_id and _diff (default: <input stem>.verify.csv
    /// beside the input; for - in the current directory). Written beside the target and
    /// renamed into place when complete; - writes to standard output.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Also write the account's contacts that no row of the file mentions, in export's
    /// columns (reads the whole account).
    #[arg(long, value_name = "PATH")]
    pub extra: Option<PathBuf>,

    /// Map a column to a field, as import does: --map "E-mail Address=email", "Column=-".
    #[arg(short, long = "map", value_name = "COLUMN=FIELD", value_parser = mapping::parse_map_arg)]
    pub map: Vec<(String, String)>,

    /// Check only the first N data rows.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    /// Empty name and tag cells assert an empty value, and tag lists must be equal (without
    /// it an empty cell asserts nothing and the file's tags must be among the contact's).
    #[arg(long)]
    pub strict: bool,

    /// How to read the account: the cheaper in requests (auto), every contact 100 per
    /// request (stream), or one GET /v1/contact?email= per row (lookup).
    #[arg(long, value_enum, default_value = "auto")]
    pub read: ReadMode,

    #[command(flatten)]
    pub reading: crate::csv_in::ReadArgs,

    /// Also compare the columns that feed custom fields (bound as import binds them: by
    /// header name or --map "Col=custom:Name"). Costs one GET /v1/contact per row found.
    #[arg(long)]
    pub custom_fields: bool,

    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub async fn run(args: Args, ui: Arc<Ui>) -> Result<Exit, Fatal> {
    let clock = crate::summary::Clock::start();
    let (mut plan, input) = plan::plan(&args)?;
    let session = Session::open(&args.connection, &ui, Check::Skip).await?;
    // Verify skips the preflight; its first request, if it fails, is explained as one.
    if let Err(f) = custom::bind(&mut plan, session.client(), &ui).await {
        return Err(session.diagnose(&args.connection, &ui, f).await);
    }
    report::announce(&ui, &plan);
    session.stop_on_signals(&ui, "interrupt: stopping; no verify file is written".into());
    let client = Arc::clone(session.client());
    let shutdown = Arc::clone(session.shutdown());
    let window = usize::from(args.connection.concurrency);
    let counts = Arc::new(Counts::default());
    let work = async {
        let mut reading = match read::open(&plan, &client, window, &ui).await {
            Ok(reading) => reading,
            Err(f) => return Err(session.diagnose(&args.connection, &ui, f).await),
        };
        let reporter = report::progress(&ui, &plan, &counts, &client);
        let wrote = pipeline::run(
            &plan,
            input,
            &mut reading,
            &client,
            &shutdown,
            &counts,
            window,
        )
        .await;
        reporter.finish();
        Ok::<_, Fatal>((reading, wrote?))
    };
    let done = tokio::select! {
        done = work => done.map_err(|f| match f.is_interrupted() {
            true => Fatal::interrupted("interrupted: no verify file was written"),
            false => f.once_sent(session.sent()),
        }),
        _ = shutdown.wait() => Err(Fatal::interrupted("interrupted: no verify file was written")),
    };
    let rate = args.connection.rate;
    let (reading, wrote) = match done {
        Ok((reading, Some(wrote))) => (reading, wrote),
        // The reader of `-o -` went away (`| head`): not an error, as for export.
        Ok((_, None)) => return Ok(Exit::Ok),
        Err(fatal) => {
            report::stopped(&plan, &counts, session.stats(), rate, clock, &fatal)?;
            return Err(fatal);
        }
    };
    report::Ending {
        plan: &plan,
        reading: &reading,
        wrote: &wrote,
        counts: &counts,
        stats: session.stats(),
        rate,
        clock,
    }
    .finish(&ui)
}
