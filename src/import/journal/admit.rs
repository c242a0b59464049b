//! What a run may do with the earlier run of the same results file: resume it, replay it,
//! keep it aside and start over, or refuse with the flags that say what the user wants.
//!
//! Rules (the README's "Runs and reruns" says the same):
//! - A run that may have sent anything (a header and no `completed` end) is never forgotten: a
//!   plain rerun is refused, naming `--resume` and `--restart`.
//! - A finished run's results are never destroyed: a rerun (or `--restart`, or `--resume`
//!   with a changed input) keeps them beside the new ones, stamped with the old run's start
//!   (`r.20261201T020000Z.csv`, its rejects and journal likewise), and says so.
//! - `--resume` with no earlier run starts one; after a finished run with the same input it
//!   sends nothing and reports the recorded outcomes; it refuses a changed input for an
//!   unfinished run and any option that changes what is sent.
//! - A dry run sends nothing and never touches a journal: `--resume --dry-run` is refused, and
//!   so is a dry run over an earlier run's results (pass `--results` elsewhere).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{Found, Lock, Previous, RunHeader};
use crate::exit::Fatal;
use crate::files;
use crate::ui::Ui;

/// How the user asked to treat an earlier run of the same results file.
pub struct Admission<'a> {
    pub resume: bool,
    pub restart: bool,
    pub dry_run: bool,
    pub stdin: bool,
    pub results: &'a Path,
    pub rejects: &'a Path,
}

/// Decides, and moves an earlier run aside when it starts over: `Some` to resume (or replay)
/// the earlier run, `None` to start afresh.
pub fn admit(
    lock: &mut Lock,
    found: Found,
    current: &RunHeader,
    how: Admission<'_>,
    ui: &Ui,
) -> Result<Option<Previous>, Fatal> {
    let results = how.results.display();
    if how.resume && how.dry_run {
        return Err(Fatal::usage(
            "--resume and --dry-run do not go together: a dry run sends nothing and leaves the \
             journal alone; preview with --dry-run (and --results PATH if a run's results are \
             in the way)",
        ));
    }
    if how.resume && how.stdin {
        return Err(Fatal::usage(
            "--resume needs the input as a file, not standard input",
        ));
    }
    let previous = match found {
        Found::Nothing => {
            if how.resume {
                ui.info(&format!("no earlier run wrote {results}; starting one"));
            }
            return Ok(None);
        }
        Found::Old { .. } if how.restart && !how.dry_run => {
            let kept = set_aside(lock, &how, Utc::now())?;
            ui.info(&format!(
                "the old-format run was kept as {}",
                kept.display()
            ));
            return Ok(None);
        }
        Found::Old { version } => {
            return Err(Fatal::usage(format!(
                "{}: written by an earlier wolfeo-bulk (journal format {version}), which this \
                 version cannot resume; finish that run with the version that started it, or \
                 pass --restart to start over (the old results are kept beside the new ones)",
                lock.path().display()
            )));
        }
        Found::Run(p) => *p,
    };
    if how.dry_run {
        return Err(Fatal::usage(format!(
            "{results} holds the results of an earlier import; a dry run would overwrite \
             them: pass --results PATH for the dry run"
        )));
    }
    let finished = previous.finished();
    if how.resume {
        match previous.mismatch(current) {
            // The opening lines say what a resume skips, finished or not.
            None => return Ok(Some(previous)),
            Some(_) if finished && previous.input_changed(current) => {}
            Some(why) => {
                let hint = if finished {
                    "; pass --restart to start a new run (the finished one's results are kept \
                     beside it)"
                } else {
                    ""
                };
                return Err(Fatal::usage(format!(
                    "cannot resume {results}: {why}{hint}"
                )));
            }
        }
    } else if !finished && !how.restart {
        return Err(Fatal::usage(format!(
            "{results} belongs to an unfinished run ({} rows settled; it may have sent \
             requests); pass --resume to continue it, or --restart to start over (its \
             results are then kept beside the new ones)",
            previous.settled()
        )));
    }
    let kept = set_aside(lock, &how, previous.header.started_at)?;
    ui.info(&format!(
        "the earlier {} run's results were kept as {}; starting a new run",
        if finished { "finished" } else { "unfinished" },
        kept.display()
    ));
    Ok(None)
}

/// Keeps the earlier run's results, rejects and journal beside the new ones, stamped with
/// its start. Results and rejects are hard-linked (a symbolic link's target too), so the new
/// run's atomic replace leaves the old content under the stamped name; the journal is moved
/// and a new one locked in its place. Returns the stamped results path.
fn set_aside(
    lock: &mut Lock,
    how: &Admission<'_>,
    started: DateTime<Utc>,
) -> Result<PathBuf, Fatal> {
    let stamp = started.format("%Y%m%dT%H%M%SZ").to_string();
    let fail = |path: &Path, e: std::io::Error| {
        Fatal::usage(format!(
            "{}: cannot keep the earlier run aside: {e}",
            path.display()
        ))
    };
    let kept = keep(how.results, &stamp).map_err(|e| fail(how.results, e))?;
    keep(how.rejects, &stamp).map_err(|e| fail(how.rejects, e))?;
    let journal = lock.path().to_path_buf();
    let kept_journal =
        super::path_for(&kept.clone().unwrap_or_else(|| stamped(how.results, &stamp)));
    std::fs::rename(&journal, &kept_journal).map_err(|e| fail(&journal, e))?;
    files::sync_dir(&journal);
    lock.reopen()?;
    Ok(kept.unwrap_or(kept_journal))
}

/// Links an existing regular file (through a symbolic link) to its stamped name, or copies
/// it where hard links are not supported. `None` when there was nothing to keep.
fn keep(path: &Path, stamp: &str) -> std::io::Result<Option<PathBuf>> {
    let target = match files::resolve(path) {
        Ok(files::Dest::File(target)) if target.exists() => target,
        _ => return Ok(None),
    };
    let kept = free_name(&stamped(&target, stamp));
    if std::fs::hard_link(&target, &kept).is_err() {
        std::fs::copy(&target, &kept)?;
    }
    Ok(Some(kept))
}

/// `r.csv` -> `r.STAMP.csv`; `r` -> `r.STAMP`.
fn stamped(path: &Path, stamp: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let name = match (stem, path.extension()) {
        (Some(stem), Some(ext)) => format!("{stem}.{stamp}.{}", ext.to_string_lossy()),
        (Some(stem), None) => format!("{stem}.{stamp}"),
        _ => format!("results.{stamp}"),
    };
    path.with_file_name(name)
}

/// `path`, or `path` with `-2`, `-3`, ... before the extension when it is taken.
fn free_name(path: &Path) -> PathBuf {
    let mut candidate = path.to_path_buf();
    let mut n = 2;
    while candidate.symlink_metadata().is_ok() {
        candidate = stamped(path, &n.to_string());
        n += 1;
    }
    candidate
}
