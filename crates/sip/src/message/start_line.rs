//! The first line of a message: request line or status line, and the SIP version.

use super::error::ParseError;
use super::method::Method;
use super::uri::Uri;

/// A `SIP/major.minor` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl Version {
    /// SIP/2.0, the only version we speak.
    pub const SIP_2_0: Version = Version { major: 2, minor: 0 };

    /// Reads `SIP/d.d` (the literal compared ignoring case).
    pub fn parse(s: &[u8]) -> Option<Version> {
        let prefix = s.get(..4)?;
        if !prefix.eq_ignore_ascii_case(b"SIP/") {
            return None;
        }
        let rest = std::str::from_utf8(s.get(4..)?).ok()?;
        let (a, b) = rest.split_once('.')?;
        let num = |x: &str| {
            if x.is_empty() || x.len() > 9 || !x.bytes().all(|c| c.is_ascii_digit()) {
                None
            } else {
                x.parse().ok()
            }
        };
        Some(Version {
            major: num(a)?,
            minor: num(b)?,
        })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SIP/{}.{}", self.major, self.minor)
    }
}

/// The request line or the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// The method.
        method: Method,
        /// The Request-URI (any scheme; see `validate` for 416).
        uri: Uri,
        /// The version.
        version: Version,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// The version.
        version: Version,
        /// Three-digit status code (100..=999 here; above 699 is dropped by `validate`).
        status: u16,
        /// Reason phrase (UTF-8, invalid octets replaced).
        reason: String,
    },
}

impl StartLine {
    /// Parses a start line (without its line end). Strict: single spaces between elements,
    /// nothing after the version.
    pub fn parse(line: &[u8]) -> Result<StartLine, ParseError> {
        if line.len() >= 4
            && line
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
        {
            let sp = line
                .iter()
                .position(|&b| b == b' ')
                .ok_or(ParseError::StartLine)?;
            let version =
                Version::parse(line.get(..sp).unwrap_or_default()).ok_or(ParseError::StartLine)?;
            let rest = line.get(sp + 1..).unwrap_or_default();
            let code_end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            let code = rest.get(..code_end).unwrap_or_default();
            if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
                return Err(ParseError::StatusCode);
            }
            let status = code
                .iter()
                .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
            if status < 100 {
                return Err(ParseError::StatusCode);
            }
            let reason = rest.get(code_end + 1..).unwrap_or_default();
            if reason.iter().any(|&b| b == b'\r' || b == b'\n') {
                return Err(ParseError::StartLine);
            }
            return Ok(StartLine::Response {
                version,
                status,
                reason: String::from_utf8_lossy(reason).into_owned(),
            });
        }
        let line = std::str::from_utf8(line).map_err(|_| ParseError::StartLine)?;
        let (method, rest) = line.split_once(' ').ok_or(ParseError::StartLine)?;
        let (uri, version) = rest.split_once(' ').ok_or(ParseError::StartLine)?;
        let method = Method::parse(method).ok_or(ParseError::StartLine)?;
        let version = Version::parse(version.as_bytes()).ok_or(ParseError::StartLine)?;
        let uri = Uri::parse(uri).map_err(|_| ParseError::RequestUri)?;
        Ok(StartLine::Request {
            method,
            uri,
            version,
        })
    }
}

impl std::fmt::Display for StartLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartLine::Request {
                method,
                uri,
                version,
            } => write!(f, "{method} {uri} {version}"),
            StartLine::Response {
                version,
                status,
                reason,
            } => write!(f, "{version} {status} {reason}"),
        }
    }
}
