//! Random interleavings of what a caller, a callee with two devices and the clock can do to
//! one call (CANCEL, 180, 200, 486, BYE from either side, re-INVITE, ACK, time passing), then
//! the engine hangs the call up and scripted peers answer whatever they get: nothing panics,
//! and every call ends with nothing left in the core's tables.

mod support;

use std::time::Duration;

use callrec_engine::b2bua::{CallEvent, HangupCause};
use callrec_sip::message::{HeaderName, Message, Method};
use proptest::prelude::*;
use support::phone::{Dialog, Phone};
use support::world::{world, world_second_device};
use support::{sdp, Net};

#[derive(Debug, Clone, Copy)]
enum Step {
    CallerCancel,
    Ring(usize),
    Answer(usize),
    Busy(usize),
    CallerBye,
    CalleeBye(usize),
    CallerReinvite,
    CallerAck,
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::CallerCancel),
        (0..2usize).prop_map(Step::Ring),
        (0..2usize).prop_map(Step::Answer),
        (0..2usize).prop_map(Step::Busy),
        Just(Step::CallerBye),
        (0..2usize).prop_map(Step::CalleeBye),
        Just(Step::CallerReinvite),
        Just(Step::CallerAck),
        (1..40u64).prop_map(Step::Wait),
    ]
}

/// Answers every request a scripted peer received: 200 to BYE/CANCEL/UPDATE/INFO and to
/// in-dialog INVITEs, 486 to new INVITEs; ACKs 2xx to our re-INVITEs are not needed.
fn auto_respond(net: &mut Net, peer: &Phone) {
    for m in net.take(peer.addr) {
        let Some(method) = m.method().cloned() else {
            continue;
        };
        let in_dialog = m.to().ok().and_then(|t| t.tag().map(str::to_owned));
        let resp = match method {
            Method::Ack => continue,
            Method::Invite if in_dialog.is_none() => peer.respond(&m, 486, "Busy Here", "auto"),
            _ => peer.respond(&m, 200, "OK", in_dialog.as_deref().unwrap_or("auto")),
        };
        net.deliver(peer.addr, &resp);
    }
}

fn cancel_for(invite: &Message) -> Message {
    let mut c = Message::request(Method::Cancel, invite.request_uri().unwrap().clone());
    for h in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
    ] {
        c.push_header(h.clone(), invite.header(h).unwrap());
    }
    c.push_header(
        HeaderName::CSeq,
        format!("{} CANCEL", invite.cseq().unwrap().seq),
    );
    c.push_header(HeaderName::MaxForwards, "70");
    c
}

fn run(steps: &[Step]) {
    let (mut net, mut caller, p1002, _) = world();
    let desk = world_second_device(&mut net);
    let callees = [p1002, desk];
    let a_invite = caller.call(&mut net, "1002");
    let b_invites: Vec<Message> = callees
        .iter()
        .map(|p| net.expect_request(p.addr, "INVITE"))
        .collect();
    let mut a_dialog: Option<Dialog> = None;
    let mut b_dialogs: [Option<Dialog>; 2] = [None, None];
    for s in steps {
        match *s {
            Step::CallerCancel => net.deliver(caller.addr, &cancel_for(&a_invite)),
            Step::Ring(i) => {
                let tag = format!("t{i}");
                let r = callees[i].respond(&b_invites[i], 180, "Ringing", &tag);
                net.deliver(callees[i].addr, &r);
                // An early dialog: a later CalleeBye is a (forbidden) BYE on it.
                if b_dialogs[i].is_none() {
                    b_dialogs[i] = Some(Phone::uas_dialog(&b_invites[i], &tag));
                }
            }
            Step::Answer(i) => {
                let tag = format!("t{i}");
                net.deliver(callees[i].addr, &callees[i].answer(&b_invites[i], &tag));
                b_dialogs[i] = Some(Phone::uas_dialog(&b_invites[i], &tag));
            }
            Step::Busy(i) => {
                let r = callees[i].respond(&b_invites[i], 486, "Busy Here", &format!("t{i}"));
                net.deliver(callees[i].addr, &r);
            }
            Step::CallerBye | Step::CallerReinvite | Step::CallerAck => {
                if a_dialog.is_none() {
                    if let Some(ok) = net.take(caller.addr).into_iter().find(|m| {
                        m.status() == Some(200)
                            && m.cseq().is_ok_and(|c| c.method == Method::Invite)
                    }) {
                        a_dialog = Some(Phone::uac_dialog(&a_invite, &ok));
                    }
                }
                if let Some(d) = a_dialog.as_mut() {
                    let method = match *s {
                        Step::CallerBye => Method::Bye,
                        Step::CallerReinvite => Method::Invite,
                        _ => Method::Ack,
                    };
                    let mut m = caller.in_dialog(d, method.clone());
                    if method == Method::Invite {
                        m.set_body("application/sdp", sdp("192.0.2.1", 20000, Some("sendonly")));
                    }
                    net.deliver(caller.addr, &m);
                }
            }
            Step::CalleeBye(i) => {
                if let Some(d) = b_dialogs[i].as_mut() {
                    let bye = callees[i].clone().in_dialog(d, Method::Bye);
                    net.deliver(callees[i].addr, &bye);
                }
            }
            Step::Wait(s) => net.advance(Duration::from_secs(s)),
        }
    }
    // The engine ends whatever is left; peers answer everything; time runs out.
    let calls: Vec<_> = net
        .events
        .iter()
        .filter_map(|e| match e {
            CallEvent::LegStarted { call, .. } => Some(*call),
            _ => None,
        })
        .collect();
    for c in calls {
        let now = net.now;
        net.core.hangup(
            now,
            c,
            HangupCause::ManagerRequest,
            &mut net.txl,
            &mut *net.media,
        );
        net.pump();
    }
    for _ in 0..4 {
        auto_respond(&mut net, &caller);
        for p in &callees {
            auto_respond(&mut net, p);
        }
        net.advance(Duration::from_secs(40));
    }
    assert_eq!(net.core.call_count(), 0, "steps {steps:?}");
    assert_eq!(net.core.tracked(), 0, "steps {steps:?}");
    let ended = net
        .events
        .iter()
        .filter(|e| matches!(e, CallEvent::CallEnded { .. }))
        .count();
    assert_eq!(ended, 1, "one CallEnded: {steps:?}");
    let legs_started = net
        .events
        .iter()
        .filter(|e| matches!(e, CallEvent::LegStarted { .. }))
        .count();
    let legs_ended = net
        .events
        .iter()
        .filter(|e| matches!(e, CallEvent::LegEnded { .. }))
        .count();
    assert_eq!(legs_started, legs_ended, "every leg ends once: {steps:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_ends_every_leg_once_and_leaves_nothing_behind(
        steps in proptest::collection::vec(step(), 0..10)
    ) {
        run(&steps);
    }
}

#[test]
fn answer_on_both_forks_then_cancel_ends_cleanly() {
    run(&[
        Step::Answer(0),
        Step::Answer(1),
        Step::CallerCancel,
        Step::CallerAck,
    ]);
}
