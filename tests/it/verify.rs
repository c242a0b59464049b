//! `verify` at the end of a migration: export a seeded account, import it into an empty one,
//! verify the export against the target (every row `match`), then change the target through
//! the sandbox's API and see exactly the changed rows reported with the right `_diff`, the
//! contact only the target holds in `--extra`, and what each way of reading the account costs.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Value, json};
use wolfeo_bulk::api::Contact;
use wolfeo_bulk::sandbox::{Config, SandboxHandle};

use crate::harness::{Env, bin, results, sandbox, unlimited};

fn seeded(contacts: u64, tags: u64) -> SandboxHandle {
    sandbox(Config {
        seed_contacts: contacts,
        seed_tags: tags,
        ..unlimited()
    })
}

/// `verify FILE --rate unlimited ARGS...` against `sb`; returns the exit code.
fn verify(sb: &SandboxHandle, file: &Path, args: &[&str]) -> i32 {
    let out = bin(sb)
        .args(["verify", "--rate", "unlimited"])
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(sb.api_key()), "{stderr}");
    out.status.code().unwrap()
}

fn summary(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn requests_seen(sb: &SandboxHandle) -> u64 {
    sb.stats().requests_total
}

/// One call to the sandbox's HTTP API, as another user of the account would make it.
fn call(sb: &SandboxHandle, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
    let http = reqwest::blocking::Client::new();
    let mut req = http
        .request(method, format!("{}/{path}", sb.base_url()))
        .bearer_auth(sb.api_key());
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().unwrap().status().as_u16()
}

fn by_email(sb: &SandboxHandle) -> HashMap<String, Contact> {
    sb.contacts()
        .into_iter()
        .map(|c| (c.email.to_lowercase(), c))
        .collect()
}

#[test]
fn a_migration_verifies_then_exactly_the_changed_rows_are_reported() {
    let env = Env::new();
    let source = seeded(250, 5);
    bin(&source)
        .args([
            "export",
            "--rate",
            "unlimited",
            "--with-tags",
            "names",
            "-o",
        ])
        .arg(env.path("all.csv"))
        .assert()
        .code(0);
    let target = sandbox(unlimited());
    bin(&target)
        .args(["import", "--rate", "unlimited", "--create-missing-tags"])
        .arg(env.path("all.csv"))
        .assert()
        .code(0);

    let file = env.path("all.csv");
    assert_eq!(verify(&target, &file, &[]), 0);
    let stored = by_email(&target);
    let rows = results(&env.path("all.verify.csv"));
    assert_eq!(rows.len(), 250);
    for r in &rows {
        assert_eq!(r["_verify"], "match", "{r:?}");
        assert_eq!(r["_diff"], "");
        assert_eq!(r["_contact_id"], stored[&r["email"]].id.to_string());
    }

    // Three changes in the target: a name, a contact, a tag membership; and a newcomer.
    let names = target.tags();
    let tagged = |c: &&Contact| c.tags.as_ref().is_some_and(|t| !t.is_empty());
    let contacts = target.contacts();
    let untagged = contacts.iter().find(tagged).unwrap();
    let renamed = contacts.iter().find(|c| c.id != untagged.id).unwrap();
    let deleted = contacts
        .iter()
        .find(|c| c.id != untagged.id && c.id != renamed.id)
        .unwrap();
    let put = json!({"contact_id": renamed.id, "first_name": "Zoë"});
    assert_eq!(
        call(&target, reqwest::Method::PUT, "contact", Some(put)),
        200
    );
    let path = format!("contact?contact_id={}", deleted.id);
    assert_eq!(call(&target, reqwest::Method::DELETE, &path, None), 200);
    let tag_ids = untagged.tags.clone().unwrap();
    assert!(target.untag_contact(untagged.id, tag_ids[0]));
    let newcomer = target.insert_contact("only-in-target@example.com");
    let before = target.contacts();

    let extra = env.path("extra.csv");
    let json = env.path("summary.json");
    let args = [
        "--extra",
        extra.to_str().unwrap(),
        "--summary-json",
        json.to_str().unwrap(),
    ];
    assert_eq!(verify(&target, &file, &args), 1);
    assert_eq!(
        target.contacts(),
        before,
        "verify never writes to the account"
    );

    let name_of = |id: &u64| names.iter().find(|t| t.id == *id).unwrap().name.clone();
    let quoted = |ids: &[u64]| {
        let mut n: Vec<String> = ids
            .iter()
            .map(|id| format!("\"{}\"", name_of(id)))
            .collect();
        n.sort();
        format!("[{}]", n.join(", "))
    };
    let rows = results(&env.path("all.verify.csv"));
    let reported: HashMap<&str, (&str, &str)> = rows
        .iter()
        .filter(|r| r["_verify"] != "match")
        .map(|r| {
            (
                r["email"].as_str(),
                (r["_verify"].as_str(), r["_diff"].as_str()),
            )
        })
        .collect();
    let renamed_diff = format!(
        "first_name: \"{}\" != \"Zoë\"",
        renamed.first_name.clone().unwrap_or_default()
    );
    let tags_diff = format!("tags: {} != {}", quoted(&tag_ids), quoted(&tag_ids[1..]));
    let want = HashMap::from([
        (renamed.email.as_str(), ("differs", renamed_diff.as_str())),
        (deleted.email.as_str(), ("missing", "")),
        (untagged.email.as_str(), ("differs", tags_diff.as_str())),
    ]);
    assert_eq!(reported, want);

    let extra_rows = results(&extra);
    assert_eq!(extra_rows.len(), 1, "{extra_rows:?}");
    assert_eq!(extra_rows[0]["email"], "only-in-target@example.com");
    assert_eq!(extra_rows[0]["id"], newcomer.to_string());
    let s = summary(&json);
    assert_eq!(s["schema"], "wolfeo-bulk/summary/v1");
    assert_eq!(
        (s["command"].as_str(), s["status"].as_str()),
        (Some("verify"), Some("completed"))
    );
    assert_eq!(s["exit_code"], 1);
    assert_eq!(s["verdicts"]["match"], 247);
    assert_eq!(s["verdicts"]["differs"], 2);
    assert_eq!(s["verdicts"]["missing"], 1);
    assert_eq!(s["extra_rows"], 1);
    assert_eq!(s["read"]["strategy"], "stream");
}

#[test]
fn both_read_strategies_cost_what_the_summary_says() {
    let env = Env::new();
    let sb = seeded(250, 5);
    let contacts = sb.contacts();
    let mut text = String::from("email,first_name\n");
    for c in &contacts[..2] {
        let name = c.first_name.clone().unwrap_or_default();
        text.push_str(&format!("{},{name}\n", c.email.to_uppercase()));
    }
    text.push_str("nobody@example.com,\n");
    let file = env.write("few.csv", &text);
    let json = env.path("s.json");
    let json_arg = ["--summary-json", json.to_str().unwrap()];

    // 3 rows against 250 contacts (4 pages to stream): the probe, then one lookup per row.
    let seen = requests_seen(&sb);
    assert_eq!(verify(&sb, &file, &json_arg), 1);
    let s = summary(&json);
    assert_eq!(s["read"]["strategy"], "lookup");
    assert_eq!(s["requests"], 1 + 3);
    assert_eq!(requests_seen(&sb) - seen, 1 + 3);
    assert_eq!(s["verdicts"]["match"], 2);
    assert_eq!(s["verdicts"]["missing"], 1);

    // The stream: the probe, 3 pages of 100, page 1 again (the walker's head check).
    let seen = requests_seen(&sb);
    let mut args = json_arg.to_vec();
    args.extend(["--read", "stream"]);
    assert_eq!(verify(&sb, &file, &args), 1);
    let s = summary(&json);
    assert_eq!(s["read"]["strategy"], "stream");
    assert_eq!(s["read"]["stream_estimate"], 1 + 4);
    assert_eq!(s["read"]["lookup_estimate"], 1 + 3);
    assert_eq!(s["requests"], 1 + 4);
    assert_eq!(requests_seen(&sb) - seen, 1 + 4);
    let rows = results(&env.path("few.verify.csv"));
    let verdicts: Vec<&str> = rows.iter().map(|r| r["_verify"].as_str()).collect();
    assert_eq!(verdicts, ["match", "match", "missing"]);

    // With a tag column the stream also reads the tag list and each tag's members (5 tags,
    // under 100 members each); a lookup reads the tag list and gets tags with the contact.
    let mut text = String::from("email,tag_ids\n");
    for c in &contacts[..3] {
        let ids: Vec<String> = c.tags.iter().flatten().map(u64::to_string).collect();
        text.push_str(&format!("{},\"{}\"\n", c.email, ids.join(",")));
    }
    let tagged = env.write("tagged.csv", &text);
    for (read, cost) in [("stream", 1 + 1 + 5 + 4), ("lookup", 1 + 1 + 3)] {
        let seen = requests_seen(&sb);
        let mut args = json_arg.to_vec();
        args.extend(["--read", read]);
        assert_eq!(verify(&sb, &tagged, &args), 0, "{read}");
        assert_eq!(summary(&json)["requests"], cost, "{read}");
        assert_eq!(requests_seen(&sb) - seen, cost, "{read}");
    }
}

#[test]
fn outputs_follow_the_file_rules_and_errors_keep_their_exit_codes() {
    let env = Env::new();
    let sb = seeded(20, 0);
    let email = sb.contacts()[0].email.clone();
    let file = env.write("in.csv", &format!("email\n{email}\n"));
    let input_before = std::fs::read(&file).unwrap();

    // A symbolic link's target is replaced and the link stays; the input is never touched.
    let real = env.write("real.csv", "old\n");
    let link = env.path("link.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert_eq!(verify(&sb, &file, &["-o", link.to_str().unwrap()]), 0);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(results(&real)[0]["_verify"], "match");
    assert_eq!(std::fs::read(&file).unwrap(), input_before);

    // Naming the input as an output is a usage error before any request.
    let seen = requests_seen(&sb);
    assert_eq!(verify(&sb, &file, &["--extra", file.to_str().unwrap()]), 2);
    let no_email = env.write("no-email.csv", "name\nAnn\n");
    assert_eq!(verify(&sb, &no_email, &[]), 2);
    assert_eq!(requests_seen(&sb), seen);
    assert_eq!(std::fs::read(&file).unwrap(), input_before);

    // A refused key: exit 3 after the one probe, no verify file, and a summary saying so.
    let out = env.path("refused.csv");
    let json = env.path("refused.json");
    bin(&sb)
        .env("WOLFEO_API_KEY", "wrong-key")
        .args(["verify", "--rate", "unlimited", "-o", out.to_str().unwrap()])
        .args(["--summary-json", json.to_str().unwrap()])
        .arg(&file)
        .assert()
        .code(3);
    assert_eq!(requests_seen(&sb), seen + 1);
    assert!(!out.exists());
    let s = summary(&json);
    assert_eq!(
        (s["status"].as_str(), s["exit_code"].as_i64()),
        (Some("aborted"), Some(3))
    );
    assert_eq!(s["output_rows"], Value::Null);
}

#[test]
fn custom_fields_are_compared_when_asked_at_one_request_per_row() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let company = sb.add_custom_field("Company", None);
    sb.add_custom_field("Plan", Some("Starter,Pro"));
    let file = env.write(
        "in.csv",
        "email,first_name,Company,Plan\na@x.co,Ann,Acme,Pro\nb@x.co,Bob,Globex,\n",
    );
    bin(&sb)
        .args(["import", "--rate", "unlimited"])
        .arg(&file)
        .assert()
        .code(0);
    assert_eq!(sb.custom_values()["a@x.co"]["Company"], "Acme");
    let json = env.path("s.json");
    let json_arg = ["--summary-json", json.to_str().unwrap()];

    let seen = requests_seen(&sb);
    assert_eq!(verify(&sb, &file, &json_arg), 0);
    let plain = requests_seen(&sb) - seen;
    assert_eq!(summary(&json)["requests"], plain);

    // Opt-in: the definitions once, then one retrieve per row found.
    let mut args = json_arg.to_vec();
    args.push("--custom-fields");
    let seen = requests_seen(&sb);
    assert_eq!(verify(&sb, &file, &args), 0);
    assert_eq!(requests_seen(&sb) - seen, plain + 1 + 2);
    assert_eq!(summary(&json)["requests"], plain + 1 + 2);

    let a = by_email(&sb)["a@x.co"].id;
    let put = json!({"contact_id": a, "custom_field_id": company, "value": "Initech"});
    let status = call(&sb, reqwest::Method::PUT, "contact-custom-field", Some(put));
    assert_eq!(status, 200);
    assert_eq!(
        verify(&sb, &file, &json_arg),
        0,
        "not compared without the flag"
    );
    assert_eq!(verify(&sb, &file, &args), 1);
    let rows = results(&env.path("in.verify.csv"));
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["_verify"].as_str(), r["_diff"].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("differs", r#"custom:Company: "Acme" != "Initech""#),
            ("match", "")
        ]
    );
}

#[test]
fn a_spreadsheet_is_read_as_import_reads_it() {
    let env = Env::new();
    let sb = seeded(5, 0);
    let contacts = sb.contacts();
    let xlsx = env.path("book.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let other = book.add_worksheet().set_name("Other").unwrap();
    other.write(0, 0, "nothing here").unwrap();
    let sheet = book.add_worksheet().set_name("Contacts").unwrap();
    sheet.write(0, 0, "Exported on 2026-12-01").unwrap();
    for (col, header) in ["E-mail", "First Name"].iter().enumerate() {
        sheet.write(1, col as u16, *header).unwrap();
    }
    for (i, c) in contacts[..2].iter().enumerate() {
        let row = i as u32 + 2;
        sheet.write(row, 0, c.email.as_str()).unwrap();
        sheet.write(row, 1, "Someone Else").unwrap();
    }
    book.save(&xlsx).unwrap();
    let args = ["--sheet", "Contacts", "--skip-lines", "1"];
    assert_eq!(verify(&sb, &xlsx, &args), 1);
    let rows = results(&env.path("book.verify.csv"));
    let want: Vec<String> = contacts[..2]
        .iter()
        .map(|c| {
            let name = c.first_name.clone().unwrap_or_default();
            format!("first_name: \"Someone Else\" != \"{name}\"")
        })
        .collect();
    let got: Vec<String> = rows.iter().map(|r| r["_diff"].clone()).collect();
    assert_eq!(got, want);
}

#[test]
fn invalid_and_duplicate_rows_are_named_but_assert_nothing_and_limit_stops_early() {
    let env = Env::new();
    let sb = seeded(5, 0);
    let email = sb.contacts()[0].email.clone();
    let upper = email.to_uppercase();
    let text = format!("email\n{email}\nnot-an-email\n{upper}\nnobody@example.com\n");
    let file = env.write("in.csv", &text);
    assert_eq!(verify(&sb, &file, &["--limit", "3"]), 0);
    let rows = results(&env.path("in.verify.csv"));
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["_row"].as_str(), r["_verify"].as_str()))
        .collect();
    assert_eq!(got, [("1", "match"), ("2", "invalid"), ("3", "duplicate")]);
    assert!(rows[1]["_diff"].starts_with("email: "), "{:?}", rows[1]);
    assert!(rows[2]["_diff"].contains("row 1"), "{:?}", rows[2]);
    assert_eq!(verify(&sb, &file, &[]), 1, "row 4 is missing");
}
