//! The transaction layer driven through its public API with a fake clock: every instant is
//! `base + offset`, nothing sleeps. Each test states the exact transmit times and what was
//! sent (request method or response status).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use callrec_sip::message::{Message, Method};
use callrec_sip::transaction::{
    new_branch, ClientTxId, Peer, TimerConfig, TransactionLayer, Transport, TxEvent,
};

/// A fake clock: offsets in milliseconds from one base instant.
struct Clock {
    base: Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            base: Instant::now(),
        }
    }
    fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }
    fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.duration_since(self.base).as_millis()).unwrap()
    }
}

fn peer(transport: Transport) -> Peer {
    let addr: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    Peer { transport, addr }
}

fn udp() -> Peer {
    peer(Transport::Udp)
}

fn tcp() -> Peer {
    peer(Transport::Tcp)
}

fn parse(bytes: &[u8]) -> Message {
    Message::parse_slice(bytes).expect("the layer prints parseable messages")
}

/// A request as a peer would send it.
fn request(method: &str, branch: &str) -> Message {
    let text = format!(
        "{method} sip:bob@192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
Max-Forwards: 70\r\n\
Route: <sip:proxy.example;lr>\r\n\
From: <sip:alice@example.com>;tag=from1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: call-1@example.com\r\n\
CSeq: 1 {method}\r\n\
Contact: <sip:alice@192.0.2.10>\r\n\
Content-Length: 0\r\n\r\n"
    );
    parse(text.as_bytes())
}

/// The response a peer would send to `req`, re-parsed as it would arrive.
fn response(req: &Message, status: u16, tag: Option<&str>) -> Message {
    let r = Message::response_to(req, status, "Reason", tag);
    parse(&r.to_bytes())
}

/// What a payload is: the method of a request or the status of a response.
fn kind(payload: &[u8]) -> String {
    let m = parse(payload);
    match m.method() {
        Some(method) => method.to_string(),
        None => m.status().unwrap().to_string(),
    }
}

/// Drains the transmits as kinds.
fn sent(layer: &mut TransactionLayer) -> Vec<String> {
    std::iter::from_fn(|| layer.poll_transmit())
        .map(|t| kind(&t.payload))
        .collect()
}

/// Drains the transmits as messages.
fn sent_msgs(layer: &mut TransactionLayer) -> Vec<Message> {
    std::iter::from_fn(|| layer.poll_transmit())
        .map(|t| parse(&t.payload))
        .collect()
}

fn events(layer: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

/// Things that happened, with the millisecond they happened at.
type Timed<T> = Vec<(u64, T)>;

/// Fires every timer up to `end` (inclusive), returning (ms, kind) of each transmit and
/// (ms, event) of each event.
fn run_until(
    layer: &mut TransactionLayer,
    clock: &Clock,
    end_ms: u64,
) -> (Timed<String>, Timed<TxEvent>) {
    let mut tx = Vec::new();
    let mut ev = Vec::new();
    while let Some(at) = layer.poll_timeout() {
        if at > clock.at(end_ms) {
            break;
        }
        layer.handle_timeout(at);
        let ms = clock.ms(at);
        tx.extend(sent(layer).into_iter().map(|k| (ms, k)));
        ev.extend(events(layer).into_iter().map(|e| (ms, e)));
    }
    (tx, ev)
}

fn kinds(list: &[(u64, String)]) -> Vec<(u64, &str)> {
    list.iter().map(|(t, k)| (*t, k.as_str())).collect()
}

fn layer() -> TransactionLayer {
    TransactionLayer::new(TimerConfig::default())
}

mod client {
    use super::*;

    #[test]
    fn invite_client_retransmits_at_t1_doubling_and_times_out_at_64_t1_over_udp() {
        let clock = Clock::new();
        let mut l = layer();
        let tx = l.send_request(clock.at(0), udp(), request("INVITE", &new_branch()));
        assert_eq!(sent(&mut l), vec!["INVITE"]);
        let (tx_list, ev) = run_until(&mut l, &clock, 60_000);
        assert_eq!(
            kinds(&tx_list),
            vec![
                (500, "INVITE"),
                (1500, "INVITE"),
                (3500, "INVITE"),
                (7500, "INVITE"),
                (15500, "INVITE"),
                (31500, "INVITE"),
            ]
        );
        assert_eq!(ev.len(), 1);
        assert!(matches!(ev[0], (32_000, TxEvent::Timeout { tx: t }) if t == tx));
        assert!(l.is_empty());
        assert_eq!(l.poll_timeout(), None);
        assert_eq!(l.stats().retransmissions, 6);
        assert_eq!(l.stats().timeouts, 1);
    }

    #[test]
    fn invite_client_over_tcp_sends_once_and_still_times_out_with_timer_b() {
        let clock = Clock::new();
        let mut l = layer();
        let tx = l.send_request(clock.at(0), tcp(), request("INVITE", &new_branch()));
        assert_eq!(sent(&mut l), vec!["INVITE"]);
        let (tx_list, ev) = run_until(&mut l, &clock, 60_000);
        assert!(
            tx_list.is_empty(),
            "no retransmissions over TCP: {tx_list:?}"
        );
        assert!(matches!(ev[..], [(32_000, TxEvent::Timeout { tx: t })] if t == tx));
        assert!(l.is_empty());
    }

    #[test]
    fn non_invite_client_retransmits_with_timer_e_capped_at_t2_and_times_out_with_timer_f() {
        let clock = Clock::new();
        let mut l = layer();
        let tx = l.send_request(clock.at(0), udp(), request("OPTIONS", &new_branch()));
        assert_eq!(sent(&mut l), vec!["OPTIONS"]);
        let (tx_list, ev) = run_until(&mut l, &clock, 60_000);
        let times: Vec<u64> = tx_list.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            times,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert!(tx_list.iter().all(|(_, k)| k == "OPTIONS"));
        assert!(matches!(ev[..], [(32_000, TxEvent::Timeout { tx: t })] if t == tx));
        assert!(l.is_empty());
    }

    #[test]
    fn non_invite_client_in_proceeding_retransmits_every_t2() {
        let clock = Clock::new();
        let mut l = layer();
        let req = request("BYE", &new_branch());
        let tx = l.send_request(clock.at(0), udp(), req.clone());
        sent(&mut l);
        let (first, _) = run_until(&mut l, &clock, 600);
        assert_eq!(kinds(&first), vec![(500, "BYE")]);
        l.handle_message(clock.at(1000), udp(), response(&req, 100, None));
        assert!(
            matches!(&events(&mut l)[..], [TxEvent::Response { tx: t, resp }]
            if *t == tx && resp.status() == Some(100))
        );
        let (rest, ev) = run_until(&mut l, &clock, 40_000);
        let times: Vec<u64> = rest.iter().map(|(t, _)| *t).collect();
        // Timer E was armed for 1500 before the 100; from then on every T2 (4 s).
        assert_eq!(
            times,
            vec![1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]
        );
        assert!(matches!(ev[..], [(32_000, TxEvent::Timeout { .. })]));
    }

    #[test]
    fn non_invite_client_absorbs_response_retransmissions_in_completed_until_timer_k() {
        let clock = Clock::new();
        let mut l = layer();
        let req = request("BYE", &new_branch());
        let tx = l.send_request(clock.at(0), udp(), req.clone());
        sent(&mut l);
        let ok = response(&req, 200, Some("to1"));
        l.handle_message(clock.at(100), udp(), ok.clone());
        assert!(matches!(&events(&mut l)[..], [TxEvent::Response { tx: t, .. }] if *t == tx));
        l.handle_message(clock.at(200), udp(), ok);
        assert!(events(&mut l).is_empty(), "retransmitted 200 absorbed");
        assert!(sent(&mut l).is_empty());
        assert_eq!(l.poll_timeout(), Some(clock.at(5100)), "Timer K = T4");
        let (tx_list, ev) = run_until(&mut l, &clock, 10_000);
        assert!(tx_list.is_empty() && ev.is_empty());
        assert!(l.is_empty());
        assert_eq!(l.stats().absorbed, 1);
    }

    #[test]
    fn non_invite_client_over_tcp_ends_on_the_final_response() {
        let clock = Clock::new();
        let mut l = layer();
        let req = request("BYE", &new_branch());
        l.send_request(clock.at(0), tcp(), req.clone());
        sent(&mut l);
        l.handle_message(clock.at(100), tcp(), response(&req, 200, Some("to1")));
        assert_eq!(events(&mut l).len(), 1);
        assert!(l.is_empty(), "Timer K is zero over TCP");
    }

    #[test]
    fn invite_client_acks_a_non_2xx_final_itself_and_absorbs_retransmissions_until_timer_d() {
        let clock = Clock::new();
        let mut l = layer();
        let invite = request("INVITE", &new_branch());
        let tx = l.send_request(clock.at(0), udp(), invite.clone());
        sent(&mut l);
        l.handle_message(clock.at(200), udp(), response(&invite, 180, Some("b1")));
        assert!(
            matches!(&events(&mut l)[..], [TxEvent::Response { tx: t, resp }]
            if *t == tx && resp.status() == Some(180))
        );
        // Proceeding: no more retransmissions, no Timer B.
        assert_eq!(l.poll_timeout(), None);
        let busy = response(&invite, 486, Some("b1"));
        l.handle_message(clock.at(1000), udp(), busy.clone());
        let acks = sent_msgs(&mut l);
        assert_eq!(acks.len(), 1);
        let ack = &acks[0];
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.request_uri(), invite.request_uri());
        assert_eq!(
            ack.top_via().unwrap().branch(),
            invite.top_via().unwrap().branch()
        );
        assert_eq!(ack.vias().unwrap().len(), 1);
        assert_eq!(ack.to().unwrap().tag(), Some("b1"));
        assert_eq!(ack.from().unwrap(), invite.from().unwrap());
        assert_eq!(ack.call_id().unwrap(), invite.call_id().unwrap());
        assert_eq!(ack.cseq().unwrap().seq, 1);
        assert_eq!(ack.cseq().unwrap().method, Method::Ack);
        assert_eq!(ack.routes().unwrap(), invite.routes().unwrap());
        assert!(
            matches!(&events(&mut l)[..], [TxEvent::Response { tx: t, resp }]
            if *t == tx && resp.status() == Some(486))
        );
        // The 486 again: ACK again, nothing for the TU.
        l.handle_message(clock.at(2000), udp(), busy);
        assert_eq!(sent(&mut l), vec!["ACK"]);
        assert!(events(&mut l).is_empty());
        assert_eq!(l.poll_timeout(), Some(clock.at(33_000)), "Timer D = 32 s");
        let (tx_list, ev) = run_until(&mut l, &clock, 40_000);
        assert!(tx_list.is_empty() && ev.is_empty());
        assert!(l.is_empty());
    }

    #[test]
    fn invite_client_over_tcp_acks_a_non_2xx_and_ends_at_once() {
        let clock = Clock::new();
        let mut l = layer();
        let invite = request("INVITE", &new_branch());
        l.send_request(clock.at(0), tcp(), invite.clone());
        sent(&mut l);
        l.handle_message(clock.at(100), tcp(), response(&invite, 603, Some("b1")));
        assert_eq!(sent(&mut l), vec!["ACK"]);
        assert_eq!(events(&mut l).len(), 1);
        assert!(l.is_empty(), "Timer D is zero over TCP");
    }

    #[test]
    fn invite_client_passes_2xx_retransmissions_up_in_accepted_until_timer_m() {
        let clock = Clock::new();
        let mut l = layer();
        let invite = request("INVITE", &new_branch());
        let tx = l.send_request(clock.at(0), udp(), invite.clone());
        sent(&mut l);
        let ok = response(&invite, 200, Some("b1"));
        l.handle_message(clock.at(300), udp(), ok.clone());
        assert!(sent(&mut l).is_empty(), "the ACK for 2xx is the TU's job");
        assert!(matches!(&events(&mut l)[..], [TxEvent::Response { tx: t, .. }] if *t == tx));
        // A 2xx from another fork and a retransmission: both go up.
        l.handle_message(clock.at(800), udp(), response(&invite, 200, Some("b2")));
        l.handle_message(clock.at(1300), udp(), ok.clone());
        let ev = events(&mut l);
        assert_eq!(ev.len(), 2);
        assert!(ev
            .iter()
            .all(|e| matches!(e, TxEvent::Response { tx: t, .. } if *t == tx)));
        assert_eq!(l.poll_timeout(), Some(clock.at(32_300)), "Timer M = 64*T1");
        let (tx_list, ev) = run_until(&mut l, &clock, 40_000);
        assert!(tx_list.is_empty() && ev.is_empty());
        assert!(l.is_empty());
        // After Timer M the 2xx matches nothing.
        l.handle_message(clock.at(40_000), udp(), ok);
        assert!(matches!(
            &events(&mut l)[..],
            [TxEvent::StrayResponse { .. }]
        ));
    }

    #[test]
    fn a_response_to_nothing_is_a_stray_response_not_a_panic() {
        let clock = Clock::new();
        let mut l = layer();
        let invite = request("INVITE", &new_branch());
        l.handle_message(clock.at(0), udp(), response(&invite, 200, Some("x")));
        // A response without Via or CSeq: still only a stray response.
        let bare = parse(b"SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n");
        l.handle_message(clock.at(1), udp(), bare);
        let ev = events(&mut l);
        assert_eq!(ev.len(), 2);
        assert!(ev
            .iter()
            .all(|e| matches!(e, TxEvent::StrayResponse { from, .. } if *from == udp())));
        assert!(sent(&mut l).is_empty());
        assert!(l.is_empty());
        assert_eq!(l.stats().stray_responses, 2);
    }

    #[test]
    fn a_response_with_the_right_branch_but_another_method_does_not_match() {
        let clock = Clock::new();
        let mut l = layer();
        let invite = request("INVITE", "z9hG4bKsame");
        l.send_request(clock.at(0), udp(), invite);
        sent(&mut l);
        let bye = request("BYE", "z9hG4bKsame");
        l.handle_message(clock.at(10), udp(), response(&bye, 200, Some("t")));
        assert!(matches!(
            &events(&mut l)[..],
            [TxEvent::StrayResponse { .. }]
        ));
    }
}

mod cancel {
    use super::*;

    fn started(l: &mut TransactionLayer, clock: &Clock) -> (ClientTxId, Message) {
        let invite = request("INVITE", &new_branch());
        let tx = l.send_request(clock.at(0), udp(), invite.clone());
        assert_eq!(sent(l), vec!["INVITE"]);
        (tx, invite)
    }

    #[test]
    fn cancel_before_any_provisional_waits_for_one_then_the_487_is_acked() {
        let clock = Clock::new();
        let mut l = layer();
        let (tx, invite) = started(&mut l, &clock);
        let cancel_tx = l
            .cancel(clock.at(100), tx)
            .expect("a pending INVITE can be cancelled");
        assert!(sent(&mut l).is_empty(), "no CANCEL before a provisional");
        assert_eq!(l.cancel(clock.at(150), tx), Some(cancel_tx), "idempotent");
        // Timer A still runs meanwhile.
        let (early, _) = run_until(&mut l, &clock, 600);
        assert_eq!(kinds(&early), vec![(500, "INVITE")]);
        l.handle_message(clock.at(700), udp(), response(&invite, 180, Some("b1")));
        let out = sent_msgs(&mut l);
        assert_eq!(out.len(), 1);
        let c = &out[0];
        assert_eq!(c.method(), Some(&Method::Cancel));
        assert_eq!(c.request_uri(), invite.request_uri());
        assert_eq!(c.vias().unwrap(), vec![invite.top_via().unwrap()]);
        assert_eq!(c.to().unwrap(), invite.to().unwrap(), "no To tag added");
        assert_eq!(c.from().unwrap(), invite.from().unwrap());
        assert_eq!(c.call_id().unwrap(), invite.call_id().unwrap());
        assert_eq!(c.cseq().unwrap().seq, invite.cseq().unwrap().seq);
        assert_eq!(c.cseq().unwrap().method, Method::Cancel);
        assert_eq!(c.routes().unwrap(), invite.routes().unwrap());
        assert!(matches!(&events(&mut l)[..], [TxEvent::Response { tx: t, .. }] if *t == tx));
        // The CANCEL is retransmitted by its own Timer E.
        let (cancel_rt, _) = run_until(&mut l, &clock, 1200);
        assert_eq!(kinds(&cancel_rt), vec![(1200, "CANCEL")]);
        // 200 to the CANCEL on the CANCEL transaction, then 487 on the INVITE.
        l.handle_message(clock.at(1300), udp(), response(c, 200, Some("b1")));
        assert!(
            matches!(&events(&mut l)[..], [TxEvent::Response { tx: t, resp }]
            if *t == cancel_tx && resp.status() == Some(200))
        );
        l.handle_message(clock.at(1400), udp(), response(&invite, 487, Some("b1")));
        assert_eq!(sent(&mut l), vec!["ACK"]);
        assert!(
            matches!(&events(&mut l)[..], [TxEvent::Response { tx: t, resp }]
            if *t == tx && resp.status() == Some(487))
        );
        assert_eq!(l.cancel(clock.at(1500), tx), None, "nothing left to cancel");
    }

    #[test]
    fn cancel_is_never_sent_when_a_final_arrives_before_any_provisional() {
        let clock = Clock::new();
        let mut l = layer();
        let (tx, invite) = started(&mut l, &clock);
        let cancel_tx = l.cancel(clock.at(100), tx).unwrap();
        l.handle_message(clock.at(200), udp(), response(&invite, 486, Some("b1")));
        assert_eq!(sent(&mut l), vec!["ACK"]);
        let ev = events(&mut l);
        assert_eq!(ev.len(), 1);
        assert!(matches!(&ev[0], TxEvent::Response { tx: t, .. } if *t == tx));
        let (later, ev) = run_until(&mut l, &clock, 60_000);
        assert!(later.is_empty(), "no CANCEL: {later:?}");
        assert!(ev
            .iter()
            .all(|(_, e)| !matches!(e, TxEvent::Response { tx: t, .. } | TxEvent::Timeout { tx: t } if *t == cancel_tx)));
        assert!(l.is_empty());
    }

    #[test]
    fn cancel_after_a_provisional_is_sent_at_once_and_the_invite_gives_up_64_t1_later() {
        let clock = Clock::new();
        let mut l = layer();
        let (tx, invite) = started(&mut l, &clock);
        l.handle_message(clock.at(100), udp(), response(&invite, 183, Some("b1")));
        events(&mut l);
        let cancel_tx = l.cancel(clock.at(1000), tx).unwrap();
        assert_eq!(sent(&mut l), vec!["CANCEL"]);
        let (_, ev) = run_until(&mut l, &clock, 60_000);
        // Neither the CANCEL nor the INVITE got an answer: both time out at 1 s + 64*T1.
        let timeouts: Vec<(u64, ClientTxId)> = ev
            .iter()
            .filter_map(|(ms, e)| match e {
                TxEvent::Timeout { tx } => Some((*ms, *tx)),
                _ => None,
            })
            .collect();
        assert_eq!(timeouts.len(), 2);
        assert!(timeouts.contains(&(33_000, tx)));
        assert!(timeouts.contains(&(33_000, cancel_tx)));
        assert!(l.is_empty());
    }

    #[test]
    fn cancel_of_an_unknown_or_non_invite_transaction_is_refused() {
        let clock = Clock::new();
        let mut l = layer();
        assert_eq!(l.cancel(clock.at(0), ClientTxId(999)), None);
        let bye = l.send_request(clock.at(0), udp(), request("BYE", &new_branch()));
        assert_eq!(l.cancel(clock.at(0), bye), None);
    }
}

mod server {
    use super::*;

    fn new_invite(
        l: &mut TransactionLayer,
        clock: &Clock,
        p: Peer,
    ) -> (callrec_sip::transaction::ServerTxId, Message) {
        let invite = request("INVITE", &new_branch());
        l.handle_message(clock.at(0), p, invite.clone());
        assert_eq!(sent(l), vec!["100"], "100 Trying at once");
        let ev = events(l);
        let tx = match &ev[..] {
            [TxEvent::Request { tx, from, req }] => {
                assert_eq!(*from, p);
                assert_eq!(req.method(), Some(&Method::Invite));
                *tx
            }
            other => panic!("expected one Request event, got {other:?}"),
        };
        (tx, invite)
    }

    fn answer(
        l: &TransactionLayer,
        tx: callrec_sip::transaction::ServerTxId,
        status: u16,
    ) -> Message {
        Message::response_to(
            l.server_request(tx).unwrap(),
            status,
            "Reason",
            Some("uas1"),
        )
    }

    #[test]
    fn invite_server_resends_the_last_provisional_on_invite_retransmission() {
        let clock = Clock::new();
        let mut l = layer();
        let (tx, invite) = new_invite(&mut l, &clock, udp());
        l.handle_message(clock.at(500), udp(), invite.clone());
        assert_eq!(sent(&mut l), vec!["100"]);
        assert!(
            events(&mut l).is_empty(),
            "a retransmission is not a new request"
        );
        l.send_response(clock.at(600), tx, answer(&l, tx, 180));
        assert_eq!(sent(&mut l), vec!["180"]);
        l.handle_message(clock.at(1500), udp(), invite);
        assert_eq!(sent(&mut l), vec!["180"]);
        assert!(events(&mut l).is_empty());
        assert_eq!(l.poll_timeout(), None, "no timers in Proceeding");
    }

    #[test]
    fn invite_server_retransmits_a_final_with_timer_g_until_timer_h_raises_ack_timeout() {
        let clock = Clock::new();
        let mut l = layer();
        let (tx, _) = new_invite(&mut l, &clock, udp());
        l.send_response(clock.at(0), tx, answer(&l, tx, 486));
        assert_eq!(sent(&mut l), vec!["486"]);
        let (tx_list, ev) = run_until(&mut l, &clock, 60_000);
        let times: Vec<u64> = tx_list.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            times,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert!(tx_list.iter().all(|(_, k)| k == "486"));
        assert!(matches!(ev[..], [(32_000, TxEvent::AckTimeout { tx: t })] if t == tx));
        assert!(l.is_empty());
        assert_eq!(l.stats().ack_timeouts, 1);
    }

    #[test]
    fn invite_server_stops_on_ack_and_absorbs_acks_and_invites_until_timer_i() {
        let clock = Clock::new();
        let mut l = layer();
        let (tx, invite) = new_invite(&mut l, &clock, udp());
        l.send_response(clock.at(0), tx, answer(&l, tx, 404));
        sent(&mut l);
        let (first, _) = run_until(&mut l, &clock, 600);
        assert_eq!(kinds(&first), vec![(500, "404")]);
        // Completed: a retransmitted INVITE gets the final response again.
        l.handle_message(clock.at(650), udp(), invite.clone());
        assert_eq!(sent(&mut l), vec!["404"]);
        let ack = request("ACK", invite.top_via().unwrap().branch().unwrap());
        l.handle_message(clock.at(700), udp(), ack.clone());
        assert!(sent(&mut l).is_empty());
        assert!(
            events(&mut l).is_empty(),
            "the ACK of a non-2xx stays in the transaction"
        );
        // Confirmed: ACKs and INVITEs absorbed silently.
        l.handle_message(clock.at(800), udp(), ack);
        l.handle_message(clock.at(900), udp(), invite);
        assert!(sent(&mut l).is_empty());
        assert!(events(&mut l).is_empty());
        assert_eq!(l.poll_timeout(), Some(clock.at(5700)), "Timer I = T4");
        let (rest, ev) = run_until(&mut l, &clock, 60_000);
        assert!(rest.is_empty() && ev.is_empty());
        assert!(l.is_empty());
    }

    #[test]
    fn invite_server_over_tcp_sends_the_final_once_and_ends_on_ack() {
        let clock = Clock::new();
        let mut l = layer();
        let (tx, invite) = new_invite(&mut l, &clock, tcp());
        l.send_response(clock.at(0), tx, answer(&l, tx, 486));
        assert_eq!(sent(&mut l), vec!["486"]);
        assert_eq!(l.poll_timeout(), Some(clock.at(32_000)), "only Timer H");
        let ack = request("ACK", invite.top_via().unwrap().branch().unwrap());
        l.handle_message(clock.at(100), tcp(), ack);
        assert!(l.is_empty(), "Timer I is zero over TCP");
        assert!(events(&mut l).is_empty());
    }

    #[test]
    fn invite_server_in_accepted_absorbs_invites_and_passes_acks_up_until_timer_l() {
        let clock = Clock::new();
        let mut l = layer();
        let (tx, invite) = new_invite(&mut l, &clock, udp());
        l.send_response(clock.at(0), tx, answer(&l, tx, 200));
        assert_eq!(sent(&mut l), vec!["200"]);
        l.handle_message(clock.at(100), udp(), invite);
        assert!(
            sent(&mut l).is_empty(),
            "INVITE retransmission absorbed in Accepted"
        );
        assert!(events(&mut l).is_empty());
        // The TU retransmits its 2xx through the transaction.
        l.send_response(clock.at(500), tx, answer(&l, tx, 200));
        assert_eq!(sent(&mut l), vec!["200"]);
        // A 487 after the 200 is refused.
        l.send_response(clock.at(600), tx, answer(&l, tx, 487));
        assert!(sent(&mut l).is_empty());
        // The ACK of the 2xx (new branch) goes up.
        l.handle_message(clock.at(700), udp(), request("ACK", &new_branch()));
        assert!(matches!(&events(&mut l)[..], [TxEvent::Ack { from, req }]
            if *from == udp() && req.method() == Some(&Method::Ack)));
        assert_eq!(l.poll_timeout(), Some(clock.at(32_000)), "Timer L = 64*T1");
        let (rest, ev) = run_until(&mut l, &clock, 60_000);
        assert!(rest.is_empty() && ev.is_empty());
        assert!(l.is_empty());
    }

    #[test]
    fn non_invite_server_answers_retransmissions_with_the_cached_response_until_timer_j() {
        let clock = Clock::new();
        let mut l = layer();
        let req = request("OPTIONS", &new_branch());
        l.handle_message(clock.at(0), udp(), req.clone());
        assert!(sent(&mut l).is_empty(), "no automatic 100 for non-INVITE");
        let tx = match &events(&mut l)[..] {
            [TxEvent::Request { tx, .. }] => *tx,
            other => panic!("{other:?}"),
        };
        l.handle_message(clock.at(500), udp(), req.clone());
        assert!(sent(&mut l).is_empty(), "Trying absorbs silently");
        assert!(events(&mut l).is_empty());
        l.send_response(clock.at(600), tx, answer(&l, tx, 200));
        assert_eq!(sent(&mut l), vec!["200"]);
        l.handle_message(clock.at(1500), udp(), req.clone());
        assert_eq!(sent(&mut l), vec!["200"]);
        assert!(events(&mut l).is_empty());
        assert_eq!(l.poll_timeout(), Some(clock.at(32_600)), "Timer J = 64*T1");
        let (rest, ev) = run_until(&mut l, &clock, 60_000);
        assert!(rest.is_empty() && ev.is_empty());
        assert!(l.is_empty());
        assert_eq!(l.stats().absorbed, 2);
    }

    #[test]
    fn non_invite_server_over_tcp_ends_with_its_final_response() {
        let clock = Clock::new();
        let mut l = layer();
        l.handle_message(clock.at(0), tcp(), request("BYE", &new_branch()));
        let tx = match &events(&mut l)[..] {
            [TxEvent::Request { tx, .. }] => *tx,
            other => panic!("{other:?}"),
        };
        l.send_response(clock.at(10), tx, answer(&l, tx, 200));
        assert_eq!(sent(&mut l), vec!["200"]);
        assert!(l.is_empty(), "Timer J is zero over TCP");
    }

    #[test]
    fn cancel_of_a_pending_invite_gets_200_and_a_cancelled_event_then_487_waits_for_ack() {
        let clock = Clock::new();
        let mut l = layer();
        let (tx, invite) = new_invite(&mut l, &clock, udp());
        l.send_response(clock.at(100), tx, answer(&l, tx, 180));
        sent(&mut l);
        let branch = invite.top_via().unwrap().branch().unwrap().to_owned();
        let cancel = request("CANCEL", &branch);
        l.handle_message(clock.at(1000), udp(), cancel.clone());
        let out = sent_msgs(&mut l);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status(), Some(200));
        assert_eq!(out[0].cseq().unwrap().method, Method::Cancel);
        assert_eq!(
            out[0].to().unwrap().tag(),
            Some("uas1"),
            "same To tag as the 180"
        );
        assert!(
            matches!(&events(&mut l)[..], [TxEvent::Cancelled { tx: t, cancel }]
            if *t == tx && cancel.method() == Some(&Method::Cancel))
        );
        // A retransmitted CANCEL: the cached 200, no second event.
        l.handle_message(clock.at(1500), udp(), cancel);
        assert_eq!(sent(&mut l), vec!["200"]);
        assert!(events(&mut l).is_empty());
        l.send_response(clock.at(1600), tx, answer(&l, tx, 487));
        assert_eq!(sent(&mut l), vec!["487"]);
        l.handle_message(clock.at(1700), udp(), request("ACK", &branch));
        assert!(sent(&mut l).is_empty());
        assert!(events(&mut l).is_empty());
    }

    #[test]
    fn cancel_matching_nothing_gets_481_and_no_event() {
        let clock = Clock::new();
        let mut l = layer();
        l.handle_message(clock.at(0), udp(), request("CANCEL", &new_branch()));
        assert_eq!(sent(&mut l), vec!["481"]);
        assert!(events(&mut l).is_empty());
    }

    #[test]
    fn cancel_after_the_final_response_gets_200_but_no_event() {
        let clock = Clock::new();
        let mut l = layer();
        let (tx, invite) = new_invite(&mut l, &clock, udp());
        l.send_response(clock.at(100), tx, answer(&l, tx, 200));
        sent(&mut l);
        let branch = invite.top_via().unwrap().branch().unwrap().to_owned();
        l.handle_message(clock.at(200), udp(), request("CANCEL", &branch));
        assert_eq!(sent(&mut l), vec!["200"]);
        assert!(events(&mut l).is_empty());
    }

    #[test]
    fn a_request_without_via_gets_400_and_an_ack_without_via_is_dropped() {
        let clock = Clock::new();
        let mut l = layer();
        let no_via = parse(
            b"OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\n\
Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        );
        l.handle_message(clock.at(0), udp(), no_via);
        assert_eq!(sent(&mut l), vec!["400"]);
        let ack = parse(
            b"ACK sip:a@b SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\n\
Call-ID: c\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        );
        l.handle_message(clock.at(1), udp(), ack);
        assert!(sent(&mut l).is_empty());
        assert!(events(&mut l).is_empty());
        assert!(l.is_empty());
        assert_eq!(l.stats().malformed, 2);
    }

    #[test]
    fn an_ack_matching_no_transaction_goes_up_for_the_dialog() {
        let clock = Clock::new();
        let mut l = layer();
        l.handle_message(clock.at(0), udp(), request("ACK", &new_branch()));
        assert!(matches!(&events(&mut l)[..], [TxEvent::Ack { .. }]));
        assert!(sent(&mut l).is_empty());
    }

    #[test]
    fn responses_go_to_the_peer_the_request_came_from() {
        let clock = Clock::new();
        let mut l = layer();
        let other = Peer {
            transport: Transport::Udp,
            addr: "[2001:db8::7]:5080".parse().unwrap(),
        };
        let (tx, _) = {
            let invite = request("INVITE", &new_branch());
            l.handle_message(clock.at(0), other, invite.clone());
            let t = l.poll_transmit().unwrap();
            assert_eq!(t.to, other);
            let tx = match &events(&mut l)[..] {
                [TxEvent::Request { tx, .. }] => *tx,
                e => panic!("{e:?}"),
            };
            (tx, invite)
        };
        l.send_response(clock.at(5), tx, answer(&l, tx, 486));
        assert_eq!(l.poll_transmit().unwrap().to, other);
    }
}

mod transport_errors {
    use super::*;

    #[test]
    fn a_transport_error_ends_pending_client_transactions_to_that_peer_with_timeout() {
        let clock = Clock::new();
        let mut l = layer();
        let invite = l.send_request(clock.at(0), tcp(), request("INVITE", &new_branch()));
        let options = l.send_request(clock.at(0), tcp(), request("OPTIONS", &new_branch()));
        let elsewhere = l.send_request(clock.at(0), udp(), request("OPTIONS", &new_branch()));
        sent(&mut l);
        l.transport_error(clock.at(10), tcp());
        let ev = events(&mut l);
        assert_eq!(ev.len(), 2);
        assert!(matches!(ev[0], TxEvent::Timeout { tx } if tx == invite));
        assert!(matches!(ev[1], TxEvent::Timeout { tx } if tx == options));
        assert_eq!(l.len(), 1, "the UDP transaction to another peer lives on");
        l.transport_error(clock.at(20), tcp());
        assert!(events(&mut l).is_empty());
        assert!(l.client_request(elsewhere).is_some());
    }

    #[test]
    fn a_transport_error_after_the_final_response_changes_nothing() {
        let clock = Clock::new();
        let mut l = layer();
        let req = request("INVITE", &new_branch());
        l.send_request(clock.at(0), udp(), req.clone());
        l.handle_message(clock.at(5), udp(), response(&req, 200, Some("t")));
        sent(&mut l);
        events(&mut l);
        l.transport_error(clock.at(10), udp());
        assert!(events(&mut l).is_empty());
        assert_eq!(l.len(), 1, "Accepted waits for Timer M");
    }
}
