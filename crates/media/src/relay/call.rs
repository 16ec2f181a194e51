//! The per-call relay state machine (sans-IO): symmetric latching, forwarding decisions with
//! counted drop reasons, and media-timeout detection.
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
use super::rtp_header::{classify, PacketKind, RtcpHeader};
use crate::counters::Counters;

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
        let is_rtp = match channel {
            Channel::Rtp => match classify(bytes) {
                Ok(PacketKind::Rtp(_)) => true,
                Ok(PacketKind::Rtcp(_)) => false,
                Err(_) => return self.drop_packet(DropReason::NotRtp),
            },
            Channel::Rtcp => match RtcpHeader::parse(bytes) {
                Ok(_) => false,
                Err(_) => return self.drop_packet(DropReason::NotRtp),
            },
        };
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

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed || self.timeout_reported || !self.timeout_armed {
            return None;
        }
        self.last_activity.checked_add(self.current_timeout()?)
    }

    /// Checks the media timeout at `now`; queues a [`RelayEvent::MediaTimeout`] once per idle
    /// period.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout() {
            if now >= deadline {
                self.timeout_reported = true;
                self.events.push_back(RelayEvent::MediaTimeout {
                    last_packet: self.last_activity,
                });
            }
        }
    }

    /// The next queued event.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }
}
