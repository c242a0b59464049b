//! The account side of verify: how big it is, which way to read it, and one row's contact.
//!
//! [`open`] spends one `GET /v1/contacts?per_page=1` to learn the account's size (it also
//! checks URL and key, as export's first page does), reads the tag list when the file has a
//! tag column, lets [`super::strategy::choose`] decide, and for the stream reads everything
//! up front: every tag's members with export's per-tag read ([`tags::members_of_all`]: once,
//! not per contact), then every contact with export's [`Walker`] into the compact
//! [`AccountIndex`]. [`Reading::check`] then answers one row: from the index, or with one
//! `GET /v1/contact?email=` (whose answer carries the contact's tag ids; a server that leaves
//! them out costs one `GET /v1/contacts-tags` more for a row that asserts tags). When the walk
//! could not prove itself complete, a row not in the index is looked up before it is called
//! missing. With `--custom-fields`, a row whose contact is found costs one retrieve more
//! ([`custom::check`]).

use std::collections::HashMap;
use std::sync::Arc;

use super::account::AccountIndex;
use super::compare::{Expected, Held, differences};
use super::custom;
use super::outcome::{Checked, Verdict};
use super::plan::Plan;
use super::strategy::{self, Choice, Facts, Strategy};
use crate::api::client::{Client, ClientStats, Purpose};
use crate::api::endpoints::Endpoint;
use crate::api::paging::{self, call_fatal};
use crate::api::reply::Body;
use crate::api::{Contact, Tag};
use crate::exit::Fatal;
use crate::export::filter::Filter;
use crate::export::tags::{self, TagColumn, TagMode};
use crate::export::walk::{Walk, Walker};
use crate::export::writer::Progress;
use crate::ui::{Reporter, Status, Ui};

/// The account as read for this run.
pub struct Reading {
    pub choice: Choice,
    /// `meta.total` of the probe.
    pub contacts: u64,
    /// Tag id -> name (empty when the file has no tag column).
    pub names: HashMap<u64, String>,
    /// The stream: the index, the memberships and what the walk saw.
    pub stream: Option<Streamed>,
}

pub struct Streamed {
    pub index: AccountIndex,
    pub tags: Option<TagColumn>,
    pub walk: Walk,
}

pub async fn open(
    plan: &Plan,
    client: &Arc<Client>,
    window: usize,
    ui: &Ui,
) -> Result<Reading, Fatal> {
    let query = Filter::new(None, None).query();
    let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let probe = paging::get_page_sized::<Contact>(client, Endpoint::Contacts, &pairs, 1, 1).await?;
    let contacts = probe.meta.map_or(0, |m| m.total);
    let tag_list: Option<Vec<Tag>> = match plan.tags.any() {
        true => Some(paging::fetch_all(client, Endpoint::Tags, &[]).await?),
        false => None,
    };
    let choice = strategy::choose(
        plan.read,
        Facts {
            rows: plan.rows_estimate,
            contacts,
            tags: tag_list.as_ref().map(|t| t.len() as u64),
            extra: plan.extra.is_some(),
            window,
            per_row: u64::from(!plan.mapping.custom().is_empty()),
        },
    );
    ui.info(&format!(
        "read: {} ({})",
        serde_json::to_value(choice.strategy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        choice.reason
    ));
    let names = tag_list
        .iter()
        .flatten()
        .map(|t| (t.id, t.name.clone()))
        .collect();
    let stream = match choice.strategy {
        Strategy::Lookup => None,
        Strategy::Stream => {
            let mode = if plan.tags.names {
                TagMode::Names
            } else {
                TagMode::Ids
            };
            let tags = match tag_list {
                Some(list) => {
                    let before = ClientStats::get(&client.stats().requests);
                    Some(tags::members_of_all(client, mode, list, window, ui, before).await?)
                }
                None => None,
            };
            let (index, walk) = walk(client, query, contacts, window, ui).await?;
            Some(Streamed { index, tags, walk })
        }
    };
    Ok(Reading {
        choice,
        contacts,
        names,
        stream,
    })
}

/// Every contact into the index, with a progress display over the account's total.
async fn walk(
    client: &Arc<Client>,
    query: Vec<(&'static str, String)>,
    total: u64,
    window: usize,
    ui: &Ui,
) -> Result<(AccountIndex, Walk), Fatal> {
    let progress = Arc::new(Progress::default());
    let mut walker = Walker::new(
        Arc::clone(client),
        query,
        window,
        None,
        Arc::clone(&progress),
    );
    walker.expect_total(total);
    let reporter = Reporter::start(ui, "account", "contacts", Some(total), {
        let progress = Arc::clone(&progress);
        let client = Arc::clone(client);
        move || Status {
            done: Progress::get(&progress.rows),
            detail: format!("{} pages", Progress::get(&progress.pages)),
            paused: client.pacer().pause_remaining(),
        }
    });
    let mut index = AccountIndex::new().map_err(spill_fatal)?;
    let read = async {
        while let Some(batch) = walker.next_batch().await? {
            for contact in &batch {
                index.add(contact).map_err(spill_fatal)?;
            }
            let added = batch.len() as u64;
            progress
                .rows
                .fetch_add(added, std::sync::atomic::Ordering::Relaxed);
        }
        index.seal().map_err(spill_fatal)
    };
    let done = read.await;
    reporter.finish();
    done?;
    Ok((index, walker.finish()))
}

fn spill_fatal(e: std::io::Error) -> Fatal {
    Fatal::after_send(format!(
        "the account's temporary copy (in $TMPDIR, or TMPDIR's folder): {e}"
    ))
}

impl Reading {
    /// The verdict of one row that import would send.
    pub async fn check(
        &self,
        client: &Client,
        row: u64,
        want: &Expected,
        strict: bool,
    ) -> Result<Checked, Fatal> {
        if let Some(stream) = &self.stream {
            match stream.index.find(&want.email).map_err(spill_fatal)? {
                Some((ordinal, contact)) => {
                    let ids = stream.tags.as_ref().map(|t| t.ids_of(contact.id));
                    let mut checked = self.judge(want, &contact, ids, strict);
                    checked.ordinal = Some(ordinal);
                    let custom = custom::check(client, want, &mut checked);
                    Purpose::Row(row).scope(custom).await?;
                    return Ok(checked);
                }
                // Proven absent: the walk read every contact present throughout it.
                None if stream.walk.complete => {
                    return Ok(Checked::new(Verdict::Missing, ""));
                }
                None => {}
            }
        }
        Purpose::Row(row)
            .scope(self.look_up(client, want, strict))
            .await
    }

    /// `GET /v1/contact?email=`; the contact's tags from its answer (or one more request).
    async fn look_up(
        &self,
        client: &Client,
        want: &Expected,
        strict: bool,
    ) -> Result<Checked, Fatal> {
        let reply = client.find_contact(&want.email).await.map_err(call_fatal)?;
        let status = reply.status;
        let described = reply.describe();
        let contact = match reply.body {
            Body::Data(c) if c.email.to_lowercase() == want.email.to_lowercase() => c,
            Body::Data(c) => {
                let why = format!("GET /v1/contact answered another contact (id {})", c.id);
                return Ok(Checked::new(Verdict::Unknown, why));
            }
            Body::Error(_) if status == 404 => return Ok(Checked::new(Verdict::Missing, "")),
            _ => {
                let why = format!("GET /v1/contact answered {described}");
                return Ok(Checked::new(Verdict::Unknown, why));
            }
        };
        let fetched: Vec<u64>;
        let ids = match (&contact.tags, want.asserts_tags()) {
            (Some(ids), _) => Some(ids.as_slice()),
            (None, true) => {
                let tags = tags::tags_of(client, contact.id).await?;
                fetched = tags.into_iter().map(|t| t.id).collect();
                Some(fetched.as_slice())
            }
            (None, false) => None,
        };
        let mut checked = self.judge(want, &contact, ids, strict);
        custom::check(client, want, &mut checked).await?;
        Ok(checked)
    }

    fn judge(
        &self,
        want: &Expected,
        contact: &Contact,
        tag_ids: Option<&[u64]>,
        strict: bool,
    ) -> Checked {
        let held = Held {
            contact,
            tag_ids,
            names: self.names_for(),
        };
        let diffs = differences(want, &held, strict);
        let verdict = match diffs.is_empty() {
            true => Verdict::Match,
            false => Verdict::Differs,
        };
        let mut checked = Checked::new(verdict, diffs.join("; "));
        checked.contact_id = Some(contact.id);
        checked
    }

    fn names_for(&self) -> &HashMap<u64, String> {
        match self.stream.as_ref().and_then(|s| s.tags.as_ref()) {
            Some(column) => column.names(),
            None => &self.names,
        }
    }
}
