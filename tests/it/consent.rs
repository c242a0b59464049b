//! Consent is never raised by accident: files shaped like each tool's export (headers from the
//! tools' public documentation, invented rows), imported into a sandbox where every contact is
//! first stored subscribed, then re-imported with `--on-exists update`. What the sandbox STORES
//! afterwards proves what was sent: an unsubscribed person still stored with
//! `email_marketing: true` would mean the import left them subscribed.

use std::collections::HashMap;

use wolfeo_bulk::sandbox::SandboxHandle;

use crate::harness::{Env, bin, results, sandbox, unlimited};

/// Stores every email subscribed (`email_marketing: true`) through a plain import.
fn subscribe_all(env: &Env, sb: &SandboxHandle, emails: &[&str]) {
    let mut text = String::from("email,email_marketing\n");
    for e in emails {
        text.push_str(&format!("{e},yes\n"));
    }
    let seed = env.write("seed.csv", &text);
    bin(sb)
        .args(["import", seed.to_str().unwrap(), "--rate", "unlimited"])
        .assert()
        .success();
    assert!(sb.contacts().iter().all(|c| c.email_marketing));
}

/// Imports `text` as `name` with `--on-exists update` and `extra` flags; returns stderr, the
/// results rows by email column value, and what the sandbox stores per email.
fn import(
    env: &Env,
    sb: &SandboxHandle,
    name: &str,
    text: &str,
    extra: &[&str],
) -> (String, Vec<HashMap<String, String>>, HashMap<String, bool>) {
    let input = env.write(name, text);
    let out = bin(sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .args(["--on-exists", "update"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{stderr}");
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let rows = results(&env.path(&format!("{stem}.results.csv")));
    let stored = sb
        .contacts()
        .into_iter()
        .map(|c| (c.email, c.email_marketing))
        .collect();
    (stderr, rows, stored)
}

fn check(stored: &HashMap<String, bool>, want: &[(&str, bool)]) {
    for (email, subscribed) in want {
        assert_eq!(stored.get(*email), Some(subscribed), "{email}");
    }
}

#[test]
fn brevo_blacklist_wins_over_opt_in() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let emails = ["b1@ex.fr", "b2@ex.fr", "b3@ex.fr", "b4@ex.fr"];
    subscribe_all(&env, &sb, &emails);
    let (stderr, rows, stored) = import(
        &env,
        &sb,
        "brevo.csv",
        "EMAIL,FIRSTNAME,LASTNAME,SMS,EMAIL_BLACKLISTED,SMS_BLACKLISTED,OPT_IN,DOUBLE_OPT-IN\n\
         b1@ex.fr,Anne,Roux,,Yes,No,Yes,Yes\n\
         b2@ex.fr,Marc,Petit,,No,No,Yes,No\n\
         b3@ex.fr,Lea,Blanc,,Yes,No,No,No\n\
         b4@ex.fr,Jo,Noir,,1,0,,\n",
        &[],
    );
    check(
        &stored,
        &[
            ("b1@ex.fr", false),
            ("b2@ex.fr", true),
            ("b3@ex.fr", false),
            ("b4@ex.fr", false),
        ],
    );
    assert!(
        rows[0]["_message"].contains(
            "email_marketing sent as false: \"EMAIL_BLACKLISTED\" says opted out and \"OPT_IN\" \
             says yes; opt-out wins"
        ),
        "{:?}",
        rows[0]
    );
    assert_eq!(rows[1]["_message"], "");
    assert!(
        stderr.contains(
            "consent: email_marketing <- \"OPT_IN\"; lowered by \"EMAIL_BLACKLISTED\"; gdpr: no \
             column, the server's default applies"
        ),
        "{stderr}"
    );
}

#[test]
fn hubspot_unsubscribed_lowers_and_negation_inverts() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    subscribe_all(&env, &sb, &["h1@ex.com", "h2@ex.com", "h3@ex.com"]);
    let file = "Record ID,First Name,Last Name,Email,Work email,Marketing contact status,Unsubscribed from all email\n\
                501,Ann,Lee,h1@ex.com,,Marketing contact,true\n\
                502,Bo,Ng,h2@ex.com,,Marketing contact,false\n\
                503,Cy,Oh,,h3@ex.com,Non-marketing contact,true\n";
    let (stderr, rows, stored) = import(&env, &sb, "hubspot.csv", file, &[]);
    // Not having unsubscribed is not consent: h2 keeps what the account had.
    check(
        &stored,
        &[
            ("h1@ex.com", false),
            ("h2@ex.com", true),
            ("h3@ex.com", false),
        ],
    );
    assert_eq!(rows[2]["_outcome"], "updated", "{:?}", rows[2]);
    assert!(
        rows[2]["_message"].contains("email taken from \"Work email\" (\"Email\" is empty)"),
        "{:?}",
        rows[2]
    );
    assert!(
        stderr.contains("email_marketing <- lowered by \"Unsubscribed from all email\""),
        "{stderr}"
    );

    // Told explicitly that the column is the inverse of consent, false means subscribed.
    let sb = sandbox(unlimited());
    let (_, _, stored) = import(
        &env,
        &sb,
        "hubspot.csv",
        file,
        &["--map", "Unsubscribed from all email=!email_marketing"],
    );
    check(
        &stored,
        &[
            ("h1@ex.com", false),
            ("h2@ex.com", true),
            ("h3@ex.com", false),
        ],
    );
}

#[test]
fn mailchimp_unsubscribed_and_cleaned_exports_import_unsubscribed() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    subscribe_all(&env, &sb, &["m1@ex.com", "m2@ex.com", "m3@ex.com"]);
    let (stderr, _, stored) = import(
        &env,
        &sb,
        "unsubscribed_members_export.csv",
        "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER,LEID,EUID,NOTES,TAGS\n\
         m1@ex.com,Al,B,2,2021-03-01 10:00:00,,2021-03-01 10:01:00,,,,,,,FR,,2023-05-02 08:00:00,Spring sale,abc123,\"I no longer want to receive these emails\",,111,e1,,\"\"\"Customer\"\"\"\n\
         m2@ex.com,Bea,C,1,2021-03-01 10:00:00,,,,,,,,,FR,,,,,,,112,e2,,\n",
        &["--create-missing-tags"],
    );
    check(&stored, &[("m1@ex.com", false), ("m2@ex.com", false)]);
    assert!(
        stderr.contains(
            "email_marketing <- false for every row (Mailchimp unsubscribed/cleaned export: \
             \"UNSUB_TIME\")"
        ),
        "{stderr}"
    );
    let (_, _, stored) = import(
        &env,
        &sb,
        "cleaned_members_export.csv",
        "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID,LEID,EUID,NOTES\n\
         m3@ex.com,Cy,D,1,2021-03-01 10:00:00,2023-01-01 00:00:00,Welcome,x1,113,e3,\n",
        &[],
    );
    check(&stored, &[("m3@ex.com", false)]);
}

#[test]
fn french_german_spanish_klaviyo_and_shopify_files() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let emails = [
        "f1@ex.fr",
        "f2@ex.fr",
        "d1@ex.de",
        "d2@ex.de",
        "s1@ex.es",
        "s2@ex.es",
        "k1@ex.com",
        "k2@ex.com",
        "k3@ex.com",
        "p1@ex.com",
        "p2@ex.com",
    ];
    subscribe_all(&env, &sb, &emails);
    import(
        &env,
        &sb,
        "fr.csv",
        "Courriel;Prénom;Nom;Abonné;Désabonné\nf1@ex.fr;Zoé;Martin;oui;oui\nf2@ex.fr;Luc;Durand;oui;non\n",
        &[],
    );
    import(
        &env,
        &sb,
        "de.csv",
        "E-Mail-Adresse;Vorname;Nachname;Opt-in;Abgemeldet\nd1@ex.de;Jörg;Maier;ja;ja\nd2@ex.de;Uta;Koch;ja;nein\n",
        &[],
    );
    import(
        &env,
        &sb,
        "es.csv",
        "Correo electrónico,Nombre,Apellido,Dado de baja\ns1@ex.es,Ana,Gil,sí\ns2@ex.es,Luis,Paz,no\n",
        &[],
    );
    import(
        &env,
        &sb,
        "klaviyo.csv",
        "Email,First Name,Last Name,Phone Number,Email Marketing Consent,Klaviyo ID\n\
         k1@ex.com,K,One,,SUBSCRIBED,01A\nk2@ex.com,K,Two,,UNSUBSCRIBED,01B\nk3@ex.com,K,Three,,NEVER_SUBSCRIBED,01C\n",
        &[],
    );
    let (_, _, stored) = import(
        &env,
        &sb,
        "shopify.csv",
        "First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags\n\
         P,One,p1@ex.com,yes,,,no,0.00,0,,no,\nP,Two,p2@ex.com,no,,,yes,10.00,1,,no,VIP\n",
        &["--create-missing-tags"],
    );
    check(
        &stored,
        &[
            ("f1@ex.fr", false),
            ("f2@ex.fr", true),
            ("d1@ex.de", false),
            ("d2@ex.de", true),
            ("s1@ex.es", false),
            ("s2@ex.es", true),
            ("k1@ex.com", true),
            ("k2@ex.com", false),
            ("k3@ex.com", false),
            ("p1@ex.com", true),
            ("p2@ex.com", false),
        ],
    );
}

#[test]
fn a_file_without_consent_columns_says_the_server_default_applies() {
    let env = Env::new();
    let sb = sandbox(unlimited());
    let input = env.write(
        "kit.csv",
        "first_name,email_address,state,created_at\nKim,k@ex.com,active,2024-01-01\n",
    );
    let out = bin(&sb)
        .args(["import", input.to_str().unwrap(), "--rate", "unlimited"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "consent: no column feeds email_marketing or gdpr; the server's default applies"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "  to choose: --map \"<column>=email_marketing\" (or \"<column>=!email_marketing\" \
             for an opt-out column)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.matches("the server's default applies").count() >= 2,
        "said in the opening lines and the summary"
    );
}
