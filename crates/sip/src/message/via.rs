//! Via header values: sent-protocol, sent-by and parameters.

use super::borrowed::find_param;
use super::error::SyntaxError;
use super::headers::is_token;
use super::params::{self, Params};

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
        let v = ViaRef::parse(s)?;
        Ok(Via {
            protocol: v.protocol.to_owned(),
            version: v.version.to_owned(),
            transport: v.transport.to_owned(),
            host: v.host.to_owned(),
            port: v.port,
            params: Params::parse(v.params)?,
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

/// One Via value read in place: what [`Via::parse`] reads, borrowed from the text (the hot
/// path matches and stamps Vias on every message without allocating). Accepts exactly what
/// `Via::parse` accepts (which is built on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ViaRef<'a> {
    pub(crate) protocol: &'a str,
    pub(crate) version: &'a str,
    pub(crate) transport: &'a str,
    /// sent-by host (IPv6 references keep their brackets).
    pub(crate) host: &'a str,
    pub(crate) port: Option<u16>,
    /// The parameter text, from its first `;` (checked: [`params::scan`] accepts it).
    pub(crate) params: &'a str,
}

impl<'a> ViaRef<'a> {
    /// Reads one Via value.
    pub(crate) fn parse(s: &'a str) -> Result<ViaRef<'a>, SyntaxError> {
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
        let params = sent.get(p_start..).unwrap_or_default();
        params::scan(params, |_, _| {})?;
        Ok(ViaRef {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        })
    }

    /// The value of parameter `name` as [`Params::get`] gives it: `Some("")` for a flag.
    pub(crate) fn param(&self, name: &str) -> Option<&'a str> {
        find_param(self.params, name)
    }

    /// The `branch` parameter.
    pub(crate) fn branch(&self) -> Option<&'a str> {
        self.param("branch")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_in_place_agrees_with_the_owned_via() {
        for s in [
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport",
            " SIP / 2.0 / TCP  Phone.Example : 5070 ; branch = z9hG4bK1 ; rport ",
            "SIP/2.0/UDP h;RPORT;Received=x;received=y;branch=\"q;u,o\"",
            "SIP/2.0/UDP [2001:db8::1]:5060;maddr=[2001:db8::9]",
            "SIP/2.0/UDP h",
            "SIP/2.0/UDP h:99999",
            "SIP/2.0/UDP h;;x",
            "SIP/2.0/UDP h;x=",
            "SIP/2.0 h",
            "",
        ] {
            match (Via::parse(s), ViaRef::parse(s)) {
                (Ok(owned), Ok(r)) => {
                    assert_eq!(
                        (r.protocol, r.version, r.transport, r.host, r.port),
                        (
                            owned.protocol.as_str(),
                            owned.version.as_str(),
                            owned.transport.as_str(),
                            owned.host.as_str(),
                            owned.port
                        ),
                        "{s}"
                    );
                    for name in ["branch", "BRANCH", "rport", "received", "maddr", "x"] {
                        assert_eq!(r.param(name), owned.params.get(name), "{s} {name}");
                    }
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{s}"),
                (a, b) => panic!("{s}: {a:?} / {b:?}"),
            }
        }
    }
}
