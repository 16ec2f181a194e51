//! SDP (RFC 4566) as callrec needs it: parse an offer or answer, summarise its audio stream
//! (remote address, codecs, telephone-event, direction, hold, rejection) and rewrite it so that
//! media flows through the relay.
//!
//! The parsed form keeps every line in order ([`SessionDescription`]), so a rewrite changes only
//! the addresses and ports and keeps payload types, `rtpmap`, `fmtp`, `ptime`, telephone-event
//! and direction attributes byte for byte.

mod codecs;
mod direction;
mod error;
mod media;
mod parse;
mod rewrite;

pub use direction::Direction;
pub use error::SdpError;
pub use media::{AudioStream, PayloadType};
pub use parse::{MediaSection, Origin, SessionDescription};
pub use rewrite::RelayEndpoint;
