//! Cell values as people write them, turned into what the API accepts.
//!
//! Called by [`super::Mapping`]'s row readers (and so by the import planner) for every mapped
//! cell. Invariants: a spelling is translated only when it is recognised, and always into a
//! value Laravel's `boolean` rule accepts (a JSON `true`/`false`); an unknown spelling is left
//! as written so the server's own 422 is what the results file records; a tag cell in any of
//! the documented list encodings yields exactly the names written, in order.

use std::borrow::Cow;

use super::aliases::normalize;

/// The trim applied to every mapped cell before it is sent: exactly the server's (PHP `trim`, as
/// Laravel's `TrimStrings` runs it), so the value sent is the value the server validates and
/// stores; see `validate::php_trim` for why other Unicode spaces are kept.
pub fn trim_cell(cell: &str) -> &str {
    crate::validate::php_trim(cell)
}

/// Undoes `export --excel`'s formula guard: a `'` in front of `=`, `+`, `-`, `@`, a tab or a
/// carriage return is removed (`'-Smith` -> `-Smith`); any other leading `'` is data.
pub fn unexcel(cell: &str) -> &str {
    match cell.as_bytes() {
        [b'\'', b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r', ..] => &cell[1..],
        _ => cell,
    }
}

/// What a consent cell says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A yes/no spelling: its meaning depends on the column (opt-in or opt-out).
    Flag(bool),
    /// A status word (`subscribed`, `unsubscribed`, `never_subscribed`...): it states the
    /// consent itself, whatever the column.
    Consent(bool),
}

/// Yes/no in the languages whose headers the alias table recognises, and checkbox exports.
const YES: &[&str] = &[
    "true",
    "yes",
    "y",
    "oui",
    "vrai",
    "ja",
    "wahr",
    "si",
    "verdadero",
    "vero",
    "x",
    "on",
    "checked",
    "ok",
];
const NO: &[&str] = &[
    "false",
    "no",
    "n",
    "non",
    "faux",
    "nein",
    "falsch",
    "falso",
    "off",
    "unchecked",
];
const CONSENTED: &[&str] = &["subscribed", "optedin", "optin", "abonne", "inscrit"];
const NOT_CONSENTED: &[&str] = &[
    "unsubscribed",
    "optedout",
    "optout",
    "neversubscribed",
    "nonsubscribed",
    "notsubscribed",
    "cleaned",
    "blacklisted",
    "blocklisted",
    "suppressed",
    "desabonne",
    "desinscrit",
    "abgemeldet",
    "dadodebaja",
];

/// The longest word of the four lists above, in bytes (checked when compiled).
const LONGEST_WORD: usize = 16;
const _: () = {
    let lists = [YES, NO, CONSENTED, NOT_CONSENTED];
    let mut i = 0;
    while i < lists.len() {
        let mut j = 0;
        while j < lists[i].len() {
            assert!(lists[i][j].len() <= LONGEST_WORD);
            j += 1;
        }
        i += 1;
    }
};

/// Reads a trimmed, non-empty consent cell; `None` for a spelling nobody agreed on.
pub fn read_consent(cell: &str) -> Option<Reading> {
    match cell {
        // The usual spellings, answered before any normalising (the lists below agree).
        "1" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" => return Some(Reading::Flag(true)),
        "0" | "no" | "No" | "NO" | "false" | "False" | "FALSE" => {
            return Some(Reading::Flag(false));
        }
        _ => {}
    }
    if cell.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    // An ASCII cell (almost every one) is normalised on the stack: `normalize` keeps its
    // letters, lower-cased. One longer than every word cannot be one.
    let mut ascii = [0u8; LONGEST_WORD];
    let normalized;
    let n = if cell.is_ascii() {
        let mut len = 0;
        for b in cell.bytes().filter(u8::is_ascii_alphanumeric) {
            *ascii.get_mut(len)? = b.to_ascii_lowercase();
            len += 1;
        }
        std::str::from_utf8(&ascii[..len]).expect("ASCII letters")
    } else {
        normalized = normalize(cell);
        normalized.as_str()
    };
    if YES.contains(&n) {
        Some(Reading::Flag(true))
    } else if NO.contains(&n) {
        Some(Reading::Flag(false))
    } else if CONSENTED.contains(&n) {
        Some(Reading::Consent(true))
    } else if NOT_CONSENTED.contains(&n) {
        Some(Reading::Consent(false))
    } else {
        None
    }
}

/// The names in a tags cell, in order, each trimmed, empty items dropped. Encodings, tried in
/// this order:
/// 1. a quoted list, `"Customer","VIP"` (Mailchimp's `TAGS`, and what `export --with-tags
///    names` writes): each name in double quotes, a quote inside doubled, names separated by
///    commas; any character may appear in a name;
/// 2. Google Contacts labels, `* myContacts ::: Friends`: split on `:::`, and the system labels
///    starting with `* ` (`* myContacts`, `* starred`) dropped;
/// 3. a plain list separated by `,`, `;` (Outlook `Categories`) or `|`.
pub fn tag_names(cell: &str) -> Vec<Cow<'_, str>> {
    let cell = unexcel(trim_cell(cell));
    if cell.starts_with('"')
        && let Some(names) = quoted_list(cell)
    {
        return names
            .into_iter()
            .map(|n| match n {
                Cow::Borrowed(b) => Cow::Borrowed(trim_cell(b)),
                Cow::Owned(o) => Cow::Owned(trim_cell(&o).to_string()),
            })
            .filter(|n| !n.is_empty())
            .collect();
    }
    let items: Box<dyn Iterator<Item = &str>> = if cell.contains(":::") {
        Box::new(cell.split(":::"))
    } else {
        Box::new(cell.split([',', ';', '|']))
    };
    items
        .map(trim_cell)
        .filter(|n| !n.is_empty() && !n.starts_with("* "))
        .map(Cow::Borrowed)
        .collect()
}

/// `"a","b ""c""", "d"` -> a, b "c", d; `None` when the cell is not exactly such a list.
fn quoted_list(cell: &str) -> Option<Vec<Cow<'_, str>>> {
    let mut names = Vec::new();
    let bytes = cell.as_bytes();
    let mut i = 0;
    let skip_spaces = |i: &mut usize| {
        while bytes.get(*i).is_some_and(|b| *b == b' ' || *b == b'\t') {
            *i += 1;
        }
    };
    loop {
        skip_spaces(&mut i);
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
        let start = i;
        let mut doubled = false;
        loop {
            match bytes.get(i)? {
                b'"' if bytes.get(i + 1) == Some(&b'"') => {
                    doubled = true;
                    i += 2;
                }
                b'"' => break,
                _ => i += 1,
            }
        }
        let raw = &cell[start..i];
        names.push(if doubled {
            Cow::Owned(raw.replace("\"\"", "\""))
        } else {
            Cow::Borrowed(raw)
        });
        i += 1;
        skip_spaces(&mut i);
        match bytes.get(i) {
            None => return Some(names),
            Some(b',') => i += 1,
            Some(_) => return None,
        }
    }
}

/// Writes names so that [`tag_names`] reads exactly them back: the quoted list.
pub fn encode_tag_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for name in names {
        if !out.is_empty() {
            out.push(',');
        }
        out.push('"');
        out.push_str(&name.replace('"', "\"\""));
        out.push('"');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cell: &str) -> Vec<String> {
        tag_names(cell).into_iter().map(Cow::into_owned).collect()
    }

    #[test]
    fn booleans_in_every_recognised_language() {
        for yes in [
            "TRUE", "Yes", "y", "1", "oui", "Vrai", "ja", "Sí", "si", "x", "X", "on",
        ] {
            assert_eq!(read_consent(yes), Some(Reading::Flag(true)), "{yes}");
        }
        for no in [
            "false",
            "No",
            "N",
            "0",
            "non",
            "Faux",
            "nein",
            "off",
            "unchecked",
        ] {
            assert_eq!(read_consent(no), Some(Reading::Flag(false)), "{no}");
        }
        assert_eq!(read_consent("SUBSCRIBED"), Some(Reading::Consent(true)));
        assert_eq!(
            read_consent("NEVER_SUBSCRIBED"),
            Some(Reading::Consent(false))
        );
        assert_eq!(read_consent("Désabonné"), Some(Reading::Consent(false)));
        for unknown in ["maybe", "2", "1.0", "yes!?1", "-1", "tru"] {
            assert_eq!(read_consent(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn tag_lists_in_every_encoding() {
        assert_eq!(names("\"Customer\",\"VIP\""), ["Customer", "VIP"]);
        assert_eq!(
            names(r#""Paris, France", "a|b;c","say ""hi""""#),
            ["Paris, France", "a|b;c", "say \"hi\""]
        );
        assert_eq!(
            names("* myContacts ::: Friends ::: Work"),
            ["Friends", "Work"]
        );
        assert_eq!(names("* myContacts"), Vec::<String>::new());
        assert_eq!(names("Clients; Suppliers"), ["Clients", "Suppliers"]);
        assert_eq!(names("a, b|c ;; d"), ["a", "b", "c", "d"]);
        // Not a well-formed quoted list: read as a plain list.
        assert_eq!(names("\"VIP\" members, b"), ["\"VIP\" members", "b"]);
        assert_eq!(names("  "), Vec::<String>::new());
    }

    #[test]
    fn encoding_round_trips_any_name() {
        let all = [
            "Newsletter",
            "Paris, France",
            "a|b",
            "x;y",
            "say \"hi\"",
            " *",
            "'=1",
        ];
        let cell = encode_tag_names(all);
        assert_eq!(names(&cell), all.map(|n| n.trim().to_string()));
    }

    #[test]
    fn excel_guard_is_undone() {
        assert_eq!(unexcel("'-Smith"), "-Smith");
        assert_eq!(unexcel("'=1+1"), "=1+1");
        assert_eq!(unexcel("'@a"), "@a");
        assert_eq!(unexcel("O'Brien"), "O'Brien");
        assert_eq!(unexcel("'quoted'"), "'quoted'");
    }
}
