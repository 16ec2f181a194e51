//! Events a call's media reports to the signalling side.

use callrec_media::relay::Leg;

use super::recording::RecordingId;

/// Something the call's owner should act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// No RTP from either leg for the media timeout: hang the call up.
    MediaTimeout,
    /// A DTMF key (RFC 4733 telephone-event) pressed on `leg`, reported once per press.
    Dtmf {
        /// The leg that sent it.
        leg: Leg,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
    },
    /// A recording reached its time limit and was stopped; collect it with
    /// [`CallMedia::stop_recording`](super::CallMedia::stop_recording).
    RecordingTimeLimit {
        /// Which recording.
        recording: RecordingId,
    },
}
