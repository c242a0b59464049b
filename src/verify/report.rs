//! The `summary` step of verify: the opening lines, the progress display over the rows, the
//! summary table, `--summary-json` and the exit code.
//!
//! Exit 0 when every row that asserts something matches (invalid and duplicate rows are
//! counted and named, but assert nothing the account could contradict), 1 when any row
//! differs, is missing or could not be checked (`unknown`); errors keep their own codes (2
//! usage, 3 refused key or local error after requests, 4 unavailable, 130 interrupted).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::outcome::{Counts, Verdict};
use super::pipeline::Wrote;
use super::plan::Plan;
use super::read::Reading;
use super::strategy::Choice;
use crate::api::client::Client;
use crate::exit::{Exit, Fatal};
use crate::limiter::Rate;
use crate::mapping::Field;
use crate::session::RequestStats;
use crate::summary::{Clock, Envelope, Status, Summary};
use crate::ui::{self, Reporter, Ui, fit_lines, fit_list, human_duration};

/// The opening lines, each within 100 columns as import's (`-v` lists everything): input and
/// verify file, mapping, columns not compared, consent.
pub fn announce(ui: &Ui, plan: &Plan) {
    let all = ui.verbose() > 0;
    ui.info(&format!(
        "verify {}{} -> {}",
        plan.source_name,
        plan.limit
            .map_or_else(String::new, |n| format!(", first {n} rows only")),
        plan.output.display()
    ));
    ui.info(&fit_lines(
        "mapping: ",
        &plan.mapping.describe_parts(&plan.headers),
        all,
        3,
    ));
    let mut unmapped: Vec<String> = plan
        .mapping
        .unmapped()
        .iter()
        .map(|&i| crate::text::sanitize(&plan.headers[i], 60))
        .collect();
    if let Some(c) = plan.mapping.column(Field::SequenceIds) {
        // The contact list does not show sequences.
        let header = crate::text::sanitize(&plan.headers[c], 60);
        unmapped.push(format!("{header} (sequence_ids)"));
    }
    if !unmapped.is_empty() {
        ui.info(&fit_list("not compared: ", &unmapped, all));
    }
    ui.info(&plan.mapping.consent_line(&plan.headers));
}

/// The live bar (or plain lines) over the rows checked.
pub fn progress(ui: &Ui, plan: &Plan, counts: &Arc<Counts>, client: &Arc<Client>) -> Reporter {
    let counts = Arc::clone(counts);
    let client = Arc::clone(client);
    Reporter::start(ui, "verify", "rows", plan.rows_estimate, move || {
        ui::Status {
            done: counts.rows(),
            detail: counts.line(),
            paused: client.pacer().pause_remaining(),
        }
    })
}

/// Verify's own part of the `--summary-json` envelope.
#[derive(Debug, Serialize)]
struct VerifyDetails<'a> {
    input: &'a str,
    output: String,
    /// Rows written to the verify file (`null` when none was written).
    output_rows: Option<u64>,
    extra: Option<String>,
    extra_rows: Option<u64>,
    limit: Option<u64>,
    strict: bool,
    /// Rows checked (all of them unless the run stopped early).
    rows: u64,
    verdicts: BTreeMap<&'static str, u64>,
    account_contacts: Option<u64>,
    read: Option<&'a Choice>,
    walk_complete: Option<bool>,
}

impl<'a> VerifyDetails<'a> {
    fn new(plan: &'a Plan, counts: &Counts) -> VerifyDetails<'a> {
        VerifyDetails {
            input: &plan.source_name,
            output: plan.output.display().to_string(),
            output_rows: None,
            extra: plan.extra.as_deref().map(|p| p.display().to_string()),
            extra_rows: None,
            limit: plan.limit,
            strict: plan.strict,
            rows: counts.rows(),
            verdicts: Verdict::ALL
                .iter()
                .map(|&v| (v.as_str(), counts.get(v)))
                .collect(),
            account_contacts: None,
            read: None,
            walk_complete: None,
        }
    }
}

/// What the summary is made of once the pipeline has run.
pub struct Ending<'a> {
    pub plan: &'a Plan,
    pub reading: &'a Reading,
    pub wrote: &'a Wrote,
    pub counts: &'a Counts,
    pub stats: RequestStats,
    pub rate: Rate,
    pub clock: Clock,
}

impl Ending<'_> {
    pub fn finish(self, ui: &Ui) -> Result<Exit, Fatal> {
        let exit = match self.counts.problems() {
            0 => Exit::Ok,
            _ => Exit::RowsFailed,
        };
        let plan = self.plan;
        let walk = self.reading.stream.as_ref().map(|s| s.walk);
        let details = VerifyDetails {
            output_rows: Some(self.wrote.verify.rows),
            extra_rows: self.wrote.extra,
            account_contacts: Some(self.reading.contacts),
            read: Some(&self.reading.choice),
            walk_complete: walk.map(|w| w.complete),
            ..VerifyDetails::new(plan, self.counts)
        };
        let envelope = Envelope::new(
            "verify",
            self.clock,
            Status::Completed,
            exit,
            self.stats,
            self.rate,
            details,
        );
        ui.info(&render(&envelope, walk.map(|w| w.pages)));
        if walk.is_some_and(|w| !w.complete) {
            ui.warn(
                "warning: the account changed too much while it was read to prove the walk \
                 complete; rows not found were looked up one by one before being called missing",
            );
        }
        if let Some(path) = &plan.summary_json {
            crate::summary::write_json(path, &envelope)?;
        }
        Ok(exit)
    }
}

/// A run that stopped early (Ctrl-C, a refused key, an unavailable API, a local error) wrote
/// no verify file; the summary file still says what was checked, for the cron wrapper.
pub fn stopped(
    plan: &Plan,
    counts: &Counts,
    stats: RequestStats,
    rate: Rate,
    clock: Clock,
    fatal: &Fatal,
) -> Result<(), Fatal> {
    let Some(path) = &plan.summary_json else {
        return Ok(());
    };
    let status = match fatal.is_interrupted() {
        true => Status::Interrupted,
        false => Status::Aborted,
    };
    let details = VerifyDetails::new(plan, counts);
    let envelope = Envelope::new("verify", clock, status, fatal.exit(), stats, rate, details);
    crate::summary::write_json(path, &envelope)
}

fn render(e: &Envelope<VerifyDetails<'_>>, pages: Option<u64>) -> String {
    let s = &e.details;
    let mut t = Summary::new("verify");
    t.row("rows", s.rows.to_string());
    for v in Verdict::ALL {
        let n = s.verdicts[v.as_str()];
        if n > 0 || v == Verdict::Match {
            t.row(v.as_str(), n.to_string());
        }
    }
    t.row(
        "account",
        format!("{} contacts", s.account_contacts.unwrap_or(0)),
    );
    if let Some(read) = s.read {
        let how = match pages {
            Some(p) => format!("stream, {p} pages"),
            None => "lookup".to_string(),
        };
        t.row("read", format!("{how} ({})", read.reason));
        t.row(
            "requests",
            format!(
                "{} (estimated: stream {}, lookup {}){}",
                e.requests,
                read.stream_estimate,
                read.lookup_estimate
                    .map_or_else(|| "unknown".into(), |n| n.to_string()),
                match e.throttled_429 {
                    0 => String::new(),
                    n => format!(", {n} × 429"),
                }
            ),
        );
    }
    t.row(
        "verify file",
        format!("{} ({} rows)", s.output, s.output_rows.unwrap_or(0)),
    );
    if let (Some(path), Some(n)) = (&s.extra, s.extra_rows) {
        t.row("extra", format!("{n} contacts no row mentions -> {path}"));
    }
    t.row(
        "elapsed",
        human_duration(std::time::Duration::from_secs_f64(e.elapsed_seconds)),
    );
    t.render()
}
