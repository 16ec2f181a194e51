//! Header names (long and compact forms), the stored header field, unfolding and splitting
//! comma-separated values.

use std::borrow::Cow;

use bytes::Bytes;

macro_rules! header_names {
    ($( $variant:ident => $canon:literal, $lower:literal $(, $compact:literal)? ;)*) => {
        /// A header field name. Known names are matched case-insensitively, compact forms
        /// included (`i` is [`HeaderName::CallId`]); anything else is kept in `Other`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum HeaderName {
            $(
                #[doc = $canon]
                $variant,
            )*
            /// An extension header, with the name as written.
            Other(String),
        }

        impl HeaderName {
            /// The canonical (long) name.
            pub fn as_str(&self) -> &str {
                match self {
                    $(HeaderName::$variant => $canon,)*
                    HeaderName::Other(s) => s,
                }
            }

            /// The canonical name for known headers, `"extension"` for others.
            pub fn static_name(&self) -> &'static str {
                match self {
                    $(HeaderName::$variant => $canon,)*
                    HeaderName::Other(_) => "extension",
                }
            }

            /// Resolves a name as written (any case, compact forms) to a known name.
            fn known(lower: &[u8]) -> Option<HeaderName> {
                match lower {
                    $($lower $(| $compact)? => Some(HeaderName::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

header_names! {
    Accept => "Accept", b"accept";
    AcceptEncoding => "Accept-Encoding", b"accept-encoding";
    AcceptLanguage => "Accept-Language", b"accept-language";
    AlertInfo => "Alert-Info", b"alert-info";
    Allow => "Allow", b"allow";
    AllowEvents => "Allow-Events", b"allow-events", b"u";
    AuthenticationInfo => "Authentication-Info", b"authentication-info";
    Authorization => "Authorization", b"authorization";
    CallId => "Call-ID", b"call-id", b"i";
    CallInfo => "Call-Info", b"call-info";
    Contact => "Contact", b"contact", b"m";
    ContentDisposition => "Content-Disposition", b"content-disposition";
    ContentEncoding => "Content-Encoding", b"content-encoding", b"e";
    ContentLanguage => "Content-Language", b"content-language";
    ContentLength => "Content-Length", b"content-length", b"l";
    ContentType => "Content-Type", b"content-type", b"c";
    CSeq => "CSeq", b"cseq";
    Date => "Date", b"date";
    ErrorInfo => "Error-Info", b"error-info";
    Event => "Event", b"event", b"o";
    Expires => "Expires", b"expires";
    From => "From", b"from", b"f";
    InReplyTo => "In-Reply-To", b"in-reply-to";
    MaxForwards => "Max-Forwards", b"max-forwards";
    MinExpires => "Min-Expires", b"min-expires";
    MinSe => "Min-SE", b"min-se";
    MimeVersion => "MIME-Version", b"mime-version";
    Organization => "Organization", b"organization";
    PAssertedIdentity => "P-Asserted-Identity", b"p-asserted-identity";
    PPreferredIdentity => "P-Preferred-Identity", b"p-preferred-identity";
    Priority => "Priority", b"priority";
    Privacy => "Privacy", b"privacy";
    ProxyAuthenticate => "Proxy-Authenticate", b"proxy-authenticate";
    ProxyAuthorization => "Proxy-Authorization", b"proxy-authorization";
    ProxyRequire => "Proxy-Require", b"proxy-require";
    RAck => "RAck", b"rack";
    Reason => "Reason", b"reason";
    RecordRoute => "Record-Route", b"record-route";
    ReferTo => "Refer-To", b"refer-to", b"r";
    ReferredBy => "Referred-By", b"referred-by", b"b";
    Replaces => "Replaces", b"replaces";
    ReplyTo => "Reply-To", b"reply-to";
    Require => "Require", b"require";
    RetryAfter => "Retry-After", b"retry-after";
    Route => "Route", b"route";
    RSeq => "RSeq", b"rseq";
    Server => "Server", b"server";
    SessionExpires => "Session-Expires", b"session-expires", b"x";
    Subject => "Subject", b"subject", b"s";
    SubscriptionState => "Subscription-State", b"subscription-state";
    Supported => "Supported", b"supported", b"k";
    Timestamp => "Timestamp", b"timestamp";
    To => "To", b"to", b"t";
    Unsupported => "Unsupported", b"unsupported";
    UserAgent => "User-Agent", b"user-agent";
    Via => "Via", b"via", b"v";
    Warning => "Warning", b"warning";
    WwwAuthenticate => "WWW-Authenticate", b"www-authenticate";
}

impl HeaderName {
    /// Resolves a header name as written on the wire.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        let mut buf = [0u8; 24];
        if name.len() <= buf.len() {
            let lower = &mut buf[..name.len()];
            for (d, s) in lower.iter_mut().zip(name) {
                *d = s.to_ascii_lowercase();
            }
            if let Some(k) = HeaderName::known(lower) {
                return k;
            }
        }
        HeaderName::Other(String::from_utf8_lossy(name).into_owned())
    }

    /// Whether `self` names the same header as `other` (extension names compare ignoring case).
    pub fn matches(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

impl From<&str> for HeaderName {
    fn from(s: &str) -> HeaderName {
        HeaderName::from_bytes(s.as_bytes())
    }
}

impl From<&HeaderName> for HeaderName {
    fn from(h: &HeaderName) -> HeaderName {
        h.clone()
    }
}

impl std::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A byte range inside the message's original buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        // Messages are limited to MAX_MESSAGE_LEN, far below u32::MAX.
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }
    pub(crate) fn get<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        raw.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// Text of a header: a range in the original buffer, or bytes given when building.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Raw(Span),
    Owned(Bytes),
}

impl Text {
    pub(crate) fn get<'a>(&'a self, raw: &'a [u8]) -> &'a [u8] {
        match self {
            Text::Raw(s) => s.get(raw),
            Text::Owned(b) => b,
        }
    }
}

/// One header field as stored in a [`Message`](super::Message).
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) name: HeaderName,
    /// The name as written (for printing and for extension names).
    pub(crate) name_text: Text,
    pub(crate) value: Text,
    /// The whole original line(s) including the line end; `None` for built or changed headers.
    pub(crate) line: Option<Span>,
    /// Whether the raw value contains line folding.
    pub(crate) folded: bool,
}

/// Replaces each line fold (CRLF or LF followed by whitespace) with one space, and trims.
pub fn unfold(value: &[u8]) -> Cow<'_, [u8]> {
    let trimmed = trim_bytes(value);
    if !trimmed.iter().any(|&b| b == b'\n' || b == b'\r') {
        return Cow::Borrowed(trimmed);
    }
    let mut out = Vec::with_capacity(trimmed.len());
    let mut i = 0;
    while let Some(&b) = trimmed.get(i) {
        if b == b'\r' || b == b'\n' {
            // Swallow the line end and the whitespace around it into one SP.
            while out.last().is_some_and(|c: &u8| *c == b' ' || *c == b'\t') {
                out.pop();
            }
            while trimmed
                .get(i)
                .is_some_and(|c| matches!(c, b'\r' | b'\n' | b' ' | b'\t'))
            {
                i += 1;
            }
            out.push(b' ');
        } else {
            out.push(b);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// Trims spaces and tabs (and stray line ends) at both ends.
pub(crate) fn trim_bytes(v: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = v.iter().position(|b| !ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or_default()
}

/// Splits a header value on commas that are outside quoted strings and angle brackets.
/// Elements are trimmed; empty elements are kept (callers decide whether they are an error).
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = value.as_bytes();
    let mut in_quote = false;
    let mut in_angle = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
            continue;
        }
        match b {
            b'"' if !in_angle => in_quote = true,
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b',' if !in_angle => {
                out.push(value.get(start..i).unwrap_or_default().trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value.get(start..).unwrap_or_default().trim());
    out
}

/// RFC 3261 `token` characters as a lookup table.
const TOKEN_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

/// Whether `b` is an RFC 3261 `token` character.
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN_CHARS[usize::from(b)]
}

/// Whether `s` is a non-empty RFC 3261 token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}
