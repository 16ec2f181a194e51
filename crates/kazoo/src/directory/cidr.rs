//! IPv4/IPv6 addresses and CIDR blocks (`192.0.2.10`, `198.51.100.0/24`, `2001:db8::/32`) for
//! recognising carriers by the source address of their requests.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block. A bare address is a /32 (IPv4) or /128 (IPv6) block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// The text is not an address or block (also: prefix too long, bits set past the prefix are
/// allowed and ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an IP address or CIDR block")]
pub struct CidrParseError;

impl Cidr {
    /// The block `addr/prefix`; None when the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether `ip` lies in the block. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) match
    /// IPv4 blocks, as dual-stack sockets report IPv4 peers that way.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(a)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                prefix_eq(u128::from(net), u128::from(a), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = 128u32.saturating_sub(u32::from(prefix));
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrParseError;
    fn from_str(s: &str) -> Result<Cidr, CidrParseError> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let addr: IpAddr = addr.parse().map_err(|_| CidrParseError)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| CidrParseError)?
            }
            Some(_) => return Err(CidrParseError),
            None => max,
        };
        Cidr::new(addr, prefix).ok_or(CidrParseError)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_bare_address_matches_only_itself() {
        let c: Cidr = "192.0.2.10".parse().unwrap();
        assert!(c.contains(ip("192.0.2.10")));
        assert!(!c.contains(ip("192.0.2.11")));
    }

    #[test]
    fn a_v4_block_matches_its_range_and_mapped_addresses() {
        let c: Cidr = "198.51.100.0/24".parse().unwrap();
        assert!(c.contains(ip("198.51.100.255")));
        assert!(c.contains(ip("::ffff:198.51.100.7")));
        assert!(!c.contains(ip("198.51.101.0")));
        assert!(!c.contains(ip("2001:db8::1")));
    }

    #[test]
    fn a_v6_block_matches_its_range() {
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains(ip("2001:db8:ffff::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        let all: Cidr = "::/0".parse().unwrap();
        assert!(all.contains(ip("2001:db9::1")));
    }

    #[test]
    fn bad_blocks_are_refused() {
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/x",
            "::/129",
            "host.example",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
