//! The `plan` step of an import: everything decided from the arguments and the files before
//! the API is contacted.
//!
//! Opens and sniffs the input (a full scan for a file: size, hash, row estimate, encoding
//! errors found before anything is sent; in a dry run, which sends nothing, only an estimate),
//! resolves the mapping, the output paths and their collisions ([`super::outputs`]), and locks
//! the journal to admit or refuse this run against what an earlier run left
//! ([`super::journal::admit`]). Nothing is written here except the journal lock; every error is
//! a usage error (exit 2: nothing was sent). Called by [`super::run`] before the session opens.

use std::path::Path;

use super::journal::{Journal, Previous, RunHeader};
use super::outputs::{self, Outputs, RunState};
use super::scan::{self, Scan};
use super::send::OnExists;
use super::{Args, report};
use crate::csv_in::{self, CsvInput, Source};
use crate::exit::Fatal;
use crate::mapping::Mapping;
use crate::results::{RejectsWriter, ResultsWriter};
use crate::session::Check;
use crate::ui::Ui;

pub struct Plan {
    pub source: Source,
    pub options: csv_in::Options,
    pub scan: Option<Scan>,
    /// `<stdin>` or the path, as messages name the input.
    pub source_name: String,
    /// `--limit`: only the first N data rows are read.
    pub limit: Option<u64>,
    pub dialect: crate::csv_in::Dialect,
    pub headers: Vec<String>,
    pub mapping: Mapping,
    pub outputs: Outputs,
    pub header: RunHeader,
    /// The journal lock and the earlier run this one continues (`--resume`), if any; the
    /// planner takes `previous`.
    pub run_state: RunState,
    pub resumed: bool,
    /// `--dry-run`: nothing is sent and no journal is kept, so a stopped run is not resumed.
    pub dry_run: bool,
    /// When the first run of this import started (kept across resumes): contacts created
    /// after it may be ours.
    pub run_started: chrono::DateTime<chrono::Utc>,
}

/// The files a real run writes, opened once the session is up.
pub struct Files {
    pub results: ResultsWriter,
    pub rejects: RejectsWriter,
    pub journal: Option<Journal>,
}

/// The plan, and the opened input the pipeline's reader will consume.
pub fn plan(args: &Args, ui: &Ui) -> Result<(Plan, CsvInput), Fatal> {
    if args.allow_resubscribe && args.on_exists != OnExists::Update {
        return Err(Fatal::usage(
            "--allow-resubscribe only applies with --on-exists update",
        ));
    }
    let source = Source::from_arg(&args.input);
    let options = args.reading.options(args.limit);
    let scan = match &source {
        Source::Path(path) if !source.is_stream() => Some(match args.dry_run {
            true => scan::estimate(path, &options)?,
            false => scan::scan(path, &options, true)?,
        }),
        _ => None,
    };
    let input = CsvInput::open(&source, &options)?;
    // A spreadsheet knows its row count exactly; its line count is noise.
    let scan = scan.map(|s| Scan {
        records_estimate: input.exact_records().unwrap_or(s.records_estimate),
        ..s
    });
    let headers = input.headers().to_vec();
    let mapping = Mapping::resolve(&headers, &args.map)
        .map_err(|e| Fatal::usage(format!("{}: {e}", input.source_name())))?;
    let outputs = Outputs::resolve(
        &source,
        outputs::Named {
            results: args.results.as_deref(),
            rejects: args.rejects.as_deref(),
            summary_json: args.summary_json.as_deref(),
            dry_run: args.dry_run,
        },
    )?;
    let header = outputs::run_header(
        args,
        scan.as_ref(),
        input.dialect(),
        mapping.describe(&headers),
    );
    let run_state = outputs.admit(&header, args, source.is_stream(), ui)?;
    check_limit(args.limit, run_state.previous.as_ref(), &outputs.results)?;
    let run_started = run_state
        .previous
        .as_ref()
        .map_or(header.started_at, |p| p.header.started_at);
    let plan = Plan {
        source,
        options,
        scan,
        source_name: input.source_name().to_string(),
        limit: args.limit,
        dialect: input.dialect().clone(),
        headers,
        mapping,
        outputs,
        header,
        resumed: run_state.previous.is_some(),
        dry_run: args.dry_run,
        run_state,
        run_started,
    };
    Ok((plan, input))
}

impl Plan {
    /// Starts (or, on resume, continues) the journal and creates the results and rejects
    /// files: called once the session is up, so a refused key leaves no half-started run.
    pub fn open_files(&mut self, dry_run: bool) -> Result<Files, Fatal> {
        // The header is written only now, when requests are about to be sent.
        let journal = self.run_state.journal(&self.header, dry_run)?;
        let results = ResultsWriter::create(&self.outputs.results, &self.headers)
            .map_err(|e| io_fatal(&self.outputs.results, e))?;
        let rejects = RejectsWriter::create(&self.outputs.rejects, &self.headers, &self.dialect)
            .map_err(|e| io_fatal(&self.outputs.rejects, e))?;
        Ok(Files {
            results,
            rejects,
            journal,
        })
    }

    /// Whether the session checks URL and key first: not when resuming a finished run that
    /// already recorded every row this one will read (it sends nothing). The line count is
    /// never below the record count, so a run that may still have rows to send is checked.
    pub fn check(&self) -> Check {
        let (Some(previous), Some(scan)) = (&self.run_state.previous, &self.scan) else {
            return Check::Preflight;
        };
        let to_read = self
            .limit
            .map_or(scan.records_estimate, |n| n.min(scan.records_estimate));
        if previous.finished() && previous.last_row().unwrap_or(0) >= to_read {
            Check::Skip
        } else {
            Check::Preflight
        }
    }

    pub fn journal_path(&self) -> &Path {
        self.outputs
            .journal
            .as_deref()
            .unwrap_or(&self.outputs.results)
    }

    /// What to do next after a run that stopped early: the exact `--resume` command for a
    /// file; for standard input, which rows still need sending.
    pub fn next_step(&self) -> String {
        if self.dry_run {
            // `--resume --dry-run` is refused: there is no journal to resume from.
            return "a dry run keeps no journal and is not resumed: run it again to preview the \
                    whole file"
                .to_string();
        }
        if self.source.is_stream() {
            return format!(
                "{} is read once, as it arrives, and cannot be resumed: {} holds the outcome \
                 of every row read; send the rows after the last one listed",
                self.source_name,
                self.outputs.results.display()
            );
        }
        format!(
            "to continue: {}",
            report::resume_command(&self.outputs.results)
        )
    }
}

/// A resumed run may raise the limit or drop it, never lower it below a row the earlier run
/// already recorded: the results file would silently lose that row's outcome (maybe a contact
/// it created).
fn check_limit(
    limit: Option<u64>,
    previous: Option<&Previous>,
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

pub fn io_fatal(path: &Path, e: std::io::Error) -> Fatal {
    Fatal::usage(format!("{}: {e}", path.display()))
}
