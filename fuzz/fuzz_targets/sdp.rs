//! Fuzz the SDP parser, the audio summary and the relay rewrite on arbitrary bodies.
#![no_main]

use callrec_media::sdp::{RelayEndpoint, SessionDescription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sdp) = SessionDescription::parse(data) {
        if let Some(audio) = sdp.audio() {
            let _ = (audio.remote_rtp(), audio.remote_rtcp(), audio.is_hold());
        }
        let relay = RelayEndpoint {
            ip: [203, 0, 113, 1].into(),
            rtp_port: 30000,
        };
        let text = sdp.rewrite(relay).to_sdp_string();
        // What we produce must be parseable again.
        assert!(SessionDescription::parse(text.as_bytes()).is_ok());
    }
});
