//! EC2's error codes as Nephele's `ProviderError` kinds.

use std::time::Duration;

use nephele_core::error::UpstreamDetail;
use nephele_core::{ProviderError, RetryAfter};

/// Codes that mean "slow down": the request was refused, not carried out.
pub fn is_throttling(code: &str) -> bool {
    matches!(code, "RequestLimitExceeded" | "Throttling" | "ThrottlingException" | "RequestThrottled")
}

/// Codes that say the request clashes with what exists: a duplicate, a resource in use or in
/// the wrong state, a quota reached.
fn is_conflict(code: &str) -> bool {
    code.ends_with(".Duplicate")
        || code.ends_with(".InUse")
        || code.ends_with("LimitExceeded") && !is_throttling(code)
        || matches!(
            code,
            "IncorrectInstanceState"
                | "IncorrectState"
                | "IncorrectModificationState"
                | "IdempotentParameterMismatch"
                | "VolumeInUse"
                | "DependencyViolation"
                | "CannotDelete"
                | "InvalidVolume.ZoneMismatch"
                | "Resource.AlreadyAssociated"
        )
}

/// The field of Nephele's create request that an EC2 code points at.
fn field_of(code: &str) -> Option<&'static str> {
    let field = match code.split('.').next().unwrap_or(code) {
        "InvalidAMIID" => "image_id",
        "InvalidKeyPair" => "ssh_keys",
        "InvalidSubnetID" | "InvalidSubnet" => "vpc_uuid",
        "InvalidUserData" => "user_data",
        "InvalidInstanceType" => "type",
        _ => return None,
    };
    Some(field)
}

/// Maps one error answer. `code`, `message` and `request_id` have been cleaned of secrets by the
/// caller, and `retry_after` (the answer's own `Retry-After`, if any) bounded.
pub fn from_code(
    status: u16,
    code: &str,
    message: String,
    request_id: Option<String>,
    retry_after: Option<Duration>,
) -> ProviderError {
    let detail = UpstreamDetail { status: Some(status), code: Some(code.to_owned()), request_id };
    if is_throttling(code) {
        return ProviderError::RateLimited {
            retry_after: RetryAfter::from_now(retry_after.unwrap_or(Duration::from_secs(1))),
            detail,
        };
    }
    // A resource that is already there, in use, or at its limit: before `field_of`, which would
    // read `InvalidKeyPair.Duplicate` as a bad `ssh_keys` field.
    if is_conflict(code) {
        return ProviderError::Conflict { message, detail };
    }
    if let Some(field) = field_of(code) {
        return ProviderError::InvalidInput { field: Some(field.to_owned()), message, detail };
    }
    match code {
        "InvalidInstanceID.NotFound" | "InvalidInstanceID.Malformed" | "InvalidInstanceID" => {
            ProviderError::NotFound { message, detail }
        }
        "InvalidVolume.NotFound"
        | "InvalidSnapshot.NotFound"
        | "InvalidGroup.NotFound"
        | "InvalidAllocationID.NotFound"
        | "InvalidAssociationID.NotFound"
        | "InvalidAddress.NotFound"
        | "InvalidVpcID.NotFound" => ProviderError::NotFound { message, detail },
        "AuthFailure"
        | "UnauthorizedOperation"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "OptInRequired"
        | "Blocked"
        | "PendingVerification" => ProviderError::Unauthorized { message, detail },
        "InternalError"
        | "InternalFailure"
        | "Unavailable"
        | "ServiceUnavailable"
        | "InsufficientInstanceCapacity" => ProviderError::Unavailable { message, detail },
        _ if status >= 500 => ProviderError::Unavailable { message, detail },
        _ => ProviderError::InvalidInput { field: None, message, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_become_kinds() {
        let kind = |status, code: &str| from_code(status, code, "m".into(), None, None).code();
        assert_eq!(kind(400, "InvalidInstanceID.NotFound").as_str(), "not_found");
        assert_eq!(kind(400, "RequestLimitExceeded").as_str(), "provider_rate_limited");
        assert_eq!(kind(401, "AuthFailure").as_str(), "provider_unauthorized");
        assert_eq!(kind(400, "IncorrectInstanceState").as_str(), "conflict");
        assert_eq!(kind(503, "Unavailable").as_str(), "provider_unavailable");
        assert_eq!(kind(400, "InvalidParameterValue").as_str(), "invalid_input");
        assert_eq!(kind(400, "InvalidVolume.NotFound").as_str(), "not_found");
        assert_eq!(kind(400, "InvalidAllocationID.NotFound").as_str(), "not_found");
        assert_eq!(kind(400, "VolumeInUse").as_str(), "conflict");
        assert_eq!(kind(400, "DependencyViolation").as_str(), "conflict");
        assert_eq!(kind(400, "InvalidKeyPair.Duplicate").as_str(), "conflict");
        assert_eq!(kind(400, "AddressLimitExceeded").as_str(), "conflict");
        assert_eq!(kind(400, "InstanceLimitExceeded").as_str(), "conflict");
        assert_eq!(kind(400, "RequestLimitExceeded").as_str(), "provider_rate_limited");
        let ami = from_code(400, "InvalidAMIID.NotFound", "no such image".into(), Some("r-1".into()), None);
        assert!(matches!(ami, ProviderError::InvalidInput { field: Some(f), .. } if f == "image_id"));
    }
}
