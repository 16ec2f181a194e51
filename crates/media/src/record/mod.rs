//! The recording fork, as a pipeline of stages in the manner of rtpengine's recording daemon:
//!
//! relay → [`FrameSender::push`] (bounded queue, never blocks, drops counted) → [`Recorder`]:
//! [`Sequencer`] (reorder, duplicates, wrap, SSRC change, 64-bit timestamps) → decoder
//! ([`Codec`]: G.711; telephone-event counted; DTMF digits are detected by the relay) → [`Timeline`] (placement
//! by RTP timestamp anchored on arrival time, gaps filled with silence) → stereo/mono output →
//! [`Resampler`] → [`AudioSink`] ([`WavSink`], [`Mp3Sink`]), written as `<name>.part` and renamed
//! when finished. [`repair_wav`] fixes a WAV cut off by a crash; [`recover_wav`] and [`pad_wav`]
//! rebuild one that holds nothing usable and give it the length recorded; [`repair_mp3`]
//! and [`recover_mp3`] do the same for MP3 (whole frames, encoded silence).

mod codec;
mod dtmf;
mod error;
pub mod g711;
mod mp3;
mod queue;
mod recorder;
mod repair;
mod resample;
mod sequencer;
mod sink;
mod spec;
mod timeline;
mod wav;

pub use codec::{Codec, CodecMap};
pub use dtmf::{DtmfDetector, TelephoneEvent};
pub use error::RecordError;
pub use mp3::{append_mp3_silence, Mp3Sink};
pub use queue::{frame_queue, Frame, FrameReceiver, FrameSender, Received};
pub use recorder::{FinishedRecording, Recorder, RecorderConfig, RecorderStats};
pub use repair::{
    pad_wav, recover_mp3, recover_wav, repair_mp3, repair_wav, RepairedMp3, RepairedWav,
};
pub use resample::Resampler;
pub use sequencer::{SequencedPacket, Sequencer, SequencerConfig, SequencerStats};
pub use sink::{part_path, AudioSink, RECORDERS_ALIVE_FILE};
pub use spec::{Channels, Format, RecordingSpec};
pub use timeline::{Timeline, TimelineConfig, TimelineStats};
pub use wav::{wav_header, WavSink, WAV_HEADER_LEN};
