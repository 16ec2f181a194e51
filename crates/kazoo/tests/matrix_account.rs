// Case names use `__` to separate the setting, the call shape and the outcome, as in the seed table.
#![allow(non_snake_case)]

//! The seed's "Account Settings" matrix, one case per row (12 rows), row quoted in each name/comment.
//! Each case enables exactly the row's account cell and asserts leg, label and trigger.

mod common;

use callrec_kazoo::recording::{decide, Network, PolicyConfig, RecordedLeg, StartTrigger};
use common::*;
use serde_json::{json, Value};

/// The labels of all plans decided for a call with no endpoint settings.
fn account_labels(
    from: Network,
    to: Network,
    account: &Value,
) -> Vec<(RecordedLeg, String, StartTrigger)> {
    decide(
        &facts(from, to, account, None, None),
        &PolicyConfig::default(),
    )
    .into_iter()
    .map(|p| {
        assert_eq!(p.endpoint_id, None, "account plans carry no endpoint");
        (p.leg, p.origin.to_string(), p.trigger)
    })
    .collect()
}

fn yes(label: &str) -> Vec<(RecordedLeg, String, StartTrigger)> {
    vec![(RecordedLeg::A, label.to_owned(), StartTrigger::Now)]
}

// ---- When an onnet device makes an internal call (onnet -> onnet) ----

// | Account -> Inbound -> Onnet | onnet | onnet | yes |
#[test]
fn account_inbound_onnet__onnet_to_onnet__records() {
    assert_eq!(
        account_labels(ON, ON, &account_doc("inbound", "onnet")),
        yes("inbound from onnet to account")
    );
}

// | Account -> Inbound -> Offnet | onnet | onnet | no |
#[test]
fn account_inbound_offnet__onnet_to_onnet__does_not_record() {
    assert!(account_labels(ON, ON, &account_doc("inbound", "offnet")).is_empty());
}

// | Account -> Outbound -> Onnet | onnet | onnet | yes (if inbound -> onnet isn't configured) |
#[test]
fn account_outbound_onnet__onnet_to_onnet__records_when_inbound_onnet_not_configured() {
    assert_eq!(
        account_labels(ON, ON, &account_doc("outbound", "onnet")),
        yes("outbound to onnet from account")
    );
    let both = json!({"call_recording": {"account": {
        "inbound": {"onnet": {"enabled": true}}, "outbound": {"onnet": {"enabled": true}}}}});
    assert_eq!(
        account_labels(ON, ON, &both),
        yes("inbound from onnet to account")
    );
}

// | Account -> Outbound -> Offnet | onnet | onnet | no |
#[test]
fn account_outbound_offnet__onnet_to_onnet__does_not_record() {
    assert!(account_labels(ON, ON, &account_doc("outbound", "offnet")).is_empty());
}

// ---- When an onnet device makes an external call (onnet -> offnet) ----

// | Account -> Inbound -> Onnet | onnet | offnet | yes |
#[test]
fn account_inbound_onnet__onnet_to_offnet__records() {
    assert_eq!(
        account_labels(ON, OFF, &account_doc("inbound", "onnet")),
        yes("inbound from onnet to account")
    );
}

// | Account -> Inbound -> Offnet | onnet | offnet | no |
#[test]
fn account_inbound_offnet__onnet_to_offnet__does_not_record() {
    assert!(account_labels(ON, OFF, &account_doc("inbound", "offnet")).is_empty());
}

// | Account -> Outbound -> Onnet | onnet | offnet | no |
#[test]
fn account_outbound_onnet__onnet_to_offnet__does_not_record() {
    assert!(account_labels(ON, OFF, &account_doc("outbound", "onnet")).is_empty());
}

// | Account -> Outbound -> Offnet | onnet | offnet | yes (if inbound -> onnet isn't configured) |
#[test]
fn account_outbound_offnet__onnet_to_offnet__records_when_inbound_onnet_not_configured() {
    assert_eq!(
        account_labels(ON, OFF, &account_doc("outbound", "offnet")),
        yes("outbound to offnet from account")
    );
    let both = json!({"call_recording": {"account": {
        "inbound": {"onnet": {"enabled": true}}, "outbound": {"offnet": {"enabled": true}}}}});
    assert_eq!(
        account_labels(ON, OFF, &both),
        yes("inbound from onnet to account")
    );
}

// ---- When an offnet device makes an internal call (offnet -> onnet) ----

// | Account -> Inbound -> Onnet | offnet | onnet | no |
#[test]
fn account_inbound_onnet__offnet_to_onnet__does_not_record() {
    assert!(account_labels(OFF, ON, &account_doc("inbound", "onnet")).is_empty());
}

// | Account -> Inbound -> Offnet | offnet | onnet | yes |
#[test]
fn account_inbound_offnet__offnet_to_onnet__records() {
    assert_eq!(
        account_labels(OFF, ON, &account_doc("inbound", "offnet")),
        yes("inbound from offnet to account")
    );
}

// | Account -> Outbound -> Onnet | offnet | onnet | yes (if inbound-offnet isn't configured) |
#[test]
fn account_outbound_onnet__offnet_to_onnet__records_when_inbound_offnet_not_configured() {
    assert_eq!(
        account_labels(OFF, ON, &account_doc("outbound", "onnet")),
        yes("outbound to onnet from account")
    );
    let both = json!({"call_recording": {"account": {
        "inbound": {"offnet": {"enabled": true}}, "outbound": {"onnet": {"enabled": true}}}}});
    assert_eq!(
        account_labels(OFF, ON, &both),
        yes("inbound from offnet to account")
    );
}

// | Account -> Outbound -> Offnet | offnet | onnet | no |
#[test]
fn account_outbound_offnet__offnet_to_onnet__does_not_record() {
    assert!(account_labels(OFF, ON, &account_doc("outbound", "offnet")).is_empty());
}
