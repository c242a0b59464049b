//! Contacts deleted or created while an export walks the newest-first pages: every contact
//! present from the start to the end is written exactly once (issue 12.5), driven both through
//! the contact stream in-process (deterministic: the delete lands between two pages) and
//! through the binary against a sandbox that changes during the run.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use wolfeo_bulk::api::client::{Client, ClientConfig};
use wolfeo_bulk::api::retry::RetryPolicy;
use wolfeo_bulk::export::walk::{Walk, Walker};
use wolfeo_bulk::export::writer::Progress;
use wolfeo_bulk::limiter::{Pacer, Rate};
use wolfeo_bulk::sandbox::{Config, SandboxHandle};
use wolfeo_bulk::secret::ApiKey;
use wolfeo_bulk::shutdown::Shutdown;
use wolfeo_bulk::ui::Ui;

use super::{ids, seeded, summary};
use crate::harness::{Env, bin, read_csv, sandbox, std_bin, unlimited};

fn client(sb: &SandboxHandle) -> Arc<Client> {
    let config = ClientConfig {
        base_url: sb.base_url().parse().unwrap(),
        api_key: ApiKey::new(sb.api_key()),
        rate: Rate::Unlimited,
        policy: RetryPolicy::default(),
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        max_idle: 4,
    };
    let pacer = Arc::new(Pacer::new(config.rate));
    Arc::new(Client::new(&config, pacer, Shutdown::new(), Ui::new(true, 0)).unwrap())
}

fn walker(sb: &SandboxHandle, window: usize) -> Walker {
    let query = vec![("period", "all".to_string())];
    Walker::new(
        client(sb),
        query,
        window,
        None,
        Arc::new(Progress::default()),
    )
}

/// Ids yielded, counted: a contact yielded twice shows up as 2.
fn tally(ids: impl IntoIterator<Item = u64>) -> HashMap<u64, u32> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// The case: 350 contacts, contact 345 deleted after page 1 was read. Without the
/// repair contact 250 slid onto page 1 and was never written, while the count matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_after_page_one_loses_no_contact() {
    let sb = seeded(350, 0);
    let before: BTreeSet<u64> = sb.contacts().iter().map(|c| c.id).collect();
    assert_eq!(before, (1..=350).collect());
    let mut walk = walker(&sb, 1);
    let first = walk.next_batch().await.unwrap().unwrap();
    assert_eq!(first.first().unwrap().id, 350);
    assert_eq!(first.len(), 100);
    assert!(sb.delete_contact(345));
    let mut got: Vec<u64> = first.iter().map(|c| c.id).collect();
    while let Some(batch) = walk.next_batch().await.unwrap() {
        got.extend(batch.iter().map(|c| c.id));
    }
    let counts = tally(got.iter().copied());
    assert!(counts.values().all(|&n| n == 1), "an id yielded twice");
    assert!(counts.contains_key(&250), "contact 250 was skipped");
    for id in before.iter().filter(|&&id| id != 345) {
        assert!(counts.contains_key(id), "contact {id} missing");
    }
    let w: Walk = walk.finish();
    assert!(w.complete, "{w:?}");
    assert_eq!((w.total_first, w.total_last), (Some(350), Some(349)));
    assert_eq!(w.distinct, 350, "345 was written before it was deleted");
    assert!(w.shifts >= 1 && w.pages_reread >= 1, "{w:?}");
    // Newest first, 250 included in its place.
    let pos = |id| got.iter().position(|&g| g == id).unwrap();
    assert!(
        pos(251) < pos(250) && pos(250) < pos(249),
        "{:?}",
        &got[95..105]
    );
}

/// Deletes anywhere, creates at the front, between every two pages and with pages in flight:
/// the stream yields each id once and every contact present throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_creates_between_pages_never_lose_a_contact() {
    for window in [1, 4] {
        let sb = seeded(1000, 0);
        let start: BTreeSet<u64> = sb.contacts().iter().map(|c| c.id).collect();
        let mut walk = walker(&sb, window);
        let mut got = Vec::new();
        let mut step = 0u64;
        while let Some(batch) = walk.next_batch().await.unwrap() {
            got.extend(batch.iter().map(|c| c.id));
            // After each of the first pages: delete one contact already read and one not
            // read yet, create one.
            step += 1;
            if step <= 6 {
                sb.delete_contact(1000 - step * 37 % 400);
                sb.delete_contact(step * 53 % 600 + 1);
                sb.insert_contact(&format!("new{window}-{step}@example.com"));
            }
        }
        let end: BTreeSet<u64> = sb.contacts().iter().map(|c| c.id).collect();
        let counts = tally(got.iter().copied());
        assert!(
            counts.values().all(|&n| n == 1),
            "window {window}: an id twice"
        );
        let missing: Vec<&u64> = start
            .intersection(&end)
            .filter(|id| !counts.contains_key(id))
            .collect();
        assert!(missing.is_empty(), "window {window}: missing {missing:?}");
        let w = walk.finish();
        assert!(w.complete, "window {window}: {w:?}");
        assert!(
            w.shifts > 0,
            "window {window}: the deletes shifted the pages"
        );
        // Creates and deletes with pages in flight: the head check sends it round again.
        assert_eq!(w.sequential_pass, window > 1, "{w:?}");
        eprintln!(
            "window {window}: {} pages read ({} re-read, {} shifts, sequential pass: {}) \
             for {} contacts",
            w.pages,
            w.pages_reread,
            w.shifts,
            w.sequential_pass,
            got.len()
        );
    }
}

/// The stream is usable on its own (a `verify` command will consume it without the writer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contact_stream_needs_no_writer() {
    let sb = seeded(250, 0);
    let mut walk = walker(&sb, 3);
    let contacts: Vec<_> = walk.contacts().try_collect().await.unwrap();
    let want: Vec<u64> = sb.contacts().iter().map(|c| c.id).collect();
    assert_eq!(contacts.iter().map(|c| c.id).collect::<Vec<_>>(), want);
    let w = walk.finish();
    assert!(w.complete);
    // Three pages and the head check that proves nothing changed meanwhile.
    assert_eq!((w.pages, w.pages_reread, w.shifts), (4, 1, 0));
    assert!(!w.sequential_pass);
}

/// The binary with `--strict` while another user deletes and creates contacts: exit 0, the
/// state says complete, and the file holds every contact present throughout exactly once.
#[test]
fn strict_export_while_contacts_are_deleted_and_created() {
    let env = Env::new();
    let sb = sandbox(Config {
        seed_contacts: 3000,
        latency: Some((Duration::from_millis(10), Duration::from_millis(30))),
        ..unlimited()
    });
    let start: BTreeSet<u64> = sb.contacts().iter().map(|c| c.id).collect();
    let out = env.path("moving.csv");
    let json = env.path("moving.json");
    let mut child = std_bin(&sb)
        .args(["export", "-q", "--strict", "--rate", "unlimited", "-o"])
        .arg(&out)
        .arg("--summary-json")
        .arg(&json)
        .spawn()
        .unwrap();
    // A few dozen changes spread over the walk, as a busy account would see.
    let mut n = 0u64;
    while child.try_wait().unwrap().is_none() && n < 40 {
        n += 1;
        sb.delete_contact(3000 - (n * 7919) % 3000);
        sb.insert_contact(&format!("writer{n}@example.com"));
        std::thread::sleep(Duration::from_millis(15));
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(n > 5, "the writer ran during the export ({n})");
    let end: BTreeSet<u64> = sb.contacts().iter().map(|c| c.id).collect();
    let written = ids(&read_csv(&out).1);
    let counts = tally(written.iter().copied());
    assert!(counts.values().all(|&c| c == 1), "an id written twice");
    let missing: Vec<&u64> = start
        .intersection(&end)
        .filter(|id| !counts.contains_key(id))
        .collect();
    assert!(missing.is_empty(), "missing {missing:?}");
    let s = summary(&json);
    assert_eq!(s["complete"], true, "{s}");
    eprintln!(
        "strict export while {n} deleted and {n} created: {} rows, {} pages re-read, {} shifts, \
         {} requests",
        written.len(),
        s["pages_reread"],
        s["shifts_repaired"],
        s["requests"]
    );
}

/// An incremental run that needs three pages (one at a time) writes exactly the new contacts.
#[test]
fn an_incremental_run_over_several_pages_writes_every_new_contact() {
    let env = Env::new();
    let sb = seeded(120, 0);
    let state = env.path("state.json");
    let run = |name: &str| {
        bin(&sb)
            .args(["export", "-q", "--rate", "unlimited", "--state"])
            .arg(&state)
            .arg("-o")
            .arg(env.path(name))
            .assert()
            .code(0);
        ids(&read_csv(&env.path(name)).1)
    };
    assert_eq!(run("a.csv").len(), 120);
    let new: BTreeSet<u64> = (0..250)
        .map(|i| sb.insert_contact(&format!("n{i}@example.com")))
        .collect();
    let got: BTreeSet<u64> = run("b.csv").into_iter().collect();
    assert_eq!(got, new);
}
