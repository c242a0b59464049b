//! Encodings (UTF-8 with and without BOM, UTF-16, Windows-1252, Latin-1), line numbers,
//! empty and odd files, and the messages that name them.

use super::*;

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
