//! Whether a provider's configured endpoint may be reached over plain HTTP.
//!
//! Credentials travel with every request to a cloud (DigitalOcean's bearer token; EC2's SigV4
//! signature, access key id and session token), so an `http://` endpoint anywhere but this machine
//! hands them to every network hop in clear. Plain HTTP is accepted to loopback (a simulator,
//! moto, a local proxy) and elsewhere only when the operator says so in the provider's section
//! (`allow_insecure_http: true`). Provider crates parse the URL; the rule lives here, once.
//!
//! This must never do I/O: `localhost` is taken by its name, not resolved.

use std::net::IpAddr;

/// Why an endpoint is refused, in words for a configuration error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointRefused {
    #[error("must be an http:// or https:// URL")]
    NotHttp,
    #[error(
        "is plain http:// to {host}, which would send the credentials in clear; use https://, or set allow_insecure_http: true in the same section if that is really meant"
    )]
    PlainHttpOffMachine { host: String },
}

/// Whether `host` (as a URL writes it: `127.0.0.1`, `[::1]`, `localhost`) is this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost") || bare.eq_ignore_ascii_case("localhost."),
    }
}

/// Checks an endpoint's `scheme` and `host` (already parsed from its URL): https anywhere,
/// http to loopback, http elsewhere only with `allow_insecure_http`.
pub fn check(scheme: &str, host: Option<&str>, allow_insecure_http: bool) -> Result<(), EndpointRefused> {
    match scheme {
        "https" => Ok(()),
        "http" if allow_insecure_http || host.is_some_and(is_loopback_host) => Ok(()),
        "http" => Err(EndpointRefused::PlainHttpOffMachine { host: host.unwrap_or_default().to_owned() }),
        _ => Err(EndpointRefused::NotHttp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_recognised_in_every_spelling() {
        for host in ["127.0.0.1", "127.3.4.5", "[::1]", "::1", "localhost", "LocalHost"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["10.0.0.1", "[2001:db8::1]", "api.digitalocean.com", "localhost.evil.example", "0.0.0.0"]
        {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn plain_http_leaves_the_machine_only_when_allowed() {
        assert_eq!(check("https", Some("ec2.us-east-1.amazonaws.com"), false), Ok(()));
        assert_eq!(check("http", Some("127.0.0.1"), false), Ok(()));
        assert_eq!(check("http", Some("[::1]"), false), Ok(()));
        let refused = check("http", Some("10.1.2.3"), false).expect_err("in clear");
        assert!(refused.to_string().contains("allow_insecure_http"), "{refused}");
        assert_eq!(check("http", Some("10.1.2.3"), true), Ok(()));
        assert_eq!(check("ftp", Some("127.0.0.1"), true), Err(EndpointRefused::NotHttp));
    }
}
