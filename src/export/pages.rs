//! The contact walk: pages of `GET /v1/contacts` fetched concurrently, written in order, once.
//!
//! Page 1 says `last_page`; pages 2..=last_page then go out `window` at a time through the
//! client's shared pacer and come back in page order (`buffered`, not `buffer_unordered`), so
//! memory holds at most `window` pages whatever the account size. The list is newest first with
//! offset paging: a contact created during the walk pushes older ones onto later pages, so the
//! same id can come twice ([`Rows`] writes it once, from a compact id set) and the oldest ones
//! can fall past the planned last page, which is why the full walk keeps reading pages while it
//! has fewer distinct contacts than the latest `meta.total`. Pages in flight are answered in any
//! order, so a page served before its predecessor (smaller `meta.total`) would leave a gap; it is
//! read again. The incremental walk reads pages one at a time and stops at the first page that
//! reaches the bookmark.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{Stream, StreamExt};

use super::output::Output;
use super::state::{Bookmark, Newest};
use super::tags::TagColumn;
use crate::api::client::Client;
use crate::api::endpoints::Endpoint;
use crate::api::paging::{Page, get_page};
use crate::api::{Contact, Meta};
use crate::exit::Fatal;
use futures::future::Either;
use tokio::task::JoinHandle;

/// The import field names, so that `export | import` round-trips; the tag column follows.
pub const COLUMNS: [&str; 7] = [
    "id",
    "email",
    "first_name",
    "last_name",
    "email_marketing",
    "gdpr",
    "created_at",
];

/// Why a walk ended early.
#[derive(Debug)]
pub enum Stop {
    Fatal(Fatal),
    /// The reader of stdout went away (`| head`): not an error, exit 0.
    Closed,
}

impl From<Fatal> for Stop {
    fn from(f: Fatal) -> Stop {
        Stop::Fatal(f)
    }
}

/// Live counters for the progress display and the summary.
#[derive(Debug, Default)]
pub struct Progress {
    pub rows: AtomicU64,
    pub pages: AtomicU64,
    pub duplicates: AtomicU64,
}

impl Progress {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The single consumer of pages: dedupes, renders and writes rows in page order.
pub struct Rows {
    out: Output,
    tags: Option<TagColumn>,
    seen: HashSet<u64>,
    pub newest: Newest,
    pub progress: Arc<Progress>,
    cells: Vec<String>,
}

impl Rows {
    pub fn new(out: Output, tags: Option<TagColumn>, progress: Arc<Progress>) -> Rows {
        Rows {
            out,
            tags,
            seen: HashSet::new(),
            newest: Newest::default(),
            progress,
            cells: Vec::with_capacity(COLUMNS.len() + 1),
        }
    }

    pub fn distinct(&self) -> u64 {
        self.seen.len() as u64
    }

    /// Writes the contacts of one page that `keep` accepts and that were not written before.
    pub fn write_page(
        &mut self,
        contacts: &[Contact],
        keep: impl Fn(&Contact) -> bool,
    ) -> Result<(), Stop> {
        self.progress.pages.fetch_add(1, Ordering::Relaxed);
        for contact in contacts.iter().filter(|c| keep(c)) {
            if !self.seen.insert(contact.id) {
                self.progress.duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.render(contact);
            self.out.write_row(&self.cells).map_err(|e| {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    Stop::Closed
                } else {
                    Stop::Fatal(Fatal::usage(format!("writing the export: {e}")))
                }
            })?;
            self.newest.observe(contact);
            self.progress.rows.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn render(&mut self, c: &Contact) {
        let flag = |b: bool| if b { "true" } else { "false" }.to_string();
        self.cells.clear();
        self.cells.extend([
            c.id.to_string(),
            c.email.clone(),
            c.first_name.clone().unwrap_or_default(),
            c.last_name.clone().unwrap_or_default(),
            flag(c.email_marketing),
            flag(c.gdpr),
            c.created_at.clone().unwrap_or_default(),
        ]);
        if let Some(tags) = &self.tags {
            self.cells.push(tags.cell(c.id));
        }
    }

    pub fn into_output(self) -> Output {
        self.out
    }
}

/// What the walk saw of the account.
#[derive(Debug, Default, Clone, Copy)]
pub struct Walk {
    pub planned_pages: u64,
    pub total_first: Option<u64>,
    pub total_last: Option<u64>,
    /// Pages read a second time because they were served before the page preceding them.
    pub pages_reread: u64,
}

/// Pages `numbers`, at most `window` in flight, yielded in the order of `numbers`.
pub fn ordered<T, F, Fut>(
    numbers: impl Iterator<Item = u64>,
    window: usize,
    fetch: F,
) -> impl Stream<Item = Result<T, Fatal>>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<T, Fatal>>,
{
    futures::stream::iter(numbers)
        .map(fetch)
        .buffered(window.max(1))
}

/// Pages fetched together with page 1 before `last_page` is known.
pub const SPECULATIVE_PAGES: u64 = 3;

/// Every contact matching `query`, after `first` (page 1) came back to the caller; `ahead`
/// are the pages right after it, already requested before `last_page` was known.
pub async fn full(
    client: &Client,
    query: &[(&str, &str)],
    window: usize,
    first: Page<Contact>,
    ahead: Vec<JoinHandle<Result<Page<Contact>, Fatal>>>,
    rows: &mut Rows,
) -> Result<Walk, Stop> {
    let planned = first.last_page().max(1);
    let mut walk = Walk {
        planned_pages: planned,
        total_first: first.meta.map(|m| m.total),
        total_last: first.meta.map(|m| m.total),
        pages_reread: 0,
    };
    rows.write_page(&first.items, |_| true)?;
    let mut meta: Option<Meta> = first.meta;
    let fetched = 1 + ahead.len() as u64;
    // One ordered window over the speculative pages (already in flight) and the rest, so the
    // rest go out while the speculative ones are still on their way back.
    let speculative = futures::stream::iter(ahead).map(|handle| {
        Either::Left(async move {
            handle
                .await
                .map_err(|e| Fatal::usage(format!("page task failed: {e}")))?
        })
    });
    let planned_rest = futures::stream::iter((fetched + 1)..=planned)
        .map(|n| Either::Right(get_page::<Contact>(client, Endpoint::Contacts, query, n)));
    let mut pages = speculative.chain(planned_rest).buffered(window.max(1));
    while let Some(page) = pages.next().await {
        accept(client, query, page?, &mut meta, &mut walk, rows).await?;
    }
    drop(pages);
    let planned = planned.max(fetched);
    // Contacts created during the walk pushed the oldest ones past the planned last page.
    let mut next = planned + 1;
    while let Some(m) = meta
        && rows.distinct() < m.total
        && next <= m.last_page.max(planned) + 1
    {
        let page = get_page::<Contact>(client, Endpoint::Contacts, query, next).await?;
        if page.items.is_empty() {
            meta = page.meta.or(meta);
            break;
        }
        meta = page.meta.or(meta);
        rows.write_page(&page.items, |_| true)?;
        next += 1;
    }
    walk.total_last = meta.map(|m| m.total);
    Ok(walk)
}

/// Writes one page of a full walk, in order.
async fn accept(
    client: &Client,
    query: &[(&str, &str)],
    mut page: Page<Contact>,
    meta: &mut Option<Meta>,
    walk: &mut Walk,
    rows: &mut Rows,
) -> Result<(), Stop> {
    // The total tells how far the pages had shifted when this one was served. A smaller
    // total than the previous page's means it was served earlier (pages in flight are
    // answered in any order): contacts created in between would fall into a gap between
    // the two, so read it again now, once; the overlap that causes is deduped.
    if let (Some(before), Some(now)) = (*meta, page.meta)
        && now.total < before.total
    {
        page = get_page::<Contact>(client, Endpoint::Contacts, query, page.number).await?;
        walk.pages_reread += 1;
    }
    *meta = page.meta.or(*meta);
    rows.write_page(&page.items, |_| true)?;
    Ok(())
}

/// The contacts newer than `bookmark`: page after page until one reaches it.
pub async fn incremental(
    client: &Client,
    query: &[(&str, &str)],
    bookmark: &Bookmark,
    first: Page<Contact>,
    rows: &mut Rows,
) -> Result<Walk, Stop> {
    let mut walk = Walk {
        planned_pages: first.last_page(),
        total_first: first.meta.map(|m| m.total),
        total_last: first.meta.map(|m| m.total),
        pages_reread: 0,
    };
    let mut page = first;
    loop {
        rows.write_page(&page.items, |c| bookmark.is_new(c))?;
        let reached = page.items.iter().any(|c| !bookmark.is_new(c));
        if reached || page.items.is_empty() || page.number >= page.last_page() {
            walk.total_last = page.meta.map(|m| m.total).or(walk.total_last);
            return Ok(walk);
        }
        page = get_page::<Contact>(client, Endpoint::Contacts, query, page.number + 1).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::output::Target;
    use std::time::Duration;

    fn contact(id: u64) -> Contact {
        Contact {
            id,
            email: format!("c{id}@example.com"),
            first_name: Some("Ann".into()),
            last_name: None,
            email_marketing: true,
            gdpr: false,
            created_at: Some("2024-01-01T09:00:00.000000Z".into()),
            tags: None,
            sequences: None,
        }
    }

    #[tokio::test]
    async fn pages_come_back_in_order_whatever_finishes_first() {
        let in_flight = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let got: Vec<u64> = ordered(1..=40, 8, |n| {
            let in_flight = Arc::clone(&in_flight);
            let peak = Arc::clone(&peak);
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Later pages answer faster, to scramble completion order.
                tokio::time::sleep(Duration::from_millis(1 + (40 - n) % 7 * 3)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok(n)
            }
        })
        .map(|r| r.unwrap())
        .collect()
        .await;
        assert_eq!(got, (1..=40).collect::<Vec<_>>());
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak > 1 && peak <= 8, "peak in flight {peak}");
    }

    #[test]
    fn rows_are_written_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        let out = Output::create(&Target::Path(path.clone()), false, &COLUMNS).unwrap();
        let progress = Arc::new(Progress::default());
        let mut rows = Rows::new(out, None, Arc::clone(&progress));
        // Page 2 repeats id 2: a contact created meanwhile shifted it.
        rows.write_page(&[contact(3), contact(2)], |_| true)
            .unwrap();
        rows.write_page(&[contact(2), contact(1)], |_| true)
            .unwrap();
        rows.write_page(&[contact(0)], |c| c.id != 0).unwrap();
        rows.into_output().finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let ids: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(ids, ["3", "2", "1"]);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "3,c3@example.com,Ann,,true,false,2024-01-01T09:00:00.000000Z"
        );
        assert_eq!(Progress::get(&progress.duplicates), 1);
        assert_eq!(Progress::get(&progress.pages), 3);
        assert_eq!(Progress::get(&progress.rows), 3);
    }
}
