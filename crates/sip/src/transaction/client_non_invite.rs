//! The non-INVITE client transaction (RFC 3261 §17.1.2).
//!
//! ```text
//! Trying --1xx--> Proceeding --final--> Completed --Timer K--> Terminated
//!   |                 |
//!   +-- Timer E (UDP): retransmit, interval doubles up to T2 (T2 in Proceeding)
//!   +-- Timer F: Timeout
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::config::TimerConfig;
use super::event::{Output, TxEvent};
use super::peer::{ClientTxId, Peer};
use super::timer::{Timer, TimerTable};
use crate::message::Message;

/// States of the non-INVITE client transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// One non-INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    pub(crate) id: ClientTxId,
    pub(crate) peer: Peer,
    pub(crate) request: Message,
    bytes: Bytes,
    pub(crate) state: State,
    pub(crate) timers: TimerTable,
    interval: Duration,
    config: TimerConfig,
}

impl ClientNonInvite {
    /// Sends the request and arms Timers E (UDP) and F.
    pub(crate) fn start(
        id: ClientTxId,
        now: Instant,
        peer: Peer,
        request: Message,
        config: TimerConfig,
        out: &mut Output,
    ) -> ClientNonInvite {
        let bytes = request.to_bytes();
        out.send(peer, bytes.clone());
        let mut timers = TimerTable::default();
        if !peer.transport.is_reliable() {
            timers.set(Timer::E, now + config.t1);
        }
        timers.set(Timer::F, now + config.timeout());
        ClientNonInvite {
            id,
            peer,
            request,
            bytes,
            state: State::Trying,
            timers,
            interval: config.t1,
            config,
        }
    }

    /// A response matched this transaction.
    pub(crate) fn on_response(&mut self, now: Instant, resp: Message, out: &mut Output) {
        let Some(status) = resp.status() else { return };
        match (self.state, status) {
            (State::Trying | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                out.event(TxEvent::Response { tx: self.id, resp });
            }
            (State::Trying | State::Proceeding, 200..=699) => {
                self.timers.stop_all();
                if self.peer.transport.is_reliable() {
                    self.state = State::Terminated;
                } else {
                    self.state = State::Completed;
                    self.timers.set(Timer::K, now + self.config.t4);
                }
                out.event(TxEvent::Response { tx: self.id, resp });
            }
            _ => out.stats.absorbed += 1,
        }
    }

    /// `timer` fired.
    pub(crate) fn on_timer(&mut self, now: Instant, timer: Timer, out: &mut Output) {
        match (timer, self.state) {
            (Timer::E, State::Trying | State::Proceeding) => {
                out.send(self.peer, self.bytes.clone());
                out.stats.retransmissions += 1;
                self.interval = if self.state == State::Proceeding {
                    self.config.t2
                } else {
                    self.interval.saturating_mul(2).min(self.config.t2)
                };
                self.timers.set(Timer::E, now + self.interval);
            }
            (Timer::F, State::Trying | State::Proceeding) => {
                out.stats.timeouts += 1;
                out.event(TxEvent::Timeout { tx: self.id });
                self.terminate();
            }
            (Timer::K, State::Completed) => self.terminate(),
            _ => {}
        }
    }

    /// The transport could not deliver to the peer (RFC 3261 §17.1.4): before a final
    /// response this ends the transaction with Timeout.
    pub(crate) fn on_transport_error(&mut self, out: &mut Output) {
        if matches!(self.state, State::Trying | State::Proceeding) {
            out.stats.timeouts += 1;
            out.event(TxEvent::Timeout { tx: self.id });
            self.terminate();
        }
    }

    fn terminate(&mut self) {
        self.timers.stop_all();
        self.state = State::Terminated;
    }
}
