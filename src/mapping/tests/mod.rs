//! Resolution and description of mappings, from the headers of real exports.

mod consent;

use super::aliases::lookup;
use super::*;

fn h(s: &str) -> Vec<String> {
    s.split(',').map(String::from).collect()
}

fn cells(s: &str) -> Vec<String> {
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
    let hs =
        h("Email Address,First Name,Last Name,Address,Phone Number,TAGS,MEMBER_RATING,OPTIN_TIME");
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
        ("Sequences", Field::Sequences),
        ("sequence_ids", Field::SequenceIds),
    ];
    for &(header, field) in cases {
        assert_eq!(lookup(header).map(|(f, _)| f), Some(field), "{header}");
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
        msg.contains("\"c19\", \"c20\"") && msg.contains("\"c29\";"),
        "every header is listed: {msg}"
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
         email_marketing, gdpr, tag_ids, tags, sequence_ids, sequences, custom:<name> or \
         custom:#<id> for a custom field, or - to ignore the column"
    );
    let e = Mapping::resolve(&h("A,B,Email"), &ov(&[("A", "tags"), ("B", "tags")])).unwrap_err();
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
    assert!(!e.to_string().contains("--skip-lines"), "{e}");
    // A title line read as the header: one filled cell.
    let e = Mapping::resolve(&h("Exported on 2026-12-01,,"), &[]).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("or --skip-lines N when the header is below N title lines"),
        "{e}"
    );
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

#[test]
fn secondary_emails_fill_an_empty_primary() {
    let hs = h("First Name,E-mail 1 - Value,E-mail 2 - Value,Work email");
    let m = Mapping::resolve(&hs, &[]).unwrap();
    assert_eq!(m.column(Field::Email), Some(1));
    let row = cells("A,,b@x.co,c@x.co");
    let t = m.text(Field::Email, &row).unwrap();
    assert_eq!(t.value, "b@x.co");
    assert_eq!(
        t.note.as_deref(),
        Some("email taken from \"E-mail 2 - Value\" (\"E-mail 1 - Value\" is empty)")
    );
    let row = cells("A,a@x.co,b@x.co,");
    assert_eq!(m.text(Field::Email, &row).unwrap().note, None);
    // Only a secondary column: it is the email column.
    let hs = h("Name,Work email");
    let m = Mapping::resolve(&hs, &[]).unwrap();
    assert_eq!(m.column(Field::Email), Some(1));
    // --map "A,B=email": the first non-empty.
    let hs = h("Perso,Pro,Nom");
    let m = Mapping::resolve(&hs, &ov(&[("Perso, Pro", "email")])).unwrap();
    let row = cells(",p@x.co,X");
    assert_eq!(m.text(Field::Email, &row).unwrap().value, "p@x.co");
    assert_eq!(
        m.describe(&hs),
        "email <- \"Perso\" else \"Pro\", last_name <- \"Nom\""
    );
}

#[test]
fn map_names_columns_the_way_aliases_match() {
    let hs = h("E-Mail Address,Vorname");
    let m = Mapping::resolve(&hs, &ov(&[("email address", "email")])).unwrap();
    assert_eq!(m.column(Field::Email), Some(0));
    let m = Mapping::resolve(&hs, &ov(&[("VORNAME", "last_name")])).unwrap();
    assert_eq!(m.column(Field::LastName), Some(1));
}

#[test]
fn vendor_exports_map_without_help() {
    let cases: &[(&str, &[(Field, usize)])] = &[
        // Google Contacts, current layout
        (
            "First Name,Middle Name,Last Name,Labels,E-mail 1 - Label,E-mail 1 - Value,E-mail 2 - Label,E-mail 2 - Value",
            &[
                (Field::FirstName, 0),
                (Field::LastName, 2),
                (Field::Tags, 3),
                (Field::Email, 5),
            ],
        ),
        // Google Contacts, older layout
        (
            "Name,Given Name,Additional Name,Family Name,Group Membership,E-mail 1 - Type,E-mail 1 - Value",
            &[
                (Field::FirstName, 1),
                (Field::LastName, 3),
                (Field::Tags, 4),
                (Field::Email, 6),
            ],
        ),
        // Outlook
        (
            "First Name,Middle Name,Last Name,E-mail Address,E-mail Type,E-mail Display Name,E-mail 2 Address,Categories",
            &[
                (Field::FirstName, 0),
                (Field::LastName, 2),
                (Field::Email, 3),
                (Field::Tags, 7),
            ],
        ),
        // Shopify customers
        (
            "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Phone,Tags",
            &[
                (Field::Email, 3),
                (Field::EmailMarketing, 4),
                (Field::Tags, 6),
            ],
        ),
        // Zoho CRM
        (
            "Record Id,First Name,Last Name,Email,Secondary Email,Email Opt Out,Tag",
            &[(Field::Email, 3), (Field::Tags, 6)],
        ),
        // Brevo
        (
            "EMAIL,FIRSTNAME,LASTNAME,SMS,EMAIL_BLACKLISTED,SMS_BLACKLISTED,OPT_IN",
            &[
                (Field::Email, 0),
                (Field::FirstName, 1),
                (Field::LastName, 2),
                (Field::EmailMarketing, 6),
            ],
        ),
        // Kit / ConvertKit
        (
            "first_name,email_address,state,created_at,tags",
            &[(Field::FirstName, 0), (Field::Email, 1), (Field::Tags, 4)],
        ),
        // Klaviyo
        (
            "Email,First Name,Last Name,Phone Number,Email Marketing Consent,Klaviyo ID",
            &[(Field::Email, 0), (Field::EmailMarketing, 4)],
        ),
        // HubSpot
        (
            "Record ID,First Name,Last Name,Email,Work email,Unsubscribed from all email,Marketing contact status",
            &[(Field::Email, 3), (Field::FirstName, 1)],
        ),
        // ActiveCampaign
        (
            "Email,First Name,Last Name,Phone,Organization,Tags,Unsubscribed",
            &[(Field::Email, 0), (Field::Tags, 5)],
        ),
    ];
    for (header, want) in cases {
        let hs = h(header);
        let m = Mapping::resolve(&hs, &[]).unwrap_or_else(|e| panic!("{header}: {e}"));
        for &(f, c) in *want {
            assert_eq!(m.column(f), Some(c), "{header}: {f}");
        }
    }
}

#[test]
fn own_result_columns_are_ignored_when_read_back() {
    let hs = h("Email,Name,_row,_outcome,_message,_reason");
    let m = Mapping::resolve(&hs, &[]).unwrap();
    assert_eq!(m.unmapped(), &[1]);
}

#[test]
fn excel_guard_undone_in_text_fields() {
    let hs = h("Email,Last Name");
    let m = Mapping::resolve(&hs, &[]).unwrap();
    assert_eq!(
        m.text(Field::LastName, &cells("a@b.co,'-Smith"))
            .unwrap()
            .value,
        "-Smith"
    );
}
