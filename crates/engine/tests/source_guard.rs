//! Hostile input through the whole engine on a fake clock (issue 13): a flood from an unknown
//! source is cut to its rate and counted while registered phones keep calling; a source that
//! sends wrong passwords is blocked for a while, then let in again.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use callrec_kazoo::directory::Directory;
use callrec_sip::message::{HeaderName, Message, Method, Uri};
use support::engine_net::EngineNet;
use support::phone::Phone;
use support::world::{documents, DOMAIN};
use support::Network;

fn net() -> EngineNet {
    EngineNet::new(Directory::build(documents()).expect("documents are valid"))
}

/// An OPTIONS from `from` with its own branch.
fn options(from: SocketAddr, n: u32) -> Message {
    let mut m = Message::request(
        Method::Options,
        Uri::parse("sip:10.0.0.1:5060").expect("uri"),
    );
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {from};branch=z9hG4bKflood{n}"),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, format!("<sip:x@{from}>;tag=f{n}"));
    m.push_header(HeaderName::To, "<sip:10.0.0.1>");
    m.push_header(HeaderName::CallId, format!("flood-{n}"));
    m.push_header(HeaderName::CSeq, "1 OPTIONS");
    m
}

/// Sends a REGISTER with `phone`'s (wrong) password through the challenge; returns the final
/// status, or `None` when nothing came back.
fn register_once(net: &mut EngineNet, phone: &mut Phone, call_id: &str) -> Option<u16> {
    let req = phone.register_request(call_id);
    net.deliver(phone.addr, &req);
    let got = net.take(phone.addr);
    let challenge = got.iter().find(|m| m.status() == Some(401))?.clone();
    let mut again = phone.register_request(call_id);
    phone.authorize(&mut again, &challenge);
    net.deliver(phone.addr, &again);
    net.take(phone.addr)
        .iter()
        .filter_map(Message::status)
        .find(|s| *s >= 200)
}

#[test]
fn a_flood_from_an_unknown_source_is_cut_to_its_burst_and_counted() {
    let mut net = net();
    let stranger: SocketAddr = "198.51.100.7:5060".parse().expect("addr");
    for n in 0..100 {
        net.deliver(stranger, &options(stranger, n));
    }
    let answered = net.take(stranger).len();
    assert_eq!(answered, 40, "the default burst of 40 is answered");
    assert_eq!(net.engine.guard_stats().rate_limited, 60);
    // One second later the bucket has 20 more tokens.
    net.advance(Duration::from_secs(1));
    for n in 100..130 {
        net.deliver(stranger, &options(stranger, n));
    }
    assert_eq!(net.take(stranger).len(), 20);
    assert_eq!(net.engine.guard_stats().rate_limited, 70);
}

#[test]
fn a_registered_phone_is_not_limited_while_a_stranger_floods() {
    let mut net = net();
    let mut p1001 = Phone::new("1001", "pw-1001", DOMAIN, "192.0.2.1:5060");
    p1001.register(&mut net);
    let stranger: SocketAddr = "198.51.100.7:5060".parse().expect("addr");
    for n in 0..200 {
        net.deliver(stranger, &options(stranger, n));
        // The registered phone sends as fast as the stranger: every request is answered.
        net.deliver(p1001.addr, &options(p1001.addr, 1000 + n));
    }
    let phone_answers = net
        .take(p1001.addr)
        .iter()
        .filter(|m| m.status() == Some(200))
        .count();
    assert_eq!(phone_answers, 200);
    assert_eq!(net.engine.guard_stats().rate_limited, 160);
}

#[test]
fn wrong_passwords_from_one_source_block_it_then_the_block_ends() {
    let mut net = net();
    let mut attacker = Phone::new("1001", "not-the-password", DOMAIN, "198.51.100.9:5060");
    for i in 0..10 {
        net.advance(Duration::from_secs(1));
        let status = register_once(&mut net, &mut attacker, &format!("bf-{i}"));
        assert_eq!(status, Some(403), "attempt {i} is refused");
    }
    assert_eq!(net.engine.guard_stats().blocks, 1);
    // Blocked: even the right password gets no answer now.
    let mut same_source = Phone::new("1001", "pw-1001", DOMAIN, "198.51.100.9:5060");
    net.advance(Duration::from_secs(1));
    assert_eq!(register_once(&mut net, &mut same_source, "bf-right"), None);
    assert!(net.engine.guard_stats().blocked_requests >= 1);
    // Others are not affected.
    let mut p1002 = Phone::new("1002", "pw-1002", DOMAIN, "192.0.2.2:5062");
    p1002.register(&mut net);
    // After the default 300 s block the source is heard again.
    net.advance(Duration::from_secs(300));
    assert_eq!(
        register_once(&mut net, &mut same_source, "bf-after"),
        Some(200)
    );
}
