//! One connection to the API for a whole command: the `session` step of every command's
//! outline (plan -> session -> pipeline -> summary).
//!
//! A [`Session`] owns what every request of a run shares: the validated connection settings
//! (key, URL, transport rules, or the in-process sandbox of `--sandbox`), the one [`Pacer`],
//! the [`Client`], the [`Shutdown`] every worker listens to, the signal listener, and the
//! request counters the summary reports. The pacer is built here, on the account's schedule
//! (shared with the other processes of this host that talk to the account, unless `--budget
//! private`: [`crate::budget`]), and injected into the client, so neither the client nor the
//! pipelines know whether the budget is shared.
//!
//! Before any row is read, [`Session::open`] spends one cheap authenticated request
//! (`GET /v1/tags?per_page=1`) to check the URL and the key: a wrong key stops at once with
//! exit 3, a URL that is not the v1 API with exit 2, an unreachable host with exit 4, each
//! naming where the setting came from (flag, environment variable or default).

use std::sync::Arc;
use std::time::Instant;

use crate::api::client::{CallError, Client, ClientConfig, ClientStats, is_loopback};
use crate::api::endpoints::Endpoint;
use crate::budget::{BudgetMode, BudgetStats, Schedule};
use crate::cli::{ConnectionArgs, DEFAULT_BASE_URL};
use crate::exit::Fatal;
use crate::limiter::Pacer;
use crate::sandbox::SandboxHandle;
use crate::shutdown::Shutdown;
use crate::ui::{Ui, human_duration};

/// The documented ceiling of the API, above which a real host is likely to answer 429s.
const DOCUMENTED_PER_SECOND: f64 = 10.0;
/// The preflight is a check, not a row: a dead host should be reported in seconds, so it
/// retries at most this often whatever `--max-retries` says (rows keep the full budget).
const PREFLIGHT_RETRIES: u32 = 2;

/// Request counters of a run, preflight included.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestStats {
    pub requests: u64,
    pub throttled_429: u64,
    pub retries: u64,
    /// Requests spent checking the URL and key before any row.
    pub preflight: u64,
    /// Requests over the time between the first and the last one started (see
    /// [`Pacer::achieved_per_second`]); `None` below two requests.
    pub achieved_per_second: Option<f64>,
    /// Whether and how the account's rate was shared with other processes.
    pub budget: BudgetStats,
}

/// Whether the session spends a request checking URL and key before the command's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Import: a wrong key or URL would otherwise be found row by row, after rows were read.
    Preflight,
    /// Export, whose first request (page 1) is as cheap as the check and fails the same way,
    /// so a cron job's incremental export stays at one or two requests; and the resume of a
    /// finished import, which sends nothing.
    Skip,
}

pub struct Session {
    config: ClientConfig,
    client: Arc<Client>,
    shutdown: Arc<Shutdown>,
    preflight: RequestStats,
    /// Keeps the in-process sandbox of `--sandbox` alive for the whole run.
    _sandbox: Option<SandboxHandle>,
    /// `-v`: the budget's state every 10 s, until the session ends.
    budget_log: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(task) = self.budget_log.take() {
            task.abort();
        }
    }
}

impl Session {
    /// Connects: validates the flags, builds the pacer and the client, and with
    /// [`Check::Preflight`] checks URL and key before the command's own first request.
    pub async fn open(args: &ConnectionArgs, ui: &Arc<Ui>, check: Check) -> Result<Session, Fatal> {
        let shutdown = Shutdown::new();
        let (config, sandbox) = args.connect(ui)?;
        warn_above_documented_rate(&config, ui);
        let schedule = schedule_for(args, &config, ui);
        let pacer = Arc::new(Pacer::with_schedule(config.rate, schedule));
        let client = Client::new(
            &config,
            Arc::clone(&pacer),
            Arc::clone(&shutdown),
            ui.clone(),
        )
        .map_err(|e| Fatal::usage(format!("{e:#}")))?;
        let mut session = Session {
            config: config.clone(),
            client: Arc::new(client),
            shutdown,
            preflight: RequestStats::default(),
            _sandbox: sandbox,
            budget_log: log_budget(&pacer, ui),
        };
        if check == Check::Preflight {
            session.preflight = session.check(args, &config, pacer, ui).await?;
        }
        Ok(session)
    }

    /// The validated connection settings (URL, key, rate, retry policy).
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    pub fn shutdown(&self) -> &Arc<Shutdown> {
        &self.shutdown
    }

    /// Installs the one Ctrl-C / SIGTERM listener; `message` is printed on the first signal.
    pub fn stop_on_signals(&self, ui: &Arc<Ui>, message: String) {
        let ui = Arc::clone(ui);
        self.shutdown.listen_for_signals(move || ui.warn(&message));
    }

    /// Everything sent so far, the preflight included.
    pub fn stats(&self) -> RequestStats {
        let s = self.client.stats();
        RequestStats {
            requests: ClientStats::get(&s.requests) + self.preflight.requests,
            throttled_429: ClientStats::get(&s.throttled) + self.preflight.throttled_429,
            retries: ClientStats::get(&s.retries) + self.preflight.retries,
            preflight: self.preflight.requests,
            achieved_per_second: self.client.pacer().achieved_per_second(),
            budget: self.client.pacer().budget_stats(),
        }
    }

    /// Whether a request other than the preflight went out: from then on no error may claim
    /// that nothing was sent.
    pub fn sent(&self) -> bool {
        ClientStats::get(&self.client.stats().requests) > 0
    }

    /// For a command that skipped the preflight ([`Check::Skip`]) and failed before any 2xx
    /// answer (a wrong URL, a dead host; not a misbehaving API): the preflight's check, run
    /// now, names what to fix (the URL and where it came from, the key's source, the host).
    /// If the check passes, the command's own error stands. Costs one request, only on failure; a refused key (whose message
    /// already names where keys come from) costs none, so a wrong key stays one request.
    pub async fn diagnose(&self, args: &ConnectionArgs, ui: &Arc<Ui>, failed: Fatal) -> Fatal {
        let answered = ClientStats::get(&self.client.stats().answered_2xx) > 0;
        if answered || matches!(failed, Fatal::Interrupted(_) | Fatal::Refused(_)) {
            return failed;
        }
        let pacer = Arc::clone(self.client.pacer());
        match self.check(args, &self.config, pacer, ui).await {
            Err(found) if !found.is_interrupted() => found,
            _ => failed,
        }
    }

    /// One cheap authenticated request before any row: wrong key, wrong URL or dead host end
    /// the run here, with the setting's source named, instead of failing every row.
    async fn check(
        &self,
        args: &ConnectionArgs,
        config: &ClientConfig,
        pacer: Arc<Pacer>,
        ui: &Arc<Ui>,
    ) -> Result<RequestStats, Fatal> {
        let mut short = config.clone();
        short.policy.max_retries = short.policy.max_retries.min(PREFLIGHT_RETRIES);
        let probe = Client::new(&short, pacer, Arc::clone(&self.shutdown), ui.clone())
            .map_err(|e| Fatal::usage(format!("{e:#}")))?;
        let started = Instant::now();
        let answer = probe
            .list_page::<serde_json::Value>(Endpoint::Tags, &[], 1, 1)
            .await;
        let s = probe.stats();
        let stats = RequestStats {
            requests: ClientStats::get(&s.requests),
            throttled_429: ClientStats::get(&s.throttled),
            retries: ClientStats::get(&s.retries),
            ..RequestStats::default()
        };
        let url = config.base_url.as_str().trim_end_matches('/');
        let origin = Origin::of(args);
        match answer {
            Ok(a) if a.data().is_some() => Ok(stats),
            Ok(a) if a.status == 404 => Err(Fatal::usage(format!(
                "{url} ({}) does not look like the Wolfeo v1 API: GET {url}/tags answered 404{}",
                origin.base_url,
                suggestion(url)
            ))),
            Ok(a) => Err(Fatal::usage(format!(
                "{url} ({}) does not look like the Wolfeo v1 API: GET {url}/tags answered {} \
                 where the v1 API lists tags; check the URL",
                origin.base_url,
                a.describe()
            ))),
            Err(CallError::Refused { status, error }) => Err(Fatal::aborted(format!(
                "aborted: the API at {url} refused the key from {} ({status}{}); the key must \
                 exist, be enabled and belong to an account with API access; nothing was sent",
                origin.key,
                error.map(|e| format!(" {}", e.code)).unwrap_or_default()
            ))),
            Err(CallError::Exhausted { last, attempts, .. }) => Err(Fatal::unavailable(format!(
                "the API at {} ({}) is unavailable: {last} after {attempts} attempts in {}; \
                 nothing was sent",
                config.base_url.host_str().unwrap_or(url),
                origin.base_url,
                human_duration(started.elapsed())
            ))),
            Err(e @ CallError::Interrupted { .. }) => Err(e.into()),
        }
    }
}

/// Where the URL and the key came from, for messages that tell the user what to fix.
struct Origin {
    base_url: String,
    key: String,
}

impl Origin {
    fn of(args: &ConnectionArgs) -> Origin {
        if args.sandbox {
            return Origin {
                base_url: "--sandbox".into(),
                key: "the sandbox".into(),
            };
        }
        if let Some(name) = &args.account {
            return Origin {
                base_url: format!("from account {name}"),
                key: format!("account {name}"),
            };
        }
        let from_env = std::env::var("WOLFEO_BASE_URL").ok();
        let flag_given =
            std::env::args().any(|a| a == "--base-url" || a.starts_with("--base-url="));
        let base_url = if from_env.as_deref() == Some(args.base_url.as_str()) && !flag_given {
            "from WOLFEO_BASE_URL"
        } else if args.base_url == DEFAULT_BASE_URL && !flag_given {
            "the default"
        } else {
            "from --base-url"
        };
        let key = match &args.api_key_file {
            Some(path) => format!("--api-key-file {}", path.display()),
            None => crate::secret::ENV_VAR.to_string(),
        };
        Origin {
            base_url: base_url.into(),
            key,
        }
    }
}

/// With `-v`, one line on the budget every 10 s (the first after 10 s: a short run needs none).
fn log_budget(pacer: &Arc<Pacer>, ui: &Arc<Ui>) -> Option<tokio::task::JoinHandle<()>> {
    if ui.verbose() == 0 {
        return None;
    }
    let (pacer, ui) = (Arc::downgrade(pacer), Arc::clone(ui));
    Some(tokio::spawn(async move {
        let period = std::time::Duration::from_secs(10);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tick.tick().await;
            let Some(pacer) = pacer.upgrade() else { return };
            ui.debug(&pacer.status_line());
        }
    }))
}

/// The account's host-wide schedule, unless the run asked for its own or cannot share: the
/// in-process sandbox of `--sandbox` serves this process alone, and an unlimited rate has no
/// slots to share (a file lock per request would only slow it down).
fn schedule_for(args: &ConnectionArgs, config: &ClientConfig, ui: &Ui) -> Schedule {
    if args.budget == BudgetMode::Private || args.sandbox || config.rate.interval().is_none() {
        return Schedule::private();
    }
    let url = config.base_url.as_str();
    match Schedule::shared(url, config.api_key.expose()) {
        Ok(schedule) => schedule,
        Err(e) => {
            ui.warn(&format!(
                "warning: cannot share the rate budget with other processes ({e}); pacing this \
                 run alone (--budget private silences this)"
            ));
            Schedule::private()
        }
    }
}

/// "did you mean .../v1?" when the path lacks the version segment.
fn suggestion(url: &str) -> String {
    if url.ends_with("/v1") {
        return String::new();
    }
    // Another version segment (`/v2`, `/api/v0`) is replaced, not extended.
    let (head, last) = url.rsplit_once('/').unwrap_or(("", url));
    let versioned =
        last.len() > 1 && last.starts_with('v') && last[1..].bytes().all(|b| b.is_ascii_digit());
    match versioned && head.contains("://") {
        true => format!("; did you mean {head}/v1?"),
        false => format!("; did you mean {url}/v1?"),
    }
}

/// Above the documented 600/min a real host answers 429s and pauses everyone for a minute;
/// the sandbox and other loopback servers are the user's own to stress.
fn warn_above_documented_rate(config: &ClientConfig, ui: &Ui) {
    let fast = config
        .rate
        .per_second()
        .is_none_or(|r| r > DOCUMENTED_PER_SECOND);
    if fast && !is_loopback(&config.base_url) {
        ui.warn(&format!(
            "warning: --rate {} is above the API's documented 600 requests/min; expect 429 \
             pauses of up to a minute",
            config.rate
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_version_segment() {
        assert_eq!(
            suggestion("http://127.0.0.1:9"),
            "; did you mean http://127.0.0.1:9/v1?"
        );
        assert_eq!(suggestion("https://api.wolfeo.me/v1"), "");
        assert_eq!(
            suggestion("http://127.0.0.1:9/v2"),
            "; did you mean http://127.0.0.1:9/v1?"
        );
        assert_eq!(
            suggestion("https://h.example/api/v10"),
            "; did you mean https://h.example/api/v1?"
        );
        assert_eq!(
            suggestion("https://h.example/vault"),
            "; did you mean https://h.example/vault/v1?"
        );
    }
}
