//! Identifiers handed out across every simulated account.
//!
//! DigitalOcean numbers droplets, actions, images and SSH keys across the whole cloud, so a
//! droplet id names one droplet whichever account asks, and a reserved IP address belongs to one
//! account at a time. Every account's world draws from the one `Ids`, which keeps ids and
//! addresses unique across accounts without the accounts sharing any state beyond these
//! counters. (Volumes, firewalls and the like have random v4 uuids, unique without help.)
//! Nothing here may depend on which account asks.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

/// The next free id of each kind.
#[derive(Debug)]
pub struct Ids {
    droplet: AtomicU64,
    action: AtomicU64,
    image: AtomicU64,
    ssh_key: AtomicU64,
    /// Reserved IPv4 addresses, numbered; see [`Ids::reserved_ip`].
    address: AtomicU64,
    /// Creation order of resources keyed by strings (volumes, snapshots, firewalls, ...).
    sequence: AtomicU64,
}

impl Default for Ids {
    fn default() -> Self {
        Self {
            droplet: AtomicU64::new(500_000_001),
            action: AtomicU64::new(2_000_000_001),
            image: AtomicU64::new(170_000_001),
            ssh_key: AtomicU64::new(41_000_001),
            address: AtomicU64::new(0),
            sequence: AtomicU64::new(1),
        }
    }
}

fn take(counter: &AtomicU64, count: u64) -> u64 {
    // Relaxed is enough: each caller only needs a block no other caller gets.
    counter.fetch_add(count, Ordering::Relaxed)
}

impl Ids {
    pub fn droplet(&self) -> u64 {
        take(&self.droplet, 1)
    }

    /// A block of `count` consecutive droplet ids, for pre-creating droplets in one go.
    pub fn droplets(&self, count: usize) -> Range<u64> {
        let first = take(&self.droplet, count as u64);
        first..first + count as u64
    }

    pub fn action(&self) -> u64 {
        take(&self.action, 1)
    }

    pub fn image(&self) -> u64 {
        take(&self.image, 1)
    }

    pub fn ssh_key(&self) -> u64 {
        take(&self.ssh_key, 1)
    }

    pub fn sequence(&self) -> u64 {
        take(&self.sequence, 1)
    }

    /// A public IPv4 address no account has been given before, in `45.55.0.0` upwards (never one
    /// of the droplets' own `164.x` addresses).
    pub fn reserved_ip(&self) -> std::net::Ipv4Addr {
        let n = take(&self.address, 1);
        let host = n % 254 + 1;
        let third = (n / 254) % 256;
        let second = 55 + (n / (254 * 256)) % 200;
        std::net::Ipv4Addr::new(45, second as u8, third as u8, host as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_addresses_do_not_repeat_over_a_large_block() {
        let ids = Ids::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200_000 {
            assert!(seen.insert(ids.reserved_ip()));
        }
    }

    #[test]
    fn blocks_of_droplet_ids_do_not_overlap_single_ids() {
        let ids = Ids::default();
        let block = ids.droplets(100);
        let next = ids.droplet();
        assert_eq!(block.end, next);
        assert_eq!(block.count(), 100);
    }
}
