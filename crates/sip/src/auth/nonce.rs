//! Stateless nonces: `hex(issued seconds) . hex(salt) . hex(HMAC-SHA-256(key, issued . salt)[..16])`
//! with 8 random salt bytes, so that two challenges in the same second never share a nonce
//! (nonce-count replay tracking would otherwise refuse the second client). The key is
//! random per process, so nonces from an earlier run are unknown (a client using one is
//! re-challenged with `stale=true`). `issued` counts seconds from the authenticator's epoch
//! (an `Instant` given at construction), so no wall clock is read.

use sha2::{Digest as _, Sha256};

use super::response::constant_time_eq;

const BLOCK: usize = 64;

/// HMAC-SHA-256 (RFC 2104) of `msg` under `key`.
pub(crate) fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; BLOCK];
    k.iter_mut().zip(key.iter()).for_each(|(d, s)| *d = *s);
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// Makes a fresh nonce for `issued` (seconds since the epoch).
pub(crate) fn make(key: &[u8; 32], issued: u64) -> String {
    make_salted(key, issued, crate::token::random_u64().to_le_bytes())
}

fn make_salted(key: &[u8; 32], issued: u64, salt: [u8; 8]) -> String {
    let mut msg = [0u8; 16];
    msg[..8].copy_from_slice(&issued.to_be_bytes());
    msg[8..].copy_from_slice(&salt);
    let mac = hmac_sha256(key, &msg);
    format!(
        "{}{}",
        hex::encode(msg),
        hex::encode(mac.get(..16).unwrap_or_default())
    )
}

/// The issue time of a nonce we made, or None if we did not make it (or it was altered).
pub(crate) fn open(key: &[u8; 32], nonce: &str) -> Option<u64> {
    if nonce.len() != 64 {
        return None;
    }
    let raw = hex::decode(nonce).ok()?;
    let (msg, mac) = raw.split_at_checked(16)?;
    let ts: [u8; 8] = msg.get(..8)?.try_into().ok()?;
    let want = hmac_sha256(key, msg);
    constant_time_eq(mac, want.get(..16)?).then(|| u64::from_be_bytes(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe" (zero-padded: HMAC pads keys to the block anyway).
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex::encode(hmac_sha256(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_nonce_opens_to_its_time_and_a_tampered_one_does_not() {
        let key = [7u8; 32];
        let n = make(&key, 1234);
        assert_eq!(open(&key, &n), Some(1234));
        let mut bad = n.clone().into_bytes();
        bad[63] = if bad[63] == b'0' { b'1' } else { b'0' };
        assert_eq!(open(&key, &String::from_utf8(bad).unwrap()), None);
        assert_eq!(open(&[8u8; 32], &n), None);
        assert_eq!(open(&key, "zz"), None);
    }

    #[test]
    fn two_nonces_in_the_same_second_differ() {
        let key = [7u8; 32];
        assert_ne!(make(&key, 5), make(&key, 5));
        assert_ne!(make_salted(&key, 5, [1; 8]), make_salted(&key, 5, [2; 8]));
    }
}
