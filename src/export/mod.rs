//! `wolfeo-bulk export`: `GET /v1/contacts` -> a CSV file that `import` reads back.
//!
//! Same shape as import: flags here, one validated plan, then one pipeline. Concerns live in
//! [`filter`] (`--period`/`--range`), [`tags`] (the tag column, read per tag before the
//! contacts), [`walk`] (the stream of contacts: concurrent, de-duplicated, repaired when the
//! list shifts), [`writer`] (its CSV consumer), [`output`] (the atomic file, the manifest and
//! the Excel profile) and [`state`] (the `--state` bookmark). The run
//! ends with the same summary, `--summary-json`, exit codes and Ctrl-C behaviour as import; an
//! interrupted or failed export leaves no file at the target and does not advance the state.

pub mod custom;
pub mod filter;
pub mod output;
pub mod paths;
pub mod state;
pub mod tags;
pub mod walk;
pub mod writer;

mod report;

use crate::summary::Clock;
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::format_contact_time;
use crate::cli::ConnectionArgs;
use crate::exit::{Exit, Fatal};
use crate::session::{Check, Session};
use crate::ui::Ui;
use filter::{Filter, Period, Range};
use output::{Output, Target};
use state::State;
use tags::TagMode;
use walk::Walker;
use writer::{COLUMNS, Progress, Rows, Stop};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output CSV file, or - for standard output [default: contacts-YYYY-MM-DD.csv; with
    /// --state contacts-{timestamp}.csv]. {timestamp} (UTC, 20261201T231502Z) and {date} (UTC)
    /// are replaced. A file is written beside the target and renamed into place when complete;
    /// a symbolic link's target is replaced; a FIFO or device is written through.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<String>,

    /// Replace an output file that an earlier run of the same --state wrote (its contacts are
    /// not exported again).
    #[arg(long)]
    pub force: bool,

    /// Field delimiter of the file: , ; tab |
    #[arg(short, long, default_value = ",", value_parser = crate::csv_in::parse_delimiter)]
    pub delimiter: u8,

    /// Only contacts created in this period.
    #[arg(long, value_enum)]
    pub period: Option<Period>,

    /// Only contacts created between two dates, both included: 2023-06-01..2023-06-29.
    #[arg(long, value_name = "FROM..TO", value_parser = filter::parse_range, conflicts_with = "period")]
    pub range: Option<Range>,

    /// Exit 1 when the export cannot be proven to hold every contact present throughout it.
    #[arg(long)]
    pub strict: bool,

    /// Export only contacts newer than those this state file remembers, then advance it.
    /// The first run (no file yet) exports everything.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Add a tag column: `ids` (tag_ids) or `names` (tags, which import resolves by name).
    #[arg(long, value_enum, value_name = "ids|names")]
    pub with_tags: Option<TagMode>,

    /// Add one column per custom field (named after it, so import maps it back). Costs one
    /// GET /v1/contact per contact (printed before starting); an interrupted run's reads are
    /// kept beside the output and reused by the next run to the same output.
    #[arg(long)]
    pub with_custom_fields: bool,

    /// Spreadsheet profile: UTF-8 BOM, CRLF, formula-like cells prefixed with '.
    #[arg(long)]
    pub excel: bool,

    /// Manifest path [default: OUTPUT.manifest.json; for -, a FIFO or a device only when given].
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,

    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// The validated plan of one export.
struct Plan {
    target: Target,
    template: Option<String>,
    manifest: Option<PathBuf>,
    /// The target as the state file records it.
    recorded: Option<String>,
    filter: Filter,
    previous: Option<State>,
}

impl Plan {
    /// How messages name the output.
    fn target_name(&self) -> String {
        match &self.target {
            Target::Path(p) => p.display().to_string(),
            Target::Stdout => "standard output".to_string(),
        }
    }
}

fn plan(args: &Args, now: chrono::DateTime<chrono::Utc>) -> Result<Plan, Fatal> {
    let named = paths::Named {
        output: args.output.as_deref(),
        manifest: args.manifest.as_deref(),
        state: args.state.as_deref(),
        summary_json: args.summary_json.as_deref(),
        force: args.force,
    };
    // Paths first: a state path that is the output must be refused, not read.
    let outputs = paths::Outputs::resolve(&named, now)?;
    let filter = Filter::new(args.period, args.range);
    let previous = match &args.state {
        None => None,
        Some(path) => State::load(path)?,
    };
    if let (Some(prev), Some(path)) = (&previous, &args.state)
        && prev.filters != filter
    {
        return Err(Fatal::usage(format!(
            "--state {}: it was made with {} but this run asks for {filter}; use another state file",
            path.display(),
            prev.filters
        )));
    }
    outputs.refuse_earlier_delta(&named, previous.as_ref())?;
    Ok(Plan {
        target: outputs.target,
        template: outputs.template,
        manifest: outputs.manifest,
        recorded: outputs.recorded,
        filter,
        previous,
    })
}

pub async fn run(args: Args, ui: Arc<Ui>) -> Result<Exit, Fatal> {
    let clock = Clock::start();
    let now = clock.started_at();
    let started_at = format_contact_time(now);
    let plan = plan(&args, now)?;
    let bookmark = plan.previous.as_ref().map(State::bookmark).transpose()?;
    let incremental = bookmark.is_some();

    let session = Session::open(&args.connection, &ui, Check::Skip).await?;
    let config = session.config();
    let account = state::account_fingerprint(config.base_url.as_str(), config.api_key.expose());
    same_account(&args, &plan, &account)?;
    session.stop_on_signals(
        &ui,
        "interrupt: stopping; no file is written and the state is unchanged".into(),
    );
    let client = Arc::clone(session.client());
    let shutdown = Arc::clone(session.shutdown());
    let target_name = plan.target_name();
    ui.info(&format!(
        "export {} -> {target_name}{}{}",
        plan.filter,
        if incremental { " (incremental)" } else { "" },
        args.with_tags
            .map(|m| format!(" with tags as {m:?}").to_lowercase())
            .unwrap_or_default()
    ));

    let progress = Arc::new(Progress::default());
    let work = pipeline(&args, &plan, bookmark, &client, &progress, &ui, &account);
    let outcome = tokio::select! {
        r = work => Some(r),
        _ = shutdown.wait() => None,
    };
    let interrupted =
        || report::interrupted(&ui, &args, &target_name, session.stats(), &progress, clock);
    // Export skips the preflight (a cron run stays at one or two requests): when its first
    // page fails, the same check explains the URL or key instead.
    let explain = |f: Fatal| session.diagnose(&args.connection, &ui, f);
    let Drained {
        walk,
        mut rows,
        tag_stats,
        newest,
    } = match outcome {
        None => return interrupted(),
        Some(Err(f)) if f.is_interrupted() => return interrupted(),
        Some(Err(f)) => return Err(explain(f).await),
        Some(Ok(done)) => done,
    };
    let closed = match walk {
        Err(Stop::Fatal(f)) if f.is_interrupted() => return interrupted(),
        Err(Stop::Fatal(f)) => return Err(explain(f).await),
        Err(Stop::Closed) => true,
        Ok(_) => false,
    };
    let walk = walk.unwrap_or_default();
    // The state moves only past contacts proven written: an unproven walk keeps the old one,
    // so the next run exports this run's contacts again rather than skip one for good.
    let advanced = newest
        .advance(plan.previous.as_ref(), plan.filter)
        .filter(|_| walk.complete);
    let full_tag_read = tag_stats
        .filter(|t| t.strategy == tags::Strategy::PerTag)
        .map(|t| t.requests);
    let next_state = State::after_run(
        plan.previous.as_ref(),
        advanced,
        account,
        plan.recorded.clone(),
    )
    .map(|s| s.with_tag_read(full_tag_read));
    let custom = rows.custom.take();
    let written = match rows.into_output().finish() {
        Ok(w) => w,
        Err(e) if closed || crate::files::broken_pipe(&e) => {
            return Ok(Exit::Ok);
        }
        Err(e) => return Err(Fatal::after_send(format!("--output {target_name}: {e}"))),
    };
    if closed {
        return Ok(Exit::Ok);
    }
    if let Some(custom) = custom {
        custom.finish(&ui);
    }
    let finished_at = format_contact_time(chrono::Utc::now());
    let report = report::Report {
        args: &args,
        target: &target_name,
        manifest: plan.manifest.as_deref(),
        filter: plan.filter,
        incremental,
        started_at,
        finished_at,
        clock,
        written,
        walk,
        progress: &progress,
        stats: session.stats(),
        tag_stats,
    };
    let exit = report.finish(&ui)?;
    if let (Some(path), Some(state)) = (&args.state, next_state) {
        state.save(path)?;
    }
    Ok(exit)
}

/// An incremental export continues only on the account its state file was written for.
fn same_account(args: &Args, plan: &Plan, account: &str) -> Result<(), Fatal> {
    let (Some(prev), Some(path)) = (&plan.previous, &args.state) else {
        return Ok(());
    };
    prev.check_account(path, account).map_err(|f| {
        if args.connection.sandbox {
            f.with_next_step(
                "--sandbox starts a new account on every run; to try incremental exports, \
                 keep one running (`wolfeo-bulk sandbox --state sandbox.json`) and point \
                 WOLFEO_BASE_URL at it",
            )
        } else {
            f
        }
    })
}

/// What the walk and the writer left for the summary and the state.
struct Drained {
    walk: Result<walk::Walk, Stop>,
    rows: Rows,
    tag_stats: Option<writer::TagStats>,
    newest: state::Newest,
}

/// The pipeline: tags (a full export reads every tag's members first; an incremental one after
/// its walk, when the number of new contacts tells the cheaper way, `tags::for_delta`), then the
/// walk's contact stream drained into the CSV writer.
async fn pipeline(
    args: &Args,
    plan: &Plan,
    bookmark: Option<state::Bookmark>,
    client: &Arc<crate::api::client::Client>,
    progress: &Arc<Progress>,
    ui: &Ui,
    account: &str,
) -> Result<Drained, Fatal> {
    let incremental = bookmark.is_some();
    let window = usize::from(args.connection.concurrency);
    let target_name = plan.target_name();
    let custom = match args.with_custom_fields {
        true => {
            let target = match &plan.target {
                Target::Path(p) => Some(p.as_path()),
                Target::Stdout => None,
            };
            Some(custom::CustomColumns::prepare(client, target, account, window).await?)
        }
        false => None,
    };
    let custom_headers = custom.as_ref().map(|c| c.headers()).unwrap_or_default();
    let mut header: Vec<&str> = COLUMNS.to_vec();
    header.extend(args.with_tags.map(TagMode::header));
    header.extend(custom_headers.iter().map(String::as_str));
    let tag_column = match args.with_tags {
        Some(mode) if !incremental => Some(tags::fetch(client, mode, window, ui).await?),
        _ => None,
    };
    if let Target::Path(path) = &plan.target {
        output::clean_stale(path, plan.template.as_deref());
    }
    let out = Output::create(&plan.target, args.excel, args.delimiter, &header)
        .map_err(|e| Fatal::after_send(format!("--output {target_name}: {e}")))?;
    let mut rows = Rows::new(out, tag_column, Arc::clone(progress));
    let mut walker = Walker::new(
        Arc::clone(client),
        plan.filter.query(),
        window,
        bookmark,
        Arc::clone(progress),
    );
    let total = walker.total().await?.filter(|_| !incremental);
    if let Some(custom) = &custom {
        custom.announce(ui, total, args.connection.rate.per_second());
    }
    rows.custom = custom;
    let reporter = report::live(ui, total, progress, client);
    let delta_tags = args
        .with_tags
        .filter(|_| incremental)
        .map(|mode| writer::DeltaTags {
            client,
            mode,
            recorded: plan.previous.as_ref().and_then(|p| p.tag_read_requests),
            window,
            ui,
        });
    let written = writer::drain(&mut walker, &mut rows, delta_tags).await;
    let newest = walker.take_newest();
    let walk = written.map(|()| walker.finish());
    reporter.finish();
    let tag_stats = rows.tag_stats();
    Ok(Drained {
        walk,
        rows,
        tag_stats,
        newest,
    })
}
