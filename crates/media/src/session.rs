//! One call's media session, sans-IO: the decisions the signalling side asks of media.
//!
//! A [`MediaSession`] owns the relay ports given to the call (two RTP/RTCP pairs, one per leg)
//! and every SDP crossing the call: it rewrites offers and answers so that each party sends to
//! the relay, narrows offers to what the recorder decodes, learns each leg's address, codecs and
//! hold state, decides when a leg must latch again and when the media timeout starts, and
//! writes the SDP answer callrec gives when it answers a call itself (`record_caller`). What
//! the relay must change is drained as [`SessionCommand`]s, which the driver hands to the
//! call's [`CallRelay`](crate::relay::CallRelay).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use crate::record::CodecMap;
use crate::relay::{Leg, PortPair};
use crate::sdp::{AudioStream, RelayEndpoint, SdpError, SessionDescription};

/// The encodings the recorder handles (audio it decodes, and DTMF and comfort noise).
const RECORDABLE: [&str; 4] = ["PCMU", "PCMA", "telephone-event", "CN"];

/// Audio codecs the recorder decodes.
const DECODED: [&str; 2] = ["PCMU", "PCMA"];

/// Why an SDP body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The SDP body does not parse.
    #[error("SDP: {0}")]
    Sdp(#[from] SdpError),
    /// The SDP body has no `m=audio` stream to relay.
    #[error("SDP has no audio stream")]
    NoAudio,
    /// callrec answers a call itself and the offer has neither PCMU nor PCMA.
    #[error("neither PCMU nor PCMA offered")]
    NoG711,
}

/// What the call's relay must change, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// A new SDP from `leg`: its address (`None` = rejected or held with 0.0.0.0), whether to
    /// forget what it latched (new session version or address), its telephone-event payload
    /// type.
    Remote {
        /// The leg whose SDP it was.
        leg: Leg,
        /// Where that party wants RTP.
        rtp: Option<SocketAddr>,
        /// Latch again on its next packet.
        relatch: bool,
        /// The telephone-event payload type it named.
        telephone_event_pt: Option<u8>,
    },
    /// The call is (or is no longer) on hold.
    Hold(bool),
    /// Start the media timeout (the call is answered).
    ArmTimeout,
}

/// One call's media decisions.
#[derive(Debug)]
pub struct MediaSession {
    relay_ip: IpAddr,
    ports: [PortPair; 2],
    recordable_codecs_only: bool,
    /// Each leg's last SDP: audio summary and (session version, remote address).
    streams: [Option<AudioStream>; 2],
    signalled: [Option<(Option<String>, Option<SocketAddr>)>; 2],
    timeout_armed: bool,
    commands: VecDeque<SessionCommand>,
}

impl MediaSession {
    /// A session relaying on `relay_ip` with `ports[0]` for leg A and `ports[1]` for leg B.
    /// With `recordable_codecs_only`, offers are narrowed to G.711 (plus telephone-event and
    /// CN) when G.711 is offered, so that every call can be recorded.
    pub fn new(relay_ip: IpAddr, ports: [PortPair; 2], recordable_codecs_only: bool) -> Self {
        MediaSession {
            relay_ip,
            ports,
            recordable_codecs_only,
            streams: [None, None],
            signalled: [None, None],
            timeout_armed: false,
            commands: VecDeque::new(),
        }
    }

    /// The relay ports of the call: leg A's pair, then leg B's.
    pub fn ports(&self) -> [PortPair; 2] {
        self.ports
    }

    /// Where `leg`'s party sends its RTP (the relay address and that leg's even port).
    pub fn relay_address(&self, leg: Leg) -> SocketAddr {
        SocketAddr::new(self.relay_ip, self.pair(leg).rtp)
    }

    fn pair(&self, leg: Leg) -> PortPair {
        match leg {
            Leg::A => self.ports[0],
            Leg::B => self.ports[1],
        }
    }

    /// The audio stream `leg` last described in its SDP.
    pub fn remote_stream(&self, leg: Leg) -> Option<&AudioStream> {
        self.streams.get(leg.index()).and_then(Option::as_ref)
    }

    /// Whether the last SDP of either leg put the call on hold.
    pub fn is_on_hold(&self) -> bool {
        self.streams.iter().flatten().any(AudioStream::is_hold)
    }

    /// The payload types each leg's SDP named, for a recorder starting now.
    pub fn codecs(&self) -> [CodecMap; 2] {
        [Leg::A, Leg::B].map(|leg| {
            self.remote_stream(leg)
                .map(CodecMap::from_stream)
                .unwrap_or_default()
        })
    }

    /// Takes an offer received from `from`'s party and returns it rewritten for the other party:
    /// addresses and port point at the relay socket of the other leg.
    pub fn rewrite_offer(&mut self, from: Leg, sdp: &[u8]) -> Result<String, SessionError> {
        self.rewrite(from, sdp, self.recordable_codecs_only)
    }

    /// Takes an answer received from `from`'s party and returns it rewritten for the other
    /// party.
    pub fn rewrite_answer(&mut self, from: Leg, sdp: &[u8]) -> Result<String, SessionError> {
        self.rewrite(from, sdp, false)
    }

    fn rewrite(
        &mut self,
        from: Leg,
        sdp: &[u8],
        narrow_codecs: bool,
    ) -> Result<String, SessionError> {
        let (parsed, _) = self.learn(from, sdp)?;
        let relay = RelayEndpoint {
            ip: self.relay_ip,
            rtp_port: self.pair(from.other()).rtp,
        };
        let parsed = if narrow_codecs {
            parsed.retain_audio_codecs(&RECORDABLE, &DECODED)
        } else {
            parsed
        };
        Ok(parsed.rewrite(relay).to_sdp_string())
    }

    /// Learns `from`'s address, payload types and hold state from its SDP; a new session
    /// version or address makes that leg latch again. Once both legs have sent SDP the media
    /// timeout starts.
    fn learn(
        &mut self,
        from: Leg,
        sdp: &[u8],
    ) -> Result<(SessionDescription, AudioStream), SessionError> {
        let parsed = SessionDescription::parse(sdp)?;
        let audio = parsed.audio().ok_or(SessionError::NoAudio)?;
        let version = parsed.origin.as_ref().map(|o| o.session_version.clone());
        let remote = audio.remote_rtp();
        let index = from.index();
        let signalled = Some((version, remote));
        let relatch = self.signalled.get(index) != Some(&signalled);
        if let Some(slot) = self.signalled.get_mut(index) {
            *slot = signalled;
        }
        self.commands.push_back(SessionCommand::Remote {
            leg: from,
            rtp: remote,
            relatch,
            telephone_event_pt: audio.telephone_event_pt,
        });
        if let Some(slot) = self.streams.get_mut(index) {
            *slot = Some(audio.clone());
        }
        self.commands
            .push_back(SessionCommand::Hold(self.is_on_hold()));
        if self.streams.iter().all(Option::is_some) {
            self.start_media_timeout();
        }
        Ok((parsed, audio))
    }

    /// callrec answers `leg` itself (`record_caller`): learns the caller's stream as for any
    /// offer, starts the media timeout (no other leg will send SDP) and returns the answer: one
    /// G.711 codec and telephone-event, receive only.
    pub fn local_answer(&mut self, leg: Leg, offer: &[u8]) -> Result<String, SessionError> {
        let (_, audio) = self.learn(leg, offer)?;
        let codec = audio
            .payload_types
            .iter()
            .find(|p| DECODED.iter().any(|d| p.encoding.eq_ignore_ascii_case(d)))
            .ok_or(SessionError::NoG711)?;
        self.start_media_timeout();
        Ok(local_answer_sdp(
            self.relay_address(leg),
            codec.pt,
            &codec.encoding,
            audio.telephone_event_pt,
        ))
    }

    /// Starts the media timeout (once).
    pub fn start_media_timeout(&mut self) {
        if !self.timeout_armed {
            self.timeout_armed = true;
            self.commands.push_back(SessionCommand::ArmTimeout);
        }
    }

    /// The next change for the relay.
    pub fn poll_command(&mut self) -> Option<SessionCommand> {
        self.commands.pop_front()
    }
}

/// The SDP answer callrec gives when it terminates the media itself.
fn local_answer_sdp(addr: SocketAddr, pt: u8, encoding: &str, dtmf_pt: Option<u8>) -> String {
    let (net, ip) = match addr.ip() {
        IpAddr::V4(ip) => ("IP4", ip.to_string()),
        IpAddr::V6(ip) => ("IP6", ip.to_string()),
    };
    let port = addr.port();
    let mut pts = pt.to_string();
    if let Some(d) = dtmf_pt {
        pts.push_str(&format!(" {d}"));
    }
    let mut s = format!(
        "v=0\r\no=callrec 1 1 IN {net} {ip}\r\ns=callrec\r\nc=IN {net} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pts}\r\na=rtpmap:{pt} {encoding}/8000\r\n"
    );
    if let Some(d) = dtmf_pt {
        s.push_str(&format!(
            "a=rtpmap:{d} telephone-event/8000\r\na=fmtp:{d} 0-16\r\n"
        ));
    }
    s.push_str("a=ptime:20\r\na=recvonly\r\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str =
        "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

    const ANSWER: &str =
        "v=0\r\no=- 7 7 IN IP4 198.51.100.5\r\ns=-\r\nc=IN IP4 198.51.100.5\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

    fn session() -> MediaSession {
        MediaSession::new(
            "127.0.0.1".parse().unwrap(),
            [PortPair { rtp: 20000 }, PortPair { rtp: 20002 }],
            true,
        )
    }

    #[test]
    fn an_offer_points_the_callee_at_the_b_legs_relay_port_and_keeps_only_g711() {
        let mut s = session();
        let out = s.rewrite_offer(Leg::A, OFFER.as_bytes()).unwrap();
        let parsed = SessionDescription::parse(out.as_bytes()).unwrap();
        let audio = parsed.audio().unwrap();
        assert_eq!(audio.port, 20002);
        let encodings: Vec<_> = audio
            .payload_types
            .iter()
            .map(|p| p.encoding.as_str())
            .collect();
        assert_eq!(encodings, ["PCMU", "PCMA", "telephone-event"]);
        assert_eq!(
            s.poll_command(),
            Some(SessionCommand::Remote {
                leg: Leg::A,
                rtp: Some("192.0.2.10:4000".parse().unwrap()),
                relatch: true,
                telephone_event_pt: Some(101),
            })
        );
        assert_eq!(s.poll_command(), Some(SessionCommand::Hold(false)));
        assert_eq!(s.poll_command(), None, "no timeout before the answer");
    }

    #[test]
    fn the_answer_arms_the_media_timeout_once_and_a_repeated_sdp_does_not_relatch() {
        let mut s = session();
        s.rewrite_offer(Leg::A, OFFER.as_bytes()).unwrap();
        let out = s.rewrite_answer(Leg::B, ANSWER.as_bytes()).unwrap();
        assert!(out.contains("m=audio 20000 "), "{out}");
        let cmds: Vec<_> = std::iter::from_fn(|| s.poll_command()).collect();
        assert_eq!(cmds.last(), Some(&SessionCommand::ArmTimeout));
        s.rewrite_answer(Leg::B, ANSWER.as_bytes()).unwrap();
        let again: Vec<_> = std::iter::from_fn(|| s.poll_command()).collect();
        assert!(matches!(
            again[0],
            SessionCommand::Remote { relatch: false, .. }
        ));
        assert!(!again.contains(&SessionCommand::ArmTimeout));
        assert_eq!(s.codecs()[1].get(0), crate::record::Codec::Pcmu);
    }

    #[test]
    fn a_local_answer_names_the_relay_address_codec_and_dtmf() {
        let mut s = session();
        let sdp = s.local_answer(Leg::A, OFFER.as_bytes()).unwrap();
        let parsed = SessionDescription::parse(sdp.as_bytes()).unwrap();
        let audio = parsed.audio().unwrap();
        assert_eq!(audio.port, 20000);
        assert_eq!(audio.payload_types[0].pt, 0);
        assert_eq!(audio.telephone_event_pt, Some(101));
        assert!(sdp.contains("c=IN IP4 127.0.0.1"));
        let cmds: Vec<_> = std::iter::from_fn(|| s.poll_command()).collect();
        assert!(cmds.contains(&SessionCommand::ArmTimeout));
    }

    #[test]
    fn sdp_without_audio_or_unparseable_is_refused() {
        let mut s = session();
        assert_eq!(
            s.rewrite_offer(Leg::A, b"v=0\r\ns=-\r\n"),
            Err(SessionError::NoAudio)
        );
        assert!(matches!(
            s.rewrite_offer(Leg::A, b"nonsense"),
            Err(SessionError::Sdp(_))
        ));
    }

    #[test]
    fn answers_pass_their_codecs_as_given() {
        let mut s = session();
        let out = s.rewrite_answer(Leg::B, OFFER.as_bytes()).unwrap();
        assert!(out.contains(" RTP/AVP 9 0 8 101\r\n"), "{out}");
    }

    #[test]
    fn a_local_answer_without_g711_is_refused() {
        let mut s = session();
        let g722 = OFFER.replace("9 0 8 101", "9 101");
        assert_eq!(
            s.local_answer(Leg::A, g722.as_bytes()),
            Err(SessionError::NoG711)
        );
    }
}
