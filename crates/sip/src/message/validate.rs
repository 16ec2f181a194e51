//! Checks for well-formed but unacceptable messages (RFC 3261 §8.2, §16.3) and the response
//! each one gets; responses that must be dropped; and error responses for unparsable requests.

use super::error::{HeaderError, ParseError};
use super::headers::{unfold, HeaderName};
use super::method::Method;
use super::parse::{leading_line_ends, next_line, Message};

/// What this element accepts. Given by the caller (the B2BUA knows what it implements).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Methods we implement; others get 501 with `Allow`.
    pub methods: Vec<Method>,
    /// Option tags we support; a `Require` naming others gets 420 with `Unsupported`.
    pub extensions: Vec<String>,
    /// Body media types accepted in INVITE (lowercase); others get 415 with `Accept`.
    pub invite_body_types: Vec<String>,
    /// Whether we act as a proxy for this request: then Max-Forwards 0 gets 483 and
    /// `Proxy-Require` is checked like `Require`.
    pub proxying: bool,
}

impl Default for Policy {
    /// INVITE ACK BYE CANCEL OPTIONS REGISTER INFO UPDATE PRACK REFER NOTIFY; no extensions;
    /// application/sdp bodies; not proxying.
    fn default() -> Policy {
        Policy {
            methods: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Register,
                Method::Info,
                Method::Update,
                Method::Prack,
                Method::Refer,
                Method::Notify,
            ],
            extensions: Vec::new(),
            invite_body_types: vec!["application/sdp".to_owned()],
            proxying: false,
        }
    }
}

/// A request refused: the status, a reason phrase, and extra headers the response must carry
/// (`Unsupported`, `Allow`, `Accept`...). ACK must never be answered: drop it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Status code (400, 416, 420, 483, 501, 505, 415, 406).
    pub status: u16,
    /// Reason phrase naming the problem.
    pub reason: String,
    /// Headers to add to the response.
    pub headers: Vec<(HeaderName, String)>,
}

impl Rejection {
    fn new(status: u16, reason: impl Into<String>) -> Rejection {
        Rejection {
            status,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }

    fn bad(e: &HeaderError) -> Rejection {
        Rejection::new(400, bad_reason(e))
    }

    /// The response to `req`: Via, From, To, Call-ID, CSeq copied, a To tag added when To has
    /// none, and this rejection's headers.
    pub fn response_to(&self, req: &Message) -> Message {
        let tag = crate::token::tag();
        let mut resp = Message::response_to(req, self.status, &self.reason, Some(&tag));
        for (n, v) in &self.headers {
            resp.push_header(n.clone(), v);
        }
        resp
    }
}

fn bad_reason(e: &HeaderError) -> String {
    match e {
        HeaderError::Missing(h) => format!("Missing {h}"),
        HeaderError::Duplicate(h) => format!("Duplicate {h}"),
        HeaderError::Syntax { header, .. } => format!("Bad {header}"),
        HeaderError::OutOfRange(h) => format!("{h} Out of Range"),
        HeaderError::NotUtf8(h) => format!("Bad {h}"),
    }
}

/// Why a response must be dropped rather than processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// Status code above 699.
    #[error("status code {0} out of range")]
    StatusOutOfRange(u16),
    /// Version other than SIP/2.0.
    #[error("unsupported SIP version")]
    Version,
    /// A header needed to match the response is missing or malformed (CSeq out of range...).
    #[error("bad header: {0}")]
    Header(HeaderError),
    /// More than one Via value: as a user agent we sent the request with one Via, so the
    /// response was not meant for us (RFC 3261 §8.1.3.3; RFC 4475 §3.3.10).
    #[error("response carries more than one Via")]
    MultipleVias,
    /// The message is a request, not a response.
    #[error("not a response")]
    NotResponse,
}

/// Checks a received response as a user agent (one Via). Err means drop it
/// (RFC 4475 §3.1.2.5, §3.1.2.19, §3.3.10).
pub fn check_response(msg: &Message) -> Result<(), DropReason> {
    let status = msg.status().ok_or(DropReason::NotResponse)?;
    if status > 699 {
        return Err(DropReason::StatusOutOfRange(status));
    }
    if msg.version() != super::Version::SIP_2_0 {
        return Err(DropReason::Version);
    }
    if msg.check_vias(|_| ()).map_err(DropReason::Header)?.1 > 1 {
        return Err(DropReason::MultipleVias);
    }
    msg.from().map_err(DropReason::Header)?;
    msg.to().map_err(DropReason::Header)?;
    msg.call_id().map_err(DropReason::Header)?;
    msg.cseq().map_err(DropReason::Header)?;
    Ok(())
}

fn contains_ci(list: &[String], x: &str) -> bool {
    list.iter().any(|l| l.eq_ignore_ascii_case(x))
}

/// Checks a received request against the RFC 3261 rules and `policy`. Order: version (505),
/// essential headers (400), method (501), CSeq method (400), Request-URI scheme (416),
/// Max-Forwards when proxying (483), extensions (420), INVITE body type (415), Accept (406).
pub fn check_request(msg: &Message, policy: &Policy) -> Result<(), Rejection> {
    let method = msg
        .method()
        .ok_or_else(|| Rejection::new(400, "Not a Request"))?;
    if msg.version() != super::Version::SIP_2_0 {
        return Err(Rejection::new(505, "Version Not Supported"));
    }
    // Every Via checked, none built.
    let (bare_cookie, _) = msg
        .check_vias(|top| top.branch() == Some("z9hG4bK"))
        .map_err(|e| Rejection::bad(&e))?;
    if bare_cookie {
        return Err(Rejection::new(400, "Bad Via Branch"));
    }
    msg.from().map_err(|e| Rejection::bad(&e))?;
    msg.to().map_err(|e| Rejection::bad(&e))?;
    msg.call_id().map_err(|e| Rejection::bad(&e))?;
    let cseq = msg.cseq().map_err(|e| Rejection::bad(&e))?;
    let max_forwards = msg.max_forwards().map_err(|e| Rejection::bad(&e))?;
    msg.contacts().map_err(|e| Rejection::bad(&e))?;
    msg.content_length().map_err(|e| Rejection::bad(&e))?;
    msg.expires().map_err(|e| Rejection::bad(&e))?;
    let media_type = msg.media_type().map_err(|e| Rejection::bad(&e))?;

    if !policy.methods.contains(method) {
        let mut r = Rejection::new(501, "Not Implemented");
        let allow: Vec<&str> = policy.methods.iter().map(Method::as_str).collect();
        r.headers.push((HeaderName::Allow, allow.join(", ")));
        return Err(r);
    }
    if &cseq.method != method {
        return Err(Rejection::new(400, "CSeq Method Mismatch"));
    }
    let uri = msg
        .request_uri()
        .ok_or_else(|| Rejection::new(400, "Not a Request"))?;
    let scheme = uri.scheme();
    if !["sip", "sips", "tel"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return Err(Rejection::new(416, "Unsupported URI Scheme"));
    }
    if uri.headers().is_some() {
        return Err(Rejection::new(400, "Headers in Request-URI"));
    }
    if policy.proxying && max_forwards == Some(0) {
        return Err(Rejection::new(483, "Too Many Hops"));
    }
    if !matches!(method, Method::Ack | Method::Cancel) {
        let mut required = msg.require();
        if policy.proxying {
            required.extend(msg.proxy_require());
        }
        let unknown: Vec<String> = required
            .into_iter()
            .filter(|t| !contains_ci(&policy.extensions, t))
            .collect();
        if !unknown.is_empty() {
            let mut r = Rejection::new(420, "Bad Extension");
            r.headers
                .push((HeaderName::Unsupported, unknown.join(", ")));
            return Err(r);
        }
    }
    if *method == Method::Invite {
        if !msg.body().is_empty() {
            let ok = media_type
                .as_deref()
                .is_some_and(|t| contains_ci(&policy.invite_body_types, t));
            if !ok {
                let mut r = Rejection::new(415, "Unsupported Media Type");
                r.headers
                    .push((HeaderName::Accept, policy.invite_body_types.join(", ")));
                return Err(r);
            }
        }
        let accept = msg.accept();
        if !accept.is_empty() {
            let acceptable = accept.iter().any(|range| {
                let t = range.split(';').next().unwrap_or_default().trim();
                t == "*/*"
                    || t.eq_ignore_ascii_case("application/*")
                    || contains_ci(&policy.invite_body_types, t)
            });
            if !acceptable {
                let mut r = Rejection::new(406, "Not Acceptable");
                r.headers.push((
                    HeaderName::Warning,
                    "399 callrec \"only application/sdp bodies are offered\"".to_owned(),
                ));
                return Err(r);
            }
        }
    }
    Ok(())
}

/// The error response for bytes that failed to parse, when they look like a request whose
/// Via, From, To, Call-ID and CSeq fields can be read. `None`: drop (a response, or too
/// broken to answer).
pub fn error_response(input: &[u8], err: &ParseError) -> Option<Message> {
    let buf = input.get(leading_line_ends(input)..)?;
    let (sl_end, mut pos) = next_line(buf, 0).unwrap_or((buf.len(), buf.len()));
    let start = buf.get(..sl_end)?;
    if start.len() < 4 || start.get(..4)?.eq_ignore_ascii_case(b"SIP/") || !start.contains(&b' ') {
        return None;
    }
    let mut resp = Message::response(err.status(), err.reason());
    let mut seen = [false; 5];
    while let Some((end, next)) = next_line(buf, pos) {
        if end == pos {
            break;
        }
        let line = buf.get(pos..end)?;
        pos = next;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(super::headers::trim_bytes(line.get(..colon)?));
        let idx = match name {
            HeaderName::Via => 0,
            HeaderName::From => 1,
            HeaderName::To => 2,
            HeaderName::CallId => 3,
            HeaderName::CSeq => 4,
            _ => continue,
        };
        let value = unfold(line.get(colon + 1..)?);
        let value = std::str::from_utf8(&value).ok()?;
        if value.is_empty() || (idx > 0 && seen.get(idx).copied().unwrap_or(true)) {
            return None;
        }
        if let Some(s) = seen.get_mut(idx) {
            *s = true;
        }
        resp.push_header(name, value);
    }
    seen.iter().all(|s| *s).then_some(resp)
}
