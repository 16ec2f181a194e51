//! callrec: the binary's library half. It owns the sockets, the clock, the threads, the disk
//! and HTTP, and drives the sans-IO call engine (`callrec-engine`, over `callrec-sip`,
//! `callrec-kazoo` and `callrec-media`) with tokio. It decides nothing about calls.
//!
//! | module | what |
//! | --- | --- |
//! | [`config`] | typed configuration (TOML), defaults, validation naming the key |
//! | [`documents`] | loading KAZOO-shaped documents from the config directory; reload |
//! | [`transport`] | SIP over UDP and TCP (IPv4/IPv6): sockets, framing, rport/received, keep-alives |
//! | [`media`] | the media driver: relay sockets per call, the recording fork to encoder threads |
//! | [`server`] | drives the engine: `run(listeners, config, services, shutdown)`; crash recovery of the spool |
//! | [`spool`] | the durable recording spool: files plus metadata sidecars, state machine, recovery |
//! | [`upload`] | the uploader: HTTP PUT/POST with retries and backoff |
//! | [`receive`] | `callrec receive`: a small HTTP receiver for recordings |
//! | [`cdr`] | the CDR log writer |
//! | [`api`] | the Crossbar-compatible HTTP API and `/metrics` |
//! | [`store_link`] | documents from the store: load, import, watch for changes |
//! | [`store_writer`] | CDRs and recording metadata to the store, with a disk backlog |

pub mod api;
pub mod cdr;
pub mod config;
pub mod documents;
pub mod media;
pub mod receive;
pub mod server;
pub mod spool;
pub mod store_link;
pub mod store_writer;
pub mod transport;
pub mod upload;
