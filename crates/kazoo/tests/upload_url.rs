//! Upload request: KAZOO-compatible URLs, percent-encoding, content types, record_caller URL.

use callrec_kazoo::recording::{
    upload_request, upload_url, Format, LegDirection, Method, PolicyConfig, RecordCaller,
    RecordingMetadata, UploadState, UrlStyle,
};
use serde_json::json;

fn meta() -> RecordingMetadata {
    RecordingMetadata {
        id: "0123456789abcdef0123456789abcdef".into(),
        file_name: "0123456789abcdef0123456789abcdef.mp3".into(),
        call_id: "abc@10.0.0.1".into(),
        cdr_id: "cdr1".into(),
        interaction_id: "63900000000-1a2b3c4d".into(),
        origin: "inbound from offnet to account".into(),
        direction: LegDirection::Inbound,
        from: "+15551234567@example.com".into(),
        to: "2001@example.com".into(),
        caller_id_name: "Jane Q+Doe".into(),
        caller_id_number: "+15551234567".into(),
        callee_id_name: String::new(),
        callee_id_number: String::new(),
        owner_id: None,
        endpoint_id: None,
        account_id: Some("acc1".into()),
        start_unix_secs: 1_700_000_000,
        duration_ms: 4200,
        format: Format::Mp3,
        sample_rate: 8000,
        channels: 2,
        url: Some("https://rec.example.com/store".into()),
        method: Method::Put,
        upload: UploadState::Pending { attempts: 0 },
        url_style: UrlStyle::Kazoo,
        storage: None,
        node_id: None,
    }
}

const QUERY: &str = "from=%2B15551234567%40example.com&to=2001%40example.com\
&caller_id_name=Jane%20Q%2BDoe&caller_id_number=%2B15551234567&call_id=abc%4010.0.0.1\
&cdr_id=cdr1&interaction_id=63900000000-1a2b3c4d&owner_id=&account_id=acc1\
&start=63867219200&duration_ms=4200&recording_id=0123456789abcdef0123456789abcdef";

#[test]
fn url_without_query_gets_file_path_and_full_query() {
    assert_eq!(
        upload_url("https://rec.example.com/store", &meta()),
        format!("https://rec.example.com/store/call_recording_abc%4010.0.0.1.mp3?{QUERY}")
    );
}

#[test]
fn trailing_slashes_are_removed_before_the_file_name() {
    assert_eq!(
        upload_url("https://rec.example.com/store//", &meta()),
        format!("https://rec.example.com/store/call_recording_abc%4010.0.0.1.mp3?{QUERY}")
    );
}

#[test]
fn url_with_query_key_value_appends_recording_parameter() {
    assert_eq!(
        upload_url("http://h/up?token=x1", &meta()),
        format!("http://h/up?token=x1&recording=call_recording_abc%4010.0.0.1.mp3&{QUERY}")
    );
}

#[test]
fn url_with_empty_value_or_bare_key_query_appends_too() {
    let tail = format!("&recording=call_recording_abc%4010.0.0.1.mp3&{QUERY}");
    assert_eq!(
        upload_url("http://h/up?k=", &meta()),
        format!("http://h/up?k={tail}")
    );
    assert_eq!(
        upload_url("http://h/up?k", &meta()),
        format!("http://h/up?k{tail}")
    );
    assert_eq!(
        upload_url("http://h/up?", &meta()),
        format!("http://h/up?recording=call_recording_abc%4010.0.0.1.mp3&{QUERY}")
    );
}

#[test]
fn empty_values_are_kept_as_key_equals() {
    let url = upload_url("http://h/", &meta());
    assert!(url.contains("&owner_id=&"), "{url}");
}

#[test]
fn extension_has_a_single_dot_and_follows_the_format() {
    let mut m = meta();
    m.format = Format::Wav;
    let url = upload_url("http://h", &m);
    assert!(
        url.starts_with("http://h/call_recording_abc%4010.0.0.1.wav?"),
        "{url}"
    );
    assert!(!url.contains(".."));
}

#[test]
fn upload_request_carries_method_and_content_type() {
    let mut m = meta();
    let r = upload_request(&m).expect("has url");
    assert_eq!((r.method, r.content_type), (Method::Put, "audio/mpeg"));
    m.format = Format::Wav;
    m.method = Method::Post;
    let r = upload_request(&m).expect("has url");
    assert_eq!((r.method, r.content_type), (Method::Post, "audio/wav"));
    m.url = None;
    assert_eq!(upload_request(&m), None);
}

#[test]
fn record_caller_uploads_to_url_slash_call_id_dot_ext() {
    let cfg = PolicyConfig::default();
    let rc = RecordCaller::from_value(
        &json!({"url": "http://vm.example.com/box/", "format": "wav"}),
        &cfg,
    );
    let r = rc.upload_request("c1").expect("has url");
    assert_eq!(r.url, "http://vm.example.com/box/c1.wav");
    assert_eq!((r.method, r.content_type), (Method::Put, "audio/wav"));
    assert_eq!(rc.settings.time_limit_secs, 3600);

    let rc = RecordCaller::from_value(
        &json!({"url": "https://vm/x", "method": "post", "time_limit": 30}),
        &cfg,
    );
    assert_eq!(
        rc.upload_url("a b").as_deref(),
        Some("https://vm/x/a%20b.mp3")
    );
    assert_eq!(
        (rc.settings.method, rc.settings.time_limit_secs),
        (Method::Post, 30)
    );
    assert_eq!(
        RecordCaller::from_value(&json!({}), &cfg).upload_request("c1"),
        None
    );
}

#[test]
fn metadata_round_trips_through_json() {
    let m = meta();
    let text = serde_json::to_string(&m).expect("serialize");
    assert!(text.contains("\"state\":\"pending\""), "{text}");
    let back: RecordingMetadata = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(back, m);
}
