//! A small Wolfeo v1 server that misbehaves on purpose, for the tests of issue 12.
//!
//! It speaks enough of the API to import against (create, find and update a contact, list
//! contacts and tags, create a tag) with its own clock (`--timestamp` style skew and
//! whole-second `created_at`), and answers rules instead where a test says so: an HTML 200,
//! an empty 201, a stored record whose answer is dropped (the connection closes), a body that
//! echoes the key. Unlike the sandbox it allows two tags with one name, as a real server may.
//! `{auth}` in a rule's body is replaced by the request's `Authorization` header.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

pub const KEY: &str = "sk-live-Zx81fake0key0never0printed";

#[derive(Clone, Debug)]
pub enum Action {
    /// Answer this; nothing is stored.
    Answer(u16, &'static str, String),
    /// Do what the request asks, then answer this instead.
    StoreThen(u16, &'static str, String),
    /// Do what the request asks, then close the connection without an answer.
    StoreThenDrop,
    /// Never answer (nothing is stored): a request the client can only give up on.
    Hang,
}

#[derive(Clone, Debug)]
struct Rule {
    method: &'static str,
    path: &'static str,
    /// How many more requests it applies to.
    times: usize,
    action: Action,
}

#[derive(Clone, Debug)]
pub struct StoredContact {
    pub id: u64,
    pub email: String,
    pub email_marketing: bool,
    pub gdpr: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    contacts: Vec<StoredContact>,
    tags: Vec<(u64, String)>,
    next_id: u64,
    rules: Vec<Rule>,
    hits: HashMap<String, usize>,
    /// Server clock minus real time.
    skew: Duration,
    whole_seconds: bool,
    echo_key_on_401: bool,
    /// Emails whose first create has been stored and its answer dropped.
    drop_first_create: Option<std::collections::HashSet<String>>,
}

pub struct Fake {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl Fake {
    pub fn start() -> Fake {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Mutex::new(State {
            next_id: 1,
            ..State::default()
        }));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { handle(&state, req).await }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Fake {
            addr,
            state,
            _runtime: runtime,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// The next `times` requests to `method path` get `action`.
    pub fn rule(&self, method: &'static str, path: &'static str, times: usize, action: Action) {
        self.state().rules.push(Rule {
            method,
            path,
            times,
            action,
        });
    }

    /// The server's clock runs `skew` ahead of real time (negative: behind), in its `Date`
    /// headers and its `created_at`.
    pub fn set_clock(&self, skew: Duration, whole_seconds: bool) {
        let mut s = self.state();
        s.skew = skew;
        s.whole_seconds = whole_seconds;
    }

    /// The first `POST /v1/contact` of each email is stored and its answer lost.
    pub fn drop_first_create_of_each_email(&self) {
        self.state().drop_first_create = Some(Default::default());
    }

    pub fn echo_key_on_401(&self) {
        self.state().echo_key_on_401 = true;
    }

    /// A contact created `ago` before now (server clock), as someone else would.
    pub fn insert(&self, email: &str, ago: Duration, email_marketing: bool) -> u64 {
        let mut s = self.state();
        let at = s.now() - ago;
        s.store_contact(email, email_marketing, false, at)
    }

    pub fn contacts(&self) -> Vec<StoredContact> {
        self.state().contacts.clone()
    }

    pub fn tags(&self) -> Vec<(u64, String)> {
        self.state().tags.clone()
    }

    pub fn reset_hits(&self) {
        self.state().hits.clear();
    }

    /// Requests received for `"METHOD /path"`.
    pub fn hits(&self, what: &str) -> usize {
        self.state().hits.get(what).copied().unwrap_or(0)
    }
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        let t = Utc::now() + self.skew;
        if self.whole_seconds {
            t.trunc_subsecs(0)
        } else {
            t.trunc_subsecs(6)
        }
    }

    fn store_contact(
        &mut self,
        email: &str,
        marketing: bool,
        gdpr: bool,
        at: DateTime<Utc>,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.contacts.push(StoredContact {
            id,
            email: email.to_string(),
            email_marketing: marketing,
            gdpr,
            created_at: at,
        });
        id
    }

    fn peek_rule(&self, method: &str, path: &str) -> Option<&Action> {
        let rule = self.rules.iter();
        let mut found = rule.filter(|r| r.method == method && r.path == path && r.times > 0);
        found.next().map(|r| &r.action)
    }

    fn take_rule(&mut self, method: &str, path: &str) -> Option<Action> {
        let rule = self
            .rules
            .iter_mut()
            .find(|r| r.method == method && r.path == path && r.times > 0)?;
        rule.times -= 1;
        Some(rule.action.clone())
    }
}

fn contact_json(c: &StoredContact) -> Value {
    json!({
        "id": c.id, "email": c.email, "first_name": null, "last_name": null,
        "email_marketing": c.email_marketing, "gdpr": c.gdpr,
        "created_at": c.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    })
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"success": false, "error": {"code": code, "message": message}}),
    )
}

fn page(items: Vec<Value>) -> (u16, Value) {
    let total = items.len();
    (
        200,
        json!({"success": true, "data": items,
               "meta": {"current_page": 1, "last_page": 1, "per_page": 100, "total": total}}),
    )
}

async fn handle(
    state: &Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = axum::body::to_bytes(Body::new(req.into_body()), 1 << 20)
        .await
        .unwrap_or_default();
    let input: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let hang = {
        let mut s = state.lock().unwrap();
        *s.hits.entry(format!("{method} {path}")).or_default() += 1;
        let hang = matches!(s.peek_rule(&method, &path), Some(Action::Hang));
        if hang {
            s.take_rule(&method, &path);
        }
        hang
    };
    if hang {
        return std::future::pending().await;
    }
    let mut s = state.lock().unwrap();
    let date = s.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let mut rule = s.take_rule(&method, &path);
    if method == "POST" && path == "/v1/contact" {
        let email = input.get("email").and_then(Value::as_str).unwrap_or("");
        if let Some(dropped) = s.drop_first_create.as_mut()
            && dropped.insert(email.to_lowercase())
        {
            rule = Some(Action::StoreThenDrop);
        }
    }
    if let Some(Action::Answer(status, content_type, body)) = &rule {
        return Ok(respond(
            *status,
            content_type,
            body.replace("{auth}", &auth),
            &date,
        ));
    }
    let (status, body) = if auth != format!("Bearer {KEY}") {
        let presented = auth.trim_start_matches("Bearer ");
        let message = if s.echo_key_on_401 {
            format!("Invalid API key provided: {presented}")
        } else {
            "Invalid or missing API key".to_string()
        };
        error(401, "UNAUTHORIZED", &message)
    } else {
        route(&mut s, &method, &path, &query, &input)
    };
    match rule {
        Some(Action::StoreThenDrop) => Err(std::io::Error::other("answer dropped on purpose")),
        Some(Action::StoreThen(status, content_type, body)) => Ok(respond(
            status,
            content_type,
            body.replace("{auth}", &auth),
            &date,
        )),
        _ => Ok(respond(status, "application/json", body.to_string(), &date)),
    }
}

fn route(
    s: &mut State,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    input: &Value,
) -> (u16, Value) {
    let text = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
    let flag = |k: &str| input.get(k).and_then(Value::as_bool);
    match (method, path) {
        ("GET", "/v1/contacts") => page(s.contacts.iter().rev().map(contact_json).collect()),
        ("GET", "/v1/tags") => page(
            s.tags
                .iter()
                .map(|(id, name)| json!({"id": id, "name": name, "created_at": "2021-01-01 09:00:00"}))
                .collect(),
        ),
        ("GET", "/v1/contact") => {
            let email = query.get("email").cloned().unwrap_or_default();
            match s.contacts.iter().find(|c| c.email.eq_ignore_ascii_case(&email)) {
                Some(c) => (200, json!({"success": true, "data": contact_json(c)})),
                None => error(404, "NOT_FOUND", "Contact not found"),
            }
        }
        ("POST", "/v1/contact") => {
            let Some(email) = text("email") else {
                return error(422, "VALIDATION_ERROR", "The given data was invalid");
            };
            if s.contacts.iter().any(|c| c.email.eq_ignore_ascii_case(&email)) {
                return error(409, "CONTACT_EXISTS", "A contact with this email already exists");
            }
            let at = s.now();
            let id = s.store_contact(
                &email,
                flag("email_marketing").unwrap_or(false),
                flag("gdpr").unwrap_or(false),
                at,
            );
            (201, json!({"success": true, "data": {"id": id}}))
        }
        ("PUT", "/v1/contact") => {
            let id = input.get("contact_id").and_then(Value::as_u64).unwrap_or(0);
            let Some(c) = s.contacts.iter_mut().find(|c| c.id == id) else {
                return error(404, "NOT_FOUND", "Contact not found");
            };
            if let Some(v) = flag("email_marketing") {
                c.email_marketing = v;
            }
            if let Some(v) = flag("gdpr") {
                c.gdpr = v;
            }
            (200, json!({"success": true, "data": contact_json(c)}))
        }
        ("POST", "/v1/tag") => {
            let name = text("name").unwrap_or_default();
            let id = s.next_id;
            s.next_id += 1;
            s.tags.push((id, name.clone()));
            (201, json!({"success": true, "data": {"id": id, "name": name}}))
        }
        _ => error(404, "NOT_FOUND", "The requested resource does not exist"),
    }
}

fn respond(status: u16, content_type: &str, body: String, date: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("date", date)
        .body(Body::from(body))
        .unwrap()
}
