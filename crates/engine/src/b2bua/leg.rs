//! One leg: a dialog with one peer (server dialog for the A leg, client dialog for a B leg),
//! its state and timestamps, and the in-dialog requests we build on it.

use std::time::{Duration, Instant};

use callrec_sip::message::{HeaderName, Message, Method, Uri};
use callrec_sip::transaction::{new_branch, ClientTxId, Peer, Transport};

use super::config::CoreConfig;
use super::events::LegInfo;
use super::ids::LegId;
use callrec_kazoo::cdr::HangupCause;

/// Where a leg is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LegState {
    /// INVITE sent (B) or received (A), no dialog yet.
    Trying,
    /// A provisional response with a tag was sent (A) or received (B).
    Early,
    /// 2xx sent (A) or received (B).
    Confirmed,
    /// We sent BYE (or CANCEL) and wait for it to finish.
    Ending,
    /// Over; its CDR was emitted.
    Ended,
}

/// A 2xx we sent on an INVITE server transaction and retransmit until the ACK comes
/// (RFC 3261 §13.3.1.4).
#[derive(Debug, Clone)]
pub(crate) struct PendingAck {
    pub(crate) resp: Message,
    pub(crate) cseq: u32,
    pub(crate) next: Instant,
    pub(crate) interval: Duration,
    pub(crate) give_up: Instant,
}

/// One leg of a call.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) id: LegId,
    pub(crate) info: LegInfo,
    pub(crate) state: LegState,
    /// Our tag: the To tag we gave the A leg, the From tag of a B leg.
    pub(crate) local_tag: String,
    /// The peer's tag, once known.
    pub(crate) remote_tag: Option<String>,
    /// Our side's name-addr with our tag (From of our requests on this leg).
    pub(crate) local_hdr: String,
    /// The peer's name-addr with its tag when known (To of our requests on this leg).
    pub(crate) remote_hdr: String,
    /// CSeq of the last request we sent on this leg.
    pub(crate) local_cseq: u32,
    /// Where in-dialog requests go (the peer's Contact).
    pub(crate) remote_target: Uri,
    /// Route header values for in-dialog requests.
    pub(crate) route_set: Vec<String>,
    /// Where we send to: the source of the A leg's INVITE, the registered-from address of a
    /// device, the gateway of a carrier.
    pub(crate) peer: Peer,
    pub(crate) created: Instant,
    pub(crate) answered: Option<Instant>,
    pub(crate) ended: Option<Instant>,
    /// Why it ended and the SIP status that said so.
    pub(crate) end: Option<(HangupCause, Option<u16>)>,
    /// Whether this leg's last offer put the call on hold.
    pub(crate) held: bool,
    /// B leg: our INVITE client transaction and the INVITE itself.
    pub(crate) invite_tx: Option<ClientTxId>,
    pub(crate) invite: Option<Message>,
    /// B leg: the ACK we sent for its 2xx (re-sent on 2xx retransmissions).
    pub(crate) ack: Option<Message>,
    /// B leg: a provisional response (other than 100) was seen.
    pub(crate) provisional_seen: bool,
    /// B leg: CANCEL was asked for.
    pub(crate) cancelled: bool,
    /// B leg to a carrier: fail over when nothing but 100 was heard by then.
    pub(crate) setup_deadline: Option<Instant>,
    /// A 2xx we sent on this leg that still waits for its ACK.
    pub(crate) pending_ack: Option<PendingAck>,
    /// An INVITE/UPDATE transaction is in progress on this leg (in either direction).
    pub(crate) offer_in_progress: bool,
    /// The ACK we owe this leg for a 2xx to a re-INVITE without SDP (late offer): sent when the
    /// other leg's ACK brings the answer.
    pub(crate) deferred_ack: Option<Message>,
    /// B leg to a carrier: the further gateways of the same destination, tried in order when
    /// this one fails with 5xx, 408 or a refusal to us.
    pub(crate) failover: std::collections::VecDeque<super::call::BTarget>,
}

impl Leg {
    /// Whether the leg is over or being torn down.
    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.state, LegState::Ending | LegState::Ended)
    }

    /// Whether a B leg's INVITE is still waiting for its final response.
    pub(crate) fn is_pending(&self) -> bool {
        matches!(self.state, LegState::Trying | LegState::Early)
    }

    /// A new in-dialog request on this leg (RFC 3261 §12.2.1.1), with a fresh CSeq and branch.
    pub(crate) fn request(&mut self, cfg: &CoreConfig, method: Method) -> Message {
        self.local_cseq = self.local_cseq.saturating_add(1);
        let cseq = self.local_cseq;
        self.request_with_cseq(cfg, method, cseq)
    }

    /// An in-dialog request with a given CSeq number (ACK reuses the INVITE's).
    pub(crate) fn request_with_cseq(&self, cfg: &CoreConfig, method: Method, cseq: u32) -> Message {
        let mut req = Message::request(method.clone(), self.remote_target.clone());
        req.push_header(HeaderName::Via, via_value(cfg, self.peer.transport));
        req.push_header(HeaderName::MaxForwards, cfg.max_forwards.to_string());
        for r in &self.route_set {
            req.push_header(HeaderName::Route, r);
        }
        req.push_header(HeaderName::From, &self.local_hdr);
        req.push_header(HeaderName::To, &self.remote_hdr);
        req.push_header(HeaderName::CallId, &self.info.call_id);
        req.push_header(HeaderName::CSeq, format!("{cseq} {method}"));
        if matches!(method, Method::Invite | Method::Update) {
            req.push_header(HeaderName::Contact, contact_value(cfg, self.peer.transport));
        }
        if !matches!(method, Method::Ack) {
            req.push_header(HeaderName::UserAgent, &cfg.user_agent);
        }
        req
    }
}

/// A Via value for a request we originate over `transport`, with a fresh branch.
pub(crate) fn via_value(cfg: &CoreConfig, transport: Transport) -> String {
    let a = cfg.advertised_for(transport);
    callrec_sip::message::format_via(
        transport_name(transport),
        &a.host,
        Some(a.port),
        &new_branch(),
        true,
    )
}

/// Our Contact (`<sip:callrec@host:port>`, with `;transport=tcp` over TCP).
pub(crate) fn contact_value(cfg: &CoreConfig, transport: Transport) -> String {
    let a = cfg.advertised_for(transport);
    let tp = match transport {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
    };
    format!("<sip:{}@{}:{}{tp}>", cfg.contact_user, a.host, a.port)
}

/// `UDP` / `TCP` as written in Via.
pub(crate) fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
    }
}

/// A random token for tags and Call-IDs.
pub(crate) fn random_token() -> String {
    callrec_sip::token::tag()
}
