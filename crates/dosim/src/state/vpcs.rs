//! VPC networks: one default per region in every account, more made by hand, and their
//! members (the droplets placed in them).
//!
//! The spec's rules: names unique in the account; a range in RFC 1918 space, between /28 and
//! /16, overlapping no other network of the account (a free /20 when none is given); the
//! default of a region cannot be unset (only replaced by making another the default); the
//! default, or a VPC that still has members, cannot be deleted: 403 Forbidden.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use time::OffsetDateTime;

use super::World;
use super::table::Keyed;
use crate::catalog::{self, RegionSpec};
use crate::error::DoError;

/// An IPv4 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    pub fn new(base: Ipv4Addr, prefix: u8) -> Self {
        Self { base: u32::from(base), prefix }
    }

    fn mask(self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0)
    }

    fn overlaps(self, other: Self) -> bool {
        let shorter = self.mask() & other.mask();
        self.base & shorter == other.base & shorter
    }

    /// Whether the network lies within 10/8, 172.16/12 or 192.168/16.
    fn is_private(self) -> bool {
        [
            Cidr::new(Ipv4Addr::new(10, 0, 0, 0), 8),
            Cidr::new(Ipv4Addr::new(172, 16, 0, 0), 12),
            Cidr::new(Ipv4Addr::new(192, 168, 0, 0), 16),
        ]
        .iter()
        .any(|space| self.prefix >= space.prefix && self.overlaps(*space))
    }

    /// Reads `a.b.c.d/n` with the host bits clear.
    pub fn parse(text: &str) -> Result<Self, DoError> {
        let bad = || DoError::unprocessable(format!("ip_range {text:?} is not a network in CIDR notation."));
        let (ip, prefix) = text.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(bad)?;
        let cidr = Self::new(ip, prefix);
        if cidr.base & !cidr.mask() != 0 {
            return Err(DoError::unprocessable(format!("ip_range {text:?} has host bits set.")));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

#[derive(Debug, Clone)]
pub struct Vpc {
    pub id: String,
    pub name: String,
    pub description: String,
    pub region: &'static RegionSpec,
    pub ip_range: Cidr,
    pub default: bool,
    pub created_at: OffsetDateTime,
}

impl Keyed for Vpc {
    fn key(&self) -> &str {
        &self.id
    }
}

/// A VPC create that has passed the spec's shape checks.
pub struct NewVpc {
    pub name: String,
    pub region: String,
    pub description: String,
    pub ip_range: Option<String>,
}

/// What a PUT or PATCH changes; `None` leaves a field as it is.
#[derive(Default)]
pub struct VpcChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub default: Option<bool>,
}

/// "May only contain alphanumeric characters, dashes, and periods" (the spec's `vpc_updatable`).
fn check_vpc_name(name: &str) -> Result<(), DoError> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !valid {
        return Err(DoError::unprocessable("name may only contain letters, digits, '-' and '.'."));
    }
    Ok(())
}

fn check_description(description: &str) -> Result<(), DoError> {
    if description.chars().count() > 255 {
        return Err(DoError::unprocessable("description is limited to 255 characters."));
    }
    Ok(())
}

impl World {
    /// One default VPC per catalogue region, `10.(100+i).0.0/20`, made with the account.
    pub(super) fn add_default_vpcs(&mut self, created_at: OffsetDateTime) {
        for (i, region) in catalog::REGIONS.iter().enumerate() {
            let id = uuid::Uuid::new_v4().to_string();
            let vpc = Vpc {
                id: id.clone(),
                name: format!("default-{}", region.slug),
                description: String::new(),
                region,
                ip_range: Cidr::new(Ipv4Addr::new(10, 100 + i as u8, 0, 0), 20),
                default: true,
                created_at,
            };
            self.default_vpcs.insert(region.slug, Arc::from(id.as_str()));
            self.vpcs.insert(self.ids.sequence(), vpc);
        }
    }

    /// The id of a region's default VPC.
    pub fn default_vpc(&self, region: &str) -> Arc<str> {
        self.default_vpcs.get(region).cloned().unwrap_or_else(|| Arc::from(""))
    }

    fn check_range_free(&self, range: Cidr, except: Option<&str>) -> Result<(), DoError> {
        if !(16..=28).contains(&range.prefix) {
            return Err(DoError::unprocessable("ip_range may not be smaller than /28 nor larger than /16."));
        }
        if !range.is_private() {
            return Err(DoError::unprocessable("ip_range must be within the private ranges of RFC 1918."));
        }
        if self.vpcs.values().any(|v| Some(v.id.as_str()) != except && v.ip_range.overlaps(range)) {
            return Err(DoError::unprocessable("ip_range overlaps another VPC network of this account."));
        }
        Ok(())
    }

    /// The first /20 in 10.110.0.0 upwards that overlaps nothing.
    fn free_range(&self) -> Result<Cidr, DoError> {
        (110..=255u8)
            .flat_map(|second| {
                (0..16u8).map(move |block| Cidr::new(Ipv4Addr::new(10, second, block * 16, 0), 20))
            })
            .find(|range| self.vpcs.values().all(|v| !v.ip_range.overlaps(*range)))
            .ok_or_else(|| DoError::unprocessable("No free /20 network is left in 10.0.0.0/8."))
    }

    fn check_vpc_name_free(&self, name: &str, except: Option<&str>) -> Result<(), DoError> {
        if self.vpcs.values().any(|v| v.name == name && Some(v.id.as_str()) != except) {
            return Err(DoError::conflict("A VPC with this name already exists."));
        }
        Ok(())
    }

    pub fn create_vpc(&mut self, new: NewVpc) -> Result<String, DoError> {
        check_vpc_name(&new.name)?;
        check_description(&new.description)?;
        let region = catalog::region(&new.region)
            .ok_or_else(|| DoError::unprocessable("You specified an invalid region."))?;
        let ip_range = match new.ip_range.as_deref() {
            Some(text) => {
                let range = Cidr::parse(text)?;
                self.check_range_free(range, None)?;
                range
            }
            None => self.free_range()?,
        };
        self.check_vpc_name_free(&new.name, None)?;
        let id = uuid::Uuid::new_v4().to_string();
        let vpc = Vpc {
            id: id.clone(),
            name: new.name,
            description: new.description,
            region,
            ip_range,
            default: false,
            created_at: self.clock.now(),
        };
        self.vpcs.insert(self.ids.sequence(), vpc);
        Ok(id)
    }

    pub fn update_vpc(&mut self, id: &str, change: VpcChange) -> Result<(), DoError> {
        let vpc = self.vpcs.get(id).ok_or_else(DoError::not_found)?;
        let region = vpc.region.slug;
        if let Some(name) = &change.name {
            check_vpc_name(name)?;
            self.check_vpc_name_free(name, Some(id))?;
        }
        if let Some(description) = &change.description {
            check_description(description)?;
        }
        if change.default == Some(false) && vpc.default {
            return Err(DoError::unprocessable(
                "The default field cannot be unset; make another VPC of the region the default instead.",
            ));
        }
        if change.default == Some(true) && !vpc.default {
            for other in self.vpcs.values_mut().filter(|v| v.region.slug == region) {
                other.default = false;
            }
            self.default_vpcs.insert(region, Arc::from(id));
        }
        let vpc = self.vpcs.get_mut(id).ok_or_else(DoError::not_found)?;
        if change.default == Some(true) {
            vpc.default = true;
        }
        if let Some(name) = change.name {
            vpc.name = name;
        }
        if let Some(description) = change.description {
            vpc.description = description;
        }
        Ok(())
    }

    pub fn delete_vpc(&mut self, id: &str) -> Result<(), DoError> {
        let vpc = self.vpcs.get(id).ok_or_else(DoError::not_found)?;
        if vpc.default {
            return Err(DoError::forbidden("The default VPC of a region cannot be deleted."));
        }
        if self.droplets.values().any(|d| &*d.vpc_uuid == id) {
            return Err(DoError::forbidden("A VPC that still has members cannot be deleted."));
        }
        self.vpcs.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        Cidr::parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.message))
    }

    #[test]
    fn networks_overlap_when_one_contains_the_other() {
        assert!(cidr("10.10.0.0/16").overlaps(cidr("10.10.10.0/24")));
        assert!(cidr("10.10.10.0/24").overlaps(cidr("10.10.0.0/16")));
        assert!(!cidr("10.10.0.0/20").overlaps(cidr("10.10.16.0/20")));
    }

    #[test]
    fn only_rfc1918_networks_are_private() {
        assert!(cidr("10.1.0.0/16").is_private());
        assert!(cidr("172.31.0.0/16").is_private());
        assert!(cidr("192.168.4.0/24").is_private());
        assert!(!cidr("172.32.0.0/16").is_private());
        assert!(!cidr("8.8.0.0/16").is_private());
        assert!(!cidr("10.0.0.0/7").is_private());
    }

    #[test]
    fn networks_with_host_bits_or_bad_text_are_refused() {
        for bad in ["10.10.10.5/24", "10.10.10.0", "10.10.10.0/33", "ten/8"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(cidr("10.10.16.0/20").to_string(), "10.10.16.0/20");
    }
}
