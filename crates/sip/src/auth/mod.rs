//! Digest authentication (RFC 7616 / RFC 8760, RFC 2617 compatible): challenges with stateless
//! nonces and verification of `Authorization` / `Proxy-Authorization` credentials.
//!
//! MD5 alone is offered by default: some phones (Debian's baresip) refuse to register when
//! SHA-256 is offered, even beside MD5. SHA-256 is offered only when a device or account asks
//! for it (`digest_algorithms` in the documents).

mod algorithm;

pub use algorithm::{Algorithm, UnknownAlgorithm};
