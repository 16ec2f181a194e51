//! The seam between signalling and media: every SDP body crossing the B2BUA goes through a
//! [`MediaSeam`], which may rewrite it (the engine's relay allocates ports and returns SDP
//! pointing at itself). Calls are synchronous: the engine allocates ports without awaiting.

use bytes::Bytes;

use super::ids::{CallRef, LegId};

/// Why the media side refused an SDP body. The core answers the request with 488 (offer) or
/// ends the call (answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaSeamError {
    /// The SDP could not be parsed or has no usable media.
    #[error("unusable SDP: {0}")]
    BadSdp(&'static str),
    /// No relay ports (or other media resources) are left.
    #[error("media resources exhausted")]
    Exhausted,
    /// The call or leg is unknown to the media side.
    #[error("unknown call or leg")]
    Unknown,
}

/// What the core asks of media. `from` is the leg the SDP came from, `to` the leg it goes to.
pub trait MediaSeam {
    /// An offer from leg `from`, to be sent to leg `to`: returns the SDP to send.
    fn offer(
        &mut self,
        call: CallRef,
        from: LegId,
        to: LegId,
        sdp: &Bytes,
    ) -> Result<Bytes, MediaSeamError>;
    /// An answer from leg `from` to the offer earlier relayed to it from `to`: returns the SDP
    /// to send to `to`.
    fn answer(
        &mut self,
        call: CallRef,
        from: LegId,
        to: LegId,
        sdp: &Bytes,
    ) -> Result<Bytes, MediaSeamError>;
    /// callrec answers leg `leg` itself (record_caller): returns our SDP answer to `offer`.
    fn local_answer(
        &mut self,
        call: CallRef,
        leg: LegId,
        offer: &Bytes,
    ) -> Result<Bytes, MediaSeamError>;
    /// The call is over: free its ports. Called once per call.
    fn release(&mut self, call: CallRef);
}

/// Returns every SDP unchanged (media flows end to end). Used until the relay is wired in and
/// in signalling tests. `local_answer` echoes the offer back, which is only good for tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassthroughMedia;

impl MediaSeam for PassthroughMedia {
    fn offer(
        &mut self,
        _: CallRef,
        _: LegId,
        _: LegId,
        sdp: &Bytes,
    ) -> Result<Bytes, MediaSeamError> {
        Ok(sdp.clone())
    }
    fn answer(
        &mut self,
        _: CallRef,
        _: LegId,
        _: LegId,
        sdp: &Bytes,
    ) -> Result<Bytes, MediaSeamError> {
        Ok(sdp.clone())
    }
    fn local_answer(
        &mut self,
        _: CallRef,
        _: LegId,
        offer: &Bytes,
    ) -> Result<Bytes, MediaSeamError> {
        Ok(offer.clone())
    }
    fn release(&mut self, _: CallRef) {}
}
