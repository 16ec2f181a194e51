//! The WAV sink (16-bit PCM via `hound`). The header's sizes are rewritten every few seconds of
//! audio and on finish, so a file cut off by a crash loses at most those seconds; `repair_wav`
//! recovers the rest.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::error::RecordError;
use super::sink::{part_path, promote, AudioSink};

/// Writes a WAV file to `<path>.part`, renamed to `path` on finish.
pub struct WavSink {
    path: PathBuf,
    writer: hound::WavWriter<BufWriter<File>>,
    channels: u16,
    sample_rate: u32,
    frames_since_flush: u64,
}

impl std::fmt::Debug for WavSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink").field("path", &self.path).finish()
    }
}

impl WavSink {
    /// Creates `<path>.part`.
    pub fn create(path: &Path, sample_rate: u32, channels: u16) -> Result<Self, RecordError> {
        let spec = hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer =
            hound::WavWriter::create(part_path(path), spec).map_err(|source| RecordError::Wav {
                path: path.to_owned(),
                source,
            })?;
        Ok(WavSink {
            path: path.to_owned(),
            writer,
            channels,
            sample_rate,
            frames_since_flush: 0,
        })
    }

    fn wav_error(&self, source: hound::Error) -> RecordError {
        RecordError::Wav {
            path: self.path.clone(),
            source,
        }
    }
}

impl AudioSink for WavSink {
    fn write(&mut self, interleaved: &[i16]) -> Result<(), RecordError> {
        for &s in interleaved {
            if let Err(e) = self.writer.write_sample(s) {
                return Err(self.wav_error(e));
            }
        }
        self.frames_since_flush += (interleaved.len() / usize::from(self.channels.max(1))) as u64;
        // Rewrite the header sizes every 5 s of audio.
        if self.frames_since_flush >= u64::from(self.sample_rate) * 5 {
            self.frames_since_flush = 0;
            if let Err(e) = self.writer.flush() {
                return Err(self.wav_error(e));
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<PathBuf, RecordError> {
        let path = self.path.clone();
        self.writer.finalize().map_err(|source| RecordError::Wav {
            path: path.clone(),
            source,
        })?;
        promote(&path)
    }
}
