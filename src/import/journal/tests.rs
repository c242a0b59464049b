//! Journal format 2: tagged records, torn tails, locks, bounded resume, rerun rules.

use std::io::Write;

use super::*;
use crate::results::Kind;
use crate::ui::Ui;

fn header() -> RunHeader {
    RunHeader {
        version: VERSION,
        input: "in.csv".into(),
        input_size: 10,
        input_hash: "ab".into(),
        options: BTreeMap::from([
            ("--map".into(), "email <- \"Email\"".into()),
            ("--encoding".into(), "auto".into()),
        ]),
        started_at: Utc::now(),
        custom_fields: None,
    }
}

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn results(&self) -> PathBuf {
        self.dir.path().join("r.csv")
    }
    fn journal(&self) -> PathBuf {
        path_for(&self.results())
    }
    fn lock(&self) -> (Lock, Found) {
        Lock::acquire(&self.journal(), &self.results(), false).unwrap()
    }
    fn previous(&self) -> Previous {
        match self.lock().1 {
            Found::Run(p) => *p,
            _ => panic!("no run found"),
        }
    }
    fn tear(&self, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.journal())
            .unwrap();
        f.write_all(bytes).unwrap();
    }
}

fn created(id: u64) -> Outcome {
    let mut o = Outcome::new(Kind::Created);
    o.contact_id = Some(id);
    o.http_status = Some(201);
    o
}

fn create_step(id: u64) -> Step {
    Step {
        step: step::CREATE.into(),
        field_id: None,
        ok: true,
        http_status: Some(201),
        error_code: None,
        message: None,
        attempts: 1,
        contact: Some(created(id)),
    }
}

fn field_step(name: &str, status: u16) -> Step {
    Step {
        step: name.into(),
        field_id: Some(1),
        ok: status == 200,
        http_status: Some(status),
        error_code: None,
        message: None,
        attempts: 1,
        contact: None,
    }
}

#[test]
fn steps_rebuild_the_progress_of_unsettled_rows_only() {
    let d = Dir::new();
    let (mut lock, _) = d.lock();
    let mut j = Journal::start(&mut lock, &header()).unwrap();
    // Row 1 finished all its steps; row 2 stopped after one value (killed); row 3 is
    // partial and the run completed.
    j.step(1, &create_step(5)).unwrap();
    j.step(1, &field_step("Company", 200)).unwrap();
    j.record(1, &created(5)).unwrap();
    j.step(2, &create_step(6)).unwrap();
    j.step(2, &field_step("Company", 200)).unwrap();
    j.step(3, &create_step(7)).unwrap();
    j.step(3, &field_step("Plan", 404)).unwrap();
    let mut partial = created(7);
    partial.kind = Kind::Partial;
    j.record(3, &partial).unwrap();
    j.end(EndState::Completed).unwrap();
    drop((j, lock));
    let mut p = d.previous();
    assert_eq!(p.partial(), 1);
    assert_eq!(
        p.settled_outcome(3),
        None,
        "a partial row is resumed, even finished"
    );
    assert_eq!(p.take_progress(1), None, "settled: no progress kept");
    let two = p.take_progress(2).unwrap();
    assert_eq!(two.contact, Some(created(6)));
    assert_eq!(two.done, ["Company"]);
    let three = p.take_progress(3).unwrap();
    assert!(three.has_contact() && three.done.is_empty());
    assert_eq!(three.history, ["create 201", "Plan 404"]);
}

#[test]
fn every_line_is_a_tagged_record() {
    let d = Dir::new();
    let (mut lock, _) = d.lock();
    let mut j = Journal::start(&mut lock, &header()).unwrap();
    j.record(1, &created(5)).unwrap();
    j.step(2, &create_step(6)).unwrap();
    j.end(EndState::Completed).unwrap();
    let text = std::fs::read_to_string(d.journal()).unwrap();
    let tags: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["t"].to_string())
        .collect();
    assert_eq!(tags, ["\"header\"", "\"row\"", "\"step\"", "\"end\""]);
    assert!(
        text.starts_with("{\"t\":\"header\",\"version\":2,"),
        "{text}"
    );
    drop((j, lock));
    let p = d.previous();
    assert!(p.finished());
    assert_eq!(p.settled_outcome(1), Some(created(5)));
    assert_eq!(p.settled_outcome(2), None, "a step does not settle a row");
}

#[test]
fn torn_line_append_reread_round_trip() {
    let d = Dir::new();
    let (mut lock, _) = d.lock();
    let mut j = Journal::start(&mut lock, &header()).unwrap();
    j.record(2, &created(7)).unwrap();
    j.record(1, &Outcome::new(Kind::Failed)).unwrap();
    j.flush().unwrap();
    drop((j, lock));
    // A full disk or a crash mid-write: a line without its newline.
    d.tear(b"{\"t\":\"row\",\"row\":3,\"kind\":\"crea");

    let (mut lock, found) = d.lock();
    let Found::Run(p) = found else { panic!() };
    assert_eq!(p.settled_outcome(2), Some(created(7)));
    assert_eq!(p.settled_outcome(1), None);
    assert!(p.maybe_sent(1) && p.maybe_sent(3) && !p.maybe_sent(2));
    assert!(!p.finished());
    let mut j = Journal::append(&mut lock, p.valid_len()).unwrap();
    j.record(1, &created(8)).unwrap();
    j.record(3, &created(9)).unwrap();
    j.end(EndState::Completed).unwrap();
    drop((j, lock, p));

    // The torn bytes are gone; every later open reads the file cleanly.
    let text = std::fs::read_to_string(d.journal()).unwrap();
    assert!(
        !text.contains("crea\n") && !text.contains("\"crea{"),
        "{text}"
    );
    for _ in 0..2 {
        let p = d.previous();
        assert!(p.finished());
        assert_eq!(p.settled(), 3);
        assert_eq!(p.settled_outcome(1), Some(created(8)));
        assert_eq!(p.settled_outcome(3), Some(created(9)));
    }
}

#[test]
fn a_corrupt_complete_line_is_an_error_not_a_tail() {
    let d = Dir::new();
    let (mut lock, _) = d.lock();
    Journal::start(&mut lock, &header()).unwrap();
    drop(lock);
    d.tear(b"{\"row\":1}{\"row\":2}\n");
    let err = Lock::acquire(&d.journal(), &d.results(), false)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("line 2 is not a journal record"), "{err}");
}

#[test]
fn a_v1_journal_is_recognised() {
    let d = Dir::new();
    std::fs::write(
        d.journal(),
        "{\"version\":1,\"input\":\"in.csv\",\"input_size\":1,\"input_hash\":\"x\",\
         \"mapping\":\"m\",\"on_exists\":\"skip\",\"started_at\":\"2026-01-01T00:00:00Z\"}\n\
         {\"row\":1,\"kind\":\"created\"}\n",
    )
    .unwrap();
    assert!(matches!(d.lock().1, Found::Old { version: 1 }));
    let (mut lock, found) = d.lock();
    let ui = Ui::new(true, 0);
    let err = admit(&mut lock, found, &header(), how(&d, false, false), &ui)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("journal format 1") && err.contains("--restart"),
        "{err}"
    );
}

#[test]
fn deleting_the_journal_does_not_release_the_lock() {
    let d = Dir::new();
    let (mut held, _) = d.lock();
    let mut j = Journal::start(&mut held, &header()).unwrap();
    let err = Lock::acquire(&d.journal(), &d.results(), false)
        .err()
        .unwrap();
    assert!(err.to_string().contains("another import"), "{err}");
    std::fs::remove_file(d.journal()).unwrap();
    let err = Lock::acquire(&d.journal(), &d.results(), false)
        .err()
        .unwrap();
    assert!(err.to_string().contains("another import"), "{err}");
    let err = j.end(EndState::Completed).unwrap_err().to_string();
    assert!(err.contains("deleted or replaced"), "{err}");
    drop((j, held));
    assert!(Lock::acquire(&d.journal(), &d.results(), false).is_ok());
}

#[test]
fn options_that_change_what_is_sent_must_match() {
    let d = Dir::new();
    let (mut lock, _) = d.lock();
    Journal::start(&mut lock, &header()).unwrap();
    drop(lock);
    let p = d.previous();
    assert_eq!(p.mismatch(&header()), None);
    let mut other = header();
    other
        .options
        .insert("--encoding".into(), "windows1252".into());
    let why = p.mismatch(&other).unwrap();
    assert!(why.contains("--encoding differs"), "{why}");
    other = header();
    other.input_size = 11;
    assert!(p.mismatch(&other).unwrap().contains("input file changed"));
}

fn how(d: &Dir, resume: bool, restart: bool) -> Admission<'static> {
    let results: &'static Path = Box::leak(d.results().into_boxed_path());
    let rejects: &'static Path = Box::leak(d.dir.path().join("in.rejects.csv").into_boxed_path());
    Admission {
        resume,
        restart,
        dry_run: false,
        stdin: false,
        results,
        rejects,
    }
}

#[test]
fn a_header_only_journal_refuses_a_plain_rerun() {
    let d = Dir::new();
    let (mut lock, _) = d.lock();
    Journal::start(&mut lock, &header()).unwrap();
    drop(lock);
    let ui = Ui::new(true, 0);
    let (mut lock, found) = d.lock();
    let err = admit(&mut lock, found, &header(), how(&d, false, false), &ui)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("unfinished run") && err.contains("--resume"),
        "{err}"
    );
    let (mut lock, found) = (lock, d_found(&d));
    let mut dry = how(&d, true, false);
    dry.dry_run = true;
    let err = admit(&mut lock, found, &header(), dry, &ui).err().unwrap();
    assert!(err.to_string().contains("--dry-run"), "{err}");
}

fn d_found(d: &Dir) -> Found {
    let file = std::fs::File::open(d.journal()).unwrap();
    read::scan(&file).unwrap()
}

#[test]
fn a_finished_run_is_kept_aside_by_a_rerun() {
    let d = Dir::new();
    std::fs::write(d.results(), "old results\n").unwrap();
    let (mut lock, _) = d.lock();
    let mut j = Journal::start(&mut lock, &header()).unwrap();
    j.record(1, &created(1)).unwrap();
    j.end(EndState::Completed).unwrap();
    drop((j, lock));
    let ui = Ui::new(true, 0);
    let (mut lock, found) = d.lock();
    let admitted = admit(&mut lock, found, &header(), how(&d, false, false), &ui).unwrap();
    assert!(admitted.is_none());
    let names: Vec<String> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let kept = names
        .iter()
        .find(|n| n.starts_with("r.") && n.ends_with("Z.csv"))
        .unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(
        std::fs::read_to_string(d.dir.path().join(kept)).unwrap(),
        "old results\n"
    );
    assert!(names.contains(&format!("{kept}.journal")), "{names:?}");
    // The new journal is empty and locked by this run.
    assert_eq!(std::fs::read(d.journal()).unwrap().len(), 0);
    assert!(Lock::acquire(&d.journal(), &d.results(), false).is_err());
}

#[test]
fn resume_without_an_earlier_run_starts_one() {
    let d = Dir::new();
    let ui = Ui::new(true, 0);
    let (mut lock, found) = d.lock();
    assert!(matches!(found, Found::Nothing));
    assert!(
        admit(&mut lock, found, &header(), how(&d, true, false), &ui)
            .unwrap()
            .is_none()
    );
}

#[test]
fn only_rows_that_may_have_been_stored_count_as_maybe_sent() {
    let d = Dir::new();
    let (mut lock, _) = d.lock();
    let mut j = Journal::start(&mut lock, &header()).unwrap();
    let mut refused = Outcome::new(Kind::Failed);
    refused.http_status = Some(401);
    refused.not_stored = true;
    j.record(1, &refused).unwrap();
    j.record(2, &Outcome::new(Kind::Failed)).unwrap();
    j.end(EndState::Aborted).unwrap();
    drop((j, lock));
    // An orderly stop recorded every row it sent: row 3 was never sent, row 1 was refused.
    let p = d.previous();
    assert!(!p.maybe_sent(1) && p.maybe_sent(2) && !p.maybe_sent(3));
    assert_eq!(p.settled_outcome(1), None, "a refused row is sent again");
    drop(p);

    // A resumed run killed before its end record: its rows in flight have no record.
    let (mut lock, found) = d.lock();
    let Found::Run(p) = found else { panic!() };
    let mut j = Journal::append(&mut lock, p.valid_len()).unwrap();
    j.record(4, &created(5)).unwrap();
    j.flush().unwrap();
    drop((j, lock, p));
    let p = d.previous();
    assert!(p.maybe_sent(3) && !p.maybe_sent(1) && !p.maybe_sent(4));
    drop(p);

    // Resumed again and stopped in order: the killed run before it still counts.
    let (mut lock, found) = d.lock();
    let Found::Run(p) = found else { panic!() };
    let mut j = Journal::append(&mut lock, p.valid_len()).unwrap();
    j.end(EndState::Interrupted).unwrap();
    drop((j, lock, p));
    assert!(d.previous().maybe_sent(3));
}
