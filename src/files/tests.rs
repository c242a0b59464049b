//! Unit tests of the file rules: modes, links, streams, collisions, preflight.

use super::*;
use std::os::unix::fs::PermissionsExt;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[test]
fn atomic_replaces_a_0644_file_with_a_private_one_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.json");
    std::fs::write(&path, "old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut out = Output::atomic(&path).unwrap();
    out.write_all(b"new").unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "old",
        "untouched before commit"
    );
    out.commit().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(entries(dir.path()), 1);
}

#[test]
fn an_abandoned_atomic_output_leaves_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    std::fs::write(&path, "old").unwrap();
    let mut out = Output::atomic(&path).unwrap();
    out.write_all(b"half").unwrap();
    drop(out);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    assert_eq!(entries(dir.path()), 1);
}

#[test]
fn fresh_replaces_at_once_and_breaks_hard_links() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let other = dir.path().join("other-name.csv");
    std::fs::write(&path, "old results").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::hard_link(&path, &other).unwrap();
    let mut out = Output::fresh(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    out.write_all(b"row\n").unwrap();
    out.flush().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "row\n");
    out.commit().unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "old results");
}

#[test]
fn a_symlink_output_replaces_its_target_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.csv");
    let link = dir.path().join("link.csv");
    std::fs::write(&target, "old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    write_atomic(&link, b"new").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    assert_eq!(mode(&target), 0o600);
}

#[test]
fn a_dangling_symlink_a_directory_and_a_socket_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("dangling.csv");
    let nowhere = dir.path().join("nowhere.csv");
    std::os::unix::fs::symlink(&nowhere, &link).unwrap();
    let err = Output::fresh(&link).err().unwrap();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!nowhere.exists(), "the link's target is never created");
    let err = Output::atomic(dir.path()).err().unwrap();
    assert!(err.to_string().contains("is a directory"), "{err}");
    let sock = dir.path().join("s.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    assert!(Output::atomic(&sock).is_err());
    assert!(preflight(&link).is_err() && preflight(dir.path()).is_err());
}

#[test]
fn a_character_device_is_written_through_not_replaced() {
    let null = Path::new("/dev/null");
    assert_eq!(resolve(null).unwrap(), Dest::Stream(null.into()));
    let mut out = Output::atomic(null).unwrap();
    out.write_all(b"discarded").unwrap();
    out.commit().unwrap();
    let meta = std::fs::metadata(null).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(meta.file_type().is_char_device());
    assert_eq!(resolve(Path::new("-")).unwrap(), Dest::Stdout);
    // A link to a stream with no path of its own (`/dev/stdout` on a pipe) is a stream.
    let (_read, write) = std::io::pipe().unwrap();
    use std::os::fd::AsRawFd;
    let fd = format!("/proc/self/fd/{}", write.as_raw_fd());
    assert!(matches!(resolve(Path::new(&fd)), Ok(Dest::Stream(_))));
}

#[test]
fn a_fifo_is_written_through_to_its_reader() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    write_atomic(&fifo, b"streamed\n").unwrap();
    assert_eq!(reader.join().unwrap(), "streamed\n");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(entries(dir.path()), 1);
}

#[test]
fn private_options_refuse_a_symlink_and_create_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.journal");
    let link = dir.path().join("l.journal");
    let target = dir.path().join("target");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(private_options().open(&link).is_err());
    assert!(!target.exists());
    drop(private_options().open(&path).unwrap());
    assert_eq!(mode(&path), 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    make_private(&private_options().open(&path).unwrap()).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn collisions_by_path_by_link_and_by_inode() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "email\n").unwrap();
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&input, &hard).unwrap();
    let soft = dir.path().join("soft.csv");
    std::os::unix::fs::symlink(&input, &soft).unwrap();
    let new = dir.path().join("new.csv");
    let new_again = dir.path().join(".").join("new.csv");
    let other = dir.path().join("other.csv");

    let err = distinct(&[("the input", &input), ("--results", &hard)]).unwrap_err();
    assert!(
        err.contains("the input and --results are the same file"),
        "{err}"
    );
    assert!(distinct(&[("the input", &input), ("--rejects", &soft)]).is_err());
    let err = distinct(&[("--results", &new), ("--rejects", &new_again)]).unwrap_err();
    assert!(err.contains("--results and --rejects"), "{err}");
    let null = Path::new("/dev/null");
    let dash = Path::new("-");
    assert!(distinct(&[("--rejects", null), ("--summary-json", null)]).is_ok());
    assert!(distinct(&[("--output", dash), ("--manifest", dash)]).is_err());
    assert!(
        distinct(&[
            ("the input", &input),
            ("--results", &new),
            ("--rejects", &other)
        ])
        .is_ok()
    );
}

#[test]
fn preflight_finds_a_missing_or_read_only_folder_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/out.csv");
    let err = preflight(&missing).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let ok = dir.path().join("out.csv");
    preflight(&ok).unwrap();
    assert_eq!(entries(dir.path()), 0, "the probe leaves nothing behind");
    preflight(Path::new("/dev/null")).unwrap();
    preflight(Path::new("-")).unwrap();
    // Root may write anywhere, so the read-only case is checked only when it can fail.
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    let probe = ro.join("x");
    if std::fs::write(&probe, "").is_err() {
        let err = preflight(&ro.join("out.csv")).unwrap_err();
        assert!(err.to_string().contains("cannot create files in"), "{err}");
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
}
