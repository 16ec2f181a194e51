//! Dialled-number normalisation, applied to the Request-URI user part and to callflow numbers
//! alike so that both compare equal:
//!
//! 1. a leading `sip:`, `sips:` or `tel:` scheme is dropped, then everything from `@` on (the
//!    host), and from the first `;` or `?` on (user parameters such as `;phone-context=`,
//!    URI headers);
//! 2. `%XX` escapes are decoded (a bad escape is kept as written);
//! 3. if what remains looks like a telephone number — only digits, `+`, `*`, `#` and the
//!    visual separators `-`, `.`, `(`, `)` and space (RFC 3966) — the separators are removed.
//!    Anything else (`alice`, `voicemail`) is returned as decoded, unchanged.
//!
//! No country-code rewriting is done (KAZOO's E.164 conversion is account configuration we do
//! not have); callflows use `patterns` for that.

/// Normalises a dialled number (see the module documentation).
pub fn normalize_number(input: &str) -> String {
    let mut s = input.trim();
    for scheme in ["sips:", "sip:", "tel:"] {
        if s.len() >= scheme.len()
            && s.get(..scheme.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        {
            s = s.get(scheme.len()..).unwrap_or_default();
            break;
        }
    }
    let end = s.find(['@', ';', '?']).unwrap_or(s.len());
    let user = unescape(s.get(..end).unwrap_or_default());
    let is_phone = !user.is_empty()
        && user.chars().all(|c| {
            c.is_ascii_digit() || matches!(c, '+' | '*' | '#' | '-' | '.' | '(' | ')' | ' ')
        })
        && user
            .chars()
            .any(|c| c.is_ascii_digit() || c == '*' || c == '#');
    if is_phone {
        user.chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
            .collect()
    } else {
        user
    }
}

/// Whether a normalised number is a DID (a number the PSTN can reach, unique across
/// accounts): `+` followed by digits, or 7 digits or more. Shorter numbers are extensions,
/// which may repeat in every account.
pub fn is_did(number: &str) -> bool {
    match number.strip_prefix('+') {
        Some(rest) => !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()),
        None => number.len() >= 7 && number.bytes().all(|b| b.is_ascii_digit()),
    }
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                // hi, lo < 16: fits in u8.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::normalize_number;

    #[test]
    fn numbers_lose_scheme_host_params_and_separators() {
        let cases = [
            ("+1 (415) 555-0100", "+14155550100"),
            (
                "sip:+44.20.7946.0000@example.com;user=phone",
                "+442079460000",
            ),
            (
                "tel:+1-201-555-0123;phone-context=example.com",
                "+12015550123",
            ),
            ("SIP:1001@pbx", "1001"),
            ("%2B4930123", "+4930123"),
            ("*97", "*97"),
            ("alice", "alice"),
            ("sip:alice.smith@example.com", "alice.smith"),
            ("12%zz", "12%zz"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_number(input), want, "{input}");
        }
    }
}
