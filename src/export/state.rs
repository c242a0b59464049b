//! `--state FILE`: the bookmark that makes a nightly export cost about new/100 requests.
//!
//! The state names the newest exported contact's `created_at` and every id exported with that
//! exact timestamp. The next run pages newest first and exports a contact when it is newer, or
//! equally new with an id not in the set, so contacts sharing a timestamp are neither skipped
//! nor duplicated; it stops at the first page holding an older or already-exported contact.
//! The state is rewritten (atomically, mode 0600) only after the output file is durable, so an
//! interrupted or failed run exports the same contacts again next time instead of losing them.
//!
//! It also records what it belongs to, checked before any request: the filters, and the
//! account as a fingerprint (SHA-256 of the base URL and the key; never the key), so a state
//! file reused against another account is refused (exit 2) instead of exporting nothing; and
//! the files its runs produced, so that none of them is overwritten by a later run
//! ([`super::paths`]).

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::filter::Filter;
use crate::api::{Contact, parse_time};
use crate::exit::Fatal;
use crate::files::write_atomic;

/// Files recorded in a state file: the newest this many (a year of nightly runs and more).
const MAX_OUTPUTS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub newest_created_at: String,
    pub ids_at_newest: Vec<u64>,
    pub filters: Filter,
    pub updated_at: String,
    /// [`account_fingerprint`] of the account the bookmark belongs to (absent in old files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Export files written by runs of this state, oldest first.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Requests the last full read of the tag memberships took (`--with-tags`), to choose the
    /// cheaper way for the next delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_read_requests: Option<u64>,
}

/// Identifies an account without holding its key, as the state file stores it.
pub fn account_fingerprint(base_url: &str, key: &str) -> String {
    format!("sha256:{}", crate::secret::account_digest(base_url, key))
}

impl State {
    /// `None` when the file does not exist yet (the first run exports everything).
    pub fn load(path: &Path) -> Result<Option<State>, Fatal> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Fatal::usage(format!("--state {}: {e}", path.display()))),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| {
            Fatal::usage(format!(
                "--state {}: not an export state file ({e}); delete it to export everything again",
                path.display()
            ))
        })?;
        Ok(Some(state))
    }

    pub fn save(&self, path: &Path) -> Result<(), Fatal> {
        let mut text =
            serde_json::to_string_pretty(self).map_err(|e| Fatal::usage(e.to_string()))?;
        text.push('\n');
        write_atomic(path, text.as_bytes())
            .map_err(|e| Fatal::usage(format!("--state {}: {e}", path.display())))
    }

    /// Refuses a state made for another account (exit 2, before any request).
    pub fn check_account(&self, path: &Path, fingerprint: &str) -> Result<(), Fatal> {
        match &self.account {
            Some(a) if a != fingerprint => Err(Fatal::usage(format!(
                "--state {}: it belongs to another account (another base URL or key); its \
                 bookmark would skip contacts of this one. Use another state file (a rotated \
                 key for the same account needs one too; delete it to export everything again)",
                path.display()
            ))),
            _ => Ok(()),
        }
    }

    /// This state after a run that wrote `output`: `advanced` is the new bookmark when the run
    /// proved one, else the old bookmark stays.
    pub fn after_run(
        previous: Option<&State>,
        advanced: Option<State>,
        account: String,
        output: Option<String>,
    ) -> Option<State> {
        let mut next = advanced.or_else(|| previous.cloned())?;
        next.account = Some(account);
        next.tag_read_requests = previous.and_then(|p| p.tag_read_requests);
        next.outputs = previous.map(|p| p.outputs.clone()).unwrap_or_default();
        if let Some(o) = output
            && !next.outputs.contains(&o)
        {
            next.outputs.push(o);
        }
        let excess = next.outputs.len().saturating_sub(MAX_OUTPUTS);
        next.outputs.drain(..excess);
        Some(next)
    }

    /// Records what a full read of the tag memberships cost, when this run did one.
    pub fn with_tag_read(mut self, requests: Option<u64>) -> State {
        self.tag_read_requests = requests.or(self.tag_read_requests);
        self
    }

    pub fn bookmark(&self) -> Result<Bookmark, Fatal> {
        let newest = parse_time(&self.newest_created_at).ok_or_else(|| {
            Fatal::usage(format!(
                "state file: newest_created_at {:?} is not a timestamp",
                self.newest_created_at
            ))
        })?;
        Ok(Bookmark {
            newest,
            ids: self.ids_at_newest.iter().copied().collect(),
        })
    }
}

/// Decides which contacts an incremental run still has to export.
#[derive(Debug)]
pub struct Bookmark {
    newest: DateTime<Utc>,
    ids: HashSet<u64>,
}

impl Bookmark {
    /// Newer than the bookmark, or as new and not exported yet. A contact without a readable
    /// `created_at` cannot be placed, so it counts as old (it would otherwise never stop).
    pub fn is_new(&self, contact: &Contact) -> bool {
        match contact.created_at.as_deref().and_then(parse_time) {
            Some(t) => t > self.newest || (t == self.newest && !self.ids.contains(&contact.id)),
            None => false,
        }
    }
}

/// Follows the newest contacts written by this run, to advance the bookmark.
#[derive(Debug, Default)]
pub struct Newest {
    at: Option<(DateTime<Utc>, String)>,
    ids: Vec<u64>,
}

impl Newest {
    pub fn observe(&mut self, contact: &Contact) {
        let Some(raw) = contact.created_at.as_deref() else {
            return;
        };
        let Some(t) = parse_time(raw) else { return };
        match &self.at {
            Some((newest, _)) if t < *newest => {}
            Some((newest, _)) if t == *newest => self.ids.push(contact.id),
            _ => {
                self.at = Some((t, raw.to_string()));
                self.ids = vec![contact.id];
            }
        }
    }

    /// The state after this run; `None` when nothing new was written (keep the old one).
    pub fn advance(self, previous: Option<&State>, filters: Filter) -> Option<State> {
        let (t, raw) = self.at?;
        let mut ids = self.ids;
        if let Some(prev) = previous
            && let Some(prev_t) = parse_time(&prev.newest_created_at)
        {
            if prev_t > t {
                return None;
            }
            if prev_t == t {
                ids.extend(&prev.ids_at_newest);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Some(State {
            newest_created_at: raw,
            ids_at_newest: ids,
            filters,
            updated_at: crate::api::format_contact_time(Utc::now()),
            account: None,
            outputs: Vec::new(),
            tag_read_requests: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: u64, at: &str) -> Contact {
        Contact {
            id,
            email: format!("c{id}@example.com"),
            first_name: None,
            last_name: None,
            email_marketing: false,
            gdpr: false,
            created_at: Some(at.to_string()),
            tags: None,
            sequences: None,
        }
    }

    const T1: &str = "2024-01-01T09:00:00.000000Z";
    const T2: &str = "2024-01-01T09:00:01.000000Z";
    const T0: &str = "2024-01-01T08:59:59.000000Z";

    fn all() -> Filter {
        Filter::new(None, None)
    }

    #[test]
    fn ties_at_the_newest_timestamp_are_neither_skipped_nor_duplicated() {
        // First run exported 1 and 2, both at T1.
        let mut first = Newest::default();
        for c in [contact(2, T1), contact(1, T1), contact(0, T0)] {
            first.observe(&c);
        }
        let state = first.advance(None, all()).unwrap();
        assert_eq!(state.newest_created_at, T1);
        assert_eq!(state.ids_at_newest, vec![1, 2]);

        // Meanwhile 3 arrived with the same timestamp and 4 a second later.
        let b = state.bookmark().unwrap();
        assert!(b.is_new(&contact(4, T2)));
        assert!(b.is_new(&contact(3, T1)));
        assert!(!b.is_new(&contact(2, T1)));
        assert!(!b.is_new(&contact(1, T1)));
        assert!(!b.is_new(&contact(0, T0)));

        // Only 3 (tie): the set grows, the timestamp stays.
        let mut second = Newest::default();
        second.observe(&contact(3, T1));
        let after = second.advance(Some(&state), all()).unwrap();
        assert_eq!(after.newest_created_at, T1);
        assert_eq!(after.ids_at_newest, vec![1, 2, 3]);

        // 4 is newer: the set restarts at its timestamp.
        let mut third = Newest::default();
        third.observe(&contact(4, T2));
        third.observe(&contact(3, T1));
        let later = third.advance(Some(&after), all()).unwrap();
        assert_eq!(later.newest_created_at, T2);
        assert_eq!(later.ids_at_newest, vec![4]);
    }

    #[test]
    fn nothing_new_keeps_the_old_state() {
        assert!(Newest::default().advance(None, all()).is_none());
    }

    #[test]
    fn unreadable_timestamps_count_as_old() {
        let state = State {
            newest_created_at: T1.into(),
            ids_at_newest: vec![],
            filters: all(),
            updated_at: T1.into(),
            account: None,
            outputs: Vec::new(),
            tag_read_requests: None,
        };
        let mut c = contact(9, T2);
        c.created_at = None;
        assert!(!state.bookmark().unwrap().is_new(&c));
    }

    #[test]
    fn saves_and_loads_atomically_and_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(State::load(&path).unwrap(), None);
        let state = State {
            newest_created_at: T1.into(),
            ids_at_newest: vec![7],
            filters: all(),
            updated_at: T2.into(),
            account: Some(account_fingerprint("http://a/v1/", "k")),
            outputs: vec!["/x/a.csv".into()],
            tag_read_requests: Some(12),
        };
        state.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), Some(state));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "{}").unwrap();
        assert!(State::load(&path).is_err());
    }

    #[test]
    fn the_account_is_a_fingerprint_and_another_one_is_refused() {
        let a = account_fingerprint("http://a/v1", "key-a");
        assert_eq!(a, account_fingerprint("http://a/v1/", "key-a"));
        assert_ne!(a, account_fingerprint("http://a/v1", "key-b"));
        assert_ne!(a, account_fingerprint("http://b/v1", "key-a"));
        assert!(!a.contains("key-a"));
        let mut first = Newest::default();
        first.observe(&contact(1, T1));
        let state = State::after_run(
            None,
            first.advance(None, all()),
            a.clone(),
            Some("x".into()),
        )
        .unwrap();
        assert_eq!(state.outputs, ["x"]);
        let path = Path::new("s.json");
        assert!(state.check_account(path, &a).is_ok());
        let err = state
            .check_account(path, &account_fingerprint("http://a/v1", "key-b"))
            .unwrap_err();
        assert!(err.to_string().contains("another account"), "{err}");
        // Nothing new: the bookmark stays, the file written is still recorded.
        let kept = State::after_run(Some(&state), None, a, Some("y".into())).unwrap();
        assert_eq!(kept.newest_created_at, T1);
        assert_eq!(kept.outputs, ["x", "y"]);
    }
}
