//! Custom fields (§9.8 of the API notes, documented in full) and sequence creation (§9.7).
//!
//! `GET /v1/custom-fields` lists the definitions without `meta`. `PUT
//! /v1/contact-custom-field` takes `contact_id` or `email`, `custom_field_id` and `value`, as a
//! JSON body (or query/form, like every sandbox write), and answers 200 with
//! `{"contact_id","custom_field_id","value"}`. Sandbox choices where the docs are silent, in
//! order: a missing or malformed parameter is 422 with Laravel's messages (`value` at most 1000
//! characters); an unknown contact or field is the documented 404 `NOT_FOUND` "Contact or custom
//! field not found"; a `select` value outside `values` is 422 (`The selected value is
//! invalid.`, Laravel's `in` rule: exact and case-sensitive). `--drop-rate` also applies to
//! sets that succeeded: the value is stored and the connection closed without an answer.
//! `POST /v1/sequence {"name","type"}` answers 201 with `{"id","name","type"}` (the newer page).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::super::store::SetRefusal;
use super::super::{App, params, server};
use super::{fail, invalid, json, ok, write_input};
use crate::api::{CUSTOM_VALUE_MAX_CHARS, Details, Success, codes, messages};

pub async fn list_custom_fields(State(app): State<Arc<App>>) -> Response {
    let fields = app.store().custom_fields();
    ok(Success::new(fields))
}

pub async fn set_custom_field(State(app): State<Arc<App>>, req: Request) -> Response {
    let input = match write_input(req).await {
        Ok(input) => input,
        Err(response) => return response,
    };
    let mut details = Details::new();
    let ident = params::ident(&input, &mut details);
    let field = match input.get("custom_field_id").filter(|v| !v.is_null()) {
        None => {
            params::required("custom_field_id", &mut details);
            None
        }
        Some(v) => params::integer(v).or_else(|| {
            params::not_integer("custom_field_id", &mut details);
            None
        }),
    };
    let value = match input.get("value") {
        None | Some(Value::Null) => {
            params::required("value", &mut details);
            None
        }
        Some(Value::String(v)) if v.chars().count() > CUSTOM_VALUE_MAX_CHARS => {
            details.insert(
                "value".into(),
                vec![format!(
                    "The value must not be greater than {CUSTOM_VALUE_MAX_CHARS} characters."
                )],
            );
            None
        }
        Some(Value::String(v)) => Some(v.as_str()),
        Some(_) => {
            details.insert("value".into(), vec!["The value must be a string.".into()]);
            None
        }
    };
    let (Some(ident), Some(field), Some(value)) = (ident, field, value) else {
        return invalid(details);
    };
    let set = app
        .store()
        .set_custom_value(ident, u64::try_from(field).unwrap_or(0), value);
    match set {
        Ok(stored) => {
            if app.faults.roll_drop() && server::pull_kill_switch() {
                app.counters
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return std::future::pending().await;
            }
            ok(Success::new(stored))
        }
        Err(SetRefusal::NotFound) => fail(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            messages::CONTACT_OR_FIELD_NOT_FOUND,
        ),
        Err(SetRefusal::Invalid(message)) => {
            invalid(Details::from([("value".to_string(), vec![message])]))
        }
    }
}

pub async fn create_sequence(State(app): State<Arc<App>>, req: Request) -> Response {
    let input = match write_input(req).await {
        Ok(input) => input,
        Err(response) => return response,
    };
    let mut details = Details::new();
    let name = params::required_name(&input, &mut details);
    let kind = match input.get("type") {
        None | Some(Value::Null) => Some("normal".to_string()),
        Some(Value::String(t)) if t == "normal" || t == "inverted" => Some(t.clone()),
        Some(_) => {
            details.insert("type".into(), vec!["The selected type is invalid.".into()]);
            None
        }
    };
    let (Some(name), Some(kind)) = (name, kind) else {
        return invalid(details);
    };
    let created = app.store().create_sequence(name, kind);
    json(StatusCode::CREATED, &Success::new(created))
}
