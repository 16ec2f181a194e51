//! Property tests: deciding never panics on arbitrary documents; merge is associative and
//! right-biased. Case counts are kept small so the file runs in well under a few seconds.

use callrec_kazoo::recording::{
    decide, merge, validate_callflow_action, validate_document, CallFacts, DocKind, EndpointFacts,
    Network, Origin, PolicyConfig, RecordCallStack, RecordingTable,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "call_recording",
    "account",
    "endpoint",
    "record_call",
    "inbound",
    "outbound",
    "any",
    "onnet",
    "offnet",
    "enabled",
    "format",
    "record_min_sec",
    "record_on_answer",
    "record_on_bridge",
    "record_sample_rate",
    "time_limit",
    "url",
    "method",
    "action",
    "label",
    "media_name",
    "x",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "mp3",
            "wav",
            "ogg",
            "true",
            "stop",
            "put",
            "post",
            "http://h/x",
            "ftp://h",
            "",
            "60"
        ])
        .prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..6).prop_map(
                |kvs| {
                    Value::Object(
                        kvs.into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect::<Map<_, _>>(),
                    )
                }
            ),
        ]
    })
}

/// A document that is likely to carry a `call_recording` of roughly the right shape.
fn doc() -> impl Strategy<Value = Value> {
    prop_oneof![
        json(),
        json().prop_map(|v| serde_json::json!({ "call_recording": v })),
        json().prop_map(|v| serde_json::json!({ "call_recording": { "account": v, "endpoint": v } })),
        (json(), any::<bool>()).prop_map(|(v, b)| serde_json::json!({ "call_recording": { "any": v, "inbound": { "offnet": v } }, "record_call": b })),
    ]
}

fn network() -> impl Strategy<Value = Network> {
    prop_oneof![Just(Network::Onnet), Just(Network::Offnet)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decide_never_panics_and_keeps_its_invariants(
        account in doc(), user in doc(), device in doc(), from in network(), to in network()
    ) {
        let cfg = PolicyConfig::default();
        let ep = EndpointFacts {
            endpoint_id: "e".into(),
            owner_id: None,
            recording: RecordingTable::for_endpoint(Some(&account), Some(&user), Some(&device)),
        };
        let facts = CallFacts {
            from, to, caller: Some(ep.clone()), callees: vec![ep],
            account: RecordingTable::for_account(&account),
        };
        let plans = decide(&facts, &cfg);
        let account_plans = plans.iter().filter(|p| p.endpoint_id.is_none()).count();
        prop_assert!(account_plans <= 1);
        prop_assert!(plans.len() <= 3);
        for p in &plans {
            prop_assert!((5..=cfg.max_time_limit_secs).contains(&p.settings.time_limit_secs));
            prop_assert!(p.settings.url.as_deref().is_none_or(callrec_kazoo::recording::is_http_url));
            let from_documents = !matches!(p.origin, Origin::Callflow { .. } | Origin::RecordCaller);
            prop_assert!(from_documents);
        }
        // The strict validators never panic either.
        for kind in [DocKind::Account, DocKind::User, DocKind::Device] {
            let _ = validate_document(kind, "id", &account, &cfg);
        }
        let _ = validate_callflow_action("cf", &user, false, &cfg);
        let _ = RecordCallStack::new().apply(&device, &cfg, &mut || 7);
    }

    #[test]
    fn merge_is_associative(a in json(), b in json(), c in json()) {
        prop_assert_eq!(merge(&merge(&a, &b), &c), merge(&a, &merge(&b, &c)));
    }

    #[test]
    fn merge_is_right_biased(a in json(), b in json()) {
        let m = merge(&a, &b);
        prop_assert!(right_wins(&m, Some(&a), &b), "b wins in merge(a, b): {} {} {}", a, b, m);
        prop_assert_eq!(merge(&a, &Value::Object(Map::new())), a.clone(), "{{}} overrides nothing");
        if let (Value::Object(ao), Value::Object(bo)) = (&a, &b) {
            for (k, av) in ao {
                if !bo.contains_key(k) {
                    prop_assert_eq!(&m[k], av, "left-only key {} kept", k);
                }
            }
        }
    }
}

/// True when every value of `right`, at its path, is what `merged` holds there, except where
/// `right` is `{}` (not configured) or puts a non-object over a non-empty object of `left`.
fn right_wins(merged: &Value, left: Option<&Value>, right: &Value) -> bool {
    let left_object = left.and_then(Value::as_object).filter(|o| !o.is_empty());
    match right {
        Value::Object(r) if r.is_empty() => left.is_none_or(|l| merged == l),
        Value::Object(r) => merged.as_object().is_some_and(|m| {
            r.iter().all(|(k, rv)| {
                let lv = left_object.and_then(|o| o.get(k));
                m.get(k).is_some_and(|mv| right_wins(mv, lv, rv))
            })
        }),
        scalar => match left_object {
            Some(_) => Some(merged) == left,
            None => merged == scalar,
        },
    }
}
