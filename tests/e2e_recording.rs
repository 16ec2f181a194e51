//! End-to-end recording through real processes: SIPp phones and carrier (RTP echoed, or played
//! from a pcap), callrec, and nginx as the PUT receiver. For the seed's three call types and a set
//! of account/user/device settings, exactly the recordings that the seed's matrix predicts arrive,
//! with the right file name, query metadata, Content-Type, and playable audio of the right
//! duration and channel count (soxi).
//!
//! Needs sipp (sip-tester), nginx and sox; `tests/run.sh` installs them.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::audio;
use support::callrec::{Callrec, Documents, Options};
use support::nginx::{Nginx, Request};
use support::phones::{first_call_id, fixtures, phone_1001, phone_1002, Carrier, Phone};

/// Query keys every upload carries (behaviour.md, "Upload").
const QUERY_KEYS: [&str; 12] = [
    "from",
    "to",
    "caller_id_name",
    "caller_id_number",
    "call_id",
    "cdr_id",
    "interaction_id",
    "owner_id",
    "account_id",
    "start",
    "duration_ms",
    "recording_id",
];

/// The seed's three call types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallType {
    PhoneToPhone,
    PhoneToCarrier,
    CarrierToPhone,
}

/// A running setup: callrec (uploading to nginx), both phones registered, and the carrier.
struct Setup {
    nginx: Nginx,
    callrec: Callrec,
    p1: Phone,
    p2: Phone,
    carrier: Carrier,
}

fn setup(edit: impl FnOnce(&mut Documents) + 'static) -> Setup {
    let nginx = Nginx::start();
    let url = format!("{}/recordings/", nginx.base_url());
    let callrec = Callrec::start(Options::default().receiver(&nginx.base_url()).edit(
        move |docs| {
            edit(docs);
            // every url in the edited settings points at nginx
            for doc in docs.all() {
                point_urls_at(doc, &url);
            }
        },
    ));
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    p2.register(&callrec);
    let carrier = Carrier::of(&callrec);
    Setup {
        nginx,
        callrec,
        p1,
        p2,
        carrier,
    }
}

fn point_urls_at(value: &mut Value, url: &str) {
    match value {
        Value::Object(map) => {
            if map.contains_key("enabled") && map.contains_key("url") {
                map.insert("url".into(), Value::from(url));
            }
            map.values_mut().for_each(|v| point_urls_at(v, url));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| point_urls_at(v, url)),
        _ => {}
    }
}

/// Recording parameters (wav, no minimum) for a call_recording object.
fn on() -> Value {
    json!({"enabled": true, "format": "wav", "url": "http://127.0.0.1:8080/recordings/"})
}

impl Setup {
    /// Places one call of `kind`, held `hold_ms`, and returns the caller's Call-ID.
    fn call(&self, kind: CallType, hold_ms: u64) -> String {
        let callrec = &self.callrec;
        let (callee, caller) = match kind {
            CallType::PhoneToPhone => (
                self.p2.answer(callrec, "phone_uas.xml", 1),
                self.p1
                    .call(callrec, "1002", "phone_uac.xml")
                    .hold_ms(hold_ms)
                    .run(),
            ),
            CallType::PhoneToCarrier => (
                self.carrier.answer(callrec, 1),
                self.p1
                    .call(callrec, "+15559990000", "phone_uac.xml")
                    .hold_ms(hold_ms)
                    .run(),
            ),
            CallType::CarrierToPhone => (
                self.p1.answer(callrec, "phone_uas.xml", 1),
                self.carrier
                    .call(callrec, "+15557770001", "+15550100")
                    .hold_ms(hold_ms)
                    .run(),
            ),
        };
        caller.assert_ok(1);
        callee.wait().assert_ok(1);
        first_call_id(&caller.messages).expect("caller's Call-ID")
    }

    /// Origins of the recordings callrec made, from the CDRs (`media_recording_origins`).
    fn origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = self
            .callrec
            .cdrs()
            .iter()
            .flat_map(|c| c.media_recording_origins())
            .collect();
        origins.sort();
        origins
    }

    /// Origins of the recordings in the spool, from the sidecars' metadata.
    fn spool_origins(&self) -> Vec<String> {
        let mut origins = Vec::new();
        for file in self.callrec.spool_files() {
            if file.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                if let Ok(v) = callrec::spool::parse_sidecar::<Value>(text.as_bytes()) {
                    if let Some(o) = find_key(&v, "origin").and_then(Value::as_str) {
                        origins.push(o.to_owned());
                    }
                }
            }
        }
        origins.sort();
        origins
    }
}

fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|x| find_key(x, key))),
        Value::Array(items) => items.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

/// Checks one upload: PUT stored by nginx, file name, query keys, Content-Type, a playable
/// stereo WAV whose length is the call's (`hold_s` plus set-up, within half a second).
fn check_upload(req: &Request, hold_s: f64) {
    assert_eq!(req.method, "PUT", "{req:#?}");
    assert!(
        (200..300).contains(&req.status),
        "nginx answered {}: {req:#?}",
        req.status
    );
    let call_id = req
        .query
        .get("call_id")
        .expect("call_id in the query")
        .clone();
    let expected_path = format!("/recordings/call_recording_{}.wav", call_id);
    assert_eq!(
        support::nginx::decode(&req.path),
        expected_path,
        "file name (query {:?})",
        req.raw_query
    );
    for key in QUERY_KEYS {
        assert!(
            req.query.contains_key(key),
            "query lacks {key}: {}",
            req.raw_query
        );
    }
    assert_eq!(req.content_type, "audio/wav", "{req:#?}");
    assert!(
        req.file.is_file(),
        "nginx stored no file at {}",
        req.file.display()
    );
    assert_eq!(
        audio::channels(&req.file),
        2,
        "stereo: caller left, callee right"
    );
    let duration = audio::duration_s(&req.file);
    assert!(
        (duration - hold_s).abs() < 0.5,
        "recording lasts {duration:.3} s, the call {hold_s:.3} s"
    );
    let duration_ms: f64 = req.query["duration_ms"]
        .parse()
        .expect("duration_ms is a number");
    assert!(
        (duration_ms / 1000.0 - duration).abs() < 0.1,
        "duration_ms {duration_ms} vs the file's {duration:.3} s"
    );
}

/// One row of the matrix test: settings, then per call type the origins expected.
struct Row {
    name: &'static str,
    edit: fn(&mut Documents),
    expect: [(CallType, &'static [&'static str]); 3],
}

fn no_account_rules(docs: &mut Documents) {
    docs.account()["call_recording"] = json!({});
}

const ROWS: [Row; 6] = [
    Row {
        name: "example account: account rules for offnet inbound and outbound",
        edit: |_| {},
        expect: [
            (CallType::PhoneToPhone, &[]),
            (
                CallType::PhoneToCarrier,
                &["outbound to offnet from account"],
            ),
            (
                CallType::CarrierToPhone,
                &["inbound from offnet to account"],
            ),
        ],
    },
    Row {
        name: "account inbound onnet (internal and onnet-originated calls)",
        edit: |docs| {
            docs.account()["call_recording"] = json!({"account": {"inbound": {"onnet": on()}}})
        },
        expect: [
            (CallType::PhoneToPhone, &["inbound from onnet to account"]),
            (CallType::PhoneToCarrier, &["inbound from onnet to account"]),
            (CallType::CarrierToPhone, &[]),
        ],
    },
    Row {
        name: "user 1001 outbound offnet only",
        edit: |docs| {
            no_account_rules(docs);
            docs.owner_of("1001")["call_recording"] = json!({"outbound": {"offnet": on()}});
        },
        expect: [
            (CallType::PhoneToPhone, &[]),
            (
                CallType::PhoneToCarrier,
                &["outbound to offnet from endpoint"],
            ),
            (CallType::CarrierToPhone, &[]),
        ],
    },
    Row {
        name: "user 1001 inbound offnet only",
        edit: |docs| {
            no_account_rules(docs);
            docs.owner_of("1001")["call_recording"] = json!({"inbound": {"offnet": on()}});
        },
        expect: [
            (CallType::PhoneToPhone, &[]),
            (CallType::PhoneToCarrier, &[]),
            (
                CallType::CarrierToPhone,
                &["inbound from offnet to endpoint"],
            ),
        ],
    },
    Row {
        name: "user 1001 records everything, device 1001 disables it (device > user)",
        edit: |docs| {
            no_account_rules(docs);
            docs.owner_of("1001")["call_recording"] = json!({"any": {"any": on()}});
            docs.device("1001")["call_recording"] = json!({"any": {"any": {"enabled": false}}});
        },
        expect: [
            (CallType::PhoneToPhone, &[]),
            (CallType::PhoneToCarrier, &[]),
            (CallType::CarrierToPhone, &[]),
        ],
    },
    Row {
        name: "internal call: caller's outbound onnet and callee's inbound onnet",
        edit: |docs| {
            no_account_rules(docs);
            docs.owner_of("1001")["call_recording"] = json!({"outbound": {"onnet": on()}});
            docs.owner_of("1002")["call_recording"] = json!({"inbound": {"onnet": on()}});
        },
        expect: [
            (
                CallType::PhoneToPhone,
                &[
                    "inbound from onnet to endpoint",
                    "outbound to onnet from endpoint",
                ],
            ),
            (CallType::PhoneToCarrier, &[]),
            (CallType::CarrierToPhone, &[]),
        ],
    },
];

/// Runs one row of the matrix: the three call types under the row's settings, then checks that
/// exactly the predicted recordings arrived, each well-formed.
fn matrix_row(index: usize) {
    let _serial = support::serial();
    const HOLD_MS: u64 = 1500;
    {
        let row = &ROWS[index];
        let s = setup(row.edit);
        let mut expected_total = 0;
        let mut expected_origins = Vec::new();
        for (kind, origins) in row.expect {
            s.call(kind, HOLD_MS);
            expected_total += origins.len();
            expected_origins.extend(origins.iter().map(|o| o.to_string()));
        }
        // all calls have ended once their 6 CDRs are written; then every recording they made is
        // in the spool, and once none is still recording or waiting to upload, every upload
        // that will ever be made has been made
        let cdrs = s.callrec.wait_cdrs(6, Duration::from_secs(10));
        assert_eq!(cdrs.len(), 6, "{}: CDRs {cdrs:#?}", row.name);
        s.callrec.wait_spool_settled(Duration::from_secs(30));
        let requests = s.nginx.requests();
        assert_eq!(
            requests.len(),
            expected_total,
            "{}: uploads {:#?}\nCDRs {cdrs:#?}",
            row.name,
            requests
        );
        for req in &requests {
            check_upload(req, HOLD_MS as f64 / 1000.0);
        }
        expected_origins.sort();
        assert_eq!(
            s.origins(),
            expected_origins,
            "{}: origins in the CDRs",
            row.name
        );
        assert_eq!(
            s.spool_origins(),
            expected_origins,
            "{}: origins in the spool",
            row.name
        );
        let recorded_ids: BTreeSet<_> = requests
            .iter()
            .map(|r| r.query["recording_id"].clone())
            .collect();
        assert_eq!(
            recorded_ids.len(),
            requests.len(),
            "{}: recording ids are unique",
            row.name
        );
    }
}

// One test per row of ROWS: the seed's matrix, for each call type under a set of settings.

#[test]
fn matrix_example_account_records_offnet_calls_both_ways_and_no_internal_call() {
    matrix_row(0);
}

#[test]
fn matrix_account_inbound_onnet_records_calls_placed_by_phones_only() {
    matrix_row(1);
}

#[test]
fn matrix_user_outbound_offnet_records_only_the_users_calls_to_the_carrier() {
    matrix_row(2);
}

#[test]
fn matrix_user_inbound_offnet_records_only_carrier_calls_to_the_user() {
    matrix_row(3);
}

#[test]
fn matrix_a_device_that_disables_recording_beats_its_user_that_enables_it() {
    matrix_row(4);
}

#[test]
fn matrix_internal_call_is_recorded_once_for_the_caller_and_once_for_the_callee() {
    matrix_row(5);
}

#[test]
fn offnet_calls_of_the_example_account_upload_wav_recordings_with_metadata() {
    let _serial = support::serial();
    let s = setup(|_| {});
    let out = s.call(CallType::PhoneToCarrier, 3000);
    let inn = s.call(CallType::CarrierToPhone, 3000);
    let requests = s.nginx.wait_requests(2, Duration::from_secs(30));
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let cdrs = s.callrec.wait_cdrs(4, Duration::from_secs(5));
    for req in &requests {
        check_upload(req, 3.0);
        assert_eq!(req.query["account_id"], s.callrec.ids.account);
        // the recorded call is one of ours, and its interaction is the one in the CDRs
        let cdr = cdrs
            .iter()
            .find(|c| c.call_id() == Some(req.query["call_id"].as_str()))
            .unwrap_or_else(|| panic!("no CDR for the uploaded call {}", req.query["call_id"]));
        assert_eq!(
            cdr.interaction_id(),
            Some(req.query["interaction_id"].as_str())
        );
        assert_eq!(
            cdr.media_recording_id(),
            Some(req.query["recording_id"].as_str())
        );
    }
    let interactions: BTreeSet<_> = [&out, &inn]
        .iter()
        .filter_map(|id| cdrs.iter().find(|c| c.call_id() == Some(id.as_str())))
        .filter_map(|c| c.interaction_id().map(str::to_owned))
        .collect();
    let uploaded: BTreeSet<_> = requests
        .iter()
        .map(|r| r.query["interaction_id"].clone())
        .collect();
    assert_eq!(uploaded, interactions, "one recording per offnet call");
}

#[test]
fn a_call_playing_a_pcap_is_recorded_as_long_as_the_pcap_within_one_percent() {
    let _serial = support::serial();
    let pcap = fixtures().join("pcap/g711a.pcap");
    let pcap_s = audio::pcap_audio_s(&pcap);
    assert!(
        (pcap_s - 10.0).abs() < 0.001,
        "fixture pcap lasts {pcap_s} s"
    );
    let s = setup(|_| {});
    let answering = s.carrier.answer(&s.callrec, 1);
    s.p1.call(&s.callrec, "+15559990000", "uac_pcap.xml")
        .cwd(&fixtures())
        .timeout_s(40)
        .run()
        .assert_ok(1);
    answering.wait().assert_ok(1);
    let requests = s.nginx.wait_requests(1, Duration::from_secs(30));
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let file = &requests[0].file;
    let duration = audio::duration_s(file);
    assert!(
        (duration - pcap_s).abs() <= pcap_s * 0.01,
        "recording lasts {duration:.3} s, the pcap {pcap_s:.3} s"
    );
    assert_eq!(audio::channels(file), 2);
    assert_eq!(audio::sample_rate(file), 8000, "G.711's clock rate");
}

#[test]
fn a_recording_shorter_than_record_min_sec_is_not_uploaded() {
    let _serial = support::serial();
    let s = setup(|docs| {
        docs.account()["call_recording"] = json!({"account": {"outbound": {"offnet": {
            "enabled": true, "format": "wav", "record_min_sec": 5,
            "url": "http://127.0.0.1:8080/recordings/"
        }}}});
    });
    let short = s.call(CallType::PhoneToCarrier, 2000);
    // the control: a 6 s call with the same rule is uploaded
    let long = s.call(CallType::PhoneToCarrier, 6000);
    let cdrs = s.callrec.wait_cdrs(4, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 4, "{cdrs:#?}");
    // both calls have ended: once no recording is pending, every upload has been made
    let records = s.callrec.wait_spool_settled(Duration::from_secs(30));
    let requests = s.nginx.requests();
    assert_eq!(
        requests.len(),
        1,
        "only the 6 s call is uploaded: {requests:#?}"
    );
    check_upload(&requests[0], 6.0);
    let leg = |id: &str| cdrs.iter().find(|c| c.call_id() == Some(id)).cloned();
    let long_leg = leg(&long).expect("CDR of the long call");
    assert_eq!(
        long_leg.interaction_id(),
        Some(requests[0].query["interaction_id"].as_str())
    );
    assert!(leg(&short).is_some(), "CDR of the short call");
    let discarded = records
        .iter()
        .filter(|r| r.get("state").and_then(Value::as_str) == Some("discarded"))
        .count();
    assert_eq!(
        discarded, 1,
        "the short recording is discarded in the spool: {records:#?}"
    );
}
