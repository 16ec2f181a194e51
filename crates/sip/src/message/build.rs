//! Building and changing messages, and printing them. Unchanged header lines and the start
//! line print back byte for byte; new or replaced ones print as `Name: value CRLF`.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::HeaderError;
use super::headers::{Header, HeaderName, Text};
use super::method::Method;
use super::params::quote;
use super::parse::Message;
use super::start_line::{StartLine, Version};
use super::uri::Uri;
use super::via::Via;

pub(crate) fn owned_header(name: HeaderName, value: &str) -> Header {
    let name_text = name_text(&name);
    Header {
        name,
        name_text,
        value: Text::Owned(Bytes::copy_from_slice(value.trim().as_bytes())),
        line: None,
        // Bytes, not chars: a char-set `contains` decodes UTF-8 one char at a time.
        folded: value.bytes().any(|b| b == b'\r' || b == b'\n'),
    }
}

/// The canonical name of a field as its printed text (shared, not copied, for known names).
fn name_text(name: &HeaderName) -> Text {
    match name {
        HeaderName::Other(n) => Text::Owned(Bytes::copy_from_slice(n.as_bytes())),
        known => Text::Owned(Bytes::from_static(known.static_name().as_bytes())),
    }
}

/// `owned_header(h.name, <h's value unfolded, invalid UTF-8 replaced>)` for a field `h` of
/// `src`. An unfolded, trimmed UTF-8 value (every field a phone sends, in practice) is shared
/// with `src`'s buffer instead of copied: responses copy five fields from each request.
fn copied_header(src: &Message, h: &Header) -> Header {
    if !h.folded {
        let shared = match &h.value {
            Text::Raw(span) => {
                let (start, end) = (span.start as usize, span.end as usize);
                (start <= end && end <= src.raw.len()).then(|| src.raw.slice(start..end))
            }
            Text::Owned(b) => Some(b.clone()),
        };
        if let Some(value) = shared {
            let clean = !value.iter().any(|&b| b == b'\r' || b == b'\n')
                && std::str::from_utf8(&value).is_ok_and(|v| v.trim().len() == v.len());
            if clean {
                return Header {
                    name_text: name_text(&h.name),
                    name: h.name.clone(),
                    value: Text::Owned(value),
                    line: None,
                    folded: false,
                };
            }
        }
    }
    let v = super::headers::unfold(src.value_bytes(h));
    owned_header(h.name.clone(), &String::from_utf8_lossy(&v))
}

impl Message {
    fn empty(start: StartLine) -> Message {
        Message {
            raw: Bytes::new(),
            start,
            start_raw: None,
            headers: Vec::new(),
            blank: None,
            body: Bytes::new(),
            auto_length: true,
        }
    }

    /// A new SIP/2.0 request with no headers. Content-Length is added on printing if absent.
    pub fn request(method: Method, uri: Uri) -> Message {
        Message::empty(StartLine::Request {
            method,
            uri,
            version: Version::SIP_2_0,
        })
    }

    /// A new SIP/2.0 response with no headers.
    pub fn response(status: u16, reason: &str) -> Message {
        Message::empty(StartLine::Response {
            version: Version::SIP_2_0,
            status,
            reason: reason.to_owned(),
        })
    }

    /// A response to `req` (RFC 3261 §8.2.6): copies all Via, From, To, Call-ID and CSeq
    /// fields (values as received). When `to_tag` is given and To has no tag, `;tag=` is added.
    pub fn response_to(req: &Message, status: u16, reason: &str, to_tag: Option<&str>) -> Message {
        let mut resp = Message::response(status, reason);
        for h in &req.headers {
            if matches!(
                h.name,
                HeaderName::Via
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
                    | HeaderName::CSeq
            ) {
                resp.headers.push(copied_header(req, h));
            }
        }
        if let Some(tag) = to_tag {
            // Only when To has no tag; a malformed To is left as it was.
            let _ = resp.set_to_tag(tag);
        }
        resp
    }

    /// Appends every field named `name` of `src` (values as received, unfolded), in order.
    /// For building CANCEL/ACK from an INVITE, or copying Record-Route into a response.
    pub fn copy_headers(&mut self, src: &Message, name: impl Into<HeaderName>) {
        let name = name.into();
        for h in src.find(&name) {
            self.headers.push(copied_header(src, h));
        }
    }

    /// Adds a field above all others (e.g. a new top Via).
    pub fn push_header_top(&mut self, name: impl Into<HeaderName>, value: impl AsRef<str>) {
        self.headers
            .insert(0, owned_header(name.into(), value.as_ref()));
    }

    /// Adds a field after all others.
    pub fn push_header(&mut self, name: impl Into<HeaderName>, value: impl AsRef<str>) {
        self.headers.push(owned_header(name.into(), value.as_ref()));
    }

    /// Adds a field just above the first field named `before` (or at the bottom if none).
    pub fn insert_header_before(
        &mut self,
        before: impl Into<HeaderName>,
        name: impl Into<HeaderName>,
        value: impl AsRef<str>,
    ) {
        let before = before.into();
        let idx = self
            .headers
            .iter()
            .position(|h| h.name.matches(&before))
            .unwrap_or(self.headers.len());
        self.headers
            .insert(idx, owned_header(name.into(), value.as_ref()));
    }

    /// Replaces the first field named `name` in place (other fields of that name are removed),
    /// or adds it at the bottom.
    pub fn set_header(&mut self, name: impl Into<HeaderName>, value: impl AsRef<str>) {
        let name = name.into();
        let new = owned_header(name.clone(), value.as_ref());
        match self.headers.iter().position(|h| h.name.matches(&name)) {
            Some(i) => {
                if let Some(slot) = self.headers.get_mut(i) {
                    *slot = new;
                }
                let mut idx = 0;
                self.headers.retain(|h| {
                    let keep = idx <= i || !h.name.matches(&name);
                    idx += 1;
                    keep
                });
            }
            None => self.headers.push(new),
        }
    }

    /// Removes all fields named `name`; returns how many were removed.
    pub fn remove_header(&mut self, name: impl Into<HeaderName>) -> usize {
        let name = name.into();
        let before = self.headers.len();
        self.headers.retain(|h| !h.name.matches(&name));
        before - self.headers.len()
    }

    /// Removes the first field named `name` (the whole field, even with several values);
    /// true if one was removed.
    pub fn remove_first_header(&mut self, name: impl Into<HeaderName>) -> bool {
        let name = name.into();
        match self.headers.iter().position(|h| h.name.matches(&name)) {
            Some(i) => {
                self.headers.remove(i);
                true
            }
            None => false,
        }
    }

    /// Adds `;tag=<tag>` to To unless it already has a tag. Other bytes of To stay as they are.
    pub fn set_to_tag(&mut self, tag: &str) -> Result<(), HeaderError> {
        let to = self.to()?;
        if to.tag().is_some() {
            return Ok(());
        }
        let i = self
            .headers
            .iter()
            .position(|h| h.name == HeaderName::To)
            .ok_or(HeaderError::Missing("To"))?;
        let current = self
            .headers
            .get(i)
            .map(|h| super::headers::unfold(self.value_bytes(h)).into_owned())
            .unwrap_or_default();
        let value = format!("{};tag={tag}", String::from_utf8_lossy(&current));
        if let Some(slot) = self.headers.get_mut(i) {
            *slot = owned_header(HeaderName::To, &value);
        }
        Ok(())
    }

    /// Sets the body with its Content-Type, and Content-Length to match.
    pub fn set_body(&mut self, content_type: &str, body: impl Into<Bytes>) {
        self.body = body.into();
        self.set_header(HeaderName::ContentType, content_type);
        self.set_header(HeaderName::ContentLength, self.body.len().to_string());
    }

    /// Removes the body and Content-Type; Content-Length becomes 0.
    pub fn clear_body(&mut self) {
        self.body = Bytes::new();
        self.remove_header(HeaderName::ContentType);
        self.set_header(HeaderName::ContentLength, "0");
    }

    /// Replaces the Request-URI (requests only; no effect on responses).
    pub fn set_request_uri(&mut self, new: Uri) {
        if let StartLine::Request { uri, .. } = &mut self.start {
            *uri = new;
            self.start_raw = None;
        }
    }

    /// Replaces the status code and reason (responses only).
    pub fn set_status(&mut self, new_status: u16, new_reason: &str) {
        if let StartLine::Response { status, reason, .. } = &mut self.start {
            *status = new_status;
            *reason = new_reason.to_owned();
            self.start_raw = None;
        }
    }

    /// The message as octets. Unchanged parts are copied from the input as they were.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.raw.len().max(256) + self.body.len() + 64);
        match self.start_raw {
            Some(s) => out.put_slice(s.get(&self.raw)),
            None => {
                out.put_slice(self.start.to_string().as_bytes());
                out.put_slice(b"\r\n");
            }
        }
        let mut has_length = false;
        for h in &self.headers {
            has_length |= h.name == HeaderName::ContentLength;
            match h.line {
                Some(l) => out.put_slice(l.get(&self.raw)),
                None => {
                    out.put_slice(h.name_text.get(&self.raw));
                    out.put_slice(b": ");
                    out.put_slice(h.value.get(&self.raw));
                    out.put_slice(b"\r\n");
                }
            }
        }
        if self.auto_length && !has_length {
            out.put_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        match self.blank {
            Some(b) => out.put_slice(b.get(&self.raw)),
            None => out.put_slice(b"\r\n"),
        }
        out.put_slice(&self.body);
        out.freeze()
    }
}

/// Formats a Via value: `SIP/2.0/<transport> host[:port];branch=<branch>[;rport]`.
pub fn format_via(
    transport: &str,
    host: &str,
    port: Option<u16>,
    branch: &str,
    rport: bool,
) -> String {
    Via::new(transport, host, port, branch, rport).to_string()
}

/// Formats `["display" ]<uri>[;tag=<tag>]`.
pub fn format_name_addr(display_name: Option<&str>, uri: &Uri, tag: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(d) = display_name {
        s.push_str(&quote(d));
        s.push(' ');
    }
    s.push('<');
    s.push_str(uri.as_str());
    s.push('>');
    if let Some(t) = tag {
        s.push_str(";tag=");
        s.push_str(t);
    }
    s
}
