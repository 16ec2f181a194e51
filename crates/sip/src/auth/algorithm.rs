//! Digest algorithms (RFC 7616 §3.3, RFC 8760 for SIP): MD5 and SHA-256, plain and `-sess`.

use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::fmt;
use std::str::FromStr;

/// A digest algorithm. SHA-512-256 is not offered (few SIP phones know it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 2617; the default and the one every phone speaks).
    Md5,
    /// `MD5-sess`: A1 includes the nonce and cnonce.
    Md5Sess,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

/// The text is not an algorithm name we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown digest algorithm")]
pub struct UnknownAlgorithm;

impl Algorithm {
    /// The token as it appears in `algorithm=` (RFC 7616 §3.3 spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Whether A1 is the session variant (`H(H(user:realm:pass):nonce:cnonce)`).
    pub fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// The hash of `data`, lowercase hex.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex::encode(Md5::digest(data)),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hex::encode(Sha256::digest(data)),
        }
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;
    /// Case-insensitive; `sha256` (without the dash) is accepted in documents for convenience.
    fn from_str(s: &str) -> Result<Algorithm, UnknownAlgorithm> {
        let s = s.trim();
        for a in [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ] {
            if s.eq_ignore_ascii_case(a.as_str()) {
                return Ok(a);
            }
        }
        if s.eq_ignore_ascii_case("sha256") {
            return Ok(Algorithm::Sha256);
        }
        Err(UnknownAlgorithm)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
