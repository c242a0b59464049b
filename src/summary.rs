//! The end-of-run summary: an aligned table on stderr, the same figures as JSON on request.
//!
//! Every command's `--summary-json` is one [`Envelope`]: the same keys for what every run has
//! (schema, command, status, exit code, start and end timestamps, elapsed time, request
//! counters, the rate limit), then the command's own figures flattened beside them. A cron
//! wrapper or a runbook reads `status` and `exit_code` the same way whichever command ran, and
//! whether it completed, was interrupted or stopped on an error. `schema` changes only when a
//! key is removed or changes meaning (new keys may appear at any time).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::exit::{Exit, Fatal};
use crate::limiter::Rate;
use crate::session::RequestStats;

/// The `schema` key of every summary file.
pub const SCHEMA: &str = "wolfeo-bulk/summary/v1";

/// How a run ended, as the summary file says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every row or page was handled (rows may still have failed: see `exit_code`).
    Completed,
    /// Ctrl-C or SIGTERM: what was done is recorded, the rest can be resumed.
    Interrupted,
    /// Stopped on an error (refused key, unavailable API, environment).
    Aborted,
}

/// When a run started, on both clocks: wall time for the timestamps, monotonic for durations.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    at: DateTime<Utc>,
    instant: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            at: Utc::now(),
            instant: Instant::now(),
        }
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.at
    }

    pub fn elapsed(&self) -> Duration {
        self.instant.elapsed()
    }
}

/// RFC 3339 in UTC with milliseconds: `2026-12-02T01:50:00.123Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The summary file of every command: the common keys, then `details` flattened beside them.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    pub schema: &'static str,
    pub command: &'static str,
    pub status: Status,
    pub exit_code: i32,
    pub started_at: String,
    pub ended_at: String,
    pub elapsed_seconds: f64,
    /// Every request of the run, the start-up check included.
    pub requests: u64,
    pub throttled_429: u64,
    pub retries: u64,
    /// Requests over the time between the first and the last one started; `null` below two.
    pub achieved_requests_per_second: Option<f64>,
    /// The pacing limit: `10/s`, `600/1m`, or `unlimited`.
    pub rate_limit: String,
    /// Whether the account's rate was shared with other processes of this host, with how
    /// many, the share this run got, and its pauses ([`crate::budget`]).
    pub budget: crate::budget::BudgetStats,
    #[serde(flatten)]
    pub details: T,
}

impl<T: Serialize> Envelope<T> {
    pub fn new(
        command: &'static str,
        clock: Clock,
        status: Status,
        exit: Exit,
        stats: RequestStats,
        rate: Rate,
        details: T,
    ) -> Self {
        Envelope {
            schema: SCHEMA,
            command,
            status,
            exit_code: exit.code(),
            started_at: timestamp(clock.started_at()),
            ended_at: timestamp(Utc::now()),
            elapsed_seconds: clock.elapsed().as_secs_f64(),
            requests: stats.requests,
            throttled_429: stats.throttled_429,
            retries: stats.retries,
            achieved_requests_per_second: stats.achieved_per_second,
            rate_limit: rate.to_string(),
            budget: stats.budget,
            details,
        }
    }
}

pub struct Summary {
    title: String,
    rows: Vec<(String, String)>,
}

impl Summary {
    pub fn new(title: &str) -> Self {
        Summary {
            title: title.to_string(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, name: &str, value: String) {
        self.rows.push((name.to_string(), value));
    }

    pub fn render(&self) -> String {
        let width = self.rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let mut out = format!("{} summary", self.title);
        for (name, value) in &self.rows {
            out.push_str(&format!("\n  {name:<width$}  {value}"));
        }
        out
    }
}

/// Writes `value` as pretty JSON, atomically and 0600 (or through, to a FIFO or `-`).
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), Fatal> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Fatal::usage(e.to_string()))?;
    text.push('\n');
    crate::files::write_atomic(path, text.as_bytes())
        .map_err(|e| Fatal::usage(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_puts_common_keys_beside_the_commands_own() {
        #[derive(Serialize)]
        struct Own {
            rows: u64,
        }
        let stats = RequestStats {
            requests: 3,
            throttled_429: 1,
            ..RequestStats::default()
        };
        let e = Envelope::new(
            "import",
            Clock::start(),
            Status::Interrupted,
            Exit::Interrupted,
            stats,
            Rate::API_DEFAULT,
            Own { rows: 7 },
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["command"], "import");
        assert_eq!(v["status"], "interrupted");
        assert_eq!(v["exit_code"], 130);
        assert_eq!(v["requests"], 3);
        assert_eq!(v["throttled_429"], 1);
        assert_eq!(v["rows"], 7);
        assert!(v["achieved_requests_per_second"].is_null());
        let start = DateTime::parse_from_rfc3339(v["started_at"].as_str().unwrap()).unwrap();
        let end = DateTime::parse_from_rfc3339(v["ended_at"].as_str().unwrap()).unwrap();
        assert!(start <= end);
        assert!(v["started_at"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn renders_an_aligned_table() {
        let mut s = Summary::new("import");
        s.row("rows", "3".into());
        s.row("created", "2".into());
        assert_eq!(s.render(), "import summary\n  rows     3\n  created  2");
    }
}
