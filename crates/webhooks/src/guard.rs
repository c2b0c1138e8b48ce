//! The SSRF guard: a URL given by a user is checked before anything connects to it.
//!
//! - the scheme is `https`, or `http` when the policy allows it;
//! - an IP literal host is classified as it is (`address.rs`); a name is resolved, within a time
//!   limit, and **every** address it resolves to is classified: one forbidden address refuses the
//!   whole name (a name that mixes public and loopback addresses is not an accident);
//! - the sender connects only to the addresses checked here: the guard *is* the HTTP client's
//!   resolver ([`GuardedResolver`]), so there is no second lookup a DNS-rebinding name could
//!   answer differently. IP literals never reach a resolver, which is why the sender checks the
//!   URL's form ([`Guard::check_url_form`]) before each request.
//!
//! With `allow_private_networks` every address class is allowed (tests, private deployments);
//! the scheme rule still holds. The guard never follows redirects, never uses a proxy (a proxy
//! would resolve the name itself) and never logs a URL (it may carry a token in its query).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

use crate::address::{ForbiddenAddress, classify};
use crate::resolver::{NameResolver, SystemResolver};

/// Which targets a user may point a webhook at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Also allow `http://` URLs (tests, receivers behind a TLS-terminating proxy on the host).
    pub allow_http: bool,
    /// Allow every address class: loopback, private, link-local, metadata... (tests, private
    /// deployments whose receivers live on the same network).
    pub allow_private_networks: bool,
}

/// Why the guard will not let a URL be contacted. The text names the address class, never the
/// URL's path or query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{scheme}:// is not a webhook scheme; use https")]
    UnsupportedScheme { scheme: String },
    #[error("plain http is not allowed; use https")]
    HttpNotAllowed,
    #[error("the URL has no host")]
    MissingHost,
    #[error("{0} (private networks are not allowed)")]
    ForbiddenAddress(ForbiddenAddress),
    #[error("{host} resolves to {} (private networks are not allowed)", Appositive(.forbidden))]
    ResolvesToForbiddenAddress { host: String, forbidden: ForbiddenAddress },
}

/// A forbidden address written as an apposition: "127.0.0.1, a loopback address".
struct Appositive<'a>(&'a ForbiddenAddress);

impl std::fmt::Display for Appositive<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ForbiddenAddress { address, class, embedded } = self.0;
        match embedded {
            Some((form, inner)) => write!(f, "{address} ({form} of {inner}), {class}"),
            None => write!(f, "{address}, {class}"),
        }
    }
}

/// Why a name could not be resolved. Unlike a [`Refusal`] this may pass: the next attempt can
/// try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("resolving {host} took longer than {} ms", .timeout.as_millis())]
    TimedOut { host: String, timeout: Duration },
    #[error("{host} resolves to no address")]
    NoAddresses { host: String },
    #[error("cannot resolve {host}: {reason}")]
    Failed { host: String, reason: String },
}

/// What stopped a check: the policy, or the resolver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// The policy, a resolver and the time a lookup may take.
#[derive(Clone)]
pub struct Guard {
    policy: TargetPolicy,
    resolver: Arc<dyn NameResolver>,
    resolve_timeout: Duration,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("policy", &self.policy)
            .field("resolve_timeout", &self.resolve_timeout)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard that resolves names with the operating system's resolver.
    pub fn new(policy: TargetPolicy, resolve_timeout: Duration) -> Self {
        Self::with_resolver(policy, resolve_timeout, Arc::new(SystemResolver))
    }

    pub fn with_resolver(
        policy: TargetPolicy,
        resolve_timeout: Duration,
        resolver: Arc<dyn NameResolver>,
    ) -> Self {
        Self { policy, resolver, resolve_timeout }
    }

    pub fn policy(&self) -> TargetPolicy {
        self.policy
    }

    /// Checks what can be checked without I/O: the scheme, a host, and an IP literal host.
    /// Meant for validating a URL when a webhook is created, and run before every request
    /// (literals never reach the resolver).
    pub fn check_url_form(&self, url: &Url) -> Result<(), Refusal> {
        match url.scheme() {
            "https" => {}
            "http" if self.policy.allow_http => {}
            "http" => return Err(Refusal::HttpNotAllowed),
            other => return Err(Refusal::UnsupportedScheme { scheme: other.to_owned() }),
        }
        match url.host() {
            None => Err(Refusal::MissingHost),
            Some(Host::Domain("")) => Err(Refusal::MissingHost),
            Some(Host::Domain(_)) => Ok(()),
            Some(Host::Ipv4(v4)) => self.check_address(IpAddr::V4(v4)).map_err(Refusal::ForbiddenAddress),
            Some(Host::Ipv6(v6)) => self.check_address(IpAddr::V6(v6)).map_err(Refusal::ForbiddenAddress),
        }
    }

    /// The whole check, resolution included: the addresses a connection to `url` may use.
    /// For a "test this webhook" button or creation-time validation; deliveries get the same
    /// check from [`GuardedResolver`] at connect time.
    pub async fn check_url(&self, url: &Url) -> Result<Vec<IpAddr>, GuardError> {
        self.check_url_form(url)?;
        match url.host() {
            Some(Host::Domain(name)) => self.resolve_checked(name).await,
            Some(Host::Ipv4(v4)) => Ok(vec![IpAddr::V4(v4)]),
            Some(Host::Ipv6(v6)) => Ok(vec![IpAddr::V6(v6)]),
            None => Err(Refusal::MissingHost.into()),
        }
    }

    /// Resolves `host` (within the time limit) and checks every address it has.
    pub async fn resolve_checked(&self, host: &str) -> Result<Vec<IpAddr>, GuardError> {
        if let Ok(address) = host.parse::<IpAddr>() {
            self.check_address(address).map_err(Refusal::ForbiddenAddress)?;
            return Ok(vec![address]);
        }
        let addresses = match tokio::time::timeout(self.resolve_timeout, self.resolver.lookup(host)).await {
            Err(_elapsed) => {
                return Err(
                    LookupError::TimedOut { host: host.to_owned(), timeout: self.resolve_timeout }.into()
                );
            }
            Ok(Err(error)) => {
                return Err(LookupError::Failed { host: host.to_owned(), reason: error.to_string() }.into());
            }
            Ok(Ok(addresses)) => addresses,
        };
        if addresses.is_empty() {
            return Err(LookupError::NoAddresses { host: host.to_owned() }.into());
        }
        for &address in &addresses {
            self.check_address(address).map_err(|forbidden| Refusal::ResolvesToForbiddenAddress {
                host: host.to_owned(),
                forbidden,
            })?;
        }
        Ok(addresses)
    }

    fn check_address(&self, address: IpAddr) -> Result<(), ForbiddenAddress> {
        match classify(address) {
            Some(forbidden) if !self.policy.allow_private_networks => Err(forbidden),
            _ => Ok(()),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The guard as the HTTP client's resolver: each connection resolves its host here, once, and
/// connects only to addresses that passed. A refusal comes back as the connection error's
/// source (a boxed [`GuardError`]), where the sender finds it to report the reason.
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Arc<Guard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Boxed once, as the error itself, so the sender can downcast to it.
            let addresses = guard.resolve_checked(&host).await.map_err(|e| -> BoxError { Box::new(e) })?;
            // Port 0: the client puts in the URL's port (or the scheme's).
            let sockets: Addrs = Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(sockets)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::AddressClass;

    fn guard(allow_private_networks: bool) -> Guard {
        Guard::new(TargetPolicy { allow_http: true, allow_private_networks }, Duration::from_secs(5))
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("a URL")
    }

    #[test]
    fn only_https_unless_http_is_allowed() {
        let strict = Guard::new(TargetPolicy::default(), Duration::from_secs(5));
        assert_eq!(strict.check_url_form(&url("http://hooks.example.com/")), Err(Refusal::HttpNotAllowed));
        assert_eq!(strict.check_url_form(&url("https://hooks.example.com/")), Ok(()));
        assert_eq!(
            strict.check_url_form(&url("ftp://hooks.example.com/")),
            Err(Refusal::UnsupportedScheme { scheme: "ftp".into() })
        );
        assert_eq!(guard(false).check_url_form(&url("http://hooks.example.com/")), Ok(()));
        assert!(matches!(
            guard(true).check_url_form(&url("file:///etc/passwd")),
            Err(Refusal::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn literal_hosts_in_every_spelling_are_judged_by_the_address_they_mean() {
        // The URL parser turns decimal, octal and hex IPv4 spellings into the address itself.
        for text in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            let refusal = guard(false).check_url_form(&url(text)).expect_err(text);
            assert!(
                matches!(
                    refusal,
                    Refusal::ForbiddenAddress(ForbiddenAddress { class: AddressClass::Loopback, .. })
                ),
                "{text}: {refusal}"
            );
            assert_eq!(guard(true).check_url_form(&url(text)), Ok(()), "{text}");
        }
    }

    #[tokio::test]
    async fn a_lookup_that_outlasts_its_limit_is_a_lookup_error_not_a_pass() {
        struct Silent;
        impl NameResolver for Silent {
            fn lookup<'a>(&'a self, _host: &'a str) -> crate::resolver::Lookup<'a> {
                Box::pin(std::future::pending())
            }
        }
        let guard =
            Guard::with_resolver(TargetPolicy::default(), Duration::from_millis(50), Arc::new(Silent));
        let error = guard.check_url(&url("https://slow.example/")).await.expect_err("no answer");
        assert_eq!(
            error,
            GuardError::Lookup(LookupError::TimedOut {
                host: "slow.example".into(),
                timeout: Duration::from_millis(50)
            })
        );
    }
}
