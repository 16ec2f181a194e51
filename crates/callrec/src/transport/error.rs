//! Errors of setting up the SIP transport.

use std::net::SocketAddr;

/// Why [`SipSockets::bind`](super::SipSockets::bind) failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A UDP socket could not be bound.
    #[error("cannot bind SIP UDP socket on {addr}: {source}")]
    BindUdp {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A TCP listener could not be bound.
    #[error("cannot bind SIP TCP listener on {addr}: {source}")]
    BindTcp {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Nothing to bind: no addresses, or neither UDP nor TCP asked for.
    #[error("no SIP listen addresses, or neither UDP nor TCP enabled")]
    NothingToBind,
}
