//! What an import's summary says: the table on stderr and the command's part of the shared
//! `--summary-json` envelope ([`crate::summary::Envelope`]), both from one [`ImportDetails`].
//!
//! The dialect and the mapping are structured here (a delimiter, an encoding, one entry per
//! column feeding a field), so a runbook can check what a run read without parsing prose; the
//! table shows them cut to the terminal's width.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::Args;
use super::collect::Counts;
use super::setup::Plan;
use crate::csv_in::{DelimiterSource, Dialect};
use crate::limiter::Rate;
use crate::mapping::{Field, Mapping, Sense};
use crate::results::Kind;
use crate::summary::{Envelope, Summary};
use crate::ui::{Ui, fit_list, human_duration};

/// The import's own keys of the summary file.
#[derive(Debug, Serialize)]
pub struct ImportDetails {
    pub input: String,
    pub results: String,
    pub rejects: String,
    pub dry_run: bool,
    /// `--limit`: only the first N data rows were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    pub resumed: bool,
    pub rows: u64,
    pub outcomes: BTreeMap<&'static str, u64>,
    pub dialect: DialectInfo,
    /// One entry per column feeding a field, in field order.
    pub mapping: Vec<MappedColumn>,
    /// Which columns feed `email_marketing` and `gdpr`, or that the server's default applies.
    pub consent: String,
    pub unmapped_columns: Vec<String>,
    /// One entry per column feeding a custom field, in column order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds_at_rate: Option<f64>,
}

/// One column feeding one custom field.
#[derive(Debug, Serialize, PartialEq)]
pub struct CustomInfo {
    /// 1-based, as spreadsheets count.
    pub column: usize,
    pub header: String,
    pub field_id: u64,
    pub name: String,
    /// `text`, `select`, or whatever the account says.
    pub r#type: String,
}

/// How the input was read.
#[derive(Debug, Serialize)]
pub struct DialectInfo {
    pub delimiter: String,
    /// `flag`, `sep_line`, `detected` or `default`.
    pub delimiter_source: &'static str,
    pub encoding: &'static str,
    pub bom: bool,
    /// `crlf` or `lf`, as the header row ended.
    pub line_ending: &'static str,
    /// The same, as the opening line said it.
    pub described: String,
}

impl From<&Dialect> for DialectInfo {
    fn from(d: &Dialect) -> Self {
        DialectInfo {
            delimiter: char::from(d.delimiter).to_string(),
            delimiter_source: match d.delimiter_source {
                DelimiterSource::Flag => "flag",
                DelimiterSource::SepLine => "sep_line",
                DelimiterSource::Detected => "detected",
                DelimiterSource::Default => "default",
            },
            encoding: d.encoding,
            bom: d.bom,
            line_ending: if d.crlf { "crlf" } else { "lf" },
            described: d.to_string(),
        }
    }
}

/// One column feeding one field.
#[derive(Debug, Serialize, PartialEq)]
pub struct MappedColumn {
    pub field: &'static str,
    /// 1-based, as spreadsheets count.
    pub column: usize,
    pub header: String,
    /// `direct`, `fallback` (used when the cells before are empty), `negated` (`!field`) or
    /// `opt_out` (can only lower consent).
    pub sense: &'static str,
}

/// Every column feeding a field, in [`Field::ALL`] order then reading order.
pub fn mapped_columns(mapping: &Mapping, headers: &[String]) -> Vec<MappedColumn> {
    Field::ALL
        .iter()
        .flat_map(|&f| {
            mapping.sources(f).iter().map(move |s| MappedColumn {
                field: f.name(),
                column: s.column + 1,
                header: headers.get(s.column).cloned().unwrap_or_default(),
                sense: match s.sense {
                    Sense::Direct => "direct",
                    Sense::Fallback => "fallback",
                    Sense::Negated => "negated",
                    Sense::OptOut => "opt_out",
                },
            })
        })
        .collect()
}

impl ImportDetails {
    pub fn new(args: &Args, plan: &Plan, counts: &Counts) -> Self {
        let eta = args.dry_run.then(|| {
            let to_send = counts.get(Kind::WouldCreate) as f64;
            args.connection
                .rate
                .per_second()
                .map_or(0.0, |r| to_send / r)
        });
        ImportDetails {
            input: args.input.clone(),
            results: plan.outputs.results.display().to_string(),
            rejects: plan.outputs.rejects.display().to_string(),
            dry_run: args.dry_run,
            limit: args.limit,
            resumed: plan.resumed,
            rows: counts.done(),
            outcomes: counts.by_name(),
            dialect: DialectInfo::from(&plan.dialect),
            mapping: mapped_columns(&plan.mapping, &plan.headers),
            consent: plan.mapping.consent_line(&plan.headers),
            unmapped_columns: unmapped(plan),
            custom_fields: plan
                .mapping
                .custom()
                .iter()
                .map(|c| CustomInfo {
                    column: c.column + 1,
                    header: plan.headers[c.column].clone(),
                    field_id: c.field.id,
                    name: c.field.name.clone(),
                    r#type: c.field.r#type.clone(),
                })
                .collect(),
            eta_seconds_at_rate: eta,
        }
    }
}

/// The headers of the columns that feed no field.
pub fn unmapped(plan: &Plan) -> Vec<String> {
    plan.mapping
        .unmapped()
        .iter()
        .map(|&i| plan.headers[i].clone())
        .collect()
}

pub fn print(ui: &Ui, e: &Envelope<ImportDetails>, rate: Rate) {
    let s = &e.details;
    let mut t = Summary::new(if s.dry_run {
        "import (dry run)"
    } else {
        "import"
    });
    t.row(
        "rows",
        format!(
            "{}{}",
            s.rows,
            s.limit.map_or_else(String::new, super::report::limit_note)
        ),
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
                e.requests, e.throttled_429, e.retries
            ),
        );
    }
    if let Some(line) = e.budget.summary_line() {
        t.row("budget", line);
    }
    if e.status == crate::summary::Status::Aborted {
        // The counts above are what was settled before the error the last line names.
        t.row("stopped", "on the error below".to_string());
    }
    let elapsed = human_duration(Duration::from_secs_f64(e.elapsed_seconds));
    t.row(
        "elapsed",
        match (s.dry_run, e.achieved_requests_per_second) {
            (true, _) => elapsed,
            (false, Some(r)) => format!("{elapsed} ({r:.2} requests/s, limit {rate})"),
            (false, None) => format!("{elapsed} (limit {rate})"),
        },
    );
    if let Some(eta) = s.eta_seconds_at_rate {
        t.row(
            "ETA",
            format!(
                "{} to send at {}",
                human_duration(Duration::from_secs_f64(eta)),
                match rate {
                    // A dry run asks no server, so auto has nothing to follow yet.
                    Rate::Auto => "10/s (auto: more if the server advertises more)".to_string(),
                    rate => rate.to_string(),
                }
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
    let n = s.unmapped_columns.len();
    if n > 0 {
        // The table's indent and labels (up to `not_attempted`) take 17 columns of the line.
        let prefix = format!("{:17}{n} column{}: ", "", if n == 1 { "" } else { "s" });
        let line = fit_list(&prefix, &s.unmapped_columns, ui.verbose() > 0);
        t.row("unmapped", line.trim_start().to_string());
    }
    if !s.custom_fields.is_empty() {
        let bound: Vec<String> = s
            .custom_fields
            .iter()
            .map(|c| format!("\"{}\" -> {} (#{})", c.header, c.name, c.field_id))
            .collect();
        t.row(
            "custom fields",
            crate::text::sanitize(&bound.join(", "), 400),
        );
    }
    t.row("dialect", s.dialect.described.clone());
    t.row(
        "consent",
        s.consent
            .strip_prefix("consent: ")
            .unwrap_or(&s.consent)
            .to_string(),
    );
    ui.info(&t.render());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_is_one_entry_per_column_in_field_order() {
        let headers: Vec<String> = ["E-mail", "Nom", "Work email", "Unsubscribed"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = Mapping::resolve(&headers, &[]).unwrap();
        let cols = mapped_columns(&m, &headers);
        let fields: Vec<(&str, usize, &str)> =
            cols.iter().map(|c| (c.field, c.column, c.sense)).collect();
        assert_eq!(fields[0], ("email", 1, "direct"));
        assert!(fields.contains(&("email", 3, "fallback")), "{fields:?}");
        assert!(
            fields.contains(&("email_marketing", 4, "opt_out")),
            "{fields:?}"
        );
    }
}
