//! The account as the stream strategy holds it: a compact map from email hash to contact, the
//! contacts themselves on disk.
//!
//! Memory is bounded by the account's email set, not by its contacts: per contact, one entry
//! of `xxh3(lower-cased email) -> ordinal` (a `u64` key and a `u32` value) and the record's
//! offset (`u64`), about 30 bytes with the map's slack, so 1 M contacts take about 30 MB. The
//! records (export's contact shape, one JSON line each) go to an unlinked mode-0600 temporary
//! file in `$TMPDIR`, like import's duplicate check, and are read back by offset for the rows
//! that name them. A hash is never trusted alone: the record read back must carry the same
//! lower-cased email, and the rare second email with a taken hash lives in a small exact map.
//! Filled by verify's pipeline from export's [`crate::export::walk::Walker`]; read by the
//! row checks and by `--extra`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};

use crate::api::Contact;

pub struct AccountIndex {
    slots: HashMap<u64, u32>,
    /// Emails whose hash another email already took (exact keys; almost always empty).
    collisions: HashMap<String, u32>,
    /// Ordinal -> where its record starts; one more entry marks the end of the last one.
    offsets: Vec<u64>,
    spill: BufWriter<File>,
}

fn hash(email_lower: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(email_lower.as_bytes())
}

impl AccountIndex {
    pub fn new() -> io::Result<AccountIndex> {
        Ok(AccountIndex {
            slots: HashMap::new(),
            collisions: HashMap::new(),
            offsets: vec![0],
            spill: BufWriter::with_capacity(256 * 1024, tempfile::tempfile()?),
        })
    }

    /// Contacts held.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Adds one contact of the walk (each comes once: the walker de-duplicates ids).
    pub fn add(&mut self, contact: &Contact) -> io::Result<()> {
        let ordinal = u32::try_from(self.len())
            .map_err(|_| io::Error::other("more than 4 billion contacts"))?;
        let mut line = serde_json::to_vec(contact).map_err(io::Error::other)?;
        line.push(b'\n');
        self.spill.write_all(&line)?;
        let end = self.offsets[self.len()] + line.len() as u64;
        self.offsets.push(end);
        let lower = contact.email.to_lowercase();
        match self.slots.entry(hash(&lower)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(ordinal);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.insert(lower, ordinal);
            }
        }
        Ok(())
    }

    /// Ends the filling: records become readable.
    pub fn seal(&mut self) -> io::Result<()> {
        self.spill.flush()
    }

    /// The contact with this email (compared lower-cased, as the server does), and its
    /// ordinal.
    pub fn find(&self, email: &str) -> io::Result<Option<(u32, Contact)>> {
        let lower = email.to_lowercase();
        if let Some(&ordinal) = self.slots.get(&hash(&lower)) {
            let contact = self.read(ordinal)?;
            if contact.email.to_lowercase() == lower {
                return Ok(Some((ordinal, contact)));
            }
        }
        match self.collisions.get(&lower) {
            Some(&ordinal) => Ok(Some((ordinal, self.read(ordinal)?))),
            None => Ok(None),
        }
    }

    /// The contact at `ordinal` (walk order: newest first).
    pub fn read(&self, ordinal: u32) -> io::Result<Contact> {
        let i = ordinal as usize;
        let (start, end) = (self.offsets[i], self.offsets[i + 1]);
        let mut buf = vec![0u8; (end - start) as usize];
        read_at(self.spill.get_ref(), &mut buf, start)?;
        serde_json::from_slice(&buf).map_err(io::Error::other)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: u64, email: &str) -> Contact {
        Contact {
            id,
            email: email.into(),
            first_name: Some("Zoë".into()),
            last_name: None,
            email_marketing: true,
            gdpr: false,
            created_at: None,
            tags: None,
            sequences: None,
        }
    }

    #[test]
    fn finds_contacts_case_insensitively_and_reads_them_back_whole() {
        let mut index = AccountIndex::new().unwrap();
        for (id, email) in [(3, "Ann@Example.com"), (2, "bob@example.com")] {
            index.add(&contact(id, email)).unwrap();
        }
        index.seal().unwrap();
        assert_eq!(index.len(), 2);
        let (ordinal, found) = index.find("ann@EXAMPLE.com").unwrap().unwrap();
        assert_eq!((ordinal, found.id), (0, 3));
        assert_eq!(found, contact(3, "Ann@Example.com"));
        assert!(index.find("carol@example.com").unwrap().is_none());
        assert_eq!(index.read(1).unwrap().id, 2);
    }

    #[test]
    fn a_taken_hash_falls_back_to_the_exact_map() {
        let mut index = AccountIndex::new().unwrap();
        index.add(&contact(1, "a@x.co")).unwrap();
        // Force a collision: the second email's slot is taken by the first one's ordinal.
        index.slots.insert(hash("b@x.co"), 0);
        index.add(&contact(2, "b@x.co")).unwrap();
        index.seal().unwrap();
        assert_eq!(index.find("b@x.co").unwrap().unwrap().1.id, 2);
        assert_eq!(index.find("a@x.co").unwrap().unwrap().1.id, 1);
    }
}
