//! [`DigestAuth`]: issues challenges and verifies credentials, with nonce expiry (`stale`) and
//! replay protection by `nc` tracking.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::nonce;
use super::response::{constant_time_eq, digest_response, DigestInput, QopInput};
use super::Algorithm;
use crate::message::AuthHeader;

/// Settings of the authenticator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestConfig {
    /// How long a nonce is accepted (default 300 s); after that the client is re-challenged
    /// with `stale=true` and retries without asking its user.
    pub nonce_lifetime: Duration,
    /// Most nonces whose `nc` is tracked at once (default 65 536). Beyond, expired entries
    /// are dropped; if still full, tracking restarts (replays of old `nc`s within one nonce
    /// lifetime are then possible — bounded memory wins).
    pub max_tracked_nonces: usize,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            nonce_lifetime: Duration::from_secs(300),
            max_tracked_nonces: 65_536,
        }
    }
}

/// The verdict on one set of credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The response is right for the password and the nonce is fresh and not replayed.
    Ok,
    /// The response is right for the password but the nonce is expired, not ours (an earlier
    /// run) or its `nc` was already used: challenge again with `stale=true`.
    Stale,
    /// Wrong password or malformed credentials: refuse (403).
    Invalid(Invalid),
}

/// Why credentials are refused (for counters and debug logs; contains no secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not the `Digest` scheme.
    Scheme,
    /// A required parameter (`username`, `realm`, `nonce`, `uri`, `response`) is absent.
    MissingParam(&'static str),
    /// `algorithm` unknown or not allowed for this device.
    Algorithm,
    /// `qop` other than `auth`, or `nc`/`cnonce` missing or malformed with qop.
    Qop,
    /// The response does not match the password.
    Response,
}

/// Digest authenticator: a random key for nonces, its epoch, and the `nc` seen per nonce.
/// Its Debug output leaves out the key.
pub struct DigestAuth {
    cfg: DigestConfig,
    key: [u8; 32],
    epoch: Instant,
    /// nonce → (highest nc accepted, when the nonce expires).
    seen: HashMap<String, (u32, Instant)>,
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuth")
            .field("cfg", &self.cfg)
            .field("epoch", &self.epoch)
            .field("tracked_nonces", &self.seen.len())
            .finish_non_exhaustive()
    }
}

impl DigestAuth {
    /// An authenticator with a fresh random key; `epoch` is any instant not after the first
    /// `now` it will be given (the process start).
    pub fn new(cfg: DigestConfig, epoch: Instant) -> DigestAuth {
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&crate::token::random_u64().to_le_bytes());
        }
        DigestAuth::with_key(cfg, epoch, key)
    }

    /// An authenticator with a given key (tests; or several processes sharing nonces).
    pub fn with_key(cfg: DigestConfig, epoch: Instant, key: [u8; 32]) -> DigestAuth {
        DigestAuth {
            cfg,
            key,
            epoch,
            seen: HashMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &DigestConfig {
        &self.cfg
    }

    fn secs(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    /// A fresh nonce for `now`.
    pub fn nonce(&self, now: Instant) -> String {
        nonce::make(&self.key, self.secs(now))
    }

    /// The challenge header values (`WWW-Authenticate` or `Proxy-Authenticate`, one header
    /// per algorithm): `Digest realm="..", nonce="..", algorithm=.., qop="auth"[, stale=true]`.
    /// SHA-256 variants are listed first (RFC 8760 §2.4: most preferred first); an empty
    /// `algorithms` means MD5.
    pub fn challenge(
        &self,
        now: Instant,
        realm: &str,
        algorithms: &[Algorithm],
        stale: bool,
    ) -> Vec<AuthHeader> {
        let nonce = self.nonce(now);
        let mut algs: Vec<Algorithm> = Vec::new();
        for a in algorithms {
            if !algs.contains(a) {
                algs.push(*a);
            }
        }
        if algs.is_empty() {
            algs.push(Algorithm::Md5);
        }
        algs.sort_by_key(|a| match a {
            Algorithm::Sha256 | Algorithm::Sha256Sess => 0,
            Algorithm::Md5 | Algorithm::Md5Sess => 1,
        });
        algs.into_iter()
            .map(|a| {
                let h = AuthHeader::new("Digest")
                    .with("realm", realm, true)
                    .with("nonce", &nonce, true)
                    .with("algorithm", a.as_str(), false)
                    .with("qop", "auth", true);
                if stale {
                    h.with("stale", "true", false)
                } else {
                    h
                }
            })
            .collect()
    }

    /// Verifies `creds` for a request with `method` against `password`, accepting only the
    /// `allowed` algorithms (MD5 when empty). The caller has already found the device from
    /// the credentials' `username` and `realm`. The `uri` parameter is not compared with the
    /// Request-URI (phones differ in how they write it); the response covers it anyway.
    pub fn verify(
        &mut self,
        now: Instant,
        creds: &AuthHeader,
        method: &str,
        password: &str,
        allowed: &[Algorithm],
    ) -> Verdict {
        match self.check(now, creds, method, password, allowed) {
            Ok(v) => v,
            Err(e) => Verdict::Invalid(e),
        }
    }

    fn check(
        &mut self,
        now: Instant,
        creds: &AuthHeader,
        method: &str,
        password: &str,
        allowed: &[Algorithm],
    ) -> Result<Verdict, Invalid> {
        if !creds.scheme.eq_ignore_ascii_case("digest") {
            return Err(Invalid::Scheme);
        }
        let get = |name: &'static str| creds.get(name).ok_or(Invalid::MissingParam(name));
        let username = get("username")?;
        let realm = get("realm")?;
        let nonce_text = get("nonce")?;
        let uri = get("uri")?;
        let response = get("response")?;
        let algorithm = match creds.get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => a.parse().map_err(|_| Invalid::Algorithm)?,
        };
        let md5_only = [Algorithm::Md5];
        let allowed = if allowed.is_empty() {
            &md5_only[..]
        } else {
            allowed
        };
        if !allowed.contains(&algorithm) {
            return Err(Invalid::Algorithm);
        }
        let (qop, nc) = match creds.get("qop") {
            None => (None, None),
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc_text = creds.get("nc").ok_or(Invalid::Qop)?;
                let cnonce = creds.get("cnonce").ok_or(Invalid::Qop)?;
                if nc_text.len() != 8 {
                    return Err(Invalid::Qop);
                }
                let nc = u32::from_str_radix(nc_text, 16).map_err(|_| Invalid::Qop)?;
                (
                    Some(QopInput {
                        qop: q,
                        nc: nc_text,
                        cnonce,
                    }),
                    Some(nc),
                )
            }
            Some(_) => return Err(Invalid::Qop),
        };
        let expected = digest_response(
            &DigestInput {
                algorithm,
                username,
                realm,
                method,
                uri,
                nonce: nonce_text,
                qop,
            },
            password,
        );
        if !constant_time_eq(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(Invalid::Response);
        }
        // The password is right; now is the nonce usable?
        let Some(issued) = nonce::open(&self.key, nonce_text) else {
            return Ok(Verdict::Stale);
        };
        let age = self.secs(now).saturating_sub(issued);
        if age > self.cfg.nonce_lifetime.as_secs() {
            return Ok(Verdict::Stale);
        }
        // Replay protection: with qop each nc is accepted once and must grow; without qop
        // (RFC 2069 clients) a nonce is good for one request, then the client is re-challenged
        // (`nc` 0 marks that use, so a later qop request with nc >= 1 still passes).
        let nc = nc.unwrap_or(0);
        let expires = now
            .checked_add(
                self.cfg
                    .nonce_lifetime
                    .saturating_sub(Duration::from_secs(age)),
            )
            .unwrap_or(now);
        match self.seen.get_mut(nonce_text) {
            Some((last, _)) if nc <= *last || nc == 0 => return Ok(Verdict::Stale),
            Some((last, _)) => *last = nc,
            None => {
                self.make_room(now);
                self.seen.insert(nonce_text.to_owned(), (nc, expires));
            }
        }
        Ok(Verdict::Ok)
    }

    fn make_room(&mut self, now: Instant) {
        if self.seen.len() < self.cfg.max_tracked_nonces {
            return;
        }
        self.seen.retain(|_, (_, expires)| *expires > now);
        if self.seen.len() >= self.cfg.max_tracked_nonces {
            self.seen.clear();
        }
    }

    /// Forgets `nc` records of expired nonces (call now and then, e.g. from the driver's
    /// housekeeping timer).
    pub fn expire(&mut self, now: Instant) {
        self.seen.retain(|_, (_, expires)| *expires > now);
    }

    /// Number of nonces whose `nc` is tracked (for metrics and tests).
    pub fn tracked_nonces(&self) -> usize {
        self.seen.len()
    }
}
