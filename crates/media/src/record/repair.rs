//! Repairing the header of a WAV file cut off by a crash: the RIFF and `data` chunk sizes are set
//! from the file's length (whole frames only), so the spool can recover the recording.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::error::RecordError;

/// What [`repair_wav`] found and wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepairedWav {
    /// Bytes of audio data now declared in the `data` chunk.
    pub data_bytes: u32,
    /// Whole frames of audio (data bytes / block align).
    pub frames: u32,
    /// Sample rate from the `fmt ` chunk.
    pub sample_rate: u32,
    /// Channels from the `fmt ` chunk.
    pub channels: u16,
    /// Whether the header had to be changed.
    pub changed: bool,
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

/// Fixes the RIFF and `data` sizes of the WAV file at `path` from its length. Trailing bytes
/// that do not make a whole frame are cut off.
pub fn repair_wav(path: &Path) -> Result<RepairedWav, RecordError> {
    let io = |source| RecordError::Io {
        path: path.to_owned(),
        source,
    };
    let not_wav = || RecordError::NotWav {
        path: path.to_owned(),
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    // The chunks before `data` are small; read the start of the file.
    let mut head = vec![0u8; len.min(64 * 1024) as usize];
    file.read_exact(&mut head).map_err(io)?;
    if head.get(0..4) != Some(b"RIFF") || head.get(8..12) != Some(b"WAVE") {
        return Err(not_wav());
    }
    let mut at = 12usize;
    let mut format: Option<(u16, u32, u16)> = None;
    let data_start = loop {
        let id = head.get(at..at + 4).ok_or_else(not_wav)?;
        let size = u32_le(&head, at + 4).ok_or_else(not_wav)?;
        if id == b"fmt " {
            // A PCM `fmt ` chunk is at least 16 bytes; a shorter one would make us read the
            // format from the bytes after it (found by the wav_repair fuzz target).
            if size < 16 {
                return Err(not_wav());
            }
            let channels = u16_le(&head, at + 10).ok_or_else(not_wav)?;
            let sample_rate = u32_le(&head, at + 12).ok_or_else(not_wav)?;
            let block_align = u16_le(&head, at + 20).ok_or_else(not_wav)?;
            format = Some((channels, sample_rate, block_align));
        }
        if id == b"data" {
            break at;
        }
        // Chunks are padded to an even size.
        let padded = (size as usize)
            .checked_add(size as usize % 2)
            .ok_or_else(not_wav)?;
        at = at.checked_add(8 + padded).ok_or_else(not_wav)?;
    };
    let (channels, sample_rate, block_align) = format.ok_or_else(not_wav)?;
    if block_align == 0 {
        return Err(not_wav());
    }
    let payload = len.saturating_sub(data_start as u64 + 8);
    let frames =
        (payload / u64::from(block_align)).min(u64::from(u32::MAX / u32::from(block_align)));
    let data_bytes = (frames * u64::from(block_align)) as u32;
    let riff_size =
        (data_start as u64 + 8 + u64::from(data_bytes) - 8).min(u64::from(u32::MAX)) as u32;
    let end = data_start as u64 + 8 + u64::from(data_bytes);
    let changed = u32_le(&head, data_start + 4) != Some(data_bytes)
        || u32_le(&head, 4) != Some(riff_size)
        || len != end;
    if changed {
        if len > end {
            file.set_len(end).map_err(io)?;
        }
        file.seek(SeekFrom::Start(4)).map_err(io)?;
        file.write_all(&riff_size.to_le_bytes()).map_err(io)?;
        file.seek(SeekFrom::Start(data_start as u64 + 4))
            .map_err(io)?;
        file.write_all(&data_bytes.to_le_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    Ok(RepairedWav {
        data_bytes,
        frames: frames as u32,
        sample_rate,
        channels,
        changed,
    })
}

/// Makes the file at `path` a valid 16-bit PCM WAV whatever a crash left there: one with a
/// readable header is repaired ([`repair_wav`]); one that is empty, cut off inside its header
/// or not a WAV at all (nothing of its audio can be placed) is rewritten as an empty WAV of
/// `sample_rate` and `channels` (the recording's, from its metadata), to be padded to the time
/// recorded with [`pad_wav`]. A missing file is created the same way.
pub fn recover_wav(
    path: &Path,
    sample_rate: u32,
    channels: u16,
) -> Result<RepairedWav, RecordError> {
    match repair_wav(path) {
        Ok(repaired) => Ok(repaired),
        Err(RecordError::NotWav { .. }) | Err(RecordError::Io { .. }) => {
            if sample_rate == 0 || channels == 0 {
                return Err(RecordError::SampleRate(sample_rate));
            }
            std::fs::write(path, super::wav::wav_header(sample_rate, channels, 0)).map_err(
                |source| RecordError::Io {
                    path: path.to_owned(),
                    source,
                },
            )?;
            Ok(RepairedWav {
                data_bytes: 0,
                frames: 0,
                sample_rate,
                channels,
                changed: true,
            })
        }
        Err(e) => Err(e),
    }
}

/// Appends silence to the (repaired) WAV at `path` so that it lasts at least `frames` frames,
/// and sets its sizes. A file already that long is left as it is.
pub fn pad_wav(path: &Path, frames: u32) -> Result<RepairedWav, RecordError> {
    let repaired = repair_wav(path)?;
    if repaired.frames >= frames {
        return Ok(repaired);
    }
    let io = |source| RecordError::Io {
        path: path.to_owned(),
        source,
    };
    let block = u64::from(repaired.channels) * 2;
    let missing = u64::from(frames - repaired.frames) * block;
    let mut file = OpenOptions::new().append(true).open(path).map_err(io)?;
    let zeros = vec![0u8; 64 * 1024];
    let mut left = missing;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n]).map_err(io)?;
        left -= n as u64;
    }
    drop(file);
    repair_wav(path)
}
