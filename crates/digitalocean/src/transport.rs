//! Sending one call to DigitalOcean: the rate budget, the HTTP attempt, and retries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nephele_core::error::UpstreamDetail;
use nephele_core::{ProviderError, RetryAfter, Secret};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::budget::RateBudget;
use crate::config::ClientConfig;
use crate::errors;
use crate::metrics::ClientMetrics;
use crate::retry::Backoff;

/// Whether a call may be sent again after a failure that leaves its outcome unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// GET and DELETE: sending twice has the effect of sending once.
    Idempotent,
    /// POSTs that make something: sent once; only a 429 (which DigitalOcean did not act on) is
    /// sent again. Callers resolve ambiguous failures themselves.
    Once,
}

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub retry_after: Option<Duration>,
    /// True when an earlier attempt of this call failed without a clear answer, so the call may
    /// have taken effect before this answer (a DELETE's 404, say).
    pub after_ambiguous_failure: bool,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// Reads a 2xx body as `T`, or turns a non-2xx answer into its error.
    pub fn decode<T: DeserializeOwned>(&self, what: &str) -> Result<T, ProviderError> {
        if !self.is_success() {
            return Err(errors::from_reply(self));
        }
        serde_json::from_slice(&self.body).map_err(|e| errors::unreadable(what, &e))
    }
}

fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// How long a 429 asks us to wait: `retry-after`, else until `ratelimit-reset`.
fn wait_from_headers(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    if let Some(seconds) = number("retry-after") {
        return Some(Duration::from_secs(seconds));
    }
    let reset = number("ratelimit-reset")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

/// Describes a transport failure without the URL's query or any header (so never the token).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the connection broke while reading the answer"
    } else {
        "the connection failed before an answer"
    };
    format!("DigitalOcean request {kind}")
}

/// The HTTP side of a client: one connection pool, the token, the budget, the retry policy.
pub struct Transport {
    http: reqwest::Client,
    base_url: String,
    token: Secret<String>,
    budget: RateBudget,
    backoff: Backoff,
    max_attempts: u32,
    request_timeout: Duration,
    call_deadline: Duration,
    pub metrics: Arc<ClientMetrics>,
}

impl Transport {
    pub fn new(config: &ClientConfig) -> Result<Self, ProviderError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("nephele/", env!("CARGO_PKG_VERSION"), " (+digitalocean provider)"))
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.list_concurrency.max(8))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ProviderError::unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base_url: config.base_url.clone(),
            token: config.token.clone(),
            budget: RateBudget::new(config.budget),
            backoff: Backoff { base: config.backoff_base, cap: config.backoff_cap },
            max_attempts: config.max_attempts.max(1),
            request_timeout: config.request_timeout,
            call_deadline: config.call_deadline,
            metrics: Arc::new(ClientMetrics::default()),
        })
    }

    /// `path` is `/v2/...` or an absolute URL DigitalOcean gave us (a pagination link).
    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{}", self.base_url, path)
        }
    }

    /// Sends one call, waiting for budget and retrying as `retry` allows, within the deadline.
    #[tracing::instrument(skip(self, body), fields(method = %method))]
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        retry: Retry,
    ) -> Result<Reply, ProviderError> {
        let deadline = Instant::now() + self.call_deadline;
        let mut ambiguous = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                self.metrics.retry();
            }
            self.budget.acquire(deadline, &self.metrics).await?;
            let mut request = self
                .http
                .request(method.clone(), self.url(path))
                .bearer_auth(self.token.expose())
                .timeout(self.request_timeout);
            if let Some(body) = body {
                request = request.json(body);
            }
            self.metrics.request_sent();
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = wait_from_headers(response.headers());
                    match response.bytes().await {
                        Ok(bytes) => Ok(Reply {
                            status,
                            body: bytes.to_vec(),
                            retry_after,
                            after_ambiguous_failure: ambiguous,
                        }),
                        Err(e) => Err(describe(&e)),
                    }
                }
                Err(e) => Err(describe(&e)),
            };
            let attempts_left = attempt < self.max_attempts;
            match outcome {
                Ok(reply) if reply.status == StatusCode::TOO_MANY_REQUESTS => {
                    self.metrics.response_429();
                    let wait = reply.retry_after.unwrap_or(Duration::from_secs(1));
                    self.budget.block_until(Instant::now() + wait);
                    tracing::warn!(
                        wait_ms = wait.as_millis() as u64,
                        "DigitalOcean answered 429; holding all requests"
                    );
                    if !attempts_left || Instant::now() + wait > deadline {
                        return Err(ProviderError::RateLimited {
                            retry_after: RetryAfter::from_now(wait),
                            detail: UpstreamDetail { status: Some(429), ..Default::default() },
                        });
                    }
                    // DigitalOcean did not act on a 429, so even a create may go again.
                }
                Ok(reply)
                    if is_retryable_status(reply.status) && retry == Retry::Idempotent && attempts_left =>
                {
                    ambiguous = true;
                    self.pause_before_retry(attempt, deadline, &format!("HTTP {}", reply.status)).await?;
                }
                Ok(reply) => return Ok(reply),
                Err(problem) if retry == Retry::Idempotent && attempts_left => {
                    ambiguous = true;
                    self.pause_before_retry(attempt, deadline, &problem).await?;
                }
                Err(problem) => return Err(ProviderError::unavailable(problem)),
            }
        }
    }

    async fn pause_before_retry(
        &self,
        attempt: u32,
        deadline: Instant,
        why: &str,
    ) -> Result<(), ProviderError> {
        let delay = self.backoff.delay(attempt - 1);
        if Instant::now() + delay > deadline {
            return Err(ProviderError::unavailable(format!("{why}; no time left to retry")));
        }
        tracing::info!(attempt, delay_ms = delay.as_millis() as u64, why, "retrying DigitalOcean request");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}
