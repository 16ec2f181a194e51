//! End-to-end security checks through a real callrec process: INVITEs that are not
//! authenticated reach no one, a flood of them is cut by the source guard's rate limit (the
//! excess dropped and counted) without stopping registered phones' calls, and an address that
//! guesses passwords is blocked while registered phones keep calling.
//!
//! "Reaches no one" is checked with a positive control: the would-be callee answers exactly one
//! call, and after the refused attempts a good call is placed; the callee must see that good
//! call as the only INVITE (a refused call that got through would have taken its place).
//!
//! Needs sipp (Debian: sip-tester); `tests/run.sh` installs it.

mod support;

use support::callrec::{Callrec, Options};
use support::net::{self, PHONES_IP, STRANGER_IP};
use support::phones::{phone_1001, phone_1002, received_invite_call_ids, Carrier};
use support::sipp::{credentials, Outcome, Sipp};

/// Asserts that `callee` (answering one call, -m 1) received exactly one INVITE, while the good
/// call `good` succeeded: so the one INVITE was the good call's B leg, and every refused attempt
/// before it reached no one (it would have been answered instead and its scenario failed).
fn only_the_good_call_arrived(callee: &Outcome, good: &Outcome) {
    good.assert_ok(1);
    callee.assert_ok(1);
    let arrived = received_invite_call_ids(&callee.messages);
    assert_eq!(
        arrived.len(),
        1,
        "`{}` received INVITEs of {arrived:?}",
        callee.name
    );
}

#[test]
fn an_offnet_invite_from_an_address_that_is_not_a_carrier_without_credentials_is_refused_and_reaches_no_carrier(
) {
    let _serial = support::serial();
    let mut callrec = Callrec::start(Options::default());
    let carrier = Carrier::of(&callrec);
    let watching = carrier.answer(&callrec, 1);
    // unauth_uac.xml succeeds only on 401/403/407 and never sends credentials; it claims to be
    // phone 1001 but sends from 127.0.0.3, which is neither a carrier nor a registered phone.
    Sipp::new("stranger", "unauth_uac.xml", callrec.dir.path())
        .csv(&[&["1001", "", "+15559990000"]])
        .local(STRANGER_IP, net::free_port(STRANGER_IP))
        .target(callrec.sip)
        .run()
        .assert_ok(1);
    // and from the phones' address (127.0.0.1), still without credentials
    Sipp::new("no-credentials", "unauth_uac.xml", callrec.dir.path())
        .csv(&[&["1001", "", "+15559990000"]])
        .local(PHONES_IP, net::free_port(PHONES_IP))
        .target(callrec.sip)
        .run()
        .assert_ok(1);
    callrec.assert_running();
    // positive control: a registered phone's call is the first and only one the carrier sees
    let p1 = phone_1001();
    p1.register(&callrec);
    let good = p1
        .call(&callrec, "+15559990000", "phone_uac.xml")
        .hold_ms(200)
        .run();
    good.assert_ok(1);
    let carrier_side = watching.wait();
    carrier_side.assert_ok(1);
    only_the_good_call_arrived(&carrier_side, &good);
}

#[test]
fn a_device_with_a_wrong_password_can_neither_register_nor_reach_anyone() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default());
    let (p1, p2) = (phone_1001(), phone_1002());
    let refused = p1.register_with(&callrec, "wrong-password");
    assert!(
        !refused.status.success(),
        "REGISTER with a wrong password succeeded: {refused:#?}"
    );
    p2.register(&callrec);
    let carrier = Carrier::of(&callrec);
    let callee = p2.answer(&callrec, "phone_uas.xml", 1);
    let carrier_side = carrier.answer(&callrec, 1);
    // wrong_auth_uac.xml succeeds only when the credentialed INVITE is refused again
    p1.call_with(&callrec, "1002", "wrong_auth_uac.xml", "wrong-password")
        .run()
        .assert_ok(1);
    p1.call_with(
        &callrec,
        "+15559990000",
        "wrong_auth_uac.xml",
        "wrong-password",
    )
    .run()
    .assert_ok(1);
    // positive controls: with the right password both are reached, each by exactly this call
    p1.register(&callrec);
    let good = p1
        .call(&callrec, "1002", "phone_uac.xml")
        .hold_ms(200)
        .run();
    good.assert_ok(1);
    let callee = callee.wait();
    callee.assert_ok(1);
    only_the_good_call_arrived(&callee, &good);
    let good = p1
        .call(&callrec, "+15559990000", "phone_uac.xml")
        .hold_ms(200)
        .run();
    good.assert_ok(1);
    let carrier_side = carrier_side.wait();
    carrier_side.assert_ok(1);
    only_the_good_call_arrived(&carrier_side, &good);
}

#[test]
fn a_flood_of_unauthenticated_invites_does_not_stop_calls_of_registered_phones() {
    let _serial = support::serial();
    let mut callrec = Callrec::start(Options::default());
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    p2.register(&callrec);
    const CALLS: u64 = 20;
    let callee = p2.answer(&callrec, "phone_uas.xml", CALLS);
    // 300 INVITEs/s for about 6 s from 127.0.0.3, no credentials, to an offnet number
    let flood = Sipp::new("flood", "unauth_uac.xml", callrec.dir.path())
        .csv(&[&["1001", "", "+15559990000"]])
        .local(STRANGER_IP, net::free_port(STRANGER_IP))
        .target(callrec.sip)
        .rate(300)
        .calls(1800)
        .limit(3000)
        .no_message_trace()
        .timeout_s(40)
        .spawn();
    // meanwhile 1001 places 20 calls, 4 per second, each held 300 ms; SIPp aborts a call
    // whose next message takes longer than 5 s (-recv_timeout), so "not slowed down" is
    // checked as "no call of a registered phone fails"
    let calls = p1
        .call(&callrec, "1002", "phone_uac.xml")
        .hold_ms(300)
        .calls(CALLS)
        .rate(4)
        .recv_timeout_ms(5000)
        .no_message_trace()
        .timeout_s(40)
        .run();
    let flood = flood.wait();
    calls.assert_ok(CALLS);
    callee.wait().assert_ok(CALLS);
    callrec.assert_running();
    eprintln!(
        "flood: {} INVITEs refused, {} unanswered or failed",
        flood.successful, flood.failed
    );
    // 300/s from one unknown address is far above its 20/s (burst 40): most of the flood was
    // dropped unanswered, and callrec counted it.
    assert!(
        flood.failed > 0,
        "the flood was answered in full: {} refused",
        flood.successful
    );
    let log = callrec.log_text();
    assert!(
        log.contains("requests dropped by the source guard"),
        "no drop count in the log:\n{}",
        support::callrec::tail(&log, 40)
    );
}

/// The distinct Call-IDs that got a 403 in a SIPp messages log.
fn calls_answered_403(messages: &str) -> usize {
    let mut ids = std::collections::HashSet::new();
    let mut in_403 = false;
    for line in messages.lines() {
        if line.starts_with("SIP/2.0 ") {
            in_403 = line.starts_with("SIP/2.0 403");
        } else if in_403 {
            if let Some(id) = line
                .strip_prefix("Call-ID:")
                .or_else(|| line.strip_prefix("i:"))
            {
                ids.insert(id.trim().to_owned());
                in_403 = false;
            }
        }
    }
    ids.len()
}

#[test]
fn an_address_guessing_passwords_is_blocked_while_registered_phones_keep_calling() {
    let _serial = support::serial();
    let mut callrec = Callrec::start(Options::default());
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    p2.register(&callrec);
    // 15 REGISTERs with a wrong password for 1001 from 127.0.0.3, 5 per second (within the
    // rate limit): the first 10 get 403, then the address is blocked and hears nothing.
    let guessing = Sipp::new("guessing", "register.xml", callrec.dir.path())
        .csv(&[&["1001", &credentials("1001", "guess")]])
        .local(STRANGER_IP, net::free_port(STRANGER_IP))
        .target(callrec.sip)
        .calls(15)
        .rate(5)
        .recv_timeout_ms(2000)
        .timeout_s(40)
        .spawn();
    const CALLS: u64 = 10;
    let callee = p2.answer(&callrec, "phone_uas.xml", CALLS);
    let calls = p1
        .call(&callrec, "1002", "phone_uac.xml")
        .hold_ms(300)
        .calls(CALLS)
        .rate(2)
        .recv_timeout_ms(5000)
        .no_message_trace()
        .timeout_s(40)
        .run();
    let guessing = guessing.wait();
    calls.assert_ok(CALLS);
    callee.wait().assert_ok(CALLS);
    assert_eq!(guessing.successful, 0, "a guess registered");
    let refused = calls_answered_403(&guessing.messages);
    assert!(
        (1..=10).contains(&refused),
        "{refused} guesses answered 403 (the block comes after 10)"
    );
    // Blocked: now even the right password from that address gets no answer.
    let right = Sipp::new(
        "right-password-while-blocked",
        "register.xml",
        callrec.dir.path(),
    )
    .csv(&[&["1001", &credentials("1001", "demo-1001")]])
    .local(STRANGER_IP, net::free_port(STRANGER_IP))
    .target(callrec.sip)
    .recv_timeout_ms(2000)
    .timeout_s(20)
    .run();
    assert!(
        !right.status.success(),
        "a blocked address registered: {right:#?}"
    );
    callrec.assert_running();
    let log = callrec.log_text();
    assert!(
        log.contains("too many wrong passwords"),
        "no block in the log:\n{}",
        support::callrec::tail(&log, 40)
    );
}
