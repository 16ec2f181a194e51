//! Durability of recordings (issue 13): the WAV on disk is valid from its creation, a sync
//! writes what was recorded so far (silence included, and the audio still held back for
//! reordering) so that a crash loses at most the time since the last sync; recovery turns an
//! empty, header-only or truncated file into a valid WAV of the time recorded; a call with no
//! RTP, or one silent side, is recorded as silence for its whole length on both channels; a
//! write that fails (a full disk) ends the file valid with the audio written; MP3 files cut
//! off or empty are cut to whole frames and padded with encoded silence.
//! Fake clock throughout: no test here depends on timing.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use callrec_media::record::{
    g711, pad_wav, part_path, recover_mp3, recover_wav, repair_mp3, repair_wav, wav_header,
    AudioSink, CodecMap, Format, Mp3Sink, RecordError, Recorder, RecorderConfig, RecordingSpec,
    WavSink,
};
use callrec_media::relay::Leg;
use support::rtp;

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

/// A WAV sink on a "disk" that takes `room` bytes of audio and then fails every write with
/// ENOSPC, the way a full file system does (the failing write itself may have written part of
/// its bytes).
struct FullDisk {
    inner: Box<WavSink>,
    room: usize,
    path: PathBuf,
}

impl FullDisk {
    fn check(&mut self, samples: usize) -> Result<(), RecordError> {
        let bytes = samples * 2;
        if bytes > self.room {
            self.room = 0;
            return Err(RecordError::Io {
                path: self.path.clone(),
                source: std::io::Error::from_raw_os_error(28),
            });
        }
        self.room -= bytes;
        Ok(())
    }
}

impl AudioSink for FullDisk {
    fn write(&mut self, interleaved: &[i16]) -> Result<(), RecordError> {
        if let Err(e) = self.check(interleaved.len()) {
            // half of it made it into the file before the failure
            let half = interleaved.len() / 2;
            let _ = self.inner.write(&interleaved[..half]);
            let _ = self.inner.sync(&[]);
            return Err(e);
        }
        self.inner.write(interleaved)
    }

    fn sync(&mut self, provisional: &[i16]) -> Result<(), RecordError> {
        self.inner.sync(provisional)
    }

    fn finish(self: Box<Self>) -> Result<PathBuf, RecordError> {
        self.inner.finish()
    }

    fn sync_data(&mut self) -> Result<(), RecordError> {
        self.inner.sync_data()
    }

    fn abort(self: Box<Self>) -> Result<(PathBuf, u64), RecordError> {
        self.inner.abort()
    }
}

#[test]
fn a_write_failing_on_a_full_disk_ends_the_file_valid_with_the_audio_written_before() {
    let dir = tempdir();
    let path = dir.path().join("full.wav");
    let t0 = Instant::now();
    // room for about 2 s of 8 kHz stereo
    let sink = FullDisk {
        inner: Box::new(WavSink::create(&path, 8000, 2).unwrap()),
        room: 2 * 8000 * 2 * 2,
        path: path.clone(),
    };
    let mut recorder = Recorder::with_sink(
        wav_spec(&path),
        t0,
        [CodecMap::default(), CodecMap::default()],
        RecorderConfig::default(),
        Box::new(sink),
    )
    .unwrap();
    let payload = loud_payload();
    let mut error = None;
    for i in 0..250u16 {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        let packet = rtp(0, i, u32::from(i) * 160, 1, &payload);
        let result = recorder
            .push(Leg::A, at, &packet)
            .and_then(|()| recorder.push(Leg::B, at, &rtp(0, i, u32::from(i) * 160, 2, &payload)))
            .and_then(|()| {
                if i % 50 == 0 {
                    recorder.sync(at)
                } else {
                    Ok(())
                }
            });
        if let Err(e) = result {
            error = Some(e);
            break;
        }
    }
    let error = error.expect("the disk filled up");
    let finished = recorder.abort(&error).expect("the file is closed");
    assert_eq!(finished.path, path, "renamed to its final name");
    assert!(!part_path(&path).exists());
    assert!(
        finished
            .cut_short
            .as_deref()
            .is_some_and(|c| c.contains("No space left")),
        "{:?}",
        finished.cut_short
    );
    let (channels, frames, samples) = read_wav(&path);
    assert_eq!(channels, 2);
    assert_eq!(
        u64::from(frames),
        finished.frames,
        "the duration is what the file holds"
    );
    // everything that fitted (2 s, less the jitter latency still held back, plus the part of
    // the failing write that reached the file) is there, heard
    assert!(
        (12_000..=16_160).contains(&frames),
        "{frames} frames kept of 2 s of room"
    );
    assert!(samples
        .iter()
        .step_by(2)
        .skip(4000)
        .any(|&s| s.unsigned_abs() > 4000));
    // the header matches the file exactly: nothing after the data
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(len, 44 + u64::from(frames) * 4);
}

/// Decodes an MP3 with symphonia (an independent decoder): (frames per channel, channels, rate).
fn decode_mp3(path: &Path) -> (usize, usize, u32) {
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
    let (mut frames, mut channels, mut rate) = (0, 0, 0);
    while let Ok(Some(packet)) = format.next_packet() {
        if packet.track_id != track_id {
            continue;
        }
        let buf = decoder.decode(&packet).expect("mp3 frame decodes");
        channels = buf.spec().channels().count();
        rate = buf.spec().rate();
        frames += buf.samples_interleaved() / channels.max(1);
    }
    (frames, channels, rate)
}

#[test]
fn recovery_turns_an_empty_mp3_into_silence_of_the_time_recorded() {
    let dir = tempdir();
    let path = dir.path().join("empty.mp3");
    std::fs::write(&path, b"").unwrap();
    let found = repair_mp3(&path).unwrap();
    assert_eq!((found.mpeg_frames, found.frames), (0, 0));
    let recovered = recover_mp3(&path, 5 * 8000, 8000, 2, 32).unwrap();
    assert!(recovered.frames >= 40_000, "{recovered:?}");
    assert_eq!((recovered.sample_rate, recovered.channels), (8000, 2));
    let (frames, channels, rate) = decode_mp3(&path);
    assert_eq!((channels, rate), (2, 8000));
    // 5 s, plus LAME's encoder delay and the last frame's padding (well under 1 s)
    assert!(
        (40_000..40_000 + 4000).contains(&frames),
        "{frames} decoded frames for 5 s"
    );
    // a missing file too
    let missing = dir.path().join("missing.mp3");
    let recovered = recover_mp3(&missing, 8000, 16_000, 1, 32).unwrap();
    assert_eq!((recovered.sample_rate, recovered.channels), (16_000, 1));
    assert!(recovered.frames >= 8000);
}

#[test]
fn an_mp3_cut_inside_a_frame_keeps_its_whole_frames_and_is_padded_to_the_time_recorded() {
    let dir = tempdir();
    let path = dir.path().join("cut.mp3");
    // 2 s of a recorder's MP3 (a tone), then the crash cuts the last frame in half
    let mut sink = Mp3Sink::create(&path, 8000, 2, 32).unwrap();
    let tone: Vec<i16> = (0..16_000 * 2)
        .map(|i| if (i / 2) % 20 < 10 { 8000 } else { -8000 })
        .collect();
    sink.write(&tone).unwrap();
    Box::new(sink).finish().unwrap();
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole[..whole.len() - 30]).unwrap();
    let repaired = repair_mp3(&path).unwrap();
    assert!(repaired.changed);
    assert!(
        repaired.frames >= 14_000 && repaired.frames < 17_000,
        "{repaired:?}"
    );
    assert_eq!(decode_mp3(&path).0 as u64, repaired.frames);
    // the call lasted 4 s: the rest is silence in frames of the same kind
    let padded = recover_mp3(&path, 4 * 8000, 8000, 2, 32).unwrap();
    assert!(
        padded.frames >= 32_000 && padded.frames < 32_000 + 4000,
        "{padded:?}"
    );
    assert_eq!(padded.kbps, 32);
    let (frames, channels, rate) = decode_mp3(&path);
    assert_eq!((frames as u64, channels, rate), (padded.frames, 2, 8000));
}

#[test]
fn an_mp3_sink_aborted_after_a_failed_write_leaves_whole_frames_under_the_final_name() {
    let dir = tempdir();
    let path = dir.path().join("abort.mp3");
    let mut sink = Box::new(Mp3Sink::create(&path, 8000, 1, 32).unwrap());
    let tone: Vec<i16> = (0..8000 * 3)
        .map(|i| if i % 20 < 10 { 6000 } else { -6000 })
        .collect();
    sink.write(&tone).unwrap();
    sink.sync(&[]).unwrap();
    let (final_path, frames) = sink.abort().unwrap();
    assert_eq!(final_path, path);
    assert!(!part_path(&path).exists());
    // what reached the file: whole frames, decodable, the count the sink reports
    assert!(frames > 8000, "{frames}");
    assert_eq!(decode_mp3(&path).0 as u64, frames);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Whatever a crash leaves in an MP3 file (any bytes, or a recorder's frames cut anywhere
    /// with junk after them), `repair_mp3` keeps whole frames only, never fails on the bytes,
    /// and a second repair changes nothing.
    #[test]
    fn repair_mp3_of_any_bytes_leaves_whole_frames_and_is_idempotent(
        junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
        cut in 0usize..6000,
        real in proptest::prelude::any::<bool>(),
    ) {
        let dir = tempdir();
        let path = dir.path().join("any.mp3");
        let mut bytes = Vec::new();
        if real {
            let source = dir.path().join("real.mp3");
            let mut sink = Mp3Sink::create(&source, 8000, 2, 32).unwrap();
            sink.write(&vec![1000i16; 8000 * 2]).unwrap();
            Box::new(sink).finish().unwrap();
            let mut frames = std::fs::read(&source).unwrap();
            frames.truncate(cut.min(frames.len()));
            bytes.extend_from_slice(&frames);
        }
        bytes.extend_from_slice(&junk);
        std::fs::write(&path, &bytes).unwrap();
        let first = repair_mp3(&path).unwrap();
        let second = repair_mp3(&path).unwrap();
        proptest::prop_assert!(!second.changed);
        proptest::prop_assert_eq!(first.frames, second.frames);
        let len = std::fs::metadata(&path).unwrap().len();
        proptest::prop_assert!(len <= bytes.len() as u64);
        if first.mpeg_frames == 0 {
            proptest::prop_assert_eq!(len, 0);
        }
    }
}
