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

#[cfg(test)]
mod tests {
    use super::*;

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
