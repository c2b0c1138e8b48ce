//! DigitalOcean's error answers as [`ProviderError`]s.
//!
//! The mapping lives here and nowhere else: 401/403 unauthorised, 404 not found, 422 invalid
//! input (or a conflict when the droplet is busy), 429 rate limited, 5xx unavailable. DigitalOcean's
//! `id`, `message` and `request_id` travel along in [`UpstreamDetail`].

use nephele_core::error::UpstreamDetail;
use nephele_core::{ProviderError, RetryAfter};

use crate::transport::Reply;
use crate::wire::ErrorBody;

/// The error for a non-2xx answer.
pub fn from_reply(reply: &Reply) -> ProviderError {
    let status = reply.status.as_u16();
    let parsed: Option<ErrorBody> = serde_json::from_slice(&reply.body).ok();
    let detail = UpstreamDetail {
        status: Some(status),
        code: parsed.as_ref().map(|e| nephele_core::upstream_text(&e.id, &[])),
        request_id: parsed
            .as_ref()
            .and_then(|e| e.request_id.as_deref().map(|r| nephele_core::upstream_text(r, &[]))),
    };
    // DigitalOcean's words are kept (they often say what was wrong with the request), but as
    // untrusted text: cleaned and bounded. (The transport already scrubbed the token.)
    let message = parsed
        .map(|e| nephele_core::upstream_text(&e.message, &[]))
        .unwrap_or_else(|| format!("DigitalOcean answered HTTP {status} without a readable error body"));
    match status {
        401 | 403 => ProviderError::Unauthorized { message, detail },
        404 => ProviderError::NotFound { message, detail },
        409 => ProviderError::Conflict { message, detail },
        // A droplet busy with another action is a conflict with its state, not bad input.
        422 if message.contains("pending event") => ProviderError::Conflict { message, detail },
        400 | 422 => ProviderError::InvalidInput { field: None, message, detail },
        429 => ProviderError::RateLimited {
            retry_after: RetryAfter::from_now(reply.retry_after.unwrap_or_default()),
            detail,
        },
        _ if status >= 500 => ProviderError::Unavailable { message, detail },
        _ => ProviderError::InvalidInput { field: None, message, detail },
    }
}

/// The error for a 2xx answer whose body cannot be read (malformed, truncated, wrong shape).
pub fn unreadable(what: &str, error: &serde_json::Error) -> ProviderError {
    // serde's message may quote the body: untrusted text, so cleaned and bounded.
    let reason = nephele_core::upstream_text(&error.to_string(), &[]);
    ProviderError::invalid_response(format!("DigitalOcean sent a {what} Nephele could not read: {reason}"))
}
