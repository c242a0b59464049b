//! The requests of the account in flight and recently answered: what makes the server's
//! window impossible to overflow, sliding or fixed, whatever the timing jitter.
//!
//! Spacing alone cannot guarantee a window of `limit` requests per `window`: a request that
//! leaves late, followed by one on time, puts `limit + 1` in some window, and no fixed margin
//! covers every delay. This record needs no timing assumption. It keeps every request started
//! by any process on the schedule until it is answered ([`Flight`]), and when the latest
//! `limit` answered ones came back; a request may start only while fewer than `limit` are in
//! flight or were answered less than a `window` ago ([`Flights::wait`]). The server sees a
//! request arrive after we start it and before its answer comes back, so any `window` of the
//! server's clock holds at most `limit` of our arrivals, however late or early each one was.
//! The cost is one round trip per window: request `k + limit` waits for the answer to `k`.
//!
//! `limit` and `window` come from the server ([`super::window::Window::cap`]); without rate
//! headers the pacer keeps its spacing margin instead and this record is only kept up to date.
//! Crash safety: a flight whose process is gone counts as answered when that is noticed (its
//! request reached the server before the process died, or never), one older than
//! [`MAX_FLIGHT_US`] as answered then (a lost answer must not hold a slot forever), and answers
//! age out after one window. Pure data on the schedule's clock (µs), inside [`super::Slots`].

use serde::{Deserialize, Serialize};

/// A request unanswered for this long (longer than any `--timeout` worth using) is counted as
/// answered: whoever started it lost track of it.
pub(crate) const MAX_FLIGHT_US: u64 = 180_000_000;
/// When every counted request is still in flight, look again this soon.
const POLL_US: u64 = 5_000;
/// Without a window from the server, keep what the documented limit (600 per minute) needs.
const DOCUMENTED: Cap = Cap {
    limit: 600,
    window_us: 60_000_000,
};

/// At most `limit` requests in any `window_us` (the server's, slack included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cap {
    pub limit: u32,
    pub window_us: u64,
}

/// One request started and not answered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Flight {
    pub pid: u32,
    pub token: u32,
    pub seq: u64,
    pub sent_us: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Flights {
    #[serde(default)]
    pub open: Vec<Flight>,
    /// When the latest answers came back, ascending; none older than the window, at most
    /// `limit` of them (only the newest `limit` can ever decide a wait).
    #[serde(default)]
    pub landed_us: Vec<u64>,
    /// The latest window a member learnt from the server: a process that has not heard from
    /// it yet (its first request) is held to it too.
    #[serde(default)]
    pub known: Option<Cap>,
}

impl Flights {
    /// `None`: a request may start at `now` under `cap`; `Some(t)`: not before `t`.
    pub fn wait(&mut self, now: u64, cap: Cap, alive: impl Fn(u32) -> bool) -> Option<u64> {
        self.settle(now, Some(cap), alive);
        let limit = cap.limit.max(1) as usize;
        let count = self.open.len() + self.landed_us.len();
        if count < limit {
            return None;
        }
        // The `count - limit + 1` oldest answers must age out before one more may start.
        Some(match self.landed_us.get(count - limit) {
            Some(&t) => (t + cap.window_us).max(now + 1),
            None => now + POLL_US,
        })
    }

    /// The request of sequence `seq` starts now.
    pub fn take_off(&mut self, me: (u32, u32), seq: u64, now: u64) {
        self.open.push(Flight {
            pid: me.0,
            token: me.1,
            seq,
            sent_us: now,
        });
    }

    /// The answer to `me`'s request `seq` (or its failure) came back now.
    pub fn land(&mut self, me: (u32, u32), seq: u64, now: u64, cap: Option<Cap>) {
        let before = self.open.len();
        self.open
            .retain(|f| (f.pid, f.token, f.seq) != (me.0, me.1, seq));
        if self.open.len() < before {
            self.record(now);
        }
        self.settle(now, cap, |_| true);
    }

    /// `me` stops taking slots: its unanswered requests count as answered now.
    pub fn abandon(&mut self, me: (u32, u32), now: u64) {
        let before = self.open.len();
        self.open.retain(|f| (f.pid, f.token) != me);
        for _ in self.open.len()..before {
            self.record(now);
        }
    }

    fn record(&mut self, at: u64) {
        let i = self.landed_us.partition_point(|&t| t <= at);
        self.landed_us.insert(i, at);
    }

    /// Lands the flights of dead processes and lost answers, forgets answers older than the
    /// window, keeps the newest `limit`.
    fn settle(&mut self, now: u64, cap: Option<Cap>, alive: impl Fn(u32) -> bool) {
        let lost: Vec<usize> = (0..self.open.len())
            .filter(|&i| {
                let f = self.open[i];
                !alive(f.pid) || f.sent_us + MAX_FLIGHT_US < now || f.sent_us > now + MAX_FLIGHT_US
            })
            .collect();
        for i in lost.into_iter().rev() {
            self.open.remove(i);
            self.record(now);
        }
        let cap = cap.unwrap_or(DOCUMENTED);
        // A value far ahead of the clock (a clock stepped back) is forgotten, not obeyed.
        self.landed_us
            .retain(|&t| t + cap.window_us > now && t <= now + MAX_FLIGHT_US);
        let keep = cap.limit.max(1) as usize;
        if self.landed_us.len() > keep {
            self.landed_us.drain(..self.landed_us.len() - keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;
    const A: (u32, u32) = (1, 1);
    const B: (u32, u32) = (2, 2);
    const CAP: Cap = Cap {
        limit: 3,
        window_us: 1000 * MS,
    };

    fn live(_: u32) -> bool {
        true
    }

    #[test]
    fn request_k_plus_limit_waits_a_window_after_the_answer_to_k() {
        let mut f = Flights::default();
        for seq in 0..3 {
            assert_eq!(f.wait(seq * 100 * MS, CAP, live), None);
            f.take_off(if seq % 2 == 0 { A } else { B }, seq, seq * 100 * MS);
        }
        // Three in flight: nothing known yet, look again soon.
        assert_eq!(f.wait(300 * MS, CAP, live), Some(305 * MS));
        // Request 0 was answered 50 ms after it left (late: its arrival may be that late).
        f.land(A, 0, 50 * MS, Some(CAP));
        f.land(B, 1, 120 * MS, Some(CAP));
        assert_eq!(f.wait(300 * MS, CAP, live), Some(1050 * MS));
        assert_eq!(f.wait(1050 * MS, CAP, live), None);
    }

    #[test]
    fn the_dead_and_the_lost_count_as_answered_when_noticed() {
        let mut f = Flights::default();
        f.take_off(A, 0, 0);
        f.take_off(B, 1, 0);
        f.take_off(A, 2, 0);
        // B was killed: its request counts as answered at 400 ms, so it ages out at 1.4 s.
        assert_eq!(f.wait(400 * MS, CAP, |pid| pid != 2), Some(1400 * MS));
        // A request nobody answered for longer than any timeout stops counting after a window.
        let late = MAX_FLIGHT_US + 1;
        assert_eq!(f.wait(late, CAP, live), None);
        assert!(f.open.is_empty());
        assert_eq!(f.landed_us, [late, late]);
    }

    #[test]
    fn abandoning_lands_only_my_flights() {
        let mut f = Flights::default();
        f.take_off(A, 0, 0);
        f.take_off(B, 1, 0);
        f.abandon(A, 10 * MS);
        assert_eq!(f.open.len(), 1);
        assert_eq!(f.landed_us, [10 * MS]);
        // An unknown landing (already settled) records nothing.
        f.land(A, 0, 20 * MS, Some(CAP));
        assert_eq!(f.landed_us, [10 * MS]);
    }

    #[test]
    fn only_the_newest_limit_answers_within_the_window_are_kept() {
        let mut f = Flights::default();
        for seq in 0..10 {
            f.take_off(A, seq, seq * 100 * MS);
            f.land(A, seq, seq * 100 * MS + 5 * MS, Some(CAP));
        }
        assert_eq!(f.landed_us, [705 * MS, 805 * MS, 905 * MS]);
        // Without a cap the documented minute is kept.
        f.land(A, 99, 2_000 * MS, None);
        assert_eq!(f.landed_us.len(), 3);
        assert_eq!(f.wait(1_000 * MS, CAP, live), Some(1_705 * MS));
    }
}
