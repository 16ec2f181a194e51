//! Events a call's relay reports to the engine.

use callrec_media::relay::Leg;

/// Something the engine should act on.
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
}
