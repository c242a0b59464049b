//! Where an import writes, decided and checked before anything is sent or written.
//!
//! The results file defaults to `<input stem>.results.csv` beside the input; the rejects file
//! to `<input stem>.rejects.csv` beside the results (so `--results` alone moves both, which a
//! read-only input folder needs); the run journal is always `<results>.journal`. Every pair of
//! input and outputs must be different files ([`files::distinct`]: hard links and symbolic
//! links included) and every output must be writable ([`files::preflight`]), so a file problem
//! is a usage error (exit 2) while it is still true that nothing was sent. Called by
//! [`super::run`] right after the input's header is read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::journal::{self, Admission, Journal, Lock, Previous, RunHeader};
use super::scan::Scan;
use crate::csv_in::{Dialect, Source};
use crate::exit::Fatal;
use crate::files::{self, Dest};
use crate::ui::Ui;

/// The files one import writes.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub results: PathBuf,
    pub rejects: PathBuf,
    /// `None` only for a dry run whose results go to a stream (`-`, a FIFO, a device).
    pub journal: Option<PathBuf>,
    pub summary_json: Option<PathBuf>,
}

/// What the user named, before defaults.
pub struct Named<'a> {
    pub results: Option<&'a Path>,
    pub rejects: Option<&'a Path>,
    pub summary_json: Option<&'a Path>,
    pub dry_run: bool,
}

impl Outputs {
    /// Applies the defaults, then refuses collisions and unwritable paths with exit 2.
    pub fn resolve(input: &Source, named: Named<'_>) -> Result<Outputs, Fatal> {
        let results = named
            .results
            .map_or_else(|| default_path(input, None, "results"), Path::to_path_buf);
        let rejects = named.rejects.map_or_else(
            || default_path(input, named.results, "rejects"),
            Path::to_path_buf,
        );
        let results_dest = files::resolve(&results).map_err(|e| at(&results, e))?;
        let journal = match results_dest {
            Dest::File(_) => Some(journal::path_for(&results)),
            _ if named.dry_run => None,
            _ => {
                return Err(Fatal::usage(format!(
                    "--results {}: must be a regular file for a real run, because the run \
                     journal (which makes --resume exact) lives beside it; a FIFO, device or \
                     - is accepted with --dry-run",
                    results.display()
                )));
            }
        };
        let outputs = Outputs {
            results,
            rejects,
            journal,
            summary_json: named.summary_json.map(Path::to_path_buf),
        };
        outputs.check(input, named.results.is_none())?;
        Ok(outputs)
    }

    /// Every output with the name the user knows it by.
    fn labelled(&self) -> Vec<(&'static str, &Path)> {
        let mut all = vec![("--results", self.results.as_path())];
        all.push(("--rejects", self.rejects.as_path()));
        if let Some(j) = &self.journal {
            all.push(("the run journal (<results>.journal)", j.as_path()));
        }
        if let Some(s) = &self.summary_json {
            all.push(("--summary-json", s.as_path()));
        }
        all
    }

    fn check(&self, input: &Source, default_results: bool) -> Result<(), Fatal> {
        let mut paths = Vec::new();
        if let Source::Path(p) = input {
            paths.push(("the input", p.as_path()));
        }
        paths.extend(self.labelled());
        files::distinct(&paths).map_err(Fatal::usage)?;
        for (label, path) in self.labelled() {
            if let Err(e) = files::preflight(path) {
                let beside_input = files::dir_of(path) == files::dir_of(&self.results);
                let hint = if default_results && beside_input {
                    "; pass --results PATH to write elsewhere (the rejects file and the run \
                     journal go beside it)"
                } else {
                    ""
                };
                return Err(Fatal::usage(format!(
                    "{}: cannot write {label} there: {e}{hint}",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

/// The journal side of a run: the lock held until the run ends, and the earlier run it
/// continues, if any.
pub struct RunState {
    lock: Option<Lock>,
    pub previous: Option<Previous>,
}

impl Outputs {
    /// Locks the results file, reads its journal and applies the rerun rules
    /// ([`journal::admit`]). Nothing is sent yet and only a rerun's kept-aside files are written.
    pub fn admit(
        &self,
        header: &RunHeader,
        args: &super::Args,
        stdin: bool,
        ui: &Ui,
    ) -> Result<RunState, Fatal> {
        let Some(path) = &self.journal else {
            return Ok(RunState {
                lock: None,
                previous: None,
            });
        };
        let (mut lock, found) = Lock::acquire(path, &self.results, args.dry_run)?;
        let how = Admission {
            resume: args.resume,
            restart: args.restart,
            dry_run: args.dry_run,
            stdin,
            results: &self.results,
            rejects: &self.rejects,
        };
        let previous = journal::admit(&mut lock, found, header, how, ui)?;
        Ok(RunState {
            lock: Some(lock),
            previous,
        })
    }
}

impl RunState {
    /// The journal writer, called when the run is about to send: a fresh journal starts with
    /// its header; a resumed one is cut after its last complete line and appended to.
    pub fn journal(&mut self, header: &RunHeader, dry_run: bool) -> Result<Option<Journal>, Fatal> {
        let Some(lock) = self.lock.as_mut().filter(|_| !dry_run) else {
            return Ok(None);
        };
        let journal = match &self.previous {
            Some(previous) => Journal::append(lock, previous.valid_len()),
            None => Journal::start(lock, header),
        };
        journal.map(Some).map_err(|e| at(lock.path(), e))
    }
}

/// What identifies a run for `--resume`: the input's bytes and every option that changes
/// what is sent.
pub fn run_header(
    args: &super::Args,
    scan: Option<&Scan>,
    dialect: &Dialect,
    mapping: String,
) -> RunHeader {
    // Effective values: an explicit `--delimiter ,` equals the detected comma.
    let mut options = BTreeMap::from([
        ("--map".to_string(), mapping),
        (
            "--on-exists".to_string(),
            args.on_exists.as_str().to_string(),
        ),
        ("--encoding".to_string(), dialect.encoding.to_string()),
        (
            "--delimiter".to_string(),
            format!("{:?}", char::from(dialect.delimiter)),
        ),
        (
            "--create-missing-tags".to_string(),
            args.create_missing_tags.to_string(),
        ),
        (
            "--allow-resubscribe".to_string(),
            args.allow_resubscribe.to_string(),
        ),
    ]);
    // Recorded only when set, so a run journaled before the flag existed still resumes.
    if args.create_missing_sequences {
        options.insert("--create-missing-sequences".into(), "true".into());
    }
    // Both decide which rows are numbered 1, 2, ...: a resume must read the same ones. Recorded
    // only when set, so journals from before these flags still match a run without them.
    if let Some(sheet) = &dialect.sheet {
        options.insert("--sheet".to_string(), sheet.name.clone());
    }
    if args.reading.skip_lines > 0 {
        options.insert(
            "--skip-lines".to_string(),
            args.reading.skip_lines.to_string(),
        );
    }
    RunHeader {
        version: journal::VERSION,
        input: args.input.clone(),
        input_size: scan.map_or(0, |s| s.size),
        input_hash: scan.map_or_else(String::new, |s| s.hash.clone()),
        options,
        started_at: chrono::Utc::now(),
        custom_fields: None,
    }
}

fn at(path: &Path, e: std::io::Error) -> Fatal {
    Fatal::usage(format!("{}: {e}", path.display()))
}

/// `<input stem>.<suffix>.csv`, beside `beside` when given, else beside the input (standard
/// input: the current folder).
pub(crate) fn default_path(input: &Source, beside: Option<&Path>, suffix: &str) -> PathBuf {
    let stem = match input {
        Source::Path(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "import".into()),
        Source::Stdin => "stdin".into(),
    };
    let name = format!("{stem}.{suffix}.csv");
    match (beside, input) {
        (Some(other), _) => match other.parent() {
            Some(dir) if files::resolve(other).is_ok_and(|d| d.is_file()) => dir.join(name),
            _ => PathBuf::from(name),
        },
        // A pipe's folder (`/dev/fd`) is no place for files: the current folder, as for stdin.
        (None, Source::Path(p)) if !input.is_stream() => p.with_file_name(name),
        (None, _) => PathBuf::from(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_sit_beside_the_input_or_beside_the_results() {
        let input = Source::Path("/data/contacts.csv".into());
        assert_eq!(
            default_path(&input, None, "results"),
            PathBuf::from("/data/contacts.results.csv")
        );
        assert_eq!(
            default_path(&input, Some(Path::new("/out/r.csv")), "rejects"),
            PathBuf::from("/out/contacts.rejects.csv")
        );
        assert_eq!(
            default_path(&Source::Stdin, None, "rejects"),
            PathBuf::from("stdin.rejects.csv")
        );
    }

    #[test]
    fn collisions_and_unwritable_outputs_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, "email\n").unwrap();
        let source = Source::Path(input.clone());
        let named = |results, rejects, summary_json| Named {
            results,
            rejects,
            summary_json,
            dry_run: false,
        };
        let err = Outputs::resolve(&source, named(None, Some(&input), None)).unwrap_err();
        assert!(err.to_string().contains("the input and --rejects"), "{err}");
        let err = Outputs::resolve(&source, named(None, None, Some(&input))).unwrap_err();
        assert!(err.to_string().contains("--summary-json"), "{err}");
        let r = dir.path().join("r.csv");
        let err = Outputs::resolve(&source, named(Some(&r), Some(&r), None)).unwrap_err();
        assert!(err.to_string().contains("--results and --rejects"), "{err}");
        let missing = dir.path().join("no/dir/s.json");
        let err = Outputs::resolve(&source, named(None, None, Some(&missing))).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let ok = Outputs::resolve(&source, named(Some(&r), None, None)).unwrap();
        assert_eq!(ok.rejects, dir.path().join("in.rejects.csv"));
        assert_eq!(ok.journal, Some(dir.path().join("r.csv.journal")));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
