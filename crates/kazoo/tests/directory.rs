//! The directory: KAZOO-shaped documents are checked with messages naming the document and
//! key, and indexed for the lookups signalling needs.

use std::net::IpAddr;

use callrec_kazoo::directory::{Directory, DirectoryError, Module};
use callrec_sip::auth::Algorithm;
use callrec_sip::transaction::Transport;
use serde_json::{json, Value};

fn base() -> Vec<(String, Value)> {
    vec![
        (
            "account.json".into(),
            json!({"_id": "acc", "pvt_type": "account", "name": "Acme", "realm": "Sip.Example.COM",
                   "call_recording": {"any": {"onnet": {"enabled": true}}}}),
        ),
        (
            "users/alice.json".into(),
            json!({"_id": "user-alice", "pvt_type": "user", "first_name": "Alice", "last_name": "A",
                   "caller_id": {"internal": {"name": "Alice", "number": "1001"}},
                   "record_call": true}),
        ),
        (
            "devices/1001.json".into(),
            json!({"_id": "device-1001", "pvt_type": "device", "name": "Alice desk",
                   "owner_id": "user-alice",
                   "sip": {"username": "1001", "password": "pw1"}}),
        ),
        (
            "devices/1011.json".into(),
            json!({"_id": "device-1011", "pvt_type": "device", "name": "Alice softphone",
                   "owner_id": "user-alice", "digest_algorithms": ["SHA-256", "md5"],
                   "call_recording": {"outbound": {"offnet": {"enabled": false}}},
                   "sip": {"username": "1011", "password": "pw11", "realm": "other.example.com"}}),
        ),
        (
            "resources/carrier.json".into(),
            json!({"_id": "res-carrier", "pvt_type": "resource", "name": "Carrier",
                   "gateways": [{"server": "203.0.113.10"},
                                {"server": "203.0.113.11", "port": 5080, "transport": "tcp"},
                                {"server": "sbc.carrier.example", "enabled": false}]}),
        ),
        (
            "resources/backup.json".into(),
            json!({"_id": "res-backup", "pvt_type": "resource", "name": "Backup",
                   "weight_cost": 10,
                   "origination_cidrs": ["198.51.100.0/24", "2001:db8::/32"],
                   "gateways": [{"server": "198.51.100.1"}]}),
        ),
        (
            "callflows/1001.json".into(),
            json!({"_id": "cf-1001", "pvt_type": "callflow", "numbers": ["1001", "+1 (415) 555-0101"],
                   "flow": {"module": "record_call", "data": {"action": "start"},
                            "children": {"_": {"module": "user", "data": {"id": "user-alice"}}}}}),
        ),
    ]
}

fn build_with(extra: Vec<(&str, Value)>) -> Result<Directory, DirectoryError> {
    let mut docs = base();
    docs.extend(extra.into_iter().map(|(s, v)| (s.to_owned(), v)));
    Directory::build(docs)
}

fn error_text(extra: Vec<(&str, Value)>) -> String {
    build_with(extra)
        .expect_err("documents must be refused")
        .to_string()
}

#[test]
fn valid_documents_are_indexed_for_lookups() {
    let dir = Directory::build(base()).unwrap();
    let acc = dir.account("acc").unwrap();
    assert_eq!(acc.realm, "sip.example.com");
    assert_eq!(dir.account_by_realm("SIP.example.com").unwrap().id, "acc");
    assert_eq!(dir.single_account().unwrap().id, "acc");
    assert_eq!(
        acc.call_recording,
        Some(json!({"any": {"onnet": {"enabled": true}}}))
    );

    let d = dir.device_by_sip("sip.example.com", "1001").unwrap();
    assert_eq!(d.id, "device-1001");
    assert_eq!(d.account_id.as_deref(), Some("acc"));
    assert_eq!(d.digest_algorithms, [Algorithm::Md5]);
    assert!(d.enabled);
    assert!(dir.device_by_sip("sip.example.com", "1011").is_none());
    let soft = dir.device_by_sip("OTHER.example.com", "1011").unwrap();
    assert_eq!(soft.digest_algorithms, [Algorithm::Sha256, Algorithm::Md5]);
    assert_eq!(
        soft.call_recording,
        Some(json!({"outbound": {"offnet": {"enabled": false}}}))
    );

    let user = dir.user("user-alice").unwrap();
    assert_eq!(user.record_call, Some(json!(true)));
    assert_eq!(
        user.caller_id.internal.as_ref().unwrap().number.as_deref(),
        Some("1001")
    );
    let ids: Vec<_> = dir
        .devices_of_user("user-alice")
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(ids, ["device-1001", "device-1011"]);

    let cf = dir.callflow("cf-1001").unwrap();
    assert_eq!(cf.numbers, ["1001", "+14155550101"]);
    assert_eq!(cf.flow.module, Module::RecordCall);
    assert_eq!(cf.flow.data, json!({"action": "start"}));
    assert_eq!(cf.flow.children["_"].module, Module::User);
}

#[test]
fn debug_output_never_shows_passwords() {
    let dir = Directory::build(base()).unwrap();
    let d = dir.device("device-1001").unwrap();
    for text in [format!("{:?}", d.sip), format!("{d:?}"), format!("{dir:?}")] {
        assert!(!text.contains("pw1"), "{text}");
        assert!(!text.contains("pw11"), "{text}");
    }
}

#[test]
fn resources_are_ordered_by_weight_and_carry_gateway_defaults() {
    let dir = Directory::build(base()).unwrap();
    let ids: Vec<_> = dir.resources().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["res-backup", "res-carrier"]);
    let carrier = &dir.resources()[1];
    assert_eq!(carrier.gateways[0].port, 5060);
    assert_eq!(carrier.gateways[0].transport, Transport::Udp);
    assert_eq!(carrier.gateways[1].port, 5080);
    assert_eq!(carrier.gateways[1].transport, Transport::Tcp);
    assert!(!carrier.gateways[2].enabled);
    // Global resource: no account even with a single account.
    assert_eq!(carrier.account_id, None);
}

#[test]
fn carriers_are_recognised_by_source_address() {
    let dir = Directory::build(base()).unwrap();
    let who = |ip: &str| {
        dir.carrier_by_addr(ip.parse::<IpAddr>().unwrap())
            .map(|r| r.id.as_str())
    };
    // Default origination: the gateways' IP addresses (host names are not resolved).
    assert_eq!(who("203.0.113.10"), Some("res-carrier"));
    assert_eq!(who("203.0.113.11"), Some("res-carrier"));
    assert_eq!(who("203.0.113.12"), None);
    // Explicit CIDRs, IPv4 and IPv6, and IPv4-mapped IPv6 sources.
    assert_eq!(who("198.51.100.77"), Some("res-backup"));
    assert_eq!(who("::ffff:198.51.100.77"), Some("res-backup"));
    assert_eq!(who("2001:db8:1::5"), Some("res-backup"));
    assert_eq!(who("192.0.2.5"), None);
}

#[test]
fn disabled_resources_originate_nothing() {
    let mut docs = base();
    docs.retain(|(s, _)| s != "resources/backup.json");
    docs.push((
        "resources/backup.json".into(),
        json!({"_id": "res-backup", "pvt_type": "resource", "name": "Backup", "enabled": false,
               "origination_cidrs": ["198.51.100.0/24"], "gateways": []}),
    ));
    let dir = Directory::build(docs).unwrap();
    assert!(dir
        .carrier_by_addr("198.51.100.7".parse().unwrap())
        .is_none());
}

#[test]
fn a_missing_password_names_the_device_its_file_and_the_key() {
    let text = error_text(vec![(
        "devices/1002.json",
        json!({"_id": "device-1002", "pvt_type": "device", "name": "x", "sip": {"username": "1002"}}),
    )]);
    assert_eq!(
        text,
        "device device-1002 (devices/1002.json): sip.password is missing"
    );
}

#[test]
fn each_kind_of_bad_document_is_refused_with_its_key_path() {
    // (document, expected message) — one row per rule.
    let rows: Vec<(Value, &str)> = vec![
        (json!(["not", "an", "object"]), "bad.json: the document is not a JSON object"),
        (json!({"pvt_type": "device"}), "bad.json: _id is missing"),
        (
            json!({"_id": "x", "pvt_type": "vmbox"}),
            "document x (bad.json): pvt_type \"vmbox\" is not one of account, user, device, callflow, resource",
        ),
        (
            json!({"_id": "device-1001", "pvt_type": "user"}),
            "user device-1001 (bad.json): _id is also used by device device-1001 (devices/1001.json)",
        ),
        (
            json!({"_id": "d", "pvt_type": "device", "owner_id": "nobody",
                   "sip": {"username": "7", "password": "p"}}),
            "device d (bad.json): owner_id refers to user \"nobody\", which does not exist",
        ),
        (
            json!({"_id": "d", "pvt_type": "device", "sip": {"username": "1001", "password": "p"}}),
            "device d (bad.json): sip.username \"1001\" in realm \"sip.example.com\" is also used by device device-1001 (devices/1001.json)",
        ),
        (
            json!({"_id": "d", "pvt_type": "device", "sip": {"username": 7, "password": "p"}}),
            "device d (bad.json): sip.username must be a string",
        ),
        (
            json!({"_id": "d", "pvt_type": "device", "digest_algorithms": ["sha1"],
                   "sip": {"username": "7", "password": "p"}}),
            "device d (bad.json): digest_algorithms must be a list of \"md5\", \"md5-sess\", \"sha-256\", \"sha-256-sess\"",
        ),
        (
            json!({"_id": "cf", "pvt_type": "callflow", "numbers": ["1001"],
                   "flow": {"module": "device", "data": {"id": "device-1001"}}}),
            "callflow cf (bad.json): number \"1001\" is also claimed by callflow cf-1001 (callflows/1001.json)",
        ),
        (
            json!({"_id": "cf", "pvt_type": "callflow", "numbers": ["5"],
                   "flow": {"module": "record_call", "children": {"_": {"module": "voicemail"}}}}),
            "callflow cf (bad.json): flow.children._.module names module \"voicemail\", which is not one of device, user, ring_group, resources, offnet, record_call, record_caller",
        ),
        (
            json!({"_id": "cf", "pvt_type": "callflow", "numbers": ["5"],
                   "flow": {"module": "device", "data": {"id": "device-9"}}}),
            "callflow cf (bad.json): flow.data.id refers to device \"device-9\", which does not exist",
        ),
        (
            json!({"_id": "cf", "pvt_type": "callflow", "numbers": ["5"]}),
            "callflow cf (bad.json): flow is missing",
        ),
        (
            json!({"_id": "r", "pvt_type": "resource", "gateways": [{"server": "1.2.3.4", "port": 70000}]}),
            "resource r (bad.json): gateways.0.port must be a port number 1-65535",
        ),
        (
            json!({"_id": "r", "pvt_type": "resource", "gateways": [{"port": 5060}]}),
            "resource r (bad.json): gateways.0.server is missing",
        ),
        (
            json!({"_id": "r", "pvt_type": "resource", "gateways": [{"server": "h", "transport": "tls"}]}),
            "resource r (bad.json): gateways.0.transport must be \"udp\" or \"tcp\"",
        ),
        (
            json!({"_id": "r", "pvt_type": "resource", "gateways": [{"server": "sip:carrier.example"}]}),
            "resource r (bad.json): gateways.0.server must be an IP address or a host name",
        ),
        (
            json!({"_id": "r", "pvt_type": "resource", "gateways": [{"server": "a..b"}]}),
            "resource r (bad.json): gateways.0.server must be an IP address or a host name",
        ),
        (
            json!({"_id": "r", "pvt_type": "resource", "gateways": [],
                   "origination_cidrs": ["10.0.0.0/8", "10.0.0.0/40"]}),
            "resource r (bad.json): origination_cidrs.1 value \"10.0.0.0/40\" is not an IP address or CIDR block",
        ),
    ];
    for (doc, want) in rows {
        assert_eq!(error_text(vec![("bad.json", doc)]), want);
    }
}

#[test]
fn a_bad_pattern_is_refused_with_its_index() {
    let err = build_with(vec![(
        "cf.json",
        json!({"_id": "cf", "pvt_type": "callflow", "patterns": ["^\\d+$", "^(unclosed"],
               "flow": {"module": "resources"}}),
    )])
    .unwrap_err();
    match err {
        DirectoryError::BadRegex { doc, path, .. } => {
            assert_eq!(doc.id, "cf");
            assert_eq!(path, "patterns.1");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn a_bad_resource_rule_is_refused_with_its_index() {
    let err = build_with(vec![(
        "r.json",
        json!({"_id": "r", "pvt_type": "resource", "gateways": [], "rules": ["^\\+1", "("]}),
    )])
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("resource r (r.json): rules.1 is not a valid regular expression"),
        "{err}"
    );
}

#[test]
fn several_accounts_require_account_id_on_devices() {
    let err = error_text(vec![
        (
            "b.json",
            json!({"_id": "acc-b", "pvt_type": "account", "name": "B", "realm": "b.example"}),
        ),
        (
            "d.json",
            json!({"_id": "d", "pvt_type": "device", "sip": {"username": "7", "password": "p"}}),
        ),
    ]);
    // The base documents already lack account_id: the first of them is named.
    assert!(
        err.contains("account_id is missing (required when there are several accounts)"),
        "{err}"
    );
}

#[test]
fn several_accounts_keep_usernames_and_numbers_apart() {
    let docs = vec![
        (
            "a.json".to_owned(),
            json!({"_id": "a", "pvt_type": "account", "name": "A", "realm": "a.example"}),
        ),
        (
            "b.json".to_owned(),
            json!({"_id": "b", "pvt_type": "account", "name": "B", "realm": "b.example"}),
        ),
        (
            "da.json".to_owned(),
            json!({"_id": "da", "pvt_type": "device", "account_id": "a",
                                      "sip": {"username": "100", "password": "p"}}),
        ),
        (
            "db.json".to_owned(),
            json!({"_id": "db", "pvt_type": "device", "account_id": "b",
                                      "sip": {"username": "100", "password": "q"}}),
        ),
        (
            "ca.json".to_owned(),
            json!({"_id": "ca", "pvt_type": "callflow", "account_id": "a",
                                      "numbers": ["100"], "flow": {"module": "device", "data": {"id": "da"}}}),
        ),
        (
            "cb.json".to_owned(),
            json!({"_id": "cb", "pvt_type": "callflow", "account_id": "b",
                                      "numbers": ["100"], "flow": {"module": "device", "data": {"id": "db"}}}),
        ),
    ];
    let dir = Directory::build(docs).unwrap();
    assert_eq!(dir.device_by_sip("a.example", "100").unwrap().id, "da");
    assert_eq!(dir.device_by_sip("b.example", "100").unwrap().id, "db");
    assert!(dir.single_account().is_none());
}

#[test]
fn an_empty_document_set_is_an_empty_directory() {
    let dir = Directory::build(Vec::new()).unwrap();
    assert!(dir.accounts().is_empty());
    assert!(dir.carrier_by_addr("192.0.2.1".parse().unwrap()).is_none());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Keys and strings from the documents' vocabulary, so generated documents reach deep
    /// paths instead of failing at `_id`.
    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("_id".to_owned()),
            Just("pvt_type".to_owned()),
            Just("account".to_owned()),
            Just("user".to_owned()),
            Just("device".to_owned()),
            Just("callflow".to_owned()),
            Just("resource".to_owned()),
            Just("sip".to_owned()),
            Just("username".to_owned()),
            Just("password".to_owned()),
            Just("realm".to_owned()),
            Just("owner_id".to_owned()),
            Just("account_id".to_owned()),
            Just("numbers".to_owned()),
            Just("patterns".to_owned()),
            Just("flow".to_owned()),
            Just("module".to_owned()),
            Just("data".to_owned()),
            Just("id".to_owned()),
            Just("children".to_owned()),
            Just("_".to_owned()),
            Just("gateways".to_owned()),
            Just("server".to_owned()),
            Just("port".to_owned()),
            Just("transport".to_owned()),
            Just("origination_cidrs".to_owned()),
            Just("digest_algorithms".to_owned()),
            Just("caller_id".to_owned()),
            Just("internal".to_owned()),
            Just("x".to_owned()),
            "[a-z0-9./:()*+\\[\\]-]{0,12}",
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            word().prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(word(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn building_from_arbitrary_documents_never_panics(
            docs in prop::collection::vec(json_value(), 0..6)
        ) {
            let mut all = base();
            all.extend(docs.into_iter().enumerate().map(|(i, d)| (format!("gen{i}.json"), d)));
            // Ok or a named error; the message must be printable.
            if let Err(e) = Directory::build(all) {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn the_example_documents_shipped_in_config_build() {
    let dir_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/documents");
    let Ok(entries) = std::fs::read_dir(&dir_path) else {
        // The example directory is optional for this crate's tests.
        return;
    };
    let mut docs = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            docs.push((path.display().to_string(), v));
        }
    }
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    let n = docs.len();
    assert!(n > 0, "no documents in {}", dir_path.display());
    let dir = Directory::build(docs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        dir.accounts().len()
            + dir.users().len()
            + dir.devices().len()
            + dir.callflows().len()
            + dir.resources().len(),
        n
    );
}

#[test]
fn gateways_by_host_name_are_listed_to_resolve_srv_when_no_port_is_given() {
    use callrec_kazoo::directory::HostQuery;
    let dir = build_with(vec![
        (
            "r1.json",
            json!({"_id": "r1", "pvt_type": "resource", "gateways": [
                {"server": "SBC.Carrier.example."},
                {"server": "sbc.carrier.example", "port": 5080, "transport": "tcp"},
                {"server": "203.0.113.9"},
                {"server": "[2001:db8::1]", "port": 5062},
                {"server": "off.carrier.example", "enabled": false}]}),
        ),
        (
            "r2.json",
            json!({"_id": "r2", "pvt_type": "resource", "gateways": [
                {"server": "sbc.carrier.example"}, {"server": "tcp.carrier.example", "transport": "tcp"}]}),
        ),
        (
            "r3.json",
            json!({"_id": "r3", "pvt_type": "resource", "enabled": false,
                   "gateways": [{"server": "disabled.carrier.example"}]}),
        ),
    ])
    .expect("valid documents");
    let queries = dir.host_queries();
    assert_eq!(
        queries,
        vec![
            HostQuery {
                name: "sbc.carrier.example".into(),
                transport: Transport::Udp,
                port: None
            },
            HostQuery {
                name: "sbc.carrier.example".into(),
                transport: Transport::Tcp,
                port: Some(5080)
            },
            HostQuery {
                name: "tcp.carrier.example".into(),
                transport: Transport::Tcp,
                port: None
            },
        ]
    );
    assert_eq!(
        queries[0].srv_name().as_deref(),
        Some("_sip._udp.sbc.carrier.example.")
    );
    assert_eq!(queries[1].srv_name(), None);
    assert_eq!(
        queries[2].srv_name().as_deref(),
        Some("_sip._tcp.tcp.carrier.example.")
    );
    // A named gateway is not trusted as an origination address (nothing to resolve here).
    let r1 = dir.resources().iter().find(|r| r.id == "r1").unwrap();
    assert_eq!(r1.origination.len(), 2);
}
