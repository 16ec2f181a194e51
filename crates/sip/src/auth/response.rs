//! The digest computation itself (RFC 7616 §3.4.1–3.4.3, RFC 2617 §3.2.2): A1, A2 and the
//! `response` value.

use super::Algorithm;

/// The inputs of one digest `response`.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// `username`.
    pub username: &'a str,
    /// `realm`.
    pub realm: &'a str,
    /// The request method (`REGISTER`, `INVITE`).
    pub method: &'a str,
    /// The `uri` parameter as sent.
    pub uri: &'a str,
    /// `nonce`.
    pub nonce: &'a str,
    /// `nc`, `cnonce` and `qop` (`auth`) when qop is used; None for RFC 2069 style.
    pub qop: Option<QopInput<'a>>,
}

/// The qop part of a digest.
#[derive(Debug, Clone, Copy)]
pub struct QopInput<'a> {
    /// `qop` (only `auth` is supported: `auth-int` would need the body).
    pub qop: &'a str,
    /// `nc`, as sent (8 hex digits).
    pub nc: &'a str,
    /// `cnonce`.
    pub cnonce: &'a str,
}

/// The expected `response` value (lowercase hex) for `password`. A `-sess` algorithm needs
/// a cnonce; without qop it uses an empty one.
pub fn digest_response(input: &DigestInput<'_>, password: &str) -> String {
    let alg = input.algorithm;
    let mut ha1 =
        alg.hash_hex(format!("{}:{}:{}", input.username, input.realm, password).as_bytes());
    if alg.is_sess() {
        let cnonce = input.qop.map_or("", |q| q.cnonce);
        ha1 = alg.hash_hex(format!("{ha1}:{}:{cnonce}", input.nonce).as_bytes());
    }
    let ha2 = alg.hash_hex(format!("{}:{}", input.method, input.uri).as_bytes());
    match input.qop {
        Some(q) => alg.hash_hex(
            format!(
                "{ha1}:{}:{}:{}:{}:{ha2}",
                input.nonce, q.nc, q.cnonce, q.qop
            )
            .as_bytes(),
        ),
        None => alg.hash_hex(format!("{ha1}:{}:{ha2}", input.nonce).as_bytes()),
    }
}

/// Compares two byte strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
