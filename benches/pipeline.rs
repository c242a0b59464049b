//! In-process cost per row of the pure parts of an import (issue 7).
//!
//! No network, no runtime: what the reader thread and the collector spend on one row, so a
//! regression in parsing, mapping, validation or the results file shows up here before it
//! shows up end to end (`benches/e2e.sh`). Every group reports elements = rows, so criterion
//! prints rows/s. Each group measures for a few seconds: `cargo bench --bench pipeline` takes
//! well under two minutes on two cores.

use std::hint::black_box;
use std::io::Cursor;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use wolfeo_bulk::csv_in::{CsvInput, Options, Record};
use wolfeo_bulk::import::dedupe::DupSet;
use wolfeo_bulk::import::plan::{Planner, Work};
use wolfeo_bulk::mapping::Mapping;
use wolfeo_bulk::results::{Kind, Outcome, ResultsWriter};
use wolfeo_bulk::validate::email::is_valid_email;
use wolfeo_bulk::validate::fast;

/// Rows per iteration of the whole-file benches: enough to amortise set-up, small enough
/// that an iteration stays well under a millisecond per thousand rows.
const ROWS: usize = 10_000;

const HEADER: &str = "Email,First Name,Last Name,Email Marketing,GDPR,Company\n";

/// A file shaped like a real export: aliased headers, one quoted cell with a comma, one
/// unmapped column.
fn generated_csv(rows: usize) -> Bytes {
    let mut s = String::with_capacity(HEADER.len() + rows * 72);
    s.push_str(HEADER);
    for i in 0..rows {
        let quoted = if i % 10 == 0 {
            "\"Acme, Inc.\""
        } else {
            "Acme"
        };
        s.push_str(&format!(
            "user.{i}@example.com,First{i},Last{i},yes,true,{quoted}\n"
        ));
    }
    Bytes::from(s)
}

fn open(bytes: &Bytes) -> CsvInput {
    CsvInput::from_reader("bench.csv", Cursor::new(bytes.clone()), &Options::default())
        .expect("the generated file is valid CSV")
}

fn read_all(bytes: &Bytes) -> (Vec<String>, Vec<Record>) {
    let mut input = open(bytes);
    let headers = input.headers().to_vec();
    let mut records = Vec::with_capacity(ROWS);
    let mut record = Record::default();
    while input.read_record(&mut record).expect("readable") {
        records.push(record.clone());
    }
    (headers, records)
}

fn csv_read(c: &mut Criterion) {
    let bytes = generated_csv(ROWS);
    let mut g = c.benchmark_group("csv_read");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("10k_rows", |b| {
        b.iter(|| {
            let mut input = open(&bytes);
            let mut record = Record::default();
            let mut n = 0u64;
            while input.read_record(&mut record).expect("readable") {
                n += record.fields.len() as u64;
            }
            black_box(n)
        })
    });
    g.finish();
}

fn plan(c: &mut Criterion) {
    let (headers, records) = read_all(&generated_csv(ROWS));
    let mapping = Mapping::resolve(&headers, &[]).expect("aliases map the header");
    let mut g = c.benchmark_group("plan");
    g.throughput(Throughput::Elements(ROWS as u64));
    // ~20 ms an iteration: flat sampling keeps 30 samples inside the 3 s budget.
    g.sampling_mode(SamplingMode::Flat);
    // A fresh planner per iteration: a reused one would see every row as an in-file duplicate.
    for (name, dry_run) in [("send_10k_rows", false), ("dry_run_10k_rows", true)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || Planner::new(mapping.clone(), headers.clone(), None, None, dry_run),
                |mut planner| {
                    let mut sent = 0u32;
                    for record in &records {
                        if let Work::Send(p) = planner.plan(record, false) {
                            sent += p.body.len() as u32;
                        }
                    }
                    black_box(sent)
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn email(c: &mut Criterion) {
    let emails: Vec<String> = (0..1000)
        .map(|i| match i % 4 {
            0 => format!("user.{i}@example.com"),
            1 => format!("First.Last+tag{i}@sub.example.co.uk"),
            2 => format!("not an email {i}"),
            _ => format!("x{i}@y"),
        })
        .collect();
    let mut g = c.benchmark_group("email");
    g.throughput(Throughput::Elements(emails.len() as u64));
    g.bench_function("is_valid_email_1k", |b| {
        b.iter(|| {
            emails
                .iter()
                .filter(|e| is_valid_email(black_box(e)))
                .count()
        })
    });
    // What check_contact runs: the one-pass plain-address check, the full rule otherwise.
    g.bench_function("fast_then_full_1k", |b| {
        b.iter(|| {
            emails
                .iter()
                .filter(|e| fast::accepts(black_box(e)) || is_valid_email(e))
                .count()
        })
    });
    g.finish();
}

fn dedupe(c: &mut Criterion) {
    let keys: Vec<String> = (0..ROWS).map(|i| format!("user.{i}@example.com")).collect();
    let mut g = c.benchmark_group("dedupe");
    g.throughput(Throughput::Elements(2 * ROWS as u64));
    // A fresh set per iteration: 10k new keys, then the same 10k again as repeats.
    g.bench_function("10k_new_then_10k_repeats", |b| {
        b.iter_batched(
            DupSet::default,
            |mut set| {
                for (row, k) in (1..).zip(&keys) {
                    black_box(set.check(k.as_bytes(), row).expect("in memory"));
                }
                for k in &keys {
                    black_box(set.check(k.as_bytes(), 0).expect("in memory"));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn results_write(c: &mut Criterion) {
    let (headers, records) = read_all(&generated_csv(100));
    // /dev/null: the CPU cost of formatting a line, not the disk.
    let mut writer =
        ResultsWriter::create(std::path::Path::new("/dev/null"), &headers).expect("/dev/null");
    let mut created = Outcome::new(Kind::Created);
    created.http_status = Some(201);
    created.contact_id = Some(123_456);
    created.attempts = 1;
    let mut g = c.benchmark_group("results");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("write_100_created_lines", |b| {
        b.iter(|| {
            for r in &records {
                writer
                    .write(r.number, &r.fields, r.unquoted, black_box(&created))
                    .expect("write to /dev/null");
            }
        })
    });
    g.finish();
    writer.flush().expect("flush to /dev/null");
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = csv_read, plan, email, dedupe, results_write
}
criterion_main!(benches);
