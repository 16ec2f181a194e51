//! Helpers shared by the integration tests: documents and call facts built from JSON.
#![allow(dead_code)]

use callrec_kazoo::recording::{CallFacts, EndpointFacts, Network, RecordingTable};
use serde_json::{json, Value};

pub const ON: Network = Network::Onnet;
pub const OFF: Network = Network::Offnet;

/// `{"call_recording": {"account": {<dir>: {<net>: {"enabled": true}}}}}`.
pub fn account_doc(dir: &str, net: &str) -> Value {
    json!({"call_recording": {"account": {dir: {net: {"enabled": true}}}}})
}

/// A device document enabling one cell.
pub fn device_doc(dir: &str, net: &str) -> Value {
    json!({"call_recording": {dir: {net: {"enabled": true}}}})
}

/// An endpoint with the merged settings of (account, user, device) documents.
pub fn endpoint(id: &str, user: Option<&Value>, device: Option<&Value>) -> EndpointFacts {
    EndpointFacts {
        endpoint_id: id.to_owned(),
        owner_id: Some(format!("owner-of-{id}")),
        recording: RecordingTable::for_endpoint(None, user, device),
    }
}

/// Call facts: caller present only when `from` is onnet, callee only when `to` is onnet.
pub fn facts(
    from: Network,
    to: Network,
    account: &Value,
    caller: Option<EndpointFacts>,
    callee: Option<EndpointFacts>,
) -> CallFacts {
    CallFacts {
        from,
        to,
        caller: if from == Network::Onnet { caller } else { None },
        callees: if to == Network::Onnet {
            callee.into_iter().collect()
        } else {
            Vec::new()
        },
        account: RecordingTable::for_account(account),
    }
}
