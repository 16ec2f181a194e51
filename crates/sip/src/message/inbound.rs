//! What happens to received octets before the transaction layer sees them: parsing, the
//! error response for unparseable requests, and RFC 3261 §18.2.1 / RFC 3581 stamping of
//! `received` and `rport` on the top Via of requests.

use std::net::{IpAddr, SocketAddr};

use super::access::first_element;
use super::build::owned_header;
use super::params;
use super::via::ViaRef;
use super::{error_response, split_list, HeaderName, Message, ParseError};

/// The outcome of reading one datagram or one framed stream message.
#[derive(Debug)]
pub enum Decoded {
    /// A message, stamped when it is a request.
    Message(Message),
    /// Unparseable; `reply` is the error response when the bytes were a request whose Via,
    /// From, To, Call-ID and CSeq could be read.
    Invalid {
        /// Why it failed.
        error: ParseError,
        /// 400 (or 513) to send back, if any.
        reply: Option<Message>,
    },
}

/// Parses `bytes` received from `src` and stamps requests.
pub fn decode(bytes: &[u8], src: SocketAddr) -> Decoded {
    match Message::parse_slice(bytes) {
        Ok(mut msg) => {
            if msg.is_request() {
                stamp_via(&mut msg, src);
            }
            Decoded::Message(msg)
        }
        Err(error) => Decoded::Invalid {
            error,
            reply: error_response(bytes, &error),
        },
    }
}

/// The address a socket address really is (IPv4-mapped IPv6 addresses as IPv4).
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Adds `received=<source ip>` to the top Via when its sent-by host differs from the source
/// address (RFC 3261 §18.2.1) or when it carries `rport`, and fills an empty `rport` with the
/// source port (RFC 3581 §4). Returns whether the Via was changed. A request without a
/// readable top Via is left alone (the transaction layer answers it).
///
/// The Via is read in place and the new field written straight into one string (this runs
/// on every request received); the changed field stays where it was among the headers.
pub fn stamp_via(msg: &mut Message, src: SocketAddr) -> bool {
    let Some(i) = msg.headers.iter().position(|h| h.name == HeaderName::Via) else {
        return false;
    };
    let Some(new_field) = msg
        .headers
        .get(i)
        .and_then(|h| stamped(&msg.value_of(h), src))
    else {
        return false;
    };
    if let Some(h) = msg.headers.get_mut(i) {
        *h = owned_header(HeaderName::Via, &new_field);
    }
    true
}

/// The Via field `field` stamped for a request from `src`, or `None` when it stays as it is
/// (or its top value is unreadable).
fn stamped(field: &[u8], src: SocketAddr) -> Option<String> {
    let src_ip = src.ip().to_canonical();
    let field = std::str::from_utf8(field).ok()?;
    let top = first_element(field);
    let via = ViaRef::parse(top).ok()?;
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let host_matches = host
        .parse::<IpAddr>()
        .is_ok_and(|h| h.to_canonical() == src_ip);
    let rport = via.param("rport");
    if host_matches && rport.is_none() {
        return None;
    }
    // `Via::rport` reads an empty or unreadable value as no port: that one gets the source's.
    let mut fill_rport = rport.is_some_and(|v| v.parse::<u16>().is_err());
    // The top value printed as `Via`'s Display prints it after `Params::set("received", ip)`
    // and, for an empty or unreadable rport, `Params::set("rport", port)`: written straight
    // into one string.
    let mut new_field = String::with_capacity(field.len() + 40);
    for part in [
        via.protocol,
        "/",
        via.version,
        "/",
        via.transport,
        " ",
        via.host,
    ] {
        new_field.push_str(part);
    }
    if let Some(port) = via.port {
        new_field.push(':');
        push_decimal(&mut new_field, port.into());
    }
    let mut received = false;
    let _ = params::scan(via.params, |name, value| {
        new_field.push(';');
        new_field.push_str(name);
        if name.eq_ignore_ascii_case("received") && !received {
            received = true;
            new_field.push('=');
            push_ip(&mut new_field, src_ip);
        } else if name.eq_ignore_ascii_case("rport") && fill_rport {
            fill_rport = false;
            new_field.push('=');
            push_decimal(&mut new_field, src.port().into());
        } else if let Some(v) = value {
            new_field.push('=');
            new_field.push_str(v);
        }
    });
    if !received {
        new_field.push_str(";received=");
        push_ip(&mut new_field, src_ip);
    }
    // Further values in the same field, as `split_list` cuts them, joined by ", ".
    if field.contains(',') {
        for value in split_list(field).into_iter().skip(1) {
            new_field.push_str(", ");
            new_field.push_str(value);
        }
    }
    Some(new_field)
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, n: u32) {
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(char::from_digit(n % 10, 10).unwrap_or('0'));
}

/// Appends an address as `IpAddr`'s Display writes it (IPv4 without the formatting machinery).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (k, octet) in v4.octets().into_iter().enumerate() {
                if k > 0 {
                    out.push('.');
                }
                push_decimal(out, octet.into());
            }
        }
        IpAddr::V6(v6) => out.push_str(&v6.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Via;
    use super::*;

    fn req(via: &str) -> Message {
        Message::parse_slice(
            format!(
                "OPTIONS sip:a@b SIP/2.0\r\nVia: {via}\r\nVia: SIP/2.0/UDP second.example\r\n\
From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn src() -> SocketAddr {
        "198.51.100.7:40000".parse().unwrap()
    }

    #[test]
    fn empty_rport_gets_the_source_port_and_received_the_source_ip() {
        let mut m = req("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport");
        assert!(stamp_via(&mut m, src()));
        let v = m.top_via().unwrap();
        assert_eq!(v.received(), Some("198.51.100.7"));
        assert_eq!(v.rport(), Some(Some(40000)));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        let vias = m.vias().unwrap();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[1].host, "second.example", "Via order kept");
    }

    #[test]
    fn a_sent_by_that_is_not_the_source_gets_received_only() {
        let mut m = req("SIP/2.0/UDP phone.example;branch=z9hG4bK1");
        assert!(stamp_via(&mut m, src()));
        let v = m.top_via().unwrap();
        assert_eq!(v.received(), Some("198.51.100.7"));
        assert_eq!(v.rport(), None);
    }

    #[test]
    fn a_sent_by_equal_to_the_source_without_rport_is_left_alone() {
        let mut m = req("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1");
        assert!(!stamp_via(&mut m, src()));
        assert_eq!(m.top_via().unwrap().received(), None);
    }

    #[test]
    fn ipv6_sources_are_stamped_without_brackets_and_mapped_addresses_compare_as_ipv4() {
        let mut m = req("SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1;rport");
        let v6: SocketAddr = "[2001:db8::2]:5070".parse().unwrap();
        assert!(stamp_via(&mut m, v6));
        assert_eq!(m.top_via().unwrap().received(), Some("2001:db8::2"));
        let mut m = req("SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1");
        let mapped: SocketAddr = "[::ffff:198.51.100.7]:5060".parse().unwrap();
        assert!(!stamp_via(&mut m, mapped));
    }

    #[test]
    fn several_vias_in_one_field_keep_the_others() {
        let mut m = Message::parse_slice(
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h1;rport;branch=z9hG4bK1, SIP/2.0/UDP h2;branch=z9hG4bK2\r\n\
From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert!(stamp_via(&mut m, src()));
        let vias = m.vias().unwrap();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].rport(), Some(Some(40000)));
        assert_eq!(vias[1].host, "h2");
    }

    /// What stamping printed before it read the Via in place: the parsed `Via` with
    /// `received` (and an unreadable `rport`) set, printed, the field's other values joined.
    fn stamped_by_the_via_type(field: &str, src: SocketAddr) -> Option<String> {
        let src_ip = src.ip().to_canonical();
        let mut via = Via::parse(first_element(field)).ok()?;
        let host = via.host.trim_start_matches('[').trim_end_matches(']');
        let host_matches = host
            .parse::<IpAddr>()
            .is_ok_and(|h| h.to_canonical() == src_ip);
        let rport = via.rport();
        if host_matches && rport.is_none() {
            return None;
        }
        via.params.set("received", Some(&src_ip.to_string()));
        if rport == Some(None) {
            via.params.set("rport", Some(&src.port().to_string()));
        }
        let mut values: Vec<String> = split_list(field).into_iter().map(str::to_owned).collect();
        values[0] = via.to_string();
        Some(values.join(", "))
    }

    #[test]
    fn stamping_in_place_writes_what_the_via_type_would_print() {
        let v6: SocketAddr = "[2001:db8::2]:5070".parse().unwrap();
        let cases = [
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport",
            "SIP/2.0/UDP 198.51.100.7:5060;rport;branch=z9hG4bK1",
            "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1",
            "SIP/2.0/UDP phone.example;branch=z9hG4bK1",
            "SIP / 2.0 / TCP  phone.example : 5070 ; branch = z9hG4bK1 ; rport",
            "SIP/2.0/UDP h;received=1.2.3.4;rport=5;branch=z9hG4bK1",
            "SIP/2.0/UDP h;RPORT;Received=x;received=y;rport",
            "SIP/2.0/UDP h;rport=abc;branch=z9hG4bK1",
            "SIP/2.0/UDP h;rport=\"\";x=\"a;b,c\"",
            "SIP/2.0/UDP h;rport;branch=z9hG4bK1, SIP/2.0/UDP h2;branch=z9hG4bK2,SIP/2.0/TCP h3",
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport",
            "SIP/2.0/UDP h;maddr=[2001:db8::9];ttl=1",
            "SIP/2.0/UDP h:99999;branch=z9hG4bK1",
            "SIP/2.0/UDP h;;branch=z9hG4bK1",
            "garbage",
        ];
        for via in cases {
            for from in [src(), v6] {
                assert_eq!(
                    stamped(via.as_bytes(), from),
                    stamped_by_the_via_type(via, from),
                    "{via} from {from}"
                );
            }
        }
    }

    #[test]
    fn the_stamped_via_stays_where_it_was() {
        let mut m = Message::parse_slice(
            b"OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: 70\r\nVia: SIP/2.0/UDP h;rport\r\n\
From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert!(stamp_via(&mut m, src()));
        let names: Vec<String> = m
            .headers()
            .map(|(_, name, _)| String::from_utf8_lossy(name).into_owned())
            .collect();
        assert_eq!(names[..3], ["Max-Forwards", "Via", "From"]);
        let text = String::from_utf8(m.to_bytes().to_vec()).unwrap();
        assert!(
            text.contains("\r\nVia: SIP/2.0/UDP h;rport=40000;received=198.51.100.7\r\nFrom:"),
            "{text}"
        );
    }

    #[test]
    fn garbage_is_invalid_and_a_readable_bad_request_gets_a_reply() {
        assert!(matches!(
            decode(b"\x00\x01garbage", src()),
            Decoded::Invalid { reply: None, .. }
        ));
        let bad = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
Content-Length: 999\r\n\r\n";
        match decode(bad, src()) {
            Decoded::Invalid {
                reply: Some(r),
                error,
            } => {
                assert_eq!(error, ParseError::BodyTruncated);
                assert_eq!(r.status(), Some(400));
            }
            other => panic!("{other:?}"),
        }
    }
}
