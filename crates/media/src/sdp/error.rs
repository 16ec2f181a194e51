//! Typed SDP parse errors.

/// Why an SDP body could not be parsed. Every variant carries the 1-based line number where it
/// applies, so a log line can point at the culprit without printing addresses at info level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body is not valid UTF-8.
    #[error("SDP is not valid UTF-8")]
    NotUtf8,
    /// The body is empty or the first line is not `v=0`.
    #[error("SDP must start with v=0")]
    MissingVersion,
    /// A line is not of the form `<letter>=<value>`.
    #[error("line {line}: not of the form <type>=<value>")]
    MalformedLine {
        /// 1-based line number.
        line: usize,
    },
    /// The `o=` line does not have six fields or a known address type.
    #[error("line {line}: malformed o= line")]
    BadOrigin {
        /// 1-based line number.
        line: usize,
    },
    /// The `c=` line is not `IN IP4|IP6 <address>` or the address does not parse.
    #[error("line {line}: malformed c= line")]
    BadConnection {
        /// 1-based line number.
        line: usize,
    },
    /// The `m=` line lacks media, port, protocol or formats, or the port is not a number.
    #[error("line {line}: malformed m= line")]
    BadMedia {
        /// 1-based line number.
        line: usize,
    },
    /// An `a=rtpmap` attribute is malformed (payload type or clock rate not a number).
    #[error("line {line}: malformed a=rtpmap")]
    BadRtpmap {
        /// 1-based line number.
        line: usize,
    },
}
