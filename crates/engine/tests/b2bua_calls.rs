//! The B2BUA core end to end over a fake network: registered phones 1001/1002 (and a second
//! device of 1002's user), a carrier with two gateways, scripted peers exchanging the
//! transaction layer's transmissions as parsed messages, a fake clock, no sleeps.

mod support;

use std::time::Duration;

use callrec_engine::b2bua::{
    CallDirection, CallEvent, CdrFacts, EndUserDirection, HangupCause, LegId, Network, ResourceType,
};
use callrec_sip::message::{HeaderName, Message, Method};
use support::phone::{Dialog, Phone};
use support::{sdp, Net};

use support::world::*;

/// The CDR facts of every `LegEnded` so far, by leg.
fn cdrs(net: &Net) -> Vec<(LegId, CdrFacts)> {
    net.events
        .iter()
        .filter_map(|e| match e {
            CallEvent::LegEnded { leg, cdr, .. } => Some((*leg, (**cdr).clone())),
            _ => None,
        })
        .collect()
}

fn cdr_of(net: &Net, leg: LegId) -> CdrFacts {
    cdrs(net)
        .into_iter()
        .find(|(l, _)| *l == leg)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("no CDR for leg {leg}: {:?}", net.events))
}

fn call_ended(net: &Net) -> bool {
    net.events
        .iter()
        .any(|e| matches!(e, CallEvent::CallEnded { .. }))
}

fn b_invites_sent(net: &Net) -> usize {
    net.events
        .iter()
        .filter(|e| matches!(e, CallEvent::LegStarted { leg, .. } if !leg.leg.is_a()))
        .count()
}

/// 1001 calls 1002 and 1002 answers. Returns the A dialog (1001's view), the B dialog
/// (1002's view), the INVITE 1002 got.
fn answered_call(net: &mut Net, p1001: &mut Phone, p1002: &mut Phone) -> (Dialog, Dialog, Message) {
    let a_invite = p1001.call(net, "1002");
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    net.deliver(
        p1002.addr,
        &p1002.respond(&b_invite, 180, "Ringing", "b-tag"),
    );
    net.expect_status(p1001.addr, 180);
    net.deliver(p1002.addr, &p1002.answer(&b_invite, "b-tag"));
    net.expect_request(p1002.addr, "ACK");
    let ok = net.expect_status(p1001.addr, 200);
    let mut a = Phone::uac_dialog(&a_invite, &ok);
    let ack = p1001.in_dialog(&mut a, Method::Ack);
    net.deliver(p1001.addr, &ack);
    let b = Phone::uas_dialog(&b_invite, "b-tag");
    (a, b, b_invite)
}

#[test]
fn phone_calls_phone_through_challenge_ring_answer_and_bye_with_cdr_facts_for_both_legs() {
    let (mut net, mut p1001, mut p1002, _) = world();
    let (mut a, _b, b_invite) = answered_call(&mut net, &mut p1001, &mut p1002);
    assert!(
        b_invite.body().len() > 10,
        "the B leg INVITE carries the offer"
    );

    let bye = p1001.in_dialog(&mut a, Method::Bye);
    net.deliver(p1001.addr, &bye);
    net.expect_status(p1001.addr, 200);
    let bye_b = net.expect_request(p1002.addr, "BYE");
    net.deliver(p1002.addr, &p1002.respond(&bye_b, 200, "OK", "b-tag"));
    assert!(call_ended(&net), "{:?}", net.events);

    let order: Vec<&str> = net
        .events
        .iter()
        .map(|e| match e {
            CallEvent::LegStarted { .. } => "started",
            CallEvent::LegRinging { .. } => "ringing",
            CallEvent::LegAnswered { .. } => "answered",
            CallEvent::Bridged { .. } => "bridged",
            CallEvent::RecordCall { .. } => "record_call",
            CallEvent::RecordCaller { .. } => "record_caller",
            CallEvent::Hold { .. } => "hold",
            CallEvent::Unhold { .. } => "unhold",
            CallEvent::LegEnded { .. } => "ended",
            CallEvent::CallEnded { .. } => "call_ended",
        })
        .collect();
    assert_eq!(
        order,
        [
            "started",
            "record_call",
            "started",
            "ringing",
            "answered",
            "answered",
            "bridged",
            "ended",
            "ended",
            "call_ended"
        ]
    );

    // Seed: "A call from a registered device to a device": no resource_type on either leg.
    let a_cdr = cdr_of(&net, LegId::A);
    assert_eq!(a_cdr.call_direction, CallDirection::Inbound);
    assert_eq!(a_cdr.network, Network::Onnet);
    assert_eq!(a_cdr.resource_type, None);
    assert_eq!(a_cdr.authorizing_id.as_deref(), Some(DEV_1001));
    assert_eq!(a_cdr.owner_id.as_deref(), Some(USER_1001));
    assert_eq!(a_cdr.hangup_cause, HangupCause::NormalClearing);
    assert!(a_cdr.answered.is_some());
    let b_cdr = cdr_of(&net, LegId(1));
    assert_eq!(b_cdr.call_direction, CallDirection::Outbound);
    assert_eq!(b_cdr.network, Network::Onnet);
    assert_eq!(b_cdr.resource_type, None);
    assert_eq!(b_cdr.authorizing_id.as_deref(), Some(DEV_1002));
    assert_eq!(b_cdr.owner_id.as_deref(), Some(USER_1002));
    assert_eq!(b_cdr.hangup_cause, HangupCause::NormalClearing);
    assert_eq!(b_cdr.interaction_id, a_cdr.interaction_id);
    assert!(b_cdr.interaction_id.starts_with("63900000000-"));
    assert_eq!(b_cdr.a_leg_call_id, a_cdr.call_id);
    assert_ne!(b_cdr.call_id, a_cdr.call_id);
    for c in [&a_cdr, &b_cdr] {
        assert_eq!(c.end_user_direction, EndUserDirection::Internal);
        assert_eq!(c.account_id.as_deref(), Some(ACCOUNT));
    }
    assert_eq!(net.core.call_count(), 0);
}

#[test]
fn the_b_leg_carries_nothing_of_the_a_legs_call_id_tags_or_via() {
    let (mut net, mut p1001, p1002, _) = world();
    let a_invite = p1001.call(&mut net, "1002");
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    let a_from_tag = a_invite.from().unwrap().tag().unwrap().to_owned();
    let a_branch = a_invite.top_via().unwrap().branch().unwrap().to_owned();
    assert_ne!(b_invite.call_id().unwrap(), a_invite.call_id().unwrap());
    assert_ne!(b_invite.from().unwrap().tag().unwrap(), a_from_tag);
    assert!(b_invite.to().unwrap().tag().is_none());
    let vias = b_invite.vias().unwrap();
    assert_eq!(vias.len(), 1, "only our Via");
    assert_ne!(vias[0].branch().unwrap(), a_branch);
    assert_eq!(vias[0].host, "10.0.0.1");
    let text = String::from_utf8_lossy(&b_invite.to_bytes()).into_owned();
    assert!(!text.contains(&a_from_tag), "A's From tag leaked: {text}");
    assert!(
        !text.contains(&a_invite.call_id().unwrap()),
        "A's Call-ID leaked"
    );
    assert!(!text.contains(&a_branch), "A's branch leaked");
    // The Request-URI is 1002's registered Contact; From shows 1001's caller id.
    assert_eq!(
        b_invite.request_uri().unwrap().to_string(),
        format!("sip:1002@{}", p1002.addr)
    );
    assert_eq!(b_invite.from().unwrap().uri.user(), Some("1001"));
    let contact = b_invite.header(HeaderName::Contact).unwrap().into_owned();
    assert!(contact.contains("10.0.0.1:5060"), "our Contact: {contact}");
}

#[test]
fn caller_cancel_before_answer_gets_487_and_the_callee_gets_cancel() {
    let (mut net, mut p1001, p1002, _) = world();
    let a_invite = p1001.call(&mut net, "1002");
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    net.deliver(
        p1002.addr,
        &p1002.respond(&b_invite, 180, "Ringing", "b-tag"),
    );
    net.expect_status(p1001.addr, 180);

    let mut cancel = Message::request(Method::Cancel, a_invite.request_uri().unwrap().clone());
    for h in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
    ] {
        cancel.push_header(h.clone(), a_invite.header(h).unwrap());
    }
    cancel.push_header(
        HeaderName::CSeq,
        format!("{} CANCEL", a_invite.cseq().unwrap().seq),
    );
    cancel.push_header(HeaderName::MaxForwards, "70");
    net.deliver(p1001.addr, &cancel);
    let responses = net.take(p1001.addr);
    assert!(responses
        .iter()
        .any(|m| m.status() == Some(200) && m.cseq().unwrap().method == Method::Cancel));
    assert!(responses
        .iter()
        .any(|m| m.status() == Some(487) && m.cseq().unwrap().method == Method::Invite));

    let cancel_b = net.expect_request(p1002.addr, "CANCEL");
    assert_eq!(cancel_b.call_id().unwrap(), b_invite.call_id().unwrap());
    net.deliver(p1002.addr, &p1002.respond(&cancel_b, 200, "OK", "b-tag"));
    net.deliver(
        p1002.addr,
        &p1002.respond(&b_invite, 487, "Request Terminated", "b-tag"),
    );
    net.expect_request(p1002.addr, "ACK");
    assert!(call_ended(&net));
    assert_eq!(
        cdr_of(&net, LegId::A).hangup_cause,
        HangupCause::OriginatorCancel
    );
    assert_eq!(
        cdr_of(&net, LegId(1)).hangup_cause,
        HangupCause::OriginatorCancel
    );
}

#[test]
fn a_busy_callee_is_relayed_as_486() {
    let (mut net, mut p1001, p1002, _) = world();
    p1001.call(&mut net, "1002");
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    net.deliver(
        p1002.addr,
        &p1002.respond(&b_invite, 486, "Busy Here", "b-tag"),
    );
    net.expect_status(p1001.addr, 486);
    assert!(call_ended(&net));
    assert_eq!(cdr_of(&net, LegId::A).hangup_cause, HangupCause::UserBusy);
    assert_eq!(cdr_of(&net, LegId(1)).hangup_cause, HangupCause::UserBusy);
    assert_eq!(cdr_of(&net, LegId(1)).hangup_code, Some(486));
}

#[test]
fn an_unregistered_callee_gets_480_and_no_b_leg() {
    let (mut net, mut p1001, _p1002, _) = world();
    p1001.call(&mut net, "1003");
    net.expect_status(p1001.addr, 480);
    assert_eq!(b_invites_sent(&net), 0);
    assert!(call_ended(&net));
}

#[test]
fn a_user_with_two_devices_rings_both_and_the_first_answer_wins() {
    let (mut net, mut p1001, p1002, _) = world();
    let mut desk = world_second_device(&mut net);
    p1001.call(&mut net, "1002");
    let inv_phone = net.expect_request(p1002.addr, "INVITE");
    let inv_desk = net.expect_request(desk.addr, "INVITE");
    assert_ne!(inv_phone.call_id().unwrap(), inv_desk.call_id().unwrap());
    net.deliver(p1002.addr, &p1002.respond(&inv_phone, 180, "Ringing", "t1"));
    net.deliver(desk.addr, &desk.respond(&inv_desk, 180, "Ringing", "t2"));
    net.deliver(desk.addr, &desk.answer(&inv_desk, "t2"));
    net.expect_request(desk.addr, "ACK");
    net.expect_status(p1001.addr, 200);
    let cancel = net.expect_request(p1002.addr, "CANCEL");
    assert_eq!(cancel.call_id().unwrap(), inv_phone.call_id().unwrap());
    net.deliver(p1002.addr, &p1002.respond(&cancel, 200, "OK", "t1"));
    net.deliver(
        p1002.addr,
        &p1002.respond(&inv_phone, 487, "Request Terminated", "t1"),
    );
    let loser = cdrs(&net);
    assert_eq!(loser.len(), 1, "only the cancelled fork ended");
    assert_eq!(loser[0].1.hangup_cause, HangupCause::LoseRace);
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, CallEvent::Bridged { b, .. } if *b == LegId(2))));
    let _ = &mut desk;
}

#[test]
fn a_call_to_the_pstn_fails_over_to_the_second_gateway_on_503() {
    let (mut net, mut p1001, _p1002, carrier) = world();
    p1001.call(&mut net, "15551230000");
    let inv1 = net.expect_request(carrier.gw1.addr, "INVITE");
    assert_eq!(
        inv1.request_uri().unwrap().to_string(),
        format!("sip:15551230000@{}", carrier.gw1.addr)
    );
    net.deliver(
        carrier.gw1.addr,
        &carrier.gw1.respond(&inv1, 503, "Service Unavailable", "g1"),
    );
    net.expect_request(carrier.gw1.addr, "ACK");
    let inv2 = net.expect_request(carrier.gw2.addr, "INVITE");
    assert_ne!(inv2.call_id().unwrap(), inv1.call_id().unwrap());
    net.deliver(carrier.gw2.addr, &carrier.gw2.answer(&inv2, "g2"));
    net.expect_status(p1001.addr, 200);
    let b1 = cdr_of(&net, LegId(1));
    assert_eq!(b1.hangup_code, Some(503));
    // Seed: "A call from a registered device to the PSTN": B leg offnet-termination.
    let started: Vec<_> = net
        .events
        .iter()
        .filter_map(|e| match e {
            CallEvent::LegStarted { leg, .. } => Some(leg.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 3);
    assert_eq!(started[0].tags.resource_type, None);
    assert_eq!(
        started[2].tags.resource_type,
        Some(ResourceType::OffnetTermination)
    );
    assert_eq!(started[2].tags.network, Network::Offnet);
    assert_eq!(b1.end_user_direction, EndUserDirection::Outbound);
}

#[test]
fn when_every_gateway_fails_the_caller_gets_503() {
    let (mut net, mut p1001, _p1002, carrier) = world();
    p1001.call(&mut net, "15551230000");
    let inv1 = net.expect_request(carrier.gw1.addr, "INVITE");
    net.deliver(
        carrier.gw1.addr,
        &carrier.gw1.respond(&inv1, 500, "Oops", "g1"),
    );
    let inv2 = net.expect_request(carrier.gw2.addr, "INVITE");
    net.deliver(
        carrier.gw2.addr,
        &carrier.gw2.respond(&inv2, 503, "Busy", "g2"),
    );
    net.expect_status(p1001.addr, 503);
    assert!(call_ended(&net));
}

#[test]
fn a_silent_gateway_is_abandoned_for_the_next_one() {
    let (mut net, mut p1001, _p1002, carrier) = world();
    p1001.call(&mut net, "15551230000");
    net.expect_request(carrier.gw1.addr, "INVITE");
    net.advance(Duration::from_secs(9));
    net.expect_request(carrier.gw2.addr, "INVITE");
}

#[test]
fn a_call_from_the_carrier_to_a_phone_is_offnet_origination_and_inbound_for_the_user() {
    let (mut net, _p1001, p1002, mut carrier) = world();
    let inv = carrier.gw1.invite("1002", net.server);
    net.deliver(carrier.gw1.addr, &inv);
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    net.deliver(p1002.addr, &p1002.answer(&b_invite, "b"));
    let ok = net.expect_status(carrier.gw1.addr, 200);
    let mut d = Phone::uac_dialog(&inv, &ok);
    let ack = carrier.gw1.in_dialog(&mut d, Method::Ack);
    net.deliver(carrier.gw1.addr, &ack);
    let bye = carrier.gw1.in_dialog(&mut d, Method::Bye);
    net.deliver(carrier.gw1.addr, &bye);
    let bye_b = net.expect_request(p1002.addr, "BYE");
    net.deliver(p1002.addr, &p1002.respond(&bye_b, 200, "OK", "b"));
    // Seed: "A call in from the PSTN to a registered device".
    let a = cdr_of(&net, LegId::A);
    assert_eq!(a.call_direction, CallDirection::Inbound);
    assert_eq!(a.resource_type, Some(ResourceType::OffnetOrigination));
    assert_eq!(a.network, Network::Offnet);
    let b = cdr_of(&net, LegId(1));
    assert_eq!(b.call_direction, CallDirection::Outbound);
    assert_eq!(b.resource_type, None);
    assert_eq!(a.end_user_direction, EndUserDirection::Inbound);
    assert_eq!(b.end_user_direction, EndUserDirection::Inbound);
}

#[test]
fn an_offnet_number_from_a_stranger_without_credentials_gets_407_and_no_b_leg() {
    let (mut net, _p1001, _p1002, carrier) = world();
    let mut stranger = Phone::new("evil", "", "example.com", "192.0.2.66:5060");
    let inv = stranger.invite("15551230000", net.server);
    net.deliver(stranger.addr, &inv);
    net.expect_status(stranger.addr, 407);
    assert_eq!(b_invites_sent(&net), 0);
    assert!(!net.has(carrier.gw1.addr, |_| true));
    assert!(!net.has(carrier.gw2.addr, |_| true));
    assert_eq!(net.core.call_count(), 0);
}

#[test]
fn a_wrong_password_gets_403_and_no_b_leg() {
    let (mut net, _p1001, _p1002, carrier) = world();
    let mut liar = Phone::new("1001", "wrong", DOMAIN, "192.0.2.67:5060");
    liar.call(&mut net, "15551230000");
    net.expect_status(liar.addr, 403);
    assert_eq!(b_invites_sent(&net), 0);
    assert!(!net.has(carrier.gw1.addr, |_| true));
}

#[test]
fn a_re_invite_putting_the_call_on_hold_is_relayed_with_a_hold_event() {
    let (mut net, mut p1001, mut p1002, _) = world();
    let (mut a, _b, _) = answered_call(&mut net, &mut p1001, &mut p1002);
    let mut reinvite = p1001.in_dialog(&mut a, Method::Invite);
    reinvite.set_body("application/sdp", sdp("192.0.2.1", 20000, Some("sendonly")));
    net.deliver(p1001.addr, &reinvite);
    let relayed = net.expect_request(p1002.addr, "INVITE");
    assert!(
        relayed.to().unwrap().tag().is_some(),
        "in-dialog on the B leg"
    );
    assert!(String::from_utf8_lossy(relayed.body()).contains("a=sendonly"));
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, CallEvent::Hold { leg, .. } if leg.is_a())));
    let mut ok = p1002.respond(&relayed, 200, "OK", "b-tag");
    ok.set_body("application/sdp", sdp("192.0.2.2", 30000, Some("recvonly")));
    net.deliver(p1002.addr, &ok);
    net.expect_request(p1002.addr, "ACK");
    let ok_a = net.expect_status(p1001.addr, 200);
    assert!(String::from_utf8_lossy(ok_a.body()).contains("a=recvonly"));
    // Unhold.
    let mut again = p1001.in_dialog(&mut a, Method::Invite);
    again.set_body("application/sdp", sdp("192.0.2.1", 20000, Some("sendrecv")));
    net.deliver(p1001.addr, &again);
    net.expect_request(p1002.addr, "INVITE");
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, CallEvent::Unhold { leg, .. } if leg.is_a())));
}

#[test]
fn the_callee_hanging_up_sends_bye_to_the_caller() {
    let (mut net, mut p1001, mut p1002, _) = world();
    let (_a, mut b, _) = answered_call(&mut net, &mut p1001, &mut p1002);
    let bye = p1002.in_dialog(&mut b, Method::Bye);
    net.deliver(p1002.addr, &bye);
    net.expect_status(p1002.addr, 200);
    let bye_a = net.expect_request(p1001.addr, "BYE");
    net.deliver(p1001.addr, &p1001.respond(&bye_a, 200, "OK", "x"));
    assert!(call_ended(&net));
}

#[test]
fn nobody_answering_for_sixty_seconds_ends_the_call_with_no_answer() {
    let (mut net, mut p1001, p1002, _) = world();
    p1001.call(&mut net, "1002");
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    net.deliver(p1002.addr, &p1002.respond(&b_invite, 180, "Ringing", "b"));
    net.advance(Duration::from_secs(61));
    net.expect_status(p1001.addr, 480);
    net.expect_request(p1002.addr, "CANCEL");
    assert_eq!(cdr_of(&net, LegId::A).hangup_cause, HangupCause::NoAnswer);
}

#[test]
fn options_unknown_methods_hop_limits_and_strangers_to_dialogs_get_their_answers() {
    let (mut net, mut p1001, _p1002, _) = world();
    let mut opt = p1001.invite("1002", net.server);
    let mut d = Dialog {
        call_id: "opt-1".into(),
        local: "<sip:1001@example.com>;tag=o1".into(),
        remote: "<sip:callrec@example.com>".into(),
        remote_target: opt.request_uri().unwrap().clone(),
        cseq: 1,
    };
    let options = p1001.in_dialog(&mut d, Method::Options);
    net.deliver(p1001.addr, &options);
    let ok = net.expect_status(p1001.addr, 200);
    assert!(ok.allow().iter().any(|m| m == "INVITE"));
    assert!(ok.accept().iter().any(|m| m == "application/sdp"));

    let other = p1001.in_dialog(&mut d, Method::Other("FROB".into()));
    net.deliver(p1001.addr, &other);
    net.expect_status(p1001.addr, 501);

    opt.set_header(HeaderName::MaxForwards, "0");
    net.deliver(p1001.addr, &opt);
    net.expect_status(p1001.addr, 483);

    d.remote = "<sip:callrec@example.com>;tag=nosuch".into();
    let bye = p1001.in_dialog(&mut d, Method::Bye);
    net.deliver(p1001.addr, &bye);
    net.expect_status(p1001.addr, 481);
}

#[test]
fn an_invite_coming_back_to_us_is_a_loop() {
    let (mut net, mut p1001, p1002, _) = world();
    p1001.call(&mut net, "1002");
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    // 1002 is a proxy that sends our own INVITE back to us with its Via on top.
    let mut looped = b_invite.clone();
    looped.push_header_top(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKloop1", p1002.addr),
    );
    net.deliver(p1002.addr, &looped);
    net.expect_status(p1002.addr, 482);
}

#[test]
fn record_caller_is_answered_by_callrec_itself() {
    let (mut net, mut p1001, _p1002, _) = world();
    let inv = p1001.call(&mut net, RECORD_CALLER_NUMBER);
    let ok = net.expect_status(p1001.addr, 200);
    assert!(!ok.body().is_empty());
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, CallEvent::RecordCaller { .. })));
    assert_eq!(b_invites_sent(&net), 0);
    let mut d = Phone::uac_dialog(&inv, &ok);
    let ack = p1001.in_dialog(&mut d, Method::Ack);
    net.deliver(p1001.addr, &ack);
    let call = net
        .events
        .iter()
        .find_map(|e| match e {
            CallEvent::RecordCaller { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap();
    let now = net.now;
    net.core.hangup(
        now,
        call,
        HangupCause::AllottedTimeout,
        &mut net.txl,
        &mut *net.media,
    );
    net.pump();
    let bye = net.expect_request(p1001.addr, "BYE");
    net.deliver(p1001.addr, &p1001.respond(&bye, 200, "OK", "x"));
    assert!(call_ended(&net));
    assert_eq!(
        cdr_of(&net, LegId::A).hangup_cause,
        HangupCause::AllottedTimeout
    );
}

#[test]
fn a_lost_ack_makes_us_retransmit_the_2xx() {
    let (mut net, mut p1001, p1002, _) = world();
    p1001.call(&mut net, "1002");
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    net.deliver(p1002.addr, &p1002.answer(&b_invite, "b"));
    net.expect_status(p1001.addr, 200);
    net.advance(Duration::from_millis(600));
    net.expect_status(p1001.addr, 200);
}

#[test]
fn a_retransmitted_2xx_from_the_callee_is_acked_again() {
    let (mut net, mut p1001, mut p1002, _) = world();
    let (_a, _b, b_invite) = answered_call(&mut net, &mut p1001, &mut p1002);
    net.take(p1002.addr);
    net.deliver(p1002.addr, &p1002.answer(&b_invite, "b-tag"));
    let ack = net.expect_request(p1002.addr, "ACK");
    assert_eq!(ack.call_id().unwrap(), b_invite.call_id().unwrap());
    assert_eq!(ack.cseq().unwrap().seq, b_invite.cseq().unwrap().seq);
}

#[test]
fn an_update_from_the_callee_is_relayed_to_the_caller_and_answered_back() {
    let (mut net, mut p1001, mut p1002, _) = world();
    let (_a, mut b, _) = answered_call(&mut net, &mut p1001, &mut p1002);
    let mut update = p1002.in_dialog(&mut b, Method::Update);
    update.set_body("application/sdp", sdp("192.0.2.2", 30002, Some("inactive")));
    net.deliver(p1002.addr, &update);
    let relayed = net.expect_request(p1001.addr, "UPDATE");
    assert!(String::from_utf8_lossy(relayed.body()).contains("a=inactive"));
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, CallEvent::Hold { leg, .. } if *leg == LegId(1))));
    let mut ok = p1001.respond(&relayed, 200, "OK", "x");
    ok.set_body("application/sdp", sdp("192.0.2.1", 20002, Some("inactive")));
    net.deliver(p1001.addr, &ok);
    let back = net.expect_status(p1002.addr, 200);
    assert_eq!(back.cseq().unwrap().method, Method::Update);
    assert_eq!(back.call_id().unwrap(), b.call_id);
}

#[test]
fn a_re_invite_while_another_is_pending_gets_491() {
    let (mut net, mut p1001, mut p1002, _) = world();
    let (mut a, mut b, _) = answered_call(&mut net, &mut p1001, &mut p1002);
    let mut first = p1001.in_dialog(&mut a, Method::Invite);
    first.set_body("application/sdp", sdp("192.0.2.1", 20000, None));
    net.deliver(p1001.addr, &first);
    net.expect_request(p1002.addr, "INVITE");
    let mut glare = p1002.in_dialog(&mut b, Method::Invite);
    glare.set_body("application/sdp", sdp("192.0.2.2", 30000, None));
    net.deliver(p1002.addr, &glare);
    net.expect_status(p1002.addr, 491);
}

#[test]
fn a_directory_reload_keeps_calls_in_progress() {
    let (mut net, mut p1001, mut p1002, _) = world();
    let (mut a, _b, _) = answered_call(&mut net, &mut p1001, &mut p1002);
    let fresh = callrec_kazoo::directory::Directory::build(documents()).unwrap();
    net.core.set_directory(std::sync::Arc::new(fresh));
    let bye = p1001.in_dialog(&mut a, Method::Bye);
    net.deliver(p1001.addr, &bye);
    net.expect_status(p1001.addr, 200);
    let bye_b = net.expect_request(p1002.addr, "BYE");
    net.deliver(p1002.addr, &p1002.respond(&bye_b, 200, "OK", "b-tag"));
    assert!(call_ended(&net));
}

#[test]
fn many_calls_leave_nothing_behind() {
    let (mut net, mut p1001, mut p1002, _) = world();
    for _ in 0..20 {
        let (mut a, _b, _) = answered_call(&mut net, &mut p1001, &mut p1002);
        let bye = p1001.in_dialog(&mut a, Method::Bye);
        net.deliver(p1001.addr, &bye);
        let bye_b = net.expect_request(p1002.addr, "BYE");
        net.deliver(p1002.addr, &p1002.respond(&bye_b, 200, "OK", "b-tag"));
        let left: Vec<String> = net
            .take(p1001.addr)
            .iter()
            .map(support::first_line)
            .collect();
        assert_eq!(left, ["SIP/2.0 200 OK"], "1001 got the 200 to its BYE");
        net.take(p1002.addr);
    }
    assert_eq!(net.core.call_count(), 0);
    assert_eq!(net.core.tracked(), 0, "lookup tables are empty");
    let ended = net
        .events
        .iter()
        .filter(|e| matches!(e, CallEvent::CallEnded { .. }))
        .count();
    assert_eq!(ended, 20);
    // Let every transaction finish (Timer K, J, L...).
    net.advance(Duration::from_secs(64));
    assert_eq!(net.txl.len(), 0);
    assert_eq!(
        net.core
            .poll_timeout()
            .filter(|_| net.core.call_count() > 0),
        None
    );
}

#[test]
fn an_ack_that_never_comes_ends_the_call_after_64_t1() {
    let (mut net, mut p1001, p1002, _) = world();
    p1001.call(&mut net, "1002");
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    net.deliver(p1002.addr, &p1002.answer(&b_invite, "b"));
    net.expect_status(p1001.addr, 200);
    net.advance(Duration::from_secs(33));
    let bye_b = net.expect_request(p1002.addr, "BYE");
    net.deliver(p1002.addr, &p1002.respond(&bye_b, 200, "OK", "b"));
    let to_caller = net.take(p1001.addr);
    let retransmitted = to_caller.iter().filter(|m| m.status() == Some(200)).count();
    let bye_a = to_caller
        .iter()
        .find(|m| m.method() == Some(&Method::Bye))
        .expect("BYE to the caller too");
    net.deliver(p1001.addr, &p1001.respond(bye_a, 200, "OK", "x"));
    assert!(
        retransmitted >= 5,
        "2xx retransmitted {retransmitted} times"
    );
    assert_eq!(
        cdr_of(&net, LegId::A).hangup_cause,
        HangupCause::RecoveryOnTimerExpire
    );
}

#[test]
fn a_late_offer_is_completed_by_the_callers_ack() {
    let (mut net, mut p1001, p1002, _) = world();
    net.advance(Duration::from_secs(1));
    // An INVITE without SDP (late offer), with credentials on the second try.
    let mut first = p1001.invite("1002", net.server);
    first.clear_body();
    net.deliver(p1001.addr, &first);
    let challenge = net.expect_status(p1001.addr, 407);
    net.deliver(p1001.addr, &Phone::ack_non_2xx(&first, &challenge));
    let call_id = first.call_id().unwrap();
    let mut invite = p1001.invite_in("1002", net.server, &call_id);
    invite.clear_body();
    p1001.authorize(&mut invite, &challenge);
    net.deliver(p1001.addr, &invite);
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    assert!(b_invite.body().is_empty(), "no offer on the B leg either");
    // The callee offers in its 200; the caller answers in its ACK.
    net.deliver(p1002.addr, &p1002.answer(&b_invite, "b"));
    assert!(
        !net.has(p1002.addr, |m| m.method() == Some(&Method::Ack)),
        "ACK waits for the answer"
    );
    let ok = net.expect_status(p1001.addr, 200);
    assert!(String::from_utf8_lossy(ok.body()).contains("m=audio 30000"));
    let mut d = Phone::uac_dialog(&invite, &ok);
    let mut ack = p1001.in_dialog(&mut d, Method::Ack);
    ack.set_body("application/sdp", sdp("192.0.2.1", 20010, None));
    net.deliver(p1001.addr, &ack);
    let ack_b = net.expect_request(p1002.addr, "ACK");
    assert!(String::from_utf8_lossy(ack_b.body()).contains("m=audio 20010"));
}

#[test]
fn the_engine_ending_a_ringing_call_answers_the_caller_and_cancels_the_callee() {
    let (mut net, mut p1001, p1002, _) = world();
    p1001.call(&mut net, "1002");
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    net.deliver(p1002.addr, &p1002.respond(&b_invite, 180, "Ringing", "b"));
    let call = net
        .events
        .iter()
        .find_map(|e| match e {
            CallEvent::LegStarted { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap();
    let now = net.now;
    net.core.hangup(
        now,
        call,
        HangupCause::ManagerRequest,
        &mut net.txl,
        &mut *net.media,
    );
    net.pump();
    net.expect_status(p1001.addr, 503);
    let cancel = net.expect_request(p1002.addr, "CANCEL");
    net.deliver(p1002.addr, &p1002.respond(&cancel, 200, "OK", "b"));
    net.deliver(
        p1002.addr,
        &p1002.respond(&b_invite, 487, "Request Terminated", "b"),
    );
    assert!(call_ended(&net));
    assert_eq!(
        cdr_of(&net, LegId(1)).hangup_cause,
        HangupCause::ManagerRequest
    );
}

#[test]
fn a_phone_registered_over_tcp_is_called_over_tcp() {
    let (mut net, mut p1001, _p1002, _) = world();
    let mut tcp_desk = Phone::new("1002b", "pw-1002b", DOMAIN, "192.0.2.9:40000");
    tcp_desk.tcp = true;
    net.tcp_peers.push(tcp_desk.addr);
    tcp_desk.register(&mut net);
    net.transports.clear();
    p1001.call(&mut net, "1002");
    let inv = net.expect_request(tcp_desk.addr, "INVITE");
    assert_eq!(inv.top_via().unwrap().transport, "TCP");
    assert!(inv
        .header(HeaderName::Contact)
        .unwrap()
        .contains("transport=tcp"));
    assert!(net
        .transports
        .iter()
        .any(|(a, t)| *a == tcp_desk.addr && *t == callrec_sip::transaction::Transport::Tcp));
    assert!(net
        .transports
        .iter()
        .all(|(a, t)| *a != tcp_desk.addr || *t == callrec_sip::transaction::Transport::Tcp));
}

/// A media seam that rewrites every SDP so a test can see which way it went, and remembers
/// what it was asked.
#[derive(Default)]
struct Marking {
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl callrec_engine::b2bua::MediaSeam for Marking {
    fn offer(
        &mut self,
        _: callrec_engine::b2bua::CallRef,
        from: LegId,
        to: LegId,
        sdp: &bytes::Bytes,
    ) -> Result<bytes::Bytes, callrec_engine::b2bua::MediaSeamError> {
        self.log.lock().unwrap().push(format!("offer {from}->{to}"));
        Ok(format!(
            "{}a=relayed-offer:{from}-{to}\r\n",
            String::from_utf8_lossy(sdp)
        )
        .into())
    }
    fn answer(
        &mut self,
        _: callrec_engine::b2bua::CallRef,
        from: LegId,
        to: LegId,
        sdp: &bytes::Bytes,
    ) -> Result<bytes::Bytes, callrec_engine::b2bua::MediaSeamError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("answer {from}->{to}"));
        Ok(format!(
            "{}a=relayed-answer:{from}-{to}\r\n",
            String::from_utf8_lossy(sdp)
        )
        .into())
    }
    fn local_answer(
        &mut self,
        _: callrec_engine::b2bua::CallRef,
        _: LegId,
        _: &bytes::Bytes,
    ) -> Result<bytes::Bytes, callrec_engine::b2bua::MediaSeamError> {
        Err(callrec_engine::b2bua::MediaSeamError::Exhausted)
    }
    fn release(&mut self, call: callrec_engine::b2bua::CallRef) {
        self.log.lock().unwrap().push(format!("release {call}"));
    }
}

#[test]
fn every_sdp_crosses_the_media_seam_in_the_right_direction() {
    let (mut net, mut p1001, p1002, _) = world();
    let seam = Marking::default();
    let log = seam.log.clone();
    net.media = Box::new(seam);
    let a_invite = p1001.call(&mut net, "1002");
    let b_invite = net.expect_request(p1002.addr, "INVITE");
    assert!(String::from_utf8_lossy(b_invite.body()).contains("a=relayed-offer:A-B1"));
    let mut early = p1002.respond(&b_invite, 183, "Session Progress", "b");
    early.set_body("application/sdp", sdp("192.0.2.2", 30000, None));
    net.deliver(p1002.addr, &early);
    let early_a = net.expect_status(p1001.addr, 183);
    assert!(String::from_utf8_lossy(early_a.body()).contains("a=relayed-answer:B1-A"));
    net.deliver(p1002.addr, &p1002.answer(&b_invite, "b"));
    let ok = net.expect_status(p1001.addr, 200);
    assert!(String::from_utf8_lossy(ok.body()).contains("a=relayed-answer:B1-A"));
    let mut d = Phone::uac_dialog(&a_invite, &ok);
    let ack = p1001.in_dialog(&mut d, Method::Ack);
    net.deliver(p1001.addr, &ack);
    let bye = p1001.in_dialog(&mut d, Method::Bye);
    net.deliver(p1001.addr, &bye);
    let bye_b = net.expect_request(p1002.addr, "BYE");
    net.deliver(p1002.addr, &p1002.respond(&bye_b, 200, "OK", "b"));
    assert_eq!(
        *log.lock().unwrap(),
        ["offer A->B1", "answer B1->A", "answer B1->A", "release c1"]
    );
}

#[test]
fn record_caller_the_media_side_cannot_serve_gets_488() {
    let (mut net, mut p1001, _p1002, _) = world();
    net.media = Box::new(Marking::default());
    p1001.call(&mut net, RECORD_CALLER_NUMBER);
    net.expect_status(p1001.addr, 488);
    assert!(call_ended(&net));
}

#[test]
fn a_pstn_call_from_the_carrier_back_to_the_pstn_is_refused() {
    let (mut net, _p1001, _p1002, mut carrier) = world();
    let inv = carrier.gw1.invite("15559990000", net.server);
    net.deliver(carrier.gw1.addr, &inv);
    net.expect_status(carrier.gw1.addr, 403);
    assert_eq!(b_invites_sent(&net), 0);
    assert!(!net.has(carrier.gw2.addr, |_| true));
}

#[test]
fn an_info_from_the_caller_reaches_the_callee_with_its_body() {
    let (mut net, mut p1001, mut p1002, _) = world();
    let (mut a, _b, b_invite) = answered_call(&mut net, &mut p1001, &mut p1002);
    let mut info = p1001.in_dialog(&mut a, Method::Info);
    info.set_body("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n");
    net.deliver(p1001.addr, &info);
    let relayed = net.expect_request(p1002.addr, "INFO");
    assert_eq!(relayed.call_id().unwrap(), b_invite.call_id().unwrap());
    assert_eq!(
        relayed.media_type().unwrap().as_deref(),
        Some("application/dtmf-relay")
    );
    assert!(String::from_utf8_lossy(relayed.body()).contains("Signal=5"));
    net.deliver(p1002.addr, &p1002.respond(&relayed, 200, "OK", "b-tag"));
    let ok = net.expect_status(p1001.addr, 200);
    assert_eq!(ok.cseq().unwrap().method, Method::Info);
}

/// A fork that never answers at all (a registration left by a phone that went away) cannot be
/// cancelled before it sends a provisional response, so its leg lingers until 64×T1; the
/// conversation, its media and its recordings end at the hang-up all the same.
#[test]
fn a_silent_fork_does_not_keep_a_hung_up_call_going() {
    let (mut net, mut p1001, p1002, _) = world();
    let desk = world_second_device(&mut net);
    let invite = p1001.call(&mut net, "1002");
    let inv_phone = net.expect_request(p1002.addr, "INVITE");
    let inv_desk = net.expect_request(desk.addr, "INVITE");
    // The phone says nothing; the desk answers.
    net.deliver(desk.addr, &desk.answer(&inv_desk, "t2"));
    net.expect_request(desk.addr, "ACK");
    let ok = net.expect_status(p1001.addr, 200);
    assert!(
        !net.has(p1002.addr, |m| m.method() == Some(&Method::Cancel)),
        "no CANCEL before a provisional response (RFC 3261 §9.1)"
    );
    let mut a = Phone::uac_dialog(&invite, &ok);
    net.deliver(p1001.addr, &p1001.in_dialog(&mut a, Method::Ack));
    net.advance(Duration::from_secs(2));
    let bye = p1001.in_dialog(&mut a, Method::Bye);
    net.deliver(p1001.addr, &bye);
    net.expect_status(p1001.addr, 200);
    let bye_b = net.expect_request(desk.addr, "BYE");
    net.deliver(desk.addr, &desk.respond(&bye_b, 200, "OK", "t2"));
    assert!(
        call_ended(&net),
        "the call ends at the hang-up: {:?}",
        net.events
    );
    let ended = |net: &Net| cdrs(net).iter().map(|(l, _)| *l).collect::<Vec<_>>();
    assert!(ended(&net).contains(&LegId::A));
    assert!(ended(&net).contains(&LegId(2)));
    assert!(
        !ended(&net).contains(&LegId(1)),
        "the silent fork is still finishing its INVITE"
    );
    // It is given up on later; its CDR still comes, after the call's end.
    net.advance(Duration::from_secs(40));
    let silent = cdr_of(&net, LegId(1));
    assert_eq!(silent.hangup_cause, HangupCause::LoseRace);
    let ends = net
        .events
        .iter()
        .filter(|e| matches!(e, CallEvent::CallEnded { .. }))
        .count();
    assert_eq!(ends, 1, "one CallEnded per call");
    assert_eq!(net.core.call_count(), 0, "nothing left in the core");
    let _ = inv_phone;
}
