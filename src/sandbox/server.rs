//! The accept loop: one tokio task per TCP connection, HTTP/1.1 keep-alive, axum behind it.
//!
//! The loop is hand-written rather than `axum::serve` for one reason: `--drop-rate` must close a
//! connection with no response at all *after* the contact was stored, which is the ambiguous
//! case an importer has to resolve. Each connection therefore runs inside a task-local "kill
//! switch" (a `Notify`); the create handler stores the contact, pulls the switch and never
//! returns, and the connection task, which races the switch against the connection, drops the
//! socket. A task-local costs nothing per request, unlike a request extension; it works because
//! hyper polls the service future inside the connection's own task.
//!
//! Accepted sockets get `TCP_NODELAY` (small JSON responses must not wait for Nagle) and the
//! listen backlog is 4096, so a burst of 1,000 simultaneous connects is not refused.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use super::{App, routes, seed};

const BACKLOG: u32 = 4096;

tokio::task_local! {
    static KILL_SWITCH: Arc<Notify>;
}

/// Asks the current connection to close without answering. `false` outside a connection
/// (a router driven directly), where the caller should answer normally.
pub fn pull_kill_switch() -> bool {
    KILL_SWITCH.try_with(|k| k.notify_one()).is_ok()
}

/// Body of the server thread: runtime, bind, report, serve until stopped, save state.
pub fn run(
    app: Arc<App>,
    listen: SocketAddr,
    state_file: Option<PathBuf>,
    ready: Sender<io::Result<SocketAddr>>,
    stop: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("wolfeo-sandbox-worker")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let listener = match runtime.block_on(async { bind(listen) }) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(listener.local_addr());
    let router = routes::router(app.clone());
    runtime.block_on(accept_loop(listener, app.clone(), router, stop));
    // Dropping the runtime drops every connection task, i.e. closes the sockets.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(path) = state_file
        && let Err(e) = seed::save_state(&path, app.store().account())
    {
        eprintln!(
            "sandbox: could not save the account to {}: {e}",
            path.display()
        );
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // A restarted `sandbox --listen :8080` must not wait out TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            biased;
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors or a connection reset before accept: back off
                // briefly instead of spinning; the pending connections stay in the backlog.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(stream, app.clone(), router.clone()));
    }
}

async fn connection(stream: TcpStream, app: Arc<App>, router: Router) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let (router, app) = (router.clone(), app.clone());
        async move {
            let counted = req.uri().path() != routes::STATS_PATH;
            if counted {
                app.counters.requests.fetch_add(1, Ordering::Relaxed);
            }
            let response = match router.oneshot(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if counted {
                app.counters.record(response.status().as_u16());
            }
            Ok::<_, Infallible>(response)
        }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    KILL_SWITCH
        .scope(kill.clone(), async move {
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
            }
        })
        .await;
}
