//! The run journal through the real binary: kill -9 past 64 KiB, torn tails, the lock, the
//! rerun rules and the cron recipe of the README. Every test asserts what the sandbox stored.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use predicates::prelude::*;
use wolfeo_bulk::sandbox::{Config, SandboxHandle};

use crate::harness::{Env, bin, results, sandbox, std_bin, unlimited, wait_for_lines};

fn emails(from: usize, to: usize) -> String {
    let mut text = String::from("email,first_name\n");
    for i in from..to {
        text.push_str(&format!("user{i}@example.com,User {i}\n"));
    }
    text
}

/// Every stored contact once: no email twice.
fn assert_stored_once(sb: &SandboxHandle, expected: usize) {
    let contacts = sb.contacts();
    let distinct: HashSet<&str> = contacts.iter().map(|c| c.email.as_str()).collect();
    assert_eq!(
        distinct.len(),
        contacts.len(),
        "a contact was created twice"
    );
    assert_eq!(contacts.len(), expected);
}

fn spawn(sb: &SandboxHandle, args: &[&str]) -> Child {
    std_bin(sb)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for_size(path: &Path, bytes: u64, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(path).map_or(0, |m| m.len()) < bytes {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too soon"
        );
        assert!(Instant::now() < deadline, "{} stayed small", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn kill_9_past_64_kib_then_resume_creates_nothing_twice() {
    let env = Env::new();
    let sb = sandbox(Config {
        latency: Some((Duration::from_millis(2), Duration::from_millis(8))),
        ..unlimited()
    });
    let input = env.write("big.csv", &emails(0, 2500));
    let journal = env.path("big.results.csv.journal");
    let mut child = spawn(
        &sb,
        &["import", input.to_str().unwrap(), "--rate", "1000/s"],
    );
    wait_for_size(&journal, 70 * 1024, &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(sb.stats().contacts_total < 2500, "killed mid-run");
    bin(&sb)
        .args([
            "import",
            input.to_str().unwrap(),
            "--rate",
            "unlimited",
            "--resume",
        ])
        .assert()
        .success();
    let rows = results(&env.path("big.results.csv"));
    assert_eq!(rows.len(), 2500);
    assert!(
        rows.iter().all(|r| r["_outcome"] == "created"),
        "every row ours"
    );
    let ids: HashSet<&str> = rows.iter().map(|r| r["_contact_id"].as_str()).collect();
    assert_eq!(ids.len(), 2500);
    assert_stored_once(&sb, 2500);
}

/// An unfinished run (a 403 at the account's cap after 5 contacts), then a full disk's torn
/// tail: every later mode still reads the journal.
#[test]
fn a_torn_tail_then_resume_then_every_later_mode_works() {
    let env = Env::new();
    let capped = sandbox(Config {
        contact_cap: Some(5),
        ..unlimited()
    });
    let input = env.write("t.csv", &emails(0, 12));
    let file = input.to_str().unwrap();
    bin(&capped)
        .args(["import", file, "--rate", "unlimited", "--concurrency", "1"])
        .assert()
        .code(3);
    // The refused row carries the API's code in its own column, not only in the message.
    let refused = crate::harness::results(&env.path("t.results.csv"))
        .into_iter()
        .find(|r| r["_outcome"] == "failed")
        .unwrap();
    assert_eq!(
        (
            refused["_http_status"].as_str(),
            refused["_error_code"].as_str()
        ),
        ("403", "FORBIDDEN")
    );
    assert!(
        !refused["_message"].contains("FORBIDDEN"),
        "said once: {refused:?}"
    );
    let journal = env.path("t.results.csv.journal");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"t\":\"row\",\"row\":9,\"kind\":\"cre").unwrap();
    drop(f);

    // The rest goes to an account without the cap (same key, another sandbox).
    let sb = sandbox(unlimited());
    bin(&sb)
        .args(["import", file, "--rate", "unlimited", "--resume"])
        .assert()
        .success();
    assert_stored_once(&sb, 7);
    let requests = sb.stats().requests_total;
    bin(&sb)
        .args(["import", file, "--resume"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "resuming a finished run: its 12 rows are reported as recorded and not sent again",
        ));
    assert_eq!(
        sb.stats().requests_total,
        requests,
        "a finished run sends nothing"
    );
    bin(&sb)
        .args(["import", file, "--dry-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--results PATH"));
    bin(&sb)
        .args(["import", file, "--dry-run", "--results"])
        .arg(env.path("preview.csv"))
        .assert()
        .success();
    bin(&sb)
        .args(["import", file, "--rate", "unlimited", "--restart"])
        .assert()
        .success()
        .stderr(predicate::str::contains("kept as"));
    assert_stored_once(&sb, 12);
}

#[test]
fn deleting_the_journal_mid_run_does_not_let_a_second_import_in() {
    let env = Env::new();
    let sb = sandbox(Config {
        latency: Some((Duration::from_millis(200), Duration::from_millis(200))),
        ..unlimited()
    });
    let input = env.write("l.csv", &emails(0, 30));
    let mut first = spawn(
        &sb,
        &[
            "import",
            input.to_str().unwrap(),
            "--concurrency",
            "1",
            "-q",
        ],
    );
    let journal = env.path("l.results.csv.journal");
    wait_for_lines(&journal, 1);
    std::fs::remove_file(&journal).unwrap();
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--restart"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("another import"));
    first.kill().ok();
    first.wait().ok();
}

#[test]
fn a_run_killed_before_its_first_answer_is_not_forgotten() {
    let env = Env::new();
    let sb = sandbox(Config {
        latency: Some((Duration::from_secs(2), Duration::from_secs(2))),
        ..unlimited()
    });
    let input = env.write("k.csv", "email\na@example.com\nb@example.com\n");
    let file = input.to_str().unwrap();
    let mut child = spawn(&sb, &["import", file]);
    let journal = env.path("k.results.csv.journal");
    wait_for_lines(&journal, 1);
    child.kill().unwrap();
    child.wait().unwrap();
    bin(&sb).args(["import", file]).assert().code(2).stderr(
        predicate::str::contains("unfinished run").and(predicate::str::contains("--resume")),
    );
    let before = std::fs::read(&journal).unwrap();
    bin(&sb)
        .args(["import", file, "--resume", "--dry-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--dry-run"));
    bin(&sb)
        .args(["import", file, "--resume", "--encoding", "windows-1252"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--encoding differs"));
    bin(&sb)
        .args(["import", file, "--resume", "--delimiter", ";"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--delimiter differs"));
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        before,
        "refusals leave it alone"
    );
}

/// The README's cron recipe: the same command line every night.
#[test]
fn cron_recipe_first_night_interrupted_night_next_night() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.path("contacts.csv");
    let file = input.to_str().unwrap();
    let nightly = |rate: &str| {
        let mut cmd = std_bin(&sb);
        cmd.args(["-q", "import", file, "--resume", "--rate", rate]);
        cmd
    };

    // Night 1: no earlier run; --resume starts one.
    std::fs::write(&input, emails(0, 10)).unwrap();
    assert_eq!(nightly("unlimited").status().unwrap().code(), Some(0));
    assert_stored_once(&sb, 10);

    // Night 2: a new file, SIGTERM mid-run.
    std::fs::write(&input, emails(0, 60)).unwrap();
    let child = nightly("20/s").stderr(Stdio::null()).spawn().unwrap();
    wait_for_lines(&env.path("contacts.results.csv.journal"), 15);
    crate::harness::terminate(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let kept: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("contacts.results.") && n.ends_with("Z.csv"))
        .collect();
    assert_eq!(kept.len(), 1, "night 1's results are kept: {kept:?}");
    assert_eq!(results(&env.path(&kept[0])).len(), 10);

    // A file replaced while that run is unfinished is refused, and nothing is sent.
    let requests = sb.stats().requests_total;
    std::fs::write(&input, emails(0, 61)).unwrap();
    assert_eq!(nightly("unlimited").status().unwrap().code(), Some(2));
    assert_eq!(sb.stats().requests_total, requests);

    // Next night, with night 2's file: the same command finishes it.
    std::fs::write(&input, emails(0, 60)).unwrap();
    assert_eq!(nightly("unlimited").status().unwrap().code(), Some(0));
    assert_stored_once(&sb, 60);
    let rows = results(&env.path("contacts.results.csv"));
    assert_eq!(rows.len(), 60);
    assert!(rows[..10].iter().all(|r| r["_outcome"] == "exists"));
    assert!(rows[10..].iter().all(|r| r["_outcome"] == "created"));
}
