//! Maps CSV header names to the email-marketing API's contact fields.
//!
//! The import command calls [`Mapping::resolve`] once with the header row and the user's
//! `--map` pairs, before any row is sent; a [`MappingError`] is a usage error (the caller exits
//! 2). The planner then reads each row through [`Mapping::text`] and [`Mapping::consent`].
//! Invariants: a field has one primary column (a mapping never guesses between two candidates,
//! it asks), possibly followed by fallback columns tried in order; consent columns that say
//! "unsubscribed" can only ever lower consent, so no file is read as subscribing someone it
//! says unsubscribed; an email column is required. Headers are matched through the alias table
//! of [`aliases`] (real exports of Mailchimp, HubSpot, Brevo, Google, Outlook, Shopify, ...), and
//! `--map` column names the same way. Custom fields are bound in a second step, once the
//! account's definitions are known ([`Mapping::bind_custom`], in [`custom`]). This module is
//! independent of `csv_in`.

mod aliases;
mod custom;
mod resolve;
mod row;
#[cfg(test)]
mod tests;
pub mod values;

use std::fmt;
use std::str::FromStr;

use aliases::{field_named, is_own_column};
pub use custom::{CustomColumn, CustomRef};
use resolve::{Overridden, Target, apply_aliases, apply_overrides};
pub use row::Consent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Email,
    FirstName,
    LastName,
    EmailMarketing,
    Gdpr,
    TagIds,
    /// Tag names, which the API resolves or creates; not [`Field::TagIds`].
    Tags,
    SequenceIds,
    /// Sequence names, which the API resolves or creates; not [`Field::SequenceIds`].
    Sequences,
}

/// How many fields there are: the length of every per-field array.
const FIELDS: usize = 9;

impl Field {
    /// Order used by [`Mapping::describe`] and in messages.
    pub const ALL: [Field; FIELDS] = [
        Field::Email,
        Field::FirstName,
        Field::LastName,
        Field::EmailMarketing,
        Field::Gdpr,
        Field::TagIds,
        Field::Tags,
        Field::SequenceIds,
        Field::Sequences,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::EmailMarketing => "email_marketing",
            Field::Gdpr => "gdpr",
            Field::TagIds => "tag_ids",
            Field::Tags => "tags",
            Field::SequenceIds => "sequence_ids",
            Field::Sequences => "sequences",
        }
    }

    /// Consent fields: yes/no values, which `--map "Col=!field"` may negate.
    pub fn is_consent(&self) -> bool {
        matches!(self, Field::EmailMarketing | Field::Gdpr)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const FIELD_LIST: &str =
    "email, first_name, last_name, email_marketing, gdpr, tag_ids, tags, sequence_ids, sequences";

impl FromStr for Field {
    type Err = String;
    /// Canonical names in any case or punctuation, and the header aliases.
    fn from_str(s: &str) -> Result<Field, String> {
        field_named(s)
            .ok_or_else(|| format!("unknown field \"{}\"; fields: {FIELD_LIST}", esc(s, 40)))
    }
}

/// How one column feeds its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    /// The field's value as written.
    Direct,
    /// Used when the cells before it are empty (a second email column).
    Fallback,
    /// `--map "Col=!field"`: yes means false and no means true.
    Negated,
    /// An opt-out column recognised by name: yes lowers consent, no says nothing.
    OptOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub column: usize,
    pub sense: Sense,
}

/// Header text for a message, shown between quotes: trimmed, made safe by the crate's one
/// sanitiser.
fn esc(s: &str, max: usize) -> String {
    crate::text::sanitize_quoted(s.trim(), max)
}

/// Every header, quoted and escaped: the user needs the exact one to `--map`.
fn headers_seen(headers: &[String]) -> String {
    if headers.is_empty() {
        return "(none)".to_string();
    }
    headers
        .iter()
        .map(|h| format!("\"{}\"", esc(h, 60)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Usage errors; each message is one line ending with what to do.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum MappingError {
    #[error("no email column: headers seen: {headers}; use --map \"<header>=email\"{title_hint}")]
    NoEmail { headers: String, title_hint: String },
    #[error(
        "columns \"{first}\" and \"{second}\" both map to {field}; use --map to choose one \
         (--map \"{second}=-\")"
    )]
    Conflict {
        field: Field,
        first: String,
        second: String,
    },
    #[error(
        "columns {first} and {second} are both named \"{header}\" and both map to {field}; \
         rename one of them in the file"
    )]
    DuplicateHeader {
        field: Field,
        header: String,
        first: usize,
        second: usize,
    },
    #[error("--map \"{first}\" and --map \"{second}\" both map to {field}; keep one")]
    OverridesClash {
        field: Field,
        first: String,
        second: String,
    },
    #[error("--map \"{first}\" and --map \"{second}\" name the same column; keep one")]
    SameColumnTwice { first: String, second: String },
    #[error("--map \"{arg}\": no column named \"{header}\"; headers seen: {headers}")]
    NoSuchColumn {
        arg: String,
        header: String,
        headers: String,
    },
    #[error(
        "--map \"{arg}\": unknown field \"{field}\"; fields: {FIELD_LIST}, custom:<name> or \
         custom:#<id> for a custom field, or - to ignore the column"
    )]
    UnknownField { arg: String, field: String },
    #[error("--map \"{arg}\": only email_marketing and gdpr hold yes/no values that ! can negate")]
    NotNegatable { arg: String },
    #[error("--map \"{arg}\": a custom field takes one column; name one")]
    CustomList { arg: String },
    #[error(
        "--map \"{arg}\": the account has no custom field {wanted}; its custom fields: {fields}"
    )]
    UnknownCustom {
        arg: String,
        wanted: String,
        fields: String,
    },
    #[error(
        "{what}: the account has several custom fields named so ({ids}); use --map \
         \"<column>=custom:#<id>\""
    )]
    AmbiguousCustom { what: String, ids: String },
    #[error(
        "columns \"{first}\" and \"{second}\" both map to custom field {field}; keep one \
         (--map \"{second}=-\")"
    )]
    CustomConflict {
        field: String,
        first: String,
        second: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    headers: Vec<String>,
    /// Per field, in the order cells are tried: direct, fallbacks, negated, opt-outs.
    sources: [Vec<Source>; FIELDS],
    /// A Mailchimp unsubscribed or cleaned export, recognised by this column: every row is
    /// sent with `email_marketing=false`.
    opted_out_export: Option<usize>,
    unmapped: Vec<usize>,
    /// `--map "Col=custom:..."` pairs: column, reference, and the argument for messages.
    custom_wanted: Vec<(usize, CustomRef, String)>,
    /// Columns bound to custom fields, in column order (after [`Mapping::bind_custom`]).
    custom: Vec<CustomColumn>,
    /// Columns `--map "Col=-"` left out: never bound to a custom field by name.
    ignored: Vec<usize>,
}

impl Mapping {
    /// `overrides` are `--map "Column Header=field"` pairs. The header is matched as written
    /// (trimmed), else the way the alias table matches (`e-mail address` finds `E-mail
    /// Address`); `A,B` names several columns, the first non-empty cell of which is used. The
    /// field is a name [`Field`] parses, `!field` for a consent column that means the opposite,
    /// or `-`/`ignore` to leave the column unmapped. A column named by an override takes no
    /// part in alias matching; a field set by one takes no alias column, except opt-out
    /// columns, which can only lower consent and so always count.
    pub fn resolve(
        headers: &[String],
        overrides: &[(String, String)],
    ) -> Result<Mapping, MappingError> {
        let Overridden {
            mut sources,
            named_by,
            direct_by,
            custom,
        } = apply_overrides(headers, overrides)?;
        let taken = |f: Field| direct_by[f as usize].is_some();
        let named = |c: usize| named_by[c].is_some();
        let opted_out_export = apply_aliases(headers, &mut sources, named, taken)?;
        if sources[Field::Email as usize].is_empty() {
            // One filled cell in the "header" is most often a title line above the real one.
            let filled = headers.iter().filter(|h| !h.trim().is_empty()).count();
            return Err(MappingError::NoEmail {
                headers: headers_seen(headers),
                title_hint: if filled <= 1 {
                    ", or --skip-lines N when the header is below N title lines".to_string()
                } else {
                    String::new()
                },
            });
        }
        let used = |c: usize| {
            sources.iter().flatten().any(|s| s.column == c)
                || opted_out_export.contains(&c)
                || custom.iter().any(|(column, ..)| *column == c)
                || is_own_column(&headers[c])
        };
        let unmapped = (0..headers.len()).filter(|&c| !used(c)).collect();
        let ignored = (0..headers.len())
            .filter(|&c| matches!(named_by[c], Some((_, Target::Ignore))))
            .collect();
        Ok(Mapping {
            headers: headers.to_vec(),
            sources,
            opted_out_export: opted_out_export.first().copied(),
            unmapped,
            custom_wanted: custom,
            custom: Vec::new(),
            ignored,
        })
    }

    /// The field's main column (the first one tried).
    pub fn column(&self, f: Field) -> Option<usize> {
        self.sources[f as usize]
            .first()
            .filter(|s| s.sense == Sense::Direct)
            .map(|s| s.column)
    }

    /// Every column feeding the field, in the order they are read.
    pub fn sources(&self, f: Field) -> &[Source] {
        &self.sources[f as usize]
    }

    /// Column indexes that feed no field, ascending (this tool's own result columns aside).
    pub fn unmapped(&self) -> &[usize] {
        &self.unmapped
    }

    /// `email <- "E-mail Address", first_name <- "FNAME"` in [`Field::ALL`] order; stable, so
    /// a resumed import can tell the mapping changed. Fallbacks follow `else`, negated and
    /// opt-out columns follow `lowered by` / `not`.
    pub fn describe(&self, headers: &[String]) -> String {
        self.describe_parts(headers).join(", ")
    }

    /// [`Mapping::describe`] one field at a time, for lines that must fit a terminal.
    pub fn describe_parts(&self, headers: &[String]) -> Vec<String> {
        Field::ALL
            .iter()
            .filter_map(|&f| self.describe_field(f, headers))
            .collect()
    }

    fn describe_field(&self, f: Field, headers: &[String]) -> Option<String> {
        let name = |c: usize| {
            format!(
                "\"{}\"",
                esc(headers.get(c).map_or("", String::as_str), 200)
            )
        };
        let of = |sense: Sense| -> Vec<String> {
            self.sources[f as usize]
                .iter()
                .filter(|s| s.sense == sense)
                .map(|s| name(s.column))
                .collect()
        };
        let mut parts = Vec::new();
        if let Some(c) = self.opted_out_export.filter(|_| f == Field::EmailMarketing) {
            parts.push(format!(
                "false for every row (Mailchimp unsubscribed/cleaned export: {})",
                name(c)
            ));
        }
        let direct = of(Sense::Direct);
        if !direct.is_empty() {
            let fallback = of(Sense::Fallback);
            parts.push(if fallback.is_empty() {
                direct.join(", ")
            } else {
                format!("{} else {}", direct.join(", "), fallback.join(" else "))
            });
        }
        for s in of(Sense::Negated) {
            parts.push(format!("not {s}"));
        }
        let opt_out = of(Sense::OptOut);
        if !opt_out.is_empty() {
            parts.push(format!("lowered by {}", opt_out.join(", ")));
        }
        (!parts.is_empty()).then(|| format!("{} <- {}", f.name(), parts.join("; ")))
    }

    /// One line for the run's opening and summary: which columns feed consent, or that none
    /// does and the server's default applies ([`Mapping::consent_hint`] says how to change it).
    pub fn consent_line(&self, headers: &[String]) -> String {
        if self.consent_hint().is_some()
            && [Field::EmailMarketing, Field::Gdpr]
                .iter()
                .all(|&f| self.describe_field(f, headers).is_none())
        {
            return "consent: no column feeds email_marketing or gdpr; the server's default applies"
                .to_string();
        }
        let part = |f: Field| {
            self.describe_field(f, headers)
                .unwrap_or_else(|| format!("{f}: no column, the server's default applies"))
        };
        format!(
            "consent: {}; {}",
            part(Field::EmailMarketing),
            part(Field::Gdpr)
        )
    }

    /// How to feed a consent field that no column feeds, or `None` when both have one.
    pub fn consent_hint(&self) -> Option<String> {
        let missing: Vec<Field> = [Field::EmailMarketing, Field::Gdpr]
            .into_iter()
            .filter(|&f| self.sources(f).is_empty() && !self.opted_out(f))
            .collect();
        let f = missing.first()?;
        Some(format!(
            "  to choose: --map \"<column>={f}\" (or \"<column>=!{f}\" for an opt-out column)"
        ))
    }

    fn opted_out(&self, f: Field) -> bool {
        f == Field::EmailMarketing && self.opted_out_export.is_some()
    }
}

/// Parses `--map "Column Header=field"`, splitting on the last `=` so
/// headers may contain `=`.
pub fn parse_map_arg(s: &str) -> Result<(String, String), String> {
    const FORM: &str = "expected \"Column Header=field\"";
    let Some(i) = s.rfind('=') else {
        return Err(format!("--map \"{}\": {FORM}", esc(s, 80)));
    };
    let (header, field) = (s[..i].trim(), s[i + 1..].trim());
    if header.is_empty() {
        return Err(format!(
            "--map \"{}\": the column header is empty; {FORM}",
            esc(s, 80)
        ));
    }
    if field.is_empty() {
        return Err(format!(
            "--map \"{}\": the field is empty; use one of {FIELD_LIST}, or - to ignore the column",
            esc(s, 80)
        ));
    }
    Ok((header.to_string(), field.to_string()))
}
