//! Properties: never a panic, and streaming equal to one parse of the whole input (`csv_core`).

use super::*;

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
