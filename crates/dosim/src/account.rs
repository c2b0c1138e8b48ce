//! One simulated DigitalOcean account: its resources, its tokens' rate-limit windows and its
//! request counters.
//!
//! DigitalOcean keeps accounts apart: a token sees only its own account's droplets, volumes and
//! the rest, and the rate limits count per token. So each account has a world and a limiter of
//! its own, behind locks of its own, and nothing here reaches into another account. Only ids
//! are shared (see [`crate::ids`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::clock::Clock;
use crate::ids::Ids;
use crate::rate_limit::{Limits, RateLimiter};
use crate::state::{Fixtures, World};

/// The name of the account that `--token` and `--droplets` describe.
pub const DEFAULT_ACCOUNT: &str = "default";

/// How one account starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    /// A label for `/_sim/stats` and `GET /v2/account`; unique among the accounts.
    pub name: String,
    /// Bearer tokens of this account; each has its own rate-limit windows.
    pub tokens: Vec<String>,
    /// Droplets to create, already `active`, before serving.
    pub droplets: usize,
}

impl AccountSpec {
    /// Reads `NAME:TOKEN[:DROPLETS]`, the form of `dosim --account`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("--account {text:?}: expected NAME:TOKEN[:DROPLETS]"))?;
        let (token, droplets) = match rest.rsplit_once(':') {
            Some((token, count)) => {
                let count = count.parse::<usize>().map_err(|_| {
                    format!("--account {name}: DROPLETS must be a whole number, got {count:?}")
                })?;
                (token, count)
            }
            None => (rest, 0),
        };
        if name.is_empty() || token.is_empty() {
            return Err(format!("--account {text:?}: NAME and TOKEN must not be empty"));
        }
        Ok(Self { name: name.to_owned(), tokens: vec![token.to_owned()], droplets })
    }
}

/// One account's figures in `/_sim/stats`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AccountStats {
    /// Requests made with this account's tokens, refused ones included.
    pub requests: u64,
    /// 429 answers sent to this account's tokens.
    pub rate_limited: u64,
    pub droplets: usize,
    pub volumes: usize,
    /// Droplet and volume snapshots.
    pub snapshots: usize,
    pub reserved_ips: usize,
    pub firewalls: usize,
    /// Resources deleted so far, whose lifetimes are kept for usage.
    pub retired: usize,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked mid-update cannot leave a half-made object (updates are single
    // statements), so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An account and everything it holds.
pub struct Account {
    pub name: String,
    /// 40 hex characters like DigitalOcean's account uuids, derived from the name so it is stable.
    pub uuid: String,
    /// `account_balance` in USD: where the account started, as invoices are paid when issued.
    pub balance: Decimal,
    world: Mutex<World>,
    limiter: Mutex<RateLimiter>,
    requests: AtomicU64,
    rate_limited: AtomicU64,
}

impl Account {
    pub fn new(
        spec: &AccountSpec,
        transition: Duration,
        limits: Limits,
        fixtures: Fixtures,
        ids: Arc<Ids>,
        clock: Arc<Clock>,
        balance: Decimal,
    ) -> Self {
        let uuid = account_uuid(&spec.name);
        let mut world = World::new(transition, ids, clock);
        world.prepopulate(spec.droplets);
        world.add_fixtures(fixtures);
        Self {
            name: spec.name.clone(),
            uuid,
            balance,
            world: Mutex::new(world),
            limiter: Mutex::new(RateLimiter::new(limits)),
            requests: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    pub fn limiter(&self) -> MutexGuard<'_, RateLimiter> {
        lock(&self.limiter)
    }

    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Clears the counters and the rate-limit windows (not the resources).
    pub fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.rate_limited.store(0, Ordering::Relaxed);
        self.limiter().clear();
    }

    pub fn stats(&self) -> AccountStats {
        let world = self.world();
        AccountStats {
            requests: self.requests.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            droplets: world.droplets.len(),
            volumes: world.volumes.len(),
            snapshots: world.private_images.values().filter(|i| i.kind == "snapshot").count()
                + world.volume_snapshots.len(),
            reserved_ips: world.reserved_ips.len(),
            firewalls: world.firewalls.len(),
            retired: world.retired.len(),
        }
    }
}

/// Two 64-bit FNV-1a hashes of the name, as 40 hex characters.
fn account_uuid(name: &str) -> String {
    let hash = |seed: u64| {
        let mut hash = seed;
        for b in name.bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        hash
    };
    let (a, b, c) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4), hash(0x1234_5678_9abc_def0));
    format!("{a:016x}{b:016x}{:08x}", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_flags_read_name_token_and_optional_droplets() {
        assert_eq!(
            AccountSpec::parse("staging:dop_v1_abc:100"),
            Ok(AccountSpec { name: "staging".into(), tokens: vec!["dop_v1_abc".into()], droplets: 100 })
        );
        assert_eq!(AccountSpec::parse("prod:tok").map(|a| a.droplets), Ok(0));
        for bad in ["nocolon", ":tok", "name:", "name:tok:many"] {
            assert!(AccountSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn account_uuids_are_40_hex_characters_and_differ_by_name() {
        let a = account_uuid("a");
        assert_eq!(a.len(), 40);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, account_uuid("b"));
    }
}
