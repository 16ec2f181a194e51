//! The INVITE client transaction (RFC 3261 §17.1.1 with the RFC 6026 Accepted state).
//!
//! ```text
//! Calling --1xx--> Proceeding --300-699 / send ACK--> Completed --Timer D--> Terminated
//!    |  \------------------------2xx------------------> Accepted --Timer M--> Terminated
//!    +--Timer A (UDP): retransmit, double; Timer B: Timeout
//! ```
//! Timer B also runs again in Proceeding once a CANCEL was sent (§9.1: without a final
//! response 64*T1 after the CANCEL the INVITE is given up).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::debug;

use super::build::ack_for_non_2xx;
use super::config::TimerConfig;
use super::event::{Output, TxEvent};
use super::peer::{ClientTxId, Peer};
use super::timer::{Timer, TimerTable};
use crate::message::Message;

/// States of the INVITE client transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Calling,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

/// Where the CANCEL of this INVITE stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelState {
    /// Not asked for.
    None,
    /// Asked for before any provisional response: sent when one arrives, under this id.
    Pending(ClientTxId),
    /// Sent in its own transaction.
    Sent(ClientTxId),
}

/// One INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientInvite {
    pub(crate) id: ClientTxId,
    pub(crate) peer: Peer,
    pub(crate) request: Message,
    bytes: Bytes,
    pub(crate) state: State,
    pub(crate) timers: TimerTable,
    interval: Duration,
    config: TimerConfig,
    ack: Option<Bytes>,
    pub(crate) cancel: CancelState,
}

impl ClientInvite {
    /// Sends the INVITE and arms Timers A (UDP) and B.
    pub(crate) fn start(
        id: ClientTxId,
        now: Instant,
        peer: Peer,
        request: Message,
        config: TimerConfig,
        out: &mut Output,
    ) -> ClientInvite {
        let bytes = request.to_bytes();
        out.send(peer, bytes.clone());
        let mut timers = TimerTable::default();
        if !peer.transport.is_reliable() {
            timers.set(Timer::A, now + config.t1);
        }
        timers.set(Timer::B, now + config.timeout());
        ClientInvite {
            id,
            peer,
            request,
            bytes,
            state: State::Calling,
            timers,
            interval: config.t1,
            config,
            ack: None,
            cancel: CancelState::None,
        }
    }

    /// A response matched this transaction.
    pub(crate) fn on_response(&mut self, now: Instant, resp: Message, out: &mut Output) {
        let Some(status) = resp.status() else { return };
        match (self.state, status) {
            (State::Calling | State::Proceeding, 100..=199) => {
                if self.state == State::Calling {
                    self.timers.stop(Timer::A);
                    self.timers.stop(Timer::B);
                }
                self.state = State::Proceeding;
                out.event(TxEvent::Response { tx: self.id, resp });
            }
            (State::Calling | State::Proceeding, 200..=299) => {
                self.timers.stop_all();
                self.state = State::Accepted;
                self.timers.set(Timer::M, now + self.config.timeout());
                out.event(TxEvent::Response { tx: self.id, resp });
            }
            (State::Calling | State::Proceeding, 300..=699) => {
                self.timers.stop_all();
                self.ack = ack_for_non_2xx(&self.request, &resp).map(|a| a.to_bytes());
                match &self.ack {
                    Some(ack) => out.send(self.peer, ack.clone()),
                    None => debug!(status, "cannot build ACK: unreadable To in response"),
                }
                if self.peer.transport.is_reliable() {
                    self.state = State::Terminated;
                } else {
                    self.state = State::Completed;
                    self.timers.set(Timer::D, now + self.config.timer_d());
                }
                out.event(TxEvent::Response { tx: self.id, resp });
            }
            (State::Completed, 300..=699) => {
                out.stats.absorbed += 1;
                if let Some(ack) = &self.ack {
                    out.send(self.peer, ack.clone());
                }
            }
            (State::Accepted, 200..=299) => {
                out.event(TxEvent::Response { tx: self.id, resp });
            }
            _ => out.stats.absorbed += 1,
        }
    }

    /// The CANCEL of this INVITE was sent now: give the INVITE 64*T1 more for its final
    /// response (§9.1), then time out.
    pub(crate) fn on_cancel_sent(&mut self, now: Instant, cancel: ClientTxId) {
        self.cancel = CancelState::Sent(cancel);
        if matches!(self.state, State::Calling | State::Proceeding) {
            self.timers.set(Timer::B, now + self.config.timeout());
        }
    }

    /// `timer` fired.
    pub(crate) fn on_timer(&mut self, now: Instant, timer: Timer, out: &mut Output) {
        match (timer, self.state) {
            (Timer::A, State::Calling) => {
                out.send(self.peer, self.bytes.clone());
                out.stats.retransmissions += 1;
                self.interval = self.interval.saturating_mul(2);
                self.timers.set(Timer::A, now + self.interval);
            }
            (Timer::B, State::Calling | State::Proceeding) => {
                out.stats.timeouts += 1;
                out.event(TxEvent::Timeout { tx: self.id });
                self.terminate();
            }
            (Timer::D, State::Completed) | (Timer::M, State::Accepted) => self.terminate(),
            _ => {}
        }
    }

    /// The transport could not deliver to the peer (RFC 3261 §17.1.4): before a final
    /// response this ends the transaction with Timeout.
    pub(crate) fn on_transport_error(&mut self, out: &mut Output) {
        if matches!(self.state, State::Calling | State::Proceeding) {
            out.stats.timeouts += 1;
            out.event(TxEvent::Timeout { tx: self.id });
            self.terminate();
        }
    }

    fn terminate(&mut self) {
        self.timers.stop_all();
        self.state = State::Terminated;
    }

    /// Whether a final response arrived (or the transaction ended): a CANCEL is pointless.
    pub(crate) fn is_final(&self) -> bool {
        !matches!(self.state, State::Calling | State::Proceeding)
    }
}
