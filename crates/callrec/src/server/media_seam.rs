//! The B2BUA's [`MediaSeam`] implemented on the relay: every call's SDP is rewritten to
//! callrec's relay ports, so media flows through callrec and can be recorded.
//!
//! The B2BUA core calls the seam synchronously. Opening a call's media binds four UDP sockets;
//! that is done with `block_in_place` on the multi-threaded runtime the binary runs (a few
//! microseconds of socket calls, no disk and no network wait).

use std::collections::HashMap;

use bytes::Bytes;
use callrec_media::sdp::SessionDescription;
use callrec_sip::b2bua::{CallRef, LegId, MediaSeam, MediaSeamError};

use crate::media::{CallMedia, Leg, MediaEngine, MediaError};

/// The relay-backed seam: one [`CallMedia`] per call.
pub struct RelaySeam {
    engine: MediaEngine,
    calls: HashMap<CallRef, CallMedia>,
}

fn leg_of(id: LegId) -> Leg {
    if id.is_a() {
        Leg::A
    } else {
        Leg::B
    }
}

fn seam_error(e: MediaError) -> MediaSeamError {
    match e {
        MediaError::Ports(_) | MediaError::Bind { .. } => MediaSeamError::Exhausted,
        MediaError::Closed => MediaSeamError::Unknown,
        _ => MediaSeamError::BadSdp("the relay could not use this SDP"),
    }
}

impl RelaySeam {
    /// A seam over this media engine.
    pub fn new(engine: MediaEngine) -> Self {
        RelaySeam {
            engine,
            calls: HashMap::new(),
        }
    }

    /// The media engine (counters, ports in use).
    pub fn engine(&self) -> &MediaEngine {
        &self.engine
    }

    /// The media of a call, if open.
    pub fn call_mut(&mut self, call: CallRef) -> Option<&mut CallMedia> {
        self.calls.get_mut(&call)
    }

    /// Every open call (for polling media events).
    pub fn calls_mut(&mut self) -> impl Iterator<Item = (&CallRef, &mut CallMedia)> {
        self.calls.iter_mut()
    }

    /// Number of calls with open media.
    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    fn open(&mut self, call: CallRef) -> Result<&mut CallMedia, MediaSeamError> {
        if !self.calls.contains_key(&call) {
            let engine = &self.engine;
            let name = call.to_string();
            let opened = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(engine.open_call(&name))
            })
            .map_err(seam_error)?;
            self.calls.insert(call, opened);
        }
        self.calls.get_mut(&call).ok_or(MediaSeamError::Unknown)
    }
}

impl MediaSeam for RelaySeam {
    fn offer(
        &mut self,
        call: CallRef,
        from: LegId,
        _to: LegId,
        sdp: &Bytes,
    ) -> Result<Bytes, MediaSeamError> {
        let media = self.open(call)?;
        let out = media.rewrite_offer(leg_of(from), sdp).map_err(seam_error)?;
        Ok(Bytes::from(out))
    }

    fn answer(
        &mut self,
        call: CallRef,
        from: LegId,
        _to: LegId,
        sdp: &Bytes,
    ) -> Result<Bytes, MediaSeamError> {
        let media = self.open(call)?;
        let out = media
            .rewrite_answer(leg_of(from), sdp)
            .map_err(seam_error)?;
        Ok(Bytes::from(out))
    }

    fn local_answer(
        &mut self,
        call: CallRef,
        leg: LegId,
        offer: &Bytes,
    ) -> Result<Bytes, MediaSeamError> {
        let media = self.open(call)?;
        // Learn the caller's stream (address, codecs) as the relay would for any offer.
        media
            .rewrite_offer(leg_of(leg), offer)
            .map_err(seam_error)?;
        let parsed = SessionDescription::parse(offer)
            .map_err(|_| MediaSeamError::BadSdp("unparseable offer"))?;
        let audio = parsed
            .audio()
            .ok_or(MediaSeamError::BadSdp("no audio stream offered"))?;
        let codec = audio
            .payload_types
            .iter()
            .find(|p| {
                p.encoding.eq_ignore_ascii_case("PCMU") || p.encoding.eq_ignore_ascii_case("PCMA")
            })
            .ok_or(MediaSeamError::BadSdp("neither PCMU nor PCMA offered"))?;
        let addr = media.relay_address(leg_of(leg));
        // No other leg will send SDP: arm the media timeout now.
        media.start_media_timeout().map_err(seam_error)?;
        Ok(Bytes::from(local_answer_sdp(
            addr,
            codec.pt,
            &codec.encoding,
            audio.telephone_event_pt,
        )))
    }

    fn release(&mut self, call: CallRef) {
        if let Some(media) = self.calls.remove(&call) {
            // Closing stops the call's recorders; their waiters report the files.
            tokio::spawn(media.close());
        }
    }
}

/// The SDP answer callrec gives when it terminates the media itself (`record_caller`): one
/// G.711 codec and telephone-event, receive only.
fn local_answer_sdp(
    addr: std::net::SocketAddr,
    pt: u8,
    encoding: &str,
    dtmf_pt: Option<u8>,
) -> String {
    let (net, ip) = match addr.ip() {
        std::net::IpAddr::V4(ip) => ("IP4", ip.to_string()),
        std::net::IpAddr::V6(ip) => ("IP6", ip.to_string()),
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

    #[test]
    fn local_answer_names_the_relay_address_codec_and_dtmf() {
        let sdp = local_answer_sdp("127.0.0.1:20000".parse().unwrap(), 8, "PCMA", Some(101));
        let parsed = SessionDescription::parse(sdp.as_bytes()).unwrap();
        let audio = parsed.audio().unwrap();
        assert_eq!(audio.port, 20000);
        assert_eq!(audio.payload_types[0].pt, 8);
        assert_eq!(audio.telephone_event_pt, Some(101));
        assert!(sdp.contains("c=IN IP4 127.0.0.1"));
    }
}
