//! The run engine: typed fatal errors and their exit codes, a collector that never drops work,
//! stopping when asked, the preflight request. Each test drives the real binary.

use std::process::Stdio;
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::harness::{Env, bin, results, sandbox, std_bin, unlimited, wait_for_lines};

/// Invalid UTF-8 in row 3 of standard input, after rows 1-2 went out: the rows that were sent
/// keep their results lines, the contacts the sandbox stored match them, and the exit code
/// never says "nothing was sent" (it was 2, with no results lines, before).
#[test]
fn an_unreadable_row_mid_stream_keeps_what_was_sent() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let out = bin(&sb)
        .current_dir(env.dir.path())
        .args(["import", "-", "--rate", "unlimited"])
        .write_stdin(b"email\na@x.co\nb@x.co\n\xff@x.co\n".to_vec())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stored = sb.stats().contacts_total;
    let rows = results(&env.path("stdin.results.csv"));
    let created: Vec<_> = rows.iter().filter(|r| r["_outcome"] == "created").collect();
    assert_eq!(
        created.len() as u64,
        stored,
        "results match the server: {rows:?}"
    );
    assert!(
        stored > 0,
        "rows 1-2 are sent before row 3 is read: {stderr}"
    );
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(rows.len(), 2, "one line per row read: {rows:?}");
    assert!(stderr.contains("record 3"), "{stderr}");
    assert!(
        stderr.contains("is read once, as it arrives, and cannot be resumed"),
        "{stderr}"
    );
    let journal = std::fs::read_to_string(env.path("stdin.results.csv.journal")).unwrap();
    assert_eq!(
        journal.matches("\"created\"").count() as u64,
        stored,
        "{journal}"
    );
}

#[test]
fn each_command_lists_its_own_exit_codes() {
    let sb = sandbox(unlimited());
    bin(&sb)
        .args(["export", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no file at the target"))
        .stdout(predicate::str::contains("4 ").and(predicate::str::contains("unavailable")))
        .stdout(predicate::str::contains("--resume").not())
        .stdout(predicate::str::contains("results file").not());
    bin(&sb)
        .args(["import", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("rerun with --resume"))
        .stdout(predicate::str::contains("unavailable"));
}

fn rows(n: usize) -> String {
    let mut text = String::from("email\n");
    for i in 0..n {
        text.push_str(&format!("stop{i}@example.com\n"));
    }
    text
}

/// Signals a 3,000-row import at 10/s once it is under way; returns the run's output and how
/// long it took to exit after the signal.
fn signal_mid_run(signal: &str) -> (std::process::Output, Duration, Env) {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let path = env.write("big.csv", &rows(3_000));
    let child = std_bin(&sb)
        .args(["import", path.to_str().unwrap(), "--rate", "10/s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Under way: some outcomes journaled (about 2 s at 10/s), thousands of rows queued.
    wait_for_lines(&env.path("big.results.csv.journal"), 20);
    std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let signalled = Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = signalled.elapsed();
    drop(sb);
    (out, took, env)
}

/// Ctrl-C and SIGTERM: queued rows become not_attempted at once instead of draining through
/// the pacer (27 s for 300 rows before), every row has a line, the resume command is printed.
#[test]
fn sigint_and_sigterm_stop_at_once_with_every_row_accounted_for() {
    for signal in ["-INT", "-TERM"] {
        let (out, took, env) = signal_mid_run(signal);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{signal}: {stderr}");
        // The grace for requests in flight (10 s) plus 2 s; in practice well under a second.
        assert!(took < Duration::from_secs(12), "{signal}: {took:?}");
        eprintln!("{signal}: exited {took:?} after the signal");
        let rows = results(&env.path("big.results.csv"));
        assert_eq!(rows.len(), 3_000, "{signal}");
        assert!(rows.iter().any(|r| r["_outcome"] == "not_attempted"));
        assert!(stderr.contains("--resume"), "{signal}: {stderr}");
    }
}

/// A wrong key: one request (the preflight), exit 3 at once, whatever the file's size.
#[test]
fn a_wrong_key_stops_after_one_request() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let path = env.write("big.csv", &rows(3_000));
    let started = Instant::now();
    let out = bin(&sb)
        .env("WOLFEO_API_KEY", "wrong-key")
        .args(["import", path.to_str().unwrap(), "--rate", "10/s"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(sb.stats().requests_total, 1, "{stderr}");
    assert!(stderr.contains("WOLFEO_API_KEY"), "{stderr}");
    assert!(
        !stderr.contains("wrong-key"),
        "the key is never printed: {stderr}"
    );
}

/// A base URL without `/v1`: one request, exit 2, with the fix and the setting's source.
#[test]
fn a_url_that_is_not_the_v1_api_stops_after_one_request() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let path = env.write("in.csv", &rows(50));
    let bare = sb.base_url().trim_end_matches("/v1").to_string();
    let out = bin(&sb)
        .env("WOLFEO_BASE_URL", &bare)
        .args(["import", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(sb.stats().requests_total, 1, "{stderr}");
    assert!(
        stderr.contains("does not look like the Wolfeo v1 API"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("did you mean {bare}/v1?")),
        "{stderr}"
    );
    assert!(stderr.contains("WOLFEO_BASE_URL"), "{stderr}");
    // Given as a flag, the message names the flag.
    let out = bin(&sb)
        .args(["import", path.to_str().unwrap(), "--base-url", &bare])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("from --base-url"), "{stderr}");
}

/// Export and verify skip the preflight (a cron export costs one or two requests), but a first
/// request that fails is explained as the preflight would: the setting's source and the fix, never the key.
#[test]
fn export_and_verify_explain_a_wrong_url_or_key_like_import() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let out_csv = env.path("out.csv");
    let v2 = sb.base_url().replace("/v1", "/v2");
    let out = bin(&sb)
        .env("WOLFEO_BASE_URL", &v2)
        .args(["export", "-o", out_csv.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("does not look like the Wolfeo v1 API"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("did you mean {}?", sb.base_url())),
        "{stderr}"
    );
    assert!(stderr.contains("WOLFEO_BASE_URL"), "{stderr}");

    let out = bin(&sb)
        .env("WOLFEO_API_KEY", "wrong-key")
        .args(["export", "-o", out_csv.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("refused the key"), "{stderr}");
    assert!(stderr.contains("WOLFEO_API_KEY"), "{stderr}");
    assert!(!stderr.contains("wrong-key"), "{stderr}");
    assert!(!out_csv.exists());
    let input = env.write("in.csv", &rows(5));
    let out = bin(&sb)
        .env("WOLFEO_API_KEY", "wrong-key")
        .args(["verify", input.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("refused the key"), "{stderr}");
    assert!(stderr.contains("WOLFEO_API_KEY"), "{stderr}");
    // A working URL and key: page 1 only, no diagnosis request.
    let before = sb.stats().requests_total;
    bin(&sb)
        .args(["export", "-o", out_csv.to_str().unwrap()])
        .assert()
        .code(0);
    assert_eq!(sb.stats().requests_total - before, 1);
}

/// Nothing listening: the unavailable exit (4) with the host named, after the preflight's
/// bounded retries (3 attempts, under 2 s of back-off), not one failure per row.
#[test]
fn nothing_listening_is_unavailable_and_fast() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = env.write("in.csv", &rows(50));
    let dead = format!("http://127.0.0.1:{port}/v1");
    let started = Instant::now();
    let out = bin(&sb)
        .env("WOLFEO_BASE_URL", &dead)
        .args(["import", path.to_str().unwrap()])
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
    assert!(stderr.contains("after 3 attempts"), "{stderr}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    eprintln!("import: unavailable after {took:?}");
    // Export's first page is its check, with the user's retries (it exited 2 before).
    let out = bin(&sb)
        .env("WOLFEO_BASE_URL", &dead)
        .args([
            "export",
            "-o",
            "-",
            "--max-retries",
            "1",
            "--retry-base",
            "10ms",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        !env.path("in.results.csv").exists() || results(&env.path("in.results.csv")).is_empty()
    );
}
