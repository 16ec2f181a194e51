//! The per-call relay task: four UDP sockets (RTP and RTCP of legs A and B), the sans-IO
//! `CallRelay` deciding each datagram (and noticing DTMF, the media timeout and recordings'
//! time limits), and the recorder queues fed with recordable RTP. The task only does I/O.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use callrec_media::record::FrameSender;
use callrec_media::relay::{CallRelay, Channel, Decision, Leg, RelayEvent};
use callrec_media::session::SessionCommand;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::event::MediaEvent;
use super::recording::RecordingId;

/// Largest datagram read; RTP for audio is far smaller.
const MAX_DATAGRAM: usize = 2048;

/// Most datagrams read from one socket per wake-up.
const MAX_BURST: usize = 32;

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
    ///
    /// Per wake-up it reads every datagram waiting on the socket that woke it (not one), and
    /// its timer is one `Sleep` moved only when the relay's deadline changes (not a new timer
    /// per packet).
    pub(crate) async fn run(mut self) {
        let mut buf = [0u8; MAX_DATAGRAM];
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            let wake = self.relay.poll_timeout();
            if wake != armed {
                if let Some(at) = wake {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(at));
                }
                armed = wake;
            }
            let [a, b] = &self.legs;
            let ready = tokio::select! {
                r = a.rtp.readable() => Ready::Socket(Leg::A, Channel::Rtp, r),
                r = a.rtcp.readable() => Ready::Socket(Leg::A, Channel::Rtcp, r),
                r = b.rtp.readable() => Ready::Socket(Leg::B, Channel::Rtp, r),
                r = b.rtcp.readable() => Ready::Socket(Leg::B, Channel::Rtcp, r),
                command = self.commands.recv() => Ready::Command(command),
                () = &mut sleep, if armed.is_some() => Ready::Timer,
            };
            match ready {
                Ready::Socket(leg, channel, Ok(())) => self.drain_socket(leg, channel, &mut buf),
                Ready::Socket(leg, _, Err(e)) => {
                    tracing::debug!(leg = leg.as_str(), error = %e, "relay socket error");
                }
                Ready::Command(Some(command)) => self.command(command),
                Ready::Command(None) => break,
                Ready::Timer => {
                    armed = None;
                    self.relay.handle_timeout(now());
                }
            }
            self.drain_relay_events();
        }
        let at = now();
        for (_, sender) in self.recorders.drain() {
            sender.stop(at);
        }
    }

    /// Reads what is waiting on one socket (at most [`MAX_BURST`] datagrams, so that one busy
    /// socket cannot starve the others).
    fn drain_socket(&mut self, leg: Leg, channel: Channel, buf: &mut [u8]) {
        for _ in 0..MAX_BURST {
            let Some(sockets) = self.legs.get(leg.index()) else {
                return;
            };
            let socket = match channel {
                Channel::Rtp => &sockets.rtp,
                Channel::Rtcp => &sockets.rtcp,
            };
            match socket.try_recv_from(buf) {
                Ok(received) => self.received(leg, channel, received, buf),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // ICMP port unreachable and the like surface here on some systems; not fatal.
                    tracing::debug!(leg = leg.as_str(), error = %e, "relay socket receive error");
                }
            }
        }
    }

    fn received(
        &mut self,
        leg: Leg,
        channel: Channel,
        (len, src): (usize, SocketAddr),
        buf: &[u8],
    ) {
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

/// What woke the relay task.
enum Ready {
    Socket(Leg, Channel, std::io::Result<()>),
    Command(Option<Command>),
    Timer,
}
