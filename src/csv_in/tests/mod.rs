//! Tests of the CSV reader: conformance (csv-spectrum, rust-csv-core, CSVW), dialects and
//! limits, encodings, and properties against `csv_core`. Helpers shared by all of them here.

use super::*;
use csv_core::ReaderBuilder;
use proptest::prelude::*;
use std::io::Write;
use std::path::PathBuf;

const M: usize = 1 << 20;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn open_bytes(data: &[u8], opts: &Options) -> Result<CsvInput, InputError> {
    CsvInput::from_reader("t.csv", io::Cursor::new(data.to_vec()), opts)
}

fn drain(inp: &mut CsvInput) -> Result<Vec<Record>, InputError> {
    let mut out = Vec::new();
    let mut rec = Record::default();
    while inp.read_record(&mut rec)? {
        out.push(rec.clone());
    }
    Ok(out)
}

fn read_all(data: &[u8], opts: &Options) -> Result<(CsvInput, Vec<Record>), InputError> {
    let mut inp = open_bytes(data, opts)?;
    let recs = drain(&mut inp)?;
    Ok((inp, recs))
}

fn auto() -> Options {
    Options::default()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

mod conformance;
mod dialect;
mod encoding;
mod properties;
