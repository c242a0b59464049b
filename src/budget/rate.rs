//! The pace a run asks for: `--rate` (`10/s`, `600/min`, `60/6s`, `unlimited`, `auto`).
//!
//! A [`Rate`] is what the user typed, validated; the pacer ([`crate::limiter::Pacer`]) turns
//! it into the spacing of requests. `auto` starts at the documented 600 per minute and follows
//! the server's `X-RateLimit-Limit` when it advertises more (the pacer does the following);
//! the documented API sends no such header, so `auto` is never the default.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Requests are spaced this much wider than the nominal rate, to absorb scheduler and network
/// jitter: two requests sent exactly 100 ms apart can arrive 99 ms apart and overflow a window.
/// A window can then only overflow if its first request is delayed by more than 0.5 % of the
/// window (300 ms of a minute) relative to a request sent a whole window later, while the cost
/// stays at 0.5 % of the throughput (9.95 of 10 requests/s).
pub const SAFETY_MARGIN: f64 = 0.005;

/// A request rate such as `10/s`, `600/min`, `unlimited` or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    Unlimited,
    PerPeriod {
        requests: u32,
        period: Duration,
    },
    /// The documented 600/min, or the server's `X-RateLimit-Limit` per minute when higher.
    Auto,
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
            // Until the server says more: the pacer follows it ([`crate::limiter::Pacer`]).
            Rate::Auto => Rate::API_DEFAULT.per_second(),
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
        match s.trim() {
            "unlimited" | "off" | "none" => return Ok(Rate::Unlimited),
            "auto" => return Ok(Rate::Auto),
            _ => {}
        }
        let (requests, period) = crate::units::parse_per(s)?;
        Ok(Rate::PerPeriod { requests, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Rate::Auto {
            return f.write_str("auto");
        }
        match self.per_second() {
            None => f.write_str("unlimited"),
            Some(r) if r.fract() == 0.0 => write!(f, "{r}/s"),
            Some(r) => write!(f, "{r:.2}/s"),
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
        let auto = Rate::from_str("auto").unwrap();
        assert_eq!(
            (auto.to_string(), auto.per_second()),
            ("auto".into(), Some(10.0))
        );
        for bad in ["", "10", "0/s", "10/fortnight", "x/s", "10/0s"] {
            assert!(Rate::from_str(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn interval_keeps_a_margin_below_the_nominal_rate() {
        let i = Rate::API_DEFAULT.interval().unwrap();
        assert_eq!(i, Duration::from_micros(100_500));
    }
}
