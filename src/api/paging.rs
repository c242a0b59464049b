//! Paged `GET`s of list endpoints (§7 of the API notes), shared by import and export.
//!
//! [`get_page`] fetches one page and turns every answer that is not a page into a [`Fatal`]:
//! a refused key exits 3, a rejected filter is a usage error, an API that stays down exits 4,
//! and a body that is not a list envelope (an HTML page, `success: false`, a missing `meta`)
//! is an error (unavailable), never an empty page. [`fetch_all`] walks a small list (tags) page by page; the contact
//! export, which needs many pages in flight, drives [`get_page`] itself.

use serde::de::DeserializeOwned;

use super::Meta;
use super::client::{CallError, Client};
use super::endpoints::Endpoint;
use super::reply::Body;
use crate::exit::Fatal;

/// The API's maximum page size; fewer, larger pages cost fewer requests.
pub const PER_PAGE: u64 = 100;

/// One page of a list endpoint.
#[derive(Debug)]
pub struct Page<T> {
    pub number: u64,
    pub items: Vec<T>,
    pub meta: Option<Meta>,
}

impl<T> Page<T> {
    /// The last page according to the server, or this one when it says nothing.
    pub fn last_page(&self) -> u64 {
        self.meta.map_or(self.number, |m| m.last_page)
    }
}

/// `GET endpoint?query&page=N&per_page=100`, decoded as a list of `T`.
pub async fn get_page<T: DeserializeOwned>(
    client: &Client,
    endpoint: Endpoint,
    query: &[(&str, &str)],
    number: u64,
) -> Result<Page<T>, Fatal> {
    get_page_sized(client, endpoint, query, number, PER_PAGE).await
}

/// [`get_page`] with another page size: `per_page=1` reads a list's `meta.total` for the
/// price of one small request (verify's choice of how to read the account).
pub async fn get_page_sized<T: DeserializeOwned>(
    client: &Client,
    endpoint: Endpoint,
    query: &[(&str, &str)],
    number: u64,
    per_page: u64,
) -> Result<Page<T>, Fatal> {
    let reply = client
        .list_page::<T>(endpoint, query, number, per_page)
        .await
        .map_err(call_fatal)?;
    let status = reply.status;
    match reply.body {
        Body::Data(page) if (200..300).contains(&status) => Ok(page),
        Body::Error(e) => Err(Fatal::usage(format!(
            "GET {endpoint} (page {number}) answered {status}: {} {}",
            e.code, e.message
        ))),
        Body::Data(_) => Err(Fatal::usage(format!(
            "GET {endpoint} (page {number}) answered {status}"
        ))),
        // Not the API speaking (a proxy, a login page, a wrong URL): unavailable, not usage.
        Body::Unreadable(why) => Err(Fatal::unavailable(format!(
            "GET {endpoint} (page {number}) answered {status} with {why}"
        ))),
    }
}

/// Every item of a list endpoint, one page after the other (for short lists such as tags).
/// Without `meta` the walk goes on while pages come back full.
pub async fn fetch_all<T: DeserializeOwned>(
    client: &Client,
    endpoint: Endpoint,
    query: &[(&str, &str)],
) -> Result<Vec<T>, Fatal> {
    let mut all = Vec::new();
    let mut number = 1u64;
    loop {
        let page: Page<T> = get_page(client, endpoint, query, number).await?;
        let done = match page.meta {
            Some(meta) => page.items.is_empty() || number >= meta.last_page,
            None => (page.items.len() as u64) < PER_PAGE,
        };
        all.extend(page.items);
        if done {
            return Ok(all);
        }
        number += 1;
    }
}

/// Failures of a read end the run: refused keys with exit 3, an unreachable API with 4,
/// Ctrl-C with 130. The message says what to check and never contains the key (server
/// strings are redacted).
pub fn call_fatal(e: CallError) -> Fatal {
    match e {
        CallError::Refused { status, error } => Fatal::aborted(format!(
            "aborted: the API refused the key ({status} {}); check WOLFEO_API_KEY / \
             --api-key-file: the key must exist, be enabled, and the account must have API access",
            error.map(|e| e.code).unwrap_or_default()
        )),
        CallError::Exhausted { last, attempts, .. } => Fatal::unavailable(format!(
            "the API is unavailable: {last} after {attempts} attempts"
        )),
        CallError::Interrupted { .. } => Fatal::interrupted("interrupted"),
    }
}
