//! The `summary` step of an import: the start-up line, the progress display, how the run
//! ended (journal end marker, the error's exit code), the summary table and `--summary-json`,
//! the message for a refused key, and the exact command that resumes an interrupted run.

use std::path::Path;
use std::sync::Arc;

use super::collect::{Collector, Counts, Stop};
use super::journal::EndState;
use super::setup::{Plan, io_fatal};
use super::summary::ImportDetails;
use super::{Args, send};
use crate::api::client::Client;
use crate::exit::{Exit, Fatal};
use crate::results::Kind;
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::summary::{Clock, Envelope, Status};
use crate::ui::{Reporter, Ui, fit_lines, fit_list};

/// The opening lines, each within 100 columns (`-v` lists everything): input and dialect,
/// mapping, columns not sent, consent, and what a resume skips.
pub fn announce(ui: &Ui, plan: &Plan) {
    let all = ui.verbose() > 0;
    ui.info(&format!(
        "import {}{} ({})",
        plan.source_name,
        plan.limit.map_or_else(String::new, limit_note),
        plan.dialect
    ));
    ui.info(&fit_lines(
        "mapping: ",
        &plan.mapping.describe_parts(&plan.headers),
        all,
        3,
    ));
    let unmapped = super::summary::unmapped(plan);
    if !unmapped.is_empty() {
        ui.info(&fit_list("not sent: ", &unmapped, all));
    }
    ui.info(&plan.mapping.consent_line(&plan.headers));
    if let Some(hint) = plan.mapping.consent_hint() {
        ui.info(&hint);
    }
    let custom = super::custom::in_use(plan);
    if !custom.is_empty() {
        ui.info(&format!("custom fields: {custom}"));
    }
    match &plan.run_state.previous {
        // A finished run may have stopped at its --limit: the rows past it are still sent.
        Some(previous) if previous.finished() => ui.info(&format!(
            "resuming a finished run: its {} rows are reported as recorded and not sent \
             again{}; only rows it did not reach (past an earlier --limit) are sent",
            previous.settled(),
            match previous.partial() {
                0 => String::new(),
                n => format!(" ({n} partial rows get their missing custom values)"),
            }
        )),
        Some(previous) => ui.info(&format!(
            "resuming: {} rows already settled are not sent again",
            previous.settled()
        )),
        None => {}
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
    Reporter::start(ui, "import", "rows", total, move || crate::ui::Status {
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
            Stop::Completed | Stop::Closed => (EndState::Completed, None),
        };
        let sent = session.is_some_and(Session::sent);
        let fatal = fatal.map(|f| f.once_sent(sent));
        let ended = collector.finish().and_then(|journal| match journal {
            Some(j) => j.end(state),
            None => Ok(()),
        });
        ended.map_err(|e| match io_fatal(plan.journal_path(), e).once_sent(sent) {
            // A full disk at 3 a.m.: the line says how to go on once there is room.
            f if f.exit() != Exit::Usage => f.with_next_step(&plan.next_step()),
            f => f,
        })?;
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
pub fn finish(
    ui: &Ui,
    args: &Args,
    plan: &Plan,
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
    let status = match (&ending.fatal, ending.state) {
        (_, EndState::Interrupted) => Status::Interrupted,
        (Some(_), _) | (_, EndState::Aborted) => Status::Aborted,
        (None, EndState::Completed) => Status::Completed,
    };
    let summary = Envelope::new(
        "import",
        clock,
        status,
        exit,
        session.map(Session::stats).unwrap_or_default(),
        args.connection.rate,
        ImportDetails::new(args, plan, counts),
    );
    super::summary::print(ui, &summary, args.connection.rate);
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
