//! What the relay decides for one received datagram.

use std::net::SocketAddr;

use super::leg::Leg;

/// Which of a leg's two sockets a datagram arrived on or leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The even RTP port.
    Rtp,
    /// The odd RTCP port.
    Rtcp,
}

/// The relay's decision for one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send the datagram unchanged to `to`, from the `via` leg's socket of `channel`.
    Forward {
        /// Destination (the other party's latched or signalled address).
        to: SocketAddr,
        /// The leg whose relay socket sends it (the other leg).
        via: Leg,
        /// Which socket of that leg.
        channel: Channel,
        /// Whether it is an RTP packet (a candidate for the recorder); false for RTCP.
        is_rtp: bool,
    },
    /// Valid, from the leg's latched source, but the other party's address is not known yet (no
    /// SDP, nothing latched), or there is no other party (callrec answered the call itself):
    /// nothing is sent and it is counted as [`DropReason::DestinationUnknown`], but its audio may
    /// still be recorded (`record_caller`).
    NoDestination {
        /// Whether it is an RTP packet (a candidate for the recorder); false for RTCP.
        is_rtp: bool,
    },
    /// Do not forward; the reason is counted.
    Drop(DropReason),
}

impl Decision {
    /// Whether the packet is RTP that passed validation and source checks, so a recorder may
    /// take it (forwarded or not).
    pub fn is_recordable(&self) -> bool {
        matches!(
            self,
            Decision::Forward { is_rtp: true, .. } | Decision::NoDestination { is_rtp: true }
        )
    }
}

/// Why a datagram was dropped. Each reason has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a valid RTP/RTCP packet (wrong version, truncated, bad padding).
    NotRtp,
    /// The leg is latched and the packet came from another source address.
    WrongSource,
    /// The other leg's address is unknown: no SDP yet and nothing latched (see
    /// [`Decision::NoDestination`]).
    DestinationUnknown,
    /// The call has been closed.
    Closed,
}

impl DropReason {
    /// All reasons, in counter order.
    pub const ALL: [DropReason; 4] = [
        DropReason::NotRtp,
        DropReason::WrongSource,
        DropReason::DestinationUnknown,
        DropReason::Closed,
    ];

    /// Index into a counter array.
    pub fn index(self) -> usize {
        match self {
            DropReason::NotRtp => 0,
            DropReason::WrongSource => 1,
            DropReason::DestinationUnknown => 2,
            DropReason::Closed => 3,
        }
    }

    /// Short name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotRtp => "not_rtp",
            DropReason::WrongSource => "wrong_source",
            DropReason::DestinationUnknown => "destination_unknown",
            DropReason::Closed => "closed",
        }
    }
}
