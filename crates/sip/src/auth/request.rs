//! [`check_request`]: authenticating a whole request (REGISTER with `Authorization`, INVITE
//! with `Proxy-Authorization`) against a [`Credentials`] store, producing the challenge when needed.

use std::time::Instant;

use tracing::debug;

use super::{Algorithm, Credentials};
use super::{DigestAuth, Invalid, Verdict};
use crate::message::{HeaderName, Message};

/// Which pair of headers to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// `WWW-Authenticate` in a 401, credentials in `Authorization` (REGISTER, RFC 3261 §22.2:
    /// user agent servers and registrars).
    Www,
    /// `Proxy-Authenticate` in a 407, credentials in `Proxy-Authorization` (INVITE and other
    /// requests a B2BUA relays).
    Proxy,
}

/// Why a request was refused (for counters and debug logs; no secret, no address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An authorization header does not parse.
    MalformedCredentials,
    /// Credentials for our realm name a username the store does not have.
    UnknownUser,
    /// The user is disabled.
    Disabled,
    /// The credentials are wrong or malformed.
    BadCredentials(Invalid),
}

/// The outcome of [`check_request`].
#[derive(Debug)]
pub enum AuthOutcome {
    /// The request carries valid credentials of this enabled user.
    Authorized {
        /// The store's id for the user ([`DigestUser::id`](super::DigestUser)).
        id: String,
        /// Its realm.
        realm: String,
        /// Its digest username.
        username: String,
    },
    /// Answer with this challenge (401 or 407; `stale=true` when only the nonce was old).
    Challenge(Box<Message>),
    /// Answer 403 (see [`forbidden`]).
    Forbidden(Refusal),
}

/// Authenticates `req` against `store`. Credentials are matched to a user by their `username`
/// and `realm`; without usable credentials the request is challenged in the realm the store
/// names for the identity URI (To for [`ChallengeKind::Www`], From for [`ChallengeKind::Proxy`]).
pub fn check_request(
    auth: &mut DigestAuth,
    store: &dyn Credentials,
    now: Instant,
    req: &Message,
    kind: ChallengeKind,
) -> AuthOutcome {
    let creds = match kind {
        ChallengeKind::Www => req.authorization(),
        ChallengeKind::Proxy => req.proxy_authorization(),
    };
    let Ok(creds) = creds else {
        return AuthOutcome::Forbidden(Refusal::MalformedCredentials);
    };
    let method = req
        .method()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let (host, identity_user) = identity(req, kind);
    let challenge = store.challenge_realm(&host, identity_user.as_deref());
    for c in creds
        .iter()
        .filter(|c| c.scheme.eq_ignore_ascii_case("digest"))
    {
        let (Some(c_realm), Some(username)) = (c.get("realm"), c.get("username")) else {
            return AuthOutcome::Forbidden(Refusal::BadCredentials(Invalid::MissingParam(
                "username",
            )));
        };
        let Some(user) = store.user(c_realm, username) else {
            if c_realm.eq_ignore_ascii_case(&challenge.realm) {
                debug!("digest credentials name an unknown user");
                return AuthOutcome::Forbidden(Refusal::UnknownUser);
            }
            // Credentials for someone else's realm: ignore them.
            continue;
        };
        if !user.enabled {
            return AuthOutcome::Forbidden(Refusal::Disabled);
        }
        match auth.verify(now, c, &method, user.password, user.algorithms) {
            Verdict::Ok => {
                return AuthOutcome::Authorized {
                    id: user.id.to_owned(),
                    realm: user.realm.to_owned(),
                    username: user.username.to_owned(),
                }
            }
            Verdict::Stale => {
                // Challenge in the user's realm, where its credentials are.
                return AuthOutcome::Challenge(Box::new(challenge_response(
                    auth,
                    now,
                    req,
                    kind,
                    user.realm,
                    user.algorithms,
                    true,
                )));
            }
            Verdict::Invalid(why) => {
                debug!(?why, "digest credentials refused");
                return AuthOutcome::Forbidden(Refusal::BadCredentials(why));
            }
        }
    }
    AuthOutcome::Challenge(Box::new(challenge_response(
        auth,
        now,
        req,
        kind,
        &challenge.realm,
        &challenge.algorithms,
        false,
    )))
}

/// The identity URI's host (lowercase, no brackets) and user.
fn identity(req: &Message, kind: ChallengeKind) -> (String, Option<String>) {
    let identity = match kind {
        ChallengeKind::Www => req.to(),
        ChallengeKind::Proxy => req.from(),
    };
    match &identity {
        Ok(na) => (
            na.uri
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            na.uri.user().map(str::to_owned),
        ),
        Err(_) => (String::new(), None),
    }
}

/// A 401 (`Www`) or 407 (`Proxy`) response to `req` carrying a fresh challenge.
pub fn challenge_response(
    auth: &DigestAuth,
    now: Instant,
    req: &Message,
    kind: ChallengeKind,
    realm: &str,
    algorithms: &[Algorithm],
    stale: bool,
) -> Message {
    let (status, reason, header) = match kind {
        ChallengeKind::Www => (401, "Unauthorized", HeaderName::WwwAuthenticate),
        ChallengeKind::Proxy => (
            407,
            "Proxy Authentication Required",
            HeaderName::ProxyAuthenticate,
        ),
    };
    let tag = to_tag();
    let mut resp = Message::response_to(req, status, reason, Some(&tag));
    for h in auth.challenge(now, realm, algorithms, stale) {
        resp.push_header(header.clone(), h.to_string());
    }
    resp
}

/// A 403 response to `req`.
pub fn forbidden(req: &Message) -> Message {
    Message::response_to(req, 403, "Forbidden", Some(&to_tag()))
}

/// A random To tag for responses we originate.
pub(crate) fn to_tag() -> String {
    crate::token::tag()
}
