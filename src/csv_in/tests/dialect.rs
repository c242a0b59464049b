//! Dialect detection, title lines, ragged rows, oversized cells and records, header problems.

use super::*;

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
