//! `--with-tags` on incremental runs: the tags of the new contacts are read the cheaper way
//! (one `GET /v1/contacts-tags` per new contact, or every tag's members), and the cells are
//! the sandbox's own tags either way (issue 19.7).

use std::collections::BTreeMap;

use serde_json::json;

use super::{ids, seeded, summary};
use crate::harness::{Env, bin, read_csv};
use wolfeo_bulk::sandbox::SandboxHandle;

/// Creates `n` contacts through the API, each with one or two of the seeded tags.
fn create_tagged(sb: &SandboxHandle, prefix: &str, n: u64) {
    let http = reqwest::blocking::Client::new();
    for i in 0..n {
        let tags = if i % 2 == 0 { "1" } else { "2,5" };
        let r = http
            .post(format!("{}/contact", sb.base_url()))
            .bearer_auth(sb.api_key())
            .json(&json!({"email": format!("{prefix}{i}@example.com"), "tag_ids": tags}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
    }
}

/// id -> sorted tag ids, as the sandbox stores them.
fn stored_tags(sb: &SandboxHandle) -> BTreeMap<u64, String> {
    sb.contacts()
        .into_iter()
        .map(|c| {
            let mut t = c.tags.unwrap_or_default();
            t.sort_unstable();
            let cell = t.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
            (c.id, cell)
        })
        .collect()
}

#[test]
fn incremental_runs_with_tags_take_the_cheaper_read() {
    let env = Env::new();
    let sb = seeded(1200, 5);
    let state = env.path("s.json");
    let run = |name: &str| {
        let out = env.path(name);
        let json = env.path(&format!("{name}.json"));
        bin(&sb)
            .args(["export", "-q", "--rate", "unlimited", "--with-tags", "ids"])
            .arg("--state")
            .arg(&state)
            .arg("-o")
            .arg(&out)
            .arg("--summary-json")
            .arg(&json)
            .assert()
            .code(0);
        (read_csv(&out).1, summary(&json))
    };
    let (all, s) = run("all.csv");
    assert_eq!(all.len(), 1200);
    assert_eq!(s["tag_strategy"], "per_tag");
    let full_cost = s["tag_requests"].as_u64().unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["tag_read_requests"], full_cost);

    let check = |rows: &[Vec<String>]| {
        let want = stored_tags(&sb);
        for r in rows {
            let id: u64 = r[0].parse().unwrap();
            assert_eq!(r[7], want[&id], "tags of {id}");
        }
    };
    // A few new contacts: one request each is cheaper than every tag's members.
    let few = full_cost / 2;
    create_tagged(&sb, "few", few);
    let (delta, s) = run("few.csv");
    assert_eq!(ids(&delta).len() as u64, few);
    check(&delta);
    assert_eq!(s["tag_strategy"], "per_contact");
    assert_eq!(s["tag_requests"].as_u64().unwrap(), few);
    eprintln!(
        "{few} new contacts with tags: {} requests (a full tag read took {full_cost})",
        s["requests"]
    );

    // More new contacts than the full read costs: every tag's members again.
    let many = full_cost + 20;
    create_tagged(&sb, "many", many);
    let (delta, s) = run("many.csv");
    assert_eq!(ids(&delta).len() as u64, many);
    check(&delta);
    assert_eq!(s["tag_strategy"], "per_tag");
    assert!(s["tag_requests"].as_u64().unwrap() < many);
}
