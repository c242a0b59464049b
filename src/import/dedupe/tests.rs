use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

/// Every key collides with every other.
fn same(_: &[u8]) -> u64 {
    0x5EED_5EED_5EED_5EED
}

/// Keys of the same length collide: collisions among many other fingerprints.
fn by_len(key: &[u8]) -> u64 {
    (key.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Tiny limits: spills after 3 keys, tags grow from 4 slots, runs merge after MAX_RUNS.
const TINY: Limits = Limits {
    recent_keys: 3,
    recent_bytes: 64,
    initial_tags: 4,
};

fn email(i: usize) -> Vec<u8> {
    format!("user{i}@example.com").into_bytes()
}

#[test]
fn a_forced_collision_is_never_a_duplicate() {
    for limits in [LIMITS, TINY] {
        let mut set = DupSet::with(same, limits);
        // 40 different emails, one fingerprint: in memory, spilled and merged alike.
        for i in 0..40 {
            assert_eq!(
                set.check(&email(i), i as u64 + 1).unwrap(),
                Seen::New,
                "{i}"
            );
        }
        assert!(limits.recent_keys > 40 || set.runs.len() <= MAX_RUNS);
        // The same bytes again are duplicates of the right row.
        for i in (0..40).rev() {
            let first_row = i as u64 + 1;
            let seen = set.check(&email(i), 1000).unwrap();
            assert_eq!(seen, Seen::Repeat { first_row }, "{i}");
        }
        assert_eq!(set.check(b"someone@else.example", 2000).unwrap(), Seen::New);
    }
}

#[test]
fn spills_merge_and_tag_growth_keep_every_answer() {
    let mut set = DupSet::with(xxh3, TINY);
    for i in 0..500 {
        assert_eq!(set.check(&email(i), i as u64 + 1).unwrap(), Seen::New);
    }
    assert!(!set.runs.is_empty() && set.runs.len() <= MAX_RUNS);
    assert!(set.tags.slots.len() >= 500);
    for i in 0..500 {
        let first_row = i as u64 + 1;
        assert_eq!(set.check(&email(i), 9).unwrap(), Seen::Repeat { first_row });
    }
    assert_eq!(set.check(&email(500), 501).unwrap(), Seen::New);
}

/// No temporary file (an unwritable `$TMPDIR`): full tables are kept in memory, each under
/// the limits, and every answer stays right.
#[test]
fn without_temporary_files_full_tables_stay_in_memory() {
    for hash in [xxh3 as KeyHash, by_len] {
        let mut set = DupSet::with(hash, TINY);
        set.in_memory_only = true;
        for i in 0..300 {
            assert_eq!(
                set.check(&email(i), i as u64 + 1).unwrap(),
                Seen::New,
                "{i}"
            );
        }
        assert!(set.runs.is_empty() && set.kept.len() >= 300 / TINY.recent_keys - 1);
        assert!(set.kept.iter().all(|t| t.len() <= TINY.recent_keys));
        for i in 0..300 {
            let first_row = i as u64 + 1;
            assert_eq!(set.check(&email(i), 9).unwrap(), Seen::Repeat { first_row });
        }
        assert_eq!(set.check(&email(300), 301).unwrap(), Seen::New);
    }
}

proptest! {
    /// The word-at-a-time test agrees with a byte loop, wherever the odd byte sits.
    #[test]
    fn needs_folding_agrees_with_a_byte_loop(email in "[a-z0-9@._+-]{0,30}[A-Z\\[`@\\x7f\u{80}-\u{10FFFF}]?[a-z0-9@._]{0,30}") {
        let bytes = email.as_bytes();
        let slow = bytes.iter().any(|b| b.is_ascii_uppercase() || !b.is_ascii());
        prop_assert_eq!(needs_folding(bytes), slow);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Against a plain map of the exact bytes, with colliding fingerprints and tiny limits.
    #[test]
    fn agrees_with_an_exact_map(
        keys in proptest::collection::vec("[ab]{0,4}", 1..300),
        collide in any::<bool>(),
    ) {
        let hash: KeyHash = if collide { by_len } else { xxh3 };
        let mut set = DupSet::with(hash, TINY);
        let mut exact: HashMap<&[u8], u64> = HashMap::new();
        for (row, key) in (1..).zip(&keys) {
            let want = match exact.get(key.as_bytes()) {
                Some(&first_row) => Seen::Repeat { first_row },
                None => {
                    exact.insert(key.as_bytes(), row);
                    Seen::New
                }
            };
            prop_assert_eq!(set.check(key.as_bytes(), row).unwrap(), want);
        }
    }
}

/// The spill order is the fingerprint order, whatever the fingerprints.
#[test]
fn spill_order_is_fingerprint_order() {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for n in [0usize, 1, 2, 3, 100, 5000] {
        let mut entries: Vec<(u64, u64)> = (0..n as u64)
            .map(|i| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Some equal and some clustered fingerprints besides uniform ones.
                let fp = match i % 5 {
                    0 => 42,
                    1 => rng >> 40,
                    _ => rng,
                };
                (fp, i)
            })
            .collect();
        let sorted = super::recent::by_fingerprint(entries.clone());
        entries.sort_unstable();
        let mut got = sorted.clone();
        got.sort_unstable();
        assert_eq!(got, entries, "same entries");
        assert!(sorted.windows(2).all(|w| w[0].0 <= w[1].0), "{n}: in order");
    }
}
