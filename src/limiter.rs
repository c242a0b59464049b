//! The one pacer every request of a run waits on.
//!
//! Requests are spaced evenly, one slot per interval and no burst, so no window of the
//! server's limit can ever see more than its share, whatever the window's phase. The slots come
//! from the account's [`Schedule`] (private, or shared by every process of this host that talks
//! to the account: [`crate::budget`]); it is our own "next free slot" rather than `governor`'s
//! because it must live in a file other processes read. A 429 pauses the whole pipeline through
//! the same object ([`Pacer::pause_for`]), and every process sharing the budget with it. Import
//! and export both build exactly one `Pacer` and share it with every worker; retries wait on it
//! too.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::budget::window::{RateHeaders, Window};
use crate::budget::{self, BudgetStats, Confirm, Schedule};

/// Requests are spaced this much wider than the nominal rate, to absorb scheduler and network
/// jitter: two requests sent exactly 100 ms apart can arrive 99 ms apart and overflow a window.
/// A window can then only overflow if its first request is delayed by more than 0.5 % of the
/// window (300 ms of a minute) relative to a request sent a whole window later, while the cost
/// stays at 0.5 % of the throughput (9.95 of 10 requests/s).
pub const SAFETY_MARGIN: f64 = 0.005;

/// A request rate such as `10/s`, `600/min` or `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    Unlimited,
    PerPeriod { requests: u32, period: Duration },
}

impl Rate {
    /// The documented ceiling of the API: 600 requests per minute.
    pub const API_DEFAULT: Rate = Rate::PerPeriod {
        requests: 10,
        period: Duration::from_secs(1),
    };

    pub fn per_second(&self) -> Option<f64> {
        match self {
            Rate::Unlimited => None,
            Rate::PerPeriod { requests, period } => Some(*requests as f64 / period.as_secs_f64()),
        }
    }

    /// Time between two requests, margin included.
    pub fn interval(&self) -> Option<Duration> {
        self.per_second()
            .map(|r| Duration::from_secs_f64((1.0 + SAFETY_MARGIN) / r))
    }

    /// Time between two requests at exactly the rate: what a server that says how much of its
    /// window remains lets us use ([`crate::budget::window`]).
    pub fn nominal_interval(&self) -> Option<Duration> {
        self.per_second().map(|r| Duration::from_secs_f64(1.0 / r))
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if matches!(s.trim(), "unlimited" | "off" | "none") {
            return Ok(Rate::Unlimited);
        }
        let (requests, period) = crate::units::parse_per(s)?;
        Ok(Rate::PerPeriod { requests, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per_second() {
            None => f.write_str("unlimited"),
            Some(r) if r.fract() == 0.0 => write!(f, "{r}/s"),
            Some(r) => write!(f, "{r:.2}/s"),
        }
    }
}

/// The one pacer of a run: a FIFO queue in front of the account's [`Schedule`].
pub struct Pacer {
    rate: Rate,
    schedule: Schedule,
    /// Callers get their turn first come, first served (tokio's mutex is FIFO), and a process
    /// holds at most one slot of the schedule at a time: that is what splits a shared budget
    /// evenly between busy processes. Without the queue one request could lose many races for
    /// a slot in a row while later ones go out; with pages written in order, that one late page
    /// stalls the window.
    queue: tokio::sync::Mutex<()>,
    /// The latest end of a pause seen on the schedule (its clock, µs; 0: none), for the
    /// progress line. Another process's 429 shows up here at this process's next turn.
    paused_until_us: AtomicU64,
    pauses: AtomicU64,
    /// First and last turn granted, and how many: the achieved rate and share of the run.
    granted: Mutex<Option<Granted>>,
    /// What the server's rate-limit headers said about its window.
    window: Mutex<Window>,
}

#[derive(Clone, Copy)]
struct Granted {
    first: Instant,
    last: Instant,
    count: u64,
    first_seq: u64,
    last_seq: u64,
    max_sharing: u32,
    last_sharing: u32,
}

/// A turn granted by [`Pacer::ready`]: the request may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    /// Its place in the account's schedule (all processes sharing it count).
    pub seq: u64,
    /// When it was granted, on the schedule's clock (µs).
    pub at_us: u64,
}

impl Pacer {
    /// A pacer with a budget of its own.
    pub fn new(rate: Rate) -> Self {
        Pacer::with_schedule(rate, Schedule::private())
    }

    /// A pacer taking its turns from `schedule` (possibly shared with other processes).
    pub fn with_schedule(rate: Rate, schedule: Schedule) -> Self {
        Pacer {
            rate,
            schedule,
            queue: tokio::sync::Mutex::new(()),
            paused_until_us: AtomicU64::new(0),
            pauses: AtomicU64::new(0),
            granted: Mutex::new(None),
            window: Mutex::new(Window::default()),
        }
    }

    /// Waits until this caller may send one request, in the order callers arrived.
    /// Dropping the future gives the turn up (a stopping run cancels its waiters this way).
    pub async fn ready(&self) -> Turn {
        let (Some(margined), Some(nominal)) = (self.rate.interval(), self.rate.nominal_interval())
        else {
            while let Some(d) = self.pause_remaining() {
                tokio::time::sleep(d).await;
            }
            return self.grant(None);
        };
        let nominal_us = nominal.as_micros() as u64;
        let me = self.schedule.identity();
        let _turn = self.queue.lock().await;
        'reserve: loop {
            let (needs_margin, irregular, opening, length) = {
                let w = self.window();
                (
                    w.needs_margin(),
                    w.irregular(),
                    w.opening(),
                    w.length(nominal_us),
                )
            };
            let (grant, paused, interval_us, opened) = self.schedule.update(|s, now| {
                // One member's finding holds for all: the margin is in the spacing of everyone,
                // and the earliest sighting of the window's opening is everyone's estimate.
                s.irregular |= irregular;
                let opened = length.and_then(|l| s.merge_opening(opening, l));
                let interval_us = if needs_margin || s.irregular {
                    margined.as_micros() as u64
                } else {
                    nominal_us
                };
                let g = s.reserve(now, interval_us, me, budget::alive);
                (g, s.paused_until_us, interval_us, opened)
            });
            self.paused_until_us.store(paused, Ordering::Relaxed);
            self.window().adopt_opening(opened);
            let mut until = grant.at_us;
            loop {
                let wait = until.saturating_sub(self.schedule.now_us());
                if wait > 0 {
                    tokio::time::sleep(Duration::from_micros(wait)).await;
                }
                let (confirm, paused) = self.schedule.update(|s, now| {
                    // What the server said remains is spent: everyone waits for the window's
                    // end (the hold becomes the schedule's pause).
                    let hold = |seq| self.window().hold(seq, now, nominal_us);
                    (s.confirm(now, interval_us, grant, hold), s.paused_until_us)
                });
                self.paused_until_us.store(paused, Ordering::Relaxed);
                match confirm {
                    Confirm::Go(seq) => return self.grant(Some((seq, grant.sharing))),
                    Confirm::Wait(later) => until = later,
                    // A pause began while we waited: this slot is forfeit.
                    Confirm::Forfeit => continue 'reserve,
                }
            }
        }
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Learns from the rate-limit headers of the answer to the request of `turn`.
    pub fn observe(&self, turn: Turn, rtt: Duration, headers: RateHeaders) {
        self.window()
            .observe(turn.seq, turn.at_us, rtt.as_micros() as u64, headers);
    }

    /// A 429: everyone on the schedule pauses for `pause`; a `Retry-After` also tells when
    /// the server's window ends.
    pub fn throttled(&self, pause: Duration, retry_after: Option<Duration>) {
        if let Some(d) = retry_after {
            let end = self.schedule.now_us() + d.as_micros() as u64;
            self.window().throttled(end);
        }
        self.pause_for(pause);
    }

    /// Records a started request: its sequence number and how many were sharing.
    fn grant(&self, slot: Option<(u64, u32)>) -> Turn {
        let now = Instant::now();
        let (seq, sharing) = slot.unwrap_or((0, 1));
        let at_us = self.schedule.now_us();
        let mut granted = self.granted.lock().unwrap_or_else(|e| e.into_inner());
        *granted = Some(match *granted {
            None => Granted {
                first: now,
                last: now,
                count: 1,
                first_seq: seq,
                last_seq: seq,
                max_sharing: sharing,
                last_sharing: sharing,
            },
            Some(g) => Granted {
                last: now,
                count: g.count + 1,
                last_seq: seq,
                max_sharing: g.max_sharing.max(sharing),
                last_sharing: sharing,
                ..g
            },
        });
        Turn { seq, at_us }
    }

    /// Requests per second over the intervals between the turns granted: n turns span n - 1
    /// intervals. Dividing n by the whole run's time instead reads 220 requests/s for a single
    /// request, and above the limit for any short paced run. `None` below two turns.
    pub fn achieved_per_second(&self) -> Option<f64> {
        let g = (*self.granted.lock().unwrap_or_else(|e| e.into_inner()))?;
        let span = g.last.duration_since(g.first).as_secs_f64();
        (g.count >= 2 && span > 0.0).then(|| (g.count - 1) as f64 / span)
    }

    /// How the budget was shared, for the summary.
    pub fn budget_stats(&self) -> BudgetStats {
        let g = *self.granted.lock().unwrap_or_else(|e| e.into_inner());
        let (window_holds, server_limit) = {
            let w = self.window();
            (w.holds(), w.limit())
        };
        BudgetStats {
            mode: self.schedule.describe(),
            max_processes: g.map_or(1, |g| g.max_sharing),
            share: g
                .filter(|_| self.rate.interval().is_some())
                .map(|g| g.count as f64 / (g.last_seq.saturating_sub(g.first_seq) + 1) as f64),
            pauses: self.pauses.load(Ordering::Relaxed),
            window_holds,
            server_limit,
        }
    }

    /// One line on the budget for `-v`: who shares it, what the server says remains of its
    /// window and how far into it we are, the spacing, and any pause.
    pub fn status_line(&self) -> String {
        let nominal_us = self
            .rate
            .nominal_interval()
            .map_or(0, |d| d.as_micros() as u64);
        let now = self.schedule.now_us();
        let (remaining, limit, phase, margin) = {
            let w = self.window();
            (
                w.remaining(),
                w.limit(),
                w.phase(now, nominal_us),
                w.needs_margin(),
            )
        };
        let sharing =
            (*self.granted.lock().unwrap_or_else(|e| e.into_inner())).map_or(1, |g| g.last_sharing);
        let mut line = format!("budget: {}", self.schedule.describe());
        if self.schedule.is_shared() {
            line.push_str(&format!(
                ", {sharing} process{} taking turns",
                if sharing == 1 { "" } else { "es" }
            ));
        }
        match (remaining, limit) {
            (Some(r), Some(l)) => line.push_str(&format!("; server window: {r} of {l} left")),
            _ => line.push_str("; no rate-limit headers from the server"),
        }
        if let Some((into, length)) = phase {
            line.push_str(&format!(
                ", {:.1} s into {:.1} s",
                into as f64 / 1e6,
                length as f64 / 1e6
            ));
        }
        line.push_str(&format!(
            "; pace {}{}",
            self.rate,
            if margin || self.rate.interval().is_none() {
                ""
            } else {
                " (exact: the server says what remains)"
            }
        ));
        if let Some(d) = self.pause_remaining() {
            line.push_str(&format!("; paused {:.1} s more", d.as_secs_f64()));
        }
        line
    }

    /// Stops every worker, and every process sharing the budget, until `d` from now (extends,
    /// never shortens, a running pause).
    pub fn pause_for(&self, d: Duration) {
        self.pause_until_us(self.schedule.now_us() + d.as_micros() as u64);
    }

    fn pause_until_us(&self, until: u64) {
        self.pauses.fetch_add(1, Ordering::Relaxed);
        let paused = self.schedule.update(|s, now| {
            s.pause_until(now, until);
            s.paused_until_us
        });
        self.paused_until_us.store(paused, Ordering::Relaxed);
    }

    /// How long the current pause still lasts, if any (as of this process's latest turn).
    pub fn pause_remaining(&self) -> Option<Duration> {
        let until = self.paused_until_us.load(Ordering::Relaxed);
        let left = until.saturating_sub(self.schedule.now_us());
        (left > 0).then(|| Duration::from_micros(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let ten = Rate::from_str("10/s").unwrap();
        assert_eq!(ten.per_second(), Some(10.0));
        assert_eq!(Rate::from_str("600/min").unwrap().per_second(), Some(10.0));
        assert_eq!(Rate::from_str("60/6s").unwrap().per_second(), Some(10.0));
        assert_eq!(Rate::from_str("5/500ms").unwrap().per_second(), Some(10.0));
        assert_eq!(Rate::from_str("unlimited").unwrap(), Rate::Unlimited);
        for bad in ["", "10", "0/s", "10/fortnight", "x/s", "10/0s"] {
            assert!(Rate::from_str(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn interval_keeps_a_margin_below_the_nominal_rate() {
        let i = Rate::API_DEFAULT.interval().unwrap();
        assert_eq!(i, Duration::from_micros(100_500));
    }

    #[tokio::test]
    async fn pause_extends_but_never_shortens() {
        let pacer = Pacer::new(Rate::Unlimited);
        assert!(pacer.pause_remaining().is_none());
        pacer.ready().await;
        assert_eq!(
            pacer.achieved_per_second(),
            None,
            "one request has no interval"
        );
        pacer.pause_for(Duration::from_secs(30));
        pacer.pause_for(Duration::from_secs(1));
        assert!(pacer.pause_remaining().unwrap() > Duration::from_secs(29));
    }

    #[tokio::test]
    async fn serves_waiters_in_arrival_order() {
        let pacer = std::sync::Arc::new(Pacer::new(Rate::from_str("100/s").unwrap()));
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (pacer, order) = (pacer.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                pacer.ready().await;
                order.lock().unwrap().push(i);
            }));
            // Let each task reach the queue before the next one starts.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn spaces_requests_evenly() {
        let pacer = Pacer::new(Rate::from_str("50/s").unwrap());
        let start = std::time::Instant::now();
        for _ in 0..11 {
            pacer.ready().await;
        }
        // 10 intervals of ~20.2 ms; tolerant bounds, this is real time.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(195), "{elapsed:?}");
        // Measured over the intervals, a paced run never reads above its limit.
        let achieved = pacer.achieved_per_second().unwrap();
        assert!(achieved <= 50.0, "{achieved}");
        assert!(achieved > 25.0, "{achieved}");
    }
}
