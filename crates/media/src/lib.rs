//! callrec-media: the sans-IO media half of callrec. No sockets, no clock: every input carries
//! `now: Instant`, and the tokio driver in the `callrec` crate owns the I/O.
//!
//! | module | what |
//! | --- | --- |
//! | [`sdp`] | parse offers/answers, summarise the audio stream (codecs, DTMF, direction, hold), rewrite addresses to the relay |
//! | [`relay`] | port pool, RTP/RTCP header parsing, per-call latching and forwarding decisions, media timeout |
//! | [`record`] | the recording pipeline: queue → sequencer → G.711 decoder → timeline → resampler → WAV/MP3 sinks; `repair_wav` |
//! | [`session`] | one call's media decisions: SDP rewrite toward the relay, codec narrowing, relatching, hold, when the media timeout starts, the `record_caller` answer |
//! | [`counters`] | cheap counters: packets relayed, dropped by reason, recorder frames dropped |

pub mod counters;
pub mod record;
pub mod relay;
pub mod sdp;
pub mod session;

pub use counters::{Counters, CountersSnapshot};
