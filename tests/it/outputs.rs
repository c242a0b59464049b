//! File safety of import's outputs, through the real binary: collisions refused before
//! anything is sent or written, private modes, symbolic links, unwritable folders.

use std::os::unix::fs::PermissionsExt;

use predicates::prelude::*;

use crate::harness::{Env, bin, results, sandbox, unlimited};

const INPUT: &str = "email\na@example.com\nb@example.com\n";

/// Runs an import with `extra` arguments that must be refused with exit 2 naming `both`,
/// then checks the input is byte-for-byte the same and the sandbox saw no request.
fn refused(extra: &[&str], both: &str) {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write("x.csv", INPUT);
    let args: Vec<String> = extra
        .iter()
        .map(|a| a.replace("{dir}", env.dir.path().to_str().unwrap()))
        .collect();
    if args.iter().any(|a| a.ends_with("hard.csv")) {
        std::fs::hard_link(&input, env.path("hard.csv")).unwrap();
    }
    bin(&sb)
        .current_dir(env.dir.path())
        .args(["import", "x.csv", "--rate", "unlimited"])
        .args(&args)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(both));
    assert_eq!(std::fs::read_to_string(&input).unwrap(), INPUT);
    assert_eq!(sb.stats().requests_total, 0);
    assert!(!env.path("x.results.csv").exists());
}

#[test]
fn the_input_as_rejects_in_a_dry_run_is_refused() {
    refused(
        &["--rejects", "x.csv", "--dry-run"],
        "the input and --rejects",
    );
}

#[test]
fn the_input_as_summary_json_is_refused() {
    refused(
        &["--summary-json", "./x.csv"],
        "the input and --summary-json",
    );
}

#[test]
fn results_and_rejects_on_one_path_are_refused() {
    refused(
        &["--results", "r.csv", "--rejects", "{dir}/r.csv"],
        "--results and --rejects",
    );
}

#[test]
fn a_hard_link_of_the_input_as_results_is_refused() {
    refused(
        &["--results", "hard.csv", "--dry-run"],
        "the input and --results",
    );
    refused(&["--results", "hard.csv"], "the input and --results");
}

#[test]
fn an_existing_0644_results_file_ends_0600_and_a_symlink_keeps_pointing_at_it() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write("x.csv", INPUT);
    let real = env.write("real.csv", "old results\n");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = env.path("link.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    bin(&sb)
        .args([
            "import",
            input.to_str().unwrap(),
            "--rate",
            "unlimited",
            "--results",
        ])
        .arg(&link)
        .assert()
        .success();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        results(&real).len(),
        2,
        "the link's target holds the results"
    );
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let rejects = env.path("x.rejects.csv");
    let mode = std::fs::metadata(&rejects).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_dangling_journal_symlink_never_creates_its_target() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write("x.csv", INPUT);
    let target = env.path("elsewhere.txt");
    std::os::unix::fs::symlink(&target, env.path("x.results.csv.journal")).unwrap();
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("symbolic link"));
    assert!(!target.exists());
    assert_eq!(sb.stats().requests_total, 0);
}

#[test]
fn an_unwritable_summary_path_stops_before_the_first_request() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write("x.csv", INPUT);
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .arg("--summary-json")
        .arg(env.path("missing/dir/s.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--summary-json"));
    assert_eq!(sb.stats().requests_total, 0);
}

#[test]
fn results_alone_moves_the_rejects_and_the_journal() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write("x.csv", "email\nnot-an-email\nc@example.com\n");
    std::fs::create_dir(env.path("out")).unwrap();
    let out = env.path("out/r.csv");
    bin(&sb)
        .args([
            "import",
            input.to_str().unwrap(),
            "--rate",
            "unlimited",
            "--results",
        ])
        .arg(&out)
        .assert()
        .code(1);
    assert_eq!(results(&out).len(), 2);
    assert!(env.path("out/x.rejects.csv").exists());
    assert!(env.path("out/r.csv.journal").exists());
    assert!(!env.path("x.rejects.csv").exists());
}
