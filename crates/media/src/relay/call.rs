//! The per-call relay state machine (sans-IO): symmetric latching, forwarding decisions with
//! counted drop reasons, media-timeout detection, DTMF digits and recording time limits.
//!
//! Each leg has its own relay port pair. A datagram that arrives on leg X's socket came from
//! party X and is forwarded from leg Y's socket (Y = the other leg) to party Y's address: the
//! source latched from Y's first valid packet, else the address Y's SDP gave.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::decision::{Channel, Decision, DropReason};
use super::leg::Leg;
use super::rtp_header::{classify, PacketKind, RtcpHeader, RtpHeader};
use crate::counters::Counters;
use crate::record::DtmfDetector;

/// Relay settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// A call with no valid packet from either leg for this long gets a
    /// [`RelayEvent::MediaTimeout`]. Default 60 s.
    pub media_timeout: Duration,
    /// The timeout while the call is on hold; `None` (the default) means no timeout on hold.
    pub hold_timeout: Option<Duration>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            media_timeout: Duration::from_secs(60),
            hold_timeout: None,
        }
    }
}

/// Something the driver should act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEvent {
    /// No valid packet from either leg since `last_packet` (or since the call was opened).
    MediaTimeout {
        /// When the last valid packet arrived.
        last_packet: Instant,
    },
    /// A DTMF key (RFC 4733 telephone-event) pressed on `leg`, reported once per press.
    Dtmf {
        /// The leg that sent it.
        leg: Leg,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
    },
    /// A recording fed by this call reached its time limit: stop feeding it (it ends at
    /// `deadline`).
    RecordingTimeLimit {
        /// The id given to [`CallRelay::add_recording`].
        recording: u64,
        /// Its time limit.
        deadline: Instant,
    },
    /// A leg latched onto the source it sends from (RTP or RTCP).
    Latched {
        /// The leg.
        leg: Leg,
        /// Which channel latched.
        channel: Channel,
        /// The learned source.
        source: SocketAddr,
    },
}

#[derive(Debug, Default, Clone, Copy)]
struct Endpoint {
    expected_rtp: Option<SocketAddr>,
    latched_rtp: Option<SocketAddr>,
    latched_rtcp: Option<SocketAddr>,
}

/// A leg's DTMF: the telephone-event payload type its SDP named, and the detector.
#[derive(Debug, Default)]
struct LegDtmf {
    payload_type: Option<u8>,
    detector: DtmfDetector,
}

/// The relay state of one call (two legs).
#[derive(Debug)]
pub struct CallRelay {
    config: RelayConfig,
    legs: [Endpoint; 2],
    last_activity: Instant,
    on_hold: bool,
    timeout_armed: bool,
    timeout_reported: bool,
    closed: bool,
    events: VecDeque<RelayEvent>,
    counters: Arc<Counters>,
    dtmf: [LegDtmf; 2],
    /// Time limits of the recordings fed by this call: (id, deadline).
    recordings: Vec<(u64, Instant)>,
}

impl CallRelay {
    /// A new call relay; the media timeout runs from `now` (see
    /// [`set_timeout_armed`](Self::set_timeout_armed) to hold it off until the call is answered).
    pub fn new(now: Instant, config: RelayConfig, counters: Arc<Counters>) -> Self {
        CallRelay {
            config,
            legs: [Endpoint::default(); 2],
            last_activity: now,
            on_hold: false,
            timeout_armed: true,
            timeout_reported: false,
            closed: false,
            events: VecDeque::new(),
            counters,
            dtmf: [LegDtmf::default(), LegDtmf::default()],
            recordings: Vec::new(),
        }
    }

    /// The telephone-event payload type `leg`'s SDP named (`None`: no DTMF from it).
    pub fn set_telephone_event(&mut self, leg: Leg, payload_type: Option<u8>) {
        if let Some(d) = self.dtmf.get_mut(leg.index()) {
            d.payload_type = payload_type;
        }
    }

    /// A recording is fed from now on; at `deadline` a [`RelayEvent::RecordingTimeLimit`]
    /// says to stop feeding it.
    pub fn add_recording(&mut self, recording: u64, deadline: Instant) {
        self.recordings.push((recording, deadline));
    }

    /// A recording is no longer fed (stopped before its time limit).
    pub fn remove_recording(&mut self, recording: u64) {
        self.recordings.retain(|(id, _)| *id != recording);
    }

    /// `header` is `bytes`'s RTP header, already parsed by [`classify`].
    fn detect_dtmf(&mut self, leg: Leg, header: &RtpHeader, bytes: &[u8]) {
        let Some(d) = self.dtmf.get_mut(leg.index()) else {
            return;
        };
        let Some(pt) = d.payload_type else {
            return;
        };
        if header.payload_type != pt {
            return;
        }
        if let Some(digit) =
            d.detector
                .on_packet(header.ssrc, header.timestamp, header.payload(bytes))
        {
            self.events.push_back(RelayEvent::Dtmf { leg, digit });
        }
    }

    /// Sets the address a leg's SDP asks for (`None` when rejected or unspecified) and forgets
    /// what that leg latched, so its next valid packet latches again (after a re-INVITE).
    pub fn update_remote(&mut self, leg: Leg, rtp: Option<SocketAddr>) {
        if let Some(endpoint) = self.legs.get_mut(leg.index()) {
            *endpoint = Endpoint {
                expected_rtp: rtp,
                latched_rtp: None,
                latched_rtcp: None,
            };
        }
    }

    /// Marks the call as on hold or not (from the SDP); changes which timeout applies.
    pub fn set_hold(&mut self, now: Instant, on_hold: bool) {
        if self.on_hold != on_hold {
            self.on_hold = on_hold;
            self.last_activity = now;
            self.timeout_reported = false;
        }
    }

    /// Arms or disarms the media timeout. Armed, it counts from `now` (or the next packet); a
    /// driver disarms it while a call rings, when no media is expected.
    pub fn set_timeout_armed(&mut self, now: Instant, armed: bool) {
        if armed && !self.timeout_armed {
            self.last_activity = now;
            self.timeout_reported = false;
        }
        self.timeout_armed = armed;
    }

    /// Whether the call is marked on hold.
    pub fn is_on_hold(&self) -> bool {
        self.on_hold
    }

    /// The source a leg has latched for RTP, if any.
    pub fn latched(&self, leg: Leg) -> Option<SocketAddr> {
        self.legs.get(leg.index()).and_then(|e| e.latched_rtp)
    }

    /// The shared counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Stops forwarding: every later packet is dropped as `Closed`.
    pub fn close(&mut self) {
        self.closed = true;
    }

    fn drop_packet(&self, reason: DropReason) -> Decision {
        self.counters.add_dropped(reason);
        Decision::Drop(reason)
    }

    /// Decides what to do with `bytes`, received at `now` on `leg`'s `channel` socket from `src`.
    pub fn on_packet(
        &mut self,
        now: Instant,
        leg: Leg,
        channel: Channel,
        src: SocketAddr,
        bytes: &[u8],
    ) -> Decision {
        if self.closed {
            return self.drop_packet(DropReason::Closed);
        }
        let rtp = match channel {
            Channel::Rtp => match classify(bytes) {
                Ok(PacketKind::Rtp(header)) => Some(header),
                Ok(PacketKind::Rtcp(_)) => None,
                Err(_) => return self.drop_packet(DropReason::NotRtp),
            },
            Channel::Rtcp => match RtcpHeader::parse(bytes) {
                Ok(_) => None,
                Err(_) => return self.drop_packet(DropReason::NotRtp),
            },
        };
        let is_rtp = rtp.is_some();
        let Some(endpoint) = self.legs.get_mut(leg.index()) else {
            return self.drop_packet(DropReason::NotRtp);
        };
        let latch = match channel {
            Channel::Rtp => &mut endpoint.latched_rtp,
            Channel::Rtcp => &mut endpoint.latched_rtcp,
        };
        match *latch {
            Some(latched) if latched != src => return self.drop_packet(DropReason::WrongSource),
            Some(_) => {}
            None => {
                // RTP latches the RTP channel; RTCP latches the RTCP channel. RTCP muxed on the
                // RTP port is forwarded but does not latch.
                if is_rtp || channel == Channel::Rtcp {
                    *latch = Some(src);
                    tracing::debug!(leg = leg.as_str(), ?channel, %src, "latched");
                    self.events.push_back(RelayEvent::Latched {
                        leg,
                        channel,
                        source: src,
                    });
                }
            }
        }
        self.last_activity = now;
        self.timeout_reported = false;
        if let Some(header) = &rtp {
            self.detect_dtmf(leg, header, bytes);
        }

        let other_leg = leg.other();
        let Some(other) = self.legs.get(other_leg.index()) else {
            self.counters.add_dropped(DropReason::DestinationUnknown);
            return Decision::NoDestination { is_rtp };
        };
        let to = match channel {
            Channel::Rtp => other.latched_rtp.or(other.expected_rtp),
            Channel::Rtcp => other.latched_rtcp.or_else(|| {
                let rtp = other.latched_rtp.or(other.expected_rtp)?;
                Some(SocketAddr::new(rtp.ip(), rtp.port().checked_add(1)?))
            }),
        };
        let Some(to) = to else {
            self.counters.add_dropped(DropReason::DestinationUnknown);
            return Decision::NoDestination { is_rtp };
        };
        self.counters.add_relayed();
        Decision::Forward {
            to,
            via: other_leg,
            channel,
            is_rtp,
        }
    }

    fn current_timeout(&self) -> Option<Duration> {
        if self.on_hold {
            self.config.hold_timeout
        } else {
            Some(self.config.media_timeout)
        }
    }

    fn media_deadline(&self) -> Option<Instant> {
        if self.closed || self.timeout_reported || !self.timeout_armed {
            return None;
        }
        self.last_activity.checked_add(self.current_timeout()?)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if ever: the media
    /// timeout or the first recording time limit.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let recording = self.recordings.iter().map(|(_, d)| *d).min();
        match (self.media_deadline(), recording) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Checks the timers at `now`: queues a [`RelayEvent::MediaTimeout`] once per idle period
    /// and a [`RelayEvent::RecordingTimeLimit`] for each recording past its limit (which is
    /// then forgotten).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.media_deadline() {
            if now >= deadline {
                self.timeout_reported = true;
                self.events.push_back(RelayEvent::MediaTimeout {
                    last_packet: self.last_activity,
                });
            }
        }
        let events = &mut self.events;
        self.recordings.retain(|&(recording, deadline)| {
            let expired = deadline <= now;
            if expired {
                events.push_back(RelayEvent::RecordingTimeLimit {
                    recording,
                    deadline,
                });
            }
            !expired
        });
    }

    /// The next queued event.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }
}
