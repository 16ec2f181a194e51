//! Durability of recordings (issue 13): the WAV on disk is valid from its creation, a sync
//! writes what was recorded so far (silence included, and the audio still held back for
//! reordering) so that a crash loses at most the time since the last sync; recovery turns an
//! empty, header-only or truncated file into a valid WAV of the time recorded; a call with no
//! RTP, or one silent side, is recorded as silence for its whole length on both channels.
//! Fake clock throughout: no test here depends on timing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use callrec_media::record::{
    g711, pad_wav, part_path, recover_wav, repair_wav, wav_header, AudioSink, CodecMap, Format,
    Recorder, RecorderConfig, RecordingSpec, WavSink,
};
use callrec_media::relay::Leg;

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "callrec-media-durability-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// 20 ms of a loud PCMU square wave.
fn loud_payload() -> Vec<u8> {
    (0..160)
        .map(|i| g711::linear_to_ulaw(if i % 20 < 10 { 8000 } else { -8000 }))
        .collect()
}

fn wav_spec(path: &Path) -> RecordingSpec {
    RecordingSpec {
        format: Format::Wav,
        ..RecordingSpec::new(path)
    }
}

/// (channels, frames, samples) of a WAV read with hound (an independent reader).
fn read_wav(path: &Path) -> (u16, u32, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).expect("a valid WAV");
    let spec = reader.spec();
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    (spec.channels, reader.duration(), samples)
}

#[test]
fn a_new_wav_is_valid_on_disk_before_any_audio_and_a_sync_writes_what_was_given() {
    let dir = tempdir();
    let path = dir.path().join("a.wav");
    let mut sink = WavSink::create(&path, 8000, 2).unwrap();
    let part = part_path(&path);
    assert_eq!(read_wav(&part), (2, 0, vec![]));
    sink.write(&[1, -1, 2, -2]).unwrap();
    sink.sync(&[3, -3]).unwrap();
    // final and provisional audio are on disk, declared in the header
    assert_eq!(read_wav(&part), (2, 3, vec![1, -1, 2, -2, 3, -3]));
    // the provisional frame is overwritten by the final audio
    sink.write(&[4, -4]).unwrap();
    sink.sync(&[]).unwrap();
    assert_eq!(read_wav(&part).2, vec![1, -1, 2, -2, 4, -4]);
    // provisional audio past the end is cut off at finish
    sink.sync(&[5, -5, 6, -6]).unwrap();
    assert_eq!(read_wav(&part).1, 5);
    let done = Box::new(sink).finish().unwrap();
    assert_eq!(read_wav(&done), (2, 3, vec![1, -1, 2, -2, 4, -4]));
}

#[test]
fn a_call_without_any_rtp_is_recorded_as_silence_on_both_channels_for_its_whole_length() {
    let dir = tempdir();
    let path = dir.path().join("silent.wav");
    let t0 = Instant::now();
    let mut recorder = Recorder::new(
        wav_spec(&path),
        t0,
        [CodecMap::default(), CodecMap::default()],
        RecorderConfig::default(),
    )
    .unwrap();
    for s in 1..=3 {
        recorder.sync(t0 + Duration::from_secs(s)).unwrap();
    }
    // on disk after the syncs (as a crash would leave it): 3 s of silence, stereo
    let (channels, frames, samples) = read_wav(&part_path(&path));
    assert_eq!((channels, frames), (2, 24_000));
    assert!(samples.iter().all(|&s| s == 0));
    let finished = recorder.finish(t0 + Duration::from_secs(5)).unwrap();
    assert_eq!(finished.frames, 40_000);
    let (channels, frames, samples) = read_wav(&finished.path);
    assert_eq!((channels, frames), (2, 40_000));
    assert!(samples.iter().all(|&s| s == 0));
}

#[test]
fn a_call_stopped_before_any_sync_or_frame_still_has_its_length_in_silence() {
    let dir = tempdir();
    let path = dir.path().join("short.wav");
    let t0 = Instant::now();
    let recorder = Recorder::new(
        wav_spec(&path),
        t0,
        [CodecMap::default(), CodecMap::default()],
        RecorderConfig::default(),
    )
    .unwrap();
    let finished = recorder.finish(t0 + Duration::from_millis(700)).unwrap();
    let (channels, frames, _) = read_wav(&finished.path);
    assert_eq!((channels, frames), (2, 5_600));
}

#[test]
fn one_silent_side_gives_a_silent_channel_and_the_other_side_is_heard_all_along() {
    let dir = tempdir();
    let path = dir.path().join("oneway.wav");
    let t0 = Instant::now();
    let mut recorder = Recorder::new(
        wav_spec(&path),
        t0,
        [CodecMap::default(), CodecMap::default()],
        RecorderConfig::default(),
    )
    .unwrap();
    let payload = loud_payload();
    for i in 0..200u16 {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        let packet = rtp(0, i, u32::from(i) * 160, 7, &payload);
        recorder.push(Leg::A, at, &packet).unwrap();
        if i % 50 == 49 {
            recorder.sync(at).unwrap();
        }
    }
    let finished = recorder.finish(t0 + Duration::from_secs(4)).unwrap();
    let (channels, frames, samples) = read_wav(&finished.path);
    assert_eq!((channels, frames), (2, 32_000));
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    assert!(right.iter().all(|&s| s == 0), "the silent callee's channel");
    // the caller is heard in every 100 ms of the call
    for (n, window) in left.chunks(800).enumerate() {
        assert!(
            window.iter().any(|&s| s.unsigned_abs() > 4000),
            "caller audio missing in window {n}"
        );
    }
}

#[test]
fn a_recorder_cut_off_without_finishing_leaves_a_valid_wav_up_to_its_last_sync() {
    let dir = tempdir();
    let path = dir.path().join("crash.wav");
    let t0 = Instant::now();
    let mut recorder = Recorder::new(
        wav_spec(&path),
        t0,
        [CodecMap::default(), CodecMap::default()],
        RecorderConfig::default(),
    )
    .unwrap();
    let payload = loud_payload();
    for i in 0..250u16 {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        recorder
            .push(Leg::A, at, &rtp(0, i, u32::from(i) * 160, 1, &payload))
            .unwrap();
        recorder
            .push(Leg::B, at, &rtp(0, i, u32::from(i) * 160, 2, &payload))
            .unwrap();
        if i % 50 == 0 && i > 0 {
            recorder.sync(at).unwrap();
        }
    }
    // the process dies: no finish, the file stays `.part`
    drop(recorder);
    let part = part_path(&path);
    let repaired = repair_wav(&part).unwrap();
    // last sync at 4 s (packet 200): everything up to it is on disk, with audio in both channels
    assert_eq!(repaired.frames, 32_000);
    let (_, _, samples) = read_wav(&part);
    let last_second = &samples[2 * 24_000..];
    assert!(last_second
        .iter()
        .step_by(2)
        .any(|&s| s.unsigned_abs() > 4000));
    assert!(last_second
        .iter()
        .skip(1)
        .step_by(2)
        .any(|&s| s.unsigned_abs() > 4000));
}

#[test]
fn recovery_turns_an_empty_file_into_a_valid_wav_of_the_time_recorded() {
    let dir = tempdir();
    let path = dir.path().join("empty.wav");
    std::fs::write(&path, b"").unwrap();
    assert!(repair_wav(&path).is_err());
    recover_wav(&path, 8000, 2).unwrap();
    let padded = pad_wav(&path, 5 * 8000).unwrap();
    assert_eq!(
        (padded.frames, padded.channels, padded.sample_rate),
        (40_000, 2, 8000)
    );
    let (channels, frames, samples) = read_wav(&path);
    assert_eq!((channels, frames), (2, 40_000));
    assert!(samples.iter().all(|&s| s == 0));
}

#[test]
fn recovery_of_a_header_cut_short_or_a_missing_file_rebuilds_the_header() {
    let dir = tempdir();
    let cut = dir.path().join("cut.wav");
    std::fs::write(&cut, &wav_header(8000, 2, 0)[..20]).unwrap();
    recover_wav(&cut, 8000, 2).unwrap();
    assert_eq!(read_wav(&cut), (2, 0, vec![]));
    let missing = dir.path().join("missing.wav");
    recover_wav(&missing, 16_000, 1).unwrap();
    pad_wav(&missing, 16_000).unwrap();
    let reader = hound::WavReader::open(&missing).unwrap();
    assert_eq!(
        (
            reader.spec().sample_rate,
            reader.spec().channels,
            reader.duration()
        ),
        (16_000, 1, 16_000)
    );
}

#[test]
fn recovery_keeps_the_audio_of_a_truncated_file_and_pads_only_the_missing_time() {
    let dir = tempdir();
    let path = dir.path().join("trunc.wav");
    // a header declaring nothing, 1000 frames of audio and half a frame (cut mid-write)
    let mut bytes = wav_header(8000, 2, 0).to_vec();
    for i in 0..1000i16 {
        bytes.extend_from_slice(&i.to_le_bytes());
        bytes.extend_from_slice(&(-i).to_le_bytes());
    }
    bytes.extend_from_slice(&[7, 7]);
    std::fs::write(&path, bytes).unwrap();
    let repaired = recover_wav(&path, 8000, 2).unwrap();
    assert_eq!(repaired.frames, 1000);
    pad_wav(&path, 8000).unwrap();
    let (_, frames, samples) = read_wav(&path);
    assert_eq!(frames, 8000);
    assert_eq!(&samples[..4], &[0, 0, 1, -1]);
    assert_eq!(samples[1998..2000], [999, -999]);
    assert!(samples[2000..].iter().all(|&s| s == 0));
    // a file already long enough is left alone
    assert_eq!(pad_wav(&path, 4000).unwrap().frames, 8000);
}
