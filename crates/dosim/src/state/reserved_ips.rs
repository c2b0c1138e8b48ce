//! Reserved IPv4 addresses: reserved in a region or straight to a droplet, assigned and
//! unassigned by actions, released by delete.
//!
//! An address belongs to one region and can only be assigned to a droplet there; a droplet
//! holds at most one. Unassigning (or deleting the droplet) leaves the address reserved, and
//! billed, until it is released. While an assignment is under way the address is `locked` and
//! refuses another action, as DigitalOcean's droplets do.

use std::net::Ipv4Addr;
use std::time::Instant;

use time::OffsetDateTime;

use super::World;
use super::lifetime::{Change, History, Measure, Retired};
use super::table::Keyed;
use crate::catalog::{self, RegionSpec};
use crate::error::DoError;

#[derive(Debug, Clone)]
pub struct ReservedIp {
    pub address: String,
    pub region: &'static RegionSpec,
    pub droplet_id: Option<u64>,
    pub created_at: OffsetDateTime,
    /// Until then an action is under way and the address is locked.
    pub ready_at: Instant,
    pub action_ids: Vec<u64>,
    pub history: History,
}

impl Keyed for ReservedIp {
    fn key(&self) -> &str {
        &self.address
    }
}

impl ReservedIp {
    pub fn locked_at(&self, now: Instant) -> bool {
        now < self.ready_at
    }

    /// The address as a number: what DigitalOcean's reserved IP actions give as `resource_id`.
    pub fn resource_id(&self) -> Option<u64> {
        self.address.parse::<Ipv4Addr>().ok().map(|ip| u64::from(u32::from(ip)))
    }
}

/// What a reserved IP action asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpAction {
    Assign { droplet_id: u64 },
    Unassign,
}

impl World {
    /// Reserves a new address in `region`, assigned to nothing, in `project_id` if given.
    pub fn reserve_ip_in_region(
        &mut self,
        region: &str,
        project_id: Option<&str>,
        now: Instant,
    ) -> Result<String, DoError> {
        let region = catalog::region(region)
            .ok_or_else(|| DoError::unprocessable("You specified an invalid region."))?;
        if let Some(project) = project_id
            && !self.projects.contains(project)
        {
            return Err(DoError::unprocessable("The project_id names no project of this account."));
        }
        let address = self.new_reserved_ip(region, now, self.clock.now());
        if let Some(project) = project_id {
            self.assign_to_project(&format!("do:floatingip:{address}"), project);
        }
        Ok(address)
    }

    /// Reserves a new address in the droplet's region and assigns it there; returns the address
    /// and the `assign_ip` action.
    pub fn reserve_ip_for_droplet(
        &mut self,
        droplet_id: u64,
        now: Instant,
    ) -> Result<(String, u64), DoError> {
        let droplet = self
            .droplets
            .get(&droplet_id)
            .ok_or_else(|| DoError::unprocessable("The droplet_id names no Droplet of this account."))?;
        let region = droplet.region;
        if self.reserved_ip_of(droplet_id).is_some() {
            return Err(DoError::unprocessable("The Droplet already has a reserved IP assigned."));
        }
        // One reading of the clock for both, so that the address is never unassigned (and
        // billed) for the moment between them.
        let wall = self.clock.now();
        let address = self.new_reserved_ip(region, now, wall);
        let action_id = self.ip_action_at(&address, IpAction::Assign { droplet_id }, now, wall)?;
        Ok((address, action_id))
    }

    fn new_reserved_ip(&mut self, region: &'static RegionSpec, now: Instant, wall: OffsetDateTime) -> String {
        let address = self.ids.reserved_ip().to_string();
        let ip = ReservedIp {
            address: address.clone(),
            region,
            droplet_id: None,
            created_at: wall,
            ready_at: now,
            action_ids: Vec::new(),
            history: Vec::new(),
        };
        self.reserved_ips.insert(self.ids.sequence(), ip);
        address
    }

    /// The reserved IP assigned to a droplet, if any.
    pub fn reserved_ip_of(&self, droplet_id: u64) -> Option<&ReservedIp> {
        self.reserved_ips.values().find(|ip| ip.droplet_id == Some(droplet_id))
    }

    /// Assigns or unassigns an address, with DigitalOcean's refusals.
    pub fn start_ip_action(&mut self, address: &str, action: IpAction, now: Instant) -> Result<u64, DoError> {
        let wall = self.clock.now();
        self.ip_action_at(address, action, now, wall)
    }

    /// [`World::start_ip_action`], with the change recorded at `wall`.
    fn ip_action_at(
        &mut self,
        address: &str,
        action: IpAction,
        now: Instant,
        wall: OffsetDateTime,
    ) -> Result<u64, DoError> {
        let ip = self.reserved_ips.get(address).ok_or_else(DoError::not_found)?;
        if ip.locked_at(now) {
            return Err(DoError::unprocessable("The reserved IP already has a pending event."));
        }
        let region = ip.region;
        let (kind, change) = match action {
            IpAction::Assign { droplet_id } => {
                let droplet = self.droplets.get(&droplet_id).ok_or_else(|| {
                    DoError::unprocessable("The droplet_id names no Droplet of this account.")
                })?;
                if droplet.region.slug != region.slug {
                    return Err(DoError::unprocessable(
                        "The reserved IP and the Droplet must be in the same region.",
                    ));
                }
                if ip.droplet_id == Some(droplet_id) {
                    return Err(DoError::unprocessable(
                        "The reserved IP is already assigned to this Droplet.",
                    ));
                }
                if self.reserved_ip_of(droplet_id).is_some() {
                    return Err(DoError::unprocessable("The Droplet already has a reserved IP assigned."));
                }
                ("assign_ip", Change::Attached { droplet_id })
            }
            IpAction::Unassign => {
                if ip.droplet_id.is_none() {
                    return Err(DoError::unprocessable("The reserved IP is not assigned to a Droplet."));
                }
                ("unassign_ip", Change::Detached)
            }
        };
        let resource_id = ip.resource_id();
        let action_id = self.record_action(kind, "reserved_ip", resource_id, Some(region.slug), now);
        let settled = now + self.transition;
        let ip = self.reserved_ips.get_mut(address).ok_or_else(DoError::not_found)?;
        ip.droplet_id = match action {
            IpAction::Assign { droplet_id } => Some(droplet_id),
            IpAction::Unassign => None,
        };
        ip.history.push((wall, change));
        ip.ready_at = settled;
        ip.action_ids.push(action_id);
        Ok(action_id)
    }

    /// Releases an address (unassigning it first if needed).
    pub fn release_ip(&mut self, address: &str) -> Result<(), DoError> {
        let ip = self.reserved_ips.remove(address).ok_or_else(DoError::not_found)?;
        let urn = format!("do:floatingip:{address}");
        let project = self.project_name_of(&urn);
        self.assignments.remove(&urn);
        self.retired.push(Retired {
            kind: "reserved_ip",
            id: ip.address,
            name: String::new(),
            region: ip.region.slug.to_owned(),
            measure: Measure::Address,
            created_at: ip.created_at,
            deleted_at: self.clock.now(),
            history: ip.history,
            backups: None,
            project: Some(project),
        });
        Ok(())
    }
}
