//! Recording errors.

use std::path::PathBuf;

/// Why a recording could not be started, written or finished.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Creating, writing or renaming the file failed.
    #[error("recording file I/O on {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The WAV writer failed.
    #[error("WAV writer on {path}: {source}")]
    Wav {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: hound::Error,
    },
    /// LAME could not be created (out of memory).
    #[error("MP3 encoder could not be created for {path}")]
    Mp3Init {
        /// The file concerned.
        path: PathBuf,
    },
    /// The MP3 encoder could not be configured (for example an unsupported sample rate).
    #[error("MP3 encoder setup for {path}: {source}")]
    Mp3Setup {
        /// The file concerned.
        path: PathBuf,
        /// LAME's error.
        #[source]
        source: mp3lame_encoder::BuildError,
    },
    /// The MP3 encoder failed while encoding.
    #[error("MP3 encoding for {path}: {source}")]
    Mp3Encode {
        /// The file concerned.
        path: PathBuf,
        /// LAME's error.
        #[source]
        source: mp3lame_encoder::EncodeError,
    },
    /// The requested sample rate is zero or above 192 kHz.
    #[error("unsupported sample rate {0}")]
    SampleRate(u32),
    /// The file is not a RIFF/WAVE file `repair_wav` can fix.
    #[error("{path} is not a WAV file with a data chunk")]
    NotWav {
        /// The file concerned.
        path: PathBuf,
    },
}
