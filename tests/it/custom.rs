//! Custom fields through the real binary: one request per non-empty value, local validation
//! of select values, `partial` rows and their resume, and kill -9 at random moments over a
//! faulty sandbox. Every test asserts what the sandbox stored, request by request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use wolfeo_bulk::sandbox::{Config, SandboxHandle};

use crate::harness::{Env, bin, results, sandbox, std_bin, unlimited};

/// Company (text), Plan (select Starter,Pro,Elite), Size (text): ids 1, 2, 3.
fn with_fields(config: Config) -> SandboxHandle {
    sandbox(Config {
        seed_custom_fields: vec![
            ("Company".into(), None),
            ("Plan".into(), Some("Starter,Pro,Elite".into())),
            ("Size".into(), None),
        ],
        ..config
    })
}

fn requests(sb: &SandboxHandle, route: &str) -> u64 {
    sb.stats()
        .requests_by_endpoint
        .get(route)
        .copied()
        .unwrap_or(0)
}

const POSTS: &str = "POST /v1/contact";
const PUTS: &str = "PUT /v1/contact-custom-field";
const LISTS: &str = "GET /v1/custom-fields";

/// `n` rows `email,Company Name,Plan,Size`; some cells empty on purpose. Returns the CSV and
/// what each contact should end with.
fn rows(n: usize) -> (String, BTreeMap<String, BTreeMap<String, String>>) {
    let plans = ["Starter", "Pro", "Elite", ""];
    let mut csv = String::from("email,Company Name,Plan,Size\n");
    let mut want = BTreeMap::new();
    for i in 0..n {
        let email = format!("user{i}@example.com");
        let company = if i % 5 == 0 {
            String::new()
        } else {
            format!("Firm {i}, Ltd")
        };
        let plan = plans[i % 4];
        let size = if i % 3 == 0 {
            format!("{}", i * 10)
        } else {
            String::new()
        };
        csv.push_str(&format!("{email},\"{company}\",{plan},{size}\n"));
        let mut values = BTreeMap::new();
        for (name, v) in [
            ("Company", &company),
            ("Plan", &plan.to_string()),
            ("Size", &size),
        ] {
            if !v.is_empty() {
                values.insert(name.to_string(), v.clone());
            }
        }
        if !values.is_empty() {
            want.insert(email, values);
        }
    }
    (csv, want)
}

fn non_empty(want: &BTreeMap<String, BTreeMap<String, String>>) -> u64 {
    want.values().map(|v| v.len() as u64).sum()
}

#[test]
fn three_custom_columns_cost_one_request_per_non_empty_value() {
    let env = Env::new();
    let sb = with_fields(unlimited());
    let (csv, want) = rows(24);
    let input = env.write("in.csv", &csv);
    let out = bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .args(["--map", "Company Name=custom:Company"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("custom fields: \"Company Name\" -> Company (#1), \"Plan\" -> Plan (#2, select), \"Size\" -> Size (#3)"),
        "{stderr}"
    );
    assert_eq!(requests(&sb, POSTS), 24);
    assert_eq!(requests(&sb, PUTS), non_empty(&want));
    assert_eq!(requests(&sb, LISTS), 1);
    assert_eq!(sb.custom_values(), want, "every value stored as written");
    assert!(sb.custom_value_sets().values().all(|&n| n == 1));
    let results = results(&env.path("in.results.csv"));
    let first = &results[1];
    assert_eq!(first["_outcome"], "created");
    assert_eq!(first["_steps"], "create 201; Company 200; Plan 200");
    assert_eq!(first["_attempts"], "3");
    let empty = &results[0];
    assert_eq!(empty["_steps"], "create 201; Plan 200; Size 200");
}

#[test]
fn an_invalid_select_value_is_rejected_locally_with_nothing_sent() {
    let env = Env::new();
    let sb = with_fields(unlimited());
    let csv = format!(
        "email,Plan,Company\nok@example.com,Pro,A\nbad@example.com,Gold,B\nlong@example.com,Pro,{}\n",
        "x".repeat(1001)
    );
    let input = env.write("in.csv", &csv);
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .code(1);
    let stored: Vec<String> = sb.contacts().into_iter().map(|c| c.email).collect();
    assert_eq!(stored, ["ok@example.com"], "no contact created half-filled");
    assert_eq!(requests(&sb, POSTS), 1);
    assert_eq!(requests(&sb, PUTS), 2);
    let results = results(&env.path("in.results.csv"));
    assert_eq!(results[1]["_outcome"], "invalid");
    assert!(
        results[1]["_details"].contains("\"Plan\":[\"The selected value is invalid. (\\\"Gold\\\"; options: Starter, Pro, Elite)\"]"),
        "{}",
        results[1]["_details"]
    );
    assert!(results[2]["_details"].contains("greater than 1000 characters"));
    assert_eq!(results[2]["_attempts"], "");
}

#[test]
fn a_404_on_one_field_gives_partial_and_a_resume_fixes_it_in_one_request() {
    let env = Env::new();
    let sb = with_fields(unlimited());
    let input = env.write(
        "in.csv",
        "email,Company,Plan\na@example.com,A,Pro\nb@example.com,B,\nA@example.com,,\n",
    );
    // Plan (#2) is listed but its sets answer 404, as if deleted after the listing.
    sb.set_custom_field_gone(2, true);
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .code(1);
    let first = results(&env.path("in.results.csv"));
    assert_eq!(first[0]["_outcome"], "partial");
    assert!(
        first[0]["_message"].contains("not set: Plan"),
        "{}",
        first[0]["_message"]
    );
    assert_eq!(first[0]["_steps"], "create 201; Company 200; Plan 404");
    assert_eq!(first[0]["_error_code"], "NOT_FOUND");
    assert_eq!(first[1]["_outcome"], "created");
    assert_eq!(
        first[2]["_outcome"], "duplicate",
        "the partial row's contact exists: a harmless duplicate"
    );
    let rejects = std::fs::read_to_string(env.path("in.rejects.csv")).unwrap();
    assert!(rejects.contains("a@example.com") && !rejects.contains("b@example.com"));

    sb.set_custom_field_gone(2, false);
    let (posts, puts) = (requests(&sb, POSTS), requests(&sb, PUTS));
    bin(&sb)
        .args([
            "import",
            input.to_str().unwrap(),
            "--rate",
            "unlimited",
            "--resume",
        ])
        .assert()
        .success();
    assert_eq!(requests(&sb, POSTS), posts, "no contact created again");
    assert_eq!(requests(&sb, PUTS), puts + 1, "only the missing value");
    let second = results(&env.path("in.results.csv"));
    assert_eq!(second[0]["_outcome"], "created");
    assert_eq!(
        second[0]["_steps"],
        "create 201; Company 200; Plan 404; Plan 200"
    );
    assert_eq!(second[0]["_attempts"], "4");
    assert_eq!(second[1]["_outcome"], "created");
    let values = sb.custom_values();
    assert_eq!(values["a@example.com"]["Plan"], "Pro");
    assert_eq!(sb.contacts().len(), 2);
}

fn spawn(sb: &SandboxHandle, args: &[&str]) -> Child {
    std_bin(sb)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Step records of the journal that prove a value set, per (row, field).
fn journaled_sets(journal: &std::path::Path) -> HashMap<(u64, String), usize> {
    let mut sets = HashMap::new();
    for line in std::fs::read_to_string(journal).unwrap().lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["t"] == "step" && v["ok"] == true && v.get("field_id").is_some() {
            let key = (
                v["row"].as_u64().unwrap(),
                v["step"].as_str().unwrap().into(),
            );
            *sets.entry(key).or_default() += 1;
        }
    }
    sets
}

#[test]
fn kill_9_at_random_moments_then_resume_sets_every_value_once() {
    let env = Env::new();
    let sb = with_fields(Config {
        fail_rate: 0.08,
        drop_rate: 0.04,
        seed: 15,
        ..unlimited()
    });
    let (csv, want) = rows(300);
    let input = env.write("big.csv", &csv);
    let input = input.to_str().unwrap();
    let journal = env.path("big.results.csv.journal");
    let args = [
        "import",
        input,
        "--rate",
        "unlimited",
        "--map",
        "Company Name=custom:Company",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let mut kills = 0;
    for round in 0..4 {
        let mut child = if round == 0 {
            spawn(&sb, &args)
        } else {
            spawn(&sb, &[&args[..], &["--resume"]].concat())
        };
        // Kill once the journal has grown by a random number of lines, or let it finish.
        let lines =
            |p: &std::path::Path| std::fs::read_to_string(p).map_or(0, |t| t.lines().count());
        let target = lines(&journal) + rng.random_range(40..200);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if lines(&journal) >= target {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
                break;
            }
            assert!(Instant::now() < deadline, "round {round} took too long");
            std::thread::sleep(Duration::from_millis(2));
        }
        child.wait().unwrap();
    }
    assert!(kills >= 2, "the run was killed mid-way ({kills} kills)");
    bin(&sb)
        .args([&args[..], &["--resume"]].concat())
        .assert()
        .success();

    let contacts = sb.contacts();
    let emails: HashSet<&str> = contacts.iter().map(|c| c.email.as_str()).collect();
    assert_eq!(
        (contacts.len(), emails.len()),
        (300, 300),
        "no contact twice"
    );
    assert_eq!(sb.custom_values(), want, "every value set, as written");
    let sets = journaled_sets(&journal);
    assert_eq!(sets.len() as u64, non_empty(&want), "every value journaled");
    assert!(
        sets.values().all(|&n| n == 1),
        "no PUT repeated after its success was journaled"
    );
    let results = results(&env.path("big.results.csv"));
    assert_eq!(results.len(), 300);
    assert!(results.iter().all(|r| r["_outcome"] == "created"));
}

#[test]
fn sequences_by_name_resolve_and_missing_ones_are_created_on_request() {
    let env = Env::new();
    let sb = sandbox(Config {
        seed_sequences: 2,
        ..unlimited()
    });
    let input = env.write(
        "in.csv",
        "email,Sequences\na@example.com,\"sequence 1, Welcome\"\nb@example.com,Sequence 2\n",
    );
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .code(1);
    let first = results(&env.path("in.results.csv"));
    assert_eq!(first[0]["_outcome"], "invalid");
    assert!(
        first[0]["_message"]
            .contains("Sequence not found: Welcome (use --create-missing-sequences"),
        "{}",
        first[0]["_message"]
    );
    assert_eq!(
        sb.contacts().len(),
        1,
        "only the row whose names all resolve"
    );
    assert_eq!(sb.contacts()[0].sequences, Some(vec![2]));

    let again = env.write(
        "again.csv",
        "email,sequences\nc@example.com,\"Sequence 1, Welcome\"\nd@example.com,welcome\n",
    );
    bin(&sb)
        .args(["import", again.to_str().unwrap(), "--rate", "unlimited"])
        .arg("--create-missing-sequences")
        .assert()
        .success();
    let welcome: Vec<u64> = sb
        .sequences()
        .into_iter()
        .filter(|s| s.name == "Welcome")
        .map(|s| s.id)
        .collect();
    assert_eq!(welcome, [3], "created once, for both rows");
    let by_email: HashMap<String, Option<Vec<u64>>> = sb
        .contacts()
        .into_iter()
        .map(|c| (c.email, c.sequences))
        .collect();
    assert_eq!(by_email["c@example.com"], Some(vec![1, 3]));
    assert_eq!(by_email["d@example.com"], Some(vec![3]));
}

#[test]
fn export_with_custom_fields_round_trips_and_resumes_after_kill_9() {
    let env = Env::new();
    let a = with_fields(Config {
        latency: Some((Duration::from_millis(5), Duration::from_millis(10))),
        ..unlimited()
    });
    let (csv, want) = rows(60);
    let input = env.write("in.csv", &csv);
    bin(&a)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .args(["--map", "Company Name=custom:Company"])
        .assert()
        .success();
    assert_eq!(a.custom_values(), want);

    // A first export killed once it has read 20 contacts' values.
    let out = env.path("all.csv");
    let cache = env.path("all.csv.custom-fields.jsonl");
    let export = [
        "export",
        "-o",
        out.to_str().unwrap(),
        "--with-custom-fields",
    ];
    let mut child = spawn(&a, &[&export[..], &["--rate", "100/s"]].concat());
    let deadline = Instant::now() + Duration::from_secs(30);
    let lines = || std::fs::read_to_string(&cache).map_or(0, |t| t.matches('\n').count());
    while lines() < 21 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the export ended too soon"
        );
        assert!(Instant::now() < deadline, "the cache never grew");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "no file at the target after a kill");
    let cached = lines() as u64 - 1;
    let gets = requests(&a, "GET /v1/contact");
    let run = bin(&a)
        .args([&export[..], &["--rate", "unlimited"]].concat())
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(&format!(
            "cost: {} requests (one GET /v1/contact per contact)",
            60 - cached
        )),
        "{stderr}"
    );
    assert_eq!(
        requests(&a, "GET /v1/contact") - gets,
        60 - cached,
        "the second run reads only what the first did not"
    );
    assert!(!cache.exists(), "a completed export removes its cache");

    // Into an account whose fields have other ids: the values come back by name.
    let b = sandbox(Config {
        seed_custom_fields: vec![
            ("Size".into(), None),
            ("Plan".into(), Some("Starter,Pro,Elite".into())),
            ("Company".into(), None),
        ],
        ..unlimited()
    });
    bin(&b)
        .args(["import", out.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .success();
    assert_eq!(b.custom_values(), want, "every value reproduced");
    assert_eq!(b.contacts().len(), 60);
}

#[test]
fn an_existing_contact_gets_values_only_with_on_exists_update() {
    let env = Env::new();
    let sb = with_fields(unlimited());
    sb.insert_contact("old@example.com");
    let input = env.write("in.csv", "email,Company\nold@example.com,Wolfeo Ltd\n");
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .success();
    let skipped = results(&env.path("in.results.csv"));
    assert_eq!(skipped[0]["_outcome"], "exists");
    assert!(skipped[0]["_message"].contains("custom values not sent"));
    assert_eq!(requests(&sb, PUTS), 0);
    assert!(sb.custom_values().is_empty());

    let out = env.path("update.csv");
    bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .args(["--on-exists", "update", "-o", out.to_str().unwrap()])
        .assert()
        .success();
    let updated = results(&out);
    assert_eq!(updated[0]["_outcome"], "updated");
    assert_eq!(updated[0]["_steps"], "update 200; Company 200");
    assert_eq!(
        updated[0]["_attempts"], "4",
        "POST 409 + GET + PUT contact + PUT value"
    );
    assert_eq!(
        sb.custom_values()["old@example.com"]["Company"],
        "Wolfeo Ltd"
    );
}

/// A dry run asks no server, so it cannot know which unmapped columns the account's custom
/// fields would take: it says so rather than let "not sent: Plan" read as final, and sends
/// nothing.
#[test]
fn a_dry_run_says_custom_fields_are_not_looked_up() {
    let env = Env::new();
    let sb = with_fields(unlimited());
    let input = env.write("in.csv", "email,Plan\na@x.co,Pro\n");
    let out = bin(&sb)
        .args(["import", "--dry-run"])
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("custom fields: not looked up in a dry run"),
        "{stderr}"
    );
    assert!(stderr.contains("not sent: Plan"), "{stderr}");
    assert_eq!(sb.stats().requests_total, 0);
}
