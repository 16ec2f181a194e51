//! The MP3 sink (LAME via `mp3lame-encoder`): constant bit rate, no Xing/VBR tag frame (so the
//! file is a plain sequence of frames that any player measures correctly), no ID3 tag.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use mp3lame_encoder::{
    max_required_buffer_size, Bitrate, Builder, FlushGap, InterleavedPcm, Mode, MonoPcm, Quality,
    VbrMode,
};

use super::error::RecordError;
use super::sink::{part_path, promote, AudioSink};

/// Writes an MP3 file to `<path>.part`, renamed to `path` on finish.
pub struct Mp3Sink {
    path: PathBuf,
    encoder: mp3lame_encoder::Encoder,
    file: BufWriter<File>,
    channels: u16,
}

thread_local! {
    /// Encoded bytes on their way to a file (LAME wants room for a whole chunk's worth
    /// reserved), shared by every MP3 sink of a thread so that no recording keeps that much.
    static ENCODED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for Mp3Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp3Sink").field("path", &self.path).finish()
    }
}

/// The closest LAME bit rate at or below `kbps` (at least 8).
fn bitrate(kbps: u16) -> Bitrate {
    match kbps {
        0..=15 => Bitrate::Kbps8,
        16..=23 => Bitrate::Kbps16,
        24..=31 => Bitrate::Kbps24,
        32..=39 => Bitrate::Kbps32,
        40..=47 => Bitrate::Kbps40,
        48..=63 => Bitrate::Kbps48,
        64..=79 => Bitrate::Kbps64,
        80..=95 => Bitrate::Kbps80,
        96..=111 => Bitrate::Kbps96,
        112..=127 => Bitrate::Kbps112,
        128..=159 => Bitrate::Kbps128,
        160..=191 => Bitrate::Kbps160,
        192..=223 => Bitrate::Kbps192,
        224..=255 => Bitrate::Kbps224,
        256..=319 => Bitrate::Kbps256,
        _ => Bitrate::Kbps320,
    }
}

/// A CBR LAME encoder for `sample_rate` and 1 or 2 channels (`path` names the file in errors).
fn encoder(
    path: &Path,
    sample_rate: u32,
    channels: u16,
    kbps: u16,
) -> Result<mp3lame_encoder::Encoder, RecordError> {
    let setup = |source| RecordError::Mp3Setup {
        path: path.to_owned(),
        source,
    };
    let mut builder = Builder::new().ok_or_else(|| RecordError::Mp3Init {
        path: path.to_owned(),
    })?;
    let rate = std::num::NonZeroU32::new(sample_rate).ok_or(RecordError::SampleRate(0))?;
    builder
        .set_num_channels(channels.clamp(1, 2) as u8)
        .map_err(setup)?;
    builder.set_sample_rate(sample_rate).map_err(setup)?;
    builder.set_output_sample_rate(Some(rate)).map_err(setup)?;
    builder
        .set_mode(if channels >= 2 {
            Mode::Stereo
        } else {
            Mode::Mono
        })
        .map_err(setup)?;
    builder.set_vbr_mode(VbrMode::Off).map_err(setup)?;
    builder.set_to_write_vbr_tag(false).map_err(setup)?;
    builder.set_brate(bitrate(kbps)).map_err(setup)?;
    builder.set_quality(Quality::Good).map_err(setup)?;
    builder.build().map_err(setup)
}

/// Appends `frames` frames of silence (samples per channel), encoded with the recorder's
/// settings, to the MP3 file at `path` (created when missing). MP3 frames stand alone, so a
/// file of whole frames followed by these is one valid MP3 (crash recovery pads a recording
/// cut off by a crash to the time recorded with this).
pub fn append_mp3_silence(
    path: &Path,
    sample_rate: u32,
    channels: u16,
    kbps: u16,
    frames: u64,
) -> Result<(), RecordError> {
    let io = |source| RecordError::Io {
        path: path.to_owned(),
        source,
    };
    let mut encoder = encoder(path, sample_rate, channels, kbps)?;
    let channels = usize::from(channels.clamp(1, 2));
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    let mut out = BufWriter::new(file);
    let chunk = vec![0i16; 4608 * channels];
    let mut buffer = Vec::new();
    let mut left = frames;
    let encode_error = |source| RecordError::Mp3Encode {
        path: path.to_owned(),
        source,
    };
    while left > 0 {
        let n = left.min(4608) as usize;
        let pcm = &chunk[..n * channels];
        buffer.clear();
        buffer.reserve(max_required_buffer_size(pcm.len()));
        if channels == 2 {
            encoder.encode_to_vec(InterleavedPcm(pcm), &mut buffer)
        } else {
            encoder.encode_to_vec(MonoPcm(pcm), &mut buffer)
        }
        .map_err(encode_error)?;
        out.write_all(&buffer).map_err(io)?;
        left -= n as u64;
    }
    buffer.clear();
    buffer.reserve(max_required_buffer_size(0));
    encoder
        .flush_to_vec::<FlushGap>(&mut buffer)
        .map_err(encode_error)?;
    out.write_all(&buffer).map_err(io)?;
    out.flush().map_err(io)?;
    out.get_ref().sync_all().map_err(io)
}

impl Mp3Sink {
    /// Creates `<path>.part` and a CBR encoder for `sample_rate` (an MPEG rate: 8000, 11025,
    /// 12000, 16000, 22050, 24000, 32000, 44100, 48000) and 1 or 2 channels.
    pub fn create(
        path: &Path,
        sample_rate: u32,
        channels: u16,
        kbps: u16,
    ) -> Result<Self, RecordError> {
        let encoder = encoder(path, sample_rate, channels, kbps)?;
        let file = File::create(part_path(path)).map_err(|source| RecordError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Mp3Sink {
            path: path.to_owned(),
            encoder,
            file: BufWriter::new(file),
            channels: channels.clamp(1, 2),
        })
    }

    fn write_buffer(&mut self, buffer: &[u8]) -> Result<(), RecordError> {
        self.file
            .write_all(buffer)
            .map_err(|source| RecordError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

impl AudioSink for Mp3Sink {
    fn write(&mut self, interleaved: &[i16]) -> Result<(), RecordError> {
        if interleaved.is_empty() {
            return Ok(());
        }
        ENCODED.with_borrow_mut(|buffer| {
            buffer.clear();
            // LAME writes into spare capacity: it must be reserved first.
            buffer.reserve(max_required_buffer_size(interleaved.len()));
            let result = if self.channels == 2 {
                self.encoder
                    .encode_to_vec(InterleavedPcm(interleaved), buffer)
            } else {
                self.encoder.encode_to_vec(MonoPcm(interleaved), buffer)
            };
            result.map_err(|source| RecordError::Mp3Encode {
                path: self.path.clone(),
                source,
            })?;
            self.write_buffer(buffer)
        })
    }

    fn sync(&mut self, _provisional: &[i16]) -> Result<(), RecordError> {
        // Encoded frames cannot be taken back: only final audio is written.
        self.file.flush().map_err(|source| RecordError::Io {
            path: self.path.clone(),
            source,
        })
    }

    fn finish(mut self: Box<Self>) -> Result<PathBuf, RecordError> {
        let mut buffer = Vec::with_capacity(max_required_buffer_size(0));
        self.encoder
            .flush_to_vec::<FlushGap>(&mut buffer)
            .map_err(|source| RecordError::Mp3Encode {
                path: self.path.clone(),
                source,
            })?;
        self.write_buffer(&buffer)?;
        self.file.flush().map_err(|source| RecordError::Io {
            path: self.path.clone(),
            source,
        })?;
        let path = self.path.clone();
        drop(self);
        promote(&path)
    }

    fn sync_data(&mut self) -> Result<(), RecordError> {
        self.file
            .get_ref()
            .sync_data()
            .map_err(|source| RecordError::Io {
                path: self.path.clone(),
                source,
            })
    }

    fn abort(self: Box<Self>) -> Result<(PathBuf, u64), RecordError> {
        // Encoded audio still in the buffer is given up: the disk could not take it.
        let Mp3Sink { path, file, .. } = *self;
        let (file, _unwritten) = file.into_parts();
        drop(file);
        let repaired = super::repair::repair_mp3(&part_path(&path))?;
        Ok((promote(&path)?, repaired.frames))
    }
}
