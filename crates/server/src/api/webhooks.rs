//! `/api/v1/webhooks`: endpoints that receive events, signed per Standard Webhooks 1.0, for
//! admins (every change audited). The signing secret is made by the server and shown once, in
//! the answer that makes or rotates it; it is never listed.
//!
//! Delivery itself is the engine's ([`nephele_engine::events::deliverer`]); here are the routes
//! that manage webhooks and read their delivery log.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use nephele_engine::events::webhooks::{self as engine_webhooks, NewWebhook, WithSecret};
use nephele_engine::store::{DeliveryRecord, DeliveryState, WebhookPatch, WebhookRecord};
use serde::{Deserialize, Deserializer, Serialize};

use super::error::ApiError;
use super::json::ApiJson;
use super::query::ApiQuery;
use crate::app::AppState;
use crate::auth::Principal;

/// A webhook, without its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    /// The event types it receives; `null` for every type.
    pub event_types: Option<Vec<String>>,
    /// The accounts whose events it receives; `null` for every account.
    pub accounts: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why it was disabled, when the server disabled it (an endpoint that answered 410).
    pub disabled_reason: Option<String>,
    /// Until when the secret replaced by the last rotation still signs next to the new one
    /// (RFC 3339), while it does.
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub links: super::views::Links,
}

fn ms_text(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

impl From<WebhookRecord> for WebhookView {
    fn from(hook: WebhookRecord) -> Self {
        let now = nephele_engine::store::now_ms();
        Self {
            links: super::views::Links { this: format!("/api/v1/webhooks/{}", hook.id) },
            previous_secret_expires_at: hook
                .old_secret
                .as_ref()
                .filter(|(_, until)| *until > now)
                .map(|(_, until)| ms_text(*until)),
            id: hook.id,
            url: hook.url,
            event_types: hook.event_types,
            accounts: hook.accounts,
            description: hook.description,
            enabled: hook.enabled,
            disabled_reason: hook.disabled_reason,
            created_at: hook.created_at,
            updated_at: hook.updated_at,
        }
    }
}

/// A webhook with its signing secret: the only time the secret is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_<base64>`: give it to the receiver's Standard Webhooks verifier. Not shown again.
    pub secret: String,
}

impl From<WithSecret> for WebhookWithSecret {
    fn from(made: WithSecret) -> Self {
        Self { webhook: made.webhook.into(), secret: made.secret }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// An event type: `nephele.<kind>.<change>`, each word 1-64 lowercase letters, digits or `_`
/// (the README lists those the server emits).
#[derive(utoipa::ToSchema)]
#[schema(pattern = "^nephele\\.[a-z0-9_]{1,64}\\.[a-z0-9_]{1,64}$")]
#[allow(dead_code)]
pub struct EventTypeName(String);

/// An account's name, 1-64 characters (it must be a configured account).
#[derive(utoipa::ToSchema)]
#[schema(min_length = 1, max_length = 64)]
#[allow(dead_code)]
pub struct AccountName(String);

/// What a new webhook is.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookBody {
    /// An absolute `https://...` URL of at most 2048 bytes, without a user name or password
    /// (plain `http` only with `webhooks.allow_http`); its host must resolve to public addresses
    /// only (unless `webhooks.allow_private_networks`).
    #[schema(format = "uri", min_length = 1, max_length = 2048)]
    url: String,
    /// 1-64 event types to receive (`nephele.instance.deleted`, ...); leave out for every type.
    #[schema(inline, value_type = Option<Vec<EventTypeName>>, min_items = 1, max_items = 64)]
    event_types: Option<Vec<String>>,
    /// 1-64 configured accounts whose events to receive (`nephele` for the server's own);
    /// leave out for every account.
    #[schema(inline, value_type = Option<Vec<AccountName>>, min_items = 1, max_items = 64)]
    accounts: Option<Vec<String>>,
    /// At most 256 characters.
    #[schema(max_length = 256)]
    description: Option<String>,
    /// Default true.
    enabled: Option<bool>,
}

/// `null` and absent told apart: absent leaves a field as it is, `null` clears it.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A change to a webhook: it must change something (at least one field); fields left out stay
/// as they are; `null` clears a list (every type, every account) or the description. The same
/// rules as on creation hold for each field.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateWebhookBody {
    /// As on creation: an absolute URL of at most 2048 bytes, checked again.
    #[schema(format = "uri", min_length = 1, max_length = 2048, nullable = false)]
    url: Option<String>,
    /// 1-64 event types, or `null` for every type.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(inline, value_type = Option<Vec<EventTypeName>>, min_items = 1, max_items = 64)]
    event_types: Option<Option<Vec<String>>>,
    /// 1-64 configured accounts, or `null` for every account.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(inline, value_type = Option<Vec<AccountName>>, min_items = 1, max_items = 64)]
    accounts: Option<Option<Vec<String>>>,
    /// At most 256 characters, or `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 256)]
    description: Option<Option<String>>,
    /// Enabling a webhook the server disabled clears `disabled_reason`; its pending deliveries
    /// resume.
    #[schema(nullable = false)]
    enabled: Option<bool>,
}

fn no_replay(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key("idempotency-key") {
        // Replaying the answer would mean keeping the secret in the idempotency store.
        return Err(ApiError::invalid_field(
            "Idempotency-Key",
            "not accepted here: the answer holds a secret, which is never kept for a replay",
        ));
    }
    Ok(())
}

fn no_webhook(id: &str) -> ApiError {
    ApiError::not_found(format!("no webhook {id}"))
}

/// Makes a webhook; the answer holds its secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = CreateWebhookBody,
    responses((status = 201, description = "The webhook, with its secret (shown once)", body = WebhookWithSecret)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiJson(body, _): ApiJson<CreateWebhookBody>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), ApiError> {
    no_replay(&headers)?;
    let new = NewWebhook {
        url: body.url,
        event_types: body.event_types,
        accounts: body.accounts,
        description: body.description,
        enabled: body.enabled.unwrap_or(true),
    };
    let made = engine_webhooks::create(&state.engine, new).await?;
    Ok((StatusCode::CREATED, Json(made.into())))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "Webhooks, without their secrets", body = WebhookList)))]
#[tracing::instrument(skip_all)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<WebhookList>, ApiError> {
    let webhooks = state.store.list_webhooks().await?.into_iter().map(Into::into).collect();
    Ok(Json(WebhookList { webhooks }))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id")),
    responses((status = 200, description = "The webhook, without its secret", body = WebhookView)))]
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let hook = state.store.get_webhook(&id).await?.ok_or_else(|| no_webhook(&id))?;
    Ok(Json(hook.into()))
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", request_body = UpdateWebhookBody,
    params(("id" = String, Path, description = "The webhook's id")),
    responses((status = 200, description = "The webhook as changed", body = WebhookView)))]
#[tracing::instrument(skip_all)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<UpdateWebhookBody>,
) -> Result<Json<WebhookView>, ApiError> {
    if body.url.is_none()
        && body.event_types.is_none()
        && body.accounts.is_none()
        && body.description.is_none()
        && body.enabled.is_none()
    {
        return Err(ApiError::invalid_field(
            "body",
            "must change something: give url, event_types, accounts, description or enabled",
        ));
    }
    let patch = WebhookPatch {
        url: body.url,
        event_types: body.event_types,
        accounts: body.accounts,
        description: body.description,
        enabled: body.enabled,
    };
    let hook = engine_webhooks::update(&state.engine, &id, patch).await?.ok_or_else(|| no_webhook(&id))?;
    Ok(Json(hook.into()))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id")),
    responses((status = 204, description = "Deleted; its pending deliveries are failed")))]
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_webhook(&id).await? { Ok(StatusCode::NO_CONTENT) } else { Err(no_webhook(&id)) }
}

/// Makes a new secret, shown this once; the old one keeps signing next to it for
/// `webhooks.rotation_overlap_hours` (24), so receivers can switch over without losing a delivery.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id")),
    responses((status = 200, description = "The webhook, with its new secret (shown once)", body = WebhookWithSecret)))]
#[tracing::instrument(skip_all)]
pub async fn rotate_secret(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    no_replay(&headers)?;
    let rotated = engine_webhooks::rotate_secret(&state.engine, &id).await?.ok_or_else(|| no_webhook(&id))?;
    Ok(Json(rotated.into()))
}

/// The test event sent.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TestSent {
    /// The `nephele.webhook.test` event's id; its delivery is in the delivery log.
    pub event_id: String,
}

/// Sends a `nephele.webhook.test` event to this webhook only (if it is enabled).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id")),
    responses((status = 202, description = "The test event was written; its delivery follows", body = TestSent)))]
#[tracing::instrument(skip_all)]
pub async fn test(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TestSent>), ApiError> {
    let event_id = engine_webhooks::send_test(&state.engine, &id).await?.ok_or_else(|| no_webhook(&id))?;
    Ok((StatusCode::ACCEPTED, Json(TestSent { event_id })))
}

/// One event's delivery to the webhook, with its last attempt.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    /// Also the `webhook-id` header of every attempt.
    pub event_id: String,
    pub event_type: String,
    /// `pending` (to be tried, or tried again), `delivered`, or `failed` (given up).
    pub state: String,
    pub attempts: i64,
    pub created_at: String,
    /// When it is tried next, while pending.
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// The endpoint's status on the last attempt, when it answered.
    pub last_status: Option<i64>,
    /// `delivered`, `gone`, `retry_after`, `failed`, `refused`, or `unsigned` (the stored
    /// signing secret did not open; nothing was sent).
    pub last_outcome: Option<String>,
    /// Why the last attempt did not deliver.
    pub last_error: Option<String>,
    /// The first 4 KiB of the endpoint's answer, control characters escaped.
    pub last_response: Option<String>,
    pub last_response_truncated: bool,
    pub finished_at: Option<String>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(d: DeliveryRecord) -> Self {
        let pending = d.state == DeliveryState::Pending;
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            state: d.state.as_str().to_owned(),
            attempts: d.attempts,
            created_at: ms_text(d.created_ms),
            next_attempt_at: pending.then(|| ms_text(d.next_attempt_ms)),
            last_attempt_at: d.last_attempt_ms.map(ms_text),
            last_status: d.last_status,
            last_outcome: d.last_outcome,
            last_error: d.last_error,
            last_response: d.last_response,
            last_response_truncated: d.last_response_truncated,
            finished_at: d.finished_ms.map(ms_text),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Deserialize, Clone, Copy, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStateName {
    Pending,
    Delivered,
    Failed,
}

/// `?state=&limit=` on the delivery log.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this state.
    state: Option<DeliveryStateName>,
    /// At most this many (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// The webhook's deliveries, newest event first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id"), DeliveryQuery),
    responses((status = 200, description = "The delivery log, newest event first", body = DeliveryList)))]
#[tracing::instrument(skip_all)]
pub async fn deliveries(
    State(state): State<Arc<AppState>>,
    Extension(_principal): Extension<Principal>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be a number from 1 to 1000"));
    }
    if state.store.get_webhook(&id).await?.is_none() {
        return Err(no_webhook(&id));
    }
    let wanted = query.state.map(|s| match s {
        DeliveryStateName::Pending => DeliveryState::Pending,
        DeliveryStateName::Delivered => DeliveryState::Delivered,
        DeliveryStateName::Failed => DeliveryState::Failed,
    });
    let deliveries = state.store.list_deliveries(&id, wanted, limit).await?;
    Ok(Json(DeliveryList { deliveries: deliveries.into_iter().map(Into::into).collect() }))
}

/// Tries a delivery again at once (a failed one too).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(("id" = String, Path, description = "The webhook's id"),
        ("delivery_id" = String, Path, description = "The delivery's id")),
    responses((status = 202, description = "The delivery is due again", body = DeliveryView)))]
#[tracing::instrument(skip_all)]
pub async fn retry(
    State(state): State<Arc<AppState>>,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    if !state.store.retry_delivery(&id, &delivery_id).await? {
        return Err(ApiError::not_found(format!("no delivery {delivery_id} of webhook {id}")));
    }
    let delivery = state
        .store
        .get_delivery(&delivery_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no delivery {delivery_id}")))?;
    Ok((StatusCode::ACCEPTED, Json(delivery.into())))
}
