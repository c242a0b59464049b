//! The in-file duplicate rule (issue 19.6): a later row with an email seen before is
//! `duplicate` (not sent) only when the first occurrence got into the account; when the first
//! one failed on the server, the later row is `failed` with FIRST_OCCURRENCE_FAILED, so no row
//! claims a contact that does not exist.

use crate::harness::{Env, bin, read_csv, results, sandbox, unlimited};

#[test]
fn a_duplicate_of_a_row_the_server_refused_is_not_called_duplicate() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write(
        "in.csv",
        "email,tag_ids\n\
         a@example.com,999\n\
         A@example.com,\n\
         b@example.com,\n\
         b@example.com,\n\
         a@example.com,\n",
    );
    let summary = env.path("summary.json");
    bin(&sb)
        .args(["import", "--summary-json"])
        .arg(&summary)
        .arg(&input)
        .assert()
        .code(1);
    let rows = results(&env.path("in.results.csv"));
    let outcome = |i: usize| {
        (
            rows[i]["_outcome"].as_str(),
            rows[i]["_error_code"].as_str(),
        )
    };
    assert_eq!(
        rows[0]["_http_status"], "404",
        "the unknown tag id: {:?}",
        rows[0]
    );
    assert_eq!(outcome(1), ("failed", "FIRST_OCCURRENCE_FAILED"));
    assert!(rows[1]["_message"].contains("row 1"), "{:?}", rows[1]);
    assert!(
        matches!(rows[1]["_attempts"].as_str(), "" | "0"),
        "not sent"
    );
    assert_eq!(outcome(2), ("created", ""));
    assert_eq!(outcome(3), ("duplicate", ""), "first occurrence created");
    assert_eq!(outcome(4), ("failed", "FIRST_OCCURRENCE_FAILED"));

    let stored: Vec<String> = sb.contacts().into_iter().map(|c| c.email).collect();
    assert_eq!(stored, ["b@example.com"]);
    // One create per sent row (rows 1 and 3): rows 2, 4 and 5 were never sent.
    let by_status = sb.stats().responses_by_status;
    assert_eq!(
        (by_status.get(&404), by_status.get(&201)),
        (Some(&1), Some(&1)),
        "{by_status:?}"
    );
    // Both occurrences are in the rejects file, to be fixed and imported together.
    let (_, rejects) = read_csv(&env.path("in.rejects.csv"));
    let emails: Vec<&str> = rejects.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(emails, ["a@example.com", "A@example.com", "a@example.com"]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(json["outcomes"]["duplicate"], 1, "{json}");
    assert_eq!(json["outcomes"]["failed"], 2, "{json}");
}
