//! Accounts added, changed and removed while the server runs, their credentials sealed at rest.
//!
//! An account is what `/api/v1/providers/{name}` names: a name, a provider type, settings and
//! credentials. The configuration file's accounts are built at start and never stored; accounts
//! added through the API are stored (see [`crate::store`]) with their credentials sealed under a
//! data key of their own, wrapped by the master key ([`crate::secrets`]), and served by every
//! replica: each reads the account revision every second ([`follow`]) and loads the accounts
//! again when it moved.
//!
//! Credentials are tried before they are stored or replace others (a ping: DigitalOcean's
//! `GET /v2/account`, a plugin's own health call); a refusal stores nothing. A stored row that
//! does not open (tampered, moved from another row, sealed with a key this server lacks) makes
//! its account `unreadable`: its provider refuses every call without sending anything, and the
//! other accounts are not affected. Plaintext credentials live only in memory, in the provider
//! built from them and, briefly, here (their sealed and opened byte buffers are zeroized; the
//! parsed JSON maps cannot be); they are never logged, answered or put in an error.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use nephele_core::{
    AccountName, ActionId, BillingPolicy, CreateInstances, ErrorCode, Image, Instance, InstanceFilter,
    InstanceId, InstanceType, OperationId, PowerAction, Provider, ProviderAction, ProviderError,
    ProviderInfo, Region, Secret,
};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::Engine;
use crate::failure::{Failure, FieldError};
use crate::providers::{Built, DefinedIn, ProviderSlot};
use crate::secrets::{Binding, Keyring, MasterKey, SecretsError, fingerprint};
use crate::store::{AccountRow, AccountWrite, StoreError, now_text};

/// How long a ping of new credentials may take.
const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// An account to add.
#[derive(Debug)]
pub struct NewAccount {
    pub name: String,
    pub provider_type: String,
    /// What is not secret (region, endpoint, ...).
    pub settings: Map<String, Value>,
    /// The credentials (`{"api_token": ...}` for DigitalOcean; a plugin's own keys otherwise).
    pub credentials: Secret<Map<String, Value>>,
}

/// A change of an account: new settings, new credentials, or both.
#[derive(Debug, Default)]
pub struct AccountChange {
    pub settings: Option<Map<String, Value>>,
    pub credentials: Option<Secret<Map<String, Value>>>,
}

/// An account as it may be shown: never its credentials, only their fingerprint.
#[derive(Debug, Clone)]
pub struct AccountInfo {
    pub name: String,
    pub provider_type: String,
    pub defined_in: DefinedIn,
    /// `unreadable` (its credentials do not open), or the provider's readiness.
    pub unreadable: Option<String>,
    pub settings: Option<Map<String, Value>>,
    pub fingerprint: Option<String>,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// The master keys and what this replica last loaded of the stored accounts.
pub struct Accounts {
    keyring: RwLock<Option<Keyring>>,
    /// Serialises changes and loads on this replica.
    applied: tokio::sync::Mutex<Applied>,
}

#[derive(Default)]
struct Applied {
    /// The account revision last loaded.
    revision: Option<u64>,
    /// Each stored account as loaded: its id and row version.
    rows: HashMap<String, (String, i64)>,
    /// Details shown in lists (fingerprint, who, when), by name.
    details: HashMap<String, AccountRow>,
}

impl Accounts {
    /// The master key from `secrets:` (with the previous one while a rotation is unfinished);
    /// none configured is no error: runtime accounts are then refused.
    pub fn from_config(config: &crate::config::SecretsConfig) -> Result<Self, SecretsError> {
        let current = match (&config.master_key, &config.master_key_file) {
            (Some(text), _) => Some(MasterKey::from_base64(text.expose())?),
            (None, Some(path)) => Some(MasterKey::from_file(path)?),
            (None, None) => None,
        };
        let keyring = match (current, &config.previous_key_file) {
            (Some(current), Some(previous)) => {
                Some(Keyring::new(current).with_older(MasterKey::from_file(previous)?))
            }
            (Some(current), None) => Some(Keyring::new(current)),
            (None, Some(_)) => {
                return Err(SecretsError::BadMasterKey(
                    "secrets.previous_key_file needs secrets.master_key or master_key_file".to_owned(),
                ));
            }
            (None, None) => None,
        };
        Ok(Self { keyring: RwLock::new(keyring), applied: tokio::sync::Mutex::new(Applied::default()) })
    }

    fn keyring(&self) -> Option<Keyring> {
        self.keyring.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn set_keyring(&self, keyring: Keyring) {
        *self.keyring.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(keyring);
    }

    /// The id of the master key that seals, if there is one.
    pub fn current_key_id(&self) -> Option<String> {
        self.keyring().map(|k| k.current_id().to_owned())
    }
}

fn master_key_missing() -> Failure {
    Failure::new(
        ErrorCode::MasterKeyMissing,
        "this server has no master key, so it cannot keep credentials added at runtime; set secrets.master_key (for example `master_key: ${NEPHELE_MASTER_KEY}`, 32 random bytes in base64: `openssl rand -base64 32`) or secrets.master_key_file, and restart. Accounts in the configuration file run without one.",
    )
}

fn store_failure(error: StoreError) -> Failure {
    error.into()
}

/// The event of a change to a stored account (`nephele.account.added|updated`), written in the
/// change's own transaction: the account as the API shows it, never its credentials, only their
/// fingerprint.
fn account_event(row: &AccountRow, change: &str) -> crate::events::NewEvent {
    let data = serde_json::json!({
        "name": row.name,
        "provider_type": row.provider_type,
        "defined_in": DefinedIn::Api.as_str(),
        "status": "ok",
        "settings": row.settings,
        "fingerprint": row.fingerprint,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    });
    crate::events::NewEvent::new("account", change, &row.name, row.name.as_str(), data)
}

/// The event of an account's removal, written in the removal's transaction.
fn removed_event(name: &str, provider_type: &str) -> crate::events::NewEvent {
    let data = serde_json::json!({ "name": name, "provider_type": provider_type });
    crate::events::NewEvent::new("account", "removed", name, name, data)
}

/// The event of an account whose stored credentials do not open (or cannot be used): its name,
/// type and the reason (the keyring's or the builder's words, never a credential's bytes).
fn unreadable_event(row: &AccountRow, reason: &str) -> crate::events::NewEvent {
    let data = serde_json::json!({
        "name": row.name,
        "provider_type": row.provider_type,
        "defined_in": DefinedIn::Api.as_str(),
        "status": "unreadable",
        "reason": reason,
        "fingerprint": row.fingerprint,
    });
    crate::events::NewEvent::new("account", "unreadable", &row.name, row.name.as_str(), data)
}

/// The credentials as the provider's settings take them, checked against the type.
fn merged(
    provider_type: &str,
    settings: &Map<String, Value>,
    credentials: &Map<String, Value>,
) -> Result<Map<String, Value>, Failure> {
    let mut errors = Vec::new();
    if credentials.is_empty() {
        errors.push(FieldError::new("credentials", "must hold the account's credentials"));
    }
    if provider_type == "digitalocean" {
        for key in credentials.keys().filter(|k| *k != "api_token") {
            errors.push(FieldError::new(
                format!("credentials.{}", shown_key(key)),
                "is not a DigitalOcean credential (only api_token is)",
            ));
        }
        if credentials.get("api_token").is_none_or(|t| t.as_str().is_none_or(|t| t.trim().is_empty())) {
            errors.push(FieldError::new("credentials.api_token", "is required: the account's API token"));
        }
    }
    for key in settings.keys() {
        if credentials.contains_key(key)
            || key == "api_token"
            || key == "plugin"
            || key == "sha256"
            || key == "type"
        {
            errors.push(FieldError::new(
                format!("settings.{}", shown_key(key)),
                "is not a setting here (credentials go in `credentials`, the type in `type`)",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Failure::invalid(errors));
    }
    let mut all = settings.clone();
    all.extend(credentials.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(all)
}

/// A key as an error may name it (a token pasted where a key goes is not shown).
fn shown_key(key: &str) -> &str {
    let looks_like_a_key = (1..=40).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if looks_like_a_key { key } else { "(a key)" }
}

/// The fingerprint of credentials: of the one value when there is one, else of their string
/// values in key order, joined.
fn fingerprint_of(credentials: &Map<String, Value>) -> String {
    let joined: Zeroizing<String> =
        Zeroizing::new(credentials.values().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"));
    fingerprint(&joined)
}

impl Engine {
    /// The provider types an account may have: `digitalocean`, and each plugin type the
    /// configuration file names (a runtime account of that type runs the file's program).
    pub fn known_provider_types(&self) -> Vec<String> {
        self.config.providers.known_types()
    }

    /// Builds (does not ping) account `name`'s provider from its type, settings and credentials.
    async fn build_account(
        &self,
        name: &str,
        provider_type: &str,
        settings: &Map<String, Value>,
        credentials: &Map<String, Value>,
    ) -> Result<Built, Failure> {
        let all = merged(provider_type, settings, credentials)?;
        if provider_type == "digitalocean" {
            let typed: nephele_digitalocean::Settings =
                serde_path_to_error::deserialize(Value::Object(all.clone())).map_err(|e| {
                    let path = e.path().to_string();
                    let field = if path == "." { "settings".to_owned() } else { format!("settings.{path}") };
                    // serde's message may quote the value: only its shape is kept.
                    let message = e.inner().to_string();
                    let message = if message.starts_with("unknown field") {
                        "is not a DigitalOcean setting".to_owned()
                    } else {
                        "has the wrong type or value".to_owned()
                    };
                    Failure::invalid_field(field, message)
                })?;
            typed.validate().map_err(|e| {
                Failure::invalid_field(
                    format!("settings.{}", e.key),
                    e.message.split(", got ").next().unwrap_or_default().to_owned(),
                )
            })?;
            let client = nephele_digitalocean::DigitalOcean::from_settings(&typed).map_err(Failure::from)?;
            return Ok(Built::InProcess(Arc::new(client)));
        }
        let Some(plugin) = self.config.providers.plugins.values().find(|p| p.provider_type == provider_type)
        else {
            return Err(unknown_type(provider_type, &self.known_provider_types()));
        };
        let config_dir = self
            .config
            .source
            .as_deref()
            .and_then(std::path::Path::parent)
            .map(std::path::Path::to_owned)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| std::path::PathBuf::from("."));
        let spec = crate::plugins::PluginSpec {
            name: name.to_owned(),
            provider_type: provider_type.to_owned(),
            program: crate::plugins::resolve_program(&plugin.plugin, &config_dir),
            sha256: plugin.sha256.clone(),
            settings: Secret::new(Value::Object(all.clone())),
        };
        Ok(Built::plugin(spec).await)
    }

    /// Tries `built`'s credentials: a refusal is `credentials_rejected` with the cloud's
    /// reason, never the credential. A plugin that failed is stopped.
    async fn ping_new(&self, name: &str, built: &Built) -> Result<(), Failure> {
        if let Built::Plugin(plugin) = built
            && let Some(problem) = plugin.problem()
        {
            plugin.stop().await;
            return Err(Failure::new(
                ErrorCode::ProviderUnavailable,
                format!("account {name}: the plugin did not start: {problem}"),
            ));
        }
        let outcome = tokio::time::timeout(PING_TIMEOUT, built.provider().ping()).await;
        let failure = match outcome {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(ProviderError::Unauthorized { message, .. })) => Failure::new(
                ErrorCode::CredentialsRejected,
                format!("the cloud refused the credentials of account {name}: {message}"),
            ),
            Ok(Err(e)) => {
                let failure = Failure::from(e);
                Failure {
                    detail: format!("account {name}: the credentials could not be tried: {}", failure.detail),
                    ..failure
                }
            }
            Err(_) => Failure::new(
                ErrorCode::ProviderTimedOut,
                format!(
                    "account {name}: the cloud did not answer within {} s; nothing was stored",
                    PING_TIMEOUT.as_secs()
                ),
            ),
        };
        if let Built::Plugin(plugin) = built {
            plugin.stop().await;
        }
        Err(failure)
    }

    fn stopping(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|t| t.stop.subscribe())
    }

    /// Puts `slot` in the registry and its instances in the inventory.
    fn serve(&self, slot: Arc<ProviderSlot>) -> bool {
        let name = slot.name().to_owned();
        if !self.providers.insert(slot.clone()) {
            return false;
        }
        self.inventory.watch(&name, slot as Arc<dyn Provider>, self.stopping());
        true
    }

    /// Takes account `name` out of service: registry, inventory, catalogue; its plugin stops.
    async fn unserve(&self, name: &str) {
        let slot = self.providers.remove(name);
        self.inventory.forget(name);
        self.catalog.forget(name).await;
        if let Some(slot) = slot {
            slot.stop().await;
        }
    }

    /// Adds an account at runtime (`POST /api/v1/providers`): checks it, tries its credentials,
    /// seals and stores them, and serves it at once (other replicas within their next look).
    pub async fn add_account(&self, new: NewAccount, by: &str) -> Result<AccountInfo, Failure> {
        let name = AccountName::parse(&new.name).map_err(|m| Failure::invalid_field("name", m))?;
        let name = name.as_str().to_owned();
        let known = self.known_provider_types();
        if !known.contains(&new.provider_type) {
            return Err(unknown_type(&new.provider_type, &known));
        }
        let keyring = self.accounts.keyring().ok_or_else(master_key_missing)?;
        if self.providers.slot(&name).is_some() || self.config.providers.type_of(&name).is_some() {
            return Err(exists(&name));
        }
        let built =
            self.build_account(&name, &new.provider_type, &new.settings, new.credentials.expose()).await?;
        self.ping_new(&name, &built).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let plaintext = Zeroizing::new(serde_json::to_vec(new.credentials.expose()).unwrap_or_default());
        let binding = Binding { account_id: &id, provider_type: &new.provider_type, version: 1 };
        let sealed = keyring
            .seal(&binding, &plaintext)
            .map_err(|e| Failure::new(ErrorCode::InternalError, e.to_string()))?;
        let now = now_text();
        let row = AccountRow {
            id: id.clone(),
            name: name.clone(),
            provider_type: new.provider_type.clone(),
            settings: new.settings,
            sealed,
            credentials_version: 1,
            fingerprint: fingerprint_of(new.credentials.expose()),
            created_by: by.to_owned(),
            created_at: now.clone(),
            updated_at: now,
            row_version: 1,
        };
        let mut applied = self.accounts.applied.lock().await;
        let stop_built = |built: Built| async move {
            if let Built::Plugin(plugin) = built {
                plugin.stop().await;
            }
        };
        match self.store.insert_account(&row, &[account_event(&row, "added")]).await {
            Ok(AccountWrite::Done) => {}
            Ok(_) => {
                stop_built(built).await;
                return Err(exists(&name));
            }
            Err(e) => {
                stop_built(built).await;
                return Err(store_failure(e));
            }
        }
        let slot = self.providers.make_slot(&name, &row.provider_type, DefinedIn::Api, built);
        if !self.serve(slot.clone()) {
            // Loaded from the store by this replica's own look a moment ago: that one serves.
            slot.stop().await;
        }
        applied.rows.insert(name.clone(), (id, row.row_version));
        applied.details.insert(name.clone(), row);
        drop(applied);
        tracing::info!(account = %name, change = "added", "account changed");
        Ok(self.account_info(&name).await.unwrap_or_else(|| unreachable_info(&name)))
    }

    /// Changes a runtime account (`PATCH /api/v1/providers/{name}`): new credentials are tried
    /// before they replace the old ones; calls under way finish on the provider they began on.
    pub async fn update_account(&self, name: &str, change: AccountChange) -> Result<AccountInfo, Failure> {
        let slot = self.runtime_slot(name)?;
        let keyring = self.accounts.keyring().ok_or_else(master_key_missing)?;
        let row = self
            .store
            .find_account(name)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| Failure::unknown_provider(name, &self.providers.names()))?;
        let credentials = match &change.credentials {
            Some(new) => new.expose().clone(),
            None => open_row(&keyring, &row).map_err(|reason| {
                Failure::new(
                    ErrorCode::AccountUnreadable,
                    format!("account {name}: {reason}; give new credentials to replace them"),
                )
            })?,
        };
        let settings = change.settings.clone().unwrap_or_else(|| row.settings.clone());
        let built = self.build_account(name, &row.provider_type, &settings, &credentials).await?;
        self.ping_new(name, &built).await?;
        let version = row.credentials_version.saturating_add(1);
        let binding = Binding { account_id: &row.id, provider_type: &row.provider_type, version };
        let plaintext = Zeroizing::new(serde_json::to_vec(&credentials).unwrap_or_default());
        let sealed = keyring
            .seal(&binding, &plaintext)
            .map_err(|e| Failure::new(ErrorCode::InternalError, e.to_string()))?;
        let updated = AccountRow {
            settings,
            sealed,
            credentials_version: version,
            fingerprint: fingerprint_of(&credentials),
            updated_at: now_text(),
            row_version: row.row_version + 1,
            ..row.clone()
        };
        let mut applied = self.accounts.applied.lock().await;
        match self
            .store
            .update_account(&updated, row.row_version, &[account_event(&updated, "updated")])
            .await
        {
            Ok(AccountWrite::Done) => {}
            Ok(_) => {
                if let Built::Plugin(plugin) = built {
                    plugin.stop().await;
                }
                return Err(Failure::new(
                    ErrorCode::Conflict,
                    format!("account {name} was changed or removed meanwhile; read it again"),
                ));
            }
            Err(e) => return Err(store_failure(e)),
        }
        slot.swap(built, None).await;
        self.inventory.invalidate(name);
        self.catalog.forget(name).await;
        applied.rows.insert(name.to_owned(), (updated.id.clone(), updated.row_version));
        applied.details.insert(name.to_owned(), updated);
        drop(applied);
        tracing::info!(account = %name, change = "updated", "account changed");
        Ok(self.account_info(name).await.unwrap_or_else(|| unreachable_info(name)))
    }

    /// Removes a runtime account (`DELETE /api/v1/providers/{name}`): refused while it has
    /// operations pending or running unless `force` (they fail with `account_removed`); its
    /// plugin stops and its inventory goes; its operations and audit rows stay as history.
    pub async fn remove_account(&self, name: &str, force: bool) -> Result<(), Failure> {
        let slot = self.runtime_slot(name)?;
        let error = crate::operations::record::OperationError::new(
            ErrorCode::AccountRemoved,
            format!("account {name} was removed before this operation finished"),
        )
        .to_stored();
        let mut applied = self.accounts.applied.lock().await;
        let removed = [removed_event(name, slot.provider_type())];
        match self
            .store
            .delete_account(name, force.then_some(&error), &removed)
            .await
            .map_err(store_failure)?
        {
            AccountWrite::Done => {}
            AccountWrite::Busy(n) => {
                return Err(Failure::new(
                    ErrorCode::AccountBusy,
                    format!(
                        "account {name} has {n} operation(s) pending or running; wait for them, or remove it with ?force=true (they then fail with account_removed)"
                    ),
                ));
            }
            AccountWrite::Gone | AccountWrite::NameTaken => {
                return Err(Failure::unknown_provider(name, &self.providers.names()));
            }
        }
        applied.rows.remove(name);
        applied.details.remove(name);
        self.unserve(name).await;
        drop(applied);
        tracing::info!(account = %name, change = "removed", "account changed");
        Ok(())
    }

    /// Starts a runtime account's provider again from what is stored (its plugin restarted,
    /// its client rebuilt): `POST /api/v1/providers/{name}/initialize`. Answers why it cannot
    /// run, when it cannot.
    pub async fn restart_account(&self, name: &str) -> Result<(), String> {
        let slot = self.runtime_slot(name).map_err(|f| f.detail)?;
        let row = self
            .store
            .find_account(name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("account {name} is no longer stored"))?;
        let keyring = self.accounts.keyring();
        let (built, unreadable) = self.load_row(keyring.as_ref(), &row).await;
        slot.swap(built, unreadable.clone()).await;
        self.inventory.invalidate(name);
        match unreadable {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// Account `name`'s slot, when it was added at runtime; 409 for the file's, 404 for none.
    fn runtime_slot(&self, name: &str) -> Result<Arc<ProviderSlot>, Failure> {
        let slot = self
            .providers
            .slot(name)
            .ok_or_else(|| Failure::unknown_provider(name, &self.providers.names()))?;
        if slot.defined_in() == DefinedIn::File {
            return Err(Failure::new(
                ErrorCode::AccountInFile,
                format!(
                    "account {name} is defined in the configuration file; change or remove it there (providers.{name}) and restart"
                ),
            ));
        }
        Ok(slot)
    }

    /// Every account as it may be shown.
    pub async fn list_accounts(&self) -> Vec<AccountInfo> {
        let applied = self.accounts.applied.lock().await;
        self.providers.slots().iter().map(|slot| info_of(slot, applied.details.get(slot.name()))).collect()
    }

    /// One account as it may be shown.
    pub async fn account_info(&self, name: &str) -> Option<AccountInfo> {
        let slot = self.providers.slot(name)?;
        let applied = self.accounts.applied.lock().await;
        Some(info_of(&slot, applied.details.get(name)))
    }

    /// Loads the stored accounts again when the account revision moved since the last load:
    /// new ones are served, changed ones rebuilt, removed ones taken out. A row that does not
    /// open serves as `unreadable`. Called at start and every second by housekeeping.
    pub async fn follow_accounts(&self) -> Result<(), StoreError> {
        let revision = self.store.account_revision().await?;
        let mut applied = self.accounts.applied.lock().await;
        if applied.revision == Some(revision) {
            return Ok(());
        }
        let rows = self.store.list_accounts().await?;
        let keyring = self.accounts.keyring();
        let mut seen = std::collections::HashSet::new();
        for row in rows {
            seen.insert(row.name.clone());
            if applied.rows.get(&row.name) == Some(&(row.id.clone(), row.row_version)) {
                continue;
            }
            if self.providers.slot(&row.name).is_some_and(|s| s.defined_in() == DefinedIn::File) {
                tracing::warn!(account = %row.name, "a stored account has the name of an account in the configuration file; the file's is served");
                continue;
            }
            let (built, unreadable) = self.load_row(keyring.as_ref(), &row).await;
            match self.providers.slot(&row.name) {
                Some(slot) => {
                    slot.swap(built, unreadable).await;
                    self.inventory.invalidate(&row.name);
                    self.catalog.forget(&row.name).await;
                }
                None => {
                    let slot = self.providers.make_slot(&row.name, &row.provider_type, DefinedIn::Api, built);
                    slot.swap_unreadable(unreadable);
                    self.serve(slot);
                }
            }
            applied.rows.insert(row.name.clone(), (row.id.clone(), row.row_version));
            applied.details.insert(row.name.clone(), row);
        }
        let gone: Vec<String> = applied.rows.keys().filter(|n| !seen.contains(*n)).cloned().collect();
        for name in gone {
            applied.rows.remove(&name);
            applied.details.remove(&name);
            self.unserve(&name).await;
        }
        applied.revision = Some(revision);
        Ok(())
    }

    /// A stored account's provider, or (when its credentials do not open or cannot be used) one
    /// that refuses every call, with the reason.
    async fn load_row(&self, keyring: Option<&Keyring>, row: &AccountRow) -> (Built, Option<String>) {
        let opened = match keyring {
            None => Err("this server has no master key (secrets.master_key)".to_owned()),
            Some(keyring) => open_row(keyring, row),
        };
        let reason = match opened {
            Ok(credentials) => {
                match self.build_account(&row.name, &row.provider_type, &row.settings, &credentials).await {
                    Ok(built) => return (built, None),
                    Err(failure) => format!("cannot be built from its settings: {}", failure.detail),
                }
            }
            Err(reason) => reason,
        };
        tracing::error!(account = %row.name, reason = %reason, "an account's credentials cannot be used; it is unreadable and nothing is sent for it");
        // Told once per transition (the store keeps the last account event): a failure to
        // append is logged, and the account is served as unreadable all the same.
        match self.store.append_account_unreadable(&unreadable_event(row, &reason)).await {
            Ok(true) => tracing::info!(account = %row.name, "nephele.account.unreadable emitted"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(account = %row.name, error = %e, "the account's unreadable event could not be appended")
            }
        }
        let unopened = Unopened { name: row.name.clone(), reason: reason.clone() };
        (Built::InProcess(Arc::new(unopened)), Some(reason))
    }

    /// Re-wraps every stored account's data key under `new` (`nephele secrets rotate`): from
    /// its start this replica seals with `new` and opens with every key it held, so it serves
    /// throughout. Answers how many rows were re-wrapped and how many did not open (left as
    /// they were, and listed as unreadable).
    pub async fn rotate_master_key(&self, new: MasterKey) -> Result<Rotation, Failure> {
        let before = self.accounts.keyring().ok_or_else(master_key_missing)?;
        let keyring = before.rotated_to(new);
        self.accounts.set_keyring(keyring.clone());
        let started = std::time::Instant::now();
        let rows = self.store.list_accounts().await.map_err(store_failure)?;
        let mut rotation = Rotation { key_id: keyring.current_id().to_owned(), ..Rotation::default() };
        for row in rows {
            if row.sealed.key_id == keyring.current_id() {
                rotation.already += 1;
                continue;
            }
            let binding = Binding {
                account_id: &row.id,
                provider_type: &row.provider_type,
                version: row.credentials_version,
            };
            match keyring.rewrap(&binding, &row.sealed) {
                Ok(after) => {
                    if self
                        .store
                        .rewrap_account(&row.id, row.credentials_version, &row.sealed, &after)
                        .await
                        .map_err(store_failure)?
                    {
                        rotation.rewrapped += 1;
                    } else {
                        rotation.changed_meanwhile += 1;
                    }
                }
                Err(e) => {
                    tracing::error!(account = %row.name, reason = %e, "an account's credentials do not open; not re-wrapped");
                    rotation.unreadable.push(row.name.clone());
                }
            }
        }
        rotation.took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(key_id = %rotation.key_id, rewrapped = rotation.rewrapped, unreadable = rotation.unreadable.len(), took_ms = rotation.took_ms, "master key rotated");
        Ok(rotation)
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Default)]
pub struct Rotation {
    /// The id of the master key every readable account is now wrapped under.
    pub key_id: String,
    pub rewrapped: u64,
    /// Rows wrapped under the new key already (a rotation run twice).
    pub already: u64,
    /// Rows changed while the rotation ran (their change sealed them under the new key).
    pub changed_meanwhile: u64,
    /// Accounts whose credentials do not open, left as they were.
    pub unreadable: Vec<String>,
    pub took_ms: u64,
}

/// The credentials of `row`, or why they do not open (never their bytes).
fn open_row(keyring: &Keyring, row: &AccountRow) -> Result<Map<String, Value>, String> {
    let binding =
        Binding { account_id: &row.id, provider_type: &row.provider_type, version: row.credentials_version };
    let plaintext = keyring.open(&binding, &row.sealed).map_err(|e| e.to_string())?;
    match serde_json::from_slice::<Value>(&plaintext) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err("the opened credentials are not a JSON object".to_owned()),
    }
}

fn exists(name: &str) -> Failure {
    Failure::new(ErrorCode::AccountExists, format!("an account named {name} exists already"))
}

fn unknown_type(provider_type: &str, known: &[String]) -> Failure {
    let shown = if nephele_core::is_valid_account_name(provider_type) { provider_type } else { "(this)" };
    Failure::invalid(vec![
        FieldError::new(
            "type",
            format!("unknown provider type {shown:?}; known types: {}", known.join(", ")),
        )
        .with_suggestions(known.to_vec()),
    ])
}

fn unreachable_info(name: &str) -> AccountInfo {
    AccountInfo {
        name: name.to_owned(),
        provider_type: String::new(),
        defined_in: DefinedIn::Api,
        unreadable: None,
        settings: None,
        fingerprint: None,
        created_by: None,
        created_at: None,
        updated_at: None,
    }
}

fn info_of(slot: &ProviderSlot, row: Option<&AccountRow>) -> AccountInfo {
    AccountInfo {
        name: slot.name().to_owned(),
        provider_type: slot.provider_type().to_owned(),
        defined_in: slot.defined_in(),
        unreadable: slot.unreadable(),
        settings: row.map(|r| r.settings.clone()),
        fingerprint: row.map(|r| r.fingerprint.clone()),
        created_by: row.map(|r| r.created_by.clone()),
        created_at: row.map(|r| r.created_at.clone()),
        updated_at: row.map(|r| r.updated_at.clone()),
    }
}

/// The provider of an account whose credentials do not open: every call is refused at once
/// with the reason, and nothing is sent anywhere.
struct Unopened {
    name: String,
    reason: String,
}

impl Unopened {
    fn refuse(&self) -> ProviderError {
        ProviderError::unavailable(format!("account {} is unreadable: {}", self.name, self.reason))
    }
}

#[async_trait]
impl Provider for Unopened {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: self.name.clone(),
            display_name: format!("{} (unreadable)", self.name),
            version: String::new(),
            default_region: None,
            capabilities: Vec::new(),
            max_instances_per_create: 1,
        }
    }
    async fn ping(&self) -> Result<(), ProviderError> {
        Err(self.refuse())
    }
    async fn billing_policy(
        &self,
        _: &InstanceType,
        _: time::OffsetDateTime,
    ) -> Result<BillingPolicy, ProviderError> {
        Err(self.refuse())
    }
    async fn list_instances(&self, _: &InstanceFilter) -> Result<Vec<Instance>, ProviderError> {
        Err(self.refuse())
    }
    async fn get_instance(&self, _: &InstanceId) -> Result<Instance, ProviderError> {
        Err(self.refuse())
    }
    async fn create_instances(&self, _: &CreateInstances) -> Result<Vec<Instance>, ProviderError> {
        Err(self.refuse())
    }
    async fn find_instances_by_operation(&self, _: OperationId) -> Result<Vec<Instance>, ProviderError> {
        Err(self.refuse())
    }
    async fn delete_instance(&self, _: &InstanceId, _: OperationId) -> Result<(), ProviderError> {
        Err(self.refuse())
    }
    async fn power_action(
        &self,
        _: &InstanceId,
        _: PowerAction,
        _: OperationId,
    ) -> Result<ProviderAction, ProviderError> {
        Err(self.refuse())
    }
    async fn find_power_action(
        &self,
        _: &InstanceId,
        _: PowerAction,
        _: time::OffsetDateTime,
    ) -> Result<Option<ProviderAction>, ProviderError> {
        Err(self.refuse())
    }
    async fn get_action(&self, _: &ActionId) -> Result<ProviderAction, ProviderError> {
        Err(self.refuse())
    }
    async fn list_regions(&self) -> Result<Vec<Region>, ProviderError> {
        Err(self.refuse())
    }
    async fn list_instance_types(&self) -> Result<Vec<InstanceType>, ProviderError> {
        Err(self.refuse())
    }
    async fn list_images(&self) -> Result<Vec<Image>, ProviderError> {
        Err(self.refuse())
    }
}
