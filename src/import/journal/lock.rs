//! One writer per results file, even if someone deletes the journal mid-run.
//!
//! A `flock` on the journal alone is lost when the journal is deleted: a second import then
//! creates a new journal, locks it and runs alongside the first. So a run also binds an
//! abstract Unix socket (Linux) named after the resolved results path: it lives in no folder,
//! cannot be deleted, and disappears with the process, `kill -9` included. The `flock` stays
//! for other systems and for two paths to one file. A dry run takes the socket lock and reads
//! an existing journal without creating, locking or changing it.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use super::read::{self, Found};
use crate::exit::Fatal;
use crate::files;

pub struct Lock {
    path: PathBuf,
    file: Option<File>,
    #[cfg(target_os = "linux")]
    _socket: Option<std::os::unix::net::UnixListener>,
}

impl Lock {
    /// Locks the results file's journal and reads what an earlier run left.
    pub fn acquire(journal: &Path, results: &Path, dry_run: bool) -> Result<(Lock, Found), Fatal> {
        let busy = || {
            Fatal::usage(format!(
                "{}: another import is writing this results file right now (lock on {}); wait \
                 for it or choose another --results path",
                results.display(),
                journal.display()
            ))
        };
        #[cfg(target_os = "linux")]
        let socket = bind_socket(results).map_err(|e| match e.kind() {
            io::ErrorKind::AddrInUse => busy(),
            _ => Fatal::usage(format!("{}: cannot lock: {e}", results.display())),
        })?;
        let cannot = |e: io::Error| open_error(journal, e);
        let file = if dry_run {
            match read_only(journal) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                other => Some(other.map_err(cannot)?),
            }
        } else {
            let file = open_locked(journal).map_err(|e| match e {
                LockError::Busy => busy(),
                LockError::Io(e) => cannot(e),
            })?;
            Some(file)
        };
        let found = match &file {
            Some(f) => read::scan(f).map_err(|e| {
                Fatal::usage(format!(
                    "{}: unreadable run journal: {e}",
                    journal.display()
                ))
            })?,
            None => Found::Nothing,
        };
        let lock = Lock {
            path: journal.to_path_buf(),
            file: file.filter(|_| !dry_run),
            #[cfg(target_os = "linux")]
            _socket: Some(socket),
        };
        Ok((lock, found))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn take_file(&mut self) -> io::Result<File> {
        self.file
            .take()
            .ok_or_else(|| io::Error::other("the run journal was already taken"))
    }

    /// After the journal was moved aside: a new, empty, locked journal at the same path.
    pub(super) fn reopen(&mut self) -> Result<(), Fatal> {
        self.file = Some(open_locked(&self.path).map_err(|e| match e {
            LockError::Busy => Fatal::usage(format!(
                "{}: another import took the new journal",
                self.path.display()
            )),
            LockError::Io(e) => open_error(&self.path, e),
        })?);
        Ok(())
    }
}

enum LockError {
    Busy,
    Io(io::Error),
}

/// Opens (creating, 0600, never through a link) and `flock`s the journal.
fn open_locked(path: &Path) -> Result<File, LockError> {
    let file = files::private_options()
        .read(true)
        .truncate(false)
        .open(path)
        .and_then(|file| files::make_private(&file).map(|()| file))
        .map_err(LockError::Io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy),
        Err(std::fs::TryLockError::Error(e)) => Err(LockError::Io(e)),
    }
}

fn read_only(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

fn open_error(path: &Path, e: io::Error) -> Fatal {
    #[cfg(unix)]
    let link = e.raw_os_error() == Some(libc::ELOOP);
    #[cfg(not(unix))]
    let link = false;
    let why = if link {
        "it is a symbolic link, and the run journal is never written through one (remove the \
         link)"
            .to_string()
    } else {
        e.to_string()
    };
    Fatal::usage(format!(
        "{}: cannot open the run journal: {why}",
        path.display()
    ))
}

/// Device and inode, where the platform has them.
pub(super) fn identity(meta: &Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// Binds `wolfeo-bulk/<hash of the resolved results path>` in the abstract namespace.
#[cfg(target_os = "linux")]
fn bind_socket(results: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    let resolved = files::resolved_path(results);
    let hash = xxhash_rust::xxh3::xxh3_128(resolved.as_os_str().as_bytes());
    let name = format!("wolfeo-bulk/import/{hash:032x}");
    UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)
}
