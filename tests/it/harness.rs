//! Shared test harness: a temp dir, the built binary, and sandboxes on 127.0.0.1:0.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wolfeo_bulk::sandbox::{self, Config, SandboxHandle};

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write fixture");
        p
    }
}

/// A sandbox with no rate limit unless the test sets one.
pub fn sandbox(config: Config) -> SandboxHandle {
    sandbox::spawn(config).expect("sandbox starts")
}

pub fn unlimited() -> Config {
    Config {
        rate_limit: None,
        ..Config::default()
    }
}

/// The binary, pointed at `sb`, with a clean environment for the key. Its rate budget is
/// private: a test's 429 pause must not reach a later test whose sandbox reuses the port
/// (`tests/it/budget.rs` shares budgets on purpose, in a directory of its own).
pub fn bin(sb: &SandboxHandle) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("wolfeo-bulk").expect("binary built");
    cmd.env("WOLFEO_BASE_URL", sb.base_url())
        .env("WOLFEO_API_KEY", sb.api_key())
        .env("WOLFEO_BUDGET", "private")
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(120));
    cmd
}

/// Same as [`bin`], as a std command for tests that signal the process.
pub fn std_bin(sb: &SandboxHandle) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("wolfeo-bulk"));
    cmd.env("WOLFEO_BASE_URL", sb.base_url())
        .env("WOLFEO_API_KEY", sb.api_key())
        .env("WOLFEO_BUDGET", "private");
    cmd
}

/// Reads a CSV file into header + rows of strings.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    (headers, rows)
}

/// Results rows as maps from column name to value.
pub fn results(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let (headers, rows) = read_csv(path);
    rows.into_iter()
        .map(|r| headers.iter().cloned().zip(r).collect())
        .collect()
}

/// `... | head -c 64`: reads the first bytes of a spawned run's piped stdout, closes the pipe,
/// and waits (at most 60 s: a run that never notices must fail the test, not hang it).
pub fn read_then_hang_up(mut child: std::process::Child) -> std::process::Output {
    use std::io::Read;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("the run did not stop after its stdout reader went away");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Sends SIGTERM to a spawned run, as `kill PID` or a service manager would.
pub fn terminate(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM {}", child.id());
}

/// Waits (at most 30 s) until `path` holds at least `lines` lines: a spawned run got that far.
pub fn wait_for_lines(path: &Path, lines: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let n = std::fs::read_to_string(path).map_or(0, |t| t.lines().count());
        if n >= lines {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never reached {lines} lines", path.display());
}
