//! One call's relay on its shard ([`super::shard`]): four non-blocking UDP sockets (RTP and
//! RTCP of legs A and B), the sans-IO `CallRelay` deciding each datagram (and noticing DTMF,
//! the media timeout and recordings' time limits), and the recorder queues fed with recordable
//! RTP. This only does I/O; the shard's loop says when.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use callrec_media::relay::{CallRelay, Channel, Decision, Leg, RelayEvent};
use callrec_media::session::SessionCommand;
use mio::net::UdpSocket;
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};
use tokio::sync::{mpsc, Notify};

use super::event::MediaEvent;
use super::recording::{RecorderFeed, RecorderOutbox, RecordingId};

/// Largest datagram read; RTP for audio is far smaller.
pub(crate) const MAX_DATAGRAM: usize = 2048;

/// Sockets per call: A RTP, A RTCP, B RTP, B RTCP (see [`socket_index`]).
pub(crate) const SOCKETS: usize = 4;

/// The index of a leg's channel socket in a call's sockets.
pub(crate) fn socket_index(leg: Leg, channel: Channel) -> usize {
    leg.index() * 2
        + match channel {
            Channel::Rtp => 0,
            Channel::Rtcp => 1,
        }
}

/// The leg and channel of a socket index (the inverse of [`socket_index`]).
fn socket_of(index: usize) -> (Leg, Channel) {
    let leg = if index < 2 { Leg::A } else { Leg::B };
    let channel = if index % 2 == 0 {
        Channel::Rtp
    } else {
        Channel::Rtcp
    };
    (leg, channel)
}

/// Commands from the call handle to its relay.
#[derive(Debug)]
pub(crate) enum Command {
    /// A session change decided by the engine.
    Session(SessionCommand),
    /// Feed this recording from now on, until `deadline`.
    AddRecorder {
        id: RecordingId,
        feed: RecorderFeed,
        deadline: Instant,
    },
    /// Stop feeding this recording; it ends at `at`.
    StopRecorder { id: RecordingId, at: Instant },
}

/// A call's relay state, owned by one shard.
pub(crate) struct RelayCall {
    /// Indexed by [`socket_index`].
    sockets: [UdpSocket; SOCKETS],
    relay: CallRelay,
    events: mpsc::UnboundedSender<MediaEvent>,
    /// Signalled after an event is queued on `events` (see `MediaDriver::events_waiting`).
    events_waiting: Arc<Notify>,
    /// The recordings fed (usually none or one).
    recorders: Vec<(RecordingId, RecorderFeed)>,
    /// `media` with the call's name, entered around what the call logs (commands, timers,
    /// relay events, socket errors), not for every datagram.
    span: tracing::Span,
}

impl RelayCall {
    pub(crate) fn new(
        sockets: [UdpSocket; SOCKETS],
        relay: CallRelay,
        events: mpsc::UnboundedSender<MediaEvent>,
        events_waiting: Arc<Notify>,
        span: tracing::Span,
    ) -> Self {
        RelayCall {
            sockets,
            relay,
            events,
            events_waiting,
            recorders: Vec::new(),
            span,
        }
    }

    /// The sockets, to register with (and deregister from) the shard's poll.
    pub(crate) fn sockets(&self) -> &[UdpSocket; SOCKETS] {
        &self.sockets
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due, if ever.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.relay.poll_timeout()
    }

    /// Reads one datagram waiting on socket `index` (if there is one) and relays it; a
    /// recordable packet goes to `out` for each recording. The call's span is entered only to
    /// log.
    pub(crate) fn read_socket(&mut self, index: usize, buf: &mut [u8], out: &mut RecorderOutbox) {
        let (leg, channel) = socket_of(index);
        let Some(socket) = self.sockets.get(index) else {
            return;
        };
        // rustix: the system call itself, not glibc's wrapper (a cancellation point, with its
        // bookkeeping on every call).
        match rustix::net::recvfrom(socket, &mut *buf, RecvFlags::empty()) {
            Ok((len, _, Some(src))) => {
                if let Ok(src) = SocketAddr::try_from(src) {
                    self.received(leg, channel, (len, src), buf, out);
                }
            }
            // No source address: not a datagram from a peer.
            Ok((_, _, None)) | Err(Errno::AGAIN | Errno::INTR) => {}
            Err(e) => {
                // ICMP port unreachable and the like surface here on some systems; not fatal.
                self.span.in_scope(|| {
                    tracing::debug!(leg = leg.as_str(), error = %e, "relay socket receive error");
                });
            }
        }
        self.drain_relay_events(out);
    }

    fn received(
        &mut self,
        leg: Leg,
        channel: Channel,
        (len, src): (usize, SocketAddr),
        buf: &[u8],
        out: &mut RecorderOutbox,
    ) {
        let Some(bytes) = buf.get(..len) else {
            return;
        };
        let at = Instant::now();
        let decision = self.relay.on_packet(at, leg, channel, src, bytes);
        if decision.is_recordable() {
            for (_, feed) in &self.recorders {
                out.push(feed, leg, at, bytes);
            }
        }
        if let Decision::Forward {
            to, via, channel, ..
        } = decision
        {
            let Some(socket) = self.sockets.get(socket_index(via, channel)) else {
                return;
            };
            if let Err(e) = rustix::net::sendto(socket, bytes, SendFlags::empty(), &to) {
                self.span.in_scope(|| {
                    tracing::debug!(leg = via.as_str(), error = %e, "relay send failed");
                });
            }
        }
    }

    /// Carries out a command from the call's handle.
    pub(crate) fn command(&mut self, now: Instant, command: Command, out: &mut RecorderOutbox) {
        let span = self.span.clone();
        let _entered = span.enter();
        match command {
            Command::Session(SessionCommand::Remote {
                leg,
                rtp,
                relatch,
                telephone_event_pt,
            }) => {
                if relatch {
                    self.relay.update_remote(leg, rtp);
                }
                self.relay.set_telephone_event(leg, telephone_event_pt);
            }
            Command::Session(SessionCommand::Hold(on_hold)) => self.relay.set_hold(now, on_hold),
            Command::Session(SessionCommand::ArmTimeout) => self.relay.set_timeout_armed(now, true),
            Command::AddRecorder { id, feed, deadline } => {
                self.relay.add_recording(id.0, deadline);
                self.recorders.push((id, feed));
            }
            Command::StopRecorder { id, at } => {
                self.relay.remove_recording(id.0);
                if let Some(feed) = self.take_recorder(id) {
                    out.stop(feed, at);
                }
            }
        }
        self.drain_relay_events(out);
    }

    /// The relay's timers at `now` (media timeout, recordings' time limits).
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut RecorderOutbox) {
        let span = self.span.clone();
        let _entered = span.enter();
        self.relay.handle_timeout(now);
        self.drain_relay_events(out);
    }

    /// The call is closed: every recording still fed stops at `at`; the sockets close and the
    /// handle's event stream ends when this is dropped.
    pub(crate) fn finish(mut self, at: Instant, out: &mut RecorderOutbox) {
        for (_, feed) in self.recorders.drain(..) {
            out.stop(feed, at);
        }
    }

    fn take_recorder(&mut self, id: RecordingId) -> Option<RecorderFeed> {
        let i = self.recorders.iter().position(|(r, _)| *r == id)?;
        Some(self.recorders.swap_remove(i).1)
    }

    fn send_event(&self, event: MediaEvent) {
        if self.events.send(event).is_ok() {
            self.events_waiting.notify_one();
        }
    }

    fn drain_relay_events(&mut self, out: &mut RecorderOutbox) {
        // The call's span only around what it has to say (entering it for every packet cost
        // a registry look-up and a thread-local push and pop per datagram).
        let mut entered = None;
        while let Some(event) = self.relay.poll_event() {
            entered.get_or_insert_with(|| self.span.clone().entered());
            match event {
                RelayEvent::MediaTimeout { .. } => {
                    tracing::debug!("media timeout");
                    self.send_event(MediaEvent::MediaTimeout);
                }
                RelayEvent::Dtmf { leg, digit } => {
                    tracing::debug!(leg = leg.as_str(), "dtmf digit");
                    self.send_event(MediaEvent::Dtmf { leg, digit });
                }
                RelayEvent::RecordingTimeLimit {
                    recording,
                    deadline,
                } => {
                    if let Some(feed) = self.take_recorder(RecordingId(recording)) {
                        out.stop(feed, deadline);
                    }
                }
                RelayEvent::Latched {
                    leg,
                    channel,
                    source,
                } => {
                    tracing::debug!(leg = leg.as_str(), ?channel, %source, "latched");
                }
            }
        }
    }
}
