//! The errors every provider speaks, so callers can act on them without knowing the cloud.
//!
//! Use [`ProviderError`] for anything that went wrong talking to, or being refused by, a cloud.
//! Each variant keeps what a caller needs to decide the next step (retry, fix input, re-auth);
//! none of them may carry credentials.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::code::ErrorCode;

/// When a rate-limited request may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryAfter {
    /// How long to wait from the moment the error was made.
    pub after: Duration,
    /// The same instant as a UTC time.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl RetryAfter {
    /// `after` from now. The wait usually comes from outside (a `Retry-After` header, a plugin's
    /// answer), so the time is computed saturating: a wait of centuries gives the calendar's
    /// last instant, never an overflow. Providers clamp the wait itself to their own maximum
    /// before it gets here.
    pub fn from_now(after: Duration) -> Self {
        let wait = time::Duration::try_from(after).unwrap_or(time::Duration::MAX);
        Self { after, at: OffsetDateTime::now_utc().saturating_add(wait) }
    }
}

/// Details the provider gave about a failure, kept for support tickets and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamDetail {
    /// HTTP status of the provider's answer, when there was one.
    pub status: Option<u16>,
    /// The provider's own error code (`not_found`, `unprocessable_entity`).
    pub code: Option<String>,
    /// The provider's request id.
    pub request_id: Option<String>,
}

/// A failure of a provider call, in terms every provider shares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderError {
    /// The thing asked for does not exist (or no longer does).
    #[error("not found: {message}")]
    NotFound { message: String, detail: UpstreamDetail },
    /// The request was refused as invalid; `field` names the culprit when known.
    #[error("invalid input{}: {message}", field.as_ref().map(|f| format!(" in `{f}`")).unwrap_or_default())]
    InvalidInput { field: Option<String>, message: String, detail: UpstreamDetail },
    /// The credentials were missing, wrong or lack a scope.
    #[error("unauthorised: {message}")]
    Unauthorized { message: String, detail: UpstreamDetail },
    /// The provider's rate limit (or our own budget for it) does not allow the call now.
    #[error("rate limited: retry after {:.1}s", retry_after.after.as_secs_f64())]
    RateLimited { retry_after: RetryAfter, detail: UpstreamDetail },
    /// The request conflicts with the resource's state (e.g. an action already in progress).
    #[error("conflict: {message}")]
    Conflict { message: String, detail: UpstreamDetail },
    /// The provider could not be reached or failed on its side.
    #[error("provider unavailable: {message}")]
    Unavailable { message: String, detail: UpstreamDetail },
    /// The provider answered something Nephele will not read: too large, malformed, a redirect,
    /// a pagination link to another origin, a list that never ends.
    #[error("unusable answer from the provider: {message}")]
    InvalidResponse { message: String, detail: UpstreamDetail },
    /// The provider does not offer this at all (a resource kind it has no capability for).
    #[error("not supported: {message}")]
    NotSupported { message: String, detail: UpstreamDetail },
}

impl ProviderError {
    /// Whether trying the same request again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable { .. } | Self::InvalidResponse { .. })
    }

    /// The code every route shows for this failure (see [`ErrorCode`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::InvalidInput { .. } => ErrorCode::InvalidInput,
            Self::Unauthorized { .. } => ErrorCode::ProviderUnauthorized,
            Self::RateLimited { .. } => ErrorCode::ProviderRateLimited,
            Self::Conflict { .. } => ErrorCode::Conflict,
            Self::Unavailable { .. } => ErrorCode::ProviderUnavailable,
            Self::InvalidResponse { .. } => ErrorCode::ProviderBadResponse,
            Self::NotSupported { .. } => ErrorCode::NotSupported,
        }
    }

    /// What a caller is told of this failure. A provider's words are untrusted text: they are
    /// passed on only where they are about the caller's own request (not found, invalid input, a
    /// conflict, an answer Nephele refused), already cleaned and bounded by the provider; a
    /// refusal of Nephele's credentials or an outage is described in Nephele's words, with the
    /// provider's code and request id beside it (in [`ProviderError::detail`]).
    pub fn caller_message(&self) -> String {
        match self {
            Self::NotFound { message, .. }
            | Self::InvalidInput { message, .. }
            | Self::Conflict { message, .. }
            | Self::InvalidResponse { message, .. }
            | Self::NotSupported { message, .. } => message.clone(),
            Self::RateLimited { retry_after, .. } => format!(
                "the provider's rate limit is exhausted; retry after {} seconds",
                retry_after.after.as_secs().max(1)
            ),
            Self::Unauthorized { .. } => {
                "the provider refused Nephele's configured credentials; an operator must check them"
                    .to_owned()
            }
            Self::Unavailable { .. } => {
                "the provider could not be reached or failed; nothing was lost, retry later".to_owned()
            }
        }
    }

    pub fn detail(&self) -> &UpstreamDetail {
        match self {
            Self::NotFound { detail, .. }
            | Self::InvalidInput { detail, .. }
            | Self::Unauthorized { detail, .. }
            | Self::RateLimited { detail, .. }
            | Self::Conflict { detail, .. }
            | Self::Unavailable { detail, .. }
            | Self::InvalidResponse { detail, .. }
            | Self::NotSupported { detail, .. } => detail,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound { message: message.into(), detail: UpstreamDetail::default() }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: Some(field.into()),
            message: message.into(),
            detail: UpstreamDetail::default(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable { message: message.into(), detail: UpstreamDetail::default() }
    }

    /// The provider has no `capability` (`volumes`, `firewalls`, ...).
    pub fn not_supported(capability: &str) -> Self {
        Self::NotSupported {
            message: format!("this provider does not support {capability}"),
            detail: UpstreamDetail::default(),
        }
    }

    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self::InvalidResponse { message: message.into(), detail: UpstreamDetail::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rate_limits_and_outages_are_retryable() {
        assert!(ProviderError::unavailable("down").is_retryable());
        assert!(
            ProviderError::RateLimited {
                retry_after: RetryAfter::from_now(Duration::from_secs(3)),
                detail: UpstreamDetail::default()
            }
            .is_retryable()
        );
        assert!(!ProviderError::not_found("gone").is_retryable());
        assert!(!ProviderError::invalid("name", "bad").is_retryable());
    }

    #[test]
    fn a_wait_of_any_length_has_a_time_and_no_overflow() {
        for seconds in [10_000_000_000, 1_000_000_000_000, u64::MAX] {
            let retry = RetryAfter::from_now(Duration::from_secs(seconds));
            assert_eq!(retry.after, Duration::from_secs(seconds));
            assert!(retry.at > OffsetDateTime::now_utc(), "{seconds}: {}", retry.at);
        }
        let huge = RetryAfter::from_now(Duration::MAX);
        assert!(huge.at.year() >= 9999, "{}", huge.at);
    }

    #[test]
    fn invalid_input_names_its_field() {
        let err = ProviderError::invalid("name", "must not be empty");
        assert_eq!(err.to_string(), "invalid input in `name`: must not be empty");
        assert_eq!(err.code(), ErrorCode::InvalidInput);
    }
}
