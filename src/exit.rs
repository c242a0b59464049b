//! Exit codes, the contract with the scripts and cron jobs that run us.
//!
//! Every path out of `main` goes through [`Exit`], and the code of an error is decided in one
//! place, [`Fatal::exit`]. A [`Fatal`] says what the code depends on: whether anything was sent
//! (usage problems only happen before; [`Fatal::once_sent`] turns a late one into an abort),
//! whether the API refused the key, was unreachable, or the user interrupted. `--help` and the
//! README list the same tables ([`IMPORT_HELP`], [`EXPORT_HELP`]), so a monitor can tell "fix
//! the flags" from "rows were sent, resume" from "the API is down".

use crate::api::client::CallError;
use crate::csv_in::InputError;
use crate::mapping::MappingError;

/// What the process tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Every row ended created, exists, updated or duplicate (or the export is complete).
    Ok = 0,
    /// The run completed, but some rows are invalid or failed (see the results file).
    RowsFailed = 1,
    /// Usage, configuration or unreadable input: nothing was sent.
    Usage = 2,
    /// The run stopped early: the API refused the key or the account (401/403), or a local
    /// problem (an unreadable row, a full disk) after rows were sent. Resumable.
    Aborted = 3,
    /// The API could not be reached, or answered 5xx until the retries ran out. Resumable.
    Unavailable = 4,
    /// Ctrl-C or SIGTERM: the run stopped early and can be resumed.
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Shown under the top-level `--help`.
pub const HELP: &str = "\
Exit codes (see `import --help` and `export --help` for each command's):
  0    success
  1    completed, but some rows need attention
  2    usage, configuration or unreadable input; nothing was sent
  3    aborted: the API refused the key (401/403), or a local error after requests were sent
  4    the API was unavailable (network errors or 5xx after the retries)
  130  interrupted (Ctrl-C / SIGTERM)";

/// Shown under `import --help`.
pub const IMPORT_HELP: &str = "\
Exit codes:
  0    every row created, exists, updated or duplicate
  1    completed, but some rows are invalid or failed (see the results file)
  2    usage, configuration or unreadable input; nothing was sent
  3    aborted: the API refused the key or account (401/403), or a local error (unreadable
       row, full disk) stopped the run after rows were sent; the results file has a line for
       every row read; fix the cause and rerun with --resume
  4    the API was unavailable (connection refused, timeouts, 5xx after the retries); rerun
       with --resume once it is back
  130  interrupted (Ctrl-C / SIGTERM); rerun with --resume to continue";

/// Shown under `export --help`.
pub const EXPORT_HELP: &str = "\
Exit codes:
  0    the export is complete and written (the state file, if any, advanced)
  1    --strict: the export could not be proven to hold every contact present throughout
       it (the file is written; the state file is not advanced)
  2    usage or configuration; nothing was requested
  3    aborted: the API refused the key or account (401/403), or a local error (full disk)
       stopped the export; no file at the target, the state file unchanged
  4    the API was unavailable (connection refused, timeouts, 5xx after the retries); no file
       at the target, the state file unchanged
  130  interrupted (Ctrl-C / SIGTERM); no file at the target, the state file unchanged";

/// Shown under `verify --help`.
pub const VERIFY_HELP: &str = "\
Exit codes:
  0    every row that asserts something matches the account (invalid and duplicate rows
       are counted, but assert nothing)
  1    some rows differ, are missing, or could not be checked (see the verify file)
  2    usage, configuration or unreadable input; nothing was requested
  3    aborted: the API refused the key or account (401/403), or a local error (full disk)
       stopped the run; no verify file is written
  4    the API was unavailable (connection refused, timeouts, 5xx after the retries)
  130  interrupted (Ctrl-C / SIGTERM); no verify file is written";

/// A problem that ends the run. Each variant is a fact the exit code depends on; the message
/// is one line and names the file, row, column, flag or host concerned.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// Usage, configuration or input found unusable before anything was sent.
    #[error("{0}")]
    Usage(String),
    /// A local problem (input, files) after requests were sent: what was learned is recorded
    /// and the run can be resumed.
    #[error("{0}")]
    AfterSend(String),
    /// 401/403: the API refused the key or the account.
    #[error("{0}")]
    Refused(String),
    /// Network failures or 5xx answers until the retries ran out.
    #[error("{0}")]
    Unavailable(String),
    /// Ctrl-C / SIGTERM.
    #[error("{0}")]
    Interrupted(String),
}

impl Fatal {
    pub fn usage(message: impl Into<String>) -> Self {
        Fatal::Usage(message.into())
    }

    /// The API refused the key or the account.
    pub fn aborted(message: impl Into<String>) -> Self {
        Fatal::Refused(message.into())
    }

    pub fn after_send(message: impl Into<String>) -> Self {
        Fatal::AfterSend(message.into())
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Fatal::Unavailable(message.into())
    }

    pub fn interrupted(message: impl Into<String>) -> Self {
        Fatal::Interrupted(message.into())
    }

    /// The one place an error becomes an exit code.
    pub fn exit(&self) -> Exit {
        match self {
            Fatal::Usage(_) => Exit::Usage,
            Fatal::AfterSend(_) | Fatal::Refused(_) => Exit::Aborted,
            Fatal::Unavailable(_) => Exit::Unavailable,
            Fatal::Interrupted(_) => Exit::Interrupted,
        }
    }

    /// Once a request has been sent, "nothing was sent" is no longer true: a usage-class
    /// problem found later (an unreadable row, an unwritable file) becomes an abort.
    pub fn once_sent(self, sent: bool) -> Fatal {
        match self {
            Fatal::Usage(m) if sent => Fatal::AfterSend(m),
            other => other,
        }
    }

    /// The same error with the way to continue appended to its one line.
    pub fn with_next_step(self, next_step: &str) -> Fatal {
        let message = format!("{self}; {next_step}");
        match self {
            Fatal::Usage(_) => Fatal::Usage(message),
            Fatal::AfterSend(_) => Fatal::AfterSend(message),
            Fatal::Refused(_) => Fatal::Refused(message),
            Fatal::Unavailable(_) => Fatal::Unavailable(message),
            Fatal::Interrupted(_) => Fatal::Interrupted(message),
        }
    }

    pub fn is_interrupted(&self) -> bool {
        matches!(self, Fatal::Interrupted(_))
    }
}

/// Environment failures with their chain of context flattened onto one line. Before anything
/// was sent they are configuration problems; the pipeline re-types them with [`Fatal::once_sent`].
impl From<anyhow::Error> for Fatal {
    fn from(e: anyhow::Error) -> Self {
        Fatal::usage(format!("{e:#}"))
    }
}

/// The input cannot be read as a whole (the message names the file and the line).
impl From<InputError> for Fatal {
    fn from(e: InputError) -> Self {
        Fatal::usage(e.to_string())
    }
}

impl From<MappingError> for Fatal {
    fn from(e: MappingError) -> Self {
        Fatal::usage(e.to_string())
    }
}

/// A request that produced no usable answer. Callers that know the endpoint or host add it
/// with their own message; this is the generic wording.
impl From<CallError> for Fatal {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Refused { status, error } => Fatal::aborted(format!(
                "aborted: the API refused the key ({status}{}); check WOLFEO_API_KEY / \
                 --api-key-file: the key must exist, be enabled, and the account must have \
                 API access",
                error.map(|e| format!(" {}", e.code)).unwrap_or_default()
            )),
            CallError::Exhausted { last, attempts, .. } => Fatal::unavailable(format!(
                "the API is unavailable: {last} after {attempts} attempts"
            )),
            CallError::Interrupted { .. } => Fatal::interrupted("interrupted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_variant() {
        assert_eq!(Fatal::usage("x").exit(), Exit::Usage);
        assert_eq!(Fatal::aborted("x").exit(), Exit::Aborted);
        assert_eq!(Fatal::after_send("x").exit(), Exit::Aborted);
        assert_eq!(Fatal::unavailable("x").exit(), Exit::Unavailable);
        assert_eq!(Fatal::interrupted("x").exit(), Exit::Interrupted);
        assert_eq!(Fatal::usage("bad row").to_string(), "bad row");
    }

    #[test]
    fn nothing_sent_is_never_claimed_after_a_request() {
        assert_eq!(Fatal::usage("x").once_sent(false).exit(), Exit::Usage);
        assert_eq!(Fatal::usage("x").once_sent(true).exit(), Exit::Aborted);
        assert_eq!(
            Fatal::unavailable("x").once_sent(true).exit(),
            Exit::Unavailable
        );
        assert_eq!(
            Fatal::interrupted("x").once_sent(true).exit(),
            Exit::Interrupted
        );
    }

    #[test]
    fn call_errors_map_to_refused_unavailable_interrupted() {
        let refused = CallError::Refused {
            status: 401,
            error: None,
        };
        assert_eq!(Fatal::from(refused).exit(), Exit::Aborted);
        let exhausted = CallError::Exhausted {
            status: Some(503),
            error: None,
            last: "HTTP 503".into(),
            attempts: 6,
            maybe_sent: false,
        };
        assert_eq!(Fatal::from(exhausted).exit(), Exit::Unavailable);
        let interrupted = CallError::Interrupted {
            attempts: 0,
            maybe_sent: false,
        };
        assert_eq!(Fatal::from(interrupted).exit(), Exit::Interrupted);
    }
}
