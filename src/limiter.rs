//! The one pacer every request of a run waits on.
//!
//! A single `governor` limiter with a burst of 1 spaces requests evenly, so no window of the
//! server's limit can ever see more than its share, whatever the window's phase. A 429 pauses the
//! whole pipeline through the same object ([`Pacer::pause_for`]), not just the row that hit it.
//! Import and export both build exactly one `Pacer` and share it with every worker; retries wait
//! on it too.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

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

/// The shared limiter plus the pipeline-wide 429 pause.
pub struct Pacer {
    limiter: Option<DefaultDirectRateLimiter>,
    paused_until: Mutex<Option<Instant>>,
    /// Callers get their turn first come, first served (tokio's mutex is FIFO). governor alone
    /// lets waiters race for each token, so one request could lose many races in a row while
    /// later ones go out; with pages written in order, that one late page stalls the window.
    queue: tokio::sync::Mutex<()>,
    /// First and last turn granted, and how many: the achieved rate of the run.
    granted: Mutex<Option<Granted>>,
}

#[derive(Clone, Copy)]
struct Granted {
    first: Instant,
    last: Instant,
    count: u64,
}

impl Pacer {
    pub fn new(rate: Rate) -> Self {
        let limiter = rate.interval().map(|interval| {
            let quota = Quota::with_period(interval.max(Duration::from_nanos(1)))
                .expect("interval is non-zero")
                .allow_burst(NonZeroU32::MIN);
            RateLimiter::direct(quota)
        });
        Pacer {
            limiter,
            paused_until: Mutex::new(None),
            queue: tokio::sync::Mutex::new(()),
            granted: Mutex::new(None),
        }
    }

    /// Waits until this caller may send one request, in the order callers arrived.
    /// Dropping the future gives the turn up (a stopping run cancels its waiters this way).
    pub async fn ready(&self) {
        let Some(_) = &self.limiter else {
            self.wait_pause().await;
            return self.grant();
        };
        let _turn = self.queue.lock().await;
        loop {
            self.wait_pause().await;
            if let Some(limiter) = &self.limiter {
                limiter.until_ready().await;
            }
            // A 429 may have arrived while we waited for a token.
            if self.pause_remaining().is_none() {
                return self.grant();
            }
        }
    }

    fn grant(&self) {
        let now = Instant::now();
        let mut granted = self.granted.lock().unwrap_or_else(|e| e.into_inner());
        *granted = Some(match *granted {
            None => Granted {
                first: now,
                last: now,
                count: 1,
            },
            Some(g) => Granted {
                last: now,
                count: g.count + 1,
                ..g
            },
        });
    }

    /// Requests per second over the intervals between the turns granted: n turns span n - 1
    /// intervals. Dividing n by the whole run's time instead reads 220 requests/s for a single
    /// request, and above the limit for any short paced run. `None` below two turns.
    pub fn achieved_per_second(&self) -> Option<f64> {
        let g = (*self.granted.lock().unwrap_or_else(|e| e.into_inner()))?;
        let span = g.last.duration_since(g.first).as_secs_f64();
        (g.count >= 2 && span > 0.0).then(|| (g.count - 1) as f64 / span)
    }

    /// Stops every worker until `d` from now (extends, never shortens, a running pause).
    pub fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// How long the current 429 pause still lasts, if any.
    pub fn pause_remaining(&self) -> Option<Duration> {
        let paused = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        paused
            .map(|p| p.saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    async fn wait_pause(&self) {
        while let Some(d) = self.pause_remaining() {
            tokio::time::sleep(d).await;
        }
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
