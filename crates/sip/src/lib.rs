//! callrec-sip: SIP signalling (RFC 3261 and companions), sans-IO.
//!
//! Nothing in this crate opens a socket or reads a clock: inputs carry `now: Instant`, outputs
//! (datagrams to send, timer deadlines, events) are drained by the caller. It knows nothing of
//! any application document: credentials come through the [`auth::Credentials`] trait.
//!
//! | module | what |
//! | --- | --- |
//! | [`message`] | parse, inspect, build and print SIP messages; framing; RFC-mandated rejections; Via stamping of received requests ([`message::inbound`]) |
//! | [`transaction`] | RFC 3261 §17 client and server transactions with timers A–K |
//! | [`auth`] | digest authentication (RFC 8760 SHA-256 and MD5): challenges and verification against a [`auth::Credentials`] store |
//! | [`registrar`] | REGISTER bindings with expiry |
//! | [`token`] | the one source of random tags, branches and nonce salts (seedable per thread in tests) |

pub mod auth;
pub mod message;
pub mod registrar;
pub mod token;
pub mod transaction;
