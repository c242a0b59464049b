//! The HTTP client: one call = pacing, attempts, retries, 429 pauses.
//!
//! Every attempt waits on the shared [`Pacer`]; the retry decisions come from [`super::retry`].
//! A call returns the final answer together with how many attempts it took and whether an
//! earlier attempt may already have reached the server (a timeout or a connection closed after
//! the request was written), which is what lets import tell "we created it" from "it existed".
//! The typed methods callers use (`create_contact`, `list_page`, ...) are in
//! [`super::endpoints`]; they decode each answer once through [`super::reply`].
//!
//! The key is sent only as a sensitive `Authorization: Bearer` header; no URL, log line or error
//! built here contains it, and every string the server sends back is redacted of it before any
//! caller sees it. The server's clock is learnt from `Date` headers as a bounded offset
//! ([`Client::clock_bounds`]), so `created_at` can be compared with our own times.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};

use super::ApiError;
use super::endpoints::Endpoint;
use super::reply::{self, Body};
use super::retry::{self, RetryPolicy, Verdict};
use super::transport::describe_transport_error;
use crate::budget::window::RateHeaders;
use crate::limiter::{Pacer, Rate};
use crate::secret::ApiKey;
use crate::shutdown::Shutdown;
use crate::text::Redactor;
use crate::ui::Ui;

/// Whether a request may be sent again after an attempt that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Reads, updates and contact creates (a duplicate create is a 409 the caller resolves).
    Freely,
    /// Creates the server does not de-duplicate (tags): after a lost answer or a 5xx the call
    /// returns [`CallError::Exhausted`] with `maybe_sent` so the caller looks it up first.
    LookUpFirst,
}

/// Validated connection settings (built by `cli` from flags and environment).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: Url,
    pub api_key: ApiKey,
    pub rate: Rate,
    pub policy: RetryPolicy,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_idle: usize,
}

/// Request counters for the summary.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    /// Answers with a 2xx status, whatever their body: the URL reaches an HTTP server that
    /// accepts the key.
    pub answered_2xx: AtomicU64,
    pub throttled: AtomicU64,
    pub retries: AtomicU64,
}

impl ClientStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The last word of the server on a call that was not refused, still undecoded.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// HTTP requests sent for this call, 429s included.
    pub attempts: u32,
    /// An earlier attempt may have been processed by the server without us seeing the answer.
    pub maybe_duplicated: bool,
}

/// Why a call produced no usable answer.
#[derive(Debug)]
pub enum CallError {
    /// 401/403: nothing else will work with this key or account. `error` is redacted.
    Refused {
        status: u16,
        error: Option<ApiError>,
    },
    /// Retries used up on 5xx or transport errors; `last` says what the last attempt got.
    Exhausted {
        status: Option<u16>,
        error: Option<ApiError>,
        last: String,
        attempts: u32,
        maybe_sent: bool,
    },
    /// Shutdown was requested before the call could finish.
    Interrupted { attempts: u32, maybe_sent: bool },
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    /// One per [`Endpoint`], parsed once: a URL parse per request was 5 % of import's CPU.
    urls: Vec<Url>,
    auth: HeaderValue,
    redactor: Redactor,
    pacer: Arc<Pacer>,
    policy: RetryPolicy,
    stats: ClientStats,
    /// Exponentially weighted mean of answered requests' latency, in microseconds.
    latency_us: AtomicU64,
    /// Bounds on the server's clock minus ours, in ms, from every `Date` header seen
    /// (`i64::MIN` / `i64::MAX` until one is).
    clock_low_ms: AtomicI64,
    clock_high_ms: AtomicI64,
    shutdown: Arc<Shutdown>,
    ui: Arc<Ui>,
}

impl Client {
    /// `pacer` is shared by every request of the run; the session builds it (and may share it
    /// beyond this client), so the client never decides the budget itself.
    pub fn new(
        config: &ClientConfig,
        pacer: Arc<Pacer>,
        shutdown: Arc<Shutdown>,
        ui: Arc<Ui>,
    ) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(!is_loopback(&config.base_url))
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.max_idle)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wolfeo-bulk/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.api_key.expose()))
            .map_err(|_| {
                anyhow::anyhow!("the API key contains characters not allowed in an HTTP header")
            })?;
        auth.set_sensitive(true);
        let base = config.base_url.as_str().trim_end_matches('/').to_string();
        let urls = endpoint_urls(&base)?;
        Ok(Client {
            http,
            base,
            urls,
            auth,
            redactor: Redactor::new(config.api_key.expose()),
            pacer,
            policy: config.policy,
            latency_us: AtomicU64::new(0),
            clock_low_ms: AtomicI64::new(i64::MIN),
            clock_high_ms: AtomicI64::new(i64::MAX),
            stats: ClientStats::default(),
            shutdown,
            ui,
        })
    }

    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Cleans server-provided text of the key; every decoded answer went through it.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The pace (with `--rate auto`, what the server's advertised limit allows).
    pub fn rate_per_second(&self) -> Option<f64> {
        self.pacer.per_second()
    }

    /// Recent request latency, for sizing the number of requests in flight.
    pub fn latency_seconds(&self) -> f64 {
        self.latency_us.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Bounds `(low, high)` on how far the server's clock is ahead of ours (negative:
    /// behind), once a response carried a `Date` header. A `Date` is the server's time rounded
    /// down to the second, taken somewhere between our sending and our receiving, so each one
    /// bounds the offset from both sides; the bounds tighten with every answer.
    pub fn clock_bounds(&self) -> Option<(chrono::Duration, chrono::Duration)> {
        let low = self.clock_low_ms.load(Ordering::Relaxed);
        let high = self.clock_high_ms.load(Ordering::Relaxed);
        if low == i64::MIN || high == i64::MAX {
            return None;
        }
        // A clock stepped between two answers can cross the bounds: keep the widest reading.
        let (low, high) = (low.min(high), low.max(high));
        Some((
            chrono::Duration::milliseconds(low),
            chrono::Duration::milliseconds(high),
        ))
    }

    fn observe_clock(
        &self,
        headers: &reqwest::header::HeaderMap,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
    ) {
        let server = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok());
        if let Some(server) = server {
            let server = server.with_timezone(&Utc);
            let low = (server - received).num_milliseconds();
            let high = (server + chrono::Duration::seconds(1) - sent).num_milliseconds();
            self.clock_low_ms.fetch_max(low, Ordering::Relaxed);
            self.clock_high_ms.fetch_min(high, Ordering::Relaxed);
        }
    }

    fn observe_latency(&self, elapsed: Duration) {
        let sample = elapsed.as_micros() as u64;
        let old = self.latency_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        };
        self.latency_us.store(new, Ordering::Relaxed);
    }

    /// Sends `body` (JSON) with `method` to `endpoint`. Callers use the typed methods of
    /// [`super::endpoints`], which decode the answer.
    pub(crate) async fn call(
        &self,
        method: Method,
        endpoint: Endpoint,
        query: &[(&str, &str)],
        body: Option<Bytes>,
        resend: Resend,
    ) -> Result<Answer, CallError> {
        let url = &self.urls[endpoint.index()];
        let path = endpoint.path();
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut maybe_sent = false;
        loop {
            // Waiting for a turn is cancelled by shutdown: a stopping run must not drain its
            // queue through the pacer just to learn that nothing more may be sent.
            let turn = tokio::select! {
                turn = self.pacer.ready() => Some(turn),
                _ = self.shutdown.wait() => None,
            };
            let Some(turn) = turn.filter(|_| !self.shutdown.is_triggered()) else {
                return Err(CallError::Interrupted {
                    attempts,
                    maybe_sent,
                });
            };
            attempts += 1;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = self.attempt(&method, url, query, body.as_ref()).await;
            let elapsed = started.elapsed();
            // Answered or failed, it reached the server by now if ever.
            self.pacer.landed(turn);
            let (status, bytes, retry_after, limits) = match outcome {
                Ok(answer) => answer,
                Err(e) => {
                    let described = describe_transport_error(&e);
                    if self.ui.verbose() > 0 {
                        self.ui.debug(&format!(
                            "{}{method} {path} -> {described} after {}ms",
                            Purpose::prefix(),
                            elapsed.as_millis()
                        ));
                    }
                    // A connect error means the request never left; anything later may have
                    // been processed by the server.
                    maybe_sent |= !e.is_connect();
                    failures += 1;
                    let look_first = resend == Resend::LookUpFirst && maybe_sent;
                    if failures > self.policy.max_retries || look_first {
                        return Err(CallError::Exhausted {
                            status: None,
                            error: None,
                            last: described,
                            attempts,
                            maybe_sent,
                        });
                    }
                    self.backoff(failures - 1).await;
                    continue;
                }
            };
            self.observe_latency(elapsed);
            if status != 429 {
                self.pacer.observe(turn, elapsed, limits);
            }
            if self.ui.verbose() > 0 {
                self.ui.debug(&format!(
                    "{}{method} {path} -> {status} in {}ms",
                    Purpose::prefix(),
                    elapsed.as_millis()
                ));
            }
            match retry::classify(status) {
                Verdict::Final => {
                    return Ok(Answer {
                        status,
                        body: bytes,
                        attempts,
                        maybe_duplicated: maybe_sent,
                    });
                }
                Verdict::Refused => {
                    return Err(CallError::Refused {
                        status,
                        error: self.error_of(status, &bytes),
                    });
                }
                Verdict::Throttled => {
                    self.throttled(retry_after);
                }
                Verdict::Retry => {
                    failures += 1;
                    // A 5xx may come after the server stored the record.
                    let look_first = resend == Resend::LookUpFirst;
                    if failures > self.policy.max_retries || look_first {
                        return Err(CallError::Exhausted {
                            status: Some(status),
                            last: format!("HTTP {status}"),
                            error: self.error_of(status, &bytes),
                            attempts,
                            maybe_sent: maybe_sent || look_first,
                        });
                    }
                    self.backoff(failures - 1).await;
                }
            }
        }
    }

    /// One HTTP exchange: the request, its status, `Retry-After` and body. The server's clock is
    /// read from the `Date` header here, between our clock before sending and after the answer.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        query: &[(&str, &str)],
        body: Option<&Bytes>,
    ) -> Result<(u16, Bytes, Option<Duration>, RateHeaders), reqwest::Error> {
        let sent_at = Utc::now();
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            self.stats.answered_2xx.fetch_add(1, Ordering::Relaxed);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        let limits = rate_headers(response.headers());
        self.observe_clock(response.headers(), sent_at, Utc::now());
        let bytes = response.bytes().await?;
        Ok((status, bytes, retry_after, limits))
    }

    /// A 429 pauses every request of the run, not only the one that met it.
    fn throttled(&self, retry_after: Option<Duration>) {
        self.stats.throttled.fetch_add(1, Ordering::Relaxed);
        let (pause, why) = self.pacer.throttled(retry_after);
        self.ui.info(&format!(
            "429 Too Many Attempts: pausing all requests for {:.1}s ({why})",
            pause.as_secs_f64(),
        ));
    }

    /// The error envelope of a body, redacted; `None` when the body is not one.
    fn error_of(&self, status: u16, bytes: &[u8]) -> Option<ApiError> {
        match reply::decode::<serde::de::IgnoredAny>(status, bytes, &self.redactor) {
            Body::Error(e) => Some(e),
            _ => None,
        }
    }

    async fn backoff(&self, retry: u32) {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        let wait = self.policy.backoff(retry);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = self.shutdown.wait() => {}
        }
    }
}

/// The server's `X-RateLimit-Limit` and `X-RateLimit-Remaining` (Laravel's throttle sends
/// both on every answer; the documented API shows none): the only place they are read.
fn rate_headers(headers: &reqwest::header::HeaderMap) -> RateHeaders {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    RateHeaders {
        limit: number("x-ratelimit-limit"),
        remaining: number("x-ratelimit-remaining"),
    }
}

/// Every endpoint's URL under `base`; a base that cannot take one is an error, so no call
/// can ever go to another endpoint's URL.
fn endpoint_urls(base: &str) -> anyhow::Result<Vec<Url>> {
    Endpoint::ALL
        .iter()
        .enumerate()
        .map(|(i, &endpoint)| {
            debug_assert_eq!(endpoint.index(), i);
            let url = Url::parse(&format!("{base}/{}", endpoint.path())).map_err(|e| {
                anyhow::anyhow!("cannot build the URL of {endpoint} from {base}: {e}")
            })?;
            if url.cannot_be_a_base() || !url.path().ends_with(endpoint.path()) {
                anyhow::bail!("cannot build the URL of {endpoint} from {base}");
            }
            Ok(url)
        })
        .collect()
}

/// What a request is for, named on its `-v` line: the import row or the page of a list.
/// Callers set it around a future with [`Purpose::scope`]; a task-local, so that no signature
/// between the pipeline and the request has to carry it. Outside a scope there is no label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Row(u64),
    Page(u64),
}

tokio::task_local! {
    static PURPOSE: Purpose;
}

impl Purpose {
    /// Runs `fut` with this purpose on every request it makes.
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        PURPOSE.scope(self, fut).await
    }

    /// "row 12: " or "page 3: ", empty outside a scope.
    fn prefix() -> String {
        PURPOSE
            .try_with(|p| match p {
                Purpose::Row(n) => format!("row {n}: "),
                Purpose::Page(n) => format!("page {n}: "),
            })
            .unwrap_or_default()
    }
}

/// Loopback hosts may use plain http (the sandbox); everything else must be https.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        let config = ClientConfig {
            base_url: Url::parse("http://127.0.0.1:9/v1").unwrap(),
            api_key: ApiKey::new("k"),
            rate: Rate::Unlimited,
            policy: RetryPolicy::default(),
            request_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            max_idle: 1,
        };
        let pacer = Arc::new(Pacer::new(config.rate));
        Client::new(&config, pacer, Shutdown::new(), Ui::new(true, 0)).unwrap()
    }

    fn date(t: DateTime<Utc>) -> reqwest::header::HeaderMap {
        let mut headers = reqwest::header::HeaderMap::new();
        let text = t.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        headers.insert(reqwest::header::DATE, text.parse().unwrap());
        headers
    }

    #[test]
    fn bounds_the_server_clock_offset_from_date_headers() {
        let client = client();
        assert_eq!(client.clock_bounds(), None);
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T10:00:00.400Z")
            .unwrap()
            .with_timezone(&Utc);
        let rtt = chrono::Duration::milliseconds(100);
        // The server is 30.2 s ahead: its Date says 10:00:30 (rounded down from 30.6).
        client.observe_clock(&date(now + chrono::Duration::seconds(30)), now, now + rtt);
        let (low, high) = client.clock_bounds().unwrap();
        assert!(low.num_milliseconds() <= 30_200 && 30_200 <= high.num_milliseconds());
        assert_eq!(low.num_milliseconds(), 29_500);
        assert_eq!(high.num_milliseconds(), 30_600);
        // A later answer narrows the bounds; a clock that went backwards cannot invert them.
        client.observe_clock(&date(now + chrono::Duration::seconds(31)), now, now + rtt);
        let (low, high) = client.clock_bounds().unwrap();
        assert!(low <= high);
    }

    #[test]
    fn every_endpoint_has_its_own_url_or_the_client_is_not_built() {
        let client = client();
        for endpoint in Endpoint::ALL {
            assert!(
                client.urls[endpoint.index()]
                    .as_str()
                    .ends_with(&format!("/v1/{}", endpoint.path()))
            );
        }
        assert!(endpoint_urls("http://127.0.0.1:9/v1").is_ok());
        assert!(endpoint_urls("mailto:someone").is_err());
    }

    #[test]
    fn only_loopback_may_skip_tls() {
        for ok in [
            "http://127.0.0.1:8080/v1",
            "http://localhost/v1",
            "http://[::1]:9/v1",
            "http://127.1.2.3/v1",
        ] {
            assert!(is_loopback(&Url::parse(ok).unwrap()), "{ok}");
        }
        for bad in [
            "http://api.wolfeo.me/v1",
            "http://10.0.0.1/v1",
            "http://localhost.evil.com/v1",
        ] {
            assert!(!is_loopback(&Url::parse(bad).unwrap()), "{bad}");
        }
    }
}
