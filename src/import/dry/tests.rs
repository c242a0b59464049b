//! The dry run's threads against the async pipeline, on the same varied input: the results
//! and rejects files must be the same bytes, the counts the same numbers. The pipeline side
//! runs without any fast path (the general CSV reader, the full email and contact checks), so
//! the test also holds every shortcut of the dry run to the reference decisions.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::batch::Share;
use super::split;
use crate::csv_in::{CsvInput, Options};
use crate::import::collect::{Collector, Counts, Stop};
use crate::import::pipeline::Pipeline;
use crate::import::plan::{Planner, TagIndex};
use crate::mapping::Mapping;
use crate::results::{Kind, RejectsWriter, ResultsWriter};
use crate::shutdown::Shutdown;

/// Headers that exercise fallback emails, opt-in and opt-out consent, id lists, tag names and
/// an unmapped column.
const HEADERS: [&str; 3] = [
    "Email,First Name,Last Name,Opt-in,Tag IDs,Notes",
    "E-mail 1 - Value,E-mail 2 - Value,First Name,Unsubscribed,GDPR,Sequence IDs,Tags",
    "email;nom;prenom;rgpd",
];

/// A deterministic CSV of `rows` records over `HEADERS[shape]`, mixing what real files hold:
/// plain, upper-case and repeated emails, addresses the two egulias versions dispute or both
/// refuse, empty cells, names over 255 characters, cells with quotes, delimiters and line
/// breaks, consent words, junk id lists, unknown tag names, short and over-long records.
pub(crate) fn varied_csv(seed: u64, shape: usize, rows: usize) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let header = HEADERS[shape];
    let sep = if header.contains(';') { ';' } else { ',' };
    let names: Vec<&str> = header.split(sep).collect();
    let mut out = format!("{header}\n");
    for i in 0..rows {
        let mut cells: Vec<String> = (0..names.len())
            .map(|c| cell(&mut rng, i, c, names[c]))
            .collect();
        match rng.random_range(0..40) {
            0 => cells.push("extra".into()),
            1 => cells.truncate(1),
            _ => {}
        }
        let line: Vec<String> = cells.iter().map(|c| quote(c, sep)).collect();
        out.push_str(&line.join(&sep.to_string()));
        if rng.random_range(0..10) == 0 {
            out.push('\r');
        }
        out.push('\n');
    }
    out
}

fn cell(rng: &mut StdRng, i: usize, column: usize, name: &str) -> String {
    const EMAILS: [&str; 14] = [
        "",
        "   ",
        "bad",
        "a b@c.d",
        "a@b_c.com",
        "\"quoted local\"@example.com",
        "ü@exämple.de",
        "'=x@y.zz",
        " spaced@example.com ",
        "a@IPv6.com",
        "x..y@example.com",
        "user0@example.com",
        "USER1@EXAMPLE.COM",
        "Dup@Example.com",
    ];
    const CONSENT: [&str; 10] = [
        "",
        "yes",
        "no",
        "1",
        "0",
        "maybe",
        "unsubscribed",
        "2021-03-04",
        "oui",
        "x",
    ];
    const LISTS: [&str; 7] = ["", "", "3", "1, 2", "12,abc", "1;2", "1,,2"];
    const TAGS: [&str; 6] = ["", "", "", "VIP", "vip; Ghost", "\"VIP\""];
    let pick = |rng: &mut StdRng, from: &[&str]| from[rng.random_range(0..from.len())].to_string();
    match (column, name) {
        (0 | 1, _) if name != "nom" => match rng.random_range(0..10) {
            0..=2 => pick(rng, &EMAILS),
            _ => format!("user{}@example.com", rng.random_range(0..i + 20)),
        },
        (_, "Tags") => pick(rng, &TAGS),
        (_, "Tag IDs" | "Sequence IDs") => pick(rng, &LISTS),
        (_, "Opt-in" | "Unsubscribed" | "GDPR" | "rgpd") => pick(rng, &CONSENT),
        _ => match rng.random_range(0..12) {
            0 => "é".repeat(254 + rng.random_range(0..4)),
            1 => "Say \"hi\", then\nleave".into(),
            2 => String::new(),
            _ => format!("Name{i}"),
        },
    }
}

fn quote(cell: &str, sep: char) -> String {
    if cell.contains([sep, '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// What a finished path left: results bytes, rejects bytes, counts by outcome.
type Left = (Vec<u8>, Vec<u8>, Vec<u64>, bool);

/// `share`: how many rows in [`Share::STEPS`] the dry run's reader plans (`None`: adaptive).
fn one_path(text: &[u8], dry: bool, sync: bool, share: Option<usize>) -> Left {
    let dir = tempfile::tempdir().unwrap();
    let mut input = CsvInput::from_reader(
        "varied.csv",
        std::io::Cursor::new(text.to_vec()),
        &Options::default(),
    )
    .unwrap();
    if !sync {
        input = input.without_plain_lines();
    }
    let headers = input.headers().to_vec();
    let mapping = Mapping::resolve(&headers, &[]).unwrap();
    let tags = TagIndex::from([("vip".to_string(), 7)]);
    let mut planner = Planner::new(mapping, headers.clone(), Some(tags), None, dry);
    if !sync {
        planner = planner.with_full_checks();
    }
    let results = dir.path().join("r.csv");
    let rejects = dir.path().join("j.csv");
    let counts = Arc::new(Counts::default());
    let collector = Collector::new(
        ResultsWriter::create(&results, &headers).unwrap(),
        RejectsWriter::create(&rejects, &headers, input.dialect()).unwrap(),
        None,
        Arc::clone(&counts),
    );
    let shutdown = Shutdown::new();
    let (stop, collector) = if sync {
        // Read as a pipe is read (batches cut where the buffer ends) when adaptive.
        let stream = share.is_none();
        let share = share.map_or_else(Share::adaptive, Share::fixed);
        split(input, planner, collector, &shutdown, share, stream)
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(
            Pipeline {
                input,
                planner,
                collector,
                sender: None,
                client: None,
                shutdown: Arc::clone(&shutdown),
                concurrency: 4,
                stream: false,
            }
            .run(),
        )
    };
    assert!(collector.finish().unwrap().is_none());
    let counts = Kind::ALL.iter().map(|&k| counts.get(k)).collect();
    (
        std::fs::read(&results).unwrap(),
        std::fs::read(&rejects).unwrap(),
        counts,
        matches!(stop, Stop::Completed),
    )
}

#[test]
fn the_dry_run_threads_write_what_the_pipeline_writes() {
    let mut kinds_seen = [false; Kind::ALL.len()];
    for seed in 0..12 {
        let shape = seed as usize % HEADERS.len();
        // Seed 0 spans batches (1024 records each), the others one.
        let rows = if seed == 0 { 2600 } else { 400 };
        let mut text = varied_csv(seed, shape, rows);
        if seed % 4 == 1 {
            text.insert(0, '\u{FEFF}');
        }
        // `dry: false` without a sender too: rows to send are `not_attempted` on both paths.
        for dry in [true, false] {
            let pipeline = one_path(text.as_bytes(), dry, false, None);
            // However the planning is split between the two threads.
            let share = [None, Some(0), Some(3), Some(Share::STEPS)][seed as usize % 4];
            let one_thread = one_path(text.as_bytes(), dry, true, share);
            assert!(pipeline.3 && one_thread.3, "seed {seed}: both complete");
            assert_eq!(pipeline.2, one_thread.2, "seed {seed}: counts");
            assert!(
                pipeline.0 == one_thread.0,
                "seed {seed}, shape {shape}: results differ"
            );
            assert!(pipeline.1 == one_thread.1, "seed {seed}: rejects differ");
            for (seen, n) in kinds_seen.iter_mut().zip(&pipeline.2) {
                *seen |= *n > 0;
            }
        }
    }
    // The input really is varied: every locally decided outcome occurred.
    for kind in [
        Kind::WouldCreate,
        Kind::Invalid,
        Kind::Duplicate,
        Kind::NotAttempted,
    ] {
        assert!(kinds_seen[kind.index()], "no {kind:?} row");
    }
}

#[test]
fn a_read_error_stops_both_paths_after_the_same_rows() {
    let mut text = varied_csv(99, 0, 50).into_bytes();
    text.extend_from_slice(b"bad\xFF@x.co,,,,,\nlate@x.co,,,,,\n");
    let pipeline = one_path(&text, true, false, None);
    let one_thread = one_path(&text, true, true, Some(5));
    assert!(!pipeline.3 && !one_thread.3);
    assert_eq!(pipeline.0, one_thread.0);
    assert_eq!(pipeline.2, one_thread.2);
}
