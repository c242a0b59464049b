//! What the server's rate-limit headers teach the pacer about its window.
//!
//! Laravel's throttle (`shared/laravel-throttle.md`) sends `X-RateLimit-Limit` and
//! `X-RateLimit-Remaining` on every answer; its window is fixed, opens at the first request
//! after the previous one ended, and `Remaining` jumps back up when it does. From the answers
//! [`Window`] keeps the latest `Remaining`, the latest moment the current window can have
//! opened (the request that saw the jump, plus its round trip) and the window's length (the
//! limit spread at the nominal rate, or what a 429's `Retry-After` proved). It answers one
//! question for the pacer, before each request: would this request overdraw what the server
//! said remains, counting every request granted since (all processes sharing the schedule)?
//! Then the request waits for the window's end, and so does everyone on the schedule.
//!
//! With the headers, requests go out at exactly the rate: the limit and the window's length
//! ([`Window::cap`]) let [`super::flights`] guarantee that no window of the server's, fixed or
//! sliding, ever sees more than the limit, and a fixed one can only overflow where `Remaining`
//! says it is spent. A window that does not refill at its end (a sliding window, or another
//! client spending) is marked irregular: its end cannot be predicted, so there are no holds.
//! Pure data on the schedule's clock (µs); the pacer calls it under its own mutex.

use super::flights::Cap;

/// The documented limit of the API, per minute (`shared/wolfeo-api.md`).
pub(crate) const DOCUMENTED_LIMIT: u32 = 600;
const MINUTE_US: u64 = 60_000_000;

/// The two headers of one answer, as read by the client ([`crate::api::client`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Window {
    limit: Option<u32>,
    /// The latest `Remaining`, and the schedule sequence of the request it answered.
    remaining: Option<(u32, u64)>,
    /// Latest moment the current window can have opened.
    opened_us: Option<u64>,
    /// Proven by a 429's `Retry-After`; else the limit at the nominal interval.
    length_us: Option<u64>,
    /// A hold until the window's estimated end, and the first sequence granted after it:
    /// the answer to that request says whether the window refilled.
    held: Option<(u64, u64)>,
    irregular: bool,
    holds: u64,
}

impl Window {
    /// Learns from one answer to the request of sequence `seq` started at `sent_us` that took
    /// `rtt_us` to come back.
    pub fn observe(&mut self, seq: u64, sent_us: u64, rtt_us: u64, h: RateHeaders) {
        let (Some(limit), Some(remaining)) = (h.limit, h.remaining) else {
            return;
        };
        if let Some((_, prev_seq)) = self.remaining
            && prev_seq > seq
        {
            return; // an older request's answer came late: it says nothing newer
        }
        // Without a new window, every request granted since the previous answer (by any
        // process on the schedule) would have been counted: more left than that is a refill.
        let refilled = match self.remaining {
            None => true,
            Some((prev, prev_seq)) => {
                // (Slots given up at a hold count as granted, hence at least 0.)
                let expected = (i64::from(prev) - (seq - prev_seq) as i64).max(0);
                i64::from(remaining) > expected + i64::from((limit / 10).max(2))
            }
        };
        if let Some((_, first)) = self.held
            && seq >= first
        {
            self.held = None;
            // Nothing came back at the window's end: not a fixed window we can predict.
            self.irregular |= !refilled;
        }
        if refilled || self.limit != Some(limit) {
            self.opened_us = Some(sent_us + rtt_us);
        }
        self.limit = Some(limit);
        self.remaining = Some((remaining, seq));
    }

    /// A 429 with `Retry-After`: the window ends at `end_us` at the latest, which, with the
    /// opening, gives its length.
    pub fn throttled(&mut self, end_us: u64) {
        if let Some(opened) = self.opened_us
            && end_us > opened
        {
            self.length_us = Some(end_us - opened);
        }
        if let Some((_, seq)) = self.remaining {
            self.remaining = Some((0, seq));
        }
    }

    /// Until when the request granted as `seq` must wait: `Some(end)` when what the server
    /// said remains is already spent by the requests granted since, and the window's end is
    /// still ahead; `None` to go (the flights then guard an irregular window).
    /// `at_us` is when the request would start.
    pub fn hold(&mut self, seq: u64, at_us: u64, nominal_us: u64) -> Option<u64> {
        if self.irregular {
            return None;
        }
        let (remaining, seen) = self.remaining?;
        let since = seq.saturating_sub(seen + 1);
        if u64::from(remaining) > since {
            return None;
        }
        let end = self.opened_us? + self.length(nominal_us)?;
        if end <= at_us {
            // The window has ended by then (after our hold, or another process's): go, and
            // let the answer tell whether it refilled.
            if self.held.is_none() {
                self.held = Some((end, seq));
            }
            return None;
        }
        self.held = Some((end, seq + 1));
        self.holds += 1;
        Some(end)
    }

    /// Whether requests must keep the safety margin: no headers yet (with them, [`Self::cap`]
    /// guards any window, fixed or sliding).
    pub fn needs_margin(&self) -> bool {
        self.remaining.is_none()
    }

    /// The server's window for [`super::flights`], once it advertised its limit. The server
    /// names no length, so the length is the longest the evidence allows: the limit at the
    /// nominal rate (the pace is meant to fill exactly one window per window), and at least the
    /// documented minute for the documented 600. A `Retry-After` is not used here: it rounds up
    /// to whole seconds, so it only bounds the length from above. Plus 1/2000 of it: our wall
    /// clock against the server's monotonic one may drift that much (NTP slews at most 500 ppm).
    pub fn cap(&self, nominal_us: u64) -> Option<Cap> {
        let limit = self.limit?;
        let documented = if limit == DOCUMENTED_LIMIT {
            MINUTE_US
        } else {
            0
        };
        let length = (u64::from(limit) * nominal_us).max(documented);
        Some(Cap {
            limit,
            window_us: length + length / 2000,
        })
    }

    /// Takes the schedule's view of when the current window opened (the earliest of what
    /// every process sharing it saw) and gives back its own for the others.
    pub fn opening(&self) -> Option<u64> {
        self.opened_us
    }

    pub fn adopt_opening(&mut self, opened_us: Option<u64>) {
        if opened_us.is_some() {
            self.opened_us = opened_us;
        }
    }

    /// The window's length: proven by a `Retry-After`, else the limit at the nominal rate.
    pub fn length(&self, nominal_us: u64) -> Option<u64> {
        self.length_us
            .or_else(|| Some(u64::from(self.limit?) * nominal_us))
    }

    /// Whether the window turned out not to be a fixed one we can predict.
    #[cfg(test)]
    pub fn irregular(&self) -> bool {
        self.irregular
    }

    /// The limit the server advertises, if it does.
    pub fn limit(&self) -> Option<u32> {
        self.limit
    }

    pub fn remaining(&self) -> Option<u32> {
        self.remaining.map(|(r, _)| r)
    }

    /// How far into the current window we are, and its length, once both are known.
    pub fn phase(&self, now_us: u64, nominal_us: u64) -> Option<(u64, u64)> {
        let length = self.length(nominal_us)?;
        let opened = self.opened_us?;
        (!self.irregular).then(|| (now_us.saturating_sub(opened) % length.max(1), length))
    }

    pub fn holds(&self) -> u64 {
        self.holds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;
    const STEP: u64 = 100 * MS;

    fn h(limit: u32, remaining: u32) -> RateHeaders {
        RateHeaders {
            limit: Some(limit),
            remaining: Some(remaining),
        }
    }

    #[test]
    fn holds_only_when_what_remains_is_spent_and_until_the_window_ends() {
        let mut w = Window::default();
        assert!(w.needs_margin());
        // 20 per 2 s at 10/s: request 0 opens the window at 0 (its answer took 5 ms).
        w.observe(0, 0, 5 * MS, h(20, 19));
        assert!(!w.needs_margin(), "headers: the margin is not needed");
        for seq in 1..20 {
            w.observe(seq, seq * STEP, 5 * MS, h(20, 19 - seq as u32));
        }
        assert_eq!(w.hold(20, 1_950 * MS, STEP), Some(2_005 * MS));
        // The slot after the hold starts at the window's end: go, the answer will tell.
        assert_eq!(w.hold(21, 2_005 * MS, STEP), None);
        // The window refilled: go again, no margin.
        w.observe(21, 2_005 * MS, 5 * MS, h(20, 19));
        assert_eq!(w.hold(22, 2_100 * MS, STEP), None);
        assert!(!w.needs_margin());
    }

    #[test]
    fn counts_requests_granted_since_the_answer() {
        let mut w = Window::default();
        w.observe(0, 0, 5 * MS, h(20, 19));
        w.observe(17, 1_700 * MS, 300 * MS, h(20, 2));
        // Requests 18 and 19 are in flight: request 20 would be the 21st of the window.
        assert_eq!(w.hold(19, 1_900 * MS, STEP), None);
        assert_eq!(w.hold(20, 2_000 * MS, STEP), Some(2_005 * MS));
    }

    #[test]
    fn a_window_that_does_not_refill_is_irregular_and_holds_no_more() {
        let mut w = Window::default();
        w.observe(0, 0, 5 * MS, h(20, 19));
        w.observe(19, 1_900 * MS, 5 * MS, h(20, 0));
        assert!(w.hold(20, 1_950 * MS, STEP).is_some());
        // Sliding: after the hold (the slot was given up; request 21 went at its end) only
        // one slot came back.
        w.observe(21, 2_010 * MS, 5 * MS, h(20, 0));
        assert!(w.irregular() && !w.needs_margin());
        assert_eq!(w.hold(22, 2_100 * MS, STEP), None);
    }

    #[test]
    fn a_refill_is_told_by_more_left_than_the_requests_since_allow() {
        let mut w = Window::default();
        w.observe(0, 0, 5 * MS, h(60, 30));
        // 40 requests later (others' included) a window that had not refilled would say 0.
        w.observe(40, 4_000 * MS, 5 * MS, h(60, 25));
        assert_eq!(w.opening(), Some(4_005 * MS));
        w.observe(41, 4_100 * MS, 5 * MS, h(60, 24));
        assert_eq!(
            w.opening(),
            Some(4_005 * MS),
            "one request, one less: same window"
        );
    }

    #[test]
    fn a_late_answer_to_an_older_request_is_ignored() {
        let mut w = Window::default();
        w.observe(5, 500 * MS, 5 * MS, h(20, 14));
        w.observe(3, 300 * MS, 400 * MS, h(20, 16));
        assert_eq!(w.remaining(), Some(14));
    }

    #[test]
    fn a_retry_after_proves_the_length() {
        let mut w = Window::default();
        w.observe(0, 0, 10 * MS, h(20, 19));
        w.throttled(4_010 * MS);
        assert_eq!(w.phase(5_000 * MS, STEP), Some((990 * MS, 4_000 * MS)));
    }

    #[test]
    fn the_cap_is_the_advertised_limit_over_the_longest_plausible_window() {
        let mut w = Window::default();
        assert_eq!(w.cap(STEP), None);
        w.observe(0, 0, 5 * MS, h(60, 59));
        let cap = w.cap(STEP).unwrap();
        assert_eq!((cap.limit, cap.window_us), (60, 6_003 * MS));
        // The documented 600 is per minute even at a slower pace.
        w.observe(1, 100 * MS, 5 * MS, h(600, 599));
        assert_eq!(w.cap(50 * MS).unwrap().window_us, 60_030 * MS);
        assert_eq!(w.cap(200 * MS).unwrap().window_us, 120_060 * MS);
    }
}
