//! Resolves a `tags` (or `sequences`) column of names into ids, so a migration between two
//! accounts keeps tags and sequences although their ids differ.
//!
//! Tags are fetched once with `GET /v1/tags` (paged), sequences with `GET /v1/sequences`
//! (whose contract is unseen: read as pages when the answer has `meta`, else as the whole
//! list). With `--create-missing-tags` (`--create-missing-sequences`), one extra pass over the
//! file collects the names it uses and `POST /v1/tag` (`POST /v1/sequence`) creates the missing
//! ones before the first contact is sent, so no row ever waits on one. Creation is idempotent:
//! the API need not refuse a second tag or sequence of the same name, so a create whose answer
//! was lost (or proves nothing, or is a 409) is followed by a lookup of the name, and only a
//! name still missing is created again.

use std::collections::BTreeMap;

use super::plan::{TagIndex, split_tag_names};
use crate::api::client::{CallError, Client};
use crate::api::endpoints::Endpoint;
use crate::api::paging::{self, call_fatal};
use crate::api::reply::Reply;
use crate::api::{CreatedId, Sequence, Tag};
use crate::csv_in::{self, CsvInput, Record, Source};
use crate::exit::Fatal;
use crate::text::sanitize;
use crate::ui::Ui;

/// Creates of one name before giving up (each after a lookup that did not find it).
const CREATE_ATTEMPTS: u32 = 3;

/// What a column of names names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Tag,
    Sequence,
}

impl Named {
    pub fn noun(self) -> &'static str {
        match self {
            Named::Tag => "tag",
            Named::Sequence => "sequence",
        }
    }

    pub fn flag(self) -> &'static str {
        match self {
            Named::Tag => "--create-missing-tags",
            Named::Sequence => "--create-missing-sequences",
        }
    }

    /// Every (name, id) of the account.
    async fn fetch_all(self, client: &Client) -> Result<Vec<(String, u64)>, Fatal> {
        Ok(match self {
            Named::Tag => fetch_all(client)
                .await?
                .into_iter()
                .map(|t| (t.name, t.id))
                .collect(),
            Named::Sequence => fetch_sequences(client)
                .await?
                .into_iter()
                .map(|s| (s.name, s.id))
                .collect(),
        })
    }

    async fn create(self, client: &Client, name: &str) -> Result<Reply<CreatedId>, CallError> {
        match self {
            Named::Tag => client.create_tag(name).await,
            Named::Sequence => client.create_sequence(name).await,
        }
    }
}

/// Names of the account (lower-cased) to ids, after creating the file's missing ones when
/// `create_missing`.
pub async fn prepare_names(
    what: Named,
    client: &Client,
    source: &Source,
    options: &csv_in::Options,
    column: usize,
    create_missing: bool,
    ui: &Ui,
) -> Result<TagIndex, Fatal> {
    let mut index: TagIndex = what
        .fetch_all(client)
        .await?
        .into_iter()
        .map(|(name, id)| (name.to_lowercase(), id))
        .collect();
    if !create_missing {
        return Ok(index);
    }
    if source.is_stream() {
        return Err(Fatal::usage(format!(
            "{} needs the input as a file (it reads the {} names first)",
            what.flag(),
            what.noun()
        )));
    }
    let mut missing = BTreeMap::new();
    let mut input = CsvInput::open(source, options).map_err(|e| Fatal::usage(e.to_string()))?;
    let mut record = Record::default();
    while input
        .read_record(&mut record)
        .map_err(|e| Fatal::usage(e.to_string()))?
    {
        if let Some(cell) = record.fields.get(column) {
            for name in split_tag_names(cell) {
                let key = name.to_lowercase();
                if !index.contains_key(&key) {
                    missing.entry(key).or_insert_with(|| name.to_string());
                }
            }
        }
    }
    for (key, name) in missing {
        let id = create(what, client, &name, ui).await?;
        index.insert(key, id);
    }
    Ok(index)
}

/// Creates one tag or sequence and returns its id, looking the name up after any answer that
/// leaves "was it created?" open, so that a lost answer never makes a second one.
async fn create(what: Named, client: &Client, name: &str, ui: &Ui) -> Result<u64, Fatal> {
    let shown = sanitize(name, 80);
    let noun = what.noun();
    let mut last = String::new();
    for _ in 0..CREATE_ATTEMPTS {
        let why = match what.create(client, name).await {
            Ok(reply) => {
                if let Some(created) = reply.data() {
                    ui.info(&format!("created {noun} \"{shown}\" (id {})", created.id));
                    return Ok(created.id);
                }
                if !reply.is_success() && reply.status != 409 {
                    return Err(Fatal::usage(format!(
                        "creating {noun} \"{shown}\": {}",
                        reply.describe()
                    )));
                }
                // A 409 (it exists) or a 2xx without the tag's id (it may exist).
                reply.describe()
            }
            Err(CallError::Exhausted {
                last, maybe_sent, ..
            }) if maybe_sent => last,
            Err(e) => return Err(call_fatal(e)),
        };
        let wanted = name.to_lowercase();
        let found = what.fetch_all(client).await?;
        if let Some((_, id)) = found.iter().find(|(n, _)| n.to_lowercase() == wanted) {
            ui.info(&format!(
                "{noun} \"{shown}\" exists (id {id}) after an unclear answer to its creation \
                 ({why})"
            ));
            return Ok(*id);
        }
        last = why;
    }
    Err(Fatal::usage(format!(
        "creating {noun} \"{shown}\": no usable answer after {CREATE_ATTEMPTS} tries and \
         lookups ({last})"
    )))
}

/// Every tag of the account, paging `GET /v1/tags` 100 at a time.
pub async fn fetch_all(client: &Client) -> Result<Vec<Tag>, Fatal> {
    paging::fetch_all(client, Endpoint::Tags, &[]).await
}

/// Every sequence: pages while the answer has `meta` (as the other lists), else the first
/// answer is the whole list (as the sandbox's, and the custom-field list, answer). A server
/// that ignores `page` without `meta` is so never walked forever.
pub async fn fetch_sequences(client: &Client) -> Result<Vec<Sequence>, Fatal> {
    let mut all = Vec::new();
    let mut number = 1u64;
    loop {
        let page = paging::get_page::<Sequence>(client, Endpoint::Sequences, &[], number).await?;
        let last = page.meta.map_or(number, |m| m.last_page);
        let empty = page.items.is_empty();
        all.extend(page.items);
        if page.meta.is_none() || empty || number >= last {
            return Ok(all);
        }
        number += 1;
    }
}
