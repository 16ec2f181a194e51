//! The tokio driver half of the media path: it owns the relay's UDP sockets and the clock, and
//! drives the sans-IO machines of `callrec-media`.
//!
//! - [`MediaEngine`] holds the port pool and engine-wide counters; [`MediaEngine::open_call`]
//!   allocates an RTP/RTCP port pair per leg, binds the sockets on the relay address and starts
//!   one relay task for the call.
//! - [`CallMedia`] is the call's handle: rewrite each leg's SDP towards the relay, start and stop
//!   recordings, read [`MediaEvent`]s (media timeout, DTMF, recording time limit), close.
//! - Each recording runs its `Recorder` (sequencing, decoding, mixing, encoding) on a dedicated
//!   thread fed by a bounded queue; the relay task only `try_send`s, and counts what did not fit.

mod call;
mod config;
mod engine;
mod error;
mod event;
mod recording;
mod relay_task;

pub use call::CallMedia;
pub use callrec_media::record::{Channels, FinishedRecording, Format, RecordingSpec};
pub use callrec_media::relay::Leg;
pub use config::MediaEngineConfig;
pub use engine::MediaEngine;
pub use error::MediaError;
pub use event::MediaEvent;
pub use recording::{RecordingHandle, RecordingId};

#[cfg(test)]
mod tests;
