//! HTTP digest (RFC 2617 / RFC 3261 §22) client side: the MD5 `response` for a challenge.

use md5::{Digest, Md5};

/// The fields of one digest computation.
#[derive(Debug, Clone)]
pub struct DigestInput<'a> {
    /// User name (the SIP user, here the extension).
    pub username: &'a str,
    /// Realm from the challenge.
    pub realm: &'a str,
    /// Password.
    pub password: &'a str,
    /// Request method, e.g. `REGISTER`.
    pub method: &'a str,
    /// The digest-uri (the Request-URI as sent).
    pub uri: &'a str,
    /// Server nonce.
    pub nonce: &'a str,
    /// `Some((nc, cnonce))` when qop=auth is used; `None` for the RFC 2069 form.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// The lowercase hex `response` value (algorithm MD5).
pub fn md5_response(input: &DigestInput<'_>) -> String {
    let ha1 = md5_hex(&format!(
        "{}:{}:{}",
        input.username, input.realm, input.password
    ));
    let ha2 = md5_hex(&format!("{}:{}", input.method, input.uri));
    match input.qop_auth {
        Some((nc, cnonce)) => md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", input.nonce)),
        None => md5_hex(&format!("{ha1}:{}:{ha2}", input.nonce)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_response_matches_the_rfc_2617_example() {
        // RFC 2617 §3.5.
        let r = md5_response(&DigestInput {
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop_auth: Some(("00000001", "0a4f113b")),
        });
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn md5_response_without_qop_uses_the_rfc_2069_form() {
        // HA1 = MD5("Mufasa:testrealm@host.com:Circle Of Life"),
        // HA2 = MD5("GET:/dir/index.html"), response = MD5(HA1:nonce:HA2).
        let r = md5_response(&DigestInput {
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop_auth: None,
        });
        let ha1 = "939e7578ed9e3c518a452acee763bce9";
        let ha2 = "39aff3a2bab6126f332b942af96d3366";
        assert_eq!(ha1, md5_hex("Mufasa:testrealm@host.com:Circle Of Life"));
        assert_eq!(ha2, md5_hex("GET:/dir/index.html"));
        assert_eq!(
            r,
            md5_hex("939e7578ed9e3c518a452acee763bce9:dcd98b7102dd2f0e8b11d0f600bfb0c093:39aff3a2bab6126f332b942af96d3366")
        );
    }
}
