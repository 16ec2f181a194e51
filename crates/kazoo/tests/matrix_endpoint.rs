// Case names use `__` to separate the setting, the call shape and the outcome, as in the seed table.
#![allow(non_snake_case)]

//! The seed's "Endpoint Settings" matrix, one case per row (12 rows), row quoted above each case.
//!
//! Each case puts the row's setting on *every* onnet endpoint of the call (caller and callee
//! alike), so the assertion shows whose setting applies: the caller's `outbound.<to>` on the
//! A leg from now, or the callee's `inbound.<from>` on its B leg from its answer.

mod common;

use callrec_kazoo::recording::{decide, Network, PolicyConfig, RecordedLeg, StartTrigger};
use common::*;
use serde_json::json;

type Row = Vec<(RecordedLeg, String, StartTrigger, Option<String>)>;

/// Plans for a call where every onnet endpoint has `dir.net` enabled and the account nothing.
fn endpoint_plans(from: Network, to: Network, dir: &str, net: &str) -> Row {
    let doc = device_doc(dir, net);
    let caller = endpoint("caller-dev", None, Some(&doc));
    let callee = endpoint("callee-dev", None, Some(&doc));
    let plans = decide(
        &facts(from, to, &json!({}), Some(caller), Some(callee)),
        &PolicyConfig::default(),
    );
    plans
        .into_iter()
        .map(|p| {
            assert_eq!(
                p.owner_id,
                p.endpoint_id.as_ref().map(|e| format!("owner-of-{e}"))
            );
            (p.leg, p.origin.to_string(), p.trigger, p.endpoint_id)
        })
        .collect()
}

fn caller_records(to: &str) -> Row {
    vec![(
        RecordedLeg::A,
        format!("outbound to {to} from endpoint"),
        StartTrigger::Now,
        Some("caller-dev".into()),
    )]
}

fn callee_records(from: &str) -> Row {
    vec![(
        RecordedLeg::B,
        format!("inbound from {from} to endpoint"),
        StartTrigger::Answer,
        Some("callee-dev".into()),
    )]
}

// ---- When an onnet device makes an internal call (onnet -> onnet) ----

// | Endpoint -> Inbound -> Onnet | onnet | onnet | yes¹ |  (the callee's setting, its B leg)
#[test]
fn endpoint_inbound_onnet__onnet_to_onnet__records_callee_b_leg_from_answer() {
    assert_eq!(
        endpoint_plans(ON, ON, "inbound", "onnet"),
        callee_records("onnet")
    );
}

// | Endpoint -> Inbound -> Offnet | onnet | onnet | no |
#[test]
fn endpoint_inbound_offnet__onnet_to_onnet__does_not_record() {
    assert!(endpoint_plans(ON, ON, "inbound", "offnet").is_empty());
}

// | Endpoint -> Outbound -> Onnet | onnet | onnet | yes |  (the caller's setting, A leg)
#[test]
fn endpoint_outbound_onnet__onnet_to_onnet__records_caller_a_leg() {
    assert_eq!(
        endpoint_plans(ON, ON, "outbound", "onnet"),
        caller_records("onnet")
    );
}

// | Endpoint -> Outbound -> Offnet | onnet | onnet | no |
#[test]
fn endpoint_outbound_offnet__onnet_to_onnet__does_not_record() {
    assert!(endpoint_plans(ON, ON, "outbound", "offnet").is_empty());
}

// ---- When an onnet device makes an external call (onnet -> offnet) ----

// | Endpoint -> Inbound -> Onnet | onnet | offnet | no |
#[test]
fn endpoint_inbound_onnet__onnet_to_offnet__does_not_record() {
    assert!(endpoint_plans(ON, OFF, "inbound", "onnet").is_empty());
}

// | Endpoint -> Inbound -> Offnet | onnet | offnet | no |
#[test]
fn endpoint_inbound_offnet__onnet_to_offnet__does_not_record() {
    assert!(endpoint_plans(ON, OFF, "inbound", "offnet").is_empty());
}

// | Endpoint -> Outbound -> Onnet | onnet | offnet | no |
#[test]
fn endpoint_outbound_onnet__onnet_to_offnet__does_not_record() {
    assert!(endpoint_plans(ON, OFF, "outbound", "onnet").is_empty());
}

// | Endpoint -> Outbound -> Offnet | onnet | offnet | yes |  (the caller's setting, A leg)
#[test]
fn endpoint_outbound_offnet__onnet_to_offnet__records_caller_a_leg() {
    assert_eq!(
        endpoint_plans(ON, OFF, "outbound", "offnet"),
        caller_records("offnet")
    );
}

// ---- When an offnet endpoint makes a call to an onnet device (offnet -> onnet) ----

// | Endpoint -> Inbound -> Onnet | offnet | onnet | no |
#[test]
fn endpoint_inbound_onnet__offnet_to_onnet__does_not_record() {
    assert!(endpoint_plans(OFF, ON, "inbound", "onnet").is_empty());
}

// | Endpoint -> Inbound -> Offnet | offnet | onnet | yes |  (the callee's setting, its B leg)
#[test]
fn endpoint_inbound_offnet__offnet_to_onnet__records_callee_b_leg_from_answer() {
    assert_eq!(
        endpoint_plans(OFF, ON, "inbound", "offnet"),
        callee_records("offnet")
    );
}

// | Endpoint -> Outbound -> Onnet | offnet | onnet | no |
#[test]
fn endpoint_outbound_onnet__offnet_to_onnet__does_not_record() {
    assert!(endpoint_plans(OFF, ON, "outbound", "onnet").is_empty());
}

// | Endpoint -> Outbound -> Offnet | offnet | onnet | no |
#[test]
fn endpoint_outbound_offnet__offnet_to_onnet__does_not_record() {
    assert!(endpoint_plans(OFF, ON, "outbound", "offnet").is_empty());
}
