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
//!
//! Secrets at rest are sealed as accounts' credentials are ([`crate::secrets`]: AES-256-GCM under
//! a data key of their own, wrapped by the master key, bound to the webhook's id, the purpose and
//! the secret's version). A server without a master key refuses to make or rotate a webhook
//! (`master_key_missing`, saying how to set one): it would have to keep the secret in plain.
//! Rows written in plain before sealing existed keep delivering; a server with a master key
//! seals them when it starts ([`seal_plain_secrets`]), and a master-key rotation re-wraps their
//! data keys ([`rotate_master_key`]).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use nephele_core::ErrorCode;
use nephele_webhooks::{GuardError, RetrySchedule, Sender, SenderConfig, SigningSecret, TargetPolicy, Url};

use super::{EventType, NewEvent, SERVER_SOURCE};
use crate::Engine;
use crate::config::Config;
use crate::failure::Failure;
use crate::secrets::{Keyring, MasterKey, RowBinding, SecretsError};
use crate::store::{StoredSecret, WebhookPatch, WebhookRecord, WebhookSecrets, now_text};

/// The longest URL accepted.
pub const MAX_URL_BYTES: usize = 2048;
/// The most event types or accounts one webhook may list.
pub const MAX_LIST: usize = 64;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

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
    /// The master keys that seal and open signing secrets (`secrets:`), if any.
    keyring: RwLock<Option<Keyring>>,
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
            // A bad key stops the engine before this (the accounts read the same settings).
            keyring: RwLock::new(crate::secrets::keyring_from_config(&config.secrets).ok().flatten()),
        }
    }

    fn keyring(&self) -> Option<Keyring> {
        self.keyring.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// What a signing secret is sealed for: webhook `id`'s secret of `version` (the current secret
/// is of the row's `secret_version`, the one a rotation replaced of the version before).
fn binding(id: &str, version: i64) -> RowBinding<'_> {
    RowBinding { table: "webhooks", row_id: id, purpose: "signing-secret", version }
}

fn master_key_missing() -> Failure {
    Failure::new(
        ErrorCode::MasterKeyMissing,
        "this server has no master key, so it cannot keep a webhook's signing secret (it is never stored in plain); set secrets.master_key (for example `master_key: ${NEPHELE_MASTER_KEY}`, 32 random bytes in base64: `openssl rand -base64 32`) or secrets.master_key_file, and restart",
    )
}

fn sealing_failed() -> Failure {
    Failure::new(ErrorCode::InternalError, "cannot seal a signing secret")
}

/// Why a stored secret cannot sign (never its bytes).
fn open_secret(
    keyring: Option<&Keyring>,
    id: &str,
    version: i64,
    stored: &StoredSecret,
) -> Result<SigningSecret, String> {
    let text = match stored {
        StoredSecret::Plain(text) => text.clone(),
        StoredSecret::Unreadable(_) => return Err("is neither sealed nor a whsec_ secret".to_owned()),
        StoredSecret::Sealed(sealed) => {
            let keyring = keyring.ok_or_else(|| "is sealed, and this server has no master key".to_owned())?;
            let opened = keyring.open(&binding(id, version), sealed).map_err(|e| match e {
                SecretsError::UnknownKey(key_id) => {
                    format!("is sealed with master key {key_id}, which this server does not hold")
                }
                _ => {
                    "does not open (tampered, moved from another row, or sealed under another key)".to_owned()
                }
            })?;
            zeroize::Zeroizing::new(
                String::from_utf8(opened.to_vec()).map_err(|_| "does not open to text".to_owned())?,
            )
        }
    };
    SigningSecret::parse(&text).map_err(|e| e.to_string())
}

/// The keys a delivery to `webhook` is signed with: its secret, and the one a rotation replaced
/// while that still signs; or why they cannot be had (a tampered or moved row, a key this server
/// does not hold), never with a secret's bytes.
pub fn signing_keys(
    engine: &Engine,
    webhook: &WebhookRecord,
) -> Result<nephele_webhooks::SigningKeys, String> {
    let keyring = engine.webhooks.keyring();
    let current = open_secret(keyring.as_ref(), &webhook.id, webhook.secret_version, &webhook.secret)
        .map_err(|why| {
            format!("the webhook's stored signing secret {why}; nothing was sent (rotate its secret)")
        })?;
    let mut keys = nephele_webhooks::SigningKeys::new(current);
    if let Some((old, until_ms)) = &webhook.old_secret
        && *until_ms > crate::store::now_ms()
    {
        let old =
            open_secret(keyring.as_ref(), &webhook.id, webhook.secret_version - 1, old).map_err(|why| {
                format!(
                    "the webhook's stored previous signing secret {why}; nothing was sent (rotate its secret)"
                )
            })?;
        keys = keys.and_previous(old);
    }
    Ok(keys)
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
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
        return Err(Failure::invalid_field(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A new secret sealed for webhook `id` at `version`, and its `whsec_` form to show once.
fn new_secret(keyring: &Keyring, id: &str, version: i64) -> Result<(StoredSecret, String), Failure> {
    let secret = SigningSecret::generate()
        .map_err(|_| Failure::new(ErrorCode::InternalError, "cannot make a signing secret"))?;
    let whsec = secret.to_whsec();
    let sealed = keyring.seal(&binding(id, version), whsec.as_bytes()).map_err(|_| sealing_failed())?;
    Ok((StoredSecret::Sealed(sealed), whsec.to_string()))
}

/// Makes a webhook, after checking everything about it.
pub async fn create(engine: &Engine, new: NewWebhook) -> Result<WithSecret, Failure> {
    check_types(new.event_types.as_ref())?;
    check_accounts(engine, new.accounts.as_ref())?;
    check_description(new.description.as_ref())?;
    let url = check_url(engine, &new.url).await?;
    let keyring = engine.webhooks.keyring().ok_or_else(master_key_missing)?;
    let id = format!("wh_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let (stored, secret) = new_secret(&keyring, &id, 1)?;
    let now = now_text();
    let webhook = WebhookRecord {
        id,
        url: url.to_string(),
        event_types: new.event_types,
        accounts: new.accounts,
        description: new.description,
        enabled: new.enabled,
        disabled_reason: None,
        secret: stored,
        old_secret: None,
        secret_version: 1,
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
    // A webhook that does not exist is that, whatever the change.
    if engine.store.get_webhook(id).await?.is_none() {
        return Ok(None);
    }
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
    let keyring = engine.webhooks.keyring().ok_or_else(master_key_missing)?;
    let overlap = i64::try_from(engine.webhooks.rotation_overlap.as_millis()).unwrap_or(i64::MAX);
    // The new secret is sealed for the next version; a rotation at the same moment moves the
    // version on first, and this one tries again on top of it.
    for _ in 0..5 {
        let Some(webhook) = engine.store.get_webhook(id).await? else { return Ok(None) };
        let (stored, secret) = new_secret(&keyring, id, webhook.secret_version + 1)?;
        let until = crate::store::now_ms().saturating_add(overlap);
        if engine.store.rotate_webhook_secret(id, webhook.secret_version, &stored, until).await? {
            return Ok(engine.store.get_webhook(id).await?.map(|webhook| WithSecret { webhook, secret }));
        }
    }
    Err(Failure::new(
        ErrorCode::Conflict,
        "the webhook's secret is being rotated by another request; try again",
    ))
}

/// What sealing or re-wrapping the stored signing secrets did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretsPass {
    /// Rows written (sealed, or re-wrapped under the current master key).
    pub written: u64,
    /// Rows already as wanted.
    pub already: u64,
    /// Rows changed by someone else meanwhile (their change sealed them).
    pub changed_meanwhile: u64,
    /// Webhooks whose secrets do not open (left as they were; their deliveries fail, saying so).
    pub unreadable: Vec<String>,
}

/// One secret as it should be stored: plain ones sealed, sealed ones re-wrapped under the
/// keyring's current key. `Ok(None)`: already so.
fn reseal(
    keyring: &Keyring,
    id: &str,
    version: i64,
    stored: &StoredSecret,
) -> Result<Option<StoredSecret>, String> {
    match stored {
        StoredSecret::Plain(text) => {
            SigningSecret::parse(text).map_err(|e| e.to_string())?;
            let sealed = keyring.seal(&binding(id, version), text.as_bytes()).map_err(|e| e.to_string())?;
            Ok(Some(StoredSecret::Sealed(sealed)))
        }
        StoredSecret::Sealed(sealed) if sealed.key_id == keyring.current_id() => {
            keyring.open(&binding(id, version), sealed).map_err(|e| e.to_string())?;
            Ok(None)
        }
        StoredSecret::Sealed(sealed) => keyring
            .rewrap(&binding(id, version), sealed)
            .map(|after| Some(StoredSecret::Sealed(after)))
            .map_err(|e| e.to_string()),
        StoredSecret::Unreadable(_) => Err("neither sealed nor a whsec_ secret".to_owned()),
    }
}

/// Seals or re-wraps every webhook row's secrets (deleted rows' too) under `keyring`'s current
/// master key, each row only if nobody changed it meanwhile.
async fn reseal_all(engine: &Engine, keyring: &Keyring) -> Result<SecretsPass, Failure> {
    let mut pass = SecretsPass::default();
    for row in engine.store.list_webhook_secrets().await? {
        let current = reseal(keyring, &row.id, row.secret_version, &row.secret);
        let old = row
            .old_secret
            .as_ref()
            .map(|old| reseal(keyring, &row.id, row.secret_version - 1, old))
            .transpose();
        let (current, old) = match (current, old) {
            (Ok(current), Ok(old)) => (current, old.flatten()),
            (Err(why), _) | (_, Err(why)) => {
                tracing::error!(webhook_id = %row.id, reason = %why, "a webhook's signing secret does not open; left as it was");
                pass.unreadable.push(row.id.clone());
                continue;
            }
        };
        if current.is_none() && old.is_none() {
            pass.already += 1;
            continue;
        }
        let after = WebhookSecrets {
            id: row.id.clone(),
            secret_version: row.secret_version,
            secret: current.unwrap_or_else(|| row.secret.clone()),
            old_secret: old.or_else(|| row.old_secret.clone()),
        };
        if engine.store.replace_webhook_secrets(&row, &after).await? {
            pass.written += 1;
        } else {
            pass.changed_meanwhile += 1;
        }
    }
    Ok(pass)
}

/// Seals the signing secrets stored in plain (written before they were sealed at rest), when
/// this server has a master key; run at start. Without a key they stay as they are and keep
/// signing, and a warning says how many.
pub async fn seal_plain_secrets(engine: &Engine) -> Result<SecretsPass, Failure> {
    let Some(keyring) = engine.webhooks.keyring() else {
        let rows = engine.store.list_webhook_secrets().await?;
        let plain = rows
            .iter()
            .filter(|r| {
                matches!(r.secret, StoredSecret::Plain(_))
                    || matches!(r.old_secret, Some(StoredSecret::Plain(_)))
            })
            .count();
        if plain > 0 {
            tracing::warn!(
                webhooks = plain,
                "webhook signing secrets are stored in plain; set secrets.master_key and restart to seal them"
            );
        }
        return Ok(SecretsPass::default());
    };
    let pass = reseal_all(engine, &keyring).await?;
    if pass.written > 0 || !pass.unreadable.is_empty() {
        tracing::info!(
            sealed = pass.written,
            unreadable = pass.unreadable.len(),
            "webhook signing secrets sealed at rest"
        );
    }
    Ok(pass)
}

/// Re-wraps every webhook secret's data key under `new` (`nephele secrets rotate`, after the
/// accounts): from its start this server seals with `new` and opens with every key it held.
pub async fn rotate_master_key(engine: &Engine, new: MasterKey) -> Result<SecretsPass, Failure> {
    let keyring = {
        let mut held = engine.webhooks.keyring.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(before) = held.as_ref() else { return Err(master_key_missing()) };
        let keyring = before.rotated_to(new);
        *held = Some(keyring.clone());
        keyring
    };
    let pass = reseal_all(engine, &keyring).await?;
    tracing::info!(key_id = %keyring.current_id(), rewrapped = pass.written, unreadable = pass.unreadable.len(), "webhook signing secrets re-wrapped");
    Ok(pass)
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
