//! The directory as the digest authenticator's credentials store: a device's SIP username,
//! realm and password, and the realm a request without credentials is challenged in.

use callrec_sip::auth::{Algorithm, ChallengeRealm, Credentials, DigestUser};

use super::Directory;

impl Credentials for Directory {
    fn user(&self, realm: &str, username: &str) -> Option<DigestUser<'_>> {
        // A device known by its address has no digest credentials.
        let d = self.device_by_sip(realm, username)?;
        if d.ip_auth.is_some() {
            return None;
        }
        Some(DigestUser {
            id: &d.id,
            realm: &d.sip.realm,
            username: &d.sip.username,
            password: &d.sip.password,
            algorithms: &d.digest_algorithms,
            // Disabled with its owner or account too.
            enabled: self.device_active(d),
        })
    }

    /// The realm of the device named by the identity URI (by host and user, else the only
    /// account's realm and user, else the only device with that user in any realm), else of
    /// the account whose realm is the host, else of the only account, else the host itself.
    /// The algorithms are that device's, else that account's, else MD5.
    fn challenge_realm(&self, host: &str, user: Option<&str>) -> ChallengeRealm {
        let device = user.and_then(|u| {
            self.device_by_sip(host, u)
                .or_else(|| {
                    // Phones often register to our IP address: then the single account's realm.
                    self.single_account()
                        .and_then(|a| self.device_by_sip(&a.realm, u))
                })
                .or_else(|| {
                    // Else the one device with that username in any realm, if it is unique.
                    let mut named = self.devices().iter().filter(|d| d.sip.username == u);
                    match (named.next(), named.next()) {
                        (Some(d), None) => Some(d),
                        _ => None,
                    }
                })
        });
        if let Some(d) = device {
            return ChallengeRealm {
                realm: d.sip.realm.clone(),
                algorithms: d.digest_algorithms.clone(),
            };
        }
        let account = self
            .account_by_realm(host)
            .or_else(|| self.single_account());
        ChallengeRealm {
            realm: account
                .map(|a| a.realm.clone())
                .unwrap_or_else(|| host.to_owned()),
            algorithms: account
                .and_then(|a| a.digest_algorithms.clone())
                .unwrap_or_else(|| vec![Algorithm::Md5]),
        }
    }
}
