//! Digest authentication (RFC 7616 / RFC 8760, RFC 2617 compatible): challenges with stateless
//! nonces and verification of `Authorization` / `Proxy-Authorization` credentials.
//!
//! MD5 alone is offered by default: some phones (Debian's baresip) refuse to register when
//! SHA-256 is offered, even beside MD5. SHA-256 is offered only when the credentials store asks
//! for it ([`DigestUser::algorithms`]). Secrets and response hashes are never logged.

mod algorithm;
mod credentials;
mod digest;
mod nonce;
mod request;
mod response;

pub(crate) use request::to_tag;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use credentials::{ChallengeRealm, Credentials, DigestUser};
pub use digest::{DigestAuth, DigestConfig, Invalid, Verdict};
pub use request::{
    challenge_response, check_request, forbidden, AuthOutcome, ChallengeKind, Refusal,
};
pub use response::{digest_response, DigestInput, QopInput};
