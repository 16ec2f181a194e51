//! `name-addr` / `addr-spec` values: From, To, Contact, Route, Record-Route and friends.

use super::error::SyntaxError;
use super::headers::is_token_char;
use super::params::{quote, quoted_end, unquote, Params};
use super::uri::Uri;

/// A display name, a URI and header parameters (`;tag=`, `;expires=`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name with quotes and escapes removed, if any.
    pub display_name: Option<String>,
    /// The address.
    pub uri: Uri,
    /// Header parameters (after the `>` or, without brackets, after the URI).
    pub params: Params,
}

impl NameAddr {
    /// A name-addr around `uri` with no display name and no parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display_name: None,
            uri,
            params: Params::default(),
        }
    }

    /// Parses one name-addr or addr-spec followed by parameters.
    pub fn parse(s: &str) -> Result<NameAddr, SyntaxError> {
        let s = s.trim();
        let b = s.as_bytes();
        let (display_name, uri_text, rest) = if b.first() == Some(&b'"') {
            let end = quoted_end(b, 0).ok_or(SyntaxError("unterminated quoted display name"))?;
            let dn = unquote(s.get(..end).unwrap_or_default());
            let after = s.get(end..).unwrap_or_default().trim_start();
            let inner = after
                .strip_prefix('<')
                .ok_or(SyntaxError("expected '<' after display name"))?;
            let close = inner.find('>').ok_or(SyntaxError("missing '>'"))?;
            (
                Some(dn),
                inner.get(..close).unwrap_or_default(),
                inner.get(close + 1..).unwrap_or_default(),
            )
        } else if let Some(lt) = s.find('<') {
            let dn = s.get(..lt).unwrap_or_default().trim();
            if !dn
                .bytes()
                .all(|c| is_token_char(c) || c == b' ' || c == b'\t')
            {
                return Err(SyntaxError("display name must be tokens or quoted"));
            }
            let inner = s.get(lt + 1..).unwrap_or_default();
            let close = inner.find('>').ok_or(SyntaxError("missing '>'"))?;
            (
                (!dn.is_empty()).then(|| dn.to_owned()),
                inner.get(..close).unwrap_or_default(),
                inner.get(close + 1..).unwrap_or_default(),
            )
        } else {
            // addr-spec without brackets: parameters after the URI belong to the header, and
            // the URI may contain neither ',' nor '?' nor ';'.
            let end = s.find(';').unwrap_or(s.len());
            let u = s.get(..end).unwrap_or_default().trim_end();
            if u.contains(['?', ',', '>']) {
                return Err(SyntaxError(
                    "URI with headers or commas must be enclosed in '<>'",
                ));
            }
            (None, u, s.get(end..).unwrap_or_default())
        };
        let uri = Uri::parse(uri_text)?;
        let params = Params::parse(rest)?;
        Ok(NameAddr {
            display_name,
            uri,
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").filter(|t| !t.is_empty())
    }

    /// Sets the `tag` parameter (builder style).
    pub fn with_tag(mut self, tag: &str) -> NameAddr {
        self.params.set("tag", Some(tag));
        self
    }

    /// The `expires` parameter (Contact), if present and a number that fits.
    pub fn expires(&self) -> Option<u32> {
        self.params
            .get("expires")
            .and_then(|v| v.trim().parse().ok())
    }

    /// The `q` parameter (Contact) as written.
    pub fn q(&self) -> Option<&str> {
        self.params.get("q")
    }
}

impl std::fmt::Display for NameAddr {
    /// Always prints the bracketed form, so URI parameters and header parameters stay apart.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(d) = &self.display_name {
            write!(f, "{} ", quote(d))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

impl std::str::FromStr for NameAddr {
    type Err = SyntaxError;
    fn from_str(s: &str) -> Result<NameAddr, SyntaxError> {
        NameAddr::parse(s)
    }
}

/// One Contact value: `*` or an address.
// Contacts are few per message; boxing the address would only make matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `Contact: *` (REGISTER removing all bindings).
    Star,
    /// An address with its parameters (`expires`, `q`...).
    Addr(NameAddr),
}
