//! Fuzz the RTP/RTCP header parsers and the relay decision on arbitrary datagrams.
#![no_main]

use std::sync::Arc;
use std::time::Instant;

use callrec_media::relay::{classify, CallRelay, Channel, Leg, RelayConfig, RtcpHeader, RtpHeader};
use callrec_media::Counters;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = RtpHeader::parse(data) {
        assert!(h.payload_offset + h.payload_len <= data.len());
        let _ = h.payload(data);
    }
    let _ = RtcpHeader::parse(data);
    let _ = classify(data);
    let now = Instant::now();
    let mut relay = CallRelay::new(now, RelayConfig::default(), Arc::new(Counters::default()));
    relay.update_remote(Leg::B, Some(([198, 51, 100, 1], 5000).into()));
    let src = ([192, 0, 2, 1], 4000).into();
    let _ = relay.on_packet(now, Leg::A, Channel::Rtp, src, data);
    let _ = relay.on_packet(now, Leg::A, Channel::Rtcp, src, data);
});
