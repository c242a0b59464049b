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
