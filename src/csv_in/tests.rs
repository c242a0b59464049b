//! Conformance (csv-spectrum, rust-csv-core, CSVW), hostile-input and property tests.

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

// --- a minimal JSON reader for the fixtures (no serde in this crate) ---

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(s: &str) -> Json {
        let mut p = JsonParser {
            s: s.as_bytes(),
            i: 0,
        };
        let v = p.value();
        p.ws();
        assert_eq!(p.i, p.s.len(), "trailing JSON");
        v
    }
    fn get(&self, k: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(kk, _)| kk == k).map(|(_, v)| v),
            _ => None,
        }
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            other => panic!("not an array: {other:?}"),
        }
    }
    fn obj(&self) -> &[(String, Json)] {
        match self {
            Json::Obj(m) => m,
            other => panic!("not an object: {other:?}"),
        }
    }
    fn text(&self) -> &str {
        match self {
            Json::Str(s) | Json::Num(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        let hit = self.s.get(self.i) == Some(&c);
        self.i += hit as usize;
        hit
    }
    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                if self.eat(b'}') {
                    return Json::Obj(m);
                }
                loop {
                    self.ws();
                    let k = self.string();
                    assert!(self.eat(b':'));
                    m.push((k, self.value()));
                    if self.eat(b'}') {
                        return Json::Obj(m);
                    }
                    assert!(self.eat(b','));
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                if self.eat(b']') {
                    return Json::Arr(a);
                }
                loop {
                    a.push(self.value());
                    if self.eat(b']') {
                        return Json::Arr(a);
                    }
                    assert!(self.eat(b','));
                }
            }
            b'"' => Json::Str(self.string()),
            b't' => {
                self.i += 4;
                Json::Bool(true)
            }
            b'f' => {
                self.i += 5;
                Json::Bool(false)
            }
            b'n' => {
                self.i += 4;
                Json::Null
            }
            _ => {
                let start = self.i;
                while matches!(
                    self.s.get(self.i),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.i += 1;
                }
                assert!(self.i > start, "bad JSON at {start}");
                Json::Num(String::from_utf8(self.s[start..self.i].to_vec()).unwrap())
            }
        }
    }
    fn hex4(&mut self) -> u32 {
        let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(h, 16).unwrap()
    }
    fn string(&mut self) -> String {
        assert_eq!(self.s[self.i], b'"');
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).unwrap(),
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    let ch = match e {
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'u' => {
                            let mut cp = self.hex4();
                            if (0xD800..0xDC00).contains(&cp) {
                                assert_eq!(&self.s[self.i..self.i + 2], b"\\u");
                                self.i += 2;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (self.hex4() - 0xDC00);
                            }
                            char::from_u32(cp).unwrap()
                        }
                        other => other as char,
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                c => out.push(c),
            }
        }
    }
}

/// Checks records against header-keyed JSON objects, in file order.
/// CSVW leaves empty cells out of its JSON (`omits_empty`).
fn assert_matches_objects(
    case: &str,
    inp: &CsvInput,
    recs: &[Record],
    expected: &[Json],
    omits_empty: bool,
) {
    assert_eq!(recs.len(), expected.len(), "{case}: record count");
    let headers = inp.headers();
    for (rec, obj) in recs.iter().zip(expected) {
        assert_eq!(rec.problem, None, "{case}");
        assert_eq!(rec.fields.len(), headers.len(), "{case}");
        for (k, v) in obj.obj() {
            let col = headers.iter().position(|h| h == k);
            let col = col.unwrap_or_else(|| panic!("{case}: no header {k}"));
            assert_eq!(
                rec.fields[col],
                v.text(),
                "{case}: record {} column {k}",
                rec.number
            );
        }
        for (h, cell) in headers.iter().zip(&rec.fields) {
            if obj.get(h).is_none() {
                assert!(
                    omits_empty && cell.is_empty(),
                    "{case}: record {} has {h}={cell:?}",
                    rec.number
                );
            }
        }
    }
}

#[test]
fn csv_spectrum_conformance() {
    let dir = fixture("csv-spectrum/csvs");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let json =
            std::fs::read_to_string(fixture(&format!("csv-spectrum/json/{name}.json"))).unwrap();
        let expected = Json::parse(&json);
        let mut inp = CsvInput::open(&Source::Path(path.clone()), &auto()).unwrap();
        assert_eq!(inp.dialect().delimiter, b',', "{name}");
        let recs = drain(&mut inp).unwrap();
        if name == "location_coordinates" {
            // Known upstream defect (README): single object, wrong phone number.
            assert_eq!(recs.len(), 1);
            assert_eq!(recs[0].fields.len(), 4);
            assert_eq!(recs[0].fields[0], "2095257564");
            for k in ["Location Coordinates", "Cities", "Counties"] {
                let col = inp.headers().iter().position(|h| h == k).unwrap();
                assert_eq!(recs[0].fields[col], expected.get(k).unwrap().text());
            }
        } else {
            assert_matches_objects(&name, &inp, &recs, expected.arr(), false);
        }
        cases += 1;
    }
    assert_eq!(cases, 12);
}

#[test]
fn csvw_conformance() {
    let derived = Json::parse(
        &std::fs::read_to_string(fixture("csvw-no-metadata/expected-records.derived.json"))
            .unwrap(),
    );
    assert_eq!(derived.obj().len(), 8);
    for (test, case) in derived.obj() {
        let csv = case.get("csv").unwrap().text();
        let expected = case.get("expected_records").unwrap().arr();
        // The derived file is our own flattening: hold it to the W3C originals.
        let original = Json::parse(
            &std::fs::read_to_string(fixture(&format!("csvw-no-metadata/{test}.json"))).unwrap(),
        );
        let rows = original.get("tables").unwrap().arr()[0]
            .get("row")
            .unwrap()
            .arr();
        assert_eq!(rows.len(), expected.len(), "{test}");
        for (row, exp) in rows.iter().zip(expected) {
            assert_eq!(&row.get("describes").unwrap().arr()[0], exp, "{test}");
        }
        let mut inp = CsvInput::open(
            &Source::Path(fixture(&format!("csvw-no-metadata/{csv}"))),
            &auto(),
        )
        .unwrap();
        let recs = drain(&mut inp).unwrap();
        assert_matches_objects(test, &inp, &recs, expected, true);
    }
}

#[test]
fn rust_csv_core_conformance() {
    let cases = Json::parse(
        &std::fs::read_to_string(fixture("rust-csv-core/parses_to-cases.json")).unwrap(),
    );
    let (mut ran, mut skipped) = (Vec::new(), Vec::new());
    for case in cases.arr() {
        let name = case.get("name").unwrap().text();
        let input = case.get("input").unwrap().text();
        let expected: Vec<Vec<&str>> = case
            .get("expected")
            .unwrap()
            .arr()
            .iter()
            .map(|r| r.arr().iter().map(Json::text).collect())
            .collect();
        // Only the delimiter is an option of ours; the other builder
        // settings (terminator, quote, escape, comment, ...) are not.
        let delimiters: Vec<Option<u8>> = match case.get("reader_config").unwrap() {
            Json::Null => vec![None, Some(b',')],
            Json::Str(cfg) => match cfg
                .strip_prefix("b.delimiter(b'")
                .and_then(|s| s.strip_suffix("')"))
            {
                Some("\\t") => vec![None, Some(b'\t')],
                Some(d) if d.len() == 1 => vec![Some(d.as_bytes()[0])],
                _ => {
                    skipped.push(name.to_string());
                    continue;
                }
            },
            other => panic!("{other:?}"),
        };
        for delimiter in delimiters {
            let opts = Options {
                delimiter,
                ..auto()
            };
            match read_all(input.as_bytes(), &opts) {
                Err(InputError::Empty { .. }) => assert!(expected.is_empty(), "{name}"),
                Err(e) => panic!("{name}: {e}"),
                Ok((inp, recs)) => {
                    assert_eq!(strs(inp.headers()), expected[0], "{name} {delimiter:?}");
                    assert_eq!(recs.len(), expected.len() - 1, "{name}");
                    for (rec, exp) in recs.iter().zip(&expected[1..]) {
                        assert_eq!(strs(&rec.fields), *exp, "{name}");
                        let ragged = exp.len() != expected[0].len();
                        assert_eq!(rec.problem.is_some(), ragged, "{name}");
                    }
                }
            }
        }
        ran.push(name.to_string());
    }
    assert_eq!(ran.len(), 49, "{ran:?}");
    assert_eq!(
        skipped,
        [
            "term_weird",
            "ascii_delimited",
            "quote_change",
            "quote_delimiter",
            "quote_escapes_no_double",
            "quote_escapes",
            "quote_escapes_change",
            "quote_escapes_with_comma",
            "quoting_disabled",
            "comment_1",
            "comment_2",
            "comment_3",
            "comment_4",
            "comment_5",
        ]
    );
}

#[test]
fn bom_glued_to_first_header_is_stripped() {
    let (inp, recs) = read_all(b"\xEF\xBB\xBFEmail,Name\na@x.com,A\n", &auto()).unwrap();
    assert_eq!(strs(inp.headers()), ["Email", "Name"]);
    assert!(inp.dialect().bom);
    assert_eq!(
        inp.dialect().to_string(),
        "delimiter ',' (default), UTF-8 with BOM"
    );
    assert_eq!(recs[0].line, 2);
    // A BOM elsewhere is data.
    let (inp, _) = read_all("a,\u{feff}b\n".as_bytes(), &auto()).unwrap();
    assert_eq!(strs(inp.headers()), ["a", "\u{feff}b"]);
}

#[test]
fn excel_sep_line_sets_delimiter() {
    for (first, d) in [
        ("sep=;", b';'),
        ("\"sep=;\"", b';'),
        ("SEP=,", b','),
        ("sep=\t", b'\t'),
        ("sep=\\t", b'\t'),
        ("Sep=|", b'|'),
    ] {
        let body = String::from_utf8(vec![d; 1]).unwrap();
        let data = format!("{first}\r\nemail{body}name\r\na@x.com{body}Ann\r\n");
        let (inp, recs) = read_all(data.as_bytes(), &auto()).unwrap();
        assert_eq!(inp.dialect().delimiter, d, "{first}");
        assert_eq!(inp.dialect().delimiter_source, DelimiterSource::SepLine);
        assert_eq!(strs(inp.headers()), ["email", "name"], "{first}");
        assert_eq!(strs(&recs[0].fields), ["a@x.com", "Ann"]);
        assert_eq!(
            (recs[0].number, recs[0].line),
            (1, 3),
            "sep line still counts as line 1"
        );
    }
    let (inp, _) = read_all(b"\xEF\xBB\xBFsep=;\nemail;name\n", &auto()).unwrap();
    assert_eq!(
        inp.dialect().to_string(),
        "delimiter ';' (from \"sep=\" line), UTF-8 with BOM"
    );
    // The flag wins, but the sep line is still not a record.
    let opts = Options {
        delimiter: Some(b','),
        ..auto()
    };
    let (inp, _) = read_all(b"sep=;\nemail,name\n", &opts).unwrap();
    assert_eq!(
        (inp.dialect().delimiter, inp.dialect().delimiter_source),
        (b',', DelimiterSource::Flag)
    );
    assert_eq!(strs(inp.headers()), ["email", "name"]);
    // Not sep lines.
    let (inp, _) = read_all(b"sep=x\n", &auto()).unwrap();
    assert_eq!(strs(inp.headers()), ["sep=x"]);
    assert!(matches!(
        read_all(b"sep=;\n", &auto()),
        Err(InputError::Empty { .. })
    ));
}

#[test]
fn title_lines_are_skipped_before_the_dialect_is_settled() {
    let skip = |n| Options {
        skip_lines: n,
        ..auto()
    };
    // The title's commas would win detection and its text would be the header.
    let data = b"Export, 1 March 2024, all lists\r\n\r\nemail;name\r\na@x.co;A\r\n";
    let (inp, recs) = read_all(data, &skip(1)).unwrap();
    assert_eq!(strs(inp.headers()), ["email", "name"]);
    assert_eq!(inp.dialect().delimiter, b';');
    assert!(inp.dialect().crlf);
    assert_eq!(
        (recs[0].line, strs(&recs[0].fields)),
        (4, vec!["a@x.co", "A"])
    );
    // Counting the blank line too gives the same header; a `sep=` line is not counted.
    let (inp, _) = read_all(data, &skip(2)).unwrap();
    assert_eq!(strs(inp.headers()), ["email", "name"]);
    let (inp, recs) = read_all(b"sep=|\ntitle\nemail|name\na@x.co|A\n", &skip(1)).unwrap();
    assert_eq!(strs(inp.headers()), ["email", "name"]);
    assert_eq!(recs[0].line, 4);
    // Too many lines skipped: nothing left to be the header.
    assert!(matches!(
        read_all(b"title\nemail\n", &skip(3)),
        Err(InputError::Empty { .. })
    ));
    // Lines spanning several reads, and a CR LF cut between two reads.
    for size in [1, 2, 3, 5, 8, 64] {
        let data = b"a long title line\r\nsecond\r\nemail,name\r\nb@x.co,B\r\n";
        let reader = Box::new(io::Cursor::new(data.to_vec()));
        let mut inp = CsvInput::build("t.csv".into(), reader, &skip(2), size, false).unwrap();
        assert_eq!(strs(inp.headers()), ["email", "name"], "buffer {size}");
        let recs = drain(&mut inp).unwrap();
        assert_eq!(
            (recs[0].line, strs(&recs[0].fields)),
            (4, vec!["b@x.co", "B"])
        );
    }
}

#[test]
fn semicolon_file_is_detected() {
    let data =
        "email;prénom;montant\na@x.com;Zoé;1,50\nb@x.com;\"Léa; Marie\";2,00\nc@x.com;Ana;3\n";
    let (inp, recs) = read_all(data.as_bytes(), &auto()).unwrap();
    assert_eq!(inp.dialect().delimiter, b';');
    assert_eq!(inp.dialect().delimiter_source, DelimiterSource::Detected);
    assert_eq!(strs(&recs[1].fields), ["b@x.com", "Léa; Marie", "2,00"]);
    assert!(recs.iter().all(|r| r.problem.is_none()));
    // Header-only semicolon file too.
    let (inp, _) = read_all(b"email;name\n", &auto()).unwrap();
    assert_eq!(inp.dialect().delimiter, b';');
}

#[test]
fn tab_file_is_detected() {
    let (inp, recs) = read_all(b"email\tname\na@x.com\tA, B\nb@x.com\tC\n", &auto()).unwrap();
    assert_eq!(inp.dialect().delimiter, b'\t');
    assert_eq!(
        inp.dialect().to_string(),
        "delimiter '\\t' (detected), UTF-8"
    );
    assert_eq!(strs(&recs[0].fields), ["a@x.com", "A, B"]);
}

#[test]
fn detection_is_conservative() {
    // Semicolons inside quoted cells don't count.
    let data = "email,note\na@x.com,\"a;b;c\"\nb@x.com,\"x;y\"\n";
    let (inp, recs) = read_all(data.as_bytes(), &auto()).unwrap();
    assert_eq!(
        (inp.dialect().delimiter, inp.dialect().delimiter_source),
        (b',', DelimiterSource::Default)
    );
    assert_eq!(strs(&recs[0].fields), ["a@x.com", "a;b;c"]);
    // Consistent comma wins even with more semicolons around.
    let (inp, _) = read_all(b"a;b,c;d\n1;2,3;4\n", &auto()).unwrap();
    assert_eq!(inp.dialect().delimiter, b',');
    // Single column: comma.
    let (inp, _) = read_all(b"email\na@x.com\n", &auto()).unwrap();
    assert_eq!(inp.dialect().delimiter, b',');
    // Semicolon inconsistent on most rows: keep comma.
    let (inp, _) = read_all(b"a;b\n1\n2\n3;4;5\n", &auto()).unwrap();
    assert_eq!(inp.dialect().delimiter, b',');
    // Pipe-delimited exports are detected like ; and tab.
    let (inp, _) = read_all(b"a|b\n1|2\n", &auto()).unwrap();
    assert_eq!(inp.dialect().delimiter, b'|');
    assert_eq!(inp.dialect().delimiter_source, DelimiterSource::Detected);
    // Equally consistent ; and |: nobody can tell, keep comma.
    let (inp, _) = read_all(b"a;b|c\n1;2|3\n", &auto()).unwrap();
    assert_eq!(inp.dialect().delimiter, b',');
    // One ragged row in twenty is tolerated.
    let mut data = String::from("email;name\n");
    for i in 0..19 {
        data.push_str(&format!("u{i}@x.com;N\n"));
    }
    data.push_str("broken@x.com\n");
    let (inp, _) = read_all(data.as_bytes(), &auto()).unwrap();
    assert_eq!(inp.dialect().delimiter, b';');
}

#[test]
fn ragged_rows_are_not_fatal() {
    let data = b"email,first,last\na@x.com,A\nb@x.com,B,C,D,\nc@x.com,C,D\n";
    let (inp, recs) = read_all(data, &auto()).unwrap();
    // Missing trailing cells (spreadsheets drop empty ones) are padded; extra cells are not.
    assert_eq!(recs[0].problem, None);
    assert_eq!(strs(&recs[0].fields), ["a@x.com", "A", ""]);
    assert_eq!(
        recs[1].problem,
        Some(RecordProblem::FieldCount {
            expected: 3,
            found: 5
        })
    );
    assert_eq!(strs(&recs[1].fields), ["b@x.com", "B", "C", "D", ""]);
    assert_eq!(recs[2].problem, None);
    assert_eq!(
        recs[1].problem.unwrap().message(inp.headers()),
        "row has 5 fields but the header has 3"
    );
    assert_eq!(recs.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn huge_cell_is_skipped_and_reading_goes_on() {
    let mut data = b"email,notes\na@x.com,\"".to_vec();
    data.extend(std::iter::repeat_n(b'x', 3 * M));
    data.extend_from_slice(b"\"\nb@x.com,ok\n");
    let mut inp = open_bytes(&data, &auto()).unwrap();
    let mut rec = Record::default();
    assert!(inp.read_record(&mut rec).unwrap());
    assert_eq!(
        rec.problem,
        Some(RecordProblem::FieldTooLong {
            column: 1,
            bytes: 3 * M,
            limit: M
        })
    );
    assert_eq!(strs(&rec.fields), ["a@x.com", ""]);
    assert_eq!(
        rec.problem.unwrap().message(inp.headers()),
        "column 2 (\"notes\") is 3145728 bytes, over the 1048576-byte cell limit"
    );
    assert!(inp.out.len() <= M + 1, "cell buffer stays bounded");
    assert!(inp.read_record(&mut rec).unwrap());
    assert_eq!((rec.number, rec.line, rec.problem), (2, 3, None));
    assert_eq!(strs(&rec.fields), ["b@x.com", "ok"]);
    assert!(!inp.read_record(&mut rec).unwrap());
}

#[test]
fn huge_line_without_newline_is_record_too_long() {
    let mut data = b"email\n".to_vec();
    data.extend(std::iter::repeat_n(b'a', 10 * M));
    let mut inp = open_bytes(&data, &auto()).unwrap();
    let mut rec = Record::default();
    assert!(inp.read_record(&mut rec).unwrap());
    assert_eq!(
        rec.problem,
        Some(RecordProblem::RecordTooLong {
            bytes: 10 * M + 1,
            limit: 4 * M
        })
    );
    assert!(rec.fields.is_empty());
    assert_eq!(
        rec.problem.unwrap().message(&[]),
        "row is 10485761 bytes, over the 4194304-byte row limit"
    );
    assert!(inp.out.len() <= M + 1);
    assert!(!inp.read_record(&mut rec).unwrap());

    // Many small cells: stored cells stay within the row limit and the column cap.
    let mut data = b"email\n".to_vec();
    for _ in 0..(5 * M) {
        data.extend_from_slice(b"ab,");
    }
    data.extend_from_slice(b"\nnext@x.com\n");
    let mut inp = open_bytes(&data, &auto()).unwrap();
    assert!(inp.read_record(&mut rec).unwrap());
    assert!(matches!(
        rec.problem,
        Some(RecordProblem::RecordTooLong { .. })
    ));
    assert!(rec.fields.len() <= MAX_COLUMNS);
    assert!(inp.read_record(&mut rec).unwrap());
    assert_eq!((rec.number, rec.line, rec.problem), (2, 3, None));
    assert_eq!(strs(&rec.fields), ["next@x.com"]);
}

#[test]
fn too_many_cells_are_counted_not_stored() {
    let mut data = b"email\n".to_vec();
    data.extend(std::iter::repeat_n(b',', 70_000));
    data.extend_from_slice(b"\nz@x.com\n");
    let (_, recs) = read_all(&data, &auto()).unwrap();
    assert_eq!(
        recs[0].problem,
        Some(RecordProblem::FieldCount {
            expected: 1,
            found: 70_001
        })
    );
    assert_eq!(recs[0].fields.len(), MAX_COLUMNS);
    assert_eq!(strs(&recs[1].fields), ["z@x.com"]);
    // A header that wide is fatal.
    let e = read_all(&data[6..], &auto()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.csv: the header row (line 1) is unusable: it has 65536 columns or more"
    );
}

#[test]
fn header_problems_are_fatal() {
    let opts = Options {
        max_field_bytes: 4,
        ..auto()
    };
    let e = read_all(b"email,first_name\n", &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.csv: the header row (line 1) is unusable: column 1 is 5 bytes, over the 4-byte cell limit"
    );
}

#[test]
fn utf16_is_decoded_without_a_flag_and_malformed_utf16_refused() {
    fn utf16(text: &str, big: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if big { b"\xFE\xFF" } else { b"\xFF\xFE" });
        }
        for u in text.encode_utf16() {
            out.extend_from_slice(&if big {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            });
        }
        out
    }
    let text = "email,name\nzoé@x.com,Zoé\n";
    for (big, bom) in [(false, true), (true, true), (false, false), (true, false)] {
        let (inp, recs) = read_all(&utf16(text, big, bom), &auto()).unwrap();
        assert_eq!(inp.headers(), ["email", "name"], "big {big} bom {bom}");
        assert_eq!(strs(&recs[0].fields), ["zoé@x.com", "Zoé"]);
        assert_eq!(inp.dialect().bom, bom);
        assert_eq!(
            inp.dialect().encoding,
            if big { "UTF-16BE" } else { "UTF-16LE" }
        );
    }
    // A lone surrogate (0xD800) in record 1 is refused, not sent as U+FFFD.
    let mut data = utf16("email,name\na@x.com,", false, true);
    data.extend_from_slice(&[0x00, 0xD8, b'\n', 0]);
    let e = read_all(&data, &auto()).unwrap_err().to_string();
    assert!(
        e.starts_with("t.csv: record 1 (line 2) is not valid UTF-16LE (column 2"),
        "{e}"
    );
}

#[test]
fn invalid_utf8_names_record_line_and_column() {
    let data = b"email,name\n\nok@x.com,Bob\nzoe@x.com,Zo\xEB\n";
    let mut inp = open_bytes(data, &auto()).unwrap();
    let mut rec = Record::default();
    assert!(inp.read_record(&mut rec).unwrap());
    let e = inp.read_record(&mut rec).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.csv: record 2 (line 4) is not valid UTF-8 (byte 0xEB in column 2); if the file is \
         Latin-1 or Windows-1252, pass --encoding windows-1252"
    );
    assert!(
        !inp.read_record(&mut rec).unwrap(),
        "reader is fused after a fatal error"
    );
    let e = read_all(b"e\xE9mail\n", &auto()).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "t.csv: the header row (line 1) is not valid UTF-8 (byte 0xE9 in column 1)"
        )
    );
    // Explicit utf-8 is the same strict mode.
    let opts = Options {
        encoding: Some(Encoding::Utf8),
        ..auto()
    };
    assert!(matches!(
        read_all(b"a\n\xFF\n", &opts),
        Err(InputError::InvalidUtf8 {
            record: Some(1),
            ..
        })
    ));
}

#[test]
fn windows_1252_and_latin1_are_decoded() {
    let data = b"email;name\nz@x.com;Zo\xEB\nm@x.com;M\xFCller\n";
    for enc in [Encoding::Windows1252, Encoding::Latin1] {
        let opts = Options {
            encoding: Some(enc),
            ..auto()
        };
        let (inp, recs) = read_all(data, &opts).unwrap();
        assert_eq!(recs[0].fields[1], "Zoë");
        assert_eq!(recs[1].fields[1], "Müller");
        assert_eq!(
            inp.dialect().to_string(),
            "delimiter ';' (detected), windows-1252"
        );
    }
    // A UTF-8 BOM wins over the chosen encoding.
    let opts = Options {
        encoding: Some(Encoding::Windows1252),
        ..auto()
    };
    let (inp, recs) = read_all("\u{feff}email,name\nz@x.com,Zoë\n".as_bytes(), &opts).unwrap();
    assert_eq!((inp.dialect().encoding, inp.dialect().bom), ("UTF-8", true));
    assert_eq!(strs(inp.headers()), ["email", "name"]);
    assert_eq!(recs[0].fields[1], "Zoë");
}

#[test]
fn utf16_is_decoded() {
    let text = "email,name\r\nz@x.com,Zoë\r\n";
    let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let opts = Options {
        encoding: Some(Encoding::Utf16),
        ..auto()
    };
    for (data, label) in [
        ([&b"\xFF\xFE"[..], &le].concat(), "UTF-16LE with BOM"),
        ([&b"\xFE\xFF"[..], &be].concat(), "UTF-16BE with BOM"),
        (le.clone(), "UTF-16LE"),
    ] {
        let (inp, recs) = read_all(&data, &opts).unwrap();
        assert_eq!(strs(inp.headers()), ["email", "name"], "{label}");
        assert_eq!(strs(&recs[0].fields), ["z@x.com", "Zoë"]);
        assert!(
            inp.dialect().to_string().ends_with(label),
            "{}",
            inp.dialect()
        );
    }
}

#[test]
fn multiline_cells_keep_line_numbers_right() {
    for nl in ["\n", "\r\n", "\r"] {
        let data = format!(
            "email,note{nl}\"a@x.com\",\"one{nl}two{nl}three\"{nl}b@x.com,x{nl}{nl}c@x.com,y"
        );
        let (_, recs) = read_all(data.as_bytes(), &auto()).unwrap();
        assert_eq!(recs[0].fields[1], format!("one{nl}two{nl}three"));
        let lines: Vec<u64> = recs.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 5, 7], "{nl:?}");
    }
}

#[test]
fn empty_files_are_fatal() {
    for data in [&b""[..], b"\xEF\xBB\xBF", b"\n\r\n\n", b"\xEF\xBB\xBF\r\n"] {
        let e = read_all(data, &auto()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv: the file is empty (no header row)",
            "{data:?}"
        );
    }
}

#[test]
fn header_only_file() {
    for data in [&b"email,name\n"[..], b"email,name", b"email,name\r\n\r\n"] {
        let (inp, recs) = read_all(data, &auto()).unwrap();
        assert_eq!(strs(inp.headers()), ["email", "name"]);
        assert!(recs.is_empty());
    }
}

#[test]
fn crlf_file() {
    let (inp, recs) = read_all(b"email,name\r\na@x.com,A\r\nb@x.com,B\r\n", &auto()).unwrap();
    assert_eq!(strs(inp.headers()), ["email", "name"]);
    assert_eq!(strs(&recs[1].fields), ["b@x.com", "B"]);
    assert_eq!(
        recs.iter().map(|r| (r.number, r.line)).collect::<Vec<_>>(),
        [(1, 2), (2, 3)]
    );
}

#[test]
fn nul_and_controls_are_kept_as_data() {
    let (_, recs) = read_all(b"email,note\na@x.com,x\0y\x1b[31m\n", &auto()).unwrap();
    assert_eq!(recs[0].fields[1], "x\0y\u{1b}[31m");
    assert_eq!(recs[0].problem, None);
}

#[test]
fn cells_are_not_trimmed() {
    let (inp, recs) = read_all(b" email ,name\n a@x.com ,  \"B\"  \n", &auto()).unwrap();
    assert_eq!(strs(inp.headers()), [" email ", "name"]);
    assert_eq!(strs(&recs[0].fields), [" a@x.com ", "  \"B\"  "]);
}

#[test]
fn open_errors_name_the_file() {
    let src = Source::Path(PathBuf::from("/nonexistent/contacts.csv"));
    let e = CsvInput::open(&src, &auto()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/contacts.csv: cannot open: No such file or directory (os error 2)"
    );
    let e = read_all(b"PK\x03\x04rest", &auto()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("t.csv: this looks like a zip archive"),
        "{e}"
    );
    let opts = Options {
        delimiter: Some(b'"'),
        ..auto()
    };
    assert!(matches!(
        read_all(b"a\n", &opts),
        Err(InputError::BadDelimiter { .. })
    ));
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"email\na@x.com\n").unwrap();
    let mut inp = CsvInput::open(&Source::Path(f.path().to_path_buf()), &auto()).unwrap();
    assert_eq!(inp.source_name(), f.path().display().to_string());
    assert_eq!(drain(&mut inp).unwrap().len(), 1);
}

#[test]
fn encoding_names() {
    assert_eq!("UTF-8".parse::<Encoding>(), Ok(Encoding::Utf8));
    assert_eq!("cp1252".parse::<Encoding>(), Ok(Encoding::Windows1252));
    assert_eq!("ISO-8859-1".parse::<Encoding>(), Ok(Encoding::Latin1));
    assert_eq!("utf16".parse::<Encoding>(), Ok(Encoding::Utf16));
    assert_eq!("latin-1".parse::<Encoding>(), Ok(Encoding::Latin1));
    for label in [
        "iso-8859-15",
        "ISO8859-15",
        "l9",
        "windows-1250",
        "utf-16be",
    ] {
        let Ok(Encoding::Other(e)) = label.parse::<Encoding>() else {
            panic!("{label}")
        };
        assert!(
            ["ISO-8859-15", "windows-1250", "UTF-16BE"].contains(&e.name()),
            "{label}"
        );
    }
    let e = "ebcdic".parse::<Encoding>().unwrap_err();
    assert!(
        e.contains("WHATWG label") && e.contains("iso-8859-15"),
        "{e}"
    );
}

#[test]
fn problem_messages_name_sanitized_headers() {
    let headers = vec!["no\ntes".to_string()];
    let p = RecordProblem::FieldTooLong {
        column: 0,
        bytes: 9,
        limit: 8,
    };
    assert_eq!(
        p.message(&headers),
        "column 1 (\"no\\ntes\") is 9 bytes, over the 8-byte cell limit"
    );
    let p = RecordProblem::FieldTooLong {
        column: 3,
        bytes: 9,
        limit: 8,
    };
    assert_eq!(
        p.message(&headers),
        "column 4 is 9 bytes, over the 8-byte cell limit"
    );
}

// --- properties ---

/// Reference parse: csv_core over the whole input at once.
fn oracle(input: &[u8], delimiter: u8) -> Vec<Vec<Vec<u8>>> {
    let mut rdr = ReaderBuilder::new().delimiter(delimiter).build();
    let (mut out, mut ends) = (vec![0; input.len() + 1], vec![0; input.len() + 2]);
    let (mut data, mut outpos, mut endpos, mut recs) = (input, 0, 0, Vec::new());
    loop {
        let (res, nin, nout, nend) = rdr.read_record(data, &mut out[outpos..], &mut ends[endpos..]);
        data = &data[nin..];
        outpos += nout;
        endpos += nend;
        match res {
            csv_core::ReadRecordResult::Record => {
                let mut start = 0;
                let rec = ends[..endpos]
                    .iter()
                    .map(|&e| {
                        let f = out[start..e].to_vec();
                        start = e;
                        f
                    })
                    .collect();
                recs.push(rec);
                (outpos, endpos) = (0, 0);
            }
            csv_core::ReadRecordResult::End => return recs,
            csv_core::ReadRecordResult::InputEmpty => {}
            other => panic!("{other:?}"),
        }
    }
}

/// What `read_into` must produce for one oracle record.
fn model(
    r: &[Vec<u8>],
    expected: Option<usize>,
    opts: &Options,
) -> (Vec<String>, Option<RecordProblem>) {
    let (mut rbytes, mut too_long, mut fields, mut ftl) = (0usize, false, Vec::new(), None);
    for (i, f) in r.iter().enumerate() {
        rbytes += f.len() + 1;
        too_long |= rbytes > opts.max_record_bytes;
        let over = f.len() > opts.max_field_bytes;
        if over && ftl.is_none() {
            ftl = Some((i, f.len()));
        }
        if !too_long && fields.len() < MAX_COLUMNS {
            fields.push(if over {
                String::new()
            } else {
                String::from_utf8(f.clone()).unwrap()
            });
        }
    }
    let problem = if too_long {
        Some(RecordProblem::RecordTooLong {
            bytes: rbytes,
            limit: opts.max_record_bytes,
        })
    } else if let Some((column, bytes)) = ftl {
        Some(RecordProblem::FieldTooLong {
            column,
            bytes,
            limit: opts.max_field_bytes,
        })
    } else if let Some(e) = expected.filter(|&e| r.len() < e) {
        fields.resize(e, String::new());
        None
    } else {
        expected
            .filter(|&e| e != r.len())
            .map(|e| RecordProblem::FieldCount {
                expected: e,
                found: r.len(),
            })
    };
    (fields, problem)
}

fn csvish() -> impl Strategy<Value = Vec<u8>> {
    let alphabet = vec![
        b',', b';', b'\t', b'"', b'\r', b'\n', b'a', b'b', b'x', b' ',
    ];
    (
        any::<bool>(),
        prop::collection::vec(prop::sample::select(alphabet), 0..300),
    )
        .prop_map(|(bom, body)| {
            let mut v = if bom {
                b"\xEF\xBB\xBF".to_vec()
            } else {
                Vec::new()
            };
            v.extend(body);
            v
        })
}

proptest! {
    #[test]
    fn never_panics_and_numbers_records(
        data in prop_oneof![prop::collection::vec(any::<u8>(), 0..600), csvish()],
        enc in 0usize..4,
        delimiter in prop::option::of(prop::sample::select(vec![b',', b';', b'\t', b'|'])),
        small in any::<bool>(),
    ) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&data).unwrap();
        let opts = Options {
            delimiter,
            encoding: [None, Some(Encoding::Windows1252), Some(Encoding::Utf16), Some(Encoding::Utf8)][enc],
            max_field_bytes: if small { 4 } else { M },
            max_record_bytes: if small { 16 } else { 4 * M },
            ..Options::default()
        };
        match CsvInput::open(&Source::Path(f.path().to_path_buf()), &opts) {
            Err(e) => prop_assert!(!e.to_string().contains('\n')),
            Ok(mut inp) => {
                let mut rec = Record::default();
                let (mut next, mut last_line) = (1, 0);
                loop {
                    match inp.read_record(&mut rec) {
                        Ok(true) => {
                            prop_assert_eq!(rec.number, next);
                            next += 1;
                            prop_assert!(rec.line > last_line);
                            last_line = rec.line;
                            if rec.problem.is_none() {
                                prop_assert_eq!(rec.fields.len(), inp.headers().len());
                            }
                        }
                        Ok(false) => break,
                        Err(e) => {
                            prop_assert!(!e.to_string().contains('\n'));
                            prop_assert!(!inp.read_record(&mut rec).unwrap());
                            break;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn streaming_matches_whole_input_parse(
        data in csvish(),
        delimiter in prop::sample::select(vec![b',', b';', b'\t']),
        buf_size in prop_oneof![1usize..=9, Just(BUF_SIZE)],
        limits in prop_oneof![Just((M, 4 * M)), (0usize..6, 0usize..24)],
    ) {
        let opts = Options { delimiter: Some(delimiter), max_field_bytes: limits.0, max_record_bytes: limits.1, ..auto() };
        let expected = oracle(&data, delimiter);
        let got = CsvInput::build("t".into(), Box::new(io::Cursor::new(data.clone())), &opts, buf_size, false);
        let Some((header, rows)) = expected.split_first() else {
            prop_assert!(matches!(got, Err(InputError::Empty { .. })), "expected Empty");
            return Ok(());
        };
        let (hfields, hproblem) = model(header, None, &opts);
        if hproblem.is_some() || header.len() >= MAX_COLUMNS {
            prop_assert!(matches!(got, Err(InputError::BadHeader { .. })), "expected BadHeader");
            return Ok(());
        }
        let mut inp = got.unwrap();
        prop_assert_eq!(inp.headers(), &hfields[..]);
        let mut rec = Record::default();
        for (i, row) in rows.iter().enumerate() {
            prop_assert!(inp.read_record(&mut rec).unwrap());
            let (fields, problem) = model(row, Some(header.len()), &opts);
            prop_assert_eq!(rec.number, i as u64 + 1);
            prop_assert_eq!(&rec.fields, &fields);
            prop_assert_eq!(rec.problem, problem);
        }
        prop_assert!(!inp.read_record(&mut rec).unwrap());
    }
}
