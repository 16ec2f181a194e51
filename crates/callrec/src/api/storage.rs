//! `GET/PUT/POST/PATCH/DELETE /v2/accounts/{A}/storage`: the account's storage document
//! (KAZOO's shape; `callrec_kazoo::storage`), one per account, its id the account's id.
//!
//! Administrators only. Every write is validated by `callrec_kazoo::storage::parse_storage`
//! (400 naming the field: `attachments.<id>.settings.bucket` `required`, an unknown
//! `handler` `enum`, ...) and applied before the reply, so the next recording uses it.
//! Secrets never leave: replies show `settings.secret` as `********`, and a write that sends
//! `********` back keeps the stored secret.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use callrec_kazoo::storage::{keep_masked_secrets, mask_secrets, parse_storage};
use callrec_store::{DocKind, Document, StoreError, TokenInfo};
use serde_json::Value;

use super::documents::merge;
use super::{gregorian_now, is_admin, reply, store_error, ApiState, Request};
use crate::store_link::{kazoo_json, parse_revision, revision};

/// Keys the API manages itself.
const MANAGED: [&str; 5] = ["id", "_id", "_rev", "pvt_type", "account_id"];

fn masked_reply(req: &Request, status: StatusCode, doc: &Document) -> Response {
    let mut shown = kazoo_json(doc);
    mask_secrets(&mut shown);
    reply::success(
        status,
        &req.id,
        shown,
        Some(&revision(doc.rev)),
        serde_json::Map::new(),
    )
}

/// Waits until the engine and the uploader run on the store as it is now.
async fn apply(st: &ApiState) {
    if let Ok(seq) = st.store.change_seq().await {
        if !st.docs.wait_applied(seq, Duration::from_secs(3)).await {
            tracing::warn!("a saved storage document was not applied within 3 s");
        }
    }
}

/// One route for every verb.
pub(super) async fn handle(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
) -> Response {
    if !is_admin(token) {
        return reply::forbidden(&req.id);
    }
    let current = match st
        .store
        .get_in_account(account, DocKind::Storage, account)
        .await
    {
        Ok(d) => Some(d),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return store_error(&req.id, &e),
    };
    match (&req.method, current) {
        (&Method::GET, Some(doc)) => masked_reply(req, StatusCode::OK, &doc),
        (&Method::DELETE, Some(doc)) => {
            match st
                .store
                .delete(DocKind::Storage, account, Some(doc.rev))
                .await
            {
                Ok(doc) => {
                    apply(st).await;
                    masked_reply(req, StatusCode::OK, &doc)
                }
                Err(e) => store_error(&req.id, &e),
            }
        }
        (&Method::GET | &Method::DELETE, None) => reply::not_found(&req.id, "storage"),
        (&Method::PUT, Some(doc)) => reply::error(
            StatusCode::CONFLICT,
            &req.id,
            "conflicting documents",
            serde_json::json!({"message": "the account has a storage document: POST or PATCH it",
                               "current_revision": revision(doc.rev)}),
        ),
        (&Method::PUT, None) => write(st, req, account, None).await,
        (&Method::POST | &Method::PATCH, Some(doc)) => write(st, req, account, Some(doc)).await,
        (&Method::POST | &Method::PATCH, None) => reply::not_found(&req.id, "storage"),
        _ => reply::not_allowed(&req.id, "GET, PUT, POST, PATCH, DELETE"),
    }
}

async fn write(st: &ApiState, req: &Request, account: &str, current: Option<Document>) -> Response {
    let data = match req.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    if let (Some(rev), Some(cur)) = (data.get("_rev").and_then(Value::as_str), &current) {
        if parse_revision(rev) != Some(cur.rev) {
            return reply::conflict(&req.id, &revision(cur.rev));
        }
    }
    let mut patch = data;
    for k in MANAGED {
        patch.remove(k);
    }
    let mut body = match (&current, &req.method) {
        (Some(cur), &Method::PATCH) => {
            let mut merged = cur.body.clone();
            merge(&mut merged, Value::Object(patch));
            merged
        }
        _ => Value::Object(patch),
    };
    if let Some(cur) = &current {
        keep_masked_secrets(&mut body, &cur.body);
    }
    if let Err(errors) = parse_storage(&body) {
        return reply::invalid(&req.id, &errors);
    }
    let now = gregorian_now();
    let saved = match current {
        Some(cur) => {
            st.store
                .replace(DocKind::Storage, account, Some(cur.rev), body, now)
                .await
        }
        None => {
            st.store
                .create(account, DocKind::Storage, account, body, now)
                .await
        }
    };
    match saved {
        Ok(doc) => {
            apply(st).await;
            let status = if req.method == Method::PUT {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            masked_reply(req, status, &doc)
        }
        Err(e) => store_error(&req.id, &e),
    }
}
