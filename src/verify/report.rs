//! The `summary` step of verify: the opening lines, the progress display over the rows, the
//! summary table, `--summary-json` and the exit code.
//!
//! Exit 0 when every row that asserts something matches (invalid and duplicate rows are
//! counted and named, but assert nothing the account could contradict), 1 when any row
//! differs, is missing or could not be checked (`unknown`); errors keep their own codes (2
//! usage, 3 refused key or local error after requests, 4 unavailable, 130 interrupted).

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::outcome::{Counts, Verdict};
use super::pipeline::Wrote;
use super::plan::Plan;
use super::read::Reading;
use super::strategy::Choice;
use crate::api::client::Client;
use crate::exit::{Exit, Fatal};
use crate::mapping::Field;
use crate::session::RequestStats;
use crate::summary::Summary;
use crate::ui::{Reporter, Status, Ui, human_duration};

/// The opening lines: what is read, how, and which columns feed consent.
pub fn announce(ui: &Ui, plan: &Plan) {
    let unmapped: Vec<&str> = plan
        .mapping
        .unmapped()
        .iter()
        .map(|&i| plan.headers[i].as_str())
        .collect();
    ui.info(&format!(
        "verify {}{} -> {}; mapping: {}{}",
        plan.source_name,
        plan.limit
            .map_or_else(String::new, |n| format!(" (first {n} rows only)")),
        plan.output.display(),
        plan.mapping.describe(&plan.headers),
        match unmapped.is_empty() {
            true => String::new(),
            false => format!("; not compared: {}", unmapped.join(", ")),
        }
    ));
    ui.info(&plan.mapping.consent_line(&plan.headers));
    if plan.mapping.column(Field::SequenceIds).is_some() {
        ui.info("note: sequence_ids is not compared (the contact list does not show sequences)");
    }
}

/// The live bar (or plain lines) over the rows checked.
pub fn progress(ui: &Ui, plan: &Plan, counts: &Arc<Counts>, client: &Arc<Client>) -> Reporter {
    let counts = Arc::clone(counts);
    let client = Arc::clone(client);
    Reporter::start(ui, "verify", "rows", plan.rows_estimate, move || Status {
        done: counts.rows(),
        detail: counts.line(),
        paused: client.pacer().pause_remaining(),
    })
}

#[derive(Debug, Serialize)]
struct VerifySummary<'a> {
    command: &'static str,
    input: &'a str,
    output: String,
    output_rows: u64,
    extra: Option<String>,
    extra_rows: Option<u64>,
    limit: Option<u64>,
    strict: bool,
    rows: u64,
    verdicts: std::collections::BTreeMap<&'static str, u64>,
    account_contacts: u64,
    read: &'a Choice,
    walk_complete: Option<bool>,
    requests: u64,
    throttled_429: u64,
    retries: u64,
    elapsed_seconds: f64,
    exit_code: i32,
}

pub struct Ending<'a> {
    pub plan: &'a Plan,
    pub reading: &'a Reading,
    pub wrote: &'a Wrote,
    pub counts: &'a Counts,
    pub stats: RequestStats,
    pub started: Instant,
}

impl Ending<'_> {
    pub fn finish(self, ui: &Ui) -> Result<Exit, Fatal> {
        let exit = match self.counts.problems() {
            0 => Exit::Ok,
            _ => Exit::RowsFailed,
        };
        let plan = self.plan;
        let walk = self.reading.stream.as_ref().map(|s| s.walk);
        let summary = VerifySummary {
            command: "verify",
            input: &plan.source_name,
            output: plan.output.display().to_string(),
            output_rows: self.wrote.verify.rows,
            extra: plan.extra.as_deref().map(|p| p.display().to_string()),
            extra_rows: self.wrote.extra,
            limit: plan.limit,
            strict: plan.strict,
            rows: self.counts.rows(),
            verdicts: Verdict::ALL
                .iter()
                .map(|&v| (v.as_str(), self.counts.get(v)))
                .collect(),
            account_contacts: self.reading.contacts,
            read: &self.reading.choice,
            walk_complete: walk.map(|w| w.complete),
            requests: self.stats.requests,
            throttled_429: self.stats.throttled_429,
            retries: self.stats.retries,
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
            exit_code: exit.code(),
        };
        ui.info(&render(&summary, walk.map(|w| w.pages)));
        if walk.is_some_and(|w| !w.complete) {
            ui.warn(
                "warning: the account changed too much while it was read to prove the walk \
                 complete; rows not found were looked up one by one before being called missing",
            );
        }
        if let Some(path) = &plan.summary_json {
            crate::summary::write_json(path, &summary)?;
        }
        Ok(exit)
    }
}

fn render(s: &VerifySummary<'_>, pages: Option<u64>) -> String {
    let mut t = Summary::new("verify");
    t.row("rows", s.rows.to_string());
    for v in Verdict::ALL {
        let n = s.verdicts[v.as_str()];
        if n > 0 || v == Verdict::Match {
            t.row(v.as_str(), n.to_string());
        }
    }
    t.row("account", format!("{} contacts", s.account_contacts));
    let how = match pages {
        Some(p) => format!("stream ({p} pages)"),
        None => "lookup (one request per row)".to_string(),
    };
    t.row("read", format!("{how}: {}", s.read.reason));
    t.row(
        "requests",
        format!(
            "{} (estimated: stream {}, lookup {}){}",
            s.requests,
            s.read.stream_estimate,
            s.read
                .lookup_estimate
                .map_or_else(|| "unknown".into(), |n| n.to_string()),
            match s.throttled_429 {
                0 => String::new(),
                n => format!(", {n} × 429"),
            }
        ),
    );
    t.row(
        "verify file",
        format!("{} ({} rows)", s.output, s.output_rows),
    );
    if let (Some(path), Some(n)) = (&s.extra, s.extra_rows) {
        t.row("extra", format!("{n} contacts no row mentions -> {path}"));
    }
    t.row(
        "elapsed",
        human_duration(std::time::Duration::from_secs_f64(s.elapsed_seconds)),
    );
    t.render()
}
