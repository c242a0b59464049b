//! One typed method per endpoint this tool calls, each decoding its answer once.
//!
//! [`Endpoint`] names every path; their URLs are built when the client is (a base URL that
//! cannot take one is an error then, never a silent fallback to another endpoint). Each method
//! sends through the client's one call loop and returns a [`Reply`] whose data exists only
//! when the server proved success (see `api::reply`). Callers: `import::send` (contacts),
//! `import::tags` (tags), `api::paging` (every list, for import and export).

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::{CallError, Client, Purpose, Resend};
use super::paging::Page;
use super::reply::{self, Reply};
use super::{Contact, ContactDetail, CreatedId, CustomField, CustomValueSet, Success};

/// The v1 paths this tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET` (find), `POST` (create), `PUT` (update) one contact.
    Contact,
    /// `GET`: every contact, newest first, paged.
    Contacts,
    /// `POST`: create a tag (inferred from the changelog).
    Tag,
    /// `GET`: every tag, paged.
    Tags,
    /// `GET`: the contacts holding one tag, paged.
    TagsContacts,
    /// `GET`: the tags of one contact (no `meta`).
    ContactsTags,
    /// `GET`: every custom-field definition (no pagination, no `meta`).
    CustomFields,
    /// `PUT`: set one custom-field value of one contact.
    ContactCustomField,
    /// `POST`: create a sequence.
    Sequence,
    /// `GET`: every sequence ("Retrieve All Sequences": contract unseen, read tolerantly).
    Sequences,
}

impl Endpoint {
    pub const ALL: [Endpoint; 10] = [
        Endpoint::Contact,
        Endpoint::Contacts,
        Endpoint::Tag,
        Endpoint::Tags,
        Endpoint::TagsContacts,
        Endpoint::ContactsTags,
        Endpoint::CustomFields,
        Endpoint::ContactCustomField,
        Endpoint::Sequence,
        Endpoint::Sequences,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Contact => "contact",
            Endpoint::Contacts => "contacts",
            Endpoint::Tag => "tag",
            Endpoint::Tags => "tags",
            Endpoint::TagsContacts => "tags-contacts",
            Endpoint::ContactsTags => "contacts-tags",
            Endpoint::CustomFields => "custom-fields",
            Endpoint::ContactCustomField => "contact-custom-field",
            Endpoint::Sequence => "sequence",
            Endpoint::Sequences => "sequences",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Lists documented with a `meta` object on every page: a page without one is not a page.
    pub fn always_has_meta(self) -> bool {
        matches!(self, Endpoint::Contacts | Endpoint::Tags)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/v1/{}", self.path())
    }
}

/// `data` of a successful `PUT /v1/contact` (undocumented): an object, with the id if given.
#[derive(Debug, Clone, Deserialize)]
pub struct Updated {
    #[serde(default, alias = "contact_id")]
    pub id: Option<u64>,
    #[serde(default)]
    pub email_marketing: Option<bool>,
}

impl Client {
    /// `POST /v1/contact` with a JSON body. Data only with the server's id (`id` or
    /// `contact_id`). A lost answer is re-sent: a 409 then tells the caller to look it up.
    pub async fn create_contact(&self, body: Bytes) -> Result<Reply<CreatedId>, CallError> {
        self.typed(
            Method::POST,
            Endpoint::Contact,
            &[],
            Some(body),
            Resend::Freely,
        )
        .await
    }

    /// `GET /v1/contact?email=`: a 404 error envelope means "no such contact"; anything that
    /// is neither a contact nor an error envelope is unreadable, never "found".
    pub async fn find_contact(&self, email: &str) -> Result<Reply<Contact>, CallError> {
        self.typed(
            Method::GET,
            Endpoint::Contact,
            &[("email", email)],
            None,
            Resend::Freely,
        )
        .await
    }

    /// `PUT /v1/contact` with a JSON body holding `contact_id`; idempotent, so retried freely.
    pub async fn update_contact(&self, body: Bytes) -> Result<Reply<Updated>, CallError> {
        self.typed(
            Method::PUT,
            Endpoint::Contact,
            &[],
            Some(body),
            Resend::Freely,
        )
        .await
    }

    /// `POST /v1/tag {"name"}`. Never re-sent after an attempt that may have reached the
    /// server: tag names need not be unique, so the caller looks the name up first.
    pub async fn create_tag(&self, name: &str) -> Result<Reply<CreatedId>, CallError> {
        let body = Bytes::from(serde_json::json!({ "name": name }).to_string());
        self.typed(
            Method::POST,
            Endpoint::Tag,
            &[],
            Some(body),
            Resend::LookUpFirst,
        )
        .await
    }

    /// `GET /v1/custom-fields`: every definition, in one answer (§9.8: no pagination).
    pub async fn custom_fields(&self) -> Result<Reply<Vec<CustomField>>, CallError> {
        self.typed(
            Method::GET,
            Endpoint::CustomFields,
            &[],
            None,
            Resend::Freely,
        )
        .await
    }

    /// `PUT /v1/contact-custom-field {"contact_id","custom_field_id","value"}`: sets (creates
    /// or overwrites) one value, so a re-send after a lost answer stores the same value again
    /// and is retried freely. 404 `NOT_FOUND`: the contact or the field does not exist.
    pub async fn set_custom_field(
        &self,
        contact_id: u64,
        custom_field_id: u64,
        value: &str,
    ) -> Result<Reply<CustomValueSet>, CallError> {
        let body = serde_json::json!({
            "contact_id": contact_id,
            "custom_field_id": custom_field_id,
            "value": value,
        });
        self.typed(
            Method::PUT,
            Endpoint::ContactCustomField,
            &[],
            Some(Bytes::from(body.to_string())),
            Resend::Freely,
        )
        .await
    }

    /// `GET /v1/contact?contact_id=`: one contact with whatever the retrieve shows, custom
    /// values included when the server sends them (an inference: see [`ContactDetail`]).
    pub async fn contact_detail(&self, contact_id: u64) -> Result<Reply<ContactDetail>, CallError> {
        let id = contact_id.to_string();
        self.typed(
            Method::GET,
            Endpoint::Contact,
            &[("contact_id", &id)],
            None,
            Resend::Freely,
        )
        .await
    }

    /// `POST /v1/sequence {"name"}` (§9.7). Like a tag, never re-sent after an attempt that may
    /// have reached the server: the caller looks the name up first.
    pub async fn create_sequence(&self, name: &str) -> Result<Reply<CreatedId>, CallError> {
        let body = Bytes::from(serde_json::json!({ "name": name }).to_string());
        self.typed(
            Method::POST,
            Endpoint::Sequence,
            &[],
            Some(body),
            Resend::LookUpFirst,
        )
        .await
    }

    /// `GET endpoint?query&page=N&per_page=M`, decoded as a page of `T`. A body that is not a
    /// list envelope (or lacks the `meta` its endpoint documents, or answers another page)
    /// is unreadable, never an empty page.
    pub async fn list_page<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        query: &[(&str, &str)],
        number: u64,
        per_page: u64,
    ) -> Result<Reply<Page<T>>, CallError> {
        let page_text = number.to_string();
        let per_page_text = per_page.to_string();
        let mut full: Vec<(&str, &str)> = query.to_vec();
        full.push(("page", &page_text));
        full.push(("per_page", &per_page_text));
        let reply: Reply<Success<Vec<T>>> = Purpose::Page(number)
            .scope(self.typed_envelope(Method::GET, endpoint, &full))
            .await?;
        Ok(reply.map(|s| {
            match s.meta {
                None if endpoint.always_has_meta() => {
                    return Err("a list without its \"meta\" object".into());
                }
                Some(m) if m.current_page != number => {
                    return Err(format!(
                        "page {} where page {number} was asked",
                        m.current_page
                    ));
                }
                _ => {}
            }
            Ok(Page {
                number,
                items: s.data,
                meta: s.meta,
            })
        }))
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        method: Method,
        endpoint: Endpoint,
        query: &[(&str, &str)],
        body: Option<Bytes>,
        resend: Resend,
    ) -> Result<Reply<T>, CallError> {
        let answer = self.call(method, endpoint, query, body, resend).await?;
        let body = reply::decode(answer.status, &answer.body, self.redactor());
        Ok(Reply::of(&answer, body))
    }

    /// Like [`Client::typed`] for a whole envelope (lists need `meta` beside `data`).
    async fn typed_envelope<T: DeserializeOwned>(
        &self,
        method: Method,
        endpoint: Endpoint,
        query: &[(&str, &str)],
    ) -> Result<Reply<Success<T>>, CallError> {
        let answer = self
            .call(method, endpoint, query, None, Resend::Freely)
            .await?;
        let body = reply::decode_envelope(answer.status, &answer.body, self.redactor());
        Ok(Reply::of(&answer, body))
    }
}
