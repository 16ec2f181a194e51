//! The per-call relay task: four UDP sockets (RTP and RTCP of legs A and B), the sans-IO
//! `CallRelay` deciding each datagram (and noticing DTMF, the media timeout and recordings'
//! time limits), and the recorder queues fed with recordable RTP. The task only does I/O.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use callrec_media::record::FrameSender;
use callrec_media::relay::{CallRelay, Channel, Decision, Leg, RelayEvent};
use callrec_media::session::SessionCommand;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::event::MediaEvent;
use super::recording::RecordingId;

/// Largest datagram read; RTP for audio is far smaller.
const MAX_DATAGRAM: usize = 2048;

/// A leg's two relay sockets.
#[derive(Debug)]
pub(crate) struct LegSockets {
    pub(crate) rtp: UdpSocket,
    pub(crate) rtcp: UdpSocket,
}

/// Commands from the call handle to its relay task.
#[derive(Debug)]
pub(crate) enum Command {
    /// A session change decided by the engine.
    Session(SessionCommand),
    /// Feed this recording from now on, until `deadline`.
    AddRecorder {
        id: RecordingId,
        sender: FrameSender,
        deadline: Instant,
    },
    /// Stop feeding this recording; it ends at `at`.
    StopRecorder { id: RecordingId, at: Instant },
}

/// The relay task's state.
pub(crate) struct RelayTask {
    pub(crate) legs: [LegSockets; 2],
    pub(crate) relay: CallRelay,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) events: mpsc::UnboundedSender<MediaEvent>,
    recorders: HashMap<RecordingId, FrameSender>,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl RelayTask {
    pub(crate) fn new(
        legs: [LegSockets; 2],
        relay: CallRelay,
        commands: mpsc::UnboundedReceiver<Command>,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Self {
        RelayTask {
            legs,
            relay,
            commands,
            events,
            recorders: HashMap::new(),
        }
    }

    /// Runs until the call handle closes or is dropped; then stops every recording still fed.
    /// The caller instruments it with a span carrying the call id.
    pub(crate) async fn run(mut self) {
        let mut bufs = [[0u8; MAX_DATAGRAM]; 4];
        loop {
            let wake = self.relay.poll_timeout();
            let [buf_a_rtp, buf_a_rtcp, buf_b_rtp, buf_b_rtcp] = &mut bufs;
            let [a, b] = &self.legs;
            tokio::select! {
                r = a.rtp.recv_from(buf_a_rtp) => self.received(Leg::A, Channel::Rtp, r, buf_a_rtp),
                r = a.rtcp.recv_from(buf_a_rtcp) => self.received(Leg::A, Channel::Rtcp, r, buf_a_rtcp),
                r = b.rtp.recv_from(buf_b_rtp) => self.received(Leg::B, Channel::Rtp, r, buf_b_rtp),
                r = b.rtcp.recv_from(buf_b_rtcp) => self.received(Leg::B, Channel::Rtcp, r, buf_b_rtcp),
                command = self.commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                () = sleep_until(wake), if wake.is_some() => self.relay.handle_timeout(now()),
            }
            self.drain_relay_events();
        }
        let at = now();
        for (_, sender) in self.recorders.drain() {
            sender.stop(at);
        }
    }

    fn received(
        &mut self,
        leg: Leg,
        channel: Channel,
        result: std::io::Result<(usize, SocketAddr)>,
        buf: &[u8],
    ) {
        let (len, src) = match result {
            Ok(r) => r,
            Err(e) => {
                // ICMP port unreachable and the like surface here on some systems; not fatal.
                tracing::debug!(leg = leg.as_str(), error = %e, "relay socket receive error");
                return;
            }
        };
        let Some(bytes) = buf.get(..len) else {
            return;
        };
        let at = now();
        let decision = self.relay.on_packet(at, leg, channel, src, bytes);
        if decision.is_recordable() {
            for sender in self.recorders.values() {
                sender.push(leg, at, bytes);
            }
        }
        if let Decision::Forward {
            to, via, channel, ..
        } = decision
        {
            let Some(out) = self.legs.get(via.index()) else {
                return;
            };
            let socket = match channel {
                Channel::Rtp => &out.rtp,
                Channel::Rtcp => &out.rtcp,
            };
            if let Err(e) = socket.try_send_to(bytes, to) {
                tracing::debug!(leg = via.as_str(), error = %e, "relay send failed");
            }
        }
    }

    fn command(&mut self, command: Command) {
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
            Command::Session(SessionCommand::Hold(on_hold)) => self.relay.set_hold(now(), on_hold),
            Command::Session(SessionCommand::ArmTimeout) => {
                self.relay.set_timeout_armed(now(), true)
            }
            Command::AddRecorder {
                id,
                sender,
                deadline,
            } => {
                self.relay.add_recording(id.0, deadline);
                self.recorders.insert(id, sender);
            }
            Command::StopRecorder { id, at } => {
                self.relay.remove_recording(id.0);
                if let Some(sender) = self.recorders.remove(&id) {
                    sender.stop(at);
                }
            }
        }
    }

    fn drain_relay_events(&mut self) {
        while let Some(event) = self.relay.poll_event() {
            match event {
                RelayEvent::MediaTimeout { .. } => {
                    tracing::debug!("media timeout");
                    let _ = self.events.send(MediaEvent::MediaTimeout);
                }
                RelayEvent::Dtmf { leg, digit } => {
                    tracing::debug!(leg = leg.as_str(), "dtmf digit");
                    let _ = self.events.send(MediaEvent::Dtmf { leg, digit });
                }
                RelayEvent::RecordingTimeLimit {
                    recording,
                    deadline,
                } => {
                    if let Some(sender) = self.recorders.remove(&RecordingId(recording)) {
                        sender.stop(deadline);
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

/// Sleeps until `at` (never called with `None`: the select branch is disabled then).
async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
    }
}
