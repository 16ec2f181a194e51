//! Errors of the media driver.

use callrec_media::record::RecordError;
use callrec_media::relay::PortPoolError;
use callrec_media::sdp::SdpError;

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// No relay port pair is free, or the range is empty.
    #[error("relay ports: {0}")]
    Ports(#[from] PortPoolError),
    /// Binding a relay socket failed (after trying several port pairs).
    #[error("binding relay port {port}: {source}")]
    Bind {
        /// The port that failed last.
        port: u16,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The SDP body does not parse.
    #[error("SDP: {0}")]
    Sdp(#[from] SdpError),
    /// The SDP body has no `m=audio` stream to relay.
    #[error("SDP has no audio stream")]
    NoAudio,
    /// The recorder could not start or finish.
    #[error("recording: {0}")]
    Record(#[from] RecordError),
    /// The recorder thread could not be started.
    #[error("starting the recorder thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The call's relay task or the recorder thread has gone away.
    #[error("the call's media has been closed")]
    Closed,
}
