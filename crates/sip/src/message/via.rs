//! Via header values: sent-protocol, sent-by and parameters.

use super::error::SyntaxError;
use super::headers::is_token;
use super::params::Params;

/// One Via value (a Via header may carry several, comma-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Protocol name, normally `SIP`.
    pub protocol: String,
    /// Protocol version, normally `2.0`.
    pub version: String,
    /// Transport as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or anything else).
    pub transport: String,
    /// sent-by host (IPv6 references keep their brackets).
    pub host: String,
    /// sent-by port, if written.
    pub port: Option<u16>,
    /// Parameters (`branch`, `received`, `rport`, `maddr`, `ttl`, others).
    pub params: Params,
}

impl Via {
    /// A `SIP/2.0/<transport> host[:port];branch=...` value, with `;rport` when asked.
    pub fn new(transport: &str, host: &str, port: Option<u16>, branch: &str, rport: bool) -> Via {
        let mut params = Params::default();
        params.set("branch", Some(branch));
        if rport {
            params.set("rport", None);
        }
        Via {
            protocol: "SIP".into(),
            version: "2.0".into(),
            transport: transport.into(),
            host: host.into(),
            port,
            params,
        }
    }

    /// Parses one Via value.
    pub fn parse(s: &str) -> Result<Via, SyntaxError> {
        let s = s.trim();
        let mut parts = s.splitn(3, '/');
        let protocol = parts.next().unwrap_or_default().trim();
        let version = parts
            .next()
            .ok_or(SyntaxError("missing sent-protocol"))?
            .trim();
        let rest = parts
            .next()
            .ok_or(SyntaxError("missing transport"))?
            .trim_start();
        let t_end = rest
            .find([' ', '\t'])
            .ok_or(SyntaxError("missing sent-by"))?;
        let transport = rest.get(..t_end).unwrap_or_default();
        if !is_token(protocol) || !is_token(version) || !is_token(transport) {
            return Err(SyntaxError("invalid sent-protocol"));
        }
        let sent = rest.get(t_end..).unwrap_or_default().trim_start();
        let p_start = sent.find(';').unwrap_or(sent.len());
        let hostport = sent.get(..p_start).unwrap_or_default().trim();
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let close = v6
                .find(']')
                .ok_or(SyntaxError("unterminated IPv6 reference"))?;
            (
                hostport.get(..close + 2).unwrap_or_default(),
                v6.get(close + 1..).unwrap_or_default().trim(),
            )
        } else {
            match hostport.split_once(':') {
                Some((h, _)) => (h.trim(), hostport.get(h.len()..).unwrap_or_default().trim()),
                None => (hostport, ""),
            }
        };
        if host.is_empty()
            || !host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':' | b'_')
            })
        {
            return Err(SyntaxError("invalid sent-by host"));
        }
        let port = if port.is_empty() {
            None
        } else {
            let digits = port
                .strip_prefix(':')
                .ok_or(SyntaxError("garbage after sent-by host"))?
                .trim();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SyntaxError("invalid sent-by port"));
            }
            Some(
                digits
                    .parse()
                    .map_err(|_| SyntaxError("sent-by port out of range"))?,
            )
        };
        let params = Params::parse(sent.get(p_start..).unwrap_or_default())?;
        Ok(Via {
            protocol: protocol.to_owned(),
            version: version.to_owned(),
            transport: transport.to_owned(),
            host: host.to_owned(),
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch")
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&str> {
        self.params.get("received")
    }

    /// `rport`: `None` if absent, `Some(None)` if present without value, `Some(Some(port))`
    /// with a value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| if v.is_empty() { None } else { v.parse().ok() })
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol, self.version, self.transport, self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

impl std::str::FromStr for Via {
    type Err = SyntaxError;
    fn from_str(s: &str) -> Result<Via, SyntaxError> {
        Via::parse(s)
    }
}
