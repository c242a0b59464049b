//! The account: contacts, tags and sequences, with the indexes the endpoints need.
//!
//! Invariants: `contacts` is sorted by `(created_at, id)` (seeded contacts are generated in that
//! order and new ones are appended with `created_at = now`, clamped to never go below the last
//! one, so appending keeps it sorted); ids only grow and are never reused. A delete (rare: tests
//! and `DELETE /v1/contact`) removes the record from the vector and renumbers the positions in
//! `by_id` after it, so they stay valid. Newest-first paging and period filters are then two
//! binary searches and a slice. The whole store sits behind one mutex in `App`; every method here is synchronous so
//! the lock can never be held across an `.await`.

mod custom;
pub use custom::SetRefusal;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{self, Meta};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactRec {
    pub id: u64,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email_marketing: bool,
    pub gdpr: bool,
    pub created_at: DateTime<Utc>,
    pub tags: Vec<u64>,
    pub sequences: Vec<u64>,
    /// Custom values by field id (`PUT /v1/contact-custom-field`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<u64, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagRec {
    pub id: u64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceRec {
    pub id: u64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// What `--state` saves and loads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub contacts: Vec<ContactRec>,
    pub tags: Vec<TagRec>,
    pub sequences: Vec<SequenceRec>,
    /// Custom-field definitions (`--seed-custom-fields`); state files from before them load.
    #[serde(default)]
    pub custom_fields: Vec<api::CustomField>,
    pub next_contact_id: u64,
    pub next_tag_id: u64,
    pub next_sequence_id: u64,
}

/// Why a write was refused; routes map each to its documented status and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ContactNotFound,
    TagNotFound,
    SequenceNotFound,
    Cap,
    Exists,
    TagExists,
}

/// How a request names a contact: `contact_id` wins over `email`.
#[derive(Debug, Clone, Copy)]
pub enum Ident<'a> {
    Id(u64),
    Email(&'a str),
}

/// Fields of a create or an update; `None` means "not given". Lists are appended on update.
#[derive(Debug, Default)]
pub struct Fields {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email_marketing: Option<bool>,
    pub gdpr: Option<bool>,
    pub tags: Vec<u64>,
    pub sequences: Vec<u64>,
}

pub struct Store {
    account: Account,
    by_id: HashMap<u64, usize>,
    by_email: HashMap<String, u64>,
    tag_members: HashMap<u64, BTreeSet<u64>>,
    tag_names: HashMap<String, u64>,
    cap: Option<u64>,
    /// Successful sets per (contact, field): what a test checks "set once" against.
    custom_sets: HashMap<(u64, u64), u32>,
    /// Fields answered 404 on set although listed (a field deleted after a client listed the
    /// definitions); a test hook, never saved.
    gone_fields: HashSet<u64>,
}

impl Store {
    pub fn new(mut account: Account, cap: Option<u64>) -> Store {
        account.contacts.sort_by_key(|c| (c.created_at, c.id));
        account.tags.sort_by_key(|t| t.id);
        account.sequences.sort_by_key(|s| s.id);
        let next = |ids: &mut dyn Iterator<Item = u64>, stored: u64| {
            ids.max().map_or(1, |m| m + 1).max(stored).max(1)
        };
        account.next_contact_id = next(
            &mut account.contacts.iter().map(|c| c.id),
            account.next_contact_id,
        );
        account.next_tag_id = next(&mut account.tags.iter().map(|t| t.id), account.next_tag_id);
        account.next_sequence_id = next(
            &mut account.sequences.iter().map(|s| s.id),
            account.next_sequence_id,
        );
        let mut store = Store {
            by_id: HashMap::with_capacity(account.contacts.len()),
            by_email: HashMap::with_capacity(account.contacts.len()),
            tag_members: account
                .tags
                .iter()
                .map(|t| (t.id, BTreeSet::new()))
                .collect(),
            tag_names: account
                .tags
                .iter()
                .map(|t| (t.name.to_lowercase(), t.id))
                .collect(),
            account,
            cap,
            custom_sets: HashMap::new(),
            gone_fields: HashSet::new(),
        };
        for (pos, c) in store.account.contacts.iter().enumerate() {
            store.by_id.insert(c.id, pos);
            store.by_email.insert(c.email.to_lowercase(), c.id);
            for tag in &c.tags {
                store.tag_members.entry(*tag).or_default().insert(c.id);
            }
        }
        store
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    pub fn contacts_total(&self) -> u64 {
        self.account.contacts.len() as u64
    }

    pub fn find(&self, ident: Ident) -> Option<&ContactRec> {
        let id = match ident {
            Ident::Id(id) => id,
            Ident::Email(email) => *self.by_email.get(&email.to_lowercase())?,
        };
        self.by_id.get(&id).map(|&pos| &self.account.contacts[pos])
    }

    /// All checks happen before anything changes, so a refused create stores nothing.
    pub fn create(&mut self, f: Fields, now: DateTime<Utc>) -> Result<u64, Refusal> {
        self.check_lists(&f.tags, &f.sequences)?;
        if self.cap.is_some_and(|cap| self.contacts_total() >= cap) {
            return Err(Refusal::Cap);
        }
        self.insert(f, now)
    }

    /// A create without the list and cap checks: for writers other than the API (tests that
    /// simulate one), which only the uniqueness of the email binds.
    pub fn insert(&mut self, f: Fields, now: DateTime<Utc>) -> Result<u64, Refusal> {
        let email = f.email.unwrap_or_default();
        let key = email.to_lowercase();
        if self.by_email.contains_key(&key) {
            return Err(Refusal::Exists);
        }
        let id = self.account.next_contact_id;
        self.account.next_contact_id += 1;
        let created_at = self
            .account
            .contacts
            .last()
            .map_or(now, |last| last.created_at.max(now));
        for tag in &f.tags {
            self.tag_members.entry(*tag).or_default().insert(id);
        }
        self.by_email.insert(key, id);
        self.by_id.insert(id, self.account.contacts.len());
        self.account.contacts.push(ContactRec {
            id,
            email,
            first_name: f.first_name,
            last_name: f.last_name,
            email_marketing: f.email_marketing.unwrap_or(false),
            gdpr: f.gdpr.unwrap_or(false),
            created_at,
            tags: f.tags,
            sequences: f.sequences,
            custom: BTreeMap::new(),
        });
        Ok(id)
    }

    /// Partial update: only given fields change; tag and sequence ids are appended.
    pub fn update(&mut self, ident: Ident, f: Fields) -> Result<api::Contact, Refusal> {
        let id = self.find(ident).ok_or(Refusal::ContactNotFound)?.id;
        self.check_lists(&f.tags, &f.sequences)?;
        let new_key = f.email.as_ref().map(|e| e.to_lowercase());
        if let Some(key) = &new_key
            && self.by_email.get(key).is_some_and(|&other| other != id)
        {
            return Err(Refusal::Exists);
        }
        for tag in &f.tags {
            self.tag_members.entry(*tag).or_default().insert(id);
        }
        let c = &mut self.account.contacts[self.by_id[&id]];
        if let (Some(email), Some(key)) = (f.email, new_key) {
            self.by_email.remove(&c.email.to_lowercase());
            self.by_email.insert(key, id);
            c.email = email;
        }
        if f.first_name.is_some() {
            c.first_name = f.first_name;
        }
        if f.last_name.is_some() {
            c.last_name = f.last_name;
        }
        c.email_marketing = f.email_marketing.unwrap_or(c.email_marketing);
        c.gdpr = f.gdpr.unwrap_or(c.gdpr);
        append_unique(&mut c.tags, &f.tags);
        append_unique(&mut c.sequences, &f.sequences);
        Ok(full_contact(c))
    }

    /// Takes one tag off one contact, as the dashboard's "remove tag" would (the API's
    /// `/v1/contact-tag` is not documented); `false` when the contact did not hold it.
    pub fn untag(&mut self, contact: u64, tag: u64) -> bool {
        let Some(&pos) = self.by_id.get(&contact) else {
            return false;
        };
        let tags = &mut self.account.contacts[pos].tags;
        let held = tags.contains(&tag);
        tags.retain(|&t| t != tag);
        if let Some(members) = self.tag_members.get_mut(&tag) {
            members.remove(&contact);
        }
        held
    }

    /// Removes a contact and its tag memberships; the later contacts move up one position, as
    /// rows do in a database table, which is what shifts the newest-first pages.
    pub fn delete(&mut self, ident: Ident) -> Result<api::Contact, Refusal> {
        let id = self.find(ident).ok_or(Refusal::ContactNotFound)?.id;
        let pos = self.by_id.remove(&id).ok_or(Refusal::ContactNotFound)?;
        let removed = self.account.contacts.remove(pos);
        self.by_email.remove(&removed.email.to_lowercase());
        for tag in &removed.tags {
            if let Some(members) = self.tag_members.get_mut(tag) {
                members.remove(&id);
            }
        }
        for (offset, c) in self.account.contacts[pos..].iter().enumerate() {
            self.by_id.insert(c.id, pos + offset);
        }
        Ok(full_contact(&removed))
    }

    /// Newest first among contacts with `from <= created_at < to`.
    pub fn list(
        &self,
        (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        page: u64,
        per_page: u64,
    ) -> (Vec<api::Contact>, Meta) {
        let all = &self.account.contacts;
        let lo = from.map_or(0, |from| all.partition_point(|c| c.created_at < from));
        let hi = to.map_or(all.len(), |to| all.partition_point(|c| c.created_at < to));
        let matching = &all[lo..hi.max(lo)];
        let meta = meta(matching.len() as u64, page, per_page);
        let data = matching
            .iter()
            .rev()
            .skip(offset(page, per_page))
            .take(per_page as usize)
            .map(list_item)
            .collect();
        (data, meta)
    }

    pub fn tags_page(&self, page: u64, per_page: u64) -> (Vec<api::Tag>, Meta) {
        let tags = &self.account.tags;
        let data = tags
            .iter()
            .skip(offset(page, per_page))
            .take(per_page as usize)
            .map(api_tag)
            .collect();
        (data, meta(tags.len() as u64, page, per_page))
    }

    pub fn create_tag(&mut self, name: String, now: DateTime<Utc>) -> Result<api::Tag, Refusal> {
        let key = name.to_lowercase();
        if self.tag_names.contains_key(&key) {
            return Err(Refusal::TagExists);
        }
        let id = self.account.next_tag_id;
        self.account.next_tag_id += 1;
        self.tag_names.insert(key, id);
        self.tag_members.insert(id, BTreeSet::new());
        self.account.tags.push(TagRec {
            id,
            name: name.clone(),
            created_at: now,
        });
        Ok(api::Tag {
            id,
            name,
            created_at: None,
        })
    }

    pub fn contact_tags(&self, ident: Ident) -> Result<Vec<api::Tag>, Refusal> {
        let c = self.find(ident).ok_or(Refusal::ContactNotFound)?;
        Ok(c.tags
            .iter()
            .filter_map(|id| self.tag(*id))
            .map(api_tag)
            .collect())
    }

    /// Members of a tag by contact id ascending.
    pub fn tag_contacts(
        &self,
        tag: u64,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<api::Contact>, Meta), Refusal> {
        let members = self.tag_members.get(&tag).ok_or(Refusal::TagNotFound)?;
        let data = members
            .iter()
            .skip(offset(page, per_page))
            .take(per_page as usize)
            .filter_map(|id| self.by_id.get(id))
            .map(|&pos| list_item(&self.account.contacts[pos]))
            .collect();
        Ok((data, meta(members.len() as u64, page, per_page)))
    }

    pub fn sequences(&self) -> Vec<api::Sequence> {
        self.account
            .sequences
            .iter()
            .map(|s| api::Sequence {
                id: s.id,
                name: s.name.clone(),
                r#type: Some(s.kind.clone()),
            })
            .collect()
    }

    /// Every contact, newest first, with tags and sequences (for `SandboxHandle::contacts`).
    pub fn snapshot(&self) -> Vec<api::Contact> {
        self.account
            .contacts
            .iter()
            .rev()
            .map(full_contact)
            .collect()
    }

    pub fn all_tags(&self) -> Vec<api::Tag> {
        self.account.tags.iter().map(api_tag).collect()
    }

    fn tag(&self, id: u64) -> Option<&TagRec> {
        let tags = &self.account.tags;
        tags.binary_search_by_key(&id, |t| t.id)
            .ok()
            .map(|i| &tags[i])
    }

    fn check_lists(&self, tags: &[u64], sequences: &[u64]) -> Result<(), Refusal> {
        if tags.iter().any(|id| self.tag(*id).is_none()) {
            return Err(Refusal::TagNotFound);
        }
        let seqs = &self.account.sequences;
        if sequences
            .iter()
            .any(|id| seqs.binary_search_by_key(id, |s| s.id).is_err())
        {
            return Err(Refusal::SequenceNotFound);
        }
        Ok(())
    }
}

fn append_unique(list: &mut Vec<u64>, more: &[u64]) {
    for id in more {
        if !list.contains(id) {
            list.push(*id);
        }
    }
}

/// `last_page` is at least 1 even for an empty set, as Laravel's paginator reports.
pub fn meta(total: u64, page: u64, per_page: u64) -> Meta {
    Meta {
        current_page: page,
        last_page: total.div_ceil(per_page).max(1),
        per_page,
        total,
    }
}

fn offset(page: u64, per_page: u64) -> usize {
    usize::try_from(page.saturating_sub(1).saturating_mul(per_page)).unwrap_or(usize::MAX)
}

/// List items carry no tags or sequences (as the documented sample).
fn list_item(c: &ContactRec) -> api::Contact {
    api::Contact {
        id: c.id,
        email: c.email.clone(),
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        email_marketing: c.email_marketing,
        gdpr: c.gdpr,
        created_at: Some(api::format_contact_time(c.created_at)),
        tags: None,
        sequences: None,
    }
}

/// Retrieve and update return the lists too, as integer arrays.
fn full_contact(c: &ContactRec) -> api::Contact {
    api::Contact {
        tags: Some(c.tags.clone()),
        sequences: Some(c.sequences.clone()),
        ..list_item(c)
    }
}

fn api_tag(t: &TagRec) -> api::Tag {
    api::Tag {
        id: t.id,
        name: t.name.clone(),
        created_at: Some(api::format_tag_time(t.created_at)),
    }
}

#[cfg(test)]
mod tests;
