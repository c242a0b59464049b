//! The end of a successful export: the consistency verdict, the manifest, the summary.
//!
//! Runs after the output file is renamed into place (so the manifest describes the file that
//! is there) and before the state advances. Offset paging cannot give a snapshot: the walk
//! proves page by page that every contact present throughout is in the file ([`super::walk`]),
//! and the distinct count is compared with the API's `meta.total` to explain any difference
//! (contacts created or deleted meanwhile). Only a walk that could not prove itself complete
//! is a failed count check: a warning, and with `--strict` exit 1 (the file is still written:
//! it is the best copy).

use std::path::Path;

use serde::Serialize;

use super::Args;
use super::filter::Filter;
use super::output::Written;
use super::tags::Strategy;
use super::walk::Walk;
use super::writer::{Progress, TagStats};
use crate::api::client::Client;
use crate::exit::{Exit, Fatal};
use crate::files::write_atomic;
use crate::session::RequestStats;
use crate::summary::{Clock, Envelope, Status, Summary};
use crate::ui::{Ui, human_duration};

pub struct Report<'a> {
    pub args: &'a Args,
    pub target: &'a str,
    pub manifest: Option<&'a Path>,
    pub filter: Filter,
    pub incremental: bool,
    pub started_at: String,
    pub finished_at: String,
    pub clock: Clock,
    pub written: Written,
    pub walk: Walk,
    pub progress: &'a Progress,
    /// Every request of the run.
    pub stats: RequestStats,
    /// When `--with-tags` was given.
    pub tag_stats: Option<TagStats>,
}

/// `PATH.manifest.json`: what the file holds and how it was made.
#[derive(Debug, Serialize)]
struct Manifest<'a> {
    output: &'a str,
    rows: u64,
    bytes: u64,
    sha256: &'a str,
    columns: Vec<&'static str>,
    filters: Filter,
    incremental: bool,
    excel: bool,
    started_at: &'a str,
    finished_at: &'a str,
    api_total: Option<u64>,
    api_total_at_start: Option<u64>,
}

/// The export's own keys of the summary file (beside [`Envelope`]'s common ones).
#[derive(Debug, Serialize)]
struct ExportDetails<'a> {
    output: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<String>,
    filters: Filter,
    incremental: bool,
    rows: u64,
    pages: u64,
    pages_reread: u64,
    shifts_repaired: u64,
    sequential_pass: bool,
    complete: bool,
    tag_requests: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag_strategy: Option<Strategy>,
    contacts_per_second: f64,
    api_total: Option<u64>,
    distinct: u64,
    duplicates_skipped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    difference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    incomplete: Option<String>,
    sha256: &'a str,
}

/// The export's keys when it was interrupted: nothing is written at the target.
#[derive(Debug, Serialize)]
struct InterruptedDetails<'a> {
    output: &'a str,
    rows: u64,
    contacts_fetched: u64,
}

/// The live progress of the walk: rows written, pages read, repeated ids skipped.
pub fn live(
    ui: &Ui,
    total: Option<u64>,
    progress: &std::sync::Arc<Progress>,
    client: &std::sync::Arc<Client>,
) -> crate::ui::Reporter {
    let progress = std::sync::Arc::clone(progress);
    let client = std::sync::Arc::clone(client);
    crate::ui::Reporter::start(ui, "export", "contacts", total, move || crate::ui::Status {
        done: Progress::get(&progress.rows),
        detail: format!(
            "pages {} · duplicates {}",
            Progress::get(&progress.pages),
            Progress::get(&progress.duplicates)
        ),
        paused: client.pacer().pause_remaining(),
    })
}

/// The end of an interrupted export: nothing at the target, the state unchanged, and the
/// summary file (cron wrappers read it whatever happened) says what was done.
pub fn interrupted(
    ui: &Ui,
    args: &Args,
    target: &str,
    stats: RequestStats,
    progress: &Progress,
    clock: Clock,
) -> Result<Exit, Fatal> {
    ui.warn(&format!(
        "interrupted: nothing written at {target}; the state file is unchanged"
    ));
    if let Some(path) = &args.summary_json {
        let details = InterruptedDetails {
            output: target,
            rows: 0,
            contacts_fetched: Progress::get(&progress.rows),
        };
        let e = Envelope::new(
            "export",
            clock,
            Status::Interrupted,
            Exit::Interrupted,
            stats,
            args.connection.rate,
            details,
        );
        crate::summary::write_json(path, &e)?;
    }
    Ok(Exit::Interrupted)
}

impl Report<'_> {
    pub fn finish(self, ui: &Ui) -> Result<Exit, Fatal> {
        let duplicates = Progress::get(&self.progress.duplicates);
        let difference = self.difference(duplicates);
        let incomplete = self.incomplete();
        let exit = if incomplete.is_some() && self.args.strict {
            Exit::RowsFailed
        } else {
            Exit::Ok
        };
        if let Some(path) = self.manifest {
            self.write_manifest(path)?;
        }
        let elapsed = self.clock.elapsed().as_secs_f64();
        let details = ExportDetails {
            output: self.target,
            manifest: self.manifest.map(|p| p.display().to_string()),
            filters: self.filter,
            incremental: self.incremental,
            rows: self.written.rows,
            pages: Progress::get(&self.progress.pages),
            pages_reread: self.walk.pages_reread,
            shifts_repaired: if self.walk.complete {
                self.walk.shifts
            } else {
                0
            },
            sequential_pass: self.walk.sequential_pass,
            complete: self.walk.complete,
            tag_requests: self.tag_stats.map_or(0, |t| t.requests),
            tag_strategy: self.tag_stats.map(|t| t.strategy),
            contacts_per_second: if elapsed > 0.0 {
                self.written.rows as f64 / elapsed
            } else {
                0.0
            },
            api_total: self.walk.total_last,
            distinct: self.walk.distinct,
            duplicates_skipped: duplicates,
            difference,
            incomplete,
            sha256: &self.written.sha256,
        };
        let summary = Envelope::new(
            "export",
            self.clock,
            Status::Completed,
            exit,
            self.stats.clone(),
            self.args.connection.rate,
            details,
        );
        ui.info(&self.render(&summary));
        if let Some(diff) = &summary.details.difference {
            ui.info(&format!("note: {diff}"));
        }
        if let Some(why) = &summary.details.incomplete {
            ui.warn(&format!(
                "warning: {why}{}",
                if self.args.strict {
                    " (--strict: exit 1)"
                } else {
                    ""
                }
            ));
        }
        if let Some(path) = &self.args.summary_json {
            crate::summary::write_json(path, &summary)?;
        }
        Ok(exit)
    }

    /// Why the distinct count differs from the API's total at the end, or `None`.
    fn difference(&self, duplicates: u64) -> Option<String> {
        if self.incremental {
            return None;
        }
        let total = self.walk.total_last?;
        let distinct = self.walk.distinct;
        if total == distinct {
            return None;
        }
        let moved = match self.walk.total_first {
            Some(first) if first != total => format!(" (it was {first} when the export started)"),
            _ => String::new(),
        };
        let checked = if self.walk.complete {
            "every contact present throughout the export is in the file (checked page by page)"
        } else {
            "the export could not be checked complete"
        };
        Some(format!(
            "the API reports {total} contacts{moved} and {distinct} distinct were exported \
             ({duplicates} repeated on later pages and skipped): contacts were created or \
             deleted during the export; {checked}"
        ))
    }

    /// Why the file may miss a contact present throughout the run, or `None` when it cannot.
    fn incomplete(&self) -> Option<String> {
        if self.walk.complete {
            return None;
        }
        Some(format!(
            "the export is not proven complete: the API's pages kept disagreeing with its total \
             ({} at the end) after {} re-reads; the file may miss contacts{}",
            self.walk
                .total_last
                .map_or("none".to_string(), |t| t.to_string()),
            self.walk.pages_reread,
            if self.args.state.is_some() {
                " and the state file is not advanced"
            } else {
                ""
            }
        ))
    }

    fn write_manifest(&self, path: &Path) -> Result<(), Fatal> {
        let mut columns = super::writer::COLUMNS.to_vec();
        if let Some(mode) = self.args.with_tags {
            columns.push(mode.header());
        }
        let manifest = Manifest {
            output: self.target,
            rows: self.written.rows,
            bytes: self.written.bytes,
            sha256: &self.written.sha256,
            columns,
            filters: self.filter,
            incremental: self.incremental,
            excel: self.args.excel,
            started_at: &self.started_at,
            finished_at: &self.finished_at,
            api_total: self.walk.total_last,
            api_total_at_start: self.walk.total_first,
        };
        let mut text =
            serde_json::to_string_pretty(&manifest).map_err(|e| Fatal::usage(e.to_string()))?;
        text.push('\n');
        write_atomic(path, text.as_bytes())
            .map_err(|e| Fatal::usage(format!("manifest {}: {e}", path.display())))
    }

    fn render(&self, e: &Envelope<ExportDetails<'_>>) -> String {
        let s = &e.details;
        let mut t = Summary::new(if self.incremental {
            "export (incremental)"
        } else {
            "export"
        });
        t.row("rows", s.rows.to_string());
        t.row(
            "api total",
            match s.api_total {
                Some(total) if !self.incremental => format!(
                    "{total} (distinct exported: {}{})",
                    s.distinct,
                    if s.complete {
                        ", checked complete"
                    } else {
                        ", NOT checked complete"
                    }
                ),
                Some(total) => format!("{total} in the account"),
                None => "not reported".into(),
            },
        );
        if s.duplicates_skipped > 0 {
            t.row("duplicates", format!("{} skipped", s.duplicates_skipped));
        }
        t.row(
            "requests",
            format!(
                "{} ({} contact pages{}{}; 429s: {}, retries: {})",
                e.requests,
                s.pages,
                if s.pages_reread > 0 {
                    format!(" incl. {} re-read after shifting", s.pages_reread)
                } else {
                    String::new()
                },
                self.tag_stats
                    .map(|t| match t.strategy {
                        Strategy::PerTag => format!(
                            ", {} for {} tags and {} memberships",
                            t.requests, t.tags, t.memberships
                        ),
                        Strategy::PerContact => {
                            format!(", {} for the tags of each new contact", t.requests)
                        }
                    })
                    .unwrap_or_default(),
                e.throttled_429,
                e.retries
            ),
        );
        if let Some(line) = e.budget.summary_line() {
            t.row("budget", line);
        }
        t.row(
            "elapsed",
            format!(
                "{} ({:.0} contacts/s; {} requests, {})",
                human_duration(self.clock.elapsed()),
                s.contacts_per_second,
                e.requests,
                match self.args.connection.rate.per_second() {
                    Some(_) => format!("limit {}", self.args.connection.rate),
                    None => "no rate limit".to_string(),
                }
            ),
        );
        t.row("output", s.output.to_string());
        if let Some(m) = &s.manifest {
            t.row("manifest", m.clone());
        }
        t.render()
    }
}
