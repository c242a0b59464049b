//! The host-wide budget file: one small record per account, updated under an advisory lock.
//!
//! Every `wolfeo-bulk` process of one user that talks to one account (same base URL and key)
//! opens the same file, named by a fingerprint of URL and key (SHA-256, never the key itself),
//! in `$XDG_RUNTIME_DIR/wolfeo-bulk/` or else a private `wolfeo-bulk-<uid>` directory under the
//! temp dir; the directory must be ours and 0700, the file is 0600 and never opened through a
//! link. Each turn is one read-modify-write of [`Slots`] under `flock` (std's `File::lock`, the
//! same lock the run journal uses), held for microseconds and never across an `.await`.
//!
//! What a crash can leave: the kernel drops a dead process's `flock`, so no lock is ever stale;
//! a write torn by `kill -9` leaves a record that does not parse, which reads as an empty one
//! (the others lose at most one interval); a dead process's member entry is dropped on the next
//! turn ([`Slots::reserve`] asks whether its pid still runs). Called by [`super::Schedule`].

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::slots::{Slots, VERSION};
use crate::files;

pub(crate) struct SharedFile {
    file: File,
    path: PathBuf,
}

impl SharedFile {
    /// Opens (creating) the budget file of the account at `base_url` with `key`.
    pub fn open(base_url: &str, key: &str) -> io::Result<SharedFile> {
        SharedFile::open_in(&budget_dir()?, base_url, key)
    }

    /// The same in `dir` (tests use a temp dir of their own).
    pub fn open_in(dir: &Path, base_url: &str, key: &str) -> io::Result<SharedFile> {
        let path = dir.join(format!("budget-{}.json", fingerprint(base_url, key)));
        let file = files::private_options()
            .read(true)
            .truncate(false)
            .open(&path)?;
        files::make_private(&file)?;
        Ok(SharedFile { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the record under the lock and writes the result back.
    pub fn update<R>(&mut self, f: impl FnOnce(&mut Slots) -> R) -> io::Result<R> {
        self.file.lock()?;
        let result = self.read_modify_write(f);
        let unlocked = self.file.unlock();
        let r = result?;
        unlocked?;
        Ok(r)
    }

    fn read_modify_write<R>(&mut self, f: impl FnOnce(&mut Slots) -> R) -> io::Result<R> {
        let mut text = String::new();
        self.file.seek(SeekFrom::Start(0))?;
        // A torn or foreign record (not UTF-8, not JSON, another version) reads as empty.
        let mut slots = match self.file.read_to_string(&mut text) {
            Ok(_) => serde_json::from_str::<Slots>(&text)
                .ok()
                .filter(|s| s.v == VERSION)
                .unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Slots::default(),
            Err(e) => return Err(e),
        };
        let r = f(&mut slots);
        let mut out = serde_json::to_vec(&slots).map_err(io::Error::other)?;
        out.push(b'\n');
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&out)?;
        self.file.set_len(out.len() as u64)?;
        Ok(r)
    }
}

/// The account's digest ([`crate::secret::account_digest`]), shortened for a file name: the
/// same account gives the same name in every process, and the name tells nothing about the key.
pub(crate) fn fingerprint(base_url: &str, key: &str) -> String {
    crate::secret::account_digest(base_url, key)[..32].to_string()
}

/// `$XDG_RUNTIME_DIR/wolfeo-bulk` (per user, tmpfs, cleared at logout), else
/// `<temp>/wolfeo-bulk-<uid>`; created 0700 and refused unless it is a directory we own that
/// nobody else can enter (another user could otherwise pre-create it and steer our pacing).
fn budget_dir() -> io::Result<PathBuf> {
    use etcetera::BaseStrategy;
    let runtime = etcetera::choose_base_strategy()
        .ok()
        .and_then(|s| s.runtime_dir())
        .filter(|p| p.is_absolute());
    let dir = match runtime {
        Some(run) => run.join("wolfeo-bulk"),
        None => std::env::temp_dir().join(format!("wolfeo-bulk-{}", uid())),
    };
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(&dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    check_private(&dir)?;
    Ok(dir)
}

#[cfg(unix)]
fn check_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != uid() || meta.mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a private directory of this user (must be ours, mode 0700)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn uid() -> u32 {
    0
}

/// Whether process `pid` still runs (Linux: its `/proc` entry). Elsewhere every pid counts as
/// alive and a dead process stops counting after [`super::slots::ACTIVE_US`].
pub(crate) fn alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_names_the_account_not_the_key() {
        let a = fingerprint("https://api.wolfeo.me/v1", "secret-key");
        assert_eq!(a, fingerprint("https://api.wolfeo.me/v1/", "secret-key"));
        assert_ne!(a, fingerprint("https://api.wolfeo.me/v1", "other-key"));
        assert_ne!(a, fingerprint("http://127.0.0.1:9/v1", "secret-key"));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("secret"));
    }

    #[test]
    fn a_torn_record_reads_as_empty_and_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        std::fs::write(&path, b"{\"v\":1,\"next_us\":12").unwrap();
        let file = files::private_options()
            .read(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        let mut shared = SharedFile { file, path };
        let next = shared
            .update(|s| std::mem::replace(&mut s.next_us, 42))
            .unwrap();
        assert_eq!(next, 0);
        assert_eq!(shared.update(|s| s.next_us).unwrap(), 42);
    }

    #[test]
    fn we_are_alive_and_an_unused_pid_is_not() {
        assert!(alive(std::process::id()));
        if Path::new("/proc/self").exists() {
            assert!(!alive(u32::MAX));
        }
    }
}
