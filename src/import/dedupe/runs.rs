//! Spilled keys of the duplicate set: runs sorted by fingerprint, one unlinked temporary file
//! each.
//!
//! A record is `fingerprint (u64) | first row (u64) | len (u32) | key`, little-endian. Runs are
//! written once, read back with positioned reads and dropped when merged; the file is created by
//! `tempfile::tempfile()` (mode 0600, already unlinked, so it disappears with the process even
//! after a crash: it holds email addresses). A sparse index (the fingerprint and offset of the
//! first record of every block of about [`BLOCK`] bytes) finds a fingerprint's records with one
//! read of a block or two.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use super::recent::{HEAD, parse_head};

const BLOCK: u64 = 4096;

pub struct Run {
    file: File,
    /// (fingerprint, offset) of the first record of each block, in file order.
    index: Vec<(u64, u64)>,
    len: u64,
}

/// Builds a run from records sorted by fingerprint.
struct Writer {
    out: BufWriter<File>,
    index: Vec<(u64, u64)>,
    len: u64,
    block_start: Option<u64>,
}

impl Writer {
    fn new() -> io::Result<Self> {
        Ok(Writer {
            out: BufWriter::with_capacity(64 * 1024, tempfile::tempfile()?),
            index: Vec::new(),
            len: 0,
            block_start: None,
        })
    }

    /// Starts a block at this record when the current one is full.
    fn mark(&mut self, fp: u64) {
        if self.block_start.is_none_or(|s| self.len - s >= BLOCK) {
            self.index.push((fp, self.len));
            self.block_start = Some(self.len);
        }
    }

    /// A record already in a run's layout (`fp` is its first eight bytes): one copy.
    fn push_record(&mut self, fp: u64, record: &[u8]) -> io::Result<()> {
        debug_assert_eq!(record[..8], fp.to_le_bytes());
        self.mark(fp);
        self.out.write_all(record)?;
        self.len += record.len() as u64;
        Ok(())
    }

    fn finish(self) -> io::Result<Run> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(Run {
            file,
            index: self.index,
            len: self.len,
        })
    }
}

/// Sequential reader of a run's records, for merging and for rebuilding the tag table.
struct Cursor<'a> {
    input: BufReader<&'a File>,
    left: u64,
}

impl<'a> Cursor<'a> {
    fn new(run: &'a Run) -> io::Result<Self> {
        let mut file = &run.file;
        file.seek(SeekFrom::Start(0))?;
        Ok(Cursor {
            input: BufReader::with_capacity(64 * 1024, file),
            left: run.len,
        })
    }

    /// The next record's fingerprint; the whole record (head and key) read into `record`, or
    /// its key skipped if `None`.
    fn next(&mut self, record: Option<&mut Vec<u8>>) -> io::Result<Option<u64>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut head = [0u8; HEAD];
        self.input.read_exact(&mut head)?;
        let (fp, _, len) = parse_head(&head);
        match record {
            Some(record) => {
                record.clear();
                record.extend_from_slice(&head);
                record.resize(HEAD + len, 0);
                self.input.read_exact(&mut record[HEAD..])?;
            }
            None => self.input.seek_relative(len as i64)?,
        }
        self.left = self.left.saturating_sub((HEAD + len) as u64);
        Ok(Some(fp))
    }
}

impl Run {
    /// A run of `records` (fingerprint, bytes in a run's layout), sorted by fingerprint.
    pub fn write<'k>(records: impl Iterator<Item = (u64, &'k [u8])>) -> io::Result<Run> {
        let mut w = Writer::new()?;
        for (fp, record) in records {
            w.push_record(fp, record)?;
        }
        w.finish()
    }

    /// Bytes of records: what a merge rewrites.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The first row of `key`, if this run holds it.
    pub fn find(&self, fp: u64, key: &[u8], buf: &mut Vec<u8>) -> io::Result<Option<u64>> {
        // Records of `fp` start at or after the last block that begins below it (or at it),
        // and end before the first block that begins above it.
        let from = self.index.partition_point(|&(f, _)| f < fp);
        let to = self.index.partition_point(|&(f, _)| f <= fp);
        if to == 0 {
            return Ok(None);
        }
        let start = self.index[from.saturating_sub(1)].1;
        let end = self.index.get(to).map_or(self.len, |&(_, off)| off);
        buf.resize((end - start) as usize, 0);
        read_at(&self.file, buf, start)?;
        let mut at = 0;
        while at + HEAD <= buf.len() {
            let (f, row, len) = parse_head(&buf[at..at + HEAD]);
            let stored = buf.get(at + HEAD..at + HEAD + len).ok_or_else(torn)?;
            if f == fp && stored == key {
                return Ok(Some(row));
            }
            if f > fp {
                break;
            }
            at += HEAD + len;
        }
        Ok(None)
    }

    pub fn for_each_fingerprint(&self, mut each: impl FnMut(u64)) -> io::Result<()> {
        let mut cursor = Cursor::new(self)?;
        while let Some(fp) = cursor.next(None)? {
            each(fp);
        }
        Ok(())
    }

    /// One run with every record of `runs`, still sorted by fingerprint.
    pub fn merge(runs: &[Run]) -> io::Result<Run> {
        let mut cursors = runs
            .iter()
            .map(Cursor::new)
            .collect::<io::Result<Vec<_>>>()?;
        let mut records = vec![Vec::new(); runs.len()];
        let mut heap = BinaryHeap::new();
        for (i, cursor) in cursors.iter_mut().enumerate() {
            if let Some(fp) = cursor.next(Some(&mut records[i]))? {
                heap.push(Reverse((fp, i)));
            }
        }
        let mut w = Writer::new()?;
        while let Some(Reverse((fp, i))) = heap.pop() {
            w.push_record(fp, &records[i])?;
            if let Some(fp) = cursors[i].next(Some(&mut records[i]))? {
                heap.push(Reverse((fp, i)));
            }
        }
        w.finish()
    }
}

/// Fills `buf` from `file` at `offset`: one positioned read (`pread`) where the platform has
/// it, instead of a seek and a read. A duplicate whose first occurrence was spilled costs one
/// of these per run, so a file of many such duplicates spent most of its time in these calls.
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

fn torn() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "a spilled record of the duplicate check is cut short",
    )
}
