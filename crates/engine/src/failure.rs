//! `Failure`: what the engine answers when it refuses or cannot do what it was asked, in the one
//! vocabulary of [`ErrorCode`]s. The HTTP layer writes it out as an RFC 9457 problem document;
//! nothing here knows about HTTP beyond the status number each code carries.
//!
//! The `From` impls decide, in one place, which code each kind of failure gets: the caller's
//! mistakes name the field at fault; a provider refusing or failing is mapped by kind (its own
//! words only where they are about the caller's request); nothing a caller sends becomes an
//! internal error.

use nephele_core::error::UpstreamDetail;
use nephele_core::{ErrorCode, ProviderError};
use serde::Serialize;

use crate::inventory::ReadError;
use crate::operations::record::OperationError;
use crate::store::StoreError;

/// One field's problem.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path to the field (`name`, `tags[2]`).
    pub field: String,
    pub message: String,
    /// Close matches for an unknown value, best first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into(), suggestions: Vec::new() }
    }

    pub fn with_suggestions(mut self, suggestions: Vec<String>) -> Self {
        self.suggestions = suggestions;
        self
    }
}

/// A refusal or failure, for the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub code: ErrorCode,
    /// The title, when this use of the code has a more precise one than [`ErrorCode::title`].
    pub title: Option<&'static str>,
    /// What went wrong, for the caller.
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds, for failures that say when to come back (a provider's rate limit or outage).
    pub retry_after: Option<u64>,
    /// The provider's own status, error code and request id, when a provider failure caused this.
    pub upstream: Option<Box<UpstreamDetail>>,
}

/// Seconds a caller is told to wait after `provider_unavailable` (a plugin restarts within them).
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

impl Failure {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            title: None,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            upstream: None,
        }
    }

    /// The same failure with a more precise title than its code's.
    pub fn titled(self, title: &'static str) -> Self {
        Self { title: Some(title), ..self }
    }

    /// The request is well-formed but these fields are wrong.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail =
            errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        Self { errors, ..Self::new(ErrorCode::InvalidInput, detail) }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    pub fn unknown_provider(name: &str, configured: &[String]) -> Self {
        let list = if configured.is_empty() { "none".to_owned() } else { configured.join(", ") };
        Self::new(
            ErrorCode::UnknownProvider,
            format!("no provider named {name:?} is configured; configured: {list}"),
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
    }
}

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Self {
        // The whole error, in the provider's words, goes to the log; the caller gets
        // `caller_message` and the provider's code and request id.
        tracing::warn!(code = error.code().as_str(), detail = ?error.detail(), "provider error: {error}");
        let message = error.caller_message();
        let upstream = Some(error.detail())
            .filter(|d| d.code.is_some() || d.request_id.is_some())
            .map(|d| Box::new(d.clone()));
        let failure = match error {
            ProviderError::InvalidInput { field, .. } => {
                Self::invalid(vec![FieldError::new(field.unwrap_or_else(|| "body".to_owned()), message)])
            }
            ProviderError::RateLimited { retry_after, .. } => Self {
                retry_after: Some(retry_after.after.as_secs().max(1)),
                ..Self::new(ErrorCode::ProviderRateLimited, message)
            },
            // The provider (or its plugin) is down for now, and the caller may try again shortly.
            ProviderError::Unavailable { .. } => Self {
                retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECS),
                ..Self::new(ErrorCode::ProviderUnavailable, message)
            },
            other => Self::new(other.code(), message),
        };
        Self { upstream, ..failure }
    }
}

impl From<&OperationError> for Failure {
    /// What a request that ran an operation's step answers when that step failed it.
    fn from(error: &OperationError) -> Self {
        Self {
            upstream: error.upstream.clone().map(Box::new),
            ..Self::new(error.code, error.message.clone())
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, "store error");
        Self::new(
            ErrorCode::StoreUnavailable,
            "Nephele cannot reach its database right now; nothing was changed, retry later",
        )
    }
}

/// A read that had to be answered without the provider: its failure, or 503 when it is overdue
/// (its fetch goes on, and a retry shortly after may find its result).
impl From<ReadError> for Failure {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Provider(error) => error.into(),
            ReadError::TimedOut { budget } => Self {
                retry_after: Some(budget.as_secs().max(1)),
                ..Self::new(
                    ErrorCode::ProviderUnavailable,
                    format!(
                        "the provider did not answer within {} ms and Nephele has no copy of its instances yet; it is still being read, retry shortly",
                        budget.as_millis()
                    ),
                )
            },
        }
    }
}

/// A provider that could not be read (or an instance that could not be priced) while a list or
/// a report was gathered: the answer goes on with the rest and names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderIssue {
    pub provider: String,
    pub code: ErrorCode,
    pub message: String,
    /// The instance it concerns, when it concerns one.
    pub instance: Option<String>,
    /// What the provider said (its status, code and request id), when it said something.
    pub upstream: Option<UpstreamDetail>,
}

impl ProviderIssue {
    /// A provider's failure, in the words a caller is shown (its own kept for the log).
    pub fn from_provider(provider: &str, error: &ProviderError) -> Self {
        tracing::warn!(provider, code = error.code().as_str(), detail = ?error.detail(), "provider error: {error}");
        Self {
            provider: provider.to_owned(),
            code: error.code(),
            message: error.caller_message(),
            instance: None,
            upstream: Some(error.detail().clone()),
        }
    }

    /// Why a provider's copy could not be read fresh.
    pub fn from_read(provider: &str, error: &ReadError) -> Self {
        match error {
            ReadError::Provider(error) => Self::from_provider(provider, error),
            ReadError::TimedOut { budget } => Self {
                provider: provider.to_owned(),
                code: ErrorCode::ProviderTimedOut,
                message: format!(
                    "the provider did not answer within {} ms; its last good copy is shown when there is one, and it is still being read",
                    budget.as_millis()
                ),
                instance: None,
                upstream: None,
            },
        }
    }
}
