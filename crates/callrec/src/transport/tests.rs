//! Transport tests through real loopback sockets (port 0). Every wait is bounded.

use std::net::SocketAddr;
use std::time::Duration;

use callrec_sip::message::Message;
use callrec_sip::transaction::{Peer, Transmit, Transport as Proto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::{Incoming, SipSockets, TransportOptions};

const WAIT: Duration = Duration::from_secs(5);

fn options_request(branch: &str, via_host: &str) -> String {
    format!(
        "OPTIONS sip:callrec@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP {via_host};branch={branch};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:callrec@example.com>\r\n\
Call-ID: {branch}@example.com\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

async fn next(rx: &mut mpsc::Receiver<Incoming>) -> Incoming {
    timeout(WAIT, rx.recv())
        .await
        .expect("a message arrives in time")
        .expect("channel open")
}

async fn bind(udp: bool, tcp: bool) -> (SipSockets, mpsc::Receiver<Incoming>) {
    SipSockets::bind(&["127.0.0.1:0".parse().unwrap()], udp, tcp)
        .await
        .expect("binds on loopback")
}

#[tokio::test]
async fn udp_request_arrives_with_received_and_rport_stamped_and_the_reply_goes_back() {
    let (t, mut rx) = bind(true, false).await;
    let server = t.local_addr(Proto::Udp, false).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client_addr = client.local_addr().unwrap();
    client
        .send_to(
            options_request("z9hG4bKu1", "10.9.9.9:5060").as_bytes(),
            server,
        )
        .await
        .unwrap();
    let inc = next(&mut rx).await;
    assert_eq!(
        inc.from,
        Peer {
            transport: Proto::Udp,
            addr: client_addr
        }
    );
    let via = inc.msg.top_via().unwrap();
    assert_eq!(via.received(), Some("127.0.0.1"));
    assert_eq!(via.rport(), Some(Some(client_addr.port())));
    let resp = Message::response_to(&inc.msg, 200, "OK", Some("t1"));
    t.send(Transmit {
        to: inc.from,
        payload: resp.to_bytes(),
    });
    let mut buf = vec![0u8; 65535];
    let (n, src) = timeout(WAIT, client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(src, server);
    let got = Message::parse_slice(&buf[..n]).unwrap();
    assert_eq!(got.status(), Some(200));
    let c = t.counters();
    assert_eq!((c.udp_received, c.sent, c.parse_errors), (1, 1, 0));
}

#[tokio::test]
async fn udp_garbage_is_counted_and_a_readable_bad_request_gets_400() {
    let (t, mut rx) = bind(true, false).await;
    let server = t.local_addr(Proto::Udp, false).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(b"\x16\x03\x01garbage", server)
        .await
        .unwrap();
    let truncated = options_request("z9hG4bKbad", "10.9.9.9")
        .replace("Content-Length: 0", "Content-Length: 50");
    client.send_to(truncated.as_bytes(), server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = timeout(WAIT, client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let reply = Message::parse_slice(&buf[..n]).unwrap();
    assert_eq!(reply.status(), Some(400));
    // Still alive: a good request goes through.
    client
        .send_to(
            options_request("z9hG4bKgood", "10.9.9.9").as_bytes(),
            server,
        )
        .await
        .unwrap();
    let inc = next(&mut rx).await;
    assert_eq!(inc.msg.top_via().unwrap().branch(), Some("z9hG4bKgood"));
    let c = t.counters();
    assert_eq!(c.parse_errors, 2);
    assert_eq!(c.error_replies, 1);
}

#[tokio::test]
async fn tcp_frames_two_messages_in_one_write_and_one_message_split_across_writes() {
    let (t, mut rx) = bind(false, true).await;
    let server = t.local_addr(Proto::Tcp, false).unwrap();
    let mut s = TcpStream::connect(server).await.unwrap();
    let me = s.local_addr().unwrap();
    let two = format!(
        "{}{}",
        options_request("z9hG4bKt1", "10.9.9.9"),
        options_request("z9hG4bKt2", "10.9.9.9")
    );
    s.write_all(two.as_bytes()).await.unwrap();
    let third = options_request("z9hG4bKt3", "10.9.9.9");
    let (a, b) = third.as_bytes().split_at(40);
    s.write_all(a).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    s.write_all(b).await.unwrap();
    let mut branches = Vec::new();
    for _ in 0..3 {
        let inc = next(&mut rx).await;
        assert_eq!(
            inc.from,
            Peer {
                transport: Proto::Tcp,
                addr: me
            }
        );
        assert_eq!(inc.msg.top_via().unwrap().received(), Some("127.0.0.1"));
        branches.push(inc.msg.top_via().unwrap().branch().unwrap().to_owned());
    }
    assert_eq!(branches, vec!["z9hG4bKt1", "z9hG4bKt2", "z9hG4bKt3"]);
    // The reply goes back over the same connection.
    t.send(Transmit {
        to: Peer {
            transport: Proto::Tcp,
            addr: me,
        },
        payload: Message::parse_slice(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .to_bytes(),
    });
    let mut buf = vec![0u8; 1024];
    let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200 OK"));
    assert_eq!(t.counters().tcp_received, 3);
}

#[tokio::test]
async fn tcp_crlf_ping_gets_a_crlf_pong() {
    let (t, _rx) = bind(false, true).await;
    let server = t.local_addr(Proto::Tcp, false).unwrap();
    let mut s = TcpStream::connect(server).await.unwrap();
    s.write_all(b"\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 8];
    let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"\r\n");
    assert_eq!(t.counters().keepalives, 1);
}

#[tokio::test]
async fn tcp_send_to_an_unknown_peer_opens_a_connection_and_reads_its_answer() {
    let (t, mut rx) = bind(false, true).await;
    let peer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer_listener.local_addr().unwrap();
    let req = options_request("z9hG4bKout", "127.0.0.1");
    t.send(Transmit {
        to: Peer {
            transport: Proto::Tcp,
            addr: peer_addr,
        },
        payload: Message::parse_slice(req.as_bytes()).unwrap().to_bytes(),
    });
    let (mut conn, _) = timeout(WAIT, peer_listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"\r\n\r\n") {
        let n = timeout(WAIT, conn.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&buf[..n]);
    }
    let sent = Message::parse_slice(&got).unwrap();
    let resp = Message::response_to(&sent, 200, "OK", Some("x"));
    conn.write_all(&resp.to_bytes()).await.unwrap();
    let inc = next(&mut rx).await;
    assert_eq!(
        inc.from,
        Peer {
            transport: Proto::Tcp,
            addr: peer_addr
        }
    );
    assert_eq!(inc.msg.status(), Some(200));
    assert_eq!(t.counters().tcp_connected, 1);
    assert_eq!(t.tcp_connections(), 1);
}

#[tokio::test]
async fn tcp_garbage_is_answered_when_readable_and_closes_the_connection() {
    let (t, _rx) = bind(false, true).await;
    let server = t.local_addr(Proto::Tcp, false).unwrap();
    let mut s = TcpStream::connect(server).await.unwrap();
    // No Content-Length on a stream: cannot be framed.
    let bad = options_request("z9hG4bKnolen", "10.9.9.9").replace("Content-Length: 0\r\n", "");
    s.write_all(bad.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let reply = Message::parse_slice(&got).unwrap();
    assert_eq!(reply.status(), Some(400));
    let c = t.counters();
    assert_eq!(
        (c.parse_errors, c.error_replies, c.tcp_framing_closed),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn idle_tcp_connections_are_closed() {
    let opts = TransportOptions {
        tcp_idle_timeout: Duration::from_millis(100),
        ..TransportOptions::default()
    };
    let (t, _rx) = SipSockets::bind_with(&["127.0.0.1:0".parse().unwrap()], false, true, opts)
        .await
        .unwrap();
    let server = t.local_addr(Proto::Tcp, false).unwrap();
    let mut s = TcpStream::connect(server).await.unwrap();
    let mut buf = [0u8; 8];
    let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "the server closed the idle connection");
    assert_eq!(t.counters().tcp_idle_closed, 1);
    assert_eq!(t.tcp_connections(), 0);
}

#[tokio::test]
async fn udp_and_tcp_on_ipv6_loopback_when_available() {
    let addr: SocketAddr = "[::1]:0".parse().unwrap();
    let Ok((t, mut rx)) = SipSockets::bind(&[addr], true, true).await else {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    };
    let server = t.local_addr(Proto::Udp, true).unwrap();
    let client = UdpSocket::bind("[::1]:0").await.unwrap();
    client
        .send_to(options_request("z9hG4bKv6", "[::1]").as_bytes(), server)
        .await
        .unwrap();
    let inc = next(&mut rx).await;
    assert!(inc.from.addr.is_ipv6());
    let via = inc.msg.top_via().unwrap();
    assert_eq!(via.received(), Some("::1"), "rport forces received");
    assert_eq!(via.rport(), Some(Some(client.local_addr().unwrap().port())));
    assert!(t.local_addr(Proto::Tcp, true).is_some());
}

#[tokio::test]
async fn binding_nothing_is_an_error() {
    assert!(SipSockets::bind(&[], true, true).await.is_err());
    assert!(
        SipSockets::bind(&["127.0.0.1:0".parse().unwrap()], false, false)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_transaction_layer_behind_the_transport_answers_100_and_absorbs_a_retransmission() {
    use callrec_sip::transaction::{TimerConfig, TransactionLayer, TxEvent};
    let (t, mut rx) = bind(true, false).await;
    let server = t.local_addr(Proto::Udp, false).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let invite = options_request("z9hG4bKinv", "10.9.9.9")
        .replace("OPTIONS sip", "INVITE sip")
        .replace("1 OPTIONS", "1 INVITE");
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let mut requests = 0;
    let mut buf = vec![0u8; 65535];
    for _ in 0..2 {
        client.send_to(invite.as_bytes(), server).await.unwrap();
        let inc = next(&mut rx).await;
        layer.handle_message(std::time::Instant::now(), inc.from, inc.msg);
        while let Some(tr) = layer.poll_transmit() {
            t.send(tr);
        }
        while let Some(ev) = layer.poll_event() {
            assert!(matches!(ev, TxEvent::Request { .. }));
            requests += 1;
        }
        let (n, _) = timeout(WAIT, client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let reply = Message::parse_slice(&buf[..n]).unwrap();
        assert_eq!(reply.status(), Some(100));
        let via = reply.top_via().unwrap();
        assert_eq!(
            via.received(),
            Some("127.0.0.1"),
            "the stamped Via is echoed"
        );
    }
    assert_eq!(requests, 1, "the retransmitted INVITE was absorbed");
    assert_eq!(layer.len(), 1);
}

#[tokio::test]
async fn a_tcp_connection_that_cannot_be_opened_is_reported_as_a_failure() {
    let (t, _rx) = bind(false, true).await;
    let mut failures = t.take_failures().expect("first take");
    assert!(t.take_failures().is_none(), "only once");
    // A port that was just free: nothing listens there.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let to = Peer {
        transport: Proto::Tcp,
        addr: closed,
    };
    t.send(Transmit {
        to,
        payload: Message::parse_slice(options_request("z9hG4bKf", "127.0.0.1").as_bytes())
            .unwrap()
            .to_bytes(),
    });
    let failed = timeout(WAIT, failures.recv()).await.unwrap().unwrap();
    assert_eq!(failed, to);
    let c = t.counters();
    assert_eq!(c.tcp_connect_failed, 1);
    assert_eq!(
        c.send_dropped, 1,
        "the queued transmit is dropped and counted"
    );
    assert_eq!(t.tcp_connections(), 0);
}
