//! End-to-end: two accounts on one callrec. The demo account of the example configuration
//! (its carrier made its own for the test) and a second account "acme" (realm
//! acme.callrec.local) with the same extensions 1001/1002, its own DID +15550200 and its own
//! carrier at 127.0.0.4. Calls route and record without crossing accounts; a disabled
//! account's phone is refused.
//!
//! Needs sipp (Debian: sip-tester); `tests/run.sh` installs it.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::callrec::{Callrec, Documents, Options};
use support::cdr::{self, Cdr};
use support::net::{self, CARRIER2_IP};
use support::phones::{first_call_id, phone_1001, Carrier, Phone};

const ACME: &str = "acme";
const ACME_DID: &str = "+15550200";

/// The second account, its phones (SIP usernames acme1001/acme1002 on extensions 1001/1002),
/// its DID, its no_match to the carriers and its own carrier; the demo carrier becomes the
/// demo account's own.
fn two_accounts(docs: &mut Documents, acme_carrier_port: u16, acme_enabled: bool) {
    let demo = docs.account_id();
    for r in docs.of_kind(support::callrec::Kind::Resource) {
        r["account_id"] = json!(demo);
    }
    let rule =
        json!({"enabled": true, "format": "wav", "url": "http://127.0.0.1:8080/recordings/"});
    docs.add(
        "account-acme",
        json!({"_id": ACME, "pvt_type": "account", "name": "Acme", "realm": "acme.callrec.local",
               "enabled": acme_enabled,
               "call_recording": {"account": {"inbound": {"offnet": rule.clone()},
                                              "outbound": {"offnet": rule}}}}),
    );
    for ext in ["1001", "1002"] {
        docs.add(
            &format!("user-acme-{ext}"),
            json!({"_id": format!("acme-user-{ext}"), "pvt_type": "user", "account_id": ACME,
                   "first_name": "Acme", "last_name": ext}),
        );
        docs.add(
            &format!("device-acme-{ext}"),
            json!({"_id": format!("acme-device-{ext}"), "pvt_type": "device", "account_id": ACME,
                   "owner_id": format!("acme-user-{ext}"),
                   "sip": {"username": format!("acme{ext}"), "password": format!("acme-pw-{ext}")}}),
        );
    }
    docs.add(
        "callflow-acme-1001",
        json!({"_id": "acme-cf-1001", "pvt_type": "callflow", "account_id": ACME,
               "numbers": ["1001", ACME_DID],
               "flow": {"module": "device", "data": {"id": "acme-device-1001"}}}),
    );
    docs.add(
        "callflow-acme-1002",
        json!({"_id": "acme-cf-1002", "pvt_type": "callflow", "account_id": ACME,
               "numbers": ["1002"],
               "flow": {"module": "device", "data": {"id": "acme-device-1002"}}}),
    );
    docs.add(
        "callflow-acme-no-match",
        json!({"_id": "acme-cf-no-match", "pvt_type": "callflow", "account_id": ACME,
               "numbers": ["no_match"], "flow": {"module": "resources", "data": {}}}),
    );
    docs.add(
        "resource-acme",
        json!({"_id": "acme-carrier", "pvt_type": "resource", "account_id": ACME,
               "name": "Acme's carrier",
               "gateways": [{"server": CARRIER2_IP.to_string(), "port": acme_carrier_port}],
               "origination_cidrs": [format!("{CARRIER2_IP}/32")]}),
    );
}

fn acme_carrier() -> Carrier {
    Carrier {
        addr: net::addr(CARRIER2_IP, net::free_port(CARRIER2_IP)),
        media: net::free_port_pair(CARRIER2_IP),
    }
}

/// Both legs of the interaction whose A leg has Call-ID `call_id`.
fn legs(cdrs: &[Cdr], call_id: &str) -> Vec<Cdr> {
    let a = cdrs
        .iter()
        .find(|c| c.call_id() == Some(call_id))
        .unwrap_or_else(|| panic!("no CDR with call_id {call_id} in {cdrs:#?}"));
    cdr::by_interaction(cdrs)[a.interaction_id().expect("interaction_id")].clone()
}

/// `account_id` anywhere in a spool record.
fn account_of(record: &Value) -> Option<&str> {
    match record {
        Value::Object(m) => m
            .get("account_id")
            .and_then(Value::as_str)
            .or_else(|| m.values().find_map(account_of)),
        _ => None,
    }
}

#[test]
fn two_accounts_with_the_same_extensions_and_their_own_carriers_route_and_record_apart() {
    let _serial = support::serial();
    let acme_carrier = acme_carrier();
    let port = acme_carrier.addr.port();
    let callrec = Callrec::start(Options::default().edit(move |d| two_accounts(d, port, true)));
    let demo_1001 = phone_1001();
    demo_1001.register(&callrec);
    let acme_1001 = Phone::new("acme1001", "acme-pw-1001");
    let acme_1002 = Phone::new("acme1002", "acme-pw-1002");
    acme_1001.register(&callrec);
    acme_1002.register(&callrec);

    // Extension 1001 dialled in acme rings acme's 1001, not the demo's.
    let callee = acme_1001.answer(&callrec, "phone_uas.xml", 1);
    let internal = acme_1002
        .call(&callrec, "1001", "phone_uac.xml")
        .hold_ms(500)
        .run();
    internal.assert_ok(1);
    callee.wait().assert_ok(1);

    // Acme's carrier calls acme's DID: acme's phone, acme's account, acme's recording.
    let callee = acme_1001.answer(&callrec, "phone_uas.xml", 1);
    let inbound = acme_carrier
        .call(&callrec, "+14155550123", ACME_DID)
        .hold_ms(1000)
        .run();
    inbound.assert_ok(1);
    callee.wait().assert_ok(1);

    // Acme's phone calls the PSTN: acme's own carrier takes it, not the demo's.
    let answers = acme_carrier.answer(&callrec, 1);
    let outbound = acme_1001
        .call(&callrec, "+14155550199", "phone_uac.xml")
        .hold_ms(500)
        .run();
    outbound.assert_ok(1);
    answers.wait().assert_ok(1);

    let cdrs = callrec.wait_cdrs(6, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 6, "{cdrs:#?}");
    for c in &cdrs {
        assert_eq!(c.account_id(), Some(ACME), "every leg is acme's: {:#}", c.0);
    }
    let internal = legs(&cdrs, &first_call_id(&internal.messages).expect("Call-ID"));
    assert!(
        internal
            .iter()
            .any(|c| c.authorizing_id() == Some("acme-device-1001")),
        "{internal:#?}"
    );
    let inbound = legs(&cdrs, &first_call_id(&inbound.messages).expect("Call-ID"));
    let origins: Vec<String> = inbound
        .iter()
        .flat_map(|c| c.media_recording_origins())
        .collect();
    assert_eq!(origins, ["inbound from offnet to account"], "{inbound:#?}");
    let outbound = legs(&cdrs, &first_call_id(&outbound.messages).expect("Call-ID"));
    assert!(
        outbound
            .iter()
            .any(|c| c.authorizing_id() == Some("acme-carrier")),
        "acme's carrier took the call: {outbound:#?}"
    );
    // Every recording of these calls is acme's (the demo's rules would also record them).
    let records = callrec.spool_records();
    assert_eq!(records.len(), 2, "{records:#?}");
    for r in &records {
        assert_eq!(account_of(r), Some(ACME), "{r:#}");
    }
}

#[test]
fn a_disabled_accounts_phone_is_refused_while_the_other_account_works() {
    let _serial = support::serial();
    let port = acme_carrier().addr.port();
    let callrec = Callrec::start(Options::default().edit(move |d| two_accounts(d, port, false)));
    let acme_1001 = Phone::new("acme1001", "acme-pw-1001");
    let refused = acme_1001.register_with(&callrec, "acme-pw-1001");
    assert!(
        !refused.status.success() && refused.messages.contains("SIP/2.0 403"),
        "a disabled account's phone cannot register:\n{}",
        refused.messages
    );
    phone_1001().register(&callrec);
}
