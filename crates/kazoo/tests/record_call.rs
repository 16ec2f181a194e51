//! The `record_call` callflow action as a per-call stack.

use callrec_kazoo::recording::{
    Format, Origin, PolicyConfig, RecordCallStack, StackEvent, StartTrigger,
};
use serde_json::json;

fn counter() -> impl FnMut() -> u128 {
    let mut n = 0u128;
    move || {
        n += 1;
        n
    }
}

fn started_id(e: &StackEvent) -> String {
    match e {
        StackEvent::Started(r) => r.id.clone(),
        other => panic!("expected a start, got {other:?}"),
    }
}

#[test]
fn start_start_stop_stops_the_newest() {
    let cfg = PolicyConfig::default();
    let mut ids = counter();
    let mut stack = RecordCallStack::new();
    let first = started_id(&stack.apply(&json!({"action": "start"}), &cfg, &mut ids));
    let second = started_id(&stack.apply(&json!({}), &cfg, &mut ids));
    match stack.apply(&json!({"action": "stop"}), &cfg, &mut ids) {
        StackEvent::Stopped(r) => assert_eq!(r.id, second),
        other => panic!("expected a stop, got {other:?}"),
    }
    assert_eq!(stack.running().len(), 1);
    assert_eq!(stack.running()[0].id, first);
}

#[test]
fn stop_with_nothing_running_is_a_reported_no_op() {
    let mut stack = RecordCallStack::new();
    let e = stack.apply(
        &json!({"action": "stop"}),
        &PolicyConfig::default(),
        &mut counter(),
    );
    assert_eq!(e, StackEvent::NothingToStop);
    assert!(stack.running().is_empty());
}

#[test]
fn capitalised_stop_and_other_values_start_a_recording() {
    let cfg = PolicyConfig::default();
    let mut ids = counter();
    let mut stack = RecordCallStack::new();
    for action in [
        json!("Stop"),
        json!("STOP"),
        json!(" stop"),
        json!(1),
        json!(null),
    ] {
        let e = stack.apply(&json!({ "action": action }), &cfg, &mut ids);
        assert!(matches!(e, StackEvent::Started(_)), "{action} must start");
    }
    assert_eq!(stack.running().len(), 5);
}

#[test]
fn ids_are_32_hex_and_file_name_is_id_plus_extension_unless_media_name_given() {
    let cfg = PolicyConfig::default();
    let mut ids = counter();
    let mut stack = RecordCallStack::new();
    let StackEvent::Started(r) =
        stack.apply(&json!({"format": "wav", "label": "sales"}), &cfg, &mut ids)
    else {
        panic!("start expected")
    };
    assert_eq!(r.id, "00000000000000000000000000000001");
    assert_eq!(r.file_name, "00000000000000000000000000000001.wav");
    assert_eq!(r.settings.format, Format::Wav);
    assert_eq!(
        r.origin,
        Origin::Callflow {
            label: Some("sales".into())
        }
    );
    assert_eq!(r.origin.to_string(), "callflow : sales");
    assert_eq!(r.settings.time_limit_secs, 3600);
    assert_eq!(r.trigger, StartTrigger::Now);

    let StackEvent::Started(r) = stack.apply(
        &json!({"media_name": "my call.mp3", "time_limit": 20, "record_on_answer": true}),
        &cfg,
        &mut ids,
    ) else {
        panic!("start expected")
    };
    assert_eq!(r.file_name, "my call.mp3");
    assert_eq!(r.origin.to_string(), "callflow");
    assert_eq!(
        (r.settings.time_limit_secs, r.trigger),
        (20, StartTrigger::Answer)
    );
}

#[test]
fn a_recording_that_ended_by_itself_is_skipped_by_stop() {
    let cfg = PolicyConfig::default();
    let mut ids = counter();
    let mut stack = RecordCallStack::new();
    let first = started_id(&stack.apply(&json!({}), &cfg, &mut ids));
    let second = started_id(&stack.apply(&json!({}), &cfg, &mut ids));
    assert_eq!(stack.finished(&second).map(|r| r.id), Some(second.clone()));
    assert_eq!(stack.finished(&second), None);
    match stack.apply(&json!({"action": "stop"}), &cfg, &mut ids) {
        StackEvent::Stopped(r) => assert_eq!(r.id, first),
        other => panic!("expected a stop, got {other:?}"),
    }
}

#[test]
fn hangup_stops_all_newest_first() {
    let cfg = PolicyConfig::default();
    let mut ids = counter();
    let mut stack = RecordCallStack::new();
    let a = started_id(&stack.apply(&json!({}), &cfg, &mut ids));
    let b = started_id(&stack.apply(&json!({}), &cfg, &mut ids));
    let all: Vec<_> = stack.stop_all().into_iter().map(|r| r.id).collect();
    assert_eq!(all, vec![b, a]);
    assert!(stack.running().is_empty());
}

#[test]
fn plain_file_name_check_refuses_paths() {
    use callrec_kazoo::recording::is_plain_file_name;
    assert!(is_plain_file_name("my call.mp3"));
    for bad in ["", ".", "..", "../x.mp3", "a/b.mp3", "a\\b.mp3", "a\0b"] {
        assert!(!is_plain_file_name(bad), "{bad:?}");
    }
}
