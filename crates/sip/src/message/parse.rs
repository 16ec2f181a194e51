//! `Message` and reading it from bytes in one pass: start line, header lines (names resolved,
//! values kept as ranges into the shared input), Content-Length framing for datagrams.

use bytes::Bytes;

use super::error::ParseError;
use super::headers::{is_token_char, trim_bytes, unfold, Header, HeaderName, Span, Text};
use super::start_line::StartLine;
use super::{MAX_HEADERS, MAX_MESSAGE_LEN};

/// A SIP request or response. Header values are ranges into the shared input (`Bytes`), typed
/// on access; unchanged parts print back byte for byte. Cheap to clone, `Send`, `'static`.
#[derive(Debug, Clone)]
pub struct Message {
    /// The message's octets as received (start line to end of body), or empty when built.
    pub(crate) raw: Bytes,
    pub(crate) start: StartLine,
    /// The original start line with its line end, while unchanged.
    pub(crate) start_raw: Option<Span>,
    pub(crate) headers: Vec<Header>,
    /// The original empty line ending the header section (CRLF or LF).
    pub(crate) blank: Option<Span>,
    pub(crate) body: Bytes,
    /// Built messages get a Content-Length on printing when they have none.
    pub(crate) auto_length: bool,
}

/// The result of scanning a header section.
pub(crate) struct Head {
    pub(crate) start: Span,
    pub(crate) start_line: Span,
    pub(crate) headers: Vec<Header>,
    pub(crate) blank: Span,
    /// Offset of the first body octet.
    pub(crate) body_start: usize,
    pub(crate) content_length: Option<u32>,
}

/// Index of the first `needle` in `hay`, eight octets at a time.
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let rep = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0usize;
    for c in &mut chunks {
        let word = u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) ^ rep;
        // Lowest set bit marks the first zero octet (higher ones may be false positives).
        let hit = word.wrapping_sub(LO) & !word & HI;
        if hit != 0 {
            return Some(base + (hit.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| base + p)
}

/// Finds the next line starting at `pos`: (end of content excluding CR LF, start of next line).
pub(crate) fn next_line(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let rel = find_byte(buf.get(pos..)?, b'\n')?;
    let nl = pos.checked_add(rel)?;
    let end = if nl > pos && buf.get(nl - 1) == Some(&b'\r') {
        nl - 1
    } else {
        nl
    };
    Some((end, nl.checked_add(1)?))
}

/// Number of leading CR/LF octets.
pub(crate) fn leading_line_ends(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

/// Scans the header section of `buf` (which starts at the start line).
pub(crate) fn scan_head(buf: &[u8]) -> Result<Head, ParseError> {
    let limit = buf.len().min(MAX_MESSAGE_LEN);
    let (sl_end, sl_next) = match next_line(buf, 0) {
        Some(l) => l,
        None if buf.len() > MAX_MESSAGE_LEN => return Err(ParseError::TooLarge),
        None => return Err(ParseError::Unterminated),
    };
    let mut pos = sl_next;
    let mut headers: Vec<Header> = Vec::with_capacity(16);
    loop {
        if pos > limit {
            return Err(if buf.len() > MAX_MESSAGE_LEN {
                ParseError::TooLarge
            } else {
                ParseError::Unterminated
            });
        }
        let Some((end, next)) = next_line(buf, pos) else {
            return Err(if buf.len() > MAX_MESSAGE_LEN {
                ParseError::TooLarge
            } else {
                ParseError::Unterminated
            });
        };
        if end == pos {
            let mut content_length = None;
            for h in headers
                .iter()
                .filter(|h| h.name == HeaderName::ContentLength)
            {
                let raw_value = h.value.get(buf);
                let v = if h.folded {
                    unfold(raw_value)
                } else {
                    std::borrow::Cow::Borrowed(raw_value)
                };
                if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
                    return Err(ParseError::ContentLength);
                }
                let n = v
                    .iter()
                    .try_fold(0u32, |acc, d| {
                        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
                    })
                    .ok_or(ParseError::ContentLength)?;
                match content_length {
                    Some(prev) if prev != n => return Err(ParseError::ContentLengthConflict),
                    _ => content_length = Some(n),
                }
            }
            return Ok(Head {
                start: Span::new(0, sl_next),
                start_line: Span::new(0, sl_end),
                headers,
                blank: Span::new(pos, next),
                body_start: next,
                content_length,
            });
        }
        let line = buf.get(pos..end).unwrap_or_default();
        match line.first() {
            Some(b' ' | b'\t') => {
                let h = headers.last_mut().ok_or(ParseError::HeaderLine)?;
                if let Text::Raw(v) = &mut h.value {
                    let trimmed_end = pos
                        + line
                            .iter()
                            .rposition(|b| !matches!(b, b' ' | b'\t'))
                            .map_or(0, |p| p + 1);
                    if trimmed_end > pos {
                        v.end = Span::new(0, trimmed_end).end;
                        h.folded = true;
                    }
                }
                if let Some(l) = &mut h.line {
                    l.end = Span::new(0, next).end;
                }
            }
            _ => {
                let colon = line
                    .iter()
                    .position(|&b| b == b':')
                    .ok_or(ParseError::HeaderLine)?;
                let name = trim_bytes(line.get(..colon).unwrap_or_default());
                if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
                    return Err(ParseError::HeaderLine);
                }
                let name_end = pos + name.len();
                let mut vs = pos + colon + 1;
                while buf.get(vs).is_some_and(|b| *b == b' ' || *b == b'\t') && vs < end {
                    vs += 1;
                }
                let mut ve = end;
                while ve > vs && buf.get(ve - 1).is_some_and(|b| *b == b' ' || *b == b'\t') {
                    ve -= 1;
                }
                if headers.len() >= MAX_HEADERS {
                    return Err(ParseError::TooManyHeaders);
                }
                headers.push(Header {
                    name: HeaderName::from_bytes(name),
                    name_text: Text::Raw(Span::new(pos, name_end)),
                    value: Text::Raw(Span::new(vs, ve)),
                    line: Some(Span::new(pos, next)),
                    folded: false,
                });
            }
        }
        pos = next;
    }
}

impl Message {
    /// Parses one UDP datagram (leading CRLFs skipped). A Content-Length larger than the
    /// remaining octets is an error (400); octets after the body are ignored; without
    /// Content-Length the body is the rest of the datagram. Also used for a stream message
    /// cut by [`frame_stream`](super::frame_stream).
    pub fn parse(input: Bytes) -> Result<Message, ParseError> {
        let skip = leading_line_ends(&input);
        let buf = input.get(skip..).unwrap_or_default();
        if buf.is_empty() {
            return Err(ParseError::Empty);
        }
        let head = scan_head(buf)?;
        let rest = buf
            .len()
            .checked_sub(head.body_start)
            .ok_or(ParseError::Unterminated)?;
        let body_len = match head.content_length {
            Some(cl) => {
                let cl = usize::try_from(cl).map_err(|_| ParseError::ContentLength)?;
                if cl > rest {
                    return Err(ParseError::BodyTruncated);
                }
                cl
            }
            None => rest,
        };
        let total = head
            .body_start
            .checked_add(body_len)
            .ok_or(ParseError::TooLarge)?;
        if total > MAX_MESSAGE_LEN {
            return Err(ParseError::TooLarge);
        }
        let start = StartLine::parse(head.start_line.get(buf))?;
        let msg_end = skip.checked_add(total).ok_or(ParseError::TooLarge)?;
        let raw = input.slice(skip..msg_end);
        let body = raw.slice(head.body_start..total);
        Ok(Message {
            raw,
            start,
            start_raw: Some(head.start),
            headers: head.headers,
            blank: Some(head.blank),
            body,
            auto_length: false,
        })
    }

    /// Parses from a byte slice (copies it). See [`Message::parse`].
    pub fn parse_slice(input: &[u8]) -> Result<Message, ParseError> {
        Message::parse(Bytes::copy_from_slice(input))
    }
}
