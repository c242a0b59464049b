//! The `summary` step of an import: the start-up line, the progress display, how the run
//! ended (journal end marker, the error's exit code), the summary table and `--summary-json`,
//! the message for a refused key, and the exact command that resumes an interrupted run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::collect::{Collector, Counts, Stop};
use super::journal::EndState;
use super::setup::{Plan, io_fatal};
use super::{Args, send};
use crate::api::client::Client;
use crate::exit::{Exit, Fatal};
use crate::results::Kind;
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::summary::Summary;
use crate::ui::{Reporter, Status, Ui};

/// When the run started, for the elapsed time.
pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Clock {
        Clock(Instant::now())
    }
}

/// What the start-up line said, kept for the summary.
pub struct Facts {
    dialect: String,
    unmapped: Vec<String>,
    consent: String,
    /// The columns bound to custom fields (`super::custom::in_use`), or empty.
    custom: String,
}

/// One line before the first row: input, dialect, mapping, and what a resume skips.
pub fn announce(ui: &Ui, plan: &Plan) -> Facts {
    let dialect = plan.dialect.to_string();
    let unmapped: Vec<String> = plan
        .mapping
        .unmapped()
        .iter()
        .map(|&i| plan.headers[i].clone())
        .collect();
    ui.info(&format!(
        "import {}{} ({dialect}); mapping: {}{}",
        plan.source_name,
        plan.limit.map_or_else(String::new, limit_note),
        plan.header.option("--map"),
        if unmapped.is_empty() {
            String::new()
        } else {
            format!("; not sent: {}", unmapped.join(", "))
        }
    ));
    let consent = plan.mapping.consent_line(&plan.headers);
    ui.info(&consent);
    let custom = super::custom::in_use(plan);
    if !custom.is_empty() {
        ui.info(&format!("custom fields: {custom}"));
    }
    if let Some(previous) = &plan.run_state.previous {
        ui.info(&format!(
            "resuming: {} rows already settled are not sent again",
            previous.settled()
        ));
    }
    Facts {
        dialect,
        unmapped,
        consent,
        custom,
    }
}

/// The live bar (or plain lines) over the collector's counters.
pub fn progress(
    ui: &Ui,
    plan: &Plan,
    counts: &Arc<Counts>,
    client: Option<&Arc<Client>>,
) -> Reporter {
    let total = plan.scan.as_ref().map(|s| {
        plan.limit
            .map_or(s.records_estimate, |n| n.min(s.records_estimate))
    });
    let counts = Arc::clone(counts);
    let client = client.cloned();
    Reporter::start(ui, "import", "rows", total, move || Status {
        done: counts.done(),
        detail: counts.detail(),
        paused: client.as_ref().and_then(|c| c.pacer().pause_remaining()),
    })
}

/// "first N rows only": said in the opening line and the summary of a `--limit` run.
pub(crate) fn limit_note(n: u64) -> String {
    format!(", first {n} row{} only", if n == 1 { "" } else { "s" })
}

/// How the run ended, once the journal has its end marker.
pub struct Ending {
    state: EndState,
    fatal: Option<Fatal>,
}

impl Ending {
    /// Types the error (nothing claims "nothing was sent" once a row went out), writes the
    /// journal's end marker, and drops a dry run's journal lock file.
    pub fn settle(
        stop: Stop,
        collector: Collector,
        shutdown: &Shutdown,
        session: Option<&Session>,
        plan: &Plan,
    ) -> Result<Ending, Fatal> {
        let (state, fatal) = match stop {
            Stop::Failed(f) => (EndState::Aborted, Some(f)),
            Stop::Refused(r) => (EndState::Aborted, Some(refused_fatal(r))),
            Stop::Interrupted => (EndState::Interrupted, None),
            Stop::Completed if shutdown.is_triggered() => (EndState::Interrupted, None),
            Stop::Completed => (EndState::Completed, None),
        };
        let sent = session.is_some_and(Session::sent);
        let fatal = fatal.map(|f| f.once_sent(sent));
        let ended = collector.finish().and_then(|journal| match journal {
            Some(j) => j.end(state),
            None => Ok(()),
        });
        ended.map_err(|e| io_fatal(plan.journal_path(), e).once_sent(sent))?;
        Ok(Ending { state, fatal })
    }

    fn exit(&self, counts: &Counts) -> Exit {
        match (&self.fatal, self.state) {
            (Some(f), _) => f.exit(),
            (None, EndState::Interrupted) => Exit::Interrupted,
            _ if counts.get(Kind::Invalid)
                + counts.get(Kind::Failed)
                + counts.get(Kind::Partial)
                > 0 =>
            {
                Exit::RowsFailed
            }
            _ => Exit::Ok,
        }
    }
}

/// The summary table and JSON, then the exit: an early stop ends with an error line that says
/// how to continue (main prints it even with -q).
#[allow(clippy::too_many_arguments)]
pub fn finish(
    ui: &Ui,
    args: &Args,
    plan: &Plan,
    facts: &Facts,
    counts: &Counts,
    session: Option<&Session>,
    clock: Clock,
    ending: Ending,
) -> Result<Exit, Fatal> {
    let exit = ending.exit(counts);
    if counts.done() == 0 && ending.fatal.is_none() {
        ui.info(&format!(
            "{}: the file has a header but no data rows; nothing to import",
            args.input
        ));
    }
    let stats = session.map(Session::stats).unwrap_or_default();
    let eta = args.dry_run.then(|| {
        let to_send = counts.get(Kind::WouldCreate) as f64;
        args.connection
            .rate
            .per_second()
            .map_or(0.0, |r| to_send / r)
    });
    let summary = ImportSummary {
        input: &args.input,
        results: plan.outputs.results.display().to_string(),
        rejects: plan.outputs.rejects.display().to_string(),
        dry_run: args.dry_run,
        limit: args.limit,
        resumed: plan.resumed,
        rows: counts.done(),
        outcomes: counts.by_name(),
        requests: stats.requests,
        throttled_429: stats.throttled_429,
        retries: stats.retries,
        elapsed_seconds: clock.0.elapsed().as_secs_f64(),
        achieved_requests_per_second: stats.achieved_per_second.unwrap_or(0.0),
        dialect: facts.dialect.clone(),
        mapping: plan.header.option("--map").to_string(),
        unmapped_columns: facts.unmapped.clone(),
        consent: facts.consent.clone(),
        custom_fields: facts.custom.clone(),
        eta_seconds_at_rate: eta,
        exit_code: exit.code(),
    };
    print_summary(ui, &summary, args.connection.rate);
    if let Some(path) = &args.summary_json {
        crate::summary::write_json(path, &summary)?;
    }
    match (ending.fatal, ending.state) {
        (Some(f), _) if f.exit() != Exit::Usage => Err(f.with_next_step(&plan.next_step())),
        (Some(f), _) => Err(f),
        (None, EndState::Interrupted) => Err(Fatal::interrupted(format!(
            "interrupted; {}",
            plan.next_step()
        ))),
        _ => Ok(exit),
    }
}

#[derive(Debug, Serialize)]
pub struct ImportSummary<'a> {
    pub input: &'a str,
    pub results: String,
    pub rejects: String,
    pub dry_run: bool,
    /// `--limit`: only the first N data rows were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    pub resumed: bool,
    pub rows: u64,
    pub outcomes: std::collections::BTreeMap<&'static str, u64>,
    pub requests: u64,
    pub throttled_429: u64,
    pub retries: u64,
    pub elapsed_seconds: f64,
    pub achieved_requests_per_second: f64,
    pub dialect: String,
    pub mapping: String,
    /// Which columns feed `email_marketing` and `gdpr`, or that the server's default applies.
    pub consent: String,
    pub unmapped_columns: Vec<String>,
    /// Columns that feed custom fields: `"Company Name" -> Company (#1)`; empty for none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub custom_fields: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds_at_rate: Option<f64>,
    pub exit_code: i32,
}

pub fn print_summary(ui: &Ui, s: &ImportSummary<'_>, rate: crate::limiter::Rate) {
    let mut t = Summary::new(if s.dry_run {
        "import (dry run)"
    } else {
        "import"
    });
    t.row(
        "rows",
        format!("{}{}", s.rows, s.limit.map_or_else(String::new, limit_note)),
    );
    for (name, n) in &s.outcomes {
        if *n > 0 {
            t.row(name, n.to_string());
        }
    }
    if !s.dry_run {
        t.row(
            "requests",
            format!(
                "{} (429s: {}, retries: {})",
                s.requests, s.throttled_429, s.retries
            ),
        );
    }
    t.row(
        "elapsed",
        format!(
            "{}{}",
            crate::ui::human_duration(Duration::from_secs_f64(s.elapsed_seconds)),
            if s.dry_run {
                String::new()
            } else {
                format!(
                    " ({:.2} requests/s, limit {rate})",
                    s.achieved_requests_per_second
                )
            }
        ),
    );
    if let Some(eta) = s.eta_seconds_at_rate {
        t.row(
            "ETA",
            format!(
                "{} to send at {rate}",
                crate::ui::human_duration(Duration::from_secs_f64(eta))
            ),
        );
    }
    t.row("results", s.results.clone());
    let rejected = ["invalid", "failed", "partial"];
    if rejected
        .iter()
        .any(|k| s.outcomes.get(k).copied().unwrap_or(0) > 0)
    {
        t.row("rejects", s.rejects.clone());
    }
    if !s.unmapped_columns.is_empty() {
        t.row("unmapped", s.unmapped_columns.join(", "));
    }
    if !s.custom_fields.is_empty() {
        t.row("custom fields", s.custom_fields.clone());
    }
    t.row("dialect", s.dialect.clone());
    t.row(
        "consent",
        s.consent
            .strip_prefix("consent: ")
            .unwrap_or(&s.consent)
            .to_string(),
    );
    ui.info(&t.render());
}

pub fn refused_fatal(r: send::Refused) -> Fatal {
    let hint = if r.status == 401 {
        "check WOLFEO_API_KEY / --api-key-file: the key must exist, be enabled, and belong to a paid account"
    } else {
        "the key or account has no access: check the key's permissions and the plan's contact limit"
    };
    Fatal::aborted(format!(
        "aborted: the API refused the request ({} {}); {hint}. Rows not sent are marked \
         not_attempted",
        r.status, r.message
    ))
}

/// The command that continues this run, for the interrupt message.
pub fn resume_command(results: &Path) -> String {
    let mut words: Vec<String> = std::env::args()
        .filter(|a| a != "--restart" && a != "--resume")
        .map(|a| shell_quote(&a))
        .collect();
    if words.is_empty() {
        words.push("wolfeo-bulk".into());
    }
    words.push("--resume".into());
    if !std::env::args().any(|a| names_results(&a)) {
        words.push(format!(
            "--results {}",
            shell_quote(&results.display().to_string())
        ));
    }
    words.join(" ")
}

/// `--results PATH`, `--results=PATH`, `-o PATH`, `-oPATH` or `-no PATH` (after flags without
/// values): the user already named the results file.
fn names_results(arg: &str) -> bool {
    if arg == "--results" || arg.starts_with("--results=") {
        return true;
    }
    arg.strip_prefix('-')
        .filter(|cluster| !cluster.starts_with('-'))
        .is_some_and(|cluster| cluster.trim_start_matches(['n', 'q', 'v']).starts_with('o'))
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("contacts.csv"), "contacts.csv");
        assert_eq!(shell_quote("my file.csv"), "'my file.csv'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn recognises_every_spelling_of_the_results_flag() {
        for yes in [
            "--results",
            "--results=r.csv",
            "-o",
            "-or.csv",
            "-no",
            "-qvo",
        ] {
            assert!(names_results(yes), "{yes}");
        }
        for no in ["--rejects", "-n", "-mFoo=email", "-e", "--", "out.csv"] {
            assert!(!names_results(no), "{no}");
        }
    }
}
