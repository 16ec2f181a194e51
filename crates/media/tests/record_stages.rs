//! The recording stages one by one: sequencer, G.711, DTMF, resampler, WAV repair, queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callrec_media::record::{
    frame_queue, g711, repair_wav, DtmfDetector, Received, Resampler, SequencedPacket, Sequencer,
    SequencerConfig, TelephoneEvent,
};
use callrec_media::relay::{Leg, RtpHeader};
use callrec_media::Counters;

fn header(seq: u16, ts: u32, ssrc: u32) -> RtpHeader {
    RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: ts,
        ssrc,
        csrc_count: 0,
        extension_profile: None,
        payload_offset: 12,
        payload_len: 1,
    }
}

fn push(s: &mut Sequencer, at: Instant, seq: u16, ts: u32, ssrc: u32) -> Vec<SequencedPacket> {
    let mut out = Vec::new();
    s.push(at, header(seq, ts, ssrc), vec![seq as u8], &mut out);
    out
}

fn seqs(out: &[SequencedPacket]) -> Vec<u16> {
    out.iter().map(|p| p.sequence as u16).collect()
}

#[test]
fn sequencer_reorders_within_the_window() {
    let t = Instant::now();
    let mut s = Sequencer::new(SequencerConfig::default());
    assert_eq!(seqs(&push(&mut s, t, 10, 0, 1)), vec![10]);
    assert!(push(&mut s, t, 12, 320, 1).is_empty(), "12 waits for 11");
    assert_eq!(seqs(&push(&mut s, t, 11, 160, 1)), vec![11, 12]);
    assert_eq!(s.stats().lost, 0);
}

#[test]
fn sequencer_drops_duplicates() {
    let t = Instant::now();
    let mut s = Sequencer::new(SequencerConfig::default());
    push(&mut s, t, 1, 0, 1);
    assert!(push(&mut s, t, 1, 0, 1).is_empty());
    assert!(push(&mut s, t, 3, 320, 1).is_empty());
    assert!(
        push(&mut s, t, 3, 320, 1).is_empty(),
        "duplicate of a waiting packet"
    );
    assert_eq!(seqs(&push(&mut s, t, 2, 160, 1)), vec![2, 3]);
    assert_eq!(s.stats().duplicates, 2);
    assert_eq!(s.stats().released, 3);
}

#[test]
fn sequencer_survives_the_16_bit_wrap_and_extends_timestamps() {
    let t = Instant::now();
    let mut s = Sequencer::new(SequencerConfig::default());
    let mut all = Vec::new();
    let mut ts: u32 = u32::MAX - 160 * 2;
    for seq in [65534u16, 65535, 0, 1] {
        all.extend(push(&mut s, t, seq, ts, 7));
        ts = ts.wrapping_add(160);
    }
    let ext: Vec<u64> = all.iter().map(|p| p.sequence).collect();
    assert_eq!(ext.len(), 4);
    assert!(ext.windows(2).all(|w| w[1] == w[0] + 1), "{ext:?}");
    let ts: Vec<u64> = all.iter().map(|p| p.timestamp).collect();
    assert!(ts.windows(2).all(|w| w[1] == w[0] + 160), "{ts:?}");
    assert_eq!(s.stats().lost, 0);
}

#[test]
fn sequencer_gives_up_on_a_lost_packet_after_the_window_or_max_wait() {
    let t = Instant::now();
    let mut s = Sequencer::new(SequencerConfig {
        window: 3,
        max_wait: Duration::from_millis(100),
        max_jump: 3000,
    });
    push(&mut s, t, 1, 0, 1);
    // 2 is lost; 3..=5 wait, the 4th waiting packet overflows the window.
    for seq in 3..=5 {
        assert!(push(&mut s, t, seq, 0, 1).is_empty());
    }
    assert_eq!(seqs(&push(&mut s, t, 6, 0, 1)), vec![3, 4, 5, 6]);
    assert_eq!(s.stats().lost, 1);
    // 7 is lost; 8 waits until max_wait has passed.
    assert!(push(&mut s, t, 8, 0, 1).is_empty());
    let mut out = Vec::new();
    s.poll(t + Duration::from_millis(50), &mut out);
    assert!(out.is_empty());
    s.poll(t + Duration::from_millis(100), &mut out);
    assert_eq!(seqs(&out), vec![8]);
    // A late 7 is not released out of order.
    assert!(push(&mut s, t, 7, 0, 1).is_empty());
}

#[test]
fn sequencer_starts_a_new_stream_on_ssrc_change_and_drops_old_stragglers() {
    let t = Instant::now();
    let mut s = Sequencer::new(SequencerConfig::default());
    push(&mut s, t, 100, 1000, 1);
    let out = push(&mut s, t, 5000, 99999, 2);
    assert_eq!(seqs(&out), vec![5000]);
    assert!(out[0].discontinuity);
    assert!(
        push(&mut s, t, 101, 1160, 1).is_empty(),
        "old SSRC straggler"
    );
    let out = push(&mut s, t, 5001, 100159, 2);
    assert_eq!(seqs(&out), vec![5001]);
    assert!(!out[0].discontinuity);
    assert_eq!(s.stats().restarts, 1);
}

#[test]
fn g711_decodes_known_values() {
    // ITU-T G.711 tables: µ-law 0xFF and 0x7F are zero, 0x00/0x80 are the extremes.
    assert_eq!(g711::ulaw_to_linear(0xff), 0);
    assert_eq!(g711::ulaw_to_linear(0x7f), 0);
    assert_eq!(g711::ulaw_to_linear(0x00), -32124);
    assert_eq!(g711::ulaw_to_linear(0x80), 32124);
    assert_eq!(g711::ulaw_to_linear(0xef), 132);
    assert_eq!(g711::ulaw_to_linear(0xf0), 120);
    assert_eq!(g711::ulaw_to_linear(0x70), -120);
    // A-law: 0xD5 / 0x55 are the smallest magnitudes, 0xAA / 0x2A the largest.
    assert_eq!(g711::alaw_to_linear(0xd5), 8);
    assert_eq!(g711::alaw_to_linear(0x55), -8);
    assert_eq!(g711::alaw_to_linear(0xaa), 32256);
    assert_eq!(g711::alaw_to_linear(0x2a), -32256);
}

#[test]
fn g711_encode_then_decode_stays_within_quantisation_error() {
    for x in (-32000i32..=32000).step_by(37) {
        let x = x as i16;
        let u = g711::ulaw_to_linear(g711::linear_to_ulaw(x));
        let a = g711::alaw_to_linear(g711::linear_to_alaw(x));
        // The step is at most 1/16 of the segment: 1024 at the top segment.
        let tolerance = (i32::from(x).abs() / 16).max(16);
        assert!(
            (i32::from(u) - i32::from(x)).abs() <= tolerance,
            "µ-law {x} -> {u}"
        );
        assert!(
            (i32::from(a) - i32::from(x)).abs() <= tolerance,
            "A-law {x} -> {a}"
        );
    }
    // Every code word decodes and re-encodes to itself (except the µ-law negative zero).
    for b in 0..=255u8 {
        assert_eq!(g711::linear_to_alaw(g711::alaw_to_linear(b)), b);
        if b != 0x7f {
            assert_eq!(g711::linear_to_ulaw(g711::ulaw_to_linear(b)), b);
        }
    }
}

#[test]
fn telephone_event_digits_are_reported_once_per_event() {
    let start = [5u8, 10, 0, 160];
    let end = [5u8, 0x80 | 10, 3, 32];
    assert_eq!(
        TelephoneEvent::parse(&end),
        Some(TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 800
        })
    );
    let mut d = DtmfDetector::default();
    assert_eq!(d.on_packet(1, 8000, &start), Some('5'));
    assert_eq!(d.on_packet(1, 8000, &start), None);
    assert_eq!(d.on_packet(1, 8000, &end), None);
    assert_eq!(d.on_packet(1, 8000, &end), None, "retransmitted end");
    assert_eq!(d.on_packet(1, 16000, &[11, 0, 0, 160]), Some('#'));
    assert_eq!(d.on_packet(1, 24000, &[10, 0]), None, "short payload");
}

#[test]
fn resampler_output_has_the_exact_length_and_keeps_a_tone() {
    let mut r = Resampler::new(8000, 16000, 1);
    let input: Vec<i16> = (0..8000)
        .map(|n| (10000.0 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 8000.0).sin()) as i16)
        .collect();
    let mut out = Vec::new();
    for chunk in input.chunks(160) {
        r.process(chunk, &mut out);
    }
    r.finish(&mut out);
    assert_eq!(out.len(), 16000);
    // Compare with the ideal 440 Hz at 16 kHz away from the edges.
    let err: f64 = (1000..15000)
        .map(|n| {
            let ideal = 10000.0 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 16000.0).sin();
            (f64::from(out[n]) - ideal).abs()
        })
        .fold(0.0, f64::max);
    assert!(err < 200.0, "max error {err}");
    let mut down = Resampler::new(8000, 11025, 2);
    let mut out = Vec::new();
    down.process(&vec![0i16; 2 * 8000], &mut out);
    down.finish(&mut out);
    assert_eq!(out.len(), 2 * 11025);
}

#[test]
fn repair_wav_makes_a_truncated_file_readable_with_the_right_length() {
    let dir = std::env::temp_dir().join(format!("callrec-media-repair-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cut.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..2 * 8000 {
        w.write_sample(i as i16).unwrap();
    }
    w.finalize().unwrap();
    // Simulate a crash: header says 0 bytes of data, and a half frame dangles at the end.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4..8].copy_from_slice(&36u32.to_le_bytes());
    bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&[1, 2]);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(hound::WavReader::open(&path).unwrap().duration(), 0);

    let repaired = repair_wav(&path).unwrap();
    assert!(repaired.changed);
    assert_eq!(repaired.frames, 8000);
    let reader = hound::WavReader::open(&path).unwrap();
    assert_eq!(reader.duration(), 8000);
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    assert_eq!(samples.len(), 16000);
    assert_eq!(samples[15999], 15999);
    assert!(
        !repair_wav(&path).unwrap().changed,
        "a sound file is left alone"
    );
    std::fs::write(&path, b"not a wav file at all").unwrap();
    assert!(repair_wav(&path).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn full_recorder_queue_drops_and_counts_instead_of_blocking() {
    let counters = Arc::new(Counters::default());
    let (tx, rx) = frame_queue(2, Arc::clone(&counters));
    let t = Instant::now();
    assert!(tx.push(Leg::A, t, &[1]));
    assert!(tx.push(Leg::B, t, &[2]));
    assert!(!tx.push(Leg::A, t, &[3]));
    let snap = counters.snapshot();
    assert_eq!(
        (snap.recorder_frames_queued, snap.recorder_frames_dropped),
        (2, 1)
    );
    tx.stop(t + Duration::from_secs(1));
    assert!(matches!(rx.recv_timeout(Duration::ZERO), Received::Frame(f) if f.packet == [1]));
    assert!(matches!(rx.recv_timeout(Duration::ZERO), Received::Frame(f) if f.packet == [2]));
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Received::Stopped(Some(t + Duration::from_secs(1)))
    );
}

/// Places 20 ms frames of constant value `k + 1` for frame k; returns the released leg A audio.
fn timeline_run(arrivals: &[(u64, u64)]) -> (Vec<i16>, callrec_media::record::TimelineStats) {
    use callrec_media::record::{Timeline, TimelineConfig};
    let t0 = Instant::now();
    let mut t = Timeline::new(TimelineConfig::default(), t0, Duration::from_secs(60));
    for (k, &(ts, at_ms)) in arrivals.iter().enumerate() {
        let frame = vec![(k + 1) as i16; 160];
        t.place(
            Leg::A,
            t0 + Duration::from_millis(at_ms),
            ts,
            k == 0,
            &frame,
        );
    }
    let mut out = Vec::new();
    let end = arrivals.last().map_or(0, |a| a.1) + 1000;
    t.release_until(t.position(t0 + Duration::from_millis(end)), |a, _| {
        out.extend_from_slice(a)
    });
    (out, t.stats())
}

#[test]
fn timeline_keeps_rtp_positions_through_a_300_ms_delay_spike() {
    // Frames 10..=14 are held up and arrive together 300 ms late.
    let arrivals: Vec<(u64, u64)> = (0..30u64)
        .map(|k| {
            let at = if (10..15).contains(&k) {
                15 * 20 + 300
            } else {
                k * 20
            };
            (1_000_000 + k * 160, at)
        })
        .collect();
    let (out, stats) = timeline_run(&arrivals);
    assert_eq!(stats.reanchors, 0);
    for k in 0..30usize {
        assert_eq!(
            out[k * 160],
            (k + 1) as i16,
            "frame {k} at its RTP position"
        );
    }
}

#[test]
fn timeline_fills_a_pause_of_the_senders_clock_up_to_arrival_time() {
    // Timestamps continue without a gap, but 2 s of wall clock pass after frame 9.
    let arrivals: Vec<(u64, u64)> = (0..20u64)
        .map(|k| (k * 160, if k < 10 { k * 20 } else { k * 20 + 2000 }))
        .collect();
    let (out, stats) = timeline_run(&arrivals);
    assert_eq!(stats.reanchors, 1);
    assert_eq!(out[9 * 160], 10, "before the pause: RTP positions");
    let resumed = (200 + 2000) * 8;
    assert!(
        out[200 * 8..resumed].iter().all(|&s| s == 0),
        "pause is silence"
    );
    assert_eq!(out[resumed], 11, "frame 10 at its arrival time");
    assert_eq!(out[resumed + 9 * 160], 20);
}

fn record_constant(channels: callrec_media::record::Channels, name: &str) -> (u16, Vec<i16>) {
    use callrec_media::record::{CodecMap, Format, Recorder, RecorderConfig, RecordingSpec};
    let dir = std::env::temp_dir().join(format!("callrec-media-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.wav");
    let mut spec = RecordingSpec::new(&path);
    spec.format = Format::Wav;
    spec.channels = channels;
    let t0 = Instant::now();
    let mut rec = Recorder::new(
        spec,
        t0,
        [CodecMap::default(), CodecMap::default()],
        RecorderConfig::default(),
    )
    .unwrap();
    let a = g711::linear_to_ulaw(1000);
    let b = g711::linear_to_alaw(-3000);
    for k in 0..50u16 {
        let at = t0 + Duration::from_millis(u64::from(k) * 20);
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        p[2..4].copy_from_slice(&k.to_be_bytes());
        p[4..8].copy_from_slice(&(u32::from(k) * 160).to_be_bytes());
        p.extend_from_slice(&[a; 160]);
        rec.push(Leg::A, at, &p).unwrap();
        p[1] = 8;
        p[11] = 2;
        p.truncate(12);
        p.extend_from_slice(&[b; 160]);
        rec.push(Leg::B, at, &p).unwrap();
    }
    let done = rec.finish(t0 + Duration::from_secs(1)).unwrap();
    assert_eq!(done.frames, 8000);
    let reader = hound::WavReader::open(&path).unwrap();
    let ch = reader.spec().channels;
    let samples = reader.into_samples().map(Result::unwrap).collect();
    std::fs::remove_dir_all(&dir).unwrap();
    (ch, samples)
}

#[test]
fn mono_mixes_both_legs_and_caller_only_keeps_leg_a() {
    use callrec_media::record::Channels;
    let a = g711::ulaw_to_linear(g711::linear_to_ulaw(1000));
    let b = g711::alaw_to_linear(g711::linear_to_alaw(-3000));
    let (ch, mono) = record_constant(Channels::Mono, "mono");
    assert_eq!((ch, mono.len()), (1, 8000));
    assert_eq!(mono[4000], a + b);
    let (ch, caller) = record_constant(Channels::CallerOnly, "caller");
    assert_eq!((ch, caller.len()), (1, 8000));
    assert_eq!(caller[4000], a);
    let (ch, stereo) = record_constant(Channels::Stereo, "stereo");
    assert_eq!((ch, stereo.len()), (2, 16000));
    assert_eq!((stereo[8000], stereo[8001]), (a, b));
}

#[test]
fn timeline_moves_a_stream_earlier_when_its_first_packet_was_delayed() {
    // Frame 0 arrives 100 ms late; every later frame on time.
    let arrivals: Vec<(u64, u64)> = (0..30u64)
        .map(|k| (5000 + k * 160, if k == 0 { 100 } else { k * 20 }))
        .collect();
    let (out, stats) = timeline_run(&arrivals);
    assert_eq!(stats.reanchors, 0);
    assert_eq!(stats.anchor_advance_samples, 800);
    for k in 0..30usize {
        assert_eq!(
            out[k * 160],
            (k + 1) as i16,
            "frame {k} at its sending time"
        );
    }
}
