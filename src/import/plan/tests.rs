//! The planner on generated and hand-written rows: what each row becomes before anything is sent.

use super::*;
use crate::csv_in::{CsvInput, Options};
use proptest::prelude::*;

fn plan_all(bytes: Vec<u8>, overrides: &[(String, String)]) -> Vec<Work> {
    plan_all_with(bytes, overrides, true)
}

fn plan_all_with(bytes: Vec<u8>, overrides: &[(String, String)], fast: bool) -> Vec<Work> {
    let Ok(mut input) =
        CsvInput::from_reader("fuzz.csv", std::io::Cursor::new(bytes), &Options::default())
    else {
        return Vec::new();
    };
    let headers = input.headers().to_vec();
    let Ok(mapping) = Mapping::resolve(&headers, overrides) else {
        return Vec::new();
    };
    let tags = TagIndex::from([("vip".to_string(), 7)]);
    let mut planner = Planner::new(mapping, headers, Some(tags), None, false);
    planner.fast = fast;
    let mut record = Record::default();
    let mut works = Vec::new();
    while let Ok(true) = input.read_record(&mut record) {
        works.push(planner.plan(&record, false));
    }
    works
}

fn outcome(work: &Work) -> Option<Kind> {
    match work {
        Work::Send(_) => None,
        Work::Done(o) | Work::Settled(o) => Some(o.kind),
    }
}

/// A request as sent: body, email, note.
type Sent = (Vec<u8>, String, Option<String>);

/// What a row became, comparable: the outcome, or the exact request.
fn decided(work: &Work) -> (Option<Outcome>, Option<Sent>) {
    match work {
        Work::Send(p) => (
            None,
            Some((p.body.to_vec(), p.email.clone(), p.note.clone())),
        ),
        Work::Done(o) | Work::Settled(o) => (Some(o.clone()), None),
    }
}

/// The one-pass check on borrowed cells changes no decision: every row of a varied input
/// is planned the same with it and with the full check on the JSON map alone.
#[test]
fn the_fast_check_decides_as_the_full_check() {
    let mut spared = 0;
    for seed in 0..24 {
        let text = crate::import::dry::tests::varied_csv(seed, seed as usize % 3, 300);
        let fast = plan_all_with(text.clone().into_bytes(), &[], true);
        let full = plan_all_with(text.into_bytes(), &[], false);
        assert_eq!(fast.len(), full.len());
        for (row, (a, b)) in fast.iter().zip(&full).enumerate() {
            assert_eq!(decided(a), decided(b), "seed {seed}, row {}", row + 1);
            spared += usize::from(matches!(a, Work::Send(_)));
        }
    }
    assert!(spared > 1000, "only {spared} rows were sent");
}

#[test]
fn builds_the_exact_payload() {
    let works = plan_all(
        b"Email,First Name,GDPR,Tag IDs,Notes\n a@b.co ,00123, YES ,\"1, 2\",x\n".to_vec(),
        &[],
    );
    let Work::Send(p) = &works[0] else {
        panic!("row should be sent")
    };
    assert_eq!(
        std::str::from_utf8(&p.body).unwrap(),
        r#"{"email":"a@b.co","first_name":"00123","gdpr":true,"tag_ids":"1, 2"}"#
    );
}

#[test]
fn duplicates_invalid_rows_and_unknown_tag_names() {
    let works = plan_all(
        b"email,gdpr,tags\nA@x.co,,\na@X.CO,,\nbad,,\nb@x.co,maybe,\nc@x.co,,Ghost\n".to_vec(),
        &[],
    );
    let kinds: Vec<Option<Kind>> = works.iter().map(outcome).collect();
    assert_eq!(
        kinds,
        [
            None,
            Some(Kind::Duplicate),
            Some(Kind::Invalid),
            Some(Kind::Invalid),
            Some(Kind::Invalid)
        ]
    );
}

proptest! {
    /// Reader + mapper + validator never panic, whatever the bytes.
    #[test]
    fn the_row_pipeline_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = plan_all(bytes, &[]);
    }

    #[test]
    fn csv_like_input_never_panics(
        body in "[a-z@.,;\"\t\r\n ]{0,200}",
        header in prop::sample::select(vec!["email", "Email,First Name,gdpr", "email;tags", "E-mail\tLNAME\ttag_ids"]),
    ) {
        let text = format!("{header}\n{body}");
        let _ = plan_all(text.into_bytes(), &[]);
    }
}
