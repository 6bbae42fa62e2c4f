//! Which name-server addresses a check may contact. A tenant chooses its zone's name
//! servers, and so the addresses a check sends packets to: an address in an IANA
//! special-purpose range (loopback, private, link-local with the cloud's metadata service,
//! CGNAT, documentation, multicast, reserved; IPv6 too, and the IPv6 forms that carry an
//! IPv4 address) would turn the checker into a scanner of the network it runs in. Such an
//! address is contacted only inside a network an operator allows (`DNS_ALLOW_NETWORKS`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// IPv4 ranges that are not globally reachable (IANA's IPv4 special-purpose registry), plus
/// multicast and the deprecated 6to4 relay, none of which is where a zone's server lives.
const V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\""),
    ("10.0.0.0/8", "private-use"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private-use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
    ("192.168.0.0/16", "private-use"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
];

/// IPv6 ranges that are not globally reachable (IANA's IPv6 special-purpose registry), plus
/// multicast and site-local. The forms that embed an IPv4 address (mapped, the NAT64
/// well-known prefix, 6to4) are judged by the address they carry, see [`embedded_v4`].
const V6: &[(&str, &str)] = &[
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy prefix"),
    ("2001::/23", "IETF protocol assignments"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
];

/// The IPv4 address an IPv6 address stands for, where it is one of the forms that carry
/// one: IPv4-mapped (`::ffff:a.b.c.d`), the NAT64 well-known prefix (`64:ff9b::/96`), or
/// 6to4 (`2002:AABB:CCDD::/48`). Packets to these reach the IPv4 address, so they are
/// judged as it is.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(tail(s[1], s[2]));
    }
    None
}

/// The special-purpose range `ip` is in, and its name; `None` for a public address.
pub fn special_purpose(ip: IpAddr) -> Option<(IpNet, &'static str)> {
    match ip {
        IpAddr::V4(v4) => V4.iter().find_map(|(net, what)| {
            let net: Ipv4Net = net.parse().expect("the table holds valid networks");
            net.contains(&v4).then_some((IpNet::V4(net), *what))
        }),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return special_purpose(IpAddr::V4(v4));
            }
            V6.iter().find_map(|(net, what)| {
                let net: Ipv6Net = net.parse().expect("the table holds valid networks");
                net.contains(&v6).then_some((IpNet::V6(net), *what))
            })
        }
    }
}

/// The networks besides the public Internet that checks may contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// Public addresses only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// `10.0.0.0/8, fd00::/8`: comma-separated networks in CIDR form (a bare address is a
    /// network of one); empty allows nothing more.
    pub fn parse(list: &str) -> Result<Self, String> {
        let allowed = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!(
                            "'{item}' is not a network in CIDR form (like 10.0.0.0/8 or fd00::/8)"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { allowed })
    }

    /// Also allows `net`.
    pub fn allowing(mut self, net: IpNet) -> Self {
        self.allowed.push(net.trunc());
        self
    }

    /// The networks allowed beside the public Internet.
    pub fn networks(&self) -> &[IpNet] {
        &self.allowed
    }

    fn allows(&self, ip: IpAddr) -> bool {
        let carried = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed
            .iter()
            .any(|net| net.contains(&ip) || carried.is_some_and(|v4| net.contains(&v4)))
    }

    /// Why `ip` must not be contacted, or `None` when it may be.
    pub fn refusal(&self, ip: IpAddr) -> Option<String> {
        if self.allows(ip) {
            return None;
        }
        let (net, what) = special_purpose(ip)?;
        Some(format!(
            "not contacted: {ip} is a {what} address ({net}), not a public one"
        ))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn special_ranges_are_refused_and_public_ones_are_not() {
        let policy = AddressPolicy::public_only();
        for refused in [
            "10.0.0.53",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.1",
            "224.0.0.251",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::53",
            "2001:db8::1",
            "ff02::1",
            "::ffff:10.0.0.53",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:0a00:0035::1",
            "::127.0.0.1",
        ] {
            assert!(
                policy.refusal(ip(refused)).is_some(),
                "{refused} is refused"
            );
        }
        for public in [
            "198.41.0.4",
            "8.8.8.8",
            "2001:500:2f::f",
            "2600::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(policy.refusal(ip(public)), None, "{public} is public");
        }
    }

    #[test]
    fn the_reason_names_the_address_and_the_range() {
        let why = AddressPolicy::public_only()
            .refusal(ip("169.254.169.254"))
            .unwrap();
        assert!(
            why.contains("169.254.169.254") && why.contains("link-local"),
            "{why}"
        );
        assert!(why.contains("169.254.0.0/16"), "{why}");
    }

    #[test]
    fn allowed_networks_cover_their_mapped_forms() {
        let policy = AddressPolicy::parse(" 127.0.0.0/8 , fd00::/8,10.1.2.3").unwrap();
        for allowed in ["127.0.0.1", "::ffff:127.0.0.1", "fd00::1", "10.1.2.3"] {
            assert_eq!(policy.refusal(ip(allowed)), None, "{allowed}");
        }
        assert!(policy.refusal(ip("10.1.2.4")).is_some());
        assert_eq!(
            AddressPolicy::parse("").unwrap(),
            AddressPolicy::public_only()
        );
    }

    #[test]
    fn a_bad_network_is_named() {
        let error = AddressPolicy::parse("10.0.0.0/8, 10.0.0/33").unwrap_err();
        assert!(error.contains("'10.0.0/33'"), "{error}");
        assert!(AddressPolicy::parse("10.0.0.0/33").is_err());
        assert!(AddressPolicy::parse("example.com").is_err());
    }

    proptest! {
        #[test]
        fn any_list_parses_or_is_refused_with_a_reason(list in ".{0,80}") {
            if let Err(why) = AddressPolicy::parse(&list) {
                prop_assert!(why.contains("CIDR"));
            }
        }

        #[test]
        fn a_mapped_address_is_judged_as_its_ipv4(octets in any::<[u8; 4]>()) {
            let policy = AddressPolicy::public_only();
            let v4 = Ipv4Addr::from(octets);
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            prop_assert_eq!(
                policy.refusal(IpAddr::V4(v4)).is_some(),
                policy.refusal(mapped).is_some()
            );
        }

        #[test]
        fn any_address_is_judged(bits in any::<u128>(), v4 in any::<u32>()) {
            let policy = AddressPolicy::public_only();
            let _ = policy.refusal(IpAddr::V6(Ipv6Addr::from(bits)));
            let _ = policy.refusal(IpAddr::V4(Ipv4Addr::from(v4)));
        }
    }
}
