//! The Crossbar-compatible API through the real binary, on SQLite (the embedded default) and on
//! a real PostgreSQL server (a throwaway cluster started by the test): tokens, every verb and
//! error path, the seed's curl flipping a user's recording for the next call without a restart,
//! CDR legs by interaction id for the three call types, a recording downloaded as seekable
//! audio, and a restart keeping every change.
//!
//! Needs sipp, nginx and PostgreSQL's server binaries; `tests/run.sh` installs them.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::callrec::{Callrec, Options};
use support::nginx::Nginx;
use support::phones::{first_call_id, phone_1001, phone_1002, Carrier};

/// One HTTP reply: status, headers we look at, body.
struct Reply {
    status: u16,
    content_type: String,
    content_range: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

struct Api {
    base: String,
    token: Option<String>,
}

impl Api {
    fn new(callrec: &Callrec) -> Api {
        Api {
            base: format!("http://{}", callrec.api),
            token: None,
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req =
            ureq::request(method, &format!("{}{path}", self.base)).timeout(Duration::from_secs(20));
        if let Some(t) = &self.token {
            req = req.set("X-Auth-Token", t);
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        let content_type = resp.header("content-type").unwrap_or_default().to_owned();
        let content_range = resp.header("content-range").map(str::to_owned);
        let mut body = Vec::new();
        resp.into_reader()
            .take(50_000_000)
            .read_to_end(&mut body)
            .expect("body");
        Reply {
            status,
            content_type,
            content_range,
            body,
        }
    }

    fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None, &[])
    }

    fn send(&self, method: &str, path: &str, body: &Value) -> Reply {
        self.call(method, path, Some(&body.to_string()), &[])
    }
}

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(s.as_bytes()))
}

/// Logs in with the example's API key.
fn admin(callrec: &Callrec) -> Api {
    let mut api = Api::new(callrec);
    let r = api.send(
        "PUT",
        "/v2/api_auth",
        &json!({"data": {"api_key": "demo-api-key"}}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["account_id"], "demo");
    api.token = Some(v["auth_token"].as_str().expect("auth_token").to_owned());
    api
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

fn error_field<'a>(v: &'a Value, path: &str, rule: &str) -> &'a Value {
    let e = &v["data"][path][rule]["message"];
    assert!(e.is_string(), "no {rule} error on {path}: {v}");
    e
}

/// The whole suite on one database.
fn api_suite(store_url: Option<String>) {
    let _serial = support::serial();
    let nginx = Nginx::start();
    let mut options = Options::default().receiver(&nginx.base_url());
    if let Some(url) = &store_url {
        options = options.store(url);
    }
    let mut callrec = Callrec::start(options);

    // ---- authentication ----
    let anonymous = Api::new(&callrec);
    let r = anonymous.get("/v2/accounts/demo/users");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "invalid credentials");
    let r = anonymous.send(
        "PUT",
        "/v2/api_auth",
        &json!({"data": {"api_key": "wrong"}}),
    );
    assert_eq!(r.status, 401);
    // user_auth exactly as KAZOO's docs: md5("username:password") and the account name.
    let r = anonymous.send(
        "PUT",
        "/v2/user_auth",
        &json!({"data": {"credentials": md5_hex("admin:demo-admin"), "account_name": "Demo"}}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["data"]["owner_id"], "user-admin");
    let user_token = v["auth_token"].as_str().unwrap().to_owned();
    assert_eq!(user_token.len(), 64);
    let mut bad = Api::new(&callrec);
    bad.token = Some("0".repeat(64));
    assert_eq!(bad.get("/v2/accounts/demo").status, 401);

    let api = admin(&callrec);
    assert_eq!(
        api.get("/v2/accounts/other").status,
        403,
        "no other account"
    );

    // ---- documents ----
    let r = api.get("/v2/accounts/demo/users");
    assert_eq!(r.status, 200);
    let users = r.json();
    let ids: Vec<&str> = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"user-1001") && ids.contains(&"user-admin"),
        "{ids:?}"
    );
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        !text.contains("demo-admin") && !text.contains("\"password\""),
        "secrets are never returned: {text}"
    );
    let account = api.get("/v2/accounts/demo").json();
    assert!(!account.to_string().contains("demo-api-key"));
    assert_eq!(account["data"]["name"], "Demo");

    // create, read, patch, replace, delete a device
    let r = api.send(
        "PUT",
        "/v2/accounts/demo/devices",
        &json!({"data": {"name": "Desk", "owner_id": "user-1002",
                         "sip": {"username": "2002", "password": "desk-secret"}}}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    let dev = created["data"]["id"].as_str().unwrap().to_owned();
    let rev1 = created["revision"].as_str().unwrap().to_owned();
    assert!(rev1.starts_with("1-"));
    let path = format!("/v2/accounts/demo/devices/{dev}");
    assert_eq!(api.get(&path).json()["data"]["name"], "Desk");
    let r = api.send("PATCH", &path, &json!({"data": {"name": "Desk phone"}}));
    assert_eq!(r.status, 200);
    let patched = r.json();
    assert_eq!(patched["data"]["name"], "Desk phone");
    assert_eq!(patched["data"]["sip"]["username"], "2002", "PATCH merges");
    // a stale revision changes nothing
    let r = api.send(
        "POST",
        &path,
        &json!({"data": {"_rev": rev1, "name": "Stale",
        "sip": {"username": "2002", "password": "x"}}}),
    );
    assert_eq!(r.status, 409);
    assert_eq!(api.get(&path).json()["data"]["name"], "Desk phone");
    // POST replaces
    let r = api.send(
        "POST",
        &path,
        &json!({"data": {"name": "Replaced",
        "sip": {"username": "2002", "password": "desk-secret"}}}),
    );
    assert_eq!(r.status, 200);
    assert!(
        r.json()["data"].get("owner_id").is_none(),
        "POST replaces the whole document"
    );
    assert_eq!(api.call("DELETE", &path, None, &[]).status, 200);
    let r = api.get(&path);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "bad identifier");

    // error paths: malformed JSON, too large, wrong verb, unknown collection, validation
    let r = api.call(
        "PATCH",
        "/v2/accounts/demo/users/user-1001",
        Some("{nope"),
        &[],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "invalid json");
    let big = format!("{{\"data\": {{\"x\": \"{}\"}}}}", "a".repeat(1_100_000));
    assert_eq!(
        raw_status(
            &callrec,
            api.token.as_deref().unwrap(),
            "/v2/accounts/demo/users/user-1001",
            big.as_bytes()
        ),
        413
    );
    let r = api.call("DELETE", "/v2/accounts/demo", None, &[]);
    assert_eq!(r.status, 405);
    assert_eq!(api.get("/v2/accounts/demo/widgets").status, 404);
    let before = api.get("/v2/accounts/demo/users/user-1001").json();
    let r = api.send(
        "PATCH",
        "/v2/accounts/demo/users/user-1001",
        &json!({"data": {"call_recording": {"inbound": {"offnet": {"enabled": true, "url": "ftp://nope/"}}}}}),
    );
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["message"], "invalid data");
    assert_eq!(v["error"], "400");
    error_field(&v, "call_recording.inbound.offnet.url", "format");
    let r = api.send(
        "PATCH",
        "/v2/accounts/demo/users/user-1001",
        &json!({"data": {"call_recording": {"inbound": {"offnet": {"format": "ogg"}}}}}),
    );
    assert_eq!(r.status, 400);
    error_field(&r.json(), "call_recording.inbound.offnet.format", "enum");
    let r = api.send(
        "PUT",
        "/v2/accounts/demo/devices",
        &json!({"data": {"name": "no sip"}}),
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        api.get("/v2/accounts/demo/users/user-1001").json()["data"],
        before["data"],
        "refused requests change nothing"
    );

    // ---- the seed's curl: a user's recording flipped through the API, then a call ----
    let (p1, p2) = (phone_1001(), phone_1002());
    p1.register(&callrec);
    p2.register(&callrec);
    let carrier = Carrier::of(&callrec);
    // Before: the carrier calls the DID (user 1001): only the account's recording.
    let callee = p1.answer(&callrec, "phone_uas.xml", 1);
    let caller = carrier
        .call(&callrec, "+15557770001", "+15550100")
        .hold_ms(1500)
        .run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
    let first = first_call_id(&caller.messages).unwrap();
    let recordings_of = |api: &Api, call_id: &str| -> Vec<Value> {
        api.get("/v2/accounts/demo/recordings?page_size=100").json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["call_id"] == call_id)
            .cloned()
            .collect()
    };
    let recs = wait_until(
        Duration::from_secs(10),
        "the first call's recording",
        || {
            let r = recordings_of(&api, &first);
            (!r.is_empty()).then_some(r)
        },
    );
    assert_eq!(recs.len(), 1, "{recs:?}");
    // curl -X PATCH -H "X-Auth-Token: ..." -d '{"data":{"call_recording":{...}}}' .../users/{USER_ID}
    let r = api.send(
        "PATCH",
        "/v2/accounts/demo/users/user-1001",
        &json!({"data": {"call_recording": {"inbound": {"offnet": {"enabled": true, "format": "wav"}}}}}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let callee = p1.answer(&callrec, "phone_uas.xml", 1);
    let caller = carrier
        .call(&callrec, "+15557770001", "+15550100")
        .hold_ms(2500)
        .run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
    let second = first_call_id(&caller.messages).unwrap();
    // The user's rule (no url: kept locally) records the callee's leg; the account's the caller's.
    let deadline = Instant::now() + Duration::from_secs(15);
    let local = loop {
        let last = api.get("/v2/accounts/demo/recordings?page_size=100").json();
        if let Some(r) = last["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["state"] == "local" && r["owner_id"] == "user-1001")
        {
            break r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no local user recording; recordings: {last:#}\nlog:\n{}",
            callrec.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        local["interaction_id"],
        recordings_of(&api, &second)[0]["interaction_id"]
    );
    let rec_path = format!(
        "/v2/accounts/demo/recordings/{}",
        local["id"].as_str().unwrap()
    );
    let meta = api.get(&rec_path).json();
    assert_eq!(meta["data"]["state"], "local");
    // the audio, whole and by range
    let whole = api.call("GET", &rec_path, None, &[("Accept", "audio/wav")]);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.content_type, "audio/wav");
    assert_eq!(&whole.body[..4], b"RIFF");
    assert!(
        whole.body.len() > 8000 * 2 * 2,
        "at least a second of 8 kHz stereo"
    );
    let part = api.call(
        "GET",
        &rec_path,
        None,
        &[("Accept", "audio/wav"), ("Range", "bytes=100-199")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, whole.body[100..200]);
    assert_eq!(
        part.content_range.as_deref(),
        Some(format!("bytes 100-199/{}", whole.body.len()).as_str())
    );

    // ---- CDR legs by interaction id, for the three call types ----
    let caller = p1.call(&callrec, "1002", "phone_uac.xml").hold_ms(500);
    let callee = p2.answer(&callrec, "phone_uas.xml", 1);
    let caller = caller.run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
    let p2p = first_call_id(&caller.messages).unwrap();
    let answering = carrier.answer(&callrec, 1);
    let caller = p1
        .call(&callrec, "+15559990000", "phone_uac.xml")
        .hold_ms(500)
        .run();
    caller.assert_ok(1);
    answering.wait().assert_ok(1);
    let p2c = first_call_id(&caller.messages).unwrap();
    for (call_id, a_rt, b_rt, direction) in [
        (&p2p, None, None, "internal"),
        (&p2c, None, Some("offnet-termination"), "outbound"),
        (&second, Some("offnet-origination"), None, "inbound"),
    ] {
        let cdr = wait_until(Duration::from_secs(10), "the A leg's CDR", || {
            let r = api.get(&format!("/v2/accounts/demo/cdrs/{}", urlencode(call_id)));
            (r.status == 200).then(|| r.json())
        });
        let iid = cdr["data"]["interaction_id"].as_str().unwrap().to_owned();
        let legs = wait_until(Duration::from_secs(10), "both legs", || {
            let v = api
                .get(&format!("/v2/accounts/demo/cdrs/legs/{}", urlencode(&iid)))
                .json();
            let legs = v["data"].as_array().cloned().unwrap_or_default();
            (legs.len() == 2).then_some(legs)
        });
        let a = legs
            .iter()
            .find(|l| l["call_direction"] == "inbound")
            .expect("A leg");
        let b = legs
            .iter()
            .find(|l| l["call_direction"] == "outbound")
            .expect("B leg");
        for (leg, rt) in [(a, a_rt), (b, b_rt)] {
            assert_eq!(leg["interaction_id"], iid.as_str());
            assert_eq!(leg["end_user_direction"], direction, "{leg}");
            assert_eq!(
                leg["custom_channel_vars"]["resource_type"].as_str(),
                rt,
                "{leg}"
            );
            assert_eq!(leg["custom_channel_vars"]["account_id"], "demo", "{leg}");
            assert!(
                leg["custom_channel_vars"].get("authorizing_id").is_some(),
                "{leg}"
            );
        }
    }
    // paging: one CDR per page, following next_start_key, sees every leg once
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let q = match &next {
            Some(k) => format!(
                "/v2/accounts/demo/cdrs?page_size=1&start_key={}",
                urlencode(k)
            ),
            None => "/v2/accounts/demo/cdrs?page_size=1".to_owned(),
        };
        let v = api.get(&q).json();
        seen.extend(
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["call_id"].clone()),
        );
        match v["next_start_key"].as_str() {
            Some(k) => next = Some(k.to_owned()),
            None => break,
        }
        assert!(seen.len() < 100, "paging does not end");
    }
    assert_eq!(seen.len(), 8, "four calls, two legs each: {seen:?}");
    let far_future = callrec_kazoo_now() + 10 * 24 * 3600;
    let empty = api
        .get(&format!(
            "/v2/accounts/demo/cdrs?created_from={far_future}&created_to={}",
            far_future + 10
        ))
        .json();
    assert_eq!(empty["data"].as_array().unwrap().len(), 0);

    // ---- a user-level token sees only its own user and devices ----
    let r = api.send(
        "PATCH",
        "/v2/accounts/demo/users/user-1001",
        &json!({"data": {"password": "alice-pw"}}),
    );
    assert_eq!(r.status, 200);
    let r = anonymous.send(
        "PUT",
        "/v2/user_auth",
        &json!({"data": {"credentials": md5_hex("1001:alice-pw"), "realm": "demo.callrec.local"}}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let mut alice = Api::new(&callrec);
    alice.token = Some(r.json()["auth_token"].as_str().unwrap().to_owned());
    let users = alice.get("/v2/accounts/demo/users").json();
    assert_eq!(users["data"].as_array().unwrap().len(), 1);
    assert_eq!(users["data"][0]["id"], "user-1001");
    let devices = alice.get("/v2/accounts/demo/devices").json();
    assert!(devices["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["owner_id"] == "user-1001"));
    assert_eq!(alice.get("/v2/accounts/demo/users/user-1002").status, 403);
    assert_eq!(
        alice
            .send(
                "PATCH",
                "/v2/accounts/demo/users/user-1002",
                &json!({"data": {"first_name": "x"}})
            )
            .status,
        403
    );
    // Its CDRs: only the legs its user owns, paged by the query (every page full), also at
    // KAZOO's /users/{U}/cdrs; another user's list is refused.
    let owned_by = |v: &Value, user: &str| -> Vec<Value> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["custom_channel_vars"]["owner_id"] == user)
            .map(|c| c["call_id"].clone())
            .collect()
    };
    let all = api.get("/v2/accounts/demo/cdrs?page_size=100").json();
    let mut expected = owned_by(&all, "user-1001");
    assert!(expected.len() >= 2, "user 1001 owns legs: {all:#}");
    assert!(
        expected.len() < all["data"].as_array().unwrap().len(),
        "and not every leg"
    );
    let by_user = api
        .get("/v2/accounts/demo/users/user-1001/cdrs?page_size=100")
        .json();
    assert_eq!(owned_by(&by_user, "user-1001"), expected);
    assert_eq!(by_user["data"].as_array().unwrap().len(), expected.len());
    for path in [
        "/v2/accounts/demo/cdrs",
        "/v2/accounts/demo/users/user-1001/cdrs",
    ] {
        let mut mine = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let q = match &next {
                Some(k) => format!("{path}?page_size=1&start_key={}", urlencode(k)),
                None => format!("{path}?page_size=1"),
            };
            let v = alice.get(&q).json();
            let page = owned_by(&v, "user-1001");
            assert_eq!(page.len(), 1, "every page of a user's CDRs is full: {v}");
            assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
            mine.extend(page);
            match v["next_start_key"].as_str() {
                Some(k) => next = Some(k.to_owned()),
                None => break,
            }
            assert!(mine.len() < 100, "paging does not end");
        }
        mine.sort_by_key(|c| c.to_string());
        expected.sort_by_key(|c| c.to_string());
        assert_eq!(mine, expected, "{path}");
    }
    assert_eq!(
        alice.get("/v2/accounts/demo/users/user-1002/cdrs").status,
        403
    );
    let r = alice.send(
        "PATCH",
        "/v2/accounts/demo/users/user-1001",
        &json!({"data": {"priv_level": "admin", "first_name": "Alicia"}}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["data"]["priv_level"],
        Value::Null,
        "a user cannot make itself admin"
    );

    // ---- a restart keeps every change ----
    callrec.restart();
    let api = admin(&callrec);
    let u = api.get("/v2/accounts/demo/users/user-1001").json();
    assert_eq!(u["data"]["first_name"], "Alicia");
    assert_eq!(
        u["data"]["call_recording"]["inbound"]["offnet"]["enabled"],
        true
    );
    assert_eq!(api.get(&rec_path).json()["data"]["state"], "local");
    // DELETE removes the recording: metadata and audio.
    assert_eq!(api.call("DELETE", &rec_path, None, &[]).status, 200);
    assert_eq!(api.get(&rec_path).status, 404);
    assert_eq!(
        api.call("GET", &rec_path, None, &[("Accept", "audio/wav")])
            .status,
        404
    );
    assert_eq!(api.call("DELETE", &rec_path, None, &[]).status, 404);

    // ---- metrics ----
    let m = String::from_utf8(api.get("/metrics").body).unwrap();
    for name in [
        "callrec_calls_in_progress",
        "callrec_rtp_relayed_total",
        "callrec_uploads_stored_total",
        "callrec_spool_backlog",
        "callrec_api_requests_total{status=\"200\"}",
    ] {
        assert!(m.contains(name), "{name} in /metrics:\n{m}");
    }

    // ---- failed logins from one address are limited ----
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(
            anonymous
                .send(
                    "PUT",
                    "/v2/api_auth",
                    &json!({"data": {"api_key": "guess"}}),
                )
                .status,
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    drop(nginx);
}

/// A PATCH written on a raw connection by a thread of its own, so that the reply can be read
/// even when the server stops reading a body it refuses.
fn raw_status(callrec: &Callrec, token: &str, path: &str, body: &[u8]) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::net::TcpStream::connect(callrec.api).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        callrec.api,
        body.len()
    );
    let body = body.to_vec();
    let t = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
    });
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("status line");
    let _ = t.join();
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn callrec_kazoo_now() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    callrec_kazoo::gregorian::from_unix(unix)
}

fn applied_change(callrec: &Callrec) -> u64 {
    let m = String::from_utf8(Api::new(callrec).get("/metrics").body).unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix("callrec_documents_change_seq "))
        .and_then(|v| v.trim().parse().ok())
        .expect("callrec_documents_change_seq in /metrics")
}

#[test]
fn a_second_callrec_sharing_postgresql_applies_a_change_within_a_second() {
    let _serial = support::serial();
    // tests/run.sh's server (CALLREC_TEST_PG_URL), or one started for this test process.
    let cluster = callrec_store::testing::shared_cluster()
        .unwrap_or_else(|e| panic!("PostgreSQL for the API tests: {e}"));
    let url = cluster.create_database().expect("database");
    let first = Callrec::start(Options::default().store(&url));
    let second = Callrec::start(Options::default().store(&url));
    let api = admin(&first);
    let before = applied_change(&second);
    let r = api.send(
        "PATCH",
        "/v2/accounts/demo/users/user-1002",
        &json!({"data": {"call_recording": {"inbound": {"onnet": {"enabled": true}}}}}),
    );
    assert_eq!(r.status, 200);
    let written = applied_change(&first);
    assert!(
        written > before,
        "the write moved the change sequence ({before} -> {written})"
    );
    let start = Instant::now();
    wait_until(
        Duration::from_secs(1),
        "the second process to apply the change",
        || (applied_change(&second) >= written).then_some(()),
    );
    eprintln!(
        "second process applied the change after {:?}",
        start.elapsed()
    );
    // and it serves the document as written
    let seen = admin(&second)
        .get("/v2/accounts/demo/users/user-1002")
        .json();
    assert_eq!(
        seen["data"]["call_recording"]["inbound"]["onnet"]["enabled"],
        true
    );
    drop((first, second, cluster));
}

#[test]
fn with_postgresql_down_calls_go_on_writes_get_503_and_cdrs_arrive_once_it_is_back() {
    let _serial = support::serial();
    // Durable: what was committed before the outage must survive the server's crash.
    let cluster = callrec_store::testing::PgCluster::start_with(
        &callrec_store::testing::ClusterOptions::default().durable(true),
    )
    .unwrap_or_else(|e| panic!("PostgreSQL for the API tests: {e}"));
    let url = cluster.create_database().expect("database");
    let nginx = Nginx::start();
    let callrec = Callrec::start(Options::default().receiver(&nginx.base_url()).store(&url));
    let api = admin(&callrec);
    let p1 = phone_1001();
    p1.register(&callrec);
    let carrier = Carrier::of(&callrec);

    cluster.stop_server();
    let r = api.send(
        "PATCH",
        "/v2/accounts/demo/users/user-1001",
        &json!({"data": {"first_name": "Down"}}),
    );
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["message"], "datastore unavailable");
    // Calls are routed from the documents read last, and recorded.
    let callee = p1.answer(&callrec, "phone_uas.xml", 1);
    let caller = carrier
        .call(&callrec, "+15557770001", "+15550100")
        .hold_ms(1000)
        .run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
    let call_id = first_call_id(&caller.messages).unwrap();
    nginx.wait_requests(1, Duration::from_secs(20));
    let backlog = callrec.data_dir.join("store-backlog.jsonl");
    wait_until(
        Duration::from_secs(30),
        "CDRs kept on disk while the database is down",
        || {
            std::fs::read_to_string(&backlog)
                .ok()
                .filter(|t| t.contains(&call_id))
                .map(|_| ())
        },
    );

    cluster.start_server().expect("PostgreSQL back");
    let deadline = Instant::now() + Duration::from_secs(30);
    let cdr = loop {
        let r = api.get(&format!("/v2/accounts/demo/cdrs/{}", urlencode(&call_id)));
        if r.status == 200 {
            break r.json();
        }
        assert!(
            Instant::now() < deadline,
            "the CDR was not written once the database was back: {} {}\nlog:\n{}",
            r.status,
            String::from_utf8_lossy(&r.body),
            support::callrec::tail(&callrec.log_text(), 15)
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(cdr["data"]["call_direction"], "inbound");
    let iid = cdr["data"]["interaction_id"].as_str().unwrap().to_owned();
    let legs = api
        .get(&format!("/v2/accounts/demo/cdrs/legs/{}", urlencode(&iid)))
        .json();
    assert_eq!(
        legs["data"].as_array().unwrap().len(),
        2,
        "both legs, once each"
    );
    wait_until(Duration::from_secs(10), "the backlog file removed", || {
        (!backlog.exists()).then_some(())
    });
    let r = api.send(
        "PATCH",
        "/v2/accounts/demo/users/user-1001",
        &json!({"data": {"first_name": "Back"}}),
    );
    assert_eq!(r.status, 200);
    drop((callrec, nginx, cluster));
}

#[test]
fn an_unreachable_database_at_start_up_is_refused_naming_store_url() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        std::fs::read_to_string(support::repo_root().join("config/callrec.toml")).unwrap();
    let port = support::net::free_port(support::net::PHONES_IP);
    let api_port = support::net::free_port(support::net::PHONES_IP);
    let dead = support::net::free_port(support::net::PHONES_IP);
    let config = example
        .replace("127.0.0.1:5060", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{api_port}"))
        .replace(
            "url = \"\"",
            &format!("url = \"postgres://callrec:secret@127.0.0.1:{dead}/callrec\""),
        )
        .replace("./data", &dir.path().join("data").to_string_lossy());
    let path = dir.path().join("callrec.toml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callrec"))
        .arg("--config")
        .arg(&path)
        .current_dir(support::repo_root())
        .output()
        .expect("run callrec");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("store.url"), "{text}");
    assert!(!text.contains("secret"), "the password is masked: {text}");
}

#[test]
fn the_api_on_sqlite() {
    api_suite(None);
}

#[test]
fn the_api_on_postgresql() {
    // tests/run.sh's server (CALLREC_TEST_PG_URL), or one started for this test process.
    let cluster = callrec_store::testing::shared_cluster()
        .unwrap_or_else(|e| panic!("PostgreSQL for the API tests: {e}"));
    let url = cluster.create_database().expect("database");
    api_suite(Some(url));
}

#[test]
fn callrec_import_adds_new_documents_to_a_running_store_once() {
    let _serial = support::serial();
    let callrec = Callrec::start(Options::default());
    let api = admin(&callrec);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("desk.json"),
        json!({"_id": "device-imported", "pvt_type": "device", "account_id": "demo",
               "name": "Imported desk", "owner_id": "user-1002",
               "sip": {"username": "2099", "password": "imported-secret"}})
        .to_string(),
    )
    .unwrap();
    let import = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_callrec"))
            .arg("--config")
            .arg(callrec.dir.path().join("callrec.toml"))
            .arg("import")
            .arg(dir.path())
            .current_dir(callrec.dir.path())
            .output()
            .expect("run callrec import");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        import().contains("imported 1 new"),
        "the first import adds it"
    );
    let dev = wait_until(Duration::from_secs(5), "the imported device", || {
        let r = api.get("/v2/accounts/demo/devices/device-imported");
        (r.status == 200).then(|| r.json())
    });
    assert_eq!(dev["data"]["name"], "Imported desk");
    // The running callrec took it (its change sequence moved past the import) and is fine.
    assert!(
        import().contains("imported 0 new"),
        "a second import is a no-op"
    );
    let r = api.send(
        "PATCH",
        "/v2/accounts/demo/devices/device-imported",
        &json!({"data": {"name": "Renamed"}}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        import().contains("imported 0 new"),
        "an import never overwrites a stored document"
    );
    assert_eq!(
        api.get("/v2/accounts/demo/devices/device-imported").json()["data"]["name"],
        "Renamed"
    );
}
