//! callrec: the binary's library half. It owns the sockets and the clock and wires the sans-IO
//! crates (`callrec-sip`, `callrec-media`, `callrec-policy`) together with tokio.
//!
//! | module | what |
//! | --- | --- |
//! | [`config`] | typed configuration (TOML), defaults, validation naming the key |
//! | [`documents`] | loading KAZOO-shaped documents from the config directory; reload |
//! | [`transport`] | SIP over UDP and TCP (IPv4/IPv6): sockets, framing, rport/received, keep-alives |
//! | [`media`] | RTP relay sockets and the recording fork to encoder threads |
//! | [`server`] | the engine: transactions, B2BUA, media and recording policy joined; `run(config, shutdown)` |
//! | [`spool`] | the durable recording spool: files plus metadata sidecars, state machine, recovery |
//! | [`upload`] | the uploader: HTTP PUT/POST with retries and backoff |
//! | [`receive`] | `callrec receive`: a small HTTP receiver for recordings |
//! | [`cdr`] | the CDR log writer |

pub mod cdr;
pub mod config;
pub mod documents;
pub mod media;
pub mod receive;
pub mod server;
pub mod spool;
pub mod transport;
pub mod upload;
