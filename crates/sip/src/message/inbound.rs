//! What happens to received octets before the transaction layer sees them: parsing, the
//! error response for unparseable requests, and RFC 3261 §18.2.1 / RFC 3581 stamping of
//! `received` and `rport` on the top Via of requests.

use std::net::{IpAddr, SocketAddr};

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
pub fn stamp_via(msg: &mut Message, src: SocketAddr) -> bool {
    let Ok(mut via) = msg.top_via() else {
        return false;
    };
    let src_ip = src.ip().to_canonical();
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let host_matches = host
        .parse::<IpAddr>()
        .is_ok_and(|h| h.to_canonical() == src_ip);
    let rport = via.rport();
    if host_matches && rport.is_none() {
        return false;
    }
    via.params.set("received", Some(&src_ip.to_string()));
    if rport == Some(None) {
        via.params.set("rport", Some(&src.port().to_string()));
    }
    let Some(first_field) = msg.header(HeaderName::Via) else {
        return false;
    };
    let mut values: Vec<String> = split_list(&first_field)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let Some(top) = values.first_mut() else {
        return false;
    };
    *top = via.to_string();
    let new_field = values.join(", ");
    msg.remove_first_header(HeaderName::Via);
    msg.insert_header_before(HeaderName::Via, HeaderName::Via, new_field);
    true
}

#[cfg(test)]
mod tests {
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
