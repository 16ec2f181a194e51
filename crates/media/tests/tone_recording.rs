//! End to end through the sans-IO pipeline with a fake clock: two parties send G.711 tones
//! through the relay decisions into the recorder, over a seeded faulty network (reordering, 2 %
//! loss, a duplicate burst, an SSRC change, a DTMF key press) with a 5 s hold in which neither
//! side sends anything. The recorded file is decoded and measured:
//!
//! - in every 1 s window outside the hold (±0.5 s), the left channel's 440 Hz power is at least
//!   20 dB above its 1000 Hz power and the right channel's 1000 Hz power is at least 20 dB above
//!   its 440 Hz power, and each channel's RMS is above 3000 (the tones have amplitude 8000);
//! - the hold is there as silence: RMS below 50 (-56 dBFS) in both channels;
//! - the sound resumes after the hold at the wall-clock time it was sent (±60 ms, ±150 ms for MP3);
//! - the file lasts as long as the call, first packet to stop, within 1 % (MP3: plus the encoder's
//!   delay and padding, at most 2 frames).

mod support;

use std::f64::consts::PI;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callrec_media::record::{
    frame_queue, g711, CodecMap, Format, FrameReceiver, Received, Recorder, RecorderConfig,
    RecordingSpec,
};
use callrec_media::relay::{CallRelay, Channel, Decision, Leg, RelayConfig, RelayEvent};
use callrec_media::sdp::SessionDescription;
use callrec_media::Counters;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::rtp;

const CALL_MS: u64 = 25_000;
const HOLD_START_MS: u64 = 15_000;
const HOLD_END_MS: u64 = 20_000;
const SSRC_CHANGE_MS: u64 = 10_000;
const DUP_BURST_MS: u64 = 5_000;
const DTMF_MS: u64 = 3_000;
const BASE_DELAY_MS: u64 = 40;

const SDP_A: &str = "v=0\r\no=a 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
const SDP_B: &str =
    "v=0\r\no=b 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";

struct Arrival {
    at: Instant,
    leg: Leg,
    packet: Vec<u8>,
}

/// Every packet both parties send, with its arrival time at the relay.
fn network(t0: Instant, rng: &mut StdRng) -> Vec<Arrival> {
    let mut arrivals = Vec::new();
    for leg in [Leg::A, Leg::B] {
        let (freq, encode, pt): (f64, fn(i16) -> u8, u8) = match leg {
            Leg::A => (440.0, g711::linear_to_ulaw, 0),
            Leg::B => (1000.0, g711::linear_to_alaw, 8),
        };
        let mut ssrc: u32 = rng.random();
        let mut seq: u16 = rng.random();
        let mut ts: u32 = rng.random();
        for k in 0..CALL_MS / 20 {
            let sent_ms = k * 20;
            let in_hold = (HOLD_START_MS..HOLD_END_MS).contains(&sent_ms);
            if in_hold {
                // Leg B's clock keeps running through the hold; leg A's timestamps pause.
                if leg == Leg::B {
                    ts = ts.wrapping_add(160);
                    seq = seq.wrapping_add(0);
                }
                continue;
            }
            if leg == Leg::A && sent_ms == SSRC_CHANGE_MS {
                ssrc = ssrc.wrapping_add(0x1234_5678);
                seq = seq.wrapping_add(20_000);
                ts = ts.wrapping_add(0x4000_0000);
            }
            let packet = if leg == Leg::A && (DTMF_MS..DTMF_MS + 120).contains(&sent_ms) {
                // Key '5' pressed: telephone-event packets instead of audio, one event timestamp,
                // the last three are the (retransmitted) end packets.
                let n = (sent_ms - DTMF_MS) / 20;
                let end = if n >= 3 { 0x80 } else { 0 };
                let duration = ((n + 1) * 160) as u16;
                let event_ts = ts.wrapping_sub((n * 160) as u32);
                let d = duration.to_be_bytes();
                rtp(101, seq, event_ts, ssrc, &[5, end | 10, d[0], d[1]])
            } else {
                let payload: Vec<u8> = (0..160u64)
                    .map(|i| {
                        let n = (k * 160 + i) as f64;
                        encode((8000.0 * (2.0 * PI * freq * n / 8000.0).sin()) as i16)
                    })
                    .collect();
                rtp(pt, seq, ts, ssrc, &payload)
            };
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);

            // 2 % loss.
            if rng.random_bool(0.02) {
                continue;
            }
            let mut delay_us = BASE_DELAY_MS * 1000 + rng.random_range(0..10_000);
            // 3 % of packets are held back 30 ms: they arrive after their successor.
            if rng.random_bool(0.03) {
                delay_us += 30_000;
            }
            let at = t0 + Duration::from_millis(sent_ms) + Duration::from_micros(delay_us);
            // A burst of duplicates: 10 packets delivered three times.
            let copies = if (DUP_BURST_MS..DUP_BURST_MS + 200).contains(&sent_ms) {
                3
            } else {
                1
            };
            for c in 0..copies {
                arrivals.push(Arrival {
                    at: at + Duration::from_micros(c * 700),
                    leg,
                    packet: packet.clone(),
                });
            }
        }
    }
    arrivals.sort_by_key(|a| a.at);
    arrivals
}

fn drain(rx: &FrameReceiver, recorder: &mut Recorder) {
    while let Received::Frame(frame) = rx.recv_timeout(Duration::ZERO) {
        recorder.push_frame(frame).expect("recorder push");
    }
}

struct Recorded {
    start: Instant,
    stop: Instant,
    /// What the relay reported (DTMF digits among them).
    events: Vec<RelayEvent>,
    counters: callrec_media::CountersSnapshot,
}

/// Runs the call through relay and recorder into `spec`.
fn record_call(spec: RecordingSpec) -> Recorded {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(0x5eed_0005);
    let arrivals = network(t0, &mut rng);
    let start = arrivals.first().expect("packets").at;
    let stop = arrivals.last().expect("packets").at + Duration::from_millis(20);

    let sdp_a = SessionDescription::parse(SDP_A.as_bytes())
        .unwrap()
        .audio()
        .unwrap();
    let sdp_b = SessionDescription::parse(SDP_B.as_bytes())
        .unwrap()
        .audio()
        .unwrap();
    let counters = Arc::new(Counters::default());
    let mut relay = CallRelay::new(start, RelayConfig::default(), Arc::clone(&counters));
    relay.update_remote(Leg::A, sdp_a.remote_rtp());
    relay.update_remote(Leg::B, sdp_b.remote_rtp());
    relay.set_telephone_event(Leg::A, sdp_a.telephone_event_pt);
    relay.set_telephone_event(Leg::B, sdp_b.telephone_event_pt);
    let source = |leg| -> SocketAddr {
        match leg {
            Leg::A => "192.0.2.1:4000".parse().unwrap(),
            Leg::B => "198.51.100.1:5000".parse().unwrap(),
        }
    };
    let (tx, rx) = frame_queue(64, Arc::clone(&counters));
    let mut recorder = Recorder::new(
        spec,
        start,
        [CodecMap::from_stream(&sdp_a), CodecMap::from_stream(&sdp_b)],
        RecorderConfig::default(),
    )
    .expect("recorder starts");
    let mut events = Vec::new();
    for a in &arrivals {
        match relay.on_packet(a.at, a.leg, Channel::Rtp, source(a.leg), &a.packet) {
            Decision::Forward {
                is_rtp: true, via, ..
            } => {
                assert_eq!(via, a.leg.other());
                tx.push(a.leg, a.at, &a.packet);
            }
            other => panic!("relay did not forward: {other:?}"),
        }
        events.extend(std::iter::from_fn(|| relay.poll_event()));
        drain(&rx, &mut recorder);
    }
    tx.stop(stop);
    drain(&rx, &mut recorder);
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Received::Stopped(Some(stop))
    );
    let finished = recorder.finish(stop).expect("recording finishes");
    let s = finished.stats;
    assert!(s.sequencer[0].duplicates >= 10, "duplicates seen: {s:?}");
    assert!(
        s.sequencer[0].lost > 0 && s.sequencer[1].lost > 0,
        "losses seen: {s:?}"
    );
    assert_eq!(s.sequencer[0].restarts, 1, "one SSRC change: {s:?}");
    Recorded {
        start,
        stop,
        events,
        counters: counters.snapshot(),
    }
}

fn goertzel(samples: &[f64], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * PI * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

fn rms(samples: &[f64]) -> f64 {
    (samples.iter().map(|x| x * x).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

/// Checks the two channels (`left`, `right`, full-scale 32768) at `rate`.
fn check_channels(
    left: &[f64],
    right: &[f64],
    rate: f64,
    expected_secs: f64,
    extra_allowed_secs: f64,
    onset_tolerance: f64,
) {
    let secs = left.len() as f64 / rate;
    assert!(
        secs >= expected_secs * 0.99 && secs <= expected_secs * 1.01 + extra_allowed_secs,
        "file lasts {secs:.3} s, call lasted {expected_secs:.3} s"
    );
    let hold = (HOLD_START_MS as f64 / 1000.0, HOLD_END_MS as f64 / 1000.0);
    let win = rate as usize;
    let mut checked = 0;
    let mut min_sep = f64::INFINITY;
    for w in 0..(expected_secs as usize) {
        let (from, to) = (w as f64, w as f64 + 1.0);
        if to > hold.0 - 0.5 && from < hold.1 + 0.5 {
            continue;
        }
        let l = &left[w * win..(w + 1) * win];
        let r = &right[w * win..(w + 1) * win];
        let (l440, l1k) = (goertzel(l, 440.0, rate), goertzel(l, 1000.0, rate));
        let (r440, r1k) = (goertzel(r, 440.0, rate), goertzel(r, 1000.0, rate));
        let db = |a: f64, b: f64| 10.0 * (a / b.max(1e-9)).log10();
        assert!(
            db(l440, l1k) >= 20.0,
            "window {w}: left 440 Hz only {:.1} dB above 1000 Hz",
            db(l440, l1k)
        );
        assert!(
            db(r1k, r440) >= 20.0,
            "window {w}: right 1000 Hz only {:.1} dB above 440 Hz",
            db(r1k, r440)
        );
        min_sep = min_sep.min(db(l440, l1k)).min(db(r1k, r440));
        assert!(rms(l) > 3000.0, "window {w}: left RMS {:.0}", rms(l));
        assert!(rms(r) > 3000.0, "window {w}: right RMS {:.0}", rms(r));
        checked += 1;
    }
    assert!(checked >= 18, "checked {checked} windows");
    eprintln!(
        "rate {rate}: {checked} windows, minimum tone separation {min_sep:.1} dB, \
         file {secs:.3} s for a {expected_secs:.3} s call"
    );

    let quiet = ((hold.0 + 0.2) * rate) as usize..((hold.1 - 0.2) * rate) as usize;
    assert!(rms(&left[quiet.clone()]) < 50.0, "left not silent in hold");
    assert!(rms(&right[quiet]) < 50.0, "right not silent in hold");

    // Sound resumes at the wall-clock end of the hold (arrival delay ~ start's delay).
    for (name, ch) in [("left", left), ("right", right)] {
        let block = (rate * 0.01) as usize;
        let from = ((hold.0 + 1.0) * rate) as usize;
        let onset = (from..ch.len() - block)
            .step_by(block)
            .find(|&i| rms(&ch[i..i + block]) > 1000.0)
            .map(|i| i as f64 / rate)
            .expect("sound after the hold");
        assert!(
            (onset - hold.1).abs() <= onset_tolerance,
            "{name}: sound resumes at {onset:.3} s, hold ended at {:.3} s",
            hold.1
        );
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callrec-media-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_no_part_file(path: &Path) {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    assert!(!Path::new(&part).exists(), "temporary file left behind");
    assert!(path.exists(), "final file missing");
}

#[test]
fn stereo_wav_keeps_each_party_on_its_channel_and_fills_the_hold_with_silence() {
    let dir = temp_dir("wav");
    let path = dir.join("call.wav");
    let mut spec = RecordingSpec::new(&path);
    spec.format = Format::Wav;
    let rec = record_call(spec);
    assert_no_part_file(&path);

    let dtmf: Vec<_> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            RelayEvent::Dtmf { leg, digit } => Some((*leg, *digit)),
            _ => None,
        })
        .collect();
    assert_eq!(dtmf, vec![(Leg::A, '5')], "one key press reported once");
    assert_eq!(rec.counters.recorder_frames_dropped, 0);

    let reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    let left: Vec<f64> = samples.iter().step_by(2).map(|&s| f64::from(s)).collect();
    let right: Vec<f64> = samples
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&s| f64::from(s))
        .collect();
    let expected = (rec.stop - rec.start).as_secs_f64();
    check_channels(&left, &right, 8000.0, expected, 0.0, 0.06);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Decodes an MP3 file to interleaved f32 with symphonia; returns (samples, channels, rate).
fn decode_mp3(path: &Path) -> (Vec<f32>, usize, u32) {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    let file = std::fs::File::open(path).unwrap();
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .expect("mp3 probes");
    let track = format.default_track(TrackType::Audio).expect("audio track");
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(
            track.codec_params.as_ref().unwrap().audio().unwrap(),
            &AudioDecoderOptions::default(),
        )
        .expect("mp3 decoder");
    let mut all = Vec::new();
    let mut channels = 0;
    let mut rate = 0;
    while let Some(packet) = format.next_packet().expect("mp3 packet") {
        if packet.track_id != track_id {
            continue;
        }
        let buf = decoder.decode(&packet).expect("mp3 frame decodes");
        channels = buf.spec().channels().count();
        rate = buf.spec().rate();
        let mut chunk = vec![0.0f32; buf.samples_interleaved()];
        buf.copy_to_slice_interleaved(&mut chunk);
        all.extend_from_slice(&chunk);
    }
    (all, channels, rate)
}

#[test]
fn stereo_mp3_at_16_khz_keeps_each_party_on_its_channel_and_fills_the_hold_with_silence() {
    let dir = temp_dir("mp3");
    let path = dir.join("call.mp3");
    let mut spec = RecordingSpec::new(&path);
    spec.format = Format::Mp3;
    spec.sample_rate = Some(16_000);
    spec.mp3_kbps = 64;
    let rec = record_call(spec);
    assert_no_part_file(&path);
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        !bytes.windows(4).any(|w| w == b"Xing" || w == b"Info"),
        "no VBR/Xing tag frame"
    );

    let (samples, channels, rate) = decode_mp3(&path);
    assert_eq!((channels, rate), (2, 16_000));
    let left: Vec<f64> = samples
        .iter()
        .step_by(2)
        .map(|&s| f64::from(s) * 32768.0)
        .collect();
    let right: Vec<f64> = samples
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&s| f64::from(s) * 32768.0)
        .collect();
    let expected = (rec.stop - rec.start).as_secs_f64();
    // Encoder delay (~1105 samples) and final-frame padding (< 576 samples at 16 kHz) are not
    // trimmed without a LAME tag: allow two MPEG-2 frames.
    check_channels(
        &left,
        &right,
        16_000.0,
        expected,
        2.0 * 576.0 / 16_000.0 + 0.1,
        0.15,
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
