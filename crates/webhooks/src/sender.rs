//! One delivery attempt: POST a signed message to an endpoint and say what became of it.
//!
//! An attempt is bounded in every way the receiver could stretch it: the whole exchange
//! (resolution, connection, TLS, answer) within one timeout, at most 4 KiB of the answer read,
//! no redirect followed, no proxy, and only addresses the guard let through. It never retries
//! (the schedule and the caller do) and never decides what a failure means for the endpoint
//! beyond the typed [`Outcome`]. It never logs or returns the URL or the secrets: a webhook URL
//! often carries a token of the receiver's.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};

use crate::excerpt::{RESPONSE_EXCERPT_LIMIT, ResponseExcerpt};
use crate::guard::{Guard, GuardError, GuardedResolver, LookupError, Refusal, TargetPolicy};
use crate::resolver::{NameResolver, SystemResolver};
use crate::signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, MessageId, SigningKeys, sign};

/// Sent with every delivery, so receivers can tell our traffic apart.
pub const USER_AGENT: &str = concat!("nephele-webhooks/", env!("CARGO_PKG_VERSION"));

/// The shortest wait a `Retry-After` can ask for: `0` (or a date in the past) would make a
/// failing endpoint a busy loop.
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The longest a `Location` header is kept in a redirect's reason.
const MAX_LOCATION_CHARS: usize = 200;

/// How a sender behaves. [`Default`] is the production setting: https only, public addresses
/// only, 15 s per attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    pub policy: TargetPolicy,
    /// The whole attempt, from resolution to the last byte of the answer read.
    pub timeout: Duration,
    /// How long resolving the host may take (inside `timeout`).
    pub resolve_timeout: Duration,
    /// The longest wait a `Retry-After` is honoured for; longer requests are cut to this.
    pub max_retry_after: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            policy: TargetPolicy::default(),
            timeout: Duration::from_secs(15),
            resolve_timeout: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(6 * 60 * 60),
        }
    }
}

/// What is delivered: the message id (also the `webhook-id`, the same on every attempt) and the
/// exact body bytes (JSON, UTF-8), which are signed and sent as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub body: Bytes,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer. The status decides: a body cut off after it (by the timeout, say) does
    /// not undo the delivery.
    Delivered,
    /// 410 Gone: the receiver asks for the endpoint to be disabled.
    Gone,
    /// 429 or 503 with a readable `Retry-After`: try again after `delay` (`asked`, clamped to
    /// [`MIN_RETRY_AFTER`]..=`max_retry_after`).
    RetryAfter { delay: Duration, asked: Duration },
    /// Anything else that went wrong; the schedule decides when to try again.
    Failed(Failure),
    /// The guard refused the target: nothing was sent.
    Refused(Refusal),
}

impl Outcome {
    /// A stable lower-case label for metrics and storage.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Gone => "gone",
            Self::RetryAfter { .. } => "retry_after",
            Self::Failed(_) => "failed",
            Self::Refused(_) => "refused",
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("the endpoint answered {status}")]
    Status { status: u16 },
    #[error("the endpoint answered {status} without a usable Retry-After")]
    RetryWithoutRetryAfter { status: u16 },
    #[error("redirect not followed ({status}{})", .location.as_deref().map(|l| format!(" to {l}")).unwrap_or_default())]
    Redirect { status: u16, location: Option<String> },
    #[error("no complete answer within {} ms", .after.as_millis())]
    TimedOut { after: Duration },
    #[error(transparent)]
    Lookup(LookupError),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("the exchange failed: {0}")]
    Transport(String),
}

/// The record of one attempt, for the delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub outcome: Outcome,
    /// The answer's status, when there was an answer.
    pub status: Option<u16>,
    /// The start of the answer's body (empty when there was none).
    pub response: ResponseExcerpt,
    /// From the start of the attempt to the last byte read (or the failure).
    pub duration: Duration,
    /// The `webhook-timestamp` sent (Unix seconds).
    pub timestamp: u64,
}

impl Attempt {
    /// Why the attempt did not deliver, in a sentence; `None` when it did.
    pub fn reason(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Delivered => None,
            Outcome::Gone => Some("the endpoint answered 410 Gone: it asks to be disabled".to_owned()),
            Outcome::RetryAfter { delay, asked } => Some(format!(
                "the endpoint answered {} with Retry-After {} s; next attempt in {} s",
                self.status.unwrap_or_default(),
                asked.as_secs(),
                delay.as_secs()
            )),
            Outcome::Failed(failure) => Some(failure.to_string()),
            Outcome::Refused(refusal) => Some(format!("refused: {refusal}")),
        }
    }
}

/// Why a sender could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Sends delivery attempts. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Sender {
    http: reqwest::Client,
    guard: Arc<Guard>,
    config: SenderConfig,
}

impl Sender {
    /// A sender that resolves names with the operating system's resolver.
    pub fn new(config: SenderConfig) -> Result<Self, SenderError> {
        Self::with_resolver(config, Arc::new(SystemResolver))
    }

    /// A sender whose guard resolves names with `resolver` (tests: names of their own).
    pub fn with_resolver(config: SenderConfig, resolver: Arc<dyn NameResolver>) -> Result<Self, SenderError> {
        crate::install_crypto_provider();
        let guard = Arc::new(Guard::with_resolver(config.policy, config.resolve_timeout, resolver));
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            // A redirect would take the delivery to a target the guard never saw.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the guard.
            .no_proxy()
            .https_only(!config.policy.allow_http)
            .dns_resolver(GuardedResolver(guard.clone()))
            .pool_max_idle_per_host(4)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| SenderError::Client(describe(&e)))?;
        Ok(Self { http, guard, config })
    }

    /// The guard this sender checks targets with, for checking a URL when a webhook is made.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// One attempt to deliver `message` to `url`, signed with `keys` and stamped now.
    pub async fn attempt(&self, url: &Url, message: &Message, keys: &SigningKeys) -> Attempt {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.attempt_at(url, message, keys, now).await
    }

    /// One attempt with the given `webhook-timestamp` (Unix seconds).
    pub async fn attempt_at(
        &self,
        url: &Url,
        message: &Message,
        keys: &SigningKeys,
        timestamp: u64,
    ) -> Attempt {
        let started = Instant::now();
        let finish = |outcome, status, response| Attempt {
            outcome,
            status,
            response,
            duration: started.elapsed(),
            timestamp,
        };
        if let Err(refusal) = self.guard.check_url_form(url) {
            return finish(Outcome::Refused(refusal), None, ResponseExcerpt::default());
        }
        let signature = sign(&message.id, timestamp, &message.body, keys);
        let request = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(HEADER_ID, message.id.as_str())
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(message.body.clone());
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return finish(self.outcome_of_error(&error), None, ResponseExcerpt::default()),
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let location = response.headers().get(LOCATION).map(location_text);
        let excerpt = read_excerpt(response).await;
        let outcome = match status {
            200..=299 => Outcome::Delivered,
            410 => Outcome::Gone,
            300..=399 => Outcome::Failed(Failure::Redirect { status, location }),
            429 | 503 => match retry_after.as_ref().and_then(|v| parse_retry_after(v, SystemTime::now())) {
                Some(asked) => Outcome::RetryAfter {
                    delay: asked.min(self.config.max_retry_after).max(MIN_RETRY_AFTER),
                    asked,
                },
                None => Outcome::Failed(Failure::RetryWithoutRetryAfter { status }),
            },
            _ => Outcome::Failed(Failure::Status { status }),
        };
        finish(outcome, Some(status), excerpt)
    }

    /// The outcome of a request that got no answer: a guard refusal found in the error's
    /// sources, else what kind of failure it was.
    fn outcome_of_error(&self, error: &reqwest::Error) -> Outcome {
        let mut tls = None;
        let mut source: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(current) = source {
            if let Some(guard_error) = current.downcast_ref::<GuardError>() {
                return match guard_error {
                    GuardError::Refused(refusal) => Outcome::Refused(refusal.clone()),
                    GuardError::Lookup(lookup) => Outcome::Failed(Failure::Lookup(lookup.clone())),
                };
            }
            tls = tls.or_else(|| tls_error(current));
            source = current.source();
        }
        let failure = if error.is_timeout() {
            Failure::TimedOut { after: self.config.timeout }
        } else if let Some(tls) = tls {
            Failure::Tls(tls)
        } else if error.is_connect() {
            Failure::Connect(describe(error))
        } else {
            Failure::Transport(describe(error))
        };
        Outcome::Failed(failure)
    }
}

/// A rustls error among the sources: directly, or inside `io::Error`s (nested, as the TLS
/// stream reports it), whose `source` skips the error they wrap.
fn tls_error(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut current = error;
    loop {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        current = current.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

/// The innermost cause of a transport error, which names what happened ("Connection refused")
/// without the URL: reqwest's own messages quote the URL, and a URL may carry a token.
fn describe(error: &reqwest::Error) -> String {
    let mut innermost = None;
    let mut source = error.source();
    while let Some(current) = source {
        if current.downcast_ref::<reqwest::Error>().is_none() {
            innermost = Some(current);
        }
        source = current.source();
    }
    match innermost {
        Some(cause) => cause.to_string(),
        None if error.is_connect() => "the connection failed".to_owned(),
        None => "the request failed before an answer".to_owned(),
    }
}

/// A `Location` header made fit to keep: escaped like an excerpt and cut short.
fn location_text(value: &HeaderValue) -> String {
    let excerpt = ResponseExcerpt::from_bytes(value.as_bytes(), false);
    match excerpt.text.char_indices().nth(MAX_LOCATION_CHARS) {
        Some((cut, _)) => format!("{}…", &excerpt.text[..cut]),
        None => excerpt.text,
    }
}

/// The wait a `Retry-After` asks for: delay-seconds, or an HTTP-date (a date in the past asks
/// for no wait). `None` when the value is neither.
fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a very long time".
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Reads at most [`RESPONSE_EXCERPT_LIMIT`] bytes of the answer and then stops, however much
/// more the receiver has (or pretends to have). Dropping the answer closes its connection.
async fn read_excerpt(mut response: reqwest::Response) -> ResponseExcerpt {
    let declared = response.content_length();
    let capacity = declared.map_or(RESPONSE_EXCERPT_LIMIT, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut body = Vec::with_capacity(capacity.min(RESPONSE_EXCERPT_LIMIT));
    let mut truncated = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = RESPONSE_EXCERPT_LIMIT - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
                if body.len() == RESPONSE_EXCERPT_LIMIT {
                    truncated = declared != Some(RESPONSE_EXCERPT_LIMIT as u64);
                    break;
                }
            }
            Ok(None) => break,
            // Cut off (by the timeout or the receiver): what was read is kept, the rest unknown.
            Err(_) => {
                truncated = true;
                break;
            }
        }
    }
    ResponseExcerpt::from_bytes(&body, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).expect("a header value")
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 02 Dec 2026 10:00:00 GMT").expect("date");
        assert_eq!(parse_retry_after(&header("120"), now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(&header(" 0 "), now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(&header("Wed, 02 Dec 2026 10:05:00 GMT"), now),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse_retry_after(&header("Wed, 02 Dec 2026 09:00:00 GMT"), now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(&header("99999999999999999999999"), now),
            Some(Duration::from_secs(u64::MAX))
        );
        for unreadable in ["", "-5", "1.5", "soon", "120 s"] {
            assert_eq!(parse_retry_after(&header(unreadable), now), None, "{unreadable:?}");
        }
    }

    #[test]
    fn a_location_is_escaped_and_cut_to_200_characters() {
        let long = format!("https://elsewhere.example/{}", "a".repeat(300));
        let kept = location_text(&header(&long));
        assert_eq!(kept.chars().count(), MAX_LOCATION_CHARS + 1);
        assert!(kept.ends_with('…'));
        assert_eq!(location_text(&header("http://127.0.0.1:9/\t")), "http://127.0.0.1:9/\\t");
    }

    #[test]
    fn outcomes_have_stable_labels() {
        let labels = [
            Outcome::Delivered,
            Outcome::Gone,
            Outcome::RetryAfter { delay: MIN_RETRY_AFTER, asked: Duration::ZERO },
            Outcome::Failed(Failure::Status { status: 500 }),
            Outcome::Refused(Refusal::HttpNotAllowed),
        ]
        .map(|o| o.label());
        assert_eq!(labels, ["delivered", "gone", "retry_after", "failed", "refused"]);
    }
}
