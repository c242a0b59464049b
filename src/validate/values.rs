//! Field values as the framework sees them: PHP's `trim`, the global middleware that runs before
//! any rule, Laravel's `boolean`, and the id lists of `tag_ids` / `sequence_ids`.
//!
//! Invariant: the client trims a cell exactly as the server's `TrimStrings` middleware would trim
//! the same JSON string ([`php_trim`]), so what import sends is what the server validates and
//! stores, and a local verdict is never taken on a different value than the server's. Other
//! Unicode white space at a cell's edges (NBSP, U+3000, U+2028, U+FEFF...) is kept and sent: the
//! server keeps it too, so trimming it here would store a different value than the API stores
//! for the same cell, and it cannot make a row fail locally that passes on the server (the server
//! sees the very same characters). Called by the mapping's row readers (so by import's payload
//! building) and by the sandbox.

use serde_json::{Map, Value};

/// The characters PHP's `trim()` removes by default: `" \t\n\r\0\x0B"`.
pub const PHP_TRIM: [char; 6] = [' ', '\t', '\n', '\r', '\0', '\x0B'];

/// PHP `trim($s)` with its default character list (not Rust's Unicode `str::trim`).
pub fn php_trim(s: &str) -> &str {
    // Every character of the list is ASCII, so byte positions are character boundaries; this
    // runs on every mapped cell, and a byte test is several times cheaper than `trim_matches`.
    let trimmed = |b: &u8| PHP_TRIM.contains(&char::from(*b));
    let bytes = s.as_bytes();
    let Some(start) = bytes.iter().position(|b| !trimmed(b)) else {
        return "";
    };
    let end = bytes
        .iter()
        .rposition(|b| !trimmed(b))
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// Laravel's global `TrimStrings` then `ConvertEmptyStringsToNull` middleware, which run before
/// any rule: `"  a@b.c \0"` is validated (and stored) as `a@b.c`, and `""` or `"\0"` as null.
/// Like the framework's `TransformsRequest`, nested arrays are cleaned too.
pub fn normalize(payload: &mut Map<String, Value>) {
    payload.values_mut().for_each(normalize_value);
}

fn normalize_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            let trimmed = php_trim(s);
            if trimmed.is_empty() {
                *value = Value::Null;
            } else if trimmed.len() != s.len() {
                *s = trimmed.to_string();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_value),
        Value::Object(map) => map.values_mut().for_each(normalize_value),
        _ => {}
    }
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

/// The yes/no spellings a cell may use (any case): `true/1/yes/y`, `false/0/no/n`. Import reads
/// consent cells through the mapping's wider table; this narrow one is for deciding whether a
/// value already in a body means "yes".
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

/// An id list is one or more positive integers separated by commas, with optional PHP white
/// space around each (`"123, 53434,2503"`). Empty items (`"1,,2"`, `"1,"`) and anything
/// non-numeric are malformed. A bare JSON integer is accepted as a one-item list. Duplicates are
/// kept once. The real API's exact notion of "malformed" is undocumented; this is the sandbox's.
pub fn parse_id_list(v: &Value) -> Option<Vec<u64>> {
    let mut ids = match v {
        Value::Number(n) => vec![n.as_u64().filter(|&n| n > 0)?],
        Value::String(s) => s
            .split(',')
            .map(|item| {
                let item = php_trim(item);
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

/// The client's narrower test: a list that no plausible parser reads as ids, because an item
/// holds something other than digits and white space (`"12,abc"`, `"1;2"`, `"-3"`). Empty items
/// and `0` are left for the server, whose exact rule is unknown.
pub fn list_is_surely_malformed(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_u64().is_none(),
        Value::String(s) => text_list_is_surely_malformed(s),
        Value::Null => false,
        _ => true,
    }
}

/// [`list_is_surely_malformed`] for a list sent as a JSON string.
pub fn text_list_is_surely_malformed(s: &str) -> bool {
    s.split(',')
        .any(|item| !php_trim(item).bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trims_by_bytes_as_trim_matches_does() {
        let mut s = String::new();
        let alphabet = [' ', '\t', '\n', '\0', '\x0B', 'a', 'é', '\u{a0}', '\r'];
        for n in 0..9usize.pow(4) {
            s.clear();
            let mut k = n;
            for _ in 0..4 {
                s.push(alphabet[k % 9]);
                k /= 9;
            }
            assert_eq!(php_trim(&s), s.trim_matches(&PHP_TRIM[..]), "{s:?}");
        }
    }

    #[test]
    fn trims_exactly_what_php_trims() {
        assert_eq!(php_trim(" \t\n\r\0\x0Ba@b.c\0 "), "a@b.c");
        for kept in [
            "\u{A0}x",
            "x\u{3000}",
            "\u{FEFF}x",
            "x\u{2028}",
            "\x0Cx",
            "x\u{85}",
        ] {
            assert_eq!(php_trim(kept), kept, "{kept:?}");
        }
    }

    #[test]
    fn normalize_is_the_middleware() {
        let mut map = json!({"a": " x\0", "b": "\0", "c": ["  ", " y"], "d": 1})
            .as_object()
            .unwrap()
            .clone();
        normalize(&mut map);
        assert_eq!(
            Value::Object(map),
            json!({"a": "x", "b": null, "c": [null, "y"], "d": 1})
        );
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
    fn the_client_refuses_only_lists_that_hold_no_ids() {
        for sure in ["1;2", "abc", "-3", "1.5", "+4", "1 2"] {
            assert!(list_is_surely_malformed(&json!(sure)), "{sure:?}");
        }
        for unsure in ["", "1,", "1,,2", "0", " 1 , 2"] {
            assert!(!list_is_surely_malformed(&json!(unsure)), "{unsure:?}");
        }
    }
}
