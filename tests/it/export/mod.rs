//! `export` end to end: the binary against a seeded sandbox, the file compared with the
//! sandbox's own contacts; filters, concurrent writers, kills, incremental runs, round trip.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use wolfeo_bulk::api::{self, Contact};
use wolfeo_bulk::sandbox::{Config, SandboxHandle};

use crate::harness::{Env, bin, read_csv, sandbox, std_bin, unlimited};

mod files;
mod liars;
mod shifts;
mod tagged;

const COLUMNS: [&str; 7] = [
    "id",
    "email",
    "first_name",
    "last_name",
    "email_marketing",
    "gdpr",
    "created_at",
];

fn seeded(contacts: u64, tags: u64) -> SandboxHandle {
    sandbox(Config {
        seed_contacts: contacts,
        seed_tags: tags,
        ..unlimited()
    })
}

fn summary(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(rows: &[Vec<String>]) -> Vec<u64> {
    rows.iter().map(|r| r[0].parse().unwrap()).collect()
}

fn flag(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

/// The line export must write for `c`, tag ids joined with `,`.
fn expected_row(c: &Contact) -> Vec<String> {
    let mut tags = c.tags.clone().unwrap_or_default();
    tags.sort_unstable();
    vec![
        c.id.to_string(),
        c.email.clone(),
        c.first_name.clone().unwrap_or_default(),
        c.last_name.clone().unwrap_or_default(),
        flag(c.email_marketing),
        flag(c.gdpr),
        c.created_at.clone().unwrap_or_default(),
        tags.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    ]
}

#[test]
fn full_export_equals_the_sandbox_contacts_exactly() {
    let env = Env::new();
    let sb = seeded(2500, 5);
    let out = env.path("all.csv");
    let json = env.path("summary.json");
    bin(&sb)
        .args(["export", "--rate", "unlimited", "--with-tags", "ids", "-o"])
        .arg(&out)
        .arg("--summary-json")
        .arg(&json)
        .assert()
        .code(0);
    let (header, rows) = read_csv(&out);
    let mut want_header: Vec<&str> = COLUMNS.to_vec();
    want_header.push("tag_ids");
    assert_eq!(header, want_header);
    let want: Vec<Vec<String>> = sb.contacts().iter().map(expected_row).collect();
    assert_eq!(rows.len(), 2500);
    assert_eq!(
        rows, want,
        "same contacts, same order (newest first), same cells"
    );

    // 25 contact pages, page 1 again (the head check: nothing changed during the walk),
    // 1 tag page and the tags-contacts pages (~400 members per tag, so 5 pages each).
    let s = summary(&json);
    let requests = s["requests"].as_u64().unwrap();
    let tag_requests = s["tag_requests"].as_u64().unwrap();
    assert_eq!(s["schema"], "wolfeo-bulk/summary/v1");
    assert_eq!(
        (&s["command"], &s["status"]),
        (&"export".into(), &"completed".into())
    );
    assert!(s["started_at"].as_str().unwrap() <= s["ended_at"].as_str().unwrap());
    assert_eq!(s["pages"], 26);
    assert_eq!(s["complete"], true);
    assert_eq!(
        requests - tag_requests,
        26,
        "contact pages cost one request each"
    );
    let memberships: usize = sb
        .contacts()
        .iter()
        .map(|c| c.tags.as_ref().map_or(0, Vec::len))
        .sum();
    assert!(
        tag_requests <= 1 + 5 + (memberships as u64).div_ceil(100),
        "tag requests {tag_requests} for {memberships} memberships"
    );
    assert_eq!(sb.stats().requests_total, requests);
    eprintln!(
        "full export of 2500 contacts + 5 tags: {requests} requests ({tag_requests} for tags)"
    );

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("all.csv.manifest.json")).unwrap())
            .unwrap();
    let bytes = std::fs::read(&out).unwrap();
    use sha2::Digest;
    assert_eq!(manifest["rows"], 2500);
    assert_eq!(manifest["api_total"], 2500);
    assert_eq!(
        manifest["sha256"],
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    assert_eq!(manifest["filters"]["period"], "all");
    assert!(manifest["started_at"].is_string() && manifest["finished_at"].is_string());
    #[cfg(unix)]
    for p in [&out, &env.path("all.csv.manifest.json"), &json] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", p.display());
    }
}

#[test]
fn period_and_range_select_the_right_contacts() {
    let env = Env::new();
    let sb = seeded(2500, 0);
    let all = sb.contacts();
    let created = |c: &Contact| api::parse_time(c.created_at.as_deref().unwrap()).unwrap();

    // A closed range of whole days (UTC), both ends included.
    let from = (Utc::now() - chrono::Duration::days(40)).date_naive();
    let to = (Utc::now() - chrono::Duration::days(31)).date_naive();
    let out = env.path("range.csv");
    bin(&sb)
        .args(["export", "--rate", "unlimited", "--range"])
        .arg(format!("{from}..{to}"))
        .arg("-o")
        .arg(&out)
        .assert()
        .code(0);
    let got: BTreeSet<u64> = ids(&read_csv(&out).1).into_iter().collect();
    let in_range = |d: NaiveDate| d >= from && d <= to;
    let want: BTreeSet<u64> = all
        .iter()
        .filter(|c| in_range(created(c).date_naive()))
        .map(|c| c.id)
        .collect();
    assert!(!want.is_empty() && want.len() < all.len());
    assert_eq!(got, want);

    // last7days: compare away from the moving boundary.
    let out = env.path("week.csv");
    bin(&sb)
        .args([
            "export",
            "--rate",
            "unlimited",
            "--period",
            "last7days",
            "-o",
        ])
        .arg(&out)
        .assert()
        .code(0);
    let got: HashSet<u64> = ids(&read_csv(&out).1).into_iter().collect();
    let boundary = Utc::now() - chrono::Duration::days(7);
    let margin = chrono::Duration::minutes(5);
    for c in &all {
        let t = created(c);
        if t > boundary + margin {
            assert!(got.contains(&c.id), "{} is within 7 days", c.id);
        } else if t < boundary - margin {
            assert!(!got.contains(&c.id), "{} is older than 7 days", c.id);
        }
    }
    assert!(!got.is_empty() && got.len() < all.len());

    // A reversed range is refused before any request.
    let before = sb.stats().requests_total;
    bin(&sb)
        .args(["export", "--range", "2023-06-29..2023-06-01", "-o"])
        .arg(env.path("never.csv"))
        .assert()
        .code(2);
    assert_eq!(sb.stats().requests_total, before);
    assert!(!env.path("never.csv").exists());
}

#[test]
fn a_concurrent_writer_causes_no_duplicate_ids_and_loses_no_old_contact() {
    let env = Env::new();
    let sb = sandbox(Config {
        seed_contacts: 2500,
        latency: Some((Duration::from_millis(20), Duration::from_millis(40))),
        ..unlimited()
    });
    let seeded: Vec<u64> = sb.contacts().iter().map(|c| c.id).collect();
    let out = env.path("moving.csv");
    let json = env.path("summary.json");
    let mut child = std_bin(&sb)
        .args([
            "export",
            "-q",
            "--rate",
            "unlimited",
            "--concurrency",
            "3",
            "-o",
        ])
        .arg(&out)
        .arg("--summary-json")
        .arg(&json)
        .spawn()
        .unwrap();
    // New contacts land on page 1 and push older ones onto later pages during the walk.
    let started = Instant::now();
    let mut added = 0;
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(20) {
        sb.insert_contact(&format!("writer{added}@example.com"));
        added += 1;
        std::thread::sleep(Duration::from_millis(3));
    }
    assert!(child.wait().unwrap().success());
    assert!(added > 10, "the writer ran during the export ({added})");
    let exported = ids(&read_csv(&out).1);
    let unique: HashSet<u64> = exported.iter().copied().collect();
    assert_eq!(unique.len(), exported.len(), "no id written twice");
    for id in &seeded {
        assert!(unique.contains(id), "seeded contact {id} missing");
    }
    let s = summary(&json);
    assert!(s["duplicates_skipped"].as_u64().unwrap() > 0, "{s}");
    eprintln!(
        "concurrent writer: {added} added, {} rows, {} duplicates skipped, difference: {}",
        exported.len(),
        s["duplicates_skipped"],
        s["difference"]
    );
}

fn slow_export(sb: &SandboxHandle, out: &Path) -> std::process::Child {
    std_bin(sb)
        .args(["export", "-q", "--rate", "20/s", "-o"])
        .arg(out)
        .arg("--summary-json")
        .arg(out.with_extension("summary.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The export is writing (its signal handlers are in place) once its temporary file exists.
fn wait_for_temporary(dir: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while temporaries(dir).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the export never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-"))
        .collect()
}

#[cfg(unix)]
#[test]
fn killing_an_export_leaves_no_file_at_the_target() {
    let env = Env::new();
    let sb = sandbox(Config {
        seed_contacts: 2500,
        latency: Some((Duration::from_millis(30), Duration::from_millis(60))),
        ..unlimited()
    });
    let out = env.path("killed.csv");

    // SIGTERM: clean stop, exit 130, no target, no temporary.
    let mut child = slow_export(&sb, &out);
    wait_for_temporary(env.dir.path());
    let kill = |signal: &str, pid: u32| {
        std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap()
    };
    kill("-TERM", child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(!out.exists());
    assert!(temporaries(env.dir.path()).is_empty());
    assert!(!env.path("killed.csv.manifest.json").exists());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("killed.summary.json")).unwrap()).unwrap();
    assert_eq!(summary["status"], "interrupted");
    assert_eq!(summary["command"], "export");
    assert_eq!(summary["exit_code"], 130);
    assert_eq!(summary["rows"], 0);
    std::fs::remove_file(env.path("killed.summary.json")).unwrap();

    // SIGKILL: no target; the clearly named temporary is removed by the next run.
    let mut child = slow_export(&sb, &out);
    wait_for_temporary(env.dir.path());
    kill("-KILL", child.id());
    child.wait().unwrap();
    assert!(!out.exists());
    for name in temporaries(env.dir.path()) {
        assert!(
            name.starts_with(".killed.csv.partial-") && name.ends_with(".tmp"),
            "{name}"
        );
    }
    bin(&sb)
        .args(["export", "--rate", "unlimited", "-o"])
        .arg(&out)
        .assert()
        .code(0);
    assert_eq!(read_csv(&out).1.len(), 2500);
    assert!(
        temporaries(env.dir.path()).is_empty(),
        "stale temporary cleaned"
    );
}

#[test]
fn an_incremental_run_exports_exactly_the_new_contacts_in_at_most_two_requests() {
    let env = Env::new();
    let sb = seeded(2500, 0);
    let state = env.path("state.json");
    let run = |name: &str| {
        let out = env.path(name);
        let json = env.path(&format!("{name}.json"));
        bin(&sb)
            .args(["export", "--rate", "unlimited", "--state"])
            .arg(&state)
            .arg("-o")
            .arg(&out)
            .arg("--summary-json")
            .arg(&json)
            .assert()
            .code(0);
        (read_csv(&out).1, summary(&json))
    };
    let (first, _) = run("first.csv");
    assert_eq!(first.len(), 2500, "no state yet: everything");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        saved["newest_created_at"],
        sb.contacts()[0].created_at.clone().unwrap()
    );

    let new: BTreeSet<u64> = (0..30)
        .map(|i| sb.insert_contact(&format!("new{i}@example.com")))
        .collect();
    let (second, s) = run("second.csv");
    assert_eq!(ids(&second).into_iter().collect::<BTreeSet<_>>(), new);
    assert_eq!(second.len(), 30);
    let requests = s["requests"].as_u64().unwrap();
    assert!(requests <= 2, "incremental paging took {requests} requests");
    eprintln!("incremental run after 30 new contacts: {requests} request(s)");

    let (third, s) = run("third.csv");
    assert!(third.is_empty(), "nothing new");
    assert_eq!(s["requests"], 1);

    // The state belongs to its filter.
    bin(&sb)
        .args(["export", "--period", "today", "--state"])
        .arg(&state)
        .arg("-o")
        .arg(env.path("other.csv"))
        .assert()
        .code(2);
}

#[test]
fn export_then_import_recreates_contacts_and_tags_by_name() {
    let env = Env::new();
    let source = seeded(2500, 5);
    let out = env.path("migrate.csv");
    bin(&source)
        .args([
            "export",
            "--rate",
            "unlimited",
            "--with-tags",
            "names",
            "-o",
        ])
        .arg(&out)
        .assert()
        .code(0);
    let target = sandbox(unlimited());
    bin(&target)
        .args(["import", "--rate", "unlimited", "--create-missing-tags"])
        .arg(&out)
        .args(["--results"])
        .arg(env.path("migrate.results.csv"))
        .assert()
        .code(0);

    type Key = (
        String,
        Option<String>,
        Option<String>,
        bool,
        bool,
        BTreeSet<String>,
    );
    let by_email = |sb: &SandboxHandle| -> HashMap<String, Key> {
        let names: HashMap<u64, String> = sb.tags().into_iter().map(|t| (t.id, t.name)).collect();
        sb.contacts()
            .into_iter()
            .map(|c| {
                let tags = c
                    .tags
                    .unwrap_or_default()
                    .iter()
                    .map(|id| names[id].clone())
                    .collect();
                (
                    c.email.to_lowercase(),
                    (
                        c.email,
                        c.first_name,
                        c.last_name,
                        c.email_marketing,
                        c.gdpr,
                        tags,
                    ),
                )
            })
            .collect()
    };
    let before = by_email(&source);
    let after = by_email(&target);
    assert_eq!(after.len(), 2500);
    assert_eq!(after, before);
}

#[test]
fn stdout_export_and_a_refused_key() {
    let env = Env::new();
    let sb = seeded(150, 0);
    let assert = bin(&sb)
        .current_dir(env.dir.path())
        .args(["export", "-q", "--rate", "unlimited", "-o", "-"])
        .assert()
        .code(0);
    let text = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 151);
    assert!(text.starts_with("id,email,first_name,last_name,email_marketing,gdpr,created_at\n"));
    assert_eq!(
        std::fs::read_dir(env.dir.path()).unwrap().count(),
        0,
        "no manifest for stdout"
    );

    let out = env.path("refused.csv");
    let assert = bin(&sb)
        .env("WOLFEO_API_KEY", "not-the-key-s3cret")
        .args(["export", "-o"])
        .arg(&out)
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("WOLFEO_API_KEY"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(!out.exists());
    assert!(temporaries(env.dir.path()).is_empty());
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_pipe_exits_zero() {
    let sb = seeded(2500, 0);
    let child = std_bin(&sb)
        .args(["export", "-q", "--rate", "unlimited", "-o", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = crate::harness::read_then_hang_up(child);
    assert_eq!(out.status.code(), Some(0));
}
