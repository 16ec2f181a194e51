//! Accounts, users, devices, callflows and resources: `GET` (one or a list), `PUT` (create),
//! `POST` (replace), `PATCH` (deep merge, `null` removes a key), `DELETE`.
//!
//! Every write is checked first (`callrec_kazoo::load::check_document`: recording settings by
//! path, then the directory's rules with the document in place), written in one transaction
//! against the revision read (a stale `_rev` gets 409 and changes nothing), and applied to the
//! engine before the reply, so the next call uses it. A user token (`priv_level` user) sees
//! and edits only its own user and the devices it owns.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use callrec_kazoo::directory::Directory;
use callrec_kazoo::load::{check_document, FieldError, RawDocument};
use callrec_store::{DocKind, Document, TokenInfo};
use serde_json::{Map, Value};

use super::{gregorian_now, is_admin, reply, store_error, ApiState, Request};
use crate::store_link::{kazoo_json, parse_revision, pvt_type, revision, Secrets};

/// How long a write waits for the engine to take the change.
const APPLY_WAIT: Duration = Duration::from_secs(3);

/// Keys the API manages itself: never taken from a request body.
const MANAGED: [&str; 6] = ["id", "_id", "_rev", "pvt_type", "account_id", "pvt_api_key"];

/// Whether a user-level token may see (`write` false) or change (`write` true) this document.
fn may_access(token: &TokenInfo, kind: DocKind, doc: Option<&Document>, write: bool) -> bool {
    if is_admin(token) {
        return true;
    }
    let Some(me) = token.user_id.as_deref() else {
        return false;
    };
    match (kind, doc) {
        (DocKind::User, Some(d)) => d.id == me,
        (DocKind::Device, Some(d)) => d.body.get("owner_id").and_then(Value::as_str) == Some(me),
        (DocKind::User | DocKind::Device, None) => !write,
        _ => false,
    }
}

/// RFC 7386 merge: objects merge recursively, `null` removes, anything else replaces.
pub(crate) fn merge(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Some(t) = target.as_object_mut() {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge(t.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other,
    }
}

/// The document as the directory will read it (for checking).
fn as_raw(kind: DocKind, account: &str, id: &str, body: &Map<String, Value>) -> Value {
    let mut m = body.clone();
    m.insert("_id".into(), Value::String(id.to_owned()));
    m.insert("pvt_type".into(), Value::String(pvt_type(kind).into()));
    if kind != DocKind::Account {
        m.insert("account_id".into(), Value::String(account.to_owned()));
    }
    Value::Object(m)
}

fn clean(mut body: Map<String, Value>) -> Map<String, Value> {
    for k in MANAGED {
        body.remove(k);
    }
    body
}

fn check(st: &ApiState, req: &Request, doc: &Value) -> Result<(), Response> {
    let current = st.docs.current();
    match check_document(doc, &current.documents, &st.policy) {
        Ok(warnings) => {
            for w in warnings {
                tracing::debug!(warning = %w, "document saved with a warning");
            }
            Ok(())
        }
        Err(errors) => Err(reply::invalid(&req.id, &errors)),
    }
}

/// Waits until the engine runs on the store as it is now.
async fn apply(st: &ApiState) {
    if let Ok(seq) = st.store.change_seq().await {
        if !st.docs.wait_applied(seq, APPLY_WAIT).await {
            tracing::warn!("a saved document was not applied within 3 s");
        }
    }
}

fn doc_reply(req: &Request, status: StatusCode, doc: &Document) -> Response {
    reply::success(
        status,
        &req.id,
        kazoo_json(doc),
        Some(&revision(doc.rev)),
        Map::new(),
    )
}

/// `GET /v2/accounts/{A}/{collection}`.
pub(super) async fn list(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    kind: DocKind,
) -> Response {
    if !may_access(token, kind, None, false) {
        return reply::forbidden(&req.id);
    }
    match st.store.list(account, kind).await {
        Ok(docs) => reply::ok(
            &req.id,
            Value::Array(
                docs.iter()
                    .filter(|d| may_access(token, kind, Some(d), false))
                    .map(kazoo_json)
                    .collect(),
            ),
        ),
        Err(e) => store_error(&req.id, &e),
    }
}

/// `GET /v2/accounts/{A}/{collection}/{ID}`.
pub(super) async fn get(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    kind: DocKind,
    id: &str,
) -> Response {
    match st.store.get_in_account(account, kind, id).await {
        Ok(doc) if may_access(token, kind, Some(&doc), false) => {
            doc_reply(req, StatusCode::OK, &doc)
        }
        Ok(_) => reply::forbidden(&req.id),
        Err(e) => store_error(&req.id, &e),
    }
}

/// `PUT /v2/accounts/{A}/{collection}`.
pub(super) async fn create(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    kind: DocKind,
) -> Response {
    if !is_admin(token) {
        return reply::forbidden(&req.id);
    }
    let data = match req.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let id = match data.get("id").or_else(|| data.get("_id")) {
        Some(Value::String(s)) if is_plain_id(s) => s.clone(),
        Some(_) => {
            return reply::invalid(
                &req.id,
                &[FieldError {
                    path: "id".into(),
                    rule: "format",
                    message: "an id is 1-64 characters of A-Z a-z 0-9 _ - .".into(),
                }],
            )
        }
        None => callrec_sip::token::hex128(),
    };
    let mut body = clean(data);
    let secrets = Secrets::take(kind, &mut body);
    if let Err(r) = check(st, req, &as_raw(kind, account, &id, &body)) {
        return r;
    }
    let body = Value::Object(body);
    let doc = match st
        .store
        .create(account, kind, &id, body.clone(), gregorian_now())
        .await
    {
        Ok(d) => d,
        Err(callrec_store::StoreError::AlreadyExists { .. }) => {
            return reply::error(
                StatusCode::CONFLICT,
                &req.id,
                "conflicting documents",
                serde_json::json!({"message": format!("{id} exists already")}),
            )
        }
        Err(e) => return store_error(&req.id, &e),
    };
    if let Err(e) = secrets.save(&st.store, account, &id, &body).await {
        return store_error(&req.id, &e);
    }
    apply(st).await;
    doc_reply(req, StatusCode::CREATED, &doc)
}

fn is_plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `POST` (replace) and `PATCH` (merge) of one document.
pub(super) async fn update(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    kind: DocKind,
    id: &str,
) -> Response {
    let current = match st.store.get_in_account(account, kind, id).await {
        Ok(d) => d,
        Err(e) => return store_error(&req.id, &e),
    };
    if !may_access(token, kind, Some(&current), true) {
        return reply::forbidden(&req.id);
    }
    let data = match req.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    if let Some(rev) = data.get("_rev").and_then(Value::as_str) {
        if parse_revision(rev) != Some(current.rev) {
            return reply::conflict(&req.id, &revision(current.rev));
        }
    }
    let patch = clean(data);
    let mut body = if req.method == axum::http::Method::PATCH {
        let mut merged = current.body.clone();
        merge(&mut merged, Value::Object(patch));
        merged.as_object().cloned().unwrap_or_default()
    } else {
        patch
    };
    if !is_admin(token) {
        // A user cannot raise its own level or give a device away.
        for k in ["priv_level", "owner_id", "enabled"] {
            match current.body.get(k) {
                Some(v) => body.insert(k.to_owned(), v.clone()),
                None => body.remove(k),
            };
        }
    }
    let secrets = Secrets::take(kind, &mut body);
    if let Err(r) = check(st, req, &as_raw(kind, account, id, &body)) {
        return r;
    }
    let body = Value::Object(body);
    let doc = match st
        .store
        .replace(kind, id, Some(current.rev), body.clone(), gregorian_now())
        .await
    {
        Ok(d) => d,
        Err(e) => return store_error(&req.id, &e),
    };
    if let Err(e) = secrets.save(&st.store, account, id, &body).await {
        return store_error(&req.id, &e);
    }
    apply(st).await;
    doc_reply(req, StatusCode::OK, &doc)
}

/// `DELETE` of one document: refused (400) when other documents still need it.
pub(super) async fn delete(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    kind: DocKind,
    id: &str,
) -> Response {
    if !is_admin(token) {
        return reply::forbidden(&req.id);
    }
    let current = match st.store.get_in_account(account, kind, id).await {
        Ok(d) => d,
        Err(e) => return store_error(&req.id, &e),
    };
    let docs = st.docs.current();
    let rest: Vec<RawDocument> = docs
        .documents
        .iter()
        .filter(|(_, d)| {
            !(d.get("_id").and_then(Value::as_str) == Some(id)
                && d.get("pvt_type").and_then(Value::as_str) == Some(pvt_type(kind)))
        })
        .cloned()
        .collect();
    if let Err(e) = Directory::build(rest) {
        return reply::invalid(
            &req.id,
            &[FieldError {
                path: String::new(),
                rule: "invalid",
                message: format!("other documents still need it: {e}"),
            }],
        );
    }
    match st.store.delete(kind, id, Some(current.rev)).await {
        Ok(doc) => {
            apply(st).await;
            doc_reply(req, StatusCode::OK, &doc)
        }
        Err(e) => store_error(&req.id, &e),
    }
}

/// `GET`, `POST`, `PATCH /v2/accounts/{A}`.
pub(super) async fn account(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
) -> Response {
    if req.method == axum::http::Method::GET {
        if !is_admin(token) {
            return reply::forbidden(&req.id);
        }
        return match st.store.get(DocKind::Account, account).await {
            Ok(doc) => doc_reply(req, StatusCode::OK, &doc),
            Err(e) => store_error(&req.id, &e),
        };
    }
    update(st, req, token, account, DocKind::Account, account).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_is_deep_and_null_removes() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge(&mut doc, json!({"a": {"b": 5, "e": 6}, "d": null}));
        assert_eq!(doc, json!({"a": {"b": 5, "c": 2, "e": 6}}));
    }

    #[test]
    fn ids_are_plain() {
        assert!(is_plain_id("user-1001"));
        assert!(!is_plain_id("a/b"));
        assert!(!is_plain_id(""));
    }
}
