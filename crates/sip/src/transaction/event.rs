//! What the layer hands back: datagrams/stream writes to perform, events for the transaction
//! user, and counters.

use bytes::Bytes;

use super::peer::{ClientTxId, Peer, ServerTxId};
use crate::message::Message;

/// A datagram / stream write for the driver to perform.
#[derive(Clone, Debug)]
pub struct Transmit {
    /// Where to send it. For TCP, the connection of that peer (opened if none).
    pub to: Peer,
    /// The printed message.
    pub payload: Bytes,
}

/// Something the transaction user must know about.
#[derive(Clone, Debug)]
pub enum TxEvent {
    /// A new request (not ACK, not CANCEL, not a retransmission). The TU must answer it with
    /// `send_response`. For INVITE the layer has already sent 100 Trying.
    Request {
        /// The server transaction to answer on.
        tx: ServerTxId,
        /// Where it came from (responses go back there).
        from: Peer,
        /// The request.
        req: Message,
    },
    /// A CANCEL matched a pending INVITE server transaction. The layer has already answered the
    /// CANCEL with 200; the TU must end the INVITE (send 487 on `tx`) and cancel its B legs.
    /// (A CANCEL that matches nothing gets 481 from the layer and no event.)
    Cancelled {
        /// The INVITE server transaction that was cancelled.
        tx: ServerTxId,
        /// The CANCEL request.
        cancel: Message,
    },
    /// An ACK that belongs to no transaction: the ACK for a 2xx (end to end), for the dialog
    /// layer.
    Ack {
        /// Where it came from.
        from: Peer,
        /// The ACK.
        req: Message,
    },
    /// A response on a client transaction: provisional or final. For INVITE client transactions
    /// in the RFC 6026 Accepted state, 2xx retransmissions are passed up too (the TU re-sends
    /// ACK).
    Response {
        /// The client transaction.
        tx: ClientTxId,
        /// The response.
        resp: Message,
    },
    /// A response that matched no client transaction (e.g. a late 2xx retransmission).
    StrayResponse {
        /// Where it came from.
        from: Peer,
        /// The response.
        resp: Message,
    },
    /// Timer B or F fired: no final response will come.
    Timeout {
        /// The client transaction that timed out.
        tx: ClientTxId,
    },
    /// Timer H fired: the final non-2xx response to an INVITE was never ACKed.
    AckTimeout {
        /// The INVITE server transaction.
        tx: ServerTxId,
    },
}

/// Counters of the layer since it was created (for metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Client transactions started (including CANCELs the layer sent).
    pub client_started: u64,
    /// Server transactions created.
    pub server_started: u64,
    /// Retransmissions sent by timers A, E, G.
    pub retransmissions: u64,
    /// Retransmitted requests or responses absorbed by a transaction (answered or dropped
    /// without an event).
    pub absorbed: u64,
    /// Responses that matched no client transaction.
    pub stray_responses: u64,
    /// Received messages the layer could not match (no Via branch, bad CSeq...) and dropped
    /// or answered with 400.
    pub malformed: u64,
    /// Timers B and F that fired.
    pub timeouts: u64,
    /// Timers H that fired.
    pub ack_timeouts: u64,
}

/// The queues the transactions write into; drained by the layer's `poll_*` methods.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) transmits: std::collections::VecDeque<Transmit>,
    pub(crate) events: std::collections::VecDeque<TxEvent>,
    pub(crate) stats: TxStats,
}

impl Output {
    /// Queues `payload` for `to`.
    pub(crate) fn send(&mut self, to: Peer, payload: Bytes) {
        self.transmits.push_back(Transmit { to, payload });
    }

    /// Queues an event for the TU.
    pub(crate) fn event(&mut self, e: TxEvent) {
        self.events.push_back(e);
    }
}
