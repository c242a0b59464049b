//! The `/v1` endpoints, the gate every one of them passes, and the stats endpoint.
//!
//! The gate (auth, throttle, injected failure, latency) is a `route_layer`, so it runs only for
//! requests that matched a route: unknown paths and wrong methods get 404 `NOT_FOUND` without
//! needing a key. Handlers parse their input, validate with the shared rules, then take the store
//! lock once for a synchronous read or write and render after releasing it.
//!
//! Sandbox choices (the docs are silent): `PUT /v1/contact` appends `tag_ids`/`sequence_ids`
//! rather than replacing them; a duplicate tag name (case-insensitive) is 409 `TAG_EXISTS`;
//! `--drop-rate` applies only to creates that succeeded; a body too large for the sandbox
//! (over 1 MiB) is 413 with a `VALIDATION_ERROR` envelope.
//!
//! `DELETE /v1/contact` is an inference (§9.5 of the API notes: the changelog names "contact
//! delete" among the endpoints taking `email` or `contact_id`; the method and path follow the
//! shared-URI pattern). The sandbox answers 200 with the deleted contact's id, 404 `NOT_FOUND`
//! when there is no such contact, 422 when neither identifier is given.

mod custom;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderName};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde_json::Value;

use super::params::{self, Params};
use super::store::{Fields, Refusal};
use super::throttle::{self, Decision};
use super::{App, server};
use crate::api::{self, ApiError, CreatedId, Details, Success, ThrottleBody, codes, messages};
use crate::validate::{self, Mode, Rejection};

pub const STATS_PATH: &str = "/_sandbox/stats";
const BODY_LIMIT: usize = 1 << 20;

pub fn router(app: Arc<App>) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/contact",
            get(get_contact)
                .post(create_contact)
                .put(update_contact)
                .delete(delete_contact),
        )
        .route("/v1/contacts", get(list_contacts))
        .route("/v1/tags", get(list_tags))
        .route("/v1/tag", post(create_tag))
        .route("/v1/contacts-tags", get(contact_tags))
        .route("/v1/tags-contacts", get(tag_contacts))
        .route("/v1/sequences", get(list_sequences))
        .route("/v1/sequence", post(custom::create_sequence))
        .route("/v1/custom-fields", get(custom::list_custom_fields))
        .route("/v1/contact-custom-field", put(custom::set_custom_field))
        .route_layer(middleware::from_fn_with_state(app.clone(), gate));
    let log = app.log_requests;
    let router = Router::new()
        .merge(v1)
        .route(STATS_PATH, get(stats))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(app);
    if log {
        router.layer(middleware::from_fn(log_request))
    } else {
        router
    }
}

/// `-v`: one line per request. The path only: a query string may carry an `api_key`.
async fn log_request(req: Request, next: middleware::Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    eprintln!(
        "{method} {} -> {} in {}ms",
        crate::csv_in::sanitize_for_message(&path, 200),
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    response
}

/// `created_at` of new records: now, to the microsecond the wire format shows, or rounded
/// down to `--timestamp-resolution` (1s: `...T09:00:00.000000Z` like the documented samples).
pub fn now(resolution: std::time::Duration) -> DateTime<Utc> {
    let t = Utc::now().trunc_subsecs(6);
    match chrono::Duration::from_std(resolution) {
        Ok(step) if step > chrono::Duration::microseconds(1) => {
            chrono::DurationRound::duration_trunc(t, step).unwrap_or(t)
        }
        _ => t,
    }
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn error(status: StatusCode, e: ApiError) -> Response {
    json(status, &e.into_envelope())
}

fn fail(status: StatusCode, code: &str, message: &str) -> Response {
    error(status, ApiError::new(code, message))
}

fn invalid(details: Details) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        ApiError::validation(details),
    )
}

fn ok<T: Serialize>(body: Success<T>) -> Response {
    json(StatusCode::OK, &body)
}

fn refused(r: Refusal) -> Response {
    use StatusCode as S;
    match r {
        Refusal::ContactNotFound => {
            fail(S::NOT_FOUND, codes::NOT_FOUND, messages::CONTACT_NOT_FOUND)
        }
        Refusal::TagNotFound => fail(S::NOT_FOUND, codes::NOT_FOUND, messages::TAG_NOT_FOUND),
        Refusal::SequenceNotFound => {
            fail(S::NOT_FOUND, codes::NOT_FOUND, messages::SEQUENCE_NOT_FOUND)
        }
        Refusal::Cap => fail(S::FORBIDDEN, codes::FORBIDDEN, messages::CONTACT_CAP),
        Refusal::Exists => fail(S::CONFLICT, codes::CONTACT_EXISTS, messages::CONTACT_EXISTS),
        Refusal::TagExists => fail(S::CONFLICT, codes::TAG_EXISTS, messages::TAG_EXISTS),
    }
}

async fn not_found() -> Response {
    fail(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        messages::ROUTE_NOT_FOUND,
    )
}

async fn stats(State(app): State<Arc<App>>) -> Response {
    json(StatusCode::OK, &app.stats())
}

/// `Authorization: Bearer KEY` (scheme case-insensitive) wins; else the `api_key` query param.
fn api_key<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<std::borrow::Cow<'a, str>> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .filter(|key| !key.is_empty());
    if let Some(key) = bearer {
        return Some(key.into());
    }
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "api_key")
        .map(|(_, v)| v)
}

async fn gate(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    app.counters.count_endpoint(req.method(), req.uri().path());
    let decision = match api_key(req.headers(), req.uri()) {
        Some(key) if app.restricted.contains(key.as_ref()) => Err(fail(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            messages::FORBIDDEN,
        )),
        Some(key) if app.keys.contains(key.as_ref()) => Ok(app.throttle.check(&key)),
        _ => Err(fail(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            messages::UNAUTHORIZED,
        )),
    };
    let response = match decision {
        Err(response) => response,
        Ok(Decision::Limited { limit, retry_after }) => {
            app.counters
                .throttled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            too_many_attempts(&app, limit, retry_after)
        }
        Ok(decision) => {
            let mut response = if app.faults.roll_fail() {
                fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    codes::SERVER_ERROR,
                    messages::SERVER_ERROR,
                )
            } else {
                next.run(req).await
            };
            if let Decision::Allowed { limit, remaining } = decision
                && app.rate_headers
            {
                set_rate_headers(response.headers_mut(), limit, remaining);
            }
            response
        }
    };
    if let Some(delay) = app.faults.latency() {
        tokio::time::sleep(delay).await;
    }
    response
}

fn set_rate_headers(headers: &mut HeaderMap, limit: u32, remaining: u32) {
    headers.insert(
        HeaderName::from_static("x-ratelimit-limit"),
        HeaderValue::from(limit),
    );
    headers.insert(
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderValue::from(remaining),
    );
}

/// Compact `{"message":"Too Many Attempts."}` as documented (Laravel would pretty-print it).
fn too_many_attempts(app: &App, limit: u32, retry_after: std::time::Duration) -> Response {
    let body = ThrottleBody {
        message: messages::TOO_MANY_ATTEMPTS.into(),
    };
    let mut response = json(StatusCode::TOO_MANY_REQUESTS, &body);
    if app.rate_headers {
        let secs = throttle::retry_after_secs(retry_after);
        let reset = Utc::now().timestamp().max(0) as u64 + secs;
        let headers = response.headers_mut();
        set_rate_headers(headers, limit, 0);
        headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        headers.insert(
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderValue::from(reset),
        );
    }
    response
}

/// Query string merged with the body, then trimmed and nulled like Laravel's middleware.
async fn write_input(req: Request) -> Result<Params, Response> {
    let (parts, body) = req.into_parts();
    let mut input = params::from_query(parts.uri.query());
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::VALIDATION_ERROR,
            "Request body too large",
        )
    })?;
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    params::merge_body(&mut input, content_type, &bytes).map_err(|_| {
        fail(
            StatusCode::BAD_REQUEST,
            codes::VALIDATION_ERROR,
            messages::MALFORMED_JSON,
        )
    })?;
    validate::normalize(&mut input);
    Ok(input)
}

fn read_input(uri: &Uri) -> Params {
    params::normalized_query(uri.query())
}

/// Validated contact fields; booleans through Laravel's `boolean` rule, lists parsed.
fn contact_fields(input: &Params) -> Fields {
    let text = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
    let flag = |k: &str| input.get(k).and_then(validate::laravel_boolean);
    let ids = |k: &str| {
        input
            .get(k)
            .filter(|v| !v.is_null())
            .and_then(validate::parse_id_list)
            .unwrap_or_default()
    };
    Fields {
        email: text("email"),
        first_name: text("first_name"),
        last_name: text("last_name"),
        email_marketing: flag("email_marketing"),
        gdpr: flag("gdpr"),
        tags: ids("tag_ids"),
        sequences: ids("sequence_ids"),
    }
}

fn rejected(r: Rejection) -> Response {
    let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    error(status, r.to_api_error())
}

async fn create_contact(State(app): State<Arc<App>>, req: Request) -> Response {
    let input = match write_input(req).await {
        Ok(input) => input,
        Err(response) => return response,
    };
    if let Err(r) = validate::server_check(&input, Mode::Create, app.email_rule) {
        return rejected(r);
    }
    let created = app
        .store()
        .create(contact_fields(&input), now(app.timestamp_resolution));
    match created {
        Ok(id) => {
            if app.faults.roll_drop() && server::pull_kill_switch() {
                app.counters
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // The connection task closes the socket; this response is never produced.
                return std::future::pending().await;
            }
            json(StatusCode::CREATED, &Success::new(CreatedId { id }))
        }
        Err(r) => refused(r),
    }
}

async fn update_contact(State(app): State<Arc<App>>, req: Request) -> Response {
    let input = match write_input(req).await {
        Ok(input) => input,
        Err(response) => return response,
    };
    let mut details = Details::new();
    let ident = params::ident(&input, &mut details);
    match validate::server_check(&input, Mode::Update, app.email_rule) {
        Err(Rejection::Fields(more)) => details.extend(more),
        Err(malformed) if details.is_empty() => return rejected(malformed),
        _ => {}
    }
    let Some(ident) = ident.filter(|_| details.is_empty()) else {
        return invalid(details);
    };
    let mut fields = contact_fields(&input);
    if matches!(ident, super::store::Ident::Email(_)) {
        // The email names the contact here; it is not a change.
        fields.email = None;
    }
    let updated = app.store().update(ident, fields);
    match updated {
        Ok(contact) => ok(Success::new(contact)),
        Err(r) => refused(r),
    }
}

/// Inferred route (see the module notes): `contact_id` or `email`, in the query or the body.
async fn delete_contact(State(app): State<Arc<App>>, req: Request) -> Response {
    let input = match write_input(req).await {
        Ok(input) => input,
        Err(response) => return response,
    };
    let mut details = Details::new();
    let Some(ident) = params::ident(&input, &mut details) else {
        return invalid(details);
    };
    let deleted = app.store().delete(ident);
    match deleted {
        Ok(contact) => ok(Success::new(CreatedId { id: contact.id })),
        Err(r) => refused(r),
    }
}

async fn get_contact(State(app): State<Arc<App>>, uri: Uri) -> Response {
    let input = read_input(&uri);
    let mut details = Details::new();
    let Some(ident) = params::ident(&input, &mut details) else {
        return invalid(details);
    };
    let found = app.store().detail(ident);
    match found {
        Some(contact) => ok(Success::new(contact)),
        None => refused(Refusal::ContactNotFound),
    }
}

async fn list_contacts(State(app): State<Arc<App>>, uri: Uri) -> Response {
    let input = read_input(&uri);
    let mut details = Details::new();
    let (page, per_page) = params::pagination(&input, &mut details);
    if !details.is_empty() {
        return invalid(details);
    }
    let text = |k: &str| input.get(k).and_then(Value::as_str);
    let Some(bounds) = params::period_bounds(text("period"), text("range"), Utc::now()) else {
        return fail(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PERIOD,
            messages::INVALID_PERIOD,
        );
    };
    let (data, meta) = app.store().list(bounds, page, per_page);
    ok(Success::paged(data, meta))
}

async fn list_tags(State(app): State<Arc<App>>, uri: Uri) -> Response {
    let input = read_input(&uri);
    let mut details = Details::new();
    let (page, per_page) = params::pagination(&input, &mut details);
    if !details.is_empty() {
        return invalid(details);
    }
    let (data, meta) = app.store().tags_page(page, per_page);
    ok(Success::paged(data, meta))
}

async fn create_tag(State(app): State<Arc<App>>, req: Request) -> Response {
    let input = match write_input(req).await {
        Ok(input) => input,
        Err(response) => return response,
    };
    let mut details = Details::new();
    let name = params::required_name(&input, &mut details);
    let Some(name) = name else {
        return invalid(details);
    };
    let created = app.store().create_tag(name, now(app.timestamp_resolution));
    match created {
        Ok(tag) => json(StatusCode::CREATED, &Success::new(tag)),
        Err(r) => refused(r),
    }
}

async fn contact_tags(State(app): State<Arc<App>>, uri: Uri) -> Response {
    let input = read_input(&uri);
    let mut details = Details::new();
    let Some(ident) = params::ident(&input, &mut details) else {
        return invalid(details);
    };
    let tags = app.store().contact_tags(ident);
    match tags {
        Ok(tags) => ok(Success::new(tags)),
        Err(r) => refused(r),
    }
}

async fn tag_contacts(State(app): State<Arc<App>>, uri: Uri) -> Response {
    let input = read_input(&uri);
    let mut details = Details::new();
    let tag = match input.get("tag_id").filter(|v| !v.is_null()) {
        None => {
            params::required("tag_id", &mut details);
            None
        }
        Some(v) => params::integer(v).or_else(|| {
            params::not_integer("tag_id", &mut details);
            None
        }),
    };
    let (page, per_page) = params::pagination(&input, &mut details);
    let Some(tag) = tag.filter(|_| details.is_empty()) else {
        return invalid(details);
    };
    let members = app
        .store()
        .tag_contacts(u64::try_from(tag).unwrap_or(0), page, per_page);
    match members {
        Ok((data, meta)) => ok(Success::paged(data, meta)),
        Err(r) => refused(r),
    }
}

async fn list_sequences(State(app): State<Arc<App>>) -> Response {
    let sequences: Vec<api::Sequence> = app.store().sequences();
    ok(Success::new(sequences))
}
