//! What the core tells the engine: the recording lifecycle hooks and CDR facts, in order.

use super::ids::{CallRef, LegId};
use callrec_kazoo::cdr::CdrFacts;
use callrec_kazoo::routing::RecordData;
use callrec_kazoo::tags::LegTags;

/// A leg as the engine needs it when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegInfo {
    /// Which leg.
    pub leg: LegId,
    /// This leg's own Call-ID.
    pub call_id: String,
    /// The From URI of this leg's INVITE.
    pub from_uri: String,
    /// The To URI.
    pub to_uri: String,
    /// The Request-URI.
    pub request_uri: String,
    /// Direction, network, resource type, ids and caller id.
    pub tags: LegTags,
}

/// Events drained with [`Core::poll_event`](super::Core::poll_event). For one call they come
/// in this order: `LegStarted` (A), `RecordCall`* , then per B leg `LegStarted`,
/// `LegRinging`?, and for the winner `LegAnswered` (B), `LegAnswered` (A), `Bridged`;
/// `Hold`/`Unhold` any time after; `LegEnded` once per leg; `CallEnded` when the
/// conversation is over (after every other event, except the `LegEnded` of a cancelled fork
/// still finishing its INVITE, which may come up to 64×T1 later).
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// A leg began: the A leg once the caller is authorized and routing starts, a B leg when
    /// its INVITE is sent.
    LegStarted {
        /// The call.
        call: CallRef,
        /// What the leg is (boxed: it is the largest event).
        leg: Box<LegInfo>,
    },
    /// A B leg rang (180) or sent early media (183).
    LegRinging {
        /// The call.
        call: CallRef,
        /// The B leg.
        leg: LegId,
    },
    /// A leg was answered: a B leg sent 2xx, or we sent 2xx to the A leg.
    LegAnswered {
        /// The call.
        call: CallRef,
        /// The leg.
        leg: LegId,
    },
    /// A and B are both answered and media flows between them.
    Bridged {
        /// The call.
        call: CallRef,
        /// The A leg.
        a: LegId,
        /// The winning B leg.
        b: LegId,
    },
    /// A leg put the other on hold (its offer was sendonly/inactive or c=0.0.0.0).
    Hold {
        /// The call.
        call: CallRef,
        /// The leg that sent the hold offer.
        leg: LegId,
    },
    /// A leg that had put the call on hold took it off hold.
    Unhold {
        /// The call.
        call: CallRef,
        /// The leg that sent the offer.
        leg: LegId,
    },
    /// A `record_call` callflow action was met while routing, before the target. The engine
    /// interprets `data` with the policy crate. Comes after the A leg's `LegStarted`.
    RecordCall {
        /// The call.
        call: CallRef,
        /// The action's data as the callflow gave it.
        data: RecordData,
    },
    /// Routing ended in `record_caller`: callrec answered the A leg itself (200 with
    /// `MediaSeam::local_answer`'s SDP). The engine records the caller and calls
    /// [`Core::hangup`](super::Core::hangup) at its end (time limit, DTMF).
    RecordCaller {
        /// The call.
        call: CallRef,
        /// The action's data.
        data: RecordData,
    },
    /// A leg ended; its CDR facts.
    LegEnded {
        /// The call.
        call: CallRef,
        /// The leg.
        leg: LegId,
        /// What signalling knows for its CDR.
        cdr: Box<CdrFacts>,
    },
    /// The conversation is over: every leg has ended, or the only legs left are cancelled
    /// forks still finishing their INVITE (their `LegEnded` follows). Media was released and
    /// the call's recordings stop now.
    CallEnded {
        /// The call.
        call: CallRef,
    },
}
