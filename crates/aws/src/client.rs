//! The EC2 Query API over HTTP: a signed form POST per call, an XML answer read within a size
//! and a time bound, throttled by the client's own buckets, retried with backoff and jitter
//! where that is safe.
//!
//! What is retried: reads (`Describe*`) after throttling, a 5xx or a broken connection; changes
//! only after throttling or a refused connection, which both mean EC2 did nothing. Any other
//! failure of a change is left to the caller, which looks up what happened (by tag) before it
//! tries again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use nephele_core::error::UpstreamDetail;
use nephele_core::{ProviderError, RetryAfter, upstream_text};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::errors;
use crate::settings::ClientSettings;
use crate::throttle::{ActionClass, Bucket};
use crate::wire;

/// The Query API version Nephele speaks.
const API_VERSION: &str = "2016-11-15";
const MAX_ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A call's parameters, in the Query API's flattened form (`Filter.1.Name`).
pub type Params = Vec<(String, String)>;

/// Traffic counters, for `/metrics`.
#[derive(Default)]
pub struct Counters {
    pub requests_sent: AtomicU64,
    pub retries: AtomicU64,
    /// Answers of `RequestLimitExceeded` (EC2's own throttling).
    pub throttled: AtomicU64,
    /// Time calls waited for the client's own buckets.
    pub throttle_wait_ms: AtomicU64,
    pub failed: AtomicU64,
}

pub struct Ec2Client {
    http: reqwest::Client,
    pub settings: ClientSettings,
    describe: Bucket,
    mutate: Bucket,
    pub counters: Counters,
}

/// How one attempt ended.
enum Attempt {
    Answered(u16, Vec<u8>),
    /// Never reached EC2: safe to send again, whatever the action.
    NotSent(String),
    /// Sent, with no answer: EC2 may or may not have acted.
    Lost(String),
    TooLarge,
}

impl Ec2Client {
    pub fn new(settings: ClientSettings) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            // Credentials go only to the endpoint they were signed for.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::Unavailable {
                message: format!("cannot build the HTTP client: {e}"),
                detail: UpstreamDetail::default(),
            })?;
        Ok(Self {
            describe: Bucket::new(settings.describe_per_second),
            mutate: Bucket::new(settings.mutate_per_second),
            http,
            settings,
            counters: Counters::default(),
        })
    }

    pub fn counters(&self) -> BTreeMap<&'static str, u64> {
        let c = &self.counters;
        BTreeMap::from([
            ("requests_sent", c.requests_sent.load(Ordering::Relaxed)),
            ("retries", c.retries.load(Ordering::Relaxed)),
            ("throttled", c.throttled.load(Ordering::Relaxed)),
            ("throttle_wait_ms", c.throttle_wait_ms.load(Ordering::Relaxed)),
            ("failed", c.failed.load(Ordering::Relaxed)),
        ])
    }

    /// The deadline of a call that starts now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.settings.call_deadline
    }

    fn endpoint(&self, region: &str) -> String {
        match &self.settings.endpoint_url {
            Some(url) => format!("{url}/"),
            None => format!("https://ec2.{region}.amazonaws.com/"),
        }
    }

    /// Calls `action` in `region` and reads its answer as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        region: &str,
        action: &str,
        params: &Params,
        deadline: Instant,
    ) -> Result<T, ProviderError> {
        let result = self.call_inner(region, action, params, deadline).await;
        if result.is_err() {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn call_inner<T: DeserializeOwned>(
        &self,
        region: &str,
        action: &str,
        params: &Params,
        deadline: Instant,
    ) -> Result<T, ProviderError> {
        let class = ActionClass::of(action);
        let body = form_body(action, params);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let bucket = if class == ActionClass::Describe { &self.describe } else { &self.mutate };
            match bucket.take(deadline).await {
                Ok(waited) => {
                    self.counters.throttle_wait_ms.fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
                }
                Err(wait) => {
                    return Err(ProviderError::RateLimited {
                        retry_after: RetryAfter::from_now(wait),
                        detail: UpstreamDetail::default(),
                    });
                }
            }
            let failure = match self.attempt(region, &body, deadline).await {
                Attempt::Answered(status, bytes) if (200..300).contains(&status) => {
                    return quick_xml::de::from_reader(bytes.as_slice()).map_err(|e| {
                        ProviderError::InvalidResponse {
                            message: format!("{action}: unreadable answer: {e}"),
                            detail: UpstreamDetail { status: Some(status), ..Default::default() },
                        }
                    });
                }
                Attempt::Answered(status, bytes) => {
                    let error = self.error_from(status, &bytes);
                    let throttled = matches!(error, ProviderError::RateLimited { .. });
                    if throttled {
                        self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let retry = throttled || (class == ActionClass::Describe && status >= 500);
                    if !retry {
                        return Err(error);
                    }
                    error
                }
                Attempt::NotSent(reason) => unavailable(format!("{action}: {reason}")),
                Attempt::Lost(reason) if class == ActionClass::Describe => {
                    unavailable(format!("{action}: {reason}"))
                }
                Attempt::Lost(reason) => return Err(unavailable(format!("{action}: {reason}"))),
                Attempt::TooLarge => {
                    return Err(ProviderError::InvalidResponse {
                        message: format!(
                            "{action}: the answer is larger than {} bytes",
                            self.settings.max_response_bytes
                        ),
                        detail: UpstreamDetail::default(),
                    });
                }
            };
            // Exponential backoff with full jitter, as AWS asks, within the call's deadline.
            let cap = (FIRST_BACKOFF * 2u32.pow(attempt.min(10))).min(MAX_BACKOFF);
            let pause = Duration::from_millis(fastrand::u64(0..=cap.as_millis() as u64));
            if attempt >= MAX_ATTEMPTS || Instant::now() + pause >= deadline {
                return Err(failure);
            }
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(pause).await;
        }
    }

    async fn attempt(&self, region: &str, body: &str, deadline: Instant) -> Attempt {
        let url = self.endpoint(region);
        let headers = match self.sign(region, &url, body) {
            Ok(headers) => headers,
            Err(reason) => return Attempt::NotSent(reason),
        };
        let mut request = self.http.post(&url).header("content-type", FORM).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let time = self.settings.request_timeout.min(deadline.saturating_duration_since(Instant::now()));
        self.counters.requests_sent.fetch_add(1, Ordering::Relaxed);
        let limit = self.settings.max_response_bytes;
        let exchange = async {
            let mut response = match request.send().await {
                Ok(response) => response,
                Err(e) if e.is_connect() => {
                    return Attempt::NotSent(format!("cannot connect: {}", without_url(&e)));
                }
                Err(e) => return Attempt::Lost(format!("no answer: {}", without_url(&e))),
            };
            let status = response.status().as_u16();
            if response.content_length().is_some_and(|n| n > limit as u64) {
                return Attempt::TooLarge;
            }
            let mut bytes = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) if bytes.len() + chunk.len() > limit => return Attempt::TooLarge,
                    Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                    Ok(None) => return Attempt::Answered(status, bytes),
                    Err(e) => return Attempt::Lost(format!("answer cut short: {}", without_url(&e))),
                }
            }
        };
        match tokio::time::timeout(time, exchange).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Lost(format!("no answer within {} s", time.as_secs_f64())),
        }
    }

    /// SigV4 headers for a POST of `body` to `url`, for EC2 in `region`.
    fn sign(&self, region: &str, url: &str, body: &str) -> Result<Vec<(String, String)>, String> {
        let s = &self.settings;
        let identity: Identity = Credentials::new(
            s.access_key_id.clone(),
            s.secret_access_key.expose().clone(),
            s.session_token.as_ref().map(|t| t.expose().clone()),
            None,
            "nephele-settings",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign: {e}"))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url,
            [("content-type", FORM)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("cannot sign: {e}"))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| format!("cannot sign: {e}"))?.into_parts();
        Ok(instructions.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect())
    }

    fn error_from(&self, status: u16, bytes: &[u8]) -> ProviderError {
        let secret = self.settings.secret_access_key.expose().as_str();
        let text = String::from_utf8_lossy(bytes);
        match quick_xml::de::from_str::<wire::ErrorResponse>(&text) {
            Ok(answer) if !answer.errors.errors.is_empty() => {
                let first = &answer.errors.errors[0];
                let message = upstream_text(&first.message, &[secret]);
                errors::from_code(status, &first.code, message, answer.request_id)
            }
            _ => errors::from_code(status, "", format!("HTTP {status} without an EC2 error"), None),
        }
    }
}

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

fn form_body(action: &str, params: &Params) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    body.append_pair("Action", action).append_pair("Version", API_VERSION);
    for (key, value) in params {
        body.append_pair(key, value);
    }
    body.finish()
}

fn unavailable(message: String) -> ProviderError {
    ProviderError::Unavailable { message, detail: UpstreamDetail::default() }
}

/// reqwest's errors name the URL; the text stays short and free of query strings.
fn without_url(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut last = error.to_string();
    while let Some(e) = source {
        last = e.to_string();
        source = e.source();
    }
    last
}
