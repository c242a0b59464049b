//! The one text sanitiser of the crate: what any message, results cell or journal line may
//! quote from a CSV cell, a header or a server's answer.
//!
//! [`sanitize`] makes a string safe to show on one line (control characters, bidi overrides
//! and line separators become visible escapes; the text is cut to a length). [`Redactor`]
//! removes the API key from text the *server* wrote (an error message, `details`, a body
//! excerpt): servers do echo keys (`401 Invalid API key provided: sk-live-...`, a 422 quoting
//! the `Authorization` header), and the key must never reach stderr, the results file or the
//! journal. The API client redacts every server string once, when it decodes an answer, so
//! nothing downstream ever holds one unredacted. Callers: `api::client`, `csv_in`, `mapping`,
//! `import`, `export`, the sandbox's request log.

use std::fmt::Write;

/// What replaces a secret in text.
pub const REDACTED: &str = "[redacted]";

/// Shortest run of key characters, found in server text, that counts as a piece of the key
/// (a server that echoes `sk-live-abc…` or only the key's tail). Shorter runs are too likely
/// to be ordinary words.
const MIN_KEY_PIECE: usize = 8;

/// Makes a cell, header or server text safe to quote in a one-line message: control
/// characters (C0, DEL, C1), bidi overrides and line separators become visible escapes (`\n`,
/// `\0`, `\u{202e}`), and the result is cut to `max_chars` characters plus `…`. Escapes are
/// never cut in half.
pub fn sanitize(s: &str, max_chars: usize) -> String {
    escape(s, max_chars, false)
}

/// [`sanitize`] for text shown between double quotes: `"` and `\` are escaped too, so the
/// quotes stay unambiguous (a header named `E"mail` reads `"E\"mail"`).
pub fn sanitize_quoted(s: &str, max_chars: usize) -> String {
    escape(s, max_chars, true)
}

fn escape(s: &str, max_chars: usize, quoted: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)) + 3);
    let mut used = 0usize;
    let mut piece = String::new();
    for c in s.chars() {
        piece.clear();
        match c {
            '\0' => piece.push_str("\\0"),
            '\t' => piece.push_str("\\t"),
            '\n' => piece.push_str("\\n"),
            '\r' => piece.push_str("\\r"),
            '"' | '\\' if quoted => {
                piece.push('\\');
                piece.push(c);
            }
            c if needs_escape(c) => {
                let _ = write!(piece, "\\u{{{:x}}}", c as u32);
            }
            c => piece.push(c),
        }
        let len = piece.chars().count();
        if used + len > max_chars {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
        used += len;
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{FEFF}'
        )
}

/// Removes one secret (the API key) and every bearer token or `api_key=` value from text.
#[derive(Clone)]
pub struct Redactor {
    /// The key and the forms a server may echo it in (JSON-escaped, percent-encoded).
    forms: Vec<String>,
    key: String,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(<redacted>)")
    }
}

impl Redactor {
    pub fn new(key: &str) -> Redactor {
        let key = key.trim().to_string();
        let mut forms = vec![key.clone()];
        let json = serde_json::to_string(&key).unwrap_or_default();
        let json = json.trim_matches('"').to_string();
        let percent: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
        for form in [json, percent] {
            if !form.is_empty() && !forms.contains(&form) {
                forms.push(form);
            }
        }
        forms.retain(|f| !f.is_empty());
        Redactor { forms, key }
    }

    /// `text` without the key, any piece of it of [`MIN_KEY_PIECE`] characters or more, any
    /// `Bearer <token>` and any `api_key=<value>`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), REDACTED);
            }
        }
        out = self.redact_pieces(&out);
        out = redact_after(&out, "bearer", &[' ', ':', '=']);
        redact_after(&out, "api_key", &['=', ':', '"', ' '])
    }

    /// Redacts then [`sanitize`]s: the form every server string takes before we keep it.
    pub fn clean(&self, text: &str, max_chars: usize) -> String {
        sanitize(&self.redact(text), max_chars)
    }

    /// Runs of the key's own characters that are a piece of the key (a truncated echo).
    fn redact_pieces(&self, text: &str) -> String {
        let key_chars = |c: char| !c.is_whitespace() && self.key.contains(c);
        let min = MIN_KEY_PIECE.min(self.key.chars().count()).max(1);
        let mut out = String::with_capacity(text.len());
        let mut run = String::new();
        let flush = |run: &mut String, out: &mut String| {
            if run.chars().count() >= min && self.key.contains(run.as_str()) {
                out.push_str(REDACTED);
            } else {
                out.push_str(run);
            }
            run.clear();
        };
        for c in text.chars() {
            if key_chars(c) {
                run.push(c);
            } else {
                flush(&mut run, &mut out);
                out.push(c);
            }
        }
        flush(&mut run, &mut out);
        out
    }
}

/// Replaces the token after each case-insensitive `word` (and separators) with [`REDACTED`].
fn redact_after(text: &str, word: &str, separators: &[char]) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(word) {
        let start = at + found + word.len();
        out.push_str(&text[at..start]);
        let rest = &text[start..];
        let gap = rest.len() - rest.trim_start_matches(separators).len();
        out.push_str(&rest[..gap]);
        let token = &rest[gap..];
        let len = token
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '&' | '}' | ']'))
            .unwrap_or(token.len());
        if len > 0 && !token[..len].starts_with(REDACTED) {
            out.push_str(REDACTED);
        } else {
            out.push_str(&token[..len]);
        }
        at = start + gap + len;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_escapes_and_cuts() {
        let s = "a\0b\x1b[31m\r\n\t\x7f\u{85}\u{202e}\u{2066}é";
        assert_eq!(
            sanitize(s, 100),
            "a\\0b\\u{1b}[31m\\r\\n\\t\\u{7f}\\u{85}\\u{202e}\\u{2066}é"
        );
        assert_eq!(sanitize("abcdef", 3), "abc…");
        assert_eq!(sanitize("abc", 3), "abc");
        assert_eq!(sanitize("ab\n", 3), "ab…");
        assert_eq!(sanitize("", 0), "");
        assert_eq!(sanitize("x", 0), "…");
        assert_eq!(sanitize("E\"m\\", 9), "E\"m\\");
        assert_eq!(sanitize_quoted("E\"m\\\n", 9), "E\\\"m\\\\\\n");
    }

    #[test]
    fn redacts_the_key_in_every_form_a_server_may_echo() {
        let r = Redactor::new("sk-live-Abc/123+xyz");
        for text in [
            "Invalid API key provided: sk-live-Abc/123+xyz",
            r#"{"message":"bad key sk-live-Abc\/123+xyz"}"#,
            "key=sk-live-Abc%2F123%2Bxyz",
            "Authorization: Bearer sk-live-Abc/123+xyz",
            "authorization: bearer whatever-token, other",
            "Invalid API key provided: sk-live-Abc/…",
            "?api_key=something&x=1",
        ] {
            let clean = r.redact(text);
            assert!(!clean.contains("Abc"), "{text} -> {clean}");
            assert!(!clean.contains("whatever"), "{text} -> {clean}");
            assert!(!clean.contains("something"), "{text} -> {clean}");
            assert!(clean.contains(REDACTED), "{text} -> {clean}");
        }
        assert_eq!(
            r.redact("The email field is required."),
            "The email field is required."
        );
    }

    #[test]
    fn short_words_that_share_the_keys_letters_stay() {
        let r = Redactor::new("sandbox-key");
        assert_eq!(
            r.redact("Invalid or missing API key"),
            "Invalid or missing API key"
        );
        assert_eq!(r.redact("the sandbox said no"), "the sandbox said no");
        assert_eq!(r.redact("got sandbox-key"), "got [redacted]");
    }

    #[test]
    fn clean_redacts_before_cutting() {
        let r = Redactor::new("0123456789abcdef");
        let text = format!("{}0123456789abcdef", "x".repeat(10));
        let clean = r.clean(&text, 14);
        assert!(!clean.contains("0123"), "{clean}");
    }
}
