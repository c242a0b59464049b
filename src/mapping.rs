//! Maps CSV header names to the email-marketing API's contact fields.
//!
//! The import command calls [`Mapping::resolve`] once with the header row and
//! the user's `--map` pairs, before any row is sent; a [`MappingError`] is a
//! usage error (the caller exits 2). Invariants: every field maps to at most
//! one column and every column to at most one field; an email column is
//! required; a mapping never guesses between two candidate columns, it asks.
//! Headers match after normalisation (lowercase, common accents folded, only
//! letters and digits kept) against an alias table of real exports
//! (Mailchimp, HubSpot, Brevo/Sendinblue, Salesforce, French, German,
//! Spanish). This module is independent of `csv_in`.

use std::fmt;
use std::str::FromStr;

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
}

impl Field {
    /// Order used by [`Mapping::describe`] and in messages.
    pub const ALL: [Field; 8] = [
        Field::Email,
        Field::FirstName,
        Field::LastName,
        Field::EmailMarketing,
        Field::Gdpr,
        Field::TagIds,
        Field::Tags,
        Field::SequenceIds,
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
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const FIELD_LIST: &str =
    "email, first_name, last_name, email_marketing, gdpr, tag_ids, tags, sequence_ids";

impl FromStr for Field {
    type Err = String;
    /// Canonical names in any case or punctuation, and the header aliases.
    fn from_str(s: &str) -> Result<Field, String> {
        lookup(s).ok_or_else(|| format!("unknown field \"{}\"; fields: {FIELD_LIST}", esc(s, 40)))
    }
}

/// Normalised header -> field. Deliberately absent because they are
/// ambiguous in real exports: `name`, `full name`, `contact`, `id`,
/// `record id`, `opt in time`, `status`, `work email`.
const ALIASES: &[(&str, Field)] = &[
    // email: Mailchimp "Email Address", Brevo "EMAIL", fr/de/es/it variants
    ("email", Field::Email),
    ("emailaddress", Field::Email),
    ("mail", Field::Email),
    ("emailadresse", Field::Email),
    ("mailadresse", Field::Email),
    ("adresseemail", Field::Email),
    ("adressemail", Field::Email),
    ("adresseelectronique", Field::Email),
    ("adressecourriel", Field::Email),
    ("courriel", Field::Email),
    ("correo", Field::Email),
    ("correoelectronico", Field::Email),
    ("direcciondecorreo", Field::Email),
    ("direcciondecorreoelectronico", Field::Email),
    ("indirizzoemail", Field::Email),
    // first name: "First Name", "FNAME", Salesforce "FirstName", "PRENOM"
    ("firstname", Field::FirstName),
    ("fname", Field::FirstName),
    ("first", Field::FirstName),
    ("givenname", Field::FirstName),
    ("forename", Field::FirstName),
    ("prenom", Field::FirstName),
    ("vorname", Field::FirstName),
    ("nombre", Field::FirstName),
    ("nome", Field::FirstName),
    // last name: "Last Name", "LNAME", "NOM", "Nachname", "Apellido"
    ("lastname", Field::LastName),
    ("lname", Field::LastName),
    ("last", Field::LastName),
    ("surname", Field::LastName),
    ("familyname", Field::LastName),
    ("nom", Field::LastName),
    ("nomdefamille", Field::LastName),
    ("nachname", Field::LastName),
    ("familienname", Field::LastName),
    ("apellido", Field::LastName),
    ("apellidos", Field::LastName),
    ("cognome", Field::LastName),
    // marketing consent
    ("emailmarketing", Field::EmailMarketing),
    ("marketingconsent", Field::EmailMarketing),
    ("optin", Field::EmailMarketing),
    ("emailoptin", Field::EmailMarketing),
    ("marketingoptin", Field::EmailMarketing),
    ("acceptsmarketing", Field::EmailMarketing),
    ("acceptsemailmarketing", Field::EmailMarketing),
    ("subscribed", Field::EmailMarketing),
    // GDPR consent
    ("gdpr", Field::Gdpr),
    ("gdprconsent", Field::Gdpr),
    ("rgpd", Field::Gdpr),
    ("rgpdconsent", Field::Gdpr),
    ("consentementrgpd", Field::Gdpr),
    ("dsgvo", Field::Gdpr),
    ("consent", Field::Gdpr),
    // numeric tag ids vs tag names
    ("tagids", Field::TagIds),
    ("tagid", Field::TagIds),
    ("tags", Field::Tags),
    ("tag", Field::Tags),
    ("tagnames", Field::Tags),
    ("labels", Field::Tags),
    ("etiquettes", Field::Tags),
    ("sequenceids", Field::SequenceIds),
    ("sequenceid", Field::SequenceIds),
    ("sequences", Field::SequenceIds),
];

/// Lowercase, fold Latin accents, keep letters and digits:
/// "Prénom" == "PRENOM" == "prénom", "E-mail Address" == "emailaddress".
fn normalize(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            c => c,
        })
        .collect()
}

fn lookup(header: &str) -> Option<Field> {
    let n = normalize(header);
    ALIASES.iter().find(|(a, _)| *a == n).map(|&(_, f)| f)
}

/// Header text for a message, shown between quotes: trimmed, made safe by the crate's one
/// sanitiser.
fn esc(s: &str, max: usize) -> String {
    crate::text::sanitize_quoted(s.trim(), max)
}

fn headers_seen(headers: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut list: Vec<String> = headers
        .iter()
        .take(SHOWN)
        .map(|h| format!("\"{}\"", esc(h, 40)))
        .collect();
    if headers.len() > SHOWN {
        list.push(format!("… ({} more)", headers.len() - SHOWN));
    }
    if list.is_empty() {
        "(none)".to_string()
    } else {
        list.join(", ")
    }
}

/// Usage errors; each message is one line ending with what to do.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum MappingError {
    #[error("no email column: headers seen: {headers}; use --map \"<header>=email\"")]
    NoEmail { headers: String },
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
        "--map \"{arg}\": unknown field \"{field}\"; fields: {FIELD_LIST}, or - to ignore the column"
    )]
    UnknownField { arg: String, field: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    columns: [Option<usize>; 8],
    unmapped: Vec<usize>,
}

impl Mapping {
    /// `overrides` are `--map "Column Header=field"` pairs: the header as in
    /// the file (both sides trimmed), the field a name [`Field`] parses, or
    /// `-`/`ignore` to leave the column unmapped. A column named by an
    /// override, and a field set by one, take no part in alias matching.
    pub fn resolve(
        headers: &[String],
        overrides: &[(String, String)],
    ) -> Result<Mapping, MappingError> {
        let mut columns: [Option<usize>; 8] = [None; 8];
        // For each column named by an override: which override (index).
        let mut named_by: Vec<Option<(usize, Option<Field>)>> = vec![None; headers.len()];
        let mut field_by: [Option<usize>; 8] = [None; 8];
        let arg = |i: usize| {
            let (h, f) = &overrides[i];
            format!("{}={}", esc(h, 60), esc(f, 40))
        };
        for (i, (header, field)) in overrides.iter().enumerate() {
            let want = header.trim();
            let field = field.trim();
            let target = if field == "-" || field.eq_ignore_ascii_case("ignore") {
                None
            } else {
                Some(lookup(field).ok_or_else(|| MappingError::UnknownField {
                    arg: arg(i),
                    field: esc(field, 40),
                })?)
            };
            let cols: Vec<usize> = (0..headers.len())
                .filter(|&c| headers[c].trim() == want)
                .collect();
            let Some(&first) = cols.first() else {
                return Err(MappingError::NoSuchColumn {
                    arg: arg(i),
                    header: esc(want, 60),
                    headers: headers_seen(headers),
                });
            };
            for &c in &cols {
                if let Some((j, prev)) = named_by[c]
                    && prev != target
                {
                    return Err(MappingError::SameColumnTwice {
                        first: arg(j),
                        second: arg(i),
                    });
                }
                named_by[c] = Some((i, target));
            }
            let Some(t) = target else { continue };
            if let Some(&second) = cols.get(1) {
                return Err(MappingError::DuplicateHeader {
                    field: t,
                    header: esc(want, 60),
                    first: first + 1,
                    second: second + 1,
                });
            }
            match field_by[t as usize] {
                Some(j) if columns[t as usize] != Some(first) => {
                    return Err(MappingError::OverridesClash {
                        field: t,
                        first: arg(j),
                        second: arg(i),
                    });
                }
                _ => {}
            }
            columns[t as usize] = Some(first);
            field_by[t as usize] = Some(i);
        }
        for (c, header) in headers.iter().enumerate() {
            if named_by[c].is_some() {
                continue;
            }
            let Some(f) = lookup(header) else { continue };
            if field_by[f as usize].is_some() {
                continue;
            }
            if let Some(prev) = columns[f as usize] {
                return Err(if headers[prev].trim() == header.trim() {
                    MappingError::DuplicateHeader {
                        field: f,
                        header: esc(header, 60),
                        first: prev + 1,
                        second: c + 1,
                    }
                } else {
                    MappingError::Conflict {
                        field: f,
                        first: esc(&headers[prev], 60),
                        second: esc(header, 60),
                    }
                });
            }
            columns[f as usize] = Some(c);
        }
        if columns[Field::Email as usize].is_none() {
            return Err(MappingError::NoEmail {
                headers: headers_seen(headers),
            });
        }
        let unmapped = (0..headers.len())
            .filter(|c| !columns.contains(&Some(*c)))
            .collect();
        Ok(Mapping { columns, unmapped })
    }

    pub fn column(&self, f: Field) -> Option<usize> {
        self.columns[f as usize]
    }

    /// Column indexes that feed no field, ascending.
    pub fn unmapped(&self) -> &[usize] {
        &self.unmapped
    }

    /// `email <- "E-mail Address", first_name <- "FNAME"` in [`Field::ALL`]
    /// order; stable, so a resumed import can tell the mapping changed.
    pub fn describe(&self, headers: &[String]) -> String {
        Field::ALL
            .iter()
            .filter_map(|&f| {
                let c = self.column(f)?;
                let h = headers.get(c).map(String::as_str).unwrap_or("");
                Some(format!("{} <- \"{}\"", f.name(), esc(h, 200)))
            })
            .collect::<Vec<_>>()
            .join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    fn ov(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn field_names_round_trip() {
        for f in Field::ALL {
            assert_eq!(f.name().parse::<Field>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        assert_eq!("First Name".parse::<Field>(), Ok(Field::FirstName));
        assert_eq!("TAG-IDS".parse::<Field>(), Ok(Field::TagIds));
        let e = "emial".parse::<Field>().unwrap_err();
        assert!(
            e.contains("unknown field \"emial\"") && e.contains("sequence_ids"),
            "{e}"
        );
        assert!("name".parse::<Field>().is_err());
        assert!("id".parse::<Field>().is_err());
    }

    #[test]
    fn mailchimp_export() {
        let hs = h(
            "Email Address,First Name,Last Name,Address,Phone Number,TAGS,MEMBER_RATING,OPTIN_TIME",
        );
        let m = Mapping::resolve(&hs, &[]).unwrap();
        assert_eq!(m.column(Field::Email), Some(0));
        assert_eq!(m.column(Field::FirstName), Some(1));
        assert_eq!(m.column(Field::LastName), Some(2));
        assert_eq!(m.column(Field::Tags), Some(5));
        assert_eq!(m.column(Field::TagIds), None);
        assert_eq!(
            m.column(Field::EmailMarketing),
            None,
            "OPTIN_TIME is a timestamp"
        );
        assert_eq!(m.unmapped(), &[3, 4, 6, 7]);
        assert_eq!(
            m.describe(&hs),
            "email <- \"Email Address\", first_name <- \"First Name\", last_name <- \"Last Name\", tags <- \"TAGS\""
        );
    }

    #[test]
    fn wolfeo_export() {
        let hs = h("id,email,first_name,last_name,email_marketing,gdpr,created_at");
        let m = Mapping::resolve(&hs, &[]).unwrap();
        let got: Vec<_> = Field::ALL.iter().map(|&f| m.column(f)).collect();
        assert_eq!(
            got,
            [
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                Some(5),
                None,
                None,
                None
            ]
        );
        assert_eq!(m.unmapped(), &[0, 6]);
    }

    #[test]
    fn vendor_and_language_aliases() {
        let cases: &[(&str, Field)] = &[
            ("EMAIL", Field::Email),
            ("E-mail", Field::Email),
            ("e_mail", Field::Email),
            ("Courriel", Field::Email),
            ("Adresse email", Field::Email),
            ("Adresse e-mail", Field::Email),
            ("E-Mail-Adresse", Field::Email),
            ("Correo electrónico", Field::Email),
            ("FNAME", Field::FirstName),
            ("FirstName", Field::FirstName),
            ("FIRSTNAME", Field::FirstName),
            ("PRENOM", Field::FirstName),
            ("Prénom", Field::FirstName),
            ("prénom", Field::FirstName),
            ("Vorname", Field::FirstName),
            ("Nombre", Field::FirstName),
            ("LNAME", Field::LastName),
            ("LASTNAME", Field::LastName),
            ("NOM", Field::LastName),
            ("Nachname", Field::LastName),
            ("Apellido", Field::LastName),
            ("Marketing consent", Field::EmailMarketing),
            ("Opt-in", Field::EmailMarketing),
            ("optin", Field::EmailMarketing),
            ("Accepts Marketing", Field::EmailMarketing),
            ("Subscribed", Field::EmailMarketing),
            ("GDPR consent", Field::Gdpr),
            ("RGPD", Field::Gdpr),
            ("consent", Field::Gdpr),
            ("Tag IDs", Field::TagIds),
            ("tagids", Field::TagIds),
            ("Tag names", Field::Tags),
            ("Labels", Field::Tags),
            ("Sequences", Field::SequenceIds),
            ("sequence_ids", Field::SequenceIds),
        ];
        for &(header, field) in cases {
            assert_eq!(lookup(header), Some(field), "{header}");
        }
        for header in [
            "Name",
            "Full Name",
            "full_name",
            "id",
            "ID",
            "Record ID",
            "OPTIN_TIME",
            "",
            "Phone",
        ] {
            assert_eq!(lookup(header), None, "{header}");
        }
    }

    #[test]
    fn ambiguous_names_stay_unmapped() {
        let hs = h("Name,Full Name,Email,id");
        let m = Mapping::resolve(&hs, &[]).unwrap();
        assert_eq!(m.column(Field::FirstName), None);
        assert_eq!(m.column(Field::Email), Some(2));
        assert_eq!(m.unmapped(), &[0, 1, 3]);
    }

    #[test]
    fn two_email_columns_is_an_error_with_a_hint() {
        let hs = h("Email,E-mail");
        let e = Mapping::resolve(&hs, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "columns \"Email\" and \"E-mail\" both map to email; use --map to choose one (--map \"E-mail=-\")"
        );
        // Following the hint works.
        let m = Mapping::resolve(&hs, &ov(&[("E-mail", "-")])).unwrap();
        assert_eq!(m.column(Field::Email), Some(0));
        assert_eq!(m.unmapped(), &[1]);
    }

    #[test]
    fn duplicate_identical_headers() {
        let hs = h("Email,Name,Email");
        let e = Mapping::resolve(&hs, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "columns 1 and 3 are both named \"Email\" and both map to email; rename one of them in the file"
        );
        let e = Mapping::resolve(&hs, &ov(&[("Email", "email")])).unwrap_err();
        assert!(matches!(e, MappingError::DuplicateHeader { .. }), "{e}");
        // Duplicates of an unmatched name are fine.
        let m = Mapping::resolve(&h("Email,x,x"), &[]).unwrap();
        assert_eq!(m.unmapped(), &[1, 2]);
    }

    #[test]
    fn no_email_column_lists_headers_sanitized() {
        let e = Mapping::resolve(&h("Name,Phone"), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no email column: headers seen: \"Name\", \"Phone\"; use --map \"<header>=email\""
        );
        let nasty = vec!["a\u{1b}[31m\nb\u{202e}".to_string(), "x".repeat(100)];
        let msg = Mapping::resolve(&nasty, &[]).unwrap_err().to_string();
        assert!(
            !msg.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{msg}"
        );
        assert!(
            msg.contains("\\u{1b}") && msg.contains("\\n") && msg.contains("…"),
            "{msg}"
        );
        let many: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        let msg = Mapping::resolve(&many, &[]).unwrap_err().to_string();
        assert!(
            msg.contains("\"c19\", … (10 more)") && !msg.contains("c20"),
            "{msg}"
        );
    }

    #[test]
    fn overrides_take_precedence() {
        let hs = h("Mail,Email,Contact,Prénom");
        // The override picks "Contact" for email; alias columns for email are left alone.
        let m = Mapping::resolve(&hs, &ov(&[("Contact", "email")])).unwrap();
        assert_eq!(m.column(Field::Email), Some(2));
        assert_eq!(m.column(Field::FirstName), Some(3));
        assert_eq!(m.unmapped(), &[0, 1]);
        // A column named in an override leaves alias matching even when ignored.
        let m = Mapping::resolve(&h("Email,Prénom"), &ov(&[("Prénom", "ignore")])).unwrap();
        assert_eq!(m.column(Field::FirstName), None);
        // Override to another field; header text trimmed on both sides.
        let m = Mapping::resolve(
            &h(" Email ,Nom"),
            &ov(&[("Email ", "email"), ("Nom", "first_name")]),
        )
        .unwrap();
        assert_eq!(m.column(Field::FirstName), Some(1));
        assert_eq!(m.column(Field::LastName), None);
        assert_eq!(
            m.describe(&h(" Email ,Nom")),
            "email <- \"Email\", first_name <- \"Nom\""
        );
    }

    #[test]
    fn override_errors() {
        let hs = h("Email,Name");
        let e = Mapping::resolve(&hs, &ov(&[("Foo", "email")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--map \"Foo=email\": no column named \"Foo\"; headers seen: \"Email\", \"Name\""
        );
        let e = Mapping::resolve(&hs, &ov(&[("Email", "emial")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--map \"Email=emial\": unknown field \"emial\"; fields: email, first_name, last_name, \
             email_marketing, gdpr, tag_ids, tags, sequence_ids, or - to ignore the column"
        );
        let e =
            Mapping::resolve(&h("A,B,Email"), &ov(&[("A", "tags"), ("B", "tags")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--map \"A=tags\" and --map \"B=tags\" both map to tags; keep one"
        );
        let e = Mapping::resolve(&hs, &ov(&[("Name", "tags"), ("Name", "-")])).unwrap_err();
        assert!(matches!(e, MappingError::SameColumnTwice { .. }), "{e}");
        // The same override twice is harmless.
        assert!(Mapping::resolve(&hs, &ov(&[("Name", "tags"), ("Name", "Tags")])).is_ok());
        // Overriding email away leaves no email column.
        let e = Mapping::resolve(&hs, &ov(&[("Email", "-")])).unwrap_err();
        assert!(matches!(e, MappingError::NoEmail { .. }));
    }

    #[test]
    fn map_arg_parsing() {
        assert_eq!(
            parse_map_arg("E-mail Address=email"),
            Ok(("E-mail Address".into(), "email".into()))
        );
        assert_eq!(
            parse_map_arg(" a=b = tags "),
            Ok(("a=b".into(), "tags".into()))
        );
        assert_eq!(parse_map_arg("Old=-"), Ok(("Old".into(), "-".into())));
        assert!(
            parse_map_arg("email")
                .unwrap_err()
                .contains("expected \"Column Header=field\"")
        );
        assert!(
            parse_map_arg("=email")
                .unwrap_err()
                .contains("header is empty")
        );
        assert!(
            parse_map_arg("Email=")
                .unwrap_err()
                .contains("field is empty")
        );
        assert!(!parse_map_arg("a\nb").unwrap_err().contains('\n'));
    }

    #[test]
    fn describe_is_stable_and_escaped() {
        let hs = vec!["E\"mail".to_string(), "gdpr\u{202e}".to_string()];
        let m = Mapping::resolve(&hs, &ov(&[("E\"mail", "email")])).unwrap();
        assert_eq!(
            m.describe(&hs),
            "email <- \"E\\\"mail\", gdpr <- \"gdpr\\u{202e}\""
        );
    }
}
