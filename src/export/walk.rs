//! The contact walk as a stream: every contact of `GET /v1/contacts`, newest first, each once,
//! and the proof that none present from the start to the end of the walk was skipped.
//!
//! Offset paging over a list that changes is not a snapshot. A contact created during the walk
//! is the newest, so it pushes every other one a position later: the same id comes twice (the id
//! set yields it once). A contact deleted during the walk pulls every older one a position
//! earlier: the first contact of the next page slides onto a page already read and would never
//! be seen. The walker keeps a watermark `m` with the `meta.total` T of the read it belongs to:
//! every contact present throughout whose position was below `m` when that page was served has
//! been yielded. Between two reads a contact moves by (creates) - (deletes of newer contacts),
//! which is never less than the change of the total; so when the total drops by d the
//! watermark drops by d. A page chains when it starts at or below the watermark and then raises
//! it to its end. A page that starts above it is not trusted: its contacts are not yielded, the
//! pages in flight are abandoned and the walk resumes at the page holding the watermark (the
//! re-read finds the contact that slid back). Nothing in between is lost and nothing is yielded
//! twice.
//!
//! The walk ends when the watermark reaches the total (full) or when a chained page reaches the
//! bookmark (incremental); `last_page` is never used, so a huge or lying `last_page` costs
//! nothing and no page is requested past `meta.total` except the first speculative ones. A page
//! that is not a page (no `meta`, another page number) is an error, never an empty page. When
//! the server keeps contradicting itself (its total promises contacts its pages do not hold),
//! the walk gives up after a few re-reads and says it is not complete; `--strict` exits 1 and
//! the incremental state does not advance.
//!
//! Pages in flight together are served in an unknown order. The rule above is exact for any
//! order when the walk saw only creates (every contact moves by the same amount: a later total
//! is a later serve) or only deletes (no contact ever moves later). Both at once can hide a
//! contact between two pages answered out of order, so a full walk with several pages in flight
//! ends with one more read of page 1 (the head check): the contacts now above the first one it
//! saw are the creates, and the change of the total then gives the deletes of older contacts.
//! When both happened, the walk is done again one page at a time (sequential reads make the
//! rule exact), yielding only what it has not yielded yet.
//!
//! The incremental bookmark comes from page 1 as first read (and from a later page 1 that
//! still holds that contact, so that every newer one is on it): a contact created during the
//! run is never skipped by the next run, though it may come again in the next delta.

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, Stream, StreamExt, TryStreamExt};

use super::state::{Bookmark, Newest};
use super::writer::Progress;
use crate::api::Contact;
use crate::api::client::Client;
use crate::api::endpoints::Endpoint;
use crate::api::paging::{PER_PAGE, Page, get_page};
use crate::exit::Fatal;

/// Pages asked for together with page 1 of a full export, before its total is known: at
/// 300 ms latency waiting for page 1 first costs 3 requests' worth of the rate limit.
pub const SPECULATIVE_PAGES: u64 = 3;

/// Re-reads that no drop of the total explains, at the same watermark, before the walk stops
/// trusting the server (its total promises contacts its pages do not hold).
const STALLS: u32 = 3;

/// Re-reads explained by deletes before the walk gives up on an account that keeps changing.
const SHIFTS: u64 = 1000;

/// What the walk saw of the account, for the summary and the manifest.
#[derive(Debug, Default, Clone, Copy)]
pub struct Walk {
    pub total_first: Option<u64>,
    pub total_last: Option<u64>,
    /// Pages read, re-reads included.
    pub pages: u64,
    /// Pages read again after the list shifted under the walk.
    pub pages_reread: u64,
    /// Times a page did not chain (contacts deleted, or pages answered out of order).
    pub shifts: u64,
    /// Distinct contacts yielded.
    pub distinct: u64,
    /// Every contact present throughout the walk was yielded (proved page by page).
    pub complete: bool,
    /// The walk was done again one page at a time (creates and deletes during a concurrent one).
    pub sequential_pass: bool,
}

/// Where the walk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `window` pages in flight.
    Concurrent,
    /// The concurrent walk reached its end: page 1 once more.
    HeadCheck,
    /// One page at a time from page 1.
    Sequential,
    Done,
}

type Fetch = BoxFuture<'static, Result<Page<Contact>, Fatal>>;

pub struct Walker {
    client: Arc<Client>,
    query: Arc<Vec<(&'static str, String)>>,
    window: usize,
    bookmark: Option<Bookmark>,
    progress: Arc<Progress>,
    seen: HashSet<u64>,
    in_flight: FuturesOrdered<Fetch>,
    /// A page received ahead of time by [`Walker::total`].
    ready: Option<Page<Contact>>,
    /// The page the head of `in_flight` answers; the last page requested.
    head: u64,
    requested: u64,
    /// Before any total is known, request pages up to this one.
    speculative: u64,
    /// The watermark and the total of the read it belongs to.
    mark: u64,
    mark_total: Option<u64>,
    /// The largest total seen: requests stop at its last page.
    bound_total: Option<u64>,
    highest_read: u64,
    stalled_at: Option<u64>,
    stalls: u32,
    phase: Phase,
    /// The first contact of page 1 as first read, and that read's total.
    anchor: Option<(u64, u64)>,
    /// The newest contacts every one of which, and every newer one, was yielded.
    newest: Newest,
    walk: Walk,
}

impl Walker {
    /// A full walk (`bookmark` = `None`, `window` pages in flight) or an incremental one (one
    /// page at a time: it usually stops on page 1).
    pub fn new(
        client: Arc<Client>,
        query: Vec<(&'static str, String)>,
        window: usize,
        bookmark: Option<Bookmark>,
        progress: Arc<Progress>,
    ) -> Walker {
        let incremental = bookmark.is_some();
        Walker {
            client,
            query: Arc::new(query),
            window: if incremental { 1 } else { window.max(1) },
            bookmark,
            progress,
            seen: HashSet::new(),
            in_flight: FuturesOrdered::new(),
            ready: None,
            head: 1,
            requested: 0,
            speculative: if incremental { 1 } else { SPECULATIVE_PAGES },
            mark: 0,
            mark_total: None,
            bound_total: None,
            highest_read: 0,
            stalled_at: None,
            stalls: 0,
            phase: Phase::Concurrent,
            anchor: None,
            newest: Newest::default(),
            walk: Walk::default(),
        }
    }

    /// A total already known (verify reads it first with `per_page=1`): the speculative
    /// first requests stop at its last page, so a small account costs no empty pages.
    pub fn expect_total(&mut self, total: u64) {
        self.speculative = self.speculative.min(total.div_ceil(PER_PAGE).max(1));
    }

    /// The account's total as page 1 reports it (asks for the first pages if not done yet).
    pub async fn total(&mut self) -> Result<Option<u64>, Fatal> {
        if self.ready.is_none() && self.phase != Phase::Done {
            self.fill();
            self.ready = self.in_flight.next().await.transpose()?;
        }
        Ok(self.ready.as_ref().and_then(|p| p.meta).map(|m| m.total))
    }

    /// The contacts of the next page that chains, not yielded before; `None` at the end.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Contact>>, Fatal> {
        while self.phase != Phase::Done {
            let page = match self.ready.take() {
                Some(page) => page,
                None => {
                    self.fill();
                    match self.in_flight.next().await {
                        Some(page) => page?,
                        // Nothing left to ask for below the total, yet the watermark is short.
                        None => {
                            self.phase = Phase::Done;
                            break;
                        }
                    }
                }
            };
            if let Some(batch) = self.accept(page)? {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }

    /// The contacts one by one, for consumers that do not care about pages.
    pub fn contacts(&mut self) -> impl Stream<Item = Result<Contact, Fatal>> + '_ {
        futures::stream::try_unfold(self, |walker| async move {
            let batch = walker.next_batch().await?;
            Ok::<_, Fatal>(batch.map(|batch| {
                let contacts = batch.into_iter().map(Ok::<Contact, Fatal>);
                (futures::stream::iter(contacts), walker)
            }))
        })
        .try_flatten()
    }

    /// What the walk saw; `complete` only if it reached its end with the proof intact.
    pub fn finish(mut self) -> Walk {
        self.walk.distinct = self.seen.len() as u64;
        self.walk
    }

    /// The newest contacts yielded such that every newer one was yielded too (for `--state`).
    pub fn take_newest(&mut self) -> Newest {
        std::mem::take(&mut self.newest)
    }

    /// Keeps `window` pages in flight, never past the last page of the largest total seen.
    fn fill(&mut self) {
        let last = match self.bound_total {
            Some(total) => total.div_ceil(PER_PAGE).max(1),
            None => self.speculative,
        }
        .max(self.head);
        let (window, last) = match self.phase {
            Phase::Concurrent => (self.window, last),
            Phase::HeadCheck => (1, 1),
            Phase::Sequential | Phase::Done => (1, last),
        };
        while self.in_flight.len() < window && self.requested < last {
            self.requested += 1;
            self.in_flight.push_back(fetch(
                Arc::clone(&self.client),
                Arc::clone(&self.query),
                self.requested,
            ));
        }
    }

    /// Chains one page onto the watermark, or restarts the walk below it.
    fn accept(&mut self, page: Page<Contact>) -> Result<Option<Vec<Contact>>, Fatal> {
        let meta = page
            .meta
            .ok_or_else(|| not_a_page(page.number, "no meta"))?;
        let total = meta.total;
        self.count_read(page.number, total);
        if self.phase == Phase::HeadCheck {
            return Ok(Some(self.head_check(page, total)));
        }
        let start = (page.number - 1) * PER_PAGE;
        // Positions below the watermark then are below this much now (see the module notes).
        let mark = match self.mark_total {
            Some(before) => self.mark.saturating_sub(before.saturating_sub(total)),
            None => self.mark,
        };
        if start > mark {
            self.restart(mark, total);
            return Ok(None);
        }
        let end = start + page.items.len() as u64;
        self.mark = mark.max(end);
        self.mark_total = Some(total);
        self.head = page.number + 1;
        if page.number == 1 && self.anchor.is_none() {
            self.anchor = page.items.first().map(|c| (c.id, total));
        }
        let (batch, reached) = self.take_new(page);
        if reached || self.mark >= total {
            self.end_of_pass();
        }
        Ok(Some(batch))
    }

    /// The contacts of `page` that are new and not yielded yet; whether it reached the bookmark.
    fn take_new(&mut self, page: Page<Contact>) -> (Vec<Contact>, bool) {
        // Page 1 holding the anchor holds every contact newer than it: safe for the bookmark.
        let anchored = page.number == 1
            && self
                .anchor
                .is_some_and(|(id, _)| page.items.iter().any(|c| c.id == id));
        let mut reached = false;
        let mut batch = Vec::with_capacity(page.items.len());
        for contact in page.items {
            if let Some(b) = &self.bookmark
                && !b.is_new(&contact)
            {
                reached = true;
                continue;
            }
            if anchored {
                self.newest.observe(&contact);
            }
            if self.seen.insert(contact.id) {
                batch.push(contact);
            } else {
                self.progress
                    .duplicates
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        (batch, reached)
    }

    /// The watermark reached the end of this pass: decide whether the proof holds.
    fn end_of_pass(&mut self) {
        self.in_flight = FuturesOrdered::new();
        let one_at_a_time = self.window == 1 || self.phase == Phase::Sequential;
        if one_at_a_time || self.walk.pages <= 1 {
            self.walk.complete = true;
            self.phase = Phase::Done;
            return;
        }
        self.phase = Phase::HeadCheck;
        self.head = 1;
        self.requested = 0;
    }

    /// Page 1 after a concurrent walk: creates (contacts above the anchor) and deletes of
    /// older contacts (creates minus the change of the total) must not both have happened.
    fn head_check(&mut self, page: Page<Contact>, total: u64) -> Vec<Contact> {
        let creates = self
            .anchor
            .and_then(|(id, _)| page.items.iter().position(|c| c.id == id))
            .map(|p| p as u64);
        let first_total = self.anchor.map_or(total, |(_, t)| t);
        let trusted = match creates {
            Some(0) => true,
            Some(created) => created + first_total == total,
            None => false,
        };
        let (batch, _) = self.take_new(page);
        if trusted {
            self.walk.complete = true;
            self.phase = Phase::Done;
        } else {
            self.walk.sequential_pass = true;
            self.phase = Phase::Sequential;
            self.mark = 0;
            self.mark_total = None;
            self.head = 1;
            self.requested = 0;
            self.stalled_at = None;
            self.stalls = 0;
        }
        batch
    }

    fn count_read(&mut self, number: u64, total: u64) {
        self.walk.pages += 1;
        self.progress
            .pages
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if number <= self.highest_read {
            self.walk.pages_reread += 1;
        }
        self.highest_read = self.highest_read.max(number);
        self.walk.total_first.get_or_insert(total);
        self.walk.total_last = Some(total);
        self.bound_total = Some(self.bound_total.map_or(total, |b| b.max(total)));
    }

    /// The page did not chain: resume at the page holding the watermark. A server whose total
    /// keeps promising contacts that its pages do not hold is not trusted forever, nor an
    /// account deleting contacts faster than the walk can read around them.
    fn restart(&mut self, mark: u64, total: u64) {
        self.walk.shifts += 1;
        let dropped = self.mark_total.is_some_and(|before| total < before);
        if dropped {
            self.stalls = 0;
        } else if self.stalled_at.is_some_and(|at| mark <= at) {
            self.stalls += 1;
        }
        self.stalled_at = Some(mark);
        self.mark = mark;
        self.mark_total = Some(total);
        self.bound_total = Some(total);
        self.in_flight = FuturesOrdered::new();
        self.head = mark / PER_PAGE + 1;
        self.requested = self.head - 1;
        if self.stalls >= STALLS || self.walk.shifts >= SHIFTS {
            self.stop();
        }
    }

    fn stop(&mut self) {
        self.phase = Phase::Done;
        self.in_flight = FuturesOrdered::new();
    }
}

/// The API answered something that is not the page asked for: as if it were down (exit 4).
fn not_a_page(number: u64, why: &str) -> Fatal {
    Fatal::unavailable(format!(
        "GET /v1/contacts (page {number}) did not answer a page ({why})"
    ))
}

/// One page (the client checks it is a page: an envelope with `meta`, the page asked for).
fn fetch(client: Arc<Client>, query: Arc<Vec<(&'static str, String)>>, number: u64) -> Fetch {
    Box::pin(async move {
        let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        get_page::<Contact>(&client, Endpoint::Contacts, &pairs, number).await
    })
}
