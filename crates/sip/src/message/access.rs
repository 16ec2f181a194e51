//! Reading a `Message`: start line, raw header values, and typed headers parsed on access.

use std::borrow::Cow;

use bytes::Bytes;

use super::auth_header::AuthHeader;
use super::cseq::{CSeq, CSeqError};
use super::error::HeaderError;
use super::headers::{split_list, unfold, Header, HeaderName};
use super::method::Method;
use super::name_addr::{Contact, NameAddr};
use super::parse::Message;
use super::start_line::{StartLine, Version};
use super::uri::Uri;
use super::via::{Via, ViaRef};

/// The first comma-separated element of a list value (commas in quotes/brackets skipped).
pub(crate) fn first_element(v: &str) -> &str {
    let b = v.as_bytes();
    let mut i = 0;
    let mut in_angle = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => match super::params::quoted_end(b, i) {
                Some(e) => {
                    i = e;
                    continue;
                }
                None => return v,
            },
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b',' if !in_angle => return v.get(..i).unwrap_or(v).trim(),
            _ => {}
        }
        i += 1;
    }
    v
}

impl Message {
    /// The start line.
    pub fn start_line(&self) -> &StartLine {
        &self.start
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&Uri> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The SIP version of the start line.
    pub fn version(&self) -> Version {
        match &self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => *version,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response.
    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// The body (shares the input).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    pub(crate) fn value_bytes<'a>(&'a self, h: &'a Header) -> &'a [u8] {
        h.value.get(&self.raw)
    }

    /// The value with folding replaced by single spaces (borrowed when there was none).
    pub(crate) fn value_of<'a>(&'a self, h: &'a Header) -> Cow<'a, [u8]> {
        if h.folded {
            unfold(self.value_bytes(h))
        } else {
            Cow::Borrowed(self.value_bytes(h))
        }
    }

    pub(crate) fn find<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = &'a Header> {
        let name = name.clone();
        self.headers.iter().filter(move |h| h.name.matches(&name))
    }

    /// All header fields in order: (name, name as written, raw value with folding).
    pub fn headers(&self) -> impl Iterator<Item = (&HeaderName, &[u8], &[u8])> {
        self.headers
            .iter()
            .map(|h| (&h.name, h.name_text.get(&self.raw), h.value.get(&self.raw)))
    }

    /// The values of all fields named `name` (compact forms match), unfolded and trimmed,
    /// invalid UTF-8 replaced.
    pub fn header_values(&self, name: impl Into<HeaderName>) -> Vec<Cow<'_, str>> {
        let name = name.into();
        self.find(&name)
            .map(|h| match self.value_of(h) {
                Cow::Borrowed(b) => String::from_utf8_lossy(b),
                Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
            })
            .collect()
    }

    /// The first value of `name`, unfolded (see [`Message::header_values`]).
    pub fn header(&self, name: impl Into<HeaderName>) -> Option<Cow<'_, str>> {
        let name = name.into();
        self.find(&name).next().map(|h| match self.value_of(h) {
            Cow::Borrowed(b) => String::from_utf8_lossy(b),
            Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
        })
    }

    /// How many fields named `name` there are.
    pub fn header_count(&self, name: impl Into<HeaderName>) -> usize {
        let name = name.into();
        self.find(&name).count()
    }

    /// All comma-separated elements of all fields named `name`, empty elements skipped.
    pub fn list_values(&self, name: impl Into<HeaderName>) -> Vec<String> {
        let name = name.into();
        let mut out = Vec::new();
        for h in self.find(&name) {
            let v = self.value_of(h);
            let s = String::from_utf8_lossy(&v);
            out.extend(
                split_list(&s)
                    .into_iter()
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned),
            );
        }
        out
    }

    /// Value of one header as UTF-8, unfolded.
    fn str_of<'a>(
        &'a self,
        h: &'a Header,
        name: &'static str,
    ) -> Result<Cow<'a, str>, HeaderError> {
        match self.value_of(h) {
            Cow::Borrowed(b) => std::str::from_utf8(b)
                .map(Cow::Borrowed)
                .map_err(|_| HeaderError::NotUtf8(name)),
            Cow::Owned(v) => String::from_utf8(v)
                .map(Cow::Owned)
                .map_err(|_| HeaderError::NotUtf8(name)),
        }
    }

    /// The only field named `name`: Ok(None) if absent, Duplicate if several.
    fn single(&self, name: HeaderName) -> Result<Option<Cow<'_, str>>, HeaderError> {
        let static_name = name.static_name();
        let mut it = self.headers.iter().filter(|h| h.name == name);
        let Some(first) = it.next() else {
            return Ok(None);
        };
        if it.next().is_some() {
            return Err(HeaderError::Duplicate(static_name));
        }
        self.str_of(first, static_name).map(Some)
    }

    fn required(&self, name: HeaderName) -> Result<Cow<'_, str>, HeaderError> {
        let static_name = name.static_name();
        self.single(name)?.ok_or(HeaderError::Missing(static_name))
    }

    fn name_addr(&self, name: HeaderName) -> Result<NameAddr, HeaderError> {
        let header = name.static_name();
        let v = self.required(name)?;
        NameAddr::parse(&v).map_err(|source| HeaderError::Syntax { header, source })
    }

    /// All elements of list header `name`, each parsed with `f`. Empty elements are errors.
    fn parsed_list<T>(
        &self,
        name: HeaderName,
        f: impl Fn(&str) -> Result<T, super::SyntaxError>,
    ) -> Result<Vec<T>, HeaderError> {
        let header = name.static_name();
        let mut out = Vec::new();
        for h in self.headers.iter().filter(|h| h.name == name) {
            let v = self.str_of(h, header)?;
            for item in split_list(&v) {
                out.push(f(item).map_err(|source| HeaderError::Syntax { header, source })?);
            }
        }
        Ok(out)
    }

    /// All Via values, top first (several per field are split).
    pub fn vias(&self) -> Result<Vec<Via>, HeaderError> {
        let v = self.parsed_list(HeaderName::Via, Via::parse)?;
        if v.is_empty() {
            return Err(HeaderError::Missing("Via"));
        }
        Ok(v)
    }

    /// Checks every Via value as [`vias`](Self::vias) does (same errors), without building
    /// them: `top` gets the top value read in place; also returns how many values there are.
    pub(crate) fn check_vias<R>(
        &self,
        top: impl FnOnce(ViaRef<'_>) -> R,
    ) -> Result<(R, usize), HeaderError> {
        let mut top = Some(top);
        let mut out = None;
        let mut count = 0;
        for h in self.headers.iter().filter(|h| h.name == HeaderName::Via) {
            let v = self.str_of(h, "Via")?;
            for item in split_list(&v) {
                let via = ViaRef::parse(item).map_err(|source| HeaderError::Syntax {
                    header: "Via",
                    source,
                })?;
                if let Some(f) = top.take() {
                    out = Some(f(via));
                }
                count += 1;
            }
        }
        out.map(|r| (r, count)).ok_or(HeaderError::Missing("Via"))
    }

    /// The top Via value (parses only that one).
    pub fn top_via(&self) -> Result<Via, HeaderError> {
        let h = self
            .headers
            .iter()
            .find(|h| h.name == HeaderName::Via)
            .ok_or(HeaderError::Missing("Via"))?;
        let v = self.str_of(h, "Via")?;
        let first = first_element(&v);
        Via::parse(first).map_err(|source| HeaderError::Syntax {
            header: "Via",
            source,
        })
    }

    /// `f` applied to the top Via read in place (no allocation unless the field was folded);
    /// the same errors as [`top_via`](Self::top_via).
    pub(crate) fn with_top_via<R>(
        &self,
        f: impl FnOnce(ViaRef<'_>) -> R,
    ) -> Result<R, HeaderError> {
        let h = self
            .headers
            .iter()
            .find(|h| h.name == HeaderName::Via)
            .ok_or(HeaderError::Missing("Via"))?;
        let v = self.str_of(h, "Via")?;
        let first = first_element(&v);
        let via = ViaRef::parse(first).map_err(|source| HeaderError::Syntax {
            header: "Via",
            source,
        })?;
        Ok(f(via))
    }

    /// The From header.
    pub fn from(&self) -> Result<NameAddr, HeaderError> {
        self.name_addr(HeaderName::From)
    }

    /// The To header.
    pub fn to(&self) -> Result<NameAddr, HeaderError> {
        self.name_addr(HeaderName::To)
    }

    /// The Call-ID (unfolded, trimmed).
    pub fn call_id(&self) -> Result<String, HeaderError> {
        let v = self.required(HeaderName::CallId)?;
        if v.is_empty() || v.contains([' ', '\t']) {
            return Err(HeaderError::Syntax {
                header: "Call-ID",
                source: super::SyntaxError("Call-ID must be one word"),
            });
        }
        Ok(v.into_owned())
    }

    /// The CSeq header.
    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        let v = self.required(HeaderName::CSeq)?;
        CSeq::parse(&v).map_err(|e| match e {
            CSeqError::OutOfRange => HeaderError::OutOfRange("CSeq"),
            CSeqError::Syntax(source) => HeaderError::Syntax {
                header: "CSeq",
                source,
            },
        })
    }

    /// Contact values (`*` or addresses with `expires`/`q`); empty if absent.
    pub fn contacts(&self) -> Result<Vec<Contact>, HeaderError> {
        self.parsed_list(HeaderName::Contact, |s| {
            if s == "*" {
                Ok(Contact::Star)
            } else {
                NameAddr::parse(s).map(Contact::Addr)
            }
        })
    }

    /// Route values, top first; empty if absent.
    pub fn routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.parsed_list(HeaderName::Route, NameAddr::parse)
    }

    /// Record-Route values, top first; empty if absent.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.parsed_list(HeaderName::RecordRoute, NameAddr::parse)
    }

    fn number(&self, name: HeaderName, max: u64) -> Result<Option<u64>, HeaderError> {
        let header = name.static_name();
        let Some(v) = self.single(name)? else {
            return Ok(None);
        };
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HeaderError::Syntax {
                header,
                source: super::SyntaxError("not a number"),
            });
        }
        match v.parse::<u64>() {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => Err(HeaderError::OutOfRange(header)),
        }
    }

    /// Max-Forwards (0..=255); Ok(None) if absent.
    pub fn max_forwards(&self) -> Result<Option<u8>, HeaderError> {
        Ok(self
            .number(HeaderName::MaxForwards, 255)?
            .and_then(|n| u8::try_from(n).ok()))
    }

    /// Content-Length; Ok(None) if absent.
    pub fn content_length(&self) -> Result<Option<u32>, HeaderError> {
        Ok(self
            .number(HeaderName::ContentLength, u64::from(u32::MAX))?
            .and_then(|n| u32::try_from(n).ok()))
    }

    /// Expires (delta-seconds up to 2^32-1); Ok(None) if absent.
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        Ok(self
            .number(HeaderName::Expires, u64::from(u32::MAX))?
            .and_then(|n| u32::try_from(n).ok()))
    }

    /// Min-Expires; Ok(None) if absent.
    pub fn min_expires(&self) -> Result<Option<u32>, HeaderError> {
        Ok(self
            .number(HeaderName::MinExpires, u64::from(u32::MAX))?
            .and_then(|n| u32::try_from(n).ok()))
    }

    /// The Content-Type value as written (with parameters); Ok(None) if absent.
    pub fn content_type(&self) -> Result<Option<String>, HeaderError> {
        Ok(self.single(HeaderName::ContentType)?.map(Cow::into_owned))
    }

    /// The media type of Content-Type, lowercased, without parameters (`application/sdp`).
    pub fn media_type(&self) -> Result<Option<String>, HeaderError> {
        Ok(self.content_type()?.map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        }))
    }

    fn auth(&self, name: HeaderName) -> Result<Vec<AuthHeader>, HeaderError> {
        let header = name.static_name();
        self.headers
            .iter()
            .filter(|h| h.name == name)
            .map(|h| {
                let v = self.str_of(h, header)?;
                AuthHeader::parse(&v).map_err(|source| HeaderError::Syntax { header, source })
            })
            .collect()
    }

    /// WWW-Authenticate challenges (one per field).
    pub fn www_authenticate(&self) -> Result<Vec<AuthHeader>, HeaderError> {
        self.auth(HeaderName::WwwAuthenticate)
    }

    /// Proxy-Authenticate challenges.
    pub fn proxy_authenticate(&self) -> Result<Vec<AuthHeader>, HeaderError> {
        self.auth(HeaderName::ProxyAuthenticate)
    }

    /// Authorization credentials.
    pub fn authorization(&self) -> Result<Vec<AuthHeader>, HeaderError> {
        self.auth(HeaderName::Authorization)
    }

    /// Proxy-Authorization credentials.
    pub fn proxy_authorization(&self) -> Result<Vec<AuthHeader>, HeaderError> {
        self.auth(HeaderName::ProxyAuthorization)
    }

    /// Allow tokens (methods).
    pub fn allow(&self) -> Vec<String> {
        self.list_values(HeaderName::Allow)
    }

    /// Supported option tags.
    pub fn supported(&self) -> Vec<String> {
        self.list_values(HeaderName::Supported)
    }

    /// Require option tags.
    pub fn require(&self) -> Vec<String> {
        self.list_values(HeaderName::Require)
    }

    /// Proxy-Require option tags.
    pub fn proxy_require(&self) -> Vec<String> {
        self.list_values(HeaderName::ProxyRequire)
    }

    /// Unsupported option tags.
    pub fn unsupported(&self) -> Vec<String> {
        self.list_values(HeaderName::Unsupported)
    }

    /// Accept media ranges as written (with parameters).
    pub fn accept(&self) -> Vec<String> {
        self.list_values(HeaderName::Accept)
    }
}
