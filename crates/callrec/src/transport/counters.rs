//! Counters of the SIP transport (lock-free; read with [`Counters::snapshot`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared by the socket tasks.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) udp_received: AtomicU64,
    pub(crate) tcp_received: AtomicU64,
    pub(crate) parse_errors: AtomicU64,
    pub(crate) error_replies: AtomicU64,
    pub(crate) keepalives: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) send_dropped: AtomicU64,
    pub(crate) tcp_accepted: AtomicU64,
    pub(crate) tcp_connected: AtomicU64,
    pub(crate) tcp_connect_failed: AtomicU64,
    pub(crate) tcp_idle_closed: AtomicU64,
    pub(crate) tcp_framing_closed: AtomicU64,
    pub(crate) tcp_refused: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Datagrams received on UDP sockets (parsed or not).
    pub udp_received: u64,
    /// Messages framed on TCP connections (parsed or not).
    pub tcp_received: u64,
    /// Datagrams or stream messages that did not parse (dropped).
    pub parse_errors: u64,
    /// Error responses (400/513) sent for unparseable requests.
    pub error_replies: u64,
    /// CRLF keep-alive pings answered on TCP.
    pub keepalives: u64,
    /// Transmits handed to a socket or connection queue.
    pub sent: u64,
    /// Transmits dropped: UDP socket not ready, connection queue full, no socket of that
    /// address family, or connection failed.
    pub send_dropped: u64,
    /// Inbound TCP connections accepted.
    pub tcp_accepted: u64,
    /// Outbound TCP connections established.
    pub tcp_connected: u64,
    /// Outbound TCP connections that could not be established.
    pub tcp_connect_failed: u64,
    /// TCP connections closed for idleness.
    pub tcp_idle_closed: u64,
    /// TCP connections closed because the stream could not be framed (or a write failed).
    pub tcp_framing_closed: u64,
    /// Inbound TCP connections refused because the connection limit was reached.
    pub tcp_refused: u64,
}

impl Counters {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> CounterSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            udp_received: g(&self.udp_received),
            tcp_received: g(&self.tcp_received),
            parse_errors: g(&self.parse_errors),
            error_replies: g(&self.error_replies),
            keepalives: g(&self.keepalives),
            sent: g(&self.sent),
            send_dropped: g(&self.send_dropped),
            tcp_accepted: g(&self.tcp_accepted),
            tcp_connected: g(&self.tcp_connected),
            tcp_connect_failed: g(&self.tcp_connect_failed),
            tcp_idle_closed: g(&self.tcp_idle_closed),
            tcp_framing_closed: g(&self.tcp_framing_closed),
            tcp_refused: g(&self.tcp_refused),
        }
    }
}
