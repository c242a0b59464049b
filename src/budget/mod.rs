//! The request budget of one account: where the pacer takes its turns from.
//!
//! A [`Schedule`] hands out request slots from one [`Slots`] record: behind a mutex for a
//! private budget, or in a file shared by every `wolfeo-bulk` process of this user that talks to
//! the same account ([`shared`]), so that a cron export and an ad-hoc import started together
//! split the account's rate instead of each spending all of it, and a 429 seen by one pauses
//! all. The pacer ([`crate::limiter::Pacer`]) owns one schedule and stays the FIFO in front of
//! it; [`crate::session::Session::open`] decides which kind from `--budget`, the rate and the
//! URL. If the shared file fails mid-run the schedule carries on privately and says so.
//!
//! Why no `governor` (the design card's limiter), not even in front as the `--rate` ceiling:
//! the schedule already is that ceiling (every grant is at least this process's interval after
//! the previous one), so a second limiter in series could only add its own error. Measured with
//! governor 0.10.4 (`Quota::per_second(10).allow_burst(1)`), 101 callers in a row behind our FIFO
//! queue got 99.53 % and 99.65 % of 10/s: GCRA sets the next slot from the late wake-up
//! (`max(tat, now) + t`), so each timer delay is lost for good, where our schedule, slept on
//! tokio's timer, got 99.98 % and 99.99 % (it does not carry a late wake-up). Eight waiters
//! arriving in order 0..7 were served [2, 1, 7, 0, 6, 3, 5, 4]: `until_ready` re-polls after a
//! delay and is not first come first served, which the split between processes and the order
//! of export pages rely on. Its quota is fixed when built, so it cannot follow `--rate auto`.

pub(crate) mod flights;
pub(crate) mod learn;
pub(crate) mod rate;
mod shared;
pub(crate) mod slots;
pub mod window;

use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use shared::SharedFile;
pub(crate) use slots::{Confirm, Slots};

/// `--budget`: share the account's rate with the other processes of this host, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BudgetMode {
    #[default]
    Shared,
    Private,
}

impl FromStr for BudgetMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "shared" => Ok(BudgetMode::Shared),
            "private" => Ok(BudgetMode::Private),
            _ => Err(format!("invalid budget {s:?}: expected shared or private")),
        }
    }
}

/// What the summary says about the budget.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BudgetStats {
    /// `shared` (host-wide file) or `private`, with why when it is not the one asked for.
    pub mode: String,
    /// Most processes taking slots at once, this one included (1: never shared).
    pub max_processes: u32,
    /// This run's grants over all grants of the account's schedule while it ran (1.0 alone).
    pub share: Option<f64>,
    /// Pauses this run started or extended (429s, spent windows).
    pub pauses: u64,
    /// Of those, waits for the end of a window the server said was spent (no 429 needed).
    pub window_holds: u64,
    /// The server's `X-RateLimit-Limit`, when it sends one.
    pub server_limit: Option<u32>,
    /// Windows learnt from a 429 without any header (the pace then stays under them).
    pub windows_learnt: u64,
    /// With `--rate auto`: the pace it ended at, requests/s (10 unless the server advertised
    /// more than 600 per minute); `null` for any other `--rate`.
    pub auto_rate: Option<f64>,
}

impl BudgetStats {
    /// The summary's `budget` line, when there is something to say: shared with others, a
    /// private budget that was meant to be shared, or what `--rate auto` followed.
    pub fn summary_line(&self) -> Option<String> {
        let others = self.max_processes.saturating_sub(1);
        let mut parts = Vec::new();
        if others > 0 {
            parts.push(format!(
                "shared with {others} other process{} of this account{}",
                if others == 1 { "" } else { "es" },
                self.share
                    .map(|s| format!("; this run got {:.0}% of its requests", s * 100.0))
                    .unwrap_or_default()
            ));
        } else if self.mode.contains("failed") {
            parts.push(self.mode.clone());
        }
        if let Some(rate) = self.auto_rate {
            parts.push(match self.server_limit {
                Some(limit) if limit > window::DOCUMENTED_LIMIT => {
                    format!("--rate auto followed the server's limit of {limit}/min ({rate:.1}/s)")
                }
                _ => format!(
                    "--rate auto: the server advertised no limit above 600/min ({rate:.1}/s)"
                ),
            });
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

enum Backend {
    Private(Mutex<Slots>),
    Shared(Mutex<SharedFile>),
}

pub struct Schedule {
    backend: Backend,
    /// This pacer's identity in the record: pid and a random token.
    me: (u32, u32),
    epoch: Instant,
    /// Set when the shared file failed: from then on `fallback` is the schedule.
    failure: OnceLock<String>,
    fallback: Mutex<Slots>,
}

impl Schedule {
    pub fn private() -> Schedule {
        Schedule::with(Backend::Private(Mutex::new(Slots::default())))
    }

    /// The host-wide schedule of the account at `base_url` with `key`.
    pub fn shared(base_url: &str, key: &str) -> std::io::Result<Schedule> {
        let file = SharedFile::open(base_url, key)?;
        Ok(Schedule::with(Backend::Shared(Mutex::new(file))))
    }

    fn with(backend: Backend) -> Schedule {
        Schedule {
            backend,
            me: (std::process::id(), rand::random()),
            epoch: Instant::now(),
            failure: OnceLock::new(),
            fallback: Mutex::new(Slots::default()),
        }
    }

    pub(crate) fn identity(&self) -> (u32, u32) {
        self.me
    }

    /// `shared`, `private`, or `private (shared budget failed: ...)`.
    pub fn describe(&self) -> String {
        match (&self.backend, self.failure.get()) {
            (_, Some(why)) => format!("private (shared budget failed: {why})"),
            (Backend::Shared(_), None) => "shared".into(),
            (Backend::Private(_), None) => "private".into(),
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Shared(_)) && self.failure.get().is_none()
    }

    /// Microseconds on the schedule's clock: the wall clock for a shared record (the only
    /// clock all processes read alike), a monotonic one for a private record. Never 0.
    pub fn now_us(&self) -> u64 {
        match self.backend {
            Backend::Shared(_) if self.failure.get().is_none() => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_micros() as u64),
            _ => self.epoch.elapsed().as_micros() as u64 + 1,
        }
    }

    /// Runs `f` on the record with the current time; the shared one under its lock.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut Slots, u64) -> R) -> R {
        if let (Backend::Shared(file), None) = (&self.backend, self.failure.get()) {
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            let mut f = Some(f);
            let now = self.now_us();
            match file.update(|s| (f.take().expect("called once"))(s, now)) {
                Ok(r) => return r,
                Err(e) => {
                    let _ = self.failure.set(format!("{}: {e}", file.path().display()));
                    let f = f.expect("update failed before calling f");
                    let mut slots = self.fallback.lock().unwrap_or_else(|e| e.into_inner());
                    return f(&mut slots, self.now_us());
                }
            }
        }
        let slots = match &self.backend {
            Backend::Private(slots) if self.failure.get().is_none() => slots,
            _ => &self.fallback,
        };
        let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut slots, self.now_us())
    }
}

impl Drop for Schedule {
    /// The others stop counting this process as soon as it ends normally.
    fn drop(&mut self) {
        if self.is_shared() {
            let me = self.me;
            self.update(|s, now| s.leave(me, now));
        }
    }
}

/// Whether a process still runs, for dropping a killed process from the members at once.
pub(crate) fn alive(pid: u32) -> bool {
    shared::alive(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_budget_modes() {
        assert_eq!("shared".parse(), Ok(BudgetMode::Shared));
        assert_eq!("Private".parse(), Ok(BudgetMode::Private));
        assert!("global".parse::<BudgetMode>().is_err());
    }

    #[test]
    fn the_summary_says_when_and_with_how_many() {
        let mut s = BudgetStats {
            mode: "shared".into(),
            max_processes: 1,
            share: Some(1.0),
            ..BudgetStats::default()
        };
        assert_eq!(s.summary_line(), None);
        s.max_processes = 3;
        s.share = Some(0.334);
        assert_eq!(
            s.summary_line().unwrap(),
            "shared with 2 other processes of this account; this run got 33% of its requests"
        );
        s.max_processes = 1;
        s.auto_rate = Some(20.0);
        s.server_limit = Some(1200);
        assert_eq!(
            s.summary_line().unwrap(),
            "--rate auto followed the server's limit of 1200/min (20.0/s)"
        );
        s.server_limit = Some(60);
        s.auto_rate = Some(10.0);
        assert_eq!(
            s.summary_line().unwrap(),
            "--rate auto: the server advertised no limit above 600/min (10.0/s)"
        );
    }

    #[test]
    fn two_schedules_of_one_account_share_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let a = shared_in(dir.path(), "http://127.0.0.1:9/v1", "k");
        let b = shared_in(dir.path(), "http://127.0.0.1:9/v1", "k");
        let other = shared_in(dir.path(), "http://127.0.0.1:9/v1", "k2");
        let step = 100_000;
        let ga = a.update(|s, now| s.reserve(now, step, a.identity(), alive));
        let gb = b.update(|s, now| s.reserve(now, step, b.identity(), alive));
        let go = other.update(|s, now| s.reserve(now, step, other.identity(), alive));
        assert!(gb.at_us >= ga.at_us + step, "b waits for a's slot");
        assert_eq!(
            (ga.sharing, gb.sharing, go.sharing),
            (1, 2, 1),
            "another key: another record"
        );
        drop(a);
        let gb2 = b.update(|s, now| s.reserve(now, step, b.identity(), alive));
        assert_eq!(gb2.sharing, 1, "a left");
        assert!(b.is_shared() && b.describe() == "shared");
    }

    fn shared_in(dir: &std::path::Path, url: &str, key: &str) -> Schedule {
        let file = SharedFile::open_in(dir, url, key).unwrap();
        Schedule::with(Backend::Shared(Mutex::new(file)))
    }
}
