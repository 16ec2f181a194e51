//! Property tests: parsers and state machines that read network bytes never panic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callrec_media::record::{
    CodecMap, Format, Recorder, RecorderConfig, RecordingSpec, Sequencer, SequencerConfig,
};
use callrec_media::relay::{classify, CallRelay, Channel, Leg, RelayConfig, RtpHeader};
use callrec_media::sdp::{RelayEndpoint, SessionDescription};
use callrec_media::Counters;
use proptest::prelude::*;

fn sdp_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("v=0".to_owned()),
        "[a-z]=[ -~]{0,40}",
        "c=IN IP[46] [0-9a-f.:]{0,20}",
        "m=(audio|video) [0-9]{0,6}(/[0-9])? RTP/AVP( [0-9]{1,3}){0,4}",
        "a=rtpmap:[0-9]{1,4} [A-Za-z-]{0,10}/[0-9]{0,6}(/[0-9])?",
        "a=(sendonly|recvonly|inactive|sendrecv|ptime:[0-9]{0,3}|fmtp:[0-9]{1,3} [ -~]{0,10})",
        "o=[ -~]{0,10} [0-9]{1,5} [0-9]{1,5} IN IP[46] [0-9a-f.:]{0,20}",
    ]
}

proptest! {
    #[test]
    fn rtp_parsing_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(h) = RtpHeader::parse(&bytes) {
            prop_assert!(h.payload_offset + h.payload_len <= bytes.len());
            prop_assert_eq!(h.payload(&bytes).len(), h.payload_len);
        }
        let _ = classify(&bytes);
    }

    #[test]
    fn sdp_parsing_never_panics_on_arbitrary_text(text in "[ -~\r\n]{0,400}") {
        let _ = SessionDescription::parse(text.as_bytes());
    }

    #[test]
    fn sdp_like_text_parses_rewrites_and_reparses_without_panic(
        lines in proptest::collection::vec(sdp_line(), 0..20),
        port in any::<u16>(),
    ) {
        let body = format!("v=0\r\n{}\r\n", lines.join("\r\n"));
        if let Ok(sdp) = SessionDescription::parse(body.as_bytes()) {
            let _ = sdp.audio();
            let relay = RelayEndpoint { ip: "203.0.113.1".parse().unwrap(), rtp_port: port };
            let text = sdp.rewrite(relay).to_sdp_string();
            prop_assert!(SessionDescription::parse(text.as_bytes()).is_ok(), "rewrite output must parse: {}", text);
        }
    }

    #[test]
    fn relay_and_sequencer_never_panic_on_arbitrary_packets(
        packets in proptest::collection::vec((any::<bool>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..64), 0u64..5000), 0..60),
    ) {
        let t0 = Instant::now();
        let mut relay = CallRelay::new(t0, RelayConfig::default(), Arc::new(Counters::default()));
        relay.update_remote(Leg::B, Some("198.51.100.1:5000".parse::<SocketAddr>().unwrap()));
        let mut seq = Sequencer::new(SequencerConfig::default());
        let mut out = Vec::new();
        for (a, rtcp, bytes, ms) in packets {
            let at = t0 + Duration::from_millis(ms);
            let leg = if a { Leg::A } else { Leg::B };
            let channel = if rtcp { Channel::Rtcp } else { Channel::Rtp };
            let _ = relay.on_packet(at, leg, channel, "192.0.2.1:4000".parse().unwrap(), &bytes);
            relay.handle_timeout(at);
            while relay.poll_event().is_some() {}
            if let Ok(h) = RtpHeader::parse(&bytes) {
                seq.push(at, h, h.payload(&bytes).to_vec(), &mut out);
            }
        }
        seq.flush(&mut out);
        prop_assert!(out.windows(2).all(|w| w[0].sequence < w[1].sequence || w[1].discontinuity));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn recorder_never_panics_and_lasts_until_stop_on_arbitrary_packets(
        packets in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 12..200), 0u64..3000), 0..80),
    ) {
        let path = std::env::temp_dir().join(format!("callrec-media-prop-{}.wav", std::process::id()));
        let mut spec = RecordingSpec::new(&path);
        spec.format = Format::Wav;
        let t0 = Instant::now();
        let mut rec = Recorder::new(spec, t0, [CodecMap::default(), CodecMap::default()], RecorderConfig::default()).unwrap();
        let mut sorted = packets;
        sorted.sort_by_key(|p| p.2);
        for (a, mut bytes, ms) in sorted {
            bytes[0] = 0x80; // mostly valid RTP
            rec.push(if a { Leg::A } else { Leg::B }, t0 + Duration::from_millis(ms), &bytes).unwrap();
        }
        let done = rec.finish(t0 + Duration::from_secs(3)).unwrap();
        prop_assert_eq!(done.frames, 24_000);
        let _ = std::fs::remove_file(&path);
    }
}
