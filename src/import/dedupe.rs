//! The in-file duplicate check: has this (normalised) email already appeared in the file?
//!
//! A row called `duplicate` is never sent, so the answer must never be a guess: a 64-bit
//! fingerprint only finds candidates, and a candidate counts only once its stored bytes equal the
//! key. Two different emails with the same fingerprint are two contacts, however unlikely that is.
//!
//! Memory stays bounded whatever the number of distinct emails (issue 18):
//! - `tags` holds every key ever seen as a 16-bit tag in an open-addressing table (2 to 2.7 bytes
//!   a key). It answers "certainly new" for almost every new key without looking further.
//! - `recent` holds the latest keys in full (fingerprint, first row, bytes), up to [`Limits`].
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

mod runs;

use std::io;

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

/// ~8 MB of recent keys; tags take 2 to 2.7 bytes a key (34 MB at 10M distinct emails).
/// Measured: 68.6 MB peak RSS at 10M distinct with twice these recent limits, 64 MB is the goal.
pub const LIMITS: Limits = Limits {
    recent_keys: 1 << 17,
    recent_bytes: 4 << 20,
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
    runs: Vec<Run>,
    /// A temporary file could not be created: every key stays in `recent` from now on.
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
            if let Some(first_row) = self.recent.find(fp, key) {
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
        prefetch(&self.recent.slots[self.recent.home(fp)]);
    }

    fn insert(&mut self, fp: u64, key: &[u8], row: u64) -> io::Result<()> {
        if self.tags.is_full() {
            self.grow_tags()?;
        }
        self.tags.insert(fp);
        self.recent.push(fp, key, row);
        let full = self.recent.len >= self.limits.recent_keys
            || self.recent.arena.len() >= self.limits.recent_bytes;
        if full && !self.in_memory_only {
            match Run::write(self.recent.sorted()) {
                Ok(run) => {
                    self.runs.push(run);
                    self.recent.clear();
                }
                Err(_) => self.in_memory_only = true,
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
        for fp in self.recent.fingerprints() {
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

/// `entries` sorted by fingerprint (the order among equal ones does not matter to a run).
/// Fingerprints are uniform, so one counting pass on their top bits leaves buckets of about
/// two entries in order, and an insertion sort finishes in one pass: several times cheaper
/// than a comparison sort of 128k entries, at every spill.
fn by_fingerprint(entries: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    const BITS: u32 = 16;
    let bucket = |fp: u64| (fp >> (64 - BITS)) as usize;
    let mut starts = vec![0usize; (1 << BITS) + 1];
    for &(fp, _) in &entries {
        starts[bucket(fp) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut out = vec![(0, 0); entries.len()];
    for &entry in &entries {
        let at = &mut starts[bucket(entry.0)];
        out[*at] = entry;
        *at += 1;
    }
    for i in 1..out.len() {
        let mut j = i;
        while j > 0 && out[j - 1].0 > out[j].0 {
            out.swap(j - 1, j);
            j -= 1;
        }
    }
    out
}

/// A hint to the CPU that `slot` will be read soon; nothing on other architectures.
fn prefetch<T>(slot: &T) {
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

/// The latest keys in full. `arena` holds records `row (u64) | len (u32) | key`; the index is
/// open addressing over (fingerprint, arena offset + 1) pairs, offset 0 meaning empty, at most
/// half full. A pair shares one cache line: a new key costs one miss here, not two.
struct Recent {
    arena: Vec<u8>,
    slots: Vec<(u64, u64)>,
    len: usize,
}

impl Recent {
    fn new(keys: usize) -> Self {
        let slots = (keys * 2).next_power_of_two().max(16);
        Recent {
            arena: Vec::new(),
            slots: vec![(0, 0); slots],
            len: 0,
        }
    }

    fn record(&self, off: u64) -> (u64, &[u8]) {
        let at = off as usize;
        let row = u64::from_le_bytes(self.arena[at..at + 8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(self.arena[at + 8..at + 12].try_into().expect("4 bytes"));
        (row, &self.arena[at + 12..at + 12 + len as usize])
    }

    fn home(&self, fp: u64) -> usize {
        fp as usize & (self.slots.len() - 1)
    }

    fn find(&self, fp: u64, key: &[u8]) -> Option<u64> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(fp);
        while self.slots[i].1 != 0 {
            if self.slots[i].0 == fp {
                let (row, stored) = self.record(self.slots[i].1 - 1);
                if stored == key {
                    return Some(row);
                }
            }
            i = (i + 1) & mask;
        }
        None
    }

    fn push(&mut self, fp: u64, key: &[u8], row: u64) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.rehash(self.slots.len() * 2);
        }
        let off = self.arena.len() as u64;
        self.arena.extend_from_slice(&row.to_le_bytes());
        let len = u32::try_from(key.len()).expect("an email cell is far below 4 GiB");
        self.arena.extend_from_slice(&len.to_le_bytes());
        self.arena.extend_from_slice(key);
        self.place(fp, off + 1);
        self.len += 1;
    }

    fn place(&mut self, fp: u64, off_plus_one: u64) {
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        while self.slots[i].1 != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (fp, off_plus_one);
    }

    fn rehash(&mut self, slots: usize) {
        let old: Vec<(u64, u64)> = self.entries().collect();
        self.slots = vec![(0, 0); slots];
        for (fp, off) in old {
            self.place(fp, off + 1);
        }
    }

    /// (fingerprint, arena offset) of every key.
    fn entries(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let used = self.slots.iter().filter(|(_, o)| *o != 0);
        used.map(|&(fp, o)| (fp, o - 1))
    }

    fn fingerprints(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries().map(|(fp, _)| fp)
    }

    /// Every key as (fingerprint, row, bytes), sorted by fingerprint: the order of a run.
    /// Spilling is a pass over the whole table on the thread that checks rows, so the order
    /// comes from [`by_fingerprint`] and each record's arena bytes are prefetched a few
    /// records ahead of their (random) turn.
    fn sorted(&self) -> impl ExactSizeIterator<Item = (u64, u64, &[u8])> + '_ {
        let order = by_fingerprint(self.entries().collect());
        (0..order.len()).map(move |i| {
            if let Some(&(_, ahead)) = order.get(i + 8) {
                prefetch(&self.arena[ahead as usize]);
            }
            let (fp, off) = order[i];
            let (row, key) = self.record(off);
            (fp, row, key)
        })
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.slots.fill((0, 0));
        self.len = 0;
    }
}

#[cfg(test)]
mod tests;
