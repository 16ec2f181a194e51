//! Digest authentication: published test vectors, the authenticator's nonce and replay rules,
//! and whole INVITEs checked against a directory.

use std::time::{Duration, Instant};

use callrec_kazoo::directory::Directory;
use callrec_sip::auth::{
    check_request, digest_response, Algorithm, AuthOutcome, ChallengeKind, DigestAuth,
    DigestConfig, DigestInput, Invalid, QopInput, Refusal, Verdict,
};
use callrec_sip::message::{AuthHeader, HeaderName, Message};
use serde_json::json;

#[test]
fn rfc2617_section_3_5_example_response_is_reproduced() {
    let input = DigestInput {
        algorithm: Algorithm::Md5,
        username: "Mufasa",
        realm: "testrealm@host.com",
        method: "GET",
        uri: "/dir/index.html",
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop: Some(QopInput {
            qop: "auth",
            nc: "00000001",
            cnonce: "0a4f113b",
        }),
    };
    assert_eq!(
        digest_response(&input, "Circle Of Life"),
        "6629fae49393a05397450978507c4ef1"
    );
}

fn rfc7616_input(algorithm: Algorithm) -> DigestInput<'static> {
    DigestInput {
        algorithm,
        username: "Mufasa",
        realm: "http-auth@example.org",
        method: "GET",
        uri: "/dir/index.html",
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        qop: Some(QopInput {
            qop: "auth",
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        }),
    }
}

#[test]
fn rfc7616_section_3_9_1_md5_and_sha256_responses_are_reproduced() {
    assert_eq!(
        digest_response(&rfc7616_input(Algorithm::Md5), "Circle of Life"),
        "8ca523f5e9506fed4657c9700eebdbec"
    );
    assert_eq!(
        digest_response(&rfc7616_input(Algorithm::Sha256), "Circle of Life"),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

#[test]
fn rfc2069_style_response_without_qop_uses_nonce_and_ha2_only() {
    // H(H(A1):nonce:H(A2)) computed independently with the md5 of the pieces.
    let ha1 = "939e7578ed9e3c518a452acee763bce9"; // md5("Mufasa:testrealm@host.com:Circle Of Life")
    let ha2 = "39aff3a2bab6126f332b942af96d3366"; // md5("GET:/dir/index.html")
    let input = DigestInput {
        algorithm: Algorithm::Md5,
        username: "Mufasa",
        realm: "testrealm@host.com",
        method: "GET",
        uri: "/dir/index.html",
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop: None,
    };
    let want = Algorithm::Md5
        .hash_hex(format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}").as_bytes());
    assert_eq!(
        Algorithm::Md5.hash_hex(b"Mufasa:testrealm@host.com:Circle Of Life"),
        ha1
    );
    assert_eq!(Algorithm::Md5.hash_hex(b"GET:/dir/index.html"), ha2);
    assert_eq!(digest_response(&input, "Circle Of Life"), want);
}

/// Client side: credentials answering `challenge` for `method`/`uri` with nc `nc`.
fn answer(
    challenge: &AuthHeader,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
) -> AuthHeader {
    let realm = challenge.get("realm").unwrap();
    let nonce = challenge.get("nonce").unwrap();
    let algorithm: Algorithm = challenge.get("algorithm").unwrap_or("MD5").parse().unwrap();
    let nc = format!("{nc:08x}");
    let cnonce = "0a4f113b";
    let response = digest_response(
        &DigestInput {
            algorithm,
            username: user,
            realm,
            method,
            uri,
            nonce,
            qop: Some(QopInput {
                qop: "auth",
                nc: &nc,
                cnonce,
            }),
        },
        password,
    );
    AuthHeader::new("Digest")
        .with("username", user, true)
        .with("realm", realm, true)
        .with("nonce", nonce, true)
        .with("uri", uri, true)
        .with("response", &response, true)
        .with("algorithm", algorithm.as_str(), false)
        .with("qop", "auth", false)
        .with("nc", &nc, false)
        .with("cnonce", cnonce, true)
}

fn authenticator(t0: Instant) -> DigestAuth {
    DigestAuth::with_key(DigestConfig::default(), t0, [42; 32])
}

#[test]
fn challenge_offers_md5_alone_by_default_and_sha256_first_when_asked() {
    let t0 = Instant::now();
    let auth = authenticator(t0);
    let md5 = auth.challenge(t0, "example.com", &[], false);
    assert_eq!(md5.len(), 1);
    assert_eq!(md5[0].get("algorithm"), Some("MD5"));
    assert_eq!(md5[0].get("qop"), Some("auth"));
    assert_eq!(md5[0].get("realm"), Some("example.com"));
    assert_eq!(md5[0].get("stale"), None);
    let both = auth.challenge(
        t0,
        "example.com",
        &[Algorithm::Md5, Algorithm::Sha256],
        true,
    );
    let algs: Vec<_> = both.iter().map(|h| h.get("algorithm").unwrap()).collect();
    assert_eq!(algs, ["SHA-256", "MD5"]);
    assert!(both.iter().all(|h| h.get("stale") == Some("true")));
    assert_eq!(both[0].get("nonce"), both[1].get("nonce"));
    let printed = both[0].to_string();
    assert!(
        printed.starts_with("Digest realm=\"example.com\", nonce=\""),
        "{printed}"
    );
}

#[test]
fn right_password_passes_once_per_nc_and_wrong_password_is_invalid() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let ch = &auth.challenge(t0, "example.com", &[], false)[0];
    let c1 = answer(ch, "1001", "secret", "REGISTER", "sip:example.com", 1);
    assert_eq!(auth.verify(t0, &c1, "REGISTER", "secret", &[]), Verdict::Ok);
    // The same nc again is a replay: re-challenge (stale), never accept.
    assert_eq!(
        auth.verify(t0, &c1, "REGISTER", "secret", &[]),
        Verdict::Stale
    );
    let c2 = answer(ch, "1001", "secret", "REGISTER", "sip:example.com", 2);
    assert_eq!(auth.verify(t0, &c2, "REGISTER", "secret", &[]), Verdict::Ok);
    let c3 = answer(ch, "1001", "guess", "REGISTER", "sip:example.com", 3);
    assert_eq!(
        auth.verify(t0, &c3, "REGISTER", "secret", &[]),
        Verdict::Invalid(Invalid::Response)
    );
    // Method is covered by the response.
    let c4 = answer(ch, "1001", "secret", "REGISTER", "sip:example.com", 4);
    assert_eq!(
        auth.verify(t0, &c4, "INVITE", "secret", &[]),
        Verdict::Invalid(Invalid::Response)
    );
    assert_eq!(auth.tracked_nonces(), 1);
}

#[test]
fn nonce_expires_after_its_lifetime_and_is_then_stale() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let ch = &auth.challenge(t0, "example.com", &[], false)[0];
    let c = answer(ch, "1001", "secret", "REGISTER", "sip:example.com", 1);
    let late = t0 + Duration::from_secs(301);
    assert_eq!(
        auth.verify(late, &c, "REGISTER", "secret", &[]),
        Verdict::Stale
    );
    let in_time = t0 + Duration::from_secs(299);
    assert_eq!(
        auth.verify(in_time, &c, "REGISTER", "secret", &[]),
        Verdict::Ok
    );
    auth.expire(t0 + Duration::from_secs(400));
    assert_eq!(auth.tracked_nonces(), 0);
}

#[test]
fn nonce_of_another_process_is_stale_not_accepted() {
    let t0 = Instant::now();
    let other = DigestAuth::with_key(DigestConfig::default(), t0, [1; 32]);
    let mut auth = authenticator(t0);
    let ch = &other.challenge(t0, "example.com", &[], false)[0];
    let c = answer(ch, "1001", "secret", "REGISTER", "sip:example.com", 1);
    assert_eq!(
        auth.verify(t0, &c, "REGISTER", "secret", &[]),
        Verdict::Stale
    );
}

#[test]
fn algorithm_outside_the_allowed_list_is_refused() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let ch = &auth.challenge(t0, "example.com", &[Algorithm::Sha256], false)[0];
    let c = answer(ch, "1001", "secret", "REGISTER", "sip:example.com", 1);
    assert_eq!(
        auth.verify(t0, &c, "REGISTER", "secret", &[]),
        Verdict::Invalid(Invalid::Algorithm)
    );
    assert_eq!(
        auth.verify(t0, &c, "REGISTER", "secret", &[Algorithm::Sha256]),
        Verdict::Ok
    );
}

#[test]
fn malformed_credentials_are_invalid_without_panicking() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let nonce = auth.nonce(t0);
    let cases = [
        (AuthHeader::new("Basic"), Invalid::Scheme),
        (
            AuthHeader::new("Digest").with("username", "1001", true),
            Invalid::MissingParam("realm"),
        ),
        (
            AuthHeader::new("Digest")
                .with("username", "1001", true)
                .with("realm", "r", true)
                .with("nonce", &nonce, true)
                .with("uri", "sip:r", true)
                .with("response", "00", true)
                .with("qop", "auth-int", false),
            Invalid::Qop,
        ),
        (
            AuthHeader::new("Digest")
                .with("username", "1001", true)
                .with("realm", "r", true)
                .with("nonce", &nonce, true)
                .with("uri", "sip:r", true)
                .with("response", "00", true)
                .with("qop", "auth", false)
                .with("nc", "zz", false)
                .with("cnonce", "x", true),
            Invalid::Qop,
        ),
        (
            AuthHeader::new("Digest")
                .with("username", "1001", true)
                .with("realm", "r", true)
                .with("nonce", &nonce, true)
                .with("uri", "sip:r", true)
                .with("response", "00", true)
                .with("algorithm", "SHA-512-256", false),
            Invalid::Algorithm,
        ),
    ];
    for (creds, why) in cases {
        assert_eq!(
            auth.verify(t0, &creds, "REGISTER", "secret", &[]),
            Verdict::Invalid(why),
            "{creds}"
        );
    }
}

fn directory() -> Directory {
    Directory::build(vec![
        (
            "accounts/a.json".into(),
            json!({"_id": "acc", "pvt_type": "account", "name": "A", "realm": "example.com"}),
        ),
        (
            "devices/1001.json".into(),
            json!({"_id": "dev-1001", "pvt_type": "device", "name": "1001",
                   "sip": {"username": "1001", "password": "secret"}}),
        ),
        (
            "devices/1002.json".into(),
            json!({"_id": "dev-1002", "pvt_type": "device", "name": "1002", "enabled": false,
                   "sip": {"username": "1002", "password": "secret2"}}),
        ),
        (
            "devices/1003.json".into(),
            json!({"_id": "dev-1003", "pvt_type": "device", "name": "1003",
                   "digest_algorithms": ["sha-256", "md5"],
                   "sip": {"username": "1003", "password": "secret3"}}),
        ),
        (
            "devices/1004.json".into(),
            json!({"_id": "dev-1004", "pvt_type": "device", "name": "1004",
                   "sip": {"username": "1004", "password": "secret4", "realm": "pbx.other.net"}}),
        ),
    ])
    .expect("documents are valid")
}

fn invite(from_user: &str, proxy_auth: Option<&AuthHeader>) -> Message {
    let mut text = format!(
        "INVITE sip:2000@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bKinv1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{from_user}@example.com>;tag=a1\r\n\
         To: <sip:2000@example.com>\r\n\
         Call-ID: inv-1@192.0.2.5\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:{from_user}@192.0.2.5:5060>\r\n"
    );
    if let Some(a) = proxy_auth {
        text.push_str(&format!("Proxy-Authorization: {a}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    Message::parse_slice(text.as_bytes()).expect("test INVITE parses")
}

fn challenge_of(outcome: AuthOutcome) -> Message {
    match outcome {
        AuthOutcome::Challenge(m) => *m,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

#[test]
fn invite_without_credentials_gets_407_with_md5_only_then_passes_with_them() {
    let t0 = Instant::now();
    let dir = directory();
    let mut auth = authenticator(t0);
    let req = invite("1001", None);
    let resp = challenge_of(check_request(
        &mut auth,
        &dir,
        t0,
        &req,
        ChallengeKind::Proxy,
    ));
    assert_eq!(resp.status(), Some(407));
    assert!(resp.to().unwrap().tag().is_some());
    assert_eq!(resp.header_count(HeaderName::WwwAuthenticate), 0);
    let chs = resp.proxy_authenticate().unwrap();
    assert_eq!(chs.len(), 1);
    assert_eq!(chs[0].get("algorithm"), Some("MD5"));
    assert_eq!(chs[0].get("realm"), Some("example.com"));

    let creds = answer(
        &chs[0],
        "1001",
        "secret",
        "INVITE",
        "sip:2000@example.com",
        1,
    );
    let req = invite("1001", Some(&creds));
    match check_request(&mut auth, &dir, t0, &req, ChallengeKind::Proxy) {
        AuthOutcome::Authorized { id: device_id, .. } => assert_eq!(device_id, "dev-1001"),
        other => panic!("expected authorized, got {other:?}"),
    }
}

#[test]
fn invite_from_a_device_that_asks_for_sha256_is_offered_both() {
    let t0 = Instant::now();
    let dir = directory();
    let mut auth = authenticator(t0);
    let resp = challenge_of(check_request(
        &mut auth,
        &dir,
        t0,
        &invite("1003", None),
        ChallengeKind::Proxy,
    ));
    let chs = resp.proxy_authenticate().unwrap();
    let algs: Vec<_> = chs.iter().map(|c| c.get("algorithm").unwrap()).collect();
    assert_eq!(algs, ["SHA-256", "MD5"]);
    let creds = answer(
        &chs[0],
        "1003",
        "secret3",
        "INVITE",
        "sip:2000@example.com",
        1,
    );
    assert!(matches!(
        check_request(
            &mut auth,
            &dir,
            t0,
            &invite("1003", Some(&creds)),
            ChallengeKind::Proxy
        ),
        AuthOutcome::Authorized { .. }
    ));
}

#[test]
fn wrong_unknown_or_disabled_credentials_are_forbidden() {
    let t0 = Instant::now();
    let dir = directory();
    let mut auth = authenticator(t0);
    let ch = &auth.challenge(t0, "example.com", &[], false)[0];
    let uri = "sip:2000@example.com";
    let cases = [
        (
            answer(ch, "1001", "wrong", "INVITE", uri, 1),
            Refusal::BadCredentials(Invalid::Response),
        ),
        (
            answer(ch, "9999", "secret", "INVITE", uri, 1),
            Refusal::UnknownUser,
        ),
        (
            answer(ch, "1002", "secret2", "INVITE", uri, 1),
            Refusal::Disabled,
        ),
    ];
    for (creds, want) in cases {
        match check_request(
            &mut auth,
            &dir,
            t0,
            &invite("1001", Some(&creds)),
            ChallengeKind::Proxy,
        ) {
            AuthOutcome::Forbidden(why) => assert_eq!(why, want),
            other => panic!("expected forbidden {want:?}, got {other:?}"),
        }
    }
}

#[test]
fn expired_nonce_gets_a_stale_challenge_in_the_devices_realm() {
    let t0 = Instant::now();
    let dir = directory();
    let mut auth = authenticator(t0);
    let ch = &auth.challenge(t0, "example.com", &[], false)[0];
    let creds = answer(ch, "1001", "secret", "INVITE", "sip:2000@example.com", 1);
    let later = t0 + Duration::from_secs(600);
    let resp = challenge_of(check_request(
        &mut auth,
        &dir,
        later,
        &invite("1001", Some(&creds)),
        ChallengeKind::Proxy,
    ));
    let chs = resp.proxy_authenticate().unwrap();
    assert_eq!(chs[0].get("stale"), Some("true"));
    assert_eq!(chs[0].get("realm"), Some("example.com"));
    assert_ne!(chs[0].get("nonce"), ch.get("nonce"));
}

#[test]
fn credentials_for_a_foreign_realm_are_ignored_and_challenged() {
    let t0 = Instant::now();
    let dir = directory();
    let mut auth = authenticator(t0);
    let foreign = AuthHeader::new("Digest")
        .with("username", "bob", true)
        .with("realm", "elsewhere.net", true)
        .with("nonce", "abc", true)
        .with("uri", "sip:2000@example.com", true)
        .with("response", "0123", true);
    let resp = challenge_of(check_request(
        &mut auth,
        &dir,
        t0,
        &invite("1001", Some(&foreign)),
        ChallengeKind::Proxy,
    ));
    assert_eq!(resp.status(), Some(407));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn param() -> impl Strategy<Value = (String, String)> {
        (
            prop_oneof![
                Just("username"),
                Just("realm"),
                Just("nonce"),
                Just("uri"),
                Just("response"),
                Just("algorithm"),
                Just("qop"),
                Just("nc"),
                Just("cnonce"),
                Just("opaque"),
            ]
            .prop_map(str::to_owned),
            "\\PC{0,50}",
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn verifying_arbitrary_credentials_never_panics_nor_accepts(
            params in prop::collection::vec(param(), 0..12)
        ) {
            let t0 = Instant::now();
            let mut auth = authenticator(t0);
            let mut creds = AuthHeader::new("Digest");
            for (k, v) in &params {
                creds = creds.with(k, v, true);
            }
            let v = auth.verify(t0, &creds, "INVITE", "secret", &[Algorithm::Md5, Algorithm::Sha256]);
            prop_assert_ne!(v, Verdict::Ok);
            static DIR: std::sync::OnceLock<Directory> = std::sync::OnceLock::new();
            let dir = DIR.get_or_init(directory);
            let req = invite("1001", Some(&creds));
            let outcome = check_request(&mut auth, dir, t0, &req, ChallengeKind::Proxy);
            let authorized = matches!(outcome, AuthOutcome::Authorized { .. });
            prop_assert!(!authorized);
        }
    }
}

#[test]
fn device_with_its_own_realm_is_challenged_in_it_even_when_calling_our_address() {
    let t0 = Instant::now();
    let dir = directory();
    let mut auth = authenticator(t0);
    let text = String::from_utf8(invite("1004", None).to_bytes().to_vec())
        .unwrap()
        .replace("<sip:1004@example.com>", "<sip:1004@10.0.0.1>");
    let req = Message::parse_slice(text.as_bytes()).unwrap();
    let resp = challenge_of(check_request(
        &mut auth,
        &dir,
        t0,
        &req,
        ChallengeKind::Proxy,
    ));
    let chs = resp.proxy_authenticate().unwrap();
    assert_eq!(chs[0].get("realm"), Some("pbx.other.net"));
    let creds = answer(
        &chs[0],
        "1004",
        "secret4",
        "INVITE",
        "sip:2000@example.com",
        1,
    );
    let text = text.replace(
        "Content-Length: 0\r\n",
        &format!("Proxy-Authorization: {creds}\r\nContent-Length: 0\r\n"),
    );
    let req = Message::parse_slice(text.as_bytes()).unwrap();
    match check_request(&mut auth, &dir, t0, &req, ChallengeKind::Proxy) {
        AuthOutcome::Authorized { id: device_id, .. } => assert_eq!(device_id, "dev-1004"),
        other => panic!("expected authorized, got {other:?}"),
    }
}

#[test]
fn debug_output_of_the_authenticator_hides_its_key() {
    let auth = DigestAuth::with_key(DigestConfig::default(), Instant::now(), [0xab; 32]);
    let text = format!("{auth:?}");
    assert!(text.contains("DigestAuth"), "{text}");
    // Neither as decimal array items nor as hex.
    assert!(!text.contains("171, 171"), "{text}");
    assert!(!text.contains("abab"), "{text}");
    assert!(!text.contains("key"), "{text}");
}

#[test]
fn without_qop_a_nonce_serves_one_request_then_is_stale() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let nonce = auth.nonce(t0);
    let response = digest_response(
        &DigestInput {
            algorithm: Algorithm::Md5,
            username: "1001",
            realm: "example.com",
            method: "REGISTER",
            uri: "sip:example.com",
            nonce: &nonce,
            qop: None,
        },
        "secret",
    );
    let creds = AuthHeader::new("Digest")
        .with("username", "1001", true)
        .with("realm", "example.com", true)
        .with("nonce", &nonce, true)
        .with("uri", "sip:example.com", true)
        .with("response", &response, true);
    assert_eq!(
        auth.verify(t0, &creds, "REGISTER", "secret", &[]),
        Verdict::Ok
    );
    assert_eq!(
        auth.verify(t0, &creds, "REGISTER", "secret", &[]),
        Verdict::Stale
    );
}

#[test]
fn two_clients_challenged_in_the_same_second_both_pass_with_nc_1() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let a = &auth.challenge(t0, "example.com", &[], false)[0];
    let b = &auth.challenge(t0, "example.com", &[], false)[0];
    assert_ne!(a.get("nonce"), b.get("nonce"));
    let ca = answer(a, "1001", "secret", "REGISTER", "sip:example.com", 1);
    let cb = answer(b, "1002", "secret2", "REGISTER", "sip:example.com", 1);
    assert_eq!(auth.verify(t0, &ca, "REGISTER", "secret", &[]), Verdict::Ok);
    assert_eq!(
        auth.verify(t0, &cb, "REGISTER", "secret2", &[]),
        Verdict::Ok
    );
}
