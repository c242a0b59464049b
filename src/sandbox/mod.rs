//! A faithful, stateful local imitation of the Wolfeo v1 API.
//!
//! It is the default peer for trying the CLI (`wolfeo-bulk sandbox`, `import --sandbox`) and the
//! real HTTP server behind every integration test and benchmark. Everything it renders goes
//! through [`crate::api`] and every contact it accepts passes [`crate::validate`], the same code
//! the client runs, so client and sandbox cannot disagree about the wire format or the rules.
//!
//! [`spawn`] is synchronous: the server gets its own OS thread and its own two-worker tokio
//! runtime, so it works the same from a plain `#[test]`, from inside another runtime, and from
//! the CLI. Dropping the [`SandboxHandle`] stops it, closes its connections, saves `--state`
//! and joins the thread.
//!
//! ```
//! use wolfeo_bulk::sandbox::{spawn, Config};
//! let sandbox = spawn(Config::default()).unwrap();
//! assert!(sandbox.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(sandbox.api_key(), "sandbox-key");
//! let id = sandbox.insert_contact("ann@example.com");
//! assert_eq!(sandbox.contacts()[0].id, id);
//! ```
//!
//! Choices where the documentation is silent, in processing order: an unknown path *or* a known
//! path with the wrong method is 404 `NOT_FOUND` (before auth); a missing or unknown key is 401
//! and is not throttled (there is no key to count against); a `--restricted-key` is 403 on every
//! call; then the per-key throttle counts the request; then `--fail-rate` may answer 500; then the
//! handler runs; `--latency` delays every `/v1` response after all that. `GET /_sandbox/stats`
//! bypasses auth, throttle and counting.

pub mod args;
mod faults;
mod params;
mod routes;
mod seed;
mod server;
mod store;
mod throttle;

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::units::{parse_duration, parse_latency};
pub use args::{SandboxArgs, run};
pub use seed::parse_custom_fields;
pub use throttle::{RateLimit, WindowKind};

use crate::api;
use crate::validate::EmailRule;
use faults::Faults;
use store::Store;
use throttle::Throttle;

/// Everything the sandbox can be told; [`SandboxArgs::to_config`] builds one from flags.
#[derive(Debug, Clone)]
pub struct Config {
    pub api_keys: Vec<String>,
    /// Keys that authenticate but get 403 `FORBIDDEN` on every call.
    pub restricted_keys: Vec<String>,
    /// `None` = no rate limit and no rate-limit headers.
    pub rate_limit: Option<RateLimit>,
    pub window: WindowKind,
    /// `X-RateLimit-*` / `Retry-After` headers (Laravel's); the documented service shows none.
    pub rate_headers: bool,
    /// Seeds the fault RNG and the seed data.
    pub seed: u64,
    /// Response delay, uniform in the closed range.
    pub latency: Option<(Duration, Duration)>,
    /// Share of `/v1` requests answered 500 `SERVER_ERROR` (nothing stored).
    pub fail_rate: f64,
    /// Share of successful creates whose connection is closed without a response.
    pub drop_rate: f64,
    /// 403 `FORBIDDEN` on create once the account holds this many contacts.
    pub contact_cap: Option<u64>,
    pub seed_contacts: u64,
    pub seed_tags: u64,
    pub seed_sequences: u64,
    /// Custom-field definitions to seed: name and, for a `select` field, its comma-separated
    /// options (`--seed-custom-fields`, parsed by [`parse_custom_fields`]).
    pub seed_custom_fields: Vec<(String, Option<String>)>,
    /// Loaded at start if it exists (then no seed data is generated), saved on shutdown.
    pub state_file: Option<PathBuf>,
    pub listen: SocketAddr,
    /// `created_at` is rounded down to this (default 1 µs, the wire format's precision; `1s`
    /// stamps whole seconds like the documented samples, which an importer must survive).
    pub timestamp_resolution: Duration,
    /// One line per request on stderr (`wolfeo-bulk -v sandbox`): method, path, status, time.
    /// The query string is never printed: it may hold an `api_key`.
    pub log_requests: bool,
    /// Which egulias the `email` rule runs (`--email-rule`). Default egulias 2.1.x: the API's
    /// 422 says "The given data was invalid" with per-field messages in the "must not" wording,
    /// which is Laravel 8 (Laravel 9 summarises the first message), and Laravel 8 installs 2.1.x.
    pub email_rule: EmailRule,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_keys: vec!["sandbox-key".into()],
            restricted_keys: Vec::new(),
            rate_limit: Some(RateLimit {
                max: 600,
                window: Duration::from_secs(60),
            }),
            window: WindowKind::Fixed,
            rate_headers: true,
            seed: 0,
            latency: None,
            fail_rate: 0.0,
            drop_rate: 0.0,
            contact_cap: None,
            seed_contacts: 0,
            seed_tags: 0,
            seed_sequences: 0,
            seed_custom_fields: Vec::new(),
            state_file: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            timestamp_resolution: Duration::from_micros(1),
            log_requests: false,
            email_rule: EmailRule::default(),
        }
    }
}

/// What `GET /_sandbox/stats` returns.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Stats {
    /// Requests received, except `/_sandbox/stats` itself.
    pub requests_total: u64,
    /// Responses sent, by status (dropped requests have none).
    pub responses_by_status: BTreeMap<u16, u64>,
    pub contacts_total: u64,
    pub tags_total: u64,
    /// 429 responses.
    pub throttled_total: u64,
    /// Creates stored whose connection was then closed without a response.
    pub dropped_total: u64,
    /// Most authenticated `/v1` requests (429s included) received within any interval of
    /// `peak_window_ms` (the rate-limit window, or 60 s when the limit is off).
    pub peak_requests_per_window: u64,
    pub peak_window_ms: u64,
    /// Requests received per route, `"PUT /v1/contact-custom-field"` (429s and 401s included;
    /// unknown paths are not routes and are left out).
    #[serde(default)]
    pub requests_by_endpoint: BTreeMap<String, u64>,
    #[serde(default)]
    pub custom_fields_total: u64,
    /// Custom values held by all contacts.
    #[serde(default)]
    pub custom_values_total: u64,
    #[serde(default)]
    pub sequences_total: u64,
}

/// Lock-free counters on the hot path.
struct Counters {
    requests: AtomicU64,
    by_status: Box<[AtomicU64; 600]>,
    by_endpoint: Mutex<BTreeMap<String, u64>>,
    throttled: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    /// Called for routed requests only, so the map holds at most one entry per route.
    fn count_endpoint(&self, method: &axum::http::Method, path: &str) {
        let key = format!("{method} {path}");
        let mut map = self.by_endpoint.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(key).or_default() += 1;
    }

    fn record(&self, status: u16) {
        if let Some(slot) = self.by_status.get(usize::from(status)) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// State shared by every connection.
struct App {
    keys: HashSet<String>,
    restricted: HashSet<String>,
    store: Mutex<Store>,
    throttle: Throttle,
    faults: Faults,
    rate_headers: bool,
    log_requests: bool,
    timestamp_resolution: Duration,
    email_rule: EmailRule,
    counters: Counters,
}

impl App {
    fn new(config: &Config, store: Store) -> App {
        App {
            keys: config.api_keys.iter().cloned().collect(),
            restricted: config.restricted_keys.iter().cloned().collect(),
            store: Mutex::new(store),
            throttle: Throttle::new(config.rate_limit, config.window, &config.api_keys),
            faults: Faults::new(
                config.seed,
                config.latency,
                config.fail_rate,
                config.drop_rate,
            ),
            rate_headers: config.rate_headers,
            log_requests: config.log_requests,
            timestamp_resolution: config.timestamp_resolution,
            email_rule: config.email_rule,
            counters: Counters {
                requests: AtomicU64::new(0),
                by_status: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
                by_endpoint: Mutex::new(BTreeMap::new()),
                throttled: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            },
        }
    }

    /// A handler panicking mid-update cannot leave the store half-written (every method checks
    /// before it writes), so a poisoned lock is safe to keep using.
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stats(&self) -> Stats {
        let (contacts_total, tags_total, custom_fields_total, custom_values_total, sequences) = {
            let store = self.store();
            let account = store.account();
            (
                store.contacts_total(),
                account.tags.len() as u64,
                account.custom_fields.len() as u64,
                store.custom_values_total(),
                account.sequences.len() as u64,
            )
        };
        let c = &self.counters;
        let (peak, peak_window) = self.throttle.peak();
        Stats {
            requests_total: c.requests.load(Ordering::Relaxed),
            responses_by_status: (0u16..)
                .zip(c.by_status.iter())
                .map(|(status, n)| (status, n.load(Ordering::Relaxed)))
                .filter(|&(_, n)| n > 0)
                .collect(),
            contacts_total,
            tags_total,
            throttled_total: c.throttled.load(Ordering::Relaxed),
            dropped_total: c.dropped.load(Ordering::Relaxed),
            peak_requests_per_window: peak,
            peak_window_ms: peak_window.as_millis() as u64,
            requests_by_endpoint: c
                .by_endpoint
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            custom_fields_total,
            custom_values_total,
            sequences_total: sequences,
        }
    }
}

/// Starts a sandbox and returns once its socket is bound.
pub fn spawn(config: Config) -> io::Result<SandboxHandle> {
    if config.api_keys.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the sandbox needs at least one API key",
        ));
    }
    let account = match config
        .state_file
        .as_deref()
        .map(seed::load_state)
        .transpose()?
        .flatten()
    {
        Some(saved) => saved,
        None => seed::seed_account(
            config.seed,
            config.seed_contacts,
            config.seed_tags,
            config.seed_sequences,
            chrono::Utc::now(),
        ),
    };
    let mut store = Store::new(account, config.contact_cap);
    if store.account().custom_fields.is_empty() {
        for (name, values) in &config.seed_custom_fields {
            store.add_custom_field(name, values.as_deref());
        }
    }
    let app = Arc::new(App::new(&config, store));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("wolfeo-sandbox".into())
        .spawn({
            let app = app.clone();
            let (listen, state_file) = (config.listen, config.state_file.clone());
            move || server::run(app, listen, state_file, ready_tx, stop_rx)
        })?;
    let addr = match ready_rx.recv() {
        Ok(result) => result?,
        Err(_) => return Err(io::Error::other("sandbox thread exited before binding")),
    };
    Ok(SandboxHandle {
        addr,
        api_key: config.api_keys[0].clone(),
        app,
        stop: stop_tx,
        thread: Some(thread),
    })
}

/// A running sandbox. Dropping it shuts it down.
pub struct SandboxHandle {
    addr: SocketAddr,
    api_key: String,
    app: Arc<App>,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT/v1`. Listening on a wildcard address (`0.0.0.0`, `::`) gives
    /// the loopback address of its family instead: the wildcard is where the server listens,
    /// not an address a client connects to (ours takes plain http from loopback only).
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}/v1")
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first configured key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn stats(&self) -> Stats {
        self.app.stats()
    }

    /// Every contact, newest first, with tags and sequences.
    pub fn contacts(&self) -> Vec<api::Contact> {
        self.app.store().snapshot()
    }

    pub fn tags(&self) -> Vec<api::Tag> {
        self.app.store().all_tags()
    }

    /// Creates a contact now, as another writer would; an existing email returns its id.
    pub fn insert_contact(&self, email: &str) -> u64 {
        let mut store = self.app.store();
        if let Some(existing) = store.find(store::Ident::Email(email)) {
            return existing.id;
        }
        let fields = store::Fields {
            email: Some(email.to_string()),
            ..store::Fields::default()
        };
        match store.insert(fields, routes::now(self.app.timestamp_resolution)) {
            Ok(id) => id,
            Err(_) => unreachable!("the email was checked above under the same lock"),
        }
    }

    /// Deletes a contact, as another user of the account would (`DELETE /v1/contact` does the
    /// same over HTTP); `false` when there was none with this id.
    pub fn delete_contact(&self, id: u64) -> bool {
        self.app.store().delete(store::Ident::Id(id)).is_ok()
    }

    /// The custom-field definitions, as `GET /v1/custom-fields` lists them.
    pub fn custom_fields(&self) -> Vec<api::CustomField> {
        self.app.store().custom_fields()
    }

    /// Adds a definition, as the account's owner would in the dashboard; `values` (the
    /// comma-separated options) makes it a `select` field. Returns its id.
    pub fn add_custom_field(&self, name: &str, values: Option<&str>) -> u64 {
        self.app.store().add_custom_field(name, values)
    }

    /// While `gone`, `PUT /v1/contact-custom-field` answers the documented 404 for this field
    /// although the list still shows it: a field deleted after a client read the definitions.
    pub fn set_custom_field_gone(&self, id: u64, gone: bool) {
        self.app.store().set_field_gone(id, gone);
    }

    /// Every stored custom value: contact email -> field name -> value.
    pub fn custom_values(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.app.store().all_custom_values()
    }

    /// How many times each (contact id, field id) value was successfully set.
    pub fn custom_value_sets(&self) -> BTreeMap<(u64, u64), u32> {
        self.app.store().custom_sets()
    }

    pub fn sequences(&self) -> Vec<api::Sequence> {
        self.app.store().sequences()
    }

    /// Takes tag `tag` off contact `contact`, as another user of the account would; `false`
    /// when the contact did not hold it.
    pub fn untag_contact(&self, contact: u64, tag: u64) -> bool {
        self.app.store().untag(contact, tag)
    }

    pub fn set_fault_rates(&self, fail_rate: f64, drop_rate: f64) {
        self.app.faults.set_rates(fail_rate, drop_rate);
    }

    /// Stops accepting, closes connections, saves `--state` and joins the server thread.
    pub fn shutdown(self) {}
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
