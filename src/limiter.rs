//! The one pacer every request of a run waits on.
//!
//! Requests are spaced evenly, one slot per interval and no burst. The slots come from the
//! account's [`Schedule`] (private, or shared by every process of this host that talks to the
//! account: [`crate::budget`]); it is our own "next free slot" rather than `governor`'s because
//! it must live in a file other processes read (see [`crate::budget`] on why governor is not in
//! front of it either). Once the server advertised its limit, every request is also counted in
//! flight until its answer ([`Pacer::landed`]), which guarantees the server's window, fixed or
//! sliding, whatever the jitter ([`crate::budget::flights`]); before that, and without rate
//! headers, the spacing keeps a margin. A 429 pauses the whole pipeline through the same object
//! ([`Pacer::pause_for`]), and every process sharing the budget with it. Import and export both
//! build exactly one `Pacer` and share it with every worker; retries wait on it too.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::budget::learn::Learner;
pub use crate::budget::rate::{Rate, SAFETY_MARGIN};
use crate::budget::slots::Pace;
use crate::budget::window::{DOCUMENTED_LIMIT, RateHeaders, Window};
use crate::budget::{self, BudgetStats, Confirm, Schedule};

/// `--rate auto` reads an advertised limit as per minute, the API's documented window.
const MINUTE_US: u64 = 60_000_000;

/// The one pacer of a run: a FIFO queue in front of the account's [`Schedule`].
pub struct Pacer {
    rate: Rate,
    /// `--rate auto`: the interval the server's advertised limit allows (µs; 0: the rate's own).
    followed_us: AtomicU64,
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
    /// What 429s without any header taught about the window.
    learner: Mutex<Learner>,
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
    /// Counted in flight on the schedule until [`Pacer::landed`] (paced runs only).
    pub in_flight: bool,
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
            followed_us: AtomicU64::new(0),
            schedule,
            queue: tokio::sync::Mutex::new(()),
            paused_until_us: AtomicU64::new(0),
            pauses: AtomicU64::new(0),
            granted: Mutex::new(None),
            window: Mutex::new(Window::default()),
            learner: Mutex::new(Learner::default()),
        }
    }

    /// Time between two requests at exactly the pace: `--rate`, or with `--rate auto` what
    /// the server advertised. `None`: unlimited.
    fn nominal_us(&self) -> Option<u64> {
        match self.followed_us.load(Ordering::Relaxed) {
            0 => self.rate.nominal_interval().map(|d| d.as_micros() as u64),
            us => Some(us),
        }
    }

    /// The same, [`SAFETY_MARGIN`] wider: the spacing while the server's window is unknown.
    fn margined_us(&self) -> Option<u64> {
        self.nominal_us()
            .map(|us| (us as f64 * (1.0 + SAFETY_MARGIN)).round() as u64)
    }

    /// The pace in requests per second (what `--rate auto` follows, once it does).
    pub fn per_second(&self) -> Option<f64> {
        self.nominal_us().map(|us| 1e6 / us as f64)
    }

    /// Waits until this caller may send one request, in the order callers arrived.
    /// Dropping the future gives the turn up (a stopping run cancels its waiters this way).
    /// The request it grants is in flight until [`Pacer::landed`].
    pub async fn ready(&self) -> Turn {
        let (Some(margined_us), Some(nominal_us)) = (self.margined_us(), self.nominal_us()) else {
            while let Some(d) = self.pause_remaining() {
                tokio::time::sleep(d).await;
            }
            return self.grant(None);
        };
        let me = self.schedule.identity();
        let _turn = self.queue.lock().await;
        'reserve: loop {
            let (cap, opening, length) = {
                let w = self.window();
                (w.cap(nominal_us), w.opening(), w.length(nominal_us))
            };
            // The window known: the flights guard it, at exactly the pace. Unknown: a margin.
            let pace = Pace {
                interval_us: if cap.is_some() {
                    nominal_us
                } else {
                    margined_us
                },
                cap,
            };
            let (grant, paused, opened) = self.schedule.update(|s, now| {
                // The earliest sighting of the window's opening is everyone's estimate.
                let opened = length.and_then(|l| s.merge_opening(opening, l));
                let g = s.reserve(now, pace.interval_us, me, budget::alive);
                (g, s.paused_until_us, opened)
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
                    let confirm = s.confirm(now, pace, grant, me, budget::alive, hold);
                    (confirm, s.paused_until_us)
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

    /// The request of `turn` was answered (any answer, a 429 too) or failed: from now on it
    /// counts against the server's window only until a window has passed.
    pub fn landed(&self, turn: Turn) {
        if !turn.in_flight {
            return;
        }
        let cap = self.nominal_us().and_then(|n| self.window().cap(n));
        let me = self.schedule.identity();
        self.schedule
            .update(|s, now| s.flights.land(me, turn.seq, now, cap));
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Learns from the answer (not a 429) to the request of `turn`: the rate-limit headers
    /// if it has them, else that one more request fitted in the server's window.
    pub fn observe(&self, turn: Turn, rtt: Duration, headers: RateHeaders) {
        if let (Rate::Auto, Some(limit)) = (self.rate, headers.limit) {
            self.follow(limit);
        }
        if headers.remaining.is_some() {
            self.window()
                .observe(turn.seq, turn.at_us, rtt.as_micros() as u64, headers);
            return;
        }
        let Some(own) = self.margined_us() else {
            return;
        };
        let change = self.learner().answered(turn.at_us, own);
        if let Some(floor) = change {
            self.schedule.update(|s, _| s.floor_us = floor);
        }
    }

    /// A 429: everyone on the schedule pauses, for `Retry-After` (which also tells when the
    /// server's window ends) or, without one, for what the 429s so far prove about the window
    /// ([`Learner`]). Returns the pause and where it came from, for the message.
    pub fn throttled(&self, retry_after: Option<Duration>) -> (Duration, &'static str) {
        let (pause, why) = match retry_after {
            Some(d) => {
                let end = self.schedule.now_us() + d.as_micros() as u64;
                self.window().throttled(end);
                (crate::api::retry::throttle_pause(Some(d)), "Retry-After")
            }
            None if self.nominal_us().is_some() => {
                let now = self.schedule.now_us();
                let us = self.learner().throttled(now);
                let why = if us >= 60_000_000 {
                    "no Retry-After: the API's 60 s"
                } else {
                    "no Retry-After: the window the requests so far prove"
                };
                (Duration::from_micros(us), why)
            }
            None => (
                crate::api::retry::throttle_pause(None),
                "no Retry-After: the API's 60 s",
            ),
        };
        self.pause_for(pause);
        (pause, why)
    }

    /// `--rate auto`: an advertised limit above the documented 600 is the account's per
    /// minute (Laravel's `throttle:N,1`); at or below it the documented pace stays (a lower one
    /// is a window the headers already guard, and its length is not known to be a minute).
    fn follow(&self, limit: u32) {
        let us = if limit > DOCUMENTED_LIMIT {
            MINUTE_US / u64::from(limit)
        } else {
            0
        };
        self.followed_us.store(us, Ordering::Relaxed);
    }

    fn learner(&self) -> std::sync::MutexGuard<'_, Learner> {
        self.learner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a started request: its sequence number and how many were sharing.
    fn grant(&self, slot: Option<(u64, u32)>) -> Turn {
        let now = Instant::now();
        let in_flight = slot.is_some();
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
        Turn {
            seq,
            at_us,
            in_flight,
        }
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
                .filter(|_| self.nominal_us().is_some())
                .map(|g| g.count as f64 / (g.last_seq.saturating_sub(g.first_seq) + 1) as f64),
            pauses: self.pauses.load(Ordering::Relaxed),
            window_holds,
            server_limit,
            windows_learnt: self.learner().lessons(),
            auto_rate: (self.rate == Rate::Auto)
                .then(|| self.per_second())
                .flatten(),
        }
    }

    /// One line on the budget for `-v`: who shares it, what the server says remains of its
    /// window and how far into it we are, the spacing, and any pause.
    pub fn status_line(&self) -> String {
        let nominal_us = self.nominal_us().unwrap_or(0);
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
        let pace = match (self.rate, self.per_second()) {
            (Rate::Auto, Some(r)) => format!("auto ({r:.1}/s)"),
            _ => self.rate.to_string(),
        };
        line.push_str(&format!(
            "; pace {pace}{}",
            if margin || self.nominal_us().is_none() {
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
        let pacer = std::sync::Arc::new(Pacer::new("100/s".parse::<Rate>().unwrap()));
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
        let pacer = Pacer::new("50/s".parse::<Rate>().unwrap());
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

    #[tokio::test]
    async fn with_the_limit_known_request_k_plus_limit_waits_for_the_answer_to_k() {
        // 100/s and a server allowing 3 (per 3 x 10 ms): the 4th request of a window may only
        // start a window after the 1st was answered, however long that answer takes.
        let pacer = std::sync::Arc::new(Pacer::new("100/s".parse().unwrap()));
        let headers = RateHeaders {
            limit: Some(3),
            remaining: Some(2),
        };
        let first = pacer.ready().await;
        pacer.observe(first, Duration::from_millis(1), headers);
        let turns = [first, pacer.ready().await, pacer.ready().await];
        let fourth = tokio::spawn({
            let pacer = pacer.clone();
            async move { pacer.ready().await }
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!fourth.is_finished(), "3 in flight: the 4th must wait");
        let answered = std::time::Instant::now();
        pacer.landed(turns[0]);
        let fourth = fourth.await.unwrap();
        let waited = answered.elapsed();
        // The window (30 ms and its 1/2000) after the answer; loose above: real time.
        assert!(waited >= Duration::from_millis(30), "{waited:?}");
        assert!(waited < Duration::from_millis(1000), "{waited:?}");
        assert_eq!(fourth.seq, 3);
    }
}
