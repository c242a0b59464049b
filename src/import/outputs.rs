//! Where an import writes, decided and checked before anything is sent or written.
//!
//! The results file defaults to `<input stem>.results.csv` beside the input; the rejects file
//! to `<input stem>.rejects.csv` beside the results (so `--results` alone moves both, which a
//! read-only input folder needs); the run journal is always `<results>.journal`. Every pair of
//! input and outputs must be different files ([`files::distinct`]: hard links and symbolic
//! links included) and every output must be writable ([`files::preflight`]), so a file problem
//! is a usage error (exit 2) while it is still true that nothing was sent. Called by
//! [`super::run`] right after the input's header is read.

use std::path::{Path, PathBuf};

use super::journal;
use crate::csv_in::Source;
use crate::exit::Fatal;
use crate::files::{self, Dest};

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
                let hint = if default_results {
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

fn at(path: &Path, e: std::io::Error) -> Fatal {
    Fatal::usage(format!("{}: {e}", path.display()))
}

/// `<input stem>.<suffix>.csv`, beside `beside` when given, else beside the input (standard
/// input: the current folder).
fn default_path(input: &Source, beside: Option<&Path>, suffix: &str) -> PathBuf {
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
        (None, Source::Path(p)) => p.with_file_name(name),
        (None, Source::Stdin) => PathBuf::from(name),
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
