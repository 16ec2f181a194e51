//! A callrec node behind an edge proxy (issue 16) through the real binary: SIPp plays the edge
//! (it sends from an address in `[cluster] edge`, with the `X-AUTH-*` headers only the edge may
//! set, and takes the node's calls to phones), two nodes share one PostgreSQL, and a real
//! S3-compatible server (`s3s-fs`) is the cluster bucket. Shown: a carrier call relayed by the
//! edge reaches phone 1001 through the edge (`sip:1001@<realm>`), its recording (a rule with
//! no `url`, an account with no plan) lands in the cluster bucket under the plan's default
//! key; `node_id` is on the CDRs, the recording's metadata and `/metrics`; node B's API serves
//! the audio node A recorded; a second process on node A's spool is refused naming
//! `spool.dir`; `kill -9` of node A during a recorded call, then its restart: the call is
//! counted lost (`callrec_calls_lost_total`) and its recording is uploaded exactly once; on
//! node B, a device named by the edge (`X-AUTH-Device-ID`) calls the PSTN without a challenge,
//! and the same headers from an address that is not the edge get 403.
//! The real Kamailio in front of three nodes is `tests/e2e_cluster.rs`.
//!
//! Needs sipp, s3s-fs and PostgreSQL's server binaries; `tests/run.sh` installs them.

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::callrec::{Callrec, Options};
use support::http::{request as http, Api};
use support::net::{free_port, free_port_pair, CARRIER_IP, PHONES_IP};
use support::phones::Carrier;
use support::s3::{S3Credentials, S3Server};
use support::sipp::{Sipp, SippProcess};

const ACCESS_KEY: &str = "cluster-test-key";
const SECRET: &str = "cluster-test-secret-5e4d3c2b";
const BUCKET: &str = "cluster-recordings";
const CREDS: S3Credentials = S3Credentials {
    access_key: ACCESS_KEY,
    secret: SECRET,
    bucket: BUCKET,
};

/// The two SIP addresses of the edge played by SIPp: the first takes the node's calls to
/// phones (the node sends them to its first edge), the second relays calls to the node.
struct Edge {
    to_phones: u16,
    to_nodes: u16,
}

/// Options of a node named `node_id` behind `edge`, on `store_url`, with the cluster bucket,
/// the account's recording rules without `url` (so recordings go to the cluster bucket).
fn node_options(node_id: &str, edge: &Edge, store_url: &str, s3: &S3Server) -> Options {
    let edges = toml::Value::Array(
        [edge.to_phones, edge.to_nodes]
            .iter()
            .map(|p| toml::Value::String(format!("127.0.0.1:{p}")))
            .collect(),
    );
    let node_id = node_id.to_owned();
    let endpoint = s3.endpoint();
    Options::default()
        .store(store_url)
        .edit(|docs| {
            let account = docs.account();
            for dir in ["inbound", "outbound"] {
                if let Some(rule) =
                    account["call_recording"]["account"][dir]["offnet"].as_object_mut()
                {
                    rule.remove("url");
                }
            }
        })
        .edit_config(move |config| {
            let mut storage = toml::Table::new();
            storage.insert("endpoint".into(), toml::Value::String(endpoint));
            storage.insert("bucket".into(), toml::Value::String(BUCKET.into()));
            storage.insert("access_key".into(), toml::Value::String(ACCESS_KEY.into()));
            storage.insert("secret_key".into(), toml::Value::String(SECRET.into()));
            let mut cluster = toml::Table::new();
            cluster.insert("node_id".into(), toml::Value::String(node_id));
            cluster.insert("edge".into(), edges);
            cluster.insert("storage".into(), toml::Value::Table(storage));
            config.insert("cluster".into(), toml::Value::Table(cluster));
            // Every finished recording is uploaded at once and retried quickly.
            let mut upload = toml::Table::new();
            upload.insert("initial_backoff_s".into(), toml::Value::Integer(1));
            upload.insert("max_backoff_s".into(), toml::Value::Integer(2));
            config.insert("upload".into(), toml::Value::Table(upload));
        })
}

/// The edge answering the node's call to a phone (phone_uas.xml), echoing RTP.
fn edge_answers(node: &Callrec, edge: &Edge, calls: u64) -> SippProcess {
    Sipp::new("edge-answers", "phone_uas.xml", node.dir.path())
        .local(PHONES_IP, edge.to_phones)
        .media_port(free_port_pair(PHONES_IP))
        .rtp_echo()
        .calls(calls)
        .timeout_s(90)
        .spawn()
}

/// The edge relaying a carrier's call (the carrier at 127.0.0.2, `X-AUTH-IP`) to `did` on
/// `node`, held for `hold_ms`.
fn edge_relays_carrier_call(node: &Callrec, edge: &Edge, did: &str, hold_ms: u64) -> Sipp {
    Sipp::new("edge-relays", "edge_uac.xml", node.dir.path())
        .csv(&[&["+15551112222", did, "", "", &CARRIER_IP.to_string()]])
        .local(PHONES_IP, edge.to_nodes)
        .media_port(free_port_pair(PHONES_IP))
        .target(node.sip)
        .hold_ms(hold_ms)
        .timeout_s(60)
}

fn metrics(node: &Callrec) -> String {
    let (status, body) = http(
        "GET",
        &format!("http://{}/metrics", node.api),
        None,
        None,
        None,
    );
    assert_eq!(status, 200);
    String::from_utf8(body).expect("text")
}

/// The value of the sample `line` (name and labels as written) in a metrics page.
fn sample(page: &str, line: &str) -> Option<u64> {
    page.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.trim().parse().ok())
}

fn wait_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts callrec's binary on `node`'s configuration a second time and returns its exit and
/// output (it must be refused before it binds anything).
fn second_process_on(node: &Callrec) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callrec"))
        .arg("--config")
        .arg(node.dir.path().join("callrec.toml"))
        .current_dir(node.dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn callrec");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a second callrec on the same spool kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut out);
    }
    (status, out)
}

fn spool_dir(node: &Callrec) -> PathBuf {
    node.data_dir.join("spool")
}

fn only<T: std::fmt::Debug>(mut v: Vec<T>, what: &str) -> T {
    assert_eq!(v.len(), 1, "exactly one {what}: {v:?}");
    v.remove(0)
}

#[test]
fn nodes_behind_an_edge_share_recordings_through_the_cluster_bucket() {
    let _serial = support::serial();
    let pg = callrec_store::testing::shared_cluster()
        .unwrap_or_else(|e| panic!("PostgreSQL for the cluster test: {e}"));
    let url = pg.create_database().expect("database");
    let s3 = S3Server::start(CREDS);
    let edge = Edge {
        to_phones: free_port(PHONES_IP),
        to_nodes: free_port(PHONES_IP),
    };
    let mut a = Callrec::start(node_options("node-a", &edge, &url, &s3));
    let b = Callrec::start(node_options("node-b", &edge, &url, &s3));

    // 1. A carrier's call relayed by the edge to node A reaches 1001 through the edge.
    let answers = edge_answers(&a, &edge, 1);
    edge_relays_carrier_call(&a, &edge, "+15550100", 2000)
        .run()
        .assert_ok(1);
    let answered = answers.wait();
    answered.assert_ok(1);
    assert!(
        answered
            .messages
            .contains("INVITE sip:1001@demo.callrec.local SIP/2.0"),
        "the node calls the phone at the edge by user@realm:\n{}",
        support::callrec::tail(&answered.messages, 40)
    );
    assert!(
        !answered.messages.contains("X-AUTH-"),
        "the edge's identity headers do not leave the node"
    );

    // 2. The recording lands in the cluster bucket under the plan's default key.
    let key = wait_until(
        Duration::from_secs(30),
        "the recording in the bucket",
        || {
            let keys = s3.keys();
            (!keys.is_empty()).then(|| only(keys, "object"))
        },
    );
    assert!(
        key.starts_with("demo/") && key.contains("/call_recording_") && key.ends_with(".wav"),
        "default key template: {key}"
    );
    let stored = s3.object(&key);
    assert_eq!(&stored[..4], b"RIFF", "a WAV file");

    // 3. node_id on CDRs, the recording's metadata and every /metrics line.
    let cdrs = a.wait_cdrs(2, Duration::from_secs(10));
    for cdr in &cdrs {
        assert_eq!(cdr.0["node_id"], json!("node-a"), "{}", cdr.0);
        assert_eq!(cdr.0["media_server"], json!("node-a"), "{}", cdr.0);
    }
    let page = wait_until(Duration::from_secs(10), "the upload counted", || {
        let page = metrics(&a);
        (sample(&page, "callrec_uploads_stored_total{node_id=\"node-a\"}") == Some(1))
            .then_some(page)
    });
    assert_eq!(
        sample(&page, "callrec_node_info{node_id=\"node-a\"}"),
        Some(1)
    );
    assert_eq!(
        sample(&page, "callrec_calls_total{node_id=\"node-a\"}"),
        Some(1),
        "calls per node"
    );
    assert_eq!(
        sample(&page, "callrec_calls_lost_total{node_id=\"node-a\"}"),
        Some(0)
    );
    for l in page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(
            l.contains("node_id=\"node-a\""),
            "every sample is labelled: {l}"
        );
    }

    // 4. Node B's API serves node A's recording (metadata and audio, from the bucket).
    let token = Api::login(&b).token;
    let list_url = format!("http://{}/v2/accounts/demo/recordings", b.api);
    let rec_id = wait_until(Duration::from_secs(10), "the recording row", || {
        let (status, body) = http("GET", &list_url, Some(&token), None, None);
        let v: Value = serde_json::from_slice(&body).ok()?;
        (status == 200)
            .then(|| {
                v["data"].as_array()?.first()?["id"]
                    .as_str()
                    .map(str::to_owned)
            })
            .flatten()
    });
    assert!(key.contains(&rec_id), "the key names the recording id");
    let one_url = format!("{list_url}/{rec_id}");
    // The state node A's uploader reached reads the same on node B (the shared row).
    let view: Value = wait_until(
        Duration::from_secs(10),
        "the stored state on node B",
        || {
            let (status, body) = http("GET", &one_url, Some(&token), None, None);
            let v: Value = serde_json::from_slice(&body).ok()?;
            (status == 200 && v["data"]["state"] == json!("stored")).then_some(v)
        },
    );
    assert_eq!(view["data"]["node_id"], json!("node-a"), "{view}");
    assert_eq!(view["data"]["storage"]["key"], json!(key), "{view}");
    assert!(
        !spool_dir(&b).join(format!("{rec_id}.wav")).exists(),
        "node B never had the file"
    );
    let (status, audio) = http("GET", &one_url, Some(&token), Some("audio/wav"), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&audio));
    assert_eq!(audio, stored, "node B serves the object node A stored");

    // 5. A second process on node A's spool is refused before it binds anything.
    let (status, out) = second_process_on(&a);
    assert!(!status.success());
    assert!(
        out.contains("spool.dir"),
        "the refusal names spool.dir: {out}"
    );
    a.assert_running();

    // 6. kill -9 of node A during a recorded call, then its restart.
    let answers = edge_answers(&a, &edge, 1);
    let caller = edge_relays_carrier_call(&a, &edge, "+15550100", 30_000).spawn();
    wait_until(Duration::from_secs(15), "a recording in progress", || {
        a.spool_records()
            .into_iter()
            .any(|r| r["state"] == json!("recording"))
            .then_some(())
    });
    // Some audio (silence, the caller sends none) reaches the file before the crash.
    std::thread::sleep(Duration::from_secs(3));
    let before = s3.keys();
    a.restart();
    drop(caller);
    drop(answers);
    let new_key = wait_until(
        Duration::from_secs(30),
        "the cut recording uploaded",
        || {
            let keys: Vec<String> = s3
                .keys()
                .into_iter()
                .filter(|k| !before.contains(k))
                .collect();
            (!keys.is_empty()).then(|| only(keys, "new object"))
        },
    );
    let page = metrics(&a);
    assert_eq!(
        sample(&page, "callrec_calls_lost_total{node_id=\"node-a\"}"),
        Some(1),
        "the call cut by the crash is counted lost"
    );
    // Settle: the upload is not repeated.
    std::thread::sleep(Duration::from_secs(3));
    let page = metrics(&a);
    assert_eq!(
        sample(&page, "callrec_uploads_stored_total{node_id=\"node-a\"}"),
        Some(1),
        "uploaded exactly once after the restart"
    );
    let keys = s3.keys();
    assert_eq!(keys.len(), 2, "one object per recording: {keys:?}");
    assert!(keys.contains(&new_key));
    let audio = s3.object(&new_key);
    assert_eq!(&audio[..4], b"RIFF", "the repaired WAV");

    // 7. Node B: the edge names the calling device (no challenge), which calls the PSTN; the
    // same headers from an address that is not the edge are refused.
    let carrier = Carrier::of(&a);
    let answering = carrier.answer(&b, 1);
    edge_relays_device_call(&b, edge.to_nodes, "+15559990000")
        .run()
        .assert_ok(1);
    answering.wait().assert_ok(1);
    let cdrs = b.wait_cdrs(2, Duration::from_secs(10));
    assert!(
        cdrs.iter().all(|c| c.0["node_id"] == json!("node-b")),
        "node B's CDRs carry its node_id"
    );
    let a_leg = cdrs
        .iter()
        .find(|c| c.call_direction() == Some("inbound"))
        .expect("the caller's leg");
    assert_eq!(a_leg.authorizing_id(), Some(b.ids.device_1001.as_str()));
    let rogue = edge_relays_device_call(&b, free_port(PHONES_IP), "+15559990000")
        .timeout_s(10)
        .run();
    assert!(
        rogue.messages.contains("SIP/2.0 403"),
        "X-AUTH-* from a source that is not the edge is refused:\n{}",
        support::callrec::tail(&rogue.messages, 30)
    );
    assert!(
        !rogue.messages.contains("SIP/2.0 407"),
        "and not challenged"
    );
}

/// The edge relaying phone 1001's call to `number` on `node`, from `port` on 127.0.0.1 (the
/// edge's when it is `edge.to_nodes`), naming the device and its account.
fn edge_relays_device_call(node: &Callrec, port: u16, number: &str) -> Sipp {
    Sipp::new(
        &format!("edge-device-{port}"),
        "edge_uac.xml",
        node.dir.path(),
    )
    .csv(&[&["1001", number, &node.ids.device_1001, &node.ids.account, ""]])
    .local(PHONES_IP, port)
    .media_port(free_port_pair(PHONES_IP))
    .target(node.sip)
    .hold_ms(1000)
    .timeout_s(30)
}
