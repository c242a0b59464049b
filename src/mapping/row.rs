//! Reading one row through a [`Mapping`]: the value each field gets, and why.
//!
//! The import planner calls [`Mapping::text`] for text fields and [`Mapping::consent`] for
//! `email_marketing` and `gdpr`, once per row. Invariant of [`Mapping::consent`]: when any
//! column of the row says the person opted out (an opt-out column saying yes, a negated column
//! saying yes, an opt-in column saying no, a Mailchimp unsubscribed export), the value is
//! `false`, whatever the other columns say; a disagreement is reported in the row's note.

use super::values::{Reading, read_consent, trim_cell, unexcel};
use super::{Field, Mapping, Sense, esc};

/// A text field's value for one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a> {
    /// Trimmed, `export --excel`'s `'` guard undone.
    pub value: &'a str,
    /// Set when the value came from a fallback column because the main one was empty.
    pub note: Option<String>,
}

/// A consent field's value for one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consent<'a> {
    /// No column says anything: the field is left out and the server's default applies.
    Absent,
    /// A recognised value, with a note when columns disagreed or a value was read as an
    /// opt-out.
    Send(bool, Option<String>),
    /// An unknown spelling in an opt-in column, sent as written so the server's own 422 is
    /// what the results file records.
    AsWritten(&'a str),
}

impl Mapping {
    fn header(&self, column: usize) -> String {
        format!(
            "\"{}\"",
            esc(self.headers.get(column).map_or("", String::as_str), 60)
        )
    }

    /// Whether any column feeds `f`: when none does, [`Mapping::text`] is `None` and
    /// [`Mapping::consent`] is [`Consent::Absent`] for every row, so a caller may skip them.
    pub fn feeds(&self, f: Field) -> bool {
        !self.sources(f).is_empty()
            || (f == Field::EmailMarketing && self.opted_out_export.is_some())
    }

    /// The first non-empty cell among the field's direct and fallback columns.
    pub fn text<'a>(&self, f: Field, cells: &'a [String]) -> Option<Text<'a>> {
        let sources = self.sources(f);
        for (k, s) in sources.iter().enumerate() {
            if !matches!(s.sense, Sense::Direct | Sense::Fallback) {
                break;
            }
            let value = unexcel(trim_cell(cells.get(s.column).map_or("", String::as_str)));
            if value.is_empty() {
                continue;
            }
            let note = (k > 0).then(|| {
                format!(
                    "{f} taken from {} ({} is empty)",
                    self.header(s.column),
                    self.header(sources[0].column)
                )
            });
            return Some(Text { value, note });
        }
        None
    }

    /// The consent the row gives for `f` (`email_marketing` or `gdpr`); opt-out wins.
    pub fn consent<'a>(&self, f: Field, cells: &'a [String]) -> Consent<'a> {
        let mut yes: Option<usize> = None;
        let mut no: Option<usize> = None;
        let mut as_written: Option<(usize, &'a str)> = None;
        let mut read_as_opt_out: Option<(usize, &'a str)> = None;
        if f == Field::EmailMarketing {
            no = self.opted_out_export;
        }
        for s in self.sources(f) {
            let cell = trim_cell(cells.get(s.column).map_or("", String::as_str));
            if cell.is_empty() {
                continue;
            }
            let says = match (s.sense, read_consent(cell)) {
                // "subscribed" in an opt-out column only means "not opted out".
                (Sense::OptOut, Some(Reading::Consent(b))) => (!b).then_some(false),
                (_, Some(Reading::Consent(b))) => Some(b),
                (Sense::Direct | Sense::Fallback, Some(Reading::Flag(b))) => Some(b),
                (Sense::Negated, Some(Reading::Flag(b))) => Some(!b),
                (Sense::OptOut, Some(Reading::Flag(b))) => b.then_some(false),
                (Sense::Direct | Sense::Fallback, None) => {
                    as_written.get_or_insert((s.column, cell));
                    None
                }
                // A date ("unsubscribed on ...") or an unknown word in an opt-out column:
                // read as opted out, the only reading that cannot subscribe anyone.
                (Sense::Negated | Sense::OptOut, None) => {
                    if !cell.bytes().any(|b| b.is_ascii_digit()) {
                        read_as_opt_out.get_or_insert((s.column, cell));
                    }
                    Some(false)
                }
            };
            match says {
                Some(true) => {
                    yes.get_or_insert(s.column);
                }
                Some(false) => {
                    no.get_or_insert(s.column);
                }
                None => {}
            }
        }
        let Some(no) = no else {
            return match (as_written, yes) {
                (Some((_, cell)), _) => Consent::AsWritten(cell),
                (None, Some(_)) => Consent::Send(true, None),
                (None, None) => Consent::Absent,
            };
        };
        let mut notes = Vec::new();
        if let Some((c, cell)) = read_as_opt_out {
            notes.push(format!(
                "{} holds \"{}\", read as opted out",
                self.header(c),
                esc(cell, 40)
            ));
        }
        let says_no = if Some(no) == self.opted_out_export && f == Field::EmailMarketing {
            format!(
                "the file is a Mailchimp unsubscribed/cleaned export ({})",
                self.header(no)
            )
        } else {
            format!("{} says opted out", self.header(no))
        };
        let other = match (yes, as_written) {
            (Some(c), _) => Some(format!("{} says yes", self.header(c))),
            (None, Some((c, cell))) => {
                Some(format!("{} holds \"{}\"", self.header(c), esc(cell, 40)))
            }
            (None, None) => None,
        };
        if let Some(other) = other {
            notes.push(format!(
                "{f} sent as false: {says_no} and {other}; opt-out wins"
            ));
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        Consent::Send(false, note)
    }
}
