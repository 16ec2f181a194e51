//! WWW-Authenticate / Proxy-Authenticate challenges and Authorization / Proxy-Authorization
//! credentials: a scheme and a list of `name=value` parameters (quoted values unquoted).

use super::error::SyntaxError;
use super::headers::{is_token, is_token_char, split_list};
use super::params::{quote, quoted_end, unquote};

/// One auth parameter. `quoted` records whether it was (or should be printed) quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParam {
    /// Parameter name as written.
    pub name: String,
    /// Value with quotes and escapes removed.
    pub value: String,
    /// Whether the value is quoted on the wire.
    pub quoted: bool,
}

/// A challenge or credentials value: `Digest realm="x", nonce="y", ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    /// The scheme (`Digest`, or anything else), as written.
    pub scheme: String,
    /// Parameters in order.
    pub params: Vec<AuthParam>,
}

impl AuthHeader {
    /// A value with `scheme` and no parameters.
    pub fn new(scheme: &str) -> AuthHeader {
        AuthHeader {
            scheme: scheme.to_owned(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter (builder style). Values of `algorithm`, `stale`, `nc` and `qop` in
    /// credentials are printed unquoted, everything else quoted — pass `quoted` accordingly.
    pub fn with(mut self, name: &str, value: &str, quoted: bool) -> AuthHeader {
        self.params.push(AuthParam {
            name: name.to_owned(),
            value: value.to_owned(),
            quoted,
        });
        self
    }

    /// The unquoted value of `name` (compared ignoring case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }

    /// Parses one header value (`scheme SP param *(, param)`). One header value holds one
    /// challenge or credentials.
    pub fn parse(s: &str) -> Result<AuthHeader, SyntaxError> {
        let s = s.trim();
        let (scheme, rest) = match s.find([' ', '\t']) {
            Some(i) => (
                s.get(..i).unwrap_or_default(),
                s.get(i..).unwrap_or_default(),
            ),
            None => (s, ""),
        };
        if !is_token(scheme) {
            return Err(SyntaxError("auth scheme is not a token"));
        }
        let mut params = Vec::new();
        let rest = rest.trim();
        if !rest.is_empty() {
            for item in split_list(rest) {
                let (name, value) = item
                    .split_once('=')
                    .ok_or(SyntaxError("auth parameter without '='"))?;
                let name = name.trim();
                let value = value.trim();
                if name.is_empty() || !name.bytes().all(is_token_char) {
                    return Err(SyntaxError("auth parameter name is not a token"));
                }
                let quoted = value.starts_with('"');
                if quoted && quoted_end(value.as_bytes(), 0) != Some(value.len()) {
                    return Err(SyntaxError("malformed quoted auth parameter"));
                }
                params.push(AuthParam {
                    name: name.to_owned(),
                    value: unquote(value),
                    quoted,
                });
            }
        }
        Ok(AuthHeader {
            scheme: scheme.to_owned(),
            params,
        })
    }
}

impl std::fmt::Display for AuthHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, p) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            if p.quoted {
                write!(f, "{}={}", p.name, quote(&p.value))?;
            } else {
                write!(f, "{}={}", p.name, p.value)?;
            }
        }
        Ok(())
    }
}
