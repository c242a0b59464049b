//! What an import tells the user at the end: the summary table (and `--summary-json`), the
//! message for a refused key, and the exact command that resumes an interrupted run.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::send;
use crate::exit::Fatal;
use crate::summary::Summary;
use crate::ui::Ui;

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
        format!(
            "{}{}",
            s.rows,
            s.limit.map_or_else(String::new, super::limit_note)
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
    if s.outcomes.get("invalid").copied().unwrap_or(0)
        + s.outcomes.get("failed").copied().unwrap_or(0)
        > 0
    {
        t.row("rejects", s.rejects.clone());
    }
    if !s.unmapped_columns.is_empty() {
        t.row("unmapped", s.unmapped_columns.join(", "));
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
