//! Rewriting an offer or answer so the peer sends its media to the relay.
//!
//! Choices (documented for operators):
//! - `o=` address, session `c=` and the first audio section's `c=` and `m=` port become the
//!   relay's; unspecified addresses (`0.0.0.0`, `::`, old-style hold) are kept so the hold reaches
//!   the other party; a rejected stream (port 0) stays rejected.
//! - `a=rtcp:` in the audio section is rewritten to the relay's RTCP port (RTP + 1).
//! - ICE attributes (`a=candidate`, `a=ice-*`, `a=remote-candidates`, `a=end-of-candidates`) are
//!   removed: they would let media bypass the relay and so the recording.
//! - Other media sections (video, a second audio stream) are rejected (port 0): callrec relays and
//!   records one audio stream per call.
//! - Everything else (payload types, rtpmap, fmtp, telephone-event, ptime, direction) is kept.

use std::net::IpAddr;

use super::parse::{Line, SessionDescription};

/// Where the relay receives one leg's media: an IP and an even RTP port (RTCP is RTP + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayEndpoint {
    /// Relay address written into `c=` and `o=`.
    pub ip: IpAddr,
    /// Relay RTP port written into `m=`.
    pub rtp_port: u16,
}

fn addrtype(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

fn connection_value(ip: IpAddr) -> String {
    format!("IN {} {}", addrtype(ip), ip)
}

fn is_ice_attribute(value: &str) -> bool {
    value.starts_with("candidate:")
        || value.starts_with("ice-")
        || value.starts_with("remote-candidates")
        || value == "end-of-candidates"
}

/// Rewrites a `c=` line unless it carries an unspecified (hold) address.
fn rewrite_connection(line: &mut Line, current: Option<IpAddr>, relay: IpAddr) {
    if current.is_some_and(|ip| !ip.is_unspecified()) {
        line.value = connection_value(relay);
    }
}

impl SessionDescription {
    /// Returns a copy rewritten so that media flows through `relay` (see the module docs).
    pub fn rewrite(&self, relay: RelayEndpoint) -> SessionDescription {
        let mut out = self.clone();
        if let Some(origin) = out.origin.as_mut() {
            origin.address_type = addrtype(relay.ip).to_owned();
            origin.address = relay.ip.to_string();
        }
        let session_connection = out.connection;
        for line in &mut out.session {
            match line.kind {
                'o' => {
                    if let Some(o) = &self.origin {
                        line.value = format!(
                            "{} {} {} IN {} {}",
                            o.username,
                            o.session_id,
                            o.session_version,
                            addrtype(relay.ip),
                            relay.ip
                        );
                    }
                }
                'c' => rewrite_connection(line, session_connection, relay.ip),
                _ => {}
            }
        }
        out.session
            .retain(|l| !(l.kind == 'a' && is_ice_attribute(&l.value)));
        if session_connection.is_some_and(|ip| !ip.is_unspecified()) {
            out.connection = Some(relay.ip);
        }

        let audio_index = out.media.iter().position(|m| m.media == "audio");
        for (index, section) in out.media.iter_mut().enumerate() {
            if Some(index) != audio_index {
                section.port = 0;
                continue;
            }
            section
                .lines
                .retain(|l| !(l.kind == 'a' && is_ice_attribute(&l.value)));
            if section.port == 0 {
                continue;
            }
            section.port = relay.rtp_port;
            section.port_count = None;
            let own = section.connection;
            for line in &mut section.lines {
                if line.kind == 'c' {
                    rewrite_connection(line, own, relay.ip);
                } else if line.kind == 'a' && line.value.starts_with("rtcp:") {
                    line.value = format!(
                        "rtcp:{} {}",
                        relay.rtp_port.saturating_add(1),
                        connection_value(relay.ip)
                    );
                }
            }
            match own {
                Some(ip) if !ip.is_unspecified() => section.connection = Some(relay.ip),
                Some(_) => {}
                None if session_connection.is_none() => {
                    // No address anywhere: give the section one so the peer can reach us.
                    section.lines.insert(
                        0,
                        Line {
                            kind: 'c',
                            value: connection_value(relay.ip),
                        },
                    );
                    section.connection = Some(relay.ip);
                }
                None => {}
            }
        }
        out
    }
}
