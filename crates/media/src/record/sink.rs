//! The sink interface joining the recorder's output stage to file writers.

use std::path::{Path, PathBuf};

use super::error::RecordError;

/// Receives interleaved 16-bit audio and turns it into a file.
pub trait AudioSink: Send {
    /// Writes interleaved frames (one sample per channel per frame). May hold them in memory
    /// until the next [`sync`](Self::sync).
    fn write(&mut self, interleaved: &[i16]) -> Result<(), RecordError>;

    /// Like [`write`](Self::write), where the first `unchanged` frames are the audio that
    /// followed the final audio at the last [`sync`](Self::sync) as it was shown then (its
    /// `provisional` audio): a sink that wrote that provisionally need not write it again.
    fn write_shown(&mut self, interleaved: &[i16], unchanged: usize) -> Result<(), RecordError> {
        let _ = unchanged;
        self.write(interleaved)
    }

    /// Hands everything written so far to the operating system, so that a crash of the process
    /// keeps it, and leaves the file readable as it is (sizes in the header). `provisional`
    /// is audio after what was written that is not final yet: a sink that can overwrite it
    /// later (WAV) writes it too, so the file on disk covers the recording up to now; others
    /// ignore it.
    fn sync(&mut self, provisional: &[i16]) -> Result<(), RecordError>;

    /// Finishes the file (sizes, flush) and renames it from its temporary name to its final
    /// name; returns the final path.
    fn finish(self: Box<Self>) -> Result<PathBuf, RecordError>;

    /// Makes what was handed to the OS durable (`fdatasync`): the file's audio survives a
    /// power loss up to the last [`sync`](Self::sync), not only a crash of the process.
    fn sync_data(&mut self) -> Result<(), RecordError>;

    /// Closes the file after a write failed (a full disk): keeps the audio that reached the
    /// file whole, leaves the file valid (WAV sizes set, MP3 cut after its last whole frame)
    /// and renames it to its final name. Returns the final path and the audio frames (samples
    /// per channel) the file holds.
    fn abort(self: Box<Self>) -> Result<(PathBuf, u64), RecordError>;
}

/// A file the recorders touch (its modification time) about every 100 ms in each directory
/// they write recordings to, while any recording there is running: after a crash, its time
/// says until when the recordings that were cut off were being recorded.
pub const RECORDERS_ALIVE_FILE: &str = ".recorders-alive";

/// The temporary name a recording is written under: `<path>.part`.
pub fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Renames `<path>.part` to `path`.
pub(crate) fn promote(path: &Path) -> Result<PathBuf, RecordError> {
    std::fs::rename(part_path(path), path).map_err(|source| RecordError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(path.to_owned())
}
