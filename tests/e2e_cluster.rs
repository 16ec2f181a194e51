//! callrec nodes behind the reference Kamailio edge (`deploy/kamailio/kamailio.cfg`), through
//! real processes: Debian's Kamailio 5.6 on 127.0.0.1, callrec on PostgreSQL (a fresh database
//! on the harness's server), SIPp phones (one registering with an unreachable private Contact,
//! so a delivered call proves the NAT path), a carrier, and an S3-compatible server.
//!
//! Needs kamailio, kamailio-postgres-modules, sipp, PostgreSQL's server binaries and s3s-fs;
//! `tests/run.sh` installs them.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use support::callrec::{Callrec, Options};
use support::kamailio::{Kamailio, Node};
use support::net::{self, PHONES_IP, STRANGER_IP};
use support::phones::received_invite_call_ids;
use support::sipp::{credentials, Outcome, Sipp, SippProcess};

/// The example account's realm: phones' addresses of record are `<username>@<realm>`.
const REALM: &str = "demo.callrec.local";
/// Where the NAT phone claims to be: a private address nobody can reach.
const PRIVATE_CONTACT: &str = "10.255.0.1:5060";

/// A phone of the example account (plus 1003, added by [`nat_phone_device`]).
struct Phone {
    ext: &'static str,
    password: String,
    port: u16,
    media: u16,
}

impl Phone {
    fn new(ext: &'static str, password: &str) -> Phone {
        Phone {
            ext,
            password: password.to_owned(),
            port: net::free_port(PHONES_IP),
            media: net::free_port_pair(PHONES_IP),
        }
    }

    /// REGISTER through the edge (register.xml, or register_nat.xml with the private Contact).
    fn register(&self, edge: &Kamailio, password: &str, nat: bool) -> Outcome {
        let (scenario, contact) = if nat {
            ("register_nat.xml", PRIVATE_CONTACT)
        } else {
            ("register.xml", "")
        };
        Sipp::new(
            &format!("register-{}-{}", self.ext, unique()),
            scenario,
            edge.dir.path(),
        )
        .csv(&[&[self.ext, &credentials(self.ext, password), contact]])
        .local(PHONES_IP, self.port)
        .target(edge.sip)
        .timeout_s(15)
        .run()
    }

    /// Answers `calls` calls on its registered address (edge_phone_uas.xml, echoing RTP); the
    /// NAT phone puts its private address in its Contact too.
    fn answer(&self, edge: &Kamailio, calls: u64, nat: bool) -> SippProcess {
        let contact = if nat {
            PRIVATE_CONTACT.to_owned()
        } else {
            format!("{PHONES_IP}:{}", self.port)
        };
        Sipp::new(
            &format!("{}-answers-{}", self.ext, unique()),
            "edge_phone_uas.xml",
            edge.dir.path(),
        )
        .local(PHONES_IP, self.port)
        .media_port(self.media)
        .rtp_echo()
        .key("contact", &contact)
        .calls(calls)
        .timeout_s(90)
        .spawn()
    }
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Device 1003 (no owner), the phone that registers from behind NAT, and its callflow.
fn nat_phone_device(docs: &mut support::callrec::Documents) {
    docs.add(
        "device-1003",
        json!({
            "_id": "device-1003", "pvt_type": "device", "account_id": "demo",
            "name": "Phone behind NAT", "enabled": true,
            "sip": {"method": "password", "username": "1003", "password": "demo-1003"}
        }),
    );
    docs.add(
        "callflow-1003",
        json!({
            "_id": "callflow-1003", "pvt_type": "callflow", "account_id": "demo",
            "numbers": ["1003"],
            "flow": {"module": "device", "data": {"id": "device-1003"}, "children": {}}
        }),
    );
}

/// The Crossbar API of one node, logged in with the example's API key.
struct Api {
    base: String,
    token: String,
}

impl Api {
    fn login(callrec: &Callrec) -> Api {
        let base = format!("http://{}", callrec.api);
        let (status, v) = http(
            "PUT",
            &format!("{base}/v2/api_auth"),
            None,
            Some(&json!({"data": {"api_key": "demo-api-key"}})),
        );
        assert_eq!(status, 201, "{v}");
        Api {
            base,
            token: v["auth_token"].as_str().expect("auth_token").to_owned(),
        }
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        http(
            method,
            &format!("{}{path}", self.base),
            Some(&self.token),
            body,
        )
    }
}

fn http(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(20));
    if let Some(t) = token {
        req = req.set("X-Auth-Token", t);
    }
    let result = match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The contacts the edge holds for `user` (`kamcmd ul.lookup`), as printed.
fn location(edge: &Kamailio, user: &str) -> String {
    let out = std::process::Command::new("/usr/sbin/kamcmd")
        .arg("-s")
        .arg(format!(
            "unix:{}",
            edge.dir.path().join("ctl.sock").display()
        ))
        .args(["ul.lookup", "location", &format!("{user}@{REALM}")])
        .output()
        .expect("kamcmd");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A fake node (SIPp on `addr`, listed in the edge's dispatcher) calls phone `ext` through
/// the edge: the edge's location lookup and NAT handling, without a callrec node.
fn call_phone_as_node(edge: &Kamailio, node: SocketAddr, ext: &str) -> Outcome {
    let ip = match node.ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => unreachable!("loopback v4"),
    };
    Sipp::new(
        &format!("node-calls-{ext}-{}", unique()),
        "node_uac.xml",
        edge.dir.path(),
    )
    .csv(&[&["15550199", ext, REALM]])
    .local(ip, node.port())
    .media_port(net::free_port_pair(ip))
    .out_of_call("options_uas.xml")
    .hold_ms(300)
    .target(edge.sip)
    .timeout_s(30)
    .run()
}

/// Items 1 and 5 of issue 16: phones register through Kamailio against callrec's documents
/// (auth_db on the `subscriber` view), a password changed through callrec's API applies at the
/// next REGISTER, a phone with a private unreachable Contact is reached at the address it
/// registered from, and registrations survive a Kamailio restart (usrloc db_mode 1 on
/// PostgreSQL): a phone is called after the restart without registering again.
#[test]
fn phones_register_through_kamailio_against_callrec_documents_and_survive_its_restart() {
    let _serial = support::serial();
    let cluster = callrec_store::testing::shared_cluster()
        .unwrap_or_else(|e| panic!("PostgreSQL for the cluster tests: {e}"));
    let url = cluster.create_database().expect("database");
    // callrec migrates the database (views + Kamailio's tables) and imports the documents.
    let callrec = Callrec::start(Options::default().store(&url).edit(nat_phone_device));
    // A SIPp standing in for a node: it calls phones through the edge.
    let fake_node = net::addr(STRANGER_IP, net::free_port(STRANGER_IP));
    let mut edge = Kamailio::start(
        &url,
        &[Node {
            sip: fake_node,
            id: "fake-node".into(),
        }],
    );

    let p1001 = Phone::new("1001", "demo-1001");
    let p1003 = Phone::new("1003", "demo-1003");
    p1001.register(&edge, &p1001.password, false).assert_ok(1);
    p1003.register(&edge, &p1003.password, true).assert_ok(1);
    let loc = location(&edge, "1001");
    assert!(
        loc.contains(&format!("{PHONES_IP}:{}", p1001.port)),
        "1001's contact: {loc}"
    );
    let loc = location(&edge, "1003");
    assert!(loc.contains(PRIVATE_CONTACT), "1003's contact: {loc}");
    assert!(
        loc.contains(&format!("sip:{PHONES_IP}:{}", p1003.port)),
        "1003's received address (fix_nated_register): {loc}"
    );

    // A wrong password is refused.
    let wrong = p1001.register(&edge, "not-the-password", false);
    assert!(!wrong.status.success(), "a wrong password registered");
    assert!(
        wrong.messages.contains("SIP/2.0 403"),
        "a wrong password gets 403: {}",
        support::callrec::tail(&wrong.messages, 30)
    );

    // The API changes 1001's password: the next REGISTER needs the new one.
    let api = Api::login(&callrec);
    let (status, v) = api.send(
        "PATCH",
        "/v2/accounts/demo/devices/device-1001",
        Some(&json!({"data": {"sip": {"password": "changed-1001"}}})),
    );
    assert_eq!(status, 200, "{v}");
    let old = p1001.register(&edge, "demo-1001", false);
    assert!(!old.status.success(), "the old password still registers");
    p1001.register(&edge, "changed-1001", false).assert_ok(1);

    // The NAT phone is reached at the address it registered from, not its private Contact.
    let answer = p1003.answer(&edge, 1, true);
    call_phone_as_node(&edge, fake_node, "1003").assert_ok(1);
    let answered = answer.wait();
    answered.assert_ok(1);
    assert_eq!(received_invite_call_ids(&answered.messages).len(), 1);

    // Kamailio restarts: the registrations come back from PostgreSQL.
    edge.restart();
    let loc = location(&edge, "1003");
    assert!(
        loc.contains(PRIVATE_CONTACT) && loc.contains(&format!("sip:{PHONES_IP}:{}", p1003.port)),
        "1003 after the restart: {loc}"
    );
    assert!(
        location(&edge, "1001").contains(&format!("{PHONES_IP}:{}", p1001.port)),
        "1001 after the restart"
    );
    let answer = p1003.answer(&edge, 1, true);
    call_phone_as_node(&edge, fake_node, "1003").assert_ok(1);
    answer.wait().assert_ok(1);
    // An unknown user is not found.
    let unknown = call_phone_as_node(&edge, fake_node, "1099");
    assert!(!unknown.status.success());
    assert!(
        unknown.messages.contains("SIP/2.0 480"),
        "{}",
        support::callrec::tail(&unknown.messages, 20)
    );
    drop((edge, callrec));
}
