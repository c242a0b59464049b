//! The command-line surface as a user meets it: completion scripts (one sourced in a real bash),
//! manual pages, and short flags accepted by the binary.

use std::process::Command;

use crate::harness::{Env, bin, sandbox, unlimited};

fn wolfeo() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("wolfeo-bulk").expect("binary built");
    cmd.timeout(std::time::Duration::from_secs(60));
    cmd
}

#[test]
fn every_shell_gets_a_non_empty_completion_script() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = wolfeo().args(["completions", shell]).assert().success();
        let script = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(script.len() > 500, "{shell}: {script}");
        assert!(script.contains("import"), "{shell} script lacks import");
    }
    wolfeo().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn the_bash_script_registers_a_completion_in_bash() {
    let exe = assert_cmd::cargo::cargo_bin("wolfeo-bulk");
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(r#"source <("$EXE" completions bash) && complete -p wolfeo-bulk"#)
        .env("EXE", &exe)
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains(" -F _wolfeo"), "{text}");
    assert!(text.trim_end().ends_with("wolfeo-bulk"), "{text}");

    // And the function it registers offers the subcommands for `wolfeo-bulk im<TAB>`.
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(
            r#"source <("$EXE" completions bash)
               COMP_WORDS=(wolfeo-bulk im); COMP_CWORD=1; COMP_LINE="wolfeo-bulk im"; COMP_POINT=14
               f=$(complete -p wolfeo-bulk | sed 's/.* -F \([^ ]*\) .*/\1/')
               "$f" wolfeo-bulk im wolfeo-bulk; printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .env("EXE", &exe)
        .output()
        .expect("bash runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "import");
}

#[test]
fn man_pages_list_subcommands_flags_and_exit_codes() {
    let out = wolfeo().arg("man").assert().success();
    let page = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(page.contains(".TH wolfeo-bulk 1"));
    for word in [
        "wolfeo\\-bulk\\-import(1)",
        "wolfeo\\-bulk\\-export(1)",
        "EXIT STATUS",
    ] {
        assert!(page.contains(word), "no {word} in {page}");
    }
    assert!(page.contains("\\fB130\\fR"));

    let out = wolfeo().args(["man", "export"]).assert().success();
    let page = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(page.contains(".TH wolfeo-bulk-export 1"));
    assert!(page.contains("\\-\\-output"));
    wolfeo().args(["man", "nothing"]).assert().code(2);
}

#[test]
fn short_flags_work_on_the_binary() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write("in.csv", "email\na@example.com\nb@example.com\n");
    let results = env.path("out.csv");
    bin(&sb)
        .args(["import", "-n", "-j", "2", "-r", "unlimited", "-o"])
        .arg(&results)
        .arg(&input)
        .assert()
        .success();
    let rows = crate::harness::results(&results);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["_outcome"] == "would_create"));
    assert!(sb.contacts().is_empty(), "a dry run sends nothing");
}

#[test]
fn limit_sends_only_the_first_rows_and_resume_finishes_the_file() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write(
        "in.csv",
        "email\na@example.com\nb@example.com\nc@example.com\nd@example.com\n",
    );
    let results = env.path("in.results.csv");
    let summary = env.path("summary.json");
    let out = bin(&sb)
        .args(["import", "-l", "2", "--summary-json"])
        .arg(&summary)
        .arg(&input)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("first 2 rows only"), "{stderr}");
    let rows = crate::harness::results(&results);
    assert_eq!(rows.len(), 2, "rows past the limit are not in the results");
    let mut stored: Vec<String> = sb.contacts().into_iter().map(|c| c.email).collect();
    stored.sort();
    assert_eq!(stored, ["a@example.com", "b@example.com"]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(json["limit"], 2);

    // A resumed run may not lower the limit below a row already recorded...
    bin(&sb)
        .args(["import", "--resume", "--limit", "1"])
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("already recorded row 2"));
    // ...and without one it finishes the file, sending only the rows not sent before.
    let before = sb.stats().requests_total;
    bin(&sb)
        .args(["import", "--resume"])
        .arg(&input)
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "its 2 rows are reported as recorded and not sent again; only rows it did not \
             reach (past an earlier --limit) are sent",
        ))
        .stderr(predicates::prelude::PredicateBooleanExt::not(
            predicates::str::contains("nothing is sent again"),
        ));
    assert_eq!(
        sb.stats().requests_total - before,
        1 + 2,
        "the preflight, then 2 rows"
    );
    let rows = crate::harness::results(&results);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["_outcome"] == "created"), "{rows:?}");
    assert_eq!(sb.contacts().len(), 4);
}

#[test]
fn verbose_lines_name_the_row_or_the_page() {
    let env = Env::new();
    let sb = sandbox(wolfeo_bulk::sandbox::Config {
        seed_contacts: 150,
        ..unlimited()
    });
    let input = env.write("in.csv", "email\na@example.com\nbad\nc@example.com\n");
    let out = bin(&sb).args(["-v", "import"]).arg(&input).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("row 1: POST "), "{err}");
    assert!(err.contains("row 3: POST "), "{err}");
    assert!(
        !err.contains("row 2: "),
        "row 2 is invalid and never sent: {err}"
    );

    let out = bin(&sb)
        .args(["-v", "export", "-o"])
        .arg(env.path("out.csv"))
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("page 1: GET "), "{err}");
    assert!(err.contains("page 2: GET "), "{err}");
}

#[test]
fn a_sandbox_on_all_interfaces_gives_a_url_the_client_accepts() {
    let sb = sandbox(wolfeo_bulk::sandbox::Config {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..unlimited()
    });
    let url = sb.base_url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(wolfeo_bulk::cli::parse_base_url(&url).is_ok());
    let env = Env::new();
    let input = env.write("in.csv", "email\na@example.com\n");
    bin(&sb).arg("import").arg(&input).assert().success();
    assert_eq!(sb.contacts().len(), 1);

    // The foreground sandbox says so on its one line.
    let exe = assert_cmd::cargo::cargo_bin("wolfeo-bulk");
    let mut child = Command::new(exe)
        .args(["sandbox", "--listen", "0.0.0.0:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    child.kill().ok();
    child.wait().ok();
    assert!(
        line.starts_with("sandbox listening on http://127.0.0.1:"),
        "{line}"
    );
    assert!(line.contains("on all interfaces: 0.0.0.0:"), "{line}");
}

/// The embedded sandbox is a new account on every run, so a state file cannot carry over; the
/// refusal says how to try incremental exports instead.
#[test]
fn a_state_file_from_an_embedded_sandbox_explains_the_refusal() {
    let env = Env::new();
    let state = env.path("state.json");
    let export = |out: &str| {
        let mut c = wolfeo();
        c.current_dir(env.dir.path())
            .args(["export", "--sandbox", "--rate", "unlimited", "--state"])
            .arg(&state)
            .args(["-o", out]);
        c
    };
    export("first.csv").assert().success();
    export("second.csv")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("belongs to another account"))
        .stderr(predicates::str::contains(
            "--sandbox starts a new account on every run",
        ));
}

/// `export -o - | head -1` is a normal way to end: the reader closing the pipe after more than
/// a pipe's buffer of rows gives exit 0, not "writing the export: Broken pipe" and exit 3.
#[test]
fn an_export_to_a_reader_that_closes_early_exits_zero() {
    use std::io::BufRead;
    let sb = sandbox(wolfeo_bulk::sandbox::Config {
        seed_contacts: 5000,
        ..unlimited()
    });
    let mut child = crate::harness::std_bin(&sb)
        .args(["export", "-o", "-", "--rate", "unlimited"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("id,email"), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
