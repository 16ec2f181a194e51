//! Routing: dialled number → callflow (numbers, patterns, no_match) → actions and target, with
//! the no-match and no-open-relay rules.

use callrec_kazoo::directory::Directory;
use callrec_kazoo::routing::{
    match_callflow, route, CallSource, DeviceRef, GatewayRef, MatchKind, RouteAction,
    RoutingPolicy, Target,
};
use callrec_sip::transaction::Transport;
use serde_json::{json, Value};

fn docs() -> Vec<(String, Value)> {
    let d = |s: &str, v: Value| (s.to_owned(), v);
    vec![
        d(
            "account.json",
            json!({"_id": "acc", "pvt_type": "account", "name": "Acme", "realm": "example.com"}),
        ),
        d(
            "u.json",
            json!({"_id": "alice", "pvt_type": "user", "first_name": "Alice", "last_name": "A"}),
        ),
        d(
            "d1.json",
            json!({"_id": "dev-1001", "pvt_type": "device", "owner_id": "alice",
                            "sip": {"username": "1001", "password": "p"}}),
        ),
        d(
            "d2.json",
            json!({"_id": "dev-1011", "pvt_type": "device", "owner_id": "alice",
                            "sip": {"username": "1011", "password": "p"}}),
        ),
        d(
            "d3.json",
            json!({"_id": "dev-1099", "pvt_type": "device", "owner_id": "alice", "enabled": false,
                            "sip": {"username": "1099", "password": "p"}}),
        ),
        d(
            "d4.json",
            json!({"_id": "dev-1002", "pvt_type": "device",
                            "sip": {"username": "1002", "password": "p"}}),
        ),
        d(
            "r1.json",
            json!({"_id": "carrier-a", "pvt_type": "resource", "name": "A",
                            "gateways": [{"server": "203.0.113.10"}, {"server": "203.0.113.11", "port": 5080, "transport": "tcp"},
                                         {"server": "203.0.113.12", "enabled": false}]}),
        ),
        d(
            "r2.json",
            json!({"_id": "carrier-b", "pvt_type": "resource", "name": "B",
                            "gateways": [{"server": "198.51.100.1"}]}),
        ),
        d(
            "cf-user.json",
            json!({"_id": "cf-alice", "pvt_type": "callflow", "numbers": ["1001", "+14155550101"],
                                 "flow": {"module": "record_call", "data": {"action": "start", "format": "mp3"},
                                          "children": {"_": {"module": "user", "data": {"id": "alice"}}}}}),
        ),
        d(
            "cf-dev.json",
            json!({"_id": "cf-1002", "pvt_type": "callflow", "numbers": ["1002"],
                                "flow": {"module": "device", "data": {"id": "dev-1002"}}}),
        ),
        d(
            "cf-rec.json",
            json!({"_id": "cf-rec", "pvt_type": "callflow", "numbers": ["*99"],
                                "flow": {"module": "record_caller", "data": {"time_limit": 60}}}),
        ),
        d(
            "cf-pstn.json",
            json!({"_id": "cf-pstn", "pvt_type": "callflow", "patterns": ["^\\+?1?\\d{10}$", "^0\\d+$"],
                                 "flow": {"module": "record_call", "data": {"action": "start"},
                                          "children": {"_": {"module": "resources", "data": {}}}}}),
        ),
    ]
}

fn dir() -> Directory {
    Directory::build(docs()).expect("valid documents")
}

const ONNET: CallSource<'static> = CallSource::Onnet {
    account_id: Some("acc"),
};
const OFFNET: CallSource<'static> = CallSource::Offnet { account_id: None };

/// A gateway as these documents write it: those on 5060 give no `port`.
fn gw(res: &str, server: &str, port: u16, transport: Transport) -> GatewayRef {
    GatewayRef {
        resource_id: res.into(),
        server: server.into(),
        port,
        port_given: port != 5060,
        transport,
    }
}

fn all_gateways() -> Vec<GatewayRef> {
    vec![
        gw("carrier-a", "203.0.113.10", 5060, Transport::Udp),
        gw("carrier-a", "203.0.113.11", 5080, Transport::Tcp),
        gw("carrier-b", "198.51.100.1", 5060, Transport::Udp),
    ]
}

#[test]
fn user_callflow_records_then_rings_the_users_enabled_devices() {
    let dir = dir();
    let r = route(
        &dir,
        ONNET,
        "sip:1001@example.com",
        &RoutingPolicy::default(),
    );
    assert_eq!(r.callflow_id.as_deref(), Some("cf-alice"));
    assert_eq!(r.number, "1001");
    assert_eq!(
        r.actions,
        [RouteAction::RecordCall(
            json!({"action": "start", "format": "mp3"})
        )]
    );
    let dev = |id: &str, user: &str| DeviceRef {
        device_id: id.into(),
        realm: "example.com".into(),
        username: user.into(),
        forward: None,
    };
    assert_eq!(
        r.target,
        Target::Devices {
            devices: vec![dev("dev-1001", "1001"), dev("dev-1011", "1011")],
            owner_user: Some("alice".into()),
            ring_timeout: None,
        }
    );
}

#[test]
fn device_callflow_rings_one_device_without_actions() {
    let r = route(&dir(), ONNET, "1002", &RoutingPolicy::default());
    assert!(r.actions.is_empty());
    assert_eq!(
        r.target,
        Target::Devices {
            devices: vec![DeviceRef {
                device_id: "dev-1002".into(),
                realm: "example.com".into(),
                username: "1002".into(),
                forward: None,
            }],
            owner_user: None,
            ring_timeout: None,
        }
    );
}

#[test]
fn numbers_match_after_normalisation_and_before_patterns() {
    let dir = dir();
    // "+1 (415) 555-0101" would also match the PSTN pattern; the exact number wins.
    let m = match_callflow(&dir, OFFNET, "sip:+1-415-555-0101@example.com;user=phone").unwrap();
    assert_eq!(m.callflow.id, "cf-alice");
    assert_eq!(m.kind, MatchKind::Number);
    let m = match_callflow(&dir, ONNET, "4155550199").unwrap();
    assert_eq!(
        (m.callflow.id.as_str(), m.kind),
        ("cf-pstn", MatchKind::Pattern(0))
    );
    let m = match_callflow(&dir, ONNET, "00493012345").unwrap();
    assert_eq!(m.kind, MatchKind::Pattern(1));
}

#[test]
fn pattern_to_resources_gives_gateways_in_failover_order() {
    let r = route(&dir(), ONNET, "+14155550199", &RoutingPolicy::default());
    assert_eq!(r.callflow_id.as_deref(), Some("cf-pstn"));
    assert_eq!(
        r.actions,
        [RouteAction::RecordCall(json!({"action": "start"}))]
    );
    assert_eq!(r.target, Target::Carriers(all_gateways()));
}

#[test]
fn record_caller_is_a_target_with_its_data() {
    let r = route(&dir(), ONNET, "*99", &RoutingPolicy::default());
    assert_eq!(r.target, Target::RecordCaller(json!({"time_limit": 60})));
}

#[test]
fn onnet_caller_with_no_match_goes_to_the_carriers() {
    let r = route(&dir(), ONNET, "12345", &RoutingPolicy::default());
    assert_eq!(r.callflow_id, None);
    assert_eq!(r.target, Target::Carriers(all_gateways()));
}

#[test]
fn onnet_caller_with_no_match_and_no_resources_is_not_found() {
    let mut docs = docs();
    docs.retain(|(s, _)| !s.starts_with('r') && s != "cf-pstn.json");
    let dir = Directory::build(docs).unwrap();
    let r = route(&dir, ONNET, "12345", &RoutingPolicy::default());
    assert_eq!(r.target, Target::NotFound);
}

#[test]
fn onnet_no_match_callflow_is_used_when_present() {
    let mut docs = docs();
    docs.push((
        "nm.json".into(),
        json!({"_id": "cf-nm", "pvt_type": "callflow", "numbers": ["no_match"],
               "flow": {"module": "device", "data": {"id": "dev-1002"}}}),
    ));
    let dir = Directory::build(docs).unwrap();
    let r = route(&dir, ONNET, "12345", &RoutingPolicy::default());
    assert_eq!(r.callflow_id.as_deref(), Some("cf-nm"));
    // An offnet caller never gets no_match.
    let r = route(&dir, OFFNET, "12345", &RoutingPolicy::default());
    assert_eq!(r.target, Target::NotFound);
    assert_eq!(r.callflow_id, None);
}

#[test]
fn offnet_caller_reaches_onnet_numbers_and_gets_404_for_unknown_ones() {
    let dir = dir();
    let r = route(&dir, OFFNET, "+14155550101", &RoutingPolicy::default());
    assert!(matches!(r.target, Target::Devices { .. }));
    let r = route(&dir, OFFNET, "555", &RoutingPolicy::default());
    assert_eq!(r.target, Target::NotFound);
}

#[test]
fn carrier_to_carrier_is_refused_unless_allowed() {
    let dir = dir();
    let r = route(&dir, OFFNET, "+14155550199", &RoutingPolicy::default());
    assert_eq!(r.target, Target::RelayRefused);
    let allow = RoutingPolicy {
        allow_offnet_to_offnet: true,
    };
    let r = route(&dir, OFFNET, "+14155550199", &allow);
    assert_eq!(r.target, Target::Carriers(all_gateways()));
}

#[test]
fn disabled_device_leaves_an_empty_ring_list() {
    let mut docs = docs();
    docs.push((
        "cf99.json".into(),
        json!({"_id": "cf-1099", "pvt_type": "callflow", "numbers": ["1099"],
               "flow": {"module": "device", "data": {"id": "dev-1099"}}}),
    ));
    let r = route(
        &Directory::build(docs).unwrap(),
        ONNET,
        "1099",
        &RoutingPolicy::default(),
    );
    assert_eq!(
        r.target,
        Target::Devices {
            devices: vec![],
            owner_user: Some("alice".into()),
            ring_timeout: None,
        }
    );
}

#[test]
fn record_call_without_a_child_routes_nowhere() {
    let mut docs = docs();
    docs.push((
        "cf7.json".into(),
        json!({"_id": "cf-7", "pvt_type": "callflow", "numbers": ["7"],
               "flow": {"module": "record_call", "data": {"action": "start"}, "children": {"_": {}}}}),
    ));
    let r = route(
        &Directory::build(docs).unwrap(),
        ONNET,
        "7",
        &RoutingPolicy::default(),
    );
    assert_eq!(r.actions.len(), 1);
    assert_eq!(r.target, Target::NotFound);
}

#[test]
fn accounts_only_see_their_own_callflows_and_resources() {
    let d = |s: &str, v: Value| (s.to_owned(), v);
    let docs = vec![
        d(
            "a.json",
            json!({"_id": "a", "pvt_type": "account", "name": "A", "realm": "a.example"}),
        ),
        d(
            "b.json",
            json!({"_id": "b", "pvt_type": "account", "name": "B", "realm": "b.example"}),
        ),
        d(
            "da.json",
            json!({"_id": "da", "pvt_type": "device", "account_id": "a", "sip": {"username": "1", "password": "p"}}),
        ),
        d(
            "ca.json",
            json!({"_id": "ca", "pvt_type": "callflow", "account_id": "a", "numbers": ["100"],
                            "flow": {"module": "device", "data": {"id": "da"}}}),
        ),
        d(
            "rb.json",
            json!({"_id": "rb", "pvt_type": "resource", "account_id": "b", "gateways": [{"server": "192.0.2.9"}]}),
        ),
    ];
    let dir = Directory::build(docs).unwrap();
    let policy = RoutingPolicy::default();
    let from_b = CallSource::Onnet {
        account_id: Some("b"),
    };
    let from_a = CallSource::Onnet {
        account_id: Some("a"),
    };
    // B cannot reach A's extension; its no-match goes to its own resource.
    let r = route(&dir, from_b, "100", &policy);
    assert_eq!(r.callflow_id, None);
    assert_eq!(
        r.target,
        Target::Carriers(vec![gw("rb", "192.0.2.9", 5060, Transport::Udp)])
    );
    // A has no resource of its own: no-match yields no gateways.
    assert_eq!(
        route(&dir, from_a, "999", &policy).target,
        Target::Carriers(vec![])
    );
    assert_eq!(
        route(&dir, from_a, "100", &policy).callflow_id.as_deref(),
        Some("ca")
    );
}

#[test]
fn resource_rules_restrict_which_numbers_a_carrier_takes() {
    let mut docs = docs();
    docs.retain(|(s, _)| s != "r2.json");
    docs.push((
        "r2.json".into(),
        json!({"_id": "carrier-b", "pvt_type": "resource", "name": "B", "weight_cost": 1,
               "rules": ["^\\+44\\d+$"], "gateways": [{"server": "198.51.100.1"}]}),
    ));
    let dir = Directory::build(docs).unwrap();
    let uk = route(&dir, ONNET, "+442079460000", &RoutingPolicy::default());
    assert_eq!(
        uk.target,
        Target::Carriers(vec![
            gw("carrier-b", "198.51.100.1", 5060, Transport::Udp),
            gw("carrier-a", "203.0.113.10", 5060, Transport::Udp),
            gw("carrier-a", "203.0.113.11", 5080, Transport::Tcp),
        ])
    );
    let us = route(&dir, ONNET, "+14155550199", &RoutingPolicy::default());
    assert_eq!(
        us.target,
        Target::Carriers(vec![
            gw("carrier-a", "203.0.113.10", 5060, Transport::Udp),
            gw("carrier-a", "203.0.113.11", 5080, Transport::Tcp),
        ])
    );
}

mod never_panics {
    use super::*;
    use callrec_kazoo::routing::normalize_number;
    use proptest::prelude::*;

    fn shared_dir() -> &'static Directory {
        static DIR: std::sync::OnceLock<Directory> = std::sync::OnceLock::new();
        DIR.get_or_init(dir)
    }

    proptest! {
        #[test]
        fn normalising_and_routing_any_text_never_panics(s in "\\PC{0,40}") {
            let n = normalize_number(&s);
            prop_assert!(n.len() <= s.len() * 3);
            let dir = shared_dir();
            let _ = route(dir, ONNET, &s, &RoutingPolicy::default());
            let r = route(dir, OFFNET, &s, &RoutingPolicy::default());
            // A carrier's call never goes out to a carrier with the default policy.
            prop_assert!(!matches!(r.target, Target::Carriers(_)));
        }

        #[test]
        fn phone_numbers_lose_only_visual_separators(digits in "\\+?[0-9]{1,15}", sep in "[-. ()]{0,3}") {
            let mut written = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && i % 3 == 0 {
                    written.push_str(&sep);
                }
                written.push(c);
            }
            prop_assert_eq!(normalize_number(&format!("sip:{written}@example.com;user=phone")), digits);
        }
    }
}
