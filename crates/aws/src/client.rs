//! The EC2 Query API over HTTP: a signed form POST per call, an XML answer read within a size
//! and a time bound, throttled by the client's own buckets, retried with backoff and jitter
//! where that is safe.
//!
//! What is retried: reads (`Describe*`) after throttling, a 5xx or a broken connection; changes
//! only after throttling or a refused connection, which both mean EC2 did nothing. Any other
//! failure of a change is left to the caller, which looks up what happened (by tag) before it
//! tries again.
//!
//! Whatever answers at the endpoint is read strictly and as untrusted: every credential this
//! client sends (the access key id, the secret, the session token, the request's signature and
//! whole `Authorization` header) is scrubbed from an answer's bytes before anything reads them;
//! a 2xx answer must be the action's own XML document (`<DescribeInstancesResponse>`), so an HTML
//! page or any other garbage is an unusable answer, never an empty list; a redirect is never
//! followed and is an unusable answer too; a throttling answer's `Retry-After` is cut to
//! `max_retry_after_secs`.

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
    /// An answer: its status, its body (credentials scrubbed) and the wait its `Retry-After` asks
    /// for (already cut to `max_retry_after`).
    Answered(u16, Vec<u8>, Option<Duration>),
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
            let mut asked_wait = None;
            let failure = match self.attempt(region, &body, deadline).await {
                Attempt::Answered(status, bytes, _) if (200..300).contains(&status) => {
                    return read_answer(action, status, &bytes);
                }
                Attempt::Answered(status, _, _) if (300..400).contains(&status) => {
                    return Err(ProviderError::InvalidResponse {
                        message: format!(
                            "{action}: the endpoint answered with a redirect (HTTP {status}); Nephele does not follow redirects"
                        ),
                        detail: UpstreamDetail { status: Some(status), ..Default::default() },
                    });
                }
                Attempt::Answered(status, bytes, retry_after) => {
                    let error = self.error_from(status, &bytes, retry_after);
                    let throttled = matches!(error, ProviderError::RateLimited { .. });
                    if throttled {
                        self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                        asked_wait = retry_after;
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
            // Exponential backoff with full jitter, as AWS asks, within the call's deadline; never
            // sooner than a throttling answer's (already bounded) `Retry-After`.
            let cap = (FIRST_BACKOFF * 2u32.pow(attempt.min(10))).min(MAX_BACKOFF);
            let pause = Duration::from_millis(fastrand::u64(0..=cap.as_millis() as u64))
                .max(asked_wait.unwrap_or_default());
            if attempt >= MAX_ATTEMPTS || Instant::now().checked_add(pause).is_none_or(|at| at >= deadline) {
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
        let credentials = self.credentials_in(&headers);
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
            let retry_after = retry_after(response.headers(), self.settings.max_retry_after);
            let mut bytes = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) if bytes.len() + chunk.len() > limit => return Attempt::TooLarge,
                    Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                    Ok(None) => {
                        let secrets: Vec<&[u8]> = credentials.iter().map(|c| c.as_bytes()).collect();
                        return Attempt::Answered(
                            status,
                            nephele_core::scrub_bytes(bytes, &secrets),
                            retry_after,
                        );
                    }
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

    /// Every credential an answer to a request signed with `headers` could echo: the settings'
    /// three, and this request's `Authorization` header and signature, each also as a URL would
    /// encode it (a session token holds `/`, `+` and `=`).
    fn credentials_in(&self, headers: &[(String, String)]) -> Vec<String> {
        let s = &self.settings;
        let mut credentials = vec![s.secret_access_key.expose().clone(), s.access_key_id.clone()];
        credentials.extend(s.session_token.as_ref().map(|t| t.expose().clone()));
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("authorization") {
                credentials.push(value.clone());
                if let Some((_, signature)) = value.rsplit_once("Signature=") {
                    credentials.push(signature.trim().to_owned());
                }
            }
        }
        let encoded: Vec<String> = credentials
            .iter()
            .map(|c| form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>())
            .filter(|e| !credentials.contains(e))
            .collect();
        credentials.extend(encoded);
        // Longest first: a whole header is replaced before the signature inside it.
        credentials.sort_by_key(|c| std::cmp::Reverse(c.len()));
        credentials
    }

    /// The error for a non-2xx, non-3xx answer (already scrubbed of credentials). EC2's words are
    /// untrusted text: cleaned and bounded (and scrubbed again, in case an echo was encoded
    /// differently in the bytes than in the text).
    fn error_from(&self, status: u16, bytes: &[u8], retry_after: Option<Duration>) -> ProviderError {
        let s = &self.settings;
        let mut secrets = vec![s.secret_access_key.expose().as_str(), s.access_key_id.as_str()];
        secrets.extend(s.session_token.as_ref().map(|t| t.expose().as_str()));
        let text = String::from_utf8_lossy(bytes);
        match quick_xml::de::from_str::<wire::ErrorResponse>(&text) {
            Ok(answer) if !answer.errors.errors.is_empty() => {
                let first = &answer.errors.errors[0];
                let message = upstream_text(&first.message, &secrets);
                let code = upstream_text(&first.code, &secrets);
                let request_id = answer.request_id.map(|r| upstream_text(&r, &secrets));
                errors::from_code(status, &code, message, request_id, retry_after)
            }
            _ if status >= 500 => ProviderError::Unavailable {
                message: format!("HTTP {status} without an EC2 error"),
                detail: UpstreamDetail { status: Some(status), ..Default::default() },
            },
            // Not EC2 speaking (a proxy's page, say): nothing about the caller's request.
            _ => ProviderError::InvalidResponse {
                message: format!("HTTP {status} without an EC2 error"),
                detail: UpstreamDetail { status: Some(status), ..Default::default() },
            },
        }
    }
}

/// How long a `Retry-After` (in seconds) asks to wait, cut to `longest`; a number too large for
/// `u64` is the longest wait.
fn retry_after(headers: &reqwest::header::HeaderMap, longest: Duration) -> Option<Duration> {
    let text = headers.get("retry-after")?.to_str().ok()?.trim();
    let seconds = match text.parse::<u64>() {
        Ok(n) => n,
        Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => u64::MAX,
        Err(_) => return None,
    };
    Some(Duration::from_secs(seconds).min(longest))
}

/// A 2xx answer to `action`, read strictly: its root element must be `<{action}Response>`, as
/// every EC2 Query answer's is. Anything else (an HTML page from whatever answers at the
/// endpoint, an empty body, another action's answer) is unusable: reading it leniently would
/// make garbage look like an empty list, and an empty list of instances tagged with an operation
/// would make the exactly-once create send `RunInstances` again.
fn read_answer<T: DeserializeOwned>(action: &str, status: u16, bytes: &[u8]) -> Result<T, ProviderError> {
    let unusable = |why: String| ProviderError::InvalidResponse {
        message: format!("{action}: unusable answer: {}", upstream_text(&why, &[])),
        detail: UpstreamDetail { status: Some(status), ..Default::default() },
    };
    let expected = format!("{action}Response");
    match root_element(bytes) {
        Some(root) if root == expected => {}
        Some(root) => return Err(unusable(format!("the document is <{root}>, not <{expected}>"))),
        None => return Err(unusable(format!("not an XML document (expected <{expected}>)"))),
    }
    quick_xml::de::from_reader(bytes).map_err(|e| unusable(e.to_string()))
}

/// The local name of a document's root element, past its declaration, comments, processing
/// instructions, doctype and blank text; `None` when it does not start with an element.
fn root_element(bytes: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    loop {
        match reader.read_event().ok()? {
            Event::Start(element) | Event::Empty(element) => {
                return Some(element.local_name().as_ref().to_owned());
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Text(text) if text.trim().is_empty() => {}
            _ => return None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_must_be_the_actions_own_document() {
        let html = b"<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>";
        let refused =
            read_answer::<wire::DescribeInstances>("DescribeInstances", 200, html).expect_err("html");
        assert_eq!(refused.code(), nephele_core::ErrorCode::ProviderBadResponse);
        assert!(refused.to_string().contains("<html>"), "{refused}");
        for garbage in
            [&b""[..], b"not xml at all", b"{\"reservationSet\": []}", b"<DescribeRegionsResponse/>"]
        {
            assert!(read_answer::<wire::DescribeInstances>("DescribeInstances", 200, garbage).is_err());
        }
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><reservationSet/><requestId>r</requestId></DescribeInstancesResponse>"#;
        let read: wire::DescribeInstances =
            read_answer("DescribeInstances", 200, moto).expect("moto's answer");
        assert!(read.reservation_set.items.is_empty());
    }

    #[test]
    fn a_retry_after_of_any_size_is_cut_to_the_longest_wait() {
        let longest = Duration::from_secs(60);
        let mut headers = reqwest::header::HeaderMap::new();
        for (value, wait) in
            [("10000000000", 60), ("18446744073709551615", 60), ("99999999999999999999999", 60), ("3", 3)]
        {
            headers.insert("retry-after", value.parse().expect("value"));
            assert_eq!(retry_after(&headers, longest), Some(Duration::from_secs(wait)), "{value}");
        }
        headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("value"));
        assert_eq!(retry_after(&headers, longest), None);
    }
}
