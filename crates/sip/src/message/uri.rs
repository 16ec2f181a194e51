//! URIs: `sip:`/`sips:` parsed into parts, `tel:` and any other scheme kept opaque. The original
//! text is kept and printed unchanged; escapes are never decoded in place.

use std::ops::Range;

use super::error::SyntaxError;

/// A URI with its original text. Parts are ranges into that text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uri {
    raw: String,
    scheme: Range<usize>,
    user: Option<Range<usize>>,
    password: Option<Range<usize>>,
    host: Range<usize>,
    port: Option<u16>,
    /// Text after the first `;` of the URI parameters (without that `;`), if any.
    params: Option<Range<usize>>,
    /// Text after `?` (without it), if any.
    headers: Option<Range<usize>>,
}

impl Uri {
    /// Parses a URI. `sip`/`sips` URIs are split into user, password, host, port, parameters and
    /// headers; `tel` into number (as user) and parameters; other schemes are kept opaque.
    pub fn parse(s: &str) -> Result<Uri, SyntaxError> {
        if s.is_empty() {
            return Err(SyntaxError("empty URI"));
        }
        if s.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(SyntaxError("whitespace or control character in URI"));
        }
        let colon = s.find(':').ok_or(SyntaxError("URI has no scheme"))?;
        let scheme = s.get(..colon).unwrap_or_default();
        let mut sb = scheme.bytes();
        if !sb.next().is_some_and(|b| b.is_ascii_alphabetic())
            || !sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(SyntaxError("invalid URI scheme"));
        }
        let rest_start = colon + 1;
        let rest = s.get(rest_start..).unwrap_or_default();
        let mut uri = Uri {
            raw: s.to_owned(),
            scheme: 0..colon,
            user: None,
            password: None,
            host: rest_start..rest_start,
            port: None,
            params: None,
            headers: None,
        };
        if rest.is_empty() {
            return Err(SyntaxError("empty URI after scheme"));
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            uri.parse_sip(rest_start)?;
        } else if scheme.eq_ignore_ascii_case("tel") {
            let end = rest.find(';').map_or(s.len(), |i| rest_start + i);
            uri.user = Some(rest_start..end);
            if end < s.len() {
                uri.params = Some(end + 1..s.len());
            }
        }
        Ok(uri)
    }

    fn parse_sip(&mut self, start: usize) -> Result<(), SyntaxError> {
        let s = self.raw.as_str();
        let rest = s.get(start..).unwrap_or_default();
        // userinfo ends at the first '@' (user and password may contain '?', ';', ',' ...).
        let host_start = match rest.find('@') {
            Some(at) => {
                let userinfo = start..start + at;
                let ui = s.get(userinfo.clone()).unwrap_or_default();
                match ui.find(':') {
                    Some(c) => {
                        self.user = Some(start..start + c);
                        self.password = Some(start + c + 1..start + at);
                    }
                    None => self.user = Some(userinfo),
                }
                start + at + 1
            }
            None => start,
        };
        let hp = s.get(host_start..).unwrap_or_default();
        let hp_end = hp.find([';', '?']).map_or(s.len(), |i| host_start + i);
        let hostport = s.get(host_start..hp_end).unwrap_or_default();
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let close = v6
                .find(']')
                .ok_or(SyntaxError("unterminated IPv6 reference"))?;
            let after = v6.get(close + 1..).unwrap_or_default();
            (host_start..host_start + close + 2, after)
        } else {
            match hostport.find(':') {
                Some(c) => (
                    host_start..host_start + c,
                    hostport.get(c..).unwrap_or_default(),
                ),
                None => (host_start..hp_end, ""),
            }
        };
        let host_text = s.get(host.clone()).unwrap_or_default();
        if host_text.is_empty()
            || !host_text.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':' | b'_')
            })
        {
            return Err(SyntaxError("invalid host"));
        }
        self.host = host;
        if !port.is_empty() {
            let digits = port
                .strip_prefix(':')
                .ok_or(SyntaxError("garbage after host"))?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SyntaxError("invalid port"));
            }
            self.port = Some(
                digits
                    .parse()
                    .map_err(|_| SyntaxError("port out of range"))?,
            );
        }
        let tail = s.get(hp_end..).unwrap_or_default();
        let q = tail.find('?').map(|i| hp_end + i);
        if tail.starts_with(';') {
            let pend = q.unwrap_or(s.len());
            self.params = Some(hp_end + 1..pend);
            let p = s.get(hp_end + 1..pend).unwrap_or_default();
            if p.split(';').any(|x| x.is_empty() || x.starts_with('=')) {
                return Err(SyntaxError("empty URI parameter"));
            }
        }
        if let Some(q) = q {
            self.headers = Some(q + 1..s.len());
        }
        Ok(())
    }

    /// Builds `sip:[user@]host[:port]`. `user` is used as given (escape it first if needed).
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Result<Uri, SyntaxError> {
        let mut s = String::from("sip:");
        if let Some(u) = user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(host);
        if let Some(p) = port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        Uri::parse(&s)
    }

    /// The whole URI as originally written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    fn part(&self, r: &Range<usize>) -> &str {
        self.raw.get(r.clone()).unwrap_or_default()
    }

    /// The scheme as written (compare ignoring case).
    pub fn scheme(&self) -> &str {
        self.part(&self.scheme)
    }

    /// Whether the scheme is `sip` or `sips`.
    pub fn is_sip(&self) -> bool {
        let s = self.scheme();
        s.eq_ignore_ascii_case("sip") || s.eq_ignore_ascii_case("sips")
    }

    /// The user part as written (escapes kept); for `tel:` the number.
    pub fn user(&self) -> Option<&str> {
        self.user.as_ref().map(|r| self.part(r))
    }

    /// The user part with `%HH` escapes decoded once (may contain any octet, NUL included).
    pub fn user_unescaped(&self) -> Option<Vec<u8>> {
        self.user().map(unescape)
    }

    /// The password as written.
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|r| self.part(r))
    }

    /// The host (IPv6 references keep their brackets); empty for opaque schemes.
    pub fn host(&self) -> &str {
        self.part(&self.host)
    }

    /// The port, if written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// URI parameters as `(name, value)` pairs; value `None` for flags.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.params
            .as_ref()
            .map(|r| self.part(r))
            .unwrap_or_default()
            .split(';')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (p, None),
            })
    }

    /// The value of URI parameter `name` (`Some("")` for a flag such as `lr`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.unwrap_or(""))
    }

    /// The header part after `?`, as written.
    pub fn headers(&self) -> Option<&str> {
        self.headers.as_ref().map(|r| self.part(r))
    }

    /// Everything after `scheme:` as written.
    pub fn opaque(&self) -> &str {
        self.raw.get(self.scheme.end + 1..).unwrap_or_default()
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

impl std::str::FromStr for Uri {
    type Err = SyntaxError;
    fn from_str(s: &str) -> Result<Uri, SyntaxError> {
        Uri::parse(s)
    }
}

/// Decodes `%HH` escapes once; a `%` not followed by two hex digits is kept as is.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = |x: Option<&u8>| x.and_then(|x| (*x as char).to_digit(16));
            if let (Some(h), Some(l)) = (hex(b.get(i + 1)), hex(b.get(i + 2))) {
                // h and l are < 16, so this fits in a byte.
                out.push(u8::try_from(h * 16 + l).unwrap_or(0));
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}
