//! Resolves a `tags` column of names into ids, so a migration between two accounts keeps tags
//! although their ids differ.
//!
//! Tags are fetched once with `GET /v1/tags` (paged). With `--create-missing-tags`, one extra
//! pass over the file collects the names it uses and `POST /v1/tag` creates the missing ones
//! before the first contact is sent, so no row ever waits on a tag. Tag creation is
//! idempotent: the API need not refuse a second tag of the same name, so a create whose answer
//! was lost (or proves nothing, or is a 409) is followed by a lookup of the name, and only a
//! name still missing is created again.

use std::collections::BTreeMap;

use super::plan::{TagIndex, split_tag_names};
use crate::api::Tag;
use crate::api::client::{CallError, Client};
use crate::api::endpoints::Endpoint;
use crate::api::paging::{self, call_fatal};
use crate::csv_in::{self, CsvInput, Record, Source};
use crate::exit::Fatal;
use crate::text::sanitize;
use crate::ui::Ui;

/// Creates of one name before giving up (each after a lookup that did not find it).
const CREATE_ATTEMPTS: u32 = 3;

pub async fn prepare(
    client: &Client,
    source: &Source,
    options: &csv_in::Options,
    column: usize,
    create_missing: bool,
    ui: &Ui,
) -> Result<TagIndex, Fatal> {
    let mut index: TagIndex = fetch_all(client)
        .await?
        .into_iter()
        .map(|t| (t.name.to_lowercase(), t.id))
        .collect();
    if !create_missing {
        return Ok(index);
    }
    if source.is_stream() {
        return Err(Fatal::usage(
            "--create-missing-tags needs the input as a file (it reads the tag names first)",
        ));
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
        let id = create_tag(client, &name, ui).await?;
        index.insert(key, id);
    }
    Ok(index)
}

/// Creates one tag and returns its id, looking the name up after any answer that leaves
/// "was it created?" open, so that a lost answer never makes a second tag.
async fn create_tag(client: &Client, name: &str, ui: &Ui) -> Result<u64, Fatal> {
    let shown = sanitize(name, 80);
    let mut last = String::new();
    for _ in 0..CREATE_ATTEMPTS {
        let why = match client.create_tag(name).await {
            Ok(reply) => {
                if let Some(created) = reply.data() {
                    ui.info(&format!("created tag \"{shown}\" (id {})", created.id));
                    return Ok(created.id);
                }
                if !reply.is_success() && reply.status != 409 {
                    return Err(Fatal::usage(format!(
                        "creating tag \"{shown}\": {}",
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
        if let Some(tag) = find_tag(client, name).await? {
            ui.info(&format!(
                "tag \"{shown}\" exists (id {}) after an unclear answer to its creation ({why})",
                tag.id
            ));
            return Ok(tag.id);
        }
        last = why;
    }
    Err(Fatal::usage(format!(
        "creating tag \"{shown}\": no usable answer after {CREATE_ATTEMPTS} tries and lookups \
         ({last})"
    )))
}

/// The tag named `name` (case-insensitively), if the account has one.
pub async fn find_tag(client: &Client, name: &str) -> Result<Option<Tag>, Fatal> {
    let wanted = name.to_lowercase();
    Ok(fetch_all(client)
        .await?
        .into_iter()
        .find(|t| t.name.to_lowercase() == wanted))
}

/// Every tag of the account, paging `GET /v1/tags` 100 at a time.
pub async fn fetch_all(client: &Client) -> Result<Vec<Tag>, Fatal> {
    paging::fetch_all(client, Endpoint::Tags, &[]).await
}
