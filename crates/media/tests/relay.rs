//! Port pool, RTP header parsing, latching and media timeout.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callrec_media::relay::{
    classify, CallRelay, Channel, Decision, DropReason, Leg, PacketKind, PortPool, PortPoolError,
    RelayConfig, RelayEvent, RtpError, RtpHeader,
};
use callrec_media::Counters;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xff; 160]);
    p
}

fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

#[test]
fn port_pool_never_hands_out_a_pair_twice_and_takes_pairs_back() {
    let mut pool = PortPool::new(30000, 30009).unwrap();
    assert_eq!(pool.available(), 5);
    let mut seen = HashSet::new();
    let pairs: Vec<_> = (0..5).map(|_| pool.allocate().unwrap()).collect();
    for p in &pairs {
        assert_eq!(p.rtp % 2, 0, "RTP port is even");
        assert_eq!(p.rtcp(), p.rtp + 1);
        assert!((30000..=30009).contains(&p.rtcp()));
        assert!(seen.insert(p.rtp), "pair {} handed out twice", p.rtp);
    }
    assert_eq!(pool.allocate(), Err(PortPoolError::Exhausted));
    assert!(pool.release(pairs[2]));
    assert!(!pool.release(pairs[2]), "double release is refused");
    assert_eq!(pool.allocate().unwrap(), pairs[2]);
    assert_eq!(pool.allocate(), Err(PortPoolError::Exhausted));
}

#[test]
fn port_pool_with_odd_bounds_uses_only_whole_pairs() {
    let mut pool = PortPool::new(30001, 30004).unwrap();
    assert_eq!(pool.allocate().unwrap().rtp, 30002);
    assert_eq!(pool.allocate(), Err(PortPoolError::Exhausted));
    assert_eq!(
        PortPool::new(30001, 30002).unwrap_err(),
        PortPoolError::EmptyRange {
            min: 30001,
            max: 30002
        }
    );
}

#[test]
fn rtp_header_with_csrc_extension_and_padding_is_parsed() {
    let mut p = vec![0xb2, 0x80 | 8]; // V=2, P=1, X=1, CC=2; M=1, PT=8
    p.extend_from_slice(&7u16.to_be_bytes());
    p.extend_from_slice(&1234u32.to_be_bytes());
    p.extend_from_slice(&0xdeadbeefu32.to_be_bytes());
    p.extend_from_slice(&[0; 8]); // two CSRCs
    p.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // extension, one word
    p.extend_from_slice(&[9, 9, 9]); // payload
    p.extend_from_slice(&[0, 0, 3]); // padding of 3
    let h = RtpHeader::parse(&p).unwrap();
    assert!(h.marker);
    assert_eq!(h.payload_type, 8);
    assert_eq!(h.sequence, 7);
    assert_eq!(h.timestamp, 1234);
    assert_eq!(h.ssrc, 0xdeadbeef);
    assert_eq!(h.csrc_count, 2);
    assert_eq!(h.extension_profile, Some(0xbede));
    assert_eq!(h.payload(&p), &[9, 9, 9]);
}

#[test]
fn invalid_rtp_is_rejected_with_a_reason() {
    assert_eq!(RtpHeader::parse(&[0x80; 11]), Err(RtpError::TooShort));
    assert_eq!(RtpHeader::parse(&[0x40; 12]), Err(RtpError::BadVersion));
    let mut p = rtp(1, 1, 1);
    p[0] = 0x8f; // 15 CSRCs in a short packet
    p.truncate(20);
    assert_eq!(RtpHeader::parse(&p), Err(RtpError::Truncated));
    let mut p = rtp(1, 1, 1);
    p[0] = 0xa0;
    *p.last_mut().unwrap() = 200;
    assert_eq!(RtpHeader::parse(&p), Err(RtpError::BadPadding));
}

#[test]
fn rtcp_is_recognised_by_packet_type() {
    assert!(matches!(
        classify(&rtcp_rr(5)),
        Ok(PacketKind::Rtcp(h)) if h.packet_type == 201 && h.ssrc == 5
    ));
    assert!(matches!(classify(&rtp(1, 2, 3)), Ok(PacketKind::Rtp(_))));
}

fn relay() -> CallRelay {
    CallRelay::new(
        Instant::now(),
        RelayConfig::default(),
        Arc::new(Counters::default()),
    )
}

#[test]
fn first_packet_latches_and_packets_from_other_sources_are_dropped() {
    let now = Instant::now();
    let mut r = relay();
    r.update_remote(Leg::A, Some(addr("192.0.2.1:4000")));
    r.update_remote(Leg::B, Some(addr("198.51.100.1:5000")));
    // A is behind NAT: its packets come from another address than its SDP said.
    let d = r.on_packet(
        now,
        Leg::A,
        Channel::Rtp,
        addr("203.0.113.9:6000"),
        &rtp(1, 0, 1),
    );
    assert_eq!(
        d,
        Decision::Forward {
            to: addr("198.51.100.1:5000"),
            via: Leg::B,
            channel: Channel::Rtp,
            is_rtp: true
        }
    );
    assert_eq!(r.latched(Leg::A), Some(addr("203.0.113.9:6000")));
    // B's packets now go to A's latched source, not its SDP address.
    let d = r.on_packet(
        now,
        Leg::B,
        Channel::Rtp,
        addr("198.51.100.1:5000"),
        &rtp(1, 0, 2),
    );
    assert!(
        matches!(d, Decision::Forward { to, via: Leg::A, .. } if to == addr("203.0.113.9:6000"))
    );
    // A third party spraying at A's relay port is dropped.
    let d = r.on_packet(
        now,
        Leg::A,
        Channel::Rtp,
        addr("192.0.2.66:1"),
        &rtp(2, 160, 1),
    );
    assert_eq!(d, Decision::Drop(DropReason::WrongSource));
    assert_eq!(r.counters().dropped(DropReason::WrongSource), 1);
    assert_eq!(r.counters().snapshot().relayed, 2);
}

#[test]
fn update_remote_after_reinvite_relatches() {
    let now = Instant::now();
    let mut r = relay();
    r.update_remote(Leg::B, Some(addr("198.51.100.1:5000")));
    r.on_packet(
        now,
        Leg::A,
        Channel::Rtp,
        addr("192.0.2.1:4000"),
        &rtp(1, 0, 1),
    );
    assert_eq!(
        r.on_packet(
            now,
            Leg::A,
            Channel::Rtp,
            addr("192.0.2.2:4000"),
            &rtp(2, 0, 1)
        ),
        Decision::Drop(DropReason::WrongSource)
    );
    r.update_remote(Leg::A, Some(addr("192.0.2.2:4000")));
    assert!(matches!(
        r.on_packet(
            now,
            Leg::A,
            Channel::Rtp,
            addr("192.0.2.2:4000"),
            &rtp(3, 0, 1)
        ),
        Decision::Forward { .. }
    ));
    assert_eq!(r.latched(Leg::A), Some(addr("192.0.2.2:4000")));
    assert_eq!(
        r.on_packet(
            now,
            Leg::A,
            Channel::Rtp,
            addr("192.0.2.1:4000"),
            &rtp(4, 0, 1)
        ),
        Decision::Drop(DropReason::WrongSource)
    );
}

#[test]
fn garbage_and_unknown_destination_are_dropped_and_counted() {
    let now = Instant::now();
    let mut r = relay();
    assert_eq!(
        r.on_packet(now, Leg::A, Channel::Rtp, addr("192.0.2.1:4000"), b"hello"),
        Decision::Drop(DropReason::NotRtp)
    );
    let d = r.on_packet(
        now,
        Leg::A,
        Channel::Rtp,
        addr("192.0.2.1:4000"),
        &rtp(1, 0, 1),
    );
    assert_eq!(d, Decision::NoDestination { is_rtp: true });
    assert!(
        d.is_recordable(),
        "the caller's audio can be recorded without a B leg"
    );
    // RTP on the RTCP port is not RTCP.
    assert_eq!(
        r.on_packet(
            now,
            Leg::A,
            Channel::Rtcp,
            addr("192.0.2.1:4001"),
            &rtp(1, 0, 1)
        ),
        Decision::Drop(DropReason::NotRtp)
    );
    let s = r.counters().snapshot();
    assert_eq!((s.dropped_not_rtp, s.dropped_destination_unknown), (2, 1));
}

#[test]
fn rtcp_goes_to_the_other_legs_rtcp_port() {
    let now = Instant::now();
    let mut r = relay();
    r.update_remote(Leg::B, Some(addr("198.51.100.1:5000")));
    let d = r.on_packet(
        now,
        Leg::A,
        Channel::Rtcp,
        addr("192.0.2.1:4001"),
        &rtcp_rr(1),
    );
    assert_eq!(
        d,
        Decision::Forward {
            to: addr("198.51.100.1:5001"),
            via: Leg::B,
            channel: Channel::Rtcp,
            is_rtp: false
        }
    );
}

#[test]
fn media_timeout_fires_once_after_silence_and_not_on_hold() {
    let t0 = Instant::now();
    let mut r = CallRelay::new(t0, RelayConfig::default(), Arc::new(Counters::default()));
    r.update_remote(Leg::B, Some(addr("198.51.100.1:5000")));
    r.on_packet(
        t0,
        Leg::A,
        Channel::Rtp,
        addr("192.0.2.1:4000"),
        &rtp(1, 0, 1),
    );
    while r.poll_event().is_some() {}
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    r.handle_timeout(t0 + Duration::from_secs(59));
    assert_eq!(r.poll_event(), None);
    r.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(
        r.poll_event(),
        Some(RelayEvent::MediaTimeout { last_packet: t0 })
    );
    r.handle_timeout(t0 + Duration::from_secs(120));
    assert_eq!(r.poll_event(), None, "reported once per idle period");

    r.set_hold(t0 + Duration::from_secs(121), true);
    assert_eq!(r.poll_timeout(), None, "no timeout on hold by default");
}

#[test]
fn disarmed_media_timeout_waits_until_armed() {
    let t0 = Instant::now();
    let mut r = CallRelay::new(t0, RelayConfig::default(), Arc::new(Counters::default()));
    r.set_timeout_armed(t0, false);
    assert_eq!(r.poll_timeout(), None, "ringing: no media expected");
    r.handle_timeout(t0 + Duration::from_secs(600));
    assert_eq!(r.poll_event(), None);
    let answered = t0 + Duration::from_secs(30);
    r.set_timeout_armed(answered, true);
    assert_eq!(r.poll_timeout(), Some(answered + Duration::from_secs(60)));
}

fn dtmf(seq: u16, event: u8, end: bool) -> Vec<u8> {
    let mut p = vec![0x80, 101];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&8000u32.to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(&[event, if end { 0x80 } else { 0 }, 0, 160]);
    p
}

#[test]
fn a_dtmf_key_is_reported_once_per_press_from_the_payload_type_the_sdp_named() {
    let t0 = Instant::now();
    let mut r = CallRelay::new(t0, RelayConfig::default(), Arc::new(Counters::default()));
    r.update_remote(Leg::B, Some(addr("198.51.100.1:5000")));
    let a = addr("192.0.2.1:4000");
    // Before the SDP named telephone-event, payload type 101 is just RTP.
    r.on_packet(t0, Leg::A, Channel::Rtp, a, &dtmf(1, 5, false));
    assert!(!std::iter::from_fn(|| r.poll_event()).any(|e| matches!(e, RelayEvent::Dtmf { .. })));
    r.set_telephone_event(Leg::A, Some(101));
    for (seq, end) in [(2, false), (3, false), (4, true), (5, true), (6, true)] {
        r.on_packet(t0, Leg::A, Channel::Rtp, a, &dtmf(seq, 9, end));
    }
    let digits: Vec<_> = std::iter::from_fn(|| r.poll_event())
        .filter_map(|e| match e {
            RelayEvent::Dtmf { leg, digit } => Some((leg, digit)),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec![(Leg::A, '9')]);
}

#[test]
fn a_recording_past_its_time_limit_is_reported_once_and_forgotten() {
    let t0 = Instant::now();
    let mut r = CallRelay::new(t0, RelayConfig::default(), Arc::new(Counters::default()));
    r.set_timeout_armed(t0, false);
    let limit = t0 + Duration::from_secs(5);
    r.add_recording(1, limit);
    r.add_recording(2, t0 + Duration::from_secs(50));
    r.remove_recording(2);
    assert_eq!(r.poll_timeout(), Some(limit));
    r.handle_timeout(t0 + Duration::from_secs(4));
    assert_eq!(r.poll_event(), None);
    r.handle_timeout(limit);
    assert_eq!(
        r.poll_event(),
        Some(RelayEvent::RecordingTimeLimit {
            recording: 1,
            deadline: limit
        })
    );
    r.handle_timeout(limit + Duration::from_secs(1));
    assert_eq!(r.poll_event(), None);
    assert_eq!(r.poll_timeout(), None);
}
