//! The direction × network table of a `call_recording` object and how documents build it.
//!
//! Shape: `call_recording = {inbound|outbound|any: {onnet|offnet|any: params}}`.
//! Each document is first *expanded* on its own (`any` is the default under both siblings,
//! the specific key deep-merged over it), then the expanded documents are merged by precedence
//! (account `endpoint` < user < device) with [`crate::recording::merge::merge`], and only then are the
//! cells read: a cell nobody configured is `{"enabled": false}`. Expanding before merging means
//! a device's `any` beats a user's specific setting, as "device > user" demands.

use serde_json::{Map, Value};

use crate::recording::merge::merge;
use crate::recording::params::{is_true, RecordingParams};

/// Direction of a rule from the point of view of whoever owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Calls coming in (to the account, or to the endpoint).
    Inbound,
    /// Calls going out (from the account, or from the endpoint).
    Outbound,
}

pub use crate::tags::Network;

impl Direction {
    /// The document key (`inbound`, `outbound`).
    pub fn key(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

const DIRECTIONS: [Direction; 2] = [Direction::Inbound, Direction::Outbound];
const NETWORKS: [Network; 2] = [Network::Onnet, Network::Offnet];

/// The four cells of a resolved `call_recording` object (missing cells are disabled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingTable {
    cells: [[RecordingParams; 2]; 2],
}

impl RecordingTable {
    /// The parameters for one direction and network.
    pub fn get(&self, direction: Direction, network: Network) -> &RecordingParams {
        &self.cells[direction as usize][network as usize]
    }

    /// True when any cell is enabled.
    pub fn any_enabled(&self) -> bool {
        self.cells.iter().flatten().any(|p| p.enabled)
    }

    /// Reads an already expanded and merged object (see [`expand`]).
    fn from_expanded(v: &Value) -> RecordingTable {
        let mut t = RecordingTable::default();
        for d in DIRECTIONS {
            for n in NETWORKS {
                if let Some(p) = v.get(d.key()).and_then(|dv| dv.get(n.key())) {
                    t.cells[d as usize][n as usize] = RecordingParams::from_value(p);
                }
            }
        }
        t
    }

    /// The table of a single `call_recording` object (expanded; unspecified cells disabled).
    pub fn from_call_recording(call_recording: &Value) -> RecordingTable {
        RecordingTable::from_expanded(&expand(call_recording))
    }

    /// Account-level rules: `call_recording.account` of the account document.
    pub fn for_account(account_doc: &Value) -> RecordingTable {
        let rules = account_doc
            .get("call_recording")
            .and_then(|c| c.get("account"))
            .unwrap_or(&Value::Null);
        RecordingTable::from_call_recording(rules)
    }

    /// Merged endpoint settings: account `call_recording.endpoint` < user < device, each side
    /// optional. User and device documents are whole documents (`call_recording` and the
    /// legacy `record_call` flag are read from them).
    pub fn for_endpoint(
        account_doc: Option<&Value>,
        user_doc: Option<&Value>,
        device_doc: Option<&Value>,
    ) -> RecordingTable {
        let account = account_doc
            .and_then(|a| a.get("call_recording"))
            .and_then(|c| c.get("endpoint"))
            .map(expand)
            .unwrap_or_else(empty);
        let user = user_doc.map(endpoint_document).unwrap_or_else(empty);
        let device = device_doc.map(endpoint_document).unwrap_or_else(empty);
        let merged = merge(&merge(&account, &user), &device);
        RecordingTable::from_expanded(&merged)
    }
}

fn empty() -> Value {
    Value::Object(Map::new())
}

/// The expanded `call_recording` of a user or device document. The legacy `record_call: true`
/// is the base ("everything on") with the document's own `call_recording` merged over it;
/// `record_call: false` or absent adds nothing.
pub fn endpoint_document(doc: &Value) -> Value {
    let own = doc.get("call_recording").map(expand).unwrap_or_else(empty);
    if doc.get("record_call").is_some_and(is_true) {
        merge(&everything_on(), &own)
    } else {
        own
    }
}

/// `{inbound: {onnet, offnet}, outbound: {onnet, offnet}}` all `{"enabled": true}`.
fn everything_on() -> Value {
    let on = serde_json::json!({"enabled": true});
    let dir = serde_json::json!({"onnet": on.clone(), "offnet": on});
    serde_json::json!({"inbound": dir.clone(), "outbound": dir})
}

/// Expands `any` at both levels of one `call_recording` object into the canonical shape
/// `{inbound: {onnet, offnet}, outbound: {onnet, offnet}}`, keeping only cells the object
/// configures (a `{}` or absent cell stays absent, so it overrides nothing when merged).
/// Non-object input expands to `{}`.
pub fn expand(call_recording: &Value) -> Value {
    let mut out = Map::new();
    let Some(obj) = call_recording.as_object() else {
        return Value::Object(out);
    };
    let any_dir = obj
        .get("any")
        .filter(|v| v.is_object())
        .cloned()
        .unwrap_or_else(empty);
    for d in DIRECTIONS {
        let specific = obj
            .get(d.key())
            .filter(|v| v.is_object())
            .cloned()
            .unwrap_or_else(empty);
        let dir = merge(&any_dir, &specific);
        let any_net = dir
            .get("any")
            .filter(|v| v.is_object())
            .cloned()
            .unwrap_or_else(empty);
        let mut cells = Map::new();
        for n in NETWORKS {
            let specific = dir
                .get(n.key())
                .filter(|v| v.is_object())
                .cloned()
                .unwrap_or_else(empty);
            let cell = merge(&any_net, &specific);
            if cell.as_object().is_some_and(|c| !c.is_empty()) {
                cells.insert(n.key().to_owned(), cell);
            }
        }
        if !cells.is_empty() {
            out.insert(d.key().to_owned(), Value::Object(cells));
        }
    }
    Value::Object(out)
}
