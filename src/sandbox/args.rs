//! `wolfeo-bulk sandbox`: the flags, their translation into a [`Config`], and the foreground run.
//!
//! The flags are what the user typed; [`SandboxArgs::to_config`] is the one place that parses and
//! range-checks them, so a bad `--rate-limit` or `--fail-rate 2` is a usage error before anything
//! starts. `run` prints exactly one line on stdout (the base URL and the key), which scripts can
//! read to find a `--listen 127.0.0.1:0` port, then serves until Ctrl-C or SIGTERM and shuts down
//! cleanly, saving `--state`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::validate::EmailRule;

use super::{Config, RateLimit, WindowKind, parse_latency, spawn};

#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// API key clients must send (repeatable). Default: sandbox-key.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_key: Vec<String>,
    /// A key that is recognised but gets 403 FORBIDDEN on every call (repeatable).
    #[arg(long = "restricted-key", value_name = "KEY")]
    pub restricted_key: Vec<String>,
    /// Requests allowed per key and window, e.g. 600/60s, 10/s, 20/2s, 100/500ms, or "off".
    #[arg(long, value_name = "MAX/WINDOW", default_value = "600/60s")]
    pub rate_limit: String,
    /// "fixed" (Laravel: opens at the first hit) or "sliding" (strict).
    #[arg(long, value_name = "KIND", default_value = "fixed")]
    pub window: String,
    /// Send no X-RateLimit-* / Retry-After headers, as the documented service shows none.
    #[arg(long)]
    pub no_rate_headers: bool,
    /// Seed of the fault RNG and of the seed data: the same seed replays the same run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Delay every response: "300ms" or a uniform range "100ms..500ms".
    #[arg(long, value_name = "DURATION")]
    pub latency: Option<String>,
    /// Share of requests answered 500 SERVER_ERROR, nothing stored (0..=1).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Share of successful creates stored and then left unanswered, connection closed (0..=1).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub drop_rate: f64,
    /// 403 FORBIDDEN on create once the account holds this many contacts.
    #[arg(long, value_name = "N")]
    pub contact_cap: Option<u64>,
    /// Generate this many contacts, created over the last 90 days.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed_contacts: u64,
    /// Generate tags "Tag 1".."Tag N"; seeded contacts get 0-2 of them.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed_tags: u64,
    /// Generate sequences "Sequence 1".."Sequence N".
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed_sequences: u64,
    /// Custom-field definitions: a count N (Company, Plan (select Starter,Pro,Elite), then
    /// "Field 3".."Field N") or "Company;Plan=Starter,Pro,Elite" (NAME=OPTIONS is a select).
    #[arg(long, value_name = "N|SPEC")]
    pub seed_custom_fields: Option<String>,
    /// Round created_at down to this: 1s stamps whole seconds like the documented samples
    /// (...T09:00:00.000000Z); the default keeps microseconds.
    #[arg(long, value_name = "DURATION", default_value = "1us")]
    pub timestamp_resolution: String,
    /// Load the account from FILE if it exists (instead of seeding) and save it on exit.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// The email rule's egulias/EmailValidator: "egulias2" (Laravel 8, the default: the API's
    /// messages are Laravel 8's) or "egulias3" (Laravel 9).
    #[arg(long, value_name = "RULE", default_value = "egulias2")]
    pub email_rule: String,
}

impl SandboxArgs {
    /// Parses and range-checks every flag.
    pub fn to_config(&self) -> Result<Config, String> {
        let rate_limit = match self.rate_limit.trim() {
            "off" | "none" => None,
            text => Some(text.parse::<RateLimit>()?),
        };
        for (flag, rate) in [
            ("--fail-rate", self.fail_rate),
            ("--drop-rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{flag} must be between 0 and 1, got {rate}"));
            }
        }
        let api_keys = if self.api_key.is_empty() {
            Config::default().api_keys
        } else {
            self.api_key.clone()
        };
        if let Some(both) = api_keys.iter().find(|k| self.restricted_key.contains(k)) {
            return Err(format!(
                "{both:?} is given both as --api-key and --restricted-key"
            ));
        }
        if api_keys
            .iter()
            .chain(&self.restricted_key)
            .any(|k| k.trim().is_empty() || k.contains(char::is_whitespace))
        {
            return Err("API keys must be non-empty and contain no spaces".into());
        }
        Ok(Config {
            api_keys,
            restricted_keys: self.restricted_key.clone(),
            rate_limit,
            window: self.window.parse::<WindowKind>()?,
            rate_headers: !self.no_rate_headers,
            seed: self.seed,
            latency: self.latency.as_deref().map(parse_latency).transpose()?,
            fail_rate: self.fail_rate,
            drop_rate: self.drop_rate,
            contact_cap: self.contact_cap,
            seed_contacts: self.seed_contacts,
            seed_tags: self.seed_tags,
            seed_sequences: self.seed_sequences,
            seed_custom_fields: self
                .seed_custom_fields
                .as_deref()
                .map(super::parse_custom_fields)
                .transpose()?
                .unwrap_or_default(),
            state_file: self.state.clone(),
            listen: self.listen,
            timestamp_resolution: {
                let d = crate::units::parse_duration(&self.timestamp_resolution)?;
                if d.is_zero() || d > std::time::Duration::from_secs(60) {
                    return Err(format!(
                        "--timestamp-resolution must be between 1us and 60s, got {}",
                        self.timestamp_resolution
                    ));
                }
                d
            },
            log_requests: false,
            email_rule: EmailRule::parse(&self.email_rule).ok_or_else(|| {
                format!(
                    "--email-rule must be egulias2 or egulias3, got {:?}",
                    self.email_rule
                )
            })?,
        })
    }
}

/// Serves in the foreground until Ctrl-C or SIGTERM.
pub fn run(args: &SandboxArgs, verbose: bool) -> anyhow::Result<()> {
    let mut config = args.to_config().map_err(anyhow::Error::msg)?;
    config.log_requests = verbose;
    let listen = config.listen;
    let handle = spawn(config).with_context(|| format!("starting the sandbox on {listen}"))?;
    let mut stdout = std::io::stdout().lock();
    let everywhere = if handle.addr().ip().is_unspecified() {
        format!(" (on all interfaces: {})", handle.addr())
    } else {
        String::new()
    };
    writeln!(
        stdout,
        "sandbox listening on {}{everywhere} (api key: {})",
        handle.base_url(),
        handle.api_key()
    )?;
    stdout.flush()?;
    drop(stdout);
    wait_for_signal()?;
    handle.shutdown();
    Ok(())
}

fn wait_for_signal() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    fn config(argv: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("sandbox").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.args.to_config()
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_config_default() {
        let c = config(&[]).unwrap();
        let d = Config::default();
        assert_eq!(c.api_keys, d.api_keys);
        assert_eq!(c.rate_limit, d.rate_limit);
        assert_eq!(c.window, WindowKind::Fixed);
        assert!(c.rate_headers);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn all_flags() {
        let c = config(&[
            "--listen=127.0.0.1:0",
            "--api-key=a",
            "--api-key=b",
            "--restricted-key=r",
            "--rate-limit=off",
            "--window=sliding",
            "--no-rate-headers",
            "--seed=9",
            "--latency=100ms..500ms",
            "--fail-rate=0.1",
            "--drop-rate=0.05",
            "--contact-cap=10",
            "--seed-contacts=5",
            "--seed-tags=2",
            "--seed-sequences=1",
            "--state=acct.json",
            "--timestamp-resolution=1s",
        ])
        .unwrap();
        assert_eq!(c.api_keys, ["a", "b"]);
        assert_eq!(c.restricted_keys, ["r"]);
        assert_eq!(c.rate_limit, None);
        assert_eq!(c.window, WindowKind::Sliding);
        assert!(!c.rate_headers);
        assert_eq!(
            c.latency,
            Some((Duration::from_millis(100), Duration::from_millis(500)))
        );
        assert_eq!((c.fail_rate, c.drop_rate), (0.1, 0.05));
        assert_eq!(c.contact_cap, Some(10));
        assert_eq!((c.seed_contacts, c.seed_tags, c.seed_sequences), (5, 2, 1));
        assert_eq!(c.state_file, Some(PathBuf::from("acct.json")));
        assert_eq!(c.timestamp_resolution, Duration::from_secs(1));
    }

    #[test]
    fn rejects_bad_values() {
        for argv in [
            &["--fail-rate=1.5"][..],
            &["--drop-rate=-0.1"],
            &["--rate-limit=lots"],
            &["--window=tumbling"],
            &["--latency=fast"],
            &["--api-key=k", "--restricted-key=k"],
            &["--api-key="],
            &["--timestamp-resolution=0s"],
        ] {
            assert!(config(argv).is_err(), "{argv:?}");
        }
    }
}
