//! Exit codes, the contract with the scripts and cron jobs that run us.
//!
//! Every path out of `main` goes through [`Exit`]; `--help` and the README list the same table
//! ([`HELP`]), so a script can tell "some rows need fixing" from "nothing was sent".

use std::fmt;

/// What the process tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Every row ended created, exists, updated or duplicate (or the export is complete).
    Ok = 0,
    /// The run completed, but some rows are invalid or failed (see the results file).
    RowsFailed = 1,
    /// Usage, configuration or unreadable input: nothing was sent.
    Usage = 2,
    /// The API refused the key or the account (401/403): the run stopped at once.
    Aborted = 3,
    /// Ctrl-C or SIGTERM: the run stopped early and can be resumed.
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Shown under `--help`.
pub const HELP: &str = "\
Exit codes:
  0    every row created, exists, updated or duplicate (export: complete)
  1    completed, but some rows are invalid or failed (see the results file)
  2    usage, configuration or unreadable input; nothing was sent
  3    aborted: the API rejected the key or the account (401/403)
  130  interrupted (Ctrl-C / SIGTERM); rerun with --resume to continue";

/// A problem that ends the run, with the exit code it maps to. The message is one line.
#[derive(Debug)]
pub struct Fatal {
    pub exit: Exit,
    pub message: String,
}

impl Fatal {
    pub fn usage(message: impl Into<String>) -> Self {
        Fatal {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    pub fn aborted(message: impl Into<String>) -> Self {
        Fatal {
            exit: Exit::Aborted,
            message: message.into(),
        }
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fatal {}

/// Environment failures (I/O, bad paths) are configuration problems: exit 2, with the chain of
/// context flattened onto one line.
impl From<anyhow::Error> for Fatal {
    fn from(e: anyhow::Error) -> Self {
        Fatal::usage(format!("{e:#}"))
    }
}
