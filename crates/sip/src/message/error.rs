//! Errors of the message layer: framing/parse errors (with the status to answer) and the errors
//! of typed header access.

/// Why bytes could not be read as a SIP message. Every variant maps to the status a UAS answers
/// when the bytes were a request whose essentials could be read (see [`ParseError::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but line breaks (or nothing at all).
    #[error("empty message")]
    Empty,
    /// The header section does not end with an empty line (CRLFCRLF or LFLF).
    #[error("header section is not terminated by an empty line")]
    Unterminated,
    /// The message (or its header section) is larger than [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN).
    #[error("message too large")]
    TooLarge,
    /// More header fields than [`MAX_HEADERS`](super::MAX_HEADERS).
    #[error("too many header fields")]
    TooManyHeaders,
    /// The request line or status line is malformed (wrong number of spaces, bad version...).
    #[error("malformed start line")]
    StartLine,
    /// The Request-URI is malformed (whitespace, angle brackets, bad host or port).
    #[error("malformed Request-URI")]
    RequestUri,
    /// The status code is not three digits.
    #[error("malformed status code")]
    StatusCode,
    /// A header line has no colon, or an empty or non-token name.
    #[error("malformed header line")]
    HeaderLine,
    /// A Content-Length value is not a non-negative integer that fits in 32 bits.
    #[error("invalid Content-Length")]
    ContentLength,
    /// Several Content-Length header fields with different values.
    #[error("conflicting Content-Length values")]
    ContentLengthConflict,
    /// Content-Length is larger than the octets that follow the header section (UDP).
    #[error("Content-Length larger than the body")]
    BodyTruncated,
    /// A message on a stream transport has no Content-Length.
    #[error("Content-Length missing on a stream transport")]
    MissingContentLength,
}

impl ParseError {
    /// The status code to answer with when the bytes were a request.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::TooLarge => 513,
            _ => 400,
        }
    }

    /// A reason phrase for the error response that says what was wrong.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::Empty => "Empty Message",
            ParseError::Unterminated => "Header Section Not Terminated",
            ParseError::TooLarge => "Message Too Large",
            ParseError::TooManyHeaders => "Too Many Header Fields",
            ParseError::StartLine => "Malformed Request Line",
            ParseError::RequestUri => "Malformed Request-URI",
            ParseError::StatusCode => "Malformed Status Code",
            ParseError::HeaderLine => "Malformed Header Line",
            ParseError::ContentLength => "Invalid Content-Length",
            ParseError::ContentLengthConflict => "Conflicting Content-Length",
            ParseError::BodyTruncated => "Content-Length Larger Than Body",
            ParseError::MissingContentLength => "Content-Length Required",
        }
    }
}

/// A syntax error inside a header value or URI; the text names what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(pub &'static str);

/// Why a typed header accessor could not return a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A required header is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A header that must occur once occurs several times.
    #[error("more than one {0} header")]
    Duplicate(&'static str),
    /// The header value does not follow the grammar.
    #[error("malformed {header} header: {source}")]
    Syntax {
        /// Canonical header name.
        header: &'static str,
        /// What was wrong.
        source: SyntaxError,
    },
    /// A number in the header does not fit its range (CSeq > 2^32-1, Max-Forwards > 255...).
    #[error("{0} value out of range")]
    OutOfRange(&'static str),
    /// The header value is not UTF-8.
    #[error("{0} header is not UTF-8")]
    NotUtf8(&'static str),
}
