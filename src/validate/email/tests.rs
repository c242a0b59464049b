use super::is_valid_email;
use proptest::prelude::*;

macro_rules! fixture {
    ($file:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/emails/",
            $file
        ))
    };
}

/// Lines exactly as stored: split on LF only, never trimmed (spaces and TABs matter).
fn lines(file: &str) -> Vec<&str> {
    file.strip_suffix('\n')
        .unwrap_or(file)
        .split('\n')
        .collect()
}

/// Every line that gets the wrong verdict, so one failure lists all of them.
fn mismatches(file: &str, expected: bool) -> Vec<&str> {
    let wrong = |l: &&str| is_valid_email(l) != expected;
    lines(file).into_iter().filter(wrong).collect()
}

#[test]
fn rfc_valid_list() {
    let file = fixture!("rfc-valid.txt");
    assert_eq!(lines(file).len(), 47, "fixture changed?");
    let bad = mismatches(file, true);
    assert!(bad.is_empty(), "valid lines rejected: {bad:#?}");
}

#[test]
fn rfc_invalid_list() {
    let file = fixture!("rfc-invalid.txt");
    assert_eq!(lines(file).len(), 103, "fixture changed?");
    let bad = mismatches(file, false);
    assert!(bad.is_empty(), "invalid lines accepted: {bad:#?}");
}

/// egulias 2.1.25 (Laravel 8) accepted lines 22–27 (`test@email&` etc.), 30
/// (`example@ invalid.example.com`) and 47–52 (labels over 63 octets, ASCII and IDN; domains
/// over 253) of its valid list; 3.x/4.x, and so this port, reject them. Nothing else differs.
#[test]
fn egulias_2_1_25_lists() {
    let valid = lines(fixture!("egulias-2.1.25-rfc-valid.txt"));
    let rejected = (1..).zip(valid).filter(|(_, l)| !is_valid_email(l));
    let rejected: Vec<usize> = rejected.map(|(n, _)| n).collect();
    let expected: Vec<usize> = (22..=27).chain([30]).chain(47..=52).collect();
    assert_eq!(
        rejected, expected,
        "egulias-2.1.25-rfc-valid.txt line numbers"
    );
    let bad = mismatches(fixture!("egulias-2.1.25-rfc-invalid.txt"), false);
    assert!(bad.is_empty(), "invalid lines accepted: {bad:#?}");
}

/// Ordinary addresses, the README's cases that one UTF-8 line can't hold (CR, LF, NUL), and
/// egulias 3.2.5 verdicts where a tidier parser would differ.
const VALID: &[&str] = &[
    "john@doe.ie",
    "a.b+c@sub.example.co.uk",
    "o'brien@example.com",
    "foo@gmäil.com",
    "\"\r\"@invalid.example.com",
    "example@[\n]",
    "a(b)c@d",
    "a::b@c",
    "a IPv6@x",
    "a@[1.2.3.4]xyz",
    "a@b(c)d.e",
    "a@ſIPv6",
];
const INVALID: &[&str] = &[
    "",
    "aslsdlks",
    "@doe.ie",
    "john@",
    "john@doe.ie.",
    "jo hn@doe.ie",
    "exampl\ne@example.co.uk",
    "exam\rple@example.co.uk",
    "example@example\r.com",
    "example@exa\rmple.co.uk",
    "example@[\r]",
    "\"test\"\0@iana.org",
    "a@IPv6.com",
    "\"\\\\\"@x",
    "a@\u{20AC}.com",
    "a@b\u{00DF}.c\u{00A8}",
];

#[test]
fn known_verdicts() {
    let wrong_valid = VALID.iter().filter(|s| !is_valid_email(s));
    let wrong_invalid = INVALID.iter().filter(|s| is_valid_email(s));
    let wrong: Vec<_> = wrong_valid.chain(wrong_invalid).collect();
    assert!(wrong.is_empty(), "wrong verdicts: {wrong:#?}");
    // egulias counts a label's leading dot, so only the first label may have 63 octets.
    let x63 = "x".repeat(63);
    assert!(is_valid_email(&format!("a@{x63}.b")));
    assert!(is_valid_email(&format!("a@b.{}", &x63[1..])));
    assert!(!is_valid_email(&format!("a@b.{x63}")));
}

/// No recursion and linear time: 1 MiB of hostile input is handled at once (a quadratic
/// path would take minutes here, a recursive one would overflow the stack).
#[test]
fn hostile_inputs() {
    let mib = |unit: &str| unit.repeat((1 << 20) / unit.len());
    for unit in "( ) \" [ \\ (a@ a@[ @(".split(' ') {
        let s = mib(unit);
        for input in [format!("a{s}@b"), format!("a@{s}"), format!("{s}@a"), s] {
            let _ = is_valid_email(&input);
        }
    }
    // Long domains: one label, a million dots, a million IDN parts.
    for unit in ["a", "ä", "a.", "ä\u{3002}"] {
        assert!(!is_valid_email(&format!("a@{}", mib(unit))));
    }
}

proptest! {
    #[test]
    fn never_panics(s in any::<String>()) {
        let _ = is_valid_email(&s);
    }

    #[test]
    fn never_panics_on_email_like(s in "[a-zäſK46:@.\"()\\[\\]\\\\ \t\r\n\0,\u{3002}-]{0,40}") {
        let _ = is_valid_email(&s);
    }
}
