//! The HTTP client: one call = pacing, attempts, retries, 429 pauses, decoding.
//!
//! Every attempt waits on the shared [`Pacer`]; the retry decisions come from [`super::retry`].
//! A call returns the final answer together with how many attempts it took and whether an
//! earlier attempt may already have reached the server (a timeout or a connection closed after
//! the request was written), which is what lets import tell "we created it" from "it existed".
//!
//! The key is sent only as a sensitive `Authorization: Bearer` header; no URL, log line or error
//! built here contains it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use super::retry::{self, RetryPolicy, Verdict};
use super::{ApiError, ErrorEnvelope};
use crate::limiter::{Pacer, Rate};
use crate::secret::ApiKey;
use crate::shutdown::Shutdown;
use crate::ui::Ui;

/// The paths this tool calls; their URLs are parsed once per run.
const ENDPOINTS: [&str; 6] = [
    "contact",
    "contacts",
    "tag",
    "tags",
    "tags-contacts",
    "contacts-tags",
];

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
    pub throttled: AtomicU64,
    pub retries: AtomicU64,
}

impl ClientStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The last word of the server on a call that was not refused.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// HTTP requests sent for this call, 429s included.
    pub attempts: u32,
    /// An earlier attempt may have been processed by the server without us seeing the answer.
    pub maybe_duplicated: bool,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "unexpected {} response body ({e}): {}",
                self.status,
                crate::csv_in::sanitize_for_message(&String::from_utf8_lossy(&self.body), 200)
            )
        })
    }

    /// The error envelope, if the body is one.
    pub fn error(&self) -> Option<ApiError> {
        serde_json::from_slice::<ErrorEnvelope>(&self.body)
            .ok()
            .map(|e| e.error)
    }
}

/// Why a call produced no usable answer.
#[derive(Debug)]
pub enum CallError {
    /// 401/403: nothing else will work with this key or account.
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
    /// Parsed once: a URL parse per request was 5 % of import's CPU.
    urls: std::collections::HashMap<&'static str, Url>,
    auth: HeaderValue,
    pacer: Arc<Pacer>,
    rate: Rate,
    policy: RetryPolicy,
    stats: ClientStats,
    /// Exponentially weighted mean of answered requests' latency, in microseconds.
    latency_us: AtomicU64,
    /// Server clock minus ours, in ms, from the first `Date` header (i64::MIN until known).
    clock_offset_ms: std::sync::atomic::AtomicI64,
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
        let urls = ENDPOINTS
            .iter()
            .filter_map(|&p| Url::parse(&format!("{base}/{p}")).ok().map(|u| (p, u)))
            .collect();
        Ok(Client {
            http,
            base,
            urls,
            auth,
            pacer,
            rate: config.rate,
            policy: config.policy,
            latency_us: AtomicU64::new(0),
            clock_offset_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
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

    fn url(&self, path: &str) -> Url {
        match self.urls.get(path) {
            Some(url) => url.clone(),
            None => Url::parse(&format!("{}/{}", self.base, path))
                .unwrap_or_else(|_| self.urls["contact"].clone()),
        }
    }

    pub fn rate_per_second(&self) -> Option<f64> {
        self.rate.per_second()
    }

    /// Recent request latency, for sizing the number of requests in flight.
    pub fn latency_seconds(&self) -> f64 {
        self.latency_us.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// How far the server's clock is ahead of ours (negative: behind), to one second, once a
    /// response carried a `Date` header. Timestamps the server writes (`created_at`) are
    /// compared with our own clock only through this.
    pub fn clock_offset(&self) -> Option<chrono::Duration> {
        match self.clock_offset_ms.load(Ordering::Relaxed) {
            i64::MIN => None,
            ms => Some(chrono::Duration::milliseconds(ms)),
        }
    }

    fn observe_clock(&self, headers: &reqwest::header::HeaderMap) {
        if self.clock_offset_ms.load(Ordering::Relaxed) != i64::MIN {
            return;
        }
        let server = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok());
        if let Some(server) = server {
            // `Date` has whole seconds: the half-second midpoint halves the rounding error.
            let offset = server.with_timezone(&chrono::Utc) + chrono::Duration::milliseconds(500)
                - chrono::Utc::now();
            self.clock_offset_ms
                .store(offset.num_milliseconds(), Ordering::Relaxed);
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

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Answer, CallError> {
        self.call(Method::GET, path, query, None).await
    }

    /// Sends `body` (JSON) with `method` to `path` (relative to the base URL, e.g. `contact`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Answer, CallError> {
        let url = self.url(path);
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut maybe_sent = false;
        loop {
            // Waiting for a turn is cancelled by shutdown: a stopping run must not drain its
            // queue through the pacer just to learn that nothing more may be sent.
            tokio::select! {
                _ = self.pacer.ready() => {}
                _ = self.shutdown.wait() => {}
            }
            if self.shutdown.is_triggered() {
                return Err(CallError::Interrupted {
                    attempts,
                    maybe_sent,
                });
            }
            attempts += 1;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, self.auth.clone())
                .header(ACCEPT, "application/json");
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(retry::parse_retry_after);
                    self.observe_clock(response.headers());
                    match response.bytes().await {
                        Ok(bytes) => Ok((status, bytes, retry_after)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let elapsed = started.elapsed();
            let (status, bytes, retry_after) = match outcome {
                Ok(answer) => answer,
                Err(e) => {
                    let described = describe_transport_error(&e);
                    if self.ui.verbose() > 0 {
                        self.ui.debug(&format!(
                            "{method} {path} -> {described} after {}ms",
                            elapsed.as_millis()
                        ));
                    }
                    // A connect error means the request never left; anything later may have
                    // been processed by the server.
                    maybe_sent |= !e.is_connect();
                    failures += 1;
                    if failures > self.policy.max_retries {
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
            if self.ui.verbose() > 0 {
                self.ui.debug(&format!(
                    "{method} {path} -> {status} in {}ms",
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
                    let error = serde_json::from_slice::<ErrorEnvelope>(&bytes)
                        .ok()
                        .map(|e| e.error);
                    return Err(CallError::Refused { status, error });
                }
                Verdict::Throttled => {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    let pause = retry::throttle_pause(retry_after);
                    self.pacer.pause_for(pause);
                    self.ui.info(&format!(
                        "429 Too Many Attempts: pausing all requests for {:.1}s{}",
                        pause.as_secs_f64(),
                        if retry_after.is_some() {
                            " (Retry-After)"
                        } else {
                            " (no Retry-After: the API's 60 s)"
                        }
                    ));
                }
                Verdict::Retry => {
                    failures += 1;
                    if failures > self.policy.max_retries {
                        let error = serde_json::from_slice::<ErrorEnvelope>(&bytes)
                            .ok()
                            .map(|e| e.error);
                        return Err(CallError::Exhausted {
                            status: Some(status),
                            last: format!("HTTP {status}"),
                            error,
                            attempts,
                            maybe_sent,
                        });
                    }
                    self.backoff(failures - 1).await;
                }
            }
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

/// Loopback hosts may use plain http (the sandbox); everything else must be https.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// One line about a transport failure, without the URL's query (never secret here, but long).
fn describe_transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out waiting for a response".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else if e.is_body() || e.is_decode() {
        "connection closed while reading the response".into()
    } else {
        "connection closed before a response".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_the_server_clock_offset_from_the_first_date_header() {
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
        let client = Client::new(&config, pacer, Shutdown::new(), Ui::new(true, 0)).unwrap();
        assert_eq!(client.clock_offset(), None);
        let mut headers = reqwest::header::HeaderMap::new();
        let ahead = chrono::Utc::now() + chrono::Duration::seconds(30);
        let date = ahead.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        headers.insert(reqwest::header::DATE, date.parse().unwrap());
        client.observe_clock(&headers);
        let offset = client.clock_offset().unwrap().num_milliseconds();
        assert!((29_000..=31_000).contains(&offset), "{offset}");
        // Only the first Date counts.
        headers.insert(
            reqwest::header::DATE,
            "Thu, 01 Jan 1970 00:00:00 GMT".parse().unwrap(),
        );
        client.observe_clock(&headers);
        assert_eq!(client.clock_offset().unwrap().num_milliseconds(), offset);
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
