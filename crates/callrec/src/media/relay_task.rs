//! The per-call relay task: four UDP sockets (RTP and RTCP of legs A and B), the sans-IO
//! `CallRelay` deciding each datagram, the recorder queues fed with recordable RTP, DTMF
//! detection, the media timeout and the recordings' time limits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use callrec_media::record::{DtmfDetector, FrameSender};
use callrec_media::relay::{CallRelay, Channel, Decision, Leg, RelayEvent, RtpHeader};
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
    /// A new SDP from `leg`: its address (`None` = rejected or held with 0.0.0.0), whether to
    /// forget the latched source, its telephone-event payload type.
    Remote {
        leg: Leg,
        rtp: Option<SocketAddr>,
        relatch: bool,
        telephone_event_pt: Option<u8>,
    },
    /// The call is (or is no longer) on hold.
    Hold(bool),
    /// Start the media timeout (the call is answered).
    ArmTimeout,
    /// Feed this recording from now on.
    AddRecorder {
        id: RecordingId,
        sender: FrameSender,
        deadline: Instant,
    },
    /// Stop feeding this recording; it ends at `at`.
    StopRecorder { id: RecordingId, at: Instant },
}

struct ActiveRecorder {
    sender: FrameSender,
    deadline: Instant,
}

/// The relay task's state.
pub(crate) struct RelayTask {
    pub(crate) legs: [LegSockets; 2],
    pub(crate) relay: CallRelay,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) events: mpsc::UnboundedSender<MediaEvent>,
    pub(crate) telephone_event_pt: [Option<u8>; 2],
    pub(crate) dtmf: [DtmfDetector; 2],
    recorders: HashMap<RecordingId, ActiveRecorder>,
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
            telephone_event_pt: [None; 2],
            dtmf: [DtmfDetector::default(), DtmfDetector::default()],
            recorders: HashMap::new(),
        }
    }

    /// Runs until the call handle closes or is dropped; then stops every recording still fed.
    /// The caller instruments it with a span carrying the call id.
    pub(crate) async fn run(mut self) {
        let mut bufs = [[0u8; MAX_DATAGRAM]; 4];
        loop {
            let wake = self.next_wake();
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
                () = sleep_until(wake), if wake.is_some() => self.timeout(now()),
            }
            self.drain_relay_events();
        }
        let at = now();
        for (_, r) in self.recorders.drain() {
            r.sender.stop(at);
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let recorder = self.recorders.values().map(|r| r.deadline).min();
        match (self.relay.poll_timeout(), recorder) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
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
            for r in self.recorders.values() {
                r.sender.push(leg, at, bytes);
            }
            self.detect_dtmf(leg, bytes);
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

    fn detect_dtmf(&mut self, leg: Leg, bytes: &[u8]) {
        let Some(Some(pt)) = self.telephone_event_pt.get(leg.index()) else {
            return;
        };
        let Ok(header) = RtpHeader::parse(bytes) else {
            return;
        };
        if header.payload_type != *pt {
            return;
        }
        let Some(detector) = self.dtmf.get_mut(leg.index()) else {
            return;
        };
        if let Some(digit) =
            detector.on_packet(header.ssrc, header.timestamp, header.payload(bytes))
        {
            tracing::debug!(leg = leg.as_str(), "dtmf digit");
            let _ = self.events.send(MediaEvent::Dtmf { leg, digit });
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Remote {
                leg,
                rtp,
                relatch,
                telephone_event_pt,
            } => {
                if relatch {
                    self.relay.update_remote(leg, rtp);
                }
                if let Some(slot) = self.telephone_event_pt.get_mut(leg.index()) {
                    *slot = telephone_event_pt;
                }
            }
            Command::Hold(on_hold) => self.relay.set_hold(now(), on_hold),
            Command::ArmTimeout => self.relay.set_timeout_armed(now(), true),
            Command::AddRecorder {
                id,
                sender,
                deadline,
            } => {
                self.recorders
                    .insert(id, ActiveRecorder { sender, deadline });
            }
            Command::StopRecorder { id, at } => {
                if let Some(r) = self.recorders.remove(&id) {
                    r.sender.stop(at.min(r.deadline));
                }
            }
        }
    }

    fn timeout(&mut self, now: Instant) {
        self.relay.handle_timeout(now);
        let expired: Vec<RecordingId> = self
            .recorders
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(r) = self.recorders.remove(&id) {
                r.sender.stop(r.deadline);
                let _ = self
                    .events
                    .send(MediaEvent::RecordingTimeLimit { recording: id });
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
