//! How verify reads the account: the whole contact stream, or one lookup per row.
//!
//! Both answer the same question with different costs in requests, the unit the API rations
//! (600 a minute). The stream ([`Strategy::Stream`]) reads every contact 100 at a time with
//! export's walker (`GET /v1/contacts`), plus one more page 1 when several pages were in
//! flight (the walker's head check), plus, when the file asserts tags, every tag's members
//! (`GET /v1/tags-contacts`, at least one request per tag). The lookup ([`Strategy::Lookup`])
//! costs one `GET /v1/contact?email=` per row, and that answer carries the contact's tag ids.
//! Both have already paid the `per_page=1` probe that told the account's size, and the tag
//! list when the file names tags. [`choose`] is pure: the caller measures, this decides and
//! says why in one line the summary prints. `--extra` needs every contact, so it streams;
//! standard input cannot be counted first, so it streams too.

use serde::Serialize;

use crate::api::paging::PER_PAGE;

/// `--read`: what the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadMode {
    /// The cheaper of the two in requests.
    Auto,
    /// Every contact of the account (GET /v1/contacts, 100 per request).
    Stream,
    /// One GET /v1/contact?email= per row.
    Lookup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Stream,
    Lookup,
}

/// What the choice was made from.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    /// Data rows of the file (an estimate: lines, `--limit` applied); `None` for a stream.
    pub rows: Option<u64>,
    /// The account's contacts (`meta.total`).
    pub contacts: u64,
    /// Tags of the account, when the file asserts tags (their members must then be read).
    pub tags: Option<u64>,
    /// `--extra` asks for the contacts no row mentions.
    pub extra: bool,
    /// Pages in flight at once.
    pub window: usize,
    /// Requests every row costs on top, whichever the way (`--custom-fields`: 1).
    pub per_row: u64,
}

/// The decision, its reason and both estimates (requests of the whole run).
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub strategy: Strategy,
    pub reason: String,
    pub stream_estimate: u64,
    pub lookup_estimate: Option<u64>,
}

/// Requests read before the choice, paid by both ways: the probe, and the tag list when the
/// file has a tag column.
pub fn fixed_cost(tags: Option<u64>) -> u64 {
    1 + tags.map_or(0, |t| t.div_ceil(PER_PAGE).max(1))
}

/// Requests a whole run costs at least with the stream: the fixed ones, the pages, the head
/// check when pages overlap, and one request per tag for its members (more for tags with
/// over 100 members).
pub fn stream_cost(contacts: u64, tags: Option<u64>, window: usize) -> u64 {
    // The walker is told the total (`Walker::expect_total`), so its speculative first
    // requests never go past the last page: an empty account still costs page 1.
    let pages = contacts.div_ceil(PER_PAGE).max(1);
    let head_check = u64::from(window > 1 && pages > 1);
    fixed_cost(tags) + pages + head_check + tags.unwrap_or(0)
}

pub fn choose(mode: ReadMode, facts: Facts) -> Choice {
    let per_row = facts.rows.unwrap_or(0) * facts.per_row;
    let stream_estimate = stream_cost(facts.contacts, facts.tags, facts.window) + per_row;
    let lookup_estimate = facts
        .rows
        .map(|rows| fixed_cost(facts.tags) + rows + per_row);
    let choice = |strategy, reason: String| Choice {
        strategy,
        reason,
        stream_estimate,
        lookup_estimate,
    };
    let stream_words = format!(
        "{} contact(s){} ≥ {stream_estimate} requests",
        facts.contacts,
        match facts.tags {
            Some(t) => format!(" + members of {t} tag(s)"),
            None => String::new(),
        }
    );
    let lookup_words = |n: u64| format!("a lookup per row ≥ {n} requests");
    match (mode, lookup_estimate) {
        (ReadMode::Stream, _) => choice(Strategy::Stream, format!("--read stream: {stream_words}")),
        (ReadMode::Lookup, _) if facts.extra => choice(
            Strategy::Stream,
            format!("--extra needs every contact: {stream_words}"),
        ),
        (ReadMode::Lookup, n) => choice(
            Strategy::Lookup,
            match n {
                Some(n) => format!("--read lookup: {}", lookup_words(n)),
                None => "--read lookup: a lookup per row".into(),
            },
        ),
        (ReadMode::Auto, _) if facts.extra => choice(
            Strategy::Stream,
            format!("--extra needs every contact: {stream_words}"),
        ),
        (ReadMode::Auto, None) => choice(
            Strategy::Stream,
            format!("standard input is not counted first: {stream_words}"),
        ),
        (ReadMode::Auto, Some(n)) if n < stream_estimate => choice(
            Strategy::Lookup,
            format!("{}; streaming {stream_words}", lookup_words(n)),
        ),
        (ReadMode::Auto, Some(n)) => choice(
            Strategy::Stream,
            format!("{stream_words}; {}", lookup_words(n)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(rows: Option<u64>, contacts: u64, tags: Option<u64>) -> Facts {
        Facts {
            rows,
            contacts,
            tags,
            extra: false,
            window: 16,
            per_row: 0,
        }
    }

    #[test]
    fn stream_cost_counts_pages_head_check_and_tags() {
        assert_eq!(stream_cost(0, None, 16), 1 + 1);
        assert_eq!(stream_cost(100, None, 16), 1 + 1);
        assert_eq!(stream_cost(101, None, 16), 1 + 3);
        assert_eq!(stream_cost(101, None, 1), 1 + 2);
        assert_eq!(stream_cost(2_500, Some(5), 16), 1 + 1 + 25 + 1 + 5);
    }

    #[test]
    fn a_small_file_against_a_big_account_is_looked_up() {
        let c = choose(ReadMode::Auto, facts(Some(12), 2_500, None));
        assert_eq!(c.strategy, Strategy::Lookup);
        assert_eq!((c.stream_estimate, c.lookup_estimate), (27, Some(13)));
        assert_eq!(
            c.reason,
            "a lookup per row ≥ 13 requests; streaming 2500 contact(s) ≥ 27 requests"
        );
    }

    #[test]
    fn a_file_as_large_as_its_account_is_streamed() {
        assert_eq!(
            choose(ReadMode::Auto, facts(Some(250), 250, Some(5))).strategy,
            Strategy::Stream
        );
        // A tie costs the same either way: the stream also proves what is missing.
        assert_eq!(
            choose(ReadMode::Auto, facts(Some(26), 2_500, None)).strategy,
            Strategy::Stream
        );
    }

    #[test]
    fn extra_and_standard_input_stream_and_flags_win() {
        let mut f = facts(Some(1), 10_000, None);
        f.extra = true;
        assert_eq!(choose(ReadMode::Auto, f).strategy, Strategy::Stream);
        assert_eq!(choose(ReadMode::Lookup, f).strategy, Strategy::Stream);
        let stdin = facts(None, 10_000, None);
        assert_eq!(choose(ReadMode::Auto, stdin).strategy, Strategy::Stream);
        assert_eq!(choose(ReadMode::Lookup, stdin).strategy, Strategy::Lookup);
        let big = facts(Some(10_000), 10, None);
        assert_eq!(choose(ReadMode::Stream, big).strategy, Strategy::Stream);
        assert_eq!(choose(ReadMode::Lookup, big).strategy, Strategy::Lookup);
    }
}
