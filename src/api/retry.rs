//! The retry policy, in one place: which answers are retried, how long to wait, how often.
//!
//! 5xx and transport errors are transient (the Errors guide: "retry after a short delay");
//! they are retried with exponential back-off and full jitter. 429 is not a failure of the row:
//! it pauses the whole pipeline for `Retry-After` (else the documented 60 s) and does not use up
//! the row's retry budget. 400/404/409/422 are answers about the data and are never retried;
//! 401/403 are answers about the key or account and stop the run.

use std::time::Duration;

use rand::Rng;

/// What to do after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A final answer about this request (2xx, 400, 404, 409, 422, other 4xx).
    Final,
    /// Transient: back off and try again while the budget lasts.
    Retry,
    /// 429: pause everyone, then send the same request again.
    Throttled,
    /// 401/403: the key or the account is refused; nothing else will succeed.
    Refused,
}

pub fn classify(status: u16) -> Verdict {
    match status {
        429 => Verdict::Throttled,
        401 | 403 => Verdict::Refused,
        500..=599 => Verdict::Retry,
        // 408 is the one 4xx that means "try again".
        408 => Verdict::Retry,
        _ => Verdict::Final,
    }
}

/// The wait after a 429 without `Retry-After`: "On a 429, wait at least 60 seconds".
pub const DEFAULT_THROTTLE_PAUSE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt for 5xx and transport errors.
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in `[0, min(cap, base * 2^retry)]` (AWS architecture blog), so that
    /// workers that failed together do not retry together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.backoff_ceiling(retry);
        if ceiling.is_zero() {
            return ceiling;
        }
        let nanos = rand::rng().random_range(0..=ceiling.as_nanos() as u64);
        Duration::from_nanos(nanos)
    }

    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// How long a 429 stops the pipeline: the server's `Retry-After` (at least 1 s, since Laravel
/// rounds down and may say 0 within the last second), else 60 s; plus up to 10 % (and 100 ms)
/// of jitter so that several clients of one account do not return in lockstep.
pub fn throttle_pause(retry_after: Option<Duration>) -> Duration {
    let base = throttle_base(retry_after);
    let jitter_cap = base / 10 + Duration::from_millis(100);
    base + Duration::from_nanos(rand::rng().random_range(0..=jitter_cap.as_nanos() as u64))
}

pub fn throttle_base(retry_after: Option<Duration>) -> Duration {
    retry_after
        .map(|d| d.max(Duration::from_secs(1)))
        .unwrap_or(DEFAULT_THROTTLE_PAUSE)
}

/// `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_statuses_are_retried() {
        for s in [500, 502, 503, 504, 408] {
            assert_eq!(classify(s), Verdict::Retry, "{s}");
        }
        for s in [200, 201, 400, 404, 409, 422] {
            assert_eq!(classify(s), Verdict::Final, "{s}");
        }
        assert_eq!(classify(429), Verdict::Throttled);
        assert_eq!(classify(401), Verdict::Refused);
        assert_eq!(classify(403), Verdict::Refused);
    }

    #[test]
    fn backoff_grows_exponentially_to_the_cap_with_full_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_ceiling(0), Duration::from_millis(500));
        assert_eq!(p.backoff_ceiling(1), Duration::from_secs(1));
        assert_eq!(p.backoff_ceiling(3), Duration::from_secs(4));
        assert_eq!(p.backoff_ceiling(10), Duration::from_secs(30));
        assert_eq!(p.backoff_ceiling(100), Duration::from_secs(30));
        for retry in 0..8 {
            assert!(p.backoff(retry) <= p.backoff_ceiling(retry));
        }
    }

    #[test]
    fn a_429_without_retry_after_pauses_sixty_seconds() {
        assert_eq!(throttle_base(None), Duration::from_secs(60));
        let pause = throttle_pause(None);
        assert!(pause >= Duration::from_secs(60) && pause <= Duration::from_millis(66_100));
    }

    #[test]
    fn a_429_honours_retry_after_with_a_one_second_floor() {
        assert_eq!(
            throttle_base(Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(throttle_base(Some(Duration::ZERO)), Duration::from_secs(1));
        let pause = throttle_pause(Some(Duration::from_secs(2)));
        assert!(pause >= Duration::from_secs(2) && pause <= Duration::from_millis(2_300));
    }

    #[test]
    fn parses_both_retry_after_forms() {
        assert_eq!(parse_retry_after("50"), Some(Duration::from_secs(50)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
