//! `GET /v2/accounts/{A}/cdrs` (paged by `created_from`/`created_to` in gregorian seconds,
//! `page_size`, `start_key` → `next_start_key`), `.../cdrs/{CDR_ID}` and
//! `.../cdrs/legs/{INTERACTION_ID}` (every leg of one interaction, oldest first), and
//! `/v2/accounts/{A}/users/{U}/cdrs` (the list, limited to the legs user `U` owns). A user token
//! sees the legs its user owns: its lists are filtered by the query, so its pages are full.

use axum::response::Response;
use callrec_kazoo::load::FieldError;
use callrec_store::{Cdr, TokenInfo};
use serde_json::{Map, Value};

use super::{gregorian_now, is_admin, reply, store_error, ApiState, Request};

/// Default and largest page.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 1000;
/// Default range: the last 31 days (KAZOO's largest range).
const DEFAULT_RANGE_S: u64 = 31 * 24 * 3600;

fn visible(token: &TokenInfo, cdr: &Cdr) -> bool {
    is_admin(token)
        || token.user_id.as_deref().is_some_and(|me| {
            cdr.body
                .get("custom_channel_vars")
                .and_then(|c| c.get("owner_id"))
                .and_then(Value::as_str)
                == Some(me)
        })
}

/// The `created_from`..`created_to` range of a listing (gregorian seconds): by default the
/// month up to an hour from now; 400 naming the field when a bound is not a number or the
/// range is reversed.
pub(super) fn created_range(req: &Request) -> Result<(u64, u64), Response> {
    let to = parse_number(req, "created_to")?.unwrap_or_else(|| gregorian_now() + 3600);
    let from =
        parse_number(req, "created_from")?.unwrap_or_else(|| to.saturating_sub(DEFAULT_RANGE_S));
    if from > to {
        return Err(reply::invalid(
            &req.id,
            &[FieldError {
                path: "created_from".into(),
                rule: "maximum",
                message: "created_from is after created_to".into(),
            }],
        ));
    }
    Ok((from, to))
}

pub(crate) fn parse_number(req: &Request, key: &'static str) -> Result<Option<u64>, Response> {
    match req.query.get(key) {
        None => Ok(None),
        Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
            reply::invalid(
                &req.id,
                &[FieldError {
                    path: key.into(),
                    rule: "type",
                    message: format!("{key} must be a whole number"),
                }],
            )
        }),
    }
}

pub(crate) fn page_size(req: &Request) -> Result<usize, Response> {
    let n = parse_number(req, "page_size")?.unwrap_or(DEFAULT_PAGE as u64);
    if n == 0 || n > MAX_PAGE as u64 {
        return Err(reply::invalid(
            &req.id,
            &[FieldError {
                path: "page_size".into(),
                rule: "maximum",
                message: format!("page_size must be between 1 and {MAX_PAGE}"),
            }],
        ));
    }
    Ok(n as usize)
}

/// The list: the account's (`user` None), or one user's. A user token only gets its own.
pub(super) async fn list(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    user: Option<&str>,
) -> Response {
    let owner = if is_admin(token) {
        user
    } else {
        match (token.user_id.as_deref(), user) {
            (Some(me), None) => Some(me),
            (Some(me), Some(u)) if u == me => Some(me),
            _ => return reply::forbidden(&req.id),
        }
    };
    let (from, to) = match created_range(req) {
        Ok(range) => range,
        Err(r) => return r,
    };
    let size = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let start = req.query.get("start_key").map(String::as_str);
    match st
        .store
        .list_owned_cdrs(account, owner, from, to, size, start)
        .await
    {
        Ok(page) => {
            let data: Vec<Value> = page.items.into_iter().map(|c| c.body).collect();
            let mut extra = Map::new();
            extra.insert("page_size".into(), Value::from(data.len()));
            if let Some(s) = start {
                extra.insert("start_key".into(), Value::String(s.to_owned()));
            }
            if let Some(next) = page.next_start_key {
                extra.insert("next_start_key".into(), Value::String(next));
            }
            reply::success(
                axum::http::StatusCode::OK,
                &req.id,
                Value::Array(data),
                None,
                extra,
            )
        }
        Err(callrec_store::StoreError::InvalidStartKey { .. }) => reply::invalid(
            &req.id,
            &[FieldError {
                path: "start_key".into(),
                rule: "format",
                message: "start_key is not one this API gave".into(),
            }],
        ),
        Err(e) => store_error(&req.id, &e),
    }
}

/// One CDR.
pub(super) async fn one(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    id: &str,
) -> Response {
    match st.store.get_cdr(account, id).await {
        Ok(c) if visible(token, &c) => reply::ok(&req.id, c.body),
        Ok(_) => reply::not_found(&req.id, id),
        Err(e) => store_error(&req.id, &e),
    }
}

/// Every leg of one interaction.
pub(super) async fn legs(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    interaction: &str,
) -> Response {
    match st.store.cdr_legs(account, interaction).await {
        Ok(legs) if !legs.is_empty() => {
            if !legs.iter().any(|c| visible(token, c)) {
                return reply::not_found(&req.id, interaction);
            }
            reply::ok(
                &req.id,
                Value::Array(legs.into_iter().map(|c| c.body).collect()),
            )
        }
        Ok(_) => reply::not_found(&req.id, interaction),
        Err(e) => store_error(&req.id, &e),
    }
}
