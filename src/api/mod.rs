//! The Wolfeo v1 wire format, defined once.
//!
//! The client decodes with these types and the sandbox renders with them, so the two cannot
//! drift apart. Decoding is tolerant of both documented generations of the API (`id` or
//! `contact_id`, `gdpr` or `GDPR`, tag ids as integers or numeric strings); rendering always
//! produces the current (post 2026-05-09) shape.

pub mod client;
pub mod endpoints;
pub mod paging;
pub mod reply;
pub mod retry;
mod transport;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// `error.code` values of the documented error envelope.
pub mod codes {
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const CONTACT_EXISTS: &str = "CONTACT_EXISTS";
    pub const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
    pub const SERVER_ERROR: &str = "SERVER_ERROR";
    pub const INVALID_PERIOD: &str = "INVALID_PERIOD";
    /// Sandbox choice for `POST /v1/tag` with a name already in use (undocumented upstream).
    pub const TAG_EXISTS: &str = "TAG_EXISTS";
}

/// Message texts. Only the first two and the 429 body are documented; the others are the
/// sandbox's explicit choice and the client never depends on them.
pub mod messages {
    pub const UNAUTHORIZED: &str = "Invalid or missing API key";
    pub const VALIDATION: &str = "The given data was invalid";
    pub const TOO_MANY_ATTEMPTS: &str = "Too Many Attempts.";
    pub const FORBIDDEN: &str = "Your API key does not have access to this resource";
    pub const CONTACT_CAP: &str = "Your plan's contact limit has been reached";
    pub const CONTACT_EXISTS: &str = "A contact with this email already exists";
    pub const CONTACT_NOT_FOUND: &str = "Contact not found";
    pub const TAG_NOT_FOUND: &str = "Tag not found";
    pub const SEQUENCE_NOT_FOUND: &str = "Sequence not found";
    pub const ROUTE_NOT_FOUND: &str = "The requested resource does not exist";
    pub const SERVER_ERROR: &str = "An unexpected error occurred";
    pub const INVALID_PERIOD: &str = "Invalid period or missing range";
    pub const PER_PAGE: &str = "The per page must be between 1 and 100.";
    pub const PAGE: &str = "The page must be at least 1.";
    pub const MALFORMED_JSON: &str = "Malformed JSON body";
    pub const TAG_EXISTS: &str = "A tag with this name already exists";
    /// Documented (§9.8) for `PUT /v1/contact-custom-field`.
    pub const CONTACT_OR_FIELD_NOT_FOUND: &str = "Contact or custom field not found";
}

/// Field -> messages, as in `error.details`. Ordered so that `_details` cells are stable.
pub type Details = BTreeMap<String, Vec<String>>;

/// `{"success": false, "error": {...}}`: every error except 429.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub success: bool,
    pub error: ApiError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
}

impl ApiError {
    pub fn new(code: &str, message: &str) -> Self {
        ApiError {
            code: code.to_string(),
            message: message.to_string(),
            details: None,
        }
    }

    pub fn validation(details: Details) -> Self {
        ApiError {
            code: codes::VALIDATION_ERROR.to_string(),
            message: messages::VALIDATION.to_string(),
            details: Some(details),
        }
    }

    pub fn into_envelope(self) -> ErrorEnvelope {
        ErrorEnvelope {
            success: false,
            error: self,
        }
    }
}

/// The 429 body, which does not use the envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThrottleBody {
    pub message: String,
}

/// `{"success": true, "data": ..., "meta"?: ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Success<T> {
    pub success: bool,
    pub data: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl<T> Success<T> {
    pub fn new(data: T) -> Self {
        Success {
            success: true,
            data,
            meta: None,
        }
    }

    pub fn paged(data: T, meta: Meta) -> Self {
        Success {
            success: true,
            data,
            meta: Some(meta),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub current_page: u64,
    pub last_page: u64,
    pub per_page: u64,
    pub total: u64,
}

/// `data` of a create: `{"id": N}` now, `{"contact_id": N}` before 2026-05-09.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedId {
    #[serde(alias = "contact_id", alias = "tag_id", alias = "sequence_id")]
    pub id: u64,
}

/// A contact as returned by the list and retrieve endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: u64,
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email_marketing: bool,
    #[serde(default, alias = "GDPR")]
    pub gdpr: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_ids",
        skip_serializing_if = "Option::is_none"
    )]
    pub tags: Option<Vec<u64>>,
    #[serde(
        default,
        deserialize_with = "lenient_ids",
        skip_serializing_if = "Option::is_none"
    )]
    pub sequences: Option<Vec<u64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(alias = "tag_id")]
    pub id: u64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    #[serde(alias = "sequence_id")]
    pub id: u64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

/// A custom-field definition (`GET /v1/custom-fields`, §9.8, documented in full): `values` is a
/// comma-separated list of the allowed options, filled only for `select` fields. Types other
/// than `text` and `select` are not documented: they are kept as written and treated as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomField {
    #[serde(alias = "custom_field_id")]
    pub id: u64,
    pub name: String,
    #[serde(default = "text_type")]
    pub r#type: String,
    #[serde(default)]
    pub values: Option<String>,
}

fn text_type() -> String {
    "text".into()
}

/// The documented maximum length of a custom-field value, in characters.
pub const CUSTOM_VALUE_MAX_CHARS: usize = 1000;

impl CustomField {
    pub fn is_select(&self) -> bool {
        self.r#type.eq_ignore_ascii_case("select")
    }

    /// The options of a `select` field: `values` split on commas, each trimmed as the server
    /// trims input (PHP `trim`), empty ones dropped.
    pub fn options(&self) -> Vec<&str> {
        self.values
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(crate::validate::php_trim)
            .filter(|o| !o.is_empty())
            .collect()
    }

    /// Whether the server accepts `value` (already trimmed) for this field. The docs do not say
    /// whether a `select` value outside `values` is refused; the sandbox refuses it (Laravel's
    /// `in` rule: exact, case-sensitive), and the importer checks the same way before sending,
    /// so no contact is created half-filled. One definition, used by both.
    pub fn allows(&self, value: &str) -> Result<(), String> {
        if value.chars().count() > CUSTOM_VALUE_MAX_CHARS {
            return Err(format!(
                "The value must not be greater than {CUSTOM_VALUE_MAX_CHARS} characters."
            ));
        }
        if self.is_select() && !self.options().contains(&value) {
            return Err("The selected value is invalid.".into());
        }
        Ok(())
    }
}

/// `data` of `PUT /v1/contact-custom-field` (§9.8): the value as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomValueSet {
    #[serde(default)]
    pub contact_id: Option<u64>,
    pub custom_field_id: u64,
    #[serde(default)]
    pub value: Option<String>,
}

/// One custom value of a contact as `GET /v1/contact` shows it. [INFERRED] The docs cut that
/// response; the sandbox answers `"custom_fields": [{"id", "name", "value"}]`, and the client
/// also reads `custom_field_id` for `id` and an object `{"Company": "Wolfeo Ltd"}` of names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomValue {
    #[serde(default, alias = "custom_field_id")]
    pub id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

/// A retrieved contact with its custom values (`GET /v1/contact`); `custom_fields` is `None`
/// when the server sends none, which a caller must tell from "no values".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactDetail {
    #[serde(flatten)]
    pub contact: Contact,
    #[serde(
        default,
        deserialize_with = "lenient_custom_values",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_fields: Option<Vec<CustomValue>>,
}

/// `[{"id","name","value"}]`, or `{"name": "value"}`; values that are numbers are read as text.
fn lenient_custom_values<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<CustomValue>>, D::Error> {
    let raw: Option<serde_json::Value> = Option::deserialize(d)?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    Ok(match raw {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|item| {
                    let id = item
                        .get("id")
                        .or_else(|| item.get("custom_field_id"))
                        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()));
                    let name = item.get("name").and_then(text);
                    let value = item.get("value").and_then(text);
                    (id.is_some() || name.is_some()).then_some(CustomValue { id, name, value })
                })
                .collect(),
        ),
        Some(serde_json::Value::Object(map)) => Some(
            map.iter()
                .map(|(name, v)| CustomValue {
                    id: None,
                    name: Some(name.clone()),
                    value: text(v),
                })
                .collect(),
        ),
        Some(_) => None,
    })
}

/// Tag and sequence arrays were `["59"]` before 2026-05-09 and `[59]` after.
fn lenient_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u64>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Int(u64),
        Str(String),
    }
    let raw: Option<Vec<Id>> = Option::deserialize(d)?;
    raw.map(|ids| {
        ids.into_iter()
            .map(|id| match id {
                Id::Int(n) => Ok(n),
                Id::Str(s) => s.trim().parse().map_err(serde::de::Error::custom),
            })
            .collect()
    })
    .transpose()
}

/// Timestamps of contacts: ISO-8601 with microseconds and `Z`.
pub fn format_contact_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Timestamps of tags: `2021-01-01 09:00:00`, no zone.
pub fn format_tag_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Parses either timestamp format; `None` for anything else.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_create_shapes() {
        let new: Success<CreatedId> =
            serde_json::from_str(r#"{"success":true,"data":{"id":79}}"#).unwrap();
        let old: Success<CreatedId> =
            serde_json::from_str(r#"{"success":true,"data":{"contact_id":79}}"#).unwrap();
        assert_eq!(new.data.id, 79);
        assert_eq!(old.data.id, 79);
    }

    #[test]
    fn decodes_documented_list_sample_with_upper_case_gdpr() {
        let body = r#"{ "success": true,
          "data": [ { "id": 1, "email": "john@doe.ie", "first_name": "John", "last_name": "Doe",
                      "email_marketing": true, "GDPR": false,
                      "created_at": "2024-01-01T09:00:00.000000Z" } ],
          "meta": { "current_page": 1, "last_page": 21, "per_page": 50, "total": 1038 } }"#;
        let page: Success<Vec<Contact>> = serde_json::from_str(body).unwrap();
        assert_eq!(page.data[0].email, "john@doe.ie");
        assert!(page.data[0].email_marketing);
        assert_eq!(
            page.meta,
            Some(Meta {
                current_page: 1,
                last_page: 21,
                per_page: 50,
                total: 1038
            })
        );
    }

    #[test]
    fn custom_fields_decode_tolerantly_and_select_options_are_exact() {
        let listed: Success<Vec<CustomField>> = serde_json::from_str(
            r#"{ "success": true,
              "data": [ { "id": 1, "name": "Company", "type": "text", "values": null },
                        { "id": 2, "name": "Plan", "type": "select", "values": "Starter,Pro,Elite" } ] }"#,
        )
        .unwrap();
        let (company, plan) = (&listed.data[0], &listed.data[1]);
        assert_eq!(plan.options(), ["Starter", "Pro", "Elite"]);
        assert!(plan.allows("Pro").is_ok() && plan.allows("pro").is_err());
        assert!(company.allows("anything").is_ok());
        assert!(company.allows(&"x".repeat(1001)).is_err());
        assert!(company.allows(&"é".repeat(1000)).is_ok());
        for body in [
            r#"{"id":1,"email":"a@b.co","custom_fields":[{"id":1,"name":"Company","value":"W"}]}"#,
            r#"{"id":1,"email":"a@b.co","custom_fields":[{"custom_field_id":"1","value":"W"}]}"#,
        ] {
            let c: ContactDetail = serde_json::from_str(body).unwrap();
            assert_eq!(c.custom_fields.unwrap()[0].id, Some(1));
        }
        let named: ContactDetail =
            serde_json::from_str(r#"{"id":1,"email":"a@b.co","custom_fields":{"Company":"W"}}"#)
                .unwrap();
        assert_eq!(
            named.custom_fields.unwrap()[0].name.as_deref(),
            Some("Company")
        );
        let absent: ContactDetail = serde_json::from_str(r#"{"id":1,"email":"a@b.co"}"#).unwrap();
        assert_eq!(absent.custom_fields, None);
        assert_eq!(absent.contact.email, "a@b.co");
    }

    #[test]
    fn decodes_string_and_integer_tag_arrays() {
        let old: Contact = serde_json::from_str(
            r#"{"id":1,"email":"john@ted.com","GDPR":true,"tags":["59"],"sequences":["61","70"]}"#,
        )
        .unwrap();
        let new: Contact = serde_json::from_str(
            r#"{"id":1,"email":"john@ted.com","gdpr":true,"tags":[59],"sequences":[61,70]}"#,
        )
        .unwrap();
        assert_eq!(old.tags, Some(vec![59]));
        assert_eq!(old.sequences, new.sequences);
        assert!(old.gdpr && new.gdpr);
    }

    #[test]
    fn renders_the_documented_error_envelopes_exactly() {
        let unauthorized =
            ApiError::new(codes::UNAUTHORIZED, messages::UNAUTHORIZED).into_envelope();
        assert_eq!(
            serde_json::to_string(&unauthorized).unwrap(),
            r#"{"success":false,"error":{"code":"UNAUTHORIZED","message":"Invalid or missing API key"}}"#
        );
        let mut details = Details::new();
        details.insert("email".into(), vec!["The email field is required.".into()]);
        details.insert("per_page".into(), vec![messages::PER_PAGE.into()]);
        let v: serde_json::Value =
            serde_json::to_value(ApiError::validation(details).into_envelope()).unwrap();
        let documented: serde_json::Value = serde_json::from_str(
            r#"{ "success": false, "error": { "code": "VALIDATION_ERROR", "message": "The given data was invalid",
                 "details": { "email": ["The email field is required."],
                              "per_page": ["The per page must be between 1 and 100."] } } }"#,
        )
        .unwrap();
        assert_eq!(v, documented);
    }

    #[test]
    fn parses_both_timestamp_formats() {
        assert!(parse_time("2024-01-01T09:00:00.000000Z").is_some());
        assert!(parse_time("2021-01-01 09:00:00").is_some());
        assert!(parse_time("yesterday").is_none());
        let t = parse_time("2024-01-01T09:00:00.000000Z").unwrap();
        assert_eq!(format_contact_time(t), "2024-01-01T09:00:00.000000Z");
        assert_eq!(format_tag_time(t), "2024-01-01 09:00:00");
    }
}
