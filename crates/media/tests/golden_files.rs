//! The recorder's output is pinned byte for byte: a fixed, deterministic stream of frames from
//! both legs (jitter, loss, a loss burst, reordering, duplicates, a packet too late for the
//! sequencer, a delayed anchor packet, DTMF and comfort-noise packets, a 3 s hold on the B leg
//! during which its timestamps stand still, a timestamp jump and an SSRC change on the A leg)
//! is fed through `Recorder` in 100 ms batches with a sync every second, as the recorder pool
//! does, and the SHA-256 of the finished file and of the `.part` file after every sync (the
//! provisional audio a crash would leave) must equal the values recorded with the code as it
//! was before the recorder's buffers were reworked (issue 12). A change of these hashes is a
//! change of what callrec records: it needs a reason, not a new hash.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use callrec_media::record::{
    g711, part_path, Channels, CodecMap, Format, Recorder, RecorderConfig, RecordingSpec,
};
use callrec_media::relay::Leg;
use sha2::{Digest, Sha256};
use support::rtp;

/// A small deterministic generator (no dependency on a crate's RNG algorithm staying put).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// 160 samples of a two-tone signal (integer-only synthesis, so it is the same everywhere).
fn payload(pt: u8, ts: u32, step: u32, rng: &mut Lcg) -> Vec<u8> {
    (0..160u32)
        .map(|i| {
            let n = ts.wrapping_add(i);
            let saw = ((n.wrapping_mul(step) % 200) as i32 - 100) * 60;
            let tri = ((n % 64) as i32 - 32).abs() * 90 - 1440;
            let noise = rng.below(200) as i32 - 100;
            let s = (saw + tri + noise).clamp(-32768, 32767) as i16;
            if pt == 8 {
                g711::linear_to_alaw(s)
            } else {
                g711::linear_to_ulaw(s)
            }
        })
        .collect()
}

struct Arrival {
    at_ms: u64,
    leg: Leg,
    packet: Vec<u8>,
}

const CALL_MS: u64 = 20_000;

/// Every packet both legs send, in arrival order (stable by time).
fn frames() -> Vec<Arrival> {
    let mut rng = Lcg(0x5eed_1234);
    let mut out = Vec::new();
    // Leg A: PCMA (8), DTMF (101) at 3 s, a timestamp jump at 7 s, an SSRC change at 12 s.
    let (mut seq, mut ts, mut ssrc) = (65_500u16, 4_294_960_000u32, 0x1111_1111u32);
    for k in 0..(CALL_MS / 20) {
        let sent = k * 20;
        if sent == 7_000 {
            ts = ts.wrapping_add(80_000);
        }
        if sent == 12_000 {
            ssrc = 0x2222_2222;
            seq = 1_000;
            ts = 77_777;
        }
        let jitter = u64::from(rng.below(25));
        let mut at = sent + 30 + jitter;
        let lost = k % 37 == 5 || (600..606).contains(&k);
        let pt = if (150..160).contains(&k) { 101 } else { 8 };
        let body = if pt == 101 {
            vec![5, 0x0a, 0, 160]
        } else {
            payload(8, ts, 7, &mut rng)
        };
        if k % 53 == 20 {
            at += 90; // reordered within the sequencer's window
        }
        if k == 400 {
            at += 900; // too late: its place is given up
        }
        if !lost {
            out.push(Arrival {
                at_ms: at,
                leg: Leg::A,
                packet: rtp(pt, seq, ts, ssrc, &body),
            });
            if k % 97 == 3 {
                out.push(Arrival {
                    at_ms: at + 5,
                    leg: Leg::A,
                    packet: rtp(pt, seq, ts, ssrc, &body),
                });
            }
        }
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
    }
    // Leg B: PCMU (0), first packet delayed, a hold from 9 s to 12 s during which it keeps
    // sending comfort noise with its timestamp standing still, a packet of an unknown payload.
    let (mut seq, mut ts, ssrc) = (10u16, 1_000u32, 0x3333_3333u32);
    for k in 0..(CALL_MS / 20) {
        let sent = k * 20;
        let hold = (9_000..12_000).contains(&sent);
        let jitter = u64::from(rng.below(40));
        let mut at = sent + 45 + jitter;
        if k == 0 {
            at += 70;
        }
        let (pt, body) = if hold {
            if k % 10 != 0 {
                seq = seq.wrapping_add(1);
                continue;
            }
            (13, vec![40])
        } else if k == 777 {
            (18, vec![0; 20])
        } else {
            (0, payload(0, ts, 3, &mut rng))
        };
        if k % 41 == 7 {
            at += 130;
        }
        if k % 61 != 9 {
            out.push(Arrival {
                at_ms: at,
                leg: Leg::B,
                packet: rtp(pt, seq, ts, ssrc, &body),
            });
        }
        seq = seq.wrapping_add(1);
        if !hold {
            ts = ts.wrapping_add(160);
        }
    }
    // A truncated packet (not RTP).
    out.push(Arrival {
        at_ms: 5_001,
        leg: Leg::B,
        packet: vec![0x80, 0],
    });
    out.sort_by_key(|a| a.at_ms);
    out
}

struct Case {
    name: &'static str,
    format: Format,
    channels: Channels,
    rate: Option<u32>,
    limit_ms: Option<u64>,
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Records `case` and returns (SHA-256 of the finished file, SHA-256 of the `.part` files
/// after each sync, concatenated).
fn record(dir: &Path, case: &Case) -> (String, String) {
    let path = dir.join(format!("{}.{}", case.name, case.format.extension()));
    let mut spec = RecordingSpec::new(&path);
    spec.format = case.format;
    spec.channels = case.channels;
    spec.sample_rate = case.rate;
    if let Some(ms) = case.limit_ms {
        spec.time_limit = Duration::from_millis(ms);
    }
    let t0 = Instant::now();
    let mut codecs = CodecMap::default();
    codecs.set(101, callrec_media::record::Codec::TelephoneEvent);
    let mut recorder = Recorder::new(
        spec,
        t0,
        [codecs.clone(), codecs],
        RecorderConfig::default(),
    )
    .unwrap();
    let arrivals = frames();
    let mut next = arrivals.iter().peekable();
    let mut syncs = Sha256::new();
    let mut tick = 100;
    while tick <= CALL_MS + 600 {
        while let Some(a) = next.next_if(|a| a.at_ms <= tick) {
            recorder
                .push(a.leg, t0 + Duration::from_millis(a.at_ms), &a.packet)
                .unwrap();
        }
        if tick % 1000 == 0 {
            recorder.sync(t0 + Duration::from_millis(tick)).unwrap();
            syncs.update(std::fs::read(part_path(&path)).unwrap());
        }
        tick += 100;
    }
    let finished = recorder
        .finish(t0 + Duration::from_millis(CALL_MS + 600))
        .unwrap();
    // The stream exercises what it claims to.
    let stats = finished.stats;
    let [a, b] = stats.sequencer;
    assert!(a.lost > 0 && b.lost > 0, "{stats:?}");
    assert!(
        a.duplicates > 0 && a.late > 0 && a.restarts > 0,
        "{stats:?}"
    );
    assert!(
        stats.telephone_events > 0 && stats.undecodable > 0,
        "{stats:?}"
    );
    assert!(stats.not_rtp == 1, "{stats:?}");
    assert!(stats.timeline.reanchors >= 2, "{stats:?}");
    assert!(stats.timeline.anchor_advance_samples > 0, "{stats:?}");
    if case.limit_ms.is_some() {
        assert!(stats.after_limit > 0, "{stats:?}");
    }
    let syncs = syncs
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (sha(&std::fs::read(finished.path).unwrap()), syncs)
}

#[test]
fn recorded_files_are_byte_identical_to_the_reference() {
    let dir = std::env::temp_dir().join(format!("callrec-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        Case {
            name: "wav-stereo-8k",
            format: Format::Wav,
            channels: Channels::Stereo,
            rate: None,
            limit_ms: None,
        },
        Case {
            name: "wav-mono-8k",
            format: Format::Wav,
            channels: Channels::Mono,
            rate: None,
            limit_ms: None,
        },
        Case {
            name: "wav-caller-8k",
            format: Format::Wav,
            channels: Channels::CallerOnly,
            rate: None,
            limit_ms: None,
        },
        Case {
            name: "wav-stereo-16k-limit",
            format: Format::Wav,
            channels: Channels::Stereo,
            rate: Some(16_000),
            limit_ms: Some(14_500),
        },
        Case {
            name: "mp3-stereo-8k",
            format: Format::Mp3,
            channels: Channels::Stereo,
            rate: None,
            limit_ms: None,
        },
        Case {
            name: "mp3-mono-16k",
            format: Format::Mp3,
            channels: Channels::Mono,
            rate: Some(16_000),
            limit_ms: None,
        },
    ];
    let mut got = Vec::new();
    for case in &cases {
        let (file, syncs) = record(&dir, case);
        println!("(\"{}\", \"{file}\", \"{syncs}\"),", case.name);
        got.push((case.name, file, syncs));
    }
    std::fs::remove_dir_all(&dir).ok();
    for ((name, file, syncs), (want_name, want_file, want_syncs)) in got.iter().zip(EXPECTED) {
        assert_eq!(name, want_name);
        assert_eq!(file, want_file, "{name}: the finished file changed");
        assert_eq!(syncs, want_syncs, "{name}: the file after a sync changed");
    }
    assert_eq!(got.len(), EXPECTED.len());
}

/// (case, SHA-256 of the finished file, SHA-256 over the `.part` files after each sync),
/// recorded with the recorder of commit 7e5925c (before issue 12's rework).
const EXPECTED: &[(&str, &str, &str)] = &[
    (
        "wav-stereo-8k",
        "14c3d4a7ab411ee47c3d2bb94ce43a9ed1f21deb6706921c61377af42d8fff3c",
        "4f9a8b078ddbb7245f1e35689fa057b3ec3bbd3544fa2eb9fc499fefa19190a1",
    ),
    (
        "wav-mono-8k",
        "966be9b703ba92e6a68b39163e695609961f99c664690f3d0e6a3e87bc4967d4",
        "b919cdbf1fc2588a8f677df21d05f652c8c19b0ccf8feeccfbd53afd32e61c6c",
    ),
    (
        "wav-caller-8k",
        "2df07124e3d25f4b3431ba2ee756986a01d878819f9bb48a5e364f579c385f84",
        "ead321853934bdc123936989ddef47c3db696c550ea5134a7319ebe157921664",
    ),
    (
        "wav-stereo-16k-limit",
        "d345b7f37be0428a36d2dcb903480ef2920854b8b63c3485596cd7466234fa69",
        "555a94fbccdc577b0611dd0352452a33e66b63404cc4b72153630a2d43c33f33",
    ),
    (
        "mp3-stereo-8k",
        "482efd3afab7ae70168b774bc2e545e59a2121f448f0075adb5ef3c6b3e4bb15",
        "80525a6e610c747ebc18f38f6760f3b9a548325495ac22e4a897840f1f034275",
    ),
    (
        "mp3-mono-16k",
        "6f0acecfe3183b400af88edaa777a3fd7ec10a6fa11d92ccd7488062d1509a13",
        "328a6b273408a60c01b6b60a2a45822dbfb7beeb253bd1fa6192192694654361",
    ),
];
