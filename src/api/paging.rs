//! Paged `GET`s of list endpoints (§7 of the API notes), shared by import and export.
//!
//! [`get_page`] fetches one page and turns every answer that is not a page into a [`Fatal`]
//! (a read that fails leaves nothing useful to do: a refused key exits 3, a rejected filter or
//! an API that stays down exits 2). [`fetch_all`] walks a small list (tags) page by page; the
//! contact export, which needs many pages in flight, drives [`get_page`] itself.

use serde::de::DeserializeOwned;

use super::client::{CallError, Client};
use super::{Meta, Success};
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

/// `GET path?query&page=N&per_page=100`, decoded as a list of `T`.
pub async fn get_page<T: DeserializeOwned>(
    client: &Client,
    path: &str,
    query: &[(&str, &str)],
    number: u64,
) -> Result<Page<T>, Fatal> {
    let page_text = number.to_string();
    let per_page = PER_PAGE.to_string();
    let mut full: Vec<(&str, &str)> = query.to_vec();
    full.push(("page", &page_text));
    full.push(("per_page", &per_page));
    let answer = client.get(path, &full).await.map_err(call_fatal)?;
    if !answer.is_success() {
        let error = answer.error();
        return Err(Fatal::usage(format!(
            "GET /v1/{path} (page {number}) answered {}{}",
            answer.status,
            error
                .map(|e| format!(": {} {}", e.code, e.message))
                .unwrap_or_default()
        )));
    }
    let body: Success<Vec<T>> = answer
        .json()
        .map_err(|e| Fatal::usage(format!("GET /v1/{path} (page {number}): {e}")))?;
    Ok(Page {
        number,
        items: body.data,
        meta: body.meta,
    })
}

/// Every item of a list endpoint, one page after the other (for short lists such as tags).
pub async fn fetch_all<T: DeserializeOwned>(
    client: &Client,
    path: &str,
    query: &[(&str, &str)],
) -> Result<Vec<T>, Fatal> {
    let mut all = Vec::new();
    let mut number = 1u64;
    loop {
        let page: Page<T> = get_page(client, path, query, number).await?;
        let done = page.items.is_empty() || number >= page.last_page();
        all.extend(page.items);
        if done {
            return Ok(all);
        }
        number += 1;
    }
}

/// Failures of a read end the run: refused keys with exit 3, an unreachable API with 4,
/// Ctrl-C with 130.
/// The message says what to check and never contains the key.
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
