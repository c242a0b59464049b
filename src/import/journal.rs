//! The crash-safe memory of an import, which makes `--resume` exact.
//!
//! `<results>.journal` is a JSON-lines file: a [`RunHeader`] (what was imported, how, since
//! when), then one [`Entry`] per outcome in the order outcomes arrived, then an [`End`] line
//! when the run stops in an orderly way. Entries are appended as soon as the collector has them
//! and flushed whenever it runs out of ready outcomes, so a `kill -9` loses at most the
//! requests in flight. The file is held under an exclusive lock for the whole run, which is
//! also what stops two imports from writing one results file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::exit::Fatal;
use crate::results::{Kind, Outcome};

pub const VERSION: u32 = 1;

/// Identifies a run; a resume must match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub version: u32,
    pub input: String,
    pub input_size: u64,
    /// xxh3-128 of the input bytes, hex.
    pub input_hash: String,
    pub mapping: String,
    pub on_exists: String,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub row: u64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Written last by an orderly stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct End {
    pub end: EndState,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndState {
    Completed,
    Interrupted,
    Aborted,
}

/// What a previous run left behind.
pub struct Previous {
    pub header: RunHeader,
    /// The latest recorded outcome of each row.
    pub outcomes: HashMap<u64, Outcome>,
    pub end: Option<EndState>,
}

pub struct Journal {
    out: BufWriter<File>,
}

pub fn path_for(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

impl Journal {
    /// Opens (creating if needed) and locks the journal; refuses if another run holds it.
    pub fn lock(path: &Path, results: &Path) -> Result<(File, Option<Previous>), Fatal> {
        // Not truncated: a previous run's journal is read before anything is written.
        let file = crate::files::private_options()
            .read(true)
            .truncate(false)
            .open(path)
            .and_then(|file| crate::files::make_private(&file).map(|()| file))
            .map_err(|e| {
                let why = if e.raw_os_error() == Some(libc::ELOOP) {
                    "it is a symbolic link, and the run journal is never written through one \
                     (remove the link)"
                        .to_string()
                } else {
                    e.to_string()
                };
                Fatal::usage(format!(
                    "{}: cannot open the run journal: {why}",
                    path.display()
                ))
            })?;
        if let Err(e) = file.try_lock() {
            return Err(Fatal::usage(match e {
                std::fs::TryLockError::WouldBlock => format!(
                    "{}: another import is writing this results file right now (lock on {}); \
                     wait for it or choose another --results path",
                    results.display(),
                    path.display()
                ),
                std::fs::TryLockError::Error(e) => {
                    format!("{}: cannot lock the run journal: {e}", path.display())
                }
            }));
        }
        let previous = read_previous(&file).map_err(|e| {
            Fatal::usage(format!("{}: unreadable run journal: {e}", path.display()))
        })?;
        Ok((file, previous))
    }

    /// Starts a fresh journal in the locked file.
    pub fn start(mut file: File, header: &RunHeader) -> io::Result<Journal> {
        file.set_len(0)?;
        file.rewind()?;
        let mut journal = Journal {
            out: BufWriter::with_capacity(64 * 1024, file),
        };
        journal.line(header)?;
        journal.flush()?;
        Ok(journal)
    }

    /// Continues an existing journal (resume): new entries are appended after the old ones.
    pub fn append(mut file: File) -> io::Result<Journal> {
        file.seek(io::SeekFrom::End(0))?;
        Ok(Journal {
            out: BufWriter::with_capacity(64 * 1024, file),
        })
    }

    pub fn record(&mut self, row: u64, outcome: &Outcome) -> io::Result<()> {
        self.line(&Entry {
            row,
            outcome: outcome.clone(),
        })
    }

    pub fn end(&mut self, state: EndState) -> io::Result<()> {
        self.line(&End {
            end: state,
            at: Utc::now(),
        })?;
        self.flush()?;
        self.out.get_ref().sync_all()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn line<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }
}

fn read_previous(file: &File) -> io::Result<Option<Previous>> {
    let mut lines = BufReader::new(file).lines();
    let Some(first) = lines.next().transpose()? else {
        return Ok(None);
    };
    let header: RunHeader = serde_json::from_str(&first).map_err(invalid)?;
    let mut outcomes = HashMap::new();
    let mut end = None;
    for line in lines {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if let Ok(entry) = serde_json::from_str::<Entry>(&line) {
            outcomes.insert(entry.row, entry.outcome);
            end = None;
        } else if let Ok(e) = serde_json::from_str::<End>(&line) {
            end = Some(e.end);
        } else {
            // A line cut short by a crash is the last one; anything else is corruption.
            if lines_remaining_is_empty(&line) {
                break;
            }
            return Err(invalid(format!("unexpected line: {line}")));
        }
    }
    Ok(Some(Previous {
        header,
        outcomes,
        end,
    }))
}

/// A torn final write never ends with a newline-terminated, parseable object; we accept any
/// unparseable line only if it does not look like a complete JSON object.
fn lines_remaining_is_empty(line: &str) -> bool {
    !line.trim_end().ends_with('}')
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Previous {
    /// Explains why this journal cannot be resumed with `current`, if it cannot.
    pub fn mismatch(&self, current: &RunHeader) -> Option<String> {
        let old = &self.header;
        if old.version != current.version {
            return Some(format!(
                "the journal was written by another version ({})",
                old.version
            ));
        }
        if old.input_size != current.input_size || old.input_hash != current.input_hash {
            return Some(format!(
                "the input file changed since the first run ({} bytes then, {} now); \
                 resume needs the same file",
                old.input_size, current.input_size
            ));
        }
        if old.mapping != current.mapping {
            return Some(format!(
                "the column mapping differs from the first run's ({} then, {} now)",
                old.mapping, current.mapping
            ));
        }
        if old.on_exists != current.on_exists {
            return Some(format!(
                "--on-exists differs from the first run's ({} then)",
                old.on_exists
            ));
        }
        None
    }

    /// True when a new run without `--resume` would throw away unfinished work. A run that
    /// stopped before learning anything (say, a missing key) has nothing to lose.
    pub fn unfinished(&self) -> bool {
        !matches!(self.end, Some(EndState::Completed)) && !self.outcomes.is_empty()
    }

    pub fn settled(&self) -> usize {
        self.outcomes.values().filter(|o| o.kind.is_final()).count()
    }

    /// The recorded outcome of `row`, if it was settled.
    pub fn settled_outcome(&self, row: u64) -> Option<&Outcome> {
        self.outcomes.get(&row).filter(|o| o.kind.is_final())
    }

    /// Rows a previous attempt may have sent without us learning the answer.
    pub fn maybe_sent(&self, row: u64) -> bool {
        self.outcomes
            .get(&row)
            .is_none_or(|o| o.kind == Kind::Failed)
    }
}

/// How the user asked to treat an earlier run of the same results file.
pub struct Admission {
    pub resume: bool,
    pub restart: bool,
    pub dry_run: bool,
    pub stdin: bool,
}

/// Decides whether this run may go ahead given what an earlier one left: `Some` to resume it,
/// `None` to start afresh, or a usage error that says which flag to add.
pub fn admit(
    previous: Option<Previous>,
    current: &RunHeader,
    how: Admission,
    results: &Path,
) -> Result<Option<Previous>, Fatal> {
    match previous {
        Some(p) if how.resume => {
            if how.stdin {
                return Err(Fatal::usage(
                    "--resume needs the input as a file, not standard input",
                ));
            }
            if let Some(why) = p.mismatch(current) {
                return Err(Fatal::usage(format!(
                    "cannot resume {}: {why}",
                    results.display()
                )));
            }
            Ok(Some(p))
        }
        None if how.resume => Err(Fatal::usage(format!(
            "cannot resume: no earlier run wrote {}",
            results.display()
        ))),
        Some(p) if how.dry_run && !how.restart && !p.outcomes.is_empty() => {
            Err(Fatal::usage(format!(
                "{} holds the results of an earlier import; a dry run would overwrite them: \
             pass --results PATH for the dry run, or --restart",
                results.display()
            )))
        }
        Some(p) if p.unfinished() && !how.restart => Err(Fatal::usage(format!(
            "{} belongs to an unfinished run ({} rows settled); pass --resume to continue it \
             or --restart to start over",
            results.display(),
            p.settled()
        ))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RunHeader {
        RunHeader {
            version: VERSION,
            input: "in.csv".into(),
            input_size: 10,
            input_hash: "ab".into(),
            mapping: "email <- \"Email\"".into(),
            on_exists: "skip".into(),
            started_at: Utc::now(),
        }
    }

    #[test]
    fn round_trips_and_tolerates_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.journal");
        let results = dir.path().join("r.csv");
        let (file, previous) = Journal::lock(&path, &results).unwrap();
        assert!(previous.is_none());
        let mut j = Journal::start(file, &header()).unwrap();
        let mut created = Outcome::new(Kind::Created);
        created.contact_id = Some(5);
        j.record(2, &created).unwrap();
        j.record(1, &Outcome::new(Kind::Failed)).unwrap();
        j.flush().unwrap();
        drop(j);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"row\":3,\"kind\":\"crea").unwrap();
        drop(f);

        let (_file, previous) = Journal::lock(&path, &results).unwrap();
        let previous = previous.unwrap();
        assert_eq!(previous.settled_outcome(2), Some(&created));
        assert_eq!(previous.settled_outcome(1), None);
        assert!(previous.maybe_sent(1) && previous.maybe_sent(3) && !previous.maybe_sent(2));
        assert!(previous.unfinished());
        assert_eq!(previous.mismatch(&previous.header.clone()), None);
        let mut changed = previous.header.clone();
        changed.input_size = 11;
        assert!(
            previous
                .mismatch(&changed)
                .unwrap()
                .contains("input file changed")
        );
    }

    #[test]
    fn a_second_run_on_the_same_results_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.journal");
        let results = dir.path().join("r.csv");
        let (_held, _) = Journal::lock(&path, &results).unwrap();
        let err = Journal::lock(&path, &results).err().unwrap();
        let err = err.to_string();
        assert!(err.contains("another import"), "{err}");
    }
}
