//! The API's contact rules, as the server runs them and as the client pre-checks them.
//!
//! The rules mirror a Laravel 8 controller (see `laravel-messages.md`):
//! `email` => `required|email|max:255`, `first_name`/`last_name` => `nullable|string|max:255`,
//! `email_marketing`/`gdpr` => `nullable|boolean`, `tag_ids`/`sequence_ids` => a comma-separated
//! id list checked by hand (malformed => 400 without details, the documented split). Values are
//! first trimmed and emptied to null by the framework's middleware ([`normalize`]).
//!
//! Two judges use them:
//! - [`server_check`] is a server: the sandbox, with the egulias/EmailValidator version it was
//!   told to run ([`EmailRule`]). Its answers equal real Laravel's for that version.
//! - [`check_contact`] is the client's pre-check, which import runs on the exact JSON it is about
//!   to send. **It rejects a row only when every plausible server rejects it with exactly these
//!   messages.** Which egulias the real API runs is unknown (Laravel 8 requires `^2.1.10`,
//!   Laravel 9 `^3.1`; the messages fit both), and the two disagree on thousands of addresses
//!   (`a@b_c.com`, `😀@x.com`, 64-octet labels...). A false rejection loses a contact the server
//!   would have taken; a false acceptance costs one request and comes back as the server's own
//!   422, which the results file records. So an email is refused locally only when both
//!   egulias 2.1.x and 3.x `RFCValidation` refuse it, and a row whose email the two versions
//!   dispute is never refused locally at all (even for another field): only the server knows
//!   whether its answer holds an email message. Likewise an id list is refused locally only when
//!   no parser could read ids in it ([`list_is_surely_malformed`]).
//!
//! Both judges are checked against the real framework (Laravel 8.83 and egulias 2.1.25 / 3.2.5)
//! by `tests/it/oracle.rs`; see `tests/oracle/README.md`.

pub mod egulias2;
pub mod email;
pub mod fast;
mod idn;
mod values;

pub use values::{
    PHP_TRIM, laravel_boolean, list_is_surely_malformed, normalize, parse_bool_cell, parse_id_list,
    php_trim, text_list_is_surely_malformed,
};

use serde_json::{Map, Value};

use crate::api::{ApiError, Details, codes};

/// `max:255` on the string fields, counted in characters as `mb_strlen` does.
pub const MAX_STRING_CHARS: usize = 255;

/// Fields the create and update endpoints read; anything else is ignored, as Laravel does.
pub const STRING_FIELDS: [&str; 2] = ["first_name", "last_name"];
pub const BOOLEAN_FIELDS: [&str; 2] = ["email_marketing", "gdpr"];
pub const LIST_FIELDS: [&str; 2] = ["tag_ids", "sequence_ids"];

/// Why a payload is refused: the two documented shapes of `VALIDATION_ERROR`.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// 422 with field-level details.
    Fields(Details),
    /// 400 without details: a malformed `tag_ids` / `sequence_ids` list.
    MalformedList { field: &'static str },
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Fields(_) => 422,
            Rejection::MalformedList { .. } => 400,
        }
    }

    pub fn to_api_error(&self) -> ApiError {
        match self {
            Rejection::Fields(details) => ApiError::validation(details.clone()),
            Rejection::MalformedList { field } => ApiError::new(
                codes::VALIDATION_ERROR,
                &format!("The {field} field must be a comma-separated list of ids"),
            ),
        }
    }
}

/// Which endpoint the payload is for: update makes `email` optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
}

/// Which egulias/EmailValidator a server's `email` rule runs: 2.1.x is what Laravel 8 installs,
/// 3.x what Laravel 9 installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailRule {
    /// egulias 2.1.25 (Laravel 8): lenient lexer, no length errors.
    #[default]
    Egulias2,
    /// egulias 3.x (Laravel 9; 4.x gives the same verdicts): label and domain lengths are
    /// errors, symbols and `_` in domains are refused.
    Egulias3,
}

impl EmailRule {
    /// True when this version's `RFCValidation` (all Laravel's plain `email` rule runs) accepts.
    pub fn accepts(self, email: &str) -> bool {
        match self {
            EmailRule::Egulias2 => egulias2::is_valid_email(email),
            EmailRule::Egulias3 => email::is_valid_email(email),
        }
    }

    pub fn parse(name: &str) -> Option<EmailRule> {
        match name {
            "egulias2" => Some(EmailRule::Egulias2),
            "egulias3" => Some(EmailRule::Egulias3),
            _ => None,
        }
    }
}

/// Who decides: a server with a known email rule, or the client, which must not presume one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judge {
    Server(EmailRule),
    Client,
}

/// The client's pre-check of a normalized payload (see the module notes): `Err` only for what
/// every plausible server refuses, with the messages every one of them gives.
pub fn check_contact(payload: &Map<String, Value>, mode: Mode) -> Result<(), Rejection> {
    judge(payload, mode, Judge::Client)
}

/// A server's answer to a normalized payload (the sandbox's).
pub fn server_check(
    payload: &Map<String, Value>,
    mode: Mode,
    rule: EmailRule,
) -> Result<(), Rejection> {
    judge(payload, mode, Judge::Server(rule))
}

fn judge(payload: &Map<String, Value>, mode: Mode, judge: Judge) -> Result<(), Rejection> {
    let mut details = Details::new();
    let mut fail = |field: &str, message: String| {
        details.entry(field.to_string()).or_default().push(message);
    };
    let mut disputed = false;

    // `required` fails on null and on an empty array, and then stops the field's other rules.
    match payload.get("email") {
        None | Some(Value::Null) if mode == Mode::Create => {
            fail("email", "The email field is required.".into())
        }
        Some(v) if mode == Mode::Create && is_empty_array(v) => {
            fail("email", "The email field is required.".into())
        }
        None | Some(Value::Null) => {}
        Some(value) => {
            // The one-pass check settles the usual address (valid under both versions);
            // anything else gets the full rules.
            let valid = match (value.as_str(), judge) {
                (None, _) => false,
                (Some(s), _) if fast::accepts(s) => true,
                (Some(s), Judge::Server(rule)) => rule.accepts(s),
                (Some(s), Judge::Client) => {
                    let (v2, v3) = (egulias2::is_valid_email(s), email::is_valid_email(s));
                    disputed = v2 != v3;
                    v2 || v3
                }
            };
            if !valid {
                fail("email", "The email must be a valid email address.".into());
            }
            if size(value) > MAX_STRING_CHARS {
                fail("email", too_long("email"));
            }
        }
    }

    for field in STRING_FIELDS {
        match payload.get(field) {
            None | Some(Value::Null) => {}
            Some(value) => {
                if !value.is_string() {
                    fail(field, format!("The {} must be a string.", display(field)));
                }
                if size(value) > MAX_STRING_CHARS {
                    fail(field, too_long(field));
                }
            }
        }
    }

    for field in BOOLEAN_FIELDS {
        match payload.get(field) {
            None | Some(Value::Null) => {}
            Some(v) if laravel_boolean(v).is_some() => {}
            Some(_) => fail(
                field,
                format!("The {} field must be true or false.", display(field)),
            ),
        }
    }

    if !details.is_empty() {
        // A disputed email: the server's details may or may not hold an email message.
        return if disputed {
            Ok(())
        } else {
            Err(Rejection::Fields(details))
        };
    }
    for field in LIST_FIELDS {
        let Some(v) = payload.get(field) else {
            continue;
        };
        let malformed = match judge {
            Judge::Server(_) => parse_id_list(v).is_none(),
            Judge::Client => list_is_surely_malformed(v),
        };
        if malformed {
            return Err(Rejection::MalformedList { field });
        }
    }
    Ok(())
}

/// PHP decodes both `[]` and `{}` to an empty array, which `required` refuses.
fn is_empty_array(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Laravel's `getSize()` without a numeric rule: `mb_strlen` of a string (code points), the
/// item count of an array; other scalars are far below any limit here.
fn size(value: &Value) -> usize {
    match value {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    }
}

fn too_long(field: &str) -> String {
    format!(
        "The {} must not be greater than {MAX_STRING_CHARS} characters.",
        display(field)
    )
}

/// Laravel's `:attribute` for snake_case keys: underscores become spaces.
fn display(field: &str) -> String {
    field.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<(), Rejection> {
        let mut map = v.as_object().unwrap().clone();
        normalize(&mut map);
        check_contact(&map, Mode::Create)
    }

    fn details(v: Value) -> Details {
        match check(v) {
            Err(Rejection::Fields(d)) => d,
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_plain_contact() {
        assert_eq!(
            check(
                json!({"email": "john@doe.ie", "first_name": "John", "gdpr": true, "tag_ids": "123,53434,2503"})
            ),
            Ok(())
        );
    }

    #[test]
    fn email_is_required_after_trimming() {
        for v in [
            json!({}),
            json!({"email": ""}),
            json!({"email": "   "}),
            json!({"email": null}),
        ] {
            assert_eq!(details(v)["email"], vec!["The email field is required."]);
        }
    }

    #[test]
    fn reports_every_failing_field_with_laravel_wording() {
        let d = details(json!({
            "email": "not-an-email",
            "first_name": "x".repeat(256),
            "last_name": 12,
            "gdpr": "yes",
            "email_marketing": 2
        }));
        assert_eq!(d["email"], vec!["The email must be a valid email address."]);
        assert_eq!(
            d["first_name"],
            vec!["The first name must not be greater than 255 characters."]
        );
        assert_eq!(d["last_name"], vec!["The last name must be a string."]);
        assert_eq!(d["gdpr"], vec!["The gdpr field must be true or false."]);
        assert_eq!(
            d["email_marketing"],
            vec!["The email marketing field must be true or false."]
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert_eq!(
            check(json!({"email": "a@b.c", "first_name": "é".repeat(255)})),
            Ok(())
        );
    }

    #[test]
    fn an_overlong_invalid_email_gets_both_messages() {
        let d = details(json!({"email": format!("{}@", "a".repeat(300))}));
        assert_eq!(
            d["email"],
            vec![
                "The email must be a valid email address.",
                "The email must not be greater than 255 characters."
            ]
        );
    }

    #[test]
    fn booleans_follow_laravel_strictly() {
        for ok in [
            json!(true),
            json!(false),
            json!(0),
            json!(1),
            json!("0"),
            json!("1"),
        ] {
            assert_eq!(check(json!({"email": "a@b.co", "gdpr": ok})), Ok(()));
        }
        for bad in [json!("true"), json!("yes"), json!(2), json!([true])] {
            assert!(check(json!({"email": "a@b.co", "gdpr": bad})).is_err());
        }
    }

    #[test]
    fn malformed_lists_are_400_and_field_errors_win() {
        let r = check(json!({"email": "a@b.co", "tag_ids": "12,abc"})).unwrap_err();
        assert_eq!(r, Rejection::MalformedList { field: "tag_ids" });
        assert_eq!(r.status(), 400);
        assert_eq!(r.to_api_error().details, None);
        let both = check(json!({"email": "bad", "sequence_ids": "1,,2"})).unwrap_err();
        assert_eq!(both.status(), 422);
    }

    /// Every address either egulias version accepts is sent, alone or next to a bad field.
    #[test]
    fn the_client_refuses_only_what_both_versions_refuse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/emails/");
        for file in ["rfc-valid.txt", "egulias-2.1.25-rfc-valid.txt"] {
            let text = std::fs::read_to_string(format!("{dir}{file}")).unwrap();
            for line in text.strip_suffix('\n').unwrap().split('\n') {
                let mut row = json!({"email": line}).as_object().unwrap().clone();
                normalize(&mut row);
                let Some(email) = row["email"].as_str().map(str::to_string) else {
                    continue;
                };
                assert_eq!(
                    check_contact(&row, Mode::Create),
                    Ok(()),
                    "{file}: {line:?}"
                );
                row.insert("gdpr".into(), json!("yes"));
                let disputed =
                    EmailRule::Egulias2.accepts(&email) != EmailRule::Egulias3.accepts(&email);
                assert_eq!(
                    check_contact(&row, Mode::Create).is_ok(),
                    disputed,
                    "{line:?}"
                );
            }
        }
        let row = json!({"email": "a@b_c.com"}).as_object().unwrap().clone();
        assert_eq!(
            server_check(&row, Mode::Create, EmailRule::Egulias2),
            Ok(())
        );
        assert!(server_check(&row, Mode::Create, EmailRule::Egulias3).is_err());
    }

    proptest::proptest! {
        /// The fast path (held against the 3.x port in `fast.rs`) must hold for 2.x too.
        #[test]
        fn the_fast_path_holds_for_egulias2(s in "[a-zA-Z0-9_%+'.@-]{1,30}") {
            proptest::prop_assert!(!fast::accepts(&s) || egulias2::is_valid_email(&s), "{:?}", s);
        }
    }

    #[test]
    fn update_does_not_require_email() {
        let map = json!({"first_name": "Ann"}).as_object().unwrap().clone();
        assert_eq!(check_contact(&map, Mode::Update), Ok(()));
    }
}
