//! Inputs that arrive over time: `producer | wolfeo-bulk import -` sends the first rows while
//! the producer is still writing, and a FIFO or `<(...)` input is read once, like stdin.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Env, results, sandbox, std_bin, unlimited};

/// A shell producer that writes the header and one row, then waits for `go` before the rest.
fn producer(env: &Env) -> Command {
    let go = env.path("go");
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(format!(
        "printf 'email,first_name\\nfirst@ex.com,F\\n'; \
         while [ ! -e '{}' ]; do sleep 0.02; done; printf 'second@ex.com,S\\n'",
        go.display()
    ));
    sh
}

#[test]
fn rows_from_a_slow_producer_are_sent_before_it_ends() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let mut source = producer(&env).stdout(Stdio::piped()).spawn().unwrap();
    let mut import = std_bin(&sb)
        .current_dir(env.dir.path())
        .args(["import", "-", "--rate", "unlimited"])
        .stdin(source.stdout.take().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sb.contacts().iter().any(|c| c.email == "first@ex.com") {
        assert!(Instant::now() < deadline, "the first row was never sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        source.try_wait().unwrap().is_none(),
        "the first contact was created while the producer was still writing"
    );
    std::fs::write(env.path("go"), "").unwrap();
    assert!(source.wait().unwrap().success());
    assert_eq!(import.wait().unwrap().code(), Some(0));
    assert_eq!(sb.contacts().len(), 2);
}

#[test]
fn a_process_substitution_input_is_read_once() {
    if Command::new("bash").arg("-c").arg("true").status().is_err() {
        return;
    }
    let env = Env::new();
    let sb = sandbox(unlimited());
    std::fs::write(env.path("go"), "").unwrap();
    let bin = assert_cmd::cargo::cargo_bin("wolfeo-bulk");
    let out = Command::new("bash")
        .current_dir(env.dir.path())
        .env("WOLFEO_BASE_URL", sb.base_url())
        .env("WOLFEO_API_KEY", sb.api_key())
        .arg("-c")
        .arg(format!(
            "'{}' import <(printf 'email\\na@ex.com\\nb@ex.com\\n') --rate unlimited",
            bin.display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(sb.contacts().len(), 2);
    // Its folder is /dev/fd: the results go to the current folder, as for stdin.
    let named = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".results.csv"))
        .expect("a results file in the current folder");
    let rows = results(&named);
    assert_eq!(rows.len(), 2);
}

/// A producer that never ends: a stop (SIGTERM) must not wait for its end of file. The results
/// hold every row read, each once, and the message says what to send again.
#[test]
fn a_stop_does_not_read_an_endless_stream_to_its_end() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let mut import = std_bin(&sb)
        .current_dir(env.dir.path())
        .args(["import", "-", "--rate", "20/s"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = import.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut written = 0u64;
        let _ = writeln!(stdin, "email");
        // Ends when the import closes its end of the pipe.
        while writeln!(stdin, "row{written}@example.com").is_ok() {
            written += 1;
        }
        written
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while sb.contacts().len() < 3 {
        assert!(Instant::now() < deadline, "no contact was created");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopped = Instant::now();
    let pid = import.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    // Were the stop to wait for the end of the stream, the test fails instead of hanging.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    });
    let out = import.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(
        stopped.elapsed() < Duration::from_secs(15),
        "stopped in {:?}",
        stopped.elapsed()
    );
    let written = writer.join().unwrap();
    let rows = results(&env.path("stdin.results.csv"));
    assert!(!rows.is_empty() && (rows.len() as u64) < written);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            r["_row"],
            (i + 1).to_string(),
            "every row read, once, in order"
        );
    }
    let created = rows.iter().filter(|r| r["_outcome"] == "created").count();
    assert_eq!(
        created,
        sb.contacts().len(),
        "every contact created is in the results"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is read once, as it arrives, and cannot be resumed"),
        "{stderr}"
    );
}

/// `import --dry-run --results - | head`: the reader closing the pipe is not an error (exit 0,
/// as for `export -o - | head`), and nothing is left behind.
#[cfg(unix)]
#[test]
fn a_dry_run_whose_results_reader_goes_away_exits_zero() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let mut csv = String::from("email\n");
    for i in 0..200_000 {
        csv.push_str(&format!("user{i}@example.com\n"));
    }
    let input = env.write("big.csv", &csv);
    let child = std_bin(&sb)
        .current_dir(env.dir.path())
        .args(["-q", "import", "--dry-run", "--results", "-"])
        .arg(&input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = crate::harness::read_then_hang_up(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(sb.stats().requests_total, 0);
}

/// An interrupted dry run does not say to `--resume` (which a dry run refuses: it keeps no
/// journal); it says to run it again.
#[test]
fn an_interrupted_dry_run_says_to_run_it_again_not_to_resume() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let mut source = producer(&env).stdout(Stdio::piped()).spawn().unwrap();
    let import = std_bin(&sb)
        .current_dir(env.dir.path())
        .args(["import", "-", "--dry-run", "--results", "r.csv"])
        .stdin(source.stdout.take().unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first row's line (after the header) is written while the producer waits.
    crate::harness::wait_for_lines(&env.path("r.csv"), 2);
    crate::harness::terminate(&import);
    std::fs::write(env.path("go"), "").unwrap();
    let out = import.wait_with_output().unwrap();
    source.wait().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("a dry run keeps no journal and is not resumed: run it again"),
        "{err}"
    );
    assert!(!err.contains("--resume"), "{err}");
}

/// A stop while the producer is idle (`tail -f log | wolfeo-bulk import -`): the run must not
/// wait for the producer's next line, which may never come. Every row read has its line, the
/// run ends as interrupted within seconds, and the producer is still waiting when it does.
fn a_stop_while_the_producer_is_idle_ends_at_once(extra: &[&str]) {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let mut source = producer(&env).stdout(Stdio::piped()).spawn().unwrap();
    let import = std_bin(&sb)
        .current_dir(env.dir.path())
        .args(["import", "-", "--rate", "unlimited", "--results", "r.csv"])
        .args(extra)
        .stdin(source.stdout.take().unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    crate::harness::wait_for_lines(&env.path("r.csv"), 2);
    let stopped = Instant::now();
    crate::harness::terminate(&import);
    // Were the stop to wait for the producer, the test fails instead of hanging.
    let go = env.path("go");
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        let _ = std::fs::write(go, "");
    });
    let out = import.wait_with_output().unwrap();
    let took = stopped.elapsed();
    assert!(
        !env.path("go").exists(),
        "the run waited for the producer ({took:?})"
    );
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
    std::fs::write(env.path("go"), "").unwrap();
    source.wait().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let rows = results(&env.path("r.csv"));
    assert_eq!(rows.len(), 1, "the one row read has its line");
    assert_eq!(rows[0]["email"], "first@ex.com");
    // What the server stored: the one row read, created once (nothing in a dry run).
    let stored: Vec<String> = sb.contacts().into_iter().map(|c| c.email).collect();
    match extra.contains(&"--dry-run") {
        true => assert!(stored.is_empty(), "{stored:?}"),
        false => {
            assert_eq!(stored, ["first@ex.com"]);
            assert_eq!(rows[0]["_outcome"], "created");
        }
    }
}

#[test]
fn a_stop_while_the_producer_is_idle_ends_a_dry_run_at_once() {
    a_stop_while_the_producer_is_idle_ends_at_once(&["--dry-run"]);
}

#[test]
fn a_stop_while_the_producer_is_idle_ends_an_import_at_once() {
    a_stop_while_the_producer_is_idle_ends_at_once(&[]);
}
