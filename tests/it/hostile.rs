//! The hostile-input corpus (`tests/fixtures/hostile/`) through the real binary: every file gets
//! a clear answer, a documented exit code, and a results file that loses nothing.

use std::path::PathBuf;

use predicates::prelude::*;

use crate::harness::{Env, bin, results, sandbox, unlimited};

struct Case {
    file: &'static str,
    args: &'static [&'static str],
    exit: i32,
    stderr: &'static str,
    /// Expected `_outcome` per row; empty when the run must stop before any row.
    outcomes: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        file: "semicolon.csv",
        args: &[],
        exit: 0,
        stderr: "delimiter ';' (detected)",
        outcomes: &["created", "created"],
    },
    Case {
        file: "sep-line.csv",
        args: &[],
        exit: 0,
        stderr: "sep=",
        outcomes: &["created"],
    },
    Case {
        file: "tab.tsv",
        args: &[],
        exit: 0,
        stderr: "delimiter '\\t'",
        outcomes: &["created"],
    },
    Case {
        file: "bom-glued.csv",
        args: &[],
        exit: 0,
        stderr: "with BOM",
        outcomes: &["created"],
    },
    Case {
        file: "latin1.csv",
        args: &[],
        exit: 2,
        stderr: "record 1 (line 2) is not valid UTF-8",
        outcomes: &[],
    },
    Case {
        file: "latin1.csv",
        args: &["--encoding", "windows-1252"],
        exit: 0,
        stderr: "windows-1252",
        outcomes: &["created", "created"],
    },
    Case {
        file: "utf16le-bom.csv",
        args: &[],
        exit: 0,
        stderr: "UTF-16LE with BOM",
        outcomes: &["created"],
    },
    Case {
        file: "utf16le-bom.csv",
        args: &["--encoding", "utf-16"],
        exit: 0,
        stderr: "UTF-16",
        outcomes: &["created"],
    },
    Case {
        file: "ragged.csv",
        args: &[],
        exit: 1,
        stderr: "invalid",
        outcomes: &["created", "created", "invalid", "created"],
    },
    Case {
        file: "nul-and-escapes.csv",
        args: &[],
        exit: 1,
        stderr: "",
        outcomes: &["created", "invalid"],
    },
    Case {
        file: "empty.csv",
        args: &[],
        exit: 2,
        stderr: "empty.csv: the file is empty",
        outcomes: &[],
    },
    Case {
        file: "header-only.csv",
        args: &[],
        exit: 0,
        stderr: "no data rows",
        outcomes: &[],
    },
    Case {
        file: "zip-disguised.csv",
        args: &[],
        exit: 2,
        stderr: "zip",
        outcomes: &[],
    },
    Case {
        file: "crlf-multiline.csv",
        args: &[],
        exit: 0,
        stderr: "",
        outcomes: &["created", "created"],
    },
    Case {
        file: "leading-zeros.csv",
        args: &[],
        exit: 0,
        stderr: "",
        outcomes: &["created"],
    },
    Case {
        file: "injection.csv",
        args: &[],
        exit: 0,
        stderr: "",
        outcomes: &["created"],
    },
    Case {
        file: "no-email-column.csv",
        args: &[],
        exit: 2,
        stderr: "headers seen: \"Name\", \"Phone\"",
        outcomes: &[],
    },
];

/// Imports `name` from the test's directory and returns its results rows.
fn import_expecting(
    env: &Env,
    sb: &wolfeo_bulk::sandbox::SandboxHandle,
    name: &str,
    exit: i32,
) -> Vec<std::collections::HashMap<String, String>> {
    let input = env.path(name);
    bin(sb)
        .arg("import")
        .arg(&input)
        .args(["--rate", "unlimited"])
        .assert()
        .code(exit);
    results(&input.with_extension("results.csv"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hostile")
        .join(name)
}

#[test]
fn every_hostile_file_gets_its_documented_answer() {
    for case in CASES {
        let env = Env::new();
        let sb = sandbox(unlimited());
        let input = env.path(case.file);
        std::fs::copy(fixture(case.file), &input).unwrap();
        let out = bin(&sb)
            .arg("import")
            .arg(&input)
            .args(["--rate", "unlimited"])
            .args(case.args)
            .assert()
            .code(case.exit)
            .stderr(predicate::str::contains(case.stderr))
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains('\u{1b}') && !stderr.contains('\0'),
            "{}: raw control characters reached the terminal: {stderr:?}",
            case.file
        );
        assert!(!stderr.contains("panicked"), "{}: {stderr}", case.file);
        let results_path = input.with_extension("results.csv");
        if case.exit == 2 {
            assert_eq!(
                sb.stats().requests_total,
                0,
                "{}: nothing is sent",
                case.file
            );
            continue;
        }
        let rows = results(&results_path);
        let got: Vec<&str> = rows.iter().map(|r| r["_outcome"].as_str()).collect();
        assert_eq!(got, case.outcomes, "{}", case.file);
    }
}

#[test]
fn cells_are_sent_and_kept_exactly_as_written() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    for name in ["leading-zeros.csv", "injection.csv", "nul-and-escapes.csv"] {
        let input = env.path(name);
        std::fs::copy(fixture(name), &input).unwrap();
        let _ = bin(&sb)
            .arg("import")
            .arg(&input)
            .args(["--rate", "unlimited"])
            .assert();
    }
    let contacts = sb.contacts();
    let zeros = contacts
        .iter()
        .find(|c| c.email == "zeros@example.com")
        .unwrap();
    assert_eq!(
        zeros.first_name.as_deref(),
        Some("00123"),
        "no numeric casting"
    );
    assert_eq!(zeros.last_name.as_deref(), Some("007"));
    let injected = results(&env.path("injection.results.csv"));
    assert_eq!(
        injected[0]["First Name"], "=HYPERLINK(\"http://evil\")",
        "import never rewrites cells"
    );
    let nul = results(&env.path("nul-and-escapes.results.csv"));
    assert_eq!(nul[0]["First Name"], "Nu\0ll");
}

#[test]
fn ragged_rows_say_what_is_wrong_and_keep_their_cells() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    std::fs::copy(fixture("ragged.csv"), env.path("ragged.csv")).unwrap();
    let rows = import_expecting(&env, &sb, "ragged.csv", 1);
    // A row missing trailing cells is padded (spreadsheets drop empty ones).
    assert_eq!(rows[1]["_outcome"], "created", "{:?}", rows[1]);
    assert!(
        rows[2]["_message"].contains("extra cells: N | G"),
        "{}",
        rows[2]["_message"]
    );
    let rejects = std::fs::read_to_string(env.path("ragged.rejects.csv")).unwrap();
    assert!(
        rejects.contains("long@example.com,L,O,N,G"),
        "rejects keep the raw row: {rejects}"
    );
}

#[test]
fn an_oversized_cell_is_an_invalid_row_not_an_out_of_memory() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let big = "x".repeat(3 * 1024 * 1024);
    env.write(
        "big.csv",
        &format!("Email,First Name\nbig@example.com,{big}\nsmall@example.com,Small\n"),
    );
    let rows = import_expecting(&env, &sb, "big.csv", 1);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["_outcome"], "invalid");
    assert!(
        rows[0]["_message"].contains("First Name"),
        "{}",
        rows[0]["_message"]
    );
    assert_eq!(rows[1]["_outcome"], "created");
}
