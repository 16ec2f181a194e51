//! Many accounts in one directory: extensions repeat per account, DIDs are unique across
//! accounts (refused when saved), a global carrier's call takes the account of the callflow it
//! matched, an account's own resources serve only it, and a disabled account places and
//! receives no calls.

use callrec_kazoo::directory::{Directory, DirectoryError};
use callrec_kazoo::load::check_document;
use callrec_kazoo::recording::PolicyConfig;
use callrec_kazoo::routing::{is_did, route, CallSource, RoutingPolicy, Target};
use callrec_sip::auth::Credentials;
use serde_json::{json, Value};

fn account(id: &str, realm: &str) -> Value {
    json!({"_id": id, "pvt_type": "account", "name": id, "realm": realm})
}

fn device(id: &str, account: &str, username: &str) -> Value {
    json!({"_id": id, "pvt_type": "device", "account_id": account,
           "sip": {"username": username, "password": "pw"}})
}

fn device_flow(id: &str, account: &str, numbers: &[&str], device: &str) -> Value {
    json!({"_id": id, "pvt_type": "callflow", "account_id": account, "numbers": numbers,
           "flow": {"module": "device", "data": {"id": device}}})
}

fn resource(id: &str, account: Option<&str>, server: &str) -> Value {
    let mut r = json!({"_id": id, "pvt_type": "resource", "name": id,
                       "gateways": [{"server": server}]});
    if let Some(a) = account {
        r["account_id"] = json!(a);
    }
    r
}

/// Accounts A and B, each with extension 1001 and its own DID, A with its own carrier, a
/// global carrier for both.
fn docs() -> Vec<(String, Value)> {
    vec![
        account("acc-a", "a.example.com"),
        account("acc-b", "b.example.com"),
        device("dev-a1001", "acc-a", "1001"),
        device("dev-b1001", "acc-b", "1001"),
        device_flow("cf-a1001", "acc-a", &["1001", "+15550001000"], "dev-a1001"),
        device_flow("cf-b1001", "acc-b", &["1001", "+15550002000"], "dev-b1001"),
        json!({"_id": "cf-a-pstn", "pvt_type": "callflow", "account_id": "acc-a",
               "numbers": ["no_match"], "flow": {"module": "resources", "data": {}}}),
        json!({"_id": "cf-b-pstn", "pvt_type": "callflow", "account_id": "acc-b",
               "numbers": ["no_match"], "flow": {"module": "resources", "data": {}}}),
        resource("global", None, "198.51.100.1"),
        resource("a-own", Some("acc-a"), "198.51.100.2"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, d)| (format!("doc-{i}.json"), d))
    .collect()
}

fn devices_of(t: &Target) -> Vec<String> {
    match t {
        Target::Devices { devices, .. } => devices.iter().map(|d| d.device_id.clone()).collect(),
        other => panic!("not devices: {other:?}"),
    }
}

fn gateways_of(t: &Target) -> Vec<String> {
    match t {
        Target::Carriers(g) => g.iter().map(|g| g.resource_id.clone()).collect(),
        other => panic!("not carriers: {other:?}"),
    }
}

const POLICY: RoutingPolicy = RoutingPolicy {
    allow_offnet_to_offnet: false,
};

#[test]
fn the_same_extension_in_two_accounts_rings_the_callers_own_account() {
    let dir = Directory::build(docs()).unwrap();
    for (acc, want) in [("acc-a", "dev-a1001"), ("acc-b", "dev-b1001")] {
        let r = route(
            &dir,
            CallSource::Onnet {
                account_id: Some(acc),
            },
            "1001",
            &POLICY,
        );
        assert_eq!(devices_of(&r.target), [want]);
        assert_eq!(r.account_id.as_deref(), Some(acc));
    }
}

#[test]
fn a_global_carriers_call_to_a_did_takes_the_account_of_the_callflow_it_matched() {
    let dir = Directory::build(docs()).unwrap();
    let global = CallSource::Offnet { account_id: None };
    let r = route(&dir, global, "+15550002000", &POLICY);
    assert_eq!(devices_of(&r.target), ["dev-b1001"]);
    assert_eq!(r.account_id.as_deref(), Some("acc-b"));
    // An extension several accounts claim is nobody's from the PSTN.
    let r = route(&dir, global, "1001", &POLICY);
    assert_eq!(r.target, Target::NotFound);
    // An account's own carrier reaches only that account's numbers.
    let own = CallSource::Offnet {
        account_id: Some("acc-a"),
    };
    assert_eq!(
        route(&dir, own, "+15550002000", &POLICY).target,
        Target::NotFound
    );
    assert_eq!(
        devices_of(&route(&dir, own, "1001", &POLICY).target),
        ["dev-a1001"]
    );
}

#[test]
fn global_resources_serve_every_account_and_local_ones_only_their_own() {
    let dir = Directory::build(docs()).unwrap();
    let from = |a| CallSource::Onnet {
        account_id: Some(a),
    };
    assert_eq!(
        gateways_of(&route(&dir, from("acc-a"), "+14155550100", &POLICY).target),
        ["global", "a-own"]
    );
    assert_eq!(
        gateways_of(&route(&dir, from("acc-b"), "+14155550100", &POLICY).target),
        ["global"]
    );
}

#[test]
fn did_numbers_are_unique_across_accounts_and_extensions_are_not() {
    assert!(is_did("+15550001000") && is_did("4155550100") && !is_did("1001"));
    let mut d = docs();
    d.push((
        "dup.json".into(),
        device_flow("cf-b-dup", "acc-b", &["+15550001000"], "dev-b1001"),
    ));
    match Directory::build(d) {
        Err(DirectoryError::DuplicateDid { number, .. }) => assert_eq!(number, "+15550001000"),
        other => panic!("expected a duplicate DID, got {other:?}"),
    }
    // The API's write path refuses it with KAZOO's `unique` rule on `numbers`.
    let doc = device_flow("cf-b-dup", "acc-b", &["+1 555 000 1000"], "dev-b1001");
    let errors = check_document(&doc, &docs(), &PolicyConfig::default()).unwrap_err();
    assert_eq!(errors[0].path, "numbers");
    assert_eq!(errors[0].rule, "unique");
    // The same number twice in one account stays a per-account duplicate.
    let ext = device_flow("cf-b-ext", "acc-b", &["2000"], "dev-b1001");
    assert!(check_document(&ext, &docs(), &PolicyConfig::default()).is_ok());
}

#[test]
fn a_disabled_account_places_and_receives_no_calls() {
    let d: Vec<(String, Value)> = docs()
        .into_iter()
        .map(|(n, mut v)| {
            if v["_id"] == "acc-b" {
                v["enabled"] = json!(false);
            }
            (n, v)
        })
        .collect();
    let dir = Directory::build(d).unwrap();
    let b = dir.device("dev-b1001").unwrap();
    assert!(!dir.device_active(b));
    assert!(
        !Credentials::user(&dir, "b.example.com", "1001")
            .unwrap()
            .enabled,
        "its phones cannot authenticate"
    );
    assert!(
        Credentials::user(&dir, "a.example.com", "1001")
            .unwrap()
            .enabled
    );
    let global = CallSource::Offnet { account_id: None };
    assert_eq!(
        route(&dir, global, "+15550002000", &POLICY).target,
        Target::NotFound
    );
    // Account A's extension 1001 is now A's alone, also from the PSTN.
    assert_eq!(
        devices_of(&route(&dir, global, "1001", &POLICY).target),
        ["dev-a1001"]
    );
}

#[test]
fn each_account_has_its_own_digest_realm() {
    let dir = Directory::build(docs()).unwrap();
    assert_eq!(
        dir.challenge_realm("a.example.com", Some("1001")).realm,
        "a.example.com"
    );
    assert_eq!(
        dir.challenge_realm("b.example.com", Some("1001")).realm,
        "b.example.com"
    );
    assert_eq!(
        Credentials::user(&dir, "b.example.com", "1001").unwrap().id,
        "dev-b1001"
    );
}
