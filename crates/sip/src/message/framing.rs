//! Framing on stream transports (TCP/TLS): where one message ends in a receive buffer.

use super::error::ParseError;
use super::parse::scan_head;
use super::MAX_MESSAGE_LEN;

/// What the start of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFrame {
    /// A whole message of this many octets is at the start of the buffer; cut it off and pass
    /// it to [`Message::parse`](super::Message::parse).
    Complete(usize),
    /// The message is not complete yet: read more.
    NeedMore,
    /// The buffer starts with this many CR/LF octets (RFC 5626 keep-alive, or stray line ends
    /// before a message): consume them. A double CRLF ("ping") is answered with one CRLF.
    KeepAlive(usize),
}

/// Frames the next message of a stream buffer. Content-Length is required. An error means the
/// stream can no longer be framed: answer 400 if possible, then close the connection.
pub fn frame_stream(buf: &[u8]) -> Result<StreamFrame, ParseError> {
    // Whole CRLF pairs and bare LFs; a lone trailing CR may be the start of a CRLF.
    let mut n = 0;
    loop {
        match (buf.get(n), buf.get(n + 1)) {
            (Some(b'\r'), Some(b'\n')) => n += 2,
            (Some(b'\n'), _) => n += 1,
            (Some(b'\r'), None) if n == 0 => return Ok(StreamFrame::NeedMore),
            (Some(b'\r'), None) => break,
            (Some(b'\r'), Some(_)) if n == 0 => return Err(ParseError::StartLine),
            _ => break,
        }
    }
    if n > 0 {
        return Ok(StreamFrame::KeepAlive(n));
    }
    if buf.is_empty() {
        return Ok(StreamFrame::NeedMore);
    }
    let head = match scan_head(buf) {
        Ok(h) => h,
        Err(ParseError::Unterminated) => {
            return if buf.len() >= MAX_MESSAGE_LEN {
                Err(ParseError::TooLarge)
            } else {
                Ok(StreamFrame::NeedMore)
            }
        }
        Err(e) => return Err(e),
    };
    let cl = head
        .content_length
        .ok_or(ParseError::MissingContentLength)?;
    let total = usize::try_from(cl)
        .ok()
        .and_then(|cl| head.body_start.checked_add(cl))
        .ok_or(ParseError::TooLarge)?;
    if total > MAX_MESSAGE_LEN {
        return Err(ParseError::TooLarge);
    }
    if buf.len() >= total {
        Ok(StreamFrame::Complete(total))
    } else {
        Ok(StreamFrame::NeedMore)
    }
}
