//! Who a message comes from or goes to, and the identifiers of transactions.

use std::net::SocketAddr;

/// The transport a message travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Unreliable datagrams: the transaction layer retransmits (timers A, E, G).
    Udp,
    /// A reliable stream: no retransmissions; timers D, I, J, K are zero.
    Tcp,
}

impl Transport {
    /// Whether the transport is reliable (RFC 3261 §17: no retransmission timers).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }
}

/// The remote end of a message: transport and address. For TCP the driver maps it to a
/// connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// UDP or TCP.
    pub transport: Transport,
    /// The remote socket address (source of a received message, destination of a sent one).
    pub addr: SocketAddr,
}

/// Identifies a server transaction (a request we received) for the life of the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(pub u64);

/// Identifies a client transaction (a request we sent) for the life of the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(pub u64);
