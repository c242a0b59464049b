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
    #[serde(alias = "contact_id", alias = "tag_id")]
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
