//! Carrier gateways given by host name: the core never resolves anything; the driver feeds it
//! what a name resolved to (`Core::set_resolved`, `Engine::handle_resolved`). A name with no
//! answer is skipped (a call never waits on DNS), the addresses of a name fail over like
//! gateways, and a new answer (the driver re-resolves on TTL) is used by the next call.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use callrec_kazoo::directory::{Directory, HostQuery};
use callrec_sip::transaction::Transport;
use serde_json::json;
use support::phone::Phone;
use support::world::*;
use support::Net;

const NAMED: &str = "sbc.carrier.example";
const OTHER_GW: &str = "203.0.113.11:5060";
const NUMBER: &str = "15551230000";

/// The world's documents with the carrier's first gateway given by host name, no port (SRV).
fn directory() -> Directory {
    let mut docs = documents();
    let carrier = docs
        .iter_mut()
        .find(|(_, d)| d["_id"] == "carrier-1")
        .expect("the world has a carrier");
    carrier.1 = json!({"_id": "carrier-1", "pvt_type": "resource", "name": "Carrier",
        "gateways": [{"server": NAMED}, {"server": "203.0.113.11", "port": 5060}]});
    Directory::build(docs).expect("valid documents")
}

fn query() -> HostQuery {
    HostQuery {
        name: NAMED.into(),
        transport: Transport::Udp,
        port: None,
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn net_with_1001() -> (Net, Phone) {
    let mut net = Net::new(directory());
    let mut p1001 = Phone::new("1001", "pw-1001", DOMAIN, "192.0.2.1:5060");
    p1001.register(&mut net);
    net.drain_events();
    (net, p1001)
}

#[test]
fn a_gateway_whose_name_is_not_resolved_yet_is_skipped_without_waiting() {
    let (mut net, mut p1001) = net_with_1001();
    assert_eq!(directory().host_queries(), vec![query()]);
    p1001.call(&mut net, NUMBER);
    // Straight to the next gateway: nothing was sent anywhere else.
    let inv = net.expect_request(addr(OTHER_GW), "INVITE");
    assert_eq!(
        inv.request_uri().unwrap().to_string(),
        format!("sip:{NUMBER}@{OTHER_GW}")
    );
}

#[test]
fn the_resolved_addresses_of_a_name_fail_over_in_order_like_gateways() {
    let (mut net, mut p1001) = net_with_1001();
    let (first, second) = (addr("203.0.113.20:5070"), addr("203.0.113.21:5080"));
    net.core.set_resolved(query(), vec![first, second]);
    p1001.call(&mut net, NUMBER);
    let inv1 = net.expect_request(first, "INVITE");
    // RFC 3263: the Request-URI keeps the name (no port: it came from SRV).
    assert_eq!(
        inv1.request_uri().unwrap().to_string(),
        format!("sip:{NUMBER}@{NAMED}")
    );
    let gw1 = Phone::new("gw1", "", DOMAIN, "203.0.113.20:5070");
    net.deliver(first, &gw1.respond(&inv1, 503, "Service Unavailable", "g1"));
    net.expect_request(first, "ACK");
    let inv2 = net.expect_request(second, "INVITE");
    assert_eq!(
        inv2.request_uri().unwrap().to_string(),
        format!("sip:{NUMBER}@{NAMED}")
    );
    let gw2 = Phone::new("gw2", "", DOMAIN, "203.0.113.21:5080");
    net.deliver(second, &gw2.respond(&inv2, 500, "Oops", "g2"));
    net.expect_request(second, "ACK");
    // Then the resource's next gateway.
    let inv3 = net.expect_request(addr(OTHER_GW), "INVITE");
    let gw3 = Phone::new("gw3", "", DOMAIN, OTHER_GW);
    net.deliver(addr(OTHER_GW), &gw3.answer(&inv3, "g3"));
    net.expect_status(p1001.addr, 200);
}

#[test]
fn a_new_answer_is_used_by_the_next_call_and_an_empty_one_skips_the_gateway() {
    let (mut net, mut p1001) = net_with_1001();
    let (old, new) = (addr("203.0.113.20:5060"), addr("203.0.113.30:5060"));
    net.core.set_resolved(query(), vec![old]);
    p1001.call(&mut net, NUMBER);
    let first = net.expect_request(old, "INVITE");
    // The driver re-resolved on TTL: the name moved.
    net.core.set_resolved(query(), vec![new]);
    p1001.call(&mut net, NUMBER);
    let second = net.expect_request(new, "INVITE");
    // Only the first call's retransmissions went to the old address.
    assert!(net.take(old).iter().all(|m| m.call_id() == first.call_id()));
    // The name has no address any more (NXDOMAIN): skipped.
    net.core.set_resolved(query(), Vec::new());
    p1001.call(&mut net, NUMBER);
    net.expect_request(addr(OTHER_GW), "INVITE");
    assert!(net
        .take(new)
        .iter()
        .all(|m| m.call_id() == second.call_id()));
    assert!(net.take(old).iter().all(|m| m.call_id() == first.call_id()));
}

#[test]
fn answers_for_names_no_gateway_has_are_ignored_and_a_directory_change_drops_old_names() {
    let (mut net, _p1001) = net_with_1001();
    let stranger = HostQuery {
        name: "elsewhere.example".into(),
        ..query()
    };
    net.core
        .set_resolved(stranger.clone(), vec![addr("192.0.2.99:5060")]);
    assert!(net.core.resolved_hosts().get(&stranger).is_empty());
    net.core
        .set_resolved(query(), vec![addr("203.0.113.20:5060")]);
    assert_eq!(net.core.resolved_hosts().len(), 1);
    // The carrier now names its gateway by address only: the answer is forgotten.
    let docs = documents();
    net.core
        .set_directory(Arc::new(Directory::build(docs).expect("valid documents")));
    assert!(net.core.resolved_hosts().is_empty());
}
