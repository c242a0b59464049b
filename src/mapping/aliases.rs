//! The alias table: which header, in which tool's export, feeds which field and how.
//!
//! [`super::Mapping::resolve`] looks every header up here, and `--map` column names are matched
//! with the same [`normalize`] rule. Headers match after normalisation (lowercase, Latin accents
//! folded, only letters and digits kept), so `E-mail 1 - Value`, `e_mail_1_value` and
//! `EMAIL 1 VALUE` are one entry. The README's "Recognised exports" table is this table.
//! Deliberately absent because they are ambiguous in real exports: `name`, `full name`,
//! `contact`, `id`, `record id`, `status`, `state` (a US state in most files), `opt in time`
//! (a timestamp, not a consent), `sms blacklisted` (another channel).

use super::Field;
use crate::results::{REASON_COLUMN, RESULT_COLUMNS};

/// How a recognised column feeds its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The field's own column: at most one per file.
    Primary,
    /// Fills the field when the primary cell is empty (HubSpot `Work email`, Google
    /// `E-mail 2 - Value`); several are tried in header order.
    Secondary,
    /// An opt-out flag (`Unsubscribed`, `EMAIL_BLACKLISTED`): yes lowers consent to false,
    /// no says nothing (not having unsubscribed is not consent).
    OptOut,
    /// A column whose presence in the header marks a whole unsubscribed or cleaned export
    /// (Mailchimp's `UNSUB_TIME`, `CLEAN_TIME`, ...): every row is sent unsubscribed.
    OptedOutExport,
}

/// Normalised header -> field and role, grouped by what the column says.
pub const ALIASES: &[(&str, Field, Role)] = &[
    // email: Mailchimp/Outlook/Kit "Email Address", Brevo "EMAIL", Google "E-mail 1 - Value",
    // Zoho Campaigns "Contact Email", fr/de/es/it variants
    ("email", Field::Email, Role::Primary),
    ("emailaddress", Field::Email, Role::Primary),
    ("mail", Field::Email, Role::Primary),
    ("email1value", Field::Email, Role::Primary),
    ("email1", Field::Email, Role::Primary),
    ("contactemail", Field::Email, Role::Primary),
    ("primaryemail", Field::Email, Role::Primary),
    ("emailadresse", Field::Email, Role::Primary),
    ("mailadresse", Field::Email, Role::Primary),
    ("adresseemail", Field::Email, Role::Primary),
    ("adressemail", Field::Email, Role::Primary),
    ("adresseelectronique", Field::Email, Role::Primary),
    ("adressecourriel", Field::Email, Role::Primary),
    ("courriel", Field::Email, Role::Primary),
    ("correo", Field::Email, Role::Primary),
    ("correoelectronico", Field::Email, Role::Primary),
    ("direcciondecorreo", Field::Email, Role::Primary),
    ("direcciondecorreoelectronico", Field::Email, Role::Primary),
    ("indirizzoemail", Field::Email, Role::Primary),
    // secondary emails: Google "E-mail 2 - Value", Outlook "E-mail 2 Address", HubSpot
    // "Work email", Zoho "Secondary Email", Apple-style "Email (Work)"
    ("email2value", Field::Email, Role::Secondary),
    ("email3value", Field::Email, Role::Secondary),
    ("email2address", Field::Email, Role::Secondary),
    ("email3address", Field::Email, Role::Secondary),
    ("email2", Field::Email, Role::Secondary),
    ("email3", Field::Email, Role::Secondary),
    ("workemail", Field::Email, Role::Secondary),
    ("emailwork", Field::Email, Role::Secondary),
    ("homeemail", Field::Email, Role::Secondary),
    ("emailhome", Field::Email, Role::Secondary),
    ("otheremail", Field::Email, Role::Secondary),
    ("emailother", Field::Email, Role::Secondary),
    ("personalemail", Field::Email, Role::Secondary),
    ("secondaryemail", Field::Email, Role::Secondary),
    ("alternateemail", Field::Email, Role::Secondary),
    // first name: "First Name", "FNAME", Salesforce "FirstName", Google "Given Name", "PRENOM"
    ("firstname", Field::FirstName, Role::Primary),
    ("fname", Field::FirstName, Role::Primary),
    ("first", Field::FirstName, Role::Primary),
    ("givenname", Field::FirstName, Role::Primary),
    ("forename", Field::FirstName, Role::Primary),
    ("prenom", Field::FirstName, Role::Primary),
    ("vorname", Field::FirstName, Role::Primary),
    ("nombre", Field::FirstName, Role::Primary),
    ("nome", Field::FirstName, Role::Primary),
    // last name: "Last Name", "LNAME", Google "Family Name", "NOM", "Nachname", "Apellido"
    ("lastname", Field::LastName, Role::Primary),
    ("lname", Field::LastName, Role::Primary),
    ("last", Field::LastName, Role::Primary),
    ("surname", Field::LastName, Role::Primary),
    ("familyname", Field::LastName, Role::Primary),
    ("nom", Field::LastName, Role::Primary),
    ("nomdefamille", Field::LastName, Role::Primary),
    ("nachname", Field::LastName, Role::Primary),
    ("familienname", Field::LastName, Role::Primary),
    ("apellido", Field::LastName, Role::Primary),
    ("apellidos", Field::LastName, Role::Primary),
    ("cognome", Field::LastName, Role::Primary),
    // marketing consent, opt-in: Shopify "Accepts Email Marketing", Brevo "OPT_IN",
    // Klaviyo "Email Marketing Consent" (SUBSCRIBED / UNSUBSCRIBED / NEVER_SUBSCRIBED)
    ("emailmarketing", Field::EmailMarketing, Role::Primary),
    ("marketingconsent", Field::EmailMarketing, Role::Primary),
    (
        "emailmarketingconsent",
        Field::EmailMarketing,
        Role::Primary,
    ),
    ("optin", Field::EmailMarketing, Role::Primary),
    ("emailoptin", Field::EmailMarketing, Role::Primary),
    ("marketingoptin", Field::EmailMarketing, Role::Primary),
    ("acceptsmarketing", Field::EmailMarketing, Role::Primary),
    (
        "acceptsemailmarketing",
        Field::EmailMarketing,
        Role::Primary,
    ),
    ("subscribed", Field::EmailMarketing, Role::Primary),
    ("abonne", Field::EmailMarketing, Role::Primary),
    // marketing consent, opt-out: HubSpot "Unsubscribed from all email", Brevo
    // "EMAIL_BLACKLISTED", Sendinblue "Blacklisted", Salesforce/Zoho "Email Opt Out",
    // ActiveCampaign "Unsubscribed", Kit "Unsubscribed", fr/de/es spellings
    (
        "unsubscribedfromallemail",
        Field::EmailMarketing,
        Role::OptOut,
    ),
    ("optedoutofallemail", Field::EmailMarketing, Role::OptOut),
    ("emailblacklisted", Field::EmailMarketing, Role::OptOut),
    ("blacklisted", Field::EmailMarketing, Role::OptOut),
    ("emailblocklisted", Field::EmailMarketing, Role::OptOut),
    ("blocklisted", Field::EmailMarketing, Role::OptOut),
    ("emailoptout", Field::EmailMarketing, Role::OptOut),
    ("hasoptedoutofemail", Field::EmailMarketing, Role::OptOut),
    ("optout", Field::EmailMarketing, Role::OptOut),
    ("optedout", Field::EmailMarketing, Role::OptOut),
    ("unsubscribed", Field::EmailMarketing, Role::OptOut),
    ("unsubscribe", Field::EmailMarketing, Role::OptOut),
    ("emailunsubscribed", Field::EmailMarketing, Role::OptOut),
    ("donotemail", Field::EmailMarketing, Role::OptOut),
    ("donotcontact", Field::EmailMarketing, Role::OptOut),
    ("suppressed", Field::EmailMarketing, Role::OptOut),
    ("desabonne", Field::EmailMarketing, Role::OptOut),
    ("desinscrit", Field::EmailMarketing, Role::OptOut),
    ("desabonnement", Field::EmailMarketing, Role::OptOut),
    ("abgemeldet", Field::EmailMarketing, Role::OptOut),
    ("abgemeldetam", Field::EmailMarketing, Role::OptOut),
    ("dadodebaja", Field::EmailMarketing, Role::OptOut),
    ("desuscrito", Field::EmailMarketing, Role::OptOut),
    ("disiscritto", Field::EmailMarketing, Role::OptOut),
    // Mailchimp's unsubscribed and cleaned audience exports
    ("unsubtime", Field::EmailMarketing, Role::OptedOutExport),
    (
        "unsubcampaigntitle",
        Field::EmailMarketing,
        Role::OptedOutExport,
    ),
    (
        "unsubcampaignid",
        Field::EmailMarketing,
        Role::OptedOutExport,
    ),
    ("unsubreason", Field::EmailMarketing, Role::OptedOutExport),
    (
        "unsubreasonother",
        Field::EmailMarketing,
        Role::OptedOutExport,
    ),
    ("cleantime", Field::EmailMarketing, Role::OptedOutExport),
    (
        "cleancampaigntitle",
        Field::EmailMarketing,
        Role::OptedOutExport,
    ),
    (
        "cleancampaignid",
        Field::EmailMarketing,
        Role::OptedOutExport,
    ),
    // GDPR consent
    ("gdpr", Field::Gdpr, Role::Primary),
    ("gdprconsent", Field::Gdpr, Role::Primary),
    ("rgpd", Field::Gdpr, Role::Primary),
    ("rgpdconsent", Field::Gdpr, Role::Primary),
    ("consentementrgpd", Field::Gdpr, Role::Primary),
    ("dsgvo", Field::Gdpr, Role::Primary),
    ("consent", Field::Gdpr, Role::Primary),
    // numeric tag ids vs tag names: Mailchimp "TAGS", Google "Labels" / "Group Membership",
    // Outlook "Categories"
    ("tagids", Field::TagIds, Role::Primary),
    ("tagid", Field::TagIds, Role::Primary),
    ("tags", Field::Tags, Role::Primary),
    ("tag", Field::Tags, Role::Primary),
    ("tagnames", Field::Tags, Role::Primary),
    ("labels", Field::Tags, Role::Primary),
    ("groupmembership", Field::Tags, Role::Primary),
    ("categories", Field::Tags, Role::Primary),
    ("etiquettes", Field::Tags, Role::Primary),
    ("sequenceids", Field::SequenceIds, Role::Primary),
    ("sequenceid", Field::SequenceIds, Role::Primary),
    ("sequences", Field::Sequences, Role::Primary),
    ("sequencenames", Field::Sequences, Role::Primary),
    ("sequence", Field::Sequences, Role::Primary),
];

/// Lowercase, fold Latin accents, keep letters and digits:
/// "Prénom" == "PRENOM" == "prénom", "E-mail Address" == "emailaddress".
pub fn normalize(s: &str) -> String {
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

/// The field and role of a header, if the table knows it.
pub fn lookup(header: &str) -> Option<(Field, Role)> {
    let n = normalize(header);
    ALIASES
        .iter()
        .find(|(a, _, _)| *a == n)
        .map(|&(_, f, r)| (f, r))
}

/// A field name as `--map` takes it: canonical names and primary aliases, any case.
pub fn field_named(name: &str) -> Option<Field> {
    match lookup(name) {
        Some((f, Role::Primary)) => Some(f),
        _ => None,
    }
}

/// Whether the header is one this tool writes into results and rejects files: a file read back
/// ignores them. The names come from `results`, which writes them.
pub fn is_own_column(header: &str) -> bool {
    let header = header.trim();
    RESULT_COLUMNS.contains(&header) || header == REASON_COLUMN
}
