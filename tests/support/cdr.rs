//! Reading callrec's CDR log (`<data_dir>/cdrs.jsonl`, one JSON object per leg).
//!
//! Every field is read through the accessors below, in one place, so that the tests follow the
//! engine's exact field names by editing this file only.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// One CDR (one leg).
#[derive(Debug, Clone)]
pub struct Cdr(pub Value);

/// Reads every CDR written so far (a missing file is an empty log; a torn last line is skipped
/// because callrec may be writing it right now).
pub fn read(path: &Path) -> Vec<Cdr> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(Cdr)
        .collect()
}

/// CDRs grouped by interaction id (legs without one are grouped under "").
pub fn by_interaction(cdrs: &[Cdr]) -> BTreeMap<String, Vec<Cdr>> {
    let mut map: BTreeMap<String, Vec<Cdr>> = BTreeMap::new();
    for cdr in cdrs {
        map.entry(cdr.interaction_id().unwrap_or_default().to_owned())
            .or_default()
            .push(cdr.clone());
    }
    map
}

impl Cdr {
    /// A field at the top level or in custom_channel_vars, under the first name that exists.
    fn get(&self, names: &[&str]) -> Option<&Value> {
        for name in names {
            if let Some(v) = self.0.get(*name) {
                return Some(v);
            }
            if let Some(v) = self.0.get("custom_channel_vars").and_then(|c| c.get(*name)) {
                return Some(v);
            }
        }
        None
    }

    fn str(&self, names: &[&str]) -> Option<&str> {
        self.get(names).and_then(Value::as_str)
    }

    /// The leg's SIP Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.str(&["call_id"])
    }

    /// The interaction id shared by all legs of a call.
    pub fn interaction_id(&self) -> Option<&str> {
        self.str(&["interaction_id"])
    }

    /// `inbound` (A leg) or `outbound` (B leg), from callrec's point of view.
    pub fn call_direction(&self) -> Option<&str> {
        self.str(&["call_direction"])
    }

    /// `offnet-origination`, `offnet-termination`, or None on legs to/from phones.
    pub fn resource_type(&self) -> Option<&str> {
        self.str(&["resource_type"])
            .filter(|r| !r.is_empty() && !r.starts_with("onnet"))
    }

    /// The account id.
    pub fn account_id(&self) -> Option<&str> {
        self.str(&["account_id"])
    }

    /// The owner (user) id of the leg's device, if any.
    pub fn owner_id(&self) -> Option<&str> {
        self.str(&["owner_id"])
    }

    /// The authorizing id (device id for phone legs).
    pub fn authorizing_id(&self) -> Option<&str> {
        self.str(&["authorizing_id"])
    }

    /// The recording started on this leg, if any.
    pub fn media_recording_id(&self) -> Option<&str> {
        self.str(&["media_recording_id"]).filter(|r| !r.is_empty())
    }

    /// The recordings of this leg (`media_recordings`), as JSON values.
    pub fn media_recordings(&self) -> Vec<Value> {
        match self.get(&["media_recordings"]) {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![other.clone()],
        }
    }

    /// Origins of the recordings of this leg (`media_recording_origins`).
    pub fn media_recording_origins(&self) -> Vec<String> {
        match self.get(&["media_recording_origins"]) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The leg's network (`onnet` for a phone, `offnet` for a carrier).
    pub fn network(&self) -> Option<&str> {
        self.str(&["network"])
    }

    /// The end user's direction: inbound, outbound, internal or forwarded.
    pub fn end_user_direction(&self) -> Option<&str> {
        self.str(&[
            "end_user_direction",
            "user_direction",
            "direction",
            "call_direction_end_user",
        ])
    }

    /// Hangup cause, if written.
    pub fn hangup_cause(&self) -> Option<&str> {
        self.str(&["hangup_cause"])
    }
}
