//! Nephele's webhook delivery mechanics (issue 22): everything about sending an event to a
//! user's endpoint that needs no database. The outbox, the delivery log, leases, routes and
//! configuration live in the server and build on these pieces; this crate knows nothing of them.
//!
//! - **Signing** ([`signature`], [`secret`]): Standard Webhooks 1.0. Secrets are
//!   `whsec_<base64 of 24-64 bytes>` ([`SigningSecret::generate`] draws 32 from the operating
//!   system), zeroed on drop, `[redacted]` in `Debug`. A message is signed as
//!   `HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")`, written `v1,<base64>`; during
//!   a rotation [`SigningKeys`] holds the new key and the old ones, and the header carries one
//!   signature per key separated by spaces, so receivers that know either key accept it. The
//!   stock verifiers (`standardwebhooks` on PyPI, npm, crates.io) accept our deliveries
//!   unchanged; the tests run the Python one.
//! - **The SSRF guard** ([`guard`], [`address`]): `https` only unless `allow_http`; the host is
//!   resolved within a time limit and *every* address checked against loopback, private,
//!   link-local, metadata, multicast, documentation and other non-public ranges, IPv6 forms that
//!   carry an IPv4 address included, unless `allow_private_networks`. The guard is the HTTP
//!   client's resolver, so the connection goes to the checked addresses and nowhere else (no
//!   second lookup for a DNS-rebinding name to answer differently). Redirects are never
//!   followed and no proxy is used.
//! - **One attempt** ([`sender`]): [`Sender::attempt`] POSTs the exact body bytes with
//!   `content-type: application/json`, `webhook-id`, `webhook-timestamp`, `webhook-signature`
//!   and `user-agent: nephele-webhooks/<version>`, within 15 s in all (configurable), reads at
//!   most 4 KiB of the answer ([`ResponseExcerpt`]: lossy UTF-8, control characters escaped) and
//!   returns an [`Attempt`]: an [`Outcome`] (delivered on 2xx; gone on 410; retry-after on
//!   429/503 with a `Retry-After`, clamped; failed on anything else, a redirect included;
//!   refused by the guard), the status, the excerpt, the duration and a reason.
//! - **The retry schedule** ([`schedule`]): [`RetrySchedule::delay_after`], a pure function of
//!   the attempt number, the time since the first attempt and a jitter draw. By default 10 s
//!   doubling to at most 4 h apart, equal jitter, for 3 days; or any base/cap/total, or a list.
//!
//! What a caller must do itself: keep the message id the same on every attempt of a message
//! (receivers drop duplicates by it), draw the jitter sample, count attempts, disable an
//! endpoint on [`Outcome::Gone`], and never log an endpoint's URL (it may carry a token).
//!
//! TLS is rustls with the `ring` provider, as everywhere in Nephele; nothing here writes
//! cryptography of its own (HMAC and randomness are `ring`'s).

pub mod address;
pub mod excerpt;
pub mod guard;
pub mod resolver;
pub mod schedule;
pub mod secret;
pub mod sender;
pub mod signature;

pub use address::{AddressClass, ForbiddenAddress, Ipv4Embedding, classify};
pub use excerpt::{RESPONSE_EXCERPT_LIMIT, ResponseExcerpt};
pub use guard::{Guard, GuardError, GuardedResolver, LookupError, Refusal, TargetPolicy};
pub use resolver::{Lookup, NameResolver, SystemResolver};
pub use schedule::{Jitter, RetrySchedule, ScheduleError};
pub use secret::{SECRET_PREFIX, SecretError, SigningSecret};
pub use sender::{Attempt, Failure, Message, Outcome, Sender, SenderConfig, SenderError, USER_AGENT};
pub use signature::{MessageId, MessageIdError, SigningKeys, sign};

/// Re-exported so callers name URLs with the same type the sender takes.
pub use reqwest::Url;

/// Installs the `ring` TLS backend for rustls once per process; later calls do nothing.
///
/// [`Sender::new`] calls it; it is public for processes that build other rustls clients first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
