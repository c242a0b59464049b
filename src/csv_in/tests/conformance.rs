//! Conformance suites: csv-spectrum, CSVW and rust-csv-core's cases, read from `testdata/`.

use super::*;

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
