//! Quantities people type on the command line: durations (`250ms`, `1.5s`, `2m`) and
//! "N per window" rates (`600/min`, `60/6s`). One parser for the client's flags, the limiter and
//! the sandbox, so `--rate 60/6s` and `--rate-limit 60/6s` can never mean different things.

use std::time::Duration;

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

/// `MAX/WINDOW`: `600/60s`, `60/6s`, `600/min`, `10/s`, `100/500ms`. Both parts positive.
pub fn parse_per(s: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("invalid rate {s:?}: expected MAX/WINDOW, e.g. 10/s, 600/min or 60/6s");
    let (max, per) = s.trim().split_once('/').ok_or_else(bad)?;
    let max: u32 = max.trim().parse().map_err(|_| bad())?;
    let window = match per.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        other => parse_duration(other).map_err(|_| bad())?,
    };
    if max == 0 || window.is_zero() {
        return Err(format!("invalid rate {s:?}: both parts must be positive"));
    }
    Ok((max, window))
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
    fn parses_rates_per_window() {
        assert_eq!(parse_per("600/min"), Ok((600, Duration::from_secs(60))));
        assert_eq!(parse_per("60/6s"), Ok((60, Duration::from_secs(6))));
        assert_eq!(parse_per("10/s"), Ok((10, Duration::from_secs(1))));
        assert_eq!(parse_per("5/500ms"), Ok((5, Duration::from_millis(500))));
        for bad in ["", "10", "0/s", "10/0s", "x/s", "10/fortnight"] {
            assert!(parse_per(bad).is_err(), "{bad}");
        }
    }
}
