//! Property test of the transaction layer: random interleavings of requests, responses,
//! CANCELs and time (branches drawn from a small set so that they collide) never panic,
//! every transmit parses, deadlines never lie in the past, and once a TU has answered every
//! request and cancelled every INVITE, all transactions end by themselves.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use callrec_sip::message::Message;
use callrec_sip::transaction::{
    ClientTxId, Peer, TimerConfig, TransactionLayer, Transport, TxEvent,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    SendRequest { invite: bool, branch: u8, tcp: bool },
    ReceiveRequest { method: u8, branch: u8, tcp: bool },
    ReceiveResponse { status: u16, method: u8, branch: u8 },
    Cancel { which: u8 },
    Advance { ms: u16 },
}

const METHODS: [&str; 5] = ["INVITE", "ACK", "CANCEL", "OPTIONS", "BYE"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 0u8..4, any::<bool>()).prop_map(|(invite, branch, tcp)| Op::SendRequest {
            invite,
            branch,
            tcp
        }),
        (0u8..5, 0u8..4, any::<bool>()).prop_map(|(method, branch, tcp)| Op::ReceiveRequest {
            method,
            branch,
            tcp
        }),
        (
            prop::sample::select(vec![100u16, 180, 183, 200, 202, 302, 486, 487, 503]),
            0u8..5,
            0u8..4
        )
            .prop_map(|(status, method, branch)| Op::ReceiveResponse {
                status,
                method,
                branch
            }),
        any::<u8>().prop_map(|which| Op::Cancel { which }),
        (0u16..6000).prop_map(|ms| Op::Advance { ms }),
    ]
}

fn peer(tcp: bool) -> Peer {
    let addr: SocketAddr = "192.0.2.9:5060".parse().unwrap();
    Peer {
        transport: if tcp { Transport::Tcp } else { Transport::Udp },
        addr,
    }
}

fn request(method: &str, branch: u8) -> Message {
    Message::parse_slice(
        format!(
            "{method} sip:b@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKp{branch}\r\n\
From: <sip:a@x>;tag=f\r\nTo: <sip:b@y>\r\nCall-ID: c{branch}\r\nCSeq: 1 {method}\r\n\
Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap()
}

/// Drains outputs, acting as a TU that answers every request at once.
fn drain(l: &mut TransactionLayer, now: Instant) -> Result<(), TestCaseError> {
    loop {
        while let Some(t) = l.poll_transmit() {
            prop_assert!(Message::parse(t.payload.clone()).is_ok());
        }
        let Some(ev) = l.poll_event() else {
            return Ok(());
        };
        if let TxEvent::Request { tx, req, .. } | TxEvent::Cancelled { tx, cancel: req } = ev {
            let status = if req.header("Call-ID").is_some_and(|c| c.ends_with('1')) {
                200
            } else {
                487
            };
            if let Some(r) = l.server_request(tx) {
                let resp = Message::response_to(r, status, "Answer", Some("uas"));
                l.send_response(now, tx, resp);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_interleavings_never_panic_and_every_transaction_ends(ops in prop::collection::vec(op(), 0..60)) {
        let base = Instant::now();
        let mut now = base;
        let mut l = TransactionLayer::new(TimerConfig::default());
        let mut clients: Vec<ClientTxId> = Vec::new();
        for op in ops {
            match op {
                Op::SendRequest { invite, branch, tcp } => {
                    let m = if invite { "INVITE" } else { "OPTIONS" };
                    clients.push(l.send_request(now, peer(tcp), request(m, branch)));
                }
                Op::ReceiveRequest { method, branch, tcp } => {
                    l.handle_message(now, peer(tcp), request(METHODS[method as usize], branch));
                }
                Op::ReceiveResponse { status, method, branch } => {
                    let req = request(METHODS[method as usize], branch);
                    let resp = Message::response_to(&req, status, "R", Some("t"));
                    l.handle_message(now, peer(false), Message::parse(resp.to_bytes()).unwrap());
                }
                Op::Cancel { which } => {
                    if !clients.is_empty() {
                        let id = clients[which as usize % clients.len()];
                        if let Some(c) = l.cancel(now, id) {
                            clients.push(c);
                        }
                    }
                }
                Op::Advance { ms } => {
                    now += Duration::from_millis(u64::from(ms));
                    l.handle_timeout(now);
                }
            }
            drain(&mut l, now)?;
            if let Some(at) = l.poll_timeout() {
                // Every due timer was fired by the last handle_timeout; new ones lie ahead.
                prop_assert!(at > now, "stale deadline");
            }
        }
        // The TU gives up on every INVITE still ringing, then time runs out.
        for id in clients.clone() {
            let _ = l.cancel(now, id);
        }
        drain(&mut l, now)?;
        let mut steps = 0;
        while let Some(at) = l.poll_timeout() {
            prop_assert!(at >= now, "a deadline in the past after handle_timeout");
            now = at;
            l.handle_timeout(now);
            drain(&mut l, now)?;
            steps += 1;
            prop_assert!(steps < 10_000, "timers never settle");
        }
        prop_assert!(l.is_empty(), "{} transactions left", l.len());
    }
}
