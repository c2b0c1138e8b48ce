//! The one vocabulary of failures a caller can see.
//!
//! Every code Nephele shows — in a problem document, in a failed operation's `error`, in the
//! per-provider `errors` of a fleet answer — is an [`ErrorCode`]. Each has its HTTP status (the
//! status a problem document with that code carries), a title and a one-line meaning, fixed here,
//! so one failure has one code on every route. The HTTP layer turns these into problem documents
//! and lists every code in the OpenAPI document from [`ErrorCode::ALL`].
//!
//! This file must not grow a second list: a new code is one variant and one row in each match.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares the enum and [`ErrorCode::ALL`] from one list, so no code can be left out of it.
macro_rules! error_codes {
    ($($variant:ident),* $(,)?) => {
        /// Every failure code, with its status, title and meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant),*
        }

        impl ErrorCode {
            /// Every code, in the order the document lists them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];
        }
    };
}

error_codes! {
    InvalidInput,
    MalformedJson,
    UnreadableBody,
    BadRequest,
    BadPath,
    HostNotAllowed,
    BodyTooLarge,
    UriTooLong,
    HeadersTooLarge,
    UnsupportedMediaType,
    Unauthorized,
    Forbidden,
    NotFound,
    UnknownProvider,
    MethodNotAllowed,
    Conflict,
    InvalidConfiguration,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    IdempotencyQuotaExceeded,
    ProviderRateLimited,
    ProviderUnavailable,
    ProviderUnauthorized,
    ProviderBadResponse,
    ProviderTimedOut,
    StoreUnavailable,
    InternalError,
    NoPrice,
    DeadlineExceeded,
    AttemptsExhausted,
    ActionErrored,
    UnexpectedAnswer,
    OperationUnreadable,
    NotSupported,
    EventCursorExpired,
    BudgetExceeded,
    CredentialsRejected,
    AccountExists,
    AccountInFile,
    AccountBusy,
    MasterKeyMissing,
    AccountRemoved,
    AccountUnreadable,
}

impl ErrorCode {
    /// The HTTP status of a problem document with this code.
    pub const fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidInput | IdempotencyKeyReused | NoPrice => 422,
            MalformedJson | UnreadableBody | BadRequest | BadPath | HostNotAllowed => 400,
            BodyTooLarge => 413,
            UriTooLong => 414,
            HeadersTooLarge => 431,
            UnsupportedMediaType => 415,
            Unauthorized => 401,
            Forbidden => 403,
            NotFound | UnknownProvider | NotSupported => 404,
            EventCursorExpired => 410,
            MethodNotAllowed => 405,
            Conflict | InvalidConfiguration | IdempotencyKeyInUse | BudgetExceeded => 409,
            IdempotencyQuotaExceeded => 429,
            ProviderRateLimited | ProviderUnavailable | StoreUnavailable | AttemptsExhausted => 503,
            ProviderUnauthorized | ProviderBadResponse | ActionErrored | UnexpectedAnswer => 502,
            DeadlineExceeded | ProviderTimedOut => 504,
            InternalError | OperationUnreadable => 500,
            CredentialsRejected => 422,
            AccountExists => 409,
            AccountInFile => 409,
            AccountBusy => 409,
            MasterKeyMissing => 409,
            AccountRemoved => 410,
            AccountUnreadable => 503,
        }
    }

    pub const fn title(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidInput => "Invalid input",
            MalformedJson => "Malformed JSON",
            UnreadableBody => "Unreadable body",
            BadRequest => "Bad request",
            BadPath => "Malformed path",
            HostNotAllowed => "Host not allowed",
            BodyTooLarge => "Request body too large",
            UriTooLong => "URI too long",
            HeadersTooLarge => "Request headers too large",
            UnsupportedMediaType => "Unsupported media type",
            Unauthorized => "Authentication required",
            Forbidden => "Forbidden",
            NotFound => "Not found",
            UnknownProvider => "Unknown provider",
            MethodNotAllowed => "Method not allowed",
            Conflict => "Conflict with the resource's state",
            InvalidConfiguration => "The configuration file cannot be used",
            IdempotencyKeyInUse => "Request in progress",
            IdempotencyKeyReused => "Idempotency key reused",
            IdempotencyQuotaExceeded => "Too many idempotency keys",
            ProviderRateLimited => "Provider rate limit reached",
            ProviderUnavailable => "Provider unavailable",
            ProviderUnauthorized => "Provider refused Nephele's credentials",
            ProviderBadResponse => "Provider sent an unusable answer",
            ProviderTimedOut => "Provider did not answer in time",
            StoreUnavailable => "Store unavailable",
            InternalError => "Internal error",
            NoPrice => "No price known",
            DeadlineExceeded => "Operation deadline exceeded",
            AttemptsExhausted => "Attempts exhausted",
            ActionErrored => "The provider's action errored",
            UnexpectedAnswer => "Unexpected answer from the provider",
            OperationUnreadable => "Stored operation unreadable",
            NotSupported => "Not supported by this provider",
            EventCursorExpired => "Event cursor expired",
            BudgetExceeded => "A budget would be exceeded",
            CredentialsRejected => "Credentials rejected",
            AccountExists => "Account exists",
            AccountInFile => "Account defined in the configuration file",
            AccountBusy => "Account has operations under way",
            MasterKeyMissing => "No master key",
            AccountRemoved => "Account removed",
            AccountUnreadable => "Account unreadable",
        }
    }

    /// One line on what the code means and what to do about it.
    pub const fn meaning(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidInput => "Fields of a well-formed request are wrong; `errors` names each one.",
            MalformedJson => "The body is not JSON.",
            UnreadableBody => "The body could not be read (cut off, or too slow).",
            BadRequest => "The request is malformed in another way (query, headers, URI).",
            BadPath => "A path parameter is malformed.",
            HostNotAllowed => {
                "The request's Host is not one `server.allowed_hosts` names (DNS rebinding onto an open server)."
            }
            BodyTooLarge => "The body is larger than `server.max_body_bytes`.",
            UriTooLong => "The request's URI is longer than the server reads.",
            HeadersTooLarge => "The request's headers are larger than the server reads.",
            UnsupportedMediaType => "The body is not `application/json`.",
            Unauthorized => "No API key, or one that is unknown, revoked or expired.",
            Forbidden => "The key's role or provider scope does not cover this.",
            NotFound => "No such route or resource (or the provider says it does not exist).",
            UnknownProvider => "No provider of that name is configured.",
            MethodNotAllowed => "The route does not take that method.",
            Conflict => "The resource's state does not allow this now (the provider said so).",
            InvalidConfiguration => "The configuration file cannot be loaded.",
            IdempotencyKeyInUse => "A request with this Idempotency-Key is still running; retry later.",
            IdempotencyKeyReused => "This Idempotency-Key was used for a different request.",
            IdempotencyQuotaExceeded => "The API key holds too many live Idempotency-Keys.",
            ProviderRateLimited => {
                "The provider's rate limit is spent; `Retry-After` says when to come back."
            }
            ProviderUnavailable => "The provider (or its plugin) cannot be reached now; retry later.",
            ProviderUnauthorized => "The provider refused Nephele's credentials; an operator must fix them.",
            ProviderBadResponse => {
                "The provider answered something Nephele will not use (malformed, too large, out of range)."
            }
            ProviderTimedOut => {
                "The provider did not answer within the read budget; its last good copy is shown, marked stale, while the read goes on."
            }
            StoreUnavailable => "Nephele's database cannot be reached; nothing was changed.",
            InternalError => "A fault of Nephele's own; quote the request id.",
            NoPrice => "No price is known for this type in this region, so it cannot be costed.",
            DeadlineExceeded => "The operation did not finish within `operations.deadline_secs`.",
            AttemptsExhausted => {
                "The operation gave up after `operations.max_attempts`; `last_error` says why."
            }
            ActionErrored => "The provider reports that the action it started errored.",
            UnexpectedAnswer => "The provider's answer did not fit where the operation stood.",
            OperationUnreadable => {
                "The stored operation could not be read, so nothing was sent to the provider."
            }
            NotSupported => {
                "The provider does not offer this kind of resource or action; `detail` names what it does offer."
            }
            EventCursorExpired => {
                "Events after the cursor were purged (`events.retention_days`); read again from the oldest kept."
            }
            BudgetExceeded => {
                "A budget with `enforce: block` would be taken over a forecast threshold by this create; nothing was sent to the provider, and `budgets` gives the figures."
            }
            CredentialsRejected => {
                "The cloud refused the credentials of an account being added or changed; nothing was stored. `detail` gives the cloud's reason."
            }
            AccountExists => "An account of that name exists already.",
            AccountInFile => {
                "The account is defined in the configuration file; change it there, not through the API."
            }
            AccountBusy => {
                "The account has operations pending or running; wait for them, or remove it with `?force=true`."
            }
            MasterKeyMissing => {
                "Runtime accounts need a master key to seal their credentials: set `secrets.master_key` (`${NEPHELE_MASTER_KEY}`) or `secrets.master_key_file`."
            }
            AccountRemoved => {
                "The operation's account was removed (with `force`) before the operation finished."
            }
            AccountUnreadable => {
                "The account's stored credentials do not open (tampered, moved, or sealed with a key this server lacks); nothing was sent to the cloud."
            }
        }
    }

    /// The name used in documents (`invalid_input`).
    pub const fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidInput => "invalid_input",
            MalformedJson => "malformed_json",
            UnreadableBody => "unreadable_body",
            BadRequest => "bad_request",
            BadPath => "bad_path",
            HostNotAllowed => "host_not_allowed",
            BodyTooLarge => "body_too_large",
            UriTooLong => "uri_too_long",
            HeadersTooLarge => "headers_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            NotFound => "not_found",
            UnknownProvider => "unknown_provider",
            MethodNotAllowed => "method_not_allowed",
            Conflict => "conflict",
            InvalidConfiguration => "invalid_configuration",
            IdempotencyKeyInUse => "idempotency_key_in_use",
            IdempotencyKeyReused => "idempotency_key_reused",
            IdempotencyQuotaExceeded => "idempotency_quota_exceeded",
            ProviderRateLimited => "provider_rate_limited",
            ProviderUnavailable => "provider_unavailable",
            ProviderUnauthorized => "provider_unauthorized",
            ProviderBadResponse => "provider_bad_response",
            ProviderTimedOut => "provider_timed_out",
            StoreUnavailable => "store_unavailable",
            InternalError => "internal_error",
            NoPrice => "no_price",
            DeadlineExceeded => "deadline_exceeded",
            AttemptsExhausted => "attempts_exhausted",
            ActionErrored => "action_errored",
            UnexpectedAnswer => "unexpected_answer",
            OperationUnreadable => "operation_unreadable",
            NotSupported => "not_supported",
            EventCursorExpired => "event_cursor_expired",
            BudgetExceeded => "budget_exceeded",
            CredentialsRejected => "credentials_rejected",
            AccountExists => "account_exists",
            AccountInFile => "account_in_file",
            AccountBusy => "account_busy",
            MasterKeyMissing => "master_key_missing",
            AccountRemoved => "account_removed",
            AccountUnreadable => "account_unreadable",
        }
    }

    /// The code of a name, as [`ErrorCode::as_str`] writes it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|code| code.as_str() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_and_named_as_serde_names_it() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} listed twice");
            let json = serde_json::to_value(code).expect("serialises");
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
            assert!((400..600).contains(&code.status()), "{code}");
            assert!(code.meaning().ends_with('.'), "{code}: a meaning is a sentence");
        }
    }
}
