//! The in-file duplicate check: has this (normalised) email already appeared in the file?
//!
//! A row called `duplicate` is never sent, so the answer must never be a guess: a 64-bit
//! fingerprint only finds candidates, and a candidate counts only once its stored bytes equal the
//! key. Two different emails with the same fingerprint are two contacts, however unlikely that is.
//!
//! Memory stays bounded whatever the number of distinct emails (issue 18):
//! - `tags` holds every key ever seen as a 16-bit tag in an open-addressing table (2 to 2.7 bytes
//!   a key). It answers "certainly new" for almost every new key without looking further.
//! - `recent` holds the latest keys in full (fingerprint, first row, bytes), up to [`Limits`]
//!   ([`recent`]).
//! - `runs` holds the older ones, spilled sorted by fingerprint into unlinked temporary files
//!   ([`runs`]); a tag hit costs one positioned read per run, and runs are merged so there are
//!   never more than [`MAX_RUNS`].
//!
//! Failure never turns into a wrong answer: if a temporary file cannot be created the keys stay
//! in memory (more memory, same answers); if a spilled key cannot be read back, `check` returns
//! the error and the caller reports the row as not checked rather than guessing.
//!
//! Called once per valid row: by [`super::plan::Planner`] in a real run, by the dry run's
//! writer thread ([`super::plan::later`]) in a dry run.

mod recent;
mod runs;

use std::io;

use recent::Recent;
use runs::Run;

/// How a key becomes its fingerprint. Injected so a test can force collisions.
pub type KeyHash = fn(&[u8]) -> u64;

/// The production fingerprint.
pub fn xxh3(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Whether `email` holds an ASCII capital or any non-ASCII byte, i.e. whether its duplicate
/// key must be lower-cased ([`super::plan`]'s `dedupe_key`). Eight bytes at a time: the
/// usual email is already lower-case ASCII, and a compare-and-branch per byte was half the
/// key's cost, paid twice a row in a dry run (fingerprint, then check). Exact for every byte:
/// on the low seven bits, adding `0x80 - b'A'` sets the high bit from `A` up and adding
/// `0x80 - b'Z' - 1` from past `Z`, without a carry into the next byte.
pub fn needs_folding(email: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    let splat = |b: u8| ONES * u64::from(b);
    let mut words = email.chunks_exact(8);
    let found = words.by_ref().any(|chunk| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word);
        let low = word & splat(0x7F);
        let from_a = low + splat(0x80 - b'A');
        let past_z = low + splat(0x80 - b'Z' - 1);
        ((from_a & !past_z) | word) & splat(0x80) != 0
    });
    found
        || words
            .remainder()
            .iter()
            .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
}

/// The answer for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First time: the key is now remembered with this row.
    New,
    /// The very same bytes were first seen on `first_row`.
    Repeat { first_row: u64 },
}

/// How much of the set is held in memory before spilling.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub recent_keys: usize,
    pub recent_bytes: usize,
    /// Slots of the first tag table (it doubles as keys arrive).
    pub initial_tags: usize,
}

/// ~7 MB of recent keys (2 MiB of slots, 5 MiB of records); tags take 2 to 2.7 bytes a key
/// (27 MB at 10M distinct emails). Measured: 68.6 MB peak RSS at 10M distinct with 16 MB of
/// recent keys; 64 MB is the goal.
pub const LIMITS: Limits = Limits {
    recent_keys: 1 << 17,
    recent_bytes: 5 << 20,
    initial_tags: 1 << 16,
};

/// The most keys [`DupSet::expect_keys`] sizes for: 16M keys, 43 MiB of tags.
pub const MAX_PRESIZED_KEYS: u64 = 1 << 24;

/// Beyond this many runs they are merged into one, so a tag hit costs a bounded number of reads.
pub const MAX_RUNS: usize = 8;

pub struct DupSet {
    hash: KeyHash,
    limits: Limits,
    tags: Tags,
    recent: Recent,
    /// Full tables kept in memory because no temporary file could be created (each under
    /// [`Limits`], so its offsets stay 32-bit): searched after `recent`.
    kept: Vec<Recent>,
    runs: Vec<Run>,
    /// A temporary file could not be created: every key stays in memory from now on.
    in_memory_only: bool,
    /// The tag table could not be rebuilt from the runs: no answer can be trusted any more.
    broken: bool,
    scratch: Vec<u8>,
}

impl Default for DupSet {
    fn default() -> Self {
        DupSet::with(xxh3, LIMITS)
    }
}

impl DupSet {
    pub fn with(hash: KeyHash, limits: Limits) -> Self {
        DupSet {
            hash,
            limits,
            tags: Tags::new(limits.initial_tags),
            recent: Recent::new(limits.recent_keys),
            kept: Vec::new(),
            runs: Vec::new(),
            in_memory_only: false,
            broken: false,
            scratch: Vec::new(),
        }
    }

    /// Sizes the tag table for `keys` keys at once, when nothing is remembered yet: growing it
    /// on the way re-reads every fingerprint (the spilled ones from disk) at each doubling,
    /// which cost a dry run of 1M distinct emails a fifth of its time. The table's pages are
    /// touched only as keys land in them. At most [`MAX_PRESIZED_KEYS`], so a huge file of
    /// few distinct emails does not reserve a huge table.
    pub fn expect_keys(&mut self, keys: u64) {
        let keys = keys.min(MAX_PRESIZED_KEYS) as usize;
        let slots = keys + keys / 3 + 1;
        if self.tags.len == 0 && slots > self.tags.slots.len() {
            self.tags = Tags::new(slots);
        }
    }

    /// Looks `key` up and, when it is new, remembers it with `row`.
    pub fn check(&mut self, key: &[u8], row: u64) -> io::Result<Seen> {
        self.check_hashed((self.hash)(key), key, row)
    }

    /// [`DupSet::check`] of a key whose fingerprint the caller computed with [`DupSet::hash`].
    pub fn check_hashed(&mut self, fp: u64, key: &[u8], row: u64) -> io::Result<Seen> {
        debug_assert_eq!(fp, (self.hash)(key), "a fingerprint from another function");
        if self.broken {
            return Err(io::Error::other(
                "the duplicate check lost its temporary file earlier in this run",
            ));
        }
        if self.tags.contains(fp) {
            let tables = std::iter::once(&self.recent).chain(&self.kept);
            if let Some(first_row) = tables.into_iter().find_map(|t| t.find(fp, key)) {
                return Ok(Seen::Repeat { first_row });
            }
            for run in &self.runs {
                if let Some(first_row) = run.find(fp, key, &mut self.scratch)? {
                    return Ok(Seen::Repeat { first_row });
                }
            }
        }
        self.insert(fp, key, row)?;
        Ok(Seen::New)
    }

    /// The fingerprint function, for callers that compute fingerprints ahead
    /// ([`DupSet::check_hashed`], [`DupSet::prefetch`]).
    pub fn hash(&self) -> KeyHash {
        self.hash
    }

    /// Starts loading the memory that [`DupSet::check`] of a key with fingerprint `fp` will
    /// read first (its tag's home slot, its home slot among the recent keys), so that a caller
    /// that knows the next keys can overlap their cache misses. Changes nothing.
    pub fn prefetch(&self, fp: u64) {
        prefetch(&self.tags.slots[self.tags.home(fp)]);
        self.recent.prefetch(fp);
    }

    fn insert(&mut self, fp: u64, key: &[u8], row: u64) -> io::Result<()> {
        if self.tags.is_full() {
            self.grow_tags()?;
        }
        self.tags.insert(fp);
        self.recent.push(fp, key, row);
        let full = self.recent.len() >= self.limits.recent_keys
            || self.recent.bytes() >= self.limits.recent_bytes;
        if full {
            let spilled = !self.in_memory_only
                && match Run::write(self.recent.sorted()) {
                    Ok(run) => {
                        self.runs.push(run);
                        true
                    }
                    Err(_) => {
                        self.in_memory_only = true;
                        false
                    }
                };
            match spilled {
                true => self.recent.clear(),
                false => {
                    let next = Recent::new(self.limits.recent_keys);
                    self.kept.push(std::mem::replace(&mut self.recent, next));
                }
            }
            if self.runs.len() > MAX_RUNS {
                self.merge_runs();
            }
        }
        Ok(())
    }

    /// Merges the smaller runs into one, and the largest too once they outweigh it: each key
    /// is rewritten a logarithmic number of times, not once per merge. A failed merge keeps the
    /// runs as they were: slower lookups, same answers.
    fn merge_runs(&mut self) {
        self.runs.sort_by_key(|run| std::cmp::Reverse(run.len()));
        let rest: u64 = self.runs[1..].iter().map(Run::len).sum();
        let keep = usize::from(self.runs[0].len() > rest);
        if let Ok(merged) = Run::merge(&self.runs[keep..]) {
            self.runs.truncate(keep);
            self.runs.push(merged);
        }
    }

    /// Twice the slots, refilled from every fingerprint: the old tags alone cannot be moved,
    /// since a tag does not say where its key's probe sequence started. The old table is freed
    /// first so the peak is the new one.
    fn grow_tags(&mut self) -> io::Result<()> {
        let slots = self.tags.slots.len() * 2;
        self.tags = Tags::new(0);
        let mut tags = Tags::new(slots);
        for fp in std::iter::once(&self.recent)
            .chain(&self.kept)
            .flat_map(Recent::fingerprints)
        {
            tags.insert(fp);
        }
        for run in &self.runs {
            if let Err(e) = run.for_each_fingerprint(|fp| tags.insert(fp)) {
                self.broken = true;
                return Err(e);
            }
        }
        self.tags = tags;
        Ok(())
    }
}

/// A hint to the CPU that `slot` will be read soon; nothing on other architectures.
pub(super) fn prefetch<T>(slot: &T) {
    // SAFETY: SSE is part of every x86_64 target, and a prefetch never faults or changes
    // memory; the pointer comes from a live reference anyway.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (slot as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

/// 16-bit tags (0 = empty), linear probing from a home slot taken from the fingerprint's low
/// 32 bits; the tag is its top 16. Never over 3/4 full.
struct Tags {
    slots: Vec<u16>,
    len: usize,
}

impl Tags {
    fn new(slots: usize) -> Self {
        Tags {
            slots: vec![0; slots],
            len: 0,
        }
    }

    fn home(&self, fp: u64) -> usize {
        (((fp & 0xFFFF_FFFF) * self.slots.len() as u64) >> 32) as usize
    }

    fn tag(fp: u64) -> u16 {
        ((fp >> 48) as u16).max(1)
    }

    fn is_full(&self) -> bool {
        (self.len + 1) * 4 > self.slots.len() * 3
    }

    fn contains(&self, fp: u64) -> bool {
        let tag = Tags::tag(fp);
        let mut i = self.home(fp);
        loop {
            match self.slots[i] {
                0 => return false,
                t if t == tag => return true,
                _ => i = if i + 1 == self.slots.len() { 0 } else { i + 1 },
            }
        }
    }

    fn insert(&mut self, fp: u64) {
        let mut i = self.home(fp);
        while self.slots[i] != 0 {
            i = if i + 1 == self.slots.len() { 0 } else { i + 1 };
        }
        self.slots[i] = Tags::tag(fp);
        self.len += 1;
    }
}

#[cfg(test)]
mod tests;
