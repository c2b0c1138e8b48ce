//! Sending one call to DigitalOcean: the rate budget, the HTTP attempt, and retries.
//!
//! Nothing DigitalOcean (or whatever answers at `base_url`) sends is trusted: requests go only to
//! paths under the configured `base_url`, redirects are never followed, an answer body is read
//! only up to `max_response_bytes`, the token is scrubbed from every body before anything
//! else sees it, and a 429's `retry-after` holds requests back for at most `max_retry_after`
//! (an answer cannot silence the provider for centuries, nor overflow a clock).
//!
//! DigitalOcean limits a few endpoints on their own, "independent of" the token's 250 a minute
//! and 5,000 an hour (spec, "Rate Limit"): of those Nephele calls, only `GET /v2/account/keys`
//! (listing SSH keys, 10 per 60 s). Such an endpoint has a budget of its own on top of the
//! token's, and a 429 it answers holds that endpoint only: every other request goes on. A 429
//! from any other endpoint holds every request, as the token's budget is spent. (A 429 does not
//! say which limit it enforces; were the SSH-key list refused for the token's limit after all, the
//! next other request is refused too and then holds everything.) Such a 429 is not retried within
//! the call: its hold is up to a minute, and the caller knows best whether to wait for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nephele_core::error::UpstreamDetail;
use nephele_core::{ProviderError, RetryAfter, Secret};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::budget::{BudgetConfig, RateBudget};
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
    /// How long the call waited for the rate budget, over all its attempts.
    pub waited: Duration,
    /// The body's share of the client's in-flight byte budget, given back when the reply is
    /// dropped (after it is decoded).
    _held: Option<OwnedSemaphorePermit>,
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

/// How long a 429 asks us to wait: `retry-after`, else until `ratelimit-reset`, never longer
/// than `longest`. A number too large for `u64` is the longest wait, not no wait.
fn wait_from_headers(headers: &HeaderMap, longest: Duration) -> Option<Duration> {
    let number = |name: &str| {
        let text = headers.get(name)?.to_str().ok()?.trim();
        match text.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => Some(u64::MAX),
            Err(_) => None,
        }
    };
    let asked = if let Some(seconds) = number("retry-after") {
        seconds
    } else {
        let reset = number("ratelimit-reset")?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        reset.saturating_sub(now).max(1)
    };
    Some(Duration::from_secs(asked).min(longest))
}

/// Reads a body of at most `limit` bytes; `Ok(None)` when it is larger (read no further).
///
/// Before reading, the body's room is taken from `budget` in one piece (its declared length,
/// else `limit`), and what it did not use is handed back after: readers never hold part of what
/// they need while waiting for the rest, so they cannot block each other for good.
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    budget: &Arc<Semaphore>,
) -> Result<Option<(Vec<u8>, Option<OwnedSemaphorePermit>)>, reqwest::Error> {
    let declared = response.content_length().map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if declared.is_some_and(|n| n > limit) {
        return Ok(None);
    }
    let room = declared.unwrap_or(limit);
    // The budget is never closed; were it, the body would be read unbudgeted.
    let mut held = budget.clone().acquire_many_owned(u32::try_from(room).unwrap_or(u32::MAX)).await.ok();
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > room {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    if let Some(permit) = &mut held {
        drop(permit.split(room - body.len()));
    }
    Ok(Some((body, held)))
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

/// One HTTP client per set of connection settings, shared by every transport in the process:
/// building one loads the platform's root certificates (about 60 ms in a debug build, a few in
/// release), which a server with a hundred accounts would otherwise pay a hundred times, and
/// accounts at one cloud talk to the same hosts. The client holds connections only: each
/// transport keeps its own token (sent per request), rate budget, limits and metrics.
fn shared_http(connect_timeout: Duration, idle_per_host: usize) -> Result<reqwest::Client, ProviderError> {
    type Clients = std::sync::Mutex<std::collections::HashMap<(Duration, usize), reqwest::Client>>;
    static CLIENTS: std::sync::OnceLock<Clients> = std::sync::OnceLock::new();
    let mut clients =
        CLIENTS.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(client) = clients.get(&(connect_timeout, idle_per_host)) {
        return Ok(client.clone());
    }
    crate::install_crypto_provider();
    let http = reqwest::Client::builder()
        .user_agent(concat!("nephele/", env!("CARGO_PKG_VERSION"), " (+digitalocean provider)"))
        .connect_timeout(connect_timeout)
        .pool_max_idle_per_host(idle_per_host)
        .tcp_nodelay(true)
        // A redirect could carry the call (and, on the same origin, the token) anywhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ProviderError::unavailable(format!("cannot build the HTTP client: {e}")))?;
    clients.insert((connect_timeout, idle_per_host), http.clone());
    Ok(http)
}

/// Endpoints DigitalOcean limits on their own that Nephele calls: method, path (without query),
/// requests per minute.
const ENDPOINT_LIMITS: [(Method, &str, usize); 1] = [(Method::GET, "/v2/account/keys", 10)];

/// An endpoint with a limit of its own, and this client's budget for it.
struct EndpointLimit {
    method: Method,
    path: &'static str,
    budget: RateBudget,
}

/// The HTTP side of a client: one connection pool, the token, the budget, the retry policy.
pub struct Transport {
    http: reqwest::Client,
    base_url: String,
    token: Secret<String>,
    budget: RateBudget,
    /// Budgets of the endpoints DigitalOcean limits on their own, checked on top of `budget`.
    endpoints: Vec<EndpointLimit>,
    backoff: Backoff,
    max_attempts: u32,
    request_timeout: Duration,
    call_deadline: Duration,
    max_response_bytes: usize,
    max_retry_after: Duration,
    /// Answer bytes all calls may hold at once (permits are bytes).
    body_budget: Arc<Semaphore>,
    pub metrics: Arc<ClientMetrics>,
}

impl Transport {
    pub fn new(config: &ClientConfig) -> Result<Self, ProviderError> {
        let http = shared_http(config.connect_timeout, config.list_concurrency.max(8))?;
        Ok(Self {
            http,
            base_url: config.base_url.clone(),
            token: config.token.clone(),
            budget: RateBudget::new(config.budget),
            endpoints: ENDPOINT_LIMITS
                .into_iter()
                .map(|(method, path, per_minute)| EndpointLimit {
                    method,
                    path,
                    budget: RateBudget::new(BudgetConfig {
                        per_minute,
                        // No hourly limit is stated: the minute's, sixty times.
                        per_hour: per_minute * 60,
                        burst: per_minute,
                        ..config.budget
                    }),
                })
                .collect(),
            backoff: Backoff { base: config.backoff_base, cap: config.backoff_cap },
            max_attempts: config.max_attempts.max(1),
            request_timeout: config.request_timeout,
            call_deadline: config.call_deadline,
            max_response_bytes: config.max_response_bytes,
            max_retry_after: config.max_retry_after,
            body_budget: Arc::new(Semaphore::new(
                config
                    .max_in_flight_response_bytes
                    .max(config.max_response_bytes)
                    .min(Semaphore::MAX_PERMITS),
            )),
            metrics: Arc::new(ClientMetrics::default()),
        })
    }

    /// The URL of `path` (`/v2/...`) under `base_url`. Anything else is refused: the token goes
    /// to the configured origin and nowhere else, whatever an answer's links say.
    fn url(&self, path: &str) -> Result<String, ProviderError> {
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(ProviderError::invalid_response(
                "refused to send a request outside the configured base_url",
            ));
        }
        Ok(format!("{}{}", self.base_url, path))
    }

    /// `n` processes share the token: keep to 1/n of the rate limits.
    pub fn share_rate_limit(&self, n: u32) {
        self.budget.share(n);
        for endpoint in &self.endpoints {
            endpoint.budget.share(n);
        }
    }

    /// The endpoint `method path` names, when DigitalOcean limits it on its own.
    fn endpoint(&self, method: &Method, path: &str) -> Option<&EndpointLimit> {
        let path = path.split('?').next().unwrap_or(path);
        self.endpoints.iter().find(|e| e.method == *method && e.path == path)
    }

    /// For an endpoint DigitalOcean limits on its own: how long a request to it would wait now
    /// (zero when it may go at once). `None` for any other endpoint.
    pub fn endpoint_wait(&self, method: &Method, path: &str) -> Option<Duration> {
        self.endpoint(method, path).map(|e| e.budget.wait_now())
    }

    /// For an endpoint DigitalOcean limits on its own: the requests a minute this process may
    /// send to it (its share). `None` for any other endpoint.
    pub fn endpoint_per_minute_share(&self, method: &Method, path: &str) -> Option<usize> {
        self.endpoint(method, path).map(|e| e.budget.per_minute_share())
    }

    /// Requests a minute this process may send.
    /// What is left of the rate budget now: (this minute, this hour).
    pub fn budget_remaining(&self) -> (usize, usize) {
        self.budget.remaining()
    }

    pub fn per_minute_share(&self) -> usize {
        self.budget.per_minute_share()
    }

    /// The call deadline: every attempt, backoff and budget wait of one call fits in it.
    pub fn call_deadline(&self) -> Duration {
        self.call_deadline
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
        // The deadline is configured (a day at most), never from outside.
        let deadline = Instant::now() + self.call_deadline;
        let url = self.url(path)?;
        let endpoint = self.endpoint(&method, path);
        let mut ambiguous = false;
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                self.metrics.retry();
            }
            if let Some(endpoint) = endpoint {
                waited += endpoint.budget.acquire(deadline, &self.metrics).await?;
            }
            waited += self.budget.acquire(deadline, &self.metrics).await?;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.token.expose())
                .timeout(self.request_timeout);
            if let Some(body) = body {
                request = request.json(body);
            }
            self.metrics.request_sent();
            let outcome = match request.send().await {
                Ok(response) if response.status().is_redirection() => {
                    return Err(ProviderError::InvalidResponse {
                        message: format!(
                            "DigitalOcean answered with a redirect (HTTP {}); Nephele does not follow redirects",
                            response.status().as_u16()
                        ),
                        detail: UpstreamDetail {
                            status: Some(response.status().as_u16()),
                            ..Default::default()
                        },
                    });
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = wait_from_headers(response.headers(), self.max_retry_after);
                    match read_capped(response, self.max_response_bytes, &self.body_budget).await {
                        Ok(Some((bytes, held))) => Ok(Reply {
                            status,
                            body: nephele_core::scrub_bytes(bytes, &[self.token.expose().as_bytes()]),
                            retry_after,
                            after_ambiguous_failure: ambiguous,
                            waited,
                            _held: held,
                        }),
                        Ok(None) => {
                            self.metrics.oversized_response();
                            return Err(ProviderError::InvalidResponse {
                                message: format!(
                                    "DigitalOcean's answer is larger than {} bytes (providers.digitalocean.max_response_bytes); it was not read",
                                    self.max_response_bytes
                                ),
                                detail: UpstreamDetail {
                                    status: Some(status.as_u16()),
                                    ..Default::default()
                                },
                            });
                        }
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
                    // `wait` is at most `max_retry_after` (an hour at most), so this always adds up.
                    let until = Instant::now().checked_add(wait);
                    // An endpoint with its own limit is held alone; any other 429 holds everything.
                    let held = endpoint.map_or(&self.budget, |e| &e.budget);
                    if let Some(until) = until {
                        held.block_until(until);
                    }
                    match endpoint {
                        Some(endpoint) => tracing::warn!(
                            wait_ms = wait.as_millis() as u64,
                            endpoint = endpoint.path,
                            "DigitalOcean answered 429 on an endpoint with its own limit; holding that endpoint's requests"
                        ),
                        None => tracing::warn!(
                            wait_ms = wait.as_millis() as u64,
                            "DigitalOcean answered 429; holding all requests"
                        ),
                    }
                    // A held endpoint is answered at once: its caller decides whether to wait (the
                    // inventory keeps its last list; an operation tries again after `wait`).
                    if endpoint.is_some() || !attempts_left || until.is_none_or(|until| until > deadline) {
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
        if Instant::now().checked_add(delay).is_none_or(|at| at > deadline) {
            return Err(ProviderError::unavailable(format!("{why}; no time left to retry")));
        }
        tracing::info!(attempt, delay_ms = delay.as_millis() as u64, why, "retrying DigitalOcean request");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn a_retry_after_of_any_size_is_cut_to_the_longest_wait() {
        let longest = Duration::from_secs(60);
        for huge in ["10000000000", "1000000000000", "18446744073709551615", "99999999999999999999999"] {
            assert_eq!(
                wait_from_headers(&headers(&[("retry-after", huge)]), longest),
                Some(longest),
                "{huge}"
            );
        }
        assert_eq!(
            wait_from_headers(&headers(&[("retry-after", "7")]), longest),
            Some(Duration::from_secs(7))
        );
        assert_eq!(wait_from_headers(&headers(&[("retry-after", "soon")]), longest), None);
        let reset = headers(&[("ratelimit-reset", "18446744073709551615")]);
        assert_eq!(wait_from_headers(&reset, longest), Some(longest));
        assert_eq!(
            wait_from_headers(&headers(&[("ratelimit-reset", "1")]), longest),
            Some(Duration::from_secs(1))
        );
    }
}
