//! The WAV sink: 16-bit PCM, written in bulk. The header (44 bytes, sizes included) is on disk
//! from the moment the file is created, and [`AudioSink::sync`] writes the audio held in memory
//! and rewrites the sizes, so a file cut off by a crash is a valid WAV up to the last sync.
//! Audio the recorder still holds back (its jitter latency) can be written *provisionally* at a
//! sync: past the final audio, overwritten by the final audio later (`pwrite` at fixed offsets),
//! so what reached the disk covers the recording up to the sync.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::RecordError;
use super::sink::{part_path, promote, AudioSink};

/// Size of the canonical PCM header written by [`wav_header`].
pub const WAV_HEADER_LEN: u64 = 44;

/// The canonical 44-byte header of a 16-bit PCM WAV file holding `data_bytes` of audio.
pub fn wav_header(sample_rate: u32, channels: u16, data_bytes: u32) -> [u8; 44] {
    let block_align = channels.saturating_mul(2);
    let byte_rate = sample_rate.saturating_mul(u32::from(block_align));
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

/// Final audio held in memory before it is written (like a `BufWriter`'s buffer).
const PENDING_BYTES: usize = 8 * 1024;

thread_local! {
    /// Bytes of audio on their way to a file in one piece (the provisional audio of a sync, a
    /// large chunk), shared by every WAV sink of a thread so that no recording keeps that much.
    static BYTES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Largest data chunk a RIFF file can declare (whole 4-byte frames).
const MAX_DATA: u64 = (u32::MAX as u64 - 36) & !3;

/// Writes a WAV file to `<path>.part`, renamed to `path` on finish.
pub struct WavSink {
    path: PathBuf,
    file: File,
    channels: u16,
    sample_rate: u32,
    /// Final audio bytes on disk (after the header).
    written: u64,
    /// Final audio not yet written (little-endian bytes).
    pending: Vec<u8>,
    /// Bytes written provisionally past `written` at the last sync.
    provisional: u64,
    /// Data bytes from 0 up to here are on disk as final or as provisional audio that is
    /// still what was shown (see [`AudioSink::write_shown`]).
    on_disk: u64,
    /// Data size the header on disk declares.
    declared: u64,
}

impl std::fmt::Debug for WavSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink").field("path", &self.path).finish()
    }
}

/// Appends `samples` as little-endian bytes (sized once, then filled: the loop vectorises).
fn extend_le(out: &mut Vec<u8>, samples: &[i16]) {
    let start = out.len();
    out.resize(start + samples.len() * 2, 0);
    if let Some(dst) = out.get_mut(start..) {
        for (d, s) in dst.chunks_exact_mut(2).zip(samples) {
            d.copy_from_slice(&s.to_le_bytes());
        }
    }
}

impl WavSink {
    /// Creates `<path>.part` with a valid header (no audio yet).
    pub fn create(path: &Path, sample_rate: u32, channels: u16) -> Result<Self, RecordError> {
        let io = |source| RecordError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::create(part_path(path)).map_err(io)?;
        file.write_all_at(&wav_header(sample_rate, channels, 0), 0)
            .map_err(io)?;
        Ok(WavSink {
            path: path.to_owned(),
            file,
            channels: channels.max(1),
            sample_rate,
            written: 0,
            pending: Vec::new(),
            provisional: 0,
            on_disk: 0,
            declared: 0,
        })
    }

    fn io_error(&self, source: std::io::Error) -> RecordError {
        RecordError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn write_pending(&mut self) -> Result<(), RecordError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let result = self.write_final(&pending);
        self.pending = pending;
        self.pending.clear();
        result
    }

    /// Writes final audio `bytes` after the final audio on disk (as much as the RIFF sizes
    /// allow).
    fn write_final(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        let room = MAX_DATA.saturating_sub(self.written);
        let n = (bytes.len() as u64).min(room) as usize;
        let at = WAV_HEADER_LEN + self.written;
        let result = self
            .file
            .write_all_at(bytes.get(..n).unwrap_or_default(), at);
        result.map_err(|e| self.io_error(e))?;
        self.written += n as u64;
        Ok(())
    }

    fn declare(&mut self, data: u64) -> Result<(), RecordError> {
        if data == self.declared {
            return Ok(());
        }
        let data = data.min(MAX_DATA) as u32;
        let header = wav_header(self.sample_rate, self.channels, data);
        self.file
            .write_all_at(&header[4..8], 4)
            .and_then(|()| self.file.write_all_at(&header[40..44], 40))
            .map_err(|e| self.io_error(e))?;
        self.declared = u64::from(data);
        Ok(())
    }

    /// Audio bytes written so far (final ones).
    pub fn data_bytes(&self) -> u64 {
        self.written + self.pending.len() as u64
    }
}

impl AudioSink for WavSink {
    fn write(&mut self, interleaved: &[i16]) -> Result<(), RecordError> {
        // Few system calls (one per ~250 ms of 8 kHz stereo), little memory per recording:
        // the buffer is sized once to `PENDING_BYTES` and written out before it would grow.
        let bytes = interleaved.len() * 2;
        if self.pending.len() + bytes > PENDING_BYTES {
            self.write_pending()?;
        }
        if bytes >= PENDING_BYTES {
            // A large chunk (after a gap) goes out in one piece through the thread's buffer.
            return BYTES.with_borrow_mut(|buffer| {
                buffer.clear();
                extend_le(buffer, interleaved);
                self.write_final(buffer)
            });
        }
        if self.pending.capacity() < PENDING_BYTES {
            self.pending
                .reserve_exact(PENDING_BYTES - self.pending.len());
        }
        extend_le(&mut self.pending, interleaved);
        if self.pending.len() >= PENDING_BYTES {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_shown(&mut self, interleaved: &[i16], unchanged: usize) -> Result<(), RecordError> {
        let frame = usize::from(self.channels) * 2;
        let next = self.written + self.pending.len() as u64;
        let skip = (unchanged as u64 * frame as u64).min(self.on_disk.saturating_sub(next));
        let skip = (skip - skip % frame as u64) as usize;
        if skip == 0 {
            return self.write(interleaved);
        }
        // These bytes are on disk already, written provisionally at the last sync with the
        // same samples: the final audio before them goes out, then they count as written.
        self.write_pending()?;
        self.written += skip as u64;
        self.write(interleaved.get(skip / 2..).unwrap_or_default())
    }

    fn sync(&mut self, provisional: &[i16]) -> Result<(), RecordError> {
        self.write_pending()?;
        let room = MAX_DATA.saturating_sub(self.written);
        let result = BYTES.with_borrow_mut(|bytes| {
            bytes.clear();
            extend_le(bytes, provisional);
            let n = (bytes.len() as u64).min(room) as usize;
            self.file
                .write_all_at(
                    bytes.get(..n).unwrap_or_default(),
                    WAV_HEADER_LEN + self.written,
                )
                .map(|()| n)
        });
        let n = result.map_err(|e| self.io_error(e))?;
        self.provisional = n as u64;
        self.on_disk = self.written + self.provisional;
        self.declare(self.written + self.provisional)
    }

    fn finish(mut self: Box<Self>) -> Result<PathBuf, RecordError> {
        self.write_pending()?;
        if self.provisional > 0 {
            // Audio written ahead at the last sync that the end of the recording did not reach.
            self.file
                .set_len(WAV_HEADER_LEN + self.written)
                .map_err(|e| self.io_error(e))?;
            self.provisional = 0;
        }
        let written = self.written;
        self.declare(written)?;
        let path = self.path.clone();
        drop(self);
        promote(&path)
    }

    fn sync_data(&mut self) -> Result<(), RecordError> {
        self.file.sync_data().map_err(|e| self.io_error(e))
    }

    fn abort(mut self: Box<Self>) -> Result<(PathBuf, u64), RecordError> {
        // What a failed write left past the audio written whole (part of a block, provisional
        // audio) goes; shrinking a file needs no free space.
        self.pending.clear();
        self.provisional = 0;
        self.file
            .set_len(WAV_HEADER_LEN + self.written)
            .map_err(|e| self.io_error(e))?;
        self.declared = u64::MAX;
        let written = self.written;
        self.declare(written)?;
        let frames = written / (u64::from(self.channels) * 2);
        let path = self.path.clone();
        drop(self);
        Ok((promote(&path)?, frames))
    }
}
