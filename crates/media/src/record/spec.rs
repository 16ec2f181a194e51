//! What a recording should be: file, format, channels, sample rate, time limit.

use std::path::PathBuf;
use std::time::Duration;

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// MP3, CBR, no Xing/VBR tag frame.
    #[default]
    Mp3,
    /// 16-bit PCM WAV.
    Wav,
}

impl Format {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Mp3 => "mp3",
            Format::Wav => "wav",
        }
    }

    /// HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Mp3 => "audio/mpeg",
            Format::Wav => "audio/wav",
        }
    }
}

/// Channel layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channels {
    /// Caller (leg A) left, callee (leg B) right.
    #[default]
    Stereo,
    /// Both legs mixed into one channel.
    Mono,
    /// Only leg A (the caller), for `record_caller`.
    CallerOnly,
}

impl Channels {
    /// Number of channels in the file.
    pub fn count(self) -> u16 {
        match self {
            Channels::Stereo => 2,
            Channels::Mono | Channels::CallerOnly => 1,
        }
    }
}

/// A recording request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSpec {
    /// Final path of the file; it is written as `<path>.part` and renamed when finished.
    pub path: PathBuf,
    /// File format.
    pub format: Format,
    /// Channel layout.
    pub channels: Channels,
    /// Output sample rate; `None` = the codec's rate (8000 Hz for G.711). MP3 accepts 8000,
    /// 11025, 12000, 16000, 22050, 24000, 32000, 44100 and 48000.
    pub sample_rate: Option<u32>,
    /// The recording stops this long after it started.
    pub time_limit: Duration,
    /// MP3 bit rate in kbit/s (CBR); ignored for WAV. Default 32 (good for 8 kHz speech).
    pub mp3_kbps: u16,
}

impl RecordingSpec {
    /// A spec with the defaults: MP3, stereo, codec rate, 3600 s, 32 kbit/s.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RecordingSpec {
            path: path.into(),
            format: Format::Mp3,
            channels: Channels::Stereo,
            sample_rate: None,
            time_limit: Duration::from_secs(3600),
            mp3_kbps: 32,
        }
    }
}
