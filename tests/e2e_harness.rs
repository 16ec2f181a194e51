//! Checks of the end-to-end harness itself, without callrec: nginx stores PUT bodies and logs
//! query and Content-Type, soxi reads WAV files, the pcap fixture lasts 10 s, and the SIPp
//! scenarios work against each other (including digest authentication, checked by SIPp's
//! verifyauth in the self-test stand-ins). If these fail, the e2e tests' failures say nothing
//! about callrec.
//!
//! Needs sipp (sip-tester), nginx and sox; `tests/run.sh` installs them.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::net::{self, PHONES_IP};
use support::nginx::Nginx;
use support::phones::fixtures;
use support::sipp::{credentials, Sipp};

/// A minimal WAV file: 16-bit PCM, `channels`, 8 kHz, `seconds` of silence.
fn wav(channels: u16, seconds: u32) -> Vec<u8> {
    let rate = 8000u32;
    let data_len = rate * seconds * u32::from(channels) * 2;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.resize(out.len() + data_len as usize, 0);
    out
}

#[test]
fn nginx_stores_a_put_and_logs_its_query_and_content_type() {
    let _serial = support::serial();
    let nginx = Nginx::start();
    let body = wav(2, 3);
    let mut stream = TcpStream::connect((PHONES_IP, nginx.port)).expect("connect nginx");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let head = format!(
        "PUT /recordings/call_recording_abc%40host.wav?from=1001%40demo&to=%2B15550100&empty= HTTP/1.1\r\n\
         Host: 127.0.0.1\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(&body).expect("send body");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let requests = nginx.wait_requests(1, Duration::from_secs(5));
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let req = &requests[0];
    assert_eq!(req.method, "PUT");
    assert_eq!(req.status, 201);
    assert_eq!(req.content_type, "audio/wav");
    assert_eq!(req.query["from"], "1001@demo");
    assert_eq!(req.query["to"], "+15550100");
    assert_eq!(req.query["empty"], "");
    assert_eq!(
        support::nginx::decode(&req.path),
        "/recordings/call_recording_abc@host.wav"
    );
    assert_eq!(std::fs::read(&req.file).expect("stored file"), body);
    assert_eq!(support::audio::channels(&req.file), 2);
    assert!((support::audio::duration_s(&req.file) - 3.0).abs() < 1e-6);
    assert_eq!(support::audio::sample_rate(&req.file), 8000);
}

#[test]
fn the_pcap_fixture_holds_ten_seconds_of_audio() {
    let seconds = support::audio::pcap_audio_s(&fixtures().join("pcap/g711a.pcap"));
    assert!((seconds - 10.0).abs() < 1e-9, "{seconds}");
}

#[test]
fn register_xml_computes_a_digest_that_the_registrar_stand_in_accepts() {
    let _serial = support::serial();
    let work = tempfile::tempdir().expect("tmp");
    let port = net::free_port(PHONES_IP);
    let registrar = Sipp::new("registrar", "selftest/registrar_uas.xml", work.path())
        .local(PHONES_IP, port)
        .key("user", "1001")
        .key("pass", "demo-1001")
        .spawn();
    let target = net::addr(PHONES_IP, port);
    Sipp::new("phone", "register.xml", work.path())
        .csv(&[&["1001", &credentials("1001", "demo-1001")]])
        .local(PHONES_IP, net::free_port(PHONES_IP))
        .target(target)
        .run()
        .assert_ok(1);
    registrar.wait().assert_ok(1);

    // a wrong password is refused (403 from the stand-in), so register.xml fails
    let registrar = Sipp::new("registrar2", "selftest/registrar_uas.xml", work.path())
        .local(PHONES_IP, port)
        .key("user", "1001")
        .key("pass", "demo-1001")
        .spawn();
    let wrong = Sipp::new("phone2", "register.xml", work.path())
        .csv(&[&["1001", &credentials("1001", "not-the-password")]])
        .local(PHONES_IP, net::free_port(PHONES_IP))
        .target(target)
        .run();
    assert!(!wrong.status.success(), "{wrong:#?}");
    drop(registrar);
}

#[test]
fn the_call_scenarios_work_against_each_other() {
    let _serial = support::serial();
    let work = tempfile::tempdir().expect("tmp");
    // (callee scenario, caller scenario, caller hold ms)
    let pairs = [
        ("selftest/challenge_uas.xml", "phone_uac.xml", 200),
        ("phone_uas.xml", "hold_uac.xml", 200),
        ("ring_uas.xml", "cancel_uac.xml", 200),
        ("busy_uas.xml", "busy_uac.xml", 0),
        ("selftest/challenge_uas.xml", "wrong_auth_uac.xml", 0),
        ("carrier_uas.xml", "carrier_uac.xml", 200),
    ];
    for (i, (uas, uac, hold)) in pairs.into_iter().enumerate() {
        let port = net::free_port(PHONES_IP);
        let password = if uac == "wrong_auth_uac.xml" {
            "wrong"
        } else {
            "demo-1001"
        };
        let callee = Sipp::new(&format!("uas{i}"), uas, work.path())
            .local(PHONES_IP, port)
            .media_port(net::free_port_pair(PHONES_IP))
            .rtp_echo()
            .key("user", "1001")
            .key("pass", "demo-1001")
            .spawn();
        let target = net::addr(PHONES_IP, port);
        let auth = credentials("1001", password);
        let row: [&str; 3] = if uac == "carrier_uac.xml" {
            ["+15557770001", "+15550100", ""] // caller, DID
        } else {
            ["1001", &auth, "1002"] // caller, credentials, number
        };
        let caller = Sipp::new(&format!("uac{i}"), uac, work.path())
            .csv(&[&row])
            .auth_uri("1002", target)
            .local(PHONES_IP, net::free_port(PHONES_IP))
            .media_port(net::free_port_pair(PHONES_IP))
            .hold_ms(hold)
            .target(target)
            .run();
        caller.assert_ok(1);
        let callee = callee.wait();
        if uac == "wrong_auth_uac.xml" {
            // the stand-in answered 403 to the wrong digest: its scenario ends early but OK
            assert!(callee.messages.contains("403 Forbidden"), "{callee:#?}");
        } else {
            callee.assert_ok(1);
        }
    }
}

#[test]
fn uac_pcap_plays_the_fixture_for_ten_seconds() {
    let _serial = support::serial();
    let work = tempfile::tempdir().expect("tmp");
    let port = net::free_port(PHONES_IP);
    let callee = Sipp::new("uas", "phone_uas.xml", work.path())
        .local(PHONES_IP, port)
        .media_port(net::free_port_pair(PHONES_IP))
        .rtp_echo()
        .spawn();
    let target = net::addr(PHONES_IP, port);
    let caller = Sipp::new("pcap", "uac_pcap.xml", work.path())
        .csv(&[&["1001", &credentials("1001", "demo-1001"), "1002"]])
        .local(PHONES_IP, net::free_port(PHONES_IP))
        .media_port(net::free_port_pair(PHONES_IP))
        .cwd(&fixtures())
        .target(target)
        .run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
}
