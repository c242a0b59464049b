//! What an answer *proves*: a body decoded once into data, an error envelope, or nothing.
//!
//! Invariant: [`Body::Data`] exists only for a 2xx whose body is a success envelope
//! (`"success": true`) with `data` of the expected shape. Anything else on a 2xx (an HTML
//! login page, an empty 201, a 201 without an id) is [`Body::Unreadable`] with the body's first
//! bytes, so a caller cannot count a row `created` without the server's id. Every string
//! taken from the server (error code, message, details, excerpt) has been redacted of the API
//! key and sanitised here, once, before any caller sees it. Built by `api::client`; read by
//! `import::send`, `import::tags` and `api::paging`.

use serde::de::DeserializeOwned;

use super::{ApiError, ErrorEnvelope, Success};
use crate::text::Redactor;

/// How much of an unreadable body a message quotes.
pub const EXCERPT_CHARS: usize = 200;

/// The server's final answer to one call, decoded.
#[derive(Debug)]
pub struct Reply<T> {
    pub status: u16,
    pub body: Body<T>,
    /// HTTP requests sent for this call, 429s included.
    pub attempts: u32,
    /// An earlier attempt of this call may have been processed without us seeing the answer.
    pub maybe_duplicated: bool,
}

impl<T> Reply<T> {
    /// The decoded `body` with the call's status and attempt record.
    pub(crate) fn of(answer: &super::client::Answer, body: Body<T>) -> Self {
        Reply {
            status: answer.status,
            body,
            attempts: answer.attempts,
            maybe_duplicated: answer.maybe_duplicated,
        }
    }
}

#[derive(Debug)]
pub enum Body<T> {
    /// A 2xx success envelope whose `data` decoded as `T`.
    Data(T),
    /// The documented error envelope (on any status).
    Error(ApiError),
    /// Neither: why, and the first bytes of the body.
    Unreadable(String),
}

impl<T> Reply<T> {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The data, only for a 2xx success envelope.
    pub fn data(&self) -> Option<&T> {
        match &self.body {
            Body::Data(data) if self.is_success() => Some(data),
            _ => None,
        }
    }

    pub fn error(&self) -> Option<&ApiError> {
        match &self.body {
            Body::Error(e) => Some(e),
            _ => None,
        }
    }

    /// One line for `_message` or an error: `CODE: message` or `HTTP 200 with <why>: <excerpt>`.
    pub fn describe(&self) -> String {
        match &self.body {
            Body::Data(_) => format!("HTTP {}", self.status),
            Body::Error(e) => format!("{}: {}", e.code, e.message),
            Body::Unreadable(why) => format!("HTTP {} with {why}", self.status),
        }
    }

    /// The same answer about something else (a page instead of a list, say).
    pub fn map<U>(self, f: impl FnOnce(T) -> Result<U, String>) -> Reply<U> {
        let body = match self.body {
            Body::Data(data) => match f(data) {
                Ok(u) => Body::Data(u),
                Err(why) => Body::Unreadable(why),
            },
            Body::Error(e) => Body::Error(e),
            Body::Unreadable(why) => Body::Unreadable(why),
        };
        Reply {
            status: self.status,
            body,
            attempts: self.attempts,
            maybe_duplicated: self.maybe_duplicated,
        }
    }
}

/// Decodes `bytes` once into `data`. `redactor` cleans every string the server wrote.
pub fn decode<T: DeserializeOwned>(status: u16, bytes: &[u8], redactor: &Redactor) -> Body<T> {
    match decode_envelope::<T>(status, bytes, redactor) {
        Body::Data(s) => Body::Data(s.data),
        Body::Error(e) => Body::Error(e),
        Body::Unreadable(why) => Body::Unreadable(why),
    }
}

/// Decodes `bytes` once into the whole success envelope (lists need `meta` beside `data`).
pub fn decode_envelope<T: DeserializeOwned>(
    status: u16,
    bytes: &[u8],
    redactor: &Redactor,
) -> Body<Success<T>> {
    if (200..300).contains(&status) {
        match serde_json::from_slice::<Success<T>>(bytes) {
            Ok(s) if s.success => return Body::Data(s),
            Ok(_) => {}
            Err(_) if bytes.is_empty() => return Body::Unreadable("an empty body".into()),
            Err(e) => {
                if let Some(error) = error_envelope(bytes, redactor) {
                    return Body::Error(error);
                }
                return Body::Unreadable(format!(
                    "a body that is not the expected success envelope ({}): {}",
                    redactor.clean(&e.to_string(), EXCERPT_CHARS),
                    excerpt(bytes, redactor)
                ));
            }
        }
    }
    if let Some(error) = error_envelope(bytes, redactor) {
        return Body::Error(error);
    }
    if bytes.is_empty() {
        Body::Unreadable("an empty body".into())
    } else {
        Body::Unreadable(format!("an unexpected body: {}", excerpt(bytes, redactor)))
    }
}

fn error_envelope(bytes: &[u8], redactor: &Redactor) -> Option<ApiError> {
    let envelope = serde_json::from_slice::<ErrorEnvelope>(bytes).ok()?;
    let e = envelope.error;
    Some(ApiError {
        code: redactor.clean(&e.code, 80),
        message: redactor.clean(&e.message, 500),
        details: e.details.map(|details| {
            details
                .into_iter()
                .map(|(field, messages)| {
                    (
                        redactor.clean(&field, 80),
                        messages.iter().map(|m| redactor.clean(m, 500)).collect(),
                    )
                })
                .collect()
        }),
    })
}

/// The first bytes of a body, redacted then sanitised (so a key cannot be cut in half first).
pub fn excerpt(bytes: &[u8], redactor: &Redactor) -> String {
    let head = &bytes[..bytes.len().min(8 * 1024)];
    redactor.clean(&String::from_utf8_lossy(head), EXCERPT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CreatedId;

    fn body(status: u16, text: &str) -> Body<CreatedId> {
        decode(
            status,
            text.as_bytes(),
            &Redactor::new("sk-live-0123456789"),
        )
    }

    #[test]
    fn only_a_success_envelope_with_an_id_is_data() {
        assert!(matches!(
            body(201, r#"{"success":true,"data":{"id":7}}"#),
            Body::Data(CreatedId { id: 7 })
        ));
        assert!(matches!(
            body(201, r#"{"success":true,"data":{"contact_id":7}}"#),
            Body::Data(CreatedId { id: 7 })
        ));
        for unreadable in [
            "",
            "<html><body>Please log in</body></html>",
            r#"{"success":true,"data":{}}"#,
            r#"{"success":true}"#,
            r#"{"success":false,"data":{"id":7}}"#,
        ] {
            assert!(
                matches!(body(201, unreadable), Body::Unreadable(_)),
                "{unreadable:?}"
            );
        }
    }

    #[test]
    fn error_envelopes_are_redacted() {
        let b = body(
            401,
            r#"{"success":false,"error":{"code":"UNAUTHORIZED","message":"Invalid API key provided: sk-live-0123456789","details":{"authorization":["Bearer sk-live-0123456789 is not valid"]}}}"#,
        );
        let Body::Error(e) = b else { panic!("{b:?}") };
        let text = format!("{e:?}");
        assert!(!text.contains("0123456789"), "{text}");
        assert_eq!(e.code, "UNAUTHORIZED");
    }

    #[test]
    fn excerpts_are_redacted_and_short() {
        let html = format!("<p>key sk-live-0123456789</p>{}", "x".repeat(500));
        let Body::Unreadable(why) = body(200, &html) else {
            panic!()
        };
        assert!(!why.contains("0123456789"), "{why}");
        assert!(why.contains("<p>key [redacted]</p>"), "{why}");
        assert!(why.chars().count() < 400);
    }
}
