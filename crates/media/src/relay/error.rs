//! Errors of the relay module.

/// Why a datagram is not a valid RTP or RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Shorter than the fixed header (12 bytes RTP, 8 bytes RTCP).
    #[error("packet too short")]
    TooShort,
    /// The version field is not 2.
    #[error("RTP version is not 2")]
    BadVersion,
    /// The CSRC list or header extension runs past the end of the packet.
    #[error("header extends past the end of the packet")]
    Truncated,
    /// The padding count is zero or larger than the payload.
    #[error("invalid padding")]
    BadPadding,
    /// The packet type is not an RTCP type callrec recognises (200..=206).
    #[error("not an RTCP packet type")]
    NotRtcp,
}

/// Port pool errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PortPoolError {
    /// Every port pair of the range is in use.
    #[error("no free relay port pair in the configured range")]
    Exhausted,
    /// The configured range holds no even port with its odd successor.
    #[error("relay port range {min}..={max} holds no even/odd pair")]
    EmptyRange {
        /// Lowest port of the range.
        min: u16,
        /// Highest port of the range.
        max: u16,
    },
}
