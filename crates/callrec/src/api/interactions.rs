//! `GET /v2/accounts/{A}/cdrs/interaction`: KAZOO's interaction summary, one row per call
//! (interaction) instead of one per leg, newest first; and `.../cdrs/interaction/{ID}`: one.
//!
//! A row is built from every leg of the interaction (`Store::cdr_legs`) and the recordings
//! started while it lasted: the end user's direction (callrec's `end_user_direction`, the same
//! on every leg), the other party, our users and devices, times, and each recording with the
//! state the recordings endpoint reports. This is what the recordings browser (`/`, docs/ui.md)
//! lists, and what any UI would otherwise have to assemble from the legs itself.
//!
//! Query: `created_from`, `created_to` (gregorian seconds, as `/cdrs`; an interaction is in the
//! range when its first leg is), `page_size` (1-1000, default 50), `start_key` (the previous
//! page's `next_start_key`), and callrec's filters `direction` (`inbound`, `outbound`,
//! `internal`, `forwarded`) and `q` (a number or name, matched case-insensitively as a
//! substring of the numbers and names on any leg).
//!
//! Paging: the rows of the CDR table are scanned newest first and an interaction is emitted at
//! its head leg (the A leg, else its oldest), so it appears exactly once however its legs fall
//! across pages. `next_start_key` is `"<created>:<cdr id>"` of the next head. A page scans at
//! most [`MAX_SCAN`] legs; a filter matching nothing for that long ends the page early with a
//! `next_start_key` to go on from.

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;
use axum::response::Response;
use callrec_kazoo::load::FieldError;
use callrec_store::{Cdr, TokenInfo};
use serde_json::{json, Map, Value};

use super::cdrs::{created_range, page_size};
use super::{is_admin, reply, store_error, ApiState, Request};

/// Legs scanned per request at most (a filter that matches little cannot make one request
/// read the whole table).
pub const MAX_SCAN: usize = 5000;
/// Legs read from the store per query while scanning.
const BATCH: usize = 200;
/// Recordings read for one page at most.
const MAX_RECORDINGS: usize = 5000;
/// The end user's directions.
const DIRECTIONS: [&str; 4] = ["inbound", "outbound", "internal", "forwarded"];

fn invalid(req: &Request, path: &str, rule: &'static str, message: String) -> Response {
    reply::invalid(
        &req.id,
        &[FieldError {
            path: path.into(),
            rule,
            message,
        }],
    )
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn ccv<'a>(leg: &'a Cdr, key: &str) -> Option<&'a str> {
    leg.body.get("custom_channel_vars").and_then(|c| s(c, key))
}

fn leg_visible(token: &TokenInfo, leg: &Cdr) -> bool {
    is_admin(token)
        || token
            .user_id
            .as_deref()
            .is_some_and(|me| ccv(leg, "owner_id") == Some(me))
}

fn recording_visible(token: &TokenInfo, rec: &Value) -> bool {
    is_admin(token)
        || token
            .user_id
            .as_deref()
            .is_some_and(|me| s(rec, "owner_id") == Some(me))
}

/// The head leg: the A leg (the one with no `other_leg_call_id`), else the oldest.
fn head(legs: &[Cdr]) -> Option<&Cdr> {
    legs.iter()
        .find(|l| l.body.get("other_leg_call_id").is_none_or(Value::is_null))
        .or_else(|| legs.iter().min_by_key(|l| (l.created, l.id.clone())))
}

/// The B leg for the summary: the first leg that is not the head.
fn other_leg<'a>(legs: &'a [Cdr], head: &Cdr) -> Option<&'a Cdr> {
    legs.iter().find(|l| l.id != head.id)
}

fn ms(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// One interaction's row. `recordings` are the recordings API's views of its recordings.
pub(crate) fn summarize(legs: &[Cdr], recordings: Vec<Value>) -> Option<Value> {
    let head = head(legs)?;
    let a = &head.body;
    let b = other_leg(legs, head).map(|l| &l.body);
    let direction = s(a, "end_user_direction").unwrap_or("internal");
    let caller = json!({"number": s(a, "caller_id_number"), "name": s(a, "caller_id_name")});
    let callee_number =
        s(a, "callee_id_number").or_else(|| b.and_then(|b| s(b, "callee_id_number")));
    let callee = json!({"number": callee_number, "name": b.and_then(|b| s(b, "callee_id_name"))});
    // The other party as the end user sees it: the caller of a call in, the number dialled out.
    let other_party = match direction {
        "inbound" | "forwarded" => caller.clone(),
        _ => callee.clone(),
    };
    let mut users = Vec::<String>::new();
    let mut devices = Vec::<String>::new();
    for leg in legs {
        if let Some(u) = ccv(leg, "owner_id") {
            if !users.iter().any(|x| x == u) {
                users.push(u.to_owned());
            }
        }
        if leg.body.get("network").and_then(Value::as_str) == Some("onnet") {
            if let Some(d) = ccv(leg, "authorizing_id") {
                if !devices.iter().any(|x| x == d) {
                    devices.push(d.to_owned());
                }
            }
        }
    }
    let start_ms = legs
        .iter()
        .filter_map(|l| ms(&l.body, "created_unix_ms"))
        .min();
    let end_ms = legs
        .iter()
        .filter_map(|l| ms(&l.body, "ended_unix_ms"))
        .max();
    let answered_ms = legs
        .iter()
        .filter_map(|l| ms(&l.body, "answered_unix_ms"))
        .min();
    let duration_s = match (start_ms, end_ms) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).div_ceil(1000)),
        _ => a.get("duration_seconds").and_then(Value::as_u64),
    };
    let talk_s = match (answered_ms, end_ms) {
        (Some(a), Some(b)) => b.saturating_sub(a) / 1000,
        _ => 0,
    };
    let mut states: Vec<&str> = recordings.iter().filter_map(|r| s(r, "state")).collect();
    states.sort_unstable();
    states.dedup();
    let states: Vec<String> = states.into_iter().map(str::to_owned).collect();
    Some(json!({
        "id": head.interaction_id,
        "interaction_id": head.interaction_id,
        "timestamp": head.created,
        "start_unix_ms": start_ms,
        "end_unix_ms": end_ms,
        "duration_seconds": duration_s,
        "billing_seconds": talk_s,
        "end_user_direction": direction,
        "caller": caller,
        "callee": callee,
        "other_party": other_party,
        "forwarded_to": if direction == "forwarded" { callee.clone() } else { Value::Null },
        "owner_ids": users,
        "device_ids": devices,
        "hangup_cause": s(a, "hangup_cause"),
        "legs": legs.len(),
        "recording_count": recordings.len(),
        "recording_states": states,
        "recordings": recordings,
    }))
}

/// Whether the row matches the `q` filter (already lower-case).
fn matches_text(legs: &[Cdr], q: &str) -> bool {
    legs.iter().any(|l| {
        [
            "caller_id_number",
            "caller_id_name",
            "callee_id_number",
            "callee_id_name",
            "from",
            "to",
        ]
        .iter()
        .filter_map(|k| s(&l.body, k))
        .any(|v| v.to_lowercase().contains(q))
    })
}

/// `"<created>:<id>"` → `(created, id)`.
fn parse_key(key: &str) -> Option<(u64, String)> {
    let (c, id) = key.split_once(':')?;
    if c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()) || id.is_empty() {
        return None;
    }
    Some((c.parse().ok()?, id.to_owned()))
}

/// The recordings views of the given interactions, started in `from..=to`.
async fn recordings_of(
    st: &ApiState,
    token: &TokenInfo,
    account: &str,
    wanted: &HashSet<String>,
    from: u64,
    to: u64,
) -> Result<HashMap<String, Vec<Value>>, callrec_store::StoreError> {
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    let mut recs = st
        .store
        .recordings_created_between(account, from, to, MAX_RECORDINGS)
        .await?;
    recs.retain(|r| wanted.contains(&r.interaction_id));
    // Oldest first within an interaction.
    recs.reverse();
    for rec in &recs {
        let view = super::recordings::view(st, rec).await;
        if recording_visible(token, &view) {
            out.entry(rec.interaction_id.clone())
                .or_default()
                .push(view);
        }
    }
    Ok(out)
}

/// The span of gregorian seconds the recordings of these legs started in.
fn span(legs: &[&[Cdr]]) -> (u64, u64) {
    let from = legs
        .iter()
        .flat_map(|l| l.iter().map(|c| c.created))
        .min()
        .unwrap_or(0);
    let to = legs
        .iter()
        .flat_map(|l| l.iter())
        .map(|c| {
            ms(&c.body, "ended_unix_ms")
                .map(|e| callrec_kazoo::gregorian::from_unix(e / 1000 + 1))
                .unwrap_or(c.created)
                .max(c.created)
        })
        .max()
        .unwrap_or(u64::MAX);
    (from, to)
}

/// The list.
pub(super) async fn list(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
) -> Response {
    let (from, to) = match created_range(req) {
        Ok(range) => range,
        Err(r) => return r,
    };
    let size = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let direction = match req.query.get("direction").map(String::as_str) {
        None | Some("") => None,
        Some(d) if DIRECTIONS.contains(&d) => Some(d.to_owned()),
        Some(_) => {
            return invalid(
                req,
                "direction",
                "enum",
                format!("direction must be one of {}", DIRECTIONS.join(", ")),
            )
        }
    };
    let q = req
        .query
        .get("q")
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return invalid(
            req,
            "q",
            "maximum",
            "q is longer than 100 characters".into(),
        );
    }
    let cursor = match req.query.get("start_key") {
        None => None,
        Some(k) => match parse_key(k) {
            Some(c) => Some(c),
            None => {
                return invalid(
                    req,
                    "start_key",
                    "format",
                    "start_key is not one this API gave".into(),
                )
            }
        },
    };

    // Scan legs newest first from the cursor; emit each interaction at its head leg.
    let upper = cursor.as_ref().map_or(to, |(c, _)| (*c).min(to));
    let mut heads: HashMap<String, String> = HashMap::new();
    let mut fetched: HashMap<String, Vec<Cdr>> = HashMap::new();
    let mut rows: Vec<Vec<Cdr>> = Vec::new();
    let mut next: Option<String> = None;
    let mut scanned = 0usize;
    let mut store_key: Option<String> = None;
    'scan: loop {
        let page = match st
            .store
            .list_cdrs(account, from, upper, BATCH, store_key.as_deref())
            .await
        {
            Ok(p) => p,
            Err(e) => return store_error(&req.id, &e),
        };
        for row in page.items {
            if let Some((c, id)) = &cursor {
                if row.created == *c && row.id > *id {
                    continue; // above the cursor: an earlier page's
                }
            }
            if scanned >= MAX_SCAN {
                next = Some(format!("{}:{}", row.created, row.id));
                break 'scan;
            }
            scanned += 1;
            // The head leg of each interaction, looked up once per request.
            let head_id = match heads.get(&row.interaction_id) {
                Some(h) => h.clone(),
                None => {
                    let legs = match st.store.cdr_legs(account, &row.interaction_id).await {
                        Ok(l) => l,
                        Err(e) => return store_error(&req.id, &e),
                    };
                    let h = head(&legs).map(|h| h.id.clone()).unwrap_or_default();
                    heads.insert(row.interaction_id.clone(), h.clone());
                    fetched.insert(row.interaction_id.clone(), legs);
                    h
                }
            };
            if head_id != row.id {
                continue; // emitted at its head leg, on this page or another
            }
            let Some(legs) = fetched.remove(&row.interaction_id) else {
                continue;
            };
            if !legs.iter().any(|l| leg_visible(token, l)) {
                continue;
            }
            if let Some(d) = &direction {
                if head(&legs).and_then(|h| s(&h.body, "end_user_direction")) != Some(d.as_str()) {
                    continue;
                }
            }
            if let Some(q) = &q {
                if !matches_text(&legs, q) {
                    continue;
                }
            }
            if rows.len() == size {
                next = Some(format!("{}:{}", row.created, row.id));
                break 'scan;
            }
            rows.push(legs);
        }
        match page.next_start_key {
            Some(k) => store_key = Some(k),
            None => break,
        }
    }

    let wanted: HashSet<String> = rows
        .iter()
        .filter_map(|l| l.first().map(|c| c.interaction_id.clone()))
        .collect();
    let slices: Vec<&[Cdr]> = rows.iter().map(Vec::as_slice).collect();
    let (rfrom, rto) = span(&slices);
    let mut recs = match recordings_of(st, token, account, &wanted, rfrom, rto).await {
        Ok(r) => r,
        Err(e) => return store_error(&req.id, &e),
    };
    let data: Vec<Value> = rows
        .iter()
        .filter_map(|legs| {
            let iid = &legs.first()?.interaction_id;
            summarize(legs, recs.remove(iid).unwrap_or_default())
        })
        .collect();
    let mut extra = Map::new();
    extra.insert("page_size".into(), Value::from(data.len()));
    if let Some(k) = req.query.get("start_key") {
        extra.insert("start_key".into(), Value::String(k.clone()));
    }
    if let Some(n) = next {
        extra.insert("next_start_key".into(), Value::String(n));
    }
    reply::success(StatusCode::OK, &req.id, Value::Array(data), None, extra)
}

/// One interaction.
pub(super) async fn one(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    interaction: &str,
) -> Response {
    let legs = match st.store.cdr_legs(account, interaction).await {
        Ok(l) => l,
        Err(e) => return store_error(&req.id, &e),
    };
    if legs.is_empty() || !legs.iter().any(|l| leg_visible(token, l)) {
        return reply::not_found(&req.id, interaction);
    }
    let wanted = HashSet::from([interaction.to_owned()]);
    let (from, to) = span(&[legs.as_slice()]);
    let mut recs = match recordings_of(st, token, account, &wanted, from, to).await {
        Ok(r) => r,
        Err(e) => return store_error(&req.id, &e),
    };
    match summarize(&legs, recs.remove(interaction).unwrap_or_default()) {
        Some(v) => reply::ok(&req.id, v),
        None => reply::not_found(&req.id, interaction),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(id: &str, created: u64, other: Option<&str>, body: Value) -> Cdr {
        let mut b = body;
        b["call_id"] = json!(id);
        b["other_leg_call_id"] = other.map_or(Value::Null, |o| json!(o));
        Cdr {
            account_id: "demo".into(),
            id: id.into(),
            interaction_id: "i1".into(),
            created,
            body: b,
        }
    }

    #[test]
    fn an_inbound_call_names_the_caller_and_our_device() {
        // B sorts first by id and time; the head is still the A leg.
        let legs = vec![
            leg(
                "0-b",
                100,
                Some("z-a"),
                json!({"end_user_direction": "inbound", "network": "onnet",
                       "created_unix_ms": 5_000, "answered_unix_ms": 6_000, "ended_unix_ms": 9_500,
                       "custom_channel_vars": {"owner_id": "user-1001", "authorizing_id": "device-1001"}}),
            ),
            leg(
                "z-a",
                100,
                None,
                json!({"end_user_direction": "inbound", "network": "offnet",
                       "caller_id_number": "+15557770001", "caller_id_name": "Carol",
                       "callee_id_number": "+15550100", "created_unix_ms": 4_900,
                       "ended_unix_ms": 9_600, "hangup_cause": "NORMAL_CLEARING",
                       "custom_channel_vars": {"authorizing_id": "carrier", "resource_type": "offnet-origination"}}),
            ),
        ];
        assert_eq!(head(&legs).unwrap().id, "z-a");
        let v = summarize(
            &legs,
            vec![json!({"state": "local"}), json!({"state": "stored"})],
        )
        .unwrap();
        assert_eq!(v["end_user_direction"], "inbound");
        assert_eq!(v["other_party"]["number"], "+15557770001");
        assert_eq!(v["other_party"]["name"], "Carol");
        assert_eq!(v["owner_ids"], json!(["user-1001"]));
        assert_eq!(v["device_ids"], json!(["device-1001"]), "not the carrier");
        assert_eq!(v["duration_seconds"], 5); // 4.9 s → 9.6 s, rounded up
        assert_eq!(v["billing_seconds"], 3);
        assert_eq!(v["recording_count"], 2);
        assert_eq!(v["recording_states"], json!(["local", "stored"]));
        assert!(matches_text(&legs, "carol"));
        assert!(matches_text(&legs, "5557770001"));
        assert!(!matches_text(&legs, "dave"));
    }

    #[test]
    fn an_outbound_call_names_the_number_dialled() {
        let legs = vec![leg(
            "a",
            100,
            None,
            json!({"end_user_direction": "outbound", "caller_id_number": "1001",
                   "callee_id_number": "+15559990000"}),
        )];
        let v = summarize(&legs, vec![]).unwrap();
        assert_eq!(v["other_party"]["number"], "+15559990000");
        assert_eq!(v["forwarded_to"], Value::Null);
        assert_eq!(v["recording_count"], 0);
    }

    #[test]
    fn cursors_are_created_colon_id() {
        assert_eq!(
            parse_key("63900000000:abc:d"),
            Some((63_900_000_000, "abc:d".into()))
        );
        for bad in ["", "x:y", ":y", "12:", "-1:y"] {
            assert_eq!(parse_key(bad), None, "{bad:?}");
        }
    }
}
