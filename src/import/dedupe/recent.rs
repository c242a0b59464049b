//! The latest keys of the duplicate set, in full, until they are spilled to a run.
//!
//! `arena` holds records `fingerprint (u64) | row (u64) | len (u32) | key` in arrival order, the
//! layout of a run's record ([`super::runs`]); the index is open addressing over (low 32 bits
//! of the fingerprint, arena offset + 1) pairs, offset 0 meaning empty, at most half full:
//! 8 bytes a slot, and a probe reads the arena only when those 32 bits match. A table is
//! capped by [`super::Limits`], so its offsets fit in 32 bits. A record is spilled as it is,
//! in one copy: its bytes are the run's record.

use super::prefetch;

/// Bytes before a record's key: fingerprint, row, length.
pub const HEAD: usize = 20;

/// A record's head: (fingerprint, row, key length). The one reader of the layout that
/// [`Recent::push`] writes, for the arena and for the runs alike.
pub fn parse_head(head: &[u8]) -> (u64, u64, usize) {
    let word = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(head[16..20].try_into().expect("4 bytes"));
    (word(0), word(8), len as usize)
}

pub struct Recent {
    arena: Vec<u8>,
    slots: Vec<(u32, u32)>,
    len: usize,
}

impl Recent {
    pub fn new(keys: usize) -> Self {
        let slots = (keys * 2).next_power_of_two().max(16);
        Recent {
            arena: Vec::new(),
            slots: vec![(0, 0); slots],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of records held.
    pub fn bytes(&self) -> usize {
        self.arena.len()
    }

    /// The record at `at`: (fingerprint, row, key).
    fn record(&self, at: usize) -> (u64, u64, &[u8]) {
        let (fp, row, len) = parse_head(&self.arena[at..at + HEAD]);
        (fp, row, &self.arena[at + HEAD..at + HEAD + len])
    }

    fn home(&self, fp: u64) -> usize {
        (fp >> 32) as usize & (self.slots.len() - 1)
    }

    /// Starts loading the slot a lookup of `fp` reads first.
    pub fn prefetch(&self, fp: u64) {
        prefetch(&self.slots[self.home(fp)]);
    }

    /// The first row of `key`, if this table holds it.
    pub fn find(&self, fp: u64, key: &[u8]) -> Option<u64> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(fp);
        while self.slots[i].1 != 0 {
            if self.slots[i].0 == fp as u32 {
                let (stored_fp, row, stored) = self.record(self.slots[i].1 as usize - 1);
                if stored_fp == fp && stored == key {
                    return Some(row);
                }
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Remembers `key` with `row`. The caller keeps the table under [`super::Limits`], whose
    /// byte limit is far below 4 GiB, so the offset fits its slot.
    pub fn push(&mut self, fp: u64, key: &[u8], row: u64) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.rehash(self.slots.len() * 2);
        }
        let at = self.arena.len();
        let off = u32::try_from(at + 1).expect("a table is capped far below 4 GiB");
        let len = u32::try_from(key.len()).expect("an email cell is far below 4 GiB");
        self.arena.extend_from_slice(&fp.to_le_bytes());
        self.arena.extend_from_slice(&row.to_le_bytes());
        self.arena.extend_from_slice(&len.to_le_bytes());
        self.arena.extend_from_slice(key);
        self.place(fp, off);
        self.len += 1;
    }

    fn place(&mut self, fp: u64, off_plus_one: u32) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(fp);
        while self.slots[i].1 != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (fp as u32, off_plus_one);
    }

    fn rehash(&mut self, slots: usize) {
        self.slots = vec![(0, 0); slots];
        let entries: Vec<(u64, usize)> = self.entries().collect();
        for (fp, at) in entries {
            self.place(fp, at as u32 + 1);
        }
    }

    /// (fingerprint, arena offset) of every record, in arrival order: one sequential pass.
    fn entries(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            (at < self.arena.len()).then(|| {
                let (fp, _, key) = self.record(at);
                let this = at;
                at += HEAD + key.len();
                (fp, this)
            })
        })
    }

    pub fn fingerprints(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries().map(|(fp, _)| fp)
    }

    /// Every record as (fingerprint, its bytes as a run stores them), sorted by fingerprint:
    /// the order of a run. The order comes from [`by_fingerprint`], and each record's bytes are
    /// prefetched a few records ahead of their (random) turn.
    pub fn sorted(&self) -> impl ExactSizeIterator<Item = (u64, &[u8])> + '_ {
        let order = by_fingerprint(self.entries().map(|(fp, at)| (fp, at as u64)).collect());
        (0..order.len()).map(move |i| {
            if let Some(&(_, ahead)) = order.get(i + 8) {
                prefetch(&self.arena[ahead as usize]);
            }
            let (fp, at) = (order[i].0, order[i].1 as usize);
            let (_, _, key) = self.record(at);
            (fp, &self.arena[at..at + HEAD + key.len()])
        })
    }

    pub fn clear(&mut self) {
        self.arena.clear();
        self.slots.fill((0, 0));
        self.len = 0;
    }
}

/// `entries` sorted by fingerprint (the order among equal ones does not matter to a run).
/// Fingerprints are uniform, so one counting pass on their top bits leaves buckets of about
/// two entries in order, and an insertion sort finishes in one pass: several times cheaper
/// than a comparison sort of 128k entries, at every spill.
pub fn by_fingerprint(entries: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
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
