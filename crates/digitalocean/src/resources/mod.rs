//! Everything an account holds besides droplets — volumes, snapshots, SSH keys, firewalls,
//! reserved IPs and VPCs — through the same transport as droplets: every list reads all its
//! pages at `per_page=200` concurrently within the rate budget, retries and response bounds.
//!
//! # Exactly once
//!
//! A create carries its operation's id. Before sending, and after any failure that leaves the
//! outcome unknown (a dropped connection, a timeout, a 5xx after the request may have been
//! acted on), the provider looks for what an earlier call of the same operation made, and
//! adopts it instead of making another. What it looks for depends on the record DigitalOcean
//! keeps:
//!
//! | kind | found by |
//! |---|---|
//! | volume | its name, unique per region, *and* the tag `nephele-req-<operation id>`; a volume of that name without the tag is someone else's and the create is refused (conflict) |
//! | volume snapshot | its name among the volume's snapshots, *and* the same tag |
//! | droplet snapshot | its name among the droplet's snapshots (DigitalOcean's snapshot action carries no tag); while the droplet is busy taking one, the provider waits for it instead of asking again |
//! | SSH key | its public key (DigitalOcean's fingerprint is a hash of it): importing a key the account already holds adopts that key |
//! | VPC | its name, unique per account; one of that name in another region is refused |
//! | firewall | its name. **DigitalOcean keeps no other record of a firewall's origin and does not hold names unique**: a firewall of the same name made outside Nephele is adopted, and two or more of that name make the create refuse (conflict) rather than guess |
//! | reserved IP | **DigitalOcean keeps no record tying a reserved IP to the request that made it** (no tag, no name, no client token). An IP created *for a droplet* is found on that droplet (a droplet holds one at most, so a droplet that already has one is answered with it). An IP reserved *to a region* cannot be found: after an unknown outcome the provider does not send again within the call and answers the error, and a create retried by the operations engine after a crash may allocate a second address. An extra address is unassigned, so it shows in the waste report at $5.00 a month until released |
//!
//! Deletes are idempotent: a `404` after an attempt whose answer was lost counts as done.
//! Actions (attach, resize, assign, firewall rules...) are sent plainly: the operations engine
//! makes them exactly once by reading the resource and asking [`ResourceAction::is_done`]
//! before it sends one again.
//!
//! Firewall descriptions are not kept: DigitalOcean's firewalls have no such field.

mod actions;
mod create;
mod destroy;
pub(crate) mod mapping;
pub(crate) mod validate;
pub mod wire;

use std::net::Ipv4Addr;

use nephele_core::{ProviderError, Resource, ResourceId, ResourceKind, VpcMember};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DigitalOcean;
use crate::pagination::ListOf;
use crate::transport::Retry;

/// The SSH-key list, which DigitalOcean limits on its own (10 a minute).
pub(crate) const SSH_KEYS: &str = "/v2/account/keys";

/// The capabilities this provider declares for resources.
pub const CAPABILITIES: [&str; 7] = [
    "volumes",
    "snapshots",
    "ssh_keys",
    "firewalls",
    "reserved_ips",
    "vpcs",
    "delete_with_associated_resources",
];

/// The path segment of resource `id` of `kind`, or `NotFound` without a call for an id that
/// cannot name one (and could not be put in a URL unchanged).
pub(crate) fn segment(kind: ResourceKind, id: &ResourceId) -> Result<&str, ProviderError> {
    let valid = match kind {
        ResourceKind::ReservedIp => id.0.parse::<Ipv4Addr>().is_ok(),
        _ => validate::path_safe(&id.0),
    };
    if valid {
        Ok(&id.0)
    } else {
        Err(ProviderError::not_found(format!(
            "no {kind} has the id {:?}",
            nephele_core::upstream_text(&id.0, &[])
        )))
    }
}

fn encode(body: &impl Serialize) -> Result<serde_json::Value, ProviderError> {
    serde_json::to_value(body)
        .map_err(|e| ProviderError::unavailable(format!("cannot encode the request body: {e}")))
}

impl DigitalOcean {
    /// One object from a GET.
    pub(crate) async fn get_one<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<T, ProviderError> {
        let reply = self.transport.send(Method::GET, path, None, Retry::Idempotent).await?;
        reply.decode(what)
    }

    /// Sends a POST that changes something, once (see [`Retry::Once`]), and reads its answer.
    pub(crate) async fn post_once<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        what: &str,
    ) -> Result<T, ProviderError> {
        let reply = self.transport.send(Method::POST, path, Some(&encode(body)?), Retry::Once).await?;
        reply.decode(what)
    }

    /// A call answered with no body (`204`, `202`): success, or its error.
    pub(crate) async fn send_no_answer(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        retry: Retry,
    ) -> Result<(), ProviderError> {
        let reply = self.transport.send(method, path, body, retry).await?;
        if reply.is_success() { Ok(()) } else { Err(crate::errors::from_reply(&reply)) }
    }

    /// Deletes what `path` names; a `404` after an attempt whose answer was lost is success.
    pub(crate) async fn delete_path(&self, path: &str) -> Result<(), ProviderError> {
        let reply = self.transport.send(Method::DELETE, path, None, Retry::Idempotent).await?;
        match reply.status {
            status if status.is_success() => Ok(()),
            StatusCode::NOT_FOUND if reply.after_ambiguous_failure => Ok(()),
            _ => Err(crate::errors::from_reply(&reply)),
        }
    }

    /// Every resource of `kind` in the account.
    pub(crate) async fn list_resources_of(&self, kind: ResourceKind) -> Result<Vec<Resource>, ProviderError> {
        let listed = match kind {
            ResourceKind::Volume => {
                let list = ListOf { path: "/v2/volumes", filters: &[], what: "volume list" };
                self.list_all(list, mapping::volume).await?
            }
            ResourceKind::Snapshot => {
                let list = ListOf { path: "/v2/snapshots", filters: &[], what: "snapshot list" };
                self.list_all(list, mapping::snapshot).await?
            }
            ResourceKind::SshKey => {
                // DigitalOcean allows 10 of these a minute. While that is spent (or a 429 holds
                // the endpoint) the list is refused at once, saying when to ask again, rather
                // than waiting up to a minute: the inventory keeps its last copy meanwhile.
                if let Some(wait) =
                    self.transport.endpoint_wait(&Method::GET, SSH_KEYS).filter(|w| !w.is_zero())
                {
                    return Err(ProviderError::RateLimited {
                        retry_after: nephele_core::RetryAfter::from_now(wait),
                        detail: nephele_core::error::UpstreamDetail::default(),
                    });
                }
                let list = ListOf { path: SSH_KEYS, filters: &[], what: "SSH key list" };
                self.list_all(list, |k: wire::SshKey| Ok(mapping::ssh_key(k))).await?
            }
            ResourceKind::Firewall => {
                let list = ListOf { path: "/v2/firewalls", filters: &[], what: "firewall list" };
                self.list_all(list, mapping::firewall).await?
            }
            ResourceKind::ReservedIp => {
                let list = ListOf { path: "/v2/reserved_ips", filters: &[], what: "reserved IP list" };
                self.list_all(list, mapping::reserved_ip).await?
            }
            ResourceKind::Vpc => {
                let list = ListOf { path: "/v2/vpcs", filters: &[], what: "VPC list" };
                self.list_all(list, mapping::vpc).await?
            }
        };
        // A resource can move between pages while they are read; each is reported once.
        let mut seen = std::collections::HashSet::with_capacity(listed.len());
        Ok(listed.into_iter().filter(|r| seen.insert(r.id().clone())).collect())
    }

    /// One resource by its id.
    pub(crate) async fn get_resource_of(
        &self,
        kind: ResourceKind,
        id: &ResourceId,
    ) -> Result<Resource, ProviderError> {
        let id = segment(kind, id)?;
        match kind {
            ResourceKind::Volume => mapping::volume(
                self.get_one::<wire::VolumeOne>(&format!("/v2/volumes/{id}"), "volume").await?.volume,
            ),
            ResourceKind::Snapshot => mapping::snapshot(
                self.get_one::<wire::SnapshotOne>(&format!("/v2/snapshots/{id}"), "snapshot").await?.snapshot,
            ),
            ResourceKind::SshKey => Ok(mapping::ssh_key(
                self.get_one::<wire::SshKeyOne>(&format!("/v2/account/keys/{id}"), "SSH key").await?.ssh_key,
            )),
            ResourceKind::Firewall => mapping::firewall(
                self.get_one::<wire::FirewallOne>(&format!("/v2/firewalls/{id}"), "firewall").await?.firewall,
            ),
            ResourceKind::ReservedIp => mapping::reserved_ip(
                self.get_one::<wire::ReservedIpOne>(&format!("/v2/reserved_ips/{id}"), "reserved IP")
                    .await?
                    .reserved_ip,
            ),
            ResourceKind::Vpc => {
                mapping::vpc(self.get_one::<wire::VpcOne>(&format!("/v2/vpcs/{id}"), "VPC").await?.vpc)
            }
        }
    }

    /// Deletes one resource (a droplet or volume snapshot alike through `/v2/snapshots`).
    pub(crate) async fn delete_resource_of(
        &self,
        kind: ResourceKind,
        id: &ResourceId,
    ) -> Result<(), ProviderError> {
        let id = segment(kind, id)?;
        let path = match kind {
            ResourceKind::Volume => format!("/v2/volumes/{id}"),
            ResourceKind::Snapshot => format!("/v2/snapshots/{id}"),
            ResourceKind::SshKey => format!("/v2/account/keys/{id}"),
            ResourceKind::Firewall => format!("/v2/firewalls/{id}"),
            ResourceKind::ReservedIp => format!("/v2/reserved_ips/{id}"),
            ResourceKind::Vpc => format!("/v2/vpcs/{id}"),
        };
        self.delete_path(&path).await
    }

    /// What is inside a VPC, every page of it.
    pub(crate) async fn vpc_members_of(&self, vpc: &ResourceId) -> Result<Vec<VpcMember>, ProviderError> {
        let id = segment(ResourceKind::Vpc, vpc)?;
        let path = format!("/v2/vpcs/{id}/members");
        self.list_all(ListOf { path: &path, filters: &[], what: "VPC member list" }, mapping::vpc_member)
            .await
    }
}
