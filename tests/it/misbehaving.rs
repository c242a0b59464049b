//! Issue 12 against a server that misbehaves ([`fake`]) and the sandbox's whole-second mode:
//! every test asserts the outcome that is true, checked against what the server stored. No
//! `created` without the server's id, no `exists` for a contact this run created, no second
//! tag after a lost answer, no key in anything we print or write, no request wasted on resume,
//! no consent raised by `--on-exists update` without `--allow-resubscribe`.

mod fake;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use chrono::Duration as Span;
use fake::{Action, Fake, KEY};
use wolfeo_bulk::sandbox::Config;

use crate::harness::{Env, results, sandbox, std_bin, unlimited};

const JSON: &str = "application/json";

/// The binary against `fake` with `key`.
fn cmd(fake: &Fake, key: &str) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("wolfeo-bulk").expect("binary built");
    cmd.env("WOLFEO_BASE_URL", fake.base_url())
        .env("WOLFEO_API_KEY", key)
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(60));
    cmd
}

/// One request at a time (rules apply in row order), fast retries.
const FAST: [&str; 8] = [
    "--rate",
    "unlimited",
    "--concurrency",
    "1",
    "--retry-base",
    "10ms",
    "--timeout",
    "5s",
];

fn import(fake: &Fake, env: &Env, csv: &str, extra: &[&str]) -> std::process::Output {
    let input = env.write("in.csv", csv);
    let mut c = cmd(fake, KEY);
    c.arg("import").arg(&input).args(FAST).args(extra);
    c.output().unwrap()
}

fn by_email(env: &Env) -> HashMap<String, HashMap<String, String>> {
    results(&env.path("in.results.csv"))
        .into_iter()
        .map(|r| (r["email"].clone(), r))
        .collect()
}

fn stored_id(fake: &Fake, email: &str) -> String {
    let c = fake.contacts();
    let found = c.iter().find(|c| c.email == email);
    found.map(|c| c.id.to_string()).unwrap_or_default()
}

/// Every `created` row carries the id the server stored for its email.
fn assert_created_with_stored_ids(fake: &Fake, rows: &HashMap<String, HashMap<String, String>>) {
    for (email, r) in rows {
        if r["_outcome"] == "created" {
            assert_eq!(r["_contact_id"], stored_id(fake, email), "{r:?}");
        }
    }
}

#[test]
fn a_2xx_without_an_id_is_never_created() {
    let fake = Fake::start();
    let html = "<html><body>Please log in to the portal</body></html>".to_string();
    fake.rule(
        "POST",
        "/v1/contact",
        1,
        Action::Answer(200, "text/html", html),
    );
    fake.rule(
        "POST",
        "/v1/contact",
        1,
        Action::StoreThen(201, JSON, String::new()),
    );
    let no_id = r#"{"success":true,"data":{}}"#.to_string();
    fake.rule(
        "POST",
        "/v1/contact",
        1,
        Action::StoreThen(201, JSON, no_id),
    );
    let env = Env::new();
    let csv = "email\nhtml@x.co\nempty@x.co\nnoid@x.co\nplain@x.co\n";
    let out = import(&fake, &env, csv, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows = by_email(&env);
    let html = &rows["html@x.co"];
    assert_eq!(html["_outcome"], "failed", "{html:?}");
    assert!(html["_message"].contains("Please log in"), "{html:?}");
    assert_eq!(html["_contact_id"], "");
    // Stored behind an answer that proved nothing: found by the lookup, with the stored id.
    for email in ["empty@x.co", "noid@x.co", "plain@x.co"] {
        assert_eq!(rows[email]["_outcome"], "created", "{:?}", rows[email]);
    }
    assert!(rows["empty@x.co"]["_message"].contains("an empty body"));
    assert_created_with_stored_ids(&fake, &rows);
    assert_eq!(fake.contacts().len(), 3, "the HTML page stored nothing");

    // The failed row is recorded as possibly stored: a resume would look it up after a 409.
    assert_maybe_stored_in_journal(&env, "html@x.co");
}

/// The journal's record of `email`'s row is `failed` without `not_stored`.
fn assert_maybe_stored_in_journal(env: &Env, email: &str) {
    let rows = by_email(env);
    let row: u64 = rows[email]["_row"].parse().unwrap();
    let journal = std::fs::read_to_string(env.path("in.results.csv.journal")).unwrap();
    let record = journal
        .lines()
        .rfind(|l| l.contains(&format!("\"row\":{row},")))
        .unwrap_or_else(|| panic!("no record of row {row}: {journal}"));
    assert!(record.contains("\"failed\""), "{record}");
    assert!(!record.contains("not_stored"), "{record}");
}

#[test]
fn a_lookup_answered_with_anything_but_the_contact_never_means_exists() {
    let invalid = r#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"The given data was invalid"}}"#;
    let html = "<html>maintenance</html>";
    for (status, content_type, body) in [(200, "text/html", html), (422, JSON, invalid)] {
        let fake = Fake::start();
        // The create is stored and its answer lost; the re-send gets a 409, then the lookup
        // gets garbage.
        fake.drop_first_create_of_each_email();
        fake.rule(
            "GET",
            "/v1/contact",
            1,
            Action::Answer(status, content_type, body.into()),
        );
        let env = Env::new();
        let out = import(&fake, &env, "email\na@x.co\n", &[]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let r = &by_email(&env)["a@x.co"];
        assert_eq!(r["_outcome"], "failed", "{r:?}");
        assert!(r["_message"].contains("lookup"), "{r:?}");
        assert_eq!(r["_contact_id"], "");
        assert_eq!(fake.contacts().len(), 1);
        assert_maybe_stored_in_journal(&env, "a@x.co");
    }
}

#[test]
fn whole_second_stamps_and_a_skewed_server_clock_never_make_ours_exists() {
    for skew in [Span::seconds(-2), Span::seconds(2)] {
        let fake = Fake::start();
        fake.set_clock(skew, true);
        fake.insert("old@x.co", Span::hours(1), false);
        // Every first answer is lost: each row is resolved by a 409 and a lookup.
        fake.drop_first_create_of_each_email();
        let env = Env::new();
        let mut csv = String::from("email\nold@x.co\n");
        for i in 0..5 {
            csv.push_str(&format!("new{i}@x.co\n"));
        }
        let out = import(&fake, &env, &csv, &[]);
        assert_eq!(out.status.code(), Some(0), "skew {skew}: {out:?}");
        let rows = by_email(&env);
        assert_eq!(rows["old@x.co"]["_outcome"], "exists", "skew {skew}");
        for i in 0..5 {
            let r = &rows[&format!("new{i}@x.co")];
            assert_eq!(r["_outcome"], "created", "skew {skew}: {r:?}");
        }
        assert_created_with_stored_ids(&fake, &rows);
        assert_eq!(fake.contacts().len(), 6, "nothing created twice");
    }
}

fn assert_no_key(what: &str, bytes: &[u8], key: &str) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains(key), "{what} holds the key: {text}");
    assert!(
        !text.contains(&key[..12]),
        "{what} holds part of the key: {text}"
    );
}

fn assert_no_key_in_files(dir: &Path, key: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && !path.ends_with("in.csv") {
            let bytes = std::fs::read(&path).unwrap();
            assert_no_key(&path.display().to_string(), &bytes, key);
        }
    }
}

#[test]
fn a_server_that_echoes_the_key_never_gets_it_printed_or_written() {
    // A wrong key, echoed back in the 401.
    let fake = Fake::start();
    fake.echo_key_on_401();
    let env = Env::new();
    let wrong = "sk-live-WRONG0but0still0secret0k3y";
    let input = env.write("in.csv", "email\na@x.co\nb@x.co\n");
    let summary = env.path("summary.json");
    let out = cmd(&fake, wrong)
        .args(["-v", "import"])
        .arg(&input)
        .args(FAST)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_no_key("stdout", &out.stdout, wrong);
    assert_no_key("stderr", &out.stderr, wrong);
    assert_no_key_in_files(env.dir.path(), wrong);

    // The right key, quoted back in a 422, a 200 HTML page and a 500.
    let fake = Fake::start();
    let quoted = r#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"Bad header {auth}","details":{"authorization":["{auth} is not allowed"]}}}"#;
    fake.rule(
        "POST",
        "/v1/contact",
        1,
        Action::Answer(422, JSON, quoted.into()),
    );
    let page = "<p>Your request ({auth}) needs a login</p>".to_string();
    fake.rule(
        "POST",
        "/v1/contact",
        1,
        Action::Answer(200, "text/html", page),
    );
    let boom = "Fatal error: key={auth}".to_string();
    fake.rule(
        "POST",
        "/v1/contact",
        9,
        Action::Answer(500, "text/plain", boom),
    );
    let env = Env::new();
    let input = env.write("in.csv", "email\na@x.co\nb@x.co\nc@x.co\n");
    let summary = env.path("summary.json");
    let out = cmd(&fake, KEY)
        .args(["-v", "import"])
        .arg(&input)
        .args(FAST)
        .args(["--max-retries", "1", "--summary-json"])
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows = by_email(&env);
    assert_eq!(rows["a@x.co"]["_outcome"], "invalid");
    assert!(
        rows["a@x.co"]["_details"].contains("[redacted]"),
        "{rows:?}"
    );
    assert_eq!(rows["b@x.co"]["_outcome"], "failed");
    assert!(rows["b@x.co"]["_message"].contains("needs a login"));
    assert_eq!(rows["c@x.co"]["_outcome"], "failed");
    assert_no_key("stdout", &out.stdout, KEY);
    assert_no_key("stderr", &out.stderr, KEY);
    assert_no_key_in_files(env.dir.path(), KEY);
}

#[test]
fn a_lost_answer_to_a_tag_create_makes_one_tag_not_two() {
    let fake = Fake::start();
    fake.rule("POST", "/v1/tag", 1, Action::StoreThenDrop);
    let env = Env::new();
    let csv = "email,tags\na@x.co,VIP\nb@x.co,VIP\n";
    let out = import(&fake, &env, csv, &["--create-missing-tags"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let tags = fake.tags();
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert_eq!(tags[0].1, "VIP");
    assert_eq!(fake.hits("POST /v1/tag"), 1, "looked up, not sent again");

    // A 409 on create also means "look it up".
    let fake = Fake::start();
    let exists = r#"{"success":false,"error":{"code":"TAG_EXISTS","message":"exists"}}"#;
    fake.rule(
        "POST",
        "/v1/tag",
        1,
        Action::StoreThen(409, JSON, exists.into()),
    );
    let env = Env::new();
    let out = import(&fake, &env, csv, &["--create-missing-tags"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(fake.tags().len(), 1);
}

#[test]
fn resume_after_a_wrong_key_run_costs_one_request_per_row() {
    let fake = Fake::start();
    let mut csv = String::from("email\n");
    for i in 0..20 {
        if i % 2 == 0 {
            fake.insert(&format!("old{i}@x.co"), Span::hours(1), false);
            csv.push_str(&format!("old{i}@x.co\n"));
        } else {
            csv.push_str(&format!("new{i}@x.co\n"));
        }
    }
    let env = Env::new();
    let input = env.write("in.csv", &csv);
    let out = cmd(&fake, "a-wrong-key-0000")
        .arg("import")
        .arg(&input)
        .args(FAST)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    fake.reset_hits();
    let out = import(&fake, &env, &csv, &["--resume"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(fake.hits("POST /v1/contact"), 20);
    assert_eq!(
        fake.hits("GET /v1/contact"),
        0,
        "no lookup for rows never sent"
    );
    let rows = by_email(&env);
    let exists = rows.values().filter(|r| r["_outcome"] == "exists").count();
    assert_eq!(exists, 10, "{rows:?}");
}

#[test]
fn update_lowers_consent_but_raises_it_only_when_allowed() {
    let fake = Fake::start();
    fake.insert("unsub@x.co", Span::hours(1), false);
    fake.insert("sub@x.co", Span::hours(1), true);
    let env = Env::new();
    let csv = "email,email_marketing\nunsub@x.co,yes\nsub@x.co,no\n";
    let out = import(&fake, &env, csv, &["--on-exists", "update"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stored = |email: &str| {
        let c = fake.contacts();
        c.iter().find(|c| c.email == email).unwrap().email_marketing
    };
    assert!(
        !stored("unsub@x.co"),
        "never re-subscribed without the flag"
    );
    assert!(!stored("sub@x.co"), "lowering is allowed");
    let rows = by_email(&env);
    assert_eq!(rows["unsub@x.co"]["_outcome"], "updated");
    assert!(
        rows["unsub@x.co"]["_message"].contains("--allow-resubscribe"),
        "{rows:?}"
    );

    let results = env.path("again.csv");
    let out = import(
        &fake,
        &env,
        csv,
        &[
            "--on-exists",
            "update",
            "--allow-resubscribe",
            "--results",
            results.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stored("unsub@x.co"), "raised with --allow-resubscribe");
}

#[test]
fn kill_9_and_resume_with_whole_second_timestamps_misclassifies_nothing() {
    let sb = sandbox(Config {
        timestamp_resolution: Duration::from_secs(1),
        latency: Some((Duration::from_millis(5), Duration::from_millis(30))),
        ..unlimited()
    });
    let env = Env::new();
    let mut csv = String::from("email\n");
    for i in 0..120 {
        csv.push_str(&format!("w{i}@example.com\n"));
    }
    let path = env.write("in.csv", &csv);
    for (i, wait) in [300u64, 450, 250].into_iter().enumerate() {
        let mut c = std_bin(&sb);
        c.args(["import", path.to_str().unwrap(), "--rate", "100/s", "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if i > 0 {
            c.arg("--resume");
        }
        let mut child = c.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
    }
    let out = std_bin(&sb)
        .args(["import", path.to_str().unwrap(), "--rate", "unlimited"])
        .arg("--resume")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stored: HashMap<String, u64> = sb
        .contacts()
        .into_iter()
        .map(|c| (c.email.clone(), c.id))
        .collect();
    assert_eq!(stored.len(), 120);
    let stamps = sb.contacts();
    assert!(
        stamps
            .iter()
            .all(|c| c.created_at.as_deref().unwrap().ends_with(".000000Z")),
        "whole seconds"
    );
    let rows = results(&env.path("in.results.csv"));
    for r in &rows {
        assert_eq!(r["_outcome"], "created", "{r:?}");
        assert_eq!(r["_contact_id"], stored[&r["email"]].to_string(), "{r:?}");
    }
}

/// A row whose contact was created and whose custom value never got an answer: after a stop
/// and the grace period it is `partial` with the server's id (the contact exists), not a
/// bare `failed`; `--resume` then sends only the value.
#[test]
fn a_row_cut_off_mid_steps_is_partial_with_its_id() {
    let fake = Fake::start();
    let fields = r#"{"success":true,"data":[{"id":7,"name":"Company","type":"text"}]}"#;
    fake.rule(
        "GET",
        "/v1/custom-fields",
        2,
        Action::Answer(200, JSON, fields.into()),
    );
    fake.rule("PUT", "/v1/contact-custom-field", 1, Action::Hang);
    let env = Env::new();
    let input = env.write("in.csv", "email,Company\nzoe@example.com,Acme\n");
    let patient = [
        "--rate",
        "unlimited",
        "--concurrency",
        "1",
        "--timeout",
        "60s",
    ];
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wolfeo-bulk"))
        .env("WOLFEO_BASE_URL", fake.base_url())
        .env("WOLFEO_API_KEY", KEY)
        .arg("import")
        .arg(&input)
        .args(patient)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while fake.hits("PUT /v1/contact-custom-field") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the value was never sent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::harness::terminate(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let rows = by_email(&env);
    let row = &rows["zoe@example.com"];
    assert_eq!(row["_outcome"], "partial", "{row:?}");
    assert_eq!(row["_contact_id"], stored_id(&fake, "zoe@example.com"));
    assert!(row["_steps"].starts_with("create 201"), "{row:?}");
    assert!(row["_message"].contains("Company"), "{row:?}");

    let set = r#"{"success":true,"data":{"contact_id":1,"custom_field_id":7,"value":"Acme"}}"#;
    fake.rule(
        "PUT",
        "/v1/contact-custom-field",
        1,
        Action::Answer(200, JSON, set.into()),
    );
    fake.reset_hits();
    let mut again = cmd(&fake, KEY);
    again
        .arg("import")
        .arg(&input)
        .args(patient)
        .arg("--resume");
    assert_eq!(again.output().unwrap().status.code(), Some(0));
    assert_eq!(fake.hits("POST /v1/contact"), 0, "no second create");
    assert_eq!(fake.hits("PUT /v1/contact-custom-field"), 1);
    assert_eq!(by_email(&env)["zoe@example.com"]["_outcome"], "created");
    assert_eq!(fake.contacts().len(), 1);
}
