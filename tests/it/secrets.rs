//! The API key never appears in any output or file, even with `-v` and on errors.

use std::path::Path;

use wolfeo_bulk::sandbox::Config;

use crate::harness::{Env, bin, sandbox, unlimited};

const KEY: &str = "wk_live_DISTINCTIVE_9f3a7c1e5b";

fn assert_absent(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains(KEY), "the key leaked into {what}");
    assert!(
        !text.contains("9f3a7c1e5b"),
        "part of the key leaked into {what}"
    );
}

fn assert_no_file_has_the_key(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_absent(&path.display().to_string(), &std::fs::read(&path).unwrap());
        }
    }
}

#[test]
fn import_with_verbose_logging_never_shows_the_key() {
    let env = Env::new();
    let sb = sandbox(Config {
        api_keys: vec![KEY.to_string()],
        fail_rate: 0.3,
        seed: 3,
        ..unlimited()
    });
    let input = env.write(
        "in.csv",
        "email,first_name\na@example.com,A\nbad,B\nc@example.com,C\na@example.com,D\n",
    );
    let out = bin(&sb)
        .args([
            "import",
            input.to_str().unwrap(),
            "-v",
            "--rate",
            "unlimited",
            "--retry-base",
            "10ms",
        ])
        .arg("--summary-json")
        .arg(env.path("summary.json"))
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("POST contact"),
        "-v logs requests"
    );
    assert_absent("stdout", &out.stdout);
    assert_absent("stderr", &out.stderr);
    assert_no_file_has_the_key(env.dir.path());
}

#[test]
fn a_wrong_key_is_reported_without_being_printed() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write("in.csv", "email\na@example.com\n");
    let out = bin(&sb)
        .env("WOLFEO_API_KEY", KEY)
        .args(["import", input.to_str().unwrap(), "-vv"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    assert_absent("stderr", &out.stderr);
    assert_absent("stdout", &out.stdout);
    assert_no_file_has_the_key(env.dir.path());
}

#[test]
fn the_key_file_is_read_and_a_loose_mode_is_warned_about() {
    let env = Env::new();
    let sb = sandbox(Config {
        api_keys: vec![KEY.to_string()],
        ..unlimited()
    });
    let key_file = env.write("key", &format!("{KEY}\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let input = env.write("in.csv", "email\nk@example.com\n");
    let out = bin(&sb)
        .env_remove("WOLFEO_API_KEY")
        .args([
            "import",
            input.to_str().unwrap(),
            "--rate",
            "unlimited",
            "-v",
        ])
        .arg("--api-key-file")
        .arg(&key_file)
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("readable by other users"), "{stderr}");
    assert_absent("stderr", &out.stderr);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("in.results.csv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "results are private");
    }
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let sb = sandbox(unlimited());
    let env = Env::new();
    let input = env.write("in.csv", "email\na@example.com\n");
    bin(&sb)
        .env("WOLFEO_BASE_URL", "http://api.wolfeo.me/v1")
        .args(["import", input.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("https"));
}

#[test]
fn export_with_verbose_logging_never_shows_the_key() {
    let env = Env::new();
    let sb = sandbox(Config {
        api_keys: vec![KEY.to_string()],
        seed_contacts: 250,
        seed_tags: 3,
        fail_rate: 0.2,
        seed: 9,
        ..unlimited()
    });
    let out = bin(&sb)
        .current_dir(env.dir.path())
        .args([
            "export",
            "-v",
            "--rate",
            "unlimited",
            "--retry-base",
            "10ms",
            "--with-tags",
            "names",
        ])
        .args([
            "--output",
            "all.csv",
            "--state",
            "state.json",
            "--summary-json",
            "summary.json",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("GET contacts"),
        "-v logs requests"
    );
    assert!(env.path("all.csv").exists() && env.path("all.csv.manifest.json").exists());
    assert_absent("stdout", &out.stdout);
    assert_absent("stderr", &out.stderr);
    assert_no_file_has_the_key(env.dir.path());
    #[cfg(unix)]
    for name in [
        "all.csv",
        "all.csv.manifest.json",
        "state.json",
        "summary.json",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} is private");
    }
}
