//! End-to-end calls through a real callrec process on the example configuration: phones
//! register with digest auth, calls in all three directions succeed, and the CDRs carry the tags
//! that the seed's tables imply; cancel, busy and hold/resume work through the B2BUA.
//!
//! Needs sipp (Debian: sip-tester); `tests/run.sh` installs it.

mod support;

use std::time::Duration;

use support::callrec::{Callrec, Options};
use support::cdr::{self, Cdr};
use support::phones::{first_call_id, phone_1001, phone_1002, Carrier};

/// The seed's expectations for one leg: call_direction, the leg's network (where its peer is:
/// a phone = onnet, a carrier = offnet), resource_type, and the end user's direction of the call.
struct LegTags {
    call_direction: &'static str,
    network: &'static str,
    resource_type: Option<&'static str>,
    end_user_direction: &'static str,
}

/// Call type -> (A leg, B leg), from the seed's "Interpreting call recordings and call direction".
const TABLE: [(&str, LegTags, LegTags); 3] = [
    (
        "phone to phone",
        LegTags {
            call_direction: "inbound",
            network: "onnet",
            resource_type: None,
            end_user_direction: "internal",
        },
        LegTags {
            call_direction: "outbound",
            network: "onnet",
            resource_type: None,
            end_user_direction: "internal",
        },
    ),
    (
        "phone to carrier",
        LegTags {
            call_direction: "inbound",
            network: "onnet",
            resource_type: None,
            end_user_direction: "outbound",
        },
        LegTags {
            call_direction: "outbound",
            network: "offnet",
            resource_type: Some("offnet-termination"),
            end_user_direction: "outbound",
        },
    ),
    (
        "carrier to phone",
        LegTags {
            call_direction: "inbound",
            network: "offnet",
            resource_type: Some("offnet-origination"),
            end_user_direction: "inbound",
        },
        LegTags {
            call_direction: "outbound",
            network: "onnet",
            resource_type: None,
            end_user_direction: "inbound",
        },
    ),
];

/// The two legs of the interaction whose A leg has SIP Call-ID `call_id`.
fn legs_of(cdrs: &[Cdr], call_id: &str) -> (Cdr, Cdr) {
    let a = cdrs
        .iter()
        .find(|c| c.call_id() == Some(call_id))
        .unwrap_or_else(|| panic!("no CDR with call_id {call_id} in {cdrs:#?}"));
    let interaction = a.interaction_id().expect("A leg has an interaction_id");
    let legs = &cdr::by_interaction(cdrs)[interaction];
    assert_eq!(
        legs.len(),
        2,
        "interaction {interaction} has {} legs: {legs:#?}",
        legs.len()
    );
    let b = legs
        .iter()
        .find(|c| c.call_id() != Some(call_id))
        .expect("B leg");
    (a.clone(), b.clone())
}

/// Checks one leg against the table; `account` None leaves account_id to another test.
fn check_leg(
    call: &str,
    leg: &str,
    cdr: &Cdr,
    want: &LegTags,
    owner: Option<&str>,
    account: Option<&str>,
) {
    let what = format!("{call}, {leg} leg ({} network): {:#}", want.network, cdr.0);
    assert_eq!(cdr.network(), Some(want.network), "network, {what}");
    assert_eq!(
        cdr.call_direction(),
        Some(want.call_direction),
        "call_direction, {what}"
    );
    assert_eq!(
        cdr.resource_type(),
        want.resource_type,
        "resource_type, {what}"
    );
    assert_eq!(
        cdr.end_user_direction(),
        Some(want.end_user_direction),
        "end user direction, {what}"
    );
    if let Some(account) = account {
        assert_eq!(cdr.account_id(), Some(account), "account_id, {what}");
    }
    if let Some(owner) = owner {
        assert_eq!(cdr.owner_id(), Some(owner), "owner_id, {what}");
    }
}

#[test]
fn both_phones_register_with_digest_authentication() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default());
    phone_1001().register(&callrec);
    phone_1002().register(&callrec);
}

#[test]
fn calls_in_all_three_directions_succeed_and_their_cdrs_carry_the_seeds_tags() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default());
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    p2.register(&callrec);
    let carrier = Carrier::of(&callrec);

    // phone to phone: 1001 dials 1002
    let callee = p2.answer(&callrec, "phone_uas.xml", 1);
    let caller = p1
        .call(&callrec, "1002", "phone_uac.xml")
        .hold_ms(1000)
        .run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
    let p2p = first_call_id(&caller.messages).expect("caller's Call-ID");

    // phone to carrier: 1001 dials an offnet number
    let answering = carrier.answer(&callrec, 1);
    let caller = p1
        .call(&callrec, "+15559990000", "phone_uac.xml")
        .hold_ms(1000)
        .run();
    caller.assert_ok(1);
    answering.wait().assert_ok(1);
    let p2c = first_call_id(&caller.messages).expect("caller's Call-ID");

    // carrier to phone: the PSTN calls the DID +15550100, which rings user 1001
    let callee = p1.answer(&callrec, "phone_uas.xml", 1);
    let caller = carrier
        .call(&callrec, "+15557770001", "+15550100")
        .hold_ms(1000)
        .run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
    let c2p = first_call_id(&caller.messages).expect("carrier's Call-ID");

    let cdrs = callrec.wait_cdrs(6, Duration::from_secs(10));
    let ids = callrec.ids.clone();
    let owners = [
        (Some(ids.owner_1001.as_str()), Some(ids.owner_1002.as_str())),
        (Some(ids.owner_1001.as_str()), None),
        (None, Some(ids.owner_1001.as_str())),
    ];
    for (((call, a_want, b_want), call_id), (a_owner, b_owner)) in
        TABLE.iter().zip([&p2p, &p2c, &c2p]).zip(owners)
    {
        let (a, b) = legs_of(&cdrs, call_id);
        // the carrier's call is attributed to the account by its DID: checked, with its
        // recording, by a_carrier_call_to_the_did_belongs_to_the_account_and_is_recorded
        if *call == "carrier to phone" {
            check_leg(call, "A", &a, a_want, a_owner, None);
            check_leg(call, "B", &b, b_want, b_owner, None);
            continue;
        }
        check_leg(call, "A", &a, a_want, a_owner, Some(&ids.account));
        check_leg(call, "B", &b, b_want, b_owner, Some(&ids.account));
        // The example account records calls from and to carriers (account rules, offnet only):
        // one recording per offnet call, none for the internal call.
        let recorded = [&a, &b]
            .iter()
            .filter(|l| l.media_recording_id().is_some())
            .count();
        let expected = usize::from(*call != "phone to phone");
        assert_eq!(
            recorded, expected,
            "{call}: legs with media_recording_id: {a:#?} {b:#?}"
        );
    }
    assert_eq!(cdrs.len(), 6, "one CDR per leg, 3 calls: {cdrs:#?}");
}

#[test]
fn a_carrier_call_to_the_did_belongs_to_the_account_and_is_recorded() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default());
    let p1 = phone_1001();
    p1.register(&callrec);
    let carrier = Carrier::of(&callrec);
    let callee = p1.answer(&callrec, "phone_uas.xml", 1);
    let caller = carrier
        .call(&callrec, "+15557770001", "+15550100")
        .hold_ms(1000)
        .run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
    let c2p = first_call_id(&caller.messages).expect("carrier's Call-ID");
    let cdrs = callrec.wait_cdrs(2, Duration::from_secs(10));
    let (a, b) = legs_of(&cdrs, &c2p);
    let (_, a_want, b_want) = &TABLE[2];
    let account = Some(callrec.ids.account.as_str());
    check_leg("carrier to phone", "A", &a, a_want, None, account);
    check_leg(
        "carrier to phone",
        "B",
        &b,
        b_want,
        Some(&callrec.ids.owner_1001),
        account,
    );
    let origins: Vec<String> = [&a, &b]
        .iter()
        .flat_map(|l| l.media_recording_origins())
        .collect();
    assert_eq!(
        origins,
        ["inbound from offnet to account"],
        "the account's inbound offnet rule records the call once: {a:#?} {b:#?}"
    );
}

#[test]
fn a_call_cancelled_while_ringing_ends_with_487_on_both_sides() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default());
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    p2.register(&callrec);
    let callee = p2.answer(&callrec, "ring_uas.xml", 1);
    // cancel_uac.xml rings for -d ms after the 180, then CANCELs and expects 200 + 487
    p1.call(&callrec, "1002", "cancel_uac.xml")
        .hold_ms(1000)
        .run()
        .assert_ok(1);
    // ring_uas.xml succeeds only if callrec CANCELs the B leg and ACKs its 487
    callee.wait().assert_ok(1);
}

#[test]
fn a_busy_callee_gives_the_caller_486() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default());
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    p2.register(&callrec);
    let callee = p2.answer(&callrec, "busy_uas.xml", 1);
    p1.call(&callrec, "1002", "busy_uac.xml").run().assert_ok(1);
    callee.wait().assert_ok(1);
}

#[test]
fn hold_and_resume_reinvites_reach_the_other_phone_and_the_call_continues() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default());
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    p2.register(&callrec);
    let callee = p2.answer(&callrec, "phone_uas.xml", 1);
    // hold_uac.xml fails unless the answer to a=sendonly says a=recvonly or a=inactive
    p1.call(&callrec, "1002", "hold_uac.xml")
        .hold_ms(500)
        .run()
        .assert_ok(1);
    let callee = callee.wait();
    callee.assert_ok(1);
    // the callee saw both re-INVITEs: hold and resume
    let invites = callee.messages.matches("\nINVITE sip:").count()
        + usize::from(callee.messages.starts_with("INVITE sip:"));
    assert!(
        invites >= 3,
        "callee saw {invites} INVITEs (expected initial + hold + resume)"
    );
    assert!(
        callee.messages.contains("a=sendonly"),
        "the hold offer reached the callee"
    );
}
