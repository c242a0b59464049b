//! The HTTP round-trip ceiling on this machine, and a unique-email load generator.
//!
//! Default mode: a bare axum `POST /v1/contact` that returns a fixed 201 JSON body, and a
//! reqwest client (the same stack import uses) posting a small JSON body N times with C in
//! flight, over loopback, in one process. Nothing an import does per row can go faster than
//! this, so `benches/e2e.sh` reports import throughput as a ratio of it.
//!
//! `--target http://127.0.0.1:PORT/v1`: no local server; posts creates with unique emails to a
//! running sandbox (or anything speaking the API), which a fixed-body load generator such as
//! oha cannot do. Prints one JSON line on stdout (for the script) and a readable line on
//! stderr.
//!
//! ```text
//! cargo run --release --example http_ceiling -- --requests 50000 --concurrency 16
//! cargo run --release --example http_ceiling -- --target http://127.0.0.1:PORT/v1 -n 50000 -c 64
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use clap::Parser;
use futures::StreamExt;

/// The allocator `wolfeo-bulk` uses, so that the ceiling and the import differ only in what
/// the import does per row.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Args {
    /// Requests to send in total.
    #[arg(short = 'n', long, default_value_t = 50_000)]
    requests: u64,
    /// Requests in flight at once.
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    /// Base URL of a running API (…/v1); default: a bare in-process server.
    #[arg(long)]
    target: Option<String>,
    /// Bearer key sent with --target.
    #[arg(long, default_value = "sandbox-key")]
    api_key: String,
    /// Worker threads of the client runtime (the server, when local, gets two of its own).
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (base, _server) = match &args.target {
        Some(url) => (url.trim_end_matches('/').to_string(), None),
        None => {
            let (addr, handle) = spawn_bare_server()?;
            (format!("http://{addr}/v1"), Some(handle))
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .enable_all()
        .build()?;
    let report = runtime.block_on(load(&args, &format!("{base}/contact")))?;
    let mode = if args.target.is_some() {
        "target"
    } else {
        "ceiling"
    };
    let line = serde_json::json!({
        "mode": mode,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "elapsed_seconds": report.elapsed.as_secs_f64(),
        "requests_per_second": args.requests as f64 / report.elapsed.as_secs_f64(),
        "by_status": report.by_status,
        "errors": report.errors,
    });
    println!("{line}");
    eprintln!(
        "{mode}: {} requests, concurrency {}: {:.0} requests/s ({:?}), statuses {:?}, errors {}",
        args.requests,
        args.concurrency,
        args.requests as f64 / report.elapsed.as_secs_f64(),
        report.elapsed,
        report.by_status,
        report.errors
    );
    Ok(())
}

struct Report {
    elapsed: Duration,
    by_status: BTreeMap<u16, u64>,
    errors: u64,
}

async fn load(args: &Args, url: &str) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let auth = format!("Bearer {}", args.api_key);
    // Unique per run so a second run against the same sandbox still creates, not 409s.
    let run = std::process::id();
    let started = Instant::now();
    let mut by_status = BTreeMap::new();
    let mut errors = 0u64;
    let mut responses = futures::stream::iter(0..args.requests)
        .map(|i| {
            let body = format!(
                r#"{{"email":"bench.{run}.{i}@example.com","first_name":"Bench","last_name":"Row{i}"}}"#
            );
            let request = client
                .post(url)
                .header(header::AUTHORIZATION, &auth)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json")
                .body(body)
                .send();
            async move {
                let response = request.await?;
                let status = response.status().as_u16();
                response.bytes().await?;
                Ok::<u16, reqwest::Error>(status)
            }
        })
        .buffer_unordered(args.concurrency.max(1));
    while let Some(result) = responses.next().await {
        match result {
            Ok(status) => *by_status.entry(status).or_insert(0u64) += 1,
            Err(_) => errors += 1,
        }
    }
    Ok(Report {
        elapsed: started.elapsed(),
        by_status,
        errors,
    })
}

/// The floor of any server: read the body, answer a constant.
async fn create(_body: Bytes) -> impl IntoResponse {
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"success":true,"data":{"id":1}}"#,
    )
}

/// On its own two-worker runtime and thread, as the sandbox runs.
fn spawn_bare_server() -> anyhow::Result<(SocketAddr, std::thread::JoinHandle<()>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let app = Router::new().route("/v1/contact", post(create));
    let handle = std::thread::Builder::new()
        .name("bare-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                axum::serve(listener, app).await.ok();
            })
        })?;
    Ok((addr, handle))
}
