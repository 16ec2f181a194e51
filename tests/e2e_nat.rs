//! End-to-end NAT-aware routing through a real callrec process (issue 13): a phone that
//! registers from one port with a Contact naming another receives its calls on the Contact
//! (no NAT detected: the REGISTER's Via names its real source), and a device document with
//! `"sip": {"nat": "always"}` sends them back to the REGISTER's source; a phone registered over
//! TCP gets its INVITE back over that connection, whatever its Contact names.
//!
//! Needs sipp (Debian: sip-tester); `tests/run.sh` installs it.

mod support;

use serde_json::json;
use support::callrec::{Callrec, Options};
use support::net::{self, PHONES_IP};
use support::phones::{phone_1001, phone_1002, received_invite_call_ids, Phone};
use support::sipp::{credentials, Outcome, Sipp};

/// Registers `phone` from a port of its own with a Contact naming `phone.port` (where its
/// answering scenario runs). Returns the port it registered from.
fn register_from_another_port(phone: &Phone, callrec: &Callrec) -> (u16, Outcome) {
    let from = net::free_port(PHONES_IP);
    let outcome = Sipp::new(
        &format!("register-{}-elsewhere", phone.ext),
        "register_contact.xml",
        callrec.dir.path(),
    )
    .csv(&[&[
        phone.ext,
        &credentials(phone.ext, phone.password),
        &phone.port.to_string(),
    ]])
    .local(PHONES_IP, from)
    .target(callrec.sip)
    .timeout_s(15)
    .run();
    (from, outcome)
}

#[test]
fn a_phone_that_registers_from_one_port_and_answers_on_another_receives_its_calls() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default());
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    let (_from, registered) = register_from_another_port(&p2, &callrec);
    registered.assert_ok(1);

    let callee = p2.answer(&callrec, "phone_uas.xml", 1);
    let caller = p1
        .call(&callrec, "1002", "phone_uac.xml")
        .hold_ms(500)
        .run();
    caller.assert_ok(1);
    let callee = callee.wait();
    callee.assert_ok(1);
    assert_eq!(received_invite_call_ids(&callee.messages).len(), 1);
}

#[test]
fn a_device_with_nat_always_gets_its_calls_at_the_address_it_registered_from() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default().edit(|docs| {
        docs.device("1002")["sip"]["nat"] = json!("always");
    }));
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    let (from, registered) = register_from_another_port(&p2, &callrec);
    registered.assert_ok(1);

    // The phone answers on the port it registered from, not on the Contact's.
    let answering = Phone {
        port: from,
        ..phone_1002()
    };
    let callee = answering.answer(&callrec, "phone_uas.xml", 1);
    let caller = p1
        .call(&callrec, "1002", "phone_uac.xml")
        .hold_ms(500)
        .run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
}

#[test]
fn a_phone_registered_over_tcp_gets_its_calls_over_the_registrations_connection() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default());
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    // 1002 registers over its own TCP connection; its Contact names a port where nothing
    // listens, so only the connection can bring it the call.
    let nobody = net::free_port(PHONES_IP);
    let tcp_phone = Sipp::new("1002-over-tcp", "register_tcp_stay.xml", callrec.dir.path())
        .csv(&[&[
            p2.ext,
            &credentials(p2.ext, p2.password),
            &nobody.to_string(),
        ]])
        .tcp()
        .local(PHONES_IP, net::free_port(PHONES_IP))
        .media_port(p2.media)
        .out_of_call("phone_uas.xml")
        .target(callrec.sip)
        .hold_ms(10_000)
        .timeout_s(30)
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !tcp_phone.messages().contains("SIP/2.0 200 OK") {
        assert!(
            std::time::Instant::now() < deadline,
            "1002 did not register over TCP:\n{}",
            tcp_phone.messages()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let caller = p1
        .call(&callrec, "1002", "phone_uac.xml")
        .hold_ms(500)
        .run();
    caller.assert_ok(1);
    let callee = tcp_phone.wait();
    callee.assert_ok(1);
    let invites = received_invite_call_ids(&callee.messages);
    assert_eq!(invites.len(), 1, "{}", callee.messages);
    assert!(
        callee.messages.contains("INVITE sip:") && callee.messages.contains("BYE sip:"),
        "the call's INVITE and BYE came over the TCP connection:\n{}",
        callee.messages
    );
}
