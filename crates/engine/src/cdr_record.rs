//! One CDR per leg, KAZOO-shaped: signalling facts from the B2BUA, wall-clock times from the
//! engine's clock, and the recording fields from the coordinator.

use std::time::Duration;

use callrec_kazoo::cdr::{CdrFacts, EndUserDirection};
use serde_json::{json, Map, Value};

use crate::coordinator::LegRecording;
use crate::wall_clock::WallClock;

fn end_user(d: EndUserDirection) -> &'static str {
    match d {
        EndUserDirection::Inbound => "inbound",
        EndUserDirection::Outbound => "outbound",
        EndUserDirection::Internal => "internal",
        EndUserDirection::Forwarded => "forwarded",
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

/// The CDR of one leg as JSON.
pub fn cdr_json(facts: &CdrFacts, recordings: &[LegRecording], clock: &WallClock) -> Value {
    let mut ccv = Map::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            ccv.insert(k.to_owned(), Value::String(v.to_owned()));
        }
    };
    put("account_id", facts.account_id.as_deref());
    put("owner_id", facts.owner_id.as_deref());
    put("authorizing_id", facts.authorizing_id.as_deref());
    put("resource_type", facts.resource_type.map(|r| r.as_str()));
    let (refused, recorded): (Vec<&LegRecording>, Vec<&LegRecording>) =
        recordings.iter().partition(|r| r.refused.is_some());
    if let Some(first) = recorded.first() {
        ccv.insert("media_recording_id".into(), json!(first.id));
        ccv.insert(
            "media_recordings".into(),
            json!(recorded
                .iter()
                .map(|r| r.file_name.clone())
                .collect::<Vec<_>>()),
        );
        ccv.insert(
            "media_recording_origins".into(),
            json!(recorded
                .iter()
                .map(|r| r.origin.clone())
                .collect::<Vec<_>>()),
        );
        let discarded: Vec<&str> = recorded
            .iter()
            .filter(|r| r.discarded)
            .map(|r| r.id.as_str())
            .collect();
        if !discarded.is_empty() {
            ccv.insert("media_recordings_discarded".into(), json!(discarded));
        }
    }
    // Recordings the policy asked for that never started (callrec's own keys, not KAZOO's):
    // their ids, and why (`low_disk_space`: the spool had less than `min_free_mb` free;
    // `spool_error`: the spool entry could not be written).
    if let Some(first) = refused.first() {
        ccv.insert(
            "media_recordings_refused".into(),
            json!(refused.iter().map(|r| r.id.as_str()).collect::<Vec<_>>()),
        );
        ccv.insert(
            "media_recording_refused_reason".into(),
            json!(first.refused.unwrap_or_default()),
        );
    }
    let created_unix = clock.unix_secs(facts.created);
    json!({
        "call_id": facts.call_id,
        "other_leg_call_id": if facts.call_id == facts.a_leg_call_id { Value::Null } else { json!(facts.a_leg_call_id) },
        "interaction_id": facts.interaction_id,
        "call_direction": facts.call_direction.as_str(),
        "end_user_direction": end_user(facts.end_user_direction),
        "network": facts.network.as_str(),
        "from": facts.from_uri,
        "to": facts.to_uri,
        "request": facts.request_uri,
        "caller_id_name": facts.caller_id_name,
        "caller_id_number": facts.caller_id_number,
        "callee_id_number": facts.callee_number,
        "timestamp": callrec_kazoo::gregorian::from_unix(created_unix),
        "created_unix_ms": clock.unix_ms(facts.created),
        "answered_unix_ms": facts.answered.map(|t| clock.unix_ms(t)),
        "ended_unix_ms": clock.unix_ms(facts.ended),
        "duration_seconds": secs(facts.duration),
        "billing_seconds": secs(facts.billing),
        "ringing_seconds": secs(facts.ringing),
        "hangup_cause": facts.hangup_cause.as_str(),
        "hangup_code": facts.hangup_code,
        "custom_channel_vars": Value::Object(ccv),
    })
}
