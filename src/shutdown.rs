//! Ctrl-C / SIGTERM handling shared by import and export.
//!
//! The first signal asks the run to stop taking work: workers check [`Shutdown::is_triggered`]
//! before each attempt and the pipeline gives in-flight requests a bounded grace period, then
//! flushes what it learned. A second signal exits at once with 130.
//!
//! The flag is tokio-util's [`CancellationToken`]: triggering wakes every waiter, a waiter that
//! starts after the trigger returns at once, and [`Shutdown::token`] hands it to code that
//! selects on `cancelled()` directly.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Arc<Self> {
        Arc::new(Shutdown::default())
    }

    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the shutdown has been triggered (at once if it already was).
    pub async fn wait(&self) {
        self.token.cancelled().await;
    }

    /// The underlying token, for `select!` on `cancelled()` or a child token per task.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Listens for SIGINT/SIGTERM on the current runtime. `on_first` runs once, for the message.
    pub fn listen_for_signals(self: &Arc<Self>, on_first: impl Fn() + Send + 'static) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut count = 0;
            loop {
                wait_for_signal().await;
                count += 1;
                if count == 1 {
                    on_first();
                    this.trigger();
                } else {
                    eprintln!("wolfeo-bulk: second interrupt, exiting now");
                    std::process::exit(crate::exit::Exit::Interrupted.code());
                }
            }
        });
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_returns_after_trigger() {
        let s = Shutdown::new();
        let s2 = Arc::clone(&s);
        let waiter = tokio::spawn(async move { s2.wait().await });
        tokio::task::yield_now().await;
        s.trigger();
        waiter.await.unwrap();
        assert!(s.is_triggered());
        // A waiter that comes after the trigger does not wait.
        tokio::time::timeout(std::time::Duration::from_secs(1), s.wait())
            .await
            .unwrap();
        assert!(s.token().is_cancelled());
    }
}
