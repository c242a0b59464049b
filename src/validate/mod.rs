//! The API's contact rules, run by both sides.
//!
//! The sandbox validates every request with [`check_contact`]; import runs the very same function
//! on the exact JSON payload it is about to send. A row is therefore rejected locally if and only
//! if the server would reject it, with the same status, code, message and `details`.
//!
//! The rules mirror a Laravel 8 controller (see `laravel-messages.md`):
//! `email` => `required|email|max:255`, `first_name`/`last_name` => `nullable|string|max:255`,
//! `email_marketing`/`gdpr` => `nullable|boolean`, `tag_ids`/`sequence_ids` => a comma-separated
//! id list checked by hand (malformed => 400 without details, the documented split).

pub mod email;
pub mod fast;

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

/// Laravel's global `TrimStrings` and `ConvertEmptyStringsToNull` middleware, which run before
/// any rule: `"  a@b.c "` is validated as `a@b.c` and `""` as null.
pub fn normalize(payload: &mut Map<String, Value>) {
    for value in payload.values_mut() {
        if let Value::String(s) = value {
            let trimmed = s.trim();
            if trimmed.is_empty() {
                *value = Value::Null;
            } else if trimmed.len() != s.len() {
                *s = trimmed.to_string();
            }
        }
    }
}

/// Checks a normalized payload against the contact rules.
pub fn check_contact(payload: &Map<String, Value>, mode: Mode) -> Result<(), Rejection> {
    let mut details = Details::new();
    let mut fail = |field: &str, message: String| {
        details.entry(field.to_string()).or_default().push(message);
    };

    match payload.get("email") {
        None | Some(Value::Null) if mode == Mode::Create => {
            fail("email", "The email field is required.".into())
        }
        None | Some(Value::Null) => {}
        Some(value) => {
            // The one-pass check settles the usual address; anything else gets the full rule.
            let valid = value
                .as_str()
                .is_some_and(|s| fast::accepts(s) || email::is_valid_email(s));
            if !valid {
                fail("email", "The email must be a valid email address.".into());
            }
            if let Some(s) = value.as_str()
                && s.chars().count() > MAX_STRING_CHARS
            {
                fail("email", too_long("email"));
            }
        }
    }

    for field in STRING_FIELDS {
        match payload.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                if s.chars().count() > MAX_STRING_CHARS {
                    fail(field, too_long(field));
                }
            }
            Some(_) => fail(field, format!("The {} must be a string.", display(field))),
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
        return Err(Rejection::Fields(details));
    }
    for field in LIST_FIELDS {
        if let Some(v) = payload.get(field)
            && parse_id_list(v).is_none()
        {
            return Err(Rejection::MalformedList { field });
        }
    }
    Ok(())
}

/// Laravel's `boolean` rule: exactly `true, false, 0, 1, "0", "1"`.
pub fn laravel_boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.as_str() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// The spellings a CSV cell may use for a boolean (any case). The client turns them into JSON
/// booleans; anything else is sent as written so the rule above reports it.
pub fn parse_bool_cell(cell: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["true", "1", "yes", "y"];
    const FALSE: [&str; 4] = ["false", "0", "no", "n"];
    if TRUE.iter().any(|t| cell.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| cell.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

/// An id list is one or more positive integers separated by commas, with optional spaces
/// around each (`"123, 53434,2503"`). Empty items (`"1,,2"`, `"1,"`) and anything non-numeric
/// are malformed. A bare JSON integer is accepted as a one-item list. Duplicates are kept once.
/// The real API's exact notion of "malformed" is undocumented; this is the sandbox's choice.
pub fn parse_id_list(v: &Value) -> Option<Vec<u64>> {
    let mut ids = match v {
        Value::Number(n) => vec![n.as_u64().filter(|&n| n > 0)?],
        Value::String(s) => s
            .split(',')
            .map(|item| {
                let item = item.trim();
                if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                item.parse::<u64>().ok().filter(|&n| n > 0)
            })
            .collect::<Option<Vec<u64>>>()?,
        _ => return None,
    };
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    Some(ids)
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
    fn csv_boolean_spellings() {
        assert_eq!(parse_bool_cell("TRUE"), Some(true));
        assert_eq!(parse_bool_cell("No"), Some(false));
        assert_eq!(parse_bool_cell("1"), Some(true));
        assert_eq!(parse_bool_cell("oui"), None);
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

    #[test]
    fn id_list_syntax() {
        assert_eq!(
            parse_id_list(&json!("123,53434,2503")),
            Some(vec![123, 53434, 2503])
        );
        assert_eq!(parse_id_list(&json!(" 1 , 2,2 ")), Some(vec![1, 2]));
        assert_eq!(parse_id_list(&json!(7)), Some(vec![7]));
        for bad in ["", "1,", ",1", "1;2", "1.5", "-3", "0", "1 2", "+4"] {
            assert_eq!(parse_id_list(&json!(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn update_does_not_require_email() {
        let map = json!({"first_name": "Ann"}).as_object().unwrap().clone();
        assert_eq!(check_contact(&map, Mode::Update), Ok(()));
    }
}
