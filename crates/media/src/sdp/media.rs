//! The summary of an offer's or answer's audio stream that the relay and recorder need.

use std::net::{IpAddr, SocketAddr};

use super::direction::Direction;
use super::parse::{MediaSection, SessionDescription};

/// One payload type of an audio stream, from the `m=` format list and its `a=rtpmap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadType {
    /// RTP payload type number (0..=127).
    pub pt: u8,
    /// Encoding name as written (`PCMU`, `PCMA`, `telephone-event`, ...); the static name for
    /// payload types 0..=34 without an `rtpmap`, empty when unknown.
    pub encoding: String,
    /// RTP clock rate in Hz (0 when unknown).
    pub clock_rate: u32,
    /// Channel count from the rtpmap (1 when absent).
    pub channels: u16,
    /// The `a=fmtp` parameters for this payload type, if any.
    pub fmtp: Option<String>,
}

impl PayloadType {
    /// Whether this is RFC 4733 telephone-event.
    pub fn is_telephone_event(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("telephone-event")
    }
}

/// What callrec needs to know about the (first) audio stream of an offer or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioStream {
    /// The connection address that applies (media-level `c=` over session-level).
    pub connection: Option<IpAddr>,
    /// The RTP port from `m=` (0 = rejected).
    pub port: u16,
    /// Payload types in the order of preference given by the `m=` line.
    pub payload_types: Vec<PayloadType>,
    /// The telephone-event payload type, if offered.
    pub telephone_event_pt: Option<u8>,
    /// Media-level direction, else session-level, else `sendrecv`.
    pub direction: Direction,
    /// `a=ptime` in milliseconds, if present.
    pub ptime: Option<u32>,
    /// Whether the media is encrypted (SRTP: a `SAVP` profile, `a=crypto` or a DTLS
    /// `a=fingerprint`): the relay forwards it unchanged but cannot record its audio.
    pub encrypted: bool,
}

impl AudioStream {
    /// The remote RTP address the peer asks us to send to; `None` when the stream is rejected
    /// (port 0), has no connection address, or the address is unspecified (`0.0.0.0`, `::`).
    pub fn remote_rtp(&self) -> Option<SocketAddr> {
        let ip = self.connection?;
        if self.port == 0 || ip.is_unspecified() {
            return None;
        }
        Some(SocketAddr::new(ip, self.port))
    }

    /// The remote RTCP address (RTP port + 1; rtcp-mux and `a=rtcp` are not honoured).
    pub fn remote_rtcp(&self) -> Option<SocketAddr> {
        let rtp = self.remote_rtp()?;
        Some(SocketAddr::new(rtp.ip(), rtp.port().checked_add(1)?))
    }

    /// Whether the stream was rejected (`m=audio 0`).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// Whether this description puts the call on hold: a direction other than `sendrecv`, or the
    /// old-style `c=0.0.0.0` (RFC 2543).
    pub fn is_hold(&self) -> bool {
        self.direction.is_hold() || self.connection.is_some_and(|ip| ip.is_unspecified())
    }

    /// The payload type entry for `pt`, if listed.
    pub fn payload(&self, pt: u8) -> Option<&PayloadType> {
        self.payload_types.iter().find(|p| p.pt == pt)
    }
}

/// Parses `<pt> <name>/<rate>[/<channels>]` (the part after `rtpmap:`).
pub(crate) fn parse_rtpmap(rest: &str) -> Option<(u8, &str, u32, u16)> {
    let (pt, encoding) = rest.trim().split_once(char::is_whitespace)?;
    let pt: u8 = pt.parse().ok()?;
    if pt > 127 {
        return None;
    }
    let mut parts = encoding.trim().split('/');
    let name = parts.next()?;
    let rate: u32 = parts.next()?.trim().parse().ok()?;
    let channels: u16 = match parts.next() {
        Some(c) => c.trim().parse().ok()?,
        None => 1,
    };
    Some((pt, name, rate, channels))
}

/// The static payload types of RFC 3551 that matter for audio.
fn static_payload(pt: u8) -> (&'static str, u32) {
    match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        13 => ("CN", 8000),
        18 => ("G729", 8000),
        _ => ("", 0),
    }
}

fn direction_of<'a>(attrs: impl Iterator<Item = &'a str>) -> Option<Direction> {
    attrs.filter_map(Direction::from_attribute).last()
}

impl MediaSection {
    fn audio_stream(&self, session: &SessionDescription) -> AudioStream {
        let mut payload_types = Vec::new();
        for format in &self.formats {
            let Ok(pt) = format.parse::<u8>() else {
                continue;
            };
            if pt > 127 {
                continue;
            }
            let (name, rate) = static_payload(pt);
            let mut entry = PayloadType {
                pt,
                encoding: name.to_owned(),
                clock_rate: rate,
                channels: 1,
                fmtp: None,
            };
            for attr in self.attributes() {
                if let Some(rest) = attr.strip_prefix("rtpmap:") {
                    if let Some((p, name, rate, channels)) = parse_rtpmap(rest) {
                        if p == pt {
                            entry.encoding = name.to_owned();
                            entry.clock_rate = rate;
                            entry.channels = channels;
                        }
                    }
                } else if let Some(rest) = attr.strip_prefix("fmtp:") {
                    if let Some((p, params)) = rest.split_once(char::is_whitespace) {
                        if p.parse::<u8>().ok() == Some(pt) {
                            entry.fmtp = Some(params.trim().to_owned());
                        }
                    }
                }
            }
            payload_types.push(entry);
        }
        let telephone_event_pt = payload_types
            .iter()
            .find(|p| p.is_telephone_event())
            .map(|p| p.pt);
        let direction = direction_of(self.attributes())
            .or_else(|| direction_of(session.session_attributes()))
            .unwrap_or_default();
        let ptime = self
            .attributes()
            .filter_map(|a| a.strip_prefix("ptime:"))
            .find_map(|v| v.trim().parse().ok());
        let encrypted = self.proto.contains("SAVP")
            || self
                .attributes()
                .any(|a| a.starts_with("crypto:") || a.starts_with("fingerprint:"))
            || session
                .session_attributes()
                .any(|a| a.starts_with("fingerprint:"));
        AudioStream {
            encrypted,
            connection: self.connection.or(session.connection),
            port: self.port,
            payload_types,
            telephone_event_pt,
            direction,
            ptime,
        }
    }
}

impl SessionDescription {
    /// The summary of the first `m=audio` stream, or `None` when there is no audio.
    pub fn audio(&self) -> Option<AudioStream> {
        self.first_audio().map(|m| m.audio_stream(self))
    }
}
