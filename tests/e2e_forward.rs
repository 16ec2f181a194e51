//! End-to-end call forwarding to the PSTN (the seed's "forwarded" case) through the real
//! binary: the example carrier calls the demo DID (+15550100 → user 1001), 1001's user
//! forwards to +15557770002, and the forward goes out through a second carrier (a resource
//! added for the test at 127.0.0.4 whose `rules` take +1555777...). Unconditional forwarding,
//! failover when the phone is not registered and when it does not answer; the CDRs of both
//! legs carry `resource_type` and the end user's direction `forwarded`; the recordings are the
//! ones the seed's matrix gives an offnet -> offnet call.
//!
//! Needs sipp (Debian: sip-tester); `tests/run.sh` installs it.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::callrec::{Callrec, Documents, Options};
use support::cdr::{self, Cdr};
use support::net::{self, CARRIER2_IP};
use support::phones::{first_call_id, phone_1001, Carrier};

const DID: &str = "+15550100";
const FORWARD_TO: &str = "+15557770002";

fn wav_rule() -> Value {
    json!({"enabled": true, "format": "wav", "url": "http://127.0.0.1:8080/recordings/"})
}

/// Adds the second carrier (global, lowest weight, takes only +1555777...) and sets user
/// 1001's `call_forward` and its own recording rule for calls from the PSTN.
fn forwarding(docs: &mut Documents, port: u16, call_forward: Value) {
    docs.add(
        "resource-carrier-2",
        json!({"_id": "carrier-2", "pvt_type": "resource", "name": "Second carrier",
               "gateways": [{"server": CARRIER2_IP.to_string(), "port": port}],
               "origination_cidrs": [format!("{CARRIER2_IP}/32")],
               "rules": ["^\\+1555777"], "weight_cost": 10}),
    );
    let user = docs.owner_of("1001");
    user["call_forward"] = call_forward;
    user["call_recording"] = json!({"inbound": {"offnet": wav_rule()}});
}

fn second_carrier() -> Carrier {
    Carrier {
        addr: net::addr(CARRIER2_IP, net::free_port(CARRIER2_IP)),
        media: net::free_port_pair(CARRIER2_IP),
    }
}

/// Every leg of the interaction whose A leg has Call-ID `call_id`, A first.
fn interaction(cdrs: &[Cdr], call_id: &str) -> Vec<Cdr> {
    let a = cdrs
        .iter()
        .find(|c| c.call_id() == Some(call_id))
        .unwrap_or_else(|| panic!("no CDR with call_id {call_id} in {cdrs:#?}"));
    let mut legs = cdr::by_interaction(cdrs)[a.interaction_id().expect("interaction_id")].clone();
    legs.sort_by_key(|c| c.call_id() != Some(call_id));
    legs
}

/// The forwarded leg (the one to the second carrier) and checks of the seed's forwarded case
/// on it and on the A leg.
fn check_forwarded(callrec: &Callrec, a: &Cdr, fwd: &Cdr) {
    let what = format!("A: {:#}\nforward: {:#}", a.0, fwd.0);
    assert_eq!(a.call_direction(), Some("inbound"), "{what}");
    assert_eq!(a.resource_type(), Some("offnet-origination"), "{what}");
    assert_eq!(fwd.call_direction(), Some("outbound"), "{what}");
    assert_eq!(fwd.resource_type(), Some("offnet-termination"), "{what}");
    assert_eq!(fwd.network(), Some("offnet"), "{what}");
    for leg in [a, fwd] {
        assert_eq!(leg.end_user_direction(), Some("forwarded"), "{what}");
        assert_eq!(
            leg.account_id(),
            Some(callrec.ids.account.as_str()),
            "{what}"
        );
    }
    assert_eq!(
        fwd.owner_id(),
        Some(callrec.ids.owner_1001.as_str()),
        "{what}"
    );
    assert_eq!(
        fwd.authorizing_id(),
        Some(callrec.ids.device_1001.as_str()),
        "{what}"
    );
}

#[test]
fn a_carrier_call_to_a_user_forwarding_unconditionally_reaches_the_second_carrier() {
    let _serial = support::serial();
    let carrier2 = second_carrier();
    let port = carrier2.addr.port();
    let callrec =
        Callrec::start(Options::default().edit(move |docs| {
            forwarding(docs, port, json!({"enabled": true, "number": FORWARD_TO}))
        }));
    let p1 = phone_1001();
    p1.register(&callrec);
    let answers = carrier2.answer(&callrec, 1);
    let caller = Carrier::of(&callrec)
        .call(&callrec, "+14155550123", DID)
        .hold_ms(1000)
        .run();
    caller.assert_ok(1);
    let answered = answers.wait();
    answered.assert_ok(1);
    assert!(
        answered
            .messages
            .contains(&format!("INVITE sip:{FORWARD_TO}@")),
        "the second carrier is asked for the forward number:\n{}",
        answered.messages
    );
    let a_call = first_call_id(&caller.messages).expect("caller's Call-ID");
    let cdrs = callrec.wait_cdrs(2, Duration::from_secs(10));
    let legs = interaction(&cdrs, &a_call);
    assert_eq!(
        legs.len(),
        2,
        "substitute: the phone does not ring: {legs:#?}"
    );
    check_forwarded(&callrec, &legs[0], &legs[1]);
    // Matrix, offnet -> offnet: the account's inbound.offnet on the A leg; the forwarding
    // user's inbound.offnet as the callee endpoint's, on the forwarded leg.
    assert_eq!(
        legs[0].media_recording_origins(),
        ["inbound from offnet to account"]
    );
    assert_eq!(
        legs[1].media_recording_origins(),
        ["inbound from offnet to endpoint"]
    );
}

#[test]
fn failover_forwarding_reaches_the_second_carrier_when_the_phone_is_not_registered() {
    let _serial = support::serial();
    let carrier2 = second_carrier();
    let port = carrier2.addr.port();
    let callrec = Callrec::start(Options::default().edit(move |docs| {
        forwarding(
            docs,
            port,
            json!({"enabled": true, "number": FORWARD_TO, "failover": true}),
        )
    }));
    let answers = carrier2.answer(&callrec, 1);
    let caller = Carrier::of(&callrec)
        .call(&callrec, "+14155550123", DID)
        .hold_ms(500)
        .run();
    caller.assert_ok(1);
    answers.wait().assert_ok(1);
    let a_call = first_call_id(&caller.messages).expect("caller's Call-ID");
    let cdrs = callrec.wait_cdrs(2, Duration::from_secs(10));
    let legs = interaction(&cdrs, &a_call);
    assert_eq!(legs.len(), 2, "{legs:#?}");
    check_forwarded(&callrec, &legs[0], &legs[1]);
}

#[test]
fn failover_forwarding_cancels_the_unanswered_phone_and_re_decides_the_account_rule() {
    let _serial = support::serial();
    let carrier2 = second_carrier();
    let port = carrier2.addr.port();
    let callrec = Callrec::start(Options::default().edit(move |docs| {
        forwarding(
            docs,
            port,
            json!({"enabled": true, "number": FORWARD_TO, "failover": true}),
        );
        // The account records only calls to the PSTN: nothing while the phone rings
        // (offnet -> onnet), its outbound.offnet rule once the forward answers.
        docs.account()["call_recording"] = json!({"account": {"outbound": {"offnet": wav_rule()}}});
        // The DID's callflow rings the user for 3 s (KAZOO's `data.timeout`).
        docs.by_id("callflow-did-15550100")["flow"]["data"]["timeout"] = json!(3);
    }));
    let p1 = phone_1001();
    p1.register(&callrec);
    // ring_uas.xml rings and succeeds only when callrec CANCELs it.
    let phone = p1.answer(&callrec, "ring_uas.xml", 1);
    let answers = carrier2.answer(&callrec, 1);
    let caller = Carrier::of(&callrec)
        .call(&callrec, "+14155550123", DID)
        .hold_ms(1000)
        .run();
    caller.assert_ok(1);
    phone.wait().assert_ok(1);
    answers.wait().assert_ok(1);
    let a_call = first_call_id(&caller.messages).expect("caller's Call-ID");
    let cdrs = callrec.wait_cdrs(3, Duration::from_secs(10));
    let legs = interaction(&cdrs, &a_call);
    assert_eq!(legs.len(), 3, "A, the phone, the forward: {legs:#?}");
    let fwd = legs
        .iter()
        .find(|c| c.resource_type() == Some("offnet-termination"))
        .expect("a forwarded leg");
    let rung = legs
        .iter()
        .skip(1)
        .find(|c| c.resource_type().is_none())
        .expect("the phone's leg");
    check_forwarded(&callrec, &legs[0], fwd);
    assert!(rung.media_recording_origins().is_empty(), "{rung:#?}");
    assert_eq!(
        legs[0].media_recording_origins(),
        ["outbound to offnet from account"],
        "re-decided for the forward's network: {:#}",
        legs[0].0
    );
    assert_eq!(
        fwd.media_recording_origins(),
        ["inbound from offnet to endpoint"]
    );
}
