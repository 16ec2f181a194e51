//! [`check_request`]: authenticating a whole request (REGISTER with `Authorization`, INVITE
//! with `Proxy-Authorization`) against the directory, producing the challenge when needed.

use std::time::Instant;

use tracing::debug;

use super::{DigestAuth, Invalid, Verdict};
use crate::auth::Algorithm;
use crate::directory::Directory;
use crate::message::{HeaderName, Message};

/// Which pair of headers to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// `WWW-Authenticate` in a 401, credentials in `Authorization` (REGISTER, RFC 3261 §22.2:
    /// user agent servers and registrars).
    Www,
    /// `Proxy-Authenticate` in a 407, credentials in `Proxy-Authorization` (INVITE and other
    /// requests we relay, as KAZOO does).
    Proxy,
}

/// Why a request was refused (for counters and debug logs; no secret, no address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An authorization header does not parse.
    MalformedCredentials,
    /// Credentials for our realm name a username no device has.
    UnknownUser,
    /// The device is disabled (`enabled: false`).
    DeviceDisabled,
    /// The credentials are wrong or malformed.
    BadCredentials(Invalid),
}

/// The outcome of [`check_request`].
#[derive(Debug)]
pub enum AuthOutcome {
    /// The request carries valid credentials of this enabled device.
    Authorized {
        /// The device's `_id`.
        device_id: String,
    },
    /// Answer with this challenge (401 or 407; `stale=true` when only the nonce was old).
    Challenge(Box<Message>),
    /// Answer 403 (see [`forbidden`]).
    Forbidden(Refusal),
}

/// Authenticates `req`. Credentials are matched to a device by their `username` and `realm`;
/// without usable credentials the request is challenged in the realm of the device named by
/// the identity URI (To for [`ChallengeKind::Www`], From for [`ChallengeKind::Proxy`]; by host
/// and user, else the only account's realm and user, else the only device with that user),
/// else of the account whose realm is that URI's host, else of the only account, else the host.
/// The algorithms offered are the device's (`[MD5]` by default).
pub fn check_request(
    auth: &mut DigestAuth,
    dir: &Directory,
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
    let (realm, identity_user) = challenge_realm(dir, req, kind);
    for c in creds
        .iter()
        .filter(|c| c.scheme.eq_ignore_ascii_case("digest"))
    {
        let (Some(c_realm), Some(user)) = (c.get("realm"), c.get("username")) else {
            return AuthOutcome::Forbidden(Refusal::BadCredentials(Invalid::MissingParam(
                "username",
            )));
        };
        let Some(device) = dir.device_by_sip(c_realm, user) else {
            if c_realm.eq_ignore_ascii_case(&realm) {
                debug!("digest credentials name an unknown user");
                return AuthOutcome::Forbidden(Refusal::UnknownUser);
            }
            // Credentials for someone else's realm: ignore them.
            continue;
        };
        if !device.enabled {
            return AuthOutcome::Forbidden(Refusal::DeviceDisabled);
        }
        match auth.verify(
            now,
            c,
            &method,
            &device.sip.password,
            &device.digest_algorithms,
        ) {
            Verdict::Ok => {
                return AuthOutcome::Authorized {
                    device_id: device.id.clone(),
                }
            }
            Verdict::Stale => {
                // Challenge in the device's realm, where its credentials are.
                let algs = device.digest_algorithms.clone();
                let realm = device.sip.realm.clone();
                return AuthOutcome::Challenge(Box::new(challenge_response(
                    auth, now, req, kind, &realm, &algs, true,
                )));
            }
            Verdict::Invalid(why) => {
                debug!(?why, "digest credentials refused");
                return AuthOutcome::Forbidden(Refusal::BadCredentials(why));
            }
        }
    }
    let algs = identity_user
        .as_deref()
        .and_then(|u| dir.device_by_sip(&realm, u))
        .map(|d| d.digest_algorithms.clone())
        .or_else(|| {
            dir.account_by_realm(&realm)
                .and_then(|a| a.digest_algorithms.clone())
        })
        .unwrap_or_else(|| vec![Algorithm::Md5]);
    AuthOutcome::Challenge(Box::new(challenge_response(
        auth, now, req, kind, &realm, &algs, false,
    )))
}

/// The realm to challenge in and the identity URI's user.
fn challenge_realm(
    dir: &Directory,
    req: &Message,
    kind: ChallengeKind,
) -> (String, Option<String>) {
    let identity = match kind {
        ChallengeKind::Www => req.to(),
        ChallengeKind::Proxy => req.from(),
    };
    let (host, user) = match &identity {
        Ok(na) => (
            na.uri
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            na.uri.user().map(str::to_owned),
        ),
        Err(_) => (String::new(), None),
    };
    if let Some(d) = user.as_deref().and_then(|u| {
        dir.device_by_sip(&host, u)
            .or_else(|| {
                // Phones often register to our IP address: then the single account's realm.
                dir.single_account()
                    .and_then(|a| dir.device_by_sip(&a.realm, u))
            })
            .or_else(|| {
                // Else the one device with that username in any realm, if it is unique.
                let mut named = dir.devices().iter().filter(|d| d.sip.username == u);
                match (named.next(), named.next()) {
                    (Some(d), None) => Some(d),
                    _ => None,
                }
            })
    }) {
        return (d.sip.realm.clone(), user);
    }
    let realm = dir
        .account_by_realm(&host)
        .or_else(|| dir.single_account())
        .map(|a| a.realm.clone())
        .unwrap_or(host);
    (realm, user)
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
    format!("{:016x}", rand::random::<u64>())
}
