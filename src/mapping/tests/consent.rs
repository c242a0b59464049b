//! Consent columns: opt-in and opt-out headers, negated maps, vendor exports that mark
//! unsubscribed people, and the opening line that names what decides consent.

use super::*;

#[test]
fn opt_out_columns_are_recognised_and_lower_consent() {
    for header in [
        "Unsubscribed from all email",
        "EMAIL_BLACKLISTED",
        "Blacklisted",
        "Email Opt Out",
        "Opted out",
        "Désabonné",
        "Abgemeldet",
        "Dado de baja",
        "Unsubscribed",
    ] {
        let hs = h(&format!("Email,{header}"));
        let m = Mapping::resolve(&hs, &[]).unwrap();
        assert_eq!(
            m.sources(Field::EmailMarketing),
            &[Source {
                column: 1,
                sense: Sense::OptOut
            }],
            "{header}"
        );
        assert!(m.unmapped().is_empty(), "{header}");
        assert_eq!(
            m.consent(Field::EmailMarketing, &cells("a@b.co,Yes")),
            Consent::Send(false, None),
            "{header}"
        );
        // Not having unsubscribed is not consent: the column says nothing then.
        assert_eq!(
            m.consent(Field::EmailMarketing, &cells("a@b.co,false")),
            Consent::Absent
        );
        assert_eq!(
            m.consent(Field::EmailMarketing, &cells("a@b.co,")),
            Consent::Absent
        );
    }
}

#[test]
fn opt_out_wins_over_opt_in_and_says_so() {
    let hs = h("EMAIL,OPT_IN,EMAIL_BLACKLISTED");
    let m = Mapping::resolve(&hs, &[]).unwrap();
    assert_eq!(
        m.describe(&hs),
        "email <- \"EMAIL\", email_marketing <- \"OPT_IN\"; lowered by \"EMAIL_BLACKLISTED\""
    );
    let Consent::Send(false, Some(note)) =
        m.consent(Field::EmailMarketing, &cells("a@b.co,Yes,Yes"))
    else {
        panic!("opt-out must win")
    };
    assert_eq!(
        note,
        "email_marketing sent as false: \"EMAIL_BLACKLISTED\" says opted out and \"OPT_IN\" says \
         yes; opt-out wins"
    );
    assert_eq!(
        m.consent(Field::EmailMarketing, &cells("a@b.co,Yes,No")),
        Consent::Send(true, None)
    );
    assert_eq!(
        m.consent(Field::EmailMarketing, &cells("a@b.co,oui,")),
        Consent::Send(true, None)
    );
    assert_eq!(
        m.consent(Field::EmailMarketing, &cells("a@b.co,maybe,")),
        Consent::AsWritten("maybe")
    );
    // An unknown word in an opt-out column is read as opted out, and said.
    let Consent::Send(false, Some(note)) =
        m.consent(Field::EmailMarketing, &cells("a@b.co,Yes,perhaps"))
    else {
        panic!("unknown opt-out value must lower")
    };
    assert!(
        note.contains("holds \"perhaps\", read as opted out"),
        "{note}"
    );
    // A date in an opt-out column is an opt-out, silently.
    assert_eq!(
        m.consent(Field::EmailMarketing, &cells("a@b.co,,2024-01-02")),
        Consent::Send(false, None)
    );
    // Overriding the opt-in column keeps the opt-out column.
    let m = Mapping::resolve(&hs, &ov(&[("OPT_IN", "email_marketing")])).unwrap();
    assert!(matches!(
        m.consent(Field::EmailMarketing, &cells("a@b.co,Yes,Yes")),
        Consent::Send(false, Some(_))
    ));
    // Only naming the opt-out column with - drops it.
    let m = Mapping::resolve(&hs, &ov(&[("EMAIL_BLACKLISTED", "-")])).unwrap();
    assert_eq!(
        m.consent(Field::EmailMarketing, &cells("a@b.co,Yes,Yes")),
        Consent::Send(true, None)
    );
}

#[test]
fn negated_map_inverts_both_ways() {
    let hs = h("Email,Unsub,Sans RGPD");
    let m = Mapping::resolve(
        &hs,
        &ov(&[("Unsub", "!email_marketing"), ("sans rgpd", "! gdpr")]),
    )
    .unwrap();
    assert_eq!(
        m.consent(Field::EmailMarketing, &cells("a@b.co,true,")),
        Consent::Send(false, None)
    );
    assert_eq!(
        m.consent(Field::EmailMarketing, &cells("a@b.co,nein,")),
        Consent::Send(true, None)
    );
    assert_eq!(
        m.consent(Field::Gdpr, &cells("a@b.co,,non")),
        Consent::Send(true, None)
    );
    assert_eq!(
        m.describe(&hs),
        "email <- \"Email\", email_marketing <- not \"Unsub\", gdpr <- not \"Sans RGPD\""
    );
    let e = Mapping::resolve(&hs, &ov(&[("Unsub", "!first_name")])).unwrap_err();
    assert!(matches!(e, MappingError::NotNegatable { .. }), "{e}");
}

#[test]
fn mailchimp_unsubscribed_and_cleaned_exports_are_opted_out() {
    for extra in ["UNSUB_TIME", "CLEAN_TIME"] {
        let hs = h(&format!(
            "Email Address,First Name,MEMBER_RATING,OPTIN_TIME,{extra},LEID,TAGS"
        ));
        let m = Mapping::resolve(&hs, &[]).unwrap();
        // No column says email_marketing, yet the field is fed: the planner must ask.
        assert!(m.feeds(Field::EmailMarketing) && !m.feeds(Field::Gdpr));
        assert_eq!(
            m.consent(Field::EmailMarketing, &cells("a@b.co,A,2,2020-01-01,,1,")),
            Consent::Send(false, None),
            "{extra}"
        );
        assert!(m.consent_line(&hs).contains(&format!(
            "email_marketing <- false for every row (Mailchimp unsubscribed/cleaned export: \
             \"{extra}\")"
        )));
        assert_eq!(m.unmapped(), &[2, 3, 5]);
        // The user may say otherwise, explicitly.
        let m = Mapping::resolve(&hs, &ov(&[(extra, "-")])).unwrap();
        assert!(!m.feeds(Field::EmailMarketing));
        assert_eq!(
            m.consent(Field::EmailMarketing, &cells("a@b.co,A,2,2020-01-01,,1,")),
            Consent::Absent
        );
    }
}

#[test]
fn consent_line_names_the_columns_or_the_default() {
    let hs = h("Email,Opt-in");
    let m = Mapping::resolve(&hs, &[]).unwrap();
    assert_eq!(
        m.consent_line(&hs),
        "consent: email_marketing <- \"Opt-in\"; gdpr: no column, the server's default applies"
    );
    assert_eq!(
        m.consent_hint().unwrap(),
        "  to choose: --map \"<column>=gdpr\" (or \"<column>=!gdpr\" for an opt-out column)"
    );
    let both = h("Email,Opt-in,GDPR");
    assert_eq!(Mapping::resolve(&both, &[]).unwrap().consent_hint(), None);
}
