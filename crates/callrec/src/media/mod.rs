//! The tokio driver of the media path: it owns the relay's UDP sockets, the recorder threads
//! and the clock, and carries out what the engine decided.
//!
//! - [`MediaDriver::bind_pair`] binds relay port pairs ahead of calls (the engine keeps a
//!   reserve); [`MediaDriver::open_call`] hands a call on two bound pairs to one of a few relay
//!   shards: threads (one per core) that each poll many calls' sockets with `mio` (sans-IO
//!   decisions: `callrec_media::relay::CallRelay`).
//! - [`CallMedia`] is the call's handle: apply the engine's session changes, start and stop
//!   recordings, read [`MediaEvent`]s (media timeout, DTMF), close.
//! - Each recording runs its `Recorder` (sequencing, decoding, mixing, encoding) on one of a
//!   few recorder threads, fed by a bounded queue; the relay only pushes without waiting, and
//!   counts what did not fit.

mod call;
mod config;
mod driver;
mod error;
mod event;
mod recording;
mod relay_task;
mod shard;

pub use call::CallMedia;
pub use callrec_media::record::{Channels, FinishedRecording, Format, RecordingSpec};
pub use callrec_media::relay::Leg;
pub use config::MediaDriverConfig;
pub use driver::{BoundPair, MediaDriver};
pub use error::MediaError;
pub use event::MediaEvent;
pub use recording::{RecordingHandle, RecordingId};

#[cfg(test)]
mod tests;
