//! What an export writes and where: dated delta files that never overwrite each other, state
//! files tied to their account, FIFOs, symbolic links, devices, directories and collisions
//! (issue 11.1 and 11.6 for export).

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use predicates::prelude::*;

use super::{ids, seeded};
use crate::harness::{Env, bin, read_csv};

/// Every `contacts-*.csv` in `dir`, sorted (the timestamp sorts them by time).
fn deltas(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("contacts-") && n.ends_with(".csv"))
        .collect();
    names.sort();
    names
}

/// Cron's habit: the next run starts in another second.
fn next_second() {
    let ms = chrono::Utc::now().timestamp_subsec_millis();
    std::thread::sleep(Duration::from_millis(1005 - u64::from(ms)));
}

#[test]
fn three_incremental_runs_keep_three_files_whose_union_is_the_account() {
    let env = Env::new();
    let sb = seeded(150, 0);
    let run = || {
        bin(&sb)
            .current_dir(env.dir.path())
            .args(["export", "-q", "--rate", "unlimited", "--state", "s.json"])
            .assert()
            .code(0);
    };
    run();
    for batch in 0..2 {
        for i in 0..7 {
            sb.insert_contact(&format!("night{batch}-{i}@example.com"));
        }
        next_second();
        run();
    }
    let files = deltas(env.dir.path());
    assert_eq!(files.len(), 3, "{files:?}");
    let sizes: Vec<usize> = files
        .iter()
        .map(|f| read_csv(&env.path(f)).1.len())
        .collect();
    assert_eq!(sizes, [150, 7, 7]);
    let mut union = BTreeSet::new();
    for f in &files {
        for id in ids(&read_csv(&env.path(f)).1) {
            assert!(union.insert(id), "{id} in two deltas");
        }
    }
    let account: BTreeSet<u64> = sb.contacts().iter().map(|c| c.id).collect();
    assert_eq!(union, account);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("s.json")).unwrap()).unwrap();
    assert_eq!(state["outputs"].as_array().unwrap().len(), 3);
    let text = std::fs::read_to_string(env.path("s.json")).unwrap();
    assert!(!text.contains(sb.api_key()), "no key in the state file");

    // A rerun into a file an earlier run wrote would lose its delta: refused, or --force.
    let first = env.path(&files[0]);
    let before = std::fs::read(&first).unwrap();
    bin(&sb)
        .current_dir(env.dir.path())
        .args(["export", "--rate", "unlimited", "--state", "s.json", "-o"])
        .arg(&first)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force"));
    assert_eq!(std::fs::read(&first).unwrap(), before);
    bin(&sb)
        .current_dir(env.dir.path())
        .args([
            "export",
            "-q",
            "--rate",
            "unlimited",
            "--state",
            "s.json",
            "--force",
        ])
        .arg("-o")
        .arg(&first)
        .assert()
        .code(0);
    assert!(
        read_csv(&first).1.is_empty(),
        "nothing new since the last run"
    );
}

#[test]
fn a_state_file_of_account_a_is_refused_against_account_b() {
    let env = Env::new();
    let a = seeded(120, 0);
    let b = seeded(80, 0);
    let state = env.path("a.state.json");
    bin(&a)
        .args(["export", "-q", "--rate", "unlimited", "--state"])
        .arg(&state)
        .arg("-o")
        .arg(env.path("a-{timestamp}.csv"))
        .assert()
        .code(0);
    let before = std::fs::read(&state).unwrap();
    bin(&b)
        .args(["export", "--rate", "unlimited", "--state"])
        .arg(&state)
        .arg("-o")
        .arg(env.path("b.csv"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("another account"));
    assert_eq!(b.stats().requests_total, 0, "refused before any request");
    assert!(!env.path("b.csv").exists());
    assert_eq!(std::fs::read(&state).unwrap(), before);
}

#[test]
fn an_output_colliding_with_the_manifest_or_state_is_refused_naming_both() {
    let env = Env::new();
    let sb = seeded(10, 0);
    let e = env.write("e.csv", "keep me\n");
    for (flag, both) in [
        ("--manifest", "--output and --manifest"),
        ("--state", "--output and --state"),
        ("--summary-json", "--output and --summary-json"),
    ] {
        bin(&sb)
            .current_dir(env.dir.path())
            .args(["export", "-o", "e.csv", flag, "./e.csv"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(both));
    }
    std::fs::create_dir(env.path("dir")).unwrap();
    bin(&sb)
        .args(["export", "-o"])
        .arg(env.path("dir"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("directory"));
    assert_eq!(std::fs::read_to_string(&e).unwrap(), "keep me\n");
    assert_eq!(sb.stats().requests_total, 0);
}

#[test]
fn a_fifo_gets_every_row_and_no_manifest() {
    let env = Env::new();
    let sb = seeded(250, 0);
    let fifo = env.path("pipe.csv");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    bin(&sb)
        .args(["export", "-q", "--rate", "unlimited", "-o"])
        .arg(&fifo)
        .assert()
        .code(0);
    let text = reader.join().unwrap();
    assert_eq!(text.lines().count(), 251, "header and every row");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(!env.path("pipe.csv.manifest.json").exists());
    assert_eq!(std::fs::read_dir(env.dir.path()).unwrap().count(), 1);
}

#[test]
fn a_symlink_target_is_replaced_and_a_device_written_through() {
    let env = Env::new();
    let sb = seeded(30, 0);
    let real = env.write("real.csv", "old\n");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = env.path("link.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    bin(&sb)
        .args(["export", "-q", "--rate", "unlimited", "-o"])
        .arg(&link)
        .assert()
        .code(0);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        read_csv(&real).1.len(),
        30,
        "the link's target holds the export"
    );
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(env.path("link.csv.manifest.json").exists());

    bin(&sb)
        .args(["export", "-q", "--rate", "unlimited", "-o", "/dev/null"])
        .assert()
        .code(0);
    let null = std::fs::symlink_metadata("/dev/null").unwrap();
    assert!(
        null.file_type().is_char_device(),
        "/dev/null is still a device"
    );
    assert!(!Path::new("/dev/null.manifest.json").exists());

    // A dangling link would create a file nobody named: refused.
    let dangling = env.path("dangling.csv");
    std::os::unix::fs::symlink(env.path("nowhere/x.csv"), &dangling).unwrap();
    bin(&sb)
        .args(["export", "-o"])
        .arg(&dangling)
        .assert()
        .code(2);
}

#[test]
fn the_delimiter_is_the_one_asked_for() {
    let env = Env::new();
    let sb = seeded(5, 0);
    let out = env.path("semi.csv");
    bin(&sb)
        .args(["export", "-q", "--rate", "unlimited", "-d", ";", "-o"])
        .arg(&out)
        .assert()
        .code(0);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("id;email;first_name;last_name;email_marketing;gdpr;created_at\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 6);
}
