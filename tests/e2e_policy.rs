//! End-to-end recording policy through real processes: callrec, SIPp phones and carrier, and
//! nginx as the PUT receiver. For each of the seed's three call types (onnet→onnet,
//! onnet→offnet, offnet→onnet) and a compact table of account/user/device settings, exactly the
//! recordings the seed's matrix predicts arrive: their count, origin label (spool sidecar),
//! file name, query metadata, Content-Type, and playable audio of the right duration and channel
//! count (soxi). Also the `record_call` callflow action (label, start/stop last in first out)
//! and `record_caller` ended by an RFC 4733 DTMF digit.
//!
//! Needs sipp (sip-tester), nginx and sox; `tests/run.sh` installs them.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use support::audio;
use support::callrec::{Callrec, Documents, Options};
use support::cdr::Cdr;
use support::nginx::{decode, Nginx, Request};
use support::phones::{first_call_id, phone_1001, phone_1002, Carrier, Phone};

/// The recording URL prefix used in the documents; rewritten to nginx's after every edit.
const EXAMPLE_URL: &str = "http://127.0.0.1:8080";

/// Hold time of every call (short: the whole file must run well under a minute).
const HOLD_MS: u64 = 2000;

/// Query keys every call recording upload carries (behaviour.md, "Upload").
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
    /// 1001 calls 1002 (onnet → onnet).
    PhoneToPhone,
    /// 1001 calls a PSTN number (onnet → offnet).
    PhoneToCarrier,
    /// The carrier calls the DID +15550100, routed to user 1001 (offnet → onnet).
    CarrierToPhone,
}

/// callrec (uploading to nginx), both phones registered, and the carrier.
struct Setup {
    nginx: Nginx,
    callrec: Callrec,
    p1: Phone,
    p2: Phone,
    carrier: Carrier,
}

/// Rewrites every string starting with the example recording URL to nginx's base URL.
fn point_urls_at(value: &mut Value, base: &str) {
    match value {
        Value::String(s) if s.starts_with(EXAMPLE_URL) => {
            *s = s.replacen(EXAMPLE_URL, base, 1);
        }
        Value::Object(map) => map.values_mut().for_each(|v| point_urls_at(v, base)),
        Value::Array(items) => items.iter_mut().for_each(|v| point_urls_at(v, base)),
        _ => {}
    }
}

fn setup(edit: impl FnOnce(&mut Documents) + 'static) -> Setup {
    let nginx = Nginx::start();
    let base = nginx.base_url();
    let callrec = Callrec::start(Options::default().receiver(&base).edit(move |docs| {
        edit(docs);
        for doc in docs.all() {
            point_urls_at(doc, &base);
        }
    }));
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

/// Recording parameters: enabled, `format`, uploading to the (rewritten) example URL.
fn params(format: &str) -> Value {
    json!({"enabled": true, "format": format, "url": format!("{EXAMPLE_URL}/recordings/")})
}

fn wav() -> Value {
    params("wav")
}

/// Removes the example account's own rules (offnet in and out).
fn no_account_rules(docs: &mut Documents) {
    docs.account()["call_recording"] = json!({});
}

impl Setup {
    /// Places one call of `kind` held `hold_ms`; returns the caller's Call-ID.
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

    /// Waits until `cdrs` CDRs are written and the spool has settled, then returns the uploads
    /// after the first `before`, waiting (bounded) for nginx to log `expected` of them.
    fn uploads_after(
        &self,
        cdrs: usize,
        before: usize,
        expected: usize,
    ) -> (Vec<Request>, Vec<Cdr>) {
        let all_cdrs = self.callrec.wait_cdrs(cdrs, Duration::from_secs(10));
        assert!(all_cdrs.len() >= cdrs, "CDRs: {all_cdrs:#?}");
        self.callrec.wait_spool_settled(Duration::from_secs(20));
        // nginx logs a request after answering it: allow it a moment to catch up with the spool
        let requests = self
            .nginx
            .wait_requests(before + expected, Duration::from_secs(3));
        (requests.into_iter().skip(before).collect(), all_cdrs)
    }

    /// The spool sidecar of recording `id` (its `origin` is in the metadata).
    fn sidecar(&self, id: &str) -> Value {
        let records = self.callrec.spool_records();
        records
            .iter()
            .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
            .cloned()
            .unwrap_or_else(|| panic!("no spool sidecar for recording {id}: {records:#?}"))
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

fn origin_of(sidecar: &Value) -> String {
    find_key(sidecar, "origin")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("sidecar has no origin: {sidecar:#?}"))
        .to_owned()
}

/// ±0.3 s or 5 %, whichever is larger.
fn assert_duration(file: &std::path::Path, expected_s: f64, what: &str) -> f64 {
    let duration = audio::duration_s(file);
    let tolerance = (expected_s * 0.05).max(0.3);
    assert!(
        (duration - expected_s).abs() <= tolerance,
        "{what}: recording lasts {duration:.3} s, expected {expected_s:.3} s ± {tolerance:.2}"
    );
    duration
}

/// Checks one call recording upload: stored by nginx with PUT, named
/// `call_recording_<call_id>.<ext>`, every query key, the format's Content-Type, a stereo file of
/// `hold_s`, the query's `duration_ms` agreeing with the file, and a `call_id` of one of the call's
/// legs. Returns the recording id.
fn check_upload(
    req: &Request,
    format: &str,
    hold_s: f64,
    leg_call_ids: &[String],
    what: &str,
) -> String {
    assert_eq!(req.method, "PUT", "{what}: {req:#?}");
    assert!(
        (200..300).contains(&req.status),
        "{what}: nginx answered {}: {req:#?}",
        req.status
    );
    for key in QUERY_KEYS {
        assert!(
            req.query.contains_key(key),
            "{what}: query lacks {key}: {}",
            req.raw_query
        );
    }
    let call_id = &req.query["call_id"];
    assert!(
        leg_call_ids.contains(call_id),
        "{what}: call_id {call_id} is none of the call's legs {leg_call_ids:?}"
    );
    assert_eq!(
        decode(&req.path),
        format!("/recordings/call_recording_{call_id}.{format}"),
        "{what}: file name"
    );
    let content_type = match format {
        "mp3" => "audio/mpeg",
        _ => "audio/wav",
    };
    assert_eq!(req.content_type, content_type, "{what}: {req:#?}");
    assert!(
        req.file.is_file(),
        "{what}: no file at {}",
        req.file.display()
    );
    assert_eq!(
        audio::channels(&req.file),
        2,
        "{what}: stereo (caller left, callee right)"
    );
    let duration = assert_duration(&req.file, hold_s, what);
    let duration_ms: f64 = req.query["duration_ms"]
        .parse()
        .unwrap_or_else(|_| panic!("{what}: duration_ms is not a number: {}", req.raw_query));
    // MP3 frames (1152 samples) and the encoder's delay make an MP3 file up to ~0.2 s longer
    // than the audio recorded; a WAV file is exact.
    let slack = if format == "mp3" { 0.3 } else { 0.1 };
    assert!(
        (duration_ms / 1000.0 - duration).abs() < slack,
        "{what}: duration_ms {duration_ms} vs the file's {duration:.3} s"
    );
    req.query["recording_id"].clone()
}

/// The Call-IDs of every leg of the interaction the caller's Call-ID belongs to.
fn leg_call_ids(cdrs: &[Cdr], caller_call_id: &str) -> Vec<String> {
    let interaction = cdrs
        .iter()
        .find(|c| c.call_id() == Some(caller_call_id))
        .and_then(|c| c.interaction_id())
        .unwrap_or_else(|| panic!("no CDR for the call {caller_call_id}: {cdrs:#?}"))
        .to_owned();
    cdrs.iter()
        .filter(|c| c.interaction_id() == Some(interaction.as_str()))
        .filter_map(|c| c.call_id().map(str::to_owned))
        .collect()
}

/// One case of the table: settings, then calls with the origins each must produce.
struct Case {
    name: &'static str,
    format: &'static str,
    edit: fn(&mut Documents),
    calls: &'static [(CallType, &'static [&'static str])],
}

const CASES: [Case; 6] = [
    Case {
        name: "account inbound offnet only: only the call from the carrier is recorded",
        format: "wav",
        edit: |docs| {
            docs.account()["call_recording"] = json!({"account": {"inbound": {"offnet": wav()}}});
        },
        calls: &[
            (
                CallType::CarrierToPhone,
                &["inbound from offnet to account"],
            ),
            (CallType::PhoneToCarrier, &[]),
        ],
    },
    Case {
        name: "account outbound onnet (mp3): calls to onnet endpoints, from phones or carriers",
        format: "mp3",
        edit: |docs| {
            docs.account()["call_recording"] =
                json!({"account": {"outbound": {"onnet": params("mp3")}}});
        },
        calls: &[
            (CallType::PhoneToPhone, &["outbound to onnet from account"]),
            (CallType::PhoneToCarrier, &[]),
            (
                CallType::CarrierToPhone,
                &["outbound to onnet from account"],
            ),
        ],
    },
    Case {
        name: "device 1002 inbound onnet, starting on answer",
        format: "wav",
        edit: |docs| {
            no_account_rules(docs);
            let mut p = wav();
            p["record_on_answer"] = json!(true);
            docs.device("1002")["call_recording"] = json!({"inbound": {"onnet": p}});
        },
        calls: &[(CallType::PhoneToPhone, &["inbound from onnet to endpoint"])],
    },
    Case {
        name: "user 1001 outbound offnet, device 1001 disables it: nothing",
        format: "wav",
        edit: |docs| {
            no_account_rules(docs);
            docs.owner_of("1001")["call_recording"] = json!({"outbound": {"offnet": wav()}});
            docs.device("1001")["call_recording"] =
                json!({"outbound": {"offnet": {"enabled": false}}});
        },
        calls: &[(CallType::PhoneToCarrier, &[])],
    },
    Case {
        name: "the seed's Sales example: customer calls recorded, internal calls not",
        format: "wav",
        edit: |docs| {
            no_account_rules(docs);
            docs.owner_of("1001")["call_recording"] =
                json!({"inbound": {"offnet": wav()}, "outbound": {"offnet": wav()}});
        },
        calls: &[
            (CallType::PhoneToPhone, &[]),
            (
                CallType::PhoneToCarrier,
                &["outbound to offnet from endpoint"],
            ),
            (
                CallType::CarrierToPhone,
                &["inbound from offnet to endpoint"],
            ),
        ],
    },
    Case {
        name: "three recordings of one internal call: account, caller and callee",
        format: "wav",
        edit: |docs| {
            docs.account()["call_recording"] = json!({"account": {"inbound": {"onnet": wav()}}});
            docs.owner_of("1001")["call_recording"] = json!({"outbound": {"onnet": wav()}});
            docs.owner_of("1002")["call_recording"] = json!({"inbound": {"onnet": wav()}});
        },
        calls: &[(
            CallType::PhoneToPhone,
            &[
                "inbound from onnet to account",
                "inbound from onnet to endpoint",
                "outbound to onnet from endpoint",
            ],
        )],
    },
];

#[test]
fn for_each_call_type_and_setting_exactly_the_recordings_the_seeds_matrix_predicts_arrive() {
    let _serial = support::serial();
    let hold_s = HOLD_MS as f64 / 1000.0;
    for case in &CASES {
        let s = setup(case.edit);
        let mut uploaded = 0;
        for (i, (kind, expected)) in case.calls.iter().enumerate() {
            let what = format!("{} / {kind:?}", case.name);
            let caller_call_id = s.call(*kind, HOLD_MS);
            let (requests, cdrs) = s.uploads_after(2 * (i + 1), uploaded, expected.len());
            assert_eq!(
                requests.len(),
                expected.len(),
                "{what}: uploads {requests:#?}\nCDRs {cdrs:#?}"
            );
            uploaded += requests.len();
            let legs = leg_call_ids(&cdrs, &caller_call_id);
            let mut origins: Vec<String> = requests
                .iter()
                .map(|req| {
                    let id = check_upload(req, case.format, hold_s, &legs, &what);
                    assert_eq!(req.query["account_id"], s.callrec.ids.account, "{what}");
                    origin_of(&s.sidecar(&id))
                })
                .collect();
            origins.sort();
            let mut expected: Vec<String> = expected.iter().map(|o| o.to_string()).collect();
            expected.sort();
            assert_eq!(origins, expected, "{what}: origins in the spool sidecars");
        }
    }
}

/// tests/fixtures/policy/
fn policy_fixtures() -> PathBuf {
    support::repo_root().join("tests/fixtures/policy")
}

/// Makes callflow 1002 run `actions` (record_call data objects, in order) before device 1002.
fn record_call_flow(docs: &mut Documents, actions: Vec<Value>) {
    no_account_rules(docs);
    let device = docs.device_id("1002");
    let callflow = docs
        .of_kind(support::callrec::Kind::Callflow)
        .find(|c| c["numbers"] == json!(["1002"]))
        .expect("callflow of 1002");
    let mut flow = json!({"module": "device", "data": {"id": device}, "children": {}});
    for data in actions.into_iter().rev() {
        flow = json!({"module": "record_call", "data": data, "children": {"_": flow}});
    }
    callflow["flow"] = flow;
}

/// `record_call` data with a label, wav, uploading to the (rewritten) example URL.
fn labelled(label: &str) -> Value {
    json!({"label": label, "format": "wav", "url": format!("{EXAMPLE_URL}/recordings/")})
}

#[test]
fn record_call_in_a_callflow_records_the_call_with_its_label_as_origin() {
    let _serial = support::serial();
    let s = setup(|docs| record_call_flow(docs, vec![labelled("sales line")]));
    let caller_call_id = s.call(CallType::PhoneToPhone, HOLD_MS);
    let (requests, cdrs) = s.uploads_after(2, 0, 1);
    assert_eq!(requests.len(), 1, "uploads {requests:#?}\nCDRs {cdrs:#?}");
    let legs = leg_call_ids(&cdrs, &caller_call_id);
    let id = check_upload(
        &requests[0],
        "wav",
        HOLD_MS as f64 / 1000.0,
        &legs,
        "record_call",
    );
    assert_eq!(origin_of(&s.sidecar(&id)), "callflow : sales line");
}

#[test]
fn record_call_stop_in_a_callflow_ends_the_newest_recording_at_once() {
    let _serial = support::serial();
    // record_call{outer} -> record_call{inner} -> record_call{stop} -> device 1002: the stop
    // ends "inner" at once (last in, first out); "outer" records the whole call.
    let s = setup(|docs| {
        record_call_flow(
            docs,
            vec![
                labelled("outer"),
                labelled("inner"),
                json!({"action": "stop"}),
            ],
        )
    });
    let caller_call_id = s.call(CallType::PhoneToPhone, HOLD_MS);
    let (requests, cdrs) = s.uploads_after(2, 0, 2);
    let legs = leg_call_ids(&cdrs, &caller_call_id);
    // both recordings are named after the A leg's Call-ID, so nginx keeps only the last file:
    // the length of each is the query's duration_ms
    let mut by_origin: Vec<(String, f64)> = requests
        .iter()
        .map(|req| {
            assert!(legs.contains(&req.query["call_id"]), "{req:#?}");
            assert_eq!(req.content_type, "audio/wav");
            let ms: f64 = req.query["duration_ms"].parse().expect("duration_ms");
            (
                origin_of(&s.sidecar(&req.query["recording_id"])),
                ms / 1000.0,
            )
        })
        .collect();
    by_origin.sort_by(|a, b| a.0.cmp(&b.0));
    let origins: Vec<&str> = by_origin.iter().map(|(o, _)| o.as_str()).collect();
    // the stopped recording is either uploaded nearly empty or discarded as never started
    let (inner, outer) = match origins.as_slice() {
        ["callflow : inner", "callflow : outer"] => (Some(by_origin[0].1), by_origin[1].1),
        ["callflow : outer"] => (None, by_origin[0].1),
        _ => panic!("uploads {requests:#?}\nCDRs {cdrs:#?}"),
    };
    let hold_s = HOLD_MS as f64 / 1000.0;
    assert!(
        (outer - hold_s).abs() <= 0.3,
        "the outer recording lasts the call: {outer:.3} s"
    );
    if let Some(inner) = inner {
        assert!(
            inner < 0.3,
            "the stopped recording ends at once, not with the call: {inner:.3} s"
        );
    }
}

#[test]
fn record_caller_records_only_the_caller_and_ends_on_a_dtmf_digit() {
    let _serial = support::serial();
    // the DID's callflow becomes number 2000 → record_caller (voicemail style)
    let s = setup(|docs| {
        no_account_rules(docs);
        let callflow = docs
            .of_kind(support::callrec::Kind::Callflow)
            .find(|c| c["numbers"] == json!(["+15550100"]))
            .expect("callflow of the DID");
        callflow["numbers"] = json!(["2000"]);
        callflow["flow"] = json!({
            "module": "record_caller",
            "data": {"format": "wav", "method": "put", "url": format!("{EXAMPLE_URL}/voicemail/")},
            "children": {}
        });
    });
    support::require_tool("sipp", "sip-tester");
    let pcap = PathBuf::from("/usr/share/sip-tester/dtmf_2833_1.pcap");
    assert!(
        pcap.is_file(),
        "{} is missing (Debian: apt-get install sip-tester)",
        pcap.display()
    );
    let scenario = policy_fixtures().join("record_caller_dtmf_uac.xml");
    // the scenario waits 1.5 s after the ACK, plays the digit, and expects callrec's BYE
    let outcome =
        s.p1.call(&s.callrec, "2000", scenario.to_str().expect("utf-8 path"))
            .timeout_s(15)
            .run();
    outcome.assert_ok(1);
    let call_id = first_call_id(&outcome.messages).expect("caller's Call-ID");
    s.callrec.wait_cdrs(1, Duration::from_secs(10));
    s.callrec.wait_spool_settled(Duration::from_secs(20));
    let requests = s.nginx.wait_requests(1, Duration::from_secs(3));
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let req = &requests[0];
    assert_eq!(req.method, "PUT");
    assert!((200..300).contains(&req.status), "{req:#?}");
    assert_eq!(decode(&req.path), format!("/voicemail/{call_id}.wav"));
    assert_eq!(req.content_type, "audio/wav");
    assert_eq!(audio::channels(&req.file), 1, "only the caller is recorded");
    // ended by the digit 1.5 s (plus the digit's 0.14 s) after the answer, not by a hangup
    assert_duration(&req.file, 1.6, "record_caller");
}
