//! Named accounts: two sandboxes as two accounts of one config file, the migration recipe of the
//! README run end to end (export from one by name, import into the other by name).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use wolfeo_bulk::sandbox::{Config, SandboxHandle};

use crate::harness::{Env, sandbox, unlimited};

const KEY_OLD: &str = "wk_old_ACCOUNT_7c1e5b";
const KEY_NEW: &str = "wk_new_ACCOUNT_93d0aa";

/// The binary with no key or server in its environment: only the config file can name them.
fn wolfeo(config_home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("wolfeo-bulk").expect("binary built");
    cmd.env("XDG_CONFIG_HOME", config_home)
        .env_remove("WOLFEO_API_KEY")
        .env_remove("WOLFEO_BASE_URL")
        .env_remove("WOLFEO_ACCOUNT")
        .env_remove("WOLFEO_CONFIG")
        .timeout(Duration::from_secs(120));
    cmd
}

/// email -> (first name, tag names): what an account holds, ids aside (they differ).
fn holdings(sb: &SandboxHandle) -> BTreeMap<String, (Option<String>, Vec<String>)> {
    let names: BTreeMap<u64, String> = sb.tags().into_iter().map(|t| (t.id, t.name)).collect();
    sb.contacts()
        .into_iter()
        .map(|c| {
            let mut tags: Vec<String> = c
                .tags
                .unwrap_or_default()
                .iter()
                .map(|id| names[id].clone())
                .collect();
            tags.sort();
            (c.email, (c.first_name, tags))
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn migrate_between_two_named_accounts() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let old = sandbox(Config {
        api_keys: vec![KEY_OLD.into()],
        seed_contacts: 30,
        seed_tags: 3,
        ..unlimited()
    });
    let new = sandbox(Config {
        api_keys: vec![KEY_NEW.into()],
        ..unlimited()
    });
    let config_home = env.path("config");
    let dir = config_home.join("wolfeo-bulk");
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("old.key");
    std::fs::write(&key_file, format!("{KEY_OLD}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let new_key = env.write("new.key", KEY_NEW);
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[accounts.old]\nbase_url = \"{}\"\nkey_file = \"old.key\"\n\n\
             [accounts.new]\nbase_url = \"{}\"\nkey_command = [\"cat\", {:?}]\n",
            old.base_url(),
            new.base_url(),
            new_key.display().to_string()
        ),
    )
    .unwrap();

    let export = env.path("contacts.csv");
    let out = wolfeo(&config_home)
        .args(["export", "--account", "old", "--with-tags", "names", "-o"])
        .arg(&export)
        .assert()
        .success();
    let export_err = out.get_output().stderr.clone();
    let out = wolfeo(&config_home)
        .env("WOLFEO_ACCOUNT", "new")
        .args(["import", "--create-missing-tags"])
        .arg(&export)
        .assert()
        .success();
    let import_err = out.get_output().stderr.clone();

    let before = holdings(&old);
    assert_eq!(before.len(), 30);
    assert!(before.values().any(|(_, tags)| !tags.is_empty()));
    assert_eq!(
        holdings(&new),
        before,
        "the new account holds what the old one did"
    );
    assert_eq!(
        old.contacts().len(),
        30,
        "nothing was written to the old account"
    );
    for (what, bytes) in [("export", &export_err), ("import", &import_err)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(KEY_OLD) && !text.contains(KEY_NEW),
            "{what}: {text}"
        );
    }
    assert!(String::from_utf8_lossy(&import_err).contains("account new: http://127.0.0.1:"));
}

#[test]
fn account_mistakes_are_usage_errors_that_name_the_account() {
    let env = Env::new();
    let config_home = env.path("config");
    std::fs::create_dir_all(config_home.join("wolfeo-bulk")).unwrap();
    let input = env.write("in.csv", "email\na@example.com\n");
    // No config file yet.
    wolfeo(&config_home)
        .args(["import", "-a", "prod"])
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--account prod: cannot read"));
    std::fs::write(
        config_home.join("wolfeo-bulk/config.toml"),
        "[accounts.staging]\nkey_command = [\"false\"]\n",
    )
    .unwrap();
    wolfeo(&config_home)
        .args(["import", "-a", "prod"])
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("(it has: staging)"));
    wolfeo(&config_home)
        .args(["import", "-a", "staging"])
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("key_command \"false\" failed"));
    // An account names the server: --base-url beside it is a contradiction.
    wolfeo(&config_home)
        .args([
            "import",
            "-a",
            "staging",
            "--base-url",
            "https://x.example/v1",
        ])
        .arg(&input)
        .assert()
        .code(2);
    assert!(!env.path("in.results.csv").exists(), "nothing was written");
}
