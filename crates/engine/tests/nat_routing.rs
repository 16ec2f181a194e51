//! Where INVITEs to registered phones go (issue 13): the registration's Contact unless NAT is
//! detected (Kamailio's `nat_uac_test` 19), then the REGISTER's source; `[sip] nat` and a
//! device's `sip.nat` override the detection; TCP registrations reuse their connection.
//! Sans-IO: the test network records the destination of every transmission.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use callrec_engine::b2bua::Core;
use callrec_kazoo::directory::Directory;
use callrec_sip::registrar::NatPolicy;
use callrec_sip::transaction::Transport;
use serde_json::{json, Value};
use support::phone::Phone;
use support::world::{documents, DEV_1002, DOMAIN};
use support::Net;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// The test world's documents with device 1002's `sip.nat` set (or left out).
fn directory(nat_1002: Option<&str>) -> Directory {
    let docs: Vec<(String, Value)> = documents()
        .into_iter()
        .map(|(name, mut d)| {
            if let (Some(nat), true) = (nat_1002, d["_id"] == json!(DEV_1002)) {
                d["sip"]["nat"] = json!(nat);
            }
            (name, d)
        })
        .collect();
    Directory::build(docs).expect("documents are valid")
}

/// A network whose config says `nat` (the default is `auto`), with 1001 registered normally.
fn net(nat_1002: Option<&str>, config_nat: NatPolicy) -> (Net, Phone) {
    let dir = directory(nat_1002);
    let mut net = Net::new(dir.clone());
    net.core = Core::new(
        callrec_engine::b2bua::CoreConfig {
            nat: config_nat,
            ..support::config()
        },
        Arc::new(dir),
    );
    let mut p1001 = Phone::new("1001", "pw-1001", DOMAIN, "192.0.2.1:5060");
    p1001.register(&mut net);
    (net, p1001)
}

/// 1001 calls 1002; returns where the B leg's INVITE was sent and over which transport.
fn invite_destination(net: &mut Net, p1001: &mut Phone) -> (SocketAddr, Transport) {
    net.transports.clear();
    p1001.call(net, "1002");
    let invites: Vec<(SocketAddr, Transport)> = net
        .transports
        .iter()
        .copied()
        .filter(|(to, _)| *to != p1001.addr)
        .collect();
    assert_eq!(invites.len(), 1, "one B-leg INVITE: {invites:?}");
    let (to, tp) = invites[0];
    net.expect_request(to, "INVITE");
    (to, tp)
}

/// 1002 sends from `from`, names `contact` in Contact and `via` as its Via sent-by.
fn phone_1002(from: &str, contact: &str, via: &str) -> Phone {
    let mut p = Phone::new("1002", "pw-1002", DOMAIN, from);
    p.contact_addr = Some(addr(contact));
    p.via_sent_by = Some(via.to_owned());
    p
}

#[test]
fn phone_registering_from_one_port_with_a_contact_on_another_gets_its_invite_at_the_contact() {
    let (mut net, mut p1001) = net(None, NatPolicy::Auto);
    // SIPp-like: REGISTER from :40000 (Via says :40000), the UAS listens on :5080.
    let mut p1002 = phone_1002("192.0.2.2:40000", "192.0.2.2:5080", "192.0.2.2:40000");
    p1002.register(&mut net);
    let (to, tp) = invite_destination(&mut net, &mut p1001);
    assert_eq!((to, tp), (addr("192.0.2.2:5080"), Transport::Udp));
}

#[test]
fn third_party_registration_sends_to_the_contact_host() {
    let (mut net, mut p1001) = net(None, NatPolicy::Auto);
    // Registered by a provisioning server at .9 for a phone at .20.
    let mut p1002 = phone_1002("192.0.2.9:5060", "192.0.2.20:5060", "192.0.2.9:5060");
    p1002.register(&mut net);
    assert_eq!(
        invite_destination(&mut net, &mut p1001).0,
        addr("192.0.2.20:5060")
    );
}

#[test]
fn via_address_other_than_the_source_means_nat_and_the_invite_goes_to_the_source() {
    let (mut net, mut p1001) = net(None, NatPolicy::Auto);
    let mut p1002 = phone_1002(
        "203.0.113.5:40000",
        "192.168.1.10:5060",
        "192.168.1.10:5060",
    );
    p1002.register(&mut net);
    assert_eq!(
        invite_destination(&mut net, &mut p1001).0,
        addr("203.0.113.5:40000")
    );
}

#[test]
fn via_port_other_than_the_source_port_means_nat() {
    let (mut net, mut p1001) = net(None, NatPolicy::Auto);
    // A public address, but the NAT rewrote the port: the Via keeps the phone's own.
    let mut p1002 = phone_1002("203.0.113.5:40000", "203.0.113.5:5060", "203.0.113.5:5060");
    p1002.register(&mut net);
    assert_eq!(
        invite_destination(&mut net, &mut p1001).0,
        addr("203.0.113.5:40000")
    );
}

#[test]
fn private_contact_from_a_public_source_means_nat_even_when_the_via_matches() {
    let (mut net, mut p1001) = net(None, NatPolicy::Auto);
    // A STUN-aware phone writes its public address in Via but its private one in Contact.
    let mut p1002 = phone_1002("203.0.113.5:40000", "10.1.2.3:5060", "203.0.113.5:40000");
    p1002.register(&mut net);
    assert_eq!(
        invite_destination(&mut net, &mut p1001).0,
        addr("203.0.113.5:40000")
    );
}

#[test]
fn device_nat_never_sends_to_the_contact_even_when_nat_is_detected() {
    let (mut net, mut p1001) = net(Some("never"), NatPolicy::Auto);
    let mut p1002 = phone_1002("203.0.113.5:40000", "192.0.2.30:5070", "192.168.1.10:5060");
    p1002.register(&mut net);
    assert_eq!(
        invite_destination(&mut net, &mut p1001).0,
        addr("192.0.2.30:5070")
    );
}

#[test]
fn device_nat_always_sends_to_the_source_even_without_nat() {
    let (mut net, mut p1001) = net(Some("always"), NatPolicy::Auto);
    let mut p1002 = phone_1002("192.0.2.2:40000", "192.0.2.2:5080", "192.0.2.2:40000");
    p1002.register(&mut net);
    assert_eq!(
        invite_destination(&mut net, &mut p1001).0,
        addr("192.0.2.2:40000")
    );
}

#[test]
fn config_nat_always_is_the_default_for_devices_without_their_own() {
    let (mut net, mut p1001) = net(None, NatPolicy::Always);
    let mut p1002 = phone_1002("192.0.2.2:40000", "192.0.2.2:5080", "192.0.2.2:40000");
    p1002.register(&mut net);
    assert_eq!(
        invite_destination(&mut net, &mut p1001).0,
        addr("192.0.2.2:40000")
    );
}

#[test]
fn device_nat_auto_overrides_a_config_of_always() {
    let (mut net, mut p1001) = net(Some("auto"), NatPolicy::Always);
    let mut p1002 = phone_1002("192.0.2.2:40000", "192.0.2.2:5080", "192.0.2.2:40000");
    p1002.register(&mut net);
    assert_eq!(
        invite_destination(&mut net, &mut p1001).0,
        addr("192.0.2.2:5080")
    );
}

#[test]
fn tcp_registration_reuses_its_connection_whatever_the_contact_says() {
    let (mut net, mut p1001) = net(Some("never"), NatPolicy::Auto);
    let mut p1002 = phone_1002("192.0.2.2:40000", "192.0.2.2:5080", "192.0.2.2:40000");
    p1002.tcp = true;
    net.tcp_peers.push(p1002.addr);
    p1002.register(&mut net);
    assert_eq!(
        invite_destination(&mut net, &mut p1001),
        (addr("192.0.2.2:40000"), Transport::Tcp)
    );
}

#[test]
fn unknown_device_nat_value_is_refused_naming_the_key() {
    let docs: Vec<(String, Value)> = documents()
        .into_iter()
        .map(|(name, mut d)| {
            if d["_id"] == json!(DEV_1002) {
                d["sip"]["nat"] = json!("sometimes");
            }
            (name, d)
        })
        .collect();
    let err = Directory::build(docs).expect_err("refused").to_string();
    assert!(err.contains("sip.nat"), "{err}");
    assert!(err.contains(DEV_1002), "{err}");
}
