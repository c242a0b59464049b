//! Faults, stats, state, load, and the ways the sandbox is started.

use super::*;

#[tokio::test]
async fn dropped_create_is_stored_but_unanswered() {
    let sb = start(Config {
        drop_rate: 1.0,
        ..Config::default()
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = http
        .post(sb.url("/v1/contact"))
        .bearer_auth("sandbox-key")
        .json(&json!({"email": "lost@x.co"}))
        .send()
        .await
        .expect_err("no response");
    assert!(
        !err.is_timeout(),
        "the connection is closed, not left hanging: {err}"
    );
    assert_eq!(sb.handle.contacts()[0].email, "lost@x.co");
    let stats = sb.handle.stats();
    assert_eq!(stats.dropped_total, 1);
    assert_eq!(stats.responses_by_status.values().sum::<u64>(), 0);
    // The retry an importer makes sees the contact, and reads and failures are not dropped.
    sb.handle.set_fault_rates(0.0, 0.0);
    let r = sb.post("/v1/contact", json!({"email": "lost@x.co"})).await;
    assert_error(&r, 409, "CONTACT_EXISTS");
    sb.handle.set_fault_rates(0.0, 1.0);
    assert_eq!(sb.get("/v1/contact?email=lost%40x.co").await.status, 200);
}

#[tokio::test]
async fn stats_endpoint_needs_no_key_and_is_not_counted() {
    let sb = start(Config {
        seed_contacts: 3,
        ..Config::default()
    });
    sb.get("/v1/contacts").await;
    sb.send(sb.http.get(sb.url("/v1/contacts"))).await;
    sb.send(sb.http.get(sb.url("/nope"))).await;
    let r = sb.send(sb.http.get(sb.url("/_sandbox/stats"))).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    for field in [
        "requests_total",
        "responses_by_status",
        "contacts_total",
        "throttled_total",
        "dropped_total",
        "peak_requests_per_window",
    ] {
        assert!(v.get(field).is_some(), "{field}");
    }
    let stats: Stats = serde_json::from_value(v).unwrap();
    assert_eq!(stats, sb.handle.stats());
    assert_eq!(stats.requests_total, 3);
    assert_eq!(
        stats.responses_by_status,
        [(200, 1), (401, 1), (404, 1)].into_iter().collect()
    );
    assert_eq!(stats.contacts_total, 3);
    assert_eq!(
        stats.peak_requests_per_window, 1,
        "only authenticated requests"
    );
    assert_eq!(stats.peak_window_ms, 60_000);
}

#[tokio::test]
async fn latency_delays_responses() {
    let sb = start(Config {
        latency: Some((Duration::from_millis(150), Duration::from_millis(200))),
        ..Config::default()
    });
    let t0 = Instant::now();
    assert_eq!(sb.get("/v1/tags").await.status, 200);
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(150), "{took:?}");
}

#[test]
fn state_file_round_trip_from_a_plain_test() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("account.json");
    let first = spawn(Config {
        state_file: Some(path.clone()),
        seed_contacts: 10,
        seed_tags: 2,
        ..Config::default()
    })
    .unwrap();
    let id = first.insert_contact("kept@x.co");
    assert_eq!(id, 11);
    let before = first.contacts();
    let tags = first.tags();
    first.shutdown();
    assert!(path.exists());

    // The saved account wins over seed options, and ids continue.
    let second = spawn(Config {
        state_file: Some(path.clone()),
        seed_contacts: 99,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(second.contacts(), before);
    assert_eq!(second.tags(), tags);
    assert_eq!(second.insert_contact("next@x.co"), 12);
    assert_eq!(second.insert_contact("KEPT@x.co"), 11);
    drop(second);
    let third = spawn(Config {
        state_file: Some(path),
        ..Config::default()
    })
    .unwrap();
    assert_eq!(third.stats().contacts_total, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_all_succeed() {
    let sb = start(unlimited());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let url = sb.url("/v1/contact");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(1000));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let (http, url, barrier) = (http.clone(), url.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                http.post(url)
                    .bearer_auth("sandbox-key")
                    .json(&json!({ "email": format!("load{i}@x.co") }))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(201) => created += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1000);
    let stats = sb.handle.stats();
    assert_eq!(stats.contacts_total, 1000);
    assert_eq!(stats.requests_total, 1000);
}

#[test]
fn spawn_works_inside_another_runtime_and_ports_differ() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = rt.block_on(async { (start(Config::default()), start(Config::default())) });
    assert_ne!(a.handle.addr(), b.handle.addr());
    assert_eq!(
        a.handle.base_url(),
        format!("http://127.0.0.1:{}/v1", a.handle.addr().port())
    );
    rt.block_on(async {
        assert_eq!(a.get("/v1/tags").await.status, 200);
    });
    drop(a);
    drop(b);
}

/// `wolfeo-bulk sandbox` prints one line with the URL and key, serves, logs requests with
/// `-v` (never the query string, which may hold the key), and stops on SIGTERM.
#[test]
fn the_sandbox_subcommand_prints_its_url_and_serves_until_terminated() {
    use std::io::{BufRead, Read};
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wolfeo-bulk"))
        .args([
            "-v",
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            "k-cli",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("api key: k-cli"), "{line}");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    assert!(url.ends_with("/v1"), "{url}");
    assert!(!url.ends_with(":0/v1"), "prints the port it got: {url}");
    let body = reqwest::blocking::get(url.replace("/v1", "/_sandbox/stats"))
        .unwrap()
        .text()
        .unwrap();
    assert!(body.contains("requests_total"), "{body}");
    let listed = reqwest::blocking::get(format!("{url}/contacts?api_key=k-cli")).unwrap();
    assert_eq!(listed.status(), 200);
    crate::harness::terminate(&child);
    assert!(child.wait().unwrap().success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("GET /v1/contacts -> 200"), "{log}");
    assert!(!log.contains("k-cli"), "the key leaked into the log: {log}");
}
