//! Injected faults: latency, server errors and dropped connections, from one seeded RNG.
//!
//! The same `--seed` and the same request order give the same faults, so a failing import run
//! can be replayed. Each roll happens only when its fault is enabled, so turning one fault on
//! does not reshuffle the others. Rates live in atomics because tests flip them mid-run
//! (`SandboxHandle::set_fault_rates`); the RNG sits behind its own small mutex, held only for
//! the draw.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub struct Faults {
    rng: Mutex<StdRng>,
    fail_rate: AtomicU64,
    drop_rate: AtomicU64,
    latency: Option<(Duration, Duration)>,
}

impl Faults {
    pub fn new(seed: u64, latency: Option<(Duration, Duration)>, fail: f64, drop: f64) -> Self {
        let faults = Faults {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            fail_rate: AtomicU64::new(0),
            drop_rate: AtomicU64::new(0),
            latency,
        };
        faults.set_rates(fail, drop);
        faults
    }

    pub fn set_rates(&self, fail: f64, drop: f64) {
        self.fail_rate
            .store(fail.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        self.drop_rate
            .store(drop.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// Should this request end in 500 `SERVER_ERROR` before the handler runs?
    pub fn roll_fail(&self) -> bool {
        self.roll(&self.fail_rate)
    }

    /// Should this successful create lose its response?
    pub fn roll_drop(&self) -> bool {
        self.roll(&self.drop_rate)
    }

    /// How long to hold this response back, if `--latency` is set.
    pub fn latency(&self) -> Option<Duration> {
        let (lo, hi) = self.latency?;
        if lo >= hi {
            return Some(lo);
        }
        let nanos = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_range(lo.as_nanos() as u64..=hi.as_nanos() as u64);
        Some(Duration::from_nanos(nanos))
    }

    fn roll(&self, rate: &AtomicU64) -> bool {
        let p = f64::from_bits(rate.load(Ordering::Relaxed));
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_bool(p)
    }
}

/// `300ms`, `2s`, `1.5s`, `250us`, `1m`, `1h`. A unit is required: a bare `300` is ambiguous.
/// Integer amounts are converted exactly (no float rounding), so `300ms` is exactly 300 ms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("invalid duration {s:?}: missing unit (ms, s, m, ...)"))?;
    let (number, unit) = s.split_at(split);
    let nanos_per_unit: u64 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" | "sec" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
    };
    if let Ok(n) = number.parse::<u64>() {
        return n
            .checked_mul(nanos_per_unit)
            .map(Duration::from_nanos)
            .ok_or_else(|| format!("invalid duration {s:?}: too large"));
    }
    match number.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(Duration::from_nanos(
            (x * nanos_per_unit as f64).round() as u64,
        )),
        _ => Err(format!("invalid duration {s:?}")),
    }
}

/// `300ms` (fixed) or `100ms..500ms` (uniform in the closed range).
pub fn parse_latency(s: &str) -> Result<(Duration, Duration), String> {
    match s.split_once("..") {
        Some((lo, hi)) => {
            let (lo, hi) = (parse_duration(lo)?, parse_duration(hi)?);
            if lo > hi {
                return Err(format!("invalid latency {s:?}: lower bound above upper"));
            }
            Ok((lo, hi))
        }
        None => parse_duration(s).map(|d| (d, d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_exactly() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.3s"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "300", "ms", "3 parsecs", "-1s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_latency_ranges() {
        let ms = Duration::from_millis;
        assert_eq!(parse_latency("300ms"), Ok((ms(300), ms(300))));
        assert_eq!(parse_latency("100ms..500ms"), Ok((ms(100), ms(500))));
        assert!(parse_latency("500ms..100ms").is_err());
    }

    #[test]
    fn same_seed_same_faults() {
        let draw = |seed| {
            let f = Faults::new(
                seed,
                Some((Duration::ZERO, Duration::from_millis(10))),
                0.5,
                0.5,
            );
            (0..64)
                .map(|_| (f.roll_fail(), f.roll_drop(), f.latency().unwrap()))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn extreme_rates_are_certain() {
        let f = Faults::new(1, None, 1.0, 0.0);
        assert!((0..100).all(|_| f.roll_fail() && !f.roll_drop()));
        f.set_rates(0.0, 1.0);
        assert!((0..100).all(|_| !f.roll_fail() && f.roll_drop()));
        assert_eq!(f.latency(), None);
    }
}
