//! callrec nodes behind the reference Kamailio edge (`deploy/kamailio/kamailio.cfg`), through
//! real processes: Debian's Kamailio 5.6 on 127.0.0.1, callrec on PostgreSQL (a fresh database
//! on the harness's server), SIPp phones (one registering with an unreachable private Contact,
//! so a delivered call proves the NAT path), a carrier, and an S3-compatible server.
//!
//! Needs kamailio, kamailio-postgres-modules, sipp, PostgreSQL's server binaries and s3s-fs;
//! `tests/run.sh` installs them.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::callrec::{Callrec, Options};
use support::http::Api;
use support::kamailio::{Kamailio, Node};
use support::net::{self, PHONES_IP, STRANGER_IP};
use support::phones::received_invite_call_ids;
use support::s3::{S3Credentials, S3Server};
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
    fn answer(&self, edge: &Kamailio, calls: u64, nat: bool, timeout_s: u64) -> SippProcess {
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
        .timeout_s(timeout_s)
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
    let answer = p1003.answer(&edge, 1, true, 30);
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
    let answer = p1003.answer(&edge, 1, true, 30);
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

// ---------------------------------------------------------------------------------------------
// Three nodes behind the edge (items 2, 3, 4, 6 and the figures of 7).

const S3_KEY: &str = "callrec-cluster-key";
const S3_SECRET: &str = "callrec-cluster-secret-7d1e";
const BUCKET: &str = "recordings";
const CREDS: S3Credentials = S3Credentials {
    access_key: S3_KEY,
    secret: S3_SECRET,
    bucket: BUCKET,
};
/// The carrier of this test: an address that is neither the edge, a node nor a phone.
const CARRIER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 5);
const NODE_IPS: [std::net::Ipv4Addr; 3] = [
    std::net::Ipv4Addr::new(127, 0, 0, 2),
    std::net::Ipv4Addr::new(127, 0, 0, 3),
    std::net::Ipv4Addr::new(127, 0, 0, 4),
];
const NODE_IDS: [&str; 3] = ["node-a", "node-b", "node-c"];
/// The DID of the example account (a callflow to user 1001, whose phone answers).
const DID: &str = "+15550100";

fn wait_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out ({limit:?}) waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Options of node `i`: SIP and media on its own address, `[cluster]` trusting the edge, the
/// shared database and the cluster bucket, short upload retries.
fn node_options(i: usize, url: &str, edge: SocketAddr, s3: &S3Server) -> Options {
    let ip = NODE_IPS[i];
    let mut cluster = toml::Table::new();
    cluster.insert("node_id".into(), NODE_IDS[i].into());
    cluster.insert(
        "edge".into(),
        toml::Value::Array(vec![edge.to_string().into()]),
    );
    let mut storage = toml::Table::new();
    storage.insert("endpoint".into(), s3.endpoint().into());
    storage.insert("bucket".into(), BUCKET.into());
    storage.insert("region".into(), "us-east-1".into());
    storage.insert("access_key".into(), S3_KEY.into());
    storage.insert("secret_key".into(), S3_SECRET.into());
    cluster.insert("storage".into(), toml::Value::Table(storage));
    let options = Options::default()
        .store(url)
        .sip_ip(ip)
        .config("media", "relay_ip", ip.to_string().into())
        .config("upload", "initial_backoff_s", 1.into())
        .config("upload", "max_backoff_s", 2.into())
        .edit_config(move |c| {
            c.insert("cluster".into(), toml::Value::Table(cluster));
        });
    if i > 0 {
        return options;
    }
    // The first node imports the documents: the carrier on CARRIER, its inbound calls recorded
    // into the cluster bucket (no url), and the NAT phone 1003.
    options.edit(|docs| {
        nat_phone_device(docs);
        for r in docs.of_kind(support::callrec::Kind::Resource) {
            for g in r["gateways"].as_array_mut().into_iter().flatten() {
                g["server"] = json!(CARRIER.to_string());
            }
            r["origination_cidrs"] = json!([format!("{CARRIER}/32")]);
        }
        let rule = &mut docs.account()["call_recording"]["account"]["inbound"]["offnet"];
        rule.as_object_mut()
            .expect("the example's rule")
            .remove("url");
    })
}

/// `calls` calls from the carrier (recognised by its address, from a port of its own for each
/// run) through the edge to the DID (1001's phone answers).
fn carrier_calls(edge: &Kamailio, calls: u64, rate: u64, hold_ms: u64, audio: bool) -> Sipp {
    let scenario = if audio {
        "carrier_rec_uac.xml"
    } else {
        "edge_carrier_uac.xml"
    };
    Sipp::new(&format!("carrier-{}", unique()), scenario, edge.dir.path())
        .csv(&[&["15550123", DID]])
        .local(CARRIER, net::free_port(CARRIER))
        .media_port(net::free_port_pair(CARRIER))
        .calls(calls)
        .rate(rate)
        .limit(200)
        .hold_ms(hold_ms)
        .target(edge.sip)
        .no_message_trace()
        .timeout_s(120)
}

/// A metric's value (first sample, labels ignored) from a node's /metrics.
fn metric(node: &Callrec, name: &str) -> f64 {
    let (_, text) = raw_get(&format!("http://{}/metrics", node.api));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn raw_get(url: &str) -> (u16, String) {
    match ureq::get(url).timeout(Duration::from_secs(10)).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// Every CDR in the shared store (any node's API), by paging.
fn all_cdrs(api: &Api) -> Vec<Value> {
    let mut out = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let path = match &start {
            Some(k) => format!("/v2/accounts/demo/cdrs?page_size=500&start_key={k}"),
            None => "/v2/accounts/demo/cdrs?page_size=500".to_owned(),
        };
        let (status, v) = api.send("GET", &path, None);
        assert_eq!(status, 200, "{v}");
        out.extend(v["data"].as_array().cloned().unwrap_or_default());
        match v["next_start_key"].as_str() {
            Some(k) => start = Some(k.to_owned()),
            None => return out,
        }
    }
}

/// Every recording's metadata in the shared store.
fn all_recordings(api: &Api) -> Vec<Value> {
    let (status, v) = api.send("GET", "/v2/accounts/demo/recordings?page_size=1000", None);
    assert_eq!(status, 200, "{v}");
    v["data"].as_array().cloned().unwrap_or_default()
}

fn count_by_node(items: &[Value]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for item in items {
        let id = item["node_id"].as_str().unwrap_or("<none>").to_owned();
        match out.iter_mut().find(|(n, _)| *n == id) {
            Some((_, c)) => *c += 1,
            None => out.push((id, 1)),
        }
    }
    out.sort();
    out
}

/// Items 2, 3, 4, 6 of issue 16 (and the figures of 7, printed): three callrec nodes on
/// 127.0.0.2-4 behind the edge share one PostgreSQL database and one bucket.
#[test]
fn three_nodes_behind_kamailio_share_calls_survive_a_kill_and_serve_each_others_recordings() {
    let _serial = support::serial();
    let cluster = callrec_store::testing::shared_cluster()
        .unwrap_or_else(|e| panic!("PostgreSQL for the cluster tests: {e}"));
    let url = cluster.create_database().expect("database");
    let s3 = S3Server::start(CREDS);
    let edge_addr = net::addr(PHONES_IP, net::free_port(PHONES_IP));
    let mut nodes: Vec<Callrec> = (0..3)
        .map(|i| Callrec::start(node_options(i, &url, edge_addr, &s3)))
        .collect();
    let listed: Vec<Node> = nodes
        .iter()
        .zip(NODE_IDS)
        .map(|(n, id)| Node {
            sip: n.sip,
            id: id.into(),
        })
        .collect();
    let edge = Kamailio::start_on(edge_addr, &url, &listed);
    let api_a = Api::login(&nodes[0]);
    wait_until(
        Duration::from_secs(20),
        "every node up in the dispatcher",
        || edge.nodes().iter().all(|n| n.is_up()).then_some(()),
    );

    // Phones: 1001 answers every call of the test; 1003 is behind NAT.
    let p1001 = Phone::new("1001", "demo-1001");
    let p1002 = Phone::new("1002", "demo-1002");
    let p1003 = Phone::new("1003", "demo-1003");
    p1001.register(&edge, &p1001.password, false).assert_ok(1);
    p1003.register(&edge, &p1003.password, true).assert_ok(1);
    let _answering = p1001.answer(&edge, 1000, false, 600);

    // (2) 30 calls from the carrier, spread over the nodes by the dispatcher.
    carrier_calls(&edge, 30, 10, 500, false).run().assert_ok(30);
    let cdrs = wait_until(Duration::from_secs(30), "the 30 calls' CDRs", || {
        let c = all_cdrs(&api_a);
        (c.len() >= 60).then_some(c)
    });
    let per_node = count_by_node(&cdrs);
    eprintln!("CDR legs per node after 30 calls: {per_node:?}");
    for id in NODE_IDS {
        assert!(
            per_node.iter().any(|(n, c)| n == id && *c > 0),
            "{id} took no call: {per_node:?}"
        );
    }
    for c in &cdrs {
        let node = c["node_id"].as_str().unwrap_or_default();
        assert!(NODE_IDS.contains(&node), "a CDR without its node_id: {c}");
        assert_eq!(c["media_server"], node, "{c}");
    }
    let recordings = wait_until(Duration::from_secs(30), "the 30 recordings", || {
        let r = all_recordings(&api_a);
        (r.len() >= 30).then_some(r)
    });
    for r in &recordings {
        assert!(
            NODE_IDS.contains(&r["node_id"].as_str().unwrap_or_default()),
            "a recording without its node_id: {r}"
        );
    }
    eprintln!("recordings per node: {:?}", count_by_node(&recordings));

    // A phone calls a phone through the edge: the node takes the caller from X-AUTH-*.
    let call = Sipp::new("1002-calls-1003", "edge_phone_uac.xml", edge.dir.path())
        .csv(&[&["1002", &credentials("1002", "demo-1002"), "1003"]])
        .auth_uri("1003", edge.sip)
        .local(PHONES_IP, p1002.port)
        .media_port(p1002.media)
        .hold_ms(300)
        .target(edge.sip);
    let nat_answer = p1003.answer(&edge, 1, true, 30);
    call.run().assert_ok(1);
    nat_answer.wait().assert_ok(1);

    // A carrier forging X-AUTH-* headers through the edge is still just the carrier: the edge
    // removed its headers, so phone 1002 is called with the carrier's number, not as 1001.
    p1002.register(&edge, &p1002.password, false).assert_ok(1);
    let answer_1002 = p1002.answer(&edge, 1, false, 30);
    Sipp::new("forged-xauth", "forged_xauth_uac.xml", edge.dir.path())
        .csv(&[&["15550999", "1002", "device-1001", "demo"]])
        .local(CARRIER, net::free_port(CARRIER))
        .media_port(net::free_port_pair(CARRIER))
        .hold_ms(300)
        .target(edge.sip)
        .run()
        .assert_ok(1);
    let answered = answer_1002.wait();
    answered.assert_ok(1);
    let invite = answered
        .messages
        .split("message received")
        .find(|m| m.contains("INVITE sip:"))
        .expect("the INVITE phone 1002 received")
        .to_owned();
    let from = invite
        .lines()
        .find(|l| l.starts_with("From:") || l.starts_with("f:"))
        .unwrap_or_default();
    assert!(
        from.contains("15550999") && !from.contains("1001"),
        "the forged identity went through: {invite}"
    );
    assert!(!invite.to_ascii_lowercase().contains("x-auth"), "{invite}");

    // (3) Calls with audio in progress, then node B is killed.
    std::fs::write(
        edge.dir.path().join("uac.al"),
        (0..16000u32)
            .map(|i| (i * 37 % 251) as u8)
            .collect::<Vec<u8>>(),
    )
    .expect("uac.al");
    let victim = 1;
    let before_b = nodes[victim].cdrs().len();
    let long_calls = carrier_calls(&edge, 6, 6, 25_000, true)
        .cwd(edge.dir.path())
        .spawn();
    // Round robin: two of the six calls are node B's; wait until both record.
    wait_until(
        Duration::from_secs(20),
        "node B recording its two calls",
        || {
            (nodes[victim]
                .spool_records()
                .iter()
                .filter(|r| r["state"] == "recording")
                .count()
                >= 2)
                .then_some(())
        },
    );
    let recording_since = Instant::now();
    // let audio reach the files (the flush interval is 1 s)
    std::thread::sleep(Duration::from_secs(3));
    let cut: Vec<String> = nodes[victim]
        .spool_records()
        .iter()
        .filter(|r| r["state"] == "recording")
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    let on_b = cut.len();
    let killed_at = Instant::now();
    let recorded_before_kill = killed_at - recording_since;
    let status = std::process::Command::new("kill")
        .args(["-9", &nodes[victim].pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    wait_until(Duration::from_secs(30), "node B marked down", || {
        (!edge.node(nodes[victim].sip).is_up()).then_some(())
    });
    let failover_time = killed_at.elapsed();
    eprintln!("node B marked down {failover_time:?} after kill -9 ({on_b} recorded calls on it)");

    // 100 new calls at 5/s: none fails, none reaches the dead node.
    // Every INVITE the edge sends to a node that says nothing is logged by failure_route
    // ("callrec node <uri> did not answer"); none may name B from now on.
    let b_uri = format!("callrec node sip:{} did not answer", nodes[victim].sip);
    let sent_to_b = |edge: &Kamailio| edge.log_text().matches(b_uri.as_str()).count();
    let (to_b_before, failovers_before) = (sent_to_b(&edge), edge.counter("node_failovers"));
    carrier_calls(&edge, 100, 5, 1000, false)
        .run()
        .assert_ok(100);
    assert_eq!(
        sent_to_b(&edge),
        to_b_before,
        "a call of the 100 was sent to the dead node"
    );
    eprintln!(
        "100 calls after the kill: {} failovers (a busy node slow to say Trying)",
        edge.counter("node_failovers") - failovers_before
    );
    // The calls on the surviving nodes finish; the ones on B are gone with it.
    let long = long_calls.wait();
    eprintln!(
        "long calls: {} completed, {} failed (were on the killed node)",
        long.successful, long.failed
    );
    assert_eq!(long.successful + long.failed, 6);
    // Registrations and calls to phones are unaffected.
    p1003.register(&edge, &p1003.password, true).assert_ok(1);

    // (4) B restarts on the same node_id and spool: its cut recordings are repaired, counted as
    // lost calls and uploaded once; it takes calls again.
    // Everything A and C recorded is in the bucket before B comes back.
    for i in [0, 2] {
        nodes[i].wait_spool_settled(Duration::from_secs(60));
    }
    let uploads_before = s3.keys().len();
    nodes[victim].restart();
    let restarted_at = Instant::now();
    let settled = nodes[victim].wait_spool_settled(Duration::from_secs(60));
    let lost = metric(&nodes[victim], "callrec_calls_lost_total");
    eprintln!(
        "node B after restart: lost calls {lost}, spool {} records",
        settled.len()
    );
    assert_eq!(
        lost as usize, on_b,
        "calls lost on B = its recorded calls at the kill"
    );
    let uploaded_after_restart = metric(&nodes[victim], "callrec_uploads_stored_total");
    assert_eq!(
        uploaded_after_restart as usize, on_b,
        "B uploaded each cut recording exactly once"
    );
    let keys = s3.keys();
    let mut distinct = keys.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), keys.len());
    assert_eq!(
        keys.len(),
        uploads_before + on_b,
        "one object per cut recording"
    );
    // At most the last second (the flush interval) of audio is lost: each cut recording was
    // recording for at least 2 s before the kill.
    for id in &cut {
        // the restarted node rewrites the row with the repaired file's measured metadata (read
        // here through node A's API, from the database)
        let deadline = Instant::now() + Duration::from_secs(30);
        let v = loop {
            let (status, v) =
                api_a.send("GET", &format!("/v2/accounts/demo/recordings/{id}"), None);
            assert_eq!(status, 200, "{v}");
            // and says "stored" once its upload is over (any node reads the same row)
            if v["data"]["state"] == "stored" && v["data"]["duration_ms"].as_u64() > Some(0) {
                break v;
            }
            if Instant::now() >= deadline {
                let sidecar: Vec<Value> = nodes[victim]
                    .spool_records()
                    .into_iter()
                    .filter(|r| r["id"] == id.as_str())
                    .collect();
                let log: Vec<String> = nodes[victim]
                    .log_text()
                    .lines()
                    .filter(|l| {
                        l.contains(id.as_str()) || l.contains("WARN") || l.contains("ERROR")
                    })
                    .map(str::to_owned)
                    .collect();
                panic!(
                    "the row of cut recording {id} was not rewritten as stored: {v}\nsidecar: {sidecar:?}\nB's log: {log:#?}"
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let ms = v["data"]["duration_ms"].as_u64().unwrap_or(0);
        eprintln!(
            "cut recording {id}: {ms} ms kept of at least {recorded_before_kill:?} recorded before \
             the kill, row state {}",
            v["data"]["state"]
        );
        // a generous bound (the machine is shared): at most 2 s lost of >= 3 s
        assert!(ms >= 1000, "cut recording {id} kept {ms} ms: {v}");
    }
    wait_until(Duration::from_secs(30), "node B up again", || {
        edge.node(nodes[victim].sip).is_up().then_some(())
    });
    eprintln!(
        "node B back in the dispatcher {:?} after its restart",
        restarted_at.elapsed()
    );
    carrier_calls(&edge, 9, 9, 300, false).run().assert_ok(9);
    wait_until(Duration::from_secs(20), "a new CDR on B", || {
        (nodes[victim].cdrs().len() > before_b).then_some(())
    });

    // (6) Any node's API serves a recording made on another node (from the bucket).
    let recordings = all_recordings(&api_a);
    let from_b = recordings
        .iter()
        .find(|r| r["node_id"] == "node-b" && r["upload"]["state"] != "recording")
        .or_else(|| recordings.iter().find(|r| r["node_id"] == "node-b"))
        .expect("a recording made on B");
    let id = from_b["id"].as_str().expect("recording id");
    for (i, node) in nodes.iter().enumerate().filter(|(i, _)| *i != victim) {
        let api = Api::login(node);
        let (status, body) =
            api.get_bytes(&format!("/v2/accounts/demo/recordings/{id}"), "audio/wav");
        assert_eq!(status, 200, "{} serving B's recording {id}", NODE_IDS[i]);
        assert!(body.starts_with(b"RIFF"), "WAV audio from {}", NODE_IDS[i]);
    }

    // The edge's failure_route: a node that answers the probes but not INVITEs (SIPp on
    // 127.0.0.6) joins the list; the call sent to it times out, the node is marked down and the
    // call moves on: none of the calls fails.
    let silent_ip = std::net::Ipv4Addr::new(127, 0, 0, 6);
    let silent = net::addr(silent_ip, net::free_port(silent_ip));
    let _silent_node = Sipp::new("silent-node", "silent_node_uas.xml", edge.dir.path())
        .local(silent_ip, silent.port())
        .calls(100_000)
        .no_message_trace()
        .timeout_s(120)
        .spawn();
    let mut with_silent = listed.clone();
    with_silent.push(Node {
        sip: silent,
        id: "silent".into(),
    });
    edge.set_nodes(&with_silent);
    edge.reload_nodes();
    wait_until(Duration::from_secs(20), "all four nodes up", || {
        let n = edge.nodes();
        (n.len() == 4 && n.iter().all(|n| n.is_up())).then_some(())
    });
    let (failovers, marked) = (
        edge.counter("node_failovers"),
        edge.counter("nodes_marked_down"),
    );
    // Round robin over four nodes that are up: one of four consecutive calls goes to it.
    carrier_calls(&edge, 4, 4, 300, false).run().assert_ok(4);
    let failovers_silent = edge.counter("node_failovers") - failovers;
    let marked_silent = edge.counter("nodes_marked_down") - marked;
    eprintln!("silent node: {failovers_silent} failovers, marked down {marked_silent} times");
    assert!(failovers_silent >= 1 && marked_silent >= 1);

    // (7) The figures.
    let calls_per_node: Vec<(String, usize)> = count_by_node(&all_cdrs(&api_a));
    eprintln!("FIGURES cdr legs per node: {calls_per_node:?}");
    eprintln!("FIGURES failover (kill -9 -> marked down): {failover_time:?}");
    eprintln!("FIGURES lost calls (B): {lost}");
    for (i, n) in nodes.iter().enumerate() {
        eprintln!(
            "FIGURES {}: calls {} uploads_stored {} uploads_retried {} calls_lost {}",
            NODE_IDS[i],
            metric(n, "callrec_calls_total"),
            metric(n, "callrec_uploads_stored_total"),
            metric(n, "callrec_uploads_retried_total"),
            metric(n, "callrec_calls_lost_total"),
        );
    }
    eprintln!("FIGURES edge counters: {:?}", edge.counters());
    eprintln!("FIGURES edge tm: {}", edge.tm_stats().replace('\n', " "));
    eprintln!("FIGURES bucket objects: {}", s3.keys().len());
    for n in &mut nodes {
        n.assert_running();
    }
    drop((edge, nodes, s3));
}
