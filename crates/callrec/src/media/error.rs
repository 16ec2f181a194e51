//! Errors of the media driver.

use callrec_media::record::RecordError;

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Binding a relay socket failed.
    #[error("binding relay port {port}: {source}")]
    Bind {
        /// The port that failed last.
        port: u16,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
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
