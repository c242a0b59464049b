//! Starting data for the account: generated seed data, or the `--state` file.
//!
//! Seed data is a pure function of `(seed, counts, now)`, so two runs with the same `--seed`
//! hold the same contacts (apart from the timestamps, which are relative to now). Contacts are
//! spread over the last 90 days so the period filters of `GET /v1/contacts` select something
//! meaningful, and ids follow creation order (older = smaller id), as in a real account.
//!
//! The state file is the `Account` as JSON, saved through [`crate::files`]: a 0600 temporary
//! beside the target renamed over it, so an interrupted save never leaves a truncated account.

use std::io;
use std::path::Path;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

use super::store::{Account, ContactRec, SequenceRec, TagRec};

const FIRST_NAMES: [&str; 10] = [
    "John", "Jane", "Ann", "Paul", "Marie", "Luc", "Sofia", "Omar", "Chen", "Ada",
];
const LAST_NAMES: [&str; 10] = [
    "Doe", "Smith", "Martin", "Dubois", "Murphy", "Garcia", "Rossi", "Kowalski", "Tanaka", "Okafor",
];
const SPREAD_DAYS: i64 = 90;

/// Contacts `seed1@example.com`.. with `created_at` in `[now - 90 days, now)`, tags
/// `Tag 1`..`Tag N` (each contact in 0-2 of them) and sequences `Sequence 1`..`Sequence N`
/// (each contact in 0-1 of them).
pub fn seed_account(
    seed: u64,
    contacts: u64,
    tags: u64,
    sequences: u64,
    now: DateTime<Utc>,
) -> Account {
    let mut rng = StdRng::seed_from_u64(seed);
    let now = now.trunc_subsecs(6);
    let start = now - Duration::days(SPREAD_DAYS);
    let span_micros = (now - start).num_microseconds().unwrap_or(1).max(1);

    let tags: Vec<TagRec> = (1..=tags)
        .map(|id| TagRec {
            id,
            name: format!("Tag {id}"),
            created_at: start.trunc_subsecs(0) - Duration::days(1),
        })
        .collect();
    let sequences: Vec<SequenceRec> = (1..=sequences)
        .map(|id| SequenceRec {
            id,
            name: format!("Sequence {id}"),
            kind: "normal".into(),
        })
        .collect();

    let mut offsets: Vec<i64> = (0..contacts)
        .map(|_| rng.random_range(0..span_micros))
        .collect();
    offsets.sort_unstable();
    let contacts = offsets
        .into_iter()
        .zip(1u64..)
        .map(|(offset, id)| {
            let tag_count = rng.random_range(0..=2).min(tags.len());
            let contact_tags = sample(&mut rng, tags.len(), tag_count)
                .into_iter()
                .map(|i| i as u64 + 1)
                .collect();
            let contact_sequences = if !sequences.is_empty() && rng.random_bool(0.5) {
                vec![rng.random_range(1..=sequences.len() as u64)]
            } else {
                Vec::new()
            };
            ContactRec {
                id,
                email: format!("seed{id}@example.com"),
                first_name: Some(FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())].into()),
                last_name: rng
                    .random_bool(0.9)
                    .then(|| LAST_NAMES[rng.random_range(0..LAST_NAMES.len())].into()),
                email_marketing: rng.random_bool(0.6),
                gdpr: rng.random_bool(0.5),
                created_at: start + Duration::microseconds(offset),
                tags: contact_tags,
                sequences: contact_sequences,
                custom: Default::default(),
            }
        })
        .collect::<Vec<_>>();

    Account {
        next_contact_id: contacts.len() as u64 + 1,
        next_tag_id: tags.len() as u64 + 1,
        next_sequence_id: sequences.len() as u64 + 1,
        contacts,
        tags,
        sequences,
        custom_fields: Vec::new(),
    }
}

/// `--seed-custom-fields`: a count, or definitions separated by `;` where `Name=A,B,C` is a
/// `select` field with those options. A count N gives the two documented examples (`Company`,
/// text; `Plan`, select `Starter,Pro,Elite`) then `Field 3`..`Field N`, text.
pub fn parse_custom_fields(spec: &str) -> Result<Vec<(String, Option<String>)>, String> {
    if let Ok(n) = spec.trim().parse::<u64>() {
        let documented = [
            ("Company".to_string(), None),
            ("Plan".to_string(), Some("Starter,Pro,Elite".to_string())),
        ];
        return Ok(documented
            .into_iter()
            .chain((3..=n).map(|i| (format!("Field {i}"), None)))
            .take(n as usize)
            .collect());
    }
    spec.split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let (name, values) = match d.split_once('=') {
                Some((name, values)) => (name.trim(), Some(values.trim().to_string())),
                None => (d, None),
            };
            if name.is_empty() || values.as_deref() == Some("") {
                return Err(format!(
                    "--seed-custom-fields: {d:?} is not NAME or NAME=OPTION,OPTION"
                ));
            }
            Ok((name.to_string(), values))
        })
        .collect()
}

/// The saved account, or `None` if the file does not exist yet.
pub fn load_state(path: &Path) -> io::Result<Option<Account>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// Replaces `FILE` atomically, 0600, by the rules of [`crate::files`].
pub fn save_state(path: &Path, account: &Account) -> io::Result<()> {
    let mut out = io::BufWriter::new(crate::files::Output::atomic(path)?);
    serde_json::to_writer(&mut out, account)?;
    out.into_inner().map_err(|e| e.into_error())?.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_data_is_deterministic_ordered_and_recent() {
        let now = Utc::now();
        let a = seed_account(42, 200, 5, 3, now);
        assert_eq!(a, seed_account(42, 200, 5, 3, now));
        assert_ne!(a.contacts, seed_account(43, 200, 5, 3, now).contacts);
        assert_eq!(a.contacts.len(), 200);
        assert_eq!(a.next_contact_id, 201);
        assert_eq!(a.tags[4].name, "Tag 5");
        assert_eq!(a.contacts[0].email, "seed1@example.com");
        assert!(
            a.contacts
                .windows(2)
                .all(|w| w[0].created_at <= w[1].created_at)
        );
        let oldest = now - Duration::days(SPREAD_DAYS + 1);
        assert!(
            a.contacts
                .iter()
                .all(|c| c.created_at > oldest && c.created_at <= now)
        );
        assert!(
            a.contacts
                .iter()
                .all(|c| c.tags.len() <= 2 && c.sequences.len() <= 1)
        );
        assert!(a.contacts.iter().any(|c| !c.tags.is_empty()));
        let no_tags = seed_account(1, 10, 0, 0, now);
        assert!(no_tags.contacts.iter().all(|c| c.tags.is_empty()));
    }

    #[test]
    fn custom_field_specs() {
        let two = parse_custom_fields("2").unwrap();
        assert_eq!(two[1], ("Plan".into(), Some("Starter,Pro,Elite".into())));
        assert_eq!(parse_custom_fields("4").unwrap()[3].0, "Field 4");
        assert_eq!(parse_custom_fields("0").unwrap(), []);
        let named = parse_custom_fields("Company Name; Tier=Gold, Silver").unwrap();
        assert_eq!(named[0], ("Company Name".into(), None));
        assert_eq!(named[1], ("Tier".into(), Some("Gold, Silver".into())));
        assert!(parse_custom_fields("Tier=").is_err());
    }

    #[test]
    fn state_round_trips_and_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("account.json");
        assert_eq!(load_state(&path).unwrap(), None);
        let account = seed_account(7, 20, 2, 1, Utc::now());
        save_state(&path, &account).unwrap();
        assert_eq!(load_state(&path).unwrap(), Some(account));
        std::fs::write(&path, "{not json").unwrap();
        assert!(load_state(&path).is_err());
    }
}
