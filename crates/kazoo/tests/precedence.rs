//! Precedence of settings: device > user > account `endpoint`; account rules independent;
//! `{}` counts as undefined; legacy `record_call`; the seed's Sales example; three recordings.

mod common;

use callrec_kazoo::recording::{
    decide, CallFacts, Direction, EndpointFacts, Format, Network, PolicyConfig, RecordedLeg,
    RecordingTable, StartTrigger,
};
use common::*;
use serde_json::json;

fn inbound_offnet_enabled(t: &RecordingTable) -> bool {
    t.get(Direction::Inbound, Network::Offnet).enabled
}

#[test]
fn device_disable_beats_user_enable() {
    let user = json!({"call_recording": {"inbound": {"offnet": {"enabled": true}}}});
    let device = json!({"call_recording": {"inbound": {"offnet": {"enabled": false}}}});
    let t = RecordingTable::for_endpoint(None, Some(&user), Some(&device));
    assert!(!inbound_offnet_enabled(&t));
}

#[test]
fn device_any_disable_beats_user_specific_enable() {
    let user = json!({"call_recording": {"inbound": {"offnet": {"enabled": true}}}});
    let device = json!({"call_recording": {"any": {"any": {"enabled": false}}}});
    let t = RecordingTable::for_endpoint(None, Some(&user), Some(&device));
    assert!(!t.any_enabled());
}

#[test]
fn device_undefined_inherits_user() {
    let user =
        json!({"call_recording": {"inbound": {"offnet": {"enabled": true, "format": "wav"}}}});
    let device = json!({"name": "desk phone"});
    let t = RecordingTable::for_endpoint(None, Some(&user), Some(&device));
    assert!(inbound_offnet_enabled(&t));
    assert_eq!(
        t.get(Direction::Inbound, Network::Offnet).format,
        Some(Format::Wav)
    );
}

#[test]
fn device_setting_one_key_keeps_the_users_other_keys() {
    let user =
        json!({"call_recording": {"inbound": {"offnet": {"enabled": true, "format": "wav"}}}});
    let device = json!({"call_recording": {"inbound": {"offnet": {"time_limit": 60}}}});
    let t = RecordingTable::for_endpoint(None, Some(&user), Some(&device));
    let p = t.get(Direction::Inbound, Network::Offnet);
    assert!(p.enabled);
    assert_eq!((p.format, p.time_limit), (Some(Format::Wav), Some(60)));
}

#[test]
fn empty_object_counts_as_undefined_at_every_level() {
    let user = json!({"call_recording": {"inbound": {"offnet": {"enabled": true}}}});
    for device in [
        json!({"call_recording": {}}),
        json!({"call_recording": {"inbound": {}}}),
        json!({"call_recording": {"inbound": {"offnet": {}}}}),
        json!({"call_recording": {"any": {}}}),
    ] {
        let t = RecordingTable::for_endpoint(None, Some(&user), Some(&device));
        assert!(
            inbound_offnet_enabled(&t),
            "device {device} must not override"
        );
    }
}

#[test]
fn account_endpoint_default_applies_under_user_and_device() {
    let account = json!({"call_recording": {"endpoint": {"any": {"offnet": {"enabled": true}}}}});
    let user = json!({"call_recording": {"outbound": {"offnet": {"enabled": false}}}});
    let t = RecordingTable::for_endpoint(Some(&account), Some(&user), None);
    assert!(inbound_offnet_enabled(&t));
    assert!(!t.get(Direction::Outbound, Network::Offnet).enabled);
    assert!(
        !t.get(Direction::Inbound, Network::Onnet).enabled,
        "unspecified network is off"
    );
}

#[test]
fn any_is_the_default_for_both_siblings_and_specific_wins() {
    let t = RecordingTable::from_call_recording(&json!({
        "any": {"any": {"enabled": true, "format": "wav"}},
        "outbound": {"onnet": {"enabled": false}}
    }));
    assert!(t.get(Direction::Inbound, Network::Onnet).enabled);
    assert!(t.get(Direction::Inbound, Network::Offnet).enabled);
    assert!(t.get(Direction::Outbound, Network::Offnet).enabled);
    assert!(!t.get(Direction::Outbound, Network::Onnet).enabled);
    assert_eq!(
        t.get(Direction::Outbound, Network::Offnet).format,
        Some(Format::Wav)
    );
}

#[test]
fn legacy_record_call_true_turns_everything_on() {
    let device = json!({"record_call": true});
    let t = RecordingTable::for_endpoint(None, None, Some(&device));
    for d in [Direction::Inbound, Direction::Outbound] {
        for n in [Network::Onnet, Network::Offnet] {
            assert!(t.get(d, n).enabled, "{d:?} {n:?}");
        }
    }
    let off = json!({"record_call": false});
    assert!(!RecordingTable::for_endpoint(None, None, Some(&off)).any_enabled());
}

#[test]
fn account_rule_still_records_a_user_who_disabled_recording() {
    let account =
        json!({"call_recording": {"account": {"inbound": {"offnet": {"enabled": true}}}}});
    let user = json!({"call_recording": {"any": {"any": {"enabled": false}}}});
    let callee = EndpointFacts {
        endpoint_id: "dev1".into(),
        owner_id: Some("user1".into()),
        recording: RecordingTable::for_endpoint(Some(&account), Some(&user), None),
    };
    let plans = decide(
        &facts(OFF, ON, &account, None, Some(callee)),
        &PolicyConfig::default(),
    );
    assert_eq!(plans.len(), 1);
    assert_eq!(
        plans[0].origin.to_string(),
        "inbound from offnet to account"
    );
    assert_eq!(plans[0].leg, RecordedLeg::A);
}

/// The seed's concrete example: sales users record calls to and from customers, not internal.
#[test]
fn sales_example_records_offnet_in_and_out_but_not_internal() {
    let sales = json!({"id": "sales1", "call_recording": {
        "inbound": {"offnet": {"enabled": true, "url": "https://rec.example.com/sales"}},
        "outbound": {"offnet": {"enabled": true, "url": "https://rec.example.com/sales"}}
    }});
    let colleague = json!({"id": "u2"});
    let ep = |id: &str, user: &serde_json::Value| endpoint(id, Some(user), None);
    let none = json!({});
    let cfg = PolicyConfig::default();

    let from_customer = decide(&facts(OFF, ON, &none, None, Some(ep("s", &sales))), &cfg);
    assert_eq!(from_customer.len(), 1);
    assert_eq!(
        from_customer[0].origin.to_string(),
        "inbound from offnet to endpoint"
    );
    assert_eq!(from_customer[0].leg, RecordedLeg::B);

    let to_customer = decide(&facts(ON, OFF, &none, Some(ep("s", &sales)), None), &cfg);
    assert_eq!(to_customer.len(), 1);
    assert_eq!(
        to_customer[0].origin.to_string(),
        "outbound to offnet from endpoint"
    );
    assert_eq!(
        to_customer[0].settings.url.as_deref(),
        Some("https://rec.example.com/sales")
    );

    let internal_out = decide(
        &facts(
            ON,
            ON,
            &none,
            Some(ep("s", &sales)),
            Some(ep("c", &colleague)),
        ),
        &cfg,
    );
    let internal_in = decide(
        &facts(
            ON,
            ON,
            &none,
            Some(ep("c", &colleague)),
            Some(ep("s", &sales)),
        ),
        &cfg,
    );
    assert!(internal_out.is_empty() && internal_in.is_empty());
}

#[test]
fn at_most_one_account_recording_inbound_wins_over_outbound() {
    let account = json!({"call_recording": {"account": {"any": {"any": {"enabled": true}}}}});
    for (from, to) in [(ON, ON), (ON, OFF), (OFF, ON), (OFF, OFF)] {
        let plans = decide(
            &facts(from, to, &account, None, None),
            &PolicyConfig::default(),
        );
        assert_eq!(plans.len(), 1, "{from:?} -> {to:?}");
        assert_eq!(
            plans[0].origin.to_string(),
            format!("inbound from {from} to account")
        );
    }
}

#[test]
fn internal_call_makes_three_recordings_when_account_caller_and_callee_all_enable() {
    let account = json!({"call_recording": {"account": {"inbound": {"onnet": {"enabled": true}}}}});
    let everything = json!({"record_call": true});
    let caller = endpoint("a", Some(&everything), None);
    let callee = endpoint("b", None, Some(&everything));
    let plans = decide(
        &facts(ON, ON, &account, Some(caller), Some(callee)),
        &PolicyConfig::default(),
    );
    let got: Vec<_> = plans
        .iter()
        .map(|p| {
            (
                p.leg,
                p.origin.to_string(),
                p.trigger,
                p.endpoint_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                RecordedLeg::A,
                "inbound from onnet to account".into(),
                StartTrigger::Now,
                None
            ),
            (
                RecordedLeg::A,
                "outbound to onnet from endpoint".into(),
                StartTrigger::Now,
                Some("a")
            ),
            (
                RecordedLeg::B,
                "inbound from onnet to endpoint".into(),
                StartTrigger::Answer,
                Some("b")
            ),
        ]
    );
}

#[test]
fn every_ringing_callee_gets_its_own_b_leg_plan() {
    let on = json!({"call_recording": {"inbound": {"offnet": {"enabled": true}}}});
    let facts = CallFacts {
        from: OFF,
        to: ON,
        caller: None,
        callees: vec![
            endpoint("x", Some(&on), None),
            endpoint("y", None, None),
            endpoint("z", Some(&on), None),
        ],
        account: RecordingTable::default(),
    };
    let ids: Vec<_> = decide(&facts, &PolicyConfig::default())
        .into_iter()
        .map(|p| p.endpoint_id)
        .collect();
    assert_eq!(ids, vec![Some("x".into()), Some("z".into())]);
}

#[test]
fn triggers_follow_record_on_answer_and_bridge_and_already_passed_moments_start_at_once() {
    use callrec_kazoo::recording::LegState;
    let account = json!({"call_recording": {"account": {"inbound": {"offnet": {"enabled": true, "record_on_bridge": true}}}}});
    let plans = decide(
        &facts(OFF, OFF, &account, None, None),
        &PolicyConfig::default(),
    );
    assert_eq!(plans[0].trigger, StartTrigger::Bridge);
    assert!(!StartTrigger::Bridge.is_satisfied(LegState {
        answered: true,
        bridged: false
    }));
    assert!(StartTrigger::Bridge.is_satisfied(LegState {
        answered: true,
        bridged: true
    }));
    assert!(StartTrigger::Answer.is_satisfied(LegState {
        answered: true,
        bridged: false
    }));
    assert!(!StartTrigger::Answer.is_satisfied(LegState::default()));
    assert!(StartTrigger::Now.is_satisfied(LegState::default()));
}

#[test]
fn resolved_settings_apply_defaults_and_limits() {
    let cfg = PolicyConfig::default();
    let account = json!({"call_recording": {"account": {"inbound": {
        "offnet": {"enabled": true, "format": "ogg", "time_limit": 999999, "method": "post",
                   "record_sample_rate": 16000, "record_min_sec": 3}}}}});
    let s = &decide(&facts(OFF, OFF, &account, None, None), &cfg)[0].settings;
    assert_eq!(
        s.format,
        Format::Mp3,
        "ogg falls back to the default format"
    );
    assert_eq!(s.time_limit_secs, 10800);
    assert_eq!(s.method, callrec_kazoo::recording::Method::Post);
    assert_eq!((s.sample_rate, s.record_min_sec), (Some(16000), 3));

    let plain = json!({"call_recording": {"account": {"inbound": {"offnet": {"enabled": true}}}}});
    let wav_cfg = PolicyConfig {
        default_format: Format::Wav,
        max_time_limit_secs: 600,
        ..cfg
    };
    let s = &decide(&facts(OFF, OFF, &plain, None, None), &wav_cfg)[0].settings;
    assert_eq!(
        (s.format, s.time_limit_secs, s.sample_rate),
        (Format::Wav, 600, None)
    );
    assert_eq!(s.method, callrec_kazoo::recording::Method::Put);
}

#[test]
fn plans_know_their_leg_direction_and_whether_they_start_now() {
    use callrec_kazoo::recording::{LegDirection, LegState};
    let on = json!({"call_recording": {"inbound": {"offnet": {"enabled": true}}}});
    let plans = decide(
        &facts(
            OFF,
            ON,
            &json!({}),
            None,
            Some(endpoint("x", Some(&on), None)),
        ),
        &PolicyConfig::default(),
    );
    assert_eq!(plans[0].leg.direction(), LegDirection::Outbound);
    assert!(!plans[0].starts_now(LegState::default()));
    assert!(plans[0].starts_now(LegState {
        answered: true,
        bridged: false
    }));
}

/// The seed's "if inbound -> onnet isn't configured" is read as "isn't enabled" (behaviour.md):
/// an inbound cell that is present but disabled does not block the outbound rule.
#[test]
fn account_outbound_records_when_inbound_is_configured_but_disabled() {
    let account = json!({"call_recording": {"account": {
        "inbound": {"onnet": {"enabled": false, "format": "wav"}},
        "outbound": {"onnet": {"enabled": true}}}}});
    let plans = decide(
        &facts(ON, ON, &account, None, None),
        &PolicyConfig::default(),
    );
    assert_eq!(plans.len(), 1);
    assert_eq!(
        plans[0].origin.to_string(),
        "outbound to onnet from account"
    );
}
