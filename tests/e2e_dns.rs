//! End-to-end carrier gateways given by host name through the real binary: a real DNS server
//! on loopback (dnsmasq, started per test on a free port and named in `[dns] servers`), SIPp
//! for the phone and the carriers. A name with a port is resolved by A record; a name without
//! one by SRV (`_sip._udp.<name>`), the call going to the port the SRV record names, failing
//! over from a dead SRV target to the next one; and a name that moves is followed when its TTL
//! runs out.
//!
//! Needs sipp (Debian: sip-tester) and dnsmasq (Debian: dnsmasq-base); `tests/run.sh`
//! installs them.

mod support;

use std::fs;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::callrec::{Callrec, Documents, Options};
use support::net::{self, CARRIER2_IP, CARRIER_IP, PHONES_IP};
use support::phones::{phone_1001, Carrier};

const NUMBER: &str = "+15559990000";

/// A dnsmasq answering only for the records it is given, killed on drop.
struct Dnsmasq {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq on 127.0.0.1:<free port> with `records` (`--host-record=...`,
    /// `--srv-host=...`, `--addn-hosts=...`) and every answer's TTL `ttl_s`.
    fn start(dir: &Path, ttl_s: u32, records: &[String]) -> Dnsmasq {
        support::require_tool("dnsmasq", "dnsmasq-base");
        let port = net::free_port(PHONES_IP);
        let log = dir.join(format!("dnsmasq-{port}.log"));
        let out = fs::File::create(&log).expect("dnsmasq log");
        let child = Command::new("dnsmasq")
            .args([
                "--no-daemon",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                // Authoritative for .test: unknown names get NXDOMAIN, not REFUSED.
                "--local=/test/",
                "--log-queries",
                "--log-facility=-",
                &format!("--local-ttl={ttl_s}"),
                // Needed as root: without it dnsmasq drops to `nobody` and may not read files.
                "--user=root",
                "--group=root",
            ])
            .args(records)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start dnsmasq");
        let dns = Dnsmasq { child, port, log };
        dns.wait_started();
        dns
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_started(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.log_text().contains("started") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("dnsmasq did not start:\n{}", self.log_text());
    }

    /// `[dns] servers` naming this server.
    fn servers(&self) -> toml::Value {
        toml::Value::Array(vec![toml::Value::String(format!(
            "127.0.0.1:{}",
            self.port
        ))])
    }

    /// Makes dnsmasq read its `--addn-hosts` files again (SIGHUP).
    fn reload(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill -HUP")
            .success();
        assert!(ok, "SIGHUP to dnsmasq");
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example carrier's first gateway given by `server`, with `port` or none.
fn name_gateway(docs: &mut Documents, server: &str, port: Option<u16>) {
    let gw = &mut docs.by_id("carrier")["gateways"][0];
    gw["server"] = json!(server);
    match port {
        Some(p) => gw["port"] = json!(p),
        None => {
            gw.as_object_mut().expect("gateway object").remove("port");
        }
    }
}

/// Waits until callrec's log says a gateway name resolved `times` times (changes only).
fn wait_resolved(callrec: &Callrec, dns: &Dnsmasq, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if callrec
            .log_text()
            .matches("gateway host name resolved")
            .count()
            >= times
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "callrec did not resolve the gateway name {times} time(s); callrec log:\n{}\ndnsmasq log:\n{}",
        support::callrec::tail(&callrec.log_text(), 40),
        dns.log_text()
    );
}

/// 1001 calls the PSTN; `carrier` must answer. Returns the INVITE's Request-URI line.
fn call_reaches(callrec: &Callrec, carrier: &Carrier) -> String {
    let p1 = phone_1001();
    p1.register(callrec);
    let answering = carrier.answer(callrec, 1);
    let caller = p1.call(callrec, NUMBER, "phone_uac.xml").hold_ms(500).run();
    caller.assert_ok(1);
    let answered = answering.wait();
    answered.assert_ok(1);
    answered
        .messages
        .lines()
        .find(|l| l.starts_with("INVITE sip:"))
        .unwrap_or_else(|| panic!("no INVITE in:\n{}", answered.messages))
        .to_owned()
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("callrec-dns.")
        .tempdir()
        .expect("temp dir")
}

#[test]
fn a_gateway_named_by_an_a_record_is_reached() {
    let _serial = support::serial();
    let tmp = temp_dir();
    let dns = Dnsmasq::start(
        tmp.path(),
        60,
        &[format!("--host-record=sbc.carrier.test,{CARRIER_IP}")],
    );
    let port = net::free_port(CARRIER_IP);
    let callrec = Callrec::start(
        Options::default()
            .config("dns", "servers", dns.servers())
            .edit(move |docs| name_gateway(docs, "sbc.carrier.test", Some(port))),
    );
    wait_resolved(&callrec, &dns, 1);
    let carrier = Carrier {
        addr: net::addr(CARRIER_IP, port),
        media: net::free_port_pair(CARRIER_IP),
    };
    let invite = call_reaches(&callrec, &carrier);
    assert!(
        invite.starts_with(&format!("INVITE sip:{NUMBER}@sbc.carrier.test:{port} ")),
        "the Request-URI keeps the name and the given port: {invite}"
    );
    assert!(
        dns.log_text().contains("query[A] sbc.carrier.test"),
        "{}",
        dns.log_text()
    );
}

#[test]
fn a_gateway_named_without_a_port_is_reached_on_the_port_its_srv_record_names() {
    let _serial = support::serial();
    let tmp = temp_dir();
    let port = net::free_port(CARRIER_IP);
    let dns = Dnsmasq::start(
        tmp.path(),
        60,
        &[
            format!("--srv-host=_sip._udp.carrier.test,edge1.carrier.test,{port},10,0"),
            format!("--host-record=edge1.carrier.test,{CARRIER_IP}"),
        ],
    );
    let callrec = Callrec::start(
        Options::default()
            .config("dns", "servers", dns.servers())
            .edit(|docs| name_gateway(docs, "carrier.test", None)),
    );
    wait_resolved(&callrec, &dns, 1);
    let carrier = Carrier {
        addr: net::addr(CARRIER_IP, port),
        media: net::free_port_pair(CARRIER_IP),
    };
    let invite = call_reaches(&callrec, &carrier);
    assert!(
        invite.starts_with(&format!("INVITE sip:{NUMBER}@carrier.test ")),
        "RFC 3263: the Request-URI keeps the domain, without a port: {invite}"
    );
    assert!(
        dns.log_text().contains("query[SRV] _sip._udp.carrier.test"),
        "{}",
        dns.log_text()
    );
}

#[test]
fn a_dead_srv_target_fails_over_to_the_next_one() {
    let _serial = support::serial();
    let tmp = temp_dir();
    let port = net::free_port(CARRIER_IP);
    // Priority 10: a socket on 127.0.0.4 that takes the first INVITE and closes (the target
    // dies); priority 20: the carrier.
    let dead = UdpSocket::bind((CARRIER2_IP, 0)).expect("dead target socket");
    dead.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let dead_port = dead.local_addr().expect("dead target address").port();
    let first_invite = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let n = dead.recv(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
        // The socket closes here: the target is gone.
    });
    let dns = Dnsmasq::start(
        tmp.path(),
        60,
        &[
            format!("--srv-host=_sip._udp.carrier.test,dead.carrier.test,{dead_port},10,0"),
            format!("--srv-host=_sip._udp.carrier.test,edge2.carrier.test,{port},20,0"),
            format!("--host-record=dead.carrier.test,{CARRIER2_IP}"),
            format!("--host-record=edge2.carrier.test,{CARRIER_IP}"),
        ],
    );
    let callrec = Callrec::start(
        Options::default()
            .config("dns", "servers", dns.servers())
            .edit(|docs| name_gateway(docs, "carrier.test", None)),
    );
    wait_resolved(&callrec, &dns, 1);
    let carrier = Carrier {
        addr: net::addr(CARRIER_IP, port),
        media: net::free_port_pair(CARRIER_IP),
    };
    let invite = call_reaches(&callrec, &carrier);
    assert!(invite.starts_with(&format!("INVITE sip:{NUMBER}@carrier.test ")));
    let first = first_invite.join().expect("dead target thread");
    assert!(
        first.starts_with(&format!("INVITE sip:{NUMBER}@carrier.test SIP/2.0")),
        "the first SRV target (priority 10) was tried first: {first:?}"
    );
}

#[test]
fn a_name_that_moves_is_followed_when_its_ttl_runs_out() {
    let _serial = support::serial();
    let tmp = temp_dir();
    let hosts = tmp.path().join("hosts");
    fs::write(&hosts, format!("{CARRIER2_IP} moving.carrier.test\n")).expect("hosts file");
    let dns = Dnsmasq::start(
        tmp.path(),
        1,
        &[format!("--addn-hosts={}", hosts.display())],
    );
    let port = net::free_port(CARRIER_IP);
    let callrec = Callrec::start(
        Options::default()
            .config("dns", "servers", dns.servers())
            .edit(move |docs| {
                name_gateway(docs, "moving.carrier.test", Some(port));
                // The carrier may call from either address.
                docs.by_id("carrier")["origination_cidrs"] =
                    json!([format!("{CARRIER_IP}/32"), format!("{CARRIER2_IP}/32")]);
            }),
    );
    wait_resolved(&callrec, &dns, 1);
    let first = Carrier {
        addr: net::addr(CARRIER2_IP, port),
        media: net::free_port_pair(CARRIER2_IP),
    };
    call_reaches(&callrec, &first);
    // The name moves to 127.0.0.2: dnsmasq reads its hosts file again; callrec asks again
    // when the 1-second TTL runs out.
    fs::write(&hosts, format!("{CARRIER_IP} moving.carrier.test\n")).expect("hosts file");
    dns.reload();
    wait_resolved(&callrec, &dns, 2);
    let second = Carrier {
        addr: net::addr(CARRIER_IP, port),
        media: net::free_port_pair(CARRIER_IP),
    };
    call_reaches(&callrec, &second);
}

#[test]
fn lookups_order_srv_targets_by_priority_and_tell_no_records_from_failures() {
    use callrec::server::resolver::{build_resolver, lookup, Outcome};
    use callrec_kazoo::directory::HostQuery;
    use callrec_sip::transaction::Transport;

    let _serial = support::serial();
    let tmp = temp_dir();
    let dns = Dnsmasq::start(
        tmp.path(),
        30,
        &[
            "--srv-host=_sip._tcp.multi.test,b.multi.test,5070,20,0".to_owned(),
            "--srv-host=_sip._tcp.multi.test,a.multi.test,5080,10,0".to_owned(),
            "--host-record=a.multi.test,192.0.2.10,2001:db8::10".to_owned(),
            "--host-record=b.multi.test,192.0.2.20".to_owned(),
            "--host-record=plain.test,192.0.2.30".to_owned(),
        ],
    );
    // A server that never answers.
    let silent = UdpSocket::bind((PHONES_IP, 0)).expect("silent DNS socket");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let resolver =
            build_resolver(&[net::addr(PHONES_IP, dns.port)]).expect("resolver for dnsmasq");
        let q = |name: &str, transport, port| HostQuery {
            name: name.into(),
            transport,
            port,
        };
        match lookup(&resolver, &q("multi.test", Transport::Tcp, None)).await {
            Outcome::Answer { addrs, .. } => assert_eq!(
                addrs,
                vec![
                    "192.0.2.10:5080".parse().unwrap(),
                    "[2001:db8::10]:5080".parse().unwrap(),
                    "192.0.2.20:5070".parse().unwrap(),
                ],
                "priority 10 first, A and AAAA, the SRV records' ports"
            ),
            other => panic!("SRV lookup: {other:?}"),
        }
        // No SRV record: A on 5060; a given port: A only, on it.
        let plain = lookup(&resolver, &q("plain.test", Transport::Udp, None)).await;
        assert!(
            matches!(&plain, Outcome::Answer { addrs, .. } if addrs == &vec!["192.0.2.30:5060".parse().unwrap()]),
            "{plain:?}"
        );
        let ported = lookup(&resolver, &q("plain.test", Transport::Udp, Some(5099))).await;
        assert!(
            matches!(&ported, Outcome::Answer { addrs, .. } if addrs == &vec!["192.0.2.30:5099".parse().unwrap()]),
            "{ported:?}"
        );
        let missing = lookup(&resolver, &q("missing.test", Transport::Udp, None)).await;
        assert_eq!(missing, Outcome::NoRecords);
        let dead = build_resolver(&[silent.local_addr().unwrap()]).expect("resolver");
        let failed = lookup(&dead, &q("plain.test", Transport::Udp, Some(5060))).await;
        assert!(matches!(failed, Outcome::Failed(_)), "{failed:?}");
    });
}
