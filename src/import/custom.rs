//! Binds the columns that feed custom fields, once the session is up and before any row is
//! read: one `GET /v1/custom-fields` (only when a column could feed one), then
//! [`crate::mapping::Mapping::bind_custom`].
//!
//! Invariants: an unknown or ambiguous custom field named by `--map` is a usage error (exit 2)
//! listing the account's fields, raised before any contact is sent; a resume must bind the
//! same columns to the same field names as the run it continues (ids may differ: a field
//! deleted and created again under its name still matches), else it is refused; an API
//! without the endpoint (404) only matters when `--map` asked for a custom field. Called by
//! [`super::run`] between the session and the pipeline.

use super::setup::Plan;
use crate::api::client::Client;
use crate::api::paging::call_fatal;
use crate::api::reply::Body;
use crate::api::{CustomField, Details};
use crate::exit::Fatal;
use crate::ui::Ui;

/// Fetches the definitions when the mapping may use them, binds, and says what it bound.
pub async fn prepare(client: Option<&Client>, plan: &mut Plan, ui: &Ui) -> Result<(), Fatal> {
    if !plan.mapping.wants_custom_fields() {
        return Ok(());
    }
    let Some(client) = client else {
        if plan.mapping.has_custom_pairs() {
            ui.info(
                "custom fields: not checked in a dry run (it sends no request); their values \
                 are not validated",
            );
        } else {
            // "not sent: Company" below would otherwise read as final.
            ui.info(
                "custom fields: not looked up in a dry run (a real run sends a column named \
                 like one)",
            );
        }
        return Ok(());
    };
    let Some(bound) = bind(client, &mut plan.mapping, &plan.source_name, ui).await? else {
        return Ok(());
    };
    plan.header.custom_fields = (!bound.is_empty()).then(|| bound.clone());
    if let Some(previous) = &plan.run_state.previous {
        let then = previous.header.custom_fields.as_deref().unwrap_or("none");
        let now = plan.header.custom_fields.as_deref().unwrap_or("none");
        if then != now {
            return Err(Fatal::usage(format!(
                "cannot resume {}: the custom fields differ from the first run's ({then} then, \
                 {now} now); a field was renamed or the mapping changed: pass --restart to \
                 start over",
                plan.outputs.results.display()
            )));
        }
    }
    Ok(())
}

/// `"Company Name" -> Company (#1), "Plan" -> Plan (#2, select)`: the opening line and the
/// summary.
pub fn in_use(plan: &Plan) -> String {
    plan.mapping
        .custom()
        .iter()
        .map(|c| {
            let kind = if c.field.is_select() { ", select" } else { "" };
            format!(
                "\"{}\" -> {} (#{}{kind})",
                crate::text::sanitize(&plan.headers[c.column], 60),
                crate::text::sanitize(&c.field.name, 60),
                c.field.id
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fetches the account's definitions and binds `mapping`'s custom-field columns to them (a
/// `--map` naming an unknown field is a usage error naming `source`); returns what is bound,
/// described, or `None` when the API has no definitions endpoint. Import and verify bind the
/// same way through this.
pub(crate) async fn bind(
    client: &Client,
    mapping: &mut crate::mapping::Mapping,
    source: &str,
    ui: &Ui,
) -> Result<Option<String>, Fatal> {
    let Some(defs) = definitions(client, mapping.has_custom_pairs(), ui).await? else {
        return Ok(None);
    };
    mapping
        .bind_custom(&defs)
        .map_err(|e| Fatal::usage(format!("{source}: {e}")))?;
    Ok(Some(mapping.describe_custom()))
}

/// `GET /v1/custom-fields`. `None` when the API has no such endpoint (404) and nothing asked
/// for a custom field by name: the unmapped columns then stay unmapped, as before.
async fn definitions(
    client: &Client,
    required: bool,
    ui: &Ui,
) -> Result<Option<Vec<CustomField>>, Fatal> {
    let reply = client.custom_fields().await.map_err(call_fatal)?;
    let status = reply.status;
    match reply.body {
        Body::Data(defs) if reply_ok(status) => Ok(Some(defs)),
        _ if status == 404 && !required => {
            ui.warn(
                "GET /v1/custom-fields answered 404: columns that are not contact fields are \
                 not sent",
            );
            Ok(None)
        }
        Body::Error(e) => Err(Fatal::usage(format!(
            "GET /v1/custom-fields answered {status}: {} {}{}",
            e.code,
            e.message,
            e.details.as_ref().map_or_else(String::new, details_text)
        ))),
        Body::Data(_) => Err(Fatal::usage(format!(
            "GET /v1/custom-fields answered {status}"
        ))),
        Body::Unreadable(why) => Err(Fatal::unavailable(format!(
            "GET /v1/custom-fields answered {status} with {why}"
        ))),
    }
}

fn reply_ok(status: u16) -> bool {
    (200..300).contains(&status)
}

fn details_text(details: &Details) -> String {
    details
        .iter()
        .map(|(k, v)| format!(" ({k}: {})", v.join(" ")))
        .collect()
}
