//! The CSeq header: sequence number and method.

use super::error::SyntaxError;
use super::method::Method;

/// A CSeq value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (RFC 3261: less than 2^31 when generated, up to 2^32-1 accepted).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

/// Why a CSeq value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CSeqError {
    /// Not `number SP method`.
    #[error("malformed CSeq: {0}")]
    Syntax(SyntaxError),
    /// The number does not fit in 32 bits.
    #[error("CSeq number out of range")]
    OutOfRange,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`.
    pub fn parse(s: &str) -> Result<CSeq, CSeqError> {
        let s = s.trim();
        let (num, method) = s
            .split_once([' ', '\t'])
            .ok_or(CSeqError::Syntax(SyntaxError("expected number and method")))?;
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CSeqError::Syntax(SyntaxError("CSeq number is not digits")));
        }
        let seq = num.parse::<u32>().map_err(|_| CSeqError::OutOfRange)?;
        let method = Method::parse(method.trim())
            .ok_or(CSeqError::Syntax(SyntaxError("CSeq method is not a token")))?;
        Ok(CSeq { seq, method })
    }
}

impl std::fmt::Display for CSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}
