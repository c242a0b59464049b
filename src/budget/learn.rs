//! What a 429 teaches when the server says nothing else (no `Retry-After`, no rate headers:
//! the documented API).
//!
//! A 429 after `n` answered requests since `start` proves the window holds at most `n` and is
//! longer than `now - start`. The pause before the next request (the probe) is that span, a
//! little more, doubled for each probe that meets another 429 (at most the API's 60 s): a
//! window twice as tight as `--rate`, the common case, is found with a single 429. When the
//! probe is answered, `n` requests evidently fit in `probe - start`, so requests are spaced at
//! least `(probe - start) / n` apart from then on (the schedule's floor, shared with every
//! process) and the next 429 pauses one learnt window, not 60 s. Every ten learnt windows
//! without a 429 the floor is lowered by a tenth, so a limit that was tight only for a while
//! (another client spending) is given back slowly: at most one 429 per ten windows.
//! Pure data on the schedule's clock (µs); the pacer calls it under its own mutex.

/// Longest pause a 429 without `Retry-After` causes: the API's advice.
const MAX_PAUSE_US: u64 = 60_000_000;
/// The probe goes this much later than the span proves necessary (our clock against the
/// server's: the first request may have reached it later than we sent it).
const PROBE_SLACK: f64 = 0.05;
const MIN_PAUSE_US: u64 = 100_000;

#[derive(Debug, Default)]
pub(crate) struct Learner {
    /// First answered request since the latest 429 (or the start), and how many since.
    start_us: Option<u64>,
    answered: u64,
    /// Set by a 429: what was proven, and the pause used (doubled per failed probe).
    pending: Option<Pending>,
    /// The learnt spacing and window, and answers since it was last changed.
    floor_us: Option<u64>,
    window_us: Option<u64>,
    since_floor: u64,
    lessons: u64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    start_us: u64,
    answered: u64,
    pause_us: u64,
}

/// A change to the schedule's floor the pacer must write (`Some(0)`: none any more).
pub(crate) type FloorChange = Option<u64>;

impl Learner {
    /// An answer that was not a 429, to a request started at `sent_us`.
    pub fn answered(&mut self, sent_us: u64, own_interval_us: u64) -> FloorChange {
        if let Some(p) = self.pending.take() {
            // The probe got through: `p.answered` requests fit in the span up to it.
            let span = sent_us.saturating_sub(p.start_us);
            let floor = span / p.answered.max(1);
            self.window_us = Some(span);
            self.since_floor = 0;
            self.start_us = Some(sent_us);
            self.answered = 1;
            self.lessons += 1;
            return (floor > own_interval_us).then(|| {
                self.floor_us = Some(floor);
                floor
            });
        }
        self.start_us.get_or_insert(sent_us);
        self.answered += 1;
        self.since_floor += 1;
        let floor = self.floor_us?;
        let per_window = self.window_us? / floor.max(1);
        if self.since_floor < 10 * per_window.max(1) {
            return None;
        }
        // Ten windows without a 429: give a tenth back.
        self.since_floor = 0;
        let lower = floor - floor / 10;
        self.floor_us = (lower > own_interval_us).then_some(lower);
        Some(self.floor_us.unwrap_or(0))
    }

    /// A 429 with nothing to go by, received at `now_us`: how long everyone pauses.
    pub fn throttled(&mut self, now_us: u64) -> u64 {
        let pause = match (self.pending, self.start_us) {
            // A probe met another 429: the window is longer still.
            (Some(p), _) => (p.pause_us * 2).min(MAX_PAUSE_US),
            (None, Some(start)) if self.answered > 0 => {
                let span = now_us.saturating_sub(start);
                let proven = self.window_us.map_or(span, |w| w.max(span));
                let pause = (proven as f64 * (1.0 + PROBE_SLACK)) as u64;
                self.pending = Some(Pending {
                    start_us: start,
                    answered: self.answered,
                    pause_us: pause.clamp(MIN_PAUSE_US, MAX_PAUSE_US),
                });
                self.start_us = None;
                self.answered = 0;
                return self.pending.map_or(MAX_PAUSE_US, |p| p.pause_us);
            }
            // Nothing answered yet: nothing learnt; the API's advice.
            _ => MAX_PAUSE_US,
        };
        if let Some(p) = &mut self.pending {
            p.pause_us = pause;
        }
        pause
    }

    /// Times a window was learnt from a 429.
    pub fn lessons(&self) -> u64 {
        self.lessons
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    #[test]
    fn a_window_twice_as_tight_as_the_rate_costs_one_429() {
        // --rate 10/s against 20 per 4 s: 20 answers from 0 to 1.9 s, a 429 at 2.0 s.
        let mut l = Learner::default();
        for i in 0..20 {
            assert_eq!(l.answered(i * 100 * MS, 100 * MS), None);
        }
        let pause = l.throttled(2_000 * MS);
        assert_eq!(pause, 2_100 * MS, "the span plus 5 %");
        // The probe at 4.1 s is answered: 20 per 4.1 s, 205 ms apart.
        assert_eq!(l.answered(4_100 * MS, 100 * MS), Some(205 * MS));
        assert_eq!(l.lessons(), 1);
    }

    #[test]
    fn a_failed_probe_doubles_the_pause_up_to_a_minute() {
        let mut l = Learner::default();
        l.answered(0, 100 * MS);
        l.answered(100 * MS, 100 * MS);
        assert_eq!(l.throttled(200 * MS), 210 * MS);
        assert_eq!(l.throttled(500 * MS), 420 * MS);
        for _ in 0..20 {
            l.throttled(600 * MS);
        }
        assert_eq!(l.throttled(700 * MS), MAX_PAUSE_US);
        // Then the probe is answered: 2 requests fitted in the whole span.
        assert_eq!(l.answered(90_200 * MS, 100 * MS), Some(45_100 * MS));
    }

    #[test]
    fn nothing_answered_means_nothing_learnt() {
        let mut l = Learner::default();
        assert_eq!(l.throttled(1_000 * MS), MAX_PAUSE_US);
    }

    #[test]
    fn the_floor_is_given_back_a_tenth_every_ten_windows() {
        let mut l = Learner::default();
        for i in 0..20 {
            l.answered(i * 100 * MS, 100 * MS);
        }
        l.throttled(2_000 * MS);
        assert_eq!(l.answered(4_100 * MS, 100 * MS), Some(205 * MS));
        // 20 per window: 200 answers later the floor drops by a tenth.
        let changes: Vec<_> = (1..=200)
            .filter_map(|i| l.answered(4_100 * MS + i * 205 * MS, 100 * MS))
            .collect();
        assert_eq!(changes, [184_500]);
    }
}
