//! "Did this run create that contact?", decided from evidence, never guessed.
//!
//! Asked only when one of our requests for the row may have reached the server unanswered (the
//! journal or the call itself says so) and a lookup then found the contact. The evidence is the
//! contact's `created_at` against the moment this import first started, compared on the
//! *server's* clock: the client bounds the server's offset from its `Date` headers (both sides,
//! to the second). A `created_at` on a whole second is read as "some time in that second",
//! because servers stamp whole seconds (every documented sample is `...T09:00:00.000000Z`); a
//! stamp with a fraction is taken as exact. A contact stamped
//! clearly before the start is someone else's ([`Verdict::Before`] -> `exists`); clearly after,
//! ours ([`Verdict::Ours`] -> `created`); in between, the clocks cannot tell and the row says
//! so ([`Verdict::Unsure`] -> `created` with a "probably" note), never `exists`.

use chrono::{DateTime, Duration, Utc};

use crate::api::{Contact, parse_time};

/// Slack on top of the measured clock bounds, for a clock slewed or stepped between the
/// answer that measured it and the stamp.
pub const CLOCK_TOLERANCE: Duration = Duration::milliseconds(250);
/// The server's offset assumed when no answer carried a `Date` header: anything within this
/// of the run's start is [`Verdict::Unsure`].
pub const UNKNOWN_CLOCK_SKEW: Duration = Duration::seconds(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Created after this run started, by a request of ours that may have reached the server.
    Ours,
    /// Created before this run started: someone else's.
    Before,
    /// The clocks cannot tell; the text says why.
    Unsure(String),
}

/// `offset`: bounds on the server's clock minus ours, when known.
pub fn judge(
    contact: &Contact,
    run_started: DateTime<Utc>,
    offset: Option<(Duration, Duration)>,
) -> Verdict {
    let Some(stamp) = contact.created_at.as_deref().and_then(parse_time) else {
        return Verdict::Unsure("the contact has no readable created_at".into());
    };
    // The creation happened in [stamp, stamp_end).
    let stamp_end = if stamp.timestamp_subsec_nanos() == 0 {
        stamp + Duration::seconds(1)
    } else {
        stamp + Duration::microseconds(1)
    };
    let (low, high) = offset.unwrap_or((-UNKNOWN_CLOCK_SKEW, UNKNOWN_CLOCK_SKEW));
    // Our start on the server's clock lies in [earliest, latest].
    let earliest = run_started + low - CLOCK_TOLERANCE;
    let latest = run_started + high + CLOCK_TOLERANCE;
    if stamp_end <= earliest {
        Verdict::Before
    } else if stamp > latest {
        Verdict::Ours
    } else {
        Verdict::Unsure(format!(
            "created_at {} is within the clocks' uncertainty of this run's start ({} to {} on \
             the server's clock{})",
            contact.created_at.as_deref().unwrap_or_default(),
            earliest.format("%H:%M:%S%.3f"),
            latest.format("%H:%M:%S%.3f"),
            if offset.is_none() {
                ", which sent no Date header"
            } else {
                ""
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    fn contact(created_at: &str) -> Contact {
        Contact {
            id: 1,
            email: "a@b.co".into(),
            first_name: None,
            last_name: None,
            email_marketing: false,
            gdpr: false,
            created_at: Some(created_at.into()),
            tags: None,
            sequences: None,
        }
    }

    /// Server and client clocks equal to the millisecond, a 100 ms round trip.
    fn exact() -> Option<(Duration, Duration)> {
        Some((Duration::milliseconds(-100), Duration::milliseconds(1000)))
    }

    #[test]
    fn a_whole_second_stamp_in_the_start_second_is_never_before() {
        let start = at("2026-01-01T10:00:00.600000Z");
        let v = judge(&contact("2026-01-01T10:00:00.000000Z"), start, exact());
        assert!(matches!(v, Verdict::Unsure(_)), "{v:?}");
        let v = judge(&contact("2026-01-01T10:00:09.000000Z"), start, exact());
        assert_eq!(v, Verdict::Ours);
        let v = judge(&contact("2026-01-01T09:59:50.000000Z"), start, exact());
        assert_eq!(v, Verdict::Before);
    }

    #[test]
    fn a_server_two_seconds_behind_does_not_make_our_contacts_someone_elses() {
        let start = at("2026-01-01T10:00:00.600000Z");
        // The server is 2 s behind: its Date headers bound the offset to about [-2.1, -1.0].
        let behind = Some((Duration::milliseconds(-2100), Duration::milliseconds(-1000)));
        // Created 0.3 s after our start, stamped on the server's clock, whole seconds.
        let v = judge(&contact("2026-01-01T09:59:58.000000Z"), start, behind);
        assert_ne!(v, Verdict::Before);
        let v = judge(&contact("2026-01-01T09:59:40.000000Z"), start, behind);
        assert_eq!(v, Verdict::Before);
    }

    #[test]
    fn a_server_ahead_moves_the_window_forward() {
        let start = at("2026-01-01T10:00:00.600000Z");
        let ahead = Some((Duration::milliseconds(1900), Duration::milliseconds(3000)));
        // Someone created it 1 s before our start: 10:00:01 on a clock 2 s ahead.
        let v = judge(&contact("2026-01-01T10:00:01.000000Z"), start, ahead);
        assert_eq!(v, Verdict::Before);
        // Stamped in the second our start falls in, on the server's clock.
        let v = judge(&contact("2026-01-01T10:00:02.000000Z"), start, ahead);
        assert!(matches!(v, Verdict::Unsure(_)), "{v:?}");
        let v = judge(&contact("2026-01-01T10:00:06.000000Z"), start, ahead);
        assert_eq!(v, Verdict::Ours);
    }

    #[test]
    fn a_stamp_with_microseconds_is_exact() {
        let start = at("2026-01-01T10:00:00.600000Z");
        let tight = Some((Duration::milliseconds(-50), Duration::milliseconds(50)));
        let v = judge(&contact("2026-01-01T10:00:00.100000Z"), start, tight);
        assert_eq!(v, Verdict::Before, "0.5 s before, clocks known to 0.1 s");
        let v = judge(&contact("2026-01-01T10:00:00.000000Z"), start, tight);
        assert!(matches!(v, Verdict::Unsure(_)), "{v:?}");
    }

    #[test]
    fn without_a_date_header_a_minute_around_the_start_is_unsure() {
        let start = at("2026-01-01T10:00:00.600000Z");
        let v = judge(&contact("2026-01-01T09:59:30.000000Z"), start, None);
        assert!(
            matches!(v, Verdict::Unsure(ref why) if why.contains("Date")),
            "{v:?}"
        );
        let v = judge(&contact("2026-01-01T09:50:00.000000Z"), start, None);
        assert_eq!(v, Verdict::Before);
        let mut no_stamp = contact("x");
        no_stamp.created_at = None;
        assert!(matches!(judge(&no_stamp, start, None), Verdict::Unsure(_)));
    }
}
