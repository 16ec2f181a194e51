//! SDP parsing, summary and rewrite.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use callrec_media::sdp::{Direction, RelayEndpoint, SdpError, SessionDescription};

const OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844527 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=candidate:1 1 UDP 2130706431 192.0.2.10 49170 typ host\r\n\
m=video 51372 RTP/AVP 31\r\n\
a=rtpmap:31 H261/90000\r\n";

fn relay() -> RelayEndpoint {
    RelayEndpoint {
        ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)),
        rtp_port: 30000,
    }
}

#[test]
fn offer_summary_gives_remote_address_codecs_dtmf_and_direction() {
    let sdp = SessionDescription::parse(OFFER.as_bytes()).expect("parses");
    let audio = sdp.audio().expect("has audio");
    assert_eq!(
        audio.remote_rtp(),
        Some("192.0.2.10:49170".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(
        audio.remote_rtcp(),
        Some("192.0.2.10:49171".parse::<SocketAddr>().unwrap())
    );
    let names: Vec<(u8, &str, u32)> = audio
        .payload_types
        .iter()
        .map(|p| (p.pt, p.encoding.as_str(), p.clock_rate))
        .collect();
    assert_eq!(
        names,
        vec![
            (0, "PCMU", 8000),
            (8, "PCMA", 8000),
            (101, "telephone-event", 8000)
        ]
    );
    assert_eq!(audio.telephone_event_pt, Some(101));
    assert_eq!(audio.payload(101).unwrap().fmtp.as_deref(), Some("0-16"));
    assert_eq!(audio.ptime, Some(20));
    assert_eq!(audio.direction, Direction::SendRecv);
    assert!(!audio.is_hold());
    assert!(!audio.is_rejected());
}

#[test]
fn rewrite_points_addresses_at_the_relay_and_keeps_attributes() {
    let sdp = SessionDescription::parse(OFFER.as_bytes()).unwrap();
    let text = sdp.rewrite(relay()).to_sdp_string();
    assert!(text.contains("o=alice 2890844526 2890844527 IN IP4 203.0.113.5\r\n"));
    assert!(text.contains("c=IN IP4 203.0.113.5\r\n"));
    assert!(text.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"));
    for kept in [
        "a=rtpmap:0 PCMU/8000\r\n",
        "a=rtpmap:8 PCMA/8000\r\n",
        "a=rtpmap:101 telephone-event/8000\r\n",
        "a=fmtp:101 0-16\r\n",
        "a=ptime:20\r\n",
        "a=sendrecv\r\n",
    ] {
        assert!(text.contains(kept), "lost {kept:?} in {text}");
    }
    assert!(
        !text.contains("192.0.2.10"),
        "original address leaked: {text}"
    );
    assert!(!text.contains("candidate"), "ICE candidate kept: {text}");
    assert!(
        text.contains("m=video 0 RTP/AVP 31\r\n"),
        "video not rejected: {text}"
    );
    // The rewritten text parses back to the relay's address.
    let again = SessionDescription::parse(text.as_bytes()).unwrap();
    assert_eq!(
        again.audio().unwrap().remote_rtp(),
        Some(SocketAddr::new(relay().ip, 30000))
    );
}

#[test]
fn sendonly_and_inactive_and_zero_address_are_holds() {
    for (attr, direction) in [
        ("a=sendonly", Direction::SendOnly),
        ("a=recvonly", Direction::RecvOnly),
        ("a=inactive", Direction::Inactive),
    ] {
        let body = OFFER.replace("a=sendrecv", attr);
        let audio = SessionDescription::parse(body.as_bytes())
            .unwrap()
            .audio()
            .unwrap();
        assert_eq!(audio.direction, direction);
        assert!(audio.is_hold(), "{attr} is a hold");
    }
    let body = OFFER.replace("c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0");
    let sdp = SessionDescription::parse(body.as_bytes()).unwrap();
    let audio = sdp.audio().unwrap();
    assert!(audio.is_hold());
    assert_eq!(audio.remote_rtp(), None);
    // The old-style hold address survives the rewrite so the other party sees the hold.
    let text = sdp.rewrite(relay()).to_sdp_string();
    assert!(text.contains("c=IN IP4 0.0.0.0\r\n"), "{text}");
}

#[test]
fn session_level_direction_applies_when_media_has_none() {
    let body = OFFER
        .replace("a=sendrecv\r\n", "")
        .replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    let audio = SessionDescription::parse(body.as_bytes())
        .unwrap()
        .audio()
        .unwrap();
    assert_eq!(audio.direction, Direction::SendOnly);
}

#[test]
fn rejected_stream_keeps_port_zero_after_rewrite() {
    let body = OFFER.replace("m=audio 49170", "m=audio 0");
    let sdp = SessionDescription::parse(body.as_bytes()).unwrap();
    let audio = sdp.audio().unwrap();
    assert!(audio.is_rejected());
    assert_eq!(audio.remote_rtp(), None);
    let text = sdp.rewrite(relay()).to_sdp_string();
    assert!(text.contains("m=audio 0 RTP/AVP 0 8 101\r\n"), "{text}");
}

#[test]
fn ipv6_media_level_connection_is_parsed_and_rewritten() {
    let body = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nt=0 0\r\n\
m=audio 5004 RTP/AVP 8\r\nc=IN IP6 2001:db8::2\r\na=rtpmap:8 PCMA/8000\r\na=rtcp:5005\r\n";
    let sdp = SessionDescription::parse(body.as_bytes()).unwrap();
    let audio = sdp.audio().unwrap();
    assert_eq!(
        audio.remote_rtp(),
        Some(SocketAddr::new(
            IpAddr::V6("2001:db8::2".parse::<Ipv6Addr>().unwrap()),
            5004
        ))
    );
    let relay6 = RelayEndpoint {
        ip: IpAddr::V6("2001:db8::99".parse().unwrap()),
        rtp_port: 40000,
    };
    let text = sdp.rewrite(relay6).to_sdp_string();
    assert!(text.contains("o=- 1 1 IN IP6 2001:db8::99\r\n"), "{text}");
    assert!(text.contains("c=IN IP6 2001:db8::99\r\n"), "{text}");
    assert!(text.contains("m=audio 40000 RTP/AVP 8\r\n"), "{text}");
    assert!(
        text.contains("a=rtcp:40001 IN IP6 2001:db8::99\r\n"),
        "{text}"
    );
}

#[test]
fn ipv4_description_rewritten_to_ipv6_relay_changes_address_type() {
    let sdp = SessionDescription::parse(OFFER.as_bytes()).unwrap();
    let text = sdp
        .rewrite(RelayEndpoint {
            ip: "2001:db8::5".parse().unwrap(),
            rtp_port: 30002,
        })
        .to_sdp_string();
    assert!(text.contains("c=IN IP6 2001:db8::5\r\n"), "{text}");
}

#[test]
fn lf_only_line_endings_are_accepted() {
    let body = OFFER.replace("\r\n", "\n");
    let sdp = SessionDescription::parse(body.as_bytes()).unwrap();
    assert_eq!(sdp.audio().unwrap().port, 49170);
}

#[test]
fn malformed_bodies_give_typed_errors() {
    assert_eq!(
        SessionDescription::parse(b"o=x\r\n"),
        Err(SdpError::MissingVersion)
    );
    assert_eq!(
        SessionDescription::parse(b""),
        Err(SdpError::MissingVersion)
    );
    assert_eq!(
        SessionDescription::parse(b"v=0\r\nc=IN IP4 not-an-ip\r\n"),
        Err(SdpError::BadConnection { line: 2 })
    );
    assert_eq!(
        SessionDescription::parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n"),
        Err(SdpError::BadMedia { line: 2 })
    );
    assert_eq!(
        SessionDescription::parse(b"v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n"),
        Err(SdpError::BadRtpmap { line: 3 })
    );
    assert_eq!(
        SessionDescription::parse(b"v=0\r\ngarbage\r\n"),
        Err(SdpError::MalformedLine { line: 2 })
    );
    assert_eq!(
        SessionDescription::parse(&[b'v', b'=', b'0', b'\n', 0xff]),
        Err(SdpError::NotUtf8)
    );
}

#[test]
fn srtp_streams_are_marked_encrypted_and_never_decoded() {
    use callrec_media::record::{Codec, CodecMap};
    let plain = SessionDescription::parse(OFFER.as_bytes())
        .unwrap()
        .audio()
        .unwrap();
    assert!(!plain.encrypted);
    assert_eq!(CodecMap::from_stream(&plain).get(0), Codec::Pcmu);
    let body = OFFER
        .replace("RTP/AVP 0 8 101", "RTP/SAVP 0 8 101")
        .replace(
            "a=ptime:20",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:abcd",
        );
    let srtp = SessionDescription::parse(body.as_bytes())
        .unwrap()
        .audio()
        .unwrap();
    assert!(srtp.encrypted);
    assert_eq!(CodecMap::from_stream(&srtp).get(0), Codec::Unsupported);
}

#[test]
fn offer_is_narrowed_to_recordable_codecs_keeping_dtmf() {
    let body = OFFER
        .replace("RTP/AVP 0 8 101", "RTP/AVP 9 96 0 8 101")
        .replace(
            "a=rtpmap:0 PCMU/8000\r\n",
            "a=rtpmap:9 G722/8000\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n\
             a=rtcp-fb:96 nack\r\na=rtpmap:0 PCMU/8000\r\n",
        );
    let sdp = SessionDescription::parse(body.as_bytes()).unwrap();
    let keep = ["PCMU", "PCMA", "telephone-event", "CN"];
    let narrowed = sdp.retain_audio_codecs(&keep, &["PCMU", "PCMA"]);
    let text = narrowed.to_sdp_string();
    assert!(text.contains("m=audio 49170 RTP/AVP 0 8 101\r\n"), "{text}");
    for gone in ["G722", "opus", "useinbandfec", "rtcp-fb"] {
        assert!(!text.contains(gone), "{gone} kept: {text}");
    }
    assert!(text.contains("a=fmtp:101 0-16\r\n"));
    // Nothing recordable offered: left unchanged so the call still works.
    let g729 = OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 18 101").replace(
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n",
        "a=rtpmap:18 G729/8000\r\n",
    );
    let sdp = SessionDescription::parse(g729.as_bytes()).unwrap();
    assert_eq!(sdp.retain_audio_codecs(&keep, &["PCMU", "PCMA"]), sdp);
}
