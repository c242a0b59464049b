//! Request parameters as a Laravel controller sees them, and the shared list-query rules.
//!
//! Laravel's `$request->input()` merges the query string with the body, whatever the body's
//! encoding; the sandbox does the same (query string first, then a form or JSON body, which wins
//! on conflict). Values are then trimmed and empty strings become null (`validate::normalize`),
//! as Laravel's global middleware does before any rule runs.
//!
//! Also here, because several endpoints share them: `page`/`per_page` validation, the
//! `contact_id`-or-`email` identifier rule, and the `period`/`range` filter. All pure functions,
//! unit-tested with a fixed "now".

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use serde_json::{Map, Value};

use super::store::Ident;
use crate::api::{Details, messages};
use crate::validate;

pub type Params = Map<String, Value>;

/// Query-string pairs as string values; a repeated key keeps the last value, as PHP does.
pub fn from_query(query: Option<&str>) -> Params {
    let mut params = Params::new();
    if let Some(query) = query {
        merge_pairs(&mut params, query.as_bytes());
    }
    params
}

fn merge_pairs(params: &mut Params, encoded: &[u8]) {
    for (k, v) in form_urlencoded::parse(encoded) {
        params.insert(k.into_owned(), Value::String(v.into_owned()));
    }
}

/// The body was present but is not a JSON object (or not JSON at all).
#[derive(Debug, PartialEq)]
pub struct MalformedBody;

/// Merges a form or JSON body over `params`. A body without a recognised form content type is
/// read as JSON (clients that forget the header still work); an empty body is no input.
pub fn merge_body(
    params: &mut Params,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), MalformedBody> {
    if content_type.is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded")) {
        merge_pairs(params, body);
        return Ok(());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => {
            params.extend(object);
            Ok(())
        }
        _ => Err(MalformedBody),
    }
}

/// Laravel's `integer` rule on a query or body value: a JSON integer or a decimal string.
pub fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn present<'a>(params: &'a Params, key: &str) -> Option<&'a Value> {
    params.get(key).filter(|v| !v.is_null())
}

/// `page` (default 1, at least 1) and `per_page` (default 50, 1..=100). Failures of both are
/// reported together, as a Laravel validator does. Non-integer `page` gets the same message as
/// `page=0`: the sandbox's choice (the docs do not say).
pub fn pagination(params: &Params, details: &mut Details) -> (u64, u64) {
    let page = match present(params, "page") {
        None => Some(1),
        Some(v) => integer(v).filter(|&n| n >= 1),
    };
    let per_page = match present(params, "per_page") {
        None => Some(50),
        Some(v) => integer(v).filter(|n| (1..=100).contains(n)),
    };
    if page.is_none() {
        details.insert("page".into(), vec![messages::PAGE.into()]);
    }
    if per_page.is_none() {
        details.insert("per_page".into(), vec![messages::PER_PAGE.into()]);
    }
    (page.unwrap_or(1) as u64, per_page.unwrap_or(50) as u64)
}

/// A required parameter, in Laravel's `required` wording.
pub fn required(field: &str, details: &mut Details) {
    details.insert(
        field.into(),
        vec![format!("The {} field is required.", display(field))],
    );
}

/// The `name` of a tag or a sequence: `required|string|max:255`, in Laravel's wording.
pub fn required_name(input: &Params, details: &mut Details) -> Option<String> {
    match input.get("name") {
        None | Some(Value::Null) => {
            required("name", details);
            None
        }
        Some(Value::String(name)) if name.chars().count() > validate::MAX_STRING_CHARS => {
            details.insert(
                "name".into(),
                vec!["The name must not be greater than 255 characters.".into()],
            );
            None
        }
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => {
            details.insert("name".into(), vec!["The name must be a string.".into()]);
            None
        }
    }
}

pub fn not_integer(field: &str, details: &mut Details) {
    details.insert(
        field.into(),
        vec![format!("The {} must be an integer.", display(field))],
    );
}

fn display(field: &str) -> String {
    field.replace('_', " ")
}

/// `contact_id` (wins) or `email`; neither gives Laravel's `required_without` message.
pub fn ident<'a>(params: &'a Params, details: &mut Details) -> Option<Ident<'a>> {
    if let Some(v) = present(params, "contact_id") {
        return match integer(v) {
            // Ids are positive; 0 or negative simply matches nothing (404).
            Some(n) => Some(Ident::Id(u64::try_from(n).unwrap_or(0))),
            None => {
                not_integer("contact_id", details);
                None
            }
        };
    }
    if let Some(email) = present(params, "email").and_then(Value::as_str) {
        return Some(Ident::Email(email));
    }
    details.insert(
        "contact_id".into(),
        vec!["The contact id field is required when email is not present.".into()],
    );
    None
}

/// `[from, to)` bounds on `created_at`, or `None` for `INVALID_PERIOD`. Days are UTC calendar
/// days; a `between` range includes both end days; `lastNdays` means the last N×24 hours.
pub type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

pub fn period_bounds(
    period: Option<&str>,
    range: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Bounds> {
    let midnight = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?).into();
    let today = now.date_naive();
    Some(match period.unwrap_or("all") {
        "all" => (None, None),
        "today" => (midnight(today), midnight(today.succ_opt()?)),
        "yesterday" => (midnight(today.pred_opt()?), midnight(today)),
        "last7days" => (Some(now - chrono::Duration::days(7)), None),
        "last30days" => (Some(now - chrono::Duration::days(30)), None),
        "between" => {
            let (start, end) = range?.split_once("to")?;
            let start = NaiveDate::parse_from_str(start, "%Y-%m-%d").ok()?;
            let end = NaiveDate::parse_from_str(end, "%Y-%m-%d").ok()?;
            if start > end {
                return None;
            }
            (
                midnight(start),
                midnight(end.checked_add_days(Days::new(1))?),
            )
        }
        _ => return None,
    })
}

/// Query parameters of a GET, normalized like a body.
pub fn normalized_query(query: Option<&str>) -> Params {
    let mut params = from_query(query);
    validate::normalize(&mut params);
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn body_wins_over_query_and_forms_are_read() {
        let mut p = from_query(Some("email=q%40x.co&first_name=Q&gdpr=1"));
        merge_body(
            &mut p,
            Some("application/json"),
            br#"{"email":"j@x.co","gdpr":true}"#,
        )
        .unwrap();
        assert_eq!(p["email"], json!("j@x.co"));
        assert_eq!(p["first_name"], json!("Q"));
        assert_eq!(p["gdpr"], json!(true));
        let mut f = Params::new();
        merge_body(
            &mut f,
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"email=a%2Bb%40x.co&tag_ids=1%2C2",
        )
        .unwrap();
        assert_eq!(f["email"], json!("a+b@x.co"));
        assert_eq!(f["tag_ids"], json!("1,2"));
    }

    #[test]
    fn malformed_or_non_object_json_is_refused() {
        for body in [&b"{"[..], b"[1,2]", b"\"x\"", b"nul", b"email=a@b.c"] {
            assert_eq!(
                merge_body(&mut Params::new(), None, body),
                Err(MalformedBody)
            );
        }
        assert_eq!(
            merge_body(&mut Params::new(), Some("application/json"), b"  "),
            Ok(())
        );
    }

    #[test]
    fn pagination_rules() {
        let check = |q: &str| {
            let mut d = Details::new();
            let r = pagination(&normalized_query(Some(q)), &mut d);
            (r, d.keys().cloned().collect::<Vec<_>>())
        };
        assert_eq!(check(""), ((1, 50), vec![]));
        assert_eq!(check("page=3&per_page=100"), ((3, 100), vec![]));
        assert_eq!(check("per_page=0").1, ["per_page"]);
        assert_eq!(check("per_page=101").1, ["per_page"]);
        assert_eq!(check("per_page=abc&page=0").1, ["page", "per_page"]);
        assert_eq!(check("page=1.5").1, ["page"]);
        assert_eq!(check("page=").0, (1, 50));
    }

    #[test]
    fn identifiers() {
        let mut d = Details::new();
        let p = normalized_query(Some("email=A%40b.co&contact_id=7"));
        assert!(matches!(ident(&p, &mut d), Some(Ident::Id(7))));
        let p = normalized_query(Some("email=A%40b.co"));
        assert!(matches!(ident(&p, &mut d), Some(Ident::Email("A@b.co"))));
        assert!(d.is_empty());
        assert!(ident(&normalized_query(Some("email=")), &mut d).is_none());
        assert_eq!(
            d["contact_id"],
            ["The contact id field is required when email is not present."]
        );
    }

    #[test]
    fn periods_with_a_fixed_now() {
        let now = utc("2024-03-10T15:30:00Z");
        let b = |p: &str, r: Option<&str>| period_bounds(Some(p), r, now);
        assert_eq!(period_bounds(None, None, now), Some((None, None)));
        assert_eq!(
            b("today", None),
            Some((
                Some(utc("2024-03-10T00:00:00Z")),
                Some(utc("2024-03-11T00:00:00Z"))
            ))
        );
        assert_eq!(
            b("yesterday", None),
            Some((
                Some(utc("2024-03-09T00:00:00Z")),
                Some(utc("2024-03-10T00:00:00Z"))
            ))
        );
        assert_eq!(
            b("last7days", None),
            Some((Some(utc("2024-03-03T15:30:00Z")), None))
        );
        assert_eq!(
            b("last30days", None),
            Some((Some(utc("2024-02-09T15:30:00Z")), None))
        );
        assert_eq!(
            b("between", Some("2023-06-01to2023-06-29")),
            Some((
                Some(utc("2023-06-01T00:00:00Z")),
                Some(utc("2023-06-30T00:00:00Z"))
            ))
        );
        assert!(b("between", Some("2023-06-01to2023-06-01")).is_some());
        for (p, r) in [
            ("between", None),
            ("between", Some("2023-06-29to2023-06-01")),
            ("between", Some("2023-06-01-2023-06-29")),
            ("between", Some("2023-13-01to2023-12-01")),
            ("lastweek", None),
            ("ALL", None),
        ] {
            assert_eq!(b(p, r), None, "{p} {r:?}");
        }
    }
}
