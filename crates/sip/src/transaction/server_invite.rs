//! The INVITE server transaction (RFC 3261 §17.2.1 with the RFC 6026 Accepted state).
//!
//! ```text
//!  (100 Trying sent) Proceeding --300-699--> Completed --ACK--> Confirmed --Timer I--> Terminated
//!         |                        |  +-- Timer G (UDP): re-send final, double up to T2
//!         |                        |  +-- Timer H: AckTimeout
//!         +--2xx--> Accepted --Timer L--> Terminated
//! ```
//! INVITE retransmissions: Proceeding re-sends the last provisional response, Completed the
//! final response; Confirmed and Accepted absorb them. In Accepted the TU's 2xx
//! retransmissions pass through and an ACK matching the transaction is passed up.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::debug;

use super::build::trying;
use super::config::TimerConfig;
use super::event::{Output, TxEvent};
use super::peer::{Peer, ServerTxId};
use super::timer::{Timer, TimerTable};
use crate::message::Message;

/// States of the INVITE server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// One INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerInvite {
    pub(crate) id: ServerTxId,
    pub(crate) peer: Peer,
    pub(crate) request: Message,
    pub(crate) state: State,
    pub(crate) timers: TimerTable,
    /// The last response sent (re-sent on INVITE retransmissions and by Timer G).
    last: Bytes,
    /// The To tag of the last response that had one (for the 200 to a CANCEL).
    pub(crate) to_tag: Option<String>,
    interval: Duration,
    config: TimerConfig,
}

impl ServerInvite {
    /// A new INVITE: sends 100 Trying at once.
    pub(crate) fn start(
        id: ServerTxId,
        peer: Peer,
        request: Message,
        config: TimerConfig,
        out: &mut Output,
    ) -> ServerInvite {
        let last = trying(&request).to_bytes();
        out.send(peer, last.clone());
        ServerInvite {
            id,
            peer,
            request,
            state: State::Proceeding,
            timers: TimerTable::default(),
            last,
            to_tag: None,
            interval: config.t1,
            config,
        }
    }

    /// The INVITE arrived again.
    pub(crate) fn on_retransmission(&mut self, out: &mut Output) {
        out.stats.absorbed += 1;
        if matches!(self.state, State::Proceeding | State::Completed) {
            out.send(self.peer, self.last.clone());
        }
    }

    /// An ACK matched this transaction (same branch, sent-by).
    pub(crate) fn on_ack(&mut self, now: Instant, from: Peer, ack: Message, out: &mut Output) {
        match self.state {
            State::Completed => {
                self.timers.stop_all();
                if self.peer.transport.is_reliable() {
                    self.terminate();
                } else {
                    self.state = State::Confirmed;
                    self.timers.set(Timer::I, now + self.config.t4);
                }
            }
            State::Confirmed => out.stats.absorbed += 1,
            // An ACK for a 2xx that reused the INVITE's branch: it is the dialog's business.
            State::Accepted | State::Proceeding | State::Terminated => {
                out.event(TxEvent::Ack { from, req: ack });
            }
        }
    }

    /// The TU sends `resp` on this transaction. Returns false if the state does not allow it
    /// (a response after the final one, other than a 2xx retransmission in Accepted).
    pub(crate) fn send_response(&mut self, now: Instant, resp: &Message, out: &mut Output) -> bool {
        let Some(status) = resp.status() else {
            return false;
        };
        if let Some(tag) = resp.to().ok().and_then(|t| t.tag().map(str::to_owned)) {
            self.to_tag = Some(tag);
        }
        match (self.state, status) {
            (State::Proceeding, 100..=199) => {
                self.last = resp.to_bytes();
                out.send(self.peer, self.last.clone());
            }
            (State::Proceeding, 200..=299) => {
                self.last = resp.to_bytes();
                out.send(self.peer, self.last.clone());
                self.state = State::Accepted;
                self.timers.set(Timer::L, now + self.config.timeout());
            }
            (State::Proceeding, 300..=699) => {
                self.last = resp.to_bytes();
                out.send(self.peer, self.last.clone());
                self.state = State::Completed;
                if !self.peer.transport.is_reliable() {
                    self.interval = self.config.t1;
                    self.timers.set(Timer::G, now + self.interval);
                }
                self.timers.set(Timer::H, now + self.config.timeout());
            }
            (State::Accepted, 200..=299) => {
                out.send(self.peer, resp.to_bytes());
            }
            (state, status) => {
                debug!(?state, status, "response not sent: transaction past it");
                return false;
            }
        }
        true
    }

    /// `timer` fired.
    pub(crate) fn on_timer(&mut self, now: Instant, timer: Timer, out: &mut Output) {
        match (timer, self.state) {
            (Timer::G, State::Completed) => {
                out.send(self.peer, self.last.clone());
                out.stats.retransmissions += 1;
                self.interval = self.interval.saturating_mul(2).min(self.config.t2);
                self.timers.set(Timer::G, now + self.interval);
            }
            (Timer::H, State::Completed) => {
                out.stats.ack_timeouts += 1;
                out.event(TxEvent::AckTimeout { tx: self.id });
                self.terminate();
            }
            (Timer::I, State::Confirmed) | (Timer::L, State::Accepted) => self.terminate(),
            _ => {}
        }
    }

    fn terminate(&mut self) {
        self.timers.stop_all();
        self.state = State::Terminated;
    }
}
