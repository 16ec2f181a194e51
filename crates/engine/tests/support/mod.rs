//! A sans-IO test network for the B2BUA: our side is a `TransactionLayer` + `Core`; peers are
//! scripted SIP endpoints (phones, carrier gateways) that receive what we transmit as parsed
//! `Message`s and answer by hand. Time is a fake clock advanced explicitly; nothing sleeps.
//! (The pattern of quinn-proto's `Pair` and str0m's `progress`.)

#![allow(dead_code)]

pub mod engine_net;
pub mod phone;
pub mod world;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callrec_engine::b2bua::{Advertised, CallEvent, Core, CoreConfig, MediaSeam, PassthroughMedia};
use callrec_kazoo::directory::Directory;
use callrec_sip::message::Message;
use callrec_sip::transaction::{Peer, TimerConfig, TransactionLayer, Transport};

/// Our address in tests.
pub const SERVER: &str = "10.0.0.1:5060";

/// The network: our side and every peer's inbox.
pub struct Net {
    pub now: Instant,
    pub txl: TransactionLayer,
    pub core: Core,
    /// The media seam (pass-through unless a test sets its own).
    pub media: Box<dyn MediaSeam>,
    pub server: SocketAddr,
    inbox: HashMap<SocketAddr, VecDeque<Message>>,
    /// Every event the core emitted, in order.
    pub events: Vec<CallEvent>,
    /// Peers that talk to us over TCP (everyone else uses UDP).
    pub tcp_peers: Vec<SocketAddr>,
    /// The transport of every transmission, by destination, in order.
    pub transports: Vec<(SocketAddr, Transport)>,
}

/// A stopped wall clock at gregorian second 63,900,000,000 (interaction ids start with it).
fn fixed_clock() -> callrec_engine::wall_clock::WallClock {
    callrec_engine::wall_clock::WallClock::stopped(
        callrec_kazoo::gregorian::to_unix(63_900_000_000) * 1000,
    )
}

/// Our config in tests: 10.0.0.1:5060 over UDP.
pub fn config() -> CoreConfig {
    CoreConfig {
        advertised: vec![Advertised {
            transport: Transport::Udp,
            host: "10.0.0.1".to_owned(),
            port: 5060,
        }],
        wall_clock: fixed_clock(),
        ..CoreConfig::default()
    }
}

impl Net {
    /// A network around a core using `dir`.
    pub fn new(dir: Directory) -> Net {
        Net {
            now: Instant::now(),
            txl: TransactionLayer::new(TimerConfig::default()),
            core: Core::new(config(), Arc::new(dir)),
            media: Box::new(PassthroughMedia),
            server: SERVER.parse().expect("server address"),
            inbox: HashMap::new(),
            events: Vec::new(),
            tcp_peers: Vec::new(),
            transports: Vec::new(),
        }
    }

    /// `msg` arrives at our side from `from` (printed and re-parsed, as on the wire).
    pub fn deliver(&mut self, from: SocketAddr, msg: &Message) {
        let parsed = Message::parse(msg.to_bytes()).expect("test message parses");
        let transport = if self.tcp_peers.contains(&from) {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let peer = Peer {
            transport,
            addr: from,
        };
        self.txl.handle_message(self.now, peer, parsed);
        self.pump();
    }

    /// Drains the layer and the core until both are quiet.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.txl.poll_event() {
                self.core
                    .handle_tx_event(self.now, ev, &mut self.txl, &mut *self.media);
                progressed = true;
            }
            while let Some(t) = self.txl.poll_transmit() {
                let msg = Message::parse(t.payload.clone()).expect("we transmit parsable SIP");
                self.transports.push((t.to.addr, t.to.transport));
                self.inbox.entry(t.to.addr).or_default().push_back(msg);
                progressed = true;
            }
            while let Some(e) = self.core.poll_event() {
                self.events.push(e);
            }
            if !progressed {
                break;
            }
        }
    }

    /// Moves the fake clock forward by `d`, firing every timer due on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.txl.poll_timeout(), self.core.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.txl.handle_timeout(self.now);
                    self.pump();
                    self.core
                        .handle_timeout(self.now, &mut self.txl, &mut *self.media);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// Everything sent to `at` so far, oldest first (removed from the inbox).
    pub fn take(&mut self, at: SocketAddr) -> Vec<Message> {
        self.inbox
            .get_mut(&at)
            .map(|q| q.drain(..).collect())
            .unwrap_or_default()
    }

    /// The first message to `at` that `pred` accepts; messages before it are dropped (100
    /// Trying and the like). Panics with what arrived when none matches.
    pub fn expect(
        &mut self,
        at: SocketAddr,
        what: &str,
        pred: impl Fn(&Message) -> bool,
    ) -> Message {
        let q = self.inbox.entry(at).or_default();
        let mut seen = Vec::new();
        while let Some(m) = q.pop_front() {
            if pred(&m) {
                return m;
            }
            seen.push(first_line(&m));
        }
        panic!("{at} expected {what}, got {seen:?}");
    }

    /// The first response with `status` to `at`.
    pub fn expect_status(&mut self, at: SocketAddr, status: u16) -> Message {
        self.expect(at, &format!("a {status} response"), |m| {
            m.status() == Some(status)
        })
    }

    /// The first request with `method` to `at`.
    pub fn expect_request(&mut self, at: SocketAddr, method: &str) -> Message {
        self.expect(at, &format!("a {method} request"), |m| {
            m.method().is_some_and(|x| x.as_str() == method)
        })
    }

    /// Whether anything matching `pred` is waiting for `at` (without removing it).
    pub fn has(&self, at: SocketAddr, pred: impl Fn(&Message) -> bool) -> bool {
        self.inbox.get(&at).is_some_and(|q| q.iter().any(pred))
    }

    /// Events of the core drained so far (and forgets them).
    pub fn drain_events(&mut self) -> Vec<CallEvent> {
        std::mem::take(&mut self.events)
    }
}

/// What scripted endpoints need of a test network: deliver to our side, read what we sent,
/// move the fake clock.
pub trait Network {
    /// Our SIP address.
    fn server(&self) -> SocketAddr;
    /// `msg` arrives at our side from `from`.
    fn deliver(&mut self, from: SocketAddr, msg: &Message);
    /// The first message to `at` that `pred` accepts (earlier ones dropped).
    fn expect(&mut self, at: SocketAddr, what: &str, pred: impl Fn(&Message) -> bool) -> Message;
    /// Moves the fake clock forward, firing timers.
    fn advance(&mut self, d: Duration);
}

impl Network for Net {
    fn server(&self) -> SocketAddr {
        self.server
    }
    fn deliver(&mut self, from: SocketAddr, msg: &Message) {
        Net::deliver(self, from, msg)
    }
    fn expect(&mut self, at: SocketAddr, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
        Net::expect(self, at, what, pred)
    }
    fn advance(&mut self, d: Duration) {
        Net::advance(self, d)
    }
}

/// The start line of a message, for failure output.
pub fn first_line(m: &Message) -> String {
    let b = m.to_bytes();
    let s = String::from_utf8_lossy(&b);
    s.lines().next().unwrap_or_default().to_owned()
}

/// A small SDP offer/answer from `ip:port`, optionally with a direction attribute.
pub fn sdp(ip: &str, port: u16, direction: Option<&str>) -> String {
    let mut s = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    if let Some(d) = direction {
        s.push_str(&format!("a={d}\r\n"));
    }
    s
}
