//! Where digest credentials come from: the authenticator asks a [`Credentials`] store, so that
//! this crate knows nothing of the documents behind it.

use super::Algorithm;

/// One user that can authenticate with digest, as the store holds it.
#[derive(Debug, Clone, Copy)]
pub struct DigestUser<'a> {
    /// The store's id for this user (callrec: the device `_id`); reported on success.
    pub id: &'a str,
    /// The realm its credentials belong to.
    pub realm: &'a str,
    /// The digest username.
    pub username: &'a str,
    /// The password (used only to compute and compare digests; never logged).
    pub password: &'a str,
    /// Algorithms to offer it, strongest first.
    pub algorithms: &'a [Algorithm],
    /// A disabled user is refused even with the right password.
    pub enabled: bool,
}

/// The realm to challenge a request in, and the algorithms to offer there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRealm {
    /// The realm.
    pub realm: String,
    /// Algorithms to offer, strongest first (never empty: MD5 when nothing asks otherwise).
    pub algorithms: Vec<Algorithm>,
}

/// A source of digest credentials.
pub trait Credentials {
    /// The user with this `username` in `realm` (realm compared case-insensitively).
    fn user(&self, realm: &str, username: &str) -> Option<DigestUser<'_>>;

    /// Where to challenge a request that has no usable credentials: `host` and `user` are the
    /// identity URI's (To for REGISTER, From for other requests; host lowercase, without
    /// brackets).
    fn challenge_realm(&self, host: &str, user: Option<&str>) -> ChallengeRealm;
}
