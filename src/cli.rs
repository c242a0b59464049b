//! Command-line surface: what the user typed, and the one place it becomes validated config.
//!
//! clap structs hold raw arguments; [`ConnectionArgs::connect`] turns the connection flags into a
//! [`ClientConfig`] (parsed URL, transport rules, key from the environment or a file, an
//! in-process sandbox for `--sandbox`). Nothing after that point looks at raw strings. Each
//! subcommand's own flags live beside its `run` (`import::Args`, `export::Args`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use reqwest::Url;

use crate::accounts;
use crate::api::client::{ClientConfig, is_loopback};
use crate::api::retry::RetryPolicy;
use crate::budget::BudgetMode;
use crate::exit::{self, Fatal};
use crate::limiter::Rate;
use crate::sandbox::{self, SandboxHandle};
use crate::secret::{self, ApiKey};
use crate::ui::Ui;
use crate::units::parse_duration;

pub const DEFAULT_BASE_URL: &str = "https://api.wolfeo.me/v1";

#[derive(Debug, Parser)]
#[command(
    name = "wolfeo-bulk",
    version,
    about = "Moves contacts between CSV files and the Wolfeo API, at the fastest rate it allows.",
    after_help = exit::HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// No progress, no summary: only errors (the exit code tells the rest).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// One line per request on stderr (method, path, status, time). Never shows the key.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create contacts from a CSV file (POST /v1/contact per row) and write a results file.
    #[command(after_help = exit::IMPORT_HELP)]
    Import(crate::import::Args),
    /// Write every contact (GET /v1/contacts) to a CSV file that import can read back.
    #[command(after_help = exit::EXPORT_HELP)]
    Export(crate::export::Args),
    /// Compare a CSV file with the account (read only): match, differs, missing per row.
    #[command(after_help = exit::VERIFY_HELP)]
    Verify(crate::verify::Args),
    /// Serve a local imitation of the Wolfeo API until Ctrl-C.
    Sandbox(sandbox::SandboxArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout.
    Completions(crate::generate::CompletionsArgs),
    /// Print a manual page (roff) to stdout: wolfeo-bulk(1), or a subcommand's page.
    Man(crate::generate::ManArgs),
}

/// How to reach the API; shared by import and export.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// API base URL. The key comes from WOLFEO_API_KEY or --api-key-file, never from a flag.
    #[arg(long, env = "WOLFEO_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: String,

    /// File holding the API key (instead of WOLFEO_API_KEY). Keep it chmod 600.
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,

    /// A named account from the config file (~/.config/wolfeo-bulk/config.toml): its base URL
    /// and its key (key_file or key_command), instead of WOLFEO_API_KEY and --base-url.
    #[arg(
        short,
        long,
        env = crate::accounts::ENV_VAR,
        value_name = "NAME",
        conflicts_with_all = ["base_url", "api_key_file", "sandbox"]
    )]
    pub account: Option<String>,

    /// Run against an in-process sandbox on 127.0.0.1 instead of the real API (no key needed).
    #[arg(long)]
    pub sandbox: bool,

    /// Request rate ceiling shared by all requests: 10/s, 600/min, 60/6s, unlimited, or auto
    /// (600/min, or the server's X-RateLimit-Limit per minute when it advertises more).
    #[arg(short, long, default_value = "10/s", value_parser = parse_rate)]
    pub rate: Rate,

    /// Share the account's rate with the other wolfeo-bulk processes of this user on this host
    /// (shared: they split it and a 429 pauses all), or pace this run alone (private).
    /// --sandbox and --rate unlimited are always private.
    #[arg(long, env = "WOLFEO_BUDGET", default_value = "shared", value_name = "shared|private", value_parser = parse_budget)]
    pub budget: BudgetMode,

    /// Requests in flight at once (raised automatically when latency × rate needs more).
    #[arg(short = 'j', long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,

    /// Retries of a request after a 5xx or a network error.
    #[arg(long, default_value_t = 5)]
    pub max_retries: u32,

    /// First back-off delay (doubles each retry, full jitter, capped at 30 s).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub retry_base: Duration,

    /// Give up on one HTTP request after this long (it is then retried).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Give up connecting after this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
}

impl ConnectionArgs {
    /// Validates the flags and resolves the key; starts the sandbox for `--sandbox`.
    pub fn connect(&self, ui: &Ui) -> Result<(ClientConfig, Option<SandboxHandle>), Fatal> {
        let (base_url, api_key, sandbox) = if self.sandbox {
            // Some contacts to export, and tags and sequences so that the sample rows with
            // tag_ids/sequence_ids succeed (seed emails never collide with the samples').
            let handle = sandbox::spawn(sandbox::Config {
                seed_contacts: 250,
                seed_tags: 5,
                seed_sequences: 2,
                seed_custom_fields: sandbox::parse_custom_fields("2").unwrap_or_default(),
                ..sandbox::Config::default()
            })
            .map_err(|e| Fatal::usage(format!("cannot start the sandbox: {e}")))?;
            ui.info(&format!("sandbox: {}", handle.base_url()));
            let url = Url::parse(&handle.base_url())
                .map_err(|e| Fatal::usage(format!("sandbox URL: {e}")))?;
            let key = ApiKey::new(handle.api_key());
            (url, key, Some(handle))
        } else if let Some(name) = &self.account {
            let account = accounts::resolve(name, &mut |w| ui.warn(&w))?;
            let url = parse_base_url(&account.base_url)?;
            ui.info(&format!("account {name}: {url}"));
            (url, account.key, None)
        } else {
            let url = parse_base_url(&self.base_url)?;
            let key = secret::load(self.api_key_file.as_deref(), &mut |w| ui.warn(&w))?;
            (url, key, None)
        };
        let config = ClientConfig {
            base_url,
            api_key,
            rate: self.rate,
            policy: RetryPolicy {
                max_retries: self.max_retries,
                base: self.retry_base,
                ..RetryPolicy::default()
            },
            request_timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            max_idle: usize::from(self.concurrency).max(16),
        };
        Ok((config, sandbox))
    }
}

/// `https://` for any host but loopback, where the sandbox runs on plain http.
pub fn parse_base_url(raw: &str) -> Result<Url, Fatal> {
    let url =
        Url::parse(raw.trim()).map_err(|e| Fatal::usage(format!("--base-url {raw:?}: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(Fatal::usage(format!(
                "--base-url {url}: plain http is only allowed for 127.0.0.1/localhost; use https://"
            )));
        }
        other => {
            return Err(Fatal::usage(format!(
                "--base-url {url}: unsupported scheme {other:?}; use https://"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(Fatal::usage(
            "--base-url must not carry credentials or a query string; \
             the key comes from WOLFEO_API_KEY or --api-key-file",
        ));
    }
    Ok(url)
}

pub fn parse_rate(s: &str) -> Result<Rate, String> {
    s.parse()
}

fn parse_budget(s: &str) -> Result<BudgetMode, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(argv: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("wolfeo-bulk").chain(argv.iter().copied()))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
    }

    #[test]
    fn short_flags_mean_what_the_long_ones_do() {
        let cli = parse(&[
            "import",
            "-n",
            "-o",
            "r.csv",
            "-j",
            "4",
            "-r",
            "5/s",
            "-d",
            ";",
            "-e",
            "latin1",
            "-m",
            "Mail=email",
            "-q",
            "-vv",
            "in.csv",
        ]);
        assert!(cli.quiet);
        assert_eq!(cli.verbose, 2);
        let Command::Import(args) = cli.command else {
            panic!("not import")
        };
        assert!(args.dry_run);
        assert_eq!(args.results, Some(PathBuf::from("r.csv")));
        assert_eq!(args.connection.concurrency, 4);
        assert_eq!(args.connection.rate, parse_rate("5/s").unwrap());
        assert_eq!(args.reading.delimiter, Some(b';'));
        assert!(args.reading.encoding.is_some());
        assert_eq!(args.map, [("Mail".to_string(), "email".to_string())]);

        let Command::Export(args) = parse(&["export", "-o", "-", "-j", "2", "-r", "1/s"]).command
        else {
            panic!("not export")
        };
        assert_eq!(args.output.as_deref(), Some("-"));
        assert_eq!(args.connection.concurrency, 2);
    }

    #[test]
    fn base_url_transport_rules() {
        assert!(parse_base_url("https://api.wolfeo.me/v1").is_ok());
        assert!(parse_base_url("http://127.0.0.1:8080/v1").is_ok());
        assert!(parse_base_url("http://localhost:8080/v1").is_ok());
        assert!(parse_base_url("http://api.wolfeo.me/v1").is_err());
        assert!(parse_base_url("ftp://api.wolfeo.me/v1").is_err());
        assert!(parse_base_url("https://user:pw@api.wolfeo.me/v1").is_err());
        assert!(parse_base_url("https://api.wolfeo.me/v1?api_key=x").is_err());
    }
}
