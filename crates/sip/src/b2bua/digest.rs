//! A minimal private digest adapter (RFC 7616 / RFC 8760 over SIP): challenges with nonces we
//! remember for a while, and verification of credentials against a device's password. Used
//! because the auth lane's message-level API was not there when the core was written; the
//! hashing itself is [`crate::auth::Algorithm`]'s. Secrets are never logged.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::auth::Algorithm;
use crate::message::{AuthHeader, HeaderName, Message};

/// How long a nonce we issued stays good.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// Most nonces remembered at once; beyond this the oldest are forgotten.
const MAX_NONCES: usize = 65_536;

/// Nonces we issued, with when.
#[derive(Debug, Default)]
pub(crate) struct Nonces {
    issued: HashMap<String, Instant>,
}

impl Nonces {
    /// A fresh nonce, remembered from `now`.
    pub(crate) fn issue(&mut self, now: Instant) -> String {
        if self.issued.len() >= MAX_NONCES {
            self.issued
                .retain(|_, t| now.saturating_duration_since(*t) < NONCE_LIFETIME);
            if self.issued.len() >= MAX_NONCES {
                self.issued.clear();
            }
        }
        let n = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        self.issued.insert(n.clone(), now);
        n
    }

    /// Whether `nonce` is one of ours and still fresh.
    pub(crate) fn is_fresh(&self, nonce: &str, now: Instant) -> bool {
        self.issued
            .get(nonce)
            .is_some_and(|t| now.saturating_duration_since(*t) < NONCE_LIFETIME)
    }
}

/// A 401 (`proxy` false, REGISTER) or 407 (INVITE) challenge for `realm`, one
/// `WWW-Authenticate`/`Proxy-Authenticate` per algorithm.
pub(crate) fn challenge(
    req: &Message,
    realm: &str,
    algorithms: &[Algorithm],
    nonce: &str,
    proxy: bool,
    stale: bool,
) -> Message {
    let tag = super::leg::random_token();
    let (status, reason, header) = if proxy {
        (
            407,
            "Proxy Authentication Required",
            HeaderName::ProxyAuthenticate,
        )
    } else {
        (401, "Unauthorized", HeaderName::WwwAuthenticate)
    };
    let mut resp = Message::response_to(req, status, reason, Some(&tag));
    for a in algorithms {
        let mut h = AuthHeader::new("Digest")
            .with("realm", realm, true)
            .with("nonce", nonce, true)
            .with("algorithm", a.as_str(), false)
            .with("qop", "auth", true);
        if stale {
            h = h.with("stale", "true", false);
        }
        resp.push_header(header.clone(), h.to_string());
    }
    resp
}

/// The credentials of `req` for one of `realms` (Proxy-Authorization when `proxy`).
pub(crate) fn credentials(req: &Message, proxy: bool) -> Vec<AuthHeader> {
    let all = if proxy {
        req.proxy_authorization()
    } else {
        req.authorization()
    };
    all.unwrap_or_default()
        .into_iter()
        .filter(|c| c.scheme.eq_ignore_ascii_case("Digest"))
        .collect()
}

/// Whether `cred` proves knowledge of `password` for `method` (RFC 7616 §3.4.1).
pub(crate) fn verify(
    cred: &AuthHeader,
    method: &str,
    username: &str,
    realm: &str,
    password: &str,
) -> bool {
    let alg = cred
        .get("algorithm")
        .map_or(Ok(Algorithm::Md5), str::parse::<Algorithm>);
    let Ok(alg) = alg else { return false };
    let (Some(nonce), Some(uri), Some(response)) =
        (cred.get("nonce"), cred.get("uri"), cred.get("response"))
    else {
        return false;
    };
    let h = |s: &str| alg.hash_hex(s.as_bytes());
    let mut ha1 = h(&format!("{username}:{realm}:{password}"));
    let cnonce = cred.get("cnonce").unwrap_or_default();
    if alg.is_sess() {
        ha1 = h(&format!("{ha1}:{nonce}:{cnonce}"));
    }
    let ha2 = h(&format!("{method}:{uri}"));
    let expected = match cred.get("qop") {
        Some(qop) if qop.eq_ignore_ascii_case("auth") => {
            let nc = cred.get("nc").unwrap_or_default();
            h(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
        }
        Some(_) => return false,
        None => h(&format!("{ha1}:{nonce}:{ha2}")),
    };
    constant_time_eq(
        expected.as_bytes(),
        response.to_ascii_lowercase().as_bytes(),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_verifies_and_a_wrong_password_does_not() {
        // RFC 2617 §3.5 (MD5, qop=auth).
        let cred = AuthHeader::new("Digest")
            .with("username", "Mufasa", true)
            .with("realm", "testrealm@host.com", true)
            .with("nonce", "dcd98b7102dd2f0e8b11d0f600bfb0c093", true)
            .with("uri", "/dir/index.html", true)
            .with("qop", "auth", false)
            .with("nc", "00000001", false)
            .with("cnonce", "0a4f113b", true)
            .with("response", "6629fae49393a05397450978507c4ef1", true);
        assert!(verify(
            &cred,
            "GET",
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life"
        ));
        assert!(!verify(
            &cred,
            "GET",
            "Mufasa",
            "testrealm@host.com",
            "circle of life"
        ));
    }
}
