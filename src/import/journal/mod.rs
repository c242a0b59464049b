//! The crash-safe memory of an import, which makes `--resume` exact.
//!
//! `<results>.journal` is a JSON-lines file of tagged records (format 2):
//! `{"t":"header","version":2,...}` (what was imported and with which options that change what
//! is sent), then `{"t":"row","row":N,...}` per outcome in the order outcomes arrived,
//! `{"t":"step","row":N,"step":NAME,...}` for the requests of a multi-request row ([`step`],
//! written and flushed by the sender the moment each answer is known, before the row's record), and
//! `{"t":"end","state":...}` when a run stops in an orderly way (a resumed run appends after
//! it). Records are appended as soon as the collector has them and flushed whenever it runs out
//! of ready outcomes, so a `kill -9` loses at most the requests in flight.
//!
//! Invariants: the header is written only when the pipeline is about to send, so a journal with
//! a header and no `end` belongs to a run that may have sent requests. A reader tolerates
//! exactly what a crash or a full disk can leave, a torn tail after the last newline, and a
//! writer truncates that tail before appending ([`read`]). While a run writes, it holds an
//! abstract-socket lock named after the resolved results path (which deleting the journal
//! cannot remove) and a `flock` on the journal. Reading a resumed run keeps 9 bytes a row in
//! memory and fetches settled outcomes from the file on demand.
//!
//! Who calls it: [`super::run`] locks and admits ([`admit`]), the collector records rows and
//! the senders record steps, through one [`Shared`] writer.

mod admit;
mod lock;
mod read;
pub mod step;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::results::Outcome;
pub use admit::{Admission, admit};
pub use lock::Lock;
pub use read::{Found, Previous};
pub use step::{Progress, Step};

pub const VERSION: u32 = 2;

/// Identifies a run; a resume must match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub version: u32,
    pub input: String,
    pub input_size: u64,
    /// xxh3-128 of the input bytes, hex.
    pub input_hash: String,
    /// Every option that changes what is sent, by flag: `--map`, `--on-exists`, `--encoding`,
    /// `--delimiter`, ... A resume must have the same values.
    pub options: BTreeMap<String, String>,
    pub started_at: DateTime<Utc>,
    /// Which columns feed which custom fields, by name (`Mapping::describe_custom`); known
    /// only once the definitions are fetched, so checked apart from `options` on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<String>,
}

impl RunHeader {
    /// The column mapping as recorded (the summary prints it).
    pub fn option(&self, flag: &str) -> &str {
        self.options.get(flag).map_or("", String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndState {
    Completed,
    Interrupted,
    Aborted,
}

/// One journal line as written: borrowed, so recording an outcome copies nothing.
#[derive(Serialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Record<'a> {
    Header(&'a RunHeader),
    Row {
        row: u64,
        #[serde(flatten)]
        outcome: &'a Outcome,
    },
    Step {
        row: u64,
        #[serde(flatten)]
        step: &'a Step,
    },
    End {
        state: EndState,
        at: DateTime<Utc>,
    },
    /// First line of a resumed run: a run before it that has no end record was killed, and
    /// rows it had in flight have no record.
    Resume {
        at: DateTime<Utc>,
    },
}

pub fn path_for(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

pub struct Journal {
    out: BufWriter<File>,
    path: PathBuf,
    /// Device and inode of the file we write, to notice the path being deleted or replaced.
    identity: Option<(u64, u64)>,
}

impl Journal {
    /// Starts a fresh journal in the locked file: the run is about to send.
    pub fn start(lock: &mut Lock, header: &RunHeader) -> io::Result<Journal> {
        let mut file = lock.take_file()?;
        file.set_len(0)?;
        file.rewind()?;
        let mut journal = Journal::new(file, lock.path())?;
        journal.line(&Record::Header(header))?;
        journal.flush()?;
        Ok(journal)
    }

    /// Continues an earlier run (resume): a torn tail is cut off, then records are appended.
    pub fn append(lock: &mut Lock, valid_len: u64) -> io::Result<Journal> {
        let mut file = lock.take_file()?;
        file.set_len(valid_len)?;
        file.seek(io::SeekFrom::End(0))?;
        let mut journal = Journal::new(file, lock.path())?;
        journal.line(&Record::Resume { at: Utc::now() })?;
        journal.flush()?;
        Ok(journal)
    }

    fn new(file: File, path: &Path) -> io::Result<Journal> {
        let identity = lock::identity(&file.metadata()?);
        Ok(Journal {
            out: BufWriter::with_capacity(64 * 1024, file),
            path: path.to_path_buf(),
            identity,
        })
    }

    pub fn record(&mut self, row: u64, outcome: &Outcome) -> io::Result<()> {
        self.line(&Record::Row { row, outcome })
    }

    /// One request of a multi-request row (create, then set fields, ...); the row's final
    /// outcome is still recorded with [`Journal::record`].
    pub fn step(&mut self, row: u64, step: &Step) -> io::Result<()> {
        self.line(&Record::Step { row, step })
    }

    /// The end record, synced. Fails if the journal's path no longer names the file written
    /// (deleted or replaced during the run): `--resume` could not see this run.
    pub fn end(&mut self, state: EndState) -> io::Result<()> {
        self.line(&Record::End {
            state,
            at: Utc::now(),
        })?;
        self.flush()?;
        self.out.get_ref().sync_all()?;
        let now = std::fs::symlink_metadata(&self.path)
            .ok()
            .and_then(|m| lock::identity(&m));
        if now != self.identity {
            return Err(io::Error::other(format!(
                "the run journal {} was deleted or replaced during the run; the results file \
                 is complete, but --resume cannot use this run",
                self.path.display()
            )));
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn line(&mut self, value: &Record<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }
}

/// The run's one journal writer, shared by the collector (rows) and the senders (steps). The
/// lock is held only for a synchronous write, never across an await. A step that cannot be
/// written poisons the writer: the collector's next record fails with that error and stops
/// the run, as any unwritable journal does.
#[derive(Clone)]
pub struct Shared {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    journal: Journal,
    failed: Option<String>,
}

impl Shared {
    pub fn new(journal: Journal) -> Shared {
        Shared {
            inner: Arc::new(Mutex::new(Inner {
                journal,
                failed: None,
            })),
        }
    }

    /// A panic while holding the lock cannot leave a half-written line that a later write
    /// would glue onto: every write is one `write_all` of a complete line into the buffer.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(inner: &Inner) -> io::Result<()> {
        match &inner.failed {
            Some(why) => Err(io::Error::other(why.clone())),
            None => Ok(()),
        }
    }

    pub fn record(&self, row: u64, outcome: &Outcome) -> io::Result<()> {
        let mut inner = self.lock();
        Shared::check(&inner)?;
        inner.journal.record(row, outcome)
    }

    /// A step, written through to the file at once: a `kill -9` after this returns cannot
    /// make a resume send the request again.
    pub fn step(&self, row: u64, step: &Step) -> io::Result<()> {
        let mut inner = self.lock();
        Shared::check(&inner)?;
        let written = inner.journal.step(row, step);
        let written = written.and_then(|()| inner.journal.flush());
        if let Err(e) = &written {
            inner.failed = Some(format!("recording a step of row {row}: {e}"));
        }
        written
    }

    pub fn flush(&self) -> io::Result<()> {
        let mut inner = self.lock();
        Shared::check(&inner)?;
        inner.journal.flush()
    }

    pub fn end(&self, state: EndState) -> io::Result<()> {
        let mut inner = self.lock();
        Shared::check(&inner)?;
        inner.journal.end(state)
    }
}
