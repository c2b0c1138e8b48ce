//! API keys, roles and principals; [`failures`] keeps failed authentication and [`budget`] each
//! key's refused requests from writing unbounded audit rows. (The HTTP layer checks keys per
//! route, with the route table's roles.)
//!
//! Keys look like `nph_<id>_<secret>`; only a SHA-256 hash of the whole key is stored (the key
//! is 244 random bits, so a slow password hash would add nothing). Roles: `viewer` reads,
//! `operator` also creates, deletes and powers instances, `admin` also manages keys and reads
//! the audit log. A key may be limited to some providers: it then sees and touches nothing of
//! the others, and can only make keys within its own role and providers.

pub mod budget;
pub mod cache;
pub mod failures;
pub mod hosts;

use std::time::Duration;

use crate::config::Config;
use crate::store::{Minted, NewApiKey, Store, StoreError};

/// What guards the audit log and the key checks: failed authentication sampled, each key's
/// refused requests within a budget, and how long entries are kept.
pub struct Guards {
    /// Keys verified once, kept by their digest.
    pub keys: cache::KeyCache,
    pub failed_authentication: failures::FailedAuthentication,
    pub audit_budget: budget::AuditBudget,
    pub audit_retention: Duration,
}

impl Guards {
    pub fn from_config(config: &Config) -> Self {
        Self {
            keys: cache::KeyCache::new(config.auth.max_cached_keys),
            failed_authentication: failures::FailedAuthentication::new(
                Duration::from_secs(config.audit.failed_auth_window_secs),
                config.audit.max_failed_auth_sources,
            ),
            audit_budget: budget::AuditBudget::new(
                Duration::from_secs(config.audit.refusals_window_secs),
                config.audit.max_refusals_per_key_per_window,
            ),
            audit_retention: Duration::from_secs(config.audit.retention_days.saturating_mul(86_400)),
        }
    }
}

/// What a key may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key id, or `anonymous` when the API runs open.
    pub id: String,
    pub role: Role,
    /// Providers this key may touch; `None` means all.
    pub providers: Option<Vec<String>>,
}

impl Principal {
    pub fn open() -> Self {
        Self { id: "anonymous".to_owned(), role: Role::Admin, providers: None }
    }

    pub fn may_use(&self, provider: &str) -> bool {
        self.providers.as_ref().is_none_or(|list| list.iter().any(|p| p == provider))
    }

    /// The providers this key is limited to, `None` for all.
    pub fn scope(&self) -> Option<&[String]> {
        self.providers.as_deref()
    }

    /// Whether everything `scope` allows, this key allows too: the rule for which keys it may
    /// make, list and revoke. An unlimited scope is covered only by an unlimited key.
    pub fn covers(&self, scope: Option<&[String]>) -> bool {
        match (&self.providers, scope) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(theirs)) => theirs.iter().all(|p| self.may_use(p)),
        }
    }
}

/// A key as shown once, at creation.
pub struct IssuedKey {
    pub id: String,
    pub key: String,
}

fn hash(key: &str) -> String {
    crate::digest::sha256_hex(key.as_bytes())
}

/// Compares in time independent of where the strings differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Makes a key, stores its hash, and returns it (the only time it is ever seen). For keys made
/// at the server itself (`nephele keys create`, start-up); a key made by another key is made
/// with [`issue_key_by`].
pub async fn issue_key(
    store: &Store,
    role: Role,
    providers: Option<&[String]>,
    description: Option<&str>,
) -> Result<IssuedKey, StoreError> {
    let issued = issue(store, role, providers, description, None).await?;
    // Nothing can revoke a minter that is not there.
    issued.ok_or_else(|| StoreError::Corrupt("a key without a minter was not stored".to_owned()))
}

/// As [`issue_key`], made by the key `minter`: `Ok(None)` when `minter` was revoked before the
/// new key could be stored (checked in the insert itself, so a revocation is never overtaken).
pub async fn issue_key_by(
    store: &Store,
    minter: &str,
    role: Role,
    providers: Option<&[String]>,
    description: Option<&str>,
) -> Result<Option<IssuedKey>, StoreError> {
    issue(store, role, providers, description, Some(minter)).await
}

async fn issue(
    store: &Store,
    role: Role,
    providers: Option<&[String]>,
    description: Option<&str>,
    minted_by: Option<&str>,
) -> Result<Option<IssuedKey>, StoreError> {
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let key = format!("nph_{id}_{secret}");
    let stored = store
        .insert_api_key(NewApiKey {
            id: &id,
            hash: &hash(&key),
            role: role.as_str(),
            providers,
            description,
            minted_by,
        })
        .await?;
    Ok((stored == Minted::Stored).then_some(IssuedKey { id, key }))
}

/// The principal a presented key stands for, or `None` for any key that does not check out.
/// The principal a presented key stands for, or `None` for any key that does not check out:
/// from the keys verified before (see [`cache`]) when it is one, else from the database.
pub async fn verify_cached(
    keys: &cache::KeyCache,
    store: &Store,
    presented: &str,
) -> Result<Option<Principal>, StoreError> {
    let ticket = match keys.lookup(presented) {
        Ok(principal) => return Ok(Some(principal)),
        Err(ticket) => ticket,
    };
    let verified = verify(store, presented).await?;
    if let Some(principal) = &verified {
        keys.remember(ticket, principal);
    }
    Ok(verified)
}

/// Revokes key `id`: in the database (which moves the key revision the other replicas follow),
/// and in this process's verified keys at once. False when there is no such active key.
pub async fn revoke(keys: &cache::KeyCache, store: &Store, id: &str) -> Result<bool, StoreError> {
    let revoked = store.revoke_api_key(id).await?;
    if revoked {
        keys.forget_all();
    }
    Ok(revoked)
}

/// The principal a presented key stands for according to the database alone.
pub async fn verify(store: &Store, presented: &str) -> Result<Option<Principal>, StoreError> {
    let Some(id) = presented.strip_prefix("nph_").and_then(|rest| rest.split('_').next()) else {
        return Ok(None);
    };
    let Some(record) = store.find_api_key(id).await? else { return Ok(None) };
    if record.revoked_at.is_some() || !constant_time_eq(&record.hash, &hash(presented)) {
        return Ok(None);
    }
    Ok(Role::parse(&record.role).map(|role| Principal { id: record.id, role, providers: record.providers }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hash_and_compare() {
        assert!(constant_time_eq(&hash("a"), &hash("a")));
        assert!(!constant_time_eq(&hash("a"), &hash("b")));
    }

    #[test]
    fn a_scoped_key_covers_only_narrower_scopes() {
        let scoped = Principal { id: "k".into(), role: Role::Admin, providers: Some(vec!["aws".into()]) };
        assert!(scoped.covers(Some(&["aws".to_owned()])));
        assert!(!scoped.covers(Some(&["aws".to_owned(), "digitalocean".to_owned()])));
        assert!(!scoped.covers(None), "an unscoped key is wider than any scoped one");
        assert!(Principal::open().covers(None));
    }
}
