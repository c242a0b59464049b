//! Where the rows go: an atomic file (temp beside the target, fsync, rename) or stdout.
//!
//! The temporary file is created mode 0600 in the target's directory, named
//! `.NAME.partial-PID-XXXXXX.tmp` so that anyone listing the directory sees what it is. It is
//! deleted when the [`Output`] is dropped without [`Output::finish`] (error, Ctrl-C), so an
//! interrupted export never leaves a file at the target path; only SIGKILL can leave the
//! temporary behind, and the next export to the same target removes it ([`clean_stale`]).
//! Every byte written passes through a SHA-256 for the manifest. `--excel` adds a BOM, CRLF and
//! the formula-injection guard of [`excel_cell`]; the default is plain RFC 4180 UTF-8 with LF.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::TempPath;

/// Where `--output` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Path(PathBuf),
    Stdout,
}

enum Sink {
    File(File),
    Stdout(io::Stdout),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Stdout(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Stdout(s) => s.flush(),
        }
    }
}

/// Hashes and counts exactly the bytes that reach the file.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What a finished output contains, for the manifest and the summary.
#[derive(Debug, Clone)]
pub struct Written {
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

pub struct Output {
    csv: csv::Writer<Hashing<BufWriter<Sink>>>,
    temp: Option<(TempPath, PathBuf)>,
    excel: bool,
    rows: u64,
    escaped: Vec<String>,
}

impl Output {
    /// Creates the temporary file (or takes stdout) and writes the header.
    pub fn create(target: &Target, excel: bool, header: &[&str]) -> io::Result<Output> {
        let (sink, temp) = match target {
            Target::Stdout => (Sink::Stdout(io::stdout()), None),
            Target::Path(path) => {
                clean_stale(path);
                let (file, temp_path) = temp_beside(path)?.into_parts();
                (Sink::File(file), Some((temp_path, path.clone())))
            }
        };
        let mut hashing = Hashing {
            inner: BufWriter::with_capacity(256 * 1024, sink),
            hash: Sha256::new(),
            bytes: 0,
        };
        if excel {
            // Without the BOM, Excel reads UTF-8 as the local code page (é becomes Ã©).
            hashing.write_all("\u{feff}".as_bytes())?;
        }
        let terminator = if excel {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        };
        let csv = csv::WriterBuilder::new()
            .terminator(terminator)
            .from_writer(hashing);
        let mut out = Output {
            csv,
            temp,
            excel,
            rows: 0,
            escaped: Vec::new(),
        };
        out.write_cells(header)?;
        out.rows = 0;
        Ok(out)
    }

    pub fn write_row(&mut self, cells: &[String]) -> io::Result<()> {
        self.write_cells(cells)
    }

    fn write_cells<S: AsRef<str>>(&mut self, cells: &[S]) -> io::Result<()> {
        if self.excel {
            self.escaped.clear();
            self.escaped
                .extend(cells.iter().map(|c| excel_cell(c.as_ref()).into_owned()));
            self.csv.write_record(&self.escaped)?;
        } else {
            self.csv.write_record(cells.iter().map(AsRef::as_ref))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Flushes; for a file also fsyncs, renames over the target and fsyncs the directory, so
    /// that the target is either the previous file or the complete new one.
    pub fn finish(self) -> io::Result<Written> {
        let hashing = self.csv.into_inner().map_err(|e| e.into_error())?;
        let Hashing { inner, hash, bytes } = hashing;
        let sink = inner.into_inner().map_err(|e| e.into_error())?;
        let written = Written {
            rows: self.rows,
            bytes,
            sha256: hex::encode(hash.finalize()),
        };
        match (sink, self.temp) {
            (Sink::File(file), Some((temp, target))) => {
                file.sync_all()?;
                drop(file);
                temp.persist(&target).map_err(|e| e.error)?;
                sync_dir(&target);
            }
            (mut sink, _) => sink.flush()?,
        }
        Ok(written)
    }
}

/// The file name of `path`, for the temporary's prefix.
fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into())
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A mode-0600 temporary in the target's directory (same file system, so rename is atomic).
fn temp_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let prefix = format!(".{}.partial-{}-", name_of(path), std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    builder.tempfile_in(dir_of(path))
}

/// Writes `bytes` to `path` atomically with mode 0600 (the manifest and the state file).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = temp_beside(path)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_dir(path);
    Ok(())
}

/// The rename is durable only once the directory entry is; best effort where unsupported.
fn sync_dir(path: &Path) {
    if let Ok(dir) = File::open(dir_of(path)) {
        let _ = dir.sync_all();
    }
}

/// Removes temporaries for `path` left by an export that was killed (its process is gone).
/// Only where `/proc` tells whether a process lives; elsewhere they stay, clearly named.
pub fn clean_stale(path: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{}.partial-", name_of(path));
    let Ok(entries) = std::fs::read_dir(dir_of(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && name.ends_with(".tmp")
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Spreadsheets run cells starting with `=`, `+`, `-` or `@` as formulas (and tab/CR can
/// smuggle one in), so such cells get a leading `'`, unless they are plain numbers: `-5` is data.
pub fn excel_cell(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') if !is_plain_number(cell) => {
            Cow::Owned(format!("'{cell}"))
        }
        _ => Cow::Borrowed(cell),
    }
}

/// An optional sign, digits, and at most one decimal point between digits: `-5`, `+1.25`.
fn is_plain_number(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_guard_prefixes_formulas_but_not_numbers() {
        assert_eq!(excel_cell("=1+1"), "'=1+1");
        assert_eq!(excel_cell("-5"), "-5");
        assert_eq!(excel_cell("-5.25"), "-5.25");
        assert_eq!(excel_cell("+5"), "+5");
        assert_eq!(excel_cell("-x"), "'-x");
        assert_eq!(excel_cell("@a"), "'@a");
        assert_eq!(excel_cell("\tx"), "'\tx");
        assert_eq!(excel_cell("\rx"), "'\rx");
        assert_eq!(excel_cell("+33 6 12"), "'+33 6 12");
        assert_eq!(excel_cell("-"), "'-");
        assert_eq!(excel_cell("-1."), "'-1.");
        assert_eq!(excel_cell("Ann"), "Ann");
        assert_eq!(excel_cell("a=b"), "a=b");
        assert_eq!(excel_cell(""), "");
    }

    #[test]
    fn excel_profile_has_bom_crlf_and_guard() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        let mut out = Output::create(&Target::Path(path.clone()), true, &["a", "b"]).unwrap();
        out.write_row(&["=cmd".into(), "-5".into()]).unwrap();
        let w = out.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes, "\u{feff}a,b\r\n'=cmd,-5\r\n".as_bytes());
        assert_eq!(w.rows, 1);
        assert_eq!(w.bytes, bytes.len() as u64);
        assert_eq!(w.sha256, hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn default_profile_is_plain_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        let mut out = Output::create(&Target::Path(path.clone()), false, &["a"]).unwrap();
        out.write_row(&["=x, y".into()]).unwrap();
        assert!(!path.exists(), "nothing at the target before finish");
        let w = out.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\n\"=x, y\"\n");
        assert_eq!(w.rows, 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary left behind");
    }

    #[test]
    fn dropping_an_unfinished_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        let mut out = Output::create(&Target::Path(path.clone()), false, &["a"]).unwrap();
        out.write_row(&["1".into()]).unwrap();
        drop(out);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        let dead = dir.path().join(".x.csv.partial-4000000000-abcdef.tmp");
        let alive = dir
            .path()
            .join(format!(".x.csv.partial-{}-abcdef.tmp", std::process::id()));
        let other = dir.path().join(".y.csv.partial-4000000000-abcdef.tmp");
        for p in [&dead, &alive, &other] {
            std::fs::write(p, "x").unwrap();
        }
        clean_stale(&path);
        assert_eq!(!dead.exists(), Path::new("/proc/self").exists());
        assert!(alive.exists() && other.exists());
    }
}
