//! `--custom-fields`: the columns that feed custom fields, compared with the contact's values.
//!
//! Opt-in, because neither way of reading the account shows custom values: each row whose
//! contact is found costs one more `GET /v1/contact?contact_id=` (the retrieve, whose
//! `custom_fields` the client reads in every known shape: `api::ContactDetail`). The columns
//! are bound exactly as import binds them ([`crate::import::custom::definitions`], then
//! [`crate::mapping::Mapping::bind_custom`]: by header name or `--map "Col=custom:Name"`), and
//! the cost is said before the first request of the rows. A value is compared as import sent
//! it (trimmed, the `'` guard undone); an empty cell asserts nothing unless `--strict`. A
//! server whose retrieve shows no custom values proves nothing: the row is `unknown`.

use super::compare::Expected;
use super::outcome::{Checked, Verdict};
use super::plan::Plan;
use crate::api::client::Client;
use crate::api::paging::call_fatal;
use crate::api::reply::Body;
use crate::api::{ContactDetail, CustomValue};
use crate::exit::Fatal;
use crate::mapping::Mapping;
use crate::mapping::values::{trim_cell, unexcel};
use crate::text::sanitize;
use crate::ui::Ui;

/// One custom value a row asserts.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub id: u64,
    pub name: String,
    /// Empty: `--strict` and an empty cell, "no value".
    pub value: String,
}

/// Binds the custom-field columns when `--custom-fields` asks for it, and says what that
/// costs; without it, says that a `custom:` mapping is not compared.
pub async fn bind(plan: &mut Plan, client: &Client, ui: &Ui) -> Result<(), Fatal> {
    if !plan.custom_fields {
        if plan.mapping.has_custom_pairs() {
            ui.info("note: custom fields are compared only with --custom-fields");
        }
        return Ok(());
    }
    if !plan.mapping.wants_custom_fields() {
        ui.info("custom fields: no column can feed one; nothing to compare");
        return Ok(());
    }
    let source = &plan.source_name;
    let Some(bound) = crate::import::custom::bind(client, &mut plan.mapping, source, ui).await?
    else {
        return Ok(());
    };
    if bound.is_empty() {
        ui.info("custom fields: no column names one of the account's custom fields");
        return Ok(());
    }
    ui.info(&format!(
        "custom fields: {bound}; comparing them costs one GET /v1/contact per row found{}",
        plan.rows_estimate
            .map_or_else(String::new, |n| format!(" (up to {n} requests)"))
    ));
    Ok(())
}

/// The custom values a row asserts (none when no column is bound).
pub fn wanted(mapping: &Mapping, cells: &[String], strict: bool) -> Vec<Wanted> {
    mapping
        .custom()
        .iter()
        .filter_map(|c| {
            let cell = cells.get(c.column).map_or("", String::as_str);
            let value = unexcel(trim_cell(cell));
            (strict || !value.is_empty()).then(|| Wanted {
                id: c.field.id,
                name: c.field.name.clone(),
                value: value.to_string(),
            })
        })
        .collect()
}

/// Reads the contact's custom values and adds each difference to `checked`.
pub async fn check(client: &Client, want: &Expected, checked: &mut Checked) -> Result<(), Fatal> {
    let Some(id) = checked.contact_id.filter(|_| !want.custom.is_empty()) else {
        return Ok(());
    };
    let reply = client.contact_detail(id).await.map_err(call_fatal)?;
    let described = reply.describe();
    let values = match reply.body {
        Body::Data(ContactDetail {
            custom_fields: Some(values),
            ..
        }) if reply.status < 300 => values,
        Body::Data(_) if reply.status < 300 => {
            unknown(checked, "GET /v1/contact shows no custom fields");
            return Ok(());
        }
        _ => {
            unknown(checked, &format!("GET /v1/contact answered {described}"));
            return Ok(());
        }
    };
    let diffs = differences(&want.custom, &values);
    if !diffs.is_empty() {
        checked.verdict = Verdict::Differs;
        let mut all: Vec<String> = Vec::new();
        all.extend((!checked.diff.is_empty()).then(|| checked.diff.clone()));
        all.extend(diffs);
        checked.diff = all.join("; ");
    }
    Ok(())
}

fn unknown(checked: &mut Checked, why: &str) {
    checked.verdict = Verdict::Unknown;
    checked.diff = match checked.diff.is_empty() {
        true => format!("custom fields not checked: {why}"),
        false => format!("{}; custom fields not checked: {why}", checked.diff),
    };
}

/// `custom:Company: "Acme" != "Globex"`, for each asserted value the contact does not hold.
pub fn differences(want: &[Wanted], held: &[CustomValue]) -> Vec<String> {
    let quote = |v: &str| match v.is_empty() {
        true => "(empty)".to_string(),
        false => format!("\"{}\"", crate::text::sanitize_quoted(v, 120)),
    };
    want.iter()
        .filter_map(|w| {
            let have = held
                .iter()
                .find(|h| match h.id {
                    Some(id) => id == w.id,
                    None => h
                        .name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&w.name)),
                })
                .and_then(|h| h.value.as_deref())
                .unwrap_or("");
            (have != w.value).then(|| {
                format!(
                    "custom:{}: {} != {}",
                    sanitize(&w.name, 60),
                    quote(&w.value),
                    quote(have)
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(id: u64, name: &str, value: &str) -> Wanted {
        Wanted {
            id,
            name: name.into(),
            value: value.into(),
        }
    }

    fn held(id: Option<u64>, name: &str, value: &str) -> CustomValue {
        CustomValue {
            id,
            name: Some(name.into()),
            value: Some(value.into()),
        }
    }

    #[test]
    fn values_compare_by_id_else_by_name() {
        let want = [wanted(1, "Company", "Acme"), wanted(2, "Plan", "Pro")];
        let same = [held(Some(1), "Company", "Acme"), held(None, "plan", "Pro")];
        assert!(differences(&want, &same).is_empty());
        let other = [held(Some(1), "Company", "Globex")];
        assert_eq!(
            differences(&want, &other),
            [
                r#"custom:Company: "Acme" != "Globex""#,
                r#"custom:Plan: "Pro" != (empty)"#
            ]
        );
        assert!(differences(&[wanted(1, "Company", "")], &[]).is_empty());
    }
}
