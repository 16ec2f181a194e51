//! callrec-sip: SIP signalling for callrec, sans-IO.
//!
//! Nothing in this crate opens a socket or reads a clock: inputs carry `now: Instant`, outputs
//! (datagrams to send, timer deadlines, events) are drained by the caller. The `callrec` binary
//! owns the sockets and the clock.
//!
//! | module | what |
//! | --- | --- |
//! | [`message`] | parse, inspect, build and print SIP messages; framing; RFC-mandated rejections |
//! | [`transaction`] | RFC 3261 §17 client and server transactions with timers A–K |
//! | [`auth`] | digest authentication (RFC 8760 SHA-256 and MD5): challenges and verification |
//! | [`registrar`] | REGISTER bindings with expiry |
//! | [`directory`] | KAZOO-shaped documents the signalling needs: accounts, users, devices, callflows, resources |
//! | [`routing`] | dialled number → callflow → targets |
//! | [`b2bua`] | call state: A leg, B legs, forking, leg tags, CDR facts |

pub mod auth;
pub mod b2bua;
pub mod directory;
pub mod message;
pub mod registrar;
pub mod routing;
pub mod transaction;
