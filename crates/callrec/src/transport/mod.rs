//! SIP over UDP and TCP, IPv4 and IPv6: the tokio driver under the sans-IO transaction layer.
//!
//! [`SipSockets::bind`] opens UDP sockets and TCP listeners on the given addresses and returns
//! the transport handle and a channel of [`Incoming`] messages. Received octets are parsed
//! ([`callrec_sip::message::Message::parse`]; TCP streams are cut with
//! [`callrec_sip::message::frame_stream`]); requests get `received` / `rport` stamped on their
//! top Via (RFC 3261 §18.2.1, RFC 3581); unparseable input is counted and dropped, answered
//! with 400 (513 when too large) when it was a request whose Via could be read. TCP CRLF
//! keep-alive pings ("\r\n\r\n") are answered with "\r\n" (RFC 5626 §3.5.1). Idle TCP
//! connections are closed.
//!
//! [`SipSockets::send`] never waits: UDP uses `try_send_to`; TCP hands the write to the
//! connection's task through a bounded queue (`try_send`), opening an outbound connection to
//! the peer when there is none. Whatever cannot be sent at once is dropped and counted
//! ([`CounterSnapshot::send_dropped`]); the transaction layer retransmits over UDP.
//!
//! | file | what |
//! | --- | --- |
//! | `udp.rs` | the UDP receive loop and `send_to` |
//! | `tcp.rs` | listeners, connections (framing, keep-alive, idle), outbound connect |
//! | `counters.rs` | [`Counters`], [`CounterSnapshot`] |
//! | `error.rs` | [`TransportError`] |
//!
//! The engine's loop, in short (see the test
//! `the_transaction_layer_behind_the_transport_answers_100_and_absorbs_a_retransmission`):
//!
//! ```ignore
//! let (transport, mut incoming) = SipSockets::bind(&addrs, true, true).await?;
//! loop {
//!     let deadline = layer.poll_timeout();
//!     tokio::select! {
//!         Some(inc) = incoming.recv() => layer.handle_message(Instant::now(), inc.from, inc.msg),
//!         _ = sleep_until_opt(deadline) => layer.handle_timeout(Instant::now()),
//!     }
//!     while let Some(t) = layer.poll_transmit() { transport.send(t); }
//!     while let Some(ev) = layer.poll_event() { /* to the B2BUA */ }
//! }
//! ```
//!
//! Limitations: a UDP transmit leaves from the first bound socket of the destination's address
//! family (not necessarily the socket the request arrived on); binding `[::]` on Linux is
//! dual-stack, IPv4 peers on it appear as plain IPv4 addresses. When the TCP connection a request
//! came on is gone, a response is sent on a new connection to the same address (RFC 3261
//! §18.2.2's retry to the Via sent-by port is not done). Transport failures are counted, not
//! reported to the transaction layer (its timers B/F end such transactions). No TLS, no
//! WebSocket, no UDP→TCP switch for large requests (§18.1.1).

mod counters;
mod error;
mod tcp;
mod udp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callrec_sip::message::Message;
use callrec_sip::transaction::{Peer, Transmit, Transport as Proto};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};

pub use counters::{CounterSnapshot, Counters};
pub use error::TransportError;

/// Delivery failures queued for [`SipSockets::take_failures`] before further ones are dropped.
const FAILURE_QUEUE: usize = 1024;

/// A message received from the network.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Transport and source address (for TCP, the connection's peer address).
    pub from: Peer,
    /// The parsed message; requests carry the stamped top Via.
    pub msg: Message,
}

/// Tunables of the transport (defaults in brackets).
#[derive(Debug, Clone, Copy)]
pub struct TransportOptions {
    /// Close a TCP connection after this long without reading or writing [300 s].
    pub tcp_idle_timeout: Duration,
    /// Give up opening an outbound TCP connection after this long [5 s].
    pub connect_timeout: Duration,
    /// Close a TCP connection when one write takes longer than this [10 s].
    pub write_timeout: Duration,
    /// Writes queued per TCP connection before further transmits are dropped [256].
    pub tcp_queue: usize,
    /// Received messages queued for the engine before the sockets stop reading [4096].
    pub incoming_queue: usize,
    /// Most TCP connections at once (inbound and outbound) [4096].
    pub max_tcp_connections: usize,
}

impl Default for TransportOptions {
    fn default() -> TransportOptions {
        TransportOptions {
            tcp_idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            tcp_queue: 256,
            incoming_queue: 4096,
            max_tcp_connections: 4096,
        }
    }
}

/// The writer side of one TCP connection, as kept in the connection map.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::Sender<Transmit>,
}

/// State shared by the handle and the socket tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    pub(crate) incoming: mpsc::Sender<Incoming>,
    /// The UDP sockets with their bound addresses.
    pub(crate) udp: Vec<(Arc<UdpSocket>, SocketAddr)>,
    pub(crate) conns: Mutex<HashMap<SocketAddr, ConnHandle>>,
    pub(crate) next_conn: std::sync::atomic::AtomicU64,
    pub(crate) options: TransportOptions,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) runtime: tokio::runtime::Handle,
    /// Peers the transport could not deliver to (see [`SipSockets::take_failures`]).
    pub(crate) failures: mpsc::Sender<Peer>,
}

/// Tells the tasks to stop when the last handle goes away.
#[derive(Debug)]
struct ShutdownGuard(watch::Sender<bool>);

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// The SIP transport: bound sockets, their tasks, and the TCP connection map. Cheap to clone;
/// the sockets close when the last clone is dropped (or on [`SipSockets::shutdown`]).
#[derive(Debug, Clone)]
pub struct SipSockets {
    shared: Arc<Shared>,
    guard: Arc<ShutdownGuard>,
    local: Vec<(Proto, SocketAddr)>,
    failures: Arc<Mutex<Option<mpsc::Receiver<Peer>>>>,
}

impl SipSockets {
    /// Binds UDP sockets (if `udp`) and TCP listeners (if `tcp`) on every address and starts
    /// their tasks on the current tokio runtime. With port 0, TCP tries the port UDP got.
    pub async fn bind(
        addrs: &[SocketAddr],
        udp: bool,
        tcp: bool,
    ) -> Result<(SipSockets, mpsc::Receiver<Incoming>), TransportError> {
        SipSockets::bind_with(addrs, udp, tcp, TransportOptions::default()).await
    }

    /// [`SipSockets::bind`] with options.
    pub async fn bind_with(
        addrs: &[SocketAddr],
        udp: bool,
        tcp: bool,
        options: TransportOptions,
    ) -> Result<(SipSockets, mpsc::Receiver<Incoming>), TransportError> {
        if addrs.is_empty() || !(udp || tcp) {
            return Err(TransportError::NothingToBind);
        }
        let mut local = Vec::new();
        let mut udp_sockets = Vec::new();
        let mut listeners = Vec::new();
        for &addr in addrs {
            let mut tcp_addr = addr;
            if udp {
                let s = UdpSocket::bind(addr)
                    .await
                    .map_err(|source| TransportError::BindUdp { addr, source })?;
                let bound = s
                    .local_addr()
                    .map_err(|source| TransportError::BindUdp { addr, source })?;
                if addr.port() == 0 {
                    tcp_addr = bound;
                }
                local.push((Proto::Udp, bound));
                udp_sockets.push((Arc::new(s), bound));
            }
            if tcp {
                let l = match TcpListener::bind(tcp_addr).await {
                    Ok(l) => l,
                    Err(_) if tcp_addr != addr => TcpListener::bind(addr)
                        .await
                        .map_err(|source| TransportError::BindTcp { addr, source })?,
                    Err(source) => return Err(TransportError::BindTcp { addr, source }),
                };
                let bound = l
                    .local_addr()
                    .map_err(|source| TransportError::BindTcp { addr, source })?;
                local.push((Proto::Tcp, bound));
                listeners.push(l);
            }
        }
        let (in_tx, in_rx) = mpsc::channel(options.incoming_queue.max(1));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (fail_tx, fail_rx) = mpsc::channel(FAILURE_QUEUE);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            incoming: in_tx,
            udp: udp_sockets,
            conns: Mutex::new(HashMap::new()),
            next_conn: std::sync::atomic::AtomicU64::new(1),
            options,
            shutdown: stop_rx,
            runtime: tokio::runtime::Handle::current(),
            failures: fail_tx,
        });
        for (s, _) in &shared.udp {
            shared
                .runtime
                .spawn(udp::run_receiver(shared.clone(), s.clone()));
        }
        for l in listeners {
            shared.runtime.spawn(tcp::run_listener(shared.clone(), l));
        }
        Ok((
            SipSockets {
                shared,
                guard: Arc::new(ShutdownGuard(stop_tx)),
                local,
                failures: Arc::new(Mutex::new(Some(fail_rx))),
            },
            in_rx,
        ))
    }

    /// Sends `t` without waiting: UDP `try_send_to`, TCP through the peer's connection
    /// (opened if none). Failures are counted in `send_dropped` and logged at debug.
    pub fn send(&self, t: Transmit) {
        match t.to.transport {
            Proto::Udp => udp::send(&self.shared, &t),
            Proto::Tcp => tcp::send(&self.shared, t),
        }
    }

    /// The peers the transport failed to deliver to (an outbound TCP connection that could
    /// not be opened), for [`TransactionLayer::transport_error`]; the receiver can be taken
    /// once. Failures not read are dropped when the queue is full.
    ///
    /// [`TransactionLayer::transport_error`]: callrec_sip::transaction::TransactionLayer::transport_error
    pub fn take_failures(&self) -> Option<mpsc::Receiver<Peer>> {
        self.failures.lock().ok()?.take()
    }

    /// The bound addresses (actual ports when 0 was asked for).
    pub fn local_addrs(&self) -> Vec<(Proto, SocketAddr)> {
        self.local.clone()
    }

    /// The first bound address of `transport` whose family matches `ipv6`.
    pub fn local_addr(&self, transport: Proto, ipv6: bool) -> Option<SocketAddr> {
        self.local
            .iter()
            .find(|(p, a)| *p == transport && a.is_ipv6() == ipv6)
            .map(|(_, a)| *a)
    }

    /// The counters now.
    pub fn counters(&self) -> CounterSnapshot {
        self.shared.counters.snapshot()
    }

    /// Number of open (or opening) TCP connections.
    pub fn tcp_connections(&self) -> usize {
        self.shared.conns.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Stops every socket task; connections close. Also happens when the last clone drops.
    pub fn shutdown(&self) {
        let _ = self.guard.0.send(true);
    }
}

#[cfg(test)]
mod tests;
