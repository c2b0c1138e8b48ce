//! [`ProviderError`] across the process boundary: a gRPC status with the error's kind as its code
//! and the whole error, typed, in the trailer [`FAILURE_TRAILER`]. Nothing is parsed out of text.

use std::time::Duration;

use nephele_core::error::UpstreamDetail;
use nephele_core::{ProviderError, RetryAfter};
use prost::Message;
use tonic::{Code, Status};

use crate::wire::Failure;
use crate::wire::failure::Kind;

/// Binary trailing metadata holding a serialised [`Failure`].
pub const FAILURE_TRAILER: &str = "nephele-failure-bin";

/// Longest message kept from the other side.
const MAX_MESSAGE_CHARS: usize = 500;

/// The longest wait a plugin's rate-limit answer can ask of the host: an hour. The plugin keeps
/// its own cloud's ceiling (DigitalOcean's `max_retry_after_secs`, 60 s by default); this one is
/// the host's, against a plugin that asks for more.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The status a plugin answers for `error`.
pub fn to_status(error: &ProviderError) -> Status {
    let (kind, code, message, detail) = parts(error);
    let failure = Failure {
        kind: kind as i32,
        message: message.to_owned(),
        field: match error {
            ProviderError::InvalidInput { field, .. } => field.clone(),
            _ => None,
        },
        retry_after_ms: match error {
            ProviderError::RateLimited { retry_after, .. } => {
                u64::try_from(retry_after.after.as_millis()).unwrap_or(u64::MAX)
            }
            _ => 0,
        },
        upstream_status: detail.status.map(u32::from),
        upstream_code: detail.code.clone(),
        upstream_request_id: detail.request_id.clone(),
    };
    let mut status = Status::new(code, error.to_string());
    status
        .metadata_mut()
        .insert_bin(FAILURE_TRAILER, tonic::metadata::MetadataValue::from_bytes(&failure.encode_to_vec()));
    status
}

fn parts(error: &ProviderError) -> (Kind, Code, &str, &UpstreamDetail) {
    match error {
        ProviderError::NotFound { message, detail } => (Kind::NotFound, Code::NotFound, message, detail),
        ProviderError::InvalidInput { message, detail, .. } => {
            (Kind::InvalidInput, Code::InvalidArgument, message, detail)
        }
        ProviderError::Unauthorized { message, detail } => {
            (Kind::Unauthorized, Code::Unauthenticated, message, detail)
        }
        ProviderError::RateLimited { detail, .. } => {
            (Kind::RateLimited, Code::ResourceExhausted, "rate limited", detail)
        }
        ProviderError::Conflict { message, detail } => {
            (Kind::Conflict, Code::FailedPrecondition, message, detail)
        }
        ProviderError::Unavailable { message, detail } => {
            (Kind::Unavailable, Code::Unavailable, message, detail)
        }
        ProviderError::InvalidResponse { message, detail } => {
            (Kind::InvalidResponse, Code::DataLoss, message, detail)
        }
        ProviderError::NotSupported { message, detail } => {
            (Kind::NotSupported, Code::Unimplemented, message, detail)
        }
    }
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

/// What the host makes of a failed call. `plugin` names the plugin in messages.
///
/// With the trailer, the error is rebuilt as the plugin made it. Without it (a plugin that only
/// sets a code, or a failure of the channel itself) the code decides: the transport's own
/// failures (`UNAVAILABLE`, `CANCELLED`, `DEADLINE_EXCEEDED`) are the plugin being unavailable,
/// anything the code table does not name is an unusable answer.
pub fn from_status(status: &Status, plugin: &str) -> ProviderError {
    let failure = status
        .metadata()
        .get_bin(FAILURE_TRAILER)
        .and_then(|v| v.to_bytes().ok())
        .and_then(|bytes| Failure::decode(bytes.as_ref()).ok());
    match failure {
        Some(failure) => from_failure(failure),
        None => from_code(status, plugin),
    }
}

fn from_failure(failure: Failure) -> ProviderError {
    let detail = UpstreamDetail {
        status: failure.upstream_status.and_then(|s| u16::try_from(s).ok()),
        code: failure.upstream_code.map(|c| cut(&c)),
        request_id: failure.upstream_request_id.map(|c| cut(&c)),
    };
    let message = cut(&failure.message);
    match Kind::try_from(failure.kind).unwrap_or(Kind::Unspecified) {
        Kind::NotFound => ProviderError::NotFound { message, detail },
        Kind::InvalidInput => {
            ProviderError::InvalidInput { field: failure.field.map(|f| cut(&f)), message, detail }
        }
        Kind::Unauthorized => ProviderError::Unauthorized { message, detail },
        Kind::RateLimited => ProviderError::RateLimited {
            retry_after: RetryAfter::from_now(
                Duration::from_millis(failure.retry_after_ms).min(MAX_RETRY_AFTER),
            ),
            detail,
        },
        Kind::Conflict => ProviderError::Conflict { message, detail },
        Kind::Unavailable => ProviderError::Unavailable { message, detail },
        Kind::NotSupported => ProviderError::NotSupported { message, detail },
        Kind::InvalidResponse | Kind::Unspecified => ProviderError::InvalidResponse { message, detail },
    }
}

fn from_code(status: &Status, plugin: &str) -> ProviderError {
    let message = format!("plugin {plugin}: {}", cut(status.message()));
    let detail = UpstreamDetail::default();
    match status.code() {
        Code::NotFound => ProviderError::NotFound { message, detail },
        Code::InvalidArgument => ProviderError::InvalidInput { field: None, message, detail },
        Code::Unauthenticated | Code::PermissionDenied => ProviderError::Unauthorized { message, detail },
        Code::ResourceExhausted => {
            ProviderError::RateLimited { retry_after: RetryAfter::from_now(Duration::from_secs(1)), detail }
        }
        Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => {
            ProviderError::Conflict { message, detail }
        }
        Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded => {
            ProviderError::Unavailable { message, detail }
        }
        // A plugin built before a call existed answers UNIMPLEMENTED for it.
        Code::Unimplemented => ProviderError::NotSupported { message, detail },
        _ => ProviderError::InvalidResponse { message, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail() -> UpstreamDetail {
        UpstreamDetail {
            status: Some(422),
            code: Some("unprocessable_entity".into()),
            request_id: Some("r-1".into()),
        }
    }

    #[test]
    fn every_kind_survives_the_trip() {
        let errors = [
            ProviderError::NotFound { message: "droplet 7".into(), detail: detail() },
            ProviderError::InvalidInput {
                field: Some("region".into()),
                message: "no".into(),
                detail: detail(),
            },
            ProviderError::Unauthorized { message: "token".into(), detail: UpstreamDetail::default() },
            ProviderError::Conflict { message: "busy".into(), detail: detail() },
            ProviderError::Unavailable { message: "down".into(), detail: detail() },
            ProviderError::InvalidResponse { message: "junk".into(), detail: detail() },
        ];
        for error in errors {
            assert_eq!(from_status(&to_status(&error), "p"), error);
        }
        let limited = ProviderError::RateLimited {
            retry_after: RetryAfter::from_now(Duration::from_millis(1500)),
            detail: UpstreamDetail::default(),
        };
        let back = from_status(&to_status(&limited), "p");
        let ProviderError::RateLimited { retry_after, .. } = back else { panic!("{back:?}") };
        assert_eq!(retry_after.after, Duration::from_millis(1500));
    }

    #[test]
    fn a_plugin_asking_for_centuries_gets_an_hour_and_no_overflow() {
        for ms in [10_000_000_000_000, 1_000_000_000_000_000, u64::MAX] {
            let limited = ProviderError::RateLimited {
                retry_after: RetryAfter::from_now(Duration::from_millis(ms)),
                detail: UpstreamDetail::default(),
            };
            let ProviderError::RateLimited { retry_after, .. } = from_status(&to_status(&limited), "p")
            else {
                panic!("rate limited")
            };
            assert_eq!(retry_after.after, MAX_RETRY_AFTER, "{ms}");
        }
    }

    #[test]
    fn a_bare_code_still_means_its_kind() {
        assert!(matches!(
            from_status(&Status::unavailable("connection refused"), "p"),
            ProviderError::Unavailable { .. }
        ));
        assert!(matches!(from_status(&Status::internal("boom"), "p"), ProviderError::InvalidResponse { .. }));
        let ProviderError::NotFound { message, .. } = from_status(&Status::not_found("x"), "aws") else {
            panic!("not found")
        };
        assert_eq!(message, "plugin aws: x");
    }
}
