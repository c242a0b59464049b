//! Local validation checked against the real framework: Laravel 8.83's `Validator` with
//! egulias/EmailValidator 2.1.25 and 3.2.5 (Debian's packages; `tests/oracle/install.sh` puts
//! them in place and `.ci/run` calls it).
//!
//! The corpus (`tests/oracle/corpus.rs`, ~10,000 bodies) goes through `tests/oracle/harness.php`
//! once per egulias version, in one PHP process each. For every body the test compares:
//! - the client's pre-check (`validate::check_contact`) with each version: no false rejection
//!   (we refuse, the server accepts) and, where both refuse, the same `details`; false
//!   acceptances (the server refuses what we send) are counted and printed;
//! - the sandbox (`validate::server_check` with the matching `EmailRule`) with that version:
//!   the same verdict and the same messages, row for row.
//!
//! Without PHP the test prints a SKIPPED line and returns; with the environment variable `CI`
//! set it fails instead, so CI can never pass it silently.

#[path = "../oracle/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Map, Value};
use wolfeo_bulk::api::Details;
use wolfeo_bulk::validate::{self, EmailRule, Mode, Rejection};

/// Where `install.sh` unpacks egulias 2.1.25 (same default as the script).
fn egulias2_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("ORACLE_DIR") {
        return PathBuf::from(dir).join("egulias2");
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_default();
    cache.join("wolfeo-bulk-oracle").join("egulias2")
}

/// `None` (after printing why) when the oracle is missing on a developer's machine.
fn oracle_available() -> Option<PathBuf> {
    let php = Command::new("php").arg("-v").output();
    let root = egulias2_root();
    let missing = match php {
        Ok(out) if out.status.success() => {
            let e2 = root.join("usr/share/php/Egulias/EmailValidator/EmailValidator.php");
            (!e2.is_file()).then(|| format!("egulias 2.1.25 not found in {}", root.display()))
        }
        _ => Some("php not found".to_string()),
    };
    match missing {
        None => Some(root),
        Some(why) if std::env::var_os("CI").is_some() => {
            panic!("oracle missing in CI ({why}): run tests/oracle/install.sh")
        }
        Some(why) => {
            eprintln!("SKIPPED oracle::differential: {why}; run tests/oracle/install.sh");
            None
        }
    }
}

/// Laravel's `errors()->messages()` for every body, from one PHP process.
fn laravel(version: &str, root: &PathBuf, bodies: &[String]) -> Vec<Details> {
    let harness = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/harness.php");
    let mut child = Command::new("php")
        .arg(harness)
        .arg(version)
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("php starts");
    let mut input = bodies.join("\n");
    input.push('\n');
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("php runs");
    writer.join().expect("writer").expect("write corpus");
    assert!(out.status.success(), "harness {version} failed");
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let answers: Vec<Details> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("harness JSON");
            assert_eq!(v["egulias"], version, "harness loaded the wrong egulias");
            serde_json::from_value(v["errors"].clone()).expect("errors map")
        })
        .collect();
    assert_eq!(answers.len(), bodies.len(), "one answer per body");
    answers
}

/// What a judge said, in Laravel's terms: the field messages; a malformed list apart.
#[derive(Debug, PartialEq)]
enum Said {
    Accept,
    Fields(Details),
    List,
}

fn said(r: Result<(), Rejection>) -> Said {
    match r {
        Ok(()) => Said::Accept,
        Err(Rejection::Fields(d)) => Said::Fields(d),
        Err(Rejection::MalformedList { .. }) => Said::List,
    }
}

#[derive(Default)]
struct Tally {
    agree: usize,
    false_rejections: Vec<String>,
    false_acceptances: BTreeMap<&'static str, usize>,
    message_mismatches: Vec<String>,
    /// The API's own 400 for id lists is no Laravel rule; counted, not compared.
    list_rejections: usize,
}

fn show(body: &Map<String, Value>, ours: &Said, theirs: &Details) -> String {
    format!(
        "{}\n    ours:    {ours:?}\n    laravel: {theirs:?}",
        Value::Object(body.clone())
    )
}

#[test]
fn differential() {
    let Some(root) = oracle_available() else {
        return;
    };
    let cases = corpus::corpus();
    let bodies: Vec<String> = cases
        .iter()
        .map(|c| Value::Object(c.body.clone()).to_string())
        .collect();
    let mut failures = Vec::new();
    for (version, rule) in [("2", EmailRule::Egulias2), ("3", EmailRule::Egulias3)] {
        let answers = laravel(version, &root, &bodies);
        let (mut client, mut sandbox_wrong) = (Tally::default(), Vec::new());
        for (case, theirs) in cases.iter().zip(&answers) {
            let mut body = case.body.clone();
            validate::normalize(&mut body);
            let ours = said(validate::check_contact(&body, Mode::Create));
            match (&ours, theirs.is_empty()) {
                (Said::List, _) => client.list_rejections += 1,
                (Said::Accept, true) => client.agree += 1,
                (Said::Accept, false) => {
                    *client.false_acceptances.entry(case.family).or_default() += 1
                }
                (Said::Fields(_), true) => client
                    .false_rejections
                    .push(show(&case.body, &ours, theirs)),
                (Said::Fields(d), false) if d == theirs => client.agree += 1,
                (Said::Fields(_), false) => client
                    .message_mismatches
                    .push(show(&case.body, &ours, theirs)),
            }
            let server = said(validate::server_check(&body, Mode::Create, rule));
            let same = match &server {
                Said::Accept => theirs.is_empty(),
                Said::Fields(d) => d == theirs,
                Said::List => theirs.is_empty(),
            };
            if !same {
                sandbox_wrong.push(show(&case.body, &server, theirs));
            }
        }
        let fa: usize = client.false_acceptances.values().sum();
        println!(
            "oracle egulias {version}: {} rows; client: {} agree, {} false rejections, {} message \
             mismatches, {fa} false acceptances {:?}, {} list 400s; sandbox ({rule:?}): {} disagreements",
            cases.len(),
            client.agree,
            client.false_rejections.len(),
            client.message_mismatches.len(),
            client.false_acceptances,
            client.list_rejections,
            sandbox_wrong.len(),
        );
        for (what, rows) in [
            ("false rejection", &client.false_rejections),
            ("message mismatch", &client.message_mismatches),
            ("sandbox disagreement", &sandbox_wrong),
        ] {
            for row in rows.iter().take(15) {
                failures.push(format!("egulias {version} {what}: {row}"));
            }
            if rows.len() > 15 {
                failures.push(format!(
                    "egulias {version}: {} more of {what}",
                    rows.len() - 15
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
