//! `/v2/customers/my/...`: the balance, the billing history, invoices (list, items, summary),
//! and the invoice preview (`preview` in place of an invoice uuid).
//!
//! Every figure is worked out from the account's own resources as of the clock's "now" (see
//! [`crate::billing`]), read once per request under the account's lock so that a balance and
//! the items behind it agree. Invoices exist for every closed month since the account was
//! opened; the preview is this month's, always up to date (DigitalOcean regenerates its preview
//! daily).

use axum::Json;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant};
use crate::billing::{self, Month};
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::wire::{BalanceJson, InvoiceListJson};

pub async fn balance(Tenant(account): Tenant) -> Json<BalanceJson> {
    let world = account.world();
    let now = world.clock.now();
    let usage = billing::month_total(&world, Month::containing(now), now);
    Json(render::balance(account.balance, usage, now))
}

/// Every closed month's invoice and its payment, oldest first, paged like every list.
pub async fn history(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let world = account.world();
    let now = world.clock.now();
    let mut months = billing::closed_months(&world, now);
    months.reverse();
    let totals = match months.first() {
        Some(first) => billing::month_totals(&world, *first, months.len(), now),
        None => Vec::new(),
    };
    drop(world);
    let entries = render::history(&account.uuid, &months.into_iter().zip(totals).collect::<Vec<_>>());
    let total = entries.len();
    let items = page.take(entries.into_iter(), total).collect::<Vec<_>>();
    let path = "/v2/customers/my/billing_history";
    Ok(Json(list_body("billing_history", items, page, total, &base, path, &query)).into_response())
}

/// The closed months' invoices, newest first, and this month's preview.
pub async fn invoices(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let world = account.world();
    let now = world.clock.now();
    let months = billing::closed_months(&world, now);
    let total = months.len();
    let shown: Vec<Month> = page.take(months.into_iter(), total).collect();
    // Newest first: the page's oldest month is its last.
    let totals = match shown.last() {
        Some(oldest) => {
            let mut totals = billing::month_totals(&world, *oldest, shown.len(), now);
            totals.reverse();
            totals
        }
        None => Vec::new(),
    };
    let current = Month::containing(now);
    let preview_total = billing::month_total(&world, current, now);
    drop(world);
    let invoices = shown
        .into_iter()
        .zip(totals)
        .map(|(month, amount)| render::invoice(&account.uuid, month, amount, None))
        .collect();
    let body = InvoiceListJson {
        invoices,
        invoice_preview: render::invoice(&account.uuid, current, preview_total, Some(now)),
        links: page.links(total, &base, "/v2/customers/my/invoices", &query),
        meta: json!({ "total": total }),
    };
    Ok(Json(body).into_response())
}

/// An invoice's items (`preview`: this month's so far), oldest first, paged.
pub async fn invoice(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let world = account.world();
    let now = world.clock.now();
    let month =
        billing::month_of_invoice(&world, &account.uuid, &uuid, now).ok_or_else(DoError::not_found)?;
    let items = billing::month_items(&world, month, now);
    drop(world);
    let total = items.len();
    let shown = page.take(items.iter(), total).map(render::invoice_item).collect::<Vec<_>>();
    let path = format!("/v2/customers/my/invoices/{uuid}");
    Ok(Json(list_body("invoice_items", shown, page, total, &base, &path, &query)).into_response())
}

pub async fn summary(Tenant(account): Tenant, Path(uuid): Path<String>) -> Result<Response, DoError> {
    let world = account.world();
    let now = world.clock.now();
    let month =
        billing::month_of_invoice(&world, &account.uuid, &uuid, now).ok_or_else(DoError::not_found)?;
    let items = billing::month_items(&world, month, now);
    drop(world);
    Ok(Json(render::summary(&account.name, &account.uuid, month, &items)).into_response())
}
