//! The non-INVITE server transaction (RFC 3261 §17.2.2).
//!
//! ```text
//! Trying --1xx--> Proceeding --final--> Completed --Timer J--> Terminated
//! ```
//! Request retransmissions: absorbed silently in Trying, answered with the last response in
//! Proceeding and Completed.

use std::time::Instant;

use bytes::Bytes;
use tracing::debug;

use super::config::TimerConfig;
use super::event::Output;
use super::peer::Peer;
use super::timer::{Timer, TimerTable};
use crate::message::Message;

/// States of the non-INVITE server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// One non-INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    pub(crate) peer: Peer,
    pub(crate) request: Message,
    pub(crate) state: State,
    pub(crate) timers: TimerTable,
    last: Option<Bytes>,
    config: TimerConfig,
}

impl ServerNonInvite {
    /// A new request (nothing is sent until the TU answers).
    pub(crate) fn start(peer: Peer, request: Message, config: TimerConfig) -> ServerNonInvite {
        ServerNonInvite {
            peer,
            request,
            state: State::Trying,
            timers: TimerTable::default(),
            last: None,
            config,
        }
    }

    /// The request arrived again.
    pub(crate) fn on_retransmission(&mut self, out: &mut Output) {
        out.stats.absorbed += 1;
        if let (State::Proceeding | State::Completed, Some(last)) = (self.state, &self.last) {
            out.send(self.peer, last.clone());
        }
    }

    /// The TU (or the layer, for CANCEL) sends `resp`. Returns false after the final response.
    pub(crate) fn send_response(&mut self, now: Instant, resp: &Message, out: &mut Output) -> bool {
        let Some(status) = resp.status() else {
            return false;
        };
        match (self.state, status) {
            (State::Trying | State::Proceeding, 100..=199) => {
                let b = resp.to_bytes();
                out.send(self.peer, b.clone());
                self.last = Some(b);
                self.state = State::Proceeding;
            }
            (State::Trying | State::Proceeding, 200..=699) => {
                let b = resp.to_bytes();
                out.send(self.peer, b.clone());
                self.last = Some(b);
                if self.peer.transport.is_reliable() {
                    self.state = State::Terminated;
                } else {
                    self.state = State::Completed;
                    self.timers.set(Timer::J, now + self.config.timeout());
                }
            }
            (state, status) => {
                debug!(?state, status, "response not sent: transaction past it");
                return false;
            }
        }
        true
    }

    /// `timer` fired.
    pub(crate) fn on_timer(&mut self, timer: Timer) {
        if (timer, self.state) == (Timer::J, State::Completed) {
            self.timers.stop_all();
            self.state = State::Terminated;
        }
    }
}
