//! Where the rows go: the named output by the rules of [`crate::files`], hashed on the way.
//!
//! A regular file (or the file a symbolic link points to) is written to a mode-0600 temporary
//! beside it, named `.NAME.partial-PID-XXXXXX.tmp`, fsynced and renamed into place only when
//! complete; an [`Output`] dropped without [`Output::finish`] (error, Ctrl-C) deletes it, so an
//! interrupted export never leaves a file at the target. Only SIGKILL can leave the temporary
//! behind; the next export to the same target, or to any name its `--output` template makes,
//! removes those of dead processes ([`clean_stale`]). A FIFO, a character device (`/dev/null`)
//! and `-` are written through as a stream: never renamed over. Every byte written passes
//! through a SHA-256 for the manifest. `--excel` adds a BOM, CRLF and the formula-injection
//! guard of [`excel_cell`]; the default is plain RFC 4180 UTF-8 with LF.

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::files;

/// Where `--output` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Path(PathBuf),
    Stdout,
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
    csv: csv::Writer<Hashing<BufWriter<files::Output>>>,
    excel: bool,
    rows: u64,
    escaped: Vec<String>,
}

impl Output {
    /// Opens the target (a temporary beside a file, or the stream itself), writes the header.
    pub fn create(
        target: &Target,
        excel: bool,
        delimiter: u8,
        header: &[&str],
    ) -> io::Result<Output> {
        let sink = match target {
            Target::Stdout => files::Output::atomic(Path::new(files::STDOUT))?,
            Target::Path(path) => files::Output::atomic(path)?,
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
            .delimiter(delimiter)
            .from_writer(hashing);
        let mut out = Output {
            csv,
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

    /// Flushes; a file is fsynced, renamed over the target and its directory fsynced, so
    /// that the target is either the previous file or the complete new one.
    pub fn finish(self) -> io::Result<Written> {
        let hashing = self.csv.into_inner().map_err(|e| e.into_error())?;
        let Hashing { inner, hash, bytes } = hashing;
        let sink = inner.into_inner().map_err(|e| e.into_error())?;
        sink.commit()?;
        Ok(Written {
            rows: self.rows,
            bytes,
            sha256: hex::encode(hash.finalize()),
        })
    }
}

/// Removes temporaries left by exports that were killed (their process is gone): those of
/// `target`, or of every name `template` makes (`contacts-{timestamp}.csv` matches
/// `contacts-*.csv`), so dated names do not pile them up. Only where `/proc` tells whether a
/// process lives; elsewhere they stay, clearly named.
pub fn clean_stale(target: &Path, template: Option<&str>) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let own = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pattern: Vec<String> = match template.map(Path::new).and_then(Path::file_name) {
        Some(t) => super::paths::literal_parts(&t.to_string_lossy()),
        None => vec![own],
    };
    let Ok(entries) = std::fs::read_dir(files::dir_of(target)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((base, pid)) = stale_parts(&name) else {
            continue;
        };
        if wildcard_match(&pattern, base)
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `.NAME.partial-PID-XXXXXX.tmp` -> (NAME, PID), the shape of [`files::temp_prefix`].
fn stale_parts(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (base, tail) = rest.rsplit_once(".partial-")?;
    let pid = tail.split('-').next()?.parse().ok()?;
    Some((base, pid))
}

/// Whether `name` is the literal `parts` with anything between them (a `*` pattern without
/// escapes; a template has no other metacharacter, so a glob crate would add only escaping).
fn wildcard_match(parts: &[String], name: &str) -> bool {
    let [first, middle @ .., last] = parts else {
        return parts.first().is_none_or(|p| p == name);
    };
    let Some(mut rest) = name.strip_prefix(first.as_str()) else {
        return false;
    };
    for part in middle {
        match rest.find(part.as_str()) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last.as_str())
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
        let mut out = Output::create(&Target::Path(path.clone()), true, b',', &["a", "b"]).unwrap();
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
        let mut out = Output::create(&Target::Path(path.clone()), false, b',', &["a"]).unwrap();
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
        let mut out = Output::create(&Target::Path(path.clone()), false, b',', &["a"]).unwrap();
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
        clean_stale(&path, None);
        assert_eq!(!dead.exists(), Path::new("/proc/self").exists());
        assert!(alive.exists() && other.exists());
    }

    #[test]
    fn a_template_cleans_the_temporaries_of_every_name_it_makes() {
        let dir = tempfile::tempdir().unwrap();
        let made = |name: &str| {
            dir.path()
                .join(format!(".{name}.partial-4000000000-abc.tmp"))
        };
        let dated = made("contacts-20261201T010203Z.csv");
        let older = made("contacts-20261130T010203Z.csv");
        let unrelated = made("notes.csv");
        for p in [&dated, &older, &unrelated] {
            std::fs::write(p, "x").unwrap();
        }
        let target = dir.path().join("contacts-20261202T010203Z.csv");
        clean_stale(&target, Some("contacts-{timestamp}.csv"));
        if Path::new("/proc/self").exists() {
            assert!(!dated.exists() && !older.exists());
        }
        assert!(unrelated.exists());
        assert_eq!(
            stale_parts(".a.b.csv.partial-12-x.tmp"),
            Some(("a.b.csv", 12))
        );
        let parts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wildcard_match(&parts(&["c-", ".csv"]), "c-1.csv"));
        assert!(!wildcard_match(&parts(&["c-", ".csv"]), "d-1.csv"));
        assert!(wildcard_match(&parts(&["x.csv"]), "x.csv"));
        assert!(!wildcard_match(&parts(&["ab", "ba"]), "aba"));
    }
}
