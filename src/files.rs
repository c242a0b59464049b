//! The one place that creates, replaces and checks the files this tool writes.
//!
//! Rules (the README's "File safety" section says the same to users):
//! - Every file created is mode 0600: results, rejects, journal, summary, export, manifest and
//!   state may hold personal data. Replacing a file creates a fresh inode, so an existing 0644
//!   file ends 0600 too.
//! - A regular file is replaced by renaming a temporary created beside it (`O_EXCL`, 0600, in
//!   the target's directory so the rename is atomic), after an fsync of the file; the directory
//!   is fsynced after the rename so the new name survives a power cut.
//! - A named output that is a symbolic link is resolved: the file it points to is replaced (the
//!   link stays a link). A dangling link is refused: following it would create a file the user
//!   never named.
//! - A FIFO, a character device (`/dev/null`, a terminal) or `-` (standard output) is written
//!   through as a stream: never renamed over, never truncated. A directory, block device or
//!   socket is refused.
//! - Files the tool names itself (the run journal) are opened with `O_NOFOLLOW`.
//!
//! Before anything is sent or written, a command calls [`distinct`] on its input and every
//! output (same device and inode, hard links included, or the same path once resolved) and
//! [`preflight`] on every output, so a late file error cannot follow a request. Callers: the
//! import's outputs, the results and rejects writers, the summary, export's output, manifest
//! and state, and the sandbox's `--state`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The name that means standard output.
pub const STDOUT: &str = "-";

/// Where a named output's bytes go, once its path is understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Stdout,
    /// A FIFO or character device: opened for writing and written through.
    Stream(PathBuf),
    /// A regular file, existing or not, after resolving symbolic links: replaced by rename.
    File(PathBuf),
}

impl Dest {
    pub fn is_file(&self) -> bool {
        matches!(self, Dest::File(_))
    }
}

/// Says what writing to `path` means, or why it must not be written. Error texts do not repeat
/// the path: callers prefix it.
pub fn resolve(path: &Path) -> io::Result<Dest> {
    if path.as_os_str() == STDOUT {
        return Ok(Dest::Stdout);
    }
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Dest::File(path.into())),
        Err(e) => return Err(e),
        Ok(meta) => meta,
    };
    if !meta.file_type().is_symlink() {
        return classify(path.to_path_buf(), &meta);
    }
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => refused(
            "is a symbolic link to a file that does not exist; refusing to create its target \
             (name the target itself)",
        ),
        _ => e,
    })?;
    if !meta.is_file() {
        // A stream is opened through the link: `/dev/stdout` -> `/proc/self/fd/1` -> a
        // pipe has no path to resolve to.
        return classify(path.to_path_buf(), &meta);
    }
    classify(std::fs::canonicalize(path)?, &meta)
}

fn classify(path: PathBuf, meta: &std::fs::Metadata) -> io::Result<Dest> {
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(Dest::File(path));
    }
    if kind.is_dir() {
        return Err(refused("is a directory; name a file inside it"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() || kind.is_char_device() {
            return Ok(Dest::Stream(path));
        }
    }
    Err(refused(
        "is not a regular file, FIFO or character device; refusing to write to it",
    ))
}

fn refused(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why.to_string())
}

/// Open options for a file the tool names itself: writable, created 0600, and never through
/// a symbolic link (`O_NOFOLLOW`), so a planted link cannot redirect it.
pub fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options
}

/// Narrows an existing file the tool keeps (the journal) to 0600.
pub fn make_private(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

enum Sink {
    File(File),
    Stdout(io::Stdout),
}

/// A named output being written. Dropped without [`Output::commit`], a temporary is deleted
/// and the target keeps its previous content.
pub struct Output {
    sink: Sink,
    /// Atomic mode: the temporary and the file it will replace.
    pending: Option<(tempfile::TempPath, PathBuf)>,
}

impl Output {
    /// Bytes go to a temporary beside the target, which [`Output::commit`] renames over it:
    /// readers see the previous file or the complete new one (exports, manifests, state,
    /// summaries).
    pub fn atomic(path: &Path) -> io::Result<Output> {
        match resolve(path)? {
            Dest::File(target) => {
                let (file, temp) = temp_beside(&target)?.into_parts();
                Ok(Output {
                    sink: Sink::File(file),
                    pending: Some((temp, target)),
                })
            }
            dest => Self::stream(&dest),
        }
    }

    /// The target is replaced now by an empty private file that is then written in place, so
    /// a crash leaves a valid prefix (results and rejects, written as outcomes arrive).
    pub fn fresh(path: &Path) -> io::Result<Output> {
        match resolve(path)? {
            Dest::File(target) => {
                let file = temp_beside(&target)?
                    .persist(&target)
                    .map_err(|e| e.error)?;
                sync_dir(&target);
                Ok(Output {
                    sink: Sink::File(file),
                    pending: None,
                })
            }
            dest => Self::stream(&dest),
        }
    }

    fn stream(dest: &Dest) -> io::Result<Output> {
        let sink = match dest {
            Dest::Stdout => Sink::Stdout(io::stdout()),
            // No create, no truncate: the FIFO or device is used as it is.
            Dest::Stream(path) | Dest::File(path) => {
                Sink::File(OpenOptions::new().write(true).open(path)?)
            }
        };
        Ok(Output {
            sink,
            pending: None,
        })
    }

    /// True when the bytes go straight to a FIFO, device or standard output.
    pub fn is_stream(&self) -> bool {
        match &self.sink {
            Sink::Stdout(_) => true,
            Sink::File(_) => false,
        }
    }

    /// Flushes; for a file also fsyncs it, renames a temporary over the target and fsyncs the
    /// directory.
    pub fn commit(mut self) -> io::Result<()> {
        self.flush()?;
        let Sink::File(file) = &self.sink else {
            return Ok(());
        };
        match self.pending.take() {
            Some((temp, target)) => {
                file.sync_all()?;
                temp.persist(&target).map_err(|e| e.error)?;
                sync_dir(&target);
            }
            // A FIFO or device cannot be fsynced; a fresh file's rename is already synced.
            None if file.metadata()?.is_file() => file.sync_all()?,
            None => {}
        }
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Sink::File(f) => f.write(buf),
            Sink::Stdout(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::File(f) => f.flush(),
            Sink::Stdout(s) => s.flush(),
        }
    }
}

/// A reader of standard output (or a FIFO) that went away: `export -o - | head` is a normal
/// way to end, not an error. Also when the `csv` writer wrapped the error (its `io::Error`
/// conversion says `Other` and keeps the cause inside).
pub fn broken_pipe(e: &io::Error) -> bool {
    let inner = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<csv::Error>());
    match inner.map(csv::Error::kind) {
        Some(csv::ErrorKind::Io(io)) => io.kind() == io::ErrorKind::BrokenPipe,
        _ => e.kind() == io::ErrorKind::BrokenPipe,
    }
}

/// Writes `bytes` to the named output `path` by the rules above (atomic for a file).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut out = Output::atomic(path)?;
    out.write_all(bytes)?;
    out.commit()
}

/// The directory a path's file lives in (`.` for a bare name).
pub fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The prefix of the temporaries for `path`: `.NAME.partial-PID-`, so that anyone listing
/// the directory sees what they are, and a cleaner can tell whose they were.
pub fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    format!(".{name}.partial-{}-", std::process::id())
}

/// A mode-0600 temporary created with `O_EXCL` in the target's directory (same file system,
/// so the rename is atomic), deleted when dropped.
pub fn temp_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let prefix = temp_prefix(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    builder.tempfile_in(dir_of(path))
}

/// A rename is durable only once the directory entry is; best effort where unsupported.
pub fn sync_dir(path: &Path) {
    if let Ok(dir) = File::open(dir_of(path)) {
        let _ = dir.sync_all();
    }
}

/// What makes two paths the same file.
struct Identity {
    stdout: bool,
    /// Character devices (`/dev/null`) may be named by several outputs: nothing is replaced.
    device: bool,
    inode: Option<(u64, u64)>,
    resolved: PathBuf,
}

fn identity(path: &Path) -> Identity {
    let meta = std::fs::metadata(path).ok();
    #[cfg(unix)]
    let (inode, device) = {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        (
            meta.as_ref().map(|m| (m.dev(), m.ino())),
            meta.as_ref()
                .is_some_and(|m| m.file_type().is_char_device()),
        )
    };
    #[cfg(not(unix))]
    let (inode, device) = (None::<(u64, u64)>, false);
    Identity {
        stdout: path.as_os_str() == STDOUT,
        device,
        inode,
        resolved: resolved_path(path),
    }
}

/// `path` with every symbolic link and `..` resolved; a path that does not exist yet is
/// resolved through its folder, keeping its name.
pub fn resolved_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        let dir = std::fs::canonicalize(dir_of(path));
        match (dir, path.file_name()) {
            (Ok(dir), Some(name)) => dir.join(name),
            _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        }
    })
}

/// Refuses when any two of `paths` (a label such as `--results` or `the input`, and a path)
/// are the same file: the same device and inode (hard links) or the same resolved path, even
/// for files that do not exist yet. Two outputs may share a character device such as
/// `/dev/null`. The message names both labels and the path.
pub fn distinct(paths: &[(&str, &Path)]) -> Result<(), String> {
    let ids: Vec<Identity> = paths.iter().map(|(_, p)| identity(p)).collect();
    for (i, a) in ids.iter().enumerate() {
        for (j, b) in ids.iter().enumerate().skip(i + 1) {
            let same = if a.stdout || b.stdout {
                a.stdout && b.stdout
            } else {
                !(a.device && b.device)
                    && ((a.inode.is_some() && a.inode == b.inode) || a.resolved == b.resolved)
            };
            if same {
                let (la, pa) = paths[i];
                let (lb, pb) = paths[j];
                let names = if pa == pb {
                    format!("{}", pa.display())
                } else {
                    format!("{} and {}", pa.display(), pb.display())
                };
                return Err(format!(
                    "{la} and {lb} are the same file ({names}); name different files"
                ));
            }
        }
    }
    Ok(())
}

/// Checks that `path` can be written by the rules above, without changing it: a file's
/// directory must let us create (and so rename) a file, which a probe temporary tests for
/// real (permissions, ACLs, read-only mounts); a FIFO or device must be writable.
pub fn preflight(path: &Path) -> io::Result<()> {
    match resolve(path)? {
        Dest::Stdout => Ok(()),
        Dest::Stream(p) => writable(&p),
        Dest::File(p) => {
            let dir = dir_of(&p);
            if !dir.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the folder {} does not exist", dir.display()),
                ));
            }
            temp_beside(&p).map(drop).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot create files in {}: {e}", dir.display()),
                )
            })
        }
    }
}

#[cfg(unix)]
fn writable(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| refused("contains a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    match unsafe { libc::access(c.as_ptr(), libc::W_OK) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(not(unix))]
fn writable(_: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests;
