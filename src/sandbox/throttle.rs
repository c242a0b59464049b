//! The per-key rate limiter and the "peak requests per window" statistic.
//!
//! The default imitates Laravel's cache-backed `ThrottleRequests` (see `laravel-throttle.md`): a
//! fixed window that opens at a key's first hit and lasts the window length; a request is counted
//! before the handler runs; a rejected request is not counted. `--window sliding` instead admits a
//! request only if fewer than `max` were admitted in the preceding window length, which is the
//! strictest reading of "600 per minute" and catches clients that burst across a window edge.
//!
//! The peak statistic answers "did the client ever send more than the limit within any interval
//! of the window's length", independent of how the server windows are aligned. Both live behind
//! one small mutex, taken once per request and never held across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::faults::parse_duration;

/// `max` requests per `window`, per API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

impl FromStr for RateLimit {
    type Err = String;

    /// `600/60s`, `60/6s`, `600/min`, `10/s`, `20/2s`, `100/500ms`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid rate limit {s:?}: expected MAX/WINDOW, e.g. 600/60s or 10/s");
        let (max, per) = s.trim().split_once('/').ok_or_else(bad)?;
        let max: u32 = max.trim().parse().map_err(|_| bad())?;
        let window = match per.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => parse_duration(other).map_err(|_| bad())?,
        };
        if max == 0 || window.is_zero() {
            return Err(format!(
                "invalid rate limit {s:?}: both parts must be positive"
            ));
        }
        Ok(RateLimit { max, window })
    }
}

/// How a key's window is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowKind {
    /// Laravel: opens at the first hit, lasts the window length, then resets.
    #[default]
    Fixed,
    /// At most `max` admitted requests in any interval of the window length.
    Sliding,
}

impl FromStr for WindowKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fixed" => Ok(WindowKind::Fixed),
            "sliding" => Ok(WindowKind::Sliding),
            _ => Err(format!("invalid window {s:?}: expected fixed or sliding")),
        }
    }
}

/// What the throttle decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Rate limit off: no headers at all (Laravel's `Limit::none()`).
    Unlimited,
    Allowed {
        limit: u32,
        remaining: u32,
    },
    Limited {
        limit: u32,
        retry_after: Duration,
    },
}

/// One key's window. Fixed mode uses `start`/`count`; sliding mode keeps admitted arrival times.
#[derive(Debug, Default)]
struct KeyWindow {
    start: Option<Instant>,
    count: u32,
    admitted: VecDeque<Instant>,
}

impl KeyWindow {
    fn hit(&mut self, limit: RateLimit, kind: WindowKind, now: Instant) -> Decision {
        match kind {
            WindowKind::Fixed => {
                let start = match self.start {
                    Some(start) if now < start + limit.window => start,
                    _ => {
                        self.start = Some(now);
                        self.count = 0;
                        now
                    }
                };
                if self.count >= limit.max {
                    return Decision::Limited {
                        limit: limit.max,
                        retry_after: start + limit.window - now,
                    };
                }
                self.count += 1;
                Decision::Allowed {
                    limit: limit.max,
                    remaining: limit.max - self.count,
                }
            }
            WindowKind::Sliding => {
                while self
                    .admitted
                    .front()
                    .is_some_and(|&t| t + limit.window <= now)
                {
                    self.admitted.pop_front();
                }
                if self.admitted.len() >= limit.max as usize {
                    let oldest = self.admitted[0];
                    return Decision::Limited {
                        limit: limit.max,
                        retry_after: oldest + limit.window - now,
                    };
                }
                self.admitted.push_back(now);
                Decision::Allowed {
                    limit: limit.max,
                    remaining: limit.max - self.admitted.len() as u32,
                }
            }
        }
    }
}

/// Largest number of arrivals within any half-open interval of length `window`, in O(1)
/// amortized per arrival (arrivals must be recorded in time order).
#[derive(Debug)]
struct Peak {
    window: Duration,
    arrivals: VecDeque<Instant>,
    peak: u64,
}

impl Peak {
    fn record(&mut self, now: Instant) {
        while self
            .arrivals
            .front()
            .is_some_and(|&t| t + self.window <= now)
        {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back(now);
        self.peak = self.peak.max(self.arrivals.len() as u64);
    }
}

struct State {
    keys: HashMap<String, KeyWindow>,
    peak: Peak,
}

pub struct Throttle {
    limit: Option<RateLimit>,
    kind: WindowKind,
    state: Mutex<State>,
}

impl Throttle {
    /// `keys` are known up front, so the hot path never allocates a map entry.
    pub fn new(limit: Option<RateLimit>, kind: WindowKind, keys: &[String]) -> Self {
        let peak_window = limit.map_or(Duration::from_secs(60), |l| l.window);
        Throttle {
            limit,
            kind,
            state: Mutex::new(State {
                keys: keys
                    .iter()
                    .map(|k| (k.clone(), KeyWindow::default()))
                    .collect(),
                peak: Peak {
                    window: peak_window,
                    arrivals: VecDeque::new(),
                    peak: 0,
                },
            }),
        }
    }

    /// Records the arrival and decides. The clock is read under the lock so that arrivals are
    /// recorded in order even when two workers race.
    pub fn check(&self, key: &str) -> Decision {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        state.peak.record(now);
        let Some(limit) = self.limit else {
            return Decision::Unlimited;
        };
        match state.keys.get_mut(key) {
            Some(window) => window.hit(limit, self.kind, now),
            None => {
                let mut window = KeyWindow::default();
                let decision = window.hit(limit, self.kind, now);
                state.keys.insert(key.to_string(), window);
                decision
            }
        }
    }

    pub fn peak(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .peak
            .peak
    }
}

/// `Retry-After` in whole seconds: the rest of the window rounded up, at least 1, so a client
/// that sleeps exactly this long is never early.
pub fn retry_after_secs(retry_after: Duration) -> u64 {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_rate_limits() {
        let cases = [
            ("600/60s", 600, ms(60_000)),
            ("60/6s", 60, ms(6_000)),
            ("600/min", 600, ms(60_000)),
            ("10/s", 10, ms(1_000)),
            ("20/2s", 20, ms(2_000)),
            ("100/500ms", 100, ms(500)),
        ];
        for (text, max, window) in cases {
            assert_eq!(text.parse(), Ok(RateLimit { max, window }), "{text}");
        }
        for bad in ["", "600", "0/60s", "10/0s", "x/s", "10/fortnight", "-1/s"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_window_kinds() {
        assert_eq!("fixed".parse(), Ok(WindowKind::Fixed));
        assert_eq!("Sliding".parse(), Ok(WindowKind::Sliding));
        assert!("leaky".parse::<WindowKind>().is_err());
    }

    #[test]
    fn fixed_window_opens_at_first_hit_and_does_not_count_rejections() {
        let limit = RateLimit {
            max: 3,
            window: ms(1000),
        };
        let t0 = Instant::now();
        let mut w = KeyWindow::default();
        let remaining: Vec<_> = (0..3)
            .map(|i| w.hit(limit, WindowKind::Fixed, t0 + ms(i * 100)))
            .collect();
        assert_eq!(
            remaining,
            [2, 1, 0].map(|remaining| Decision::Allowed {
                limit: 3,
                remaining
            })
        );
        for _ in 0..5 {
            assert_eq!(
                w.hit(limit, WindowKind::Fixed, t0 + ms(400)),
                Decision::Limited {
                    limit: 3,
                    retry_after: ms(600)
                }
            );
        }
        assert_eq!(w.count, 3);
        // The window is [t0, t0+1s): the next one opens at the first hit after it.
        assert_eq!(
            w.hit(limit, WindowKind::Fixed, t0 + ms(1000)),
            Decision::Allowed {
                limit: 3,
                remaining: 2
            }
        );
    }

    #[test]
    fn sliding_window_admits_only_max_in_any_interval() {
        let limit = RateLimit {
            max: 2,
            window: ms(1000),
        };
        let t0 = Instant::now();
        let mut w = KeyWindow::default();
        let hit = |w: &mut KeyWindow, at| w.hit(limit, WindowKind::Sliding, t0 + ms(at));
        assert!(matches!(
            hit(&mut w, 0),
            Decision::Allowed { remaining: 1, .. }
        ));
        assert!(matches!(
            hit(&mut w, 600),
            Decision::Allowed { remaining: 0, .. }
        ));
        assert_eq!(
            hit(&mut w, 900),
            Decision::Limited {
                limit: 2,
                retry_after: ms(100)
            }
        );
        // At 1000 the first hit leaves the window, the one at 600 still counts.
        assert!(matches!(
            hit(&mut w, 1000),
            Decision::Allowed { remaining: 0, .. }
        ));
        assert!(matches!(hit(&mut w, 1500), Decision::Limited { .. }));
    }

    #[test]
    fn peak_counts_the_busiest_interval_across_window_edges() {
        let t0 = Instant::now();
        let mut p = Peak {
            window: ms(1000),
            arrivals: VecDeque::new(),
            peak: 0,
        };
        // 3 at the end of one fixed window and 3 at the start of the next: 6 within 1 s.
        for at in [0, 900, 950, 990, 1010, 1050, 1100, 2500] {
            p.record(t0 + ms(at));
        }
        assert_eq!(p.peak, 6);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(ms(1)), 1);
        assert_eq!(retry_after_secs(ms(0)), 1);
        assert_eq!(retry_after_secs(ms(1000)), 1);
        assert_eq!(retry_after_secs(ms(1001)), 2);
        assert_eq!(retry_after_secs(ms(59_500)), 60);
    }

    #[test]
    fn throttle_is_per_key_and_off_means_unlimited() {
        let keys = ["a".to_string(), "b".to_string()];
        let t = Throttle::new(
            Some(RateLimit {
                max: 1,
                window: Duration::from_secs(60),
            }),
            WindowKind::Fixed,
            &keys,
        );
        assert!(matches!(t.check("a"), Decision::Allowed { .. }));
        assert!(matches!(t.check("a"), Decision::Limited { .. }));
        assert!(matches!(t.check("b"), Decision::Allowed { .. }));
        assert_eq!(t.peak(), 3);
        let off = Throttle::new(None, WindowKind::Fixed, &keys);
        assert_eq!(off.check("a"), Decision::Unlimited);
    }
}
