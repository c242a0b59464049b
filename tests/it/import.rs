//! `import` end to end: the binary against the in-process sandbox, results checked row by row.

use std::collections::HashMap;
use std::time::Duration;

use predicates::prelude::*;
use wolfeo_bulk::sandbox::Config;

use crate::harness::{Env, bin, read_csv, results, sandbox, unlimited};

const HEADER: &str = "Email,First Name,Last Name,Email Marketing,GDPR,Tag IDs,Company\n";

fn row(rows: &[HashMap<String, String>], n: usize) -> &HashMap<String, String> {
    &rows[n - 1]
}

#[test]
fn every_outcome_is_recorded_row_by_row_in_input_order() {
    let env = Env::new();
    let sb = sandbox(Config {
        seed_tags: 3,
        ..unlimited()
    });
    let existing = sb.insert_contact("Existing@Example.com");
    let long = "x".repeat(256);
    let input = env.write(
        "in.csv",
        &format!(
            "{HEADER}\
             ann@example.com,Ann,Lee,yes,no,\"1,2\",Acme\n\
             existing@example.com,Old,Timer,,,,\n\
             not-an-email,{long},X,,,,\n\
             tags@example.com,T,,,,\"1,,x\",\n\
             ghost@example.com,G,,,,999,\n\
             ANN@EXAMPLE.COM,Ann,Again,,,,\n\
             bob@example.com,Bob,,maybe,,,\"Quoted, comma\"\n\
             cy@example.com,\"Multi\nLine\",,,,,\n"
        ),
    );
    let out = env.path("in.results.csv");
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .code(1);
    let rows = results(&out);
    assert_eq!(rows.len(), 8, "one line per input record");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["_row"], (i + 1).to_string(), "input order");
    }

    let created = row(&rows, 1);
    assert_eq!(created["_outcome"], "created");
    assert_eq!(created["_http_status"], "201");
    assert_eq!(created["Company"], "Acme", "input columns kept unchanged");
    assert_eq!(created["Tag IDs"], "1,2");
    let id: u64 = created["_contact_id"].parse().unwrap();
    assert_eq!(created["_attempts"], "1");

    let exists = row(&rows, 2);
    assert_eq!(exists["_outcome"], "exists");
    assert_eq!(exists["_http_status"], "409");
    assert_eq!(exists["_error_code"], "CONTACT_EXISTS");

    let two_fields = row(&rows, 3);
    assert_eq!(two_fields["_outcome"], "invalid");
    assert_eq!(two_fields["_error_code"], "VALIDATION_ERROR");
    assert_eq!(two_fields["_message"], "The given data was invalid");
    assert_eq!(
        two_fields["_http_status"], "",
        "rejected locally, never sent"
    );
    let details: serde_json::Value = serde_json::from_str(&two_fields["_details"]).unwrap();
    assert_eq!(
        details,
        serde_json::json!({
            "email": ["The email must be a valid email address."],
            "first_name": ["The first name must not be greater than 255 characters."]
        })
    );

    let list = row(&rows, 4);
    assert_eq!(list["_outcome"], "invalid");
    assert_eq!(list["_error_code"], "VALIDATION_ERROR");
    assert_eq!(list["_details"], "", "a 400 list error has no details");

    let unknown_tag = row(&rows, 5);
    assert_eq!(unknown_tag["_outcome"], "invalid");
    assert_eq!(unknown_tag["_http_status"], "404");
    assert_eq!(unknown_tag["_error_code"], "NOT_FOUND");

    let dup = row(&rows, 6);
    assert_eq!(dup["_outcome"], "duplicate");
    assert!(dup["_message"].contains("row 1"), "{}", dup["_message"]);

    let bad_bool = row(&rows, 7);
    assert_eq!(bad_bool["_outcome"], "invalid");
    assert!(bad_bool["_details"].contains("The email marketing field must be true or false."));
    assert_eq!(bad_bool["Company"], "Quoted, comma");

    assert_eq!(row(&rows, 8)["_outcome"], "created");
    assert_eq!(row(&rows, 8)["First Name"], "Multi\nLine");

    // The server holds exactly what we say we created, nothing more.
    let contacts = sb.contacts();
    assert_eq!(contacts.len(), 3);
    let ann = contacts
        .iter()
        .find(|c| c.email == "ann@example.com")
        .unwrap();
    assert_eq!(ann.id, id);
    assert!(ann.email_marketing && !ann.gdpr);
    assert_eq!(ann.tags.clone().unwrap_or_default(), vec![1, 2]);
    assert!(contacts.iter().any(|c| c.id == existing));

    // Rejects: invalid and failed rows only, original header and cells, and why.
    let (headers, rejects) = read_csv(&env.path("in.rejects.csv"));
    assert_eq!(headers.join(","), format!("{},_reason", HEADER.trim_end()));
    assert_eq!(
        rejects[0][7],
        "VALIDATION_ERROR; email: The email must be a valid email address.; first_name: The \
         first name must not be greater than 255 characters."
    );
    assert_eq!(rejects[2][7], "NOT_FOUND; Tag not found");
    let emails: Vec<&str> = rejects.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        emails,
        [
            "not-an-email",
            "tags@example.com",
            "ghost@example.com",
            "bob@example.com"
        ]
    );
}

#[test]
fn a_clean_file_exits_zero_and_reports_a_summary() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write(
        "ok.csv",
        "email,first_name\na@example.com,A\nb@example.com,B\n",
    );
    let summary = env.path("summary.json");
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .arg("--summary-json")
        .arg(&summary)
        .assert()
        .success()
        .stderr(predicate::str::contains("created"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["outcomes"]["created"], 2);
    assert_eq!(json["rows"], 2);
    assert_eq!(json["exit_code"], 0);
    assert_eq!(sb.stats().contacts_total, 2);
    // The envelope every command shares, and structured dialect and mapping.
    assert_eq!(json["schema"], "wolfeo-bulk/summary/v1");
    assert_eq!(json["command"], "import");
    assert_eq!(json["status"], "completed");
    assert_eq!(json["requests"], 3, "the preflight and two creates");
    assert_eq!(json["rate_limit"], "unlimited");
    for key in ["started_at", "ended_at"] {
        let at = json[key].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "{key}: {at}"
        );
    }
    assert_eq!(json["dialect"]["delimiter"], ",");
    assert_eq!(json["dialect"]["encoding"], "UTF-8");
    assert_eq!(json["dialect"]["line_ending"], "lf");
    assert_eq!(
        json["mapping"],
        serde_json::json!([
            {"field": "email", "column": 1, "header": "email", "sense": "direct"},
            {"field": "first_name", "column": 2, "header": "first_name", "sense": "direct"},
        ])
    );
}

#[test]
fn mapping_problems_stop_before_anything_is_sent() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let no_email = env.write("a.csv", "Name,Phone\nAnn,123\n");
    bin(&sb)
        .args(["import", no_email.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Name").and(predicate::str::contains("Phone")));
    let twice = env.write("b.csv", "Email,E-mail\na@b.co,c@d.co\n");
    bin(&sb)
        .args(["import", twice.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("E-mail"));
    // --map resolves the ambiguity.
    bin(&sb)
        .args([
            "import",
            twice.to_str().unwrap(),
            "--map",
            "E-mail=-",
            "--rate",
            "unlimited",
        ])
        .assert()
        .success();
    assert_eq!(sb.contacts()[0].email, "a@b.co");
    bin(&sb)
        .args(["import", env.path("missing.csv").to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.csv"));
}

#[test]
fn dry_run_validates_without_sending() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write(
        "d.csv",
        "email,gdpr\na@example.com,yes\nbad,no\na@example.com,no\n",
    );
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ETA"));
    let rows = results(&env.path("d.results.csv"));
    let outcomes: Vec<&str> = rows.iter().map(|r| r["_outcome"].as_str()).collect();
    assert_eq!(outcomes, ["would_create", "invalid", "duplicate"]);
    assert_eq!(sb.stats().requests_total, 0);
}

/// A dry run reads a file once, without the up-front scan a real run makes: a bad byte far
/// down stops it with the same message (record, line, column, the `--encoding` hint), the rows
/// before it keep their lines, and the summary says the run stopped; nothing is sent.
#[test]
fn a_dry_run_stops_at_a_bad_byte_with_the_rows_before_it() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let mut bytes = b"email\n".to_vec();
    for i in 0..3000 {
        bytes.extend_from_slice(format!("user{i}@example.com\n").as_bytes());
    }
    bytes.extend_from_slice(b"caf\xE9@example.com\nlast@example.com\n");
    let input = env.path("bad.csv");
    std::fs::write(&input, bytes).unwrap();
    let out = bin(&sb)
        .args(["import", input.to_str().unwrap(), "--dry-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "record 3001 (line 3002) is not valid UTF-8 (byte 0xE9 in column 1)",
        ))
        .stderr(predicate::str::contains("--encoding windows-1252"))
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stopped       on the error below"),
        "{stderr}"
    );
    let rows = results(&env.path("bad.results.csv"));
    assert_eq!(rows.len(), 3000);
    assert!(rows.iter().all(|r| r["_outcome"] == "would_create"));
    assert_eq!(sb.stats().requests_total, 0);
    // A real run refuses the same file before its first row, leaving no results behind.
    let real = env.path("real.csv");
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--results"])
        .arg(&real)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("record 3001 (line 3002)"));
    assert!(!real.exists());
    assert_eq!(sb.stats().contacts_total, 0);
}

#[test]
fn a_rejected_key_aborts_with_exit_3_before_any_row() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write(
        "k.csv",
        "email\na@example.com\nb@example.com\nc@example.com\n",
    );
    let out = bin(&sb)
        .env("WOLFEO_API_KEY", "wrong-key-7c1d")
        .args(["import", input.to_str().unwrap(), "--concurrency", "1"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("WOLFEO_API_KEY"))
        .get_output()
        .clone();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("wrong-key-7c1d"));
    // The preflight found it: one request, no row read, no run to resume.
    assert_eq!(sb.stats().requests_total, 1);
    assert!(!env.path("k.results.csv").exists());
    assert_eq!(sb.stats().contacts_total, 0);
    // With the right key the same command simply runs: one request per row plus the check.
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .code(0);
    assert_eq!(sb.stats().contacts_total, 3);
    assert_eq!(sb.stats().requests_total, 1 + 1 + 3);
}

#[test]
fn on_exists_update_turns_conflicts_into_updates() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let id = sb.insert_contact("kim@example.com");
    let input = env.write(
        "u.csv",
        "email,first_name,last_name\nKIM@example.com,Kim,\n",
    );
    bin(&sb)
        .args([
            "import",
            input.to_str().unwrap(),
            "--on-exists",
            "update",
            "--rate",
            "unlimited",
        ])
        .assert()
        .success();
    let rows = results(&env.path("u.results.csv"));
    assert_eq!(rows[0]["_outcome"], "updated");
    assert_eq!(rows[0]["_contact_id"], id.to_string());
    assert_eq!(rows[0]["_attempts"], "3", "POST + GET + PUT");
    let kim = sb.contacts().into_iter().find(|c| c.id == id).unwrap();
    assert_eq!(kim.first_name.as_deref(), Some("Kim"));
}

#[test]
fn a_429_pauses_the_whole_pipeline_for_retry_after() {
    let env = Env::new();
    // 10 requests per 2 s window; the client is unthrottled, so it must hit 429s and wait.
    let sb = sandbox(Config {
        rate_limit: Some("10/2s".parse().unwrap()),
        ..Config::default()
    });
    let mut text = String::from("email\n");
    for i in 0..25 {
        text.push_str(&format!("p{i}@example.com\n"));
    }
    let input = env.write("p.csv", &text);
    let started = std::time::Instant::now();
    bin(&sb)
        .args([
            "import",
            input.to_str().unwrap(),
            "--rate",
            "unlimited",
            "--concurrency",
            "4",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("pausing all requests"));
    let elapsed = started.elapsed();
    // 25 rows at 10 per 2 s need at least two full windows after the first.
    assert!(elapsed >= Duration::from_secs(4), "{elapsed:?}");
    let stats = sb.stats();
    assert_eq!(stats.contacts_total, 25);
    assert!(stats.throttled_total >= 1);
    // After a pause everyone waits: the number of 429s stays small (not one per row per retry).
    assert!(stats.throttled_total <= 12, "{}", stats.throttled_total);
    let rows = results(&env.path("p.results.csv"));
    assert!(rows.iter().all(|r| r["_outcome"] == "created"));
}

#[test]
fn two_imports_cannot_write_one_results_file() {
    let env = Env::new();
    let sb = sandbox(Config {
        latency: Some((Duration::from_millis(200), Duration::from_millis(200))),
        ..unlimited()
    });
    let mut text = String::from("email\n");
    for i in 0..30 {
        text.push_str(&format!("l{i}@example.com\n"));
    }
    let input = env.write("l.csv", &text);
    let mut first = crate::harness::std_bin(&sb)
        .args([
            "import",
            input.to_str().unwrap(),
            "--concurrency",
            "1",
            "-q",
        ])
        .spawn()
        .unwrap();
    // The first run holds the lock once its journal has its header line.
    crate::harness::wait_for_lines(&env.path("l.results.csv.journal"), 1);
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--restart"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("another import"));
    first.kill().ok();
    first.wait().ok();
}

#[test]
fn a_dry_run_does_not_overwrite_a_real_runs_results() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write("r.csv", "email\na@example.com\n");
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .success();
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--dry-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--results"));
    assert_eq!(
        results(&env.path("r.results.csv"))[0]["_outcome"],
        "created"
    );
    let elsewhere = env.path("dry.csv");
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--dry-run", "--results"])
        .arg(&elsewhere)
        .assert()
        .success();
    assert_eq!(results(&elsewhere)[0]["_outcome"], "would_create");
    // A completed run may be run again (cron), and --resume retries nothing that settled.
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--resume"])
        .assert()
        .success();
    assert_eq!(
        results(&env.path("r.results.csv"))[0]["_outcome"],
        "created"
    );
    assert_eq!(sb.stats().contacts_total, 1);
}

#[test]
fn a_run_that_stopped_before_any_row_does_not_block_the_next() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write("n.csv", "email\na@example.com\n");
    bin(&sb)
        .env_remove("WOLFEO_API_KEY")
        .args(["import", input.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("WOLFEO_API_KEY"));
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .success();
}

#[test]
fn standard_input_is_streamed_and_quiet_means_silent() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    bin(&sb)
        .current_dir(env.dir.path())
        .args(["-q", "import", "-", "--rate", "unlimited"])
        .write_stdin("email,first_name\ns1@example.com,S\ns2@example.com,T\n")
        .assert()
        .success()
        .stderr(predicate::str::is_empty())
        .stdout(predicate::str::is_empty());
    let rows = results(&env.path("stdin.results.csv"));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["_outcome"] == "created"));
    // Resume needs a file it can fingerprint.
    bin(&sb)
        .current_dir(env.dir.path())
        .args(["import", "-", "--resume"])
        .write_stdin("email\ns3@example.com\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("standard input"));
}

#[test]
fn rejects_keep_the_input_dialect_and_import_again() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.path("fr.csv");
    std::fs::write(
        &input,
        "\u{feff}Courriel;Prénom;Nom\r\nzoé@@exemple;Zoé;Lefèvre\r\nok@exemple.fr;Éric;Dupont\r\n",
    )
    .unwrap();
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .code(1);
    let bytes = std::fs::read(env.path("fr.rejects.csv")).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.starts_with("\u{feff}Courriel;Prénom;Nom;_reason\r\nzoé@@exemple;Zoé;Lefèvre;"),
        "{text:?}"
    );
    assert!(text.ends_with("\r\n") && !text.contains(",Zo"), "{text:?}");
    // Fixed and imported again: `_reason` is ignored, not a column anyone has to unmap.
    let fixed = text.replace("zoé@@exemple;", "zoe@exemple.fr;");
    let again = env.write("fixed.csv", &fixed);
    let out = bin(&sb)
        .args(["import", again.to_str().unwrap(), "--rate", "unlimited"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not sent: _reason"));
    assert!(sb.contacts().iter().any(|c| c.email == "zoe@exemple.fr"));
}

#[test]
fn utf16_files_import_without_a_flag_and_pipes_are_detected() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    // Excel's "Unicode Text": UTF-16LE, no BOM here, tab-separated.
    let text = "Email\tPrénom\nzoe@ex.fr\tZoé\n";
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let input = env.path("unicode.txt");
    std::fs::write(&input, bytes).unwrap();
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .code(0);
    let piped = env.write(
        "pipes.csv",
        "email|first_name\npipe@ex.fr|P\npipe2@ex.fr|Q\n",
    );
    bin(&sb)
        .args(["import", piped.to_str().unwrap(), "--rate", "unlimited"])
        .args(["--encoding", "latin-1"])
        .assert()
        .code(0);
    let short = env.write("short.csv", "email,first_name,last_name\nshort@ex.fr\n");
    bin(&sb)
        .args(["import", short.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .code(0);
    let stored: Vec<(String, Option<String>)> = sb
        .contacts()
        .into_iter()
        .map(|c| (c.email, c.first_name))
        .collect();
    assert!(
        stored.contains(&("zoe@ex.fr".into(), Some("Zoé".into()))),
        "{stored:?}"
    );
    assert!(
        stored.contains(&("pipe@ex.fr".into(), Some("P".into()))),
        "{stored:?}"
    );
    assert!(
        stored.iter().any(|(e, _)| e == "short@ex.fr"),
        "a row missing its trailing cell is padded"
    );
}
