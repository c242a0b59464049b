//! `--with-tags ids|names`: a `tag_ids` or `tags` column at the lowest request cost.
//!
//! List items carry no tags (§9.1). Two ways to learn them: per tag (`GET /v1/tags` once, then
//! `GET /v1/tags-contacts?tag_id=N` page by page for each tag, several tags at once through the
//! shared pacer: about tags + memberships/100 requests, [`fetch`]) or per contact (`GET
//! /v1/contacts-tags?contact_id=N`: one request per contact, [`per_contact`]). A full export
//! reads per tag before the contacts, with a progress bar over the tags. An incremental run
//! walks first and then takes the cheaper ([`for_delta`]): per contact when the new contacts are
//! no more than what the last full read cost (recorded in the state file) or, without that
//! record, than the tag list plus one request per tag, a bound no full read goes below. The map
//! contact id -> tag ids is held in memory (memberships, not contacts, bound it). Names are
//! what import's `tags` column resolves (`--create-missing-tags`), which keeps tags across
//! accounts whose ids differ. A contact tagged after its tag was read shows without that tag.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use crate::api::client::{Client, ClientStats};
use crate::api::endpoints::Endpoint;
use crate::api::{Contact, Tag, paging};
use crate::exit::Fatal;
use crate::ui::{Reporter, Status, Ui};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TagMode {
    /// `tag_ids` column: ids joined with `,` (as import's tag_ids and the API expect).
    Ids,
    /// `tags` column: names as a quoted list, `"VIP","Paris, France"` (import resolves them by
    /// name and reads any character back).
    Names,
}

/// One item of `GET /v1/tags-contacts`: only the id matters here.
#[derive(Debug, Deserialize)]
struct Member {
    #[serde(alias = "contact_id")]
    id: u64,
}

impl TagMode {
    /// The column's header: import's field name for it.
    pub fn header(self) -> &'static str {
        match self {
            TagMode::Ids => "tag_ids",
            TagMode::Names => "tags",
        }
    }
}

/// How the memberships were read, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    PerTag,
    PerContact,
}

pub struct TagColumn {
    mode: TagMode,
    names: HashMap<u64, String>,
    by_contact: HashMap<u64, Vec<u64>>,
    pub tags: u64,
    pub memberships: u64,
    pub requests: u64,
    pub strategy: Strategy,
}

impl TagColumn {
    pub fn header(&self) -> &'static str {
        self.mode.header()
    }

    /// The tag ids of one contact, ascending (empty when it has none).
    pub fn ids_of(&self, contact: u64) -> &[u64] {
        self.by_contact.get(&contact).map_or(&[], Vec::as_slice)
    }

    /// Tag id -> name, for every tag read.
    pub fn names(&self) -> &HashMap<u64, String> {
        &self.names
    }

    pub fn cell(&self, contact: u64) -> String {
        let Some(ids) = self.by_contact.get(&contact) else {
            return String::new();
        };
        match self.mode {
            TagMode::Ids => ids.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
            // The one encoding import's tag reader inverts exactly, whatever the names hold.
            TagMode::Names => crate::mapping::values::encode_tag_names(
                ids.iter()
                    .filter_map(|id| self.names.get(id).map(String::as_str)),
            ),
        }
    }
}

/// Reads every tag and its members; `window` tags are walked at once.
pub async fn fetch(
    client: &Arc<Client>,
    mode: TagMode,
    window: usize,
    ui: &Ui,
) -> Result<TagColumn, Fatal> {
    let before = ClientStats::get(&client.stats().requests);
    let tags: Vec<Tag> = paging::fetch_all(client, Endpoint::Tags, &[]).await?;
    members_of_all(client, mode, tags, window, ui, before).await
}

/// The per-tag read once the tags are known; `before` is the request count it started at.
pub async fn members_of_all(
    client: &Arc<Client>,
    mode: TagMode,
    tags: Vec<Tag>,
    window: usize,
    ui: &Ui,
    before: u64,
) -> Result<TagColumn, Fatal> {
    ui.info(&format!(
        "reading the members of {} tag(s) before the contacts (GET /v1/tags-contacts per tag)",
        tags.len()
    ));
    let done = Arc::new(AtomicU64::new(0));
    let reporter = Reporter::start(ui, "tags", "tags", Some(tags.len() as u64), {
        let done = Arc::clone(&done);
        let client = Arc::clone(client);
        move || Status {
            done: done.load(Ordering::Relaxed),
            detail: format!(
                "{} requests",
                ClientStats::get(&client.stats().requests) - before
            ),
            paused: client.pacer().pause_remaining(),
        }
    });
    let members: Vec<(u64, Vec<u64>)> = futures::stream::iter(tags.iter().map(|t| t.id))
        .map(|tag| {
            let done = Arc::clone(&done);
            async move {
                let m = members_of(client, tag).await?;
                done.fetch_add(1, Ordering::Relaxed);
                Ok::<_, Fatal>((tag, m))
            }
        })
        .buffer_unordered(window.max(1))
        .try_collect()
        .await?;
    reporter.finish();
    let mut by_contact: HashMap<u64, Vec<u64>> = HashMap::new();
    for (tag, contacts) in members {
        for contact in contacts {
            by_contact.entry(contact).or_default().push(tag);
        }
    }
    Ok(column(
        mode,
        tags,
        by_contact,
        Strategy::PerTag,
        client,
        before,
    ))
}

/// The tag column of an incremental run's new contacts, read the cheaper way (module notes).
/// `recorded` is what the last full read cost, from the state file.
pub async fn for_delta(
    client: &Arc<Client>,
    mode: TagMode,
    contacts: &[Contact],
    recorded: Option<u64>,
    window: usize,
    ui: &Ui,
) -> Result<TagColumn, Fatal> {
    let before = ClientStats::get(&client.stats().requests);
    let new = contacts.len() as u64;
    if new == 0 || recorded.is_some_and(|cost| new <= cost) {
        return per_contact(client, mode, contacts, window, ui, before).await;
    }
    let tags: Vec<Tag> = paging::fetch_all(client, Endpoint::Tags, &[]).await?;
    let floor = ClientStats::get(&client.stats().requests) - before + tags.len() as u64;
    if new <= floor {
        return per_contact(client, mode, contacts, window, ui, before).await;
    }
    members_of_all(client, mode, tags, window, ui, before).await
}

/// `GET /v1/contacts-tags` for each contact, `window` at once.
async fn per_contact(
    client: &Arc<Client>,
    mode: TagMode,
    contacts: &[Contact],
    window: usize,
    ui: &Ui,
    before: u64,
) -> Result<TagColumn, Fatal> {
    if !contacts.is_empty() {
        ui.info(&format!(
            "reading the tags of {} new contact(s), one request each (cheaper than reading \
             every tag's members)",
            contacts.len()
        ));
    }
    let found: Vec<(u64, Vec<Tag>)> = futures::stream::iter(contacts.iter().map(|c| c.id))
        .map(|id| async move { tags_of(client, id).await.map(|t| (id, t)) })
        .buffer_unordered(window.max(1))
        .try_collect()
        .await?;
    let mut names: HashMap<u64, Tag> = HashMap::new();
    let mut by_contact = HashMap::new();
    for (id, tags) in found {
        by_contact.insert(id, tags.iter().map(|t| t.id).collect());
        names.extend(tags.into_iter().map(|t| (t.id, t)));
    }
    let tags: Vec<Tag> = names.into_values().collect();
    Ok(column(
        mode,
        tags,
        by_contact,
        Strategy::PerContact,
        client,
        before,
    ))
}

/// The tags of one contact (a list without `meta`, §9.6; the page parameters are ignored).
pub async fn tags_of(client: &Client, contact: u64) -> Result<Vec<Tag>, Fatal> {
    let id = contact.to_string();
    let query = [("contact_id", id.as_str())];
    let page = paging::get_page::<Tag>(client, Endpoint::ContactsTags, &query, 1).await?;
    Ok(page.items)
}

fn column(
    mode: TagMode,
    tags: Vec<Tag>,
    mut by_contact: HashMap<u64, Vec<u64>>,
    strategy: Strategy,
    client: &Client,
    before: u64,
) -> TagColumn {
    let mut memberships = 0u64;
    for ids in by_contact.values_mut() {
        // Offset paging may repeat a member when tags change during the walk.
        ids.sort_unstable();
        ids.dedup();
        memberships += ids.len() as u64;
    }
    TagColumn {
        mode,
        tags: tags.len() as u64,
        names: tags.into_iter().map(|t| (t.id, t.name)).collect(),
        by_contact,
        memberships,
        requests: ClientStats::get(&client.stats().requests) - before,
        strategy,
    }
}

/// The contact ids holding `tag`, page after page.
async fn members_of(client: &Client, tag: u64) -> Result<Vec<u64>, Fatal> {
    let tag_text = tag.to_string();
    let members: Vec<Member> = paging::fetch_all(
        client,
        Endpoint::TagsContacts,
        &[("tag_id", tag_text.as_str())],
    )
    .await?;
    Ok(members.into_iter().map(|m| m.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(mode: TagMode) -> TagColumn {
        TagColumn {
            mode,
            names: [(1, "VIP".to_string()), (2, "Newsletter".to_string())].into(),
            by_contact: [(10, vec![1, 2]), (11, vec![2])].into(),
            tags: 2,
            memberships: 3,
            requests: 3,
            strategy: Strategy::PerTag,
        }
    }

    #[test]
    fn cells_list_ids_or_names() {
        let ids = column(TagMode::Ids);
        assert_eq!(ids.header(), "tag_ids");
        assert_eq!(ids.cell(10), "1,2");
        assert_eq!(ids.cell(99), "");
        let names = column(TagMode::Names);
        assert_eq!(names.header(), "tags");
        assert_eq!(names.cell(10), "\"VIP\",\"Newsletter\"");
        assert_eq!(names.cell(11), "\"Newsletter\"");
    }
}
