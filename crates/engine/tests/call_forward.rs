//! KAZOO `call_forward` through the B2BUA core on the fake network: unconditional forwarding
//! (substitute, ring both), failover forwarding (device unregistered, device not answering),
//! device over user, `keep_caller_id`, `direct_calls_only` against a ring group, gateway
//! fail-over of a forward, and devices known by their IP address. The forwarded leg is a
//! carrier leg (`offnet-termination`) that names the forwarding device and its owner.

mod support;

use std::time::Duration;

use callrec_engine::b2bua::{
    CallEvent, CdrFacts, EndUserDirection, LegId, LegInfo, Network, ResourceType,
};
use callrec_kazoo::directory::Directory;
use callrec_sip::message::{Message, Method};
use serde_json::{json, Value};
use support::phone::Phone;
use support::world::*;
use support::Net;

const FORWARD_TO: &str = "+15557770000";

/// The test world with `patch` merged into the documents whose `_id` it names, plus `extra`
/// documents; 1001 and 1002 registered (1002's desk phone and 1003 are not).
fn world_with(patch: Value, extra: Vec<Value>) -> (Net, Phone, Phone, Carrier2) {
    let mut docs: Vec<(String, Value)> = documents()
        .into_iter()
        .map(|(name, mut doc)| {
            if let Some(p) = doc["_id"].as_str().and_then(|id| patch.get(id)) {
                for (k, v) in p.as_object().expect("patch is an object") {
                    doc[k] = v.clone();
                }
            }
            (name, doc)
        })
        .collect();
    for (i, d) in extra.into_iter().enumerate() {
        docs.push((format!("extra-{i}.json"), d));
    }
    let mut net = Net::new(Directory::build(docs).expect("documents are valid"));
    let mut p1001 = Phone::new("1001", "pw-1001", DOMAIN, "192.0.2.1:5060");
    let mut p1002 = Phone::new("1002", "pw-1002", DOMAIN, "192.0.2.2:5062");
    p1001.register(&mut net);
    p1002.register(&mut net);
    net.drain_events();
    let carrier = Carrier2 {
        gw1: Phone::new("gw1", "", DOMAIN, "203.0.113.10:5060"),
        gw2: Phone::new("gw2", "", DOMAIN, "203.0.113.11:5060"),
    };
    (net, p1001, p1002, carrier)
}

fn forward(extra: Value) -> Value {
    let mut f = json!({"enabled": true, "number": FORWARD_TO});
    for (k, v) in extra.as_object().expect("object") {
        f[k] = v.clone();
    }
    f
}

fn cdr_of(net: &Net, leg: LegId) -> CdrFacts {
    net.events
        .iter()
        .find_map(|e| match e {
            CallEvent::LegEnded { leg: l, cdr, .. } if *l == leg => Some((**cdr).clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no CDR for leg {leg}: {:?}", net.events))
}

fn started(net: &Net) -> Vec<LegInfo> {
    net.events
        .iter()
        .filter_map(|e| match e {
            CallEvent::LegStarted { leg, .. } => Some((**leg).clone()),
            _ => None,
        })
        .collect()
}

fn is_invite(m: &Message) -> bool {
    m.method().is_some_and(|x| x.as_str() == "INVITE")
}

/// The carrier's gateway 1 sends `number` a call from +14155550100.
fn carrier_calls(net: &mut Net, carrier: &mut Carrier2, number: &str) -> Message {
    let inv = carrier.gw1.invite(number, net.server);
    net.deliver(carrier.gw1.addr, &inv);
    inv
}

/// Answers the forwarded INVITE at `gw`, ACKs the caller's 200 and hangs up from the caller.
fn answer_and_hang_up(
    net: &mut Net,
    caller: &mut Phone,
    a_invite: &Message,
    gw: &Phone,
    fwd: &Message,
) {
    net.deliver(gw.addr, &gw.answer(fwd, "fwd-tag"));
    net.expect_request(gw.addr, "ACK");
    let ok = net.expect_status(caller.addr, 200);
    let mut d = Phone::uac_dialog(a_invite, &ok);
    let ack = caller.in_dialog(&mut d, Method::Ack);
    net.deliver(caller.addr, &ack);
    let bye = caller.in_dialog(&mut d, Method::Bye);
    net.deliver(caller.addr, &bye);
    let bye_b = net.expect_request(gw.addr, "BYE");
    net.deliver(gw.addr, &gw.respond(&bye_b, 200, "OK", "fwd-tag"));
}

#[test]
fn a_carrier_call_to_a_user_forwarding_unconditionally_goes_to_the_carrier_and_is_forwarded_on_both_legs(
) {
    let (mut net, _p1001, p1002, mut carrier) = world_with(
        json!({USER_1002: {"call_forward": forward(json!({}))}}),
        vec![],
    );
    let a_invite = carrier_calls(&mut net, &mut carrier, "1002");
    let fwd = net.expect(carrier.gw1.addr, "forwarded INVITE", is_invite);
    assert_eq!(
        fwd.request_uri().unwrap().to_string(),
        format!("sip:{FORWARD_TO}@{}", carrier.gw1.addr)
    );
    assert!(
        !net.has(p1002.addr, is_invite),
        "substitute (the default): the phone does not ring"
    );
    // keep_caller_id (the default): the caller's number is presented.
    assert_eq!(fwd.from().unwrap().uri.user(), Some("gw1"));
    let gw1 = Phone::new("gw1", "", DOMAIN, "203.0.113.10:5060");
    answer_and_hang_up(&mut net, &mut carrier.gw1, &a_invite, &gw1, &fwd);

    let legs = started(&net);
    let b = &legs[1].tags;
    assert_eq!(b.network, Network::Offnet);
    assert_eq!(b.resource_type, Some(ResourceType::OffnetTermination));
    assert_eq!(b.owner_id.as_deref(), Some(USER_1002));
    assert_eq!(b.account_id.as_deref(), Some(ACCOUNT));
    // Seed: "a call comes in from the PSTN and is subsequently sent to a call-forwarded
    // device (via PSTN). Both legs will have resource_type set."
    let a = cdr_of(&net, LegId::A);
    let b = cdr_of(&net, LegId(1));
    assert_eq!(a.resource_type, Some(ResourceType::OffnetOrigination));
    assert_eq!(b.resource_type, Some(ResourceType::OffnetTermination));
    assert_eq!(a.end_user_direction, EndUserDirection::Forwarded);
    assert_eq!(b.end_user_direction, EndUserDirection::Forwarded);
    assert_eq!(a.account_id.as_deref(), Some(ACCOUNT));
}

#[test]
fn forwarding_without_substitute_rings_the_phone_and_the_forward_number_at_once() {
    let (mut net, mut p1001, p1002, carrier) = world_with(
        json!({USER_1002: {"call_forward": forward(json!({"substitute": false}))}}),
        vec![],
    );
    p1001.call(&mut net, "1002");
    let to_phone = net.expect_request(p1002.addr, "INVITE");
    let fwd = net.expect(carrier.gw1.addr, "forwarded INVITE", is_invite);
    net.deliver(
        carrier.gw1.addr,
        &carrier.gw1.respond(&fwd, 180, "Ringing", "g1"),
    );
    // The phone answers first: the forward is cancelled and the call is internal.
    net.deliver(p1002.addr, &p1002.answer(&to_phone, "b"));
    net.expect_request(carrier.gw1.addr, "CANCEL");
    net.expect_status(p1001.addr, 200);
}

#[test]
fn failover_forwarding_goes_straight_to_the_carrier_when_the_device_is_not_registered() {
    let (mut net, mut p1001, _p1002, carrier) = world_with(
        json!({"user-1003": {"call_forward": forward(json!({"failover": true}))}}),
        vec![],
    );
    p1001.call(&mut net, "1003");
    let fwd = net.expect(carrier.gw1.addr, "forwarded INVITE", is_invite);
    assert!(fwd.request_uri().unwrap().to_string().contains(FORWARD_TO));
}

#[test]
fn failover_forwarding_cancels_the_phone_that_does_not_answer_and_forwards() {
    let (mut net, _p1001, p1002, mut carrier) = world_with(
        json!({
            USER_1002: {"call_forward": forward(json!({"failover": true}))},
            // The callflow node's timeout (KAZOO's `data.timeout`) bounds the ringing.
            "cf-1002": {"flow": {"module": "user", "data": {"id": USER_1002, "timeout": 5}}},
        }),
        vec![],
    );
    let a_invite = carrier_calls(&mut net, &mut carrier, "1002");
    let to_phone = net.expect_request(p1002.addr, "INVITE");
    net.deliver(p1002.addr, &p1002.respond(&to_phone, 180, "Ringing", "b"));
    assert!(!net.has(carrier.gw1.addr, is_invite), "not forwarded yet");
    net.advance(Duration::from_secs(6));
    net.expect_request(p1002.addr, "CANCEL");
    let fwd = net.expect(carrier.gw1.addr, "forwarded INVITE", is_invite);
    let gw1 = Phone::new("gw1", "", DOMAIN, "203.0.113.10:5060");
    // The phone's INVITE ends with 487.
    net.deliver(
        p1002.addr,
        &p1002.respond(&to_phone, 487, "Request Terminated", "b"),
    );
    answer_and_hang_up(&mut net, &mut carrier.gw1, &a_invite, &gw1, &fwd);
    assert_eq!(
        cdr_of(&net, LegId::A).end_user_direction,
        EndUserDirection::Forwarded
    );
    assert_eq!(
        cdr_of(&net, LegId(2)).resource_type,
        Some(ResourceType::OffnetTermination)
    );
}

#[test]
fn failover_forwarding_does_not_forward_a_busy_phone() {
    let (mut net, mut p1001, p1002, carrier) = world_with(
        json!({USER_1002: {"call_forward": forward(json!({"failover": true}))},
               "cf-1002": {"flow": {"module": "user", "data": {"id": USER_1002}}}}),
        vec![],
    );
    p1001.call(&mut net, "1002");
    let to_phone = net.expect_request(p1002.addr, "INVITE");
    net.deliver(p1002.addr, &p1002.respond(&to_phone, 486, "Busy Here", "b"));
    net.expect_status(p1001.addr, 486);
    assert!(!net.has(carrier.gw1.addr, is_invite));
}

#[test]
fn a_forward_fails_over_to_the_next_gateway() {
    let (mut net, mut p1001, _p1002, carrier) = world_with(
        json!({USER_1002: {"call_forward": forward(json!({}))}}),
        vec![],
    );
    p1001.call(&mut net, "1002");
    let fwd1 = net.expect(carrier.gw1.addr, "forwarded INVITE", is_invite);
    net.deliver(
        carrier.gw1.addr,
        &carrier.gw1.respond(&fwd1, 503, "Service Unavailable", "g1"),
    );
    let fwd2 = net.expect(carrier.gw2.addr, "forward at gateway 2", is_invite);
    assert!(fwd2.request_uri().unwrap().to_string().contains(FORWARD_TO));
}

#[test]
fn without_keep_caller_id_the_forward_shows_the_users_external_caller_id() {
    let (mut net, mut p1001, _p1002, carrier) = world_with(
        json!({USER_1002: {"call_forward": forward(json!({"keep_caller_id": false}))}}),
        vec![],
    );
    p1001.call(&mut net, "1002");
    let fwd = net.expect(carrier.gw1.addr, "forwarded INVITE", is_invite);
    assert_eq!(fwd.from().unwrap().uri.user(), Some("+15550001002"));
}

#[test]
fn a_device_disabling_forwarding_rings_while_its_sibling_inherits_the_users_forward() {
    let (mut net, mut p1001, p1002, carrier) = world_with(
        json!({
            USER_1002: {"call_forward": forward(json!({}))},
            DEV_1002: {"call_forward": {"enabled": false}},
        }),
        vec![],
    );
    p1001.call(&mut net, "1002");
    net.expect_request(p1002.addr, "INVITE");
    // The desk phone (not registered) forwards as its user says.
    net.expect(carrier.gw1.addr, "forwarded INVITE", is_invite);
}

#[test]
fn direct_calls_only_forwards_calls_to_the_user_but_not_through_a_ring_group() {
    let ring_group = json!({"_id": "cf-6000", "pvt_type": "callflow", "numbers": ["6000"],
        "flow": {"module": "ring_group",
                 "data": {"endpoints": [{"id": USER_1002, "endpoint_type": "user"}]}}});
    let patch = json!({USER_1002: {"call_forward": forward(json!({"direct_calls_only": true}))}});
    let (mut net, mut p1001, p1002, carrier) = world_with(patch.clone(), vec![ring_group.clone()]);
    p1001.call(&mut net, "6000");
    net.expect_request(p1002.addr, "INVITE");
    assert!(!net.has(carrier.gw1.addr, is_invite), "not a direct call");

    let (mut net, mut p1001, p1002, carrier) = world_with(patch, vec![ring_group]);
    p1001.call(&mut net, "1002");
    net.expect(carrier.gw1.addr, "forwarded INVITE", is_invite);
    assert!(!net.has(p1002.addr, is_invite));
}

#[test]
fn a_device_known_by_its_ip_address_calls_without_a_challenge_and_is_called_there() {
    let ip_device = json!({"_id": "dev-fax", "pvt_type": "device", "owner_id": "user-1003",
        "sip": {"method": "ip", "ip": "192.0.2.50", "port": 5070}});
    let (mut net, p1001, _p1002, _carrier) = world_with(
        json!({"cf-1003": {"flow": {"module": "device", "data": {"id": "dev-fax"}}}}),
        vec![ip_device],
    );
    // It calls 1001: no 407, straight to the phone.
    let mut fax = Phone::new("fax", "", DOMAIN, "192.0.2.50:5070");
    let inv = fax.invite("1001", net.server);
    net.deliver(fax.addr, &inv);
    assert!(!net.has(fax.addr, |m| m.status() == Some(407)));
    net.expect_request(p1001.addr, "INVITE");
    let a = &started(&net)[0].tags;
    assert_eq!(a.authorizing_id.as_deref(), Some("dev-fax"));
    assert_eq!(a.owner_id.as_deref(), Some("user-1003"));

    // 1001 calls 1003, whose callflow rings the IP device at sip.ip:sip.port.
    let (mut net, mut p1001, _p1002, _carrier) = world_with(
        json!({"cf-1003": {"flow": {"module": "device", "data": {"id": "dev-fax"}}}}),
        vec![
            json!({"_id": "dev-fax", "pvt_type": "device", "owner_id": "user-1003",
                    "sip": {"method": "ip", "ip": "192.0.2.50", "port": 5070}}),
        ],
    );
    p1001.call(&mut net, "1003");
    let to_fax = net.expect(fax.addr, "INVITE to the IP device", is_invite);
    assert_eq!(
        to_fax.request_uri().unwrap().to_string(),
        "sip:1003@192.0.2.50:5070"
    );
}

#[test]
fn a_disabled_user_is_neither_called_nor_able_to_call() {
    let (mut net, mut p1001, mut p1002, _carrier) = world_with(json!({}), vec![]);
    let docs: Vec<(String, Value)> = documents()
        .into_iter()
        .map(|(n, mut d)| {
            if d["_id"] == USER_1002 {
                d["enabled"] = json!(false);
            }
            (n, d)
        })
        .collect();
    net.core
        .set_directory(std::sync::Arc::new(Directory::build(docs).unwrap()));
    p1001.call(&mut net, "1002");
    net.expect_status(p1001.addr, 480);
    assert!(!net.has(p1002.addr, is_invite));
    // Its phone's own call is refused (403 after the challenge).
    let inv = p1002.invite("1001", net.server);
    net.deliver(p1002.addr, &inv);
    let challenge = net.expect_status(p1002.addr, 407);
    let call_id = inv.call_id().unwrap().to_string();
    let mut again = p1002.invite_in("1001", net.server, &call_id);
    p1002.authorize(&mut again, &challenge);
    net.deliver(p1002.addr, &again);
    net.expect_status(p1002.addr, 403);
    assert!(!net.has(p1001.addr, is_invite));
}
