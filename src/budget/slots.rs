//! The schedule itself: the next free request slot, the pause, and who is taking slots.
//!
//! [`Slots`] is plain data with pure operations on a microsecond clock, so the same code runs
//! behind a mutex (a private budget) and inside a file shared by every process of one account
//! (see [`super::shared`]). Invariants: a grant is never earlier than `next_us` nor than
//! `paused_until_us`; each grant moves `next_us` one interval past itself, so requests are
//! spaced by the interval however many processes take them; a caller holds at most one grant
//! at a time (the pacer's FIFO queue), which is what makes two busy processes alternate and
//! split the rate evenly. Nothing here is ever reserved for longer than one interval, so a
//! process that dies (even by `kill -9`) costs the others at most one slot. When the server's
//! window is known, [`Flights`] (requests in flight and recently answered) guarantees it
//! instead of the spacing: a late request no longer pushes the next one back.

use serde::{Deserialize, Serialize};

use super::flights::{Cap, Flights};

/// A value this far ahead of the clock can only come from a clock that was stepped back
/// (or a damaged file): a slot is at most a few intervals away and a pause at most a minute
/// and its jitter, so anything past this is forgotten rather than obeyed.
pub(crate) const MAX_AHEAD_US: u64 = 180_000_000;
/// A process that took no slot for this long is no longer counted as sharing the budget.
pub(crate) const ACTIVE_US: u64 = 2_000_000;
/// Format of the record, so a future layout is never misread (an unknown one is ignored).
pub(crate) const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Slots {
    pub v: u32,
    /// Earliest start of the next request.
    pub next_us: u64,
    /// No request starts before this (a 429, or a server window known to be spent).
    pub paused_until_us: u64,
    /// Requests started so far: the sequence number of the next one. Counted when a request
    /// starts, not when its slot is granted, so slots given up do not count.
    pub granted: u64,
    /// When the latest request actually started (a late wake-up must not bring the next one
    /// closer than an interval: that is how 21 requests landed in a 20-per-2 s window).
    #[serde(default)]
    pub last_sent_us: u64,
    /// The widest spacing the server's window evidently allows, learnt from a 429 (0: none).
    pub floor_us: u64,
    /// The latest moment the server's current window can have opened: the earliest of what
    /// the members saw (each sighting is an upper bound; 0: none).
    #[serde(default)]
    pub opened_us: u64,
    pub members: Vec<Member>,
    /// Requests in flight and recently answered, by every member.
    #[serde(default)]
    pub flights: Flights,
}

impl Default for Slots {
    fn default() -> Self {
        Slots {
            v: VERSION,
            next_us: 0,
            paused_until_us: 0,
            granted: 0,
            last_sent_us: 0,
            floor_us: 0,
            opened_us: 0,
            members: Vec::new(),
            flights: Flights::default(),
        }
    }
}

/// One process (or one pacer of a process) taking slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Member {
    pub pid: u32,
    /// Tells apart two pacers of one process, and a recycled pid from the old process.
    pub token: u32,
    /// Its latest slot: it counts as sharing until [`ACTIVE_US`] after.
    pub seen_us: u64,
}

/// What the holder of a slot may do when its time comes ([`Slots::confirm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confirm {
    /// Start now; the request's sequence number.
    Go(u64),
    /// The previous request started late: wait until this, then confirm again.
    Wait(u64),
    /// A pause began after the slot was granted, or the caller's `hold` started one: take a
    /// new slot.
    Forfeit,
}

/// How a request is paced at its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pace {
    pub interval_us: u64,
    /// The server's window, when known: [`Flights`] then guarantees it, and a late start
    /// no longer pushes the next request back.
    pub cap: Option<Cap>,
}

#[cfg(test)]
impl Pace {
    pub fn spaced(interval_us: u64) -> Pace {
        Pace {
            interval_us,
            cap: None,
        }
    }
}

/// A slot handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    pub at_us: u64,
    /// Members taking slots right now, this one included.
    pub sharing: u32,
}

impl Slots {
    /// Takes the next free slot for `me`, at least `interval_us` after the previous grant (or
    /// the learnt floor, if wider). `alive` says whether a pid still runs (`kill -9` leaves
    /// its member behind; it is dropped at once instead of after [`ACTIVE_US`]).
    pub fn reserve(
        &mut self,
        now: u64,
        interval_us: u64,
        me: (u32, u32),
        alive: impl Fn(u32) -> bool,
    ) -> Grant {
        self.forget_the_impossible(now);
        let at = now.max(self.next_us).max(self.paused_until_us);
        self.next_us = at + interval_us.max(self.floor_us);
        self.members
            .retain(|m| (m.pid, m.token) != me && m.seen_us + ACTIVE_US >= now && alive(m.pid));
        self.members.push(Member {
            pid: me.0,
            token: me.1,
            seen_us: at,
        });
        Grant {
            at_us: at,
            sharing: self.members.len() as u32,
        }
    }

    /// Called when `me`'s granted slot has come, right before the request starts: it starts
    /// only if no pause began since the grant, the server's window allows it (known: the
    /// [`Flights`]; unknown: the previous request started at least an interval ago), and
    /// `hold` (given the sequence number the request would get) starts no pause; then it is
    /// counted as started and in flight until [`Flights::land`].
    pub fn confirm(
        &mut self,
        now: u64,
        pace: Pace,
        grant: Grant,
        me: (u32, u32),
        alive: impl Fn(u32) -> bool,
        hold: impl FnOnce(u64) -> Option<u64>,
    ) -> Confirm {
        self.forget_the_impossible(now);
        if self.paused_until_us > grant.at_us && self.paused_until_us > now {
            return Confirm::Forfeit;
        }
        let interval = pace.interval_us.max(self.floor_us);
        if pace.cap.is_some() {
            self.flights.known = pace.cap;
        } else {
            let last = self.last_sent_us;
            if last > 0 && last <= now && last + interval > now {
                return Confirm::Wait(last + interval);
            }
        }
        // A member that has not heard from the server yet keeps to what the others learnt.
        if let Some(cap) = pace.cap.or(self.flights.known)
            && let Some(later) = self.flights.wait(now, cap, alive)
        {
            return Confirm::Wait(later);
        }
        if let Some(until) = hold(self.granted).filter(|&until| until > now) {
            self.pause_until(now, until);
            return Confirm::Forfeit;
        }
        self.last_sent_us = now;
        if pace.cap.is_none() {
            self.next_us = self.next_us.max(now + interval);
        }
        self.granted += 1;
        self.flights.take_off(me, self.granted - 1, now);
        Confirm::Go(self.granted - 1)
    }

    /// Merges a member's sighting of the window's opening (`length_us` long) with the
    /// others': a sighting half a window later is a new window; one half a window earlier is
    /// an old one; otherwise the earlier of the two is the tighter bound. Returns the result.
    pub fn merge_opening(&mut self, seen: Option<u64>, length_us: u64) -> Option<u64> {
        if let Some(seen) = seen {
            let half = length_us / 2;
            let known = self.opened_us;
            if known == 0 || seen > known + half {
                self.opened_us = seen;
            } else if seen + half >= known {
                self.opened_us = known.min(seen);
            }
        }
        (self.opened_us > 0).then_some(self.opened_us)
    }

    /// Stops every member until `until` (extends, never shortens, a running pause).
    pub fn pause_until(&mut self, now: u64, until: u64) {
        self.forget_the_impossible(now);
        self.paused_until_us = self.paused_until_us.max(until.min(now + MAX_AHEAD_US));
    }

    /// Leaves the budget (the end of a run): the others stop counting this member at once.
    /// Its last slot stays taken: the request in it was sent.
    pub fn leave(&mut self, me: (u32, u32), now: u64) {
        self.members.retain(|m| (m.pid, m.token) != me);
        self.flights.abandon(me, now);
    }

    fn forget_the_impossible(&mut self, now: u64) {
        if self.next_us > now + MAX_AHEAD_US {
            self.next_us = now;
        }
        if self.paused_until_us > now + MAX_AHEAD_US {
            self.paused_until_us = now;
        }
        if self.last_sent_us > now + MAX_AHEAD_US {
            self.last_sent_us = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;
    const A: (u32, u32) = (1, 1);
    const B: (u32, u32) = (2, 2);

    fn live(_: u32) -> bool {
        true
    }

    #[test]
    fn grants_are_spaced_by_the_interval_whoever_takes_them() {
        let mut s = Slots::default();
        let a = s.reserve(1000 * MS, 100 * MS, (1, 1), live);
        let b = s.reserve(1000 * MS, 100 * MS, (2, 2), live);
        let a2 = s.reserve(1001 * MS, 100 * MS, (1, 1), live);
        assert_eq!(
            [a.at_us, b.at_us, a2.at_us],
            [1000 * MS, 1100 * MS, 1200 * MS]
        );
        assert_eq!((a.sharing, b.sharing, a2.sharing), (1, 2, 2));
        // Late callers are not owed the slots they missed: no burst after idling.
        let late = s.reserve(5000 * MS, 100 * MS, (1, 1), live);
        assert_eq!(late.at_us, 5000 * MS);
    }

    #[test]
    fn a_late_start_pushes_the_next_one_back() {
        let mut s = Slots::default();
        let a = s.reserve(1000 * MS, 100 * MS, (1, 1), live);
        let b = s.reserve(1000 * MS, 100 * MS, (2, 2), live);
        // a woke 30 ms late: b, on time, must wait until an interval after a really started.
        let go = |_| None;
        let pace = Pace::spaced(100 * MS);
        assert_eq!(s.confirm(1030 * MS, pace, a, A, live, go), Confirm::Go(0));
        assert_eq!(
            s.confirm(1100 * MS, pace, b, B, live, go),
            Confirm::Wait(1130 * MS)
        );
        assert_eq!(s.confirm(1130 * MS, pace, b, B, live, go), Confirm::Go(1));
        let next = s.reserve(1130 * MS, 100 * MS, (1, 1), live);
        assert_eq!(next.at_us, 1230 * MS);
        // A pause that began after a grant takes its slot back.
        s.pause_until(1140 * MS, 5000 * MS);
        assert_eq!(
            s.confirm(next.at_us, pace, next, A, live, go),
            Confirm::Forfeit
        );
    }

    #[test]
    fn a_hold_pauses_everyone_and_numbers_only_what_starts() {
        let mut s = Slots::default();
        let a = s.reserve(0, 100 * MS, (1, 1), live);
        let hold = |seq| (seq == 0).then_some(900 * MS);
        let pace = Pace::spaced(100 * MS);
        assert_eq!(s.confirm(0, pace, a, A, live, hold), Confirm::Forfeit);
        let a = s.reserve(0, 100 * MS, (1, 1), live);
        assert_eq!(a.at_us, 900 * MS);
        assert_eq!(
            s.confirm(900 * MS, pace, a, A, live, |_| None),
            Confirm::Go(0)
        );
    }

    #[test]
    fn a_pause_holds_everyone_and_only_grows() {
        let mut s = Slots::default();
        s.pause_until(0, 3000 * MS);
        s.pause_until(0, 2000 * MS);
        assert_eq!(
            s.reserve(1000 * MS, 100 * MS, (1, 1), live).at_us,
            3000 * MS
        );
    }

    #[test]
    fn the_dead_and_the_idle_stop_counting() {
        let mut s = Slots::default();
        s.reserve(0, 100 * MS, (1, 1), live);
        s.reserve(0, 100 * MS, (2, 2), live);
        assert_eq!(s.reserve(0, 100 * MS, (3, 3), live).sharing, 3);
        // pid 2 was killed: gone at once; pid 1 idle past ACTIVE_US: gone too.
        let g = s.reserve(ACTIVE_US + 500 * MS, 100 * MS, (3, 3), |pid| pid != 2);
        assert_eq!(g.sharing, 1);
    }

    #[test]
    fn a_stepped_clock_or_a_damaged_file_cannot_block_for_long() {
        let mut s = Slots {
            next_us: u64::MAX / 2,
            paused_until_us: u64::MAX / 2,
            ..Slots::default()
        };
        assert_eq!(
            s.reserve(1000 * MS, 100 * MS, (1, 1), live).at_us,
            1000 * MS
        );
    }

    #[test]
    fn a_learnt_floor_widens_the_spacing() {
        let mut s = Slots {
            floor_us: 250 * MS,
            ..Slots::default()
        };
        s.reserve(0, 100 * MS, (1, 1), live);
        assert_eq!(s.reserve(0, 100 * MS, (1, 1), live).at_us, 250 * MS);
    }

    #[test]
    fn leaving_stops_counting_at_once_but_keeps_the_spacing() {
        let mut s = Slots::default();
        s.reserve(0, 100 * MS, (1, 1), live);
        s.reserve(0, 100 * MS, (2, 2), live);
        s.leave((2, 2), 0);
        let g = s.reserve(0, 100 * MS, (1, 1), live);
        assert_eq!((g.at_us, g.sharing), (200 * MS, 1));
    }

    #[test]
    fn with_the_window_known_a_late_start_does_not_push_back_but_the_flights_hold() {
        let mut s = Slots::default();
        let cap = Cap {
            limit: 2,
            window_us: 1000 * MS,
        };
        let pace = Pace {
            interval_us: 100 * MS,
            cap: Some(cap),
        };
        let go = |_| None;
        let a = s.reserve(0, 100 * MS, A, live);
        let b = s.reserve(0, 100 * MS, B, live);
        // a woke 30 ms late; b on time goes anyway: only the window counts now.
        assert_eq!(s.confirm(30 * MS, pace, a, A, live, go), Confirm::Go(0));
        assert_eq!(s.confirm(100 * MS, pace, b, B, live, go), Confirm::Go(1));
        s.flights.land(A, 0, 40 * MS, Some(cap));
        let c = s.reserve(100 * MS, 100 * MS, A, live);
        assert_eq!(c.at_us, 200 * MS);
        // Two in the window already: the third waits a window after the first answer.
        assert_eq!(
            s.confirm(200 * MS, pace, c, A, live, go),
            Confirm::Wait(1040 * MS)
        );
        assert_eq!(s.confirm(1040 * MS, pace, c, A, live, go), Confirm::Go(2));
        // A newcomer that has not heard from the server is held to the window learnt.
        let d = s.reserve(1040 * MS, 100 * MS, (3, 3), live);
        let newcomer = Pace::spaced(100 * MS);
        assert!(matches!(
            s.confirm(d.at_us, newcomer, d, (3, 3), live, go),
            Confirm::Wait(_)
        ));
    }
}
