//! What a row asserts, and how it differs from the contact the account holds.
//!
//! A row asserts exactly what import would send for it: [`Expected::read`] takes the JSON body
//! import's planner built (the same mapping, trimming, `'` guard and consent rules: an
//! opt-out column reads as `email_marketing=false`) and the row's `tags` cell read by import's
//! tag-list reader. An empty cell is not sent, so it asserts nothing, unless `--strict`, where
//! an empty name or tag cell of a mapped column asserts "empty" (an empty consent cell still
//! asserts nothing: the server's default for an omitted consent is not documented). Tags are a
//! subset test (the file's tags must all be on the contact; other tags are fine) unless
//! `--strict`, which wants the same set. Emails are equal when their lower-cased forms are, as
//! the server finds them. [`differences`] is pure; each difference names the field and both
//! values, the file's first: `first_name: "Zoë" != "Zoe"`.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::api::Contact;
use crate::mapping::{Field, Mapping};
use crate::text::sanitize_quoted;

/// Longest value quoted in a `_diff` cell.
const QUOTE_CHARS: usize = 120;

/// What one row asserts; `None` = not asserted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    pub email: String,
    /// `Some("")` asserts "no value" (`--strict` and an empty cell).
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email_marketing: Option<bool>,
    pub gdpr: Option<bool>,
    pub tag_ids: Option<Vec<u64>>,
    /// Tag names as written in the `tags` column.
    pub tag_names: Option<Vec<String>>,
    /// Custom values (`--custom-fields`), compared by [`super::custom`].
    pub custom: Vec<super::custom::Wanted>,
}

impl Expected {
    /// From import's payload for the row (`body`), its cells and the mapping.
    pub fn read(body: &[u8], cells: &[String], mapping: &Mapping, strict: bool) -> Expected {
        let map: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
        let text = |key: &str, field: Field| match map.get(key).and_then(Value::as_str) {
            Some(v) => Some(v.to_string()),
            None if strict && mapping.column(field).is_some() => Some(String::new()),
            None => None,
        };
        let tag_ids = text("tag_ids", Field::TagIds).map(|list| {
            list.split(',')
                .filter_map(|id| id.trim().parse().ok())
                .collect()
        });
        let tag_names = mapping
            .column(Field::Tags)
            .and_then(|c| cells.get(c))
            .map(|cell| crate::mapping::values::tag_names(cell))
            .filter(|names| strict || !names.is_empty())
            .map(|names| names.into_iter().map(|n| n.into_owned()).collect());
        Expected {
            email: text("email", Field::Email).unwrap_or_default(),
            first_name: text("first_name", Field::FirstName),
            last_name: text("last_name", Field::LastName),
            email_marketing: map.get("email_marketing").and_then(Value::as_bool),
            gdpr: map.get("gdpr").and_then(Value::as_bool),
            tag_ids,
            tag_names,
            custom: super::custom::wanted(mapping, cells, strict),
        }
    }

    /// Whether the row says anything about tags (their memberships must then be read).
    pub fn asserts_tags(&self) -> bool {
        self.tag_ids.is_some() || self.tag_names.is_some()
    }
}

/// The contact's side of the comparison: its tag ids (when read) and every tag's name.
pub struct Held<'a> {
    pub contact: &'a Contact,
    pub tag_ids: Option<&'a [u64]>,
    pub names: &'a HashMap<u64, String>,
}

/// Every difference between the row and the contact, in field order; empty when they agree.
pub fn differences(want: &Expected, held: &Held<'_>, strict: bool) -> Vec<String> {
    let c = held.contact;
    let mut diffs = Vec::new();
    for (field, want, have) in [
        ("first_name", &want.first_name, &c.first_name),
        ("last_name", &want.last_name, &c.last_name),
    ] {
        if let Some(want) = want
            && want.as_str() != have.as_deref().unwrap_or("")
        {
            diffs.push(format!("{field}: {} != {}", quote(want), quote_opt(have)));
        }
    }
    for (field, want, have) in [
        ("email_marketing", want.email_marketing, c.email_marketing),
        ("gdpr", want.gdpr, c.gdpr),
    ] {
        if want.is_some_and(|w| w != have) {
            diffs.push(format!("{field}: {} != {have}", !have));
        }
    }
    let held_ids = held.tag_ids.unwrap_or(&[]);
    if let Some(ids) = &want.tag_ids {
        let file: BTreeSet<u64> = ids.iter().copied().collect();
        let account: BTreeSet<u64> = held_ids.iter().copied().collect();
        if !agrees(&file, &account, strict) {
            diffs.push(format!(
                "tag_ids: {} != {}",
                id_list(ids),
                id_list(held_ids)
            ));
        }
    }
    if let Some(names) = &want.tag_names {
        let mut account: Vec<&str> = held_ids
            .iter()
            .filter_map(|id| held.names.get(id).map(String::as_str))
            .collect();
        account.sort_by_key(|n| n.to_lowercase());
        let lower = |n: &str| n.to_lowercase();
        let file: BTreeSet<String> = names.iter().map(|n| lower(n)).collect();
        let have: BTreeSet<String> = account.iter().map(|n| lower(n)).collect();
        if !agrees(&file, &have, strict) {
            diffs.push(format!(
                "tags: {} != {}",
                name_list(names.iter().map(String::as_str)),
                name_list(account.into_iter())
            ));
        }
    }
    diffs
}

/// The file's set is on the contact (or, with `--strict`, is exactly the contact's).
fn agrees<T: Ord>(file: &BTreeSet<T>, account: &BTreeSet<T>, strict: bool) -> bool {
    if strict {
        file == account
    } else {
        file.is_subset(account)
    }
}

fn quote(s: &str) -> String {
    if s.is_empty() {
        "(empty)".into()
    } else {
        format!("\"{}\"", sanitize_quoted(s, QUOTE_CHARS))
    }
}

fn quote_opt(s: &Option<String>) -> String {
    quote(s.as_deref().unwrap_or(""))
}

fn id_list(ids: &[u64]) -> String {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!("[{}]", ids.join(", "))
}

fn name_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(quote).collect();
    format!("[{}]", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(headers: &[&str]) -> (Vec<String>, Mapping) {
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        let mapping = Mapping::resolve(&headers, &[]).unwrap();
        (headers, mapping)
    }

    fn contact() -> Contact {
        Contact {
            id: 7,
            email: "zoe@example.com".into(),
            first_name: Some("Zoe".into()),
            last_name: None,
            email_marketing: true,
            gdpr: false,
            created_at: None,
            tags: None,
            sequences: None,
        }
    }

    fn diff(body: &str, cells: &[&str], headers: &[&str], strict: bool) -> Vec<String> {
        let (_, mapping) = mapping(headers);
        let cells: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
        let want = Expected::read(body.as_bytes(), &cells, &mapping, strict);
        let names = HashMap::from([(1, "VIP".to_string()), (2, "News".to_string())]);
        let c = contact();
        let held = Held {
            contact: &c,
            tag_ids: Some(&[2]),
            names: &names,
        };
        differences(&want, &held, strict)
    }

    #[test]
    fn names_and_consent_name_both_values() {
        let d = diff(
            r#"{"email":"zoe@example.com","first_name":"Zoë","email_marketing":false}"#,
            &[],
            &["email", "first_name", "email_marketing"],
            false,
        );
        assert_eq!(
            d,
            [
                r#"first_name: "Zoë" != "Zoe""#,
                "email_marketing: false != true"
            ]
        );
    }

    #[test]
    fn empty_cells_assert_nothing_unless_strict() {
        let headers = ["email", "first_name", "tags"];
        let body = r#"{"email":"zoe@example.com"}"#;
        assert!(diff(body, &["zoe@example.com", "", ""], &headers, false).is_empty());
        assert_eq!(
            diff(body, &["zoe@example.com", "", ""], &headers, true),
            [r#"first_name: (empty) != "Zoe""#, r#"tags: [] != ["News"]"#]
        );
    }

    #[test]
    fn tags_are_a_subset_by_name_or_id_and_exact_when_strict() {
        let headers = ["email", "tags", "tag_ids"];
        let body = r#"{"email":"zoe@example.com","tag_ids":"2"}"#;
        let cells = ["zoe@example.com", "\"news\"", "2"];
        assert!(diff(body, &cells, &headers, false).is_empty());
        let body_missing = r#"{"email":"zoe@example.com","tag_ids":"1,2"}"#;
        let cells = ["zoe@example.com", "\"VIP\",\"News\"", "1,2"];
        assert_eq!(
            diff(body_missing, &cells, &headers, false),
            [
                "tag_ids: [1, 2] != [2]",
                r#"tags: ["VIP", "News"] != ["News"]"#
            ]
        );
    }
}
