//! Storage plans end to end: recordings sent to a real S3-compatible server (`s3s-fs`, a
//! file-system backed S3 server with Signature V4 authentication, installed by
//! `tests/run.sh`), one server per test on a free port, through the real binary: the object
//! lands under its key with its metadata, the store down then up (it arrives once), wrong
//! credentials (403: retried, reported in `last_error`, the secret never in the log, fixed
//! through the API), a 100 MB recording by multipart, a `url` in the rule winning over the
//! plan, and bad storage documents refused naming the field.
//!
//! Needs sipp, nginx and s3s-fs; `tests/run.sh` installs them.

mod support;

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, ObjectStoreExt};
use serde_json::{json, Value};
use support::callrec::{Callrec, Options};
use support::http::Api;
use support::net::free_port;
use support::nginx::Nginx;
use support::phones::{first_call_id, phone_1001, Carrier};
use support::s3::{rt, S3Credentials, S3Server};

const ACCESS_KEY: &str = "callrec-test-key";
const SECRET: &str = "callrec-test-secret-0f9a8b7c";
const BUCKET: &str = "recordings";
const HANDLER: &str = "5f1c0b7e9d2a4c6e8f0a1b2c3d4e5f60";
const LOOPBACK: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;
const CREDS: S3Credentials = S3Credentials {
    access_key: ACCESS_KEY,
    secret: SECRET,
    bucket: BUCKET,
};

/// An object read back: its bytes' md5 and length, content type and metadata.
struct Object {
    len: u64,
    md5: String,
    head: Vec<u8>,
    content_type: String,
    meta: std::collections::HashMap<String, String>,
}

fn get_object(s3: &S3Server, key: &str) -> Object {
    let store = s3.client();
    rt().block_on(async {
        use futures_util::StreamExt;
        let got = store
            .get(&ObjectPath::parse(key).expect("key"))
            .await
            .unwrap_or_else(|e| panic!("GET {key}: {e}"));
        let mut meta = std::collections::HashMap::new();
        let mut content_type = String::new();
        for (k, v) in got.attributes.iter() {
            match k {
                Attribute::Metadata(name) => {
                    meta.insert(name.to_string(), v.to_string());
                }
                Attribute::ContentType => content_type = v.to_string(),
                _ => {}
            }
        }
        let mut stream = got.into_stream();
        let mut md5 = Md5::new();
        let mut len = 0u64;
        let mut head = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("object body");
            if head.len() < 64 {
                head.extend_from_slice(&chunk[..chunk.len().min(64)]);
            }
            len += chunk.len() as u64;
            md5.update(&chunk);
        }
        Object {
            len,
            md5: hex::encode(md5.finalize()),
            head,
            content_type,
            meta,
        }
    })
}

/// A storage document sending call recordings to `port` with `secret`.
fn storage_doc(port: u16, secret: &str) -> Value {
    json!({"data": {
        "attachments": {HANDLER: {"handler": "s3", "name": "test bucket", "settings": {
            "bucket": BUCKET, "host": "127.0.0.1", "port": port, "scheme": "http",
            "region": "us-east-1", "key": ACCESS_KEY, "secret": secret}}},
        "plan": {"modb": {"types": {"call_recording": {"attachments": {"handler": HANDLER}}}}}
    }})
}

/// Retries after 1 s, 2 s (capped), so a test waits seconds, not minutes.
fn fast_retries(config: &mut toml::Table) {
    let upload = config
        .entry("upload")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .expect("[upload]");
    upload.insert("initial_backoff_s".into(), toml::Value::Integer(1));
    upload.insert("max_backoff_s".into(), toml::Value::Integer(2));
}

/// callrec on the example documents with the account's inbound offnet rule without `url`
/// (`keep_url`: as the example has it).
fn start_callrec(keep_url: Option<&str>) -> Callrec {
    let mut options = Options::default().edit_config(fast_retries);
    match keep_url {
        Some(base) => options = options.receiver(base),
        None => {
            options = options.edit(|docs| {
                let rule = &mut docs.account()["call_recording"]["account"]["inbound"]["offnet"];
                rule.as_object_mut()
                    .expect("the example's rule")
                    .remove("url");
            })
        }
    }
    Callrec::start(options)
}

/// One carrier call to the DID (user 1001 answers), held 1.5 s; its Call-ID (the recorded A
/// leg's).
fn one_call(callrec: &Callrec) -> String {
    let p1 = phone_1001();
    p1.register(callrec);
    let carrier = Carrier::of(callrec);
    let callee = p1.answer(callrec, "phone_uas.xml", 1);
    let caller = carrier
        .call(callrec, "+15557770001", "+15550100")
        .hold_ms(1500)
        .run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
    first_call_id(&caller.messages).expect("call id")
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

/// The spool record of the recording of `call_id`.
fn spool_record(callrec: &Callrec, call_id: &str) -> Option<Value> {
    callrec
        .spool_records()
        .into_iter()
        .find(|r| r["metadata"]["call_id"] == call_id)
}

fn s3_root(callrec: &Callrec) -> PathBuf {
    callrec.dir.path().join("s3")
}

#[test]
fn a_recording_lands_under_its_key_with_its_metadata_and_the_api_shows_bucket_and_key() {
    let _serial = support::serial();
    let callrec = start_callrec(None);
    let s3 = S3Server::start_at(&s3_root(&callrec), free_port(LOOPBACK), CREDS);
    let api = Api::login(&callrec);
    let (status, v) = api.send(
        "PUT",
        "/v2/accounts/demo/storage",
        Some(&storage_doc(s3.port, SECRET)),
    );
    assert_eq!(status, 201, "{v}");
    let settings = &v["data"]["attachments"][HANDLER]["settings"];
    assert_eq!(settings["secret"], "********", "the secret is masked: {v}");
    assert_eq!(settings["bucket"], BUCKET);
    let (status, v) = api.send("GET", "/v2/accounts/demo/storage", None);
    assert_eq!(status, 200);
    assert!(!v.to_string().contains(SECRET), "GET shows no secret: {v}");

    let call_id = one_call(&callrec);
    let records = callrec.wait_spool_settled(Duration::from_secs(30));
    let rec = spool_record(&callrec, &call_id).unwrap_or_else(|| panic!("{records:#?}"));
    assert_eq!(rec["state"], "stored", "{rec:#}");
    let id = rec["id"].as_str().expect("id");
    let key = rec["metadata"]["storage"]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    // {account_id}/{yyyy}/{mm}/{dd}/call_recording_{call_id}_{recording_id}.{ext}
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts.len(), 5, "{key}");
    assert_eq!(parts[0], "demo");
    assert!(
        parts[1].len() == 4 && parts[2].len() == 2 && parts[3].len() == 2,
        "{key}"
    );
    assert!(
        parts[1..4]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit())),
        "{key}"
    );
    assert_eq!(
        parts[4],
        format!("call_recording_{}_{id}.wav", call_id.replace('/', "_"))
    );
    assert_eq!(
        s3.keys(),
        vec![key.clone()],
        "exactly this object in the bucket"
    );

    let obj = get_object(&s3, &key);
    assert!(obj.head.starts_with(b"RIFF"), "a WAV file");
    assert!(obj.len > 8000, "{} bytes", obj.len);
    assert_eq!(obj.content_type, "audio/wav");
    assert_eq!(
        obj.meta.get("call_id").map(String::as_str),
        Some(call_id.as_str())
    );
    assert_eq!(obj.meta.get("recording_id").map(String::as_str), Some(id));
    assert_eq!(
        obj.meta.get("direction").map(String::as_str),
        Some("inbound")
    );
    for k in ["interaction_id", "origin", "from", "to"] {
        assert!(
            obj.meta.get(k).is_some_and(|v| !v.is_empty()),
            "{k}: {:?}",
            obj.meta
        );
    }
    let ms: u64 = obj.meta["duration_ms"].parse().expect("duration_ms");
    assert!(ms >= 1000, "duration_ms {ms}");
    assert!(obj.meta["from"].contains("15557770001"), "{:?}", obj.meta);

    // The API's recording metadata records where it went.
    let (status, v) = api.send("GET", &format!("/v2/accounts/demo/recordings/{id}"), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["state"], "stored", "{v}");
    assert_eq!(v["data"]["storage"]["bucket"], BUCKET, "{v}");
    assert_eq!(v["data"]["storage"]["key"], key.as_str(), "{v}");
    assert!(
        !callrec.log_text().contains(SECRET),
        "the secret is never logged"
    );

    // Deleting the plan: the next recording is kept locally.
    let (status, _) = api.send("DELETE", "/v2/accounts/demo/storage", None);
    assert_eq!(status, 200);
    let (status, _) = api.send("GET", "/v2/accounts/demo/storage", None);
    assert_eq!(status, 404);
    let second = one_call(&callrec);
    callrec.wait_spool_settled(Duration::from_secs(30));
    let rec = spool_record(&callrec, &second).expect("second recording");
    assert_eq!(rec["state"], "local", "{rec:#}");
    assert_eq!(s3.keys().len(), 1);
}

#[test]
fn with_the_store_down_the_recording_is_retried_and_arrives_once_when_it_is_up() {
    let _serial = support::serial();
    let callrec = start_callrec(None);
    let port = free_port(LOOPBACK);
    let api = Api::login(&callrec);
    let (status, v) = api.send(
        "PUT",
        "/v2/accounts/demo/storage",
        Some(&storage_doc(port, SECRET)),
    );
    assert_eq!(status, 201, "{v}");
    let call_id = one_call(&callrec);
    // Nobody listens on the port: attempts fail and are retried.
    let rec = wait_until(Duration::from_secs(30), "two failed attempts", || {
        spool_record(&callrec, &call_id).filter(|r| r["attempts"].as_u64() >= Some(2))
    });
    assert!(
        matches!(rec["state"].as_str(), Some("finished" | "uploading")),
        "{rec:#}"
    );
    let id = rec["id"].as_str().expect("id").to_owned();
    let (_, v) = api.send("GET", &format!("/v2/accounts/demo/recordings/{id}"), None);
    assert!(
        v["data"]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{v}"
    );

    let s3 = S3Server::start_at(&s3_root(&callrec), port, CREDS);
    let rec = wait_until(
        Duration::from_secs(30),
        "the upload once the store is up",
        || spool_record(&callrec, &call_id).filter(|r| r["state"] == "stored"),
    );
    let key = rec["metadata"]["storage"]["key"].as_str().expect("key");
    assert_eq!(s3.keys(), vec![key.to_owned()], "one object");
    // Stored means done: no further attempt follows.
    let attempts = rec["attempts"].as_u64();
    std::thread::sleep(Duration::from_secs(3));
    let later = spool_record(&callrec, &call_id).expect("record");
    assert_eq!(later["state"], "stored");
    assert_eq!(
        later["attempts"].as_u64(),
        attempts,
        "no attempt after it was stored"
    );
    assert!(get_object(&s3, key).head.starts_with(b"RIFF"));
}

#[test]
fn wrong_credentials_are_retried_reported_in_last_error_never_logged_and_fixed_through_the_api() {
    let _serial = support::serial();
    let callrec = start_callrec(None);
    let s3 = S3Server::start_at(&s3_root(&callrec), free_port(LOOPBACK), CREDS);
    let wrong = "WRONG-secret-3e5d7c9b1a";
    let api = Api::login(&callrec);
    let (status, v) = api.send(
        "PUT",
        "/v2/accounts/demo/storage",
        Some(&storage_doc(s3.port, wrong)),
    );
    assert_eq!(status, 201, "{v}");
    let call_id = one_call(&callrec);
    let rec = wait_until(Duration::from_secs(30), "two refused attempts", || {
        spool_record(&callrec, &call_id)
            .filter(|r| r["attempts"].as_u64() >= Some(2) && r["last_error"].as_str().is_some())
    });
    let last_error = rec["last_error"].as_str().expect("last_error");
    assert!(
        last_error.contains("403") || last_error.contains("Forbidden"),
        "the store's 403 is reported: {last_error}"
    );
    assert!(!last_error.contains(wrong));
    let id = rec["id"].as_str().expect("id").to_owned();
    let (_, v) = api.send("GET", &format!("/v2/accounts/demo/recordings/{id}"), None);
    assert!(
        v["data"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("403") || e.contains("Forbidden")),
        "{v}"
    );
    assert!(
        s3.keys().is_empty(),
        "nothing stored with wrong credentials"
    );
    let log = callrec.log_text();
    assert!(
        log.contains("upload failed; will retry"),
        "retries are logged"
    );
    assert!(!log.contains(wrong), "the secret is never logged");

    // The operator fixes the secret (PATCH): the next retry uses it.
    let fix = json!({"data": {"attachments": {HANDLER: {"settings": {"secret": SECRET}}}}});
    let (status, v) = api.send("PATCH", "/v2/accounts/demo/storage", Some(&fix));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"]["attachments"][HANDLER]["settings"]["secret"],
        "********"
    );
    let rec = wait_until(
        Duration::from_secs(30),
        "the upload with the fixed secret",
        || spool_record(&callrec, &call_id).filter(|r| r["state"] == "stored"),
    );
    let key = rec["metadata"]["storage"]["key"].as_str().expect("key");
    assert_eq!(s3.keys(), vec![key.to_owned()]);
    assert!(!callrec.log_text().contains(SECRET));
}

#[test]
fn a_url_in_the_rule_wins_over_the_plan() {
    let _serial = support::serial();
    let nginx = Nginx::start();
    let callrec = start_callrec(Some(&nginx.base_url()));
    let s3 = S3Server::start_at(&s3_root(&callrec), free_port(LOOPBACK), CREDS);
    let api = Api::login(&callrec);
    let (status, v) = api.send(
        "PUT",
        "/v2/accounts/demo/storage",
        Some(&storage_doc(s3.port, SECRET)),
    );
    assert_eq!(status, 201, "{v}");
    let call_id = one_call(&callrec);
    let requests = nginx.wait_requests(1, Duration::from_secs(30));
    assert_eq!(requests.len(), 1);
    callrec.wait_spool_settled(Duration::from_secs(30));
    let rec = spool_record(&callrec, &call_id).expect("record");
    assert_eq!(rec["state"], "stored", "{rec:#}");
    assert!(
        rec["target"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://")),
        "{rec:#}"
    );
    assert!(rec["metadata"].get("storage").is_none(), "{rec:#}");
    assert!(s3.keys().is_empty(), "nothing in the bucket");
}

#[test]
fn bad_storage_documents_get_400_naming_the_field() {
    let _serial = support::serial();
    let callrec = start_callrec(None);
    let api = Api::login(&callrec);
    let field = |v: &Value, path: &str, rule: &str| {
        assert!(
            v["data"][path][rule]["message"].is_string(),
            "no {rule} error on {path}: {v}"
        );
    };
    let mut no_bucket = storage_doc(9, SECRET);
    no_bucket["data"]["attachments"][HANDLER]["settings"]
        .as_object_mut()
        .expect("settings")
        .remove("bucket");
    let (status, v) = api.send("PUT", "/v2/accounts/demo/storage", Some(&no_bucket));
    assert_eq!(status, 400, "{v}");
    field(
        &v,
        &format!("attachments.{HANDLER}.settings.bucket"),
        "required",
    );

    let mut unknown = storage_doc(9, SECRET);
    unknown["data"]["attachments"][HANDLER]["handler"] = json!("dropbox");
    let (status, v) = api.send("PUT", "/v2/accounts/demo/storage", Some(&unknown));
    assert_eq!(status, 400, "{v}");
    field(&v, &format!("attachments.{HANDLER}.handler"), "enum");

    let mut dangling = storage_doc(9, SECRET);
    dangling["data"]["plan"]["modb"]["types"]["call_recording"]["attachments"]["handler"] =
        json!("0000000000000000000000000000000f");
    let (status, v) = api.send("PUT", "/v2/accounts/demo/storage", Some(&dangling));
    assert_eq!(status, 400, "{v}");
    field(
        &v,
        "plan.modb.types.call_recording.attachments.handler",
        "invalid",
    );
    // Nothing was saved.
    let (status, _) = api.send("GET", "/v2/accounts/demo/storage", None);
    assert_eq!(status, 404);
    // A valid one is; a second PUT conflicts; POST replaces, and a masked secret sent back
    // keeps the stored one.
    let (status, _) = api.send(
        "PUT",
        "/v2/accounts/demo/storage",
        Some(&storage_doc(9, SECRET)),
    );
    assert_eq!(status, 201);
    let (status, _) = api.send(
        "PUT",
        "/v2/accounts/demo/storage",
        Some(&storage_doc(9, SECRET)),
    );
    assert_eq!(status, 409);
    let (status, v) = api.send(
        "POST",
        "/v2/accounts/demo/storage",
        Some(&storage_doc(10, "********")),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["attachments"][HANDLER]["settings"]["port"], 10);
    // A user's token may not see it.
    let user = Api {
        base: api.base.clone(),
        token: "not-a-token".into(),
    };
    let (status, _) = user.send("GET", "/v2/accounts/demo/storage", None);
    assert_eq!(status, 401);
}

/// Peak resident memory of a process (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A 100 MB recording is produced directly as a spooled file (a finished sidecar and its WAV,
/// as a 100-minute stereo 8 kHz call leaves them; a real call that long is not needed to test
/// the upload), then callrec restarts and its recovery queues it: it goes up by multipart,
/// read from disk as it is sent.
#[test]
fn a_100_mb_recording_goes_up_by_multipart_streamed_from_disk() {
    let _serial = support::serial();
    let mut callrec = start_callrec(None);
    let s3 = S3Server::start_at(&s3_root(&callrec), free_port(LOOPBACK), CREDS);
    let api = Api::login(&callrec);
    let (status, v) = api.send(
        "PUT",
        "/v2/accounts/demo/storage",
        Some(&storage_doc(s3.port, SECRET)),
    );
    assert_eq!(status, 201, "{v}");

    let id = "b16b16b16b16b16b16b16b16b16b16b1";
    let key = format!("demo/2024/01/02/call_recording_big-call_{id}.wav");
    let spool = callrec.data_dir.join("spool");
    fs::create_dir_all(&spool).expect("spool dir");
    // 100 MB of WAV: a 44-byte header and a deterministic, incompressible-looking body.
    let size: u64 = 100 * 1000 * 1000;
    let audio = spool.join(format!("{id}.wav"));
    let mut md5 = Md5::new();
    {
        let mut f = std::io::BufWriter::new(fs::File::create(&audio).expect("audio"));
        let data_len = u32::try_from(size - 44).expect("fits");
        let mut header = Vec::with_capacity(44);
        header.extend_from_slice(b"RIFF");
        header.extend_from_slice(&(data_len + 36).to_le_bytes());
        header.extend_from_slice(b"WAVEfmt ");
        header.extend_from_slice(&16u32.to_le_bytes());
        header.extend_from_slice(&1u16.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&8000u32.to_le_bytes());
        header.extend_from_slice(&32000u32.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&16u16.to_le_bytes());
        header.extend_from_slice(b"data");
        header.extend_from_slice(&data_len.to_le_bytes());
        f.write_all(&header).expect("write");
        md5.update(&header);
        let mut x: u32 = 0x1234_5678;
        let mut block = vec![0u8; 1 << 20];
        let mut left = size - 44;
        while left > 0 {
            for b in block.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            let n = left.min(block.len() as u64) as usize;
            f.write_all(&block[..n]).expect("write");
            md5.update(&block[..n]);
            left -= n as u64;
        }
        f.flush().expect("flush");
    }
    let md5 = hex::encode(md5.finalize());
    let duration_ms = (size - 44) / 32; // 32 bytes per ms at 8 kHz, 16-bit stereo
    let sidecar = json!({
        "id": id, "file_name": format!("call_recording_big-call.wav"),
        "audio_file": format!("{id}.wav"), "content_type": "audio/wav",
        "target": {"method": "put", "url": format!("s3://{BUCKET}/{key}")},
        "state": "finished", "attempts": 0, "next_attempt_at": 0,
        "created_at": 1_704_153_600u64, "finished_at": 1_704_159_600u64,
        "duration_ms": duration_ms,
        "metadata": {
            "id": id, "file_name": "call_recording_big-call.wav", "call_id": "big-call",
            "cdr_id": "big-call", "interaction_id": "63871000000-0badcafe",
            "origin": "inbound from offnet to account", "direction": "inbound",
            "from": "+15557770001@example.com", "to": "+15550100@example.com",
            "caller_id_name": "", "caller_id_number": "+15557770001", "callee_id_name": "",
            "callee_id_number": "", "owner_id": null, "endpoint_id": null, "account_id": "demo",
            "start_unix_secs": 1_704_153_600u64, "duration_ms": duration_ms, "format": "wav",
            "sample_rate": 8000, "channels": 2, "url": null, "method": "put",
            "upload": {"state": "pending", "attempts": 0},
            "storage": {"handler": HANDLER, "bucket": BUCKET, "key": key}
        }
    });
    fs::write(spool.join(format!("{id}.json")), sidecar.to_string()).expect("sidecar");

    callrec.restart();
    let rec = wait_until(Duration::from_secs(180), "the 100 MB upload", || {
        callrec
            .spool_records()
            .into_iter()
            .find(|r| r["id"] == id)
            .filter(|r| matches!(r["state"].as_str(), Some("stored" | "failed")))
    });
    assert_eq!(rec["state"], "stored", "{rec:#}\n{}", callrec.log_text());
    let peak_kib = peak_rss_kib(callrec.pid());
    eprintln!(
        "callrec peak RSS during the 100 MB upload: {} MiB",
        peak_kib / 1024
    );
    let obj = get_object(&s3, &key);
    assert_eq!(obj.len, size);
    assert_eq!(obj.md5, md5, "the object is the file, byte for byte");
    assert_eq!(
        obj.meta.get("call_id").map(String::as_str),
        Some("big-call")
    );
    assert_eq!(obj.meta.get("duration_ms"), Some(&duration_ms.to_string()));
    // s3s-fs keeps a multipart upload's parts until it completes them: the object was sent
    // in parts when S3 reports a multipart ETag ("<md5 of part md5s>-<parts>").
    let etag = rt().block_on(async {
        s3.client()
            .head(&ObjectPath::parse(&key).expect("key"))
            .await
            .expect("head")
            .e_tag
            .unwrap_or_default()
    });
    assert!(
        etag.trim_matches('"')
            .rsplit_once('-')
            .is_some_and(|(_, n)| n.parse::<u32>().is_ok_and(|n| n >= 12)),
        "a multipart ETag with 12+ parts: {etag}"
    );
    // Streamed from disk: callrec never held the 100 MB file (parts of 8 MiB, 2 in flight).
    assert!(
        peak_kib < 90 * 1024,
        "callrec's peak RSS {peak_kib} KiB suggests the file was loaded into memory"
    );
}
