//! Export against a small server written here that answers pages the sandbox never would: a
//! huge `meta.last_page`, a page that is HTML, a page without `meta`, a total its pages do not
//! hold. The walk is bounded by `meta.total`, and what is not a page is an error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::harness::{Env, read_csv};

#[derive(Clone, Copy)]
enum Lie {
    HugeLastPage,
    HtmlPage2,
    NoMeta,
    TotalTooLarge,
}

struct Fake {
    lie: Lie,
    total: u64,
    requests: AtomicU64,
}

async fn contacts(
    State(fake): State<Arc<Fake>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    let page: u64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    if matches!(fake.lie, Lie::HtmlPage2) && page == 2 {
        return (
            [("content-type", "text/html")],
            "<html><body>Please log in</body></html>",
        )
            .into_response();
    }
    // What exists: ids total..=1 newest first; TotalTooLarge claims 10 more than it has.
    let real = match fake.lie {
        Lie::TotalTooLarge => fake.total - 10,
        _ => fake.total,
    };
    let ids: Vec<u64> = (1..=real)
        .rev()
        .skip(((page - 1) * 100) as usize)
        .take(100)
        .collect();
    let data: Vec<_> = ids
        .iter()
        .map(|id| {
            json!({"id": id, "email": format!("c{id}@example.com"), "email_marketing": true,
                   "gdpr": false, "created_at": "2024-01-01T09:00:00.000000Z"})
        })
        .collect();
    let last_page = match fake.lie {
        Lie::HugeLastPage => 1_000_000_000,
        _ => fake.total.div_ceil(100),
    };
    let meta = json!({"current_page": page, "last_page": last_page, "per_page": 100,
                      "total": fake.total});
    let body = match fake.lie {
        Lie::NoMeta => json!({"success": true, "data": data}),
        _ => json!({"success": true, "data": data, "meta": meta}),
    };
    axum::Json(body).into_response()
}

/// Serves until the test ends (the thread is left behind with the process).
fn serve(lie: Lie, total: u64) -> (SocketAddr, Arc<Fake>) {
    let fake = Arc::new(Fake {
        lie,
        total,
        requests: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route("/v1/contacts", axum::routing::get(contacts))
        .with_state(Arc::clone(&fake));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (addr, fake)
}

fn export(addr: SocketAddr, out: &std::path::Path, strict: bool) -> assert_cmd::assert::Assert {
    let mut cmd = assert_cmd::Command::cargo_bin("wolfeo-bulk").unwrap();
    cmd.env("WOLFEO_BASE_URL", format!("http://{addr}/v1"))
        .env("WOLFEO_API_KEY", "k")
        .args([
            "export",
            "-q",
            "--rate",
            "unlimited",
            "--max-retries",
            "0",
            "-o",
        ])
        .arg(out)
        .timeout(std::time::Duration::from_secs(60));
    if strict {
        cmd.arg("--strict");
    }
    cmd.assert()
}

#[test]
fn a_huge_last_page_costs_nothing() {
    let env = Env::new();
    let (addr, fake) = serve(Lie::HugeLastPage, 150);
    let out = env.path("huge.csv");
    export(addr, &out, true).code(0);
    assert_eq!(read_csv(&out).1.len(), 150);
    // Pages 1-3 are asked for together before the total is known, then page 1 again (the
    // check that nothing changed during the walk); nothing past the total.
    assert!(fake.requests.load(Ordering::SeqCst) <= 4);
}

#[test]
fn what_is_not_a_page_is_an_error_and_leaves_no_file() {
    for lie in [Lie::HtmlPage2, Lie::NoMeta] {
        let env = Env::new();
        let (addr, _fake) = serve(lie, 250);
        let out = env.path("bad.csv");
        let assert = export(addr, &out, false).failure();
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains("page"), "{stderr}");
        assert!(!out.exists(), "no file for a failed export");
    }
}

#[test]
fn a_total_the_pages_never_hold_is_not_complete() {
    let env = Env::new();
    let (addr, fake) = serve(Lie::TotalTooLarge, 250);
    let out = env.path("short.csv");
    export(addr, &out, true).code(1);
    assert_eq!(
        read_csv(&out).1.len(),
        240,
        "the best copy is still written"
    );
    let requests = fake.requests.load(Ordering::SeqCst);
    assert!(requests <= 10, "gave up after a few re-reads ({requests})");
    export(addr, &env.path("short2.csv"), false).code(0);
}
