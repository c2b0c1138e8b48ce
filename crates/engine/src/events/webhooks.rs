//! Webhooks: endpoints that receive events. Made, changed, rotated and removed here; delivered
//! to by [`super::deliverer`].
//!
//! A webhook's URL is checked when it is made or changed: `https` only (unless
//! `webhooks.allow_http`), and the host resolved and every address checked against loopback,
//! private, link-local, metadata and other non-public ranges (unless
//! `webhooks.allow_private_networks`); the same check runs again at every connection. The
//! signing secret is made here (`whsec_` + 32 random bytes), returned once and never shown again;
//! a rotation keeps the old secret signing next to the new one for
//! `webhooks.rotation_overlap_hours` (24).

use std::sync::Arc;
use std::time::Duration;

use nephele_core::ErrorCode;
use nephele_webhooks::{GuardError, RetrySchedule, Sender, SenderConfig, SigningSecret, TargetPolicy, Url};

use super::{EventType, NewEvent, SERVER_SOURCE};
use crate::Engine;
use crate::config::Config;
use crate::failure::Failure;
use crate::store::{WebhookPatch, WebhookRecord, now_text};

/// The longest URL accepted.
pub const MAX_URL_BYTES: usize = 2048;
/// The most event types or accounts one webhook may list.
pub const MAX_LIST: usize = 64;
/// The longest description.
pub const MAX_DESCRIPTION_BYTES: usize = 256;

/// How this server delivers (from `webhooks:`).
pub struct Settings {
    pub sender: Sender,
    pub schedule: RetrySchedule,
    pub lease_ms: i64,
    pub concurrency: usize,
    /// Deliveries under way per endpoint in this server.
    pub endpoint_gate: Arc<crate::operations::fairness::KeyGate>,
    pub rotation_overlap: Duration,
    /// This process's name when it holds a delivery's lease.
    pub owner: String,
    pub metrics: super::deliverer::DeliveryMetrics,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        let webhooks = &config.webhooks;
        let sender_config = SenderConfig {
            policy: TargetPolicy {
                allow_http: webhooks.allow_http,
                allow_private_networks: webhooks.allow_private_networks,
            },
            timeout: Duration::from_secs(webhooks.timeout_secs),
            ..SenderConfig::default()
        };
        // The configuration was validated when read; should the client not build, no attempt can
        // be made, and every one fails with the reason.
        let sender = Sender::new(sender_config)
            .or_else(|_| Sender::new(SenderConfig::default()))
            .unwrap_or_else(|e| panic!("cannot build the webhook sender: {e}"));
        Self {
            sender,
            schedule: webhooks.retry_schedule().unwrap_or_default(),
            lease_ms: i64::try_from(webhooks.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            concurrency: webhooks.concurrency,
            endpoint_gate: Arc::new(crate::operations::fairness::KeyGate::new(
                webhooks.max_in_flight_per_endpoint,
            )),
            rotation_overlap: Duration::from_secs(webhooks.rotation_overlap_hours.saturating_mul(3600)),
            owner: format!("deliverer-{}", uuid::Uuid::new_v4().simple()),
            metrics: super::deliverer::DeliveryMetrics::default(),
        }
    }
}

/// A webhook to make.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub event_types: Option<Vec<String>>,
    pub accounts: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: bool,
}

/// A webhook just made or rotated, with its secret: the only time the secret is shown.
pub struct WithSecret {
    pub webhook: WebhookRecord,
    pub secret: String,
}

/// Checks a URL a user gives: its form, its scheme and every address its host resolves to.
pub async fn check_url(engine: &Engine, url: &str) -> Result<Url, Failure> {
    if url.len() > MAX_URL_BYTES {
        return Err(Failure::invalid_field("url", format!("must be at most {MAX_URL_BYTES} bytes")));
    }
    let parsed = Url::parse(url).map_err(|_| Failure::invalid_field("url", "is not an absolute URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Failure::invalid_field("url", "must not carry a user name or password"));
    }
    match engine.webhooks.sender.guard().check_url(&parsed).await {
        Ok(_) => Ok(parsed),
        Err(GuardError::Refused(refusal)) => {
            Err(Failure::invalid_field("url", format!("is refused: {refusal}")))
        }
        Err(GuardError::Lookup(lookup)) => {
            Err(Failure::invalid_field("url", format!("cannot be checked: {lookup}")))
        }
    }
}

fn check_types(types: Option<&Vec<String>>) -> Result<(), Failure> {
    let Some(types) = types else { return Ok(()) };
    if types.is_empty() || types.len() > MAX_LIST {
        return Err(Failure::invalid_field(
            "event_types",
            format!("lists 1 to {MAX_LIST} types (leave it out for every type)"),
        ));
    }
    if types.iter().any(|t| EventType::parse(t).is_none()) {
        return Err(Failure::invalid_field(
            "event_types",
            "holds a type not of the form nephele.<kind>.<change>",
        ));
    }
    Ok(())
}

fn check_accounts(engine: &Engine, accounts: Option<&Vec<String>>) -> Result<(), Failure> {
    let Some(accounts) = accounts else { return Ok(()) };
    if accounts.is_empty() || accounts.len() > MAX_LIST {
        return Err(Failure::invalid_field(
            "accounts",
            format!("lists 1 to {MAX_LIST} accounts (leave it out for every account)"),
        ));
    }
    if accounts.iter().any(|a| a != SERVER_SOURCE && engine.providers.get(a).is_none()) {
        return Err(Failure::invalid_field("accounts", "names an account that is not configured"));
    }
    Ok(())
}

fn check_description(description: Option<&String>) -> Result<(), Failure> {
    if description.is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES) {
        return Err(Failure::invalid_field(
            "description",
            format!("must be at most {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn new_secret() -> Result<String, Failure> {
    let secret = SigningSecret::generate()
        .map_err(|_| Failure::new(ErrorCode::InternalError, "cannot make a signing secret"))?;
    Ok(secret.to_whsec().to_string())
}

/// Makes a webhook, after checking everything about it.
pub async fn create(engine: &Engine, new: NewWebhook) -> Result<WithSecret, Failure> {
    check_types(new.event_types.as_ref())?;
    check_accounts(engine, new.accounts.as_ref())?;
    check_description(new.description.as_ref())?;
    let url = check_url(engine, &new.url).await?;
    let secret = new_secret()?;
    let now = now_text();
    let webhook = WebhookRecord {
        id: format!("wh_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
        url: url.to_string(),
        event_types: new.event_types,
        accounts: new.accounts,
        description: new.description,
        enabled: new.enabled,
        disabled_reason: None,
        secret: secret.clone(),
        old_secret: None,
        created_at: now.clone(),
        updated_at: now,
    };
    engine.store.insert_webhook(&webhook).await?;
    Ok(WithSecret { webhook, secret })
}

/// Changes a webhook; `None` when there is no such webhook.
pub async fn update(
    engine: &Engine,
    id: &str,
    mut patch: WebhookPatch,
) -> Result<Option<WebhookRecord>, Failure> {
    if let Some(types) = &patch.event_types {
        check_types(types.as_ref())?;
    }
    if let Some(accounts) = &patch.accounts {
        check_accounts(engine, accounts.as_ref())?;
    }
    if let Some(description) = &patch.description {
        check_description(description.as_ref())?;
    }
    if let Some(url) = &patch.url {
        patch.url = Some(check_url(engine, url).await?.to_string());
    }
    if !engine.store.update_webhook(id, &patch).await? {
        return Ok(None);
    }
    if patch.enabled == Some(true) {
        engine.store.events_written();
    }
    Ok(engine.store.get_webhook(id).await?)
}

/// Makes a new secret; the old one keeps signing for the overlap. `None`: no such webhook.
pub async fn rotate_secret(engine: &Engine, id: &str) -> Result<Option<WithSecret>, Failure> {
    let secret = new_secret()?;
    let overlap = i64::try_from(engine.webhooks.rotation_overlap.as_millis()).unwrap_or(i64::MAX);
    if !engine
        .store
        .rotate_webhook_secret(id, &secret, crate::store::now_ms().saturating_add(overlap))
        .await?
    {
        return Ok(None);
    }
    Ok(engine.store.get_webhook(id).await?.map(|webhook| WithSecret { webhook, secret }))
}

/// Sends a `nephele.webhook.test` event to webhook `id` only; the event's id, or `None` when
/// there is no such webhook.
pub async fn send_test(engine: &Engine, id: &str) -> Result<Option<String>, Failure> {
    let Some(webhook) = engine.store.get_webhook(id).await? else { return Ok(None) };
    let mut event = NewEvent::new(
        "webhook",
        "test",
        SERVER_SOURCE,
        format!("webhooks/{}", webhook.id),
        serde_json::json!({ "webhook_id": webhook.id, "message": "a test event, sent on request" }),
    );
    event.only_webhook = Some(webhook.id.clone());
    let last = engine.store.append_events(&[event]).await?;
    Ok(engine.store.get_event(last).await?.map(|e| e.id))
}
