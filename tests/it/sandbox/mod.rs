//! The sandbox over real HTTP: every documented example of the endpoints it serves, every error
//! code of the errors page, the throttle in real time with small windows, faults, stats, state.
//! Each test starts its own sandbox on port 0; nothing is shared between tests.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wolfeo_bulk::api::{self, Contact, Success};
use wolfeo_bulk::sandbox::{Config, RateLimit, SandboxHandle, Stats, WindowKind, spawn};

const UNAUTHORIZED: &str =
    r#"{"success":false,"error":{"code":"UNAUTHORIZED","message":"Invalid or missing API key"}}"#;
const TOO_MANY: &str = r#"{"message":"Too Many Attempts."}"#;

struct Sandbox {
    handle: SandboxHandle,
    http: reqwest::Client,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

fn start(config: Config) -> Sandbox {
    Sandbox {
        handle: spawn(config).expect("sandbox starts"),
        http: reqwest::Client::new(),
    }
}

fn unlimited() -> Config {
    Config {
        rate_limit: None,
        ..Config::default()
    }
}

impl Sandbox {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.addr())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.expect("response");
        Reply {
            status: resp.status(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.handle.api_key())
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::POST, path).json(&body))
            .await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::PUT, path).json(&body)).await
    }

    async fn create(&self, email: &str) -> u64 {
        let r = self.post("/v1/contact", json!({ "email": email })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["data"]["id"].as_u64().unwrap()
    }
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    let v = r.json();
    assert_eq!(v["success"], json!(false), "{}", r.text);
    assert_eq!(v["error"]["code"], json!(code), "{}", r.text);
    assert!(v["error"]["message"].is_string(), "{}", r.text);
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

mod errors;
mod examples;
mod runtime;
mod throttle;
