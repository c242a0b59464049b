//! `--with-tags ids|names`: a `tag_ids` or `tags` column without one request per contact.
//!
//! List items carry no tags (§9.1), and `GET /v1/contacts-tags` per contact would cost one
//! request per contact. Instead the memberships are read per tag before the contacts: `GET
//! /v1/tags` once, then `GET /v1/tags-contacts?tag_id=N` page by page for each tag (several tags
//! at once through the shared pacer), so the cost is about tags + memberships/100 requests. The
//! map contact id -> tag ids is held in memory (memberships, not contacts, bound it). Names are
//! what import's `tags` column resolves (`--create-missing-tags`), which keeps tags across
//! accounts whose ids differ. A contact tagged after its tag was read shows without that tag.

use std::collections::HashMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use crate::api::Tag;
use crate::api::client::Client;
use crate::api::endpoints::Endpoint;
use crate::api::paging;
use crate::exit::Fatal;
use crate::ui::Ui;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TagMode {
    /// `tag_ids` column: ids joined with `,` (as import's tag_ids and the API expect).
    Ids,
    /// `tags` column: names joined with `|` (import resolves them by name).
    Names,
}

/// Separator of names in the `tags` cell; import splits on `,`, `|` and `;`.
const NAME_SEPARATOR: &str = "|";

/// One item of `GET /v1/tags-contacts`: only the id matters here.
#[derive(Debug, Deserialize)]
struct Member {
    #[serde(alias = "contact_id")]
    id: u64,
}

pub struct TagColumn {
    mode: TagMode,
    names: HashMap<u64, String>,
    by_contact: HashMap<u64, Vec<u64>>,
    pub tags: u64,
    pub memberships: u64,
    pub requests: u64,
}

impl TagColumn {
    pub fn header(&self) -> &'static str {
        match self.mode {
            TagMode::Ids => "tag_ids",
            TagMode::Names => "tags",
        }
    }

    pub fn cell(&self, contact: u64) -> String {
        let Some(ids) = self.by_contact.get(&contact) else {
            return String::new();
        };
        match self.mode {
            TagMode::Ids => ids.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
            TagMode::Names => ids
                .iter()
                .filter_map(|id| self.names.get(id).map(String::as_str))
                .collect::<Vec<_>>()
                .join(NAME_SEPARATOR),
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
    use crate::api::client::ClientStats;
    let before = ClientStats::get(&client.stats().requests);
    let tags: Vec<Tag> = paging::fetch_all(client, Endpoint::Tags, &[]).await?;
    if mode == TagMode::Names {
        let ambiguous: Vec<&str> = tags
            .iter()
            .filter(|t| t.name.contains([',', '|', ';']))
            .map(|t| t.name.as_str())
            .collect();
        if !ambiguous.is_empty() {
            ui.warn(&format!(
                "warning: {} tag name(s) contain , | or ; and will not import back as one tag: {}",
                ambiguous.len(),
                crate::csv_in::sanitize_for_message(&ambiguous.join(", "), 200)
            ));
        }
    }
    let members: Vec<(u64, Vec<u64>)> = futures::stream::iter(tags.iter().map(|t| t.id))
        .map(|tag| async move { members_of(client, tag).await.map(|m| (tag, m)) })
        .buffer_unordered(window.max(1))
        .try_collect()
        .await?;
    let mut by_contact: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut memberships = 0u64;
    for (tag, contacts) in members {
        for contact in contacts {
            by_contact.entry(contact).or_default().push(tag);
        }
    }
    for ids in by_contact.values_mut() {
        // Offset paging may repeat a member when tags change during the walk.
        ids.sort_unstable();
        ids.dedup();
        memberships += ids.len() as u64;
    }
    Ok(TagColumn {
        mode,
        tags: tags.len() as u64,
        names: tags.into_iter().map(|t| (t.id, t.name)).collect(),
        by_contact,
        memberships,
        requests: ClientStats::get(&client.stats().requests) - before,
    })
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
        assert_eq!(names.cell(10), "VIP|Newsletter");
        assert_eq!(names.cell(11), "Newsletter");
    }
}
