//! Reading an earlier run's journal in bounded memory.
//!
//! One pass over the file records, per row, the byte offset of its latest `row` record and its
//! outcome kind (9 bytes a row: 9 MB for a million rows, where holding every outcome took
//! over a gigabyte). A settled outcome is read back from the file at its offset when the
//! planner replays that row; rows come in input order and records were written almost in that
//! order, so those reads go through a small window that mostly hits. Only complete lines are
//! read: bytes after the last newline are a torn tail ([`Previous::valid_len`] ends before it).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io;

use serde::Deserialize;

use super::step::{Progress, Step};
use super::{EndState, RunHeader, VERSION};
use crate::results::{Kind, Outcome};

/// What the journal file held.
pub enum Found {
    /// No journal, or one without a complete header: no run got as far as sending.
    Nothing,
    /// A journal of an older format, which this version does not resume.
    Old {
        version: u32,
    },
    Run(Box<Previous>),
}

/// An earlier run of the same results file.
pub struct Previous {
    pub header: RunHeader,
    pub end: Option<EndState>,
    /// Some run stopped without its end record (killed): rows it had in flight have no
    /// record, so a row without one may have been sent.
    unclean: bool,
    valid_len: u64,
    /// Per row (index = row number): offset of its latest `row` record, and its kind.
    offsets: Vec<u64>,
    kinds: Vec<u8>,
    settled: usize,
    /// Rows recorded `partial` last.
    partial: usize,
    /// Steps of rows not settled yet (a row's final record drops its entry), so memory grows
    /// with the rows left unfinished, not with the file.
    progress: HashMap<u64, Progress>,
    window: RefCell<Window>,
}

const NO_KIND: u8 = u8::MAX;
/// Set in a row's kind byte when its outcome proves nothing was stored (`not_stored`).
const NOT_STORED: u8 = 0x80;
const CHUNK: usize = 256 * 1024;

/// The fields a scan needs from any record; the rest is skipped without being stored.
#[derive(Deserialize)]
struct Peek {
    t: Option<String>,
    row: Option<u64>,
    kind: Option<Kind>,
    state: Option<EndState>,
    version: Option<u32>,
    #[serde(default)]
    not_stored: bool,
}

#[derive(Deserialize)]
struct StepRecord {
    row: u64,
    #[serde(flatten)]
    step: Step,
}

#[derive(Deserialize)]
struct RowRecord {
    row: u64,
    #[serde(flatten)]
    outcome: Outcome,
}

/// Reads the whole journal once and indexes it.
pub fn scan(file: &File) -> io::Result<Found> {
    let mut lines = Lines::new(file);
    let Some((_, first)) = lines.next_line()? else {
        return Ok(Found::Nothing);
    };
    let peek: Peek = serde_json::from_slice(first).map_err(|_| bad(1, first))?;
    match (peek.t.as_deref(), peek.version) {
        (Some("header"), Some(VERSION)) => {}
        (Some("header"), Some(v)) | (None, Some(v)) => return Ok(Found::Old { version: v }),
        _ => return Err(bad(1, first)),
    }
    let header: RunHeader = serde_json::from_slice(first).map_err(|_| bad(1, first))?;
    let mut previous = Previous {
        header,
        end: None,
        unclean: false,
        valid_len: 0,
        offsets: Vec::new(),
        kinds: Vec::new(),
        settled: 0,
        partial: 0,
        progress: HashMap::new(),
        window: RefCell::new(Window::new(file)?),
    };
    let mut rows_seen: u64 = 0;
    let mut number = 1u64;
    while let Some((offset, line)) = lines.next_line()? {
        number += 1;
        let peek: Peek = serde_json::from_slice(line).map_err(|_| bad(number, line))?;
        match (peek.t.as_deref(), peek.row, peek.kind, peek.state) {
            (Some("row"), Some(row), Some(kind), _) => {
                rows_seen += 1;
                // Rows arrive within the reorder window of the input order; a number far
                // beyond the rows seen is corruption, not a reason to allocate.
                if row > rows_seen + 10_000_000 {
                    return Err(bad(number, line));
                }
                previous.set(row, offset, kind, peek.not_stored);
                if kind.is_final() {
                    previous.progress.remove(&row);
                }
                previous.end = None;
            }
            (Some("step"), Some(_), _, _) => {
                let record: StepRecord =
                    serde_json::from_slice(line).map_err(|_| bad(number, line))?;
                previous
                    .progress
                    .entry(record.row)
                    .or_default()
                    .add(record.step);
            }
            (Some("end"), _, _, Some(state)) => previous.end = Some(state),
            (Some("resume"), _, _, _) => {
                previous.unclean |= previous.end.is_none();
                previous.end = None;
            }
            _ => return Err(bad(number, line)),
        }
    }
    previous.valid_len = lines.valid_len;
    previous.unclean |= previous.end.is_none();
    let kind_of = |k: u8| Kind::ALL[(k & !NOT_STORED) as usize];
    let recorded = previous.kinds.iter().filter(|&&k| k != NO_KIND);
    previous.settled = recorded.clone().filter(|&&k| kind_of(k).is_final()).count();
    previous.partial = recorded.filter(|&&k| kind_of(k) == Kind::Partial).count();
    // Steps of a row whose contact step never succeeded hold nothing a resume can use.
    previous.progress.retain(|_, p| p.has_contact());
    Ok(Found::Run(Box::new(previous)))
}

fn bad(number: u64, line: &[u8]) -> io::Error {
    let text = String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned();
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "line {number} is not a journal record: {}",
            crate::text::sanitize(&text, 120)
        ),
    )
}

impl Previous {
    fn set(&mut self, row: u64, offset: u64, kind: Kind, not_stored: bool) {
        let i = row as usize;
        if i >= self.offsets.len() {
            self.offsets.resize(i + 1, 0);
            self.kinds.resize(i + 1, NO_KIND);
        }
        self.offsets[i] = offset;
        self.kinds[i] = kind.index() as u8 | if not_stored { NOT_STORED } else { 0 };
    }

    fn kind(&self, row: u64) -> Option<Kind> {
        match self.kinds.get(row as usize) {
            Some(&k) if k != NO_KIND => Some(Kind::ALL[(k & !NOT_STORED) as usize]),
            _ => None,
        }
    }

    /// The highest row with a recorded outcome.
    pub fn last_row(&self) -> Option<u64> {
        self.kinds
            .iter()
            .rposition(|&k| k != NO_KIND)
            .map(|i| i as u64)
    }

    /// Bytes up to the last complete line: an appending run cuts the file here first.
    pub fn valid_len(&self) -> u64 {
        self.valid_len
    }

    /// The run wrote its `completed` end record.
    pub fn finished(&self) -> bool {
        self.end == Some(EndState::Completed)
    }

    /// Rows the earlier run settled for good.
    pub fn settled(&self) -> usize {
        self.settled
    }

    /// Rows whose last record is `partial`: their contact exists, some values are missing.
    pub fn partial(&self) -> usize {
        self.partial
    }

    /// What earlier runs did for an unsettled row of several requests: the contact it created
    /// and the values it set. Taken once, when the planner reaches the row.
    pub fn take_progress(&mut self, row: u64) -> Option<Progress> {
        self.progress.remove(&row)
    }

    /// The outcome to replay for `row` instead of sending it: a settled one, or for a finished
    /// run any recorded one (resuming a finished run sends nothing) except a `partial` row,
    /// whose missing values a resume sends.
    pub fn settled_outcome(&self, row: u64) -> Option<Outcome> {
        let kind = self.kind(row)?;
        if !kind.is_final() && (!self.finished() || kind == Kind::Partial) {
            return None;
        }
        let offset = self.offsets[row as usize];
        let mut window = self.window.borrow_mut();
        // The index was built from this file; a read failing now is reported as unsettled
        // rather than guessed, so the row is sent again and looked up on a 409.
        let line = window.line_at(offset).ok()?;
        serde_json::from_slice::<RowRecord>(line)
            .ok()
            .filter(|r| r.row == row)
            .map(|r| r.outcome)
    }

    /// Rows a previous attempt may have stored without us learning the id: a recorded outcome
    /// says so itself (`failed` without `not_stored`); a row without one was in flight only if
    /// some run stopped without its end record (kill -9), since an orderly stop records every
    /// row it sent. Only these rows are looked up after a 409.
    pub fn maybe_sent(&self, row: u64) -> bool {
        match self.kinds.get(row as usize) {
            Some(&k) if k != NO_KIND => {
                k & NOT_STORED == 0 && Kind::ALL[(k & !NOT_STORED) as usize] == Kind::Failed
            }
            _ => self.unclean,
        }
    }

    /// Explains why this journal cannot be resumed with `current`, if it cannot.
    pub fn mismatch(&self, current: &RunHeader) -> Option<String> {
        let old = &self.header;
        if old.input_size != current.input_size || old.input_hash != current.input_hash {
            return Some(format!(
                "the input file changed since the first run ({} bytes then, {} now); \
                 resume needs the same file",
                old.input_size, current.input_size
            ));
        }
        let flags = old.options.keys().chain(current.options.keys());
        for flag in flags {
            let (then, now) = (old.option(flag), current.option(flag));
            if then != now {
                return Some(format!(
                    "{flag} differs from the first run's ({then} then, {now} now); \
                     pass the same value to resume"
                ));
            }
        }
        None
    }

    /// True when the input differs, whatever the options.
    pub fn input_changed(&self, current: &RunHeader) -> bool {
        self.header.input_size != current.input_size || self.header.input_hash != current.input_hash
    }
}

/// Complete lines of a file with their offsets, read in chunks with `pread`, so the file's
/// own position (used later for appending) is never moved.
struct Lines<'a> {
    file: &'a File,
    buf: Vec<u8>,
    start: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// End of the last complete line.
    valid_len: u64,
}

impl<'a> Lines<'a> {
    fn new(file: &'a File) -> Self {
        Lines {
            file,
            buf: Vec::with_capacity(CHUNK),
            start: 0,
            base: 0,
            eof: false,
            valid_len: 0,
        }
    }

    fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        loop {
            if let Some(n) = self.buf[self.start..].iter().position(|&b| b == b'\n') {
                let begin = self.start;
                self.start += n + 1;
                let offset = self.base + begin as u64;
                self.valid_len = self.base + self.start as u64;
                return Ok(Some((offset, &self.buf[begin..begin + n])));
            }
            if self.eof {
                return Ok(None);
            }
            // Keep the partial line, read the next chunk after it.
            self.buf.drain(..self.start);
            self.base += self.start as u64;
            self.start = 0;
            let have = self.buf.len();
            self.buf.resize(have + CHUNK, 0);
            let n = read_at(self.file, &mut self.buf[have..], self.base + have as u64)?;
            self.buf.truncate(have + n);
            self.eof = n == 0;
        }
    }
}

/// A window of the file for reading records back by offset.
struct Window {
    file: File,
    buf: Vec<u8>,
    base: u64,
}

impl Window {
    fn new(file: &File) -> io::Result<Self> {
        Ok(Window {
            file: file.try_clone()?,
            buf: Vec::new(),
            base: 0,
        })
    }

    fn line_at(&mut self, offset: u64) -> io::Result<&[u8]> {
        let inside = |w: &Window| {
            offset >= w.base && {
                let from = (offset - w.base) as usize;
                from < w.buf.len() && w.buf[from..].contains(&b'\n')
            }
        };
        if !inside(self) {
            self.base = offset;
            self.buf.resize(CHUNK, 0);
            let mut filled = 0;
            loop {
                let n = read_at(&self.file, &mut self.buf[filled..], offset + filled as u64)?;
                filled += n;
                if n == 0 || self.buf[..filled].contains(&b'\n') {
                    break;
                }
                // A record longer than the window: grow it.
                self.buf.resize(self.buf.len() * 2, 0);
            }
            self.buf.truncate(filled);
        }
        let from = (offset - self.base) as usize;
        let len = self.buf[from..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        Ok(&self.buf[from..from + len])
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    loop {
        match file.read_at(buf, offset) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::windows::fs::FileExt;
    file.seek_read(buf, offset)
}
