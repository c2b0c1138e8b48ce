//! Address blocks as EC2 takes them (`10.0.0.0/16`, `2001:db8::/32`): parsed and put in their
//! canonical form here, so a rule or a VPC range is refused before any call when it is not one,
//! and compared as EC2 stores it when it is.

use std::fmt;
use std::net::IpAddr;

/// An IPv4 or IPv6 block whose host bits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// `a.b.c.d/n` or `x:y::/n`; a bare address is the block of that one address (`/32`,
    /// `/128`), as DigitalOcean's rules take it. A block with host bits set is refused, naming
    /// the block it probably means.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (raw, None),
        };
        let address: IpAddr =
            address.parse().map_err(|_| format!("{raw:?} is not an IPv4 or IPv6 address or block"))?;
        let longest = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => longest,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= longest && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(format!("{raw:?} has a prefix length other than 0 to {longest}")),
            },
        };
        let cidr = Self { address, prefix };
        let network = cidr.network();
        if network != address {
            return Err(format!("{raw:?} has host bits set; the block is {network}/{prefix}"));
        }
        Ok(cidr)
    }

    pub fn is_ipv4(&self) -> bool {
        self.address.is_ipv4()
    }

    /// The block's first address.
    fn network(&self) -> IpAddr {
        match self.address {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }

    /// The IPv4 block as a range of integers, for overlap tests.
    pub fn v4_range(&self) -> Option<(u32, u32)> {
        match self.address {
            IpAddr::V4(v4) => {
                let start = u32::from(v4);
                let size = 1u64 << (32 - u32::from(self.prefix));
                let end = u64::from(start) + size - 1;
                Some((start, u32::try_from(end).unwrap_or(u32::MAX)))
            }
            IpAddr::V6(_) => None,
        }
    }

    /// Whether two IPv4 blocks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        match (self.v4_range(), other.v4_range()) {
            (Some((a, b)), Some((c, d))) => a <= d && c <= b,
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_read_in_canonical_form() {
        assert_eq!(Cidr::parse("0.0.0.0/0").expect("any").to_string(), "0.0.0.0/0");
        assert_eq!(Cidr::parse("203.0.113.7").expect("one").to_string(), "203.0.113.7/32");
        assert_eq!(Cidr::parse("::/0").expect("any v6").to_string(), "::/0");
        assert_eq!(Cidr::parse("2001:DB8::/32").expect("v6").to_string(), "2001:db8::/32");
        assert_eq!(Cidr::parse("2001:db8::1").expect("one v6").prefix, 128);
    }

    #[test]
    fn what_is_no_block_is_refused_with_a_reason() {
        let host_bits = Cidr::parse("10.0.0.1/8").expect_err("host bits");
        assert!(host_bits.contains("10.0.0.0/8"), "{host_bits}");
        for bad in
            ["", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0/8", "example.com", "::/129", "1.2.3.4/"]
        {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv4_blocks_overlap_when_they_share_an_address() {
        let block = |s: &str| Cidr::parse(s).expect("block");
        assert!(block("10.0.0.0/16").overlaps(&block("10.0.255.0/24")));
        assert!(!block("10.0.0.0/16").overlaps(&block("10.1.0.0/16")));
        assert!(block("0.0.0.0/0").overlaps(&block("192.168.0.0/16")));
        assert_eq!(block("0.0.0.0/0").v4_range(), Some((0, u32::MAX)));
    }
}
