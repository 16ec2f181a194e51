//! SIP messages: parse, inspect, build, print; stream framing; RFC-mandated rejections.
//!
//! The hot path of the signalling. A [`Message`] keeps the received octets (`bytes::Bytes`) and
//! records where each header field is, in one pass; typed values are parsed when asked for.
//! Unchanged parts print back byte for byte (escapes, folding, compact names untouched).
//!
//! Main entry points:
//! - Reading: [`Message::parse`] (one UDP datagram, or one message cut by [`frame_stream`]),
//!   [`frame_stream`] → [`StreamFrame`] for TCP/TLS buffers. Errors: [`ParseError`] with
//!   [`ParseError::status`]/[`ParseError::reason`]; [`error_response`] builds the 400 when the
//!   essentials were readable.
//! - Checking: [`check_request`] with a [`Policy`] → [`Rejection`] (`status`, `reason`,
//!   `headers`, [`Rejection::response_to`]); [`check_response`] → [`DropReason`] (drop).
//! - Typed access on [`Message`]: `method()`, `request_uri()` ([`Uri`]), `status()`, `reason()`,
//!   `vias()`/`top_via()` ([`Via`]), `from()`/`to()` ([`NameAddr`]), `call_id()`, `cseq()`
//!   ([`CSeq`]), `contacts()` ([`Contact`]), `routes()`, `record_routes()`, `max_forwards()`,
//!   `content_type()`, `media_type()`, `content_length()`, `expires()`, `min_expires()`,
//!   `www_authenticate()`, `proxy_authenticate()`, `authorization()`, `proxy_authorization()`
//!   ([`AuthHeader`]), `allow()`, `supported()`, `require()`, `proxy_require()`,
//!   `unsupported()`, `accept()`, and raw `header()`, `header_values()`, `list_values()`,
//!   `headers()`, `body()`. Errors: [`HeaderError`]. Allocation-free for matching:
//!   `top_via_branch()`, `from_tag()`, `to_tag()`, `call_id_str()`.
//! - Building: [`Message::request`], [`Message::response`], [`Message::response_to`],
//!   `push_header_top`, `push_header`, `insert_header_before`, `copy_headers`, `set_header`,
//!   `remove_header`, `remove_first_header`, `set_to_tag`, `set_body`, `clear_body`, `set_request_uri`,
//!   `set_status`, and [`Message::to_bytes`]. Value helpers: [`format_via`],
//!   [`format_name_addr`], `Display` on [`Via`], [`NameAddr`], [`Uri`], [`CSeq`],
//!   [`AuthHeader`].
//!
//! Header names are given as `&str` (any case, compact forms too) or [`HeaderName`].

mod access;
mod auth_header;
mod borrowed;
mod build;
mod cseq;
mod error;
mod framing;
mod headers;
pub mod inbound;
mod method;
mod name_addr;
mod params;
mod parse;
mod start_line;
mod uri;
mod validate;
mod via;

#[cfg(test)]
mod tests;

pub use auth_header::{AuthHeader, AuthParam};
pub use build::{format_name_addr, format_via};
pub use cseq::{CSeq, CSeqError};
pub use error::{HeaderError, ParseError, SyntaxError};
pub use framing::{frame_stream, StreamFrame};
pub use headers::{split_list, unfold, HeaderName};
pub use method::Method;
pub use name_addr::{Contact, NameAddr};
pub use params::{quote, unquote, Param, Params};
pub use parse::Message;
pub use start_line::{StartLine, Version};
pub use uri::{unescape, Uri};
pub use validate::{check_request, check_response, error_response, DropReason, Policy, Rejection};
pub use via::Via;

/// Largest message accepted (header section plus body), in octets: 64 KiB.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Most header fields accepted in one message.
pub const MAX_HEADERS: usize = 256;
