//! How a DigitalOcean client is set up.

use std::time::Duration;

use nephele_core::Secret;

use crate::budget::BudgetConfig;

/// Settings of one client (one token).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.digitalocean.com` in production; a simulator's address in tests.
    pub base_url: String,
    pub token: Secret<String>,
    /// Region for creates that name none.
    pub default_region: Option<String>,
    pub connect_timeout: Duration,
    /// Time allowed for one HTTP attempt.
    pub request_timeout: Duration,
    /// Time allowed for a whole call: every attempt, backoff and rate-budget wait.
    pub call_deadline: Duration,
    /// Attempts per idempotent call (and per create, counting look-ups after ambiguous failures).
    pub max_attempts: u32,
    /// First backoff step; each retry doubles it, up to `backoff_cap`, with full jitter.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// List pages fetched at once after the first.
    pub list_concurrency: usize,
    /// Largest answer body read; a larger one is refused unread (DigitalOcean's largest real
    /// page, 200 droplets, is about 1 MB).
    pub max_response_bytes: usize,
    /// Answer bytes held at once by all calls of this client, read but not yet decoded: a
    /// reader waits for room, so memory stays bounded however many calls run. At least
    /// `max_response_bytes`.
    pub max_in_flight_response_bytes: usize,
    /// Most pages one list may take, whatever `meta.total` or the links claim.
    pub max_list_pages: usize,
    /// The longest a 429's `retry-after` (or `ratelimit-reset`) may hold every request back: a
    /// longer one is cut to this, so one answer cannot silence the provider for long.
    pub max_retry_after: Duration,
    pub budget: BudgetConfig,
}

impl ClientConfig {
    pub const PRODUCTION_URL: &'static str = "https://api.digitalocean.com";
    /// 4 MiB: a few times the largest page DigitalOcean sends.
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
    /// 48 MiB: fifty real pages of 200 droplets at once (a 10,000-droplet list), or twelve
    /// answers at the size limit.
    pub const DEFAULT_MAX_IN_FLIGHT_RESPONSE_BYTES: usize = 48 * 1024 * 1024;
    /// 1,000 pages of 200: 200,000 droplets, far above any account's droplet limit.
    pub const DEFAULT_MAX_LIST_PAGES: usize = 1000;
    /// 60 s: DigitalOcean's own windows are a minute long, so no honest 429 asks for longer.
    pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

    /// Production defaults for `token`.
    pub fn new(token: Secret<String>) -> Self {
        Self {
            base_url: Self::PRODUCTION_URL.to_owned(),
            token,
            default_region: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            call_deadline: Duration::from_secs(60),
            max_attempts: 8,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(5),
            list_concurrency: 50,
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
            max_in_flight_response_bytes: Self::DEFAULT_MAX_IN_FLIGHT_RESPONSE_BYTES,
            max_list_pages: Self::DEFAULT_MAX_LIST_PAGES,
            max_retry_after: Self::DEFAULT_MAX_RETRY_AFTER,
            budget: BudgetConfig::default(),
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }
}
