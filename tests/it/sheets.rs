//! Spreadsheets in: an `.xlsx` written by `rust_xlsxwriter` (numbers, dates, booleans,
//! formulas) imports with the same outcomes, and the sandbox stores the same contacts, as the
//! CSV a user would have saved from it; `--skip-lines`, `--sheet`, cell errors, rejects as CSV,
//! resume after a kill, and an `.ods` built by hand from its published layout.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook, Worksheet};
use wolfeo_bulk::sandbox::{Config, SandboxHandle};

use crate::harness::{Env, bin, results, sandbox, std_bin, unlimited, wait_for_lines};

const HEADER: [&str; 7] = [
    "email",
    "first_name",
    "last_name",
    "email_marketing",
    "gdpr",
    "tag_ids",
    "notes",
];

/// The CSV twin: what Excel's "Save as CSV UTF-8" writes for [`write_contacts`]'s sheet,
/// except that dates are written as ISO (Excel would write them as displayed).
const TWIN: &str = "Newsletter export 2024-03-01\n\
    email,first_name,last_name,email_marketing,gdpr,tag_ids,notes\n\
    ana@example.com,Ana,100000,TRUE,TRUE,2,#REF!\n\
    bo@example.com,Bo,2024-03-01,FALSE,FALSE,\"1,3\",\n\
    cy@example.com,Cy,42.5,TRUE,FALSE,,2024-02-29 14:30:00\n\
    not-an-email,Dee,33612345678,TRUE,TRUE,,\n\
    ANA@example.com,Ana again,,TRUE,TRUE,,\n";

fn sandbox_with_tags() -> SandboxHandle {
    sandbox(Config {
        seed_tags: 3,
        ..unlimited()
    })
}

/// The same rows as [`TWIN`], stored as a spreadsheet stores them: a title row, numbers,
/// a date cell, boolean cells, formulas with cached results, an error in an unmapped column.
fn write_contacts(s: &mut Worksheet) {
    s.write_string(0, 0, "Newsletter export 2024-03-01")
        .unwrap();
    for (c, h) in HEADER.iter().enumerate() {
        s.write_string(1, c as u16, *h).unwrap();
    }
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let stamp = Format::new().set_num_format("dd/mm/yyyy hh:mm");
    // ana: the email and name are formulas; 100000 is a number Excel would show as 1E+05 in a
    // narrow column; the booleans are a cell and a formula; the tag id is a number.
    s.write_formula(
        2,
        0,
        Formula::new("=LOWER(\"ANA@EXAMPLE.COM\")").set_result("ana@example.com"),
    )
    .unwrap();
    s.write_formula(2, 1, Formula::new("=PROPER(\"ana\")").set_result("Ana"))
        .unwrap();
    s.write_number(2, 2, 100000.0).unwrap();
    s.write_boolean(2, 3, true).unwrap();
    s.write_formula(2, 4, Formula::new("=1=1").set_result("TRUE"))
        .unwrap();
    s.write_number(2, 5, 2.0).unwrap();
    s.write_formula(2, 6, Formula::new("=#REF!").set_result("#REF!"))
        .unwrap();
    // bo: a date cell; booleans false; tag ids as text.
    s.write_string(3, 0, "bo@example.com").unwrap();
    s.write_string(3, 1, "Bo").unwrap();
    let day = ExcelDateTime::from_ymd(2024, 3, 1).unwrap();
    s.write_datetime_with_format(3, 2, &day, &date).unwrap();
    s.write_boolean(3, 3, false).unwrap();
    s.write_boolean(3, 4, false).unwrap();
    s.write_string(3, 5, "1,3").unwrap();
    // cy: a computed decimal; a date-time in an unmapped column.
    s.write_string(4, 0, "cy@example.com").unwrap();
    s.write_string(4, 1, "Cy").unwrap();
    s.write_formula(4, 2, Formula::new("=85/2").set_result("42.5"))
        .unwrap();
    s.write_boolean(4, 3, true).unwrap();
    s.write_boolean(4, 4, false).unwrap();
    let when = ExcelDateTime::parse_from_str("2024-02-29 14:30:00").unwrap();
    s.write_datetime_with_format(4, 6, &when, &stamp).unwrap();
    // dee: an invalid email, a phone-like number; then a duplicate of ana.
    s.write_string(5, 0, "not-an-email").unwrap();
    s.write_string(5, 1, "Dee").unwrap();
    s.write_number(5, 2, 33612345678.0).unwrap();
    s.write_boolean(5, 3, true).unwrap();
    s.write_boolean(5, 4, true).unwrap();
    s.write_string(6, 0, "ANA@example.com").unwrap();
    s.write_string(6, 1, "Ana again").unwrap();
    s.write_boolean(6, 3, true).unwrap();
    s.write_boolean(6, 4, true).unwrap();
}

fn import(sb: &SandboxHandle, input: &Path, extra: &[&str]) -> std::process::Output {
    bin(sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .args(extra)
        .output()
        .unwrap()
}

/// Results rows without the server-assigned id (the two sandboxes number independently).
fn outcomes(path: &Path) -> Vec<HashMap<String, String>> {
    let mut rows = results(path);
    for r in &mut rows {
        r.remove("_contact_id");
    }
    rows
}

/// What a sandbox stores, by email, without ids and timestamps.
fn stored(sb: &SandboxHandle) -> Vec<String> {
    let mut all: Vec<String> = sb
        .contacts()
        .into_iter()
        .map(|c| {
            format!(
                "{} {:?} {:?} marketing={} gdpr={} tags={:?}",
                c.email, c.first_name, c.last_name, c.email_marketing, c.gdpr, c.tags
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn an_xlsx_imports_like_its_csv_twin() {
    let env = Env::new();
    let csv = env.write("twin.csv", TWIN);
    let xlsx = env.path("book.xlsx");
    let mut book = Workbook::new();
    write_contacts(book.add_worksheet());
    book.save(&xlsx).unwrap();

    let (sb_csv, sb_xlsx) = (sandbox_with_tags(), sandbox_with_tags());
    let from_csv = import(&sb_csv, &csv, &["--skip-lines", "1"]);
    let from_xlsx = import(&sb_xlsx, &xlsx, &["--skip-lines", "1"]);
    let stderr = String::from_utf8_lossy(&from_xlsx.stderr);
    assert_eq!(from_xlsx.status.code(), Some(1), "{stderr}"); // one invalid row
    assert_eq!(from_csv.status.code(), Some(1));
    assert!(
        stderr.contains("xlsx sheet \"Sheet1\" (1 of 1); rejects are written as CSV"),
        "{stderr}"
    );

    let (twin, sheet) = (
        outcomes(&env.path("twin.results.csv")),
        outcomes(&env.path("book.results.csv")),
    );
    assert_eq!(sheet, twin);
    let kinds: Vec<&str> = sheet.iter().map(|r| r["_outcome"].as_str()).collect();
    assert_eq!(
        kinds,
        ["created", "created", "created", "invalid", "duplicate"]
    );
    assert_eq!(sheet[0]["last_name"], "100000");
    assert_eq!(sheet[1]["last_name"], "2024-03-01");
    assert_eq!(sheet[2]["notes"], "2024-02-29 14:30:00");

    assert_eq!(stored(&sb_xlsx), stored(&sb_csv));
    let ana = sb_xlsx
        .contacts()
        .into_iter()
        .find(|c| c.email == "ana@example.com")
        .unwrap();
    assert_eq!(ana.last_name.as_deref(), Some("100000"));
    assert!(ana.email_marketing && ana.gdpr);
    assert_eq!(ana.tags, Some(vec![2]));

    // The rejects file is CSV that Excel opens as it is: BOM, commas, CR LF, a reason.
    let rejects = std::fs::read(env.path("book.rejects.csv")).unwrap();
    let text = String::from_utf8(rejects).unwrap();
    assert!(text.starts_with("\u{FEFF}email,first_name,"), "{text}");
    assert!(
        text.contains("\r\nnot-an-email,Dee,33612345678,TRUE,TRUE,,,"),
        "{text}"
    );
}

#[test]
fn an_error_in_a_sent_column_is_that_rows_problem() {
    let env = Env::new();
    let xlsx = env.path("errors.xlsx");
    let mut book = Workbook::new();
    let s = book.add_worksheet();
    for (c, h) in ["email", "first_name", "notes"].iter().enumerate() {
        s.write_string(0, c as u16, *h).unwrap();
    }
    s.write_string(1, 0, "ok@example.com").unwrap();
    s.write_formula(1, 2, Formula::new("=1/0").set_result("#DIV/0!"))
        .unwrap();
    s.write_string(2, 0, "na@example.com").unwrap();
    s.write_formula(
        2,
        1,
        Formula::new("=VLOOKUP(A3,X:Y,2,0)").set_result("#N/A"),
    )
    .unwrap();
    book.save(&xlsx).unwrap();
    let sb = sandbox(unlimited());
    let out = import(&sb, &xlsx, &[]);
    assert_eq!(out.status.code(), Some(1));
    let rows = results(&env.path("errors.results.csv"));
    assert_eq!(rows[0]["_outcome"], "created");
    assert_eq!(rows[1]["_outcome"], "invalid");
    assert_eq!(rows[1]["_error_code"], "CELL_ERROR");
    assert!(
        rows[1]["_message"].contains("column 2 (\"first_name\") holds the spreadsheet error #N/A"),
        "{:?}",
        rows[1]
    );
    let emails: Vec<String> = sb.contacts().into_iter().map(|c| c.email).collect();
    assert_eq!(emails, ["ok@example.com"]);
    let rejects = std::fs::read_to_string(env.path("errors.rejects.csv")).unwrap();
    assert!(rejects.contains("na@example.com,#N/A,,"), "{rejects}");
}

#[test]
fn an_unknown_sheet_lists_the_sheets_and_sends_nothing() {
    let env = Env::new();
    let xlsx = env.path("two.xlsx");
    let mut book = Workbook::new();
    book.add_worksheet().set_name("Leads").unwrap();
    book.add_worksheet()
        .set_name("Customers")
        .unwrap()
        .write_string(0, 0, "email")
        .unwrap();
    book.save(&xlsx).unwrap();
    let sb = sandbox(unlimited());
    let out = import(&sb, &xlsx, &["--sheet", "Prospects"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "two.xlsx: no sheet named \"Prospects\"; its sheets are: \"Leads\", \"Customers\""
        ),
        "{stderr}"
    );
    assert_eq!(sb.stats().requests_total, 0);
    assert!(!env.path("two.results.csv").exists());
}

/// Rows are identified by their number among the sheet's non-blank rows after the header,
/// and the run header records the file's bytes, `--sheet` and `--skip-lines`: a run killed
/// mid-way resumes without creating anyone twice, and a resume that would read other rows
/// is refused.
#[test]
fn a_killed_xlsx_import_resumes_exactly() {
    let env = Env::new();
    let xlsx = env.path("many.xlsx");
    let mut book = Workbook::new();
    let other = book.add_worksheet();
    other.set_name("Other").unwrap();
    other.write_string(0, 0, "Other title").unwrap();
    other.write_string(1, 0, "email").unwrap();
    other.write_string(1, 1, "first_name").unwrap();
    other.write_string(2, 0, "someone@example.com").unwrap();
    let s = book.add_worksheet();
    s.set_name("People").unwrap();
    s.write_string(0, 0, "Title").unwrap();
    s.write_string(2, 0, "email").unwrap();
    s.write_string(2, 1, "first_name").unwrap();
    let total = 400u32;
    for i in 0..total {
        // A blank row every 50 rows: skipped, and not counted, on both runs.
        let row = 3 + i + i / 50;
        s.write_string(row, 0, format!("p{i}@example.com")).unwrap();
        s.write_number(row, 1, f64::from(i)).unwrap();
    }
    book.save(&xlsx).unwrap();
    let sb = sandbox(Config {
        latency: Some((Duration::from_millis(2), Duration::from_millis(6))),
        ..unlimited()
    });
    let input = xlsx.to_str().unwrap();
    let flags = ["--sheet", "People", "--skip-lines", "1"];
    let mut child = std_bin(&sb)
        .args(["import", input, "--rate", "500/s"])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_lines(&env.path("many.results.csv.journal"), 40);
    child.kill().unwrap();
    child.wait().unwrap();
    let before = sb.stats().contacts_total;
    assert!(before < u64::from(total), "killed mid-run");

    // Skipping the blank row too reads the same header, but is refused: the flag differs.
    let refused = import(
        &sb,
        &xlsx,
        &["--resume", "--sheet", "People", "--skip-lines", "2"],
    );
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--skip-lines differs"), "{stderr}");
    let refused = import(&sb, &xlsx, &["--resume", "--skip-lines", "1"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--sheet differs"), "{stderr}");

    let mut args = vec!["--resume"];
    args.extend(flags);
    let out = import(&sb, &xlsx, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = results(&env.path("many.results.csv"));
    assert_eq!(rows.len(), total as usize);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["_row"], (i + 1).to_string());
        assert_eq!(r["email"], format!("p{i}@example.com"));
        assert_eq!(r["first_name"], i.to_string());
        assert!(
            matches!(r["_outcome"].as_str(), "created" | "exists"),
            "{r:?}"
        );
    }
    let contacts = sb.contacts();
    assert_eq!(
        contacts.len(),
        total as usize,
        "nobody twice, nobody missing"
    );
    assert!(
        contacts.iter().all(|c| c.first_name.as_deref()
            == c.email.strip_prefix('p').and_then(|e| e.split('@').next()))
    );
}

/// An OpenDocument spreadsheet laid out as the standard says (a stored `mimetype` first, a
/// manifest, `content.xml`), with the value types LibreOffice writes.
fn write_ods(path: &Path) {
    let cell = |attrs: &str, text: &str| {
        format!("<table:table-cell {attrs}><text:p>{text}</text:p></table:table-cell>")
    };
    let string = |s: &str| cell("office:value-type=\"string\"", s);
    let rows = [
        vec![string("A title")],
        vec![
            string("email"),
            string("first_name"),
            string("last_name"),
            string("email_marketing"),
        ],
        vec![
            string("ana@example.com"),
            string("Ana"),
            cell(
                "office:value-type=\"float\" office:value=\"100000\"",
                "100000",
            ),
            cell(
                "office:value-type=\"boolean\" office:boolean-value=\"true\"",
                "TRUE",
            ),
        ],
        vec![
            string("bo@example.com"),
            string("Bo"),
            cell(
                "office:value-type=\"date\" office:date-value=\"2024-03-01\"",
                "01/03/24",
            ),
            cell(
                "office:value-type=\"boolean\" office:boolean-value=\"false\"",
                "FALSE",
            ),
        ],
        vec![
            string("cy@example.com"),
            cell(
                "table:formula=\"of:=NA()\" office:value-type=\"string\" office:string-value=\"\" calcext:value-type=\"error\"",
                "#N/A",
            ),
        ],
    ];
    let body: String = rows
        .iter()
        .map(|r| format!("<table:table-row>{}</table:table-row>", r.concat()))
        .collect();
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <office:document-content \
         xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
         xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" \
         xmlns:calcext=\"urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0\" \
         office:version=\"1.3\"><office:body><office:spreadsheet>\
         <table:table table:name=\"Contacts\">{body}</table:table>\
         </office:spreadsheet></office:body></office:document-content>"
    );
    let manifest = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" \
        manifest:version=\"1.3\">\
        <manifest:file-entry manifest:full-path=\"/\" \
        manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/>\
        <manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/>\
        </manifest:manifest>";
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in [
        ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
        ("META-INF/manifest.xml", manifest),
        ("content.xml", content.as_str()),
    ] {
        zip.start_file(name, stored).unwrap();
        zip.write_all(data.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn an_ods_imports_too() {
    let env = Env::new();
    let ods = env.path("contacts.ods");
    write_ods(&ods);
    let sb = sandbox(unlimited());
    let out = import(&sb, &ods, &["--skip-lines", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ods sheet \"Contacts\" (1 of 1)"),
        "{stderr}"
    );
    let rows = results(&env.path("contacts.results.csv"));
    let kinds: Vec<&str> = rows.iter().map(|r| r["_outcome"].as_str()).collect();
    assert_eq!(kinds, ["created", "created", "invalid"]);
    assert_eq!(rows[2]["_error_code"], "CELL_ERROR");
    let mut stored: Vec<(String, Option<String>, bool)> = sb
        .contacts()
        .into_iter()
        .map(|c| (c.email, c.last_name, c.email_marketing))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            ("ana@example.com".into(), Some("100000".into()), true),
            ("bo@example.com".into(), Some("2024-03-01".into()), false),
        ]
    );
}
