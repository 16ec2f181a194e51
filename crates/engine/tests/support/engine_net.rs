//! A sans-IO test network around the whole [`Engine`]: scripted peers exchange SIP with it,
//! the fake clock drives its timers, and every command it gives is kept for the test to read
//! and to answer (spool entry written, recorder finished, media closed) as a driver would.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callrec_engine::wall_clock::WallClock;
use callrec_engine::{Command, Engine, EngineConfig, MediaCommand};
use callrec_kazoo::directory::Directory;
use callrec_kazoo::recording::PolicyConfig;
use callrec_media::record::Channels;
use callrec_sip::message::Message;
use callrec_sip::transaction::{Peer, TimerConfig, Transport};

use super::{config, first_line, Network, SERVER};

/// Unix time of the engine's wall clock at the test's start (2024-11-14 22:13:20 UTC).
pub const UNIX_START_MS: u64 = 1_731_622_400_000;

/// The network: the engine and every peer's inbox.
pub struct EngineNet {
    pub now: Instant,
    pub start: Instant,
    pub engine: Engine,
    pub server: SocketAddr,
    inbox: HashMap<SocketAddr, VecDeque<Message>>,
    /// Every command the engine gave, in order (the test removes what it answered).
    pub commands: Vec<Command>,
}

impl EngineNet {
    /// An engine over `dir` with relay ports 20000-20099; recording ids are 1, 2, 3 ...
    pub fn new(dir: Directory) -> EngineNet {
        EngineNet::with_config(dir, |_| {})
    }

    /// As [`EngineNet::new`] with the config changed by `edit` first.
    pub fn with_config(dir: Directory, edit: impl FnOnce(&mut EngineConfig)) -> EngineNet {
        let start = Instant::now();
        let mut next = 0u128;
        let mut cfg = EngineConfig {
            core: config(),
            timers: TimerConfig::default(),
            policy: PolicyConfig::default(),
            relay_ip: "10.0.0.1".parse().expect("relay ip"),
            port_min: 20_000,
            port_max: 20_099,
            recordable_codecs_only: true,
            channels: Channels::Stereo,
            node_id: None,
        };
        edit(&mut cfg);
        let engine = Engine::new(
            cfg,
            Arc::new(dir),
            WallClock::new(start, UNIX_START_MS),
            Box::new(move || {
                next += 1;
                next
            }),
        )
        .expect("port range");
        let mut net = EngineNet {
            now: start,
            start,
            engine,
            server: SERVER.parse().expect("server address"),
            inbox: HashMap::new(),
            commands: Vec::new(),
        };
        net.pump();
        net
    }

    /// Drains transmits into the peers' inboxes and commands into [`Self::commands`]; port
    /// binds and media closes are answered at once (every port binds; closed ports go back to
    /// the pool). Binds are not kept in [`Self::commands`].
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.engine.poll_transmit() {
                let msg = Message::parse(t.payload.clone()).expect("we transmit parsable SIP");
                self.inbox.entry(t.to.addr).or_default().push_back(msg);
                progressed = true;
            }
            while let Some(c) = self.engine.poll_command() {
                progressed = true;
                match c {
                    Command::Media(MediaCommand::Bind { pairs }) => {
                        self.engine.handle_ports_bound(pairs, Vec::new());
                        continue;
                    }
                    Command::Media(MediaCommand::Close { call }) => {
                        self.engine.handle_media_closed(call);
                    }
                    _ => {}
                }
                self.commands.push(c);
            }
            if !progressed {
                break;
            }
        }
    }

    /// Everything sent to `at` so far, oldest first (removed from the inbox).
    pub fn take(&mut self, at: SocketAddr) -> Vec<Message> {
        self.inbox
            .get_mut(&at)
            .map(|q| q.drain(..).collect())
            .unwrap_or_default()
    }

    /// Removes and returns the commands given so far.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }
}

impl Network for EngineNet {
    fn server(&self) -> SocketAddr {
        self.server
    }

    fn deliver(&mut self, from: SocketAddr, msg: &Message) {
        let parsed = Message::parse(msg.to_bytes()).expect("test message parses");
        let peer = Peer {
            transport: Transport::Udp,
            addr: from,
        };
        self.engine.handle_message(self.now, peer, parsed);
        self.pump();
    }

    fn expect(&mut self, at: SocketAddr, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
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

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.engine.poll_timeout().filter(|t| *t <= end) {
            self.now = self.now.max(t);
            self.engine.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
    }
}
