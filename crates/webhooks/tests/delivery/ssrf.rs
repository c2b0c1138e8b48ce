//! The SSRF guard through the sender: each target the issue lists is refused with a reason naming
//! its address class while private networks are not allowed, and nothing connects to it; the
//! same target is allowed when they are.

use std::time::Duration;

use nephele_webhooks::{
    AddressClass, Failure, Guard, Ipv4Embedding, Outcome, Refusal, Sender, SenderConfig, TargetPolicy, Url,
};

use crate::endpoint::{Answer, Endpoint};
use crate::{TableResolver, fresh_keys, ip, message, sender, sender_with};

/// Sends one message to `url` and returns the attempt's refusal, failing the test if it was
/// anything else.
async fn refusal(sender: &Sender, url: &Url) -> (Refusal, String) {
    let attempt = sender.attempt(url, &message("msg_ssrf", "{}"), &fresh_keys()).await;
    let reason = attempt.reason().unwrap_or_default();
    match attempt.outcome {
        Outcome::Refused(refusal) => (refusal, reason),
        other => panic!("{url} was not refused: {other:?}"),
    }
}

fn forbidden_class(refusal: &Refusal) -> AddressClass {
    match refusal {
        Refusal::ForbiddenAddress(forbidden) | Refusal::ResolvesToForbiddenAddress { forbidden, .. } => {
            forbidden.class
        }
        other => panic!("not an address refusal: {other}"),
    }
}

#[tokio::test]
async fn loopback_ipv4_is_refused_without_a_connection_and_allowed_when_private_networks_are() {
    let endpoint = Endpoint::start(Answer::status(204)).await;
    let url = endpoint.url("/hook");

    let (refusal, reason) = refusal(&sender(false), &url).await;
    assert_eq!(forbidden_class(&refusal), AddressClass::Loopback);
    assert_eq!(reason, "refused: 127.0.0.1 is a loopback address (private networks are not allowed)");
    assert_eq!(endpoint.connections(), 0, "a refused target was contacted");

    let attempt = sender(true).attempt(&url, &message("msg_ok", "{}"), &fresh_keys()).await;
    assert_eq!(attempt.outcome, Outcome::Delivered);
    assert_eq!(endpoint.connections(), 1);
}

#[tokio::test]
async fn loopback_ipv6_is_refused_without_a_connection_and_allowed_when_private_networks_are() {
    let endpoint = Endpoint::start_on("[::1]:0", Answer::status(204)).await;
    let url = endpoint.url("/hook");
    assert_eq!(url.host_str(), Some("[::1]"));

    let (refusal, reason) = refusal(&sender(false), &url).await;
    assert_eq!(forbidden_class(&refusal), AddressClass::Loopback);
    assert!(reason.contains("::1 is a loopback address"), "{reason}");
    assert_eq!(endpoint.connections(), 0);

    let attempt = sender(true).attempt(&url, &message("msg_ok", "{}"), &fresh_keys()).await;
    assert_eq!(attempt.outcome, Outcome::Delivered);
    assert_eq!(endpoint.connections(), 1);
}

#[tokio::test]
async fn ipv4_mapped_loopback_is_refused_as_loopback_and_reaches_the_ipv4_server_when_allowed() {
    let endpoint = Endpoint::start(Answer::status(204)).await;
    let url = Url::parse(&format!("http://[::ffff:127.0.0.1]:{}/hook", endpoint.addr.port())).expect("URL");

    let (refusal, reason) = refusal(&sender(false), &url).await;
    let Refusal::ForbiddenAddress(forbidden) = &refusal else { panic!("{refusal}") };
    assert_eq!(forbidden.class, AddressClass::Loopback);
    assert_eq!(forbidden.embedded, Some((Ipv4Embedding::Mapped, "127.0.0.1".parse().expect("v4"))));
    assert!(reason.contains("IPv4-mapped form of 127.0.0.1, a loopback address"), "{reason}");
    assert_eq!(endpoint.connections(), 0);

    // What the guard feared is real: the mapped form connects to the IPv4 loopback server.
    let attempt = sender(true).attempt(&url, &message("msg_ok", "{}"), &fresh_keys()).await;
    assert_eq!(attempt.outcome, Outcome::Delivered);
    assert_eq!(endpoint.connections(), 1);
}

#[tokio::test]
async fn private_and_metadata_addresses_are_refused_before_any_connection() {
    let cases = [
        ("http://10.0.0.1/hook", AddressClass::Private, "10.0.0.1 is a private address (RFC 1918)"),
        (
            "http://169.254.169.254/latest/meta-data/",
            AddressClass::CloudMetadata,
            "169.254.169.254 is a cloud metadata service address",
        ),
        (
            "http://[fd00:ec2::254]/",
            AddressClass::CloudMetadata,
            "fd00:ec2::254 is a cloud metadata service address",
        ),
        ("http://100.64.0.1/", AddressClass::SharedAddressSpace, "100.64.0.1 is a carrier-grade NAT address"),
        ("http://0.0.0.0:8080/", AddressClass::Unspecified, "0.0.0.0 is the unspecified address"),
        (
            "http://[::127.0.0.1]/",
            AddressClass::Loopback,
            "IPv4-compatible form of 127.0.0.1, a loopback address",
        ),
        ("http://[64:ff9b::a00:1]/", AddressClass::Private, "NAT64 form of 10.0.0.1, a private address"),
    ];
    let allowing =
        Guard::new(TargetPolicy { allow_http: true, allow_private_networks: true }, Duration::from_secs(5));
    for (text, class, reason_part) in cases {
        let url = Url::parse(text).expect("URL");
        let (refusal, reason) = refusal(&sender(false), &url).await;
        assert_eq!(forbidden_class(&refusal), class, "{text}");
        assert!(reason.contains(reason_part), "{text}: {reason}");
        // Allowed when private networks are (checked without sending anything to them).
        let addresses = allowing.check_url(&url).await.unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(addresses.len(), 1, "{text}");
    }
}

#[tokio::test]
async fn localhost_is_refused_because_it_resolves_to_loopback_and_allowed_when_private_networks_are() {
    let endpoint = Endpoint::start(Answer::status(204)).await;
    let url = Url::parse(&format!("http://localhost:{}/hook", endpoint.addr.port())).expect("URL");

    let (refusal, reason) = refusal(&sender(false), &url).await;
    let Refusal::ResolvesToForbiddenAddress { host, forbidden } = &refusal else { panic!("{refusal}") };
    assert_eq!(host, "localhost");
    assert_eq!(forbidden.class, AddressClass::Loopback);
    assert!(reason.starts_with("refused: localhost resolves to "), "{reason}");
    assert!(reason.contains(", a loopback address"), "{reason}");
    assert_eq!(endpoint.connections(), 0);

    let attempt = sender(true).attempt(&url, &message("msg_ok", "{}"), &fresh_keys()).await;
    assert_eq!(attempt.outcome, Outcome::Delivered, "{:?}", attempt.reason());
    assert_eq!(endpoint.connections(), 1);
}

#[tokio::test]
async fn one_forbidden_address_among_a_names_addresses_refuses_the_name() {
    let endpoint = Endpoint::start(Answer::status(204)).await;
    let resolver = TableResolver::answering("hooks.example.test", vec![vec![ip("1.1.1.1"), ip("127.0.0.1")]]);
    let config = SenderConfig {
        policy: TargetPolicy { allow_http: true, allow_private_networks: false },
        ..Default::default()
    };
    let sender = Sender::with_resolver(config, resolver.clone()).expect("sender");
    let url = Url::parse(&format!("http://hooks.example.test:{}/hook", endpoint.addr.port())).expect("URL");

    let (refusal, reason) = refusal(&sender, &url).await;
    assert_eq!(forbidden_class(&refusal), AddressClass::Loopback);
    assert_eq!(
        reason,
        "refused: hooks.example.test resolves to 127.0.0.1, a loopback address (private networks are not allowed)"
    );
    assert_eq!(endpoint.connections(), 0);
    assert_eq!(resolver.lookups(), 1);
}

#[tokio::test]
async fn a_rebinding_name_is_resolved_once_and_connected_only_where_the_check_passed() {
    // The name answers a public address to the first lookup and loopback to every later one.
    // Were the connection to resolve the name again after the check, it would reach the local
    // endpoint.
    let endpoint = Endpoint::start(Answer::status(204)).await;
    let resolver =
        TableResolver::answering("rebind.example.test", vec![vec![ip("1.0.0.1")], vec![ip("127.0.0.1")]]);
    let config = SenderConfig {
        policy: TargetPolicy { allow_http: true, allow_private_networks: false },
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let sender = Sender::with_resolver(config, resolver.clone()).expect("sender");
    let url = Url::parse(&format!("http://rebind.example.test:{}/hook", endpoint.addr.port())).expect("URL");

    let attempt = sender.attempt(&url, &message("msg_rebind", "{}"), &fresh_keys()).await;
    assert!(
        matches!(attempt.outcome, Outcome::Failed(Failure::TimedOut { .. } | Failure::Connect(_))),
        "{:?}",
        attempt.outcome
    );
    assert_eq!(resolver.lookups(), 1, "the name was looked up again after the check");
    assert_eq!(endpoint.connections(), 0, "the rebound address was contacted");
}

#[tokio::test]
async fn a_redirect_to_loopback_is_never_followed() {
    let second = Endpoint::start(Answer::status(204)).await;
    let first = Endpoint::start(Answer::status(302).header("location", second.url("/").as_str())).await;

    // Even with private networks allowed (so the first hop is reached), the redirect is a
    // failed delivery and its target hears nothing.
    let attempt =
        sender(true).attempt(&first.url("/hook"), &message("msg_redirect", "{}"), &fresh_keys()).await;
    assert_eq!(
        attempt.outcome,
        Outcome::Failed(Failure::Redirect { status: 302, location: Some(second.url("/").to_string()) })
    );
    assert_eq!(attempt.status, Some(302));
    let reason = attempt.reason().unwrap_or_default();
    assert!(reason.starts_with("redirect not followed (302 to http://127.0.0.1:"), "{reason}");
    assert_eq!(first.connections(), 1);
    assert_eq!(second.connections(), 0, "the redirect's target was contacted");

    // With private networks not allowed, the first hop is itself refused.
    let (refusal, _) = refusal(&sender(false), &first.url("/hook")).await;
    assert_eq!(forbidden_class(&refusal), AddressClass::Loopback);
    assert_eq!((first.connections(), second.connections()), (1, 0));
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed() {
    let endpoint = Endpoint::start(Answer::status(204)).await;
    let https_only = sender_with(true, |config| config.policy.allow_http = false);
    let (refusal, reason) = refusal(&https_only, &endpoint.url("/hook")).await;
    assert_eq!(refusal, Refusal::HttpNotAllowed);
    assert_eq!(reason, "refused: plain http is not allowed; use https");
    assert_eq!(endpoint.connections(), 0);
}
