//! The sheet reader against workbooks written by `rust_xlsxwriter`, read through
//! [`CsvInput::open`] as the import reads them.

use std::path::Path;

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

use crate::csv_in::{CsvInput, InputError, Options, Record, RecordProblem, Source};

fn open(path: &Path, opts: &Options) -> Result<CsvInput, InputError> {
    CsvInput::open(&Source::Path(path.to_path_buf()), opts)
}

fn rows(input: &mut CsvInput) -> Vec<Record> {
    let mut out = Vec::new();
    let mut rec = Record::default();
    while input.read_record(&mut rec).unwrap() {
        out.push(rec.clone());
    }
    out
}

/// A hidden first sheet, then "Contacts": a title row, a blank row, the header, data with
/// numbers, a date, a boolean, formulas (one failing), a blank row, a ragged row.
fn workbook(path: &Path) {
    let mut book = Workbook::new();
    let hidden = book.add_worksheet();
    hidden.set_name("Lists").unwrap();
    hidden.write_string(0, 0, "not this one").unwrap();
    hidden.set_hidden(true);
    let s = book.add_worksheet();
    s.set_name("Contacts").unwrap();
    s.set_active(true); // a workbook's active sheet cannot be hidden
    s.write_string(0, 0, "Newsletter export").unwrap();
    for (c, h) in ["email", "first_name", "phone", "since", "gdpr", "note"]
        .iter()
        .enumerate()
    {
        s.write_string(2, c as u16, *h).unwrap();
    }
    let date = Format::new().set_num_format("dd/mm/yyyy");
    s.write_string(3, 0, "ana@example.com").unwrap();
    s.write_number(3, 2, 33612345678.0).unwrap();
    let when = ExcelDateTime::from_ymd(2024, 3, 1).unwrap();
    s.write_datetime_with_format(3, 3, &when, &date).unwrap();
    s.write_boolean(3, 4, true).unwrap();
    s.write_formula(3, 5, Formula::new("=1/0").set_result("#DIV/0!"))
        .unwrap();
    s.write_string(4, 0, "bo@example.com").unwrap();
    let phone = Format::new().set_num_format("0000000000");
    s.write_number_with_format(4, 3, 612345678.0, &phone)
        .unwrap();
    s.write_formula(4, 1, Formula::new("=\"B\"&\"o\"").set_result("Bo"))
        .unwrap();
    s.write_formula(4, 2, Formula::new("=0.1+0.2").set_result("0.3"))
        .unwrap();
    s.write_formula(4, 4, Formula::new("=NA()").set_result("#N/A"))
        .unwrap();
    s.write_string(6, 0, "cy@example.com").unwrap();
    s.write_string(6, 7, "beyond the header").unwrap();
    book.save(path).unwrap();
}

#[test]
fn a_sheet_reads_as_the_user_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.xlsx");
    workbook(&path);
    let opts = Options {
        skip_lines: 1,
        ..Options::default()
    };
    let mut input = open(&path, &opts).map_err(|e| e.to_string()).unwrap();
    assert_eq!(
        input.headers(),
        ["email", "first_name", "phone", "since", "gdpr", "note"]
    );
    let dialect = input.dialect().to_string();
    assert_eq!(
        dialect,
        "xlsx sheet \"Contacts\" (2 of 2); rejects are written as CSV"
    );
    assert_eq!(input.exact_records(), Some(3));
    let rows = rows(&mut input);
    assert_eq!(rows.len(), 3);
    let (ana, bo, cy) = (&rows[0], &rows[1], &rows[2]);
    assert_eq!((ana.number, ana.line), (1, 4));
    assert_eq!(
        ana.fields,
        [
            "ana@example.com",
            "",
            "33612345678",
            "2024-03-01",
            "TRUE",
            "#DIV/0!"
        ]
    );
    // Formula errors are the row's problem, with the column they are in.
    assert_eq!(
        ana.problem,
        Some(RecordProblem::CellError {
            column: 5,
            error: "#DIV/0!"
        })
    );
    // A number formatted `0000000000` is the phone number the user sees.
    assert_eq!(
        bo.fields,
        ["bo@example.com", "Bo", "0.3", "0612345678", "#N/A", ""]
    );
    assert_eq!(
        bo.problem,
        Some(RecordProblem::CellError {
            column: 4,
            error: "#N/A"
        })
    );
    // The blank row is skipped; a cell past the header is a ragged row, as in CSV.
    assert_eq!((cy.number, cy.line), (3, 7));
    assert_eq!(
        cy.problem,
        Some(RecordProblem::FieldCount {
            expected: 6,
            found: 8
        })
    );
    assert_eq!(cy.fields.len(), 8);
}

#[test]
fn without_skip_lines_the_title_is_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.xlsx");
    workbook(&path);
    let input = open(&path, &Options::default()).unwrap();
    assert_eq!(input.headers(), ["Newsletter export"]);
}

#[test]
fn sheets_are_chosen_by_name_and_an_unknown_one_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.xlsx");
    workbook(&path);
    let by_name = |sheet: &str| Options {
        sheet: Some(sheet.into()),
        ..Options::default()
    };
    let input = open(&path, &by_name("lists")).unwrap();
    assert_eq!(input.headers(), ["not this one"]);
    let err = open(&path, &by_name("Leads")).unwrap_err().to_string();
    assert!(
        err.ends_with("no sheet named \"Leads\"; its sheets are: \"Lists\", \"Contacts\""),
        "{err}"
    );
}

#[test]
fn flags_for_the_other_kind_of_input_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.xlsx");
    workbook(&path);
    let opts = Options {
        delimiter: Some(b';'),
        ..Options::default()
    };
    let err = open(&path, &opts).unwrap_err().to_string();
    assert!(
        err.contains("--delimiter does not apply to a spreadsheet"),
        "{err}"
    );
    let csv = dir.path().join("c.csv");
    std::fs::write(&csv, "email\na@x.co\n").unwrap();
    let opts = Options {
        sheet: Some("Contacts".into()),
        ..Options::default()
    };
    let err = open(&csv, &opts).unwrap_err().to_string();
    assert!(
        err.contains("--sheet does not apply to a CSV file"),
        "{err}"
    );
}

#[test]
fn damaged_or_mislabelled_files() {
    let dir = tempfile::tempdir().unwrap();
    // A zip that is no spreadsheet: an error naming the file, not a panic.
    let zip = dir.path().join("archive.xlsx");
    std::fs::write(&zip, b"PK\x03\x04 not really a zip").unwrap();
    let err = open(&zip, &Options::default()).unwrap_err().to_string();
    assert!(
        err.contains("archive.xlsx: cannot read this xlsx spreadsheet"),
        "{err}"
    );
    // Text saved under a spreadsheet's name is read as the CSV it is.
    let text = dir.path().join("export.xls");
    std::fs::write(&text, "email;name\na@x.co;A\n").unwrap();
    let mut input = open(&text, &Options::default()).unwrap();
    assert_eq!(input.headers(), ["email", "name"]);
    assert_eq!(rows(&mut input).len(), 1);
    // An empty sheet has no header.
    let empty = dir.path().join("empty.xlsx");
    let mut book = Workbook::new();
    book.add_worksheet();
    book.save(&empty).unwrap();
    let err = open(&empty, &Options::default()).unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
}
