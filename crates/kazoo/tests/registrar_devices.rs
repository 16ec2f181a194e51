//! The registrar driven by whole REGISTER exchanges as messages, with a fake clock: digest
//! challenge, authenticated registration, refresh, expiry, removal of one and of all contacts,
//! NAT, refusals.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use callrec_kazoo::directory::Directory;
use callrec_sip::auth::{
    digest_response, Algorithm, DigestAuth, DigestConfig, DigestInput, QopInput,
};
use callrec_sip::message::{AuthHeader, HeaderName, Message, Uri};
use callrec_sip::registrar::{
    handle_register, Aor, ContactUpdate, RegisterError, Registrar, RegistrarConfig,
};
use callrec_sip::transaction::{Peer, Transport};
use serde_json::json;

fn directory() -> Directory {
    Directory::build(vec![
        (
            "account.json".into(),
            json!({"_id": "acc", "pvt_type": "account", "name": "A", "realm": "example.com"}),
        ),
        (
            "devices/1001.json".into(),
            json!({"_id": "dev-1001", "pvt_type": "device", "name": "1001",
                   "sip": {"username": "1001", "password": "secret"}}),
        ),
        (
            "devices/1002.json".into(),
            json!({"_id": "dev-1002", "pvt_type": "device", "name": "1002",
                   "sip": {"username": "1002", "password": "other"}}),
        ),
    ])
    .expect("valid documents")
}

/// A phone behind NAT: its Contact says 192.168.1.10:5062, its packets come from
/// 203.0.113.5:40000.
fn nat_peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "203.0.113.5:40000".parse::<SocketAddr>().unwrap(),
    }
}

/// A test world: registrar, directory, authenticator and clock.
struct World {
    reg: Registrar,
    dir: Directory,
    auth: DigestAuth,
    now: Instant,
    cseq: u32,
    nc: u32,
    challenge: Option<AuthHeader>,
}

impl World {
    fn new() -> World {
        let now = Instant::now();
        World {
            reg: Registrar::new(RegistrarConfig::default()),
            dir: directory(),
            auth: DigestAuth::with_key(DigestConfig::default(), now, [9; 32]),
            now,
            cseq: 0,
            nc: 0,
            challenge: None,
        }
    }

    /// A REGISTER for `user` with these Contact values and optional Expires, answering the
    /// last challenge if any with `password`.
    fn request(
        &mut self,
        user: &str,
        password: &str,
        contacts: &[&str],
        expires: Option<u32>,
    ) -> Message {
        self.cseq += 1;
        let mut text = format!(
            "REGISTER sip:10.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.168.1.10:5062;branch=z9hG4bKr{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@10.0.0.1>;tag=reg1\r\n\
             To: <sip:{user}@10.0.0.1>\r\n\
             Call-ID: reg-{user}@192.168.1.10\r\n\
             CSeq: {cseq} REGISTER\r\n",
            cseq = self.cseq
        );
        for c in contacts {
            text.push_str(&format!("Contact: {c}\r\n"));
        }
        if let Some(e) = expires {
            text.push_str(&format!("Expires: {e}\r\n"));
        }
        if let Some(ch) = &self.challenge {
            self.nc += 1;
            let nc = format!("{:08x}", self.nc);
            let algorithm: Algorithm = ch.get("algorithm").unwrap().parse().unwrap();
            let (realm, nonce) = (ch.get("realm").unwrap(), ch.get("nonce").unwrap());
            let response = digest_response(
                &DigestInput {
                    algorithm,
                    username: user,
                    realm,
                    method: "REGISTER",
                    uri: "sip:10.0.0.1",
                    nonce,
                    qop: Some(QopInput {
                        qop: "auth",
                        nc: &nc,
                        cnonce: "c0ffee",
                    }),
                },
                password,
            );
            let creds = AuthHeader::new("Digest")
                .with("username", user, true)
                .with("realm", realm, true)
                .with("nonce", nonce, true)
                .with("uri", "sip:10.0.0.1", true)
                .with("response", &response, true)
                .with("algorithm", algorithm.as_str(), false)
                .with("qop", "auth", false)
                .with("nc", &nc, false)
                .with("cnonce", "c0ffee", true);
            text.push_str(&format!("Authorization: {creds}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        Message::parse_slice(text.as_bytes()).expect("test REGISTER parses")
    }

    fn send(&mut self, req: &Message) -> Message {
        let resp = handle_register(
            &mut self.reg,
            &self.dir,
            &mut self.auth,
            self.now,
            nat_peer(),
            req,
        );
        // Responses we build must survive the wire.
        Message::parse(resp.to_bytes()).expect("response parses")
    }

    /// Sends a REGISTER; on 401 remembers the challenge and sends it again with credentials.
    fn register(
        &mut self,
        user: &str,
        password: &str,
        contacts: &[&str],
        expires: Option<u32>,
    ) -> Message {
        let req = self.request(user, password, contacts, expires);
        let resp = self.send(&req);
        if resp.status() != Some(401) {
            return resp;
        }
        self.challenge = resp.www_authenticate().unwrap().into_iter().next();
        self.nc = 0;
        let req = self.request(user, password, contacts, expires);
        self.send(&req)
    }

    fn contacts_of(&self, user: &str) -> Vec<(String, u64, Peer)> {
        self.reg
            .lookup("example.com", user, self.now)
            .into_iter()
            .map(|b| (b.contact.to_string(), b.expires_in(self.now), b.source))
            .collect()
    }
}

fn contact_values(resp: &Message) -> Vec<String> {
    resp.header_values(HeaderName::Contact)
        .into_iter()
        .map(|v| v.into_owned())
        .collect()
}

#[test]
fn first_register_is_challenged_with_md5_alone_in_the_account_realm() {
    let mut w = World::new();
    let req = w.request("1001", "secret", &["<sip:1001@192.168.1.10:5062>"], None);
    let resp = w.send(&req);
    assert_eq!(resp.status(), Some(401));
    assert!(resp.to().unwrap().tag().is_some());
    let chs = resp.www_authenticate().unwrap();
    assert_eq!(chs.len(), 1);
    assert_eq!(chs[0].get("algorithm"), Some("MD5"));
    assert_eq!(chs[0].get("realm"), Some("example.com"));
    assert_eq!(chs[0].get("qop"), Some("auth"));
    assert!(w.reg.is_empty());
}

#[test]
fn full_lifecycle_register_refresh_expire_unregister_one_and_all() {
    let mut w = World::new();
    let resp = w.register(
        "1001",
        "secret",
        &["<sip:1001@192.168.1.10:5062>"],
        Some(600),
    );
    assert_eq!(resp.status(), Some(200));
    assert_eq!(
        contact_values(&resp),
        ["<sip:1001@192.168.1.10:5062>;expires=600"]
    );
    // NAT: the binding keeps the address the REGISTER came from.
    assert_eq!(
        w.contacts_of("1001"),
        [("sip:1001@192.168.1.10:5062".to_owned(), 600, nat_peer())]
    );
    assert_eq!(w.reg.poll_timeout(), Some(w.now + Duration::from_secs(600)));

    // Refresh 500 s later (same Call-ID, next CSeq, next nc): still one binding, renewed.
    w.now += Duration::from_secs(250);
    let resp = w.register(
        "1001",
        "secret",
        &["<sip:1001@192.168.1.10:5062>"],
        Some(600),
    );
    assert_eq!(resp.status(), Some(200), "{resp:?}");
    assert_eq!(w.reg.len(), 1);
    assert_eq!(w.contacts_of("1001")[0].1, 600);

    // A second contact by its own expires parameter.
    let resp = w.register(
        "1001",
        "secret",
        &["<sip:1001@192.168.1.10:5064>;expires=120"],
        None,
    );
    assert_eq!(resp.status(), Some(200));
    let mut listed = contact_values(&resp);
    listed.sort();
    assert_eq!(
        listed,
        [
            "<sip:1001@192.168.1.10:5062>;expires=600",
            "<sip:1001@192.168.1.10:5064>;expires=120"
        ]
    );

    // The fake clock passes the second one's expiry: the driver's timer fires.
    let deadline = w.reg.poll_timeout().unwrap();
    assert_eq!(deadline, w.now + Duration::from_secs(120));
    w.now = deadline;
    assert_eq!(w.reg.expire(w.now), 1);
    assert_eq!(w.contacts_of("1001").len(), 1);

    // Add it back, then remove just that one with Expires: 0.
    w.register(
        "1001",
        "secret",
        &["<sip:1001@192.168.1.10:5064>"],
        Some(300),
    );
    assert_eq!(w.contacts_of("1001").len(), 2);
    let resp = w.register("1001", "secret", &["<sip:1001@192.168.1.10:5064>"], Some(0));
    assert_eq!(resp.status(), Some(200));
    assert_eq!(contact_values(&resp).len(), 1);
    assert_eq!(w.contacts_of("1001")[0].0, "sip:1001@192.168.1.10:5062");

    // `*` with Expires: 0 removes everything.
    let resp = w.register("1001", "secret", &["*"], Some(0));
    assert_eq!(resp.status(), Some(200));
    assert!(contact_values(&resp).is_empty());
    assert!(w.reg.is_empty());
    assert_eq!(w.reg.poll_timeout(), None);
}

#[test]
fn wrong_password_gets_403_and_no_binding() {
    let mut w = World::new();
    let resp = w.register("1001", "guess", &["<sip:1001@192.168.1.10:5062>"], None);
    assert_eq!(resp.status(), Some(403));
    assert!(w.reg.is_empty());
    assert_eq!(w.reg.refused(), 1);
}

#[test]
fn registering_someone_elses_address_is_forbidden() {
    let mut w = World::new();
    // Authenticate as 1002 but put 1001 in To: build by hand.
    let req = w.request("1001", "x", &["<sip:1001@192.168.1.10:5062>"], None);
    let resp = w.send(&req);
    w.challenge = resp.www_authenticate().unwrap().into_iter().next();
    let req = w.request("1002", "other", &["<sip:1002@192.168.1.10:5062>"], None);
    let text = String::from_utf8(req.to_bytes().to_vec())
        .unwrap()
        .replace("To: <sip:1002@10.0.0.1>", "To: <sip:1001@10.0.0.1>");
    let req = Message::parse_slice(text.as_bytes()).unwrap();
    assert_eq!(w.send(&req).status(), Some(403));
    assert!(w.reg.is_empty());
}

#[test]
fn expiry_below_the_minimum_gets_423_with_min_expires() {
    let mut w = World::new();
    let resp = w.register(
        "1001",
        "secret",
        &["<sip:1001@192.168.1.10:5062>"],
        Some(30),
    );
    assert_eq!(resp.status(), Some(423));
    assert_eq!(resp.min_expires().unwrap(), Some(60));
    assert!(w.reg.is_empty());
}

#[test]
fn long_expiry_is_shortened_to_the_maximum_and_none_gets_the_default() {
    let mut w = World::new();
    let resp = w.register(
        "1001",
        "secret",
        &["<sip:1001@192.168.1.10:5062>"],
        Some(86_400),
    );
    assert_eq!(
        contact_values(&resp),
        ["<sip:1001@192.168.1.10:5062>;expires=3600"]
    );
    let mut w = World::new();
    let resp = w.register("1001", "secret", &["<sip:1001@192.168.1.10:5062>"], None);
    assert_eq!(
        contact_values(&resp),
        ["<sip:1001@192.168.1.10:5062>;expires=3600"]
    );
}

#[test]
fn star_with_nonzero_expires_is_a_bad_request() {
    let mut w = World::new();
    let resp = w.register("1001", "secret", &["*"], Some(60));
    assert_eq!(resp.status(), Some(400));
}

#[test]
fn register_without_contacts_lists_the_bindings() {
    let mut w = World::new();
    w.register(
        "1001",
        "secret",
        &["<sip:1001@192.168.1.10:5062>"],
        Some(600),
    );
    w.now += Duration::from_secs(100);
    let resp = w.register("1001", "secret", &[], None);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(
        contact_values(&resp),
        ["<sip:1001@192.168.1.10:5062>;expires=500"]
    );
}

#[test]
fn expired_nonce_is_rechallenged_as_stale() {
    let mut w = World::new();
    w.register(
        "1001",
        "secret",
        &["<sip:1001@192.168.1.10:5062>"],
        Some(600),
    );
    w.now += Duration::from_secs(400);
    let req = w.request(
        "1001",
        "secret",
        &["<sip:1001@192.168.1.10:5062>"],
        Some(600),
    );
    let resp = w.send(&req);
    assert_eq!(resp.status(), Some(401));
    assert_eq!(
        resp.www_authenticate().unwrap()[0].get("stale"),
        Some("true")
    );
}

fn uri(s: &str) -> Uri {
    Uri::parse(s).unwrap()
}

#[test]
fn table_refuses_an_out_of_order_cseq_for_the_same_call_id() {
    let t0 = Instant::now();
    let mut reg = Registrar::new(RegistrarConfig::default());
    let aor = Aor::new("Example.com", "1001");
    let c = [ContactUpdate::One {
        uri: uri("sip:1001@192.0.2.1"),
        expires: None,
    }];
    reg.update(t0, &aor, nat_peer(), "cid", 5, &c, Some(600))
        .unwrap();
    assert_eq!(
        reg.update(t0, &aor, nat_peer(), "cid", 5, &c, Some(600)),
        Err(RegisterError::OutOfOrder)
    );
    // Another Call-ID (the phone rebooted) may replace it whatever its CSeq.
    assert!(reg
        .update(t0, &aor, nat_peer(), "cid2", 1, &c, Some(600))
        .is_ok());
    assert_eq!(reg.lookup("example.com", "1001", t0).len(), 1);
}

#[test]
fn table_keeps_at_most_max_contacts_dropping_the_soonest_to_expire() {
    let t0 = Instant::now();
    let mut reg = Registrar::new(RegistrarConfig {
        max_contacts: 2,
        ..RegistrarConfig::default()
    });
    let aor = Aor::new("example.com", "1001");
    for (i, e) in [(1, 900), (2, 300), (3, 600)] {
        let c = [ContactUpdate::One {
            uri: uri(&format!("sip:1001@192.0.2.{i}")),
            expires: Some(e),
        }];
        reg.update(t0, &aor, nat_peer(), "cid", i, &c, None)
            .unwrap();
    }
    let mut left: Vec<String> = reg
        .bindings(&aor, t0)
        .iter()
        .map(|b| b.contact.to_string())
        .collect();
    left.sort();
    assert_eq!(left, ["sip:1001@192.0.2.1", "sip:1001@192.0.2.3"]);
}

#[test]
fn a_refused_update_changes_nothing() {
    let t0 = Instant::now();
    let mut reg = Registrar::new(RegistrarConfig::default());
    let aor = Aor::new("example.com", "1001");
    let c = [
        ContactUpdate::One {
            uri: uri("sip:1001@192.0.2.1"),
            expires: Some(600),
        },
        ContactUpdate::One {
            uri: uri("sip:1001@192.0.2.2"),
            expires: Some(10),
        },
    ];
    assert_eq!(
        reg.update(t0, &aor, nat_peer(), "cid", 1, &c, None),
        Err(RegisterError::IntervalTooBrief { min_expires: 60 })
    );
    assert!(reg.is_empty());
    assert_eq!(
        reg.update(
            t0,
            &aor,
            nat_peer(),
            "cid",
            2,
            &[ContactUpdate::All, c[0].clone()],
            Some(0)
        ),
        Err(RegisterError::InvalidStar)
    );
}

#[test]
fn timer_never_fires_late_and_an_early_wakeup_expires_nothing() {
    let t0 = Instant::now();
    let mut reg = Registrar::new(RegistrarConfig::default());
    let aor = Aor::new("example.com", "1001");
    let c = |e: u32| {
        [ContactUpdate::One {
            uri: uri("sip:1001@192.0.2.1"),
            expires: Some(e),
        }]
    };
    reg.update(t0, &aor, nat_peer(), "cid", 1, &c(120), None)
        .unwrap();
    reg.update(t0, &aor, nat_peer(), "cid", 2, &c(600), None)
        .unwrap();
    let wake = reg.poll_timeout().unwrap();
    assert!(wake <= t0 + Duration::from_secs(600));
    assert_eq!(reg.expire(wake), 0);
    assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(600)));
    assert_eq!(reg.expire(t0 + Duration::from_secs(600)), 1);
    assert_eq!(reg.poll_timeout(), None);
    assert!(reg.is_empty());
}

#[test]
fn reload_drops_bindings_of_deleted_or_disabled_devices() {
    let mut w = World::new();
    w.register(
        "1001",
        "secret",
        &["<sip:1001@192.168.1.10:5062>"],
        Some(600),
    );
    w.challenge = None;
    let resp = w.register(
        "1002",
        "other",
        &["<sip:1002@192.168.1.11:5062>"],
        Some(600),
    );
    assert_eq!(resp.status(), Some(200), "{resp:?}");
    assert_eq!(w.reg.len(), 2);
    let d = w.dir.device("dev-1002").unwrap().clone();
    assert_eq!(w.reg.lookup(&d.sip.realm, &d.sip.username, w.now).len(), 1);
    // The new documents disable 1002 and delete nothing else.
    let reloaded = Directory::build(vec![
        (
            "account.json".into(),
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
                   "sip": {"username": "1002", "password": "other"}}),
        ),
    ])
    .unwrap();
    let enabled = |aor: &callrec_sip::registrar::Aor| {
        reloaded
            .device_by_sip(&aor.realm, &aor.username)
            .is_some_and(|d| d.enabled)
    };
    assert_eq!(w.reg.retain_known(enabled), 1);
    assert_eq!(w.contacts_of("1001").len(), 1);
    assert!(w.contacts_of("1002").is_empty());
}

mod invariants {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Register {
            aor: u8,
            contact: u8,
            expires: Option<u32>,
            header: Option<u32>,
        },
        Star {
            aor: u8,
        },
        Advance(u16),
        Expire,
    }

    fn op() -> impl Strategy<Value = Op> {
        let exp = prop_oneof![Just(None), (0u32..5000).prop_map(Some)];
        prop_oneof![
            4 => (0u8..3, 0u8..5, exp.clone(), exp).prop_map(|(aor, contact, expires, header)| {
                Op::Register { aor, contact, expires, header }
            }),
            1 => (0u8..3).prop_map(|aor| Op::Star { aor }),
            2 => (0u16..4000).prop_map(Op::Advance),
            1 => Just(Op::Expire),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn bindings_stay_unique_bounded_within_limits_and_the_timer_is_never_late(
            ops in prop::collection::vec(op(), 1..40)
        ) {
            let cfg = RegistrarConfig { max_contacts: 3, ..RegistrarConfig::default() };
            let mut reg = Registrar::new(cfg);
            let t0 = Instant::now();
            let mut now = t0;
            let mut cseq = 0u32;
            for op in ops {
                cseq += 1;
                match op {
                    Op::Register { aor, contact, expires, header } => {
                        let c = [ContactUpdate::One {
                            uri: uri(&format!("sip:u@192.0.2.{contact}")),
                            expires,
                        }];
                        let aor = Aor::new("example.com", &format!("u{aor}"));
                        let res = reg.update(now, &aor, nat_peer(), "cid", cseq, &c, header);
                        let asked = expires.or(header).unwrap_or(cfg.default_expires);
                        let too_brief = asked > 0 && asked < cfg.min_expires;
                        prop_assert_eq!(res.is_err(), too_brief);
                    }
                    Op::Star { aor } => {
                        let aor = Aor::new("example.com", &format!("u{aor}"));
                        reg.update(now, &aor, nat_peer(), "cid", cseq, &[ContactUpdate::All], Some(0)).unwrap();
                        prop_assert!(reg.bindings(&aor, now).is_empty());
                    }
                    Op::Advance(s) => now += Duration::from_secs(u64::from(s)),
                    Op::Expire => {
                        reg.expire(now);
                    }
                }
                for a in 0..3u8 {
                    let aor = Aor::new("example.com", &format!("u{a}"));
                    let live = reg.bindings(&aor, now);
                    prop_assert!(live.len() <= cfg.max_contacts);
                    let mut uris: Vec<_> = live.iter().map(|b| b.contact.to_string()).collect();
                    uris.sort();
                    uris.dedup();
                    prop_assert_eq!(uris.len(), live.len());
                    for b in live {
                        prop_assert!(b.expires_in(now) <= u64::from(cfg.max_expires));
                        let wake = reg.poll_timeout();
                        prop_assert!(wake.is_some_and(|w| w <= b.expires_at));
                    }
                }
            }
        }
    }
}
