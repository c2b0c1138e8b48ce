//! The simulator's shared state: the accounts, which token belongs to which, the fault
//! settings and the counters that `/_sim/stats` reports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;

use crate::account::{Account, AccountSpec, AccountStats, DEFAULT_ACCOUNT, lock};
use crate::clock::{Clock, ClockError};
use crate::faults::Faults;
use crate::ids::Ids;
use crate::rate_limit::Limits;
use crate::state::Fixtures;

/// How a simulator starts.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Bearer tokens of the account named `default`; each has its own rate-limit windows, all
    /// share its resources. Empty: there is no default account (only `accounts`).
    pub tokens: Vec<String>,
    /// How long a droplet takes to boot, and a power action or image import to complete.
    pub transition: Duration,
    /// Droplets of the default account, created already `active` before serving.
    pub droplets: usize,
    /// Further accounts, each with its own resources and tokens, kept apart as DigitalOcean
    /// keeps accounts apart.
    pub accounts: Vec<AccountSpec>,
    /// Volumes, snapshots and reserved IPs to create in every account before serving.
    pub fixtures: Fixtures,
    pub limits: Limits,
    pub faults: Faults,
    /// Start on a simulated clock standing at this time (`None`: the real UTC clock). See
    /// [`crate::clock`]: it moves only when `/_sim/clock` or [`crate::RunningSim`] moves it.
    pub clock: Option<OffsetDateTime>,
    /// Each account's `account_balance` in USD, by account name (absent: 0.00). Invoices are
    /// paid as they are issued, so the balance stays where it started.
    pub account_balances: BTreeMap<String, Decimal>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            tokens: vec!["dosim-token".to_owned()],
            transition: Duration::from_millis(1000),
            droplets: 0,
            accounts: Vec::new(),
            fixtures: Fixtures::default(),
            limits: Limits::default(),
            faults: Faults::default(),
            clock: None,
            account_balances: BTreeMap::new(),
        }
    }
}

impl SimConfig {
    /// Every account this configuration describes: the default one first, when it has tokens.
    pub fn account_specs(&self) -> Vec<AccountSpec> {
        let mut specs = Vec::with_capacity(self.accounts.len() + 1);
        if !self.tokens.is_empty() {
            specs.push(AccountSpec {
                name: DEFAULT_ACCOUNT.to_owned(),
                tokens: self.tokens.clone(),
                droplets: self.droplets,
            });
        }
        specs.extend(self.accounts.iter().cloned());
        specs
    }

    /// Refuses what would make accounts ambiguous: a name or a token used twice, droplets for a
    /// default account that has no token, or a balance for an account that does not exist; and a
    /// balance that is not whole cents within a billion dollars.
    pub fn validate(&self) -> Result<(), String> {
        if self.tokens.is_empty() && self.droplets > 0 {
            return Err("--droplets fills the default account, which needs a --token".to_owned());
        }
        let mut names = HashSet::new();
        let mut tokens = HashSet::new();
        for spec in self.account_specs() {
            if !names.insert(spec.name.clone()) {
                return Err(format!("account {:?} is named twice", spec.name));
            }
            for token in &spec.tokens {
                if !tokens.insert(token.clone()) {
                    return Err(format!("account {:?}: a token is given to two accounts", spec.name));
                }
            }
        }
        for (name, balance) in &self.account_balances {
            if !names.contains(name) {
                return Err(format!("--account-balance names no account {name:?}"));
            }
            if balance.normalize().scale() > 2 || balance.abs() >= Decimal::from(1_000_000_000) {
                return Err(format!(
                    "account {name:?}: the balance must be whole cents within a billion dollars"
                ));
            }
        }
        Ok(())
    }
}

/// Counters since start or the last `POST /_sim/reset`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Requests per OpenAPI operationId, including those refused or failed on purpose.
    pub requests: BTreeMap<&'static str, u64>,
    /// 429 answers sent, whether from the limits or injected.
    pub rate_limited: u64,
    /// 5xx answers injected.
    pub injected_errors: u64,
    /// Connections closed on purpose after processing.
    pub dropped_connections: u64,
    /// The most requests being served at one time.
    pub max_in_flight: usize,
    /// Each account's own figures, by account name.
    pub accounts: BTreeMap<String, AccountStats>,
}

/// Everything the handlers share.
pub struct Sim {
    clock: Arc<Clock>,
    accounts: Vec<Arc<Account>>,
    by_token: HashMap<String, Arc<Account>>,
    limits: Limits,
    faults: RwLock<Faults>,
    stats: Mutex<Stats>,
    in_flight: AtomicUsize,
}

impl Sim {
    /// Builds every account. A token given to two accounts stays with the first (`validate`
    /// refuses such a configuration before it gets here).
    pub fn new(config: SimConfig) -> Self {
        let ids = Arc::new(Ids::default());
        let clock = Arc::new(Clock::new(config.clock));
        let mut accounts = Vec::new();
        let mut by_token = HashMap::new();
        for spec in config.account_specs() {
            let balance = config.account_balances.get(&spec.name).copied().unwrap_or_default();
            let account = Arc::new(Account::new(
                &spec,
                config.transition,
                config.limits,
                config.fixtures,
                ids.clone(),
                clock.clone(),
                balance,
            ));
            for token in &spec.tokens {
                by_token.entry(token.clone()).or_insert_with(|| account.clone());
            }
            accounts.push(account);
        }
        Self {
            clock,
            accounts,
            by_token,
            limits: config.limits,
            faults: RwLock::new(config.faults),
            stats: Mutex::new(Stats::default()),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// The account a bearer token belongs to.
    pub fn account_for(&self, token: &str) -> Option<&Arc<Account>> {
        self.by_token.get(token)
    }

    pub fn account_named(&self, name: &str) -> Option<&Arc<Account>> {
        self.accounts.iter().find(|a| a.name == name)
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The time now, simulated or real.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn clock_is_simulated(&self) -> bool {
        self.clock.is_simulated()
    }

    pub fn set_clock(&self, to: OffsetDateTime) -> Result<OffsetDateTime, ClockError> {
        self.clock.set(to)
    }

    pub fn advance_clock(&self, seconds: u64) -> Result<OffsetDateTime, ClockError> {
        self.clock.advance(seconds)
    }

    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    /// The counters with each account's figures filled in.
    pub fn snapshot(&self) -> Stats {
        let mut stats = self.stats().clone();
        stats.accounts = self.accounts.iter().map(|a| (a.name.clone(), a.stats())).collect();
        stats
    }

    pub fn faults(&self) -> Faults {
        self.faults.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(std::sync::PoisonError::into_inner) = faults;
    }

    /// Clears the counters and the rate-limit windows (not the accounts' resources).
    pub fn reset(&self) {
        *self.stats() = Stats::default();
        for account in &self.accounts {
            account.reset();
        }
    }

    /// Marks a request as started; the guard marks it finished when dropped.
    pub fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let mut stats = self.stats();
        stats.max_in_flight = stats.max_in_flight.max(now);
        InFlight(&self.in_flight)
    }
}

/// A request being served.
pub struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
