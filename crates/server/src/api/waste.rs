//! `GET /api/v1/costs/waste`: what costs money and serves nothing (unattached volumes,
//! unassigned reserved IPs, snapshots whose source is gone, stopped instances still billed),
//! from the inventory, with each item's account, age and monthly cost, and the totals.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use nephele_engine::waste::{self, WasteFilter, WasteKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::{ApiError, ProviderFailure};
use super::query::ApiQuery;
use crate::app::AppState;
use crate::auth::Principal;

/// What is wasted (the document's name for it).
#[derive(Serialize, Deserialize, utoipa::ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum WasteKindName {
    Volume,
    Snapshot,
    ReservedIp,
    Instance,
}

impl From<WasteKindName> for WasteKind {
    fn from(name: WasteKindName) -> Self {
        match name {
            WasteKindName::Volume => Self::Volume,
            WasteKindName::Snapshot => Self::Snapshot,
            WasteKindName::ReservedIp => Self::ReservedIp,
            WasteKindName::Instance => Self::Instance,
        }
    }
}

/// `?account=&kind=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WasteQuery {
    /// Only this account (provider name).
    account: Option<String>,
    /// Only this kind.
    kind: Option<WasteKindName>,
}

/// One thing that costs money and serves nothing.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WasteItemView {
    pub account: String,
    /// `volume`, `snapshot`, `reserved_ip` or `instance`.
    pub kind: String,
    pub id: String,
    pub name: String,
    pub region: Option<String>,
    /// Why it counts as waste.
    pub reason: String,
    pub created_at: Option<String>,
    /// Whole days since it was created, when the cloud says when.
    pub age_days: Option<i64>,
    /// What it costs a month as it stands, to the cent (a decimal string).
    pub monthly_cost: String,
    pub currency: String,
    /// Where to find it.
    pub link: String,
}

/// A total, in one currency.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WasteTotal {
    pub currency: String,
    pub monthly_cost: String,
}

/// The waste report.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WasteReportView {
    pub as_of: Option<String>,
    /// Most expensive first.
    pub items: Vec<WasteItemView>,
    /// What the items cost a month together, per currency.
    pub totals: Vec<WasteTotal>,
    /// Accounts that could not be read (their last good copy is used when there is one).
    pub errors: Vec<ProviderFailure>,
    pub assumptions: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/costs/waste", tag = "costs", params(WasteQuery),
    responses((status = 200, description = "What costs money and serves nothing", body = WasteReportView)))]
#[tracing::instrument(skip_all)]
pub async fn report(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<WasteQuery>,
) -> Result<Json<WasteReportView>, ApiError> {
    if let Some(account) = &query.account
        && state.providers.get(account).is_none()
    {
        return Err(ApiError::unknown_provider(account, &state.providers.names()));
    }
    let now = OffsetDateTime::now_utc();
    let filter = WasteFilter { account: query.account, kind: query.kind.map(WasteKind::from) };
    let report = waste::report(&state.engine, |name| principal.may_use(name), &filter, now).await;
    let rfc3339 = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).ok();
    Ok(Json(WasteReportView {
        as_of: rfc3339(now),
        items: report
            .items
            .into_iter()
            .map(|item| WasteItemView {
                link: match item.kind {
                    WasteKind::Instance => {
                        format!("/api/v1/providers/{}/instances/{}", item.account, item.id)
                    }
                    WasteKind::Volume => format!("/api/v1/providers/{}/volumes/{}", item.account, item.id),
                    WasteKind::Snapshot => {
                        format!("/api/v1/providers/{}/snapshots/{}", item.account, item.id)
                    }
                    WasteKind::ReservedIp => {
                        format!("/api/v1/providers/{}/reserved-ips/{}", item.account, item.id)
                    }
                },
                kind: item.kind.as_str().to_owned(),
                created_at: item.created_at.and_then(rfc3339),
                age_days: item.age_secs.map(|s| s / 86_400),
                monthly_cost: item.monthly.to_string(),
                account: item.account,
                id: item.id,
                name: item.name,
                region: item.region,
                reason: item.reason,
                currency: item.currency,
            })
            .collect(),
        totals: report
            .totals
            .iter()
            .map(|(currency, total)| WasteTotal {
                currency: currency.clone(),
                monthly_cost: nephele_core::cost::to_cents(*total).to_string(),
            })
            .collect(),
        errors: report.issues.iter().map(ProviderFailure::from).collect(),
        assumptions: report.assumptions,
    }))
}
