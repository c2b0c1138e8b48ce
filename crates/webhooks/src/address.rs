//! Which IP addresses a webhook may not reach unless private networks are allowed: loopback,
//! private, link-local, metadata, multicast and every other range that is not the public
//! internet, including IPv6 forms that carry an IPv4 address inside them.
//!
//! Pure functions of an address, no I/O: the guard (`guard.rs`) applies them to every address a
//! name resolves to. When in doubt a range is refused: a webhook receiver on the public internet
//! never lives in any of them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of non-public range an address belongs to, named in every refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// 0.0.0.0 and `::`.
    Unspecified,
    /// 0.0.0.0/8 (RFC 1122): "this network", which some stacks route to the host itself.
    ThisNetwork,
    /// 127.0.0.0/8 and `::1`.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16 (RFC 1918).
    Private,
    /// 100.64.0.0/10 (RFC 6598), carrier-grade NAT and some clouds' internal services.
    SharedAddressSpace,
    /// 169.254.0.0/16 and fe80::/10.
    LinkLocal,
    /// A cloud's instance metadata or platform service (169.254.169.254, fd00:ec2::254,
    /// Alibaba's 100.100.100.200, Azure's 168.63.129.16, Oracle's 192.0.0.192): credentials live
    /// there.
    CloudMetadata,
    /// fc00::/7 (RFC 4193) and the deprecated site-local fec0::/10.
    UniqueLocal,
    /// 224.0.0.0/4 and ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24 (RFC 5737), 2001:db8::/32 (RFC 3849) and
    /// 3fff::/20 (RFC 9637).
    Documentation,
    /// 198.18.0.0/15 (RFC 2544) and 2001:2::/48 (RFC 5180).
    Benchmarking,
    /// 192.0.0.0/24 (RFC 6890): IETF protocol assignments.
    ProtocolAssignment,
    /// Any other special-purpose range; the text names it.
    Reserved(&'static str),
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unspecified => f.write_str("the unspecified address"),
            Self::ThisNetwork => f.write_str("a \"this network\" address (0.0.0.0/8)"),
            Self::Loopback => f.write_str("a loopback address"),
            Self::Private => f.write_str("a private address (RFC 1918)"),
            Self::SharedAddressSpace => f.write_str("a carrier-grade NAT address (100.64.0.0/10, RFC 6598)"),
            Self::LinkLocal => f.write_str("a link-local address"),
            Self::CloudMetadata => f.write_str("a cloud metadata service address"),
            Self::UniqueLocal => f.write_str("a unique local address (fc00::/7, RFC 4193)"),
            Self::Multicast => f.write_str("a multicast address"),
            Self::Broadcast => f.write_str("the broadcast address"),
            Self::Documentation => f.write_str("a documentation address"),
            Self::Benchmarking => f.write_str("a benchmarking address"),
            Self::ProtocolAssignment => f.write_str("an IETF protocol assignment address (192.0.0.0/24)"),
            Self::Reserved(range) => write!(f, "a reserved address ({range})"),
        }
    }
}

/// How an IPv6 address carries an IPv4 address that is what a connection would really reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Embedding {
    /// `::ffff:a.b.c.d`: the socket connects over IPv4 to a.b.c.d.
    Mapped,
    /// `::a.b.c.d` (deprecated).
    Compatible,
    /// `64:ff9b::a.b.c.d` (RFC 6052): a NAT64 gateway connects to a.b.c.d.
    Nat64,
    /// `2002:aabb:ccdd::/48` (RFC 3056): 6to4 tunnels to a.b.c.d.
    SixToFour,
}

impl fmt::Display for Ipv4Embedding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mapped => "the IPv4-mapped form",
            Self::Compatible => "the IPv4-compatible form",
            Self::Nat64 => "the NAT64 form",
            Self::SixToFour => "a 6to4 form",
        })
    }
}

/// An address a webhook may not reach, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForbiddenAddress {
    pub address: IpAddr,
    pub class: AddressClass,
    /// Set when the verdict is about the IPv4 address inside an IPv6 one.
    pub embedded: Option<(Ipv4Embedding, Ipv4Addr)>,
}

impl fmt::Display for ForbiddenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            Some((form, inner)) => write!(f, "{} is {form} of {inner}, {}", self.address, self.class),
            None => write!(f, "{} is {}", self.address, self.class),
        }
    }
}

/// `Some` when `address` is outside the public internet (see [`AddressClass`]), `None` when a
/// webhook may be sent to it.
pub fn classify(address: IpAddr) -> Option<ForbiddenAddress> {
    match address {
        IpAddr::V4(v4) => classify_v4(v4).map(|class| ForbiddenAddress { address, class, embedded: None }),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// `true` when `address` lies in `prefix/len`.
fn in_v4(address: Ipv4Addr, prefix: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(address) & mask == u32::from(Ipv4Addr::from(prefix)) & mask
}

fn in_v6(address: Ipv6Addr, prefix: Ipv6Addr, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(address) & mask == u128::from(prefix) & mask
}

/// Single addresses of cloud metadata and platform services, checked before the wider ranges
/// that hold them so the refusal says what is really there.
const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(168, 63, 129, 16),
    Ipv4Addr::new(192, 0, 0, 192),
];
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

fn classify_v4(address: Ipv4Addr) -> Option<AddressClass> {
    use AddressClass::*;
    let class = if METADATA_V4.contains(&address) {
        CloudMetadata
    } else if address.is_unspecified() {
        Unspecified
    } else if address.is_broadcast() {
        Broadcast
    } else if in_v4(address, [0, 0, 0, 0], 8) {
        ThisNetwork
    } else if in_v4(address, [127, 0, 0, 0], 8) {
        Loopback
    } else if in_v4(address, [10, 0, 0, 0], 8)
        || in_v4(address, [172, 16, 0, 0], 12)
        || in_v4(address, [192, 168, 0, 0], 16)
    {
        Private
    } else if in_v4(address, [100, 64, 0, 0], 10) {
        SharedAddressSpace
    } else if in_v4(address, [169, 254, 0, 0], 16) {
        LinkLocal
    } else if in_v4(address, [192, 0, 0, 0], 24) {
        ProtocolAssignment
    } else if in_v4(address, [192, 0, 2, 0], 24)
        || in_v4(address, [198, 51, 100, 0], 24)
        || in_v4(address, [203, 0, 113, 0], 24)
    {
        Documentation
    } else if in_v4(address, [198, 18, 0, 0], 15) {
        Benchmarking
    } else if in_v4(address, [192, 88, 99, 0], 24) {
        Reserved("192.88.99.0/24, 6to4 relay anycast")
    } else if in_v4(address, [224, 0, 0, 0], 4) {
        Multicast
    } else if in_v4(address, [240, 0, 0, 0], 4) {
        Reserved("240.0.0.0/4")
    } else {
        return None;
    };
    Some(class)
}

fn classify_v6(address: Ipv6Addr) -> Option<ForbiddenAddress> {
    use AddressClass::*;
    let forbidden = |class| Some(ForbiddenAddress { address: IpAddr::V6(address), class, embedded: None });
    // The IPv4 address a form carries: the verdict is the IPv4 address's, and an embedding of a
    // public IPv4 address is as public as the address itself (except the deprecated forms).
    let embedded = |form, inner: Ipv4Addr, public_fallback: Option<AddressClass>| {
        classify_v4(inner).or(public_fallback).map(|class| ForbiddenAddress {
            address: IpAddr::V6(address),
            class,
            embedded: Some((form, inner)),
        })
    };
    let low_v4 = Ipv4Addr::from((u128::from(address) & 0xffff_ffff) as u32);

    if address == METADATA_V6 {
        forbidden(CloudMetadata)
    } else if address.is_unspecified() {
        forbidden(Unspecified)
    } else if address.is_loopback() {
        forbidden(Loopback)
    } else if let Some(inner) = address.to_ipv4_mapped() {
        embedded(Ipv4Embedding::Mapped, inner, None)
    } else if in_v6(address, Ipv6Addr::UNSPECIFIED, 96) {
        // `::a.b.c.d` has been deprecated since 2006 (RFC 4291): nothing public uses it.
        embedded(Ipv4Embedding::Compatible, low_v4, Some(Reserved("::/96, IPv4-compatible")))
    } else if in_v6(address, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        embedded(Ipv4Embedding::Nat64, low_v4, None)
    } else if in_v6(address, Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48) {
        forbidden(Reserved("64:ff9b:1::/48, local-use NAT64"))
    } else if in_v6(address, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        let inner = Ipv4Addr::from(((u128::from(address) >> 80) & 0xffff_ffff) as u32);
        embedded(Ipv4Embedding::SixToFour, inner, None)
    } else if in_v6(address, Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32)
        || in_v6(address, Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20)
    {
        forbidden(Documentation)
    } else if in_v6(address, Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0), 48) {
        forbidden(Benchmarking)
    } else if in_v6(address, Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32) {
        // Teredo: the address hides the server's and (obfuscated) the client's IPv4 addresses.
        forbidden(Reserved("2001::/32, Teredo"))
    } else if in_v6(address, Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28)
        || in_v6(address, Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28)
    {
        forbidden(Reserved("2001:10::/28 and 2001:20::/28, ORCHID"))
    } else if in_v6(address, Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64) {
        forbidden(Reserved("100::/64, discard-only"))
    } else if in_v6(address, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10) {
        forbidden(LinkLocal)
    } else if in_v6(address, Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7)
        || in_v6(address, Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10)
    {
        forbidden(UniqueLocal)
    } else if address.is_multicast() {
        forbidden(Multicast)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class_of(text: &str) -> Option<AddressClass> {
        classify(text.parse().expect("an address")).map(|f| f.class)
    }

    #[test]
    fn every_non_public_ipv4_range_is_named() {
        use AddressClass::*;
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", ThisNetwork),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("169.254.0.1", LinkLocal),
            ("169.254.169.254", CloudMetadata),
            ("100.100.100.200", CloudMetadata),
            ("168.63.129.16", CloudMetadata),
            ("192.0.0.192", CloudMetadata),
            ("192.0.0.8", ProtocolAssignment),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved("240.0.0.0/4")),
            ("255.255.255.255", Broadcast),
        ];
        for (address, class) in cases {
            assert_eq!(class_of(address), Some(class), "{address}");
        }
    }

    #[test]
    fn public_ipv4_next_to_the_ranges_is_allowed() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "168.63.129.17",
        ] {
            assert_eq!(class_of(address), None, "{address}");
        }
    }

    #[test]
    fn ipv6_ranges_and_forms_that_carry_ipv4_are_judged_by_what_they_reach() {
        use AddressClass::*;
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:169.254.169.254", CloudMetadata),
            ("::127.0.0.1", Loopback),
            ("::8.8.8.8", Reserved("::/96, IPv4-compatible")),
            ("64:ff9b::7f00:1", Loopback),
            ("64:ff9b::10.0.0.1", Private),
            ("64:ff9b:1::1", Reserved("64:ff9b:1::/48, local-use NAT64")),
            ("2002:7f00:1::1", Loopback),
            ("2002:a9fe:a9fe::", CloudMetadata),
            ("fd00:ec2::254", CloudMetadata),
            ("fd12:3456::1", UniqueLocal),
            ("fc00::1", UniqueLocal),
            ("fec0::1", UniqueLocal),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001:2::1", Benchmarking),
            ("2001:0:4136:e378::1", Reserved("2001::/32, Teredo")),
            ("100::1", Reserved("100::/64, discard-only")),
        ];
        for (address, class) in cases {
            assert_eq!(class_of(address), Some(class), "{address}");
        }
        for address in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(class_of(address), None, "{address}");
        }
    }

    #[test]
    fn a_refusal_names_the_address_the_form_and_the_class() {
        let mapped = classify("::ffff:127.0.0.1".parse().expect("address")).expect("forbidden");
        assert_eq!(
            mapped.to_string(),
            "::ffff:127.0.0.1 is the IPv4-mapped form of 127.0.0.1, a loopback address"
        );
        let metadata = classify("169.254.169.254".parse().expect("address")).expect("forbidden");
        assert_eq!(metadata.to_string(), "169.254.169.254 is a cloud metadata service address");
    }
}
