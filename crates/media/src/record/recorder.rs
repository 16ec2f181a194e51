//! The recorder: the consumer side of the recording fork. It runs the stages
//! sequencer → decoder → timeline → (mix/interleave) → resampler → sink for one recording.
//! It is fed [`Frame`](super::Frame)s (raw RTP packets with leg and arrival time) and never reads
//! the clock: arrival times and the stop time come from the caller.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::codec::{Codec, CodecMap};
use super::error::RecordError;
use super::mp3::Mp3Sink;
use super::queue::Frame;
use super::resample::Resampler;
use super::sequencer::{SequencedPacket, Sequencer, SequencerConfig, SequencerStats};
use super::sink::AudioSink;
use super::spec::{Channels, Format, RecordingSpec};
use super::timeline::{Timeline, TimelineConfig, TimelineStats};
use super::wav::WavSink;
use crate::relay::{Leg, RtpHeader};

/// Tuning of the recorder's stages (defaults suit 20 ms G.711).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecorderConfig {
    /// The sequencer's window.
    pub sequencer: SequencerConfig,
    /// The timeline's placement tolerances and latency.
    pub timeline: TimelineConfig,
}

/// What the recorder counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecorderStats {
    /// Frames received.
    pub frames: u64,
    /// Frames that were not valid RTP.
    pub not_rtp: u64,
    /// Frames after the time limit.
    pub after_limit: u64,
    /// Packets of a codec that is not decoded (recorded as silence).
    pub undecodable: u64,
    /// Telephone-event packets (not audio).
    pub telephone_events: u64,
    /// Per leg sequencer counters (A, B).
    pub sequencer: [SequencerStats; 2],
    /// Timeline counters.
    pub timeline: TimelineStats,
}

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRecording {
    /// Final path of the file.
    pub path: PathBuf,
    /// Audio length (frames written / sample rate).
    pub duration: Duration,
    /// Audio frames written (samples per channel).
    pub frames: u64,
    /// Sample rate of the file.
    pub sample_rate: u32,
    /// Channels in the file.
    pub channels: u16,
    /// Format of the file.
    pub format: Format,
    /// Counters.
    pub stats: RecorderStats,
    /// Why the file ends before the recording was stopped (a write failed: the disk was
    /// full); `None` for a recording that ran to its stop.
    pub cut_short: Option<String>,
}

#[derive(Debug, Default)]
struct LegState {
    sequencer: Sequencer,
    codecs: CodecMap,
    /// A stream start seen on a non-audio packet, to apply to the next audio packet.
    discontinuity: bool,
}

/// Output stage: interleave/mix, resample, write.
struct Output {
    channels: Channels,
    resampler: Option<Resampler>,
    sink: Box<dyn AudioSink>,
    frames: u64,
}

/// The output stage's working buffers (interleaved, resampled), shared by every recording of
/// a thread: audio only passes through them, so a recording keeps none of it between calls.
#[derive(Default)]
struct Scratch {
    interleaved: Vec<i16>,
    resampled: Vec<i16>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Output {
    fn interleave(channels: Channels, a: &[i16], b: &[i16], interleaved: &mut Vec<i16>) {
        interleaved.clear();
        match channels {
            Channels::Stereo => {
                // Sized once, then filled in place (no per-sample capacity check).
                interleaved.resize(a.len().min(b.len()) * 2, 0);
                for ((frame, &l), &r) in interleaved.chunks_exact_mut(2).zip(a).zip(b) {
                    frame.copy_from_slice(&[l, r]);
                }
            }
            Channels::Mono => {
                interleaved.extend(a.iter().zip(b).map(|(&l, &r)| l.saturating_add(r)))
            }
            Channels::CallerOnly => interleaved.extend_from_slice(a),
        }
    }

    /// Writes `a`/`b`; their first `unchanged` frames are what the last sync showed (written
    /// provisionally by a sink that can).
    fn write(&mut self, a: &[i16], b: &[i16], unchanged: usize) -> Result<(), RecordError> {
        SCRATCH.with_borrow_mut(|scratch| {
            Self::interleave(self.channels, a, b, &mut scratch.interleaved);
            let (out, unchanged) = match self.resampler.as_mut() {
                Some(r) => {
                    scratch.resampled.clear();
                    r.process(&scratch.interleaved, &mut scratch.resampled);
                    (&scratch.resampled, 0)
                }
                None => (&scratch.interleaved, unchanged),
            };
            self.frames += (out.len() / usize::from(self.channels.count())) as u64;
            if unchanged > 0 {
                self.sink.write_shown(out, unchanged)
            } else {
                self.sink.write(out)
            }
        })
    }

    /// Hands the file's audio to the OS; `a`/`b` is the audio not final yet (written
    /// provisionally where the sink can, and only without resampling: a resampler's output
    /// cannot be taken back).
    fn sync(&mut self, a: &[i16], b: &[i16]) -> Result<(), RecordError> {
        if self.resampler.is_some() {
            return self.sink.sync(&[]);
        }
        SCRATCH.with_borrow_mut(|scratch| {
            Self::interleave(self.channels, a, b, &mut scratch.interleaved);
            self.sink.sync(&scratch.interleaved)
        })
    }

    fn finish(mut self) -> Result<(PathBuf, u64), RecordError> {
        if let Some(r) = self.resampler.as_mut() {
            let mut resampled = Vec::new();
            r.finish(&mut resampled);
            self.frames += (resampled.len() / usize::from(self.channels.count())) as u64;
            self.sink.write(&resampled)?;
        }
        let path = self.sink.finish()?;
        Ok((path, self.frames))
    }
}

impl FinishedRecording {
    /// The audio length in whole milliseconds (for metadata and the upload query).
    pub fn duration_ms(&self) -> u64 {
        u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX)
    }
}

/// One recording in progress.
pub struct Recorder {
    spec: RecordingSpec,
    sample_rate: u32,
    start: Instant,
    legs: [LegState; 2],
    timeline: Timeline,
    output: Output,
    stats: RecorderStats,
    released: Vec<SequencedPacket>,
    decoded: Vec<i16>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.spec.path)
            .field("stats", &self.stats)
            .finish()
    }
}

/// The rate every supported codec decodes to.
const CODEC_RATE: u32 = 8000;

impl Recorder {
    /// Starts a recording at `start`: creates `<spec.path>.part`. `codecs` maps each leg's
    /// payload types (A, B), from that leg's SDP.
    pub fn new(
        spec: RecordingSpec,
        start: Instant,
        codecs: [CodecMap; 2],
        config: RecorderConfig,
    ) -> Result<Self, RecordError> {
        let sample_rate = spec.sample_rate.unwrap_or(CODEC_RATE);
        if sample_rate == 0 || sample_rate > 192_000 {
            return Err(RecordError::SampleRate(sample_rate));
        }
        let channels = spec.channels.count();
        let sink: Box<dyn AudioSink> = match spec.format {
            Format::Wav => Box::new(WavSink::create(&spec.path, sample_rate, channels)?),
            Format::Mp3 => Box::new(Mp3Sink::create(
                &spec.path,
                sample_rate,
                channels,
                spec.mp3_kbps,
            )?),
        };
        Self::with_sink(spec, start, codecs, config, sink)
    }

    /// Like [`new`](Self::new), writing to `sink` (created for `spec`'s path, rate and
    /// channels) instead of the sink `spec.format` names.
    pub fn with_sink(
        spec: RecordingSpec,
        start: Instant,
        codecs: [CodecMap; 2],
        config: RecorderConfig,
        sink: Box<dyn AudioSink>,
    ) -> Result<Self, RecordError> {
        let sample_rate = spec.sample_rate.unwrap_or(CODEC_RATE);
        if sample_rate == 0 || sample_rate > 192_000 {
            return Err(RecordError::SampleRate(sample_rate));
        }
        let channels = spec.channels.count();
        let resampler = (sample_rate != CODEC_RATE)
            .then(|| Resampler::new(CODEC_RATE, sample_rate, usize::from(channels)));
        let [codecs_a, codecs_b] = codecs;
        let leg = |codecs| LegState {
            sequencer: Sequencer::new(config.sequencer),
            codecs,
            ..LegState::default()
        };
        let timeline_config = TimelineConfig {
            rate: CODEC_RATE,
            ..config.timeline
        };
        Ok(Recorder {
            timeline: Timeline::new(timeline_config, start, spec.time_limit),
            output: Output {
                channels: spec.channels,
                resampler,
                sink,
                frames: 0,
            },
            spec,
            sample_rate,
            start,
            legs: [leg(codecs_a), leg(codecs_b)],
            stats: RecorderStats::default(),
            released: Vec::new(),
            decoded: Vec::new(),
        })
    }

    /// When the time limit ends the recording.
    pub fn deadline(&self) -> Instant {
        self.start + self.spec.time_limit
    }

    /// Counters so far.
    pub fn stats(&self) -> RecorderStats {
        let mut stats = self.stats;
        for (s, leg) in stats.sequencer.iter_mut().zip(&self.legs) {
            *s = leg.sequencer.stats();
        }
        stats.timeline = self.timeline.stats();
        stats
    }

    /// Takes one queued frame.
    pub fn push_frame(&mut self, frame: Frame) -> Result<(), RecordError> {
        self.push(frame.leg, frame.at, &frame.packet)
    }

    /// Takes one RTP packet from `leg` that arrived at `at`, and writes out the audio that is
    /// now final.
    pub fn push(&mut self, leg: Leg, at: Instant, packet: &[u8]) -> Result<(), RecordError> {
        self.stats.frames += 1;
        if at >= self.deadline() {
            // The relay stops feeding a recording at its time limit (`CallRelay`); a frame
            // already queued past it is counted, not recorded.
            self.stats.after_limit += 1;
            return Ok(());
        }
        let Ok(header) = RtpHeader::parse(packet) else {
            self.stats.not_rtp += 1;
            return Ok(());
        };
        let mut released = std::mem::take(&mut self.released);
        released.clear();
        if let Some(state) = self.legs.get_mut(leg.index()) {
            let mut payload = state.sequencer.payload_buffer();
            payload.extend_from_slice(header.payload(packet));
            state.sequencer.push(at, header, payload, &mut released);
        }
        self.place(leg, &mut released);
        // Time passed for the other leg too: let its waiting packets go.
        if let Some(state) = self.legs.get_mut(leg.other().index()) {
            state.sequencer.poll(at, &mut released);
        }
        self.place(leg.other(), &mut released);
        self.released = released;
        let watermark = self.timeline.watermark();
        self.release(watermark)
    }

    /// Time has come to `now` (called about once a second, by the owner's clock, and with no
    /// packets at all in a silent call): lets packets the sequencers held go, releases the
    /// timeline up to its watermark (silence where nothing was heard) and has the sink hand
    /// everything to the OS, the audio still held back included where the sink can take it
    /// back later (WAV). After this the file on disk is valid and covers the recording up to
    /// `now`.
    pub fn sync(&mut self, now: Instant) -> Result<(), RecordError> {
        let now = now.min(self.deadline());
        let mut released = std::mem::take(&mut self.released);
        for leg in [Leg::A, Leg::B] {
            released.clear();
            if let Some(state) = self.legs.get_mut(leg.index()) {
                state.sequencer.poll(now, &mut released);
            }
            self.place(leg, &mut released);
        }
        self.released = released;
        self.timeline.advance(now);
        let watermark = self.timeline.watermark();
        self.release(watermark)?;
        let until = self.timeline.position(now);
        let output = &mut self.output;
        let mut result = Ok(());
        self.timeline
            .pending(until, |a, b| result = output.sync(a, b));
        // Many recordings share a worker: keep no more than they need between syncs.
        self.timeline.shrink_buffers();
        result
    }

    fn place(&mut self, leg: Leg, released: &mut Vec<SequencedPacket>) {
        let Some(state) = self.legs.get_mut(leg.index()) else {
            return;
        };
        for packet in released.drain(..) {
            state.discontinuity |= packet.discontinuity;
            match state.codecs.get(packet.payload_type) {
                Codec::TelephoneEvent => {
                    // DTMF is detected (once) by the relay, on arrival: see `CallRelay`.
                    self.stats.telephone_events += 1;
                }
                codec if codec.is_audio() => {
                    self.decoded.clear();
                    codec.decode(&packet.payload, &mut self.decoded);
                    let discontinuity = std::mem::take(&mut state.discontinuity);
                    self.timeline.place(
                        leg,
                        packet.at,
                        packet.timestamp,
                        discontinuity,
                        &self.decoded,
                    );
                }
                _ => self.stats.undecodable += 1,
            }
            state.sequencer.recycle(packet.payload);
        }
    }

    fn release(&mut self, until: u64) -> Result<(), RecordError> {
        let output = &mut self.output;
        let mut result = Ok(());
        self.timeline.release_until_shown(until, |a, b, unchanged| {
            if result.is_ok() {
                result = output.write(a, b, unchanged);
            }
        });
        result
    }

    /// Ends the recording at `stop` (clamped to the time limit): flushes every stage, pads with
    /// silence to the stop time, finishes the file and renames it to its final name.
    pub fn finish(mut self, stop: Instant) -> Result<FinishedRecording, RecordError> {
        let mut released = std::mem::take(&mut self.released);
        for leg in [Leg::A, Leg::B] {
            released.clear();
            if let Some(state) = self.legs.get_mut(leg.index()) {
                state.sequencer.flush(&mut released);
            }
            self.place(leg, &mut released);
        }
        let end = self.timeline.position(stop.min(self.deadline()));
        self.release(end)?;
        let stats = self.stats();
        let (path, frames) = self.output.finish()?;
        Ok(FinishedRecording {
            path,
            duration: Duration::from_secs_f64(frames as f64 / f64::from(self.sample_rate)),
            frames,
            sample_rate: self.sample_rate,
            channels: self.spec.channels.count(),
            format: self.spec.format,
            stats,
            cut_short: None,
        })
    }

    /// Makes the audio handed to the OS so far durable (`fdatasync`; see
    /// [`AudioSink::sync_data`]). Called every `fsync_interval` by the owner, after a
    /// [`sync`](Self::sync).
    pub fn sync_data(&mut self) -> Result<(), RecordError> {
        self.output.sink.sync_data()
    }

    /// Ends the recording after `error` (a failed write: the disk is full): the file keeps
    /// the audio that reached it whole, is made valid and gets its final name. The result's
    /// `cut_short` says why it ends early; its duration is what the file holds. Fails only
    /// when even that cannot be done.
    pub fn abort(self, error: &RecordError) -> Result<FinishedRecording, RecordError> {
        let stats = self.stats();
        let (path, frames) = self.output.sink.abort()?;
        Ok(FinishedRecording {
            path,
            duration: Duration::from_secs_f64(frames as f64 / f64::from(self.sample_rate)),
            frames,
            sample_rate: self.sample_rate,
            channels: self.spec.channels.count(),
            format: self.spec.format,
            stats,
            cut_short: Some(error.to_string()),
        })
    }
}
