//! NAT detection for registrations, by the rules of Kamailio's `nat_uac_test` with flags 19
//! (1: the Contact names a private address, 2: the top Via's sent-by address is not the
//! source address, 16: the source port is not the top Via's port), and where requests to a
//! binding go.
//!
//! The Contact test counts only when the source is public: a phone on the same private
//! network as callrec (both private) is not behind NAT as far as we can tell.

use std::net::{IpAddr, SocketAddr};

use crate::message::{Uri, Via};
use crate::transaction::{Peer, Transport};

/// Whether `ip` is private: RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 shared address
/// space (100.64/10) or an IPv6 unique local address (fc00::/7, RFC 4193).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            (v6.segments()[0] & 0xfe00) == 0xfc00
        }
    }
}

/// A host as written in a URI or Via (IPv6 in brackets) as an address, if it is one.
fn host_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Flags 2 and 16: whether the top Via's sent-by differs from where the request came from
/// (a host name counts as different, as in Kamailio; a missing port is 5060, 5061 for TLS).
pub fn via_differs(via: &Via, source: SocketAddr) -> bool {
    let default_port = if via.transport.eq_ignore_ascii_case("TLS") {
        5061
    } else {
        5060
    };
    host_ip(&via.host).map(canonical) != Some(canonical(source.ip()))
        || via.port.unwrap_or(default_port) != source.port()
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Flag 1 as refined above: the Contact names a private address and the source is public.
pub fn contact_private_behind_public(contact: &Uri, source: SocketAddr) -> bool {
    host_ip(contact.host()).is_some_and(is_private) && !is_private(source.ip())
}

/// Where requests to a Contact go when it is used as is: its host (an IP address: the core
/// resolves no names), its port (default 5060) and its `transport` parameter (TCP or UDP).
/// `None` when the host is a name or the transport one we do not speak.
pub fn contact_peer(contact: &Uri) -> Option<Peer> {
    let ip = host_ip(contact.host())?;
    let transport = match contact.param("transport") {
        None => Transport::Udp,
        Some(t) if t.eq_ignore_ascii_case("udp") => Transport::Udp,
        Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
        Some(_) => return None,
    };
    Some(Peer {
        transport,
        addr: SocketAddr::new(ip, contact.port().unwrap_or(5060)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn via(s: &str) -> Via {
        Via::parse(s).expect("via")
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn private_ranges_are_rfc1918_rfc6598_and_ula() {
        for p in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "fd00::1",
            "fc00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(p.parse().expect("ip")), "{p} is private");
        }
        for p in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "127.0.0.1",
            "192.0.2.1",
            "2001:db8::1",
            "fe80::1",
        ] {
            assert!(!is_private(p.parse().expect("ip")), "{p} is not private");
        }
    }

    #[test]
    fn via_equal_to_source_is_no_nat() {
        assert!(!via_differs(
            &via("SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKx"),
            addr("192.0.2.1:5062")
        ));
        assert!(!via_differs(
            &via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx"),
            addr("192.0.2.1:5060")
        ));
        assert!(!via_differs(
            &via("SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bKx"),
            addr("[2001:db8::1]:5070")
        ));
    }

    #[test]
    fn via_with_other_address_port_or_a_name_is_nat() {
        assert!(via_differs(
            &via("SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKx"),
            addr("203.0.113.5:5060")
        ));
        assert!(via_differs(
            &via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx"),
            addr("192.0.2.1:40000")
        ));
        assert!(via_differs(
            &via("SIP/2.0/UDP phone.example.com:5060;branch=z9hG4bKx"),
            addr("192.0.2.1:5060")
        ));
        assert!(via_differs(
            &via("SIP/2.0/TLS 192.0.2.1;branch=z9hG4bKx"),
            addr("192.0.2.1:5060")
        ));
    }

    #[test]
    fn private_contact_counts_only_from_a_public_source() {
        let c = Uri::parse("sip:1001@192.168.1.10:5062").expect("uri");
        assert!(contact_private_behind_public(&c, addr("203.0.113.5:40000")));
        assert!(!contact_private_behind_public(
            &c,
            addr("192.168.1.10:5062")
        ));
        let public = Uri::parse("sip:1001@192.0.2.7:5062").expect("uri");
        assert!(!contact_private_behind_public(
            &public,
            addr("203.0.113.5:40000")
        ));
    }

    #[test]
    fn contact_peer_reads_host_port_and_transport() {
        let p = contact_peer(&Uri::parse("sip:1001@192.0.2.7:5070;transport=TCP").expect("uri"));
        assert_eq!(
            p,
            Some(Peer {
                transport: Transport::Tcp,
                addr: addr("192.0.2.7:5070")
            })
        );
        let p = contact_peer(&Uri::parse("sip:1001@[2001:db8::7]").expect("uri"));
        assert_eq!(
            p,
            Some(Peer {
                transport: Transport::Udp,
                addr: addr("[2001:db8::7]:5060")
            })
        );
        assert_eq!(
            contact_peer(&Uri::parse("sip:1001@phone.example.com").expect("uri")),
            None
        );
        assert_eq!(
            contact_peer(&Uri::parse("sip:1001@192.0.2.7;transport=sctp").expect("uri")),
            None
        );
    }
}
