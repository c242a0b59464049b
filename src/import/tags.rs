//! Resolves a `tags` column of names into ids, so a migration between two accounts keeps tags
//! although their ids differ.
//!
//! Tags are fetched once with `GET /v1/tags` (paged). With `--create-missing-tags`, one extra
//! pass over the file collects the names it uses and `POST /v1/tag` creates the missing ones
//! before the first contact is sent, so no row ever waits on a tag.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use super::plan::{TagIndex, split_tag_names};
use crate::api::client::Client;
use crate::api::paging::{self, call_fatal};
use crate::api::{CreatedId, Success, Tag};
use crate::csv_in::{self, CsvInput, Record, Source};
use crate::exit::Fatal;
use crate::ui::Ui;

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
        let body = bytes::Bytes::from(json!({ "name": name }).to_string());
        let answer = client
            .call(Method::POST, "tag", &[], Some(body))
            .await
            .map_err(call_fatal)?;
        let created: Success<CreatedId> = answer
            .json()
            .map_err(|e| Fatal::usage(format!("creating tag {name:?}: {e}")))?;
        ui.info(&format!("created tag {name:?} (id {})", created.data.id));
        index.insert(key, created.data.id);
    }
    Ok(index)
}

/// Every tag of the account, paging `GET /v1/tags` 100 at a time.
pub async fn fetch_all(client: &Client) -> Result<Vec<Tag>, Fatal> {
    paging::fetch_all(client, "tags", &[]).await
}
