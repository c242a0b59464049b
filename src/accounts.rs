//! Named accounts (`--account NAME` / `WOLFEO_ACCOUNT`): which server and which key, read from
//! `config.toml` in the platform's config directory, so a migration between two accounts needs
//! no `WOLFEO_API_KEY=` juggling (as `gh`, `aws` and `stripe` profiles do).
//!
//! ```toml
//! # ~/.config/wolfeo-bulk/config.toml  ($XDG_CONFIG_HOME honoured; WOLFEO_CONFIG overrides)
//! [accounts.old]
//! key_file = "~/.config/wolfeo-bulk/old.key"
//!
//! [accounts.new]
//! base_url = "https://api.wolfeo.me/v1"
//! key_command = ["pass", "show", "wolfeo/new"]
//! ```
//!
//! Invariants: the key is never printed, and no error quotes the config file's text (a parse
//! error names the line only). `key_command` is an argument vector run without a shell, with
//! no standard input (it could otherwise swallow `import -`'s CSV); the key is the first line of
//! its output. A `key` written in the config file itself is used only when the file is private
//! to its owner (chmod 600); otherwise the run stops rather than trusting a shared file.
//! Called by `ConnectionArgs::connect` in [`crate::cli`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use etcetera::BaseStrategy;
use serde::Deserialize;

use crate::exit::Fatal;
use crate::secret::{self, ApiKey};

pub const ENV_VAR: &str = "WOLFEO_ACCOUNT";
/// Points at a config file other than the platform's default one.
pub const CONFIG_ENV_VAR: &str = "WOLFEO_CONFIG";

/// Where a named account sends requests, and with which key.
#[derive(Debug)]
pub struct Account {
    pub base_url: String,
    pub key: ApiKey,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    accounts: BTreeMap<String, Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    base_url: Option<String>,
    key_file: Option<PathBuf>,
    key_command: Option<Vec<String>>,
    /// Kept as a raw value so that a mistyped key (a number) never reaches a serde message.
    key: Option<toml::Value>,
}

/// `$WOLFEO_CONFIG`, else `config.toml` under the platform's config directory
/// (`$XDG_CONFIG_HOME/wolfeo-bulk`, by default `~/.config/wolfeo-bulk`).
pub fn config_path() -> Result<PathBuf, Fatal> {
    if let Some(path) = std::env::var_os(CONFIG_ENV_VAR).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let base = etcetera::choose_base_strategy()
        .map_err(|e| Fatal::usage(format!("--account: cannot find the config directory: {e}")))?;
    Ok(base.config_dir().join("wolfeo-bulk").join("config.toml"))
}

/// Looks `name` up in the config file and fetches its key. `warn` receives one-line warnings
/// (a key file readable by other users).
pub fn resolve(name: &str, warn: &mut dyn FnMut(String)) -> Result<Account, Fatal> {
    let path = config_path()?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Fatal::usage(format!(
            "--account {name}: cannot read {}: {e} (accounts live there; see the README)",
            path.display()
        ))
    })?;
    let config = parse(&text, &path)?;
    let Some(entry) = config.accounts.get(name) else {
        let known: Vec<&str> = config.accounts.keys().map(String::as_str).collect();
        return Err(Fatal::usage(format!(
            "--account {name}: no [accounts.{name}] in {} (it has: {})",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    let key = entry.key(name, &path, warn)?;
    Ok(Account {
        base_url: entry
            .base_url
            .clone()
            .unwrap_or_else(|| crate::cli::DEFAULT_BASE_URL.to_string()),
        key,
    })
}

/// The message and line of a TOML error, never the snippet of the file it usually quotes.
fn parse(text: &str, path: &Path) -> Result<ConfigFile, Fatal> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| {
            text[..s.start.min(text.len())].lines().count().max(1)
        });
        Fatal::usage(format!(
            "{} line {line}: {}",
            path.display(),
            e.message().trim()
        ))
    })
}

impl Entry {
    fn key(
        &self,
        name: &str,
        config: &Path,
        warn: &mut dyn FnMut(String),
    ) -> Result<ApiKey, Fatal> {
        let sources = [
            self.key_file.is_some(),
            self.key_command.is_some(),
            self.key.is_some(),
        ];
        let problem =
            |what: &str| Fatal::usage(format!("{} [accounts.{name}]: {what}", config.display()));
        match sources.iter().filter(|&&s| s).count() {
            0 => return Err(problem("give one of key_file, key_command or key")),
            1 => {}
            _ => return Err(problem("give only one of key_file, key_command or key")),
        }
        if let Some(file) = &self.key_file {
            let file = expand(file, config);
            return secret::load(Some(&file), warn);
        }
        if let Some(argv) = &self.key_command {
            return run_key_command(argv).map_err(|why| problem(&format!("key_command {why}")));
        }
        let Some(toml::Value::String(key)) = &self.key else {
            return Err(problem("key must be a string"));
        };
        if secret::readable_by_others(config) {
            return Err(problem(&format!(
                "the file holds a key but other users can read it; run chmod 600 {} \
                 or use key_file / key_command",
                config.display()
            )));
        }
        match key.trim() {
            "" => Err(problem("key is empty")),
            key => Ok(ApiKey::new(key)),
        }
    }
}

/// `~/x` is under the home directory; a relative path is relative to the config file.
fn expand(path: &Path, config: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Ok(home) = etcetera::home_dir()
    {
        return home.join(rest);
    }
    match config.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

/// Runs the key command (no shell, no stdin, its stderr shown: `pass` may ask for a passphrase)
/// and takes the first line of its output. The error never includes that output.
fn run_key_command(argv: &[String]) -> Result<ApiKey, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("is empty; write it as a list: [\"pass\", \"show\", \"wolfeo/prod\"]".into());
    };
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{program:?} cannot be run: {e}"))?;
    if !output.status.success() {
        return Err(format!("{program:?} failed ({})", output.status));
    }
    let text = String::from_utf8(output.stdout)
        .map_err(|_| format!("{program:?} printed something that is not UTF-8"))?;
    match text.lines().next().map(str::trim) {
        Some(key) if !key.is_empty() => Ok(ApiKey::new(key)),
        _ => Err(format!("{program:?} printed no key on its first line")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> Entry {
        let mut config = parse(text, Path::new("c.toml")).unwrap();
        config.accounts.remove("a").unwrap()
    }

    fn key_of(text: &str, config: &Path) -> Result<ApiKey, Fatal> {
        entry(text).key("a", config, &mut |_| {})
    }

    #[test]
    fn a_parse_error_names_the_line_but_never_quotes_the_file() {
        let text = "[accounts.a]\nbase_url = \"https://x\"\nkey = \"sk-SECRET-1234\n";
        let e = parse(text, Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.starts_with("c.toml line 3:"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
        let e = parse(
            "[accounts.a]\napi_key = \"sk-SECRET\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("unknown field `api_key`") && !e.contains("SECRET"),
            "{e}"
        );
        let e = key_of("[accounts.a]\nkey = 12345678\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("12345678"), "{e}");
    }

    #[test]
    fn the_key_command_runs_without_a_shell_and_gives_its_first_line() {
        let key = run_key_command(&["printf".into(), "k-1 ; rm -rf x\nsecond\n".into()]).unwrap();
        assert_eq!(
            key.expose(),
            "k-1 ; rm -rf x",
            "no shell interpreted the text"
        );
        let e =
            run_key_command(&["sh".into(), "-c".into(), "echo k-2; exit 3".into()]).unwrap_err();
        assert!(e.contains("failed") && !e.contains("k-2"), "{e}");
        assert!(run_key_command(&[]).is_err());
        assert!(run_key_command(&["/nonexistent/pass".into()]).is_err());
        assert!(
            run_key_command(&["true".into()]).is_err(),
            "no output is no key"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_key_in_the_config_file_needs_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        let text = "[accounts.a]\nkey = \"sk-inline\"\n";
        std::fs::write(&config, text).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = key_of(text, &config).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && !e.contains("sk-inline"), "{e}");
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(key_of(text, &config).unwrap().expose(), "sk-inline");
    }

    #[test]
    fn one_key_source_per_account_and_paths_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(dir.path().join("a.key"), "k-file\n").unwrap();
        let e = key_of("[accounts.a]\nbase_url = \"https://x\"\n", &config).unwrap_err();
        assert!(e.to_string().contains("one of key_file"), "{e}");
        let both = "[accounts.a]\nkey_file = \"a.key\"\nkey_command = [\"true\"]\n";
        assert!(key_of(both, &config).is_err());
        let file = "[accounts.a]\nkey_file = \"a.key\"\n";
        assert_eq!(key_of(file, &config).unwrap().expose(), "k-file");
        assert_eq!(
            expand(Path::new("/abs/k"), &config),
            PathBuf::from("/abs/k")
        );
    }
}
