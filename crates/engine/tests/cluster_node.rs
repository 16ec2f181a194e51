//! A node behind an edge proxy (issue 16, `[cluster] edge`): who may name the caller with
//! `X-AUTH-*` headers (the edge only), refusals (403), no REGISTER and no challenge, calls to
//! devices sent to the edge as `sip:<username>@<realm>` with the Record-Route set honoured,
//! and `node_id` on CDRs and recording metadata. Sans-IO: scripted peers on a fake clock.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use callrec_engine::b2bua::{CallEvent, Core, LegId};
use callrec_engine::Command;
use callrec_kazoo::directory::Directory;
use callrec_sip::message::{HeaderName, Message, Method};
use serde_json::{json, Value};
use support::engine_net::EngineNet;
use support::phone::Phone;
use support::world::{documents, ACCOUNT, DEV_1001, DOMAIN};
use support::{Net, Network};

/// The edge proxy (Kamailio in production).
const EDGE: &str = "198.51.100.1:5060";
/// A carrier gateway of the test world.
const GW1: &str = "203.0.113.10";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn directory() -> Directory {
    Directory::build(documents()).expect("documents are valid")
}

/// A core behind the edge.
fn node() -> Net {
    let dir = directory();
    let mut net = Net::new(dir.clone());
    net.core = Core::new(
        callrec_engine::b2bua::CoreConfig {
            edge: vec![addr(EDGE)],
            ..support::config()
        },
        Arc::new(dir),
    );
    net
}

/// An INVITE from `sender` (as the edge relays a call) to `number`, with `headers` added.
fn invite_from(sender: &mut Phone, number: &str, headers: &[(&str, &str)]) -> Message {
    let mut m = sender.invite(number, addr(support::SERVER));
    for (name, value) in headers {
        m.push_header(*name, *value);
    }
    m
}

fn device_headers(
    device: &'static str,
    account: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("X-AUTH-Device-ID", device),
        ("X-AUTH-Account-ID", account),
        ("X-AUTH-IP", "192.0.2.1"),
        ("X-AUTH-Port", "5060"),
    ]
}

fn status_of(net: &mut Net, at: SocketAddr) -> u16 {
    net.expect(at, "a final response", |m| {
        m.status().is_some_and(|s| s >= 200)
    })
    .status()
    .unwrap_or_default()
}

fn a_leg_authorizing(events: &[CallEvent]) -> Option<String> {
    events.iter().find_map(|e| match e {
        CallEvent::LegStarted { leg, .. } if leg.leg == LegId::A => leg.tags.authorizing_id.clone(),
        _ => None,
    })
}

#[test]
fn the_edge_names_the_calling_device_and_it_is_not_challenged() {
    let mut net = node();
    let mut edge = Phone::new("1001", "", DOMAIN, EDGE);
    let invite = invite_from(&mut edge, "1002", &device_headers(DEV_1001, ACCOUNT));
    net.deliver(edge.addr, &invite);
    assert!(
        !net.has(edge.addr, |m| matches!(m.status(), Some(401 | 407 | 403))),
        "no challenge and no refusal behind the edge"
    );
    // 1002 is called through the edge: R-URI user@realm, sent to the edge.
    let b = net.expect_request(edge.addr, "INVITE");
    assert_eq!(
        b.request_uri().map(ToString::to_string).as_deref(),
        Some("sip:1002@example.com")
    );
    assert!(
        b.header("X-AUTH-Device-ID").is_none(),
        "the edge's identity headers never leave the node"
    );
    assert_eq!(
        a_leg_authorizing(&net.drain_events()).as_deref(),
        Some(DEV_1001),
        "the caller is the device the edge named"
    );
}

#[test]
fn edge_requests_without_a_valid_identity_are_refused() {
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no X-AUTH headers", vec![]),
        ("an unknown device", device_headers("dev-nobody", ACCOUNT)),
        (
            "a device of another account",
            device_headers(DEV_1001, "acc-other"),
        ),
        (
            "a source that is no carrier",
            vec![("X-AUTH-IP", "192.0.2.99")],
        ),
        ("a malformed source", vec![("X-AUTH-IP", "not-an-ip")]),
    ];
    for (what, headers) in cases {
        let mut net = node();
        let mut edge = Phone::new("1001", "", DOMAIN, EDGE);
        let invite = invite_from(&mut edge, "1002", &headers);
        net.deliver(edge.addr, &invite);
        assert_eq!(status_of(&mut net, edge.addr), 403, "{what}");
        assert!(net.take(edge.addr).is_empty(), "{what}: nothing else sent");
    }
}

#[test]
fn x_auth_headers_from_anyone_but_the_edge_are_ignored() {
    // The right headers from a phone, and from the edge's address on another UDP port.
    for from in ["192.0.2.1:5060", "198.51.100.1:5080"] {
        let mut net = node();
        let mut rogue = Phone::new("1001", "pw-1001", DOMAIN, from);
        let invite = invite_from(&mut rogue, "1002", &device_headers(DEV_1001, ACCOUNT));
        net.deliver(rogue.addr, &invite);
        assert_eq!(
            status_of(&mut net, rogue.addr),
            403,
            "{from}: refused, not challenged"
        );
        assert!(net.take(addr(EDGE)).is_empty(), "{from}: no call placed");
    }
}

#[test]
fn a_carrier_is_recognised_by_the_address_the_edge_saw_or_its_own() {
    // Through the edge: X-AUTH-IP names the carrier's gateway.
    let mut net = node();
    let mut edge = Phone::new("+15551230000", "", DOMAIN, EDGE);
    let invite = invite_from(
        &mut edge,
        "1002",
        &[("X-AUTH-IP", GW1), ("X-AUTH-Port", "5060")],
    );
    net.deliver(edge.addr, &invite);
    let b = net.expect_request(edge.addr, "INVITE");
    assert_eq!(
        b.request_uri().map(ToString::to_string).as_deref(),
        Some("sip:1002@example.com")
    );
    assert_eq!(
        a_leg_authorizing(&net.drain_events()).as_deref(),
        Some("carrier-1")
    );
    // Straight to the node: by its source address, as a single node does.
    let mut net = node();
    let mut gw = Phone::new("+15551230000", "", DOMAIN, &format!("{GW1}:5060"));
    let invite = invite_from(&mut gw, "1002", &[]);
    net.deliver(gw.addr, &invite);
    net.expect_request(addr(EDGE), "INVITE");
    assert_eq!(
        a_leg_authorizing(&net.drain_events()).as_deref(),
        Some("carrier-1")
    );
}

#[test]
fn register_is_not_taken_and_options_are_answered() {
    let mut net = node();
    let mut phone = Phone::new("1001", "pw-1001", DOMAIN, "192.0.2.1:5060");
    let reg = phone.register_request("reg-1");
    net.deliver(phone.addr, &reg);
    let resp = net.expect(phone.addr, "a final response", |m| {
        m.status().is_some_and(|s| s >= 200)
    });
    assert_eq!(resp.status(), Some(405));
    let allow = resp
        .header(HeaderName::Allow)
        .unwrap_or_default()
        .into_owned();
    assert!(
        allow.contains("INVITE") && !allow.contains("REGISTER"),
        "Allow without REGISTER: {allow}"
    );
    assert!(net.core.registrar().is_empty(), "no binding kept");
    // The dispatcher's probe.
    let mut edge = Phone::new("edge", "", DOMAIN, EDGE);
    let mut options = edge.invite("1002", addr(support::SERVER));
    options = rewrite_method(&options, Method::Options);
    net.deliver(edge.addr, &options);
    assert_eq!(status_of(&mut net, edge.addr), 200);
}

/// `m` as a request of another method (CSeq too), without a body.
fn rewrite_method(m: &Message, method: Method) -> Message {
    let mut out = Message::request(method.clone(), m.request_uri().expect("request").clone());
    for name in [
        HeaderName::Via,
        HeaderName::MaxForwards,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
    ] {
        out.copy_headers(m, name);
    }
    out.push_header(HeaderName::CSeq, format!("1 {method}"));
    out
}

#[test]
fn a_device_call_goes_through_the_edge_and_in_dialog_requests_follow_its_record_route() {
    let mut net = node();
    let mut edge = Phone::new("1001", "", DOMAIN, EDGE);
    let mut a_invite = invite_from(&mut edge, "1002", &device_headers(DEV_1001, ACCOUNT));
    a_invite.push_header(HeaderName::RecordRoute, "<sip:198.51.100.1;lr>");
    net.deliver(edge.addr, &a_invite);
    let b = net.expect_request(edge.addr, "INVITE");
    // The edge found the phone (a private Contact behind NAT) and relays its answer,
    // record-routed.
    let phone = Phone::new("1002", "", DOMAIN, "10.1.2.3:5060");
    let mut ok = phone.answer(&b, "b-tag");
    ok.push_header(HeaderName::RecordRoute, "<sip:198.51.100.1;lr;r2=on>");
    net.deliver(edge.addr, &ok);
    let ack = net.expect_request(edge.addr, "ACK");
    assert_eq!(
        ack.header(HeaderName::Route).as_deref(),
        Some("<sip:198.51.100.1;lr;r2=on>"),
        "the ACK follows the B leg's route set"
    );
    // The caller's 200 carries its INVITE's Record-Route (RFC 3261 §12.1.1).
    let a_ok = net.expect(edge.addr, "the caller's 200", |m| m.status() == Some(200));
    assert_eq!(
        a_ok.header(HeaderName::RecordRoute).as_deref(),
        Some("<sip:198.51.100.1;lr>")
    );
    // The caller hangs up: the BYE to the callee goes to the edge with the route, to the
    // phone's Contact.
    let mut caller_dialog = Phone::uac_dialog(&a_invite, &a_ok);
    let ack_a = edge.in_dialog(&mut caller_dialog, Method::Ack);
    net.deliver(edge.addr, &ack_a);
    let bye = edge.in_dialog(&mut caller_dialog, Method::Bye);
    net.deliver(edge.addr, &bye);
    let b_bye = net.expect_request(edge.addr, "BYE");
    assert_eq!(
        b_bye.request_uri().map(ToString::to_string).as_deref(),
        Some("sip:1002@10.1.2.3:5060"),
        "in-dialog requests target the phone's Contact"
    );
    assert_eq!(
        b_bye.header(HeaderName::Route).as_deref(),
        Some("<sip:198.51.100.1;lr;r2=on>"),
        "through the edge"
    );
}

#[test]
fn a_480_from_the_edge_fails_the_device_leg() {
    let mut net = node();
    let mut edge = Phone::new("1001", "", DOMAIN, EDGE);
    let invite = invite_from(&mut edge, "1003", &device_headers(DEV_1001, ACCOUNT));
    net.deliver(edge.addr, &invite);
    let b = net.expect_request(edge.addr, "INVITE");
    let proxy = Phone::new("edge", "", DOMAIN, EDGE);
    net.deliver(
        edge.addr,
        &proxy.respond(&b, 480, "Temporarily Unavailable", "t"),
    );
    let resp = net.expect(edge.addr, "the caller's final response", |m| {
        m.status().is_some_and(|s| s >= 300) && m.call_id().ok() == invite.call_id().ok()
    });
    assert_eq!(resp.status(), Some(480));
}

/// The documents with calls to 1002 recorded by a rule without `url`.
fn recorded_world() -> Directory {
    let docs = documents()
        .into_iter()
        .map(|(name, mut doc)| {
            if doc["_id"] == ACCOUNT {
                let rule = json!({"enabled": true, "format": "wav"});
                doc["call_recording"] = json!({"account": {
                    "inbound": {"onnet": rule.clone(), "offnet": rule.clone()},
                    "outbound": {"onnet": rule.clone(), "offnet": rule}}});
            }
            (name, doc)
        })
        .collect();
    Directory::build(docs).expect("documents are valid")
}

#[test]
fn node_id_is_on_every_cdr_and_recording() {
    let mut net = EngineNet::with_config(recorded_world(), |cfg| {
        cfg.core.edge = vec![addr(EDGE)];
        cfg.node_id = Some("node-a".to_owned());
    });
    let mut edge = Phone::new("1001", "", DOMAIN, EDGE);
    let invite = invite_from(&mut edge, "1003", &device_headers(DEV_1001, ACCOUNT));
    net.deliver(edge.addr, &invite);
    let b = net.expect(edge.addr, "the B-leg INVITE", |m| {
        m.method().is_some_and(|x| x.as_str() == "INVITE")
    });
    let callee = Phone::new("1003", "", DOMAIN, "10.1.2.4:5060");
    net.deliver(edge.addr, &callee.answer(&b, "b-tag"));
    let commands = net.take_commands();
    let entry = commands
        .iter()
        .find_map(|c| match c {
            Command::CreateSpoolEntry(e) => Some(e.clone()),
            _ => None,
        })
        .expect("a recording starts");
    assert_eq!(entry.metadata.node_id.as_deref(), Some("node-a"));
    let meta = serde_json::to_value(&entry.metadata).expect("json");
    assert_eq!(meta["node_id"], json!("node-a"));
    // The caller hangs up.
    let a_ok = net.expect(edge.addr, "the caller's 200", |m| m.status() == Some(200));
    let mut d = Phone::uac_dialog(&invite, &a_ok);
    let ack = edge.in_dialog(&mut d, Method::Ack);
    net.deliver(edge.addr, &ack);
    let bye = edge.in_dialog(&mut d, Method::Bye);
    net.deliver(edge.addr, &bye);
    let b_bye = net.expect(edge.addr, "BYE", |m| {
        m.method().is_some_and(|x| x.as_str() == "BYE")
    });
    net.deliver(edge.addr, &callee.respond(&b_bye, 200, "OK", "b-tag"));
    let cdrs: Vec<Value> = net
        .take_commands()
        .into_iter()
        .filter_map(|c| match c {
            Command::WriteCdr(v) => Some(*v),
            _ => None,
        })
        .collect();
    assert_eq!(cdrs.len(), 2, "one CDR per leg");
    for cdr in &cdrs {
        assert_eq!(cdr["node_id"], json!("node-a"), "{cdr}");
        assert_eq!(cdr["media_server"], json!("node-a"), "{cdr}");
    }
}

#[test]
fn a_single_node_writes_no_node_keys() {
    let mut net = EngineNet::new(recorded_world());
    let mut gw = Phone::new("+15551230000", "", DOMAIN, &format!("{GW1}:5060"));
    let invite = invite_from(&mut gw, "1003", &[]);
    // 1003 has not registered: the call fails at once (480) and its CDR is written.
    net.deliver(gw.addr, &invite);
    let cdrs: Vec<Value> = net
        .take_commands()
        .into_iter()
        .filter_map(|c| match c {
            Command::WriteCdr(v) => Some(*v),
            _ => None,
        })
        .collect();
    assert!(!cdrs.is_empty());
    for cdr in &cdrs {
        assert!(cdr.get("node_id").is_none() && cdr.get("media_server").is_none());
    }
}
