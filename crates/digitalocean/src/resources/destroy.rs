//! Deleting a droplet together with chosen volumes, snapshots and reserved IPs in one call
//! (`DELETE /v2/droplets/{id}/destroy_with_associated_resources/selective`).
//!
//! DigitalOcean destroys only what it lists as the droplet's associated resources, under its
//! own ids, and keeps droplet and volume snapshots in separate lists. So the list is read
//! first: each chosen resource is matched to it (a reserved IP by its address, a snapshot by
//! its id), and anything not associated is refused before the droplet is touched. After the
//! destroy, its status tells which resources failed to go. A retry after the droplet is gone
//! reads that same status: the destroy happened, and is not asked for again.

use nephele_core::{AssociatedResources, InstanceId, ProviderError};
use reqwest::{Method, StatusCode};

use super::wire;
use crate::DigitalOcean;
use crate::transport::Retry;

/// The id DigitalOcean gives `id` among `listed` (matched by id, or by name for an address).
fn listed_id(listed: &[wire::Associated], id: &str) -> Option<String> {
    listed.iter().find(|a| a.id == id || a.name == id).map(|a| a.id.clone())
}

fn not_associated(field: &str, droplet: u64, id: &str) -> ProviderError {
    ProviderError::invalid(
        field,
        format!(
            "{:?} is not associated with droplet {droplet}; DigitalOcean deletes only what it lists as the droplet's",
            nephele_core::upstream_text(id, &[])
        ),
    )
}

/// The selective body: each chosen resource under DigitalOcean's id and list.
fn selection(
    droplet: u64,
    chosen: &AssociatedResources,
    listed: &wire::AssociatedList,
) -> Result<wire::SelectiveDestroy, ProviderError> {
    let mut body = wire::SelectiveDestroy::default();
    for volume in &chosen.volumes {
        body.volumes.push(
            listed_id(&listed.volumes, &volume.0)
                .ok_or_else(|| not_associated("volumes", droplet, &volume.0))?,
        );
    }
    for snapshot in &chosen.snapshots {
        if let Some(id) = listed_id(&listed.snapshots, &snapshot.0) {
            body.snapshots.push(id);
        } else if let Some(id) = listed_id(&listed.volume_snapshots, &snapshot.0) {
            body.volume_snapshots.push(id);
        } else {
            return Err(not_associated("snapshots", droplet, &snapshot.0));
        }
    }
    for ip in &chosen.reserved_ips {
        body.reserved_ips.push(
            listed_id(&listed.reserved_ips, &ip.0)
                .ok_or_else(|| not_associated("reserved_ips", droplet, &ip.0))?,
        );
    }
    Ok(body)
}

impl DigitalOcean {
    pub(crate) async fn destroy_with_associated(
        &self,
        id: &InstanceId,
        chosen: &AssociatedResources,
    ) -> Result<(), ProviderError> {
        let droplet = super::validate::droplet("id", id).map_err(|_| {
            ProviderError::not_found(format!(
                "no droplet has the id {:?}",
                nephele_core::upstream_text(&id.0, &[])
            ))
        })?;
        let base = format!("/v2/droplets/{droplet}/destroy_with_associated_resources");
        let reply = self.transport.send(Method::GET, &base, None, Retry::Idempotent).await?;
        if reply.status == StatusCode::NOT_FOUND {
            // Gone: destroyed by an earlier attempt (its status remains), or never there.
            return self.destroy_outcome(droplet, &base).await;
        }
        let listed: wire::AssociatedList = reply.decode("associated resource list")?;
        let body = super::encode(&selection(droplet, chosen, &listed)?)?;
        let reply = self
            .transport
            .send(Method::DELETE, &format!("{base}/selective"), Some(&body), Retry::Idempotent)
            .await?;
        match reply.status {
            status if status.is_success() => {}
            StatusCode::NOT_FOUND if reply.after_ambiguous_failure => {}
            _ => return Err(crate::errors::from_reply(&reply)),
        }
        self.destroy_outcome(droplet, &base).await
    }

    /// Reads the destroy's status: every chosen resource gone is success, a failure names them.
    async fn destroy_outcome(&self, droplet: u64, base: &str) -> Result<(), ProviderError> {
        let reply =
            self.transport.send(Method::GET, &format!("{base}/status"), None, Retry::Idempotent).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(ProviderError::not_found(format!("no droplet has the id {droplet:?}")));
        }
        let status: wire::DestroyStatus = reply.decode("destroy status")?;
        if status.failures == 0 {
            return Ok(());
        }
        let lists = &status.resources;
        let failed: Vec<String> =
            [&lists.volumes, &lists.snapshots, &lists.volume_snapshots, &lists.reserved_ips]
                .into_iter()
                .flatten()
                .filter(|r| r.error_message.is_some())
                .take(10)
                .map(|r| nephele_core::upstream_text(if r.name.is_empty() { &r.id } else { &r.name }, &[]))
                .collect();
        Err(ProviderError::Conflict {
            message: format!(
                "droplet {droplet} was destroyed but {} of its chosen resources were not: {}",
                status.failures,
                failed.join(", ")
            ),
            detail: Default::default(),
        })
    }
}
