//! Strict validation: errors name the path; unknown keys are reported as warnings.

use callrec_kazoo::recording::{
    validate_callflow_action, validate_document, DocKind, PolicyConfig, PolicyError, PolicyWarning,
};
use serde_json::json;

fn cfg() -> PolicyConfig {
    PolicyConfig::default()
}

#[test]
fn bad_format_error_names_the_path() {
    let doc =
        json!({"call_recording": {"inbound": {"offnet": {"enabled": true, "format": "ogg"}}}});
    let r = validate_document(DocKind::User, "8a1f", &doc, &cfg());
    assert_eq!(r.errors.len(), 1);
    assert_eq!(
        r.errors[0].to_string(),
        r#"user 8a1f.call_recording.inbound.offnet.format: "ogg" is not one of mp3, wav"#
    );
}

#[test]
fn non_http_url_is_refused() {
    for url in [
        "ftp://h/x",
        "file:///etc/passwd",
        "h/x",
        "http://",
        "https:// space",
    ] {
        let doc = json!({"call_recording": {"any": {"any": {"url": url}}}});
        let r = validate_document(DocKind::Device, "d1", &doc, &cfg());
        assert_eq!(
            r.errors,
            vec![PolicyError::NotHttpUrl {
                path: "device d1.call_recording.any.any.url".into(),
                url: url.into()
            }],
            "{url}"
        );
    }
    let ok = json!({"call_recording": {"any": {"any": {"url": "HTTPS://h.example/x?y=1"}}}});
    assert!(validate_document(DocKind::Device, "d1", &ok, &cfg()).is_ok());
}

#[test]
fn time_limit_4_is_refused_and_5_accepted() {
    let doc = json!({"call_recording": {"outbound": {"onnet": {"time_limit": 4}}}});
    let r = validate_document(DocKind::User, "u", &doc, &cfg());
    assert_eq!(
        r.errors,
        vec![PolicyError::BelowMinimum {
            path: "user u.call_recording.outbound.onnet.time_limit".into(),
            value: 4,
            min: 5
        }]
    );
    let doc = json!({"call_recording": {"outbound": {"onnet": {"time_limit": 5}}}});
    assert!(validate_document(DocKind::User, "u", &doc, &cfg()).is_ok());
}

#[test]
fn time_limit_above_maximum_is_accepted_with_a_warning() {
    let doc = json!({"call_recording": {"outbound": {"onnet": {"time_limit": 20000}}}});
    let r = validate_document(DocKind::User, "u", &doc, &cfg());
    assert!(r.errors.is_empty());
    assert!(matches!(
        r.warnings[..],
        [PolicyWarning::TimeLimitClamped {
            value: 20000,
            max: 10800,
            ..
        }]
    ));
}

#[test]
fn wrong_types_are_errors() {
    let doc = json!({"call_recording": {"inbound": {"onnet": {
        "enabled": "yes", "time_limit": "60", "record_sample_rate": 8000.5, "method": 1}}}});
    let r = validate_document(DocKind::User, "u", &doc, &cfg());
    let paths: Vec<_> = r.errors.iter().map(|e| e.path().to_owned()).collect();
    for key in ["enabled", "time_limit", "record_sample_rate", "method"] {
        assert!(
            paths.contains(&format!("user u.call_recording.inbound.onnet.{key}")),
            "{key}: {paths:?}"
        );
    }
    assert!(r
        .errors
        .iter()
        .all(|e| matches!(e, PolicyError::WrongType { .. })));
    let r = validate_document(
        DocKind::Device,
        "d",
        &json!({"call_recording": [1], "record_call": "yes"}),
        &cfg(),
    );
    assert_eq!(r.errors.len(), 2);
    assert_eq!(
        r.errors[0].to_string(),
        "device d.call_recording: expected an object, found an array"
    );
}

#[test]
fn unknown_keys_are_reported_as_warnings_with_their_path() {
    let doc = json!({"call_recording": {
        "account": {"inbund": {"onnet": {}}, "inbound": {"onet": {}, "offnet": {"enabeld": true}}},
        "extra": 1
    }});
    let r = validate_document(DocKind::Account, "a1", &doc, &cfg());
    assert!(r.errors.is_empty());
    let mut paths: Vec<_> = r
        .warnings
        .iter()
        .map(|w| match w {
            PolicyWarning::UnknownKey { path } => path.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        vec![
            "account a1.call_recording.account.inbound.offnet.enabeld",
            "account a1.call_recording.account.inbound.onet",
            "account a1.call_recording.account.inbund",
            "account a1.call_recording.extra",
        ]
    );
    assert_eq!(r.clone().into_result(), Ok(r.warnings));
}

#[test]
fn other_document_keys_are_not_ours_and_not_reported() {
    let doc = json!({"first_name": "Ann", "call_recording": {"any": {"any": {"enabled": true}}}, "record_call": false});
    let r = validate_document(DocKind::User, "u", &doc, &cfg());
    assert_eq!(r, Default::default());
}

#[test]
fn callflow_action_data_is_validated() {
    let data =
        json!({"action": "start", "format": "flac", "url": "sip:x", "lable": "x", "time_limit": 3});
    let r = validate_callflow_action("cf1", &data, false, &cfg());
    let msgs: Vec<_> = r.errors.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs.contains(&r#"callflow cf1.data.format: "flac" is not one of mp3, wav"#.to_owned()));
    assert_eq!(
        r.warnings,
        vec![PolicyWarning::UnknownKey {
            path: "callflow cf1.data.lable".into()
        }]
    );
    let caller = validate_callflow_action(
        "cf2",
        &json!({"method": "post", "label": "x"}),
        true,
        &cfg(),
    );
    assert!(caller.is_ok());
    assert_eq!(caller.warnings.len(), 1, "record_caller has no label");
}
