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

/// What [`repair_mp3`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepairedMp3 {
    /// Whole MPEG audio frames in the file.
    pub mpeg_frames: u64,
    /// Audio frames (samples per channel) they hold.
    pub frames: u64,
    /// Sample rate of the first frame (0 when there is none).
    pub sample_rate: u32,
    /// Channels of the first frame (0 when there is none).
    pub channels: u16,
    /// Bit rate of the first frame in kbit/s (0 when there is none).
    pub kbps: u16,
    /// Whether something after the last whole frame was cut off.
    pub changed: bool,
}

/// One MPEG audio Layer III frame header: (frame length in bytes, samples per frame, sample
/// rate, channels, kbit/s). `None` when `h` is not one.
fn mp3_frame(h: &[u8]) -> Option<(usize, u32, u32, u16, u16)> {
    let &[b0, b1, b2, b3] = h.get(..4)? else {
        return None;
    };
    if b0 != 0xFF || b1 & 0xE0 != 0xE0 || (b1 >> 1) & 3 != 1 {
        return None;
    }
    let version = (b1 >> 3) & 3; // 0 = MPEG 2.5, 2 = MPEG 2, 3 = MPEG 1
    let rate_index = usize::from((b2 >> 2) & 3);
    let bitrate_index = usize::from(b2 >> 4);
    const MPEG1_KBPS: [u16; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const MPEG2_KBPS: [u16; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let (rates, kbps_table, samples, factor): (&[u32; 3], &[u16; 15], u32, u32) = match version {
        3 => (&[44_100, 48_000, 32_000], &MPEG1_KBPS, 1152, 144_000),
        2 => (&[22_050, 24_000, 16_000], &MPEG2_KBPS, 576, 72_000),
        0 => (&[11_025, 12_000, 8_000], &MPEG2_KBPS, 576, 72_000),
        _ => return None,
    };
    let sample_rate = *rates.get(rate_index)?;
    let kbps = *kbps_table.get(bitrate_index)?;
    if kbps == 0 {
        return None; // free format: not written by the recorder
    }
    let padding = u32::from((b2 >> 1) & 1);
    let len = factor * u32::from(kbps) / sample_rate + padding;
    let channels = if b3 >> 6 == 3 { 1 } else { 2 };
    Some((len as usize, samples, sample_rate, channels, kbps))
}

/// Cuts the MP3 file at `path` after its last whole MPEG audio frame (a crash or a full disk
/// can leave a frame cut short, or nothing at all) and measures it. An ID3v2 tag at the start
/// is skipped; anything that is not a frame ends the audio.
pub fn repair_mp3(path: &Path) -> Result<RepairedMp3, RecordError> {
    let io = |source| RecordError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let mut at = 0usize;
    if bytes.starts_with(b"ID3") {
        if let Some(size) = bytes.get(6..10) {
            let size = size
                .iter()
                .fold(0usize, |acc, &b| (acc << 7) | usize::from(b & 0x7F));
            at = 10 + size;
        }
    }
    let mut out = RepairedMp3 {
        mpeg_frames: 0,
        frames: 0,
        sample_rate: 0,
        channels: 0,
        kbps: 0,
        changed: false,
    };
    while let Some((len, samples, rate, channels, kbps)) = bytes.get(at..).and_then(mp3_frame) {
        if len < 4 || at + len > bytes.len() {
            break;
        }
        if out.mpeg_frames == 0 {
            out.sample_rate = rate;
            out.channels = channels;
            out.kbps = kbps;
        }
        out.mpeg_frames += 1;
        out.frames += u64::from(samples);
        at += len;
    }
    let end = if out.mpeg_frames == 0 { 0 } else { at };
    if end < bytes.len() {
        let file = OpenOptions::new().write(true).open(path).map_err(io)?;
        file.set_len(end as u64).map_err(io)?;
        file.sync_all().map_err(io)?;
        out.changed = true;
    }
    Ok(out)
}

/// Makes the MP3 at `path` (created when missing) whole frames only, then appends encoded
/// silence so that it lasts at least `frames` audio frames: what a crash left, empty or cut
/// inside a frame, becomes a valid MP3 of the time recorded. The silence takes the file's own
/// rate, channels and bit rate, or `sample_rate`, `channels` and `kbps` (the recording's) when
/// the file holds no frame.
pub fn recover_mp3(
    path: &Path,
    frames: u64,
    sample_rate: u32,
    channels: u16,
    kbps: u16,
) -> Result<RepairedMp3, RecordError> {
    if !path.exists() {
        std::fs::write(path, b"").map_err(|source| RecordError::Io {
            path: path.to_owned(),
            source,
        })?;
    }
    let found = repair_mp3(path)?;
    if found.frames >= frames {
        return Ok(found);
    }
    let (rate, channels, kbps) = if found.mpeg_frames > 0 {
        (found.sample_rate, found.channels, found.kbps)
    } else {
        (sample_rate, channels, kbps)
    };
    if rate == 0 || channels == 0 {
        return Err(RecordError::SampleRate(rate));
    }
    // The rate of the frames is the rate the audio was encoded at; `frames` counts at the
    // recording's rate, which is the same for files the recorder wrote.
    super::mp3::append_mp3_silence(path, rate, channels, kbps, frames - found.frames)?;
    let mut repaired = repair_mp3(path)?;
    repaired.changed = true;
    Ok(repaired)
}
