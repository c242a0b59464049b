//! Import under faults: 5xx, dropped connections, 429s, kill -9, SIGTERM, resume.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use predicates::prelude::*;
use rand::{Rng, SeedableRng};
use wolfeo_bulk::sandbox::Config;

use crate::harness::{Env, bin, results, sandbox, std_bin, unlimited};

/// `n` rows: every 40th has an invalid email, every 45th repeats an earlier email.
fn input(n: usize) -> (String, usize) {
    let mut text = String::from("email,first_name\n");
    let mut valid = HashSet::new();
    for i in 0..n {
        let email = if i % 40 == 39 {
            format!("broken{i}")
        } else if i % 45 == 44 {
            format!("user{}@example.com", i - 10)
        } else {
            format!("user{i}@example.com")
        };
        if !email.starts_with("broken") {
            valid.insert(email.clone());
        }
        text.push_str(&format!("{email},User {i}\n"));
    }
    (text, valid.len())
}

#[test]
fn chaos_every_valid_row_is_created_exactly_once() {
    let env = Env::new();
    let sb = sandbox(Config {
        rate_limit: Some("100/1s".parse().unwrap()),
        fail_rate: 0.1,
        drop_rate: 0.05,
        latency: Some((Duration::from_millis(5), Duration::from_millis(50))),
        seed: 42,
        ..Config::default()
    });
    let (text, distinct_valid) = input(500);
    let path = env.write("chaos.csv", &text);
    let assert = bin(&sb)
        .args(["import", path.to_str().unwrap(), "--rate", "unlimited"])
        .args([
            "--retry-base",
            "20ms",
            "--max-retries",
            "8",
            "--timeout",
            "5s",
        ])
        .assert();
    // Invalid rows exist in the data, so 1 is the right exit code; never 2, 3 or 130.
    assert.code(1);
    let stats = sb.stats();
    assert_eq!(stats.contacts_total as usize, distinct_valid);
    assert!(stats.dropped_total > 0, "faults were injected");
    assert!(stats.throttled_total > 0, "the small window forced 429s");

    let rows = results(&env.path("chaos.results.csv"));
    assert_eq!(rows.len(), 500);
    let mut ids = HashSet::new();
    let mut retried = 0;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["_row"], (i + 1).to_string());
        assert_ne!(r["_outcome"], "failed", "row {}: {:?}", i + 1, r);
        if r["_outcome"] == "created" {
            assert!(ids.insert(r["_contact_id"].clone()), "id reported twice");
        }
        if r["_attempts"].parse::<u32>().unwrap_or(0) > 1 {
            retried += 1;
        }
    }
    assert_eq!(
        ids.len(),
        distinct_valid,
        "every valid row created, none twice"
    );
    assert!(retried > 0, "_attempts shows the retries");
}

fn outcomes(path: &std::path::Path) -> Vec<(String, String)> {
    results(path)
        .into_iter()
        .map(|r| (r["email"].clone(), r["_outcome"].clone()))
        .collect()
}

#[test]
fn kill_9_and_resume_gives_the_uninterrupted_outcomes() {
    let (text, distinct_valid) = input(160);
    let latency = Some((Duration::from_millis(5), Duration::from_millis(30)));

    // Reference: one uninterrupted run.
    let reference_env = Env::new();
    let reference_sb = sandbox(Config {
        latency,
        ..unlimited()
    });
    reference_sb.insert_contact("user3@example.com");
    let reference_input = reference_env.write("in.csv", &text);
    bin(&reference_sb)
        .args([
            "import",
            reference_input.to_str().unwrap(),
            "--rate",
            "200/s",
        ])
        .assert()
        .code(1);
    let expected = outcomes(&reference_env.path("in.results.csv"));

    let env = Env::new();
    let sb = sandbox(Config {
        latency,
        ..unlimited()
    });
    sb.insert_contact("user3@example.com");
    // Pre-existing means created before the run started, provably on the server's clock:
    // further back than its Date headers' second of uncertainty plus the tolerance. Closer
    // than that, a row in flight at a kill would be `created` with a "probably" note.
    std::thread::sleep(Duration::from_millis(1500));
    let path = env.write("in.csv", &text);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut resume = false;
    for _ in 0..4 {
        let mut cmd = std_bin(&sb);
        cmd.args(["import", path.to_str().unwrap(), "--rate", "200/s", "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if resume {
            cmd.arg("--resume");
        }
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(150..600)));
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        resume = true;
    }
    bin(&sb)
        .args([
            "import",
            path.to_str().unwrap(),
            "--rate",
            "200/s",
            "--resume",
        ])
        .assert()
        .code(1);
    let got = outcomes(&env.path("in.results.csv"));
    assert_eq!(got, expected, "same outcome for every row, in order");
    assert_eq!(sb.stats().contacts_total as usize, distinct_valid);
    let ids: Vec<String> = results(&env.path("in.results.csv"))
        .into_iter()
        .filter(|r| r["_outcome"] == "created")
        .map(|r| r["_contact_id"].clone())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len(), "no contact created twice");
}

#[test]
fn sigterm_stops_cleanly_and_resume_finishes_the_job() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let (text, distinct_valid) = input(120);
    let path = env.write("t.csv", &text);
    let child = std_bin(&sb)
        .args(["import", path.to_str().unwrap(), "--rate", "20/s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt mid-run: once some outcomes are on disk, with most rows still to go.
    crate::harness::wait_for_lines(&env.path("t.results.csv.journal"), 10);
    crate::harness::terminate(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let rows = results(&env.path("t.results.csv"));
    assert_eq!(rows.len(), 120, "every row has a line after an interrupt");
    assert!(rows.iter().any(|r| r["_outcome"] == "not_attempted"));

    // Without --resume the unfinished run is protected.
    bin(&sb)
        .args(["import", path.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--resume"));
    bin(&sb)
        .args([
            "import",
            path.to_str().unwrap(),
            "--resume",
            "--rate",
            "unlimited",
        ])
        .assert()
        .code(1);
    assert_eq!(sb.stats().contacts_total as usize, distinct_valid);
    let rows = results(&env.path("t.results.csv"));
    let by_outcome: HashMap<String, usize> = rows.iter().fold(HashMap::new(), |mut m, r| {
        *m.entry(r["_outcome"].clone()).or_default() += 1;
        m
    });
    assert_eq!(by_outcome.get("not_attempted"), None);
    assert_eq!(by_outcome["created"], distinct_valid);

    // A changed input after a finished run starts a new run; the finished one is kept.
    std::fs::write(&path, format!("{text}late@example.com,Late\n")).unwrap();
    bin(&sb)
        .args([
            "import",
            path.to_str().unwrap(),
            "--resume",
            "--rate",
            "unlimited",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("kept as"));
    assert_eq!(sb.stats().contacts_total as usize, distinct_valid + 1);
}
